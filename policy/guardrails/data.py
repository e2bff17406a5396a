"""Databases and caches: no public endpoint, encrypted at rest and in transit, protected in production."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .base import Context, Guardrail, StackGuardrail, StackResource, StackViolation, as_list, as_number, dig, is_true
from .network import is_open_cidr
from .resource_types import (
    CLOUD_SQL,
    ELASTICACHE_CLUSTER,
    ELASTICACHE_REPLICATION_GROUP,
    MEMORYSTORE,
    RDS_CLUSTER,
    RDS_CLUSTER_INSTANCE,
    RDS_CLUSTER_PARAMETER_GROUP,
    RDS_INSTANCE,
    RDS_PARAMETER_GROUP,
)


def _check_public_database(resource_type: str, props: Mapping[str, Any], context: Context) -> list[str]:
    if resource_type in {RDS_INSTANCE, RDS_CLUSTER_INSTANCE}:
        if is_true(props.get("publiclyAccessible")):
            return ["publiclyAccessible is true: the database gets a public endpoint; set it to false"]
        return []
    if resource_type == CLOUD_SQL:
        problems = []
        ip_config = dig(props, "settings.ipConfiguration") or {}
        if dig(ip_config, "ipv4Enabled") is not False:
            problems.append(
                "settings.ipConfiguration.ipv4Enabled is not false: the instance gets a public IPv4 address "
                "(the provider's default); set ipv4Enabled false and connect over privateNetwork"
            )
        for network in as_list(dig(ip_config, "authorizedNetworks")):
            value = dig(network, "value") if isinstance(network, Mapping) else network
            if is_open_cidr(value):
                problems.append(f"settings.ipConfiguration.authorizedNetworks allows {value}: anyone may connect")
        return problems
    return []


def _check_database_encryption(resource_type: str, props: Mapping[str, Any], context: Context) -> list[str]:
    if resource_type in {RDS_INSTANCE, RDS_CLUSTER} and not is_true(props.get("storageEncrypted")):
        return ["storageEncrypted is not true: the database storage, its backups and snapshots are unencrypted"]
    return []


def _check_cache_encryption(resource_type: str, props: Mapping[str, Any], context: Context) -> list[str]:
    if resource_type == ELASTICACHE_REPLICATION_GROUP and not is_true(props.get("atRestEncryptionEnabled")):
        return ["atRestEncryptionEnabled is not true: Redis snapshots and swap are unencrypted"]
    if resource_type == ELASTICACHE_CLUSTER and str(props.get("engine", "")).lower() in {"redis", "valkey"}:
        return [
            "a single-node ElastiCache Cluster cannot encrypt Redis at rest; "
            "use a ReplicationGroup with atRestEncryptionEnabled"
        ]
    return []


def _check_redis_in_transit(resource_type: str, props: Mapping[str, Any], context: Context) -> list[str]:
    if resource_type in {ELASTICACHE_REPLICATION_GROUP, ELASTICACHE_CLUSTER}:
        if resource_type == ELASTICACHE_CLUSTER and str(props.get("engine", "")).lower() not in {"redis", "valkey"}:
            return []
        if not is_true(props.get("transitEncryptionEnabled")):
            return [
                "transitEncryptionEnabled is not true: Redis traffic (and its AUTH token) would cross the VPC in clear"
            ]
        return []
    if resource_type == MEMORYSTORE:
        problems = []
        if props.get("transitEncryptionMode") != "SERVER_AUTHENTICATION":
            problems.append(
                f"transitEncryptionMode is {props.get('transitEncryptionMode')!r}: set SERVER_AUTHENTICATION (TLS)"
            )
        if not is_true(props.get("authEnabled")):
            problems.append("authEnabled is not true: any client on the network can use Redis without a password")
        return problems
    return []


CLOUD_SQL_SSL_MODES = frozenset({"ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"})


def _force_ssl(props: Mapping[str, Any]) -> str | None:
    """The value the parameter group gives ``rds.force_ssl``, or None when it does not set it."""
    for parameter in as_list(props.get("parameters")):
        if dig(parameter, "name") == "rds.force_ssl":
            return str(dig(parameter, "value"))
    return None


def _check_postgres_tls(resource_type: str, props: Mapping[str, Any], context: Context) -> list[str]:
    if resource_type == CLOUD_SQL:
        if not str(props.get("databaseVersion", "POSTGRES")).upper().startswith("POSTGRES"):
            return []
        ip_config = dig(props, "settings.ipConfiguration") or {}
        ssl_mode = dig(ip_config, "sslMode")
        if ssl_mode in CLOUD_SQL_SSL_MODES or (ssl_mode is None and is_true(dig(ip_config, "requireSsl"))):
            return []
        return [
            f"settings.ipConfiguration.sslMode is {ssl_mode!r}: set ENCRYPTED_ONLY (or "
            "TRUSTED_CLIENT_CERTIFICATE_REQUIRED) so unencrypted connections are refused"
        ]
    if resource_type in {RDS_PARAMETER_GROUP, RDS_CLUSTER_PARAMETER_GROUP}:
        family = str(props.get("family", ""))
        value = _force_ssl(props)
        if family.startswith(("postgres", "aurora-postgresql")) and value is not None and value != "1":
            return [f"sets rds.force_ssl to {value}: PostgreSQL would accept unencrypted connections; set it to 1"]
    return []


def _check_rds_uses_force_ssl(resources: Sequence[StackResource], context: Context) -> list[StackViolation]:
    """Every PostgreSQL RDS instance uses a parameter group of this stack that sets rds.force_ssl=1."""
    by_urn = {r.urn: r for r in resources}
    groups = [r for r in resources if r.type == RDS_PARAMETER_GROUP]
    violations = []
    for db in resources:
        if db.type != RDS_INSTANCE or not str(db.props.get("engine", "")).startswith("postgres"):
            continue
        group_name = db.props.get("parameterGroupName")
        used = [by_urn[u] for u in db.property_dependencies.get("parameterGroupName", frozenset()) if u in by_urn]
        used += [g for g in groups if group_name is not None and g.props.get("name") == group_name and g not in used]
        if not used:
            violations.append(
                StackViolation(
                    db.urn,
                    f"uses parameter group {group_name!r}, which is not one of this stack's parameter groups: "
                    "create one with rds.force_ssl=1 and set parameterGroupName to it",
                )
            )
        elif not any(_force_ssl(g.props) == "1" for g in used):
            violations.append(
                StackViolation(
                    db.urn,
                    f"its parameter group {used[0].name} does not set rds.force_ssl=1: clients may connect without TLS",
                )
            )
    return violations


def _check_prod_database_protection(resource_type: str, props: Mapping[str, Any], context: Context) -> list[str]:
    if not context.is_prod:
        return []
    minimum = context.min_backup_retention_days
    problems = []
    if resource_type in {RDS_INSTANCE, RDS_CLUSTER}:
        days = as_number(props.get("backupRetentionPeriod"))
        if days is None or days < minimum:
            problems.append(
                f"backupRetentionPeriod is {props.get('backupRetentionPeriod')}: keep at least {minimum} days"
            )
        if not is_true(props.get("deletionProtection")):
            problems.append("deletionProtection is not true on a production database")
        if is_true(props.get("skipFinalSnapshot")):
            problems.append("skipFinalSnapshot is true on a production database: a delete would leave no snapshot")
    elif resource_type == CLOUD_SQL:
        backups = dig(props, "settings.backupConfiguration") or {}
        if not is_true(dig(backups, "enabled")):
            problems.append("settings.backupConfiguration.enabled is not true")
        retained = as_number(dig(backups, "backupRetentionSettings.retainedBackups"))
        # Cloud SQL takes one automated backup a day, so a count is a number of days.
        if retained is None or retained < minimum:
            problems.append(
                f"settings.backupConfiguration.backupRetentionSettings.retainedBackups is {retained}: "
                f"keep at least {minimum} daily backups"
            )
        if props.get("deletionProtection") is False:
            problems.append("deletionProtection is false: Pulumi would delete the production database")
        if not is_true(dig(props, "settings.deletionProtectionEnabled")):
            problems.append("settings.deletionProtectionEnabled is not true: the instance can be deleted in GCP")
    return problems


GUARDRAILS: tuple[Guardrail, ...] = (
    Guardrail(
        "no-public-database",
        "Databases have no public endpoint: RDS publiclyAccessible false; Cloud SQL without a public IPv4 "
        "address or a 0.0.0.0/0 authorized network.",
        _check_public_database,
        frozenset({RDS_INSTANCE, RDS_CLUSTER_INSTANCE, CLOUD_SQL}),
    ),
    Guardrail(
        "database-encrypted-at-rest",
        "RDS instances and clusters set storageEncrypted.",
        _check_database_encryption,
        frozenset({RDS_INSTANCE, RDS_CLUSTER}),
    ),
    Guardrail(
        "cache-encrypted-at-rest",
        "ElastiCache Redis replication groups set atRestEncryptionEnabled.",
        _check_cache_encryption,
        frozenset({ELASTICACHE_REPLICATION_GROUP, ELASTICACHE_CLUSTER}),
    ),
    Guardrail(
        "redis-encrypted-in-transit",
        "ElastiCache sets transitEncryptionEnabled; Memorystore uses SERVER_AUTHENTICATION and AUTH.",
        _check_redis_in_transit,
        frozenset({ELASTICACHE_REPLICATION_GROUP, ELASTICACHE_CLUSTER, MEMORYSTORE}),
    ),
    Guardrail(
        "postgres-requires-tls",
        "Cloud SQL PostgreSQL refuses unencrypted connections (sslMode); RDS parameter groups never turn "
        "rds.force_ssl off.",
        _check_postgres_tls,
        frozenset({CLOUD_SQL, RDS_PARAMETER_GROUP, RDS_CLUSTER_PARAMETER_GROUP}),
    ),
    Guardrail(
        "prod-database-protection",
        "In production, databases keep backups for at least 7 days and have deletion protection on.",
        _check_prod_database_protection,
        frozenset({RDS_INSTANCE, RDS_CLUSTER, CLOUD_SQL}),
    ),
)

STACK_GUARDRAILS: tuple[StackGuardrail, ...] = (
    StackGuardrail(
        "rds-parameter-group-forces-ssl",
        "Every PostgreSQL RDS instance uses a parameter group of this stack that sets rds.force_ssl=1.",
        _check_rds_uses_force_ssl,
    ),
)
