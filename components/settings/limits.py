"""Settings the clouds would refuse, refused up front: the settings side of ``djangostack.offline.cloud_limits``.

``djangostack.validation.validate`` calls ``check_settings`` after the schema accepted a stack, so
``djangostack check`` and the program stop with the usual one-line errors (full key, the
bad value, what is allowed) before any resource exists. Each rule derives the physical names and
values the targets will send (the same derivations as the components: ``<app>-<environment>`` on
AWS, ``<app>-<stack>`` on GCP, Pulumi's ``-<7 hex>`` auto-name suffix) and checks them with the
rules of ``djangostack.offline.cloud_limits``, so the documented limit is stated once.

Kept apart from the schema in ``djangostack.settings`` on purpose: these are limits of the cloud
APIs, not of the settings, and they need the stack name (GCP names embed it).

Pure: no Pulumi calls and no cloud SDK imports, so ``check`` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable

from ..offline import cloud_limits as limits
from .fields import PROJECT
from .stack import StackSettings
from .targets import AwsEc2Target, GcpCloudRunTarget

GCP_TARGET_ENV_VARS = 32
"""Upper bound of the environment variables the gcp-cloudrun target sets itself (settings, secrets,
ALLOWED_HOSTS and friends; about 20 today), kept free of ``app.extraEnv`` within Cloud Run's 1,000."""

GCP_ENV_HEADROOM_CHARS = 256
"""Room kept in ALLOWED_HOSTS / CSRF_TRUSTED_ORIGINS for the run.app host the target adds."""

EXECUTION_TOKEN_CHARS = 16
"""Length of the migration job's run_execution_token (``djangostack.targets.gcp.naming.TOKEN_LENGTH``)."""


def _auto(logical: str, lower: bool = False) -> str:
    """The physical name Pulumi's auto-naming makes from a logical name (suffix of the same length)."""
    name = f"{logical}-{'0' * (limits.AUTONAME_SUFFIX - 1)}"
    return name.lower() if lower else name


def _name_line(key: str, value: str, made: str, what: str, problem: str) -> str:
    return f"{PROJECT}:{key}: {value!r} makes the {what} {made!r}, which the cloud refuses: {problem}; shorten it"


def check_settings(settings: StackSettings, stack: str | None) -> list[str]:
    """One line per setting that would make a cloud API refuse a value (empty: none).

    ``stack`` is the stack name (``Pulumi.<stack>.yaml``); GCP names embed it, so those checks
    run only when it is known.
    """
    target = settings.target
    if isinstance(target, AwsEc2Target):
        return _aws(settings, target)
    if isinstance(target, GcpCloudRunTarget):
        return _gcp(settings, target, stack)
    return []


# --------------------------------------------------------------------------------------------------
# AWS: names are <app>-<environment>-<component>-<resource> plus Pulumi's suffix
# --------------------------------------------------------------------------------------------------


def _aws(settings: StackSettings, target: AwsEc2Target) -> list[str]:
    lines: list[str] = []
    app = settings.app.name
    name = f"{app}-{settings.environment}"
    derived: list[tuple[str, str, Callable[[str], str | None]]] = [
        ("RDS instance identifier", _auto(f"{name}-db-postgres", lower=True), limits._rds_instance),
        ("RDS parameter group", _auto(f"{name}-db-params", lower=True), limits._rds_parameter_group),
        ("IAM role name", _auto(f"{name}-identity-role"), limits.NAME_RULES["aws:iam/role:Role"]["name"]),
        (
            "IAM instance profile name",
            _auto(f"{name}-identity-profile"),
            limits.NAME_RULES["aws:iam/instanceProfile:InstanceProfile"]["name"],
        ),
        ("S3 bucket", _auto(f"{name}-media-bucket", lower=True), limits._s3_bucket),
        ("SSM document", _auto(f"{name}-app-release"), limits._ssm_document_name),
    ]
    if settings.cache.mode == "managed":
        derived.append(
            ("ElastiCache replication group id", _auto(f"{name}-cache-redis", lower=True), limits._replication_group)
        )
    for what, made, rule in derived:
        if what == "S3 bucket" and settings.media.bucket_name is not None:
            continue
        problem = rule(made)
        if problem:
            lines.append(_name_line("app.name", app, made, what, problem))
    if settings.media.bucket_name is not None:
        problem = limits._s3_bucket(settings.media.bucket_name)
        if problem:
            lines.append(f"{PROJECT}:media.bucketName: {problem}")
    names = list(settings.domain.names)
    tls = settings.domain.tls
    if target.instances > 1 and names and tls is not None and tls.mode == "acm":
        first = names[0]
        if len(first.encode()) > limits.ACM_COMMON_NAME_OCTETS:
            lines.append(
                f"{PROJECT}:domain.names[0]: {first!r} is {len(first)} characters; the first name becomes the "
                f"ACM certificate's common name, at most {limits.ACM_COMMON_NAME_OCTETS} (ACM RequestCertificate); "
                "put a shorter name first"
            )
        if len(names) > limits.ACM_NAMES_PER_CERTIFICATE:
            lines.append(
                f"{PROJECT}:domain.names: {len(names)} names; an ACM certificate holds at most "
                f"{limits.ACM_NAMES_PER_CERTIFICATE} by default (ACM quotas)"
            )
    return lines


# --------------------------------------------------------------------------------------------------
# GCP: names are <app>-<stack>[-suffix], project-scoped; the environment reaches Cloud Run as env vars
# --------------------------------------------------------------------------------------------------


def _gcp(settings: StackSettings, target: GcpCloudRunTarget, stack: str | None) -> list[str]:
    lines: list[str] = []
    extra = settings.app.extra_env
    budget = limits.CLOUD_RUN_ENV_VARS - GCP_TARGET_ENV_VARS
    if len(extra) > budget:
        lines.append(
            f"{PROJECT}:app.extraEnv: {len(extra)} variables; Cloud Run allows {limits.CLOUD_RUN_ENV_VARS} per "
            f"container and the target sets up to {GCP_TARGET_ENV_VARS} itself, so at most {budget}"
        )
    for key, value in sorted(extra.items()):
        if len(value) > limits.CLOUD_RUN_ENV_VALUE_CHARS:
            lines.append(
                f"{PROJECT}:app.extraEnv.{key}: value is {len(value)} characters; Cloud Run allows at most "
                f"{limits.CLOUD_RUN_ENV_VALUE_CHARS} per variable"
            )
    names = settings.domain.names
    origins = sum(len("https://") + len(n) + 1 for n in names)
    if origins + GCP_ENV_HEADROOM_CHARS > limits.CLOUD_RUN_ENV_VALUE_CHARS:
        lines.append(
            f"{PROJECT}:domain.names: {len(names)} names make CSRF_TRUSTED_ORIGINS {origins} characters; Cloud Run "
            f"allows {limits.CLOUD_RUN_ENV_VALUE_CHARS} per variable (with room for the run.app host)"
        )
    if settings.media.bucket_name is not None:
        problem = limits._gcs_bucket(settings.media.bucket_name)
        if problem:
            lines.append(f"{PROJECT}:media.bucketName: {problem}")
    if stack is None:
        return lines
    from ..targets.gcp.naming import resource_prefix

    app = settings.app.name
    prefix = resource_prefix(app, stack)
    key = "app.name"
    shown = f"{app}' on stack '{stack}"
    derived: list[tuple[str, str, Callable[[str], str | None]]] = [
        ("Cloud Run service", prefix, limits.NAME_RULES["gcp:cloudrunv2/service:Service"]["name"]),
        ("Cloud Run job", f"{prefix}-migrate", limits.NAME_RULES["gcp:cloudrunv2/job:Job"]["name"]),
        ("service account id", f"{prefix}-run", limits._service_account_id),
        ("Cloud SQL instance", f"{prefix}-db", limits.NAME_RULES["gcp:sql/databaseInstance:DatabaseInstance"]["name"]),
        ("Secret Manager secret id", f"{prefix}-database-url", limits._secret_manager_id),
    ]
    if settings.celery.worker:
        derived.append(
            (
                "Cloud Run worker pool",
                f"{prefix}-worker",
                limits.NAME_RULES["gcp:cloudrunv2/workerPool:WorkerPool"]["name"],
            )
        )
    if settings.celery.beat:
        derived.append(
            (
                "Cloud Run worker pool",
                f"{prefix}-beat",
                limits.NAME_RULES["gcp:cloudrunv2/workerPool:WorkerPool"]["name"],
            )
        )
    if settings.cache.mode == "managed":
        derived.append(("Memorystore instance id", f"{prefix}-cache", limits._memorystore_id))
    if settings.network.mode == "create":
        network_rule = limits.NAME_RULES["gcp:compute/subnetwork:Subnetwork"]["name"]
        derived.append(("VPC subnetwork", f"{prefix}-net-egress", network_rule))
    if settings.media.bucket_name is None:
        derived.append(("GCS bucket", f"{target.project}-{prefix}-media", limits._gcs_bucket))
    for what, made, rule in derived:
        problem = rule(made)
        if problem:
            lines.append(
                f"{PROJECT}:{key}: '{shown}' makes the {what} {made!r}, which the cloud refuses: {problem}; "
                "shorten app.name or the stack name"
            )
    job = f"{prefix}-migrate"
    if len(job) + EXECUTION_TOKEN_CHARS >= limits.CLOUD_RUN_EXECUTION_CHARS:
        lines.append(
            f"{PROJECT}:{key}: '{shown}' makes the Cloud Run job {job!r}; with its {EXECUTION_TOKEN_CHARS}-character "
            f"execution token that is {len(job) + EXECUTION_TOKEN_CHARS} characters, fewer than "
            f"{limits.CLOUD_RUN_EXECUTION_CHARS} allowed; shorten app.name or the stack name"
        )
    qualified = f"{target.project}:{prefix}-db"
    if len(qualified) > limits.CLOUD_SQL_QUALIFIED_NAME_CHARS:
        lines.append(
            f"{PROJECT}:{key}: '{shown}' makes the Cloud SQL name {qualified!r} {len(qualified)} characters; "
            f"at most {limits.CLOUD_SQL_QUALIFIED_NAME_CHARS}"
        )
    return lines
