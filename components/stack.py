"""The root component: one ``DjangoStack`` per environment, and the program's ``main()``.

``DjangoStack`` takes one environment's settings — the sections of a stack file, as plain objects —
and its secrets, validates them with the one validator (the same rules as ``check`` and
``pulumi up``), builds the target's resources under itself and exposes the stack-output contract
as its outputs. The program (``main()``) declares one from the stack's config and exports its
outputs; another Pulumi program declares it directly (``pip install djangostack``), and other
languages through the component package (``PulumiPlugin.yaml``, ``djangostack.provider``).

No ``from __future__ import annotations`` here: the component provider reads the annotations of
``DjangoStackArgs`` and ``DjangoStack`` at run time to build the package schema.
"""

import dataclasses
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict, TypeVar

import pulumi

from .contract.outputs import StackOutputs, contract_names, contract_value
from .settings.errors import SettingsError
from .settings.fields import PROJECT
from .settings.loading import StackSecrets, load_from_pulumi
from .settings.rules import warnings as guardrail_warnings
from .settings.stack import CONCERN_KEYS, SECRET_KEYS, StackSettings
from .validation import validate

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    from .targets.aws.target import AwsDeployArgs
    from .targets.gcp.target import GcpDeployArgs
    from .targets.server.target import ServerDeployArgs

_Args = TypeVar("_Args", bound="DataclassInstance")

TYPE = f"{PROJECT}:index:DjangoStack"
"""The component's type token (the package's ``index`` module, as the component provider names it)."""

ROOT_NAME = "djangostack"
"""Logical name of the program's root component. Fixed: children's URNs carry its type, not its
name, and a fixed name keeps a stack's URNs independent of the stack and app names."""


class DjangoStackArgs(TypedDict):
    """One environment's settings (the sections of a stack file, camelCase keys inside each) and
    its secrets. The settings are validated as a whole when the component is declared: every
    problem is reported at once, naming its full key."""

    environment: str
    """``dev``, ``staging`` or ``prod``: picks the typed defaults (sizes, backups, protection)."""
    target: dict[str, Any]
    """Where it runs: ``kind`` (``server``, ``aws-ec2`` or ``gcp-cloudrun``) and that target's settings."""
    app: dict[str, Any]
    """The Django app: ``name``, ``releaseId`` (a change runs a release), ``source``, ``image``/``build``, paths."""
    web: NotRequired[dict[str, Any]]
    """Gunicorn and the HTTP edge: workers, threads, timeouts, ``maxUploadMb``, HSTS."""
    database: NotRequired[dict[str, Any]]
    """PostgreSQL: ``mode`` (local, external, managed), name, user, version, sizes, backups."""
    cache: NotRequired[dict[str, Any]]
    """Redis for the cache and the Celery broker: ``mode`` (none, local, external, managed)."""
    media: NotRequired[dict[str, Any]]
    """Uploads: ``storage`` (local, s3, gcs), ``bucketName``."""
    celery: NotRequired[dict[str, Any]]
    """Celery worker and beat: ``worker``, ``beat``, ``app``, ``concurrency``, ``queues``."""
    domain: NotRequired[dict[str, Any]]
    """Custom hostnames (``names``) and how their certificate is obtained (``tls.mode``)."""
    network: NotRequired[dict[str, Any]]
    """Network: ``mode`` (create, reference), ``cidr``, ``azCount``, ``nat``, ``adminCidrs``."""
    backups: NotRequired[dict[str, Any]]
    """Pre-release database dumps on hosts: ``preRelease``, ``keep``."""
    observability: NotRequired[dict[str, Any]]
    """``logLevel``, ``sentry`` (needs ``sentryDsn``), ``tracesSampleRate``, ``logRetentionDays``."""
    secret_key: NotRequired[pulumi.Input[str]]
    """Django SECRET_KEY; generated (on the host, or in the cloud) when unset."""
    database_password: NotRequired[pulumi.Input[str]]
    """Password of the app's role on a local PostgreSQL; generated on the host when unset."""
    database_url: NotRequired[pulumi.Input[str]]
    """postgres:// URL of an external database (``database.mode: external``)."""
    redis_password: NotRequired[pulumi.Input[str]]
    """requirepass of a local Redis; generated on the host when unset."""
    redis_url: NotRequired[pulumi.Input[str]]
    """redis:// URL of an external Redis (``cache.mode: external``)."""
    sentry_dsn: NotRequired[pulumi.Input[str]]
    """Sentry DSN (``observability.sentry: true``)."""
    ssh_private_key: NotRequired[pulumi.Input[str]]
    """Private key the deploy user logs in with (server target; or ``target.sshKeyFile``)."""


_SECTIONS = ("environment", "target", *CONCERN_KEYS)
_SECRET_ARGS = {key: "".join("_" + c.lower() if c.isupper() else c for c in key) for key in SECRET_KEYS}
"""Secret config key (camelCase) -> its ``DjangoStackArgs`` field."""


class DjangoStack(pulumi.ComponentResource):
    """A production Django environment: app, database, cache, media, workers, releases (server, AWS or GCP)."""

    target: pulumi.Output[str]
    """``server``, ``aws-ec2`` or ``gcp-cloudrun``."""
    environment: pulumi.Output[str]
    """``dev``, ``staging`` or ``prod``."""
    url: pulumi.Output[str]
    """Public base URL of the app (https://...)."""
    hostnames: pulumi.Output[list[str]]
    """Every hostname the app answers to (its ALLOWED_HOSTS)."""
    database_host: pulumi.Output[str]
    """PostgreSQL host (the Cloud SQL socket directory on Cloud Run)."""
    database_port: pulumi.Output[int]
    """PostgreSQL port."""
    database_name: pulumi.Output[str]
    """Database name."""
    database_url: pulumi.Output[str]
    """Connection URL (secret); includes the password where Pulumi knows it."""
    redis_url: pulumi.Output[str]
    """URL of the cache and Celery broker (secret; empty when there is none)."""
    media_bucket: pulumi.Output[str]
    """Bucket with the uploads, or the media directory on a host."""
    release_id: pulumi.Output[str]
    """The release that is live once the update has succeeded."""
    network_ids: pulumi.Output[dict[str, Any]]
    """``vpcId``, ``publicSubnetIds``, ``privateSubnetIds`` (empty on the server target)."""
    load_balancer_dns_name: pulumi.Output[str]
    """DNS name of the load balancer in front of the app (empty when there is none)."""
    certificate_validation_records: pulumi.Output[list[dict[str, str]]]
    """DNS records (``domain``, ``name``, ``type``, ``value``) that validate the managed certificate."""

    def __init__(
        self,
        name: str,
        args: DjangoStackArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        validated: tuple[StackSettings, StackSecrets] | None = None,
    ) -> None:
        """Declare the environment. Invalid ``args`` raise ``SettingsError`` (one line per
        problem) before any resource is registered. ``validated`` is for the program's ``main()``,
        which has already validated the stack's config (and refused plaintext secrets)."""
        settings, secrets = validated if validated is not None else settings_from_args(args)
        super().__init__(TYPE, name, None, opts)
        # Stacks deployed before the root component existed have every target resource at the top
        # level: each child created here carries that place as an alias (their own children follow
        # through the engine's inherited aliases), so an upgrade moves them without a replacement.
        child_opts = pulumi.ResourceOptions(parent=self, aliases=[pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE)])
        outputs = build_target(settings, secrets, child_opts)
        contract = outputs.as_dict()
        for spec_name, value in contract.items():
            setattr(self, _snake(spec_name), pulumi.Output.from_input(value))
        self.register_outputs(contract)


def _snake(camel: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in camel)


def settings_from_args(args: Mapping[str, Any]) -> tuple[StackSettings, StackSecrets]:
    """Validate ``DjangoStackArgs`` with the stack validator; raises ``SettingsError``.

    Numbers arrive from other languages as JSON doubles (``2240.0``); whole ones become integers
    first. A section that is not known when the program runs (an ``Output``) is refused: the
    settings decide which resources exist, so they must be plain values.
    """
    raw: dict[str, Any] = {}
    problems: list[str] = []
    secret_fields = set(_SECRET_ARGS.values())
    for key, value in args.items():
        if key in secret_fields or value is None:
            continue
        unknown = _output_at(value, key)
        if unknown is not None:
            problems.append(f"{PROJECT}:{unknown}: must be a plain value when the program runs, not an Output")
            continue
        raw[key] = _whole_numbers(value)
    if problems:
        raise SettingsError(problems)
    present = {key for key, field in _SECRET_ARGS.items() if args.get(field) is not None}
    settings = validate(raw, present, set(), pulumi.get_stack())
    for line in guardrail_warnings(settings):  # what `check` and the program warn about, too
        pulumi.log.warn(line)
    secrets = StackSecrets(
        {key: pulumi.Output.secret(args[field]) for key, field in _SECRET_ARGS.items() if args.get(field) is not None}
    )
    return settings, secrets


def _output_at(value: Any, path: str) -> str | None:
    """The dotted key of the first ``Output`` inside ``value``, or None."""
    if isinstance(value, pulumi.Output):
        return path
    children: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        children = [(f"{path}.{key}", item) for key, item in value.items()]
    elif isinstance(value, list):
        children = [(f"{path}[{index}]", item) for index, item in enumerate(value)]
    for child_path, item in children:
        found = _output_at(item, child_path)
        if found is not None:
            return found
    return None


def _whole_numbers(value: Any) -> Any:
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(v) for v in value]
    return value


def build_target(
    settings: StackSettings, secrets: StackSecrets, parent_opts: pulumi.ResourceOptions | None = None
) -> StackOutputs:
    """Create the target's resources (with ``parent_opts``) and return its outputs.

    Each target module is imported only when used, so a server stack never loads the cloud SDKs.
    Each target takes only what it reads (``server_args``, ``aws_args``, ``gcp_args``).
    """
    kind = settings.target.kind
    if kind == "server":
        from .targets.server.target import deploy as deploy_server

        outputs: StackOutputs = deploy_server(server_args(settings), secrets, parent_opts)
        return outputs
    if kind == "aws-ec2":
        from .targets.aws.target import deploy as deploy_aws

        aws_outputs: StackOutputs = deploy_aws(aws_args(settings), secrets, parent_opts)
        return aws_outputs
    from .targets.gcp.target import deploy as deploy_gcp

    gcp_outputs: StackOutputs = deploy_gcp(gcp_args(settings), secrets, parent_opts)
    return gcp_outputs


def _target_args(cls: type[_Args], settings: StackSettings, target_type: type, **given: Any) -> _Args:
    """A target's args dataclass: each field not ``given`` is the settings section of its name, so
    the dataclass's fields are the whole list of what that target reads. ``ValueError`` when the
    stack's target is not ``target_type``."""
    if not isinstance(settings.target, target_type):
        raise ValueError(f"target kind {settings.target.kind!r} is not {target_type.__name__}")
    values = {f.name: given[f.name] if f.name in given else getattr(settings, f.name) for f in dataclasses.fields(cls)}
    return cls(**values)


def server_args(settings: StackSettings) -> "ServerDeployArgs":
    """The server target's args: its sections of ``settings`` and the host's description."""
    from .settings.targets import ServerTarget
    from .targets.hosts import host_context
    from .targets.server.target import ServerDeployArgs

    return _target_args(ServerDeployArgs, settings, ServerTarget, host=host_context(settings))


def aws_args(settings: StackSettings) -> "AwsDeployArgs":
    """The aws-ec2 target's args: its sections of ``settings``, and the web hosts' description
    (built once their public names and the media bucket's physical name exist)."""
    from .host.context import HostContext
    from .settings.targets import AwsEc2Target
    from .targets.aws.edge import ec2_edge
    from .targets.aws.target import AwsDeployArgs

    edge = ec2_edge(settings)

    def describe_host(public_hosts: list[str], media_bucket: str) -> HostContext:
        return HostContext.from_settings(settings, edge, public_hosts=public_hosts, media_bucket=media_bucket)

    return _target_args(
        AwsDeployArgs, settings, AwsEc2Target, sentry=settings.observability.sentry, describe_host=describe_host
    )


def gcp_args(settings: StackSettings) -> "GcpDeployArgs":
    """The gcp-cloudrun target's args: the sections of ``settings`` it reads."""
    from .settings.targets import GcpCloudRunTarget
    from .targets.gcp.target import GcpDeployArgs

    return _target_args(GcpDeployArgs, settings, GcpCloudRunTarget)


def _stop(exc: SettingsError) -> pulumi.RunError:
    count = len(exc.lines)
    return pulumi.RunError(
        f"invalid stack settings ({count} problem{'s' if count != 1 else ''}):\n" + "\n".join(exc.lines)
    )


def main() -> None:
    """The Pulumi program: the stack's config -> one ``DjangoStack`` -> the contract's outputs."""
    try:
        settings, secrets = load_from_pulumi()
        # The config was validated as a whole (unknown keys and plaintext secrets included), so
        # the component takes the result as is; its args only name the environment.
        args: DjangoStackArgs = {"environment": settings.environment, "target": {}, "app": {}}
        stack = DjangoStack(ROOT_NAME, args, validated=(settings, secrets))
    except SettingsError as exc:
        raise _stop(exc) from None
    for spec_name in contract_names():
        pulumi.export(spec_name, contract_value(spec_name, getattr(stack, _snake(spec_name))))
