"""``check --deploy`` as the release runs it: the stack's fail level and silenced checks, run
against a real (throwaway) Django project whose settings fail the deploy checks with warnings."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from djangostack.host import render
from djangostack.host.context import HostContext
from tests.host.conftest import dev_context

SETTINGS = """\
SECRET_KEY = "x" * 60 + "abcdefghijklmnopqrstuvwxyz"
DEBUG = False
ALLOWED_HOSTS = ["example.com"]
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth"]
MIDDLEWARE = ["django.middleware.security.SecurityMiddleware"]
DATABASES = {}
ROOT_URLCONF = "site_urls"
USE_TZ = True
"""

MANAGE = """\
import sys
from django.core.management import execute_from_command_line
execute_from_command_line(sys.argv)
"""

# What these settings trigger with --deploy (all warnings): no clickjacking or CSRF middleware, no
# HSTS, no SSL redirect.
WARNINGS = ("security.W004", "security.W002", "security.W003", "security.W008")


def _run(ctx: HostContext, project: Path) -> subprocess.CompletedProcess[str]:
    pytest.importorskip("django")
    command = render.deploy_check_command(ctx)
    assert command[0] == ".venv/bin/python"
    env = {"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "site_settings", "PYTHONPATH": str(project)}
    return subprocess.run([sys.executable, *command[1:]], cwd=project, env=env, capture_output=True, text=True)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "site_settings.py").write_text(SETTINGS)
    (tmp_path / "site_urls.py").write_text("urlpatterns = []\n")
    (tmp_path / "manage.py").write_text(MANAGE)
    return tmp_path


def test_default_fails_on_warnings(project: Path) -> None:
    result = _run(dev_context(), project)
    assert result.returncode != 0
    assert "security.W004" in result.stdout + result.stderr


def test_fail_level_error_lets_warnings_through(project: Path) -> None:
    result = _run(replace(dev_context(), deploy_check_fail_level="ERROR"), project)
    assert result.returncode == 0, result.stdout + result.stderr


def test_silenced_checks_pass_and_the_rest_still_fail(project: Path) -> None:
    ctx = replace(dev_context(), deploy_check_silence=WARNINGS)
    result = _run(ctx, project)
    assert result.returncode == 0, result.stdout + result.stderr
    partly = _run(replace(ctx, deploy_check_silence=WARNINGS[1:]), project)
    assert partly.returncode != 0
    assert "security.W004" in partly.stdout + partly.stderr
    assert "security.W008" not in partly.stdout + partly.stderr


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"deploy_check_fail_level": "LOUD"}, "app.deployCheck.failLevel: 'LOUD' is not one of"),
        ({"deploy_check_silence": ("security.W005'; rm -rf /",)}, "app.deployCheck.silence:"),
        ({"deploy_check_silence": ("W005",)}, "is not a system check id"),
    ],
)
def test_bad_values_never_reach_the_script(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        render.render_release_script(replace(dev_context(), **changes))  # type: ignore[arg-type]


def test_the_release_script_runs_the_configured_check() -> None:
    ctx = replace(dev_context(), deploy_check_fail_level="ERROR", deploy_check_silence=("security.W005",))
    script = render.render_release_script(ctx)
    assert "--fail-level WARNING" not in script
    assert "fail level ERROR; silenced: security.W005" in script
