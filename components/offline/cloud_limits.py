"""The documented API limits of every cloud resource property the program sets, checked on a
recording of the program (``djangostack.offline.mocking.Recording``).

The mocks engine accepts any value; the clouds do not. Every rule below states one documented
constraint (a length, a size, a count or a character set), with a comment naming the page it comes
from, and ``check_recording`` applies all of them to every registered resource. A breach is one line
naming the resource (type and logical name), the property, the value or its size, and the limit:

    aws:lb/loadBalancer:LoadBalancer shop-prod-app-alb: name 'shop-...-1a2b3c4' is 35 characters; at most 32 (...)

Physical names the program leaves to Pulumi's auto-naming (no ``name`` input) are checked as Pulumi
will make them: the logical name, a hyphen and 7 random hex characters (lower-cased where the
provider lower-cases them), because that is what reaches the API.

Where the rules run: ``tests/unit/test_cloud_limits.py`` (every stack in ``stacks/`` and
``tests/``, and the property test of accepted settings) and ``djangostack plan``, which
fails with these lines. The settings side (``djangostack.settings.limits``) refuses, in ``check``, the
settings that would breach one of these limits.

Sources are the provider SDK docstrings installed with the program (``pulumi_aws``, ``pulumi_gcp``)
and the service API references; each constant names its page.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pulumi.runtime.rpc import UNKNOWN

if TYPE_CHECKING:  # the settings side (djangostack.settings.limits) must not load the mocks engine
    from .mocking import Recording, Registered

AUTONAME_SUFFIX = 8
"""Pulumi auto-naming appends ``-`` and 7 random hex characters to the logical name."""

# --------------------------------------------------------------------------------------------------
# AWS
# --------------------------------------------------------------------------------------------------

EC2_USER_DATA_RAW_BYTES = 16_384
"""EC2 User Guide, "Run commands when you launch an EC2 instance with user data input" / "Work with
instance user data": user data is limited to 16 KB in raw form, before base64 encoding."""

AWS_TAGS_PER_RESOURCE = 50
AWS_TAG_KEY_CHARS = 128
AWS_TAG_VALUE_CHARS = 256
"""Tagging AWS resources (AWS General Reference / "Tagging best practices", tag naming limits):
at most 50 user tags per resource, keys 1-128 Unicode characters, values 0-256, and the ``aws:``
prefix is reserved. Provider default tags count toward the 50."""

S3_OBJECT_TAGS = 10
"""Amazon S3 User Guide, "Categorizing your objects using tags": up to 10 tags per object."""

S3_OBJECT_KEY_BYTES = 1024
"""Amazon S3 User Guide, "Naming Amazon S3 objects": a key is at most 1,024 bytes of UTF-8."""

IAM_NAME = re.compile(r"^[\w+=,.@-]+$")
"""IAM API Reference, CreateRole / CreateInstanceProfile / PutRolePolicy: names match
``[\\w+=,.@-]+`` (also the pulumi_aws ``iam.InstanceProfile.name`` docstring)."""
IAM_ROLE_NAME_CHARS = 64
"""IAM API Reference, CreateRole ``RoleName``: 1-64 characters (IAM User Guide, "IAM and AWS STS
quotas": role name 64 characters)."""
IAM_INSTANCE_PROFILE_NAME_CHARS = 128
"""IAM API Reference, CreateInstanceProfile ``InstanceProfileName``: 1-128 characters."""
IAM_POLICY_NAME_CHARS = 128
"""IAM API Reference, PutRolePolicy ``PolicyName`` / CreatePolicy ``PolicyName``: 1-128 characters."""
IAM_ROLE_DESCRIPTION_CHARS = 1000
"""IAM API Reference, CreateRole ``Description``: at most 1,000 characters."""
IAM_MANAGED_POLICY_CHARS = 6_144
IAM_INLINE_ROLE_POLICY_CHARS = 10_240
IAM_TRUST_POLICY_CHARS = 2_048
"""IAM User Guide, "IAM and AWS STS quotas": a managed policy is at most 6,144 characters, the
inline policies of one role together at most 10,240, and a role trust policy at most 2,048 (the
default quota); IAM does not count white space."""

LB_NAME_CHARS = 32
"""pulumi_aws ``lb.LoadBalancer.name`` / ``lb.TargetGroup.name`` docstrings and the ELBv2 API
Reference (CreateLoadBalancer / CreateTargetGroup ``Name``): at most 32 alphanumeric characters or
hyphens, not beginning or ending with a hyphen (a load balancer name must not begin with
``internal-``)."""

RDS_INSTANCE_ID_CHARS = 63
"""Amazon RDS API Reference, CreateDBInstance ``DBInstanceIdentifier``: 1-63 letters, digits or
hyphens; first a letter; no hyphen at the end and no two consecutive hyphens (stored lower-case)."""
RDS_SNAPSHOT_ID_CHARS = 255
"""Amazon RDS API Reference, DeleteDBInstance ``FinalDBSnapshotIdentifier``: 1-255 letters, digits
or hyphens; first a letter; no hyphen at the end and no two consecutive hyphens."""
RDS_PARAMETER_GROUP_CHARS = 255
"""Amazon RDS API Reference, CreateDBParameterGroup ``DBParameterGroupName``: 1-255 letters,
digits or hyphens; first a letter; no hyphen at the end and no two consecutive hyphens."""
RDS_SUBNET_GROUP_CHARS = 255
"""Amazon RDS API Reference, CreateDBSubnetGroup ``DBSubnetGroupName``: at most 255 letters,
digits, periods, underscores, spaces or hyphens; not ``default``."""

ELASTICACHE_REPLICATION_GROUP_CHARS = 40
"""Amazon ElastiCache API Reference, CreateReplicationGroup ``ReplicationGroupId``: 1-40
alphanumeric characters or hyphens; first a letter; no hyphen at the end and no two consecutive
hyphens (stored lower-case)."""
ELASTICACHE_SUBNET_GROUP_CHARS = 255
"""Amazon ElastiCache API Reference, CreateCacheSubnetGroup ``CacheSubnetGroupName``: at most 255
alphanumeric characters or hyphens."""

SECURITY_GROUP_TEXT = re.compile(r"^[A-Za-z0-9 ._\-:/()#,@\[\]+=&;{}!$*]*$")
RULE_DESCRIPTION = re.compile(r"^[A-Za-z0-9 ._\-:/()#,@\[\]+=;{}!$*]*$")
"""A security group rule's description: the group text's characters without '&'."""
AWS_IDENTIFIER = re.compile(r"^[A-Za-z](?:[A-Za-z0-9]|-(?=[A-Za-z0-9]))*$")
"""RDS and ElastiCache identifiers: a letter first, single hyphens, no hyphen last."""
SECURITY_GROUP_TEXT_CHARS = 255
"""Amazon EC2 API Reference, CreateSecurityGroup ``GroupName`` and ``GroupDescription``: up to 255
characters of a-z, A-Z, 0-9, spaces and ``._-:/()#,@[]+=&;{}!$*``; a name must not start with
``sg-``. Security group rule descriptions (AuthorizeSecurityGroupIngress ``Description``) allow
the same characters and length."""

LAUNCH_TEMPLATE_NAME = re.compile(r"^[a-zA-Z0-9().\-/_]{3,128}$")
LAUNCH_TEMPLATE_DESCRIPTION_CHARS = 255
"""Amazon EC2 API Reference, CreateLaunchTemplate ``LaunchTemplateName`` (3-128 characters of
``[a-zA-Z0-9().-/_]``) and ``VersionDescription`` (at most 255 characters)."""

S3_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
"""Amazon S3 User Guide, "General purpose bucket naming rules": 3-63 characters of lowercase
letters, digits, dots and hyphens, beginning and ending with a letter or digit; no two adjacent
periods; not an IP address; not beginning with ``xn--``, ``sthree-`` or ``amzn-s3-demo-``; not
ending with ``-s3alias``, ``--ol-s3``, ``.mrap`` or ``--x-s3``."""
S3_BUCKET_BAD_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
S3_BUCKET_BAD_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3")

SECRETS_MANAGER_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
SECRETS_MANAGER_DESCRIPTION_CHARS = 2048
"""AWS Secrets Manager API Reference, CreateSecret ``Name`` (1-512 characters of letters, digits
and ``/_+=.@-``, also the pulumi_aws ``secretsmanager.Secret.name`` docstring) and ``Description``
(at most 2,048 characters)."""

SSM_DOCUMENT_NAME = re.compile(r"^[a-zA-Z0-9_.\-]{3,128}$")
SSM_DOCUMENT_RESERVED_PREFIXES = ("aws", "amazon", "amzn")
SSM_DOCUMENT_CONTENT_BYTES = 64 * 1024
"""AWS Systems Manager API Reference, CreateDocument ``Name`` (3-128 characters of
``[a-zA-Z0-9_.-]``; must not begin with ``aws``, ``amazon`` or ``amzn``) and ``Content`` (at most
64 KB for a Command document; Systems Manager quotas, "Maximum size of a document")."""

SSM_PARAMETER_NAME = re.compile(r"^/?[a-zA-Z0-9_.\-]+(/[a-zA-Z0-9_.\-]+)*$")
SSM_PARAMETER_NAME_CHARS = 1011 - len("arn:aws:ssm:eu-west-1:123456789012:parameter/")
SSM_PARAMETER_LEVELS = 15
SSM_PARAMETER_VALUE_BYTES = {"Standard": 4096, "Advanced": 8192}
"""AWS Systems Manager User Guide, "Requirements and constraints for parameter names" (letters,
digits and ``_.-/``; no ``aws`` or ``ssm`` prefix; at most 15 hierarchy levels; the name with its
full ARN at most 1,011 characters) and "Managing parameter tiers" (a value is at most 4 KB in the
Standard tier, 8 KB in the Advanced tier)."""

ACM_COMMON_NAME_OCTETS = 64
ACM_SAN_OCTETS = 253
ACM_NAMES_PER_CERTIFICATE = 10
"""AWS Certificate Manager API Reference, RequestCertificate ``DomainName``: the first name (the
certificate's Common Name) is at most 64 octets, later Subject Alternative Names at most 253; ACM
quotas: 10 domain names per certificate by default."""

AUTOSCALING_GROUP_CHARS = 255
"""Amazon EC2 Auto Scaling API Reference, CreateAutoScalingGroup ``AutoScalingGroupName``: 1-255
characters."""

# --------------------------------------------------------------------------------------------------
# GCP
# --------------------------------------------------------------------------------------------------

RFC1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
"""RFC 1035 label: a lowercase letter, then lowercase letters, digits or hyphens, not ending with
a hyphen (pulumi_gcp ``compute.Network.name`` docstring: ``[a-z]([-a-z0-9]*[a-z0-9])?``)."""

GCP_RESOURCE_NAME_CHARS = 63
"""pulumi_gcp ``compute.Network`` / ``compute.Subnetwork`` / ``compute.GlobalAddress`` ``name``
docstrings: 1-63 characters, RFC 1035."""

CLOUD_RUN_NAME_CHARS = 49
"""Cloud Run service, job and worker pool names: at most 49 characters, RFC 1035 (Cloud Run docs,
"Deploying container images": service names; the same rule applies to jobs and worker pools)."""
CLOUD_RUN_EXECUTION_CHARS = 63
"""pulumi_gcp ``cloudrunv2.Job.run_execution_token`` docstring: the job name and the token together
must be fewer than 63 characters."""
CLOUD_RUN_ENV_VARS = 1000
"""Cloud Run docs, "Configure environment variables": at most 1,000 environment variables per
container."""
CLOUD_RUN_ENV_VALUE_CHARS = 32_768
CLOUD_RUN_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
"""pulumi_gcp ``cloudrunv2`` ``...ContainerEnvArgs`` docstrings: a name is a C_IDENTIFIER and a
literal value at most 32,768 characters."""

SERVICE_ACCOUNT_ID = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])$")
SERVICE_ACCOUNT_ID_CHARS = (6, 30)
SERVICE_ACCOUNT_DISPLAY_NAME_CHARS = 100
SERVICE_ACCOUNT_DESCRIPTION_BYTES = 256
"""pulumi_gcp ``serviceaccount.Account`` docstrings: ``account_id`` 6-30 characters, RFC 1035;
``description`` at most 256 UTF-8 bytes; IAM API Reference, ServiceAccount ``displayName``: at
most 100 UTF-8 bytes."""

CLOUD_SQL_QUALIFIED_NAME_CHARS = 98
"""Cloud SQL docs, "Create instances" (instance ID): lowercase letters, digits and hyphens,
beginning with a letter; ``<project id>:<instance id>`` at most 98 characters in total."""

MEMORYSTORE_INSTANCE_ID = re.compile(r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$")
"""Memorystore for Redis API Reference, ``projects.locations.instances.create`` ``instanceId``:
1-40 characters of lowercase letters, digits and hyphens, beginning with a letter and ending with a
letter or digit."""

SECRET_MANAGER_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
"""Secret Manager API Reference, ``projects.secrets.create`` ``secretId``: at most 255 characters
of letters, digits, underscores and hyphens."""

ARTIFACT_REGISTRY_ID = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
"""Artifact Registry docs, "Create standard repositories": repository names are lowercase letters,
digits and hyphens, beginning with a letter and ending with a letter or digit, at most 63."""

GCS_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
"""Cloud Storage docs, "Bucket naming rules" (also the pulumi_gcp ``storage.Bucket.name``
docstring): lowercase letters, digits, hyphens, underscores and dots, beginning and ending with a
letter or digit; 3-63 characters, or up to 222 with dots where each dot-separated part is at most
63; not an IP address; not beginning with ``goog`` nor containing ``google``."""

GCP_LABELS = 64
GCP_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
GCP_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
"""Resource Manager docs, "Labels overview" / "Requirements for labels" (also the pulumi_gcp
``artifactregistry.Repository.labels`` docstring): at most 64 labels; keys 1-63 characters of
lowercase letters, digits, underscores and hyphens, beginning with a lowercase letter; values 0-63
of the same characters."""

# --------------------------------------------------------------------------------------------------
# Breaches
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Breach:
    """One property of one resource outside a documented limit."""

    type: str
    name: str
    prop: str
    problem: str
    """The value or its size, and the limit with its source."""

    def line(self) -> str:
        return f"{self.type} {self.name}: {self.prop} {self.problem}"


class CloudLimitsError(ValueError):
    """The program registered values a cloud API would refuse; ``lines`` holds one per breach."""

    def __init__(self, breaches: list[Breach]) -> None:
        self.breaches = breaches
        self.lines = [b.line() for b in breaches]
        count = len(self.lines)
        super().__init__(
            f"cloud limits breached ({count} problem{'s' if count != 1 else ''}):\n" + "\n".join(self.lines)
        )


def _show(value: str, limit: int = 60) -> str:
    return repr(value) if len(value) <= limit else repr(value[: limit - 3] + "...")


def _known(value: Any) -> bool:
    return value is not None and value != UNKNOWN and not (isinstance(value, str) and UNKNOWN in value)


# --------------------------------------------------------------------------------------------------
# Rule helpers: each returns the problem text, or None when the value is within the limit
# --------------------------------------------------------------------------------------------------

Problem = str | None


def _length(value: str, low: int, high: int, source: str) -> Problem:
    if not low <= len(value) <= high:
        return f"{_show(value)} is {len(value)} characters; allowed {low}-{high} ({source})"
    return None


def _pattern(value: str, pattern: re.Pattern[str], allowed: str, source: str) -> Problem:
    if not pattern.fullmatch(value):
        return f"{_show(value)} is not allowed: {allowed} ({source})"
    return None


def _first(*problems: Problem) -> Problem:
    return next((p for p in problems if p), None)


def _named(
    value: str, low: int, high: int, pattern: re.Pattern[str], allowed: str, source: str, *more: Problem
) -> Problem:
    """The first problem of a name: its length (``low``-``high``), its characters (``pattern``, described
    by ``allowed``), then ``more`` (the rule's own reserved words and prefixes)."""
    return _first(_length(value, low, high, source), _pattern(value, pattern, allowed, source), *more)


def _aws_identifier(value: str, high: int, source: str) -> Problem:
    """RDS / ElastiCache style identifiers: letter first, letters, digits, hyphens, no '--', no trailing '-'."""
    allowed = "a letter first, then letters, digits and single hyphens, not ending with a hyphen"
    return _named(value, 1, high, AWS_IDENTIFIER, allowed, source)


def _rds_instance(value: str) -> Problem:
    return _aws_identifier(value, RDS_INSTANCE_ID_CHARS, "RDS CreateDBInstance DBInstanceIdentifier")


def _rds_snapshot(value: str) -> Problem:
    return _aws_identifier(value, RDS_SNAPSHOT_ID_CHARS, "RDS DeleteDBInstance FinalDBSnapshotIdentifier")


def _rds_parameter_group(value: str) -> Problem:
    return _aws_identifier(value, RDS_PARAMETER_GROUP_CHARS, "RDS CreateDBParameterGroup DBParameterGroupName")


def _rds_subnet_group(value: str) -> Problem:
    source = "RDS CreateDBSubnetGroup DBSubnetGroupName"
    return _named(
        value,
        1,
        RDS_SUBNET_GROUP_CHARS,
        re.compile(r"^[A-Za-z0-9._ -]+$"),
        "letters, digits, '.', '_', ' ' and '-'",
        source,
        f"{_show(value)} is reserved ({source})" if value.lower() == "default" else None,
    )


def _replication_group(value: str) -> Problem:
    return _aws_identifier(
        value, ELASTICACHE_REPLICATION_GROUP_CHARS, "ElastiCache CreateReplicationGroup ReplicationGroupId"
    )


def _cache_subnet_group(value: str) -> Problem:
    source = "ElastiCache CreateCacheSubnetGroup CacheSubnetGroupName"
    return _named(
        value, 1, ELASTICACHE_SUBNET_GROUP_CHARS, re.compile(r"^[A-Za-z0-9-]+$"), "letters, digits and '-'", source
    )


def _lb_name(value: str, what: str) -> Problem:
    source = f"ELBv2 {what} Name; pulumi_aws lb docstring"
    return _named(
        value,
        1,
        LB_NAME_CHARS,
        re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$"),
        "letters, digits and '-', not beginning or ending with '-'",
        source,
        f"{_show(value)} must not begin with 'internal-' ({source})"
        if what == "CreateLoadBalancer" and value.startswith("internal-")
        else None,
    )


def _iam_name(value: str, high: int, what: str) -> Problem:
    source = f"IAM {what}"
    return _named(value, 1, high, IAM_NAME, "letters, digits and '_+=,.@-'", source)


def _security_group_text(value: str, what: str) -> Problem:
    source = f"EC2 {what}"
    return _named(
        value,
        1 if "Name" in what else 0,
        SECURITY_GROUP_TEXT_CHARS,
        SECURITY_GROUP_TEXT,
        "a-z, A-Z, 0-9, spaces and ._-:/()#,@[]+=&;{}!$*",
        source,
        f"{_show(value)} must not start with 'sg-' ({source})" if "Name" in what and value.startswith("sg-") else None,
    )


def _rule_description(value: str) -> Problem:
    source = "EC2 AuthorizeSecurityGroupIngress Description"
    allowed = "a-z, A-Z, 0-9, spaces and ._-:/()#,@[]+=;{}!$*"
    return _named(value, 0, SECURITY_GROUP_TEXT_CHARS, RULE_DESCRIPTION, allowed, source)


def _s3_bucket(value: str) -> Problem:
    source = "S3 general purpose bucket naming rules"
    problem = _named(
        value, 3, 63, S3_BUCKET, "lowercase letters, digits, '.' and '-', a letter or digit at both ends", source
    )
    if problem:
        return problem
    if ".." in value:
        return f"{_show(value)} has two adjacent periods ({source})"
    if _is_ip(value):
        return f"{_show(value)} is formatted as an IP address ({source})"
    if value.startswith(S3_BUCKET_BAD_PREFIXES) or value.endswith(S3_BUCKET_BAD_SUFFIXES):
        return f"{_show(value)} uses a reserved prefix or suffix ({source})"
    return None


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _secrets_manager_name(value: str) -> Problem:
    return _pattern(
        value, SECRETS_MANAGER_NAME, "1-512 letters, digits and '/_+=.@-'", "Secrets Manager CreateSecret Name"
    )


def _ssm_document_name(value: str) -> Problem:
    source = "Systems Manager CreateDocument Name"
    return _first(
        _pattern(value, SSM_DOCUMENT_NAME, "3-128 letters, digits and '_.-'", source),
        f"{_show(value)} begins with a reserved prefix (aws, amazon, amzn) ({source})"
        if value.lower().startswith(SSM_DOCUMENT_RESERVED_PREFIXES)
        else None,
    )


def _ssm_parameter_name(value: str) -> Problem:
    source = "Systems Manager parameter names"
    bare = value.lstrip("/")
    return _named(
        value,
        1,
        SSM_PARAMETER_NAME_CHARS,
        SSM_PARAMETER_NAME,
        "letters, digits and '_.-', levels separated by '/'",
        source,
        f"{_show(value)} begins with a reserved prefix (aws, ssm) ({source})"
        if bare.lower().startswith(("aws", "ssm"))
        else None,
        f"{_show(value)} has {bare.count('/') + 1} levels; at most {SSM_PARAMETER_LEVELS} ({source})"
        if bare.count("/") + 1 > SSM_PARAMETER_LEVELS
        else None,
    )


def _max_chars(high: int, source: str) -> Callable[[str], Problem]:
    def check(value: str) -> Problem:
        return _length(value, 0, high, source)

    return check


def _max_bytes(high: int, source: str) -> Callable[[str], Problem]:
    def check(value: str) -> Problem:
        size = len(value.encode())
        return f"is {size} bytes; at most {high} ({source})" if size > high else None

    return check


def _rfc1035(high: int, source: str, low: int = 1) -> Callable[[str], Problem]:
    def check(value: str) -> Problem:
        return _named(
            value, low, high, RFC1035, "RFC 1035: a lowercase letter, then [a-z0-9-], not ending with '-'", source
        )

    return check


def _gcs_bucket(value: str) -> Problem:
    source = "Cloud Storage bucket naming rules"
    problem = _first(
        _pattern(
            value,
            GCS_BUCKET,
            "3-222 lowercase letters, digits, '-', '_' and '.', a letter or digit at both ends",
            source,
        ),
    )
    if problem:
        return problem
    parts = value.split(".")
    if "." not in value and len(value) > 63:
        return f"{_show(value)} is {len(value)} characters; at most 63 without dots ({source})"
    if any(len(part) > 63 or not part for part in parts):
        return f"{_show(value)} has a dot-separated part longer than 63 characters or empty ({source})"
    if _is_ip(value):
        return f"{_show(value)} is formatted as an IP address ({source})"
    if value.startswith("goog") or "google" in value:
        return f"{_show(value)} begins with 'goog' or contains 'google' ({source})"
    return None


def _service_account_id(value: str) -> Problem:
    low, high = SERVICE_ACCOUNT_ID_CHARS
    source = "pulumi_gcp serviceaccount.Account account_id"
    return _named(
        value,
        low,
        high,
        SERVICE_ACCOUNT_ID,
        "RFC 1035: a lowercase letter, then [a-z0-9-], not ending with '-'",
        source,
    )


def _memorystore_id(value: str) -> Problem:
    return _pattern(
        value,
        MEMORYSTORE_INSTANCE_ID,
        "1-40 lowercase letters, digits and '-', a letter first, not ending with '-'",
        "Memorystore instances.create instanceId",
    )


def _secret_manager_id(value: str) -> Problem:
    return _pattern(
        value, SECRET_MANAGER_ID, "1-255 letters, digits, '_' and '-'", "Secret Manager secrets.create secretId"
    )


def _artifact_registry_id(value: str) -> Problem:
    return _pattern(
        value,
        ARTIFACT_REGISTRY_ID,
        "1-63 lowercase letters, digits and '-', a letter first, a letter or digit last",
        "Artifact Registry repository names",
    )


NameCheck = Callable[[str], Problem]

NAME_RULES: dict[str, dict[str, NameCheck]] = {
    # AWS ------------------------------------------------------------------------------------------
    "aws:rds/instance:Instance": {"identifier": _rds_instance, "finalSnapshotIdentifier": _rds_snapshot},
    "aws:rds/subnetGroup:SubnetGroup": {"name": _rds_subnet_group},
    "aws:rds/parameterGroup:ParameterGroup": {"name": _rds_parameter_group},
    "aws:elasticache/replicationGroup:ReplicationGroup": {"replicationGroupId": _replication_group},
    "aws:elasticache/subnetGroup:SubnetGroup": {"name": _cache_subnet_group},
    "aws:lb/loadBalancer:LoadBalancer": {"name": lambda v: _lb_name(v, "CreateLoadBalancer")},
    "aws:lb/targetGroup:TargetGroup": {"name": lambda v: _lb_name(v, "CreateTargetGroup")},
    "aws:iam/role:Role": {
        "name": lambda v: _iam_name(v, IAM_ROLE_NAME_CHARS, "CreateRole RoleName"),
        "description": _max_chars(IAM_ROLE_DESCRIPTION_CHARS, "IAM CreateRole Description"),
    },
    "aws:iam/instanceProfile:InstanceProfile": {
        "name": lambda v: _iam_name(v, IAM_INSTANCE_PROFILE_NAME_CHARS, "CreateInstanceProfile InstanceProfileName"),
    },
    "aws:iam/rolePolicy:RolePolicy": {
        "name": lambda v: _iam_name(v, IAM_POLICY_NAME_CHARS, "PutRolePolicy PolicyName"),
    },
    "aws:iam/policy:Policy": {
        "name": lambda v: _iam_name(v, IAM_POLICY_NAME_CHARS, "CreatePolicy PolicyName"),
    },
    "aws:ec2/securityGroup:SecurityGroup": {
        "name": lambda v: _security_group_text(v, "CreateSecurityGroup GroupName"),
        "description": lambda v: _security_group_text(v, "CreateSecurityGroup GroupDescription"),
    },
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": {"description": _rule_description},
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": {"description": _rule_description},
    "aws:ec2/launchTemplate:LaunchTemplate": {
        "name": lambda v: _pattern(
            v, LAUNCH_TEMPLATE_NAME, "3-128 characters of [a-zA-Z0-9().-/_]", "EC2 CreateLaunchTemplate"
        ),
        "description": _max_chars(LAUNCH_TEMPLATE_DESCRIPTION_CHARS, "EC2 CreateLaunchTemplate VersionDescription"),
    },
    "aws:s3/bucket:Bucket": {"bucket": _s3_bucket},
    "aws:s3/bucketObjectv2:BucketObjectv2": {"key": _max_bytes(S3_OBJECT_KEY_BYTES, "S3 object key naming")},
    "aws:secretsmanager/secret:Secret": {
        "name": _secrets_manager_name,
        "description": _max_chars(SECRETS_MANAGER_DESCRIPTION_CHARS, "Secrets Manager CreateSecret Description"),
    },
    "aws:ssm/document:Document": {
        "name": _ssm_document_name,
        "content": _max_bytes(SSM_DOCUMENT_CONTENT_BYTES, "Systems Manager CreateDocument Content"),
    },
    "aws:ssm/parameter:Parameter": {"name": _ssm_parameter_name},
    "aws:autoscaling/group:Group": {
        "name": _max_chars(AUTOSCALING_GROUP_CHARS, "Auto Scaling CreateAutoScalingGroup AutoScalingGroupName")
    },
    # GCP ------------------------------------------------------------------------------------------
    "gcp:cloudrunv2/service:Service": {"name": _rfc1035(CLOUD_RUN_NAME_CHARS, "Cloud Run service names")},
    "gcp:cloudrunv2/job:Job": {"name": _rfc1035(CLOUD_RUN_NAME_CHARS, "Cloud Run job names")},
    "gcp:cloudrunv2/workerPool:WorkerPool": {"name": _rfc1035(CLOUD_RUN_NAME_CHARS, "Cloud Run worker pool names")},
    "gcp:serviceaccount/account:Account": {
        "accountId": _service_account_id,
        "displayName": _max_bytes(SERVICE_ACCOUNT_DISPLAY_NAME_CHARS, "IAM ServiceAccount displayName"),
        "description": _max_bytes(SERVICE_ACCOUNT_DESCRIPTION_BYTES, "pulumi_gcp serviceaccount.Account description"),
    },
    "gcp:sql/databaseInstance:DatabaseInstance": {
        "name": _rfc1035(CLOUD_SQL_QUALIFIED_NAME_CHARS, "Cloud SQL instance ID"),
    },
    "gcp:redis/instance:Instance": {"name": _memorystore_id},
    "gcp:secretmanager/secret:Secret": {"secretId": _secret_manager_id},
    "gcp:storage/bucket:Bucket": {"name": _gcs_bucket},
    "gcp:artifactregistry/repository:Repository": {"repositoryId": _artifact_registry_id},
    "gcp:compute/network:Network": {"name": _rfc1035(GCP_RESOURCE_NAME_CHARS, "pulumi_gcp compute.Network name")},
    "gcp:compute/subnetwork:Subnetwork": {
        "name": _rfc1035(GCP_RESOURCE_NAME_CHARS, "pulumi_gcp compute.Subnetwork name")
    },
    "gcp:compute/globalAddress:GlobalAddress": {
        "name": _rfc1035(GCP_RESOURCE_NAME_CHARS, "pulumi_gcp compute.GlobalAddress name")
    },
}
"""Type token -> input property -> rule. Only properties the program sets (or auto-names) apply."""

AUTONAMED: dict[str, tuple[str, bool]] = {
    "aws:rds/instance:Instance": ("identifier", True),
    "aws:rds/subnetGroup:SubnetGroup": ("name", True),
    "aws:rds/parameterGroup:ParameterGroup": ("name", True),
    "aws:elasticache/replicationGroup:ReplicationGroup": ("replicationGroupId", True),
    "aws:elasticache/subnetGroup:SubnetGroup": ("name", True),
    "aws:lb/loadBalancer:LoadBalancer": ("name", False),
    "aws:lb/targetGroup:TargetGroup": ("name", False),
    "aws:iam/role:Role": ("name", False),
    "aws:iam/instanceProfile:InstanceProfile": ("name", False),
    "aws:iam/rolePolicy:RolePolicy": ("name", False),
    "aws:iam/policy:Policy": ("name", False),
    "aws:ec2/securityGroup:SecurityGroup": ("name", False),
    "aws:ec2/launchTemplate:LaunchTemplate": ("name", False),
    "aws:s3/bucket:Bucket": ("bucket", True),
    "aws:secretsmanager/secret:Secret": ("name", False),
    "aws:ssm/document:Document": ("name", False),
    "aws:autoscaling/group:Group": ("name", False),
    "aws:ssm/parameter:Parameter": ("name", False),
}
"""Types whose physical name Pulumi makes when the program sets none: (property, lower-cased by the
provider). The name checked is ``<logical name>-<7 hex>``."""


def physical_name(resource: Registered, prop: str) -> str | None:
    """The value ``prop`` reaches the API with: the input, or Pulumi's auto-name for it."""
    value = resource.inputs.get(prop)
    if isinstance(value, str):
        return value
    auto = AUTONAMED.get(resource.type)
    if auto is not None and auto[0] == prop and value is None:
        name = f"{resource.name}-{'0' * (AUTONAME_SUFFIX - 1)}"
        return name.lower() if auto[1] else name
    return None


# --------------------------------------------------------------------------------------------------
# Checks across properties: sizes, tags, labels, policies, environment
# --------------------------------------------------------------------------------------------------


def _user_data(resource: Registered) -> Iterator[Breach]:
    if resource.type not in ("aws:ec2/launchTemplate:LaunchTemplate", "aws:ec2/instance:Instance"):
        return
    for prop in ("userData", "userDataBase64"):
        value = resource.inputs.get(prop)
        if not isinstance(value, str) or not _known(value):
            continue
        raw: bytes
        if resource.type == "aws:ec2/launchTemplate:LaunchTemplate" or prop == "userDataBase64":
            try:
                raw = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                yield Breach(resource.type, resource.name, prop, "is not valid base64 (EC2 expects base64 user data)")
                continue
        else:
            raw = value.encode()
        if len(raw) > EC2_USER_DATA_RAW_BYTES:
            yield Breach(
                resource.type,
                resource.name,
                prop,
                f"is {len(raw)} bytes raw; EC2 allows at most {EC2_USER_DATA_RAW_BYTES} "
                "(EC2 User Guide, instance user data: 16 KB before base64)",
            )


def _ssm_parameter_value(resource: Registered) -> Iterator[Breach]:
    if resource.type != "aws:ssm/parameter:Parameter":
        return
    value = resource.inputs.get("value", resource.inputs.get("insecureValue"))
    tier = str(resource.inputs.get("tier") or "Standard")
    limit = SSM_PARAMETER_VALUE_BYTES.get(tier, SSM_PARAMETER_VALUE_BYTES["Advanced"])
    if isinstance(value, str) and _known(value) and len(value.encode()) > limit:
        yield Breach(
            resource.type,
            resource.name,
            "value",
            f"is {len(value.encode())} bytes; the {tier} tier holds at most {limit} (Systems Manager parameter tiers)",
        )


def _tag_pairs(resource: Registered) -> Iterator[tuple[str, dict[str, str]]]:
    """(property, tags) for every tag set the resource carries."""
    tags = resource.inputs.get("tags")
    if isinstance(tags, Mapping):
        yield "tags", {str(k): str(v) for k, v in tags.items()}
    elif isinstance(tags, list):  # Auto Scaling group tags: [{key, value, propagateAtLaunch}]
        yield "tags", {str(t.get("key")): str(t.get("value")) for t in tags if isinstance(t, Mapping)}
    for index, spec in enumerate(resource.inputs.get("tagSpecifications") or []):
        if isinstance(spec, Mapping) and isinstance(spec.get("tags"), Mapping):
            yield f"tagSpecifications[{index}].tags", {str(k): str(v) for k, v in spec["tags"].items()}


def _tags(resource: Registered, default_tags: Mapping[str, str]) -> Iterator[Breach]:
    if not resource.type.startswith("aws:") or not resource.custom:
        return
    for prop, own in _tag_pairs(resource):
        merged = {**default_tags, **own}
        limit = S3_OBJECT_TAGS if resource.type.startswith("aws:s3/bucketObject") else AWS_TAGS_PER_RESOURCE
        source = "S3 object tagging" if limit == S3_OBJECT_TAGS else "AWS tagging limits"
        if len(merged) > limit:
            yield Breach(
                resource.type,
                resource.name,
                prop,
                f"has {len(merged)} tags with the provider's default tags; at most {limit} ({source})",
            )
        for key, value in sorted(merged.items()):
            if not 1 <= len(key) <= AWS_TAG_KEY_CHARS:
                yield Breach(
                    resource.type,
                    resource.name,
                    f"{prop}[{key[:40]!r}]",
                    f"key is {len(key)} characters; allowed 1-{AWS_TAG_KEY_CHARS} (AWS tagging limits)",
                )
            if key.lower().startswith("aws:"):
                yield Breach(resource.type, resource.name, f"{prop}[{key!r}]", "key uses the reserved prefix 'aws:'")
            if len(value) > AWS_TAG_VALUE_CHARS:
                yield Breach(
                    resource.type,
                    resource.name,
                    f"{prop}[{key!r}]",
                    f"value is {len(value)} characters; at most {AWS_TAG_VALUE_CHARS} (AWS tagging limits)",
                )


def _labels(resource: Registered) -> Iterator[Breach]:
    if not resource.type.startswith("gcp:"):
        return
    for prop, labels in _label_sets(resource.inputs):
        source = "GCP label requirements"
        if len(labels) > GCP_LABELS:
            yield Breach(
                resource.type, resource.name, prop, f"has {len(labels)} labels; at most {GCP_LABELS} ({source})"
            )
        for key, value in sorted(labels.items()):
            if not GCP_LABEL_KEY.fullmatch(key):
                yield Breach(
                    resource.type,
                    resource.name,
                    f"{prop}[{key[:40]!r}]",
                    f"key is not allowed: 1-63 of [a-z0-9_-], a lowercase letter first ({source})",
                )
            if not GCP_LABEL_VALUE.fullmatch(str(value)):
                yield Breach(
                    resource.type,
                    resource.name,
                    f"{prop}[{key!r}]",
                    f"value {_show(str(value))} is not allowed: 0-63 of [a-z0-9_-] ({source})",
                )


def _label_sets(inputs: Mapping[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    for key, value in inputs.items():
        here = f"{path}.{key}" if path else key
        if key == "labels" and isinstance(value, Mapping):
            yield here, dict(value)
        elif key == "template" and isinstance(value, Mapping):
            yield from _label_sets(value, here)


def _policy_chars(document: Any) -> int:
    text = document if isinstance(document, str) else json.dumps(document)
    return len(re.sub(r"\s", "", text))


def _policies(recording: Recording) -> Iterator[Breach]:
    inline: dict[str, list[Registered]] = {}
    for resource in recording.resources:
        if resource.type == "aws:iam/rolePolicy:RolePolicy":
            role = resource.inputs.get("role")
            inline.setdefault(str(role), []).append(resource)
        elif resource.type == "aws:iam/policy:Policy":
            size = _policy_chars(resource.inputs.get("policy", ""))
            if size > IAM_MANAGED_POLICY_CHARS:
                yield Breach(
                    resource.type,
                    resource.name,
                    "policy",
                    f"is {size} characters without white space; a managed policy is at most "
                    f"{IAM_MANAGED_POLICY_CHARS} (IAM and AWS STS quotas)",
                )
        elif resource.type == "aws:iam/role:Role" and resource.inputs.get("assumeRolePolicy") is not None:
            size = _policy_chars(resource.inputs["assumeRolePolicy"])
            if size > IAM_TRUST_POLICY_CHARS:
                yield Breach(
                    resource.type,
                    resource.name,
                    "assumeRolePolicy",
                    f"is {size} characters without white space; a trust policy is at most "
                    f"{IAM_TRUST_POLICY_CHARS} (IAM and AWS STS quotas)",
                )
    for policies in inline.values():
        total = sum(_policy_chars(p.inputs.get("policy", "")) for p in policies)
        if total > IAM_INLINE_ROLE_POLICY_CHARS:
            last = policies[-1]
            yield Breach(
                last.type,
                last.name,
                "policy",
                f"brings the role's inline policies to {total} characters without white space; at most "
                f"{IAM_INLINE_ROLE_POLICY_CHARS} per role (IAM and AWS STS quotas)",
            )


def _certificate(resource: Registered) -> Iterator[Breach]:
    if resource.type != "aws:acm/certificate:Certificate":
        return
    first = resource.inputs.get("domainName")
    sans = [str(s) for s in resource.inputs.get("subjectAlternativeNames") or []]
    source = "ACM RequestCertificate"
    if isinstance(first, str) and len(first.encode()) > ACM_COMMON_NAME_OCTETS:
        yield Breach(
            resource.type,
            resource.name,
            "domainName",
            f"{_show(first)} is {len(first.encode())} octets; the first name is at most "
            f"{ACM_COMMON_NAME_OCTETS} ({source})",
        )
    for index, san in enumerate(sans):
        if len(san.encode()) > ACM_SAN_OCTETS:
            yield Breach(
                resource.type,
                resource.name,
                f"subjectAlternativeNames[{index}]",
                f"is {len(san.encode())} octets; at most {ACM_SAN_OCTETS} ({source})",
            )
    names = len(set(sans) | ({first} if first else set()))
    if names > ACM_NAMES_PER_CERTIFICATE:
        yield Breach(
            resource.type,
            resource.name,
            "subjectAlternativeNames",
            f"makes {names} domain names; ACM allows {ACM_NAMES_PER_CERTIFICATE} per certificate (ACM quotas)",
        )


def _containers(value: Any, path: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    if isinstance(value, Mapping):
        for key, child in value.items():
            here = f"{path}.{key}" if path else key
            if key == "containers" and isinstance(child, list):
                for index, container in enumerate(child):
                    if isinstance(container, Mapping):
                        yield f"{here}[{index}]", container
            else:
                yield from _containers(child, here)


def _cloud_run(resource: Registered) -> Iterator[Breach]:
    if not resource.type.startswith("gcp:cloudrunv2/"):
        return
    for path, container in _containers(resource.inputs, ""):
        envs = [e for e in container.get("envs") or [] if isinstance(e, Mapping)]
        if len(envs) > CLOUD_RUN_ENV_VARS:
            yield Breach(
                resource.type,
                resource.name,
                f"{path}.envs",
                f"has {len(envs)} variables; at most {CLOUD_RUN_ENV_VARS} per container "
                "(Cloud Run environment variables)",
            )
        for env in envs:
            name = str(env.get("name", ""))
            if not CLOUD_RUN_ENV_NAME.fullmatch(name):
                yield Breach(
                    resource.type,
                    resource.name,
                    f"{path}.envs[{name[:40]!r}]",
                    "name is not a C identifier (Cloud Run ContainerEnv name)",
                )
            value = env.get("value")
            if isinstance(value, str) and len(value) > CLOUD_RUN_ENV_VALUE_CHARS:
                yield Breach(
                    resource.type,
                    resource.name,
                    f"{path}.envs[{name!r}].value",
                    f"is {len(value)} characters; at most {CLOUD_RUN_ENV_VALUE_CHARS} (Cloud Run ContainerEnv value)",
                )
    if resource.type == "gcp:cloudrunv2/job:Job":
        job_name = resource.inputs.get("name")
        token = resource.inputs.get("runExecutionToken")
        if (
            isinstance(job_name, str)
            and isinstance(token, str)
            and len(job_name) + len(token) >= CLOUD_RUN_EXECUTION_CHARS
        ):
            yield Breach(
                resource.type,
                resource.name,
                "name + runExecutionToken",
                f"are {len(job_name) + len(token)} characters together; fewer than {CLOUD_RUN_EXECUTION_CHARS} "
                "(pulumi_gcp cloudrunv2.Job run_execution_token)",
            )


def _cloud_sql(resource: Registered) -> Iterator[Breach]:
    if resource.type != "gcp:sql/databaseInstance:DatabaseInstance":
        return
    name, project = resource.inputs.get("name"), resource.inputs.get("project")
    if isinstance(name, str) and isinstance(project, str):
        qualified = f"{project}:{name}"
        if len(qualified) > CLOUD_SQL_QUALIFIED_NAME_CHARS:
            yield Breach(
                resource.type,
                resource.name,
                "project:name",
                f"{_show(qualified)} is {len(qualified)} characters; at most {CLOUD_SQL_QUALIFIED_NAME_CHARS} "
                "(Cloud SQL instance ID)",
            )


def _names(resource: Registered) -> Iterator[Breach]:
    for prop, rule in NAME_RULES.get(resource.type, {}).items():
        value = physical_name(resource, prop)
        if value is None or not _known(value):
            continue
        problem = rule(value)
        if problem:
            shown = prop if resource.inputs.get(prop) is not None else f"{prop} (auto-named)"
            yield Breach(resource.type, resource.name, shown, problem)


def _default_tags(recording: Recording) -> dict[str, dict[str, str]]:
    """Provider reference (``urn::id``) -> the AWS provider's default tags."""
    result: dict[str, dict[str, str]] = {}
    for resource in recording.resources:
        if resource.type == "pulumi:providers:aws":
            # Provider inputs reach the engine as JSON text.
            raw = resource.inputs.get("defaultTags") or {}
            parsed = json.loads(raw) if isinstance(raw, str) else raw
            tags = (parsed.get("tags") if isinstance(parsed, Mapping) else None) or {}
            result[f"{resource.urn}::{resource.id}"] = {str(k): str(v) for k, v in tags.items()}
    return result


PER_RESOURCE: tuple[Callable[[Registered], Iterator[Breach]], ...] = (
    _names,
    _user_data,
    _ssm_parameter_value,
    _labels,
    _certificate,
    _cloud_run,
    _cloud_sql,
)


def check_recording(recording: Recording) -> list[Breach]:
    """Every breach of a documented limit in what the program registered (empty: all within)."""
    defaults = _default_tags(recording)
    breaches: list[Breach] = []
    for resource in recording.resources:
        if not resource.custom:
            continue
        for rule in PER_RESOURCE:
            breaches.extend(rule(resource))
        breaches.extend(_tags(resource, defaults.get(str(resource.options.get("provider", "")), {})))
    breaches.extend(_policies(recording))
    return breaches


def require_within_limits(recording: Recording) -> None:
    """Raise ``CloudLimitsError`` listing every breach, if any."""
    breaches = check_recording(recording)
    if breaches:
        raise CloudLimitsError(breaches)
