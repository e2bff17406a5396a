"""The stack-output contract: the names every target exports, their types, and which are secret.

Targets build a ``StackOutputs``; ``export_outputs`` (called only from ``__main__.py``) exports it
under the contract's names and marks the secret ones secret, so a consumer stack reads the same
names whatever the target (``pulumi.StackReference(...).require_output("url")``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import pulumi


@dataclass(frozen=True)
class OutputSpec:
    """One exported name."""

    name: str
    type: str
    secret: bool
    description: str


CONTRACT: tuple[OutputSpec, ...] = (
    OutputSpec("target", "string", False, "Target kind: server, aws-ec2 or gcp-cloudrun."),
    OutputSpec("environment", "string", False, "dev, staging or prod."),
    OutputSpec("url", "string", False, "Public base URL of the app (https://...)."),
    OutputSpec("hostnames", "list[string]", False, "Every hostname the app answers to (ALLOWED_HOSTS)."),
    OutputSpec("databaseHost", "string", False, "PostgreSQL host (or Cloud SQL socket directory)."),
    OutputSpec("databasePort", "integer", False, "PostgreSQL port."),
    OutputSpec("databaseName", "string", False, "Database name."),
    OutputSpec(
        "databaseUrl",
        "string",
        True,
        "postgres:// connection URL; includes the password where Pulumi knows it.",
    ),
    OutputSpec("redisUrl", "string", True, "redis:// or rediss:// URL of the cache / Celery broker ('' when none)."),
    OutputSpec("mediaBucket", "string", False, "Bucket holding uploads, or the media directory on a host."),
    OutputSpec("releaseId", "string", False, "The release that is live after this update."),
    OutputSpec(
        "networkIds",
        "map[string, string | list[string]]",
        False,
        "vpcId / network, publicSubnetIds, privateSubnetIds (empty on the server target).",
    ),
    OutputSpec(
        "loadBalancerDnsName",
        "string",
        False,
        "DNS name of the load balancer in front of the app, for the domains' CNAME/alias records ('' when none).",
    ),
    OutputSpec(
        "certificateValidationRecords",
        "list[map[string, string]]",
        False,
        "DNS records (domain, name, type, value) that validate the managed certificate ([] when none).",
    ),
)
"""Every stack exports exactly these names."""

SECRET_OUTPUTS = frozenset(spec.name for spec in CONTRACT if spec.secret)


@dataclass(frozen=True)
class StackOutputs:
    """What a target component hands back to ``__main__.py``."""

    target: str
    environment: str
    url: pulumi.Input[str]
    hostnames: pulumi.Input[list[str]]
    database_host: pulumi.Input[str]
    database_port: pulumi.Input[int]
    database_name: pulumi.Input[str]
    database_url: pulumi.Input[str]
    redis_url: pulumi.Input[str]
    media_bucket: pulumi.Input[str]
    release_id: pulumi.Input[str]
    network_ids: pulumi.Input[dict[str, object]] = field(default_factory=dict)
    load_balancer_dns_name: pulumi.Input[str] = ""
    certificate_validation_records: pulumi.Input[list[dict[str, str]]] = field(default_factory=list)

    def as_dict(self) -> dict[str, pulumi.Input[object]]:
        """The outputs under their contract names (camelCase), secrets wrapped as secrets."""
        result: dict[str, pulumi.Input[object]] = {}
        for f in fields(self):
            name = _camel(f.name)
            value = getattr(self, f.name)
            result[name] = pulumi.Output.secret(value) if name in SECRET_OUTPUTS else value
        return result


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part.title() for part in rest)


def export_outputs(outputs: StackOutputs) -> None:
    """Export the contract. Only ``__main__.py`` calls this."""
    for name, value in outputs.as_dict().items():
        pulumi.export(name, value)


def require_output(reference: pulumi.StackReference, name: str) -> pulumi.Output[object]:
    """Read one output of another stack, failing the update with a clear message when absent.

    ``name`` may be a dotted path into a map output, so a stack can reference another stack of
    this program directly (``networkIds.vpcId``) as well as a network stack's top-level names.
    """
    head, _, rest = name.partition(".")
    keys = rest.split(".") if rest else []

    def member(found: object) -> object:
        for key in keys:
            if not isinstance(found, dict) or key not in found:
                raise KeyError(f"the referenced stack's output {name!r} has no {key!r}")
            found = found[key]
        return found

    output: pulumi.Output[object] = reference.require_output(head)
    return output.apply(member) if keys else output


def contract_names() -> list[str]:
    """The exported names, in contract order."""
    return [spec.name for spec in CONTRACT]
