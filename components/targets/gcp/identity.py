"""The runtime identity of the Cloud Run service, migration job and Celery worker pools.

Creates a dedicated service account and exactly these grants (least privilege):
- ``roles/cloudsql.client`` on the project (Cloud SQL has no per-instance IAM for connecting);
- ``roles/secretmanager.secretAccessor`` on each of this stack's secrets, one member per secret
  (never project-wide: another stack's secrets in the same project stay unreadable);
- ``roles/storage.objectAdmin`` on the media bucket only;
- ``roles/iam.serviceAccountTokenCreator`` on the service account itself, and nothing wider: the app
  signs media URLs through the IAM signBlob API (django-storages ``iam_sign_blob``), because Cloud Run
  has no key file to sign with. The grant only lets the account sign as itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_gcp as gcp


@dataclass(frozen=True)
class RuntimeIdentityArgs:
    """Inputs of ``RuntimeIdentity``."""

    project: str
    account_id: str
    """Service account id (6-30 characters: lower-case letters, digits, hyphens)."""
    secret_ids: Mapping[str, pulumi.Input[str]]
    """Secret Manager secret ids the workloads read, keyed by a stable short name (``SECRET_KEY``):
    the key names the IAM member, so adding a secret never renames (and re-creates) another's grant."""
    media_bucket: pulumi.Input[str]
    requires: Sequence[pulumi.Resource] = field(default_factory=tuple)
    """The iam API enablement."""


class RuntimeIdentity(pulumi.ComponentResource):
    """A service account with least-privilege grants."""

    email: pulumi.Output[str]
    """The service account's email (Cloud Run ``service_account``)."""
    grants: list[pulumi.Resource]
    """Every IAM member created; workloads wait for them before they first start."""

    def __init__(self, name: str, args: RuntimeIdentityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("djangostack:gcp:RuntimeIdentity", name, None, opts)
        account = gcp.serviceaccount.Account(
            f"{name}-sa",
            project=args.project,
            account_id=args.account_id,
            display_name=f"Runtime identity of {name}",
            description="Cloud Run service, migration job and Celery workers of one Django stack",
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.requires)),
        )
        self.email = account.email
        # (resource class, name suffix, what the grant is on): every grant is the same member with one role.
        grants: list[tuple[Any, str, dict[str, Any]]] = [
            (gcp.projects.IAMMember, "cloudsql-client", {"project": args.project, "role": "roles/cloudsql.client"}),
            (
                gcp.storage.BucketIAMMember,
                "media-object-admin",
                {"bucket": args.media_bucket, "role": "roles/storage.objectAdmin"},
            ),
            (
                gcp.serviceaccount.IAMMember,
                "sign-as-self",
                {"service_account_id": account.name, "role": "roles/iam.serviceAccountTokenCreator"},
            ),
        ]
        grants += [
            (
                gcp.secretmanager.SecretIamMember,
                f"secret-accessor-{key.lower().replace('_', '-')}",
                {"project": args.project, "secret_id": secret_id, "role": "roles/secretmanager.secretAccessor"},
            )
            for key, secret_id in sorted(args.secret_ids.items())
        ]
        child = pulumi.ResourceOptions(parent=self)
        self.grants = [
            resource(f"{name}-{suffix}", member=account.member, opts=child, **on) for resource, suffix, on in grants
        ]
        self.register_outputs({"email": self.email})
