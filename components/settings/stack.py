"""Stack settings: the single source of truth for every setting of a stack.

``StackSettings`` holds one model per concern (the sibling modules). Settings are read once, from
Pulumi config or from a stack file (``settings.loading``), and validated by ``validation.validate``
before any resource exists. Invalid input raises ``SettingsError`` whose ``lines`` name the full
config key, the bad value and what is allowed, one line per problem.

Config layout (namespace ``djangostack``): one object key per concern (``app``, ``web``,
``database``, ``cache``, ``media``, ``celery``, ``domain``, ``network``, ``backups``,
``observability``), the ``target`` object discriminated by ``kind``, the plain ``environment`` key,
and the secret string keys in ``SECRET_KEYS`` which must be set with ``pulumi config set --secret``.
Config keys are camelCase, as Pulumi's own are.
"""

from __future__ import annotations

from typing import Any

from pydantic import (
    model_validator,
)

from .app import AppSettings
from .celery import CelerySettings
from .data import BackupSettings, CacheSettings, DatabaseSettings, MediaSettings
from .defaults import ENVIRONMENT_DEFAULTS
from .domain import DomainSettings
from .fields import Environment, SettingsModel
from .network import NetworkSettings
from .observability import ObservabilitySettings
from .targets import Target
from .web import WebSettings

# --------------------------------------------------------------------------------------------------
# The whole stack
# --------------------------------------------------------------------------------------------------

SECRET_KEYS: dict[str, str] = {
    "secretKey": "Django SECRET_KEY; generated (on the host or in the cloud) when unset",
    "databasePassword": "password of the app's role on a local PostgreSQL; generated on the host when unset",
    "databaseUrl": "postgres:// URL of an external database (database.mode: external)",
    "redisPassword": "requirepass of a local Redis; generated on the host when unset",
    "redisUrl": "redis:// URL of an external Redis (cache.mode: external)",
    "sentryDsn": "Sentry DSN (observability.sentry: true)",
    "sshPrivateKey": "private key the deploy user logs in with (server target)",
}
"""Secret config keys and what each is for. Each must be set with ``pulumi config set --secret``."""

CONCERN_KEYS = (
    "app",
    "web",
    "database",
    "cache",
    "media",
    "celery",
    "domain",
    "network",
    "backups",
    "observability",
)


class StackSettings(SettingsModel):
    """Everything a stack says, validated. Built only by the loaders below."""

    environment: Environment
    """dev, staging or prod: picks the environment defaults (deletion protection, backups, sizes, HSTS)."""
    target: Target
    """Where the stack runs: an object with `kind` and that target's settings."""
    app: AppSettings
    web: WebSettings = WebSettings()
    database: DatabaseSettings = DatabaseSettings()
    cache: CacheSettings = CacheSettings()
    media: MediaSettings = MediaSettings()
    celery: CelerySettings = CelerySettings()
    domain: DomainSettings = DomainSettings()
    network: NetworkSettings = NetworkSettings()
    backups: BackupSettings = BackupSettings()
    observability: ObservabilitySettings = ObservabilitySettings()
    secrets_present: frozenset[str] = frozenset()
    """Which SECRET_KEYS the stack sets (values never enter this model)."""

    @model_validator(mode="before")
    @classmethod
    def _apply_environment_defaults(cls, data: Any) -> Any:
        """Fill keys the stack leaves out from the environment's typed defaults."""
        return apply_environment_defaults(data)


def apply_environment_defaults(data: Any) -> Any:
    """Fill keys the stack leaves out from the environment's typed defaults (the one place they are
    applied: ``StackSettings`` runs it before validation, the settings reference probes it)."""
    if not isinstance(data, dict) or data.get("environment") not in ENVIRONMENT_DEFAULTS:
        return data
    env = ENVIRONMENT_DEFAULTS[data["environment"]]
    data = dict(data)
    database = data.get("database", {})
    if isinstance(database, dict):
        database = dict(database)
        database.setdefault("backupRetentionDays", env.backup_retention_days)
        database.setdefault("deletionProtection", env.deletion_protection)
        database.setdefault("multiAz", env.multi_az)
        data["database"] = database
    web = data.get("web", {})
    if isinstance(web, dict):
        web = dict(web)
        web.setdefault("hstsSeconds", env.hsts_seconds)
        data["web"] = web
    target = data.get("target")
    if isinstance(target, dict):
        target = dict(target)
        if target.get("kind") == "aws-ec2":
            target.setdefault("dbInstanceClass", env.aws_db_instance_class)
            target.setdefault("cacheNodeType", env.aws_cache_node_type)
        elif target.get("kind") == "gcp-cloudrun":
            target.setdefault("dbTier", env.gcp_db_tier)
            target.setdefault("minInstances", env.gcp_min_instances)
        data["target"] = target
    return data
