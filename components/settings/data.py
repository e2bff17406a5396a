"""Data services: ``database``, ``cache``, ``media`` and ``backups``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    Field,
    model_validator,
)

from .fields import Port, SettingsModel


class DatabaseSettings(SettingsModel):
    """PostgreSQL: on the host, external (a URL secret), or managed by the cloud target."""

    mode: Literal["local", "external", "managed"] = "managed"
    """local: PostgreSQL on the host; external: the secret databaseUrl; managed: the cloud target's
    database (RDS, Cloud SQL)."""
    name: Annotated[str, Field(max_length=100, pattern=r"^[a-z_][a-z0-9_]{0,62}$")] = "app"
    """Database name."""
    user: Annotated[str, Field(max_length=100, pattern=r"^[a-z_][a-z0-9_]{0,62}$")] = "app"
    """The app's database role."""
    port: Port = 5432
    """PostgreSQL port; local: the port of the app's own cluster on the host."""
    version: Literal["14", "15", "16", "17"] = "16"
    """PostgreSQL major version."""
    storage_gb: Annotated[int, Field(ge=10, le=16384)] = 20
    """Managed database storage, in GB."""
    max_storage_gb: Annotated[int, Field(ge=10, le=65536)] = 100
    """Upper bound for managed storage autoscaling, in GB."""
    backup_retention_days: Annotated[int, Field(ge=1, le=35)] | None = None
    """Managed backups kept, in days; unset: 1 in dev, 7 in staging, 14 in prod."""
    deletion_protection: bool | None = None
    """Unset: on in prod only."""
    multi_az: bool | None = None
    """High availability (Multi-AZ / regional); unset: on in prod only."""
    maintenance_window: Annotated[
        str,
        Field(
            max_length=19,
            pattern=r"^(mon|tue|wed|thu|fri|sat|sun):\d\d:\d\d-(mon|tue|wed|thu|fri|sat|sun):\d\d:\d\d$",
        ),
    ] = "sun:03:00-sun:04:00"
    """Managed database maintenance window (UTC), ddd:hh:mm-ddd:hh:mm."""
    conn_max_age_seconds: Annotated[int, Field(ge=0, le=3600)] = 60
    """Django CONN_MAX_AGE: seconds a database connection is reused."""
    sslmode: Literal["disable", "prefer", "require", "verify-full"] = "require"
    """libpq sslmode of the app's database connections."""

    @model_validator(mode="after")
    def _storage_fits(self) -> DatabaseSettings:
        if self.max_storage_gb < self.storage_gb:
            raise ValueError(f"maxStorageGb: {self.max_storage_gb} must be at least storageGb ({self.storage_gb})")
        return self


class CacheSettings(SettingsModel):
    """Redis for the cache and the Celery broker."""

    mode: Literal["none", "local", "external", "managed"] = "managed"
    """none: no Redis; local: Redis on the host; external: the secret redisUrl; managed: the cloud target's Redis."""
    port: Port = 6379
    """Redis port; local: the port of the app's own Redis instance on the host."""
    replicas: Annotated[int, Field(ge=0, le=5)] = 0
    """Managed Redis read replicas (AWS; more than 0 enables failover)."""
    memory_gb: Annotated[int, Field(ge=1, le=300)] = 1
    """Managed Redis memory, in GB (Memorystore)."""


class MediaSettings(SettingsModel):
    """User uploads: a local directory served by Nginx, or a private bucket."""

    storage: Literal["local", "s3", "gcs"] = "local"
    """Where uploads go: the host's disk, an S3 bucket or a GCS bucket."""
    bucket_name: Annotated[str, Field(max_length=100, pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")] | None = None
    """Physical bucket name; unset: derived from the stack."""
    noncurrent_version_days: Annotated[int, Field(ge=1, le=3650)] = 30
    """Days an overwritten or deleted object's old version is kept in the bucket."""


class BackupSettings(SettingsModel):
    """Database dumps taken on the host before every migration."""

    pre_release: bool = True
    """Dump the database on the host before every migration."""
    keep: Annotated[int, Field(ge=1, le=365)] = 10
    """How many pre-release dumps stay on the host."""
