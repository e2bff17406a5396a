"""The host's Redis is shared by every app on it, each adding ``include /etc/redis/redis-<app>.conf``
(with its ``requirepass``) to redis.conf; later includes win. An app that is destroyed or renamed
must take its include away, or its password overrides the next app's and every cache call of that
app fails (found by the engine test of a destroy with app.removeDataOnDestroy followed by a new up)."""

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


def _sandboxed(script: str, tmp_path: Path) -> tuple[str, Path]:
    conf = tmp_path / "redis.conf"
    conf.write_text(REDIS_CONF, encoding="utf-8")
    return script.replace("/etc/redis/redis.conf", str(conf)), conf


@pytest.mark.parametrize("remove_data", [False, True])
def test_destroy_takes_the_apps_redis_include_away(dev: HostContext, tmp_path: Path, remove_data: bool) -> None:
    script = uninstall_script(dev, remove_data=remove_data)
    start = script.index("sed -i")
    sed = script[start : script.index("|| true", start)]
    command, conf = _sandboxed(sed, tmp_path)
    subprocess.run(["bash", "-c", command], check=True)
    text = conf.read_text(encoding="utf-8")
    assert f"redis-{dev.app_name}.conf" not in text and f"# {dev.app_name} (" not in text, text
    assert "include /etc/redis/redis-other.conf" in text, "another app's include must stay"
    assert f"rm -f /etc/redis/redis-{dev.app_name}.conf" in script


def test_a_renamed_app_takes_the_old_apps_redis_include_away(dev: HostContext, tmp_path: Path) -> None:
    script = render.render_bootstrap_script(dataclasses.replace(dev, stack_key="djangostack-dev"))
    start = script.index("    if [[ -f /etc/redis/redis.conf ]] && grep")
    block = script[start : script.index('    rm -f "/etc/redis/redis-$previous_app.conf"', start)]
    command, conf = _sandboxed(block, tmp_path)
    result = subprocess.run(
        ["bash", "-c", f"set -eu; previous_app=other\n{command}\necho restart=${{redis_restart:-}}"],
        capture_output=True,
        text=True,
        check=True,
    )
    text = conf.read_text(encoding="utf-8")
    assert "redis-other.conf" not in text and "# other (" not in text, text
    assert "include /etc/redis/redis-notes.conf" in text
    assert "restart=1" in result.stdout, "Redis must restart to drop the old requirepass"
