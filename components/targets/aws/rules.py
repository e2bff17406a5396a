"""Pure decisions for the AWS target: subnet carving, instance-class capabilities, AWS-only checks.

Nothing here creates resources or calls AWS, so every rule is testable without Pulumi.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...settings.errors import SettingsError
from ...settings.rules import cloud_service_problems

if TYPE_CHECKING:  # rules read the settings' types only
    from ...settings.stack import StackSettings
    from ...settings.targets import AwsEc2Target

REFUSED_KEYS: dict[str, str] = {}
"""Keys of other targets this one refuses with a hint (none: see ``djangostack.validation``)."""

SUBNET_SLOT_BITS = 4
"""The network CIDR is cut into 2**4 = 16 equal slots: public subnets take slots 0-5 and private
subnets slots 8-13 (``network.azCount`` is at most 6). Fixed slots keep every existing subnet's
range unchanged when ``azCount`` grows, so adding an AZ never replaces a subnet."""

PRIVATE_SLOT_OFFSET = 8

CANONICAL_OWNER_ID = "099720109477"
"""Canonical's AWS account, the publisher of the official Ubuntu AMIs."""

UBUNTU_AMI_NAMES: dict[str, str] = {
    "ubuntu-24.04": "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-{arch}-server-*",
    "ubuntu-22.04": "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-{arch}-server-*",
}
"""``target.os`` -> the name pattern of Canonical's server AMIs of that release (``arch`` is amd64 or
arm64). Canonical names its images ``ubuntu/images/<virt>-<volume>/ubuntu-<codename>-<release>-<arch>-server-<serial>``
and publishes Noble on gp3 volumes and Jammy on gp2 ("Find Ubuntu images on AWS",
https://documentation.ubuntu.com/aws/en/latest/aws-how-to/instances/find-ubuntu-images/); the
launch template sets its own gp3 root volume either way."""

UBUNTU_AMI_NAME = UBUNTU_AMI_NAMES["ubuntu-24.04"]
"""The default release's pattern (Ubuntu 24.04 LTS, Noble)."""

AWS_HOST_OSES = tuple(UBUNTU_AMI_NAMES)
"""The ``target.os`` values aws-ec2 can boot. Debian's own AMIs (account 136693071363,
https://wiki.debian.org/Cloud/AmazonEC2Image) ship neither the SSM Agent nor snapd, and the
release path needs both: Run Command reaches the host through the agent, and the host installs
the AWS CLI as a snap. AWS lists Ubuntu Server among the AMIs with the agent preinstalled, as a snap
(https://docs.aws.amazon.com/systems-manager/latest/userguide/ami-preinstalled-agent.html)."""


def ami_name_pattern(host_os: str, arch: str) -> str:
    """The AMI name filter of ``target.os`` on ``arch`` (amd64 or arm64)."""
    return UBUNTU_AMI_NAMES[host_os].format(arch=arch)


def launch_template_name(prefix: str, host_os: str) -> str:
    """The launch template's logical name: ``<prefix>-web`` on the default OS, ``<prefix>-web-<os>``
    on another. The template ignores later changes of its AMI (a newer image of the same release
    never rolls the hosts), so a change of ``target.os`` must make a new template, whose lookup then
    finds that release's image, rather than an update that would keep the old one."""
    return f"{prefix}-web" if host_os == "ubuntu-24.04" else f"{prefix}-web-{host_os.replace('.', '')}"


RDS_CA_CERT = "rds-ca-rsa2048-g1"
"""The RDS certificate authority the instance's server certificate is signed by."""

REDIS_ENGINE_VERSION = "7.1"

# --------------------------------------------------------------------------------------------------
# Cloud limits found by the review of the aws-ec2 target (pure; meant to join the cloud-limits layer)
# --------------------------------------------------------------------------------------------------

AUTOSCALING_GROUP_TYPE = "aws:autoscaling/group:Group"

HEALTHY_PERCENTAGE_MIN_RANGE = (0, 100)
HEALTHY_PERCENTAGE_MAX_RANGE = (100, 200)
HEALTHY_PERCENTAGE_MAX_GAP = 100
"""EC2 Auto Scaling API reference, RefreshPreferences and InstanceMaintenancePolicy
(https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_RefreshPreferences.html,
https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_InstanceMaintenancePolicy.html):
MinHealthyPercentage is 0-100, MaxHealthyPercentage is 100-200, and the difference between them
cannot be greater than 100. StartInstanceRefresh rejects anything else, after the migration ran."""


def healthy_percentage_problems(min_healthy: int | None, max_healthy: int | None, where: str) -> list[str]:
    """Problems with one min/max healthy percentage pair (instance refresh or maintenance policy).

    ``where`` names the setting in the messages. A max without a min is checked against the API's
    default min (90); a min without a max leaves the refresh at its default max of 100.
    """
    problems: list[str] = []
    low, high = HEALTHY_PERCENTAGE_MIN_RANGE
    if min_healthy is not None and not low <= min_healthy <= high:
        problems.append(f"{where}.minHealthyPercentage: {min_healthy} is outside {low}-{high}")
    low, high = HEALTHY_PERCENTAGE_MAX_RANGE
    if max_healthy is not None and not low <= max_healthy <= high:
        problems.append(f"{where}.maxHealthyPercentage: {max_healthy} is outside {low}-{high}")
    if max_healthy is not None:
        effective_min = 90 if min_healthy is None else min_healthy
        if max_healthy - effective_min > HEALTHY_PERCENTAGE_MAX_GAP:
            problems.append(
                f"{where}: maxHealthyPercentage {max_healthy} minus minHealthyPercentage {effective_min} is "
                f"{max_healthy - effective_min}; EC2 Auto Scaling allows a gap of at most "
                f"{HEALTHY_PERCENTAGE_MAX_GAP} (e.g. min 100 / max 200)"
            )
    return problems


def autoscaling_group_limit_problems(inputs: Mapping[str, Any]) -> list[str]:
    """Cloud-limit check for the inputs of an ``aws:autoscaling/group:Group`` (provider camelCase
    names, as the mocks engine records them): both healthy-percentage pairs."""
    problems: list[str] = []
    refresh = inputs.get("instanceRefresh") or {}
    preferences = refresh.get("preferences") or {}
    if preferences:
        problems += healthy_percentage_problems(
            preferences.get("minHealthyPercentage"),
            preferences.get("maxHealthyPercentage"),
            "instanceRefresh.preferences",
        )
    policy = inputs.get("instanceMaintenancePolicy") or {}
    if policy:
        problems += healthy_percentage_problems(
            policy.get("minHealthyPercentage"), policy.get("maxHealthyPercentage"), "instanceMaintenancePolicy"
        )
    return problems


RDS_SNAPSHOT_IDENTIFIER_MAX = 255
"""RDS API reference, CreateDBSnapshot, DBSnapshotIdentifier
(https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBSnapshot.html): 1-255
letters, digits or hyphens; the first character a letter; no trailing hyphen and no two
consecutive hyphens. RDS stores it in lowercase."""

RDS_MANUAL_SNAPSHOT_QUOTA = 100
"""Default quota of manual DB snapshots per Region and account (RDS User Guide, "Quotas in Amazon
RDS"); the pre-release snapshots kept per stack must fit well inside it."""


def rds_snapshot_identifier_problems(identifier: str, where: str = "DBSnapshotIdentifier") -> list[str]:
    """Problems with an RDS DB snapshot identifier (empty when valid)."""
    problems: list[str] = []
    if not 1 <= len(identifier) <= RDS_SNAPSHOT_IDENTIFIER_MAX:
        problems.append(f"{where}: {len(identifier)} characters; RDS allows 1-{RDS_SNAPSHOT_IDENTIFIER_MAX}")
    if not re.fullmatch(r"[A-Za-z0-9-]*", identifier):
        problems.append(f"{where}: {identifier!r} may hold only letters, digits and hyphens")
    if identifier and not (identifier[0].isascii() and identifier[0].isalpha()):
        problems.append(f"{where}: {identifier!r} must start with a letter")
    if identifier.endswith("-") or "--" in identifier:
        problems.append(f"{where}: {identifier!r} must not end with a hyphen or hold two hyphens in a row")
    return problems


PRE_RELEASE_SNAPSHOT_INFIX = "-pre-release-"


def pre_release_snapshot_prefix(db_instance_identifier: str) -> str:
    """Prefix of every pre-release snapshot of one RDS instance (what pruning looks for)."""
    return f"{db_instance_identifier.lower()}{PRE_RELEASE_SNAPSHOT_INFIX}"


def pre_release_snapshot_identifier(db_instance_identifier: str, release_id: str) -> str:
    """The one manual RDS snapshot taken before ``release_id`` migrates.

    ``<db identifier>-pre-release-<release id as letters/digits/hyphens>-<8 hex of the release id>``:
    dots and underscores become hyphens, runs of hyphens collapse, and the hash keeps two release
    ids that differ only in punctuation (``1.2`` and ``1-2``) apart. Raises ``ValueError`` when the
    result breaks an RDS identifier rule (an invalid instance identifier).
    """
    slug = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9]+", "-", release_id.lower())).strip("-")
    digest = hashlib.sha256(release_id.encode("utf-8")).hexdigest()[:8]
    identifier = f"{pre_release_snapshot_prefix(db_instance_identifier)}{slug}-{digest}"
    identifier = re.sub(r"-{2,}", "-", identifier)
    problems = rds_snapshot_identifier_problems(identifier)
    if problems:
        raise ValueError("; ".join(problems))
    return identifier


@dataclass(frozen=True)
class SubnetPlan:
    """CIDR blocks for the public and private subnet of each AZ, index = AZ position."""

    public: tuple[str, ...]
    private: tuple[str, ...]


def plan_subnets(cidr: str, az_count: int) -> SubnetPlan:
    """Carve ``az_count`` public and ``az_count`` private subnets out of ``cidr``."""
    network = ipaddress.ip_network(cidr, strict=True)
    if not 1 <= az_count <= PRIVATE_SLOT_OFFSET:
        raise ValueError(f"az_count must be between 1 and {PRIVATE_SLOT_OFFSET}, got {az_count}")
    slots = list(network.subnets(prefixlen_diff=SUBNET_SLOT_BITS))
    return SubnetPlan(
        public=tuple(str(slots[i]) for i in range(az_count)),
        private=tuple(str(slots[PRIVATE_SLOT_OFFSET + i]) for i in range(az_count)),
    )


def instance_architecture(instance_type: str) -> str:
    """``arm64`` for Graviton families (a ``g`` after the generation digit: t4g, m7g), else amd64.

    The AMI must match the CPU, so the Ubuntu image filter uses this.
    """
    family = instance_type.split(".", 1)[0]
    generation_suffix = family.lstrip("abcdefghijklmnopqrstuvwxyz").lstrip("0123456789")
    return "arm64" if generation_suffix.startswith("g") else "amd64"


_NO_PERFORMANCE_INSIGHTS = {
    "t2": None,  # no t2 class supports it
    "t3": ("micro", "small"),
    "t4g": ("micro", "small"),
}


def performance_insights_supported(db_instance_class: str) -> bool:
    """Whether RDS PostgreSQL offers Performance Insights on ``db_instance_class``.

    AWS excludes every db.t2 class and the micro and small sizes of db.t3 and db.t4g; enabling it
    there makes the create call fail, so the database component switches it off for them.
    """
    _, family, size = db_instance_class.split(".", 2)
    if family not in _NO_PERFORMANCE_INSIGHTS:
        return True
    excluded = _NO_PERFORMANCE_INSIGHTS[family]
    return excluded is not None and size not in excluded


def aws_target(settings: StackSettings) -> AwsEc2Target:
    """The settings' target, narrowed to ``AwsEc2Target`` (the caller checked the kind)."""
    target = settings.target
    if target.kind != "aws-ec2":
        raise TypeError(f"expected the aws-ec2 target, got {target.kind!r}")
    return target


def max_instances(target: AwsEc2Target) -> int:
    """Auto Scaling upper bound: ``target.maxInstances``, else twice ``instances``."""
    return target.max_instances if target.max_instances is not None else 2 * target.instances


def check_settings(settings: StackSettings) -> None:
    """Raise ``SettingsError`` with every AWS-only problem (``djangostack.validation.validate`` already
    ran these; ``deploy`` calls it again before any resource is registered)."""
    lines = problems(settings)
    if lines:
        raise SettingsError(lines)


def combination_problems(settings: StackSettings) -> list[str]:
    """Services and TLS shapes the aws-ec2 target cannot serve, one line each."""
    found = cloud_service_problems(settings)
    instances = aws_target(settings).instances
    if settings.media.storage not in ("s3",):
        found.append(
            f"djangostack:media.storage: the aws-ec2 target stores media in S3 (got {settings.media.storage!r}); use s3"
        )
    if settings.domain.tls is not None and settings.domain.tls.mode == "managed":
        found.append(
            "djangostack:domain.tls.mode: 'managed' is for gcp-cloudrun (got 'managed'); use acm or letsencrypt"
        )
    host_os = aws_target(settings).os
    if host_os not in AWS_HOST_OSES:
        found.append(
            f"djangostack:target.os: {host_os!r} cannot run on aws-ec2: the hosts boot Canonical's Ubuntu AMIs, "
            "whose SSM Agent and snapd the release path needs (Debian's AMIs ship neither); use "
            f"{' or '.join(AWS_HOST_OSES)}, or the server target for a Debian host"
        )
    if instances > 1 and settings.domain.names and settings.domain.tls and settings.domain.tls.mode != "acm":
        found.append(
            f"djangostack:domain.tls.mode: behind a load balancer (instances > 1) certificates come from ACM "
            f"(got {settings.domain.tls.mode!r}); use acm"
        )
    return found


def problems(settings: StackSettings, stack: str | None = None) -> list[str]:
    """AWS-only combinations, one line each (part of ``djangostack.validation.validate``)."""
    target = aws_target(settings)
    found: list[str] = []
    network = settings.network
    if target.instances > 1 and network.mode == "create" and network.nat == "none":
        found.append(
            f"djangostack:network.nat: 'none' leaves the Auto Scaling group's private subnets without "
            f"outbound internet (packages, AWS APIs) while target.instances is {target.instances}; "
            "use single or per-az"
        )
    reference = network.reference
    if network.mode == "reference" and reference is not None and reference.cidr is not None:
        own = ipaddress.ip_network(network.cidr)
        ref = ipaddress.ip_network(reference.cidr)
        if own != ref and own.overlaps(ref):
            found.append(
                f"djangostack:network.cidr: {own} overlaps the referenced network "
                f"{ref} ({reference.stack}) without being it; set network.cidr to {ref} "
                "or to a range that does not overlap it"
            )
    tls = settings.domain.tls
    if target.instances > 1 and (not settings.domain.names or tls is None or tls.mode != "acm"):
        found.append(
            f"djangostack:domain: target.instances is {target.instances}, so an ALB serves the site and "
            "needs an ACM certificate for HTTPS (an ALB cannot serve HTTPS on its own name); set "
            "domain.names and domain.tls.mode: acm"
        )
    if tls is not None and tls.mode == "letsencrypt" and not settings.domain.names:
        found.append(
            "djangostack:domain.tls.mode: letsencrypt issues certificates for DNS names only; "
            "set domain.names or use self-signed"
        )
    if target.instances == 1 and tls is not None and tls.mode == "acm":
        found.append(
            "djangostack:domain.tls.mode: acm certificates are served by a load balancer, which a single "
            "instance does not have; use letsencrypt (or set target.instances above 1)"
        )
    if target.instances > 1 and settings.backups.pre_release and settings.backups.keep > RDS_MANUAL_SNAPSHOT_QUOTA // 4:
        found.append(
            f"djangostack:backups.keep: {settings.backups.keep} pre-release RDS snapshots would use more than a "
            f"quarter of the account's default quota of {RDS_MANUAL_SNAPSHOT_QUOTA} manual snapshots per "
            f"Region; use at most {RDS_MANUAL_SNAPSHOT_QUOTA // 4}"
        )
    if target.instances > 1:
        # The ALB and target group are auto-named "<app>-<env>-app-alb-<7 random>": AWS caps both
        # names at 32 characters.
        longest = len(f"{settings.app.name}-{settings.environment}-app-alb") + 8
        if longest > 32:
            found.append(
                f"djangostack:app.name: {settings.app.name!r} is too long for the load balancer's name "
                f"(AWS allows 32 characters, this needs {longest}); use at most "
                f"{len(settings.app.name) - (longest - 32)} characters"
            )
    return found
