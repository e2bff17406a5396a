"""scripts/start-test-services.sh starts PostgreSQL and Redis as daemons, which inherit its open
files. Run under ``flock <lock file> ...`` (a lock serialising real-host test runs), they kept that
lock for their whole life and every later run waiting for it waited for ever. The script closes every
inherited descriptor above stderr before it starts anything."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts/start-test-services.sh"


def test_a_daemon_started_by_the_script_does_not_keep_the_callers_lock(tmp_path: Path) -> None:
    text = SCRIPT.read_text()
    function = re.search(r"^close_inherited_fds\(\) \{\n.*?^\}$", text, re.S | re.M)
    assert function, "start-test-services.sh has no close_inherited_fds"
    assert re.search(r"^close_inherited_fds$", text, re.M), "close_inherited_fds is never called"
    assert text.index("\nclose_inherited_fds\n") < text.index('pg_ctlcluster "$PG_VERSION"')
    lock = tmp_path / "testhost.lock"
    daemon = tmp_path / "daemon.pid"
    # As the script runs under flock: a daemon (setsid, outliving the script) started after the call.
    body = f"{function.group(0)}\nclose_inherited_fds\nsetsid sleep 30 </dev/null >/dev/null 2>&1 & echo $! > {daemon}"
    subprocess.run(["flock", str(lock), "bash", "-c", body], check=True, timeout=30)
    try:
        free = subprocess.run(["flock", "-n", str(lock), "true"], check=False, timeout=30)
        assert free.returncode == 0, "the daemon kept the caller's lock"
    finally:
        subprocess.run(["kill", daemon.read_text().strip()], check=False)


def test_without_closing_the_daemon_would_keep_the_lock(tmp_path: Path) -> None:
    """The failure the function prevents, so the test above cannot pass by accident."""
    lock = tmp_path / "testhost.lock"
    daemon = tmp_path / "daemon.pid"
    body = f"setsid sleep 30 </dev/null >/dev/null 2>&1 & echo $! > {daemon}"
    subprocess.run(["flock", str(lock), "bash", "-c", body], check=True, timeout=30)
    try:
        held = subprocess.run(["flock", "-n", str(lock), "true"], check=False, timeout=30)
        assert held.returncode != 0
    finally:
        subprocess.run(["kill", daemon.read_text().strip()], check=False)
