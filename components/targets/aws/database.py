"""PostgresDatabase: RDS PostgreSQL in the private subnets.

Creates:
- a DB subnet group over the private subnets only;
- a parameter group for the major version with ``rds.force_ssl=1`` (plaintext connections refused);
- the RDS instance: never publicly accessible, gp3 storage encrypted at rest, storage autoscaling up
  to ``max_storage_gb``, Multi-AZ, backups kept ``backup_retention_days`` in a fixed window that does
  not overlap the maintenance window, automatic minor upgrades, snapshots carrying the tags, the
  RDS CA certificate pinned, Performance Insights where the class supports it
  (``djangostack.targets.aws.rules.performance_insights_supported``).

The master password is managed by RDS in Secrets Manager (``manage_master_user_password``): no
password exists in config, in Pulumi state or in this program. ``master_secret_arn`` is the secret
the hosts read at boot and release (JSON ``{"username", "password"}``).

With ``deletion_protection`` (prod by default) the instance also gets AWS deletion protection, a
final snapshot on delete (``<name>-final``), automated backups kept after deletion, and Pulumi's
``protect``. Without it (dev/staging) the stack can be torn down cleanly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from .private_service import PrivateServiceArgs, private_subnet_group
from .rules import RDS_CA_CERT, performance_insights_supported

BACKUP_WINDOW = "01:00-01:30"
"""Daily backup window (UTC); ``database.maintenanceWindow`` defaults to Sunday 03:00-04:00."""


@dataclass(frozen=True, kw_only=True)
class PostgresDatabaseArgs(PrivateServiceArgs):
    """Inputs of ``PostgresDatabase``."""

    instance_class: str
    """e.g. ``db.t4g.medium``; decides whether Performance Insights is available."""
    version: str
    """PostgreSQL major version (``16``); minors are picked and upgraded by RDS."""
    db_name: str
    username: str
    """Master user (password managed and rotated by RDS); the app connects as its own role, see
    ``djangostack.targets.aws.host_integration.app_db_user``."""
    port: int = 5432
    storage_gb: int = 20
    max_storage_gb: int = 100
    """Storage autoscaling ceiling, in GiB."""
    backup_retention_days: int = 7
    multi_az: bool = False
    deletion_protection: bool = True
    maintenance_window: str = "sun:03:00-sun:04:00"


class PostgresDatabase(pulumi.ComponentResource):
    """A private, encrypted RDS PostgreSQL instance whose password RDS manages."""

    address: pulumi.Output[str]
    """Host name of the instance (private DNS)."""
    port: pulumi.Output[int]
    db_name: pulumi.Output[str]
    username: pulumi.Output[str]
    master_secret_arn: pulumi.Output[str]
    """Secrets Manager ARN of the RDS-managed master credentials."""
    instance: aws.rds.Instance
    """The RDS instance (for dependencies such as the release step)."""

    def __init__(self, name: str, args: PostgresDatabaseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("djangostack:aws:PostgresDatabase", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        subnets = private_subnet_group(aws.rds.SubnetGroup, name, args, child)
        parameters = aws.rds.ParameterGroup(
            f"{name}-params",
            family=f"postgres{args.version}",
            description=f"{name}: TLS required",
            parameters=[
                aws.rds.ParameterGroupParameterArgs(name="rds.force_ssl", value="1", apply_method="pending-reboot"),
            ],
            tags=args.tags,
            opts=child,
        )
        insights = performance_insights_supported(args.instance_class)
        protected = args.deletion_protection
        final_snapshot: pulumi.Input[str] | None = None
        if protected:
            # A fixed name would collide with the snapshot a previous incarnation of this stack
            # left behind; the suffix is drawn once per database and kept in state.
            suffix = random.RandomId(f"{name}-final-snapshot", byte_length=4, opts=pulumi.ResourceOptions(parent=self))
            final_snapshot = pulumi.Output.concat(name, "-final-", suffix.hex)
        self.instance = aws.rds.Instance(
            f"{name}-postgres",
            engine="postgres",
            engine_version=args.version,
            instance_class=args.instance_class,
            db_name=args.db_name,
            username=args.username,
            manage_master_user_password=True,
            port=args.port,
            db_subnet_group_name=subnets.name,
            vpc_security_group_ids=args.security_group_ids,
            parameter_group_name=parameters.name,
            publicly_accessible=False,
            storage_type="gp3",
            storage_encrypted=True,
            allocated_storage=args.storage_gb,
            max_allocated_storage=args.max_storage_gb,
            multi_az=args.multi_az,
            backup_retention_period=args.backup_retention_days,
            backup_window=BACKUP_WINDOW,
            maintenance_window=args.maintenance_window,
            auto_minor_version_upgrade=True,
            allow_major_version_upgrade=False,
            copy_tags_to_snapshot=True,
            ca_cert_identifier=RDS_CA_CERT,
            performance_insights_enabled=insights,
            performance_insights_retention_period=7 if insights else None,
            deletion_protection=protected,
            skip_final_snapshot=not protected,
            final_snapshot_identifier=final_snapshot,
            delete_automated_backups=not protected,
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self, protect=protected),
        )
        self.address = self.instance.address
        self.port = self.instance.port
        self.db_name = pulumi.Output.from_input(args.db_name)
        self.username = pulumi.Output.from_input(args.username)
        self.master_secret_arn = self.instance.master_user_secrets.apply(_first_secret_arn)
        self.register_outputs(
            {
                "address": self.address,
                "port": self.port,
                "dbName": self.db_name,
                "masterSecretArn": self.master_secret_arn,
            }
        )


def _first_secret_arn(secrets: Sequence[aws.rds.outputs.InstanceMasterUserSecret] | None) -> str:
    if not secrets:
        raise ValueError("RDS returned no master user secret although manage_master_user_password is set")
    arn = secrets[0].secret_arn
    if arn is None:
        raise ValueError("the RDS master user secret has no ARN")
    return arn
