"""No plaintext secrets in container env, command env, user data, uploaded files, tags or labels."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from .base import Context, Guardrail, as_list, dig
from .rendered import ENV_ASSIGNMENT, containers, decode_user_data, env_settings, unquote
from .resource_types import EC2_INSTANCE, LAUNCH_TEMPLATE

SENSITIVE_WORDS = frozenset(
    {"SECRET", "PASSWORD", "PASSWD", "PASS", "TOKEN", "CREDENTIAL", "CREDENTIALS", "DSN", "APIKEY"}
)
KEY_QUALIFIERS = frozenset({"SECRET", "API", "PRIVATE", "ACCESS", "SIGNING", "ENCRYPTION", "MASTER", "AUTH", "CLIENT"})
REFERENCE_SUFFIXES = frozenset({"ARN", "ID", "NAME", "FILE", "PATH", "DIR", "REF", "VERSION", "ENABLED", "LENGTH"})
SECRET_VALUE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a URL with a password", re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s/:@'\"]*:(?![$<{%])[^\s@'\"/]+@")),
    ("a Sentry DSN", re.compile(r"https?://[0-9a-f]{32}(?::[0-9a-f]{32})?@")),
    ("a private key", re.compile(r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----")),
    ("an AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b")),
    ("a Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    ("a Google API key", re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b")),
    ("a Stripe secret key", re.compile(r"\b[rs]k_(?:live|test)_[0-9a-zA-Z]{16,}")),
    ("a webhook signing secret", re.compile(r"\bwhsec_[A-Za-z0-9+/=]{16,}")),
    ("a GitLab token", re.compile(r"\bglpat-[A-Za-z0-9_\-]{20,}")),
    ("a SendGrid key", re.compile(r"\bSG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}")),
    ("an API secret key", re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_\-]{20,}")),
    ("a package registry token", re.compile(r"\b(?:pypi-AgE[A-Za-z0-9_\-]{20,}|npm_[A-Za-z0-9]{36})")),
    ("a JSON Web Token", re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}")),
    ("a password in a connection string", re.compile(r"(?i)(?:^|[;\s])(?:password|pwd)=(?![$<{%])[^;\s'\"]{4,}")),
)
HIGH_ENTROPY_MIN_LENGTH = 24
HIGH_ENTROPY_BITS = 4.2
"""A literal at least this long whose characters carry at least this many bits each (Shannon
entropy) and mix three character classes is treated as a generated secret whatever its name:
a Django SECRET_KEY or an API token scores 4.5 to 5.5; words, host names and hex digests stay
below (hex digests also use only two classes)."""
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def sensitive_name(name: str) -> bool:
    """True for names that announce a secret: ``SECRET_KEY``, ``DB_PASSWORD``, ``API_TOKEN``,
    ``SENTRY_DSN`` - but not references to one (``APP_SECRET_ARN``, ``PASSWORD_FILE``)."""
    words = [w for w in re.split(r"[^A-Z0-9]+", name.upper()) if w]
    if not words or words[-1] in REFERENCE_SUFFIXES:
        return False
    if any(w in SENSITIVE_WORDS for w in words):
        return True
    return any(w == "KEY" and (i == 0 or words[i - 1] in KEY_QUALIFIERS) for i, w in enumerate(words))


def literal_value(value: Any) -> bool:
    """A value written out in full (not empty, not a reference resolved elsewhere)."""
    if not isinstance(value, str):
        return False
    text = value.strip().strip("'\"").strip()
    if not text or text.startswith(("$", "{{", "arn:", "projects/", "ssm:", "secretsmanager:", "/")):
        return False
    return text.lower() not in {"true", "false", "none", "null", "changeme-not-set"}


def secret_value_kind(text: str) -> str | None:
    """What kind of credential ``text`` contains, or None."""
    for kind, pattern in SECRET_VALUE_PATTERNS:
        if pattern.search(text):
            return kind
    return None


def high_entropy_literal(value: str) -> bool:
    """A value that looks generated (a key or token) rather than written: see HIGH_ENTROPY_BITS.
    Lists, host names, module paths, URLs and paths (``.``, ``,``, ``:``, a leading ``/``) and
    UUIDs are never counted."""
    text = value.strip().strip("'\"")
    if len(text) < HIGH_ENTROPY_MIN_LENGTH or any(c.isspace() or c in ".,:" for c in text):
        return False
    if text.startswith(("/", "$", "{{")) or UUID.match(text):
        return False
    classes = sum(
        [
            any(c.islower() for c in text),
            any(c.isupper() for c in text),
            any(c.isdigit() for c in text),
            any(not c.isalnum() for c in text),
        ]
    )
    if classes < 3:
        return False
    counts = {c: text.count(c) for c in set(text)}
    bits = -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())
    return bits >= HIGH_ENTROPY_BITS


NAMED_SECRET = "a literal under a secret's name"
RANDOM_LITERAL = "a random-looking literal"


def plaintext_secret(name: str, value: Any, *, by_entropy: bool = True) -> str | None:
    """What credential ``value`` (set as ``name``) holds in plaintext: a kind of
    ``SECRET_VALUE_PATTERNS``, ``NAMED_SECRET`` or (with ``by_entropy``) ``RANDOM_LITERAL``; None
    when it holds none, or is not text."""
    if not isinstance(value, str):
        return None
    kind = secret_value_kind(value)
    if kind:
        return kind
    if sensitive_name(name) and literal_value(value):
        return NAMED_SECRET
    if by_entropy and literal_value(value) and high_entropy_literal(value):
        return RANDOM_LITERAL
    return None


def _env_problems(where: str, env: Mapping[str, Any]) -> list[str]:
    problems = []
    for name, value in sorted(env.items()):
        found = plaintext_secret(name, value)
        if found == NAMED_SECRET:
            problems.append(f"{where} {name} is a secret set as a literal value; pass it as a secret reference")
        elif found == RANDOM_LITERAL:
            problems.append(
                f"{where} {name} holds a random-looking literal (a generated key or token?) in plaintext; "
                "pass secrets as secret references, whatever their name"
            )
        elif found:
            problems.append(f"{where} {name} holds {found} in plaintext; pass it as a secret reference")
    return problems


def user_data_problems(text: str) -> list[str]:
    # cloud-config embeds files as YAML strings with escaped newlines; scan them as lines.
    text = text.replace("\\n", "\n")
    problems = []
    kind = secret_value_kind(text)
    if kind:
        problems.append(f"userData contains {kind}")
    # Assignments count outside comments only (comments document formats: "KEY='value'").
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    for match in ENV_ASSIGNMENT.finditer(code):
        name, value = match.group(1), match.group(2)
        if sensitive_name(name) and literal_value(value):
            problems.append(f"userData assigns {name} a literal value")
        elif literal_value(value) and high_entropy_literal(unquote(value)):
            problems.append(f"userData assigns {name} a random-looking literal (a generated key or token?)")
    return problems


def _tag_maps(resource_type: str, props: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for key in ("tags", "tagsAll", "labels", "userLabels"):
        if isinstance(props.get(key), Mapping):
            yield key, props[key]
    if isinstance(dig(props, "settings.userLabels"), Mapping):
        yield "settings.userLabels", dig(props, "settings.userLabels")
    for i, spec in enumerate(as_list(props.get("tagSpecifications"))):
        if isinstance(dig(spec, "tags"), Mapping):
            yield f"tagSpecifications[{i}].tags", dig(spec, "tags")
    tags = props.get("tags")
    if isinstance(tags, Sequence) and not isinstance(tags, str):  # Auto Scaling group: [{key, value}]
        yield "tags", {str(dig(t, "key")): dig(t, "value") for t in tags if isinstance(t, Mapping)}


def _check_plaintext_secrets(resource_type: str, props: Mapping[str, Any], context: Context) -> list[str]:
    secret = context.secret_props
    problems = []
    if "template" not in secret and "containerDefinitions" not in secret:
        for container in containers(resource_type, props):
            env = {
                str(dig(e, "name")): dig(e, "value")
                for e in as_list(container.get("envs"))
                + as_list(container.get("env"))
                + as_list(container.get("environment"))
                if isinstance(e, Mapping) and dig(e, "value") is not None
            }
            problems += _env_problems(f"container {container.get('name', '?')} env", env)
    if resource_type.startswith("command:") and "environment" not in secret:
        environment = props.get("environment")
        if isinstance(environment, Mapping):
            problems += _env_problems("command environment", environment)
    if resource_type in {LAUNCH_TEMPLATE, EC2_INSTANCE}:
        for key in ("userData", "userDataBase64"):
            if isinstance(props.get(key), str) and key not in secret:
                problems += user_data_problems(decode_user_data(props[key]))
    # Files rendered for a host (the server bootstrap's uploads): the app's env file never holds a
    # Pulumi secret by design (the bootstrap appends those on the host), so a credential in it came
    # from plain stack config such as app.extraEnv, whether or not the upload itself is a secret.
    rendered: dict[str, dict[str, str]] = {}
    for setting in env_settings(resource_type, props, Context()):
        if setting.where.startswith("stdin file "):
            rendered.setdefault(setting.where, {})[setting.name] = setting.value
    for where, env in sorted(rendered.items()):
        problems += _env_problems(where, env)
    for where, tags in _tag_maps(resource_type, props):
        if where.split(".")[0].split("[")[0] in secret:
            continue
        for key, value in sorted(tags.items()):
            found = plaintext_secret(str(key), value, by_entropy=False)
            if found == NAMED_SECRET:
                problems.append(f"{where}.{key} looks like a secret; never put secrets in tags or labels")
            elif found:
                problems.append(f"{where}.{key} holds {found}; tags and labels are readable by anyone who can list")
    return problems


GUARDRAILS: tuple[Guardrail, ...] = (
    Guardrail(
        "no-plaintext-secrets",
        "Secrets never appear as plain container or command environment values, EC2 user data, tags or "
        "labels (Pulumi secrets excepted).",
        _check_plaintext_secrets,
    ),
)
