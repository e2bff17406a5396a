"""The release script's failures say what happened and leave nothing behind (issue 16, 7 and 10).

- A failed health gate names the HTTP status and shows the first lines of the body (it used to
  print only ``health check failed 15 times``): ``health_gate`` from the rendered script runs
  with curl against a real HTTP server on a Unix socket, as Gunicorn's.
- Failed release folders are pruned: ``prune_releases`` and ``fail_before`` from the rendered
  script run on a sandbox releases directory.
"""

from __future__ import annotations

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


def health_gate(script: str, socket_path: Path) -> subprocess.CompletedProcess[str]:
    harness = "\n".join(
        [
            "set -euo pipefail",
            "log() { printf '[release notes] %s\\n' \"$*\"; }",
            "sleep() { :; }",
            f"SOCKET={socket_path}",
            "HEALTH_URL=http://localhost/readyz",
            "HEALTH_HOST=notes.example.com",
            "HEALTH_ATTEMPTS=3",
            _function(script, "health_gate"),
            "health_gate",
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
