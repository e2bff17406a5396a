"""`check` guardrails: each has a violating case (refused, one keyed line) and a compliant one."""

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
from djangostack.settings.rules import looks_secret
from djangostack.settings.rules import warnings as guardrail_warnings
from djangostack.validation import validate

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHRlc3QtaG9zdC1rZXktZm9yLXRoZS1maXh0dXJl"


def stack(environment: str = "prod", **concerns: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "environment": environment,
        "target": {"kind": "server", "host": "203.0.113.10", "sshKeyFile": "id", "sshHostKey": HOST_KEY},
        "app": {"name": "shop", "releaseId": "v1"},
        "database": {"mode": "local"},
        "cache": {"mode": "local"},
    }
    for key, value in concerns.items():
        raw[key] = {**raw.get(key, {}), **value}
    return raw


def problems(raw: dict[str, Any], secrets: set[str] | None = None) -> list[str]:
    try:
        validate(raw, secrets or set(), set())
    except SettingsError as exc:
        return exc.lines
    return []


def refused(raw: dict[str, Any], key: str, secrets: set[str] | None = None) -> str:
    lines = problems(raw, secrets)
    hits = [line for line in lines if line.startswith(f"djangostack:{key}")]
    assert hits, lines
    return hits[0]


def accepted(raw: dict[str, Any], secrets: set[str] | None = None) -> None:
    assert problems(raw, secrets) == []


# ---- HSTS ------------------------------------------------------------------------------------------


def test_hsts_zero_is_refused_in_prod() -> None:
    refused(stack(web={"hstsSeconds": 0}), "web.hstsSeconds")
    refused(stack(app={"extraEnv": {"SECURE_HSTS_SECONDS": "0"}}), "app.extraEnv.SECURE_HSTS_SECONDS")


def test_hsts_on_in_prod_and_zero_outside_prod_are_accepted() -> None:
    accepted(stack(web={"hstsSeconds": 300}))
    accepted(stack("staging", web={"hstsSeconds": 0}))


# ---- extraEnv: debug, hosts, secrets, reserved names ------------------------------------------


@pytest.mark.parametrize("value", ["true", "True", "1", "yes", "on"])
def test_debug_through_extra_env_is_refused_outside_dev(value: str) -> None:
    refused(stack(app={"extraEnv": {"DJANGO_DEBUG": value}}), "app.extraEnv.DJANGO_DEBUG")
    refused(stack("staging", app={"extraEnv": {"DEBUG": value}}), "app.extraEnv.DEBUG")


def test_debug_off_is_accepted_and_debug_in_dev_only_warns() -> None:
    accepted(stack(app={"extraEnv": {"DJANGO_DEBUG": "false"}}))
    dev = stack("dev", app={"extraEnv": {"DJANGO_DEBUG": "true"}})
    settings = validate(dev, set(), set())
    assert any("DJANGO_DEBUG" in line for line in guardrail_warnings(settings))


@pytest.mark.parametrize("value", ["*", "example.com,*", " * "])
def test_allowed_hosts_wildcard_is_refused(value: str) -> None:
    refused(stack("dev", app={"extraEnv": {"ALLOWED_HOSTS": value}}), "app.extraEnv.ALLOWED_HOSTS")


def test_allowed_hosts_with_exact_names_is_accepted() -> None:
    accepted(stack(app={"extraEnv": {"ALLOWED_HOSTS": "shop.example.com,.example.org"}}))


@pytest.mark.parametrize(
    "name",
    [
        "STRIPE_SECRET",
        "STRIPE_API_KEY",
        "MAILGUN_KEY",
        "SMTP_PASSWORD",
        "GITHUB_TOKEN",
        "GOOGLE_APPLICATION_CREDENTIALS_JSON",
        "SENTRY_DSN_BACKEND",
        "JWT_PRIVATE_KEY",
        "SIGNING_PASSPHRASE",
    ],
)
def test_secret_looking_names_in_extra_env_are_refused(name: str) -> None:
    line = refused(stack(app={"extraEnv": {name: "s3cr3t-value"}}), f"app.extraEnv.{name}")
    assert "s3cr3t-value" not in line  # the literal secret is never echoed


@pytest.mark.parametrize(
    "name",
    [
        "AWS_ACCESS_KEY_ID",
        "STRIPE_PUBLISHABLE_KEY",
        "RECAPTCHA_SITE_KEY",
        "VAPID_PUBLIC_KEY",
        "CACHE_KEY_PREFIX",
        "JWT_TOKEN_LIFETIME",
        "PASSWORD_RESET_TIMEOUT_DAYS",
        "FEATURE_FLAGS",
        "MONKEY",
    ],
)
def test_names_that_only_describe_a_secret_are_accepted(name: str) -> None:
    assert not looks_secret(name)
    accepted(stack(app={"extraEnv": {name: "value"}}))


@pytest.mark.parametrize(
    ("name", "secret_key"),
    [
        ("SECRET_KEY", "secretKey"),
        ("DATABASE_URL", "databaseUrl"),
        ("REDIS_URL", "redisUrl"),
        ("SENTRY_DSN", "sentryDsn"),
    ],
)
def test_known_secrets_in_extra_env_point_at_the_secret_key(name: str, secret_key: str) -> None:
    line = refused(stack(app={"extraEnv": {name: "x"}}), f"app.extraEnv.{name}")
    assert f"--secret {secret_key}" in line


@pytest.mark.parametrize(
    "value", ["postgres://app:hunter2@db.example.com/app", "amqp://guest:guest@mq:5672//", "https://u:p@example.com/"]
)
def test_a_url_with_a_password_is_refused_under_any_name(value: str) -> None:
    line = refused(stack(app={"extraEnv": {"UPSTREAM": value}}), "app.extraEnv.UPSTREAM")
    assert "hunter2" not in line


def test_a_url_without_credentials_is_accepted() -> None:
    accepted(stack(app={"extraEnv": {"UPSTREAM": "https://api.example.com/v1?x=1", "CDN": "https://u@cdn.example"}}))


@pytest.mark.parametrize(
    "name",
    [
        "PATH",
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
        "PYTHONPATH",
        "PYTHONSTARTUP",
        "BASH_ENV",
        "ENV",
        "IFS",
        "HOME",
        "SHELLOPTS",
        "PIP_INDEX_URL",
        "GIT_SSH_COMMAND",
        "BASH_FUNC_X%%",
        "SSL_CERT_FILE",
        "LISTEN_FDS",
    ],
)
def test_names_that_change_how_root_or_the_interpreter_behaves_are_refused(name: str) -> None:
    raw = stack("dev", app={"extraEnv": {name: "/tmp/x"}})
    assert problems(raw), name


def test_ordinary_names_that_merely_resemble_reserved_ones_are_accepted() -> None:
    accepted(
        stack(app={"extraEnv": {"STATIC_PATH_PREFIX": "/s", "ENVIRONMENT_LABEL": "blue", "PYPI_MIRROR_NOTE": "x"}})
    )


# ---- database TLS ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["disable", "prefer"])
def test_a_prod_external_database_without_tls_is_refused(mode: str) -> None:
    raw = stack(database={"mode": "external", "sslmode": mode})
    refused(raw, "database.sslmode", {"databaseUrl"})


def test_verifying_tls_and_local_or_non_prod_databases_are_accepted() -> None:
    accepted(stack(database={"mode": "external", "sslmode": "verify-full"}), {"databaseUrl"})
    accepted(stack("staging", database={"mode": "external", "sslmode": "disable"}), {"databaseUrl"})
    accepted(stack(database={"mode": "local", "sslmode": "disable"}))
    settings = validate(stack(database={"mode": "external", "sslmode": "require"}), {"databaseUrl"}, set())
    assert any("verify-full" in line for line in guardrail_warnings(settings))


# ---- admin CIDRs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cidr", ["::/1", "8000::/1", "2000::/3", "2001:db8::/31", "0.0.0.0/1", "128.0.0.0/1", "10.0.0.0/7"]
)
def test_open_halves_of_the_internet_are_refused_as_admin_cidrs(cidr: str) -> None:
    refused(stack(network={"adminCidrs": [cidr]}), "network.adminCidrs")


@pytest.mark.parametrize("cidr", ["2001:db8::/32", "2001:db8:1::/48", "198.51.100.0/24", "10.0.0.0/8"])
def test_office_and_vpn_ranges_are_accepted_as_admin_cidrs(cidr: str) -> None:
    accepted(stack(network={"adminCidrs": [cidr]}))


def test_a_public_or_ipv6_network_cidr_is_refused() -> None:
    refused(stack(network={"cidr": "8.0.0.0/8"}), "network.cidr")
    refused(stack(network={"cidr": "fd00::/8"}), "network.cidr")


# ---- SSH host key ----------------------------------------------------------------------------------


def test_a_prod_server_without_a_pinned_host_key_is_refused() -> None:
    raw = stack()
    del raw["target"]["sshHostKey"]
    refused(raw, "target.sshHostKey")


def test_dev_and_staging_servers_without_a_host_key_warn(tmp_path: Path) -> None:
    for environment in ("dev", "staging"):
        raw = stack(environment)
        del raw["target"]["sshHostKey"]
        settings = validate(raw, set(), set())
        assert any(line.startswith("djangostack:target.sshHostKey") for line in guardrail_warnings(settings))
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(yaml.safe_dump({"config": {f"djangostack:{k}": v for k, v in raw.items()}}))
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        assert cli(["check", str(path)]) == 0
    assert "warning: djangostack:target.sshHostKey" in err.getvalue()


def test_a_prod_server_with_a_pinned_host_key_does_not_warn() -> None:
    settings = validate(copy.deepcopy(stack()), set(), set())
    assert not [line for line in guardrail_warnings(settings) if "sshHostKey" in line]
