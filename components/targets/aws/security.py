"""SecurityGroups: who may talk to whom, one security group per tier, rules as separate resources.

Creates (every rule a ``aws.vpc.SecurityGroupIngressRule`` / ``SecurityGroupEgressRule``, so a
changed rule never rewrites a whole group):
- ``alb`` (only when ``scaled``): 80 and 443 from 0.0.0.0/0 and ::/0; egress 80 to the web group.
- ``web``: 80 and 443 from the ALB group when scaled, from 0.0.0.0/0 and ::/0 when single (certbot
  and the site itself); 22 only from ``admin_cidrs`` (no rule at all when the list is empty:
  administrators use Session Manager); egress 80/443 to the internet (packages, AWS APIs, ACME,
  Sentry), 5432 to the database group and 6379 to the cache group. Nothing else leaves the host.
- ``db``: 5432 from the web group only; no egress (security groups are stateful).
- ``cache`` (only when ``with_cache``): 6379 from the web group only; no egress.

AWS adds an allow-all egress rule to new groups; the provider removes it, so only the rules listed
here exist.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Literal

import pulumi
import pulumi_aws as aws

WORLD_V4 = "0.0.0.0/0"
WORLD_V6 = "::/0"


@dataclass(frozen=True)
class SecurityGroupsArgs:
    """Inputs of ``SecurityGroups``."""

    vpc_id: pulumi.Input[str]
    scaled: bool
    """True when an ALB fronts several instances (web traffic only through the ALB)."""
    admin_cidrs: tuple[str, ...] = ()
    """Sources allowed to SSH; empty: port 22 stays closed."""
    db_port: int = 5432
    cache_port: int = 6379
    with_cache: bool = True
    tags: dict[str, str] = field(default_factory=dict)


class SecurityGroups(pulumi.ComponentResource):
    """The security groups of the load balancer, the web hosts, the database and the cache."""

    alb_id: pulumi.Output[str] | None
    """Load balancer group (None with a single instance)."""
    web_id: pulumi.Output[str]
    """Group of the EC2 web hosts."""
    db_id: pulumi.Output[str]
    """Group of the RDS instance."""
    cache_id: pulumi.Output[str] | None
    """Group of the ElastiCache replication group (None without a cache)."""

    def __init__(self, name: str, args: SecurityGroupsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("djangostack:aws:SecurityGroups", name, None, opts)
        self._name = name
        self._args = args
        web = self._group("web", "Django web hosts (Nginx + Gunicorn)")
        db = self._group("db", "PostgreSQL, reachable from the web hosts only")
        cache = self._group("cache", "Redis, reachable from the web hosts only") if args.with_cache else None
        alb = self._group("alb", "Public load balancer") if args.scaled else None

        if alb is not None:
            for port in (80, 443):
                self._rule("ingress", f"alb-{port}-v4", alb, port, cidr_ipv4=WORLD_V4)
                self._rule("ingress", f"alb-{port}-v6", alb, port, cidr_ipv6=WORLD_V6)
            self._rule("egress", "alb-to-web-80", alb, 80, referenced=web)
            for port in (80, 443):
                self._rule("ingress", f"web-{port}-from-alb", web, port, referenced=alb)
        else:
            for port in (80, 443):
                self._rule("ingress", f"web-{port}-v4", web, port, cidr_ipv4=WORLD_V4)
                self._rule("ingress", f"web-{port}-v6", web, port, cidr_ipv6=WORLD_V6)
        for index, cidr in enumerate(args.admin_cidrs):
            network = ipaddress.ip_network(cidr)
            if network.prefixlen == 0:
                raise ValueError(f"SSH is never open to the world: admin CIDR {cidr} refused")
            if network.version == 4:
                self._rule("ingress", f"web-ssh-{index}", web, 22, cidr_ipv4=cidr)
            else:
                self._rule("ingress", f"web-ssh-{index}", web, 22, cidr_ipv6=cidr)
        for port in (80, 443):
            self._rule("egress", f"web-out-{port}-v4", web, port, cidr_ipv4=WORLD_V4)
            self._rule("egress", f"web-out-{port}-v6", web, port, cidr_ipv6=WORLD_V6)
        self._rule("egress", "web-to-db", web, args.db_port, referenced=db)
        self._rule("ingress", "db-from-web", db, args.db_port, referenced=web)
        if cache is not None:
            self._rule("egress", "web-to-cache", web, args.cache_port, referenced=cache)
            self._rule("ingress", "cache-from-web", cache, args.cache_port, referenced=web)

        self.web_id = web.id
        self.db_id = db.id
        self.cache_id = cache.id if cache is not None else None
        self.alb_id = alb.id if alb is not None else None
        self.register_outputs(
            {
                "webId": self.web_id,
                "dbId": self.db_id,
                "cacheId": self.cache_id,
                "albId": self.alb_id,
            }
        )

    def _group(self, role: str, description: str) -> aws.ec2.SecurityGroup:
        return aws.ec2.SecurityGroup(
            f"{self._name}-{role}",
            vpc_id=self._args.vpc_id,
            description=description,
            tags={**self._args.tags, "Name": f"{self._name}-{role}"},
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _rule(
        self,
        direction: Literal["ingress", "egress"],
        rule: str,
        group: aws.ec2.SecurityGroup,
        port: int,
        *,
        cidr_ipv4: str | None = None,
        cidr_ipv6: str | None = None,
        referenced: aws.ec2.SecurityGroup | None = None,
    ) -> None:
        """One TCP port into or out of ``group``, one source or destination (a CIDR or another
        group), named after ``rule``."""
        kind = aws.vpc.SecurityGroupIngressRule if direction == "ingress" else aws.vpc.SecurityGroupEgressRule
        kind(
            f"{self._name}-{rule}",
            security_group_id=group.id,
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            cidr_ipv4=cidr_ipv4,
            cidr_ipv6=cidr_ipv6,
            referenced_security_group_id=referenced.id if referenced is not None else None,
            description=rule,
            opts=pulumi.ResourceOptions(parent=self),
        )
