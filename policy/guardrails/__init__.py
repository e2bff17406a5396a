"""The security guardrails of djangostack as pure functions, testable without the Pulumi engine.

Each ``Guardrail`` checks one resource: ``guardrail.check(resource_type, props, context)`` returns
the list of violation messages (empty when the resource complies, or when the guardrail does not
apply to that type). Each ``StackGuardrail`` checks relations between resources (an RDS instance and
the parameter group it uses, an S3 bucket and its public access block) over the whole stack.

``props`` are the resource's inputs with the provider's camelCase wire names
(``publiclyAccessible``, ``metadataOptions.httpTokens``), exactly what the policy engine (and
``djangostack.offline.mocking``) sees. ``Context`` carries what a resource alone cannot tell: whether the
stack is a production stack, and which top-level props are Pulumi secrets (a secret value is never
a plaintext leak). ``policy/__main__.py`` wraps these as a pulumi-policy pack; ``policy/runner.py``
runs them over a mocks ``Recording``.

One module per concern: ``data`` (databases and caches), ``storage`` (buckets), ``host`` (instances,
volumes, images), ``network`` (open ports), ``secrets`` (plaintext credentials), ``identity`` (IAM),
``app`` (the settings the app runs with). ``base`` holds the shared types and prop readers,
``resource_types`` the provider type tokens, ``rendered`` the readers of what a resource hands the app.
This package imports nothing outside the standard library (PyYAML optionally), so the pack's own
virtualenv needs only pulumi-policy.
"""

from __future__ import annotations

from . import app, data, host, identity, network, secrets, storage
from .base import (
    MIN_BACKUP_RETENTION_DAYS,
    PROD_ENVIRONMENTS,
    Context,
    Guardrail,
    StackGuardrail,
    StackResource,
    StackViolation,
)
from .host import image_problem
from .network import SENSITIVE_PORTS, is_open_cidr
from .rendered import EnvSetting, RenderedText, env_settings, rendered_texts
from .resource_types import *  # noqa: F403  (the type tokens, for the pack's users and tests)
from .secrets import high_entropy_literal, literal_value, secret_value_kind, sensitive_name, user_data_problems
from .storage import PUBLIC_ACCESS_BLOCK_FLAGS

GUARDRAILS: tuple[Guardrail, ...] = (
    data.GUARDRAILS
    + storage.GUARDRAILS
    + host.GUARDRAILS
    + network.GUARDRAILS
    + secrets.GUARDRAILS
    + identity.GUARDRAILS
    + app.GUARDRAILS
)
STACK_GUARDRAILS: tuple[StackGuardrail, ...] = data.STACK_GUARDRAILS + storage.STACK_GUARDRAILS

PROD_ONLY = frozenset({"prod-database-protection", "prod-hsts-enabled", "prod-database-tls"})
"""Guardrails that apply only when the stack's environment is a production one."""


def by_name(name: str) -> Guardrail:
    return next(g for g in GUARDRAILS if g.name == name)


def stack_by_name(name: str) -> StackGuardrail:
    return next(g for g in STACK_GUARDRAILS if g.name == name)


__all__ = [
    "GUARDRAILS",
    "MIN_BACKUP_RETENTION_DAYS",
    "PROD_ENVIRONMENTS",
    "PROD_ONLY",
    "PUBLIC_ACCESS_BLOCK_FLAGS",
    "SENSITIVE_PORTS",
    "STACK_GUARDRAILS",
    "Context",
    "EnvSetting",
    "Guardrail",
    "RenderedText",
    "StackGuardrail",
    "StackResource",
    "StackViolation",
    "by_name",
    "env_settings",
    "high_entropy_literal",
    "image_problem",
    "is_open_cidr",
    "literal_value",
    "rendered_texts",
    "secret_value_kind",
    "sensitive_name",
    "stack_by_name",
    "user_data_problems",
]
