"""The djangostack-guardrails policy pack: every guardrail of ``guardrails``, mandatory.

Run by the Pulumi CLI (``pulumi preview --policy-pack policy``), which executes this directory with
the pulumi-policy SDK and talks to the ``PolicyPack`` over gRPC. The checks themselves are the pure
functions of the ``guardrails`` package; this file only adapts them to the SDK's callbacks.

Production-only rules (``guardrails.PROD_ONLY``) need to know the stack's environment. It is taken,
in order, from the policy's config (``environment``, set with ``--policy-pack-config``), the stack's
``djangostack:environment`` config, and the stack name.

The engine hands the pack the stack's name and config in one of two ways. Recent CLIs (v3.274.1,
which scripts/install-pulumi.sh builds, among them) call the analyzer's ``ConfigureStack`` with
them and no longer set them in the pack's environment; pulumi-policy 1.21 keeps only the stack's
tags from that call, so ``record_stack`` below keeps the rest. Older CLIs set ``PULUMI_CONFIG`` /
``PULUMI_STACK`` in the pack's environment, which ``pulumi.Config`` and ``pulumi.get_stack`` read.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

try:  # run by the CLI: this directory is on sys.path
    import guardrails
except ImportError:  # imported from the repository (tests)
    from policy import guardrails

PACK_NAME = "djangostack-guardrails"
PROJECT = "djangostack"
ENVIRONMENT_KEY = f"{PROJECT}:environment"


class StackInfo:
    """What ``ConfigureStack`` told the pack about the stack under analysis (empty until then)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.stack: str | None = None
        self.config: dict[str, str] = {}

    def record(self, stack: str, config: Mapping[str, str]) -> None:
        with self._lock:
            self.stack = stack or None
            self.config = dict(config)

    def environment(self) -> str | None:
        with self._lock:
            value = self.config.get(ENVIRONMENT_KEY)
        if value is None:
            return None
        try:  # the engine sends config values as strings; a JSON-quoted one is unwrapped
            decoded = json.loads(value)
            return decoded if isinstance(decoded, str) else value
        except ValueError:
            return value


STACK = StackInfo()


def record_stack(servicer_class: Any) -> None:
    """Wrap the SDK servicer's ``ConfigureStack`` so the stack name and config reach ``STACK``."""
    original = getattr(servicer_class, "ConfigureStack", None)
    if original is None or getattr(original, "_djangostack", False):
        return

    def configure_stack(self: Any, request: Any, context: Any) -> Any:
        STACK.record(request.stack, request.config)
        return original(self, request, context)

    configure_stack._djangostack = True  # type: ignore[attr-defined]
    servicer_class.ConfigureStack = configure_stack


ENVIRONMENT_SCHEMA = PolicyConfigSchema(
    properties={
        "environment": {
            "type": "string",
            "description": "The stack's environment; default: djangostack:environment, else the stack name.",
        },
        "prodEnvironments": {
            "type": "array",
            "items": {"type": "string"},
            "default": sorted(guardrails.PROD_ENVIRONMENTS),
            "description": "Environments that get the production-only rules.",
        },
        "minBackupRetentionDays": {
            "type": "integer",
            "minimum": 1,
            "default": guardrails.MIN_BACKUP_RETENTION_DAYS,
            "description": "Shortest backup retention accepted in production, in days.",
        },
    }
)


def stack_environment(policy_config: Mapping[str, Any]) -> str | None:
    """The environment the production-only rules compare against (see the module docstring)."""
    explicit = policy_config.get("environment")
    if explicit:
        return str(explicit)
    configured = STACK.environment()
    if configured:
        return configured
    try:
        configured = pulumi.Config(PROJECT).get("environment")
    except Exception:
        configured = None
    if configured:
        return configured
    if STACK.stack:
        return STACK.stack
    try:
        return pulumi.get_stack() or None
    except Exception:
        return None


def context_from(policy_config: Mapping[str, Any]) -> guardrails.Context:
    # The SDK unwraps secret props before validation, so a Pulumi secret cannot be told apart from
    # a plain value here (secret_props stays empty); the mocks runner does know and passes them.
    return guardrails.Context(
        environment=stack_environment(policy_config),
        prod_environments=frozenset(policy_config.get("prodEnvironments") or guardrails.PROD_ENVIRONMENTS),
        min_backup_retention_days=int(
            policy_config.get("minBackupRetentionDays") or guardrails.MIN_BACKUP_RETENTION_DAYS
        ),
    )


def resource_policy(guardrail: guardrails.Guardrail) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        context = context_from(args.get_config())
        for message in guardrail(args.resource_type, args.props, context):
            report_violation(message, None)

    return ResourceValidationPolicy(
        name=guardrail.name,
        description=guardrail.description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=ENVIRONMENT_SCHEMA if guardrail.name in guardrails.PROD_ONLY else None,
    )


def stack_policy(guardrail: guardrails.StackGuardrail) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [
            guardrails.StackResource(
                type=r.resource_type,
                name=r.name,
                urn=r.urn,
                props=r.props,
                property_dependencies={
                    k: frozenset(d.urn for d in deps) for k, deps in r.property_dependencies.items()
                },
            )
            for r in args.resources
        ]
        for violation in guardrail(resources, context_from(args.get_config())):
            report_violation(violation.message, violation.urn)

    return StackValidationPolicy(
        name=guardrail.name,
        description=guardrail.description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


def build_policies() -> list[ResourceValidationPolicy | StackValidationPolicy]:
    return [resource_policy(g) for g in guardrails.GUARDRAILS] + [stack_policy(g) for g in guardrails.STACK_GUARDRAILS]


if __name__ == "__main__":
    from pulumi_policy import policy as sdk

    record_stack(sdk._PolicyAnalyzerServicer)
    # Serves the analyzer over gRPC until the engine stops it.
    PolicyPack(
        name=PACK_NAME,
        enforcement_level=EnforcementLevel.MANDATORY,
        policies=build_policies(),  # type: ignore[arg-type]  # the SDK annotates List[Policy]
        description="Security guardrails for production Django stacks (server, aws-ec2, gcp-cloudrun).",
    )
