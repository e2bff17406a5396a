"""GCP-only settings rules: the checks that used to run as ``_preflight`` inside ``deploy``.

Pure (no Pulumi, no GCP SDK), so ``djangostack.validation.validate`` runs them for ``check``, ``plan``,
``render`` and ``pulumi up`` alike, and every problem is one line naming the key to change.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING

from ...paths import project_dir
from ...settings.rules import cloud_service_problems
from ...settings.targets import GcpCloudRunTarget
from .image_build import build_problems
from .naming import resource_prefix

if TYPE_CHECKING:  # rules read the settings' types only
    from ...settings.stack import StackSettings

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


IMAGE_ONLY = "Cloud Run runs app.image as built, so this belongs in the image's Dockerfile"

REFUSED_KEYS: dict[str, str] = {
    "target.os": f"{IMAGE_ONLY} (its FROM line chooses the operating system); remove target.os",
}
"""Keys of the host targets that gcp-cloudrun refuses with a hint instead of "unknown key"
(``djangostack.validation`` reads this)."""

IMAGE_ONLY_APP_KEYS = {
    "python": ("app.python", "its FROM line chooses the Python"),
    "system_packages": ("app.systemPackages", "apt-get install them in a RUN step"),
    "build_commands": ("app.buildCommands", "run them in a RUN step"),
}
"""``app`` settings that shape a host's build: set at all, they are refused on Cloud Run."""


def combination_problems(settings: StackSettings) -> list[str]:
    """Services, TLS and sizes the gcp-cloudrun target cannot serve, one line each."""
    found = cloud_service_problems(settings)
    for field, (key, how) in IMAGE_ONLY_APP_KEYS.items():
        if field in settings.app.model_fields_set:
            found.append(f"djangostack:{key}: {IMAGE_ONLY} ({how}); remove {key}")
    if settings.app.image is None and settings.app.build is None:
        found.append(
            "djangostack:app.image: the gcp-cloudrun target deploys a container image; set app.image, or "
            "app.build to build one from source"
        )
    if settings.app.adapt_settings:
        found.append(
            "djangostack:app.adaptSettings: the gcp-cloudrun target runs the image as it was built; "
            "settings adaptation is for host targets (configure the image's settings from the environment)"
        )
    if settings.media.storage != "gcs":
        found.append(
            "djangostack:media.storage: the gcp-cloudrun target stores media "
            f"in GCS (got {settings.media.storage!r}); use gcs"
        )
    if settings.domain.tls is not None and settings.domain.tls.mode != "managed":
        found.append(
            "djangostack:domain.tls.mode: Cloud Run domain mappings use managed certificates "
            f"(got {settings.domain.tls.mode!r}); use managed"
        )
    if settings.web.workers is not None and settings.web.workers > 8:
        found.append(
            f"djangostack:web.workers: Cloud Run instances are small; at most 8 workers (got {settings.web.workers})"
        )
    reference = settings.network.reference
    target = settings.target
    if (
        isinstance(target, GcpCloudRunTarget)
        and settings.network.mode == "reference"
        and reference is not None
        and reference.cidr is not None
    ):
        ref = ipaddress.ip_network(reference.cidr)
        own = ipaddress.ip_network(target.egress_subnet_cidr)
        if own.overlaps(ref) and not own.subnet_of(ref):  # type: ignore[arg-type]
            found.append(
                f"djangostack:target.egressSubnetCidr: {own} overlaps the referenced "
                f"network {ref} without lying inside it"
            )
    return found


def problems(settings: StackSettings, stack: str) -> list[str]:
    """Every gcp-cloudrun rule that needs more than one field, one line each."""
    target = settings.target
    if target.kind != "gcp-cloudrun" or (settings.app.image is None and settings.app.build is None):
        return []  # a missing image is a combination problem, reported first
    # Name lengths (service, jobs, execution token, service account, bucket, ...) are cloud limits:
    # djangostack.settings.limits checks every one of them.
    prefix = resource_prefix(settings.app.name, stack)
    found: list[str] = []
    if not REPOSITORY_ID.match(prefix):
        found.append(
            f"djangostack:app.name: the Artifact Registry repository id {prefix!r} (app name and stack) must be "
            "lower-case letters, digits and hyphens, start with a letter and be at most 63 characters"
        )
    if not REGION.match(target.region):
        found.append(
            f"djangostack:target.region: {target.region!r} is not a single region such as europe-west1 "
            "(secrets are replicated in the stack's region only)"
        )
    if settings.network.mode == "create":
        egress = ipaddress.ip_network(target.egress_subnet_cidr)
        services = ipaddress.ip_network(settings.network.cidr)
        if egress.overlaps(services):
            found.append(
                f"djangostack:target.egressSubnetCidr: {egress} overlaps network.cidr ({services}), the range "
                "reserved for Cloud SQL and Memorystore; pick disjoint ranges (defaults: 10.8.0.0/26 and 10.20.0.0/16)"
            )
    if settings.app.build is not None and isinstance(target, GcpCloudRunTarget):
        found.extend(build_problems(settings.app.build, target, prefix, project_dir()))
    clash = sorted(set(settings.app.extra_env) & (TARGET_ENV | MANAGED_ENV | SECRET_ENV))
    if clash:
        found.append(
            f"djangostack:app.extraEnv: {', '.join(clash)} are set by the gcp-cloudrun target "
            "(secrets come from Secret Manager); remove them"
        )
    return found


# ------------------------------------------------------------------------------------------------
# Cloud Run Jobs: the migration execution
# ------------------------------------------------------------------------------------------------

JOB_TASK_TIMEOUT_MAX_SECONDS = 24 * 3600
"""Task timeout: at most 24 hours (https://cloud.google.com/run/docs/configuring/task-timeout)."""

JOB_MAX_RETRIES_MAX = 10
"""Retries per failed task: 0 to 10 (https://cloud.google.com/run/docs/configuring/max-retries)."""

EXECUTION_START_MARGIN_SECONDS = 600
"""Time an execution may spend before its first task runs and between task attempts: scheduling,
pulling the image, Direct VPC egress attaching its interface (up to about a minute per instance,
https://cloud.google.com/run/docs/configuring/vpc-direct-vpc) and the provider's polling."""

PROVIDER_DEFAULT_WAIT_SECONDS = 20 * 60
"""pulumi-gcp / terraform-provider-google wait 20 minutes for a Job create or update (which, with
``run_execution_token``, includes the whole execution) unless ``customTimeouts`` say otherwise."""


def execution_wait_seconds(task_timeout_seconds: int, max_retries: int) -> int:
    """How long ``pulumi up`` must wait for a ``run_execution_token`` execution to finish.

    A task may run ``max_retries + 1`` times, each up to the task timeout, one after the other.
    """
    return task_timeout_seconds * (max_retries + 1) + EXECUTION_START_MARGIN_SECONDS


def check_execution_wait(wait_seconds: int, task_timeout_seconds: int, max_retries: int) -> None:
    """Rule: the provider's wait must outlast the execution (task timeout x attempts).

    Otherwise ``pulumi up`` gives up (and fails) while the migration still runs, and the next
    ``pulumi up`` cannot tell whether it succeeded.
    """
    if not 1 <= task_timeout_seconds <= JOB_TASK_TIMEOUT_MAX_SECONDS:
        raise ValueError(
            f"Cloud Run job task timeout {task_timeout_seconds}s is outside 1..{JOB_TASK_TIMEOUT_MAX_SECONDS}s"
        )
    if not 0 <= max_retries <= JOB_MAX_RETRIES_MAX:
        raise ValueError(f"Cloud Run job maxRetries {max_retries} is outside 0..{JOB_MAX_RETRIES_MAX}")
    attempts = max_retries + 1
    if wait_seconds <= task_timeout_seconds * attempts:
        raise ValueError(
            f"Cloud Run job customTimeouts {wait_seconds}s must exceed the task timeout x attempts "
            f"({task_timeout_seconds}s x {attempts} = {task_timeout_seconds * attempts}s)"
        )


# ------------------------------------------------------------------------------------------------
# Cloud Run probes
# ------------------------------------------------------------------------------------------------

STARTUP_PROBE_WINDOW_MAX_SECONDS = 240
"""A startup probe may keep an instance starting for at most 240 s: ``periodSeconds`` 1-240, and
``failureThreshold x periodSeconds`` within the container start-up limit
(https://cloud.google.com/run/docs/configuring/healthchecks)."""


def check_startup_probe(period_seconds: int, timeout_seconds: int, failure_threshold: int) -> None:
    """Rule: timeout <= period, and period x failures within Cloud Run's start-up window."""
    if not 1 <= timeout_seconds <= period_seconds:
        raise ValueError(
            f"Cloud Run startup probe timeoutSeconds {timeout_seconds} must be 1..periodSeconds ({period_seconds})"
        )
    window = period_seconds * failure_threshold
    if window > STARTUP_PROBE_WINDOW_MAX_SECONDS:
        raise ValueError(
            f"Cloud Run startup probe periodSeconds x failureThreshold = {window}s; "
            f"at most {STARTUP_PROBE_WINDOW_MAX_SECONDS}s is allowed"
        )


# ------------------------------------------------------------------------------------------------
# Artifact Registry
# ------------------------------------------------------------------------------------------------

REPOSITORY_ID = re.compile(r"^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$")
"""Repository ids: lower-case letters, digits and hyphens, starting with a letter and ending with a
letter or digit, at most 63 characters (https://cloud.google.com/artifact-registry/docs/repositories/create-repos)."""


def check_repository_id(repository_id: str) -> None:
    """Rule: a valid Artifact Registry repository id (it is unique per project and location)."""
    if not REPOSITORY_ID.match(repository_id):
        raise ValueError(
            f"Artifact Registry repository id {repository_id!r} is invalid: lower-case letters, digits and "
            "hyphens, starting with a letter, at most 63 characters; shorten djangostack:app.name or the stack name"
        )


def repository_id(prefix: str) -> str:
    """The stack's image repository id: the stack prefix (``notes-staging``), so two stacks of the
    same app in one project never collide on one repository id."""
    check_repository_id(prefix)
    return prefix


# ------------------------------------------------------------------------------------------------
# Secret Manager
# ------------------------------------------------------------------------------------------------

REGION = re.compile(r"^[a-z]+-[a-z]+\d+$")


def secret_replica_locations(region: str) -> list[str]:
    """Rule: secrets are stored in the stack's region only (user-managed replication).

    Automatic replication lets Google pick any location, which a ``gcp.resourceLocations``
    organisation policy refuses and which keeps data outside the region the stack runs in
    (https://cloud.google.com/secret-manager/docs/choosing-replication). A user-managed replica needs
    a region, never a multi-region or ``global``.
    """
    if not REGION.match(region):
        raise ValueError(f"djangostack:target.region: {region!r} is not a single region such as europe-west1")
    return [region]
