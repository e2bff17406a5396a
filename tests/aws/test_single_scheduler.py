"""Celery beat runs once per stack however many fleet hosts run the beat unit.

Every host's beat unit runs beat through ``beat-leader``, which holds a PostgreSQL session advisory
lock for as long as beat runs. Under mocks: the files are delivered and wrap the host layer's own
beat command. On this machine: two "hosts" against a real PostgreSQL, one scheduler at a time, and
a standby takes over when the leader dies.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from djangostack.host import render
from djangostack.offline.mocking import Recording
from djangostack.settings.loading import load_from_stack_file
from djangostack.targets.aws import host_integration as hosts
from djangostack.targets.hosts import host_context
from tests.aws.local_postgres import LocalPostgres, local_postgres_or_skip
from tests.harness import fixture_stack

UNIT = "/etc/systemd/system/celerybeat-notes.service"
DROP_IN = f"{UNIT}.d/50-single-scheduler.conf"
WRAPPER = "/usr/local/lib/notes/beat-leader"


def _bundle(rec: Recording) -> dict[str, dict[str, str]]:
    (obj,) = [o for o in rec.of_type("aws:s3/bucketObjectv2:BucketObjectv2") if o.name.endswith("-host-files")]
    return {f["path"]: f for f in json.loads(obj.inputs["content"])["files"]}


def test_fleet_hosts_run_beat_through_the_leader_lock(prod: Recording) -> None:
    files = _bundle(prod)
    drop_in = files[DROP_IN]["content"]
    settings = load_from_stack_file(fixture_stack("prod"))
    assert settings.celery.beat
    ctx = host_context(settings, public_hosts=list(settings.domain.names), media_bucket="b")
    unit = render.render_all(ctx)[UNIT].content
    (command,) = [line.removeprefix("ExecStart=") for line in unit.splitlines() if line.startswith("ExecStart=")]
    assert "ExecStart=\n" in drop_in, "the drop-in must reset the unit's ExecStart"
    assert f"ExecStart={WRAPPER} {command}\n" in drop_in
    assert "Restart=always" in drop_in
    assert files[WRAPPER]["mode"] == "0755"
    assert f"LOCK_KEY={hosts.beat_lock_key('notes')}" in files[WRAPPER]["content"]


def test_without_beat_no_leader_files_are_delivered(single: Recording) -> None:
    files = _bundle(single)
    assert DROP_IN not in files and WRAPPER not in files


def test_the_beat_lock_differs_from_the_migration_lock() -> None:
    import zlib

    assert hosts.beat_lock_key("notes") != zlib.crc32(b"djangostack-migrate-notes")


# --------------------------------------------------------------------------------------------------
# On this machine, against PostgreSQL
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres() -> Iterator[LocalPostgres]:
    with local_postgres_or_skip() as server:
        yield server


def _wrapper(tmp_path: Path) -> Path:
    settings = load_from_stack_file(fixture_stack("prod"))
    ctx = host_context(settings, public_hosts=list(settings.domain.names), media_bucket="b")
    (script,) = [f for f in hosts.single_scheduler_files(ctx, render.render_all(ctx)) if f.path == WRAPPER]
    path = tmp_path / "beat-leader"
    path.write_text(script.content)
    path.chmod(0o755)
    return path


def _start(wrapper: Path, postgres: LocalPostgres, out: Path) -> subprocess.Popen[str]:
    beat = f"while :; do echo tick >> {out}; sleep 0.2; done"
    return subprocess.Popen(
        [str(wrapper), "bash", "-c", beat],
        env={
            "PATH": os.environ["PATH"],
            "DATABASE_URL": postgres.url("postgres"),
            "BEAT_LOCK_CHECK_SECONDS": "1",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _ticking(out: Path, seconds: float = 1.0) -> bool:
    before = out.stat().st_size if out.exists() else 0
    time.sleep(seconds)
    after = out.stat().st_size if out.exists() else 0
    return after > before


def _kill(process: subprocess.Popen[str], sig: int) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
    process.wait(timeout=30)


def test_one_scheduler_at_a_time_and_a_standby_takes_over(tmp_path: Path, postgres: LocalPostgres) -> None:
    wrapper = _wrapper(tmp_path)
    out_a, out_b = tmp_path / "a.ticks", tmp_path / "b.ticks"
    host_a = _start(wrapper, postgres, out_a)
    try:
        deadline = time.monotonic() + 20
        while not out_a.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert out_a.exists(), "the first host never started beat"
        host_b = _start(wrapper, postgres, out_b)
        try:
            for _ in range(3):
                assert _ticking(out_a)
                assert not out_b.exists(), "two schedulers ran at once"
            assert host_b.poll() is None, "the standby must keep waiting, not exit"
            # The leader's host dies (SIGKILL: no cleanup): its session closes and the lock frees.
            _kill(host_a, signal.SIGKILL)
            deadline = time.monotonic() + 20
            while not out_b.exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            assert out_b.exists(), "the standby never took over"
            assert _ticking(out_b)
            size_a = out_a.stat().st_size
            time.sleep(1)
            assert out_a.stat().st_size == size_a, "the dead leader's beat kept running"
        finally:
            _kill(host_b, signal.SIGTERM)
        output = host_b.stdout.read() if host_b.stdout else ""
        assert "another host runs beat; standing by" in output
        assert "this host holds the scheduler lock; starting beat" in output
    finally:
        _kill(host_a, signal.SIGKILL)


def test_losing_the_database_session_stops_beat(tmp_path: Path, postgres: LocalPostgres) -> None:
    wrapper = _wrapper(tmp_path)
    out = tmp_path / "ticks"
    host = _start(wrapper, postgres, out)
    try:
        deadline = time.monotonic() + 20
        while not out.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _ticking(out)
        lock_key = hosts.beat_lock_key("notes")
        # Terminate the lock holder's session from the server side (a failover, a network cut).
        postgres.psql(
            "SELECT pg_terminate_backend(pid) FROM pg_locks "
            f"WHERE locktype = 'advisory' AND objid = {lock_key & 0xFFFFFFFF} AND granted"
        )
        assert host.wait(timeout=20) == 1
        time.sleep(0.5)
        assert not _ticking(out), "beat must stop with the lock"
        output = host.stdout.read() if host.stdout else ""
        assert "lost the database session" in output
    finally:
        _kill(host, signal.SIGKILL)


def test_the_beat_wrapper_passes_shellcheck(tmp_path: Path) -> None:
    import shutil

    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed")
    result = subprocess.run([shellcheck, "--severity=warning", str(_wrapper(tmp_path))], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
