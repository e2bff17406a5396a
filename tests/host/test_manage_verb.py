"""The release script's ``manage`` verb, run for real against a fake release layout.

The test copy points the script's directories at a temporary tree and puts a stub ``setpriv``
first on its clean PATH (the real one needs the app user; the e2e suite covers that), so what is
checked is the script's own path: the live release is found, the app's env files are read as data,
and every argument reaches ``python manage.py`` as its own argv entry, with its exit code.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from djangostack.host import render
from djangostack.host.context import HostContext
from tests.harness import HOSTILE_ARGS

FAKE_PYTHON = """#!/usr/bin/python3
import json, os, sys
names = ("APP_SETTING", "RELEASE_ID", "HOME", "DJANGO_SUPERUSER_PASSWORD")
print(json.dumps({"argv": sys.argv[1:], "cwd": os.getcwd(), "env": {k: os.environ.get(k) for k in names}}))
sys.exit(int(os.environ.get("APP_EXIT", "0")))
"""

STUB_SETPRIV = """#!/bin/bash
# Drop setpriv's options up to `--`, then run the rest (as this user).
while [[ $# -gt 0 && $1 != -- ]]; do shift; done
shift
exec "$@"
"""


def fake_host(ctx: HostContext, tmp_path: Path, *, live: str | None, app_exit: int = 0) -> Path:
    base = tmp_path / "srv"
    releases = base / "releases"
    releases.mkdir(parents=True)
    env_file = tmp_path / "app.env"
    env_file.write_text(f"APP_SETTING='from the env file'\nAPP_EXIT='{app_exit}'\n", encoding="utf-8")
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    (stubs / "setpriv").write_text(STUB_SETPRIV, encoding="utf-8")
    (stubs / "setpriv").chmod(0o755)
    if live is not None:
        release = releases / live
        (release / ".venv" / "bin").mkdir(parents=True)
        python = release / ".venv" / "bin" / "python"
        python.write_text(FAKE_PYTHON, encoding="utf-8")
        python.chmod(0o755)
        (release / ".release.env").write_text(f"RELEASE_ID='{live}'\n", encoding="utf-8")
        (base / "current").symlink_to(f"releases/{live}")
    script = render.render_release_script(ctx)
    for old, new in (
        (f"BASE={ctx.base_dir}\n", f"BASE={base}\n"),
        (f"RELEASES={ctx.releases_dir}\n", f"RELEASES={releases}\n"),
        (f"CURRENT={ctx.current_link}\n", f"CURRENT={base / 'current'}\n"),
        (f"ENV_FILE={ctx.env_file}\n", f"ENV_FILE={env_file}\n"),
        (f"LOCK={ctx.lock_file}\n", f"LOCK={tmp_path / 'lock'}\n"),
        ("CLEAN_PATH=/usr/local/sbin", f"CLEAN_PATH={stubs}:/usr/local/sbin"),
    ):
        assert old in script, f"the release script no longer has {old!r}"
        script = script.replace(old, new, 1)
    path = tmp_path / "release"
    path.write_text(script, encoding="utf-8")
    path.chmod(0o755)
    return path


@pytest.fixture(autouse=True)
def _root_only() -> None:
    if os.geteuid() != 0:
        pytest.skip("the release script runs as root")


def test_manage_passes_every_hostile_argument_through_untouched(dev: HostContext, tmp_path: Path) -> None:
    release = fake_host(dev, tmp_path, live="r7")
    result = subprocess.run([str(release), "manage", "--", *HOSTILE_ARGS], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["argv"] == ["manage.py", *HOSTILE_ARGS]
    assert seen["cwd"] == str(tmp_path / "srv" / "releases" / "r7")
    assert seen["env"] == {
        "APP_SETTING": "from the env file",
        "RELEASE_ID": "r7",
        "HOME": str(tmp_path / "srv"),
        "DJANGO_SUPERUSER_PASSWORD": None,
    }
    assert not Path("/tmp/djangostack-pwned").exists()


def test_manage_without_the_separator_works_too(dev: HostContext, tmp_path: Path) -> None:
    release = fake_host(dev, tmp_path, live="r7")
    result = subprocess.run([str(release), "manage", "check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["argv"] == ["manage.py", "check"]


def test_manage_passes_the_commands_exit_code_on(dev: HostContext, tmp_path: Path) -> None:
    release = fake_host(dev, tmp_path, live="r7", app_exit=7)
    result = subprocess.run([str(release), "manage", "--", "loaddata", "missing"], capture_output=True, text=True)
    assert result.returncode == 7, result.stderr


def test_manage_without_a_live_release_says_so(dev: HostContext, tmp_path: Path) -> None:
    release = fake_host(dev, tmp_path, live=None)
    result = subprocess.run([str(release), "manage", "--", "check"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "no live release" in result.stderr


def test_manage_needs_arguments(dev: HostContext, tmp_path: Path) -> None:
    release = fake_host(dev, tmp_path, live="r7")
    result = subprocess.run([str(release), "manage", "--"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "manage [--env-file <file>] [--] <manage.py arguments>" in result.stderr


def test_manage_does_not_wait_for_a_running_release(dev: HostContext, tmp_path: Path) -> None:
    release = fake_host(dev, tmp_path, live="r7")
    holder = subprocess.Popen(["flock", str(tmp_path / "lock"), "sleep", "30"])
    try:
        for _ in range(50):
            if subprocess.run(["flock", "-n", str(tmp_path / "lock"), "true"]).returncode != 0:
                break
            subprocess.run(["sleep", "0.1"])
        result = subprocess.run([str(release), "manage", "check"], capture_output=True, text=True, timeout=20)
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 0, result.stderr


def test_an_env_file_adds_variables_for_this_command_and_is_removed(dev: HostContext, tmp_path: Path) -> None:
    release = fake_host(dev, tmp_path, live="r7")
    env_file = tmp_path / "manage.env"
    env_file.write_text("DJANGO_SUPERUSER_PASSWORD='s3cret pass$(x)'\n", encoding="utf-8")
    before = set(Path("/tmp").iterdir())
    result = subprocess.run(
        [str(release), "manage", "--env-file", str(env_file), "--", "createsuperuser", "--noinput"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["env"]["DJANGO_SUPERUSER_PASSWORD"] == "s3cret pass$(x)"
    assert seen["argv"] == ["manage.py", "createsuperuser", "--noinput"]
    assert not env_file.exists(), "the uploaded env file is removed"
    assert set(Path("/tmp").iterdir()) <= before, "the copy for the app user is removed too"


def test_a_malformed_env_file_stops_the_command(dev: HostContext, tmp_path: Path) -> None:
    release = fake_host(dev, tmp_path, live="r7")
    env_file = tmp_path / "manage.env"
    env_file.write_text("export X=1\n", encoding="utf-8")
    result = subprocess.run(
        [str(release), "manage", "--env-file", str(env_file), "--", "check"], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "expected a name, = and a single-quoted value" in result.stderr
    assert result.stdout == ""
