"""InstanceIdentity: what the EC2 web hosts may do in AWS, through their instance role.

Creates:
- an IAM role EC2 can assume, with ``AmazonSSMManagedInstanceCore`` attached (Session Manager for
  administrators, Run Command for the release and migration steps);
- an inline policy allowing exactly:
  * ``secretsmanager:GetSecretValue`` on this stack's secrets (the app secret and the RDS-managed
    master secret), nothing else;
  * ``s3:ListBucket`` on the media bucket, without an ``s3:prefix`` condition (see below);
  * ``s3:GetObject``/``PutObject``/``DeleteObject``/``AbortMultipartUpload`` on ``<bucket>/media/*``;
  * ``s3:GetObject`` on ``<bucket>/releases/*`` (the release archives the hosts install);
  * ``s3:GetObject`` on ``<bucket>/host-files/*`` (the rendered host files the first-boot loader
    fetches; read-only, so a host cannot change what the next host boots with);
- an instance profile for the launch template.

There are no IAM users and no access keys: boto3 and the AWS CLI on the host pick up the role's
short-lived credentials from IMDSv2.

Why ``ListBucket`` has no prefix condition: HeadObject on a missing key answers 404 only to a
caller allowed ``s3:ListBucket`` on the bucket, and 403 to everyone else (S3 API reference,
HeadObject, "Permissions": https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html).
A HeadObject request carries no ``s3:prefix`` key, so a grant conditioned on ``s3:prefix`` never
applies to it. django-storages' ``S3Storage.exists()`` is a HeadObject that treats only 404 as
"absent" and re-raises anything else, and with ``file_overwrite=False`` (the app contract) every
upload calls it to pick a free name, so every upload failed with 403. Listing the whole bucket
shows the hosts only key names: the media keys they own and the release archive names they already
read. Object access stays scoped to ``media/*`` (read/write) and ``releases/*`` (read).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from .storage import HOST_FILES_PREFIX, MEDIA_PREFIX, RELEASES_PREFIX


@dataclass(frozen=True)
class InstanceIdentityArgs:
    """Inputs of ``InstanceIdentity``."""

    secret_arns: pulumi.Input[list[str]]
    """Every secret the hosts read (app secret, RDS master secret)."""
    bucket_arn: pulumi.Input[str]
    tags: dict[str, str] = field(default_factory=dict)


class InstanceIdentity(pulumi.ComponentResource):
    """Instance role + profile with least-privilege access to this stack's secrets and bucket."""

    role_name: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    instance_profile_name: pulumi.Output[str]
    """Name the launch template references."""
    instance_profile_arn: pulumi.Output[str]

    def __init__(self, name: str, args: InstanceIdentityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("djangostack:aws:InstanceIdentity", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self))
        role = aws.iam.Role(
            f"{name}-role",
            description=f"{name}: Django web hosts",
            assume_role_policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "ec2.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
            tags=args.tags,
            opts=child,
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-ssm",
            role=role.name,
            policy_arn=pulumi.Output.format(
                "arn:{0}:iam::aws:policy/AmazonSSMManagedInstanceCore", partition.partition
            ),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-access",
            role=role.id,
            policy=_access_policy(args.secret_arns, args.bucket_arn),
            opts=child,
        )
        profile = aws.iam.InstanceProfile(f"{name}-profile", role=role.name, tags=args.tags, opts=child)
        self.role_name = role.name
        self.role_arn = role.arn
        self.instance_profile_name = profile.name
        self.instance_profile_arn = profile.arn
        self.register_outputs(
            {
                "roleArn": self.role_arn,
                "instanceProfileName": self.instance_profile_name,
            }
        )


def _access_policy(secret_arns: pulumi.Input[list[str]], bucket_arn: pulumi.Input[str]) -> pulumi.Output[str]:
    bucket = pulumi.Output.from_input(bucket_arn)
    return pulumi.Output.json_dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ReadThisStacksSecrets",
                    "Effect": "Allow",
                    "Action": "secretsmanager:GetSecretValue",
                    "Resource": secret_arns,
                },
                {
                    # No s3:prefix condition: HeadObject must see 404 for a missing key (docstring).
                    "Sid": "ListMediaBucket",
                    "Effect": "Allow",
                    "Action": "s3:ListBucket",
                    "Resource": bucket,
                },
                {
                    "Sid": "ReadWriteMedia",
                    "Effect": "Allow",
                    "Action": [
                        "s3:GetObject",
                        "s3:PutObject",
                        "s3:DeleteObject",
                        "s3:AbortMultipartUpload",
                    ],
                    "Resource": pulumi.Output.concat(bucket, f"/{MEDIA_PREFIX}*"),
                },
                {
                    "Sid": "ReadReleaseArchives",
                    "Effect": "Allow",
                    "Action": "s3:GetObject",
                    "Resource": pulumi.Output.concat(bucket, f"/{RELEASES_PREFIX}*"),
                },
                {
                    "Sid": "ReadHostFiles",
                    "Effect": "Allow",
                    "Action": "s3:GetObject",
                    "Resource": pulumi.Output.concat(bucket, f"/{HOST_FILES_PREFIX}*"),
                },
            ],
        }
    )
