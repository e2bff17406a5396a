"""What the managed data services in the private subnets share (RDS PostgreSQL, ElastiCache Redis):
their placement (subnets, security groups), maintenance window and tags, and the subnet group
that keeps them off every subnet routed to the internet."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import pulumi

SubnetGroup = TypeVar("SubnetGroup", bound=pulumi.CustomResource)


@dataclass(frozen=True, kw_only=True)
class PrivateServiceArgs:
    """Inputs every private data service takes."""

    subnet_ids: pulumi.Input[list[str]]
    """Private subnets only: the service never sits in a subnet routed to the internet."""
    security_group_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    maintenance_window: str
    """Weekly window for the provider's patches (``ddd:hh:mm-ddd:hh:mm``, UTC)."""
    tags: dict[str, str] = field(default_factory=dict)


def private_subnet_group(
    kind: Callable[..., SubnetGroup], name: str, args: PrivateServiceArgs, opts: pulumi.ResourceOptions
) -> SubnetGroup:
    """The service's subnet group (``aws.rds.SubnetGroup`` or ``aws.elasticache.SubnetGroup``) over
    ``args.subnet_ids``, named ``<name>-subnets``."""
    return kind(
        f"{name}-subnets",
        subnet_ids=args.subnet_ids,
        description=f"{name}: private subnets",
        tags=args.tags,
        opts=opts,
    )
