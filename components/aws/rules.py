"""Pure decisions for the AWS target: subnet carving, instance-class capabilities, AWS-only checks.

Nothing here creates resources or calls AWS, so every rule is testable without Pulumi.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING

from components.errors import SettingsError

if TYPE_CHECKING:  # the settings models call these rules, so only the type checker imports them
    from components.config import AwsEc2Target, StackSettings

SUBNET_SLOT_BITS = 4
"""The network CIDR is cut into 2**4 = 16 equal slots: public subnets take slots 0-5 and private
subnets slots 8-13 (``network.azCount`` is at most 6). Fixed slots keep every existing subnet's
range unchanged when ``azCount`` grows, so adding an AZ never replaces a subnet."""

PRIVATE_SLOT_OFFSET = 8

CANONICAL_OWNER_ID = "099720109477"
"""Canonical's AWS account, the publisher of the official Ubuntu AMIs."""

UBUNTU_AMI_NAME = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-{arch}-server-*"
"""Ubuntu 24.04 LTS (Noble) server images on gp3 root volumes; ``arch`` is amd64 or arm64."""

RDS_CA_CERT = "rds-ca-rsa2048-g1"
"""The RDS certificate authority the instance's server certificate is signed by."""

REDIS_ENGINE_VERSION = "7.1"


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
    """Raise ``SettingsError`` with every AWS-only problem (``components.config.validate`` already
    ran these; ``deploy`` calls it again before any resource is registered)."""
    lines = problems(settings)
    if lines:
        raise SettingsError(lines)


def problems(settings: StackSettings) -> list[str]:
    """AWS-only combinations, one line each (part of ``components.config.validate``)."""
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
