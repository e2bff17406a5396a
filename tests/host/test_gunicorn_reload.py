"""A changed environment reaches the app through a HUP, under load, without a failed request.

Runs the real Gunicorn (the project's dev dependency) with the rendered gunicorn.conf.py (paths
pointed at a temporary directory) and a tiny WSGI app that answers with two variables. The env
file changes (one value changed, one removed), the master gets SIGHUP (what `systemctl reload`
sends), and requests keep flowing the whole time.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from djangostack.host import render
from tests.host.conftest import dev_context

pytestmark = pytest.mark.artifacts

APP = """\
import os


def application(environ, start_response):
    body = f"{os.environ.get('GREETING', '-')} {os.environ.get('REMOVED', '-')}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"""


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=20)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(20)
        self.sock.connect(self._path)


def _get(path: str) -> str:
    conn = _UnixConnection(path)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        body = response.read().decode()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}")
        return body
    finally:
        conn.close()


def test_hup_applies_a_changed_environment_without_a_failed_request(tmp_path: Path) -> None:
    pytest.importorskip("gunicorn")
    app_dir = tmp_path / "release"
    app_dir.mkdir()
    (app_dir / "wsgiapp.py").write_text(APP)
    env_file = tmp_path / "app.env"
    env_file.write_text("GREETING='one'\nREMOVED='present'\n")
    ctx = replace(
        dev_context(),
        env_file=str(env_file),
        socket_path=str(tmp_path / "gunicorn.sock"),
        logs_dir=str(tmp_path),
        wsgi_app="wsgiapp:application",
        workers=2,
    )
    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text(render.render_gunicorn_conf(ctx))
    log = (tmp_path / "gunicorn.log").open("wb")
    master = subprocess.Popen(
        # The unit passes its color's socket the same way (the conf names none: two colors share it).
        [sys.executable, "-m", "gunicorn", "--config", str(conf), "--bind", f"unix:{ctx.socket_path}"],
        cwd=app_dir,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)},
        # A file, not a pipe: nobody reads a pipe until the end, and a full one blocks every
        # worker's (debug) log line, which looks exactly like a hung reload.
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    failures: list[str] = []
    seen: list[str] = []
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            try:
                seen.append(_get(ctx.socket_path))
            except Exception as error:  # every failure counts
                failures.append(repr(error))

    workers: list[threading.Thread] = []
    try:
        for _ in range(100):
            try:
                if _get(ctx.socket_path) == "one present":
                    break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("gunicorn did not start")
        workers = [threading.Thread(target=load) for _ in range(4)]
        for worker in workers:
            worker.start()
        time.sleep(1)
        env_file.write_text("GREETING='two'\n")
        master.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (not seen or seen[-1] != "two -"):
            time.sleep(0.1)
        time.sleep(1)
    finally:
        stop.set()
        for worker in workers:
            worker.join()
        master.terminate()
        master.wait(timeout=30)
        log.close()
        output = (tmp_path / "gunicorn.log").read_text(errors="replace")
    assert failures == [], (failures[:5], output[-2000:])
    assert seen[0] == "one present"
    assert seen[-1] == "two -", output[-2000:]
    assert len(seen) > 50


def test_bootstrap_applies_an_environment_change_through_the_overlap() -> None:
    """A changed environment, gunicorn.conf.py or Gunicorn unit starts the idle color with it next to
    the live one (``release restart``), health-checked before the switch: no restart or reload of
    the live Gunicorn, whose socket stays open (a restarted socket unit reset its queued connections)."""
    ctx = dev_context()
    script = render.render_bootstrap_script(ctx)
    branch = script[script.index("if [[ -x " + ctx.current_link + "/.venv/bin/gunicorn ]]; then") :]
    branch = branch[: branch.index("\n    else\n")]
    for change in ("env", "gunicorn", "gunicorn-unit", "socket"):
        assert f"was_changed {change}" in branch, change
    assert f"{ctx.release_script} restart" in branch
    lines = [line.strip() for line in script.splitlines() if not line.strip().startswith("#")]
    gunicorn = [line for line in lines if "systemctl" in line and ctx.gunicorn_unit in line]
    assert not [line for line in gunicorn if "restart" in line or "reload" in line], gunicorn


def test_the_restart_is_the_release_scripts_overlap() -> None:
    release = render.render_release_script(dev_context())
    body = release[release.index("restart_live() {") :]
    body = body[: body.index("\n}\n")]
    steps = ['start_idle "$live"', 'go_live "$live"', "celery_step", "drain_old"]
    positions = [body.index(step) for step in steps]
    assert positions == sorted(positions), dict(zip(steps, positions, strict=True))
    assert "restart) restart_live ;;" in release


def test_the_first_workers_say_when_they_have_loaded_the_app(tmp_path: Path) -> None:
    """The release switches Nginx to a new color once ready.<master pid> lists all its first
    workers; later ones (max_requests, a HUP) write nothing, and a by-hand start (no runtime
    directory) does not fail."""
    ctx = dev_context()
    (tmp_path / "app.env").write_text("A='1'\n")
    conf = render.render_gunicorn_conf(ctx).replace(ctx.env_file, str(tmp_path / "app.env"))
    namespace: dict[str, object] = {}
    exec(conf.replace(f"/run/{ctx.runtime_dir_name}/", f"{tmp_path}/"), namespace)
    hook = namespace["post_worker_init"]
    assert callable(hook)
    settings = SimpleNamespace(workers=2)
    for age, pid in ((1, 101), (2, 102), (3, 103)):
        hook(SimpleNamespace(age=age, ppid=100, pid=pid, cfg=settings))
    assert (tmp_path / "ready.100").read_text() == "101\n102\n"
    namespace = {}
    exec(conf.replace(f"/run/{ctx.runtime_dir_name}/", f"{tmp_path}/missing/"), namespace)
    hook = namespace["post_worker_init"]
    assert callable(hook)
    hook(SimpleNamespace(age=1, ppid=100, pid=101, cfg=settings))
