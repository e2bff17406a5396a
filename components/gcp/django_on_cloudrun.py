"""The Django workloads on Cloud Run.

Creates:
- ``cloudrunv2.Job`` ``<name>-migrate``: ``python manage.py migrate --noinput`` with the release image,
  the runtime service account, the same environment and secrets and the Cloud SQL socket. Its
  ``run_execution_token`` is derived from the release id and the image, so every new release runs it
  once during ``pulumi up`` and the Job only becomes ready when that execution *succeeded*
  (``start_execution_token`` would be ready as soon as the execution started);
- ``cloudrunv2.Service`` ``<name>``: Gunicorn on $PORT, which ``depends_on`` the Job: a new revision is
  only created (and takes traffic) after its migrations succeeded; a failed migration fails the
  update while the previous revision keeps serving. Migrations never run at container start;
- ``cloudrunv2.WorkerPool`` ``<name>-worker`` (Celery worker) and ``<name>-beat`` (Celery beat, exactly
  one instance) when enabled: always-on CPU, no ingress, no URL, also after the Job;
- ``roles/run.invoker`` for ``allUsers`` only when the service is public;
- a ``cloudrun.DomainMapping`` (v1 API, managed certificate) per custom domain.

ALLOWED_HOSTS / CSRF_TRUSTED_ORIGINS. The run.app URL Cloud Run reports (``uri``) exists only after
the service does, and the service's own environment cannot depend on it. Cloud Run also serves every
service at the deterministic ``https://<service>-<project number>.<region>.run.app``, computable up
front from the project number (``organizations.get_project_output``). The app's hosts are exactly
that host plus the custom domains: one ``pulumi up``, no follow-up update, no wildcard such as
``.run.app`` (which would accept any Cloud Run service's host). The legacy hashed ``*.a.run.app``
URL is deliberately not allowed (Django answers 400 there); use the deterministic one.

Probes. The startup and liveness probes hit the liveness path (/healthz: no database, no cache).
Readiness (/readyz checks the database) is a load-balancer concept: Cloud Run has no "ready but not
alive" state for an instance the way a load balancer pool does, and probing the database from every
instance would restart or drain them all during a short database blip or failover, turning a
dependency hiccup into an outage. The release gate that does touch the database is the migration Job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_gcp as gcp
from pulumi_gcp import cloudrunv2

from components.gcp.cache import CA_FILE_NAME, CA_MOUNT_DIR
from components.gcp.naming import (
    CLOUD_RUN_NAME_MAX,
    EXECUTION_NAME_MAX,
    check_length,
    execution_token,
    run_app_host,
)
from components.gcp.rules import MANAGED_ENV
from components.gcp.secrets import SecretRef

INGRESS = {
    "all": "INGRESS_TRAFFIC_ALL",
    "internal": "INGRESS_TRAFFIC_INTERNAL_ONLY",
    "internal-and-cloud-load-balancing": "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
}
"""Stack setting -> Cloud Run v2 ingress value."""

CLOUDSQL_VOLUME = "cloudsql"
CLOUDSQL_MOUNT = "/cloudsql"
REDIS_CA_VOLUME = "redis-ca"
CONTAINER_PORT = 8080


@dataclass(frozen=True)
class CeleryArgs:
    """The optional Celery processes."""

    app: str
    """``celery -A <app>``."""
    worker: bool
    beat: bool
    concurrency: int
    queues: tuple[str, ...]
    log_level: str


@dataclass(frozen=True)
class DjangoOnCloudRunArgs:
    """Inputs of ``DjangoOnCloudRun``. CPU as Cloud Run's quantity ("1"), memory like "512Mi"."""

    project: str
    region: str
    image: str
    """Pinned image (digest or immutable tag; validated by the settings)."""
    release_id: str
    settings_module: str
    service_account_email: pulumi.Input[str]
    cloudsql_connection_name: pulumi.Input[str]
    network_id: pulumi.Input[str]
    subnetwork_id: pulumi.Input[str]
    secret_env: Mapping[str, SecretRef]
    """Environment variables from Secret Manager, by variable name."""
    env: Mapping[str, pulumi.Input[str]]
    """Plain environment (never secrets) shared by the service, the job and the workers."""
    liveness_path: str
    cpu: str
    memory: str
    min_instances: int
    max_instances: int
    concurrency: int
    """Requests one instance receives at once."""
    request_timeout_seconds: int
    ingress: str
    """``all``, ``internal`` or ``internal-and-cloud-load-balancing``."""
    public: bool
    """Grant ``roles/run.invoker`` to ``allUsers``."""
    deletion_protection: bool
    """Cloud Run's own deletion protection on the service, job and worker pools."""
    redis_ca: SecretRef | None = None
    """The Redis CA bundle, mounted at /etc/redis-ca/ca.pem when set."""
    custom_domains: tuple[str, ...] = ()
    celery: CeleryArgs | None = None
    migration_timeout_seconds: int = 1800
    requires: Sequence[pulumi.Resource] = field(default_factory=tuple)
    """IAM grants and APIs every workload waits for (the Job runs as soon as it exists)."""


class DjangoOnCloudRun(pulumi.ComponentResource):
    """Migration job, web service and optional Celery worker pools for one release."""

    service: cloudrunv2.Service
    migrate_job: cloudrunv2.Job
    execution_token: str
    """The migration Job's run_execution_token for this release."""
    service_uri: pulumi.Output[str]
    """The URL Cloud Run reports for the service."""
    hostnames: pulumi.Output[list[str]]
    """Every host the app answers to (ALLOWED_HOSTS): the deterministic run.app host, then domains."""
    url: pulumi.Output[str]
    """The public base URL: the first custom domain, else the deterministic run.app URL."""

    def __init__(self, name: str, args: DjangoOnCloudRunArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("djangostack:gcp:DjangoOnCloudRun", name, None, opts)
        check_names(name, args.release_id, args.image)
        self._name = name
        self._args = args
        clash = sorted((set(args.env) | set(args.secret_env)) & MANAGED_ENV)
        if clash:
            raise ValueError(
                f"djangostack:app.extraEnv: {', '.join(clash)} are set by the gcp-cloudrun target; remove them"
            )
        project = gcp.organizations.get_project_output(
            project_id=args.project, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        run_host = project.number.apply(lambda number: run_app_host(name, str(number), args.region))
        self.hostnames = run_host.apply(lambda host: [host, *args.custom_domains])
        self.url = (
            pulumi.Output.from_input(f"https://{args.custom_domains[0]}")
            if args.custom_domains
            else pulumi.Output.concat("https://", run_host)
        )
        self._env: dict[str, pulumi.Input[str]] = {
            **args.env,
            "DJANGO_SETTINGS_MODULE": args.settings_module,
            "RELEASE_ID": args.release_id,
            "ALLOWED_HOSTS": self.hostnames.apply(",".join),
            "CSRF_TRUSTED_ORIGINS": self.hostnames.apply(lambda hosts: ",".join(f"https://{host}" for host in hosts)),
        }
        self.execution_token = execution_token(args.release_id, args.image)
        self.migrate_job = self._create_migrate_job()
        self.service = self._create_service()
        self.service_uri = self.service.uri
        if args.public:
            cloudrunv2.ServiceIamMember(
                f"{name}-public-invoker",
                project=args.project,
                location=args.region,
                name=self.service.name,
                role="roles/run.invoker",
                member="allUsers",
                opts=pulumi.ResourceOptions(parent=self),
            )
        for domain in args.custom_domains:
            gcp.cloudrun.DomainMapping(
                f"{name}-domain-{domain}",
                project=args.project,
                location=args.region,
                # The domain must be verified for the deploying account (Search Console) first.
                name=domain,
                metadata=gcp.cloudrun.DomainMappingMetadataArgs(namespace=args.project),
                spec=gcp.cloudrun.DomainMappingSpecArgs(route_name=self.service.name),
                opts=pulumi.ResourceOptions(parent=self),
            )
        if args.celery is not None:
            self._create_celery(args.celery)
        self.register_outputs(
            {
                "serviceUri": self.service_uri,
                "url": self.url,
                "hostnames": self.hostnames,
                "executionToken": self.execution_token,
            }
        )

    # ----------------------------------------------------------------------------------------------
    # Workloads
    # ----------------------------------------------------------------------------------------------

    def _create_migrate_job(self) -> cloudrunv2.Job:
        args = self._args
        job_name = f"{self._name}-migrate"
        kit = _Kit("JobTemplateTemplate")
        container = cloudrunv2.JobTemplateTemplateContainerArgs(
            name="migrate",
            image=args.image,
            commands=["python"],
            args=["manage.py", "migrate", "--noinput"],
            envs=kit.envs(self._env, args.secret_env),
            volume_mounts=kit.mounts(args.redis_ca is not None),
            resources=cloudrunv2.JobTemplateTemplateContainerResourcesArgs(
                limits={"cpu": args.cpu, "memory": args.memory}
            ),
        )
        return cloudrunv2.Job(
            f"{self._name}-migrate",
            project=args.project,
            location=args.region,
            name=job_name,
            deletion_protection=args.deletion_protection,
            run_execution_token=self.execution_token,
            template=cloudrunv2.JobTemplateArgs(
                task_count=1,
                parallelism=1,
                template=cloudrunv2.JobTemplateTemplateArgs(
                    service_account=args.service_account_email,
                    execution_environment="EXECUTION_ENVIRONMENT_GEN2",
                    # A failed migration is investigated, not retried blindly (it may be half applied).
                    max_retries=0,
                    timeout=f"{args.migration_timeout_seconds}s",
                    containers=[container],
                    volumes=kit.volumes(args.cloudsql_connection_name, args.redis_ca),
                    vpc_access=kit.vpc_access(args.network_id, args.subnetwork_id),
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.requires)),
        )

    def _create_service(self) -> cloudrunv2.Service:
        args = self._args
        kit = _Kit("ServiceTemplate")
        container = cloudrunv2.ServiceTemplateContainerArgs(
            name="web",
            image=args.image,
            ports=cloudrunv2.ServiceTemplateContainerPortsArgs(container_port=CONTAINER_PORT, name="http1"),
            envs=kit.envs(self._env, args.secret_env),
            volume_mounts=kit.mounts(args.redis_ca is not None),
            resources=cloudrunv2.ServiceTemplateContainerResourcesArgs(
                limits={"cpu": args.cpu, "memory": args.memory},
                # CPU only while serving requests (the web tier needs no background CPU).
                cpu_idle=True,
                startup_cpu_boost=True,
            ),
            startup_probe=cloudrunv2.ServiceTemplateContainerStartupProbeArgs(
                http_get=cloudrunv2.ServiceTemplateContainerStartupProbeHttpGetArgs(
                    path=args.liveness_path, port=CONTAINER_PORT
                ),
                period_seconds=5,
                timeout_seconds=3,
                failure_threshold=24,
            ),
            liveness_probe=cloudrunv2.ServiceTemplateContainerLivenessProbeArgs(
                http_get=cloudrunv2.ServiceTemplateContainerLivenessProbeHttpGetArgs(
                    path=args.liveness_path, port=CONTAINER_PORT
                ),
                period_seconds=30,
                timeout_seconds=5,
                failure_threshold=3,
            ),
        )
        return cloudrunv2.Service(
            f"{self._name}-web",
            project=args.project,
            location=args.region,
            name=self._name,
            ingress=INGRESS[args.ingress],
            deletion_protection=args.deletion_protection,
            template=cloudrunv2.ServiceTemplateArgs(
                service_account=args.service_account_email,
                execution_environment="EXECUTION_ENVIRONMENT_GEN2",
                timeout=f"{args.request_timeout_seconds}s",
                max_instance_request_concurrency=args.concurrency,
                scaling=cloudrunv2.ServiceTemplateScalingArgs(
                    min_instance_count=args.min_instances, max_instance_count=args.max_instances
                ),
                containers=[container],
                volumes=kit.volumes(args.cloudsql_connection_name, args.redis_ca),
                vpc_access=kit.vpc_access(args.network_id, args.subnetwork_id),
            ),
            traffics=[cloudrunv2.ServiceTrafficArgs(type="TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", percent=100)],
            # New code takes traffic only after this release's migrations succeeded.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.migrate_job, *args.requires]),
        )

    def _create_celery(self, celery: CeleryArgs) -> None:
        base = ["-A", celery.app]
        if celery.worker:
            self._create_worker_pool(
                "worker",
                [
                    *base,
                    "worker",
                    f"--loglevel={celery.log_level}",
                    f"--concurrency={celery.concurrency}",
                    "-Q",
                    ",".join(celery.queues),
                ],
            )
        if celery.beat:
            # Exactly one scheduler: a worker pool with one manually scaled instance. The schedule
            # state goes to /tmp because the image's app directory is not writable by its user.
            self._create_worker_pool(
                "beat",
                [*base, "beat", f"--loglevel={celery.log_level}", "--schedule=/tmp/celerybeat-schedule"],
            )

    def _create_worker_pool(self, role: str, celery_args: list[str]) -> cloudrunv2.WorkerPool:
        args = self._args
        pool_name = f"{self._name}-{role}"
        kit = _Kit("WorkerPoolTemplate")
        container = cloudrunv2.WorkerPoolTemplateContainerArgs(
            name=role,
            image=args.image,
            commands=["celery"],
            args=celery_args,
            envs=kit.envs(self._env, args.secret_env),
            volume_mounts=kit.mounts(args.redis_ca is not None),
            resources=cloudrunv2.WorkerPoolTemplateContainerResourcesArgs(
                limits={"cpu": args.cpu, "memory": args.memory}
            ),
        )
        return cloudrunv2.WorkerPool(
            f"{self._name}-{role}",
            project=args.project,
            location=args.region,
            name=pool_name,
            deletion_protection=args.deletion_protection,
            scaling=cloudrunv2.WorkerPoolScalingArgs(scaling_mode="MANUAL", manual_instance_count=1),
            template=cloudrunv2.WorkerPoolTemplateArgs(
                service_account=args.service_account_email,
                containers=[container],
                volumes=kit.volumes(args.cloudsql_connection_name, args.redis_ca),
                vpc_access=kit.vpc_access(args.network_id, args.subnetwork_id),
            ),
            # Workers run the new code only once its migrations are in.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.migrate_job, *args.requires]),
        )


def check_names(name: str, release_id: str, image: str) -> None:
    """Refuse names GCP would reject, before anything is created (pure; also called by the target).

    The service is ``name``, the job ``<name>-migrate`` (whose executions are ``<job>-<token>``), the
    worker pools ``<name>-worker`` / ``<name>-beat``.
    """
    check_length("Cloud Run service", name, CLOUD_RUN_NAME_MAX)
    for suffix in ("migrate", "worker", "beat"):
        check_length("Cloud Run job / worker pool", f"{name}-{suffix}", CLOUD_RUN_NAME_MAX)
    job_name, token = f"{name}-migrate", execution_token(release_id, image)
    if len(job_name) + len(token) >= EXECUTION_NAME_MAX:
        raise ValueError(
            f"Cloud Run job name {job_name!r} plus the {len(token)}-character execution token must stay "
            f"under {EXECUTION_NAME_MAX} characters; shorten djangostack:app.name or the stack name"
        )


class _Kit:
    """Builds the env, volume and VPC blocks shared by the service, job and worker pools.

    The three resources have structurally identical but separately named argument classes
    (``ServiceTemplateVolumeArgs``, ``JobTemplateTemplateVolumeArgs``, ``WorkerPoolTemplateVolumeArgs``);
    this picks the family by prefix so all three get exactly the same wiring.
    """

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix

    def _cls(self, suffix: str) -> Any:
        return getattr(cloudrunv2, f"{self._prefix}{suffix}")

    def envs(self, env: Mapping[str, pulumi.Input[str]], secret_env: Mapping[str, SecretRef]) -> list[Any]:
        result: list[Any] = [self._cls("ContainerEnvArgs")(name=key, value=env[key]) for key in sorted(env)]
        for key in sorted(secret_env):
            ref = secret_env[key]
            result.append(
                self._cls("ContainerEnvArgs")(
                    name=key,
                    value_source=self._cls("ContainerEnvValueSourceArgs")(
                        secret_key_ref=self._cls("ContainerEnvValueSourceSecretKeyRefArgs")(
                            secret=ref.secret_id, version=ref.version
                        )
                    ),
                )
            )
        return result

    def volumes(self, connection_name: pulumi.Input[str], redis_ca: SecretRef | None) -> list[Any]:
        result: list[Any] = [
            self._cls("VolumeArgs")(
                name=CLOUDSQL_VOLUME,
                cloud_sql_instance=self._cls("VolumeCloudSqlInstanceArgs")(instances=[connection_name]),
            )
        ]
        if redis_ca is not None:
            result.append(
                self._cls("VolumeArgs")(
                    name=REDIS_CA_VOLUME,
                    secret=self._cls("VolumeSecretArgs")(
                        secret=redis_ca.secret_id,
                        items=[
                            self._cls("VolumeSecretItemArgs")(path=CA_FILE_NAME, version=redis_ca.version, mode=0o444)
                        ],
                    ),
                )
            )
        return result

    def mounts(self, with_redis_ca: bool) -> list[Any]:
        result: list[Any] = [self._cls("ContainerVolumeMountArgs")(name=CLOUDSQL_VOLUME, mount_path=CLOUDSQL_MOUNT)]
        if with_redis_ca:
            result.append(self._cls("ContainerVolumeMountArgs")(name=REDIS_CA_VOLUME, mount_path=CA_MOUNT_DIR))
        return result

    def vpc_access(self, network_id: pulumi.Input[str], subnetwork_id: pulumi.Input[str]) -> Any:
        # Direct VPC egress; only private ranges (Cloud SQL, Memorystore) go through the VPC, the
        # rest (Sentry, Google APIs) keeps Cloud Run's own internet path, so no Cloud NAT is needed.
        return self._cls("VpcAccessArgs")(
            egress="PRIVATE_RANGES_ONLY",
            network_interfaces=[
                self._cls("VpcAccessNetworkInterfaceArgs")(network=network_id, subnetwork=subnetwork_id)
            ],
        )
