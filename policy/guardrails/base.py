"""What every guardrail shares: the context, the guardrail types, and readers for provider props."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

PROD_ENVIRONMENTS = frozenset({"prod", "production"})
MIN_BACKUP_RETENTION_DAYS = 7


@dataclass(frozen=True)
class Context:
    """What a guardrail needs to know beyond the resource itself."""

    environment: str | None = None
    """The stack's environment (``djangostack:environment``, or the stack name); ``prod`` and
    ``production`` switch on the production-only rules (backups, deletion protection)."""
    secret_props: frozenset[str] = frozenset()
    """Top-level prop names whose value is a Pulumi secret: never reported as a plaintext secret."""
    prod_environments: frozenset[str] = PROD_ENVIRONMENTS
    min_backup_retention_days: int = MIN_BACKUP_RETENTION_DAYS

    @property
    def is_prod(self) -> bool:
        return (self.environment or "").strip().lower() in self.prod_environments


Check = Callable[[str, Mapping[str, Any], Context], list[str]]


@dataclass(frozen=True)
class Guardrail:
    """One resource-level policy: a name (the pack's policy id), what it enforces, and its check."""

    name: str
    description: str
    check: Check
    resource_types: frozenset[str] = field(default_factory=frozenset)
    """The types it inspects (documentation and tests; ``check`` ignores every other type)."""

    def __call__(self, resource_type: str, props: Mapping[str, Any], context: Context | None = None) -> list[str]:
        return self.check(resource_type, props, context or Context())


@dataclass(frozen=True)
class StackResource:
    """A resource as a stack-level guardrail sees it."""

    type: str
    name: str
    urn: str
    props: Mapping[str, Any]
    property_dependencies: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Prop name -> URNs of the resources that prop's value came from."""


@dataclass(frozen=True)
class StackViolation:
    urn: str
    message: str


StackCheck = Callable[[Sequence[StackResource], Context], list[StackViolation]]


@dataclass(frozen=True)
class StackGuardrail:
    name: str
    description: str
    check: StackCheck

    def __call__(self, resources: Sequence[StackResource], context: Context | None = None) -> list[StackViolation]:
        return self.check(resources, context or Context())


def dig(props: Mapping[str, Any] | None, path: str, default: Any = None) -> Any:
    """``props["a"]["b"]`` for ``"a.b"``; ``default`` when any step is missing or not a mapping."""
    current: Any = props
    for part in path.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return default
        current = current[part]
    return current


def as_list(value: Any) -> list[Any]:
    """A list of ``value``'s elements (the SDK hands lists over as read-only Sequence proxies)."""
    if value is None:
        return []
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return list(value)
    return [value]


def is_true(value: Any) -> bool:
    """Booleans arrive as bools, or as strings where the provider models them so (launch template
    ``ebs.encrypted`` is ``"true"``)."""
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.strip().lower() == "true"


def as_number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def load_json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value
