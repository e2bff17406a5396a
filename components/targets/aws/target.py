"""The ``aws-ec2`` target: validate the AWS-only rules, then build every component and return the
stack outputs.

Creates an explicit ``aws.Provider`` for ``target.region`` (with default tags) and passes it to every
component, so the region comes from the validated settings and never from ambient config such as
``aws:region`` or ``AWS_REGION``. Then, in dependency order: ``Network``, ``SecurityGroups``,
``PostgresDatabase``, ``RedisCache`` (unless ``cache.mode`` is none), ``MediaBucket``, ``AppSecrets``,
``InstanceIdentity`` and ``DjangoOnEc2``.

Outputs (``djangostack.contract.outputs.StackOutputs``): ``databaseUrl`` carries no password, because Pulumi
never knows it (RDS manages it): ``postgres://<user>@<host>:<port>/<name>?sslmode=require``; the
password is in the RDS-managed secret whose ARN the hosts use. It is still exported as a secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from ...contract.outputs import StackOutputs
from ...host.artifact import source_release_id
from ...paths import project_dir
from ...settings.app import AppSettings
from ...settings.data import BackupSettings, CacheSettings, DatabaseSettings, MediaSettings
from ...settings.domain import DomainSettings
from ...settings.errors import SettingsError
from ...settings.fields import PROJECT
from ...settings.loading import StackSecrets
from ...settings.network import NetworkSettings
from ...settings.targets import AwsEc2Target
from ...settings.web import WebSettings
from .cache import RedisCache, RedisCacheArgs
from .database import PostgresDatabase, PostgresDatabaseArgs
from .django_on_ec2 import DjangoOnEc2, DjangoOnEc2Args, HostDescriber
from .identity import InstanceIdentity, InstanceIdentityArgs
from .network import Network, NetworkArgs, NetworkReferenceArgs
from .secrets import AppSecrets, AppSecretsArgs
from .security import SecurityGroups, SecurityGroupsArgs
from .storage import MediaBucket, MediaBucketArgs

SECRET_RECOVERY_DAYS = {"dev": 0, "staging": 7, "prod": 30}
"""Days a deleted Secrets Manager secret stays restorable (0: gone at once, so dev can be rebuilt)."""


@dataclass(frozen=True)
class AwsDeployArgs:
    """What the aws-ec2 target is built from: the sections of the settings it reads, and how the
    host layer describes a web host (``djangostack.stack.aws_args`` makes it from the settings)."""

    environment: str
    """``dev``, ``staging`` or ``prod``: secret recovery windows, bucket and load balancer protection."""
    target: AwsEc2Target
    """Region, instance and node types, instance count, SSH key."""
    app: AppSettings
    """The app: name, source, release id, health paths."""
    web: WebSettings
    """Gunicorn's timeouts (the load balancer follows them)."""
    network: NetworkSettings
    """The VPC to create or reference, its range, NAT and admin CIDRs."""
    database: DatabaseSettings
    """RDS: version, sizes, backups, protection, name and user."""
    cache: CacheSettings
    """ElastiCache when ``mode`` is managed: replicas, port."""
    media: MediaSettings
    """The media bucket's name and how long old versions stay."""
    domain: DomainSettings
    """Hostnames and the certificate (ACM, Let's Encrypt or self-signed)."""
    backups: BackupSettings
    """Pre-release snapshots on a fleet."""
    sentry: bool
    """Whether the app secret carries the Sentry DSN."""
    describe_host: HostDescriber
    """The host layer's description of a web host (with the target's ``HostEdge``)."""


def _source_release_id(app: AppSettings) -> str:
    """The release id of ``app.source``'s artifact (``app.releaseId`` unset): its content hash."""
    source = Path(app.source)
    try:
        return source_release_id(source if source.is_absolute() else project_dir() / source)
    except FileNotFoundError as exc:
        raise SettingsError([f"{PROJECT}:app.source: {exc}"]) from None


def stack_name(app_name: str, environment: str) -> str:
    """Prefix of every logical name: ``<app>-<environment>`` (a rename needs aliases)."""
    return f"{app_name}-{environment}"


def deploy(
    args: AwsDeployArgs, secrets: StackSecrets, parent_opts: pulumi.ResourceOptions | None = None
) -> StackOutputs:
    """Build the aws-ec2 target from ``args`` (validated settings: ``validation.validate`` ran the
    AWS rules). ``parent_opts`` (the root component's: its parent and aliases) applies to every
    resource created here: the provider and each top-level component."""
    app = args.app if args.app.release_id is not None else args.app.with_release_id(_source_release_id(args.app))
    target, environment = args.target, args.environment
    name = stack_name(app.name, environment)
    prod = environment == "prod"
    tags = {"app": app.name, "environment": environment, "managed-by": "pulumi"}
    provider = aws.Provider(
        f"{name}-aws",
        region=target.region,
        default_tags=aws.ProviderDefaultTagsArgs(tags=tags),
        opts=parent_opts,
    )
    opts = pulumi.ResourceOptions.merge(parent_opts, pulumi.ResourceOptions(providers=[provider]))

    network_settings = args.network
    reference = network_settings.reference
    network = Network(
        f"{name}-net",
        NetworkArgs(
            mode=network_settings.mode,
            cidr=network_settings.cidr,
            az_count=network_settings.az_count,
            nat=network_settings.nat,
            reference=(
                NetworkReferenceArgs(
                    stack=reference.stack,
                    vpc_id_output=reference.vpc_id_output,
                    public_subnet_ids_output=reference.public_subnet_ids_output,
                    private_subnet_ids_output=reference.private_subnet_ids_output,
                )
                if reference is not None
                else None
            ),
        ),
        opts,
    )
    with_cache = args.cache.mode == "managed"
    groups = SecurityGroups(
        f"{name}-sg",
        SecurityGroupsArgs(
            vpc_id=network.vpc_id,
            scaled=target.instances > 1,
            admin_cidrs=tuple(network_settings.admin_cidrs),
            db_port=args.database.port,
            cache_port=args.cache.port,
            with_cache=with_cache,
        ),
        opts,
    )
    database_settings = args.database
    assert database_settings.backup_retention_days is not None  # filled by the environment defaults
    database = PostgresDatabase(
        f"{name}-db",
        PostgresDatabaseArgs(
            subnet_ids=network.private_subnet_ids,
            security_group_ids=[groups.db_id],
            instance_class=target.db_instance_class or "db.t4g.micro",
            version=database_settings.version,
            db_name=database_settings.name,
            username=database_settings.user,
            port=database_settings.port,
            storage_gb=database_settings.storage_gb,
            max_storage_gb=database_settings.max_storage_gb,
            backup_retention_days=database_settings.backup_retention_days,
            multi_az=bool(database_settings.multi_az),
            deletion_protection=bool(database_settings.deletion_protection),
            maintenance_window=database_settings.maintenance_window,
        ),
        opts,
    )
    cache: RedisCache | None = None
    if with_cache:
        assert groups.cache_id is not None
        cache = RedisCache(
            f"{name}-cache",
            RedisCacheArgs(
                subnet_ids=network.private_subnet_ids,
                security_group_ids=[groups.cache_id],
                node_type=target.cache_node_type or "cache.t4g.micro",
                replicas=args.cache.replicas,
                port=args.cache.port,
                snapshot_retention_days=min(database_settings.backup_retention_days, 35),
            ),
            opts,
        )
    media = MediaBucket(
        f"{name}-media",
        MediaBucketArgs(
            noncurrent_version_days=args.media.noncurrent_version_days,
            bucket_name=args.media.bucket_name,
            protect=prod,
        ),
        opts,
    )
    app_secrets = AppSecrets(
        f"{name}-secrets",
        AppSecretsArgs(
            secret_key=secrets.get("secretKey"),
            redis_url=cache.url if cache is not None else None,
            sentry_dsn=secrets.get("sentryDsn") if args.sentry else None,
            recovery_window_days=SECRET_RECOVERY_DAYS[environment],
            database_app_password=True,
        ),
        opts,
    )
    identity = InstanceIdentity(
        f"{name}-identity",
        InstanceIdentityArgs(
            secret_arns=pulumi.Output.all(app_secrets.secret_arn, database.master_secret_arn).apply(list),
            bucket_arn=media.bucket_arn,
        ),
        opts,
    )
    web = DjangoOnEc2(
        f"{name}-app",
        DjangoOnEc2Args(
            environment=environment,
            target=target,
            app=app,
            web=args.web,
            domain=args.domain,
            backups=args.backups,
            database=database_settings,
            admin_cidrs=tuple(network_settings.admin_cidrs),
            describe_host=args.describe_host,
            vpc_id=network.vpc_id,
            public_subnet_ids=network.public_subnet_ids,
            private_subnet_ids=network.private_subnet_ids,
            web_security_group_id=groups.web_id,
            alb_security_group_id=groups.alb_id,
            instance_profile_name=identity.instance_profile_name,
            app_secret_arn=app_secrets.secret_arn,
            db_secret_arn=database.master_secret_arn,
            db_address=database.address,
            db_port=database.port,
            bucket_name=media.bucket_name,
            depends_on=(database, app_secrets, identity),
            ssh_private_key=secrets.get("sshPrivateKey"),
            host_tags=tags,
            db_instance_identifier=database.instance.identifier,
        ),
        opts,
    )
    database_url: pulumi.Output[str] = pulumi.Output.secret(
        pulumi.Output.format(
            "postgres://{0}@{1}:{2}/{3}?sslmode={4}",
            database_settings.user,
            database.address,
            database.port,
            database_settings.name,
            database_settings.sslmode,
        )
    )
    return StackOutputs(
        target=target.kind,
        environment=environment,
        url=web.url,
        hostnames=web.hostnames,
        database_host=database.address,
        database_port=database.port,
        database_name=database_settings.name,
        database_url=database_url,
        redis_url=cache.url if cache is not None else pulumi.Output.secret(""),
        media_bucket=media.bucket_name,
        release_id=web.release_id,
        network_ids={
            "vpcId": network.vpc_id,
            "publicSubnetIds": network.public_subnet_ids,
            "privateSubnetIds": network.private_subnet_ids,
        },
        load_balancer_dns_name=web.alb_dns_name if web.alb_dns_name is not None else "",
        certificate_validation_records=(
            web.certificate_validation_records if web.certificate_validation_records is not None else []
        ),
    )
