"""Templates quote by construction: a value the validator wrongly let through stays data.

These contexts bypass the settings validation on purpose (``dataclasses.replace`` on a valid
context), to test the second line of defence on its own.
"""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

from djangostack.host import render
from djangostack.host.context import HostContext

HOSTILE = "$(pwned)`pwned`;pwned"


def test_the_certbot_email_and_names_are_shell_quoted(letsencrypt: HostContext) -> None:
    ctx = dataclasses.replace(letsencrypt, letsencrypt_email=f"ops@example.com{HOSTILE}")
    # Issuance lives in its own script, which the bootstrap and the retry timer run.
    script = render.render_certbot_issue(ctx)
    assert f"--email 'ops@example.com{HOSTILE}'" in script


def test_the_release_health_host_is_shell_quoted(dev: HostContext, tmp_path: Path) -> None:
    ctx = dataclasses.replace(dev, primary_host=HOSTILE)
    script = render.render_release_script(ctx)
    assert f"HEALTH_HOST='{HOSTILE}'" in script
    path = tmp_path / "release"
    path.write_text(script)
    assert subprocess.run(["bash", "-n", str(path)], check=False).returncode == 0


@pytest.mark.parametrize("value", ["a;b", "a b", "x}", "$host", "a\nb", "a'b"])
def test_nginx_refuses_a_token_that_could_end_a_directive(dev: HostContext, value: str) -> None:
    with pytest.raises(ValueError, match="Nginx"):
        render.render_nginx_site(dataclasses.replace(dev, server_names=(value,), primary_host=value))


def test_systemd_refuses_spaces_and_escapes_specifiers(dev: HostContext) -> None:
    with pytest.raises(ValueError, match="systemd"):
        render.render_celery_worker_service(dataclasses.replace(dev, celery_app="app --pidfile /etc/x"))
    unit = render.render_celery_worker_service(dataclasses.replace(dev, celery_queues=("q%h",)))
    assert "--queues q%%h" in unit


@pytest.mark.parametrize("value", ["it's", "a\nb", "a\rb", "a\0b"])
def test_the_env_file_filter_refuses_what_single_quotes_cannot_hold(value: str) -> None:
    with pytest.raises(ValueError, match="env file"):
        render.env_quote(value)


def test_shell_quote_leaves_plain_values_and_quotes_the_rest() -> None:
    assert render.shell_quote("app.example.com") == "app.example.com"
    assert render.shell_quote(HOSTILE) == f"'{HOSTILE}'"
