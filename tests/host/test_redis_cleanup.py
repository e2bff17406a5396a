"""The old layout shared the host's Redis between apps: each added ``include
/etc/redis/redis-<app>.conf`` (with its ``port`` and ``requirepass``) to redis.conf, and the later
include won, so one app's password broke another's cache. Now each app runs its own instance
(``redis-server@<app>.service``). An app of the old layout takes its include out of the host's
redis.conf on its next bootstrap (and a renamed app takes the old name's out), leaving the other
apps' includes; a destroy never touches the host's redis.conf any more."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

from djangostack.host import render
from djangostack.host.context import HostContext
from djangostack.host.django_host import uninstall_script

REDIS_CONF = (
    "bind 127.0.0.1\n"
    "# notes (added by its bootstrap; later directives win)\n"
    "include /etc/redis/redis-notes.conf\n"
    "# other (added by its bootstrap; later directives win)\n"
    "include /etc/redis/redis-other.conf\n"
)


def _run(block: str, tmp_path: Path, prelude: str) -> tuple[str, str, str]:
    """Run a bootstrap block against a sandboxed redis.conf, systemctl stubbed; returns
    (redis.conf afterwards, stdout, systemctl calls)."""
    conf = tmp_path / "redis.conf"
    # The instance files of the sandbox live in tmp_path: the includes name them there.
    conf.write_text(REDIS_CONF.replace("/etc/redis/redis-", f"{tmp_path}/redis-"), encoding="utf-8")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.log"
    (bin_dir / "systemctl").write_text(f'#!/bin/sh\necho "systemctl $*" >> {calls}\n')
    (bin_dir / "systemctl").chmod(0o755)
    command = block.replace("/etc/redis/redis.conf", str(conf)).replace("/etc/redis/redis-", f"{tmp_path}/redis-")
    result = subprocess.run(
        ["bash", "-c", f'set -eu; log() {{ echo "LOG $*"; }}\n{prelude}\n{command}'],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
    )
    text = conf.read_text(encoding="utf-8").replace(f"{tmp_path}/redis-", "/etc/redis/redis-")
    return text, result.stdout, calls.read_text() if calls.exists() else ""


def test_an_old_layout_app_takes_its_include_out_and_runs_its_own_instance(dev: HostContext, tmp_path: Path) -> None:
    script = render.render_bootstrap_script(dev)
    start = script.index('if [[ -f /etc/redis/redis.conf ]] && grep -qxF "include $redis_conf"')
    block = script[start : script.index("install -d -o redis", start)]
    (tmp_path / "redis-notes.conf").write_text("port 6380\nrequirepass old\n")
    text, out, calls = _run(block, tmp_path, f"APP=notes\nredis_conf={tmp_path}/redis-notes.conf")
    assert "redis-notes.conf" not in text and "# notes (" not in text, text
    assert "include /etc/redis/redis-other.conf" in text, "another app's include must stay"
    assert not (tmp_path / "redis-notes.conf").exists()
    assert "systemctl try-restart redis-server" in calls, "the host's Redis must drop the app's port and password"
    assert "redis-server@notes.service" in out


def test_a_renamed_app_takes_the_old_apps_include_away_and_its_instance_down(dev: HostContext, tmp_path: Path) -> None:
    script = render.render_bootstrap_script(dataclasses.replace(dev, stack_key="djangostack-dev"))
    start = script.index("    if [[ -f /etc/redis/redis.conf ]] && grep")
    block = script[start : script.index("    systemctl daemon-reload\n    for old_secret", start)]
    data = tmp_path / "data"
    block = block.replace("/var/lib/redis/", f"{data}/")
    (data / "other").mkdir(parents=True)
    (data / "other" / "appendonly.aof").write_text("*queued tasks*")
    text, out, calls = _run(block, tmp_path, "APP=notes\nprevious_app=other")
    assert "redis-other.conf" not in text and "# other (" not in text, text
    assert "include /etc/redis/redis-notes.conf" in text
    assert "systemctl try-restart redis-server" in calls
    assert "systemctl disable --now --quiet redis-server@other.service" in calls
    assert (data / "notes" / "appendonly.aof").read_text() == "*queued tasks*", "the Redis data follows the name"
    assert not (data / "other").exists()
    assert "moved the Redis data of other" in out


@pytest.mark.parametrize("remove_data", [False, True])
def test_destroy_stops_the_apps_instance_and_leaves_the_hosts_redis_alone(dev: HostContext, remove_data: bool) -> None:
    script = uninstall_script(dev, remove_data=remove_data)
    assert "/etc/redis/redis.conf" not in script and "redis-server.service" not in script
    assert "systemctl disable --now redis-server@notes.service" in script
    assert "rm -f /etc/redis/redis-notes.conf" in script
    assert ("rm -rf /var/lib/redis/notes" in script) == remove_data
