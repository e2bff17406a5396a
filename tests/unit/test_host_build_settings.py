"""The host OS, the app's Python, system packages and build commands as stack settings.

``target.os``, ``app.python``, ``app.systemPackages`` and ``app.buildCommands``: what the schema and
the target rules accept, and the one line that names the setting when they refuse.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from djangostack.host.distros import HOST_OSES, check_package_name
from djangostack.settings.errors import SettingsError
from djangostack.settings.fields import MANAGED_PYTHONS
from djangostack.settings.stack import StackSettings
from djangostack.targets.aws.rules import AWS_HOST_OSES, ami_name_pattern, launch_template_name
from djangostack.validation import validate
from tests.unit.test_hostile_input import GCP, SERVER

AWS: dict[str, Any] = {
    "environment": "staging",
    "target": {"kind": "aws-ec2"},
    "app": {"name": "api", "releaseId": "r1"},
    "media": {"storage": "s3"},
}


def stack(base: dict[str, Any], target: dict[str, Any] | None = None, **app: Any) -> dict[str, Any]:
    raw = copy.deepcopy(base)
    raw["target"].update(target or {})
    raw["app"].update(app)
    return raw


def ok(raw: dict[str, Any]) -> StackSettings:
    return validate(raw, set(), set(), stack="t")


def refused(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        validate(raw, set(), set(), stack="t")
    return caught.value.lines


# ---- accepted ----------------------------------------------------------------------------------


def test_defaults() -> None:
    server, aws = ok(stack(SERVER)), ok(stack(AWS))
    assert server.target.os == "debian-12" and aws.target.os == "ubuntu-24.04"  # type: ignore[union-attr]
    assert (server.app.python, server.app.system_packages, server.app.build_commands) == ("system", [], [])


@pytest.mark.parametrize("name", sorted(HOST_OSES))
def test_every_os_on_the_server_target(name: str) -> None:
    assert ok(stack(SERVER, {"os": name})).target.os == name  # type: ignore[union-attr]


@pytest.mark.parametrize("python", ["system", *MANAGED_PYTHONS])
def test_python_choices(python: str) -> None:
    assert ok(stack(SERVER, python=python)).app.python == python


def test_packages_and_commands_are_kept_as_given() -> None:
    packages = ["gettext", "libjpeg62-turbo-dev", "libxml2-dev", "g++", "python3.11-dev"]
    commands = [["python", "manage.py", "compilemessages"], ["./bin/build", "--out=static/$x", "it's", "a b"]]
    app = ok(stack(SERVER, systemPackages=packages, buildCommands=commands)).app
    assert app.system_packages == packages and app.build_commands == commands
    for name in packages:
        assert check_package_name(name) == name  # the render-time check agrees with the schema


@pytest.mark.parametrize("name", AWS_HOST_OSES)
def test_aws_boots_the_ubuntu_releases(name: str) -> None:
    assert ok(stack(AWS, {"os": name})).target.os == name  # type: ignore[union-attr]


# ---- refused, one line naming the setting -------------------------------------------------------


@pytest.mark.parametrize(
    ("app", "key", "says"),
    [
        ({"python": "3"}, "app.python", "must be 'system'"),
        ({"python": "3.8"}, "app.python", "3.9, 3.10"),
        ({"python": "3.16"}, "app.python", "or a CPython minor uv installs"),
        ({"python": "3.12.1"}, "app.python", "must be 'system'"),
        ({"python": "3.13t"}, "app.python", "must be 'system'"),
        ({"python": "python3"}, "app.python", "must be 'system'"),
        ({"python": "3.12\n"}, "app.python", "must be 'system'"),
        ({"python": 3.12}, "app.python", "valid string"),
        ({"systemPackages": ["-oAPT::Get::AllowUnauthenticated=1"]}, "app.systemPackages[0]", "no apt options"),
        ({"systemPackages": ["gettext", "--allow-downgrades"]}, "app.systemPackages[1]", "Debian package name"),
        ({"systemPackages": ["Gettext"]}, "app.systemPackages[0]", "lowercase"),
        ({"systemPackages": ["libfoo:amd64"]}, "app.systemPackages[0]", ":arch"),
        ({"systemPackages": ["nginx=1.22"]}, "app.systemPackages[0]", "versions"),
        ({"systemPackages": ["x"]}, "app.systemPackages[0]", "at least two"),
        ({"systemPackages": ["a;rm -rf /"]}, "app.systemPackages[0]", "Debian package name"),
        ({"systemPackages": ["gettext\n"]}, "app.systemPackages[0]", "Debian package name"),
        ({"systemPackages": ["a" * 101]}, "app.systemPackages[0]", "at most 100"),
        ({"systemPackages": [f"pkg{i}" for i in range(101)]}, "app.systemPackages", "at most 100 items"),
        ({"systemPackages": "gettext"}, "app.systemPackages", "valid list"),
        ({"buildCommands": [[]]}, "app.buildCommands[0]", "at least 1 item"),
        ({"buildCommands": [["LD_PRELOAD=/tmp/x.so", "python"]]}, "app.buildCommands[0]", "environment assignments"),
        ({"buildCommands": [["-i", "python"]]}, "app.buildCommands[0]", "not starting with '-'"),
        ({"buildCommands": [["$(pwned)"]]}, "app.buildCommands[0]", "program name or path"),
        ({"buildCommands": [["npm run build"]]}, "app.buildCommands[0]", "program name or path"),
        ({"buildCommands": [["python", "a\nb"]]}, "app.buildCommands[0][1]", "control or invisible"),
        ({"buildCommands": [["python", "\u202eevil"]]}, "app.buildCommands[0][1]", "control or invisible"),
        ({"buildCommands": [["python", "nul\0"]]}, "app.buildCommands[0][1]", "control or invisible"),
        ({"buildCommands": [["python", ""]]}, "app.buildCommands[0][1]", "at least 1 character"),
        ({"buildCommands": [["python", "x" * 513]]}, "app.buildCommands[0][1]", "at most 512"),
        ({"buildCommands": [["true"] * 33]}, "app.buildCommands[0]", "at most 32"),
        ({"buildCommands": [["true"]] * 21}, "app.buildCommands", "at most 20"),
        ({"buildCommands": ["python manage.py compilemessages"]}, "app.buildCommands[0]", "valid list"),
    ],
)
def test_refusals_name_the_setting(app: dict[str, Any], key: str, says: str) -> None:
    lines = refused(stack(SERVER, **app))
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"djangostack:{key}: "), lines
    assert says in lines[0], lines
    assert len(lines[0]) < 400


def test_an_unknown_os_names_the_setting() -> None:
    (line,) = refused(stack(SERVER, {"os": "centos-9"}))
    assert line.startswith("djangostack:target.os: ") and "'debian-12'" in line and "'ubuntu-24.04'" in line


@pytest.mark.parametrize("name", ["debian-12", "debian-13"])
def test_aws_refuses_debian(name: str) -> None:
    (line,) = refused(stack(AWS, {"os": name}))
    assert line == (
        f"djangostack:target.os: {name!r} cannot run on aws-ec2: the hosts boot Canonical's Ubuntu AMIs, whose "
        "SSM Agent and snapd the release path needs (Debian's AMIs ship neither); use ubuntu-24.04 or "
        "ubuntu-22.04, or the server target for a Debian host"
    )


# ---- gcp-cloudrun: the image decides ------------------------------------------------------------


def test_gcp_accepts_a_stack_without_them() -> None:
    assert ok(stack(GCP)).app.python == "system"


def test_gcp_refuses_target_os() -> None:
    (line,) = refused(stack(GCP, {"os": "debian-12"}))
    assert line == (
        "djangostack:target.os: Cloud Run runs app.image as built, so this belongs in the image's Dockerfile "
        "(its FROM line chooses the operating system); remove target.os"
    )


@pytest.mark.parametrize(
    ("app", "key"),
    [
        ({"python": "3.12"}, "app.python"),
        ({"python": "system"}, "app.python"),  # set at all: the image decides, not the stack
        ({"systemPackages": ["gettext"]}, "app.systemPackages"),
        ({"buildCommands": [["npm", "run", "build"]]}, "app.buildCommands"),
    ],
)
def test_gcp_refuses_the_build_settings(app: dict[str, Any], key: str) -> None:
    (line,) = refused(stack(GCP, **app))
    assert line.startswith(f"djangostack:{key}: Cloud Run runs app.image as built, so this belongs in the image's ")
    assert "Dockerfile" in line and line.endswith(f"remove {key}")


def test_gcp_refuses_all_of_them_at_once() -> None:
    lines = refused(stack(GCP, python="3.12", systemPackages=["gettext"], buildCommands=[["make"]]))
    assert [line.split(":", 2)[1] for line in lines] == ["app.python", "app.systemPackages", "app.buildCommands"]


# ---- the AMI follows target.os --------------------------------------------------------------------


def test_ami_names_and_templates_per_os() -> None:
    assert ami_name_pattern("ubuntu-24.04", "amd64") == "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*"
    assert ami_name_pattern("ubuntu-22.04", "arm64") == "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-arm64-server-*"
    # The default keeps the template it always had; another OS is another template.
    assert launch_template_name("notes-staging-app", "ubuntu-24.04") == "notes-staging-app-web"
    assert launch_template_name("notes-staging-app", "ubuntu-22.04") == "notes-staging-app-web-ubuntu-2204"
    assert set(AWS_HOST_OSES) < set(HOST_OSES)
