"""The release script's failures say what happened and leave nothing behind (issue 16, 7 and 10).

- A failed health gate names the HTTP status and shows the first lines of the body (it used to
  print only ``health check failed 15 times``): ``health_gate`` from the rendered script runs
  with curl against a real HTTP server on a Unix socket, as Gunicorn's.
- Failed release folders are pruned: ``prune_releases`` and ``fail_before`` from the rendered
  script run on a sandbox releases directory.
"""

from __future__ import annotations

import dataclasses
import http.server
import re
import socketserver
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from djangostack.host import render
from djangostack.host.context import HostContext
from tests.host.conftest import dev_context


def _function(script: str, name: str) -> str:
    match = re.search(rf"^{name}\(\) \{{.*?^\}}$", script, re.S | re.M)
    assert match, f"release script has no {name} function"
    return match.group(0)


@pytest.fixture(scope="module")
def release_script() -> str:
    ctx: HostContext = dev_context()
    return render.render_all(ctx)[ctx.release_script].content


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def serve(socket_path: Path, status: int, body: bytes) -> Iterator[None]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def address_string(self) -> str:
            return "unix"

        def log_message(self, *args: object) -> None:
            pass

    server = _UnixServer(str(socket_path), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def health_gate(script: str, socket_path: Path, *stubs: str, args: str = "") -> subprocess.CompletedProcess[str]:
    harness = "\n".join(
        [
            "set -euo pipefail",
            "log() { printf '[release notes] %s\\n' \"$*\"; }",
            "sleep() { :; }",
            *stubs,
            f"SOCKET={socket_path}",
            "HEALTH_URL=http://localhost/readyz",
            "HEALTH_HOST=notes.example.com",
            "HEALTH_ATTEMPTS=3",
            _function(script, "health_gate"),
            f"health_gate {args}",
        ]
    )
    return subprocess.run(["bash", "-c", harness], capture_output=True, text=True, timeout=60, check=False)


BODY = "".join(f"line {n}: database unavailable\n" for n in range(1, 16)).encode()


def test_a_failed_health_gate_shows_the_status_and_the_start_of_the_body(release_script: str, tmp_path: Path) -> None:
    socket_path = tmp_path / "gunicorn.sock"
    for _ in serve(socket_path, 503, BODY):
        result = health_gate(release_script, socket_path)
    assert result.returncode == 1
    out = result.stdout
    assert "health check failed 3 times; the last answer was HTTP 503 from http://localhost/readyz" in out, out
    assert "(Host: notes.example.com)" in out
    assert "    line 1: database unavailable" in out and "    line 10: database unavailable" in out, out
    assert "line 11" not in out, "only the first lines of the body"


def test_a_health_gate_without_an_answer_says_why(release_script: str, tmp_path: Path) -> None:
    result = health_gate(release_script, tmp_path / "nobody-listens.sock")
    assert result.returncode == 1
    assert "health check failed 3 times; no HTTP answer from http://localhost/readyz on " in result.stdout
    assert "Couldn't connect" in result.stdout or "connect" in result.stdout.lower(), result.stdout


# What journald held for a Gunicorn whose worker could not import the settings module (the CI run
# of stop 19): the worker's traceback and its cause come first, then the master's own traceback,
# longer than the 25 last lines the gate used to show alone.
WORKER_BOOT_FAILURE = "\n".join(
    [
        "[2026-12-01 10:00:00 +0000] [7516] [ERROR] Exception in worker process",
        "Traceback (most recent call last):",
        *[f'  File "/srv/notes/venv/gunicorn/mod{n}.py", line {n}, in f' for n in range(8)],
        "ModuleNotFoundError: No module named 'project.no_such_settings'",
        "[2026-12-01 10:00:00 +0000] [7516] [INFO] Worker exiting (pid: 7516)",
        "Traceback (most recent call last):",
        *[f'  File "/srv/notes/venv/gunicorn/arbiter.py", line {n}, in run' for n in range(30)],
        "gunicorn.errors.HaltServer: <HaltServer 'Worker failed to boot.' 3>",
        "During handling of the above exception, another exception occurred:",
        "gunicorn.errors.HaltServer: <HaltServer 'Worker failed to boot.' 3>",
    ]
)


def test_a_gunicorn_that_exits_shows_the_cause_even_when_its_last_lines_do_not(
    release_script: str, tmp_path: Path
) -> None:
    journal = tmp_path / "journal.txt"
    journal.write_text(WORKER_BOOT_FAILURE + "\n")
    pids = tmp_path / "pids"
    pids.write_text("7515\n0\n")
    stubs = (
        # MainPID: the run's PID at the start, 0 once it exited; its invocation id.
        f"""systemctl() {{
            case "$*" in
                *InvocationID*) echo run-1 ;;
                *) head -n 1 {pids}; sed -i 1d {pids} 2>/dev/null; [[ -s {pids} ]] || echo 0 >{pids} ;;
            esac
        }}""",
        f"""journalctl() {{ [[ "$1" == _SYSTEMD_INVOCATION_ID=run-1 ]] && cat {journal}; }}""",
    )
    result = health_gate(
        release_script,
        tmp_path / "nobody-listens.sock",
        *stubs,
        args=f"{tmp_path / 'nobody-listens.sock'} gunicorn-notes@green.service",
    )
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "gunicorn-notes@green.service exited (main PID 7515); the errors that run logged:" in out, out
    errors = out.split("the errors that run logged:")[1].split("its last log lines:")[0]
    assert errors.splitlines()[1:] == [
        "    ModuleNotFoundError: No module named 'project.no_such_settings'",
        "    gunicorn.errors.HaltServer: <HaltServer 'Worker failed to boot.' 3>",
    ], errors
    tail = out.split("its last log lines:\n")[1]
    assert tail.splitlines() == WORKER_BOOT_FAILURE.splitlines()[-25:], "then the run's last 25 lines"
    assert "no_such_settings" not in tail, "the fixture must reproduce a cause outside the last lines"


def test_a_healthy_answer_passes_the_gate(release_script: str, tmp_path: Path) -> None:
    socket_path = tmp_path / "gunicorn.sock"
    for _ in serve(socket_path, 200, b'{"status": "ok"}'):
        result = health_gate(release_script, socket_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def release_functions(script: str, releases: Path, body: str) -> subprocess.CompletedProcess[str]:
    harness = "\n".join(
        [
            "set -euo pipefail",
            "log() { printf '[release notes] %s\\n' \"$*\"; }",
            "err() { printf '[release notes] ERROR: %s\\n' \"$*\"; }",
            f"RELEASES={releases}/releases",
            f"CURRENT={releases}/current",
            f"HISTORY={releases}/.release-history",
            "KEEP=2",
            *(
                _function(script, name)
                for name in ("live_release", "previous_release", "drop_failed", "fail_before", "prune_releases")
            ),
            'STAGED=""',
            body,
        ]
    )
    return subprocess.run(["bash", "-c", harness], capture_output=True, text=True, timeout=60, check=False)


def make_releases(base: Path, live: str, history: list[str], folders: list[str]) -> None:
    import os
    import time

    (base / "releases").mkdir(parents=True)
    now = time.time()
    for age, name in enumerate(reversed(folders)):  # the last named is the newest
        folder = base / "releases" / name
        (folder / ".venv").mkdir(parents=True)
        os.utime(folder, (now - 100 * age, now - 100 * age))
    (base / "current").symlink_to(base / "releases" / live)
    (base / ".release-history").write_text("".join(f"{h}\n" for h in history))


def remaining(base: Path) -> list[str]:
    return sorted(p.name for p in (base / "releases").iterdir())


def test_a_release_that_fails_before_the_switch_leaves_no_folder(release_script: str, tmp_path: Path) -> None:
    make_releases(tmp_path, "r2", ["r1", "r2"], ["r1", "r2", "r3-broken"])
    result = release_functions(release_script, tmp_path, "STAGED=1\nfail_before r3-broken r2")
    assert result.returncode == 1
    assert "removed the folder of the failed release r3-broken" in result.stdout, result.stdout
    assert remaining(tmp_path) == ["r1", "r2"]


def test_a_failure_before_anything_was_staged_keeps_an_earlier_folder_of_that_id(
    release_script: str, tmp_path: Path
) -> None:
    """A tampered archive for an id deployed before: that release's folder is not this run's."""
    make_releases(tmp_path, "r2", ["r1", "r2"], ["r1", "r2"])
    result = release_functions(release_script, tmp_path, "fail_before r1 r2")
    assert result.returncode == 1
    assert remaining(tmp_path) == ["r1", "r2"]


def test_the_next_release_prunes_folders_that_never_went_live_and_keeps_live_and_previous(
    release_script: str, tmp_path: Path
) -> None:
    # r3-broken: killed mid-release (never switched to); r5-failed too. KEEP=2: live r4 and r2's
    # successor... the newest two that went live, plus the previous one whatever its age.
    make_releases(tmp_path, "r4", ["r1", "r2", "r4"], ["r1", "r2", "r3-broken", "r5-failed", "r4"])
    result = release_functions(release_script, tmp_path, "prune_releases")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "removed release r3-broken, which never went live" in result.stdout
    assert "removed release r5-failed, which never went live" in result.stdout
    assert remaining(tmp_path) == ["r2", "r4"]


def check_broker(script: str, redis_banner: str, kombu: str) -> subprocess.CompletedProcess[str]:
    harness = "\n".join(
        [
            "set -euo pipefail",
            f"redis-server() {{ echo {redis_banner!r}; }}",
            f"as_app() {{ echo {kombu}; }}",
            _function(script, "check_broker"),
            "check_broker /srv/notes/releases/r9",
        ]
    )
    return subprocess.run(["bash", "-c", harness], capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize(
    ("redis", "kombu", "refused"),
    [("6.0.16", "5.7.0", True), ("6.0.16", "5.6.2", False), ("7.0.15", "5.7.0", False), ("6.2.0", "5.7.1", False)],
)
def test_celerys_redis_transport_is_checked_against_the_hosts_redis_before_the_switch(
    release_script: str, redis: str, kombu: str, refused: bool
) -> None:
    """Ubuntu 22.04 ships Redis 6.0; kombu 5.7 (Celery 5.7) starts its worker with ZRANGE ... BYSCORE,
    which needs 6.2: the worker exited at once on such a host (found on the Ubuntu 22.04 test host)
    while the release reported success."""
    banner = f"Redis server v={redis} sha=00000000:0 malloc=jemalloc-5.2.1 bits=64 build=a2d3b7a"
    result = check_broker(release_script, banner, kombu)
    if refused:
        assert result.returncode == 1
        assert f"kombu {kombu} (Celery's Redis transport) needs Redis 6.2 or newer; this host's Redis is {redis}" in (
            result.stdout
        )
        assert "Pin kombu<5.7" in result.stdout and "cache.mode: external" in result.stdout
    else:
        assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr


def test_the_broker_check_is_there_only_for_a_local_redis_with_celery_workers() -> None:
    ctx = dev_context()
    assert ctx.local_redis and ctx.celery_worker
    assert 'check_broker "$dir"' in render.render_all(ctx)[ctx.release_script].content
    external = dataclasses.replace(ctx, local_redis=False)
    assert "check_broker" not in render.render_all(external)[ctx.release_script].content
