"""GCP-only settings rules: the checks that used to run as ``_preflight`` inside ``deploy``.

Pure (no Pulumi, no GCP SDK), so ``components.config.validate`` runs them for ``check``, ``plan``,
``render`` and ``pulumi up`` alike, and every problem is one line naming the key to change.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from components.gcp.naming import CLOUD_RUN_NAME_MAX, EXECUTION_NAME_MAX, execution_token, resource_prefix

if TYPE_CHECKING:  # the settings models call these rules, so only the type checker imports them
    from components.config import StackSettings

SERVICE_ACCOUNT_ID_MAX = 30
"""Service account ids are 6-30 characters:
https://cloud.google.com/iam/docs/reference/rest/v1/projects.serviceAccounts/create"""

BUCKET_NAME_MAX = 63
"""Bucket names are 3-63 characters (dotted names aside): https://cloud.google.com/storage/docs/buckets#naming"""

MANAGED_ENV = frozenset({"ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "RELEASE_ID", "DJANGO_SETTINGS_MODULE"})
"""Variables the Cloud Run component sets itself; the caller's environment may not override them."""

TARGET_ENV = frozenset(
    {
        "MEDIA_STORAGE",
        "MEDIA_BUCKET",
        "LOG_LEVEL",
        "WEB_CONCURRENCY",
        "GUNICORN_CMD_ARGS",
        "SECURE_HSTS_SECONDS",
        "X_FRAME_OPTIONS",
        "DATA_UPLOAD_MAX_MEMORY_SIZE",
        "DATABASE_CONN_MAX_AGE",
        "SENTRY_ENVIRONMENT",
        "SENTRY_TRACES_SAMPLE_RATE",
    }
)
"""What the target's plain environment sets; app.extraEnv may not override it."""

SECRET_ENV = frozenset({"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "SENTRY_DSN", "REDIS_CA"})
"""Variables (and the CA file role) that only ever come from Secret Manager."""


def name_problems(name: str, release_id: str, image: str) -> list[str]:
    """Cloud Run names GCP would reject: the service ``name``, ``<name>-migrate|worker|beat``, and
    the migration execution ``<name>-migrate-<token>``."""
    found: list[str] = []
    for kind, value in (
        ("Cloud Run service", name),
        *(("Cloud Run job / worker pool", f"{name}-{suffix}") for suffix in ("migrate", "worker", "beat")),
    ):
        if len(value) > CLOUD_RUN_NAME_MAX:
            found.append(_too_long(kind, value, CLOUD_RUN_NAME_MAX))
    job_name, token = f"{name}-migrate", execution_token(release_id, image)
    if len(job_name) + len(token) >= EXECUTION_NAME_MAX:
        found.append(
            f"djangostack:app.name: Cloud Run job name {job_name!r} plus the {len(token)}-character execution "
            f"token must stay under {EXECUTION_NAME_MAX} characters; shorten app.name or the stack name"
        )
    return found


def _too_long(kind: str, value: str, limit: int) -> str:
    return (
        f"djangostack:app.name: the {kind} name {value!r} is {len(value)} characters; GCP allows at most "
        f"{limit}; shorten app.name or the stack name"
    )


def problems(settings: StackSettings, stack: str) -> list[str]:
    """Every gcp-cloudrun rule that needs more than one field, one line each."""
    target = settings.target
    if target.kind != "gcp-cloudrun" or settings.app.image is None:
        return []  # a missing image is reported by the settings model itself
    prefix = resource_prefix(settings.app.name, stack)
    found = name_problems(prefix, settings.app.release_id, settings.app.image)
    account = f"{prefix}-run"
    if len(account) > SERVICE_ACCOUNT_ID_MAX:
        found.append(_too_long("service account id", account, SERVICE_ACCOUNT_ID_MAX))
    bucket = settings.media.bucket_name or f"{target.project}-{prefix}-media"
    if len(bucket) > BUCKET_NAME_MAX:
        key = "media.bucketName" if settings.media.bucket_name else "app.name"
        found.append(
            f"djangostack:{key}: the GCS bucket name {bucket!r} is {len(bucket)} characters; GCP allows at most "
            f"{BUCKET_NAME_MAX}; set media.bucketName or shorten app.name"
        )
    if settings.network.mode == "create":
        egress = ipaddress.ip_network(target.egress_subnet_cidr)
        services = ipaddress.ip_network(settings.network.cidr)
        if egress.overlaps(services):
            found.append(
                f"djangostack:target.egressSubnetCidr: {egress} overlaps network.cidr ({services}), the range "
                "reserved for Cloud SQL and Memorystore; pick disjoint ranges (defaults: 10.8.0.0/26 and 10.20.0.0/16)"
            )
    clash = sorted(set(settings.app.extra_env) & (TARGET_ENV | MANAGED_ENV | SECRET_ENV))
    if clash:
        found.append(
            f"djangostack:app.extraEnv: {', '.join(clash)} are set by the gcp-cloudrun target "
            "(secrets come from Secret Manager); remove them"
        )
    return found
