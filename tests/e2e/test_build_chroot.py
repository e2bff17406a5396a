"""The release's build steps on each distribution's real Python, without booting a host.

A copy of the cached test-host base of the suite (``TESTHOST_SUITE``, default bookworm) is entered
with ``chroot`` (no systemd, no services, no fixed ports): the rendered release script's own
functions check the app's Python, then build venvs with uv from requirements.txt, uv.lock (with an
sdist-only package and no gunicorn) and poetry.lock, reuse a venv when nothing changed, and refuse
a Python the app cannot run on. ``tests/e2e/test_builds.py`` runs the same through whole releases
on a booted host.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from djangostack.host.context import HostContext
from djangostack.host.distros import UV_VERSION
from djangostack.host.render import render_release_script
from djangostack.settings.loading import load_from_stack_file
from djangostack.targets.hosts import host_context
from tests.harness import fixture_stack
from tools.testhost import DEFAULT_CACHE_DIR, TestHost, build_base_root, distro
from tools.testhost.host import _chroot_mounts, _rmtree

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "examples/django_app"
APPS = Path(__file__).resolve().parent / "apps"


@pytest.fixture(scope="module")
def ctx() -> HostContext:
    base = host_context(load_from_stack_file(fixture_stack("dev")))
    return dataclasses.replace(base, host_os=distro().host_os)


@pytest.fixture(scope="module")
def root(ctx: HostContext) -> Iterator[Path]:
    from tools.testhost import require_test_host

    require_test_host()
    base = build_base_root(DEFAULT_CACHE_DIR)
    root = DEFAULT_CACHE_DIR / "machines" / f"build-chroot-{distro().suite}"
    _rmtree(root)
    subprocess.run(["cp", "-a", "--reflink=auto", str(base), str(root)], check=True)
    shutil.copyfile("/etc/resolv.conf", root / "etc/resolv.conf")
    TestHost._trust_host_cas(root)
    functions = render_release_script(ctx)
    (root / "release-functions.sh").write_text(functions[: functions.index("[[ $# -ge 1 ]] || usage")])
    apps = root / "apps"
    for name, deps in (("requirements", None), ("uv", APPS / "uv"), ("poetry", APPS / "poetry"), ("newer", None)):
        shutil.copytree(APP, apps / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "media"))
        if deps is not None:
            (apps / name / "requirements.txt").unlink()
            for file in deps.iterdir():
                shutil.copy(file, apps / name / file.name)
    (apps / "newer/pyproject.toml").write_text('[project]\nname = "x"\nrequires-python = ">=3.99"\n')
    with _chroot_mounts(root):
        setup = f"""set -euo pipefail
groupadd --system {ctx.group}
useradd --system --gid {ctx.group} --home-dir {ctx.base_dir} --no-create-home --shell /usr/sbin/nologin {ctx.user}
mkdir -p {ctx.releases_dir} {ctx.shared_dir} {ctx.config_dir}
touch {ctx.env_file}
python3 -m venv {ctx.uv_dir}
{ctx.uv_dir}/bin/pip install -q uv=={UV_VERSION}
"""
        chroot(root, setup)
        yield root
    _rmtree(root)


def chroot(root: Path, script: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
    # fd 3 is where the release script's notes go.
    return subprocess.run(
        ["chroot", str(root), "bash", "-c", f"exec 3>&1\n{script}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def build(root: Path, ctx: HostContext, app: str, release_id: str) -> subprocess.CompletedProcess[str]:
    script = f"""set -euo pipefail
source /release-functions.sh
dir={ctx.releases_dir}/{release_id}
stage_source "$dir" /apps/{app} {release_id} ""
PYTHON=""
check_python "$dir"
build_venv "$dir"
echo "VENV $(readlink "$dir/.venv")"
"$dir/.venv/bin/python" -c 'import django, gunicorn; print("IMPORTS OK")'
"""
    return chroot(root, script)


def venv(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "IMPORTS OK" in result.stdout
    return result.stdout.split("VENV ", 1)[1].split()[0]


def test_requirements_then_the_same_again_reuses_the_venv(root: Path, ctx: HostContext) -> None:
    first = venv(build(root, ctx, "requirements", "c1"))
    again = build(root, ctx, "requirements", "c2")
    assert venv(again) == first
    assert "dependencies unchanged: reusing the venv" in again.stdout
    owner = chroot(root, f"stat -c %U {first}/lib && test -f {first}/.complete").stdout.strip()
    assert owner == "root"


def test_uv_lock_builds_an_sdist_and_adds_gunicorn(root: Path, ctx: HostContext) -> None:
    result = build(root, ctx, "uv", "c3")
    path = venv(result)
    assert "gunicorn is not in the app's requirements" in result.stdout
    assert chroot(root, f"{path}/bin/python -c 'import docopt'").returncode == 0, "sdist-only docopt"


def test_poetry_lock(root: Path, ctx: HostContext) -> None:
    result = build(root, ctx, "poetry", "c4")
    path = venv(result)
    assert chroot(root, f"{path}/bin/python -c 'import celery'").returncode == 0


def test_a_python_the_app_cannot_run_on_is_refused_in_one_line(root: Path, ctx: HostContext) -> None:
    result = build(root, ctx, "newer", "c5")
    assert result.returncode != 0
    refusal = [line for line in result.stdout.splitlines() if "cannot run this app" in line]
    assert len(refusal) == 1, result.stdout
    assert f"Python {ctx.python_version}." in refusal[0]
    assert "pyproject.toml requires-python is '>=3.99'" in refusal[0]
    assert "VENV" not in result.stdout
