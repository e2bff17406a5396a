"""What a resource hands to the app or its host: container specs, user data, uploaded files, env.

The same settings reach the app by different roads: Cloud Run and ECS container env, the
environment of pulumi-command steps, EC2 user data (cloud-config write_files), and on the server
target the files the bootstrap's stdin uploads (``base64 -d > <path> <<'EOF'`` blocks). The readers
here collect all of them, so a value set through ``app.extraEnv`` is seen where it lands.
"""

from __future__ import annotations

import base64
import binascii
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .base import Context, as_list, dig, load_json
from .resource_types import (
    CLOUD_RUN_JOB,
    CLOUD_RUN_SERVICE,
    CLOUD_RUN_V1_SERVICE,
    CLOUD_RUN_WORKER_POOL,
    EC2_INSTANCE,
    ECS_TASK_DEFINITION,
    LAUNCH_TEMPLATE,
)

HEREDOC_FILE = re.compile(r"base64 -d > (\S+) <<'(\w+)'\n(.*?)\n\2(?:\n|$)", re.S)
ENV_ASSIGNMENT = re.compile(r"(?m)(?:^|[\s;'\"])(?:export\s+)?([A-Z][A-Z0-9_]*)=(\"[^\"\n]*\"|'[^'\n]*'|[^\s;'\"]+)")


def containers(resource_type: str, props: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The container specs of a Cloud Run or ECS resource (the shapes differ per type)."""
    if resource_type in {CLOUD_RUN_SERVICE, CLOUD_RUN_WORKER_POOL}:
        found = dig(props, "template.containers")
    elif resource_type == CLOUD_RUN_JOB:
        found = dig(props, "template.template.containers")
    elif resource_type == CLOUD_RUN_V1_SERVICE:
        found = dig(props, "template.spec.containers")
    elif resource_type == ECS_TASK_DEFINITION:
        found = load_json(props.get("containerDefinitions"))
    else:
        return []
    return [c for c in as_list(found) if isinstance(c, Mapping)]


def decode_user_data(value: str) -> str:
    """User data as text: launch templates carry it base64-encoded, instances often in clear."""
    compact = "".join(value.split())
    if compact and re.fullmatch(r"[A-Za-z0-9+/=]+", compact):
        try:
            return base64.b64decode(compact, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            pass
    return value


@dataclass(frozen=True)
class RenderedText:
    """One piece of text the program hands to a host or container."""

    where: str
    text: str
    carries_secrets: bool = False
    """True for the channel built to carry secrets (the bootstrap's stdin prelude, which exports
    them): its values are never reported as plaintext secrets."""


@dataclass(frozen=True)
class EnvSetting:
    where: str
    name: str
    value: str
    carries_secrets: bool = False


def unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    if value.startswith("'"):
        try:
            return "".join(shlex.split(value))
        except ValueError:
            return value
    return value


def _cloud_config_files(text: str) -> list[tuple[str, str]]:
    """``write_files`` of a cloud-config document: (path, content), base64 content decoded."""
    try:
        import yaml

        document = yaml.safe_load(text)
    except Exception:  # not YAML (a shell script), or no PyYAML: the raw text is still scanned
        return []
    files = []
    for entry in as_list(dig(document, "write_files")):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("content"), str):
            continue
        content = entry["content"]
        if str(entry.get("encoding", "")).lower() in {"b64", "base64"}:
            try:
                content = base64.b64decode(content).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                continue
        files.append((str(entry.get("path", "?")), content))
    return files


def rendered_texts(resource_type: str, props: Mapping[str, Any]) -> list[RenderedText]:
    """The rendered files and scripts a resource carries (see the section comment)."""
    texts: list[RenderedText] = []
    stdin = props.get("stdin")
    if isinstance(stdin, str) and stdin:
        script = stdin
        for match in HEREDOC_FILE.finditer(stdin):
            path, body = match.group(1).strip("'\""), match.group(3)
            try:
                decoded = base64.b64decode("".join(body.split()), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                continue
            texts.append(RenderedText(f"stdin file {path}", decoded))
            script = script.replace(match.group(0), "\n")
        texts.append(RenderedText("stdin", script, carries_secrets=True))
    if resource_type in {LAUNCH_TEMPLATE, EC2_INSTANCE}:
        for key in ("userData", "userDataBase64"):
            if isinstance(props.get(key), str):
                text = decode_user_data(props[key])
                texts.append(RenderedText(key, text))
                texts += [RenderedText(f"{key} file {path}", content) for path, content in _cloud_config_files(text)]
    return texts


def _text_assignments(text: str) -> Iterator[tuple[str, str]]:
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    for match in ENV_ASSIGNMENT.finditer(code):
        yield match.group(1), unquote(match.group(2))


def env_settings(resource_type: str, props: Mapping[str, Any], context: Context) -> list[EnvSetting]:
    """Every ``NAME=value`` the resource gives an app or a host step (Pulumi secrets excepted)."""
    secret = context.secret_props
    found: list[EnvSetting] = []
    if "template" not in secret and "containerDefinitions" not in secret:
        for container in containers(resource_type, props):
            where = f"container {container.get('name', '?')} env"
            entries = [e for key in ("envs", "env", "environment") for e in as_list(container.get(key))]
            for entry in entries:
                if isinstance(entry, Mapping) and isinstance(dig(entry, "value"), str):
                    found.append(EnvSetting(where, str(dig(entry, "name")), entry["value"]))
    environment = props.get("environment")
    if resource_type.startswith("command:") and "environment" not in secret and isinstance(environment, Mapping):
        found += [EnvSetting("command environment", str(k), v) for k, v in environment.items() if isinstance(v, str)]
    for rendered in rendered_texts(resource_type, props):
        # Only whole files (and the stdin script) are parsed; the raw user data was split into its
        # files above, so its assignments are not counted twice.
        if rendered.where in {"userData", "userDataBase64"} and _cloud_config_files(rendered.text):
            continue
        found += [
            EnvSetting(rendered.where, name, value, rendered.carries_secrets)
            for name, value in _text_assignments(rendered.text)
        ]
    return found
