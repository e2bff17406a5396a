"""The ``aws-ec2`` target's ``HostEdge``: an EC2 instance behind its security group, maybe an ALB."""

from __future__ import annotations

from ...host.context import HostEdge
from ...settings.stack import StackSettings
from ...settings.targets import AwsEc2Target

EC2_SSH_USER = "ubuntu"
"""The login user of Canonical's Ubuntu AMIs."""


def ec2_edge(settings: StackSettings) -> HostEdge:
    """The load balancer terminates TLS with an ACM certificate or in front of a fleet; otherwise
    Nginx does (Let's Encrypt or self-signed). The security group is the firewall (ufw off), and the
    VPC's range is the proxy Nginx trusts. RDS takes its own snapshots."""
    target = settings.target
    if not isinstance(target, AwsEc2Target):
        raise ValueError(f"target kind {target.kind!r} is not aws-ec2")
    tls = settings.domain.tls.mode if settings.domain.tls else None
    reference = settings.network.reference
    return HostEdge(
        kind="aws-ec2",
        tls_mode="load-balancer"
        if tls == "acm" or target.instances > 1
        else ("letsencrypt" if tls == "letsencrypt" else "self-signed"),
        trusted_proxy_cidrs=(reference.cidr if reference and reference.cidr else settings.network.cidr,),
        ssh_user=EC2_SSH_USER,
        releases_to_keep=target.releases_to_keep,
        region=target.region,
        database_snapshots=True,
        # The instances boot Canonical's Ubuntu AMI of target.os (rules.py here).
        host_os=target.os,
    )
