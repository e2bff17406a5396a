"""Cloud SQL for PostgreSQL, reachable on a private IP only.

Creates:
- the instance (``POSTGRES_<version>``, ENTERPRISE edition so shared-core and custom tiers are valid):
  no public IPv4, private IP in the stack's VPC, TLS required (``ENCRYPTED_ONLY``), daily backups with
  point-in-time recovery, REGIONAL availability when HA is on, a maintenance window, Query Insights,
  disk autoresize up to a ceiling, and deletion protection (both the provider flag and the Cloud SQL
  API flag) plus Pulumi ``protect`` when asked;
- the application database;
- the application role, whose password is a ``RandomPassword`` (kept secret in state, and otherwise
  only in Secret Manager inside DATABASE_URL — see ``secrets.py``).

TLS mode: ``ENCRYPTED_ONLY`` rather than ``TRUSTED_CLIENT_CERTIFICATE_REQUIRED``. The app reaches the
instance through the Cloud SQL connector socket that Cloud Run mounts at /cloudsql, which wraps every
connection in mTLS with short-lived certificates, so either mode holds for it. Requiring client
certificates would additionally force every other client (a psql over the private IP during an
incident, a pg_dump from a VM) to hold an instance-issued client key, which we would have to mint
and keep in Pulumi state; ENCRYPTED_ONLY still refuses any plaintext connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp
import pulumi_random as random


@dataclass(frozen=True)
class CloudSqlPostgresArgs:
    """Inputs of ``CloudSqlPostgres``. Sizes in GB, retention in days/backups."""

    project: str
    region: str
    network_id: pulumi.Input[str]
    """VPC the private IP lives in (private services access must already exist there)."""
    version: str
    """PostgreSQL major version, e.g. ``"16"``."""
    tier: str
    """Machine tier, e.g. ``db-custom-1-3840``."""
    disk_size_gb: int
    disk_autoresize_limit_gb: int
    """Autoresize never grows the disk beyond this."""
    high_availability: bool
    """REGIONAL (a standby in another zone, automatic failover) instead of ZONAL."""
    retained_backups: int
    """Daily automated backups kept."""
    deletion_protection: bool
    """Provider flag, Cloud SQL API flag and Pulumi ``protect`` on the instance and database."""
    maintenance_day: int
    """1 = Monday ... 7 = Sunday."""
    maintenance_hour: int
    """0-23, UTC."""
    database_name: str
    user_name: str
    requires: Sequence[pulumi.Resource] = field(default_factory=tuple)
    """APIs and the private services connection the instance waits for."""


class CloudSqlPostgres(pulumi.ComponentResource):
    """A private PostgreSQL instance with the app's database and role."""

    connection_name: pulumi.Output[str]
    """``project:region:instance``: what Cloud Run mounts under /cloudsql."""
    private_ip: pulumi.Output[str]
    """The instance's private address (for clients inside the VPC; the app uses the socket)."""
    database_name: pulumi.Output[str]
    user_name: pulumi.Output[str]
    password: pulumi.Output[str]
    """The app role's password (secret)."""
    instance: gcp.sql.DatabaseInstance

    def __init__(self, name: str, args: CloudSqlPostgresArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("djangostack:gcp:CloudSqlPostgres", name, None, opts)
        self.instance = self._create_instance(name, args)
        database = gcp.sql.Database(
            f"{name}-database",
            project=args.project,
            instance=self.instance.name,
            name=args.database_name,
            opts=pulumi.ResourceOptions(parent=self, protect=args.deletion_protection),
        )
        password = random.RandomPassword(
            f"{name}-app-password",
            length=32,
            # Letters and digits only: the password sits inside a URL (DATABASE_URL) unescaped.
            special=False,
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["result"]),
        )
        self.password = pulumi.Output.secret(password.result)
        user = gcp.sql.User(
            f"{name}-app-user",
            project=args.project,
            instance=self.instance.name,
            name=args.user_name,
            password=self.password,
            # A PostgreSQL role that owns tables cannot be dropped through the API; on destroy the
            # instance (or the database) goes anyway, so only stop tracking the role.
            deletion_policy="ABANDON",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[database]),
        )
        self.connection_name = self.instance.connection_name
        self.private_ip = self.instance.private_ip_address
        self.database_name = database.name
        self.user_name = user.name
        self.register_outputs(
            {
                "connectionName": self.connection_name,
                "privateIp": self.private_ip,
                "databaseName": self.database_name,
                "userName": self.user_name,
            }
        )

    def _create_instance(self, name: str, args: CloudSqlPostgresArgs) -> gcp.sql.DatabaseInstance:
        settings = gcp.sql.DatabaseInstanceSettingsArgs(
            tier=args.tier,
            edition="ENTERPRISE",
            availability_type="REGIONAL" if args.high_availability else "ZONAL",
            disk_type="PD_SSD",
            disk_size=args.disk_size_gb,
            disk_autoresize=True,
            disk_autoresize_limit=args.disk_autoresize_limit_gb,
            deletion_protection_enabled=args.deletion_protection,
            ip_configuration=gcp.sql.DatabaseInstanceSettingsIpConfigurationArgs(
                ipv4_enabled=False,
                private_network=args.network_id,
                ssl_mode="ENCRYPTED_ONLY",
            ),
            backup_configuration=gcp.sql.DatabaseInstanceSettingsBackupConfigurationArgs(
                enabled=True,
                point_in_time_recovery_enabled=True,
                start_time="02:00",
                # ENTERPRISE keeps at most 7 days of write-ahead log for point-in-time recovery.
                transaction_log_retention_days=min(args.retained_backups, 7),
                backup_retention_settings=gcp.sql.DatabaseInstanceSettingsBackupConfigurationBackupRetentionSettingsArgs(
                    retained_backups=args.retained_backups,
                    retention_unit="COUNT",
                ),
            ),
            maintenance_window=gcp.sql.DatabaseInstanceSettingsMaintenanceWindowArgs(
                day=args.maintenance_day,
                hour=args.maintenance_hour,
                update_track="stable",
            ),
            insights_config=gcp.sql.DatabaseInstanceSettingsInsightsConfigArgs(
                query_insights_enabled=True,
                record_application_tags=True,
                record_client_address=False,
            ),
            database_flags=[
                # Slow statements (over one second) land in Cloud Logging.
                gcp.sql.DatabaseInstanceSettingsDatabaseFlagArgs(name="log_min_duration_statement", value="1000"),
            ],
            user_labels={"app": name},
        )
        return gcp.sql.DatabaseInstance(
            f"{name}-instance",
            project=args.project,
            name=name,
            region=args.region,
            database_version=f"POSTGRES_{args.version}",
            deletion_protection=args.deletion_protection,
            settings=settings,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.requires), protect=args.deletion_protection),
        )
