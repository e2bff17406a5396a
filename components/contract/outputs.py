"""The stack-output contract: the names every target exports, their types, and which are secret.

Targets build a ``StackOutputs``, whose fields carry the contract (``CONTRACT`` is read from them);
the root component exports it under the contract's names with the secret ones marked secret
(``contract_value``), so a consumer stack reads the same names whatever the target
(``pulumi.StackReference(...).require_output("url")``).
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


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part.title() for part in rest)


def _spec(type_: str, description: str, secret: bool = False) -> dict[str, object]:
    """A ``StackOutputs`` field's contract (its ``metadata``): exported type, description, secrecy."""
    return {"type": type_, "description": description, "secret": secret}


@dataclass(frozen=True)
class StackOutputs:
    """What a target hands back to the root component: one field per exported name (camelCase of
    the field's name), each with its contract (see ``CONTRACT``)."""

    target: str = field(metadata=_spec("string", "Target kind: server, aws-ec2 or gcp-cloudrun."))
    environment: str = field(metadata=_spec("string", "dev, staging or prod."))
    url: pulumi.Input[str] = field(metadata=_spec("string", "Public base URL of the app (https://...)."))
    hostnames: pulumi.Input[list[str]] = field(
        metadata=_spec("list[string]", "Every hostname the app answers to (ALLOWED_HOSTS).")
    )
    database_host: pulumi.Input[str] = field(
        metadata=_spec("string", "PostgreSQL host (or Cloud SQL socket directory).")
    )
    database_port: pulumi.Input[int] = field(metadata=_spec("integer", "PostgreSQL port."))
    database_name: pulumi.Input[str] = field(metadata=_spec("string", "Database name."))
    database_url: pulumi.Input[str] = field(
        metadata=_spec(
            "string", "postgres:// connection URL; includes the password where Pulumi knows it.", secret=True
        )
    )
    redis_url: pulumi.Input[str] = field(
        metadata=_spec("string", "redis:// or rediss:// URL of the cache / Celery broker ('' when none).", secret=True)
    )
    media_bucket: pulumi.Input[str] = field(
        metadata=_spec("string", "Bucket holding uploads, or the media directory on a host.")
    )
    release_id: pulumi.Input[str] = field(metadata=_spec("string", "The release that is live after this update."))
    network_ids: pulumi.Input[dict[str, object]] = field(
        default_factory=dict,
        metadata=_spec(
            "map[string, string | list[string]]",
            "vpcId / network, publicSubnetIds, privateSubnetIds (empty on the server target).",
        ),
    )
    load_balancer_dns_name: pulumi.Input[str] = field(
        default="",
        metadata=_spec(
            "string",
            "DNS name of the load balancer in front of the app, for the domains' CNAME/alias records ('' when none).",
        ),
    )
    certificate_validation_records: pulumi.Input[list[dict[str, str]]] = field(
        default_factory=list,
        metadata=_spec(
            "list[map[string, string]]",
            "DNS records (domain, name, type, value) that validate the managed certificate ([] when none).",
        ),
    )

    def as_dict(self) -> dict[str, pulumi.Input[object]]:
        """The outputs under their contract names (camelCase), secrets wrapped as secrets."""
        return {_camel(f.name): contract_value(_camel(f.name), getattr(self, f.name)) for f in fields(self)}


CONTRACT: tuple[OutputSpec, ...] = tuple(
    OutputSpec(
        name=_camel(f.name),
        type=str(f.metadata["type"]),
        secret=bool(f.metadata["secret"]),
        description=str(f.metadata["description"]),
    )
    for f in fields(StackOutputs)
)
"""Every stack exports exactly these names."""

SECRET_OUTPUTS = frozenset(spec.name for spec in CONTRACT if spec.secret)


def contract_value(name: str, value: pulumi.Input[object]) -> pulumi.Input[object]:
    """``value`` as the contract exports ``name``: wrapped as a secret when the name is secret."""
    return pulumi.Output.secret(value) if name in SECRET_OUTPUTS else value


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
