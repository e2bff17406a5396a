"""The private GCS bucket holding user uploads (Django media).

Creates one ``storage.Bucket``: uniform bucket-level access (IAM only, no object ACLs), public
access prevention enforced (no ``allUsers`` grant can ever take effect; the app serves media through
signed URLs), object versioning, and a lifecycle rule deleting noncurrent versions after
``noncurrent_version_days``. ``force_destroy`` (delete a non-empty bucket) only outside prod; in prod
the bucket is also ``protect``-ed.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp


@dataclass(frozen=True)
class MediaBucketArgs:
    """Inputs of ``MediaBucket``."""

    project: str
    region: str
    """Bucket location: the Cloud Run region (no cross-region egress for uploads)."""
    bucket_name: str
    """Physical, globally unique bucket name."""
    noncurrent_version_days: int
    """Days an overwritten or deleted object's previous version is kept."""
    protect: bool
    """Prod: ``protect`` and no ``force_destroy``."""


class MediaBucket(pulumi.ComponentResource):
    """A private, versioned bucket for uploads."""

    bucket: gcp.storage.Bucket
    name: pulumi.Output[str]
    """The bucket name (MEDIA_BUCKET)."""

    def __init__(self, name: str, args: MediaBucketArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("djangostack:gcp:MediaBucket", name, None, opts)
        self.bucket = gcp.storage.Bucket(
            f"{name}-bucket",
            project=args.project,
            name=args.bucket_name,
            # GCS reports locations upper-case; sending the same avoids a perpetual diff.
            location=args.region.upper(),
            storage_class="STANDARD",
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            versioning=gcp.storage.BucketVersioningArgs(enabled=True),
            lifecycle_rules=[
                gcp.storage.BucketLifecycleRuleArgs(
                    action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
                    condition=gcp.storage.BucketLifecycleRuleConditionArgs(
                        days_since_noncurrent_time=args.noncurrent_version_days,
                    ),
                )
            ],
            force_destroy=not args.protect,
            labels={"purpose": "django-media"},
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        self.name = self.bucket.name
        self.register_outputs({"name": self.name})
