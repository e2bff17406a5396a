"""Builds on a real host (issue 16: problems 1, 2, 8, 13): the three dependency formats, an
sdist-only package, Gunicorn added when the app lacks it, venv reuse, system packages, build
commands, and a Python the app cannot run on refused before the switch.

Runs on the test host's distribution (``TESTHOST_SUITE``, default bookworm); the stack's host OS
follows it. The tests run in file order and build on each other's releases.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from djangostack.host.context import HostContext
from djangostack.settings.loading import load_from_stack_file
from djangostack.targets.hosts import host_context
from tests.e2e.test_host_release import APP, bootstrap, release
from tests.e2e.web import Browser
from tests.harness import fixture_stack
from tools.testhost import TestHost, distro

pytestmark = pytest.mark.e2e

APPS = Path(__file__).resolve().parent / "apps"
BUILD_COMMAND = ("sh", "-c", "id -un > built-by.txt && msgfmt --version | head -n 1 >> built-by.txt")


@pytest.fixture(scope="module")
def ctx() -> HostContext:
    base = host_context(load_from_stack_file(fixture_stack("dev")))
    return dataclasses.replace(
        base, host_os=distro().host_os, system_packages=("gettext",), build_commands=(BUILD_COMMAND,)
    )


@pytest.fixture(scope="module")
def host(test_host: TestHost, ctx: HostContext) -> TestHost:
    bootstrap(test_host, ctx)
    return test_host


def live(ctx: HostContext) -> str:
    browser = Browser(host=ctx.primary_host, port=ctx.https_port, http_port=ctx.http_port)
    response = browser.get("/readyz")
    assert response.status == 200, response.text
    return str(response.json()["release"])


def app_with(tmp: Path, name: str, deps: Path | None = None) -> Path:
    """The sample app, its requirements.txt replaced by the files in ``deps`` (a fixture dir)."""
    copy = tmp / name
    shutil.copytree(APP, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "media", "staticfiles"))
    if deps is not None:
        (copy / "requirements.txt").unlink()
        for file in deps.iterdir():
            shutil.copy(file, copy / file.name)
    return copy


def venv_of(host: TestHost, ctx: HostContext, release_id: str) -> str:
    return host.ssh(f"readlink {ctx.releases_dir}/{release_id}/.venv").stdout.strip()


def test_requirements_txt_release_runs_build_commands_as_the_app_user(host: TestHost, ctx: HostContext) -> None:
    result = release(host, ctx, "b1")
    assert "build commands" in result.stdout, result.stdout
    assert live(ctx) == "b1"
    built = host.ssh(f"sudo -n cat {ctx.releases_dir}/b1/built-by.txt").stdout.splitlines()
    assert built[0] == ctx.user, built
    assert built[1].startswith("msgfmt"), built  # app.systemPackages: gettext was installed
    owner = host.ssh(f"stat -c %U {ctx.releases_dir}/b1/built-by.txt").stdout.strip()
    assert owner == "root", "the release is sealed after its build commands"


def test_unchanged_dependencies_reuse_the_venv(host: TestHost, ctx: HostContext) -> None:
    result = release(host, ctx, "b2")
    assert "dependencies unchanged: reusing the venv" in result.stdout, result.stdout
    assert venv_of(host, ctx, "b2") == venv_of(host, ctx, "b1")
    assert venv_of(host, ctx, "b2").startswith(f"{ctx.venvs_dir}/")
    owner = host.ssh(f"stat -c %U:%a {venv_of(host, ctx, 'b2')}/bin/python").stdout.strip()
    assert owner.startswith("root:"), owner
    assert live(ctx) == "b2"


def test_uv_lock_with_an_sdist_only_package_and_no_gunicorn(host: TestHost, ctx: HostContext, tmp_path: Path) -> None:
    result = release(host, ctx, "b3", app_with(tmp_path, "uv", APPS / "uv"))
    assert "building the virtualenv with uv (uv," in result.stdout, result.stdout
    assert "gunicorn is not in the app's requirements: installing gunicorn==" in result.stdout
    assert live(ctx) == "b3"
    venv = venv_of(host, ctx, "b3")
    assert venv != venv_of(host, ctx, "b2")
    # docopt 0.6.2 exists only as an sdist with a bare setup.py: it was built, not downloaded.
    host.ssh(f"{venv}/bin/python -c 'import docopt, gunicorn'")
    assert "pytest" not in host.ssh(f"ls {venv}/lib/python3*/site-packages").stdout, "dev group installed"


def test_poetry_lock(host: TestHost, ctx: HostContext, tmp_path: Path) -> None:
    result = release(host, ctx, "b4", app_with(tmp_path, "poetry", APPS / "poetry"))
    assert "building the virtualenv with uv (poetry," in result.stdout, result.stdout
    assert live(ctx) == "b4"
    venv = venv_of(host, ctx, "b4")
    host.ssh(f"{venv}/bin/python -c 'import django, celery, gunicorn'")
    assert "pytest" not in host.ssh(f"ls {venv}/lib/python3*/site-packages").stdout, "dev group installed"


def test_a_python_the_app_cannot_run_on_is_refused_before_the_switch(
    host: TestHost, ctx: HostContext, tmp_path: Path
) -> None:
    python = ctx.python_version
    major, minor = (int(x) for x in python.split("."))
    app = app_with(tmp_path, "needs-newer")
    if (major, minor) < (3, 12):
        # The report's case: Django 6 on a host whose python3 is 3.11.
        requirements = (app / "requirements.txt").read_text().replace("Django==5.2.19", "Django==6.0")
        (app / "requirements.txt").write_text(requirements)
        expected = "requirements.txt asks for Django==6.0, which needs Python 3.12 or newer"
    else:
        (app / "pyproject.toml").write_text(f'[project]\nname = "x"\nrequires-python = ">={major}.{minor + 1}"\n')
        expected = f"pyproject.toml requires-python is '>={major}.{minor + 1}'"
    result = release(host, ctx, "b5", app, check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"cannot run this app: {expected}" in result.stderr, result.stderr
    assert "building the virtualenv" not in result.stdout
    assert live(ctx) == "b4"


def test_unused_venvs_are_pruned(host: TestHost, ctx: HostContext) -> None:
    venvs = set(host.ssh(f"ls {ctx.venvs_dir}").stdout.split())
    linked = set(host.ssh(f"for l in {ctx.releases_dir}/*/.venv; do readlink $l; done").stdout.split())
    assert {f"{ctx.venvs_dir}/{v}" for v in venvs} <= linked
