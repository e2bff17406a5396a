"""Host OS, the app's Python, system packages and build commands (issue 16: problems 1, 2, 8, 13)."""

from __future__ import annotations

import copy
import dataclasses
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from djangostack.host import python_check
from djangostack.host.context import HostContext
from djangostack.host.distros import HOST_OSES, check_package_name, host_os
from djangostack.host.render import host_packages, render_bootstrap_script, render_release_script
from djangostack.targets.hosts import host_context
from djangostack.validation import validate
from tests.host.conftest import alb_context, dev_context

CHECK_SOURCE = Path(python_check.__file__).read_text(encoding="utf-8")


def ctx(**changes: object) -> HostContext:
    return dataclasses.replace(dev_context(), **changes)  # type: ignore[arg-type]


# ---- the Python check that runs on the host before the venv is built -----------------------------


@pytest.mark.parametrize(
    ("version", "spec", "ok"),
    [
        ((3, 11, 2), ">=3.12", False),
        ((3, 12, 0), ">=3.12", True),
        ((3, 13, 1), ">=3.10,<3.13", False),
        ((3, 12, 9), ">=3.10,<3.13", True),
        ((3, 11, 2), "==3.11.*", True),
        ((3, 12, 0), "==3.11.*", False),
        ((3, 11, 2), "!=3.11.*", False),
        ((3, 11, 2), "~=3.11", True),
        ((4, 0, 0), "~=3.11", False),
        ((3, 10, 12), "^3.11", False),
        ((3, 13, 0), "^3.11", True),
        ((3, 12, 0), "~3.11", False),
        ((3, 11, 9), "~3.11", True),
        ((3, 11, 2), "something odd", True),
    ],
)
def test_specifiers(version: tuple[int, ...], spec: str, ok: bool) -> None:
    assert python_check.satisfies(version, spec) is ok


def write(tmp: Path, name: str, text: str) -> Path:
    (tmp / name).write_text(text, encoding="utf-8")
    return tmp


def test_django_6_in_requirements_needs_python_3_12(tmp_path: Path) -> None:
    write(tmp_path, "requirements.txt", "django-environ==0.11\nDjango==6.0.1  # the web framework\n")
    found = python_check.problems(tmp_path, (3, 11, 2))
    assert found == ["requirements.txt asks for Django==6.0.1, which needs Python 3.12 or newer (not 3.11.2)"]
    assert python_check.problems(tmp_path, (3, 12, 3)) == []


def test_a_django_floor_is_what_counts(tmp_path: Path) -> None:
    write(tmp_path, "requirements.txt", "Django>=5.0,<7\n")
    assert python_check.problems(tmp_path, (3, 11, 2)) == []
    write(tmp_path, "requirements.txt", "django[argon2]~=6.0.0\n")
    assert python_check.problems(tmp_path, (3, 11, 2))


def test_locked_django_and_requires_python(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", '[project]\nname = "x"\nrequires-python = ">=3.12"\n\n[tool.other]\nx = 1\n')
    write(
        tmp_path,
        "uv.lock",
        'version = 1\nrequires-python = ">=3.12"\n\n[[package]]\nname = "django"\nversion = "6.0.1"\n',
    )
    found = python_check.problems(tmp_path, (3, 11, 2))
    assert found[0] == "pyproject.toml requires-python is '>=3.12'"
    assert found[1] == "uv.lock requires-python is '>=3.12'"
    assert found[2].startswith("uv.lock locks Django 6.0.1, which needs Python 3.12")
    assert python_check.problems(tmp_path, (3, 13, 0)) == []


def test_poetry_python_constraint(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", '[tool.poetry.dependencies]\npython = "^3.12"\nDjango = "6.0"\n')
    write(tmp_path, "poetry.lock", '[[package]]\nname = "Django"\nversion = "6.0"\n')
    assert len(python_check.problems(tmp_path, (3, 11, 2))) == 2


def test_the_check_runs_as_a_script_and_refuses_in_one_line(tmp_path: Path) -> None:
    """The release script runs this exact source with ``python -I -c``."""
    needed = f"{sys.version_info[0]}.{sys.version_info[1] + 1}"
    write(tmp_path, "pyproject.toml", f'[project]\nrequires-python = ">={needed}"\n')
    hint = "choose another host OS"
    refused = subprocess.run(
        [sys.executable, "-I", "-c", CHECK_SOURCE, str(tmp_path), hint], capture_output=True, text=True, check=False
    )
    assert refused.returncode == 1
    lines = refused.stdout.splitlines()
    assert len(lines) == 1, refused.stdout
    assert f"requires-python is '>={needed}'" in lines[0] and lines[0].endswith(hint)
    write(tmp_path, "pyproject.toml", '[project]\nrequires-python = ">=3.8"\n')
    accepted = subprocess.run(
        [sys.executable, "-I", "-c", CHECK_SOURCE, str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr


# ---- host OS and packages --------------------------------------------------------------------------


def test_every_os_knows_its_python_and_postgres() -> None:
    assert {name: (o.python, o.postgres) for name, o in HOST_OSES.items()} == {
        "debian-12": ("3.11", "15"),
        "debian-13": ("3.13", "17"),
        "ubuntu-22.04": ("3.10", "14"),
        "ubuntu-24.04": ("3.12", "16"),
    }
    with pytest.raises(ValueError, match="unknown host OS 'centos-9'"):
        host_os("centos-9")


def test_aws_hosts_are_the_ubuntu_ami() -> None:
    assert alb_context().host_os == "ubuntu-24.04"
    assert dev_context().host_os == "debian-12"


@pytest.mark.parametrize("name", sorted(HOST_OSES))
def test_bootstrap_refuses_another_os_than_the_stack_says(name: str, tmp_path: Path) -> None:
    """The rendered OS check, run against fake os-release files."""
    script = render_bootstrap_script(ctx(host_os=name))
    block = script.split("# ---- host OS -", 1)[1].split("\n", 1)[1].split("# ---- packages", 1)[0]
    block = block.replace("/etc/os-release", str(tmp_path / "os-release"))
    o = HOST_OSES[name]
    prelude = 'set -euo pipefail\ndie() { echo "$*" >&2; exit 1; }\n'
    write(tmp_path, "os-release", f'PRETTY_NAME="X"\nID={o.os_id}\nVERSION_ID="{o.version_id}"\n')
    ok = subprocess.run(["bash", "-c", prelude + block], capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    write(tmp_path, "os-release", 'PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"\nID=debian\nVERSION_ID="11"\n')
    bad = subprocess.run(["bash", "-c", prelude + block], capture_output=True, text=True, check=False)
    assert bad.returncode == 1
    assert bad.stderr.strip() == (
        f"this host runs Debian GNU/Linux 11 (bullseye) (debian-11), but the stack is rendered for "
        f"{o.label} (target.os {name}); set target.os to match the host"
    )


def test_system_packages_are_installed_and_validated() -> None:
    wanted = ("gettext", "libjpeg62-turbo-dev")
    assert set(wanted) <= set(host_packages(ctx(system_packages=wanted)))
    for bad in ("Gettext", "a", "x;rm -rf /", "-y", "libfoo:amd64", "lib foo"):
        with pytest.raises(ValueError, match="is not a Debian package name"):
            check_package_name(bad)
        with pytest.raises(ValueError, match="is not a Debian package name"):
            host_packages(ctx(system_packages=(bad,)))


def test_uv_is_pinned_and_a_managed_python_only_when_the_os_lacks_it() -> None:
    system = render_bootstrap_script(ctx())
    assert "uv_wanted=" in system and "uv python install" not in system
    same = ctx(host_os="debian-13", python="3.13")
    assert not same.managed_python and "uv python install" not in render_bootstrap_script(same)
    other = ctx(python="3.13")
    assert other.managed_python and other.python_version == "3.13"
    assert "uv python install --no-bin 3.13" in render_bootstrap_script(other)
    assert "PYTHON_INSTALL_DIR=/usr/local/lib/notes/python" in render_release_script(other)


def test_release_uses_the_python_of_the_chosen_os() -> None:
    assert "PYTHON_VERSION=3.13\n" in render_release_script(ctx(host_os="debian-13"))
    assert "PYTHON_VERSION=3.10\n" in render_release_script(ctx(host_os="ubuntu-22.04"))


# ---- build commands -------------------------------------------------------------------------------


def test_build_commands_are_quoted_word_by_word(tmp_path: Path) -> None:
    evil = ("sh", "-c", "echo $HOME; touch pwned", "$(touch pwned2)", "it's")
    script = render_release_script(ctx(build_commands=(("python", "manage.py", "compilemessages"), evil)))
    assert 'VIRTUAL_ENV="$dir/.venv" python manage.py compilemessages || return 1' in script
    assert f'VIRTUAL_ENV="$dir/.venv" {shlex.join(evil)} || return 1' in script
    # The echoed line is data too: bash prints it without running anything.
    line = next(x for x in script.splitlines() if x.strip().startswith("printf '+ %s\\n'") and "pwned" in x)
    out = subprocess.run(["bash", "-c", line], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout == f"+ {shlex.join(evil)}\n"
    assert not list(tmp_path.iterdir())


def test_no_build_commands_no_build_step() -> None:
    assert 'run "build commands' not in render_release_script(ctx())
    assert 'run "build commands' in render_release_script(ctx(build_commands=(("true",),)))


def test_destroy_removes_the_venvs_and_uv() -> None:
    from djangostack.host.django_host import uninstall_script

    c = ctx()
    script = uninstall_script(c)
    assert c.venvs_dir in script.split("rm -rf ", 1)[1].splitlines()[0]
    assert c.uv_dir.startswith(c.lib_dir + "/") and c.python_dir.startswith(c.lib_dir + "/")


@pytest.mark.parametrize(
    "files", [("requirements.txt",), ("uv.lock", "pyproject.toml"), ("poetry.lock", "pyproject.toml")]
)
def test_the_artifact_takes_every_dependency_format(tmp_path: Path, files: tuple[str, ...]) -> None:
    from djangostack.host.artifact import pack_source

    write(tmp_path, "manage.py", "")
    for name in files:
        write(tmp_path, name, "")
    assert pack_source(tmp_path)
    (tmp_path / files[0]).unlink()
    with pytest.raises(FileNotFoundError, match="has no dependency file"):
        pack_source(tmp_path)


# ---- from the stack settings to the rendered scripts ----------------------------------------------

SERVER_RAW: dict[str, Any] = {
    "environment": "dev",
    "target": {"kind": "server", "host": "203.0.113.10", "sshKeyFile": "id_ed25519", "os": "ubuntu-22.04"},
    "app": {
        "name": "shop",
        "releaseId": "v1",
        "python": "3.13",
        "systemPackages": ["gettext", "libjpeg-turbo8-dev"],
        "buildCommands": [["python", "manage.py", "compilemessages"], ["npm", "run", "build --prod", "it's"]],
    },
    "database": {"mode": "local"},
    "cache": {"mode": "local"},
}


def settings_context(raw: dict[str, Any], **bucket: str) -> HostContext:
    return host_context(validate(copy.deepcopy(raw), set(), set()), **bucket)


def test_server_settings_reach_the_bootstrap_and_the_release() -> None:
    c = settings_context(SERVER_RAW)
    assert (c.host_os, c.python, c.python_version, c.managed_python) == ("ubuntu-22.04", "3.13", "3.13", True)
    bootstrap = render_bootstrap_script(c)
    assert 'if [[ "$os_seen" != ubuntu-22.04 ]]; then' in bootstrap
    assert "\n    gettext\n" in bootstrap and "\n    libjpeg-turbo8-dev\n" in bootstrap
    assert "uv python install --no-bin 3.13" in bootstrap
    release = render_release_script(c)
    assert "PYTHON_VERSION=3.13\n" in release
    assert 'VIRTUAL_ENV="$dir/.venv" python manage.py compilemessages || return 1' in release
    build = shlex.join(["npm", "run", "build --prod", "it's"])
    assert build == "npm run 'build --prod' 'it'\"'\"'s'"
    assert f'VIRTUAL_ENV="$dir/.venv" {build} || return 1' in release


def test_defaults_keep_the_host_as_it_was() -> None:
    raw = copy.deepcopy(SERVER_RAW)
    raw["target"].pop("os")
    raw["app"] = {"name": "shop", "releaseId": "v1"}
    c = settings_context(raw)
    assert (c.host_os, c.python, c.system_packages, c.build_commands) == ("debian-12", "system", (), ())
    assert not c.managed_python and 'run "build commands' not in render_release_script(c)


def test_aws_settings_reach_the_host_files() -> None:
    raw: dict[str, Any] = {
        "environment": "staging",
        "target": {"kind": "aws-ec2", "os": "ubuntu-22.04"},
        "app": {"name": "api", "releaseId": "r1", "systemPackages": ["gettext"], "buildCommands": [["make", "assets"]]},
        "media": {"storage": "s3"},
        "domain": {"names": ["api.example.com"], "tls": {"mode": "letsencrypt", "email": "ops@example.com"}},
    }
    c = settings_context(raw, media_bucket="api-media")
    assert (c.host_os, c.python_version, c.system_packages, c.build_commands) == (
        "ubuntu-22.04",
        "3.10",
        ("gettext",),
        (("make", "assets"),),
    )
    assert "gettext" in host_packages(c)
    assert 'VIRTUAL_ENV="$dir/.venv" make assets || return 1' in render_release_script(c)
    raw["target"]["os"] = "ubuntu-24.04"
    assert settings_context(raw, media_bucket="api-media").os_info.python == "3.12"
