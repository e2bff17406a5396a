"""The gcp-cloudrun target: wires the GCP components into one Django environment.

Order of creation (each step waits only for what it uses):
APIs + image repository -> (with ``app.build``: the image build and push, whose digest every
workload runs) -> network -> Cloud SQL, Memorystore, media bucket -> Secret Manager ->
runtime identity (grants on exactly those secrets and that bucket) -> propagation wait (every API
enablement and grant) -> migration Job -> Service and Celery worker pools -> domain mappings.
The app's environment comes from ``contract.app_env``, the builder every target uses.

Cloud rules (value combinations and limits Google enforces) live in ``djangostack.targets.gcp.rules``; the
settings validation runs them (``djangostack.validation.validate``), and the components assert the values
they actually send once more.

Every GCP resource goes through one explicit ``gcp.Provider`` whose project and region come from the
stack settings (``target.project`` / ``target.region``), never from ambient gcloud configuration.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from ...contract.app_env import AppEnvInputs
from ...contract.outputs import StackOutputs
from ...paths import project_dir
from ...settings.app import AppSettings
from ...settings.celery import CelerySettings
from ...settings.data import CacheSettings, DatabaseSettings, MediaSettings
from ...settings.defaults import ENVIRONMENT_DEFAULTS
from ...settings.domain import DomainSettings
from ...settings.loading import StackSecrets
from ...settings.network import NetworkSettings
from ...settings.observability import ObservabilitySettings
from ...settings.targets import GcpCloudRunTarget
from ...settings.web import WebSettings
from .cache import MemorystoreRedis, MemorystoreRedisArgs
from .database import CloudSqlPostgres, CloudSqlPostgresArgs
from .django_on_cloudrun import CeleryArgs, DjangoOnCloudRun, DjangoOnCloudRunArgs
from .identity import RuntimeIdentity, RuntimeIdentityArgs
from .image_build import build_image, build_spec
from .naming import image_release_id, maintenance_window, resource_prefix
from .network import NetworkReferenceArgs, PrivateNetwork, PrivateNetworkArgs
from .project_services import ProjectServices, ProjectServicesArgs
from .rules import MANAGED_ENV, SECRET_ENV, TARGET_ENV, repository_id  # noqa: F401 - re-exported
from .secrets import AppSecrets, AppSecretsArgs
from .storage import MediaBucket, MediaBucketArgs

CLOUD_RUN_DEFAULT_WORKERS = 2
"""Gunicorn workers when ``web.workers`` is unset (a Cloud Run instance is one small container)."""

GUNICORN_WORKER_CLASSES = {
    "sync": "sync",
    "gthread": "gthread",
    "uvicorn": "uvicorn.workers.UvicornWorker",
}


@dataclass(frozen=True)
class GcpDeployArgs:
    """What the gcp-cloudrun target is built from: the sections of the settings it reads
    (``djangostack.stack.gcp_args`` makes it from the validated settings)."""

    environment: str
    """``dev``, ``staging`` or ``prod``: deletion protection and backup defaults."""
    target: GcpCloudRunTarget
    """Project, region, scaling, tiers, ingress and the migration attempt."""
    app: AppSettings
    """Name, release id, image or build, health paths, settings module, env names and extra env."""
    web: WebSettings
    """Gunicorn's workers, threads and timeouts, upload size, HSTS and frame options."""
    network: NetworkSettings
    """The private network's range, or the stack output naming an existing VPC."""
    database: DatabaseSettings
    """Cloud SQL's version, storage, backups, protection, window, names and connection age."""
    cache: CacheSettings
    """Memorystore (managed) or none, and its size."""
    media: MediaSettings
    """The media bucket's name and how long noncurrent versions stay."""
    domain: DomainSettings
    """Custom domains mapped to the Service."""
    celery: CelerySettings
    """Worker and beat pools, their app, concurrency and queues."""
    observability: ObservabilitySettings
    """Log level, Sentry and its traces sample rate."""


def deploy(
    args: GcpDeployArgs, secrets: StackSecrets, parent_opts: pulumi.ResourceOptions | None = None
) -> StackOutputs:
    """Create the whole gcp-cloudrun stack and return its outputs (contract in components/contract/outputs.py).

    ``parent_opts`` (the root component's: its parent and aliases) applies to every resource
    created here: the provider and each top-level component."""
    target = args.target
    if target.db_tier is None or target.min_instances is None:
        raise ValueError("target.dbTier / target.minInstances unset: environment defaults were not applied")
    prefix = resource_prefix(args.app.name, pulumi.get_stack())
    protect = ENVIRONMENT_DEFAULTS[args.environment].deletion_protection
    bucket_name = args.media.bucket_name or f"{target.project}-{prefix}-media"
    # Name limits, range overlap and extraEnv clashes are settings rules (targets.gcp.rules), run
    # once by validation.validate before this runs.

    provider = gcp.Provider(f"{prefix}-gcp", project=target.project, region=target.region, opts=parent_opts)
    opts = pulumi.ResourceOptions.merge(parent_opts, pulumi.ResourceOptions(providers=[provider]))

    apis = ProjectServices(
        f"{prefix}-apis",
        ProjectServicesArgs(
            project=target.project,
            region=target.region,
            repository_id=repository_id(prefix),
            retain_repository=protect,
        ),
        opts,
    )
    image_key, image = _image(args, target, prefix, apis, opts)
    # On Cloud Run the release is the image: unset, the release id is derived from it (a built
    # image's content tag, a given image's digest or tag).
    release_id = args.app.release_id or image_release_id(image_key)
    network = PrivateNetwork(
        f"{prefix}-net",
        PrivateNetworkArgs(
            project=target.project,
            region=target.region,
            egress_subnet_cidr=target.egress_subnet_cidr,
            services_cidr=args.network.cidr,
            reference=(
                NetworkReferenceArgs(
                    stack=args.network.reference.stack,
                    network_output=args.network.reference.vpc_id_output,
                )
                if args.network.mode == "reference" and args.network.reference is not None
                else None
            ),
            requires=apis.needs("compute", "servicenetworking"),
        ),
        opts,
    )
    private_services = [network.private_services] if network.private_services is not None else []

    day, hour = maintenance_window(args.database.maintenance_window)
    database = CloudSqlPostgres(
        f"{prefix}-db",
        CloudSqlPostgresArgs(
            project=target.project,
            region=target.region,
            network_id=network.network_id,
            version=args.database.version,
            tier=target.db_tier,
            disk_size_gb=args.database.storage_gb,
            disk_autoresize_limit_gb=args.database.max_storage_gb,
            high_availability=bool(args.database.multi_az),
            retained_backups=args.database.backup_retention_days
            or ENVIRONMENT_DEFAULTS[args.environment].backup_retention_days,
            deletion_protection=bool(args.database.deletion_protection),
            maintenance_day=day,
            maintenance_hour=hour,
            database_name=args.database.name,
            user_name=args.database.user,
            requires=[*apis.needs("sqladmin"), *private_services],
        ),
        opts,
    )
    cache = None
    if args.cache.mode == "managed":
        cache = MemorystoreRedis(
            f"{prefix}-cache",
            MemorystoreRedisArgs(
                project=target.project,
                region=target.region,
                network_id=network.network_id,
                tier=target.cache_tier,
                memory_gb=args.cache.memory_gb,
                protect=protect,
                requires=[*apis.needs("redis"), *private_services],
            ),
            opts,
        )
    media = MediaBucket(
        f"{prefix}-media",
        MediaBucketArgs(
            project=target.project,
            region=target.region,
            bucket_name=bucket_name,
            noncurrent_version_days=args.media.noncurrent_version_days,
            protect=protect,
        ),
        opts,
    )
    database_url: pulumi.Output[str] = pulumi.Output.secret(
        pulumi.Output.format(
            "postgres://{0}:{1}@/{2}?host=/cloudsql/{3}",
            database.user_name,
            database.password,
            database.database_name,
            database.connection_name,
        )
    )
    app_secrets = AppSecrets(
        f"{prefix}-secrets",
        AppSecretsArgs(
            project=target.project,
            region=target.region,
            prefix=prefix,
            database_url=database_url,
            secret_key=secrets.get("secretKey"),
            redis_url=cache.url if cache else None,
            redis_ca_pem=cache.ca_pem if cache else None,
            sentry_dsn=secrets.get("sentryDsn") if args.observability.sentry else None,
            requires=apis.needs("secretmanager"),
        ),
        opts,
    )
    identity = RuntimeIdentity(
        f"{prefix}-runtime",
        RuntimeIdentityArgs(
            project=target.project,
            account_id=f"{prefix}-run",
            secret_ids={ref.env: ref.secret_id for ref in app_secrets.all()},
            media_bucket=media.name,
            requires=apis.needs("iam"),
        ),
        opts,
    )
    app = DjangoOnCloudRun(
        prefix,
        DjangoOnCloudRunArgs(
            project=target.project,
            region=target.region,
            image=image,
            image_key=image_key,
            release_id=release_id,
            service_account_email=identity.email,
            cloudsql_connection_name=database.connection_name,
            network_id=network.network_id,
            subnetwork_id=network.subnetwork_id,
            secret_env=app_secrets.env,
            redis_ca=app_secrets.redis_ca,
            env=_env_inputs(args, media.name, tuple(app_secrets.env)),
            liveness_path=args.app.liveness_path,
            readiness_path=args.app.health_path,
            cpu=target.cpu,
            memory=target.memory,
            min_instances=target.min_instances,
            max_instances=target.max_instances,
            concurrency=_request_concurrency(args, target),
            request_timeout_seconds=target.request_timeout_seconds,
            ingress=target.ingress,
            public=target.public,
            migration_attempt=target.migration_attempt,
            custom_domains=tuple(args.domain.names),
            celery=(
                CeleryArgs(
                    app=args.celery.app,
                    worker=args.celery.worker,
                    beat=args.celery.beat,
                    concurrency=args.celery.concurrency,
                    queues=tuple(args.celery.queues),
                    log_level=args.observability.log_level,
                )
                if args.celery.worker or args.celery.beat
                else None
            ),
            # Every API the workloads touch at start (run, sqladmin, secretmanager, compute, ...) and
            # every grant: the first execution must not race their propagation.
            requires=[*identity.grants, *apis.all()],
        ),
        opts,
    )
    return StackOutputs(
        target="gcp-cloudrun",
        environment=args.environment,
        url=app.url,
        hostnames=app.hostnames,
        database_host=pulumi.Output.concat("/cloudsql/", database.connection_name),
        database_port=5432,
        database_name=database.database_name,
        database_url=app_secrets.database_url,
        redis_url=cache.url if cache else pulumi.Output.secret(""),
        media_bucket=media.name,
        # Resolves only once the service took this release, so a consumer never sees it early.
        release_id=app.service.name.apply(lambda _: release_id),
        network_ids={
            "vpcId": network.network_id,
            "publicSubnetIds": [],
            "privateSubnetIds": [network.subnetwork_id],
        },
    )


def _image(
    args: GcpDeployArgs,
    target: GcpCloudRunTarget,
    prefix: str,
    apis: ProjectServices,
    opts: pulumi.ResourceOptions,
) -> tuple[str, pulumi.Input[str]]:
    """What the workloads run: the reference the release derives from, and the image itself.

    ``app.build`` set: the image built from source and pushed to the stack's repository (the
    content-tagged reference, and the digest-pinned one, an output of the build that every workload
    waits for). Unset: ``app.image`` as given, both times."""
    build = args.app.build
    if build is None:
        if args.app.image is None:
            raise ValueError("djangostack:app.image: the gcp-cloudrun target deploys a container image; set it")
        return args.app.image, args.app.image
    root = project_dir()
    _, reference, pinned = build_image(
        prefix,
        build_spec(build, root),
        project_root=root,
        region=target.region,
        project=target.project,
        repository=repository_id(prefix),
        # The push needs the repository; the workloads need the digest (through ``pinned``).
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[apis.repository])),
    )
    return reference, pinned


def _request_concurrency(args: GcpDeployArgs, target: GcpCloudRunTarget) -> int:
    """Cloud Run's per-instance concurrency, reconciled with what Gunicorn can actually serve.

    Sync and gthread workers serve ``workers x threads`` requests at once; sending more only queues
    them in Gunicorn's backlog, where Cloud Run's autoscaler cannot see the load. So the setting is
    capped there (with a warning). Async (uvicorn) workers take the setting as is.
    """
    if args.web.worker_class == "uvicorn":
        return target.concurrency
    capacity = (args.web.workers or CLOUD_RUN_DEFAULT_WORKERS) * args.web.threads
    if target.concurrency > capacity:
        pulumi.log.warn(
            f"djangostack:target.concurrency {target.concurrency} exceeds Gunicorn's capacity "
            f"(web.workers x web.threads = {capacity}); Cloud Run will send each instance at most {capacity}"
        )
        return capacity
    return target.concurrency


def _env_inputs(
    args: GcpDeployArgs, media_bucket: pulumi.Input[str], secrets: tuple[str, ...]
) -> AppEnvInputs[pulumi.Input[str]]:
    """The facts of the app environment (``contract.app_env``, the builder every target uses).

    The hosts and origins are placeholders here: the component fills them in with the run.app host
    it computes and the release id. Secrets stay Secret Manager references (``secrets`` names which
    the stack provides); the component puts them under the names the app reads (``app.envNames``)."""
    web = args.web
    workers = web.workers or CLOUD_RUN_DEFAULT_WORKERS
    gunicorn = (
        f"--worker-class {GUNICORN_WORKER_CLASSES[web.worker_class]} --threads {web.threads} "
        f"--timeout {web.timeout_seconds} --graceful-timeout {web.graceful_timeout_seconds} "
        f"--keep-alive {web.keepalive_seconds} --max-requests {web.max_requests} "
        f"--max-requests-jitter {web.max_requests_jitter}"
    )
    return AppEnvInputs[pulumi.Input[str]](
        settings_module=args.app.settings_module,
        environment=args.environment,
        allowed_hosts="",
        csrf_trusted_origins="",
        log_level=args.observability.log_level,
        traces_sample_rate=args.observability.traces_sample_rate,
        hsts_seconds=web.hsts_seconds if web.hsts_seconds is not None else 0,
        x_frame_options=web.x_frame_options,
        max_upload_mb=web.max_upload_mb,
        db_conn_max_age_seconds=args.database.conn_max_age_seconds,
        media_storage="gcs",
        secrets=secrets,
        media_bucket=media_bucket,
        celery_default_queue=args.celery.queues[0] if args.celery.queues else None,
        env_names=dict(args.app.env_names),
        extra_env=dict(args.app.extra_env),
        target_env={
            "WEB_CONCURRENCY": str(workers),
            # Gunicorn reads this natively, over the image's gunicorn.conf.py; its CMD has no flags that
            # would override it (tests/containers checks the settings Gunicorn ends up with).
            "GUNICORN_CMD_ARGS": gunicorn,
        },
    )
