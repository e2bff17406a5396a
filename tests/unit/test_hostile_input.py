"""Hostile values a review found `check` accepting: each is now refused with one keyed line.

Every test here failed on the old validator: the value passed `check` and then either reached a
root shell script or nginx unquoted, or crashed `render` / `plan` with a Python traceback.
"""

from __future__ import annotations

import contextlib
import copy
import io
from pathlib import Path
from typing import Any

import pytest
import yaml

from djangostack.cli.main import main as cli
from djangostack.settings.errors import SettingsError
from djangostack.settings.loading import load_from_stack_file
from djangostack.validation import validate

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx1bW9zdGx5LWEtdGVzdC1rZXktZm9yLXZhbGlkYXRpb24"

SERVER: dict[str, Any] = {
    "environment": "dev",
    "target": {"kind": "server", "host": "203.0.113.10", "sshKeyFile": "id_ed25519"},
    "app": {"name": "shop", "releaseId": "v1"},
    "database": {"mode": "local"},
    "cache": {"mode": "local"},
}

GCP: dict[str, Any] = {
    "environment": "staging",
    "target": {"kind": "gcp-cloudrun", "project": "acme-notes-staging"},
    "app": {"name": "notes", "releaseId": "r1", "image": "europe-west1-docker.pkg.dev/p/notes/app:1.0"},
    "media": {"storage": "gcs"},
}


def server(**changes: Any) -> dict[str, Any]:
    """The SERVER stack with ``{"concern.key": value}`` changes applied (dots walk into objects)."""
    raw = copy.deepcopy(SERVER)
    for dotted, value in changes.items():
        node = raw
        *parents, last = dotted.split("__")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return raw


def refused(raw: dict[str, Any], key: str, secrets: set[str] | None = None) -> str:
    """Assert the settings are refused with a line about ``djangostack:<key>``; return that line."""
    with pytest.raises(SettingsError) as caught:
        validate(raw, secrets or set(), set())
    lines = caught.value.lines
    hits = [line for line in lines if line.startswith(f"djangostack:{key}")]
    assert hits, lines
    assert all("\n" not in line for line in lines)
    return hits[0]


# --------------------------------------------------------------------------------------------------
# Root shell and nginx injection
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "email",
    ["ops@example.com;reboot", "$(reboot)@example.com", "`id`@example.com", "ops@example.com --agree-tos"],
)
def test_a_tls_email_with_shell_metacharacters_is_refused(email: str) -> None:
    raw = server(
        domain__names=["shop.example.com"],
        domain__tls={"mode": "letsencrypt", "email": email},
    )
    refused(raw, "domain.tls.email")


@pytest.mark.parametrize("host", ["fe80::1%$(reboot)", "fe80::1%eth0", "fe80::1%`id`"])
def test_an_ipv6_scope_id_in_the_target_host_is_refused(host: str) -> None:
    refused(server(target__host=host), "target.host")


@pytest.mark.parametrize("key", ["network__cidr", "network__adminCidrs"])
def test_an_ipv6_scope_id_in_a_cidr_is_refused(key: str) -> None:
    value = "fe80::%$(reboot)/64"
    raw = server(**{key: [value] if key.endswith("Cidrs") else value})
    refused(raw, key.replace("__", "."))


# --------------------------------------------------------------------------------------------------
# Values check accepted that then crashed render or plan
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["it's", "two\nlines", "cr\rhere", "nul\0byte", " padded "])
def test_an_extra_env_value_that_cannot_be_quoted_safely_is_refused(value: str) -> None:
    refused(server(app__extraEnv={"FEATURE": value}), "app.extraEnv")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("domain__names", ["shop.example.com\n"]),
        ("target__host", "shop.example.com\n"),
        ("target__host", "203.0.113.10\n"),
        ("app__healthPath", "/readyz\n"),
        ("app__name", "shop\n"),
        ("app__releaseId", "v1\n"),
        ("database__name", "app\n"),
        ("target__sshUser", "deploy\n"),
        ("celery__queues", ["celery\n"]),
    ],
)
def test_a_trailing_newline_is_refused_everywhere(key: str, value: Any) -> None:
    raw = server(**{key: value})
    if key == "domain__names":
        raw["domain"]["tls"] = {"mode": "self-signed"}
    if key == "celery__queues":
        raw["celery"]["worker"] = True
    refused(raw, key.replace("__", "."))


def test_gcp_name_limits_are_checked_by_the_validator() -> None:
    raw = copy.deepcopy(GCP)
    raw["app"]["name"] = "n" * 32
    line = refused(raw, "app.name")
    assert "characters" in line and "shorten app.name" in line


def test_gcp_egress_subnet_inside_the_services_range_is_checked_by_the_validator() -> None:
    raw = copy.deepcopy(GCP)
    raw["target"]["egressSubnetCidr"] = "10.20.1.0/26"
    refused(raw, "target.egressSubnetCidr")


def test_gcp_extra_env_set_by_the_target_is_checked_by_the_validator() -> None:
    raw = copy.deepcopy(GCP)
    raw["app"]["extraEnv"] = {"MEDIA_BUCKET": "elsewhere"}
    refused(raw, "app.extraEnv")


@pytest.mark.parametrize(
    "image",
    ["app:latest@sha256:", "app@sha256:", "app@sha256:xyz", "app:1.0@sha256:" + "a" * 63, "app:1.0\n", "app: 1.0"],
)
def test_an_image_with_an_empty_or_malformed_digest_is_refused(image: str) -> None:
    raw = copy.deepcopy(GCP)
    raw["app"]["image"] = image
    refused(raw, "app.image")


def test_a_digest_pinned_image_is_accepted() -> None:
    raw = copy.deepcopy(GCP)
    raw["app"]["image"] = "europe-west1-docker.pkg.dev/p/notes/app@sha256:" + "ab" * 32
    assert validate(raw, set(), set()).app.image == raw["app"]["image"]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("web__hstsSeconds", True),
        ("web__workers", False),
        ("web__maxUploadMb", "10"),
        ("celery__worker", "yes"),
        ("target__firewall", 1),
        ("observability__tracesSampleRate", "0.5"),
    ],
)
def test_booleans_and_numbers_are_strict(key: str, value: Any) -> None:
    refused(server(**{key: value}), key.replace("__", "."))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("app__extraEnv", {"BIG": "x" * 5_000_000}),
        ("app__source", "x" * 5_000_000),
        ("target__sshKeyFile", "x" * 5_000_000),
        ("app__extraEnv", {f"K{i}": "v" for i in range(5000)}),
        ("network__adminCidrs", [f"10.{i // 256}.{i % 256}.0/24" for i in range(5000)]),
    ],
)
def test_huge_values_are_refused_with_one_short_line(key: str, value: Any) -> None:
    line = refused(server(**{key: value}), key.replace("__", "."))
    assert len(line) < 400


def test_a_huge_stack_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.big.yaml"
    path.write_text("config:\n  djangostack:environment: dev\n# " + "x" * 5_000_000 + "\n")
    with pytest.raises(SettingsError) as caught:
        load_from_stack_file(path)
    assert "too large" in caught.value.lines[0]


def test_a_yaml_alias_bomb_is_refused_without_expanding_it(tmp_path: Path) -> None:
    lines = ["config:", "  djangostack:environment: dev", '  a0: &a0 ["lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 12):
        prev = f"*a{i - 1}"
        lines.append(f"  a{i}: &a{i} [{', '.join([prev] * 10)}]")
    path = tmp_path / "Pulumi.bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(SettingsError) as caught:
        load_from_stack_file(path)
    assert "alias" in caught.value.lines[0]


def test_plan_and_render_stop_on_the_same_line_as_check(tmp_path: Path) -> None:
    document = {"config": {f"djangostack:{k}": v for k, v in server(app__extraEnv={"X": "it's"}).items()}}
    path = tmp_path / "Pulumi.hostile.yaml"
    path.write_text(yaml.safe_dump(document))
    outputs = []
    for argv in (
        ["check", str(path)],
        ["render", "--stack", str(path), "--out", str(tmp_path / "out")],
        ["plan", "--stack", str(path)],
    ):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            assert cli(argv) == 1
        outputs.append(err.getvalue())
    assert "djangostack:app.extraEnv" in outputs[0]
    assert outputs[0] == outputs[1] == outputs[2]


def test_letsencrypt_without_domain_names_on_a_server_is_refused_by_check() -> None:
    """It used to pass check and then raise ValueError while the host files were rendered."""
    refused(server(domain__tls={"mode": "letsencrypt", "email": "ops@example.com"}), "domain.tls.mode")
