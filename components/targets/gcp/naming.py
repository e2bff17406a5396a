"""Pure naming helpers for the GCP target: no resources, no Pulumi calls.

Physical names are a contract with GCP (a renamed Cloud SQL instance or bucket is a new one), so they
are derived in one place from the component ``name`` and checked against GCP's length limits up front.
"""

from __future__ import annotations

import hashlib
import re

CLOUD_RUN_NAME_MAX = 49
"""Cloud Run service, job and worker pool names: at most 49 characters."""

EXECUTION_NAME_MAX = 63
"""A Job execution is named ``<job>-<token>``; the SDK requires len(job) + len(token) < 63."""

TOKEN_LENGTH = 16
"""Hex characters of the migration execution token (64 bits of sha256: collisions are not a concern)."""


def slug(value: str) -> str:
    """Lower-case ``value`` and replace anything outside [a-z0-9-] with '-' (stack names may hold '_')."""
    cleaned = re.sub(r"[^a-z0-9-]+", "-", value.lower()).strip("-")
    return re.sub(r"-{2,}", "-", cleaned)


def resource_prefix(app_name: str, stack: str) -> str:
    """The prefix of every physical name of a stack: ``<app>-<stack>`` (``notes-staging``)."""
    return slug(f"{app_name}-{stack}")


def check_length(kind: str, value: str, limit: int) -> str:
    """Return ``value`` or raise ValueError naming the GCP limit it breaks."""
    if len(value) > limit:
        raise ValueError(
            f"{kind} name {value!r} is {len(value)} characters; GCP allows at most {limit}. "
            "Shorten djangostack:app.name or the stack name."
        )
    return value


def image_release_id(image: str) -> str:
    """The release id of an image when ``app.releaseId`` is unset: on Cloud Run the release *is*
    the image. A digest gives ``img-`` and its first 16 hex digits; an immutable tag that is a
    valid release id is used as it is; any other tag gives ``img-`` and 16 hex digits of the
    reference's sha256. So a new image is a new release, and the same image the same one."""
    if "@sha256:" in image:
        return f"img-{image.rsplit('@sha256:', 1)[1][:16]}"
    tag = image.rsplit("/", 1)[-1].partition(":")[2]
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}", tag):
        return tag
    return f"img-{hashlib.sha256(image.encode()).hexdigest()[:16]}"


def execution_token(release_id: str, image: str, attempt: int = 1) -> str:
    """The Cloud Run Job ``run_execution_token`` for a release.

    Derived only from the release id, the image reference and the migration attempt, so it is
    deterministic: the same release of the same image gives the same token (no new execution, no
    diff), and a new image, a new release id or a bumped attempt gives a new token (a new migration
    execution). Attempt 1 hashes exactly as before attempts existed, so an upgrade re-runs nothing.
    Hashed because the execution name ``<job>-<token>`` must stay under 63 characters whatever the
    release id looks like.

    Why an attempt: a token can be used once. After a failed execution the same token either fails
    with "already exists" or is taken as done, so retrying the same release needs a new token
    (``djangostack:target.migrationAttempt``: bump to retry).
    """
    if attempt < 1:
        raise ValueError(f"djangostack:target.migrationAttempt: must be 1 or more (got {attempt})")
    material = f"{release_id}\n{image}" if attempt == 1 else f"{release_id}\n{image}\n{attempt}"
    digest = hashlib.sha256(material.encode()).hexdigest()
    return digest[:TOKEN_LENGTH]


def run_app_host(service_name: str, project_number: str, region: str) -> str:
    """The deterministic Cloud Run host: ``<service>-<project number>.<region>.run.app``.

    Google documents this form as stable for the life of the service, and it is computable before
    the service exists, which is what lets ALLOWED_HOSTS name it in the very revision that serves it.
    """
    return f"{service_name}-{project_number}.{region}.run.app"


MAINTENANCE_DAYS = {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7}


def maintenance_window(window: str) -> tuple[int, int]:
    """``"sun:03:00-sun:04:00"`` -> (7, 3): Cloud SQL takes a start day (1 = Monday) and hour."""
    day, hour, _ = window.split("-", 1)[0].split(":")
    return MAINTENANCE_DAYS[day], int(hour)
