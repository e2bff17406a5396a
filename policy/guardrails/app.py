"""What the app really runs with: no Django debug or wildcard hosts; HSTS and database TLS in production."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .base import Context, Guardrail, as_number
from .rendered import env_settings, rendered_texts

TRUE_WORDS = frozenset({"1", "true", "yes", "on", "y", "t"})
DEBUG_NAMES = frozenset({"DJANGO_DEBUG", "DEBUG"})
ALLOWED_HOSTS_NAMES = frozenset({"ALLOWED_HOSTS", "DJANGO_ALLOWED_HOSTS"})
HSTS_NAMES = frozenset({"SECURE_HSTS_SECONDS", "DJANGO_SECURE_HSTS_SECONDS"})
HSTS_OFF_HEADER = re.compile(r"Strict-Transport-Security\s+[\"']?\s*max-age\s*=\s*0*[\"';\s]", re.I)
PLAINTEXT_SSLMODES = frozenset({"disable", "allow"})
LOOPBACK_HOSTS = frozenset({"", "localhost", "127.0.0.1", "::1", "[::1]"})
POSTGRES_URL = re.compile(r"\bpostgres(?:ql)?://[^\s'\"]+")


def _truthy(value: str) -> bool:
    return value.strip().strip("'\"").lower() in TRUE_WORDS


def _check_debug_and_hosts(resource_type: str, props: Mapping[str, Any], context: Context) -> list[str]:
    problems = []
    for setting in env_settings(resource_type, props, context):
        if setting.name in DEBUG_NAMES and _truthy(setting.value):
            problems.append(
                f"{setting.where}: {setting.name}={setting.value} turns on Django's debug mode, which shows "
                "settings and tracebacks to visitors; set it false (and not through app.extraEnv)"
            )
        if setting.name in ALLOWED_HOSTS_NAMES and "*" in [h.strip() for h in setting.value.split(",")]:
            problems.append(
                f"{setting.where}: {setting.name} contains '*', so Django answers for any Host header "
                "(host header poisoning); list the stack's domains"
            )
    return sorted(set(problems))


def _check_prod_hsts(resource_type: str, props: Mapping[str, Any], context: Context) -> list[str]:
    if not context.is_prod:
        return []
    problems = []
    for setting in env_settings(resource_type, props, context):
        seconds = as_number(setting.value.strip().strip("'\""))
        if setting.name in HSTS_NAMES and seconds is not None and seconds <= 0:
            problems.append(
                f"{setting.where}: {setting.name}={setting.value} switches HSTS off in production; "
                "set web.hstsSeconds to at least 300 (one year once HTTPS is proven)"
            )
    for rendered in rendered_texts(resource_type, props):
        if HSTS_OFF_HEADER.search(rendered.text):
            problems.append(f"{rendered.where}: sends Strict-Transport-Security max-age=0 in production")
    return sorted(set(problems))


def _url_sslmode(url: str) -> tuple[str, str | None]:
    """(host, sslmode) of a postgres:// URL; sslmode None when the URL does not set it."""
    from urllib.parse import parse_qs, urlsplit

    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return "", None
    modes = parse_qs(parts.query).get("sslmode")
    if not host and "host" in parse_qs(parts.query):
        host = parse_qs(parts.query)["host"][0]
    return host, (modes[-1].lower() if modes else None)


def _check_prod_database_tls(resource_type: str, props: Mapping[str, Any], context: Context) -> list[str]:
    if not context.is_prod:
        return []
    problems = []
    for setting in env_settings(resource_type, props, context):
        if setting.name.endswith("SSLMODE") and setting.value.strip().strip("'\"").lower() in PLAINTEXT_SSLMODES:
            problems.append(
                f"{setting.where}: {setting.name}={setting.value} lets the app talk to a production database "
                "without TLS; use require or verify-full"
            )
        for url in POSTGRES_URL.findall(setting.value):
            host, mode = _url_sslmode(url)
            # A database on the same host (loopback or a unix socket) never crosses a network.
            if mode in PLAINTEXT_SSLMODES and host not in LOOPBACK_HOSTS and not host.startswith("/"):
                problems.append(
                    f"{setting.where}: {setting.name} connects to the external database {host} with "
                    f"sslmode={mode} in production; use require or verify-full"
                )
    return sorted(set(problems))


GUARDRAILS: tuple[Guardrail, ...] = (
    Guardrail(
        "no-django-debug-or-wildcard-hosts",
        "The app never runs with DJANGO_DEBUG on or '*' in ALLOWED_HOSTS, however they are set (container "
        "or command env, user data, the server's rendered env file).",
        _check_debug_and_hosts,
    ),
    Guardrail(
        "prod-hsts-enabled",
        "In production, HSTS stays on: no SECURE_HSTS_SECONDS=0 and no Strict-Transport-Security max-age=0.",
        _check_prod_hsts,
    ),
    Guardrail(
        "prod-database-tls",
        "In production, the app connects to an external database with TLS: no sslmode=disable or allow.",
        _check_prod_database_tls,
    ),
)
