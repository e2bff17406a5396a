"""RedisCache: an ElastiCache for Redis replication group in the private subnets.

Creates:
- an AUTH token (``pulumi_random.RandomPassword``, 48 alphanumerics so it needs no URL escaping;
  a Pulumi secret, never in config);
- a cache subnet group over the private subnets;
- the replication group: Redis 7.x, TLS in transit (clients must use ``rediss://``) with the AUTH
  token, encryption at rest, ``1 + replicas`` nodes; with replicas, automatic failover and Multi-AZ;
  daily snapshots kept ``snapshot_retention_days``; automatic minor upgrades.

``url`` (``rediss://:<token>@<primary endpoint>:<port>/0``) is a secret output. ``target.deploy``
skips this component entirely when ``cache.mode`` is ``none``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from .private_service import PrivateServiceArgs, private_subnet_group
from .rules import REDIS_ENGINE_VERSION


@dataclass(frozen=True, kw_only=True)
class RedisCacheArgs(PrivateServiceArgs):
    """Inputs of ``RedisCache``."""

    node_type: str
    """e.g. ``cache.t4g.small``."""
    replicas: int = 0
    """Read replicas next to the primary; > 0 enables automatic failover and Multi-AZ."""
    port: int = 6379
    snapshot_retention_days: int = 1
    maintenance_window: str = "sun:04:00-sun:05:00"


class RedisCache(pulumi.ComponentResource):
    """Encrypted Redis with an AUTH token, for Django's cache and the Celery broker."""

    address: pulumi.Output[str]
    """Primary endpoint host name."""
    port: pulumi.Output[int]
    url: pulumi.Output[str]
    """``rediss://:<token>@host:port/0`` (secret)."""
    group: aws.elasticache.ReplicationGroup

    def __init__(self, name: str, args: RedisCacheArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("djangostack:aws:RedisCache", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        token = random.RandomPassword(
            f"{name}-auth-token",
            length=48,
            special=False,
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["result"]),
        )
        subnets = private_subnet_group(aws.elasticache.SubnetGroup, name, args, child)
        highly_available = args.replicas > 0
        self.group = aws.elasticache.ReplicationGroup(
            f"{name}-redis",
            description=f"{name}: Django cache and Celery broker",
            engine="redis",
            engine_version=REDIS_ENGINE_VERSION,
            node_type=args.node_type,
            num_cache_clusters=1 + args.replicas,
            automatic_failover_enabled=highly_available,
            multi_az_enabled=highly_available,
            port=args.port,
            subnet_group_name=subnets.name,
            security_group_ids=args.security_group_ids,
            at_rest_encryption_enabled=True,
            transit_encryption_enabled=True,
            auth_token=token.result,
            auto_minor_version_upgrade=True,
            snapshot_retention_limit=args.snapshot_retention_days,
            snapshot_window="02:00-03:00",
            maintenance_window=args.maintenance_window,
            tags=args.tags,
            opts=child,
        )
        self.address = self.group.primary_endpoint_address
        self.port = self.group.port.apply(lambda p: int(p) if p is not None else args.port)
        self.url = pulumi.Output.secret(
            pulumi.Output.format("rediss://:{0}@{1}:{2}/0", token.result, self.address, self.port)
        )
        self.register_outputs({"address": self.address, "port": self.port, "url": self.url})
