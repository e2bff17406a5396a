"""Reading settings: from Pulumi config inside a program, or from a stack file without Pulumi."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import yaml

from ..validation import validate
from .errors import SettingsError
from .fields import PROJECT
from .rules import warnings as guardrail_warnings
from .stack import CONCERN_KEYS, SECRET_KEYS, StackSettings

# --------------------------------------------------------------------------------------------------
# Loaders
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StackSecrets:
    """Secret config values as Pulumi secrets (``None`` where the stack does not set one)."""

    values: Mapping[str, pulumi.Output[str] | None]

    def get(self, key: str) -> pulumi.Output[str] | None:
        return self.values.get(key)

    def require(self, key: str) -> pulumi.Output[str]:
        value = self.values.get(key)
        if value is None:
            raise SettingsError([f"{PROJECT}:{key}: missing secret"])
        return value


def _parse_value(key: str, value: Any) -> Any:
    """Pulumi passes object config as JSON text; plain strings stay strings."""
    if isinstance(value, str) and key in (*CONCERN_KEYS, "target"):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def load_from_pulumi() -> tuple[StackSettings, StackSecrets]:
    """Read and validate this stack's config inside a Pulumi program."""
    config = pulumi.Config(PROJECT)
    prefix = f"{PROJECT}:"
    all_keys = set(pulumi.runtime.get_config_env()) | set(pulumi.runtime.config.CONFIG.get())
    raw: dict[str, Any] = {}
    secrets_present: set[str] = set()
    plaintext: set[str] = set()
    secret_values: dict[str, pulumi.Output[str] | None] = {}
    for full_key in sorted(all_keys):
        if not full_key.startswith(prefix):
            continue
        key = full_key[len(prefix) :]
        if key in SECRET_KEYS:
            secrets_present.add(key)
            if not pulumi.runtime.is_config_secret(full_key):
                plaintext.add(key)
            secret_values[key] = config.require_secret(key)
        else:
            raw[key] = _parse_value(key, pulumi.runtime.get_config(full_key))
    settings = validate(raw, secrets_present, plaintext, pulumi.get_stack())
    from pulumi.runtime.mocks import MockEngine
    from pulumi.runtime.settings import get_engine

    if not isinstance(get_engine(), MockEngine):  # the offline plan stays quiet; `check` shows them
        for line in guardrail_warnings(settings):
            pulumi.log.warn(line)
    return settings, StackSecrets(secret_values)


MAX_STACK_FILE_BYTES = 1_000_000
"""A stack file is a few kilobytes; anything past 1 MB is refused before it is parsed."""


class _StackFileLoader(yaml.SafeLoader):
    """Safe YAML loader that refuses duplicate keys (a silent override is a config bug) and aliases.

    Aliases (``*name``) are refused outright: a chain of them expands exponentially (the "billion
    laughs" bomb), and a stack file has no use for them.
    """

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):  # type: ignore[no-untyped-call]
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases (*name) are not allowed in a stack file", event.start_mark
            )
        return super().compose_node(parent, index)


def _construct_mapping(loader: _StackFileLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node)  # type: ignore[no-untyped-call]
        if key in mapping:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        mapping[key] = loader.construct_object(value_node, deep=True)  # type: ignore[no-untyped-call]
    return mapping


_StackFileLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def read_stack_file(path: Path) -> tuple[dict[str, Any], set[str], set[str]]:
    """Parse ``Pulumi.<stack>.yaml``: (raw config, secret keys set, secret keys in plaintext)."""
    try:
        size = path.stat().st_size
        if size > MAX_STACK_FILE_BYTES:
            raise SettingsError([f"{path}: too large ({size} bytes); a stack file has at most {MAX_STACK_FILE_BYTES}"])
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_StackFileLoader)  # noqa: S506
    except FileNotFoundError:
        raise SettingsError([f"{path}: no such stack file"]) from None
    except UnicodeDecodeError as exc:
        raise SettingsError([f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    except yaml.YAMLError as exc:
        raise SettingsError([f"{path}: not valid YAML: {str(exc).splitlines()[0]}"]) from None
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise SettingsError([f"{path}: a stack file is a YAML mapping with a 'config' key"])
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise SettingsError([f"{path}: 'config' must be a mapping of key: value"])
    raw: dict[str, Any] = {}
    secrets: set[str] = set()
    plaintext: set[str] = set()
    lines: list[str] = []
    for full_key, value in config.items():
        namespace, sep, key = str(full_key).partition(":")
        if not sep:
            lines.append(f"{full_key}: config keys need a namespace, e.g. {PROJECT}:{full_key}")
            continue
        if namespace != PROJECT:
            continue  # provider settings such as aws:region belong to the providers
        is_secure = isinstance(value, dict) and set(value) == {"secure"}
        if key in SECRET_KEYS:
            secrets.add(key)
            if not is_secure:
                plaintext.add(key)
        elif is_secure:
            lines.append(f"{full_key}: only {', '.join(SECRET_KEYS)} are secret keys; this one is not")
        else:
            raw[key] = value
    if lines:
        raise SettingsError(lines)
    return raw, secrets, plaintext


def stack_name(path: Path) -> str | None:
    """``Pulumi.<stack>.yaml`` -> ``<stack>``; None for any other file name."""
    match = re.fullmatch(r"Pulumi\.(.+)\.ya?ml", path.name)
    return match.group(1) if match else None


def load_from_stack_file(path: Path) -> StackSettings:
    """Validate a stack file without Pulumi (``secure:`` values count as present secrets)."""
    raw, secrets, plaintext = read_stack_file(path)
    return validate(raw, secrets, plaintext, stack_name(path))
