"""MediaBucket: the private S3 bucket for Django's uploads (``media/``), release artifacts
(``releases/``) and the EC2 hosts' rendered files (``host-files/``).

Creates (pulumi-aws 7 names: ``aws.s3.Bucket`` is the former BucketV2 shape, each setting its own
resource):
- the bucket (physical name ``media.bucketName``, else auto-named from ``name``);
- a public access block with all four switches on;
- ownership controls ``BucketOwnerEnforced`` (ACLs disabled; django-storages uses ``default_acl=None``);
- default encryption (SSE-S3 AES256, or SSE-KMS with ``kms_key_id``) with a bucket key;
- versioning, and a lifecycle rule expiring noncurrent versions after ``noncurrent_version_days`` and
  aborting multipart uploads left incomplete for 7 days;
- a bucket policy denying every request that does not use TLS.

In prod (``protect``) the bucket is protected in Pulumi and ``force_destroy`` is off, so a
``pulumi destroy`` cannot take the uploads with it; elsewhere the bucket is emptied on destroy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

MEDIA_PREFIX = "media/"
"""django-storages ``location``: uploads live under this prefix only."""
RELEASES_PREFIX = "releases/"
"""Release artifacts (the app's source archive per release id), read by the hosts."""
HOST_FILES_PREFIX = "host-files/"
"""The EC2 hosts' rendered files, one JSON object per content hash, read by the first-boot loader."""


@dataclass(frozen=True)
class MediaBucketArgs:
    """Inputs of ``MediaBucket``."""

    noncurrent_version_days: int = 30
    """Days an overwritten or deleted object version is kept before S3 expires it."""
    bucket_name: str | None = None
    """Physical name; None: Pulumi auto-names it from the logical name."""
    protect: bool = True
    """Protect the bucket and refuse to delete it while it holds objects."""
    kms_key_id: pulumi.Input[str] | None = None
    """SSE-KMS key; None: SSE-S3 (AES256)."""
    tags: dict[str, str] = field(default_factory=dict)


class MediaBucket(pulumi.ComponentResource):
    """A private, versioned, encrypted, TLS-only S3 bucket."""

    bucket_name: pulumi.Output[str]
    """Physical bucket name (AWS_STORAGE_BUCKET_NAME)."""
    bucket_arn: pulumi.Output[str]
    bucket: aws.s3.Bucket

    def __init__(self, name: str, args: MediaBucketArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("djangostack:aws:MediaBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket=args.bucket_name,
            force_destroy=not args.protect,
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        public_access = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=self.bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child,
        )
        by_default = (
            aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                sse_algorithm="aws:kms", kms_master_key_id=args.kms_key_id
            )
            if args.kms_key_id is not None
            else aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                sse_algorithm="AES256"
            )
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=self.bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=by_default, bucket_key_enabled=True
                )
            ],
            opts=child,
        )
        versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=self.bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=child,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=self.bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-noncurrent-versions",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    noncurrent_version_expiration=(
                        aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                            noncurrent_days=args.noncurrent_version_days
                        )
                    ),
                    abort_incomplete_multipart_upload=(
                        aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                            days_after_initiation=7
                        )
                    ),
                )
            ],
            # S3 rejects a lifecycle configuration on a bucket whose versioning is still changing.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
        )
        policy = pulumi.Output.json_dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "DenyInsecureTransport",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": [self.bucket.arn, pulumi.Output.concat(self.bucket.arn, "/*")],
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    }
                ],
            }
        )
        aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=self.bucket.id,
            policy=policy,
            # With BlockPublicPolicy being applied concurrently S3 may reject the policy call.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_access]),
        )
        self.bucket_name = self.bucket.bucket
        self.bucket_arn = self.bucket.arn
        self.register_outputs({"bucketName": self.bucket_name, "bucketArn": self.bucket_arn})
