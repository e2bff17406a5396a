"""Environment defaults: typed sizings applied to keys the stack file leaves out."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EnvironmentDefaults:
    """What differs by environment when a stack does not say otherwise."""

    deletion_protection: bool
    backup_retention_days: int
    max_instances: int
    multi_az: bool
    aws_db_instance_class: str
    aws_cache_node_type: str
    gcp_db_tier: str
    gcp_min_instances: int
    hsts_seconds: int


ENVIRONMENT_DEFAULTS: dict[str, EnvironmentDefaults] = {
    "dev": EnvironmentDefaults(
        deletion_protection=False,
        backup_retention_days=1,
        max_instances=1,
        multi_az=False,
        aws_db_instance_class="db.t4g.micro",
        aws_cache_node_type="cache.t4g.micro",
        gcp_db_tier="db-g1-small",
        gcp_min_instances=0,
        hsts_seconds=300,
    ),
    "staging": EnvironmentDefaults(
        deletion_protection=False,
        backup_retention_days=7,
        max_instances=3,
        multi_az=False,
        aws_db_instance_class="db.t4g.small",
        aws_cache_node_type="cache.t4g.small",
        gcp_db_tier="db-custom-1-3840",
        gcp_min_instances=0,
        hsts_seconds=300,
    ),
    "prod": EnvironmentDefaults(
        deletion_protection=True,
        backup_retention_days=14,
        max_instances=20,
        multi_az=True,
        aws_db_instance_class="db.t4g.medium",
        aws_cache_node_type="cache.t4g.small",
        gcp_db_tier="db-custom-2-7680",
        gcp_min_instances=1,
        hsts_seconds=31536000,
    ),
}
