"""The Django workloads on Cloud Run.

Creates:
- ``command.local.Command`` ``<name>-propagation-wait``: a one-off pause after the API enablements and
  IAM grants are created (or replaced), before the Job first runs. Both take minutes to propagate
  (https://cloud.google.com/iam/docs/access-change-propagation; hashicorp/terraform-provider-google
  #16350), and the Job's first execution starts the moment the Job exists;
- ``cloudrunv2.Job`` ``<name>-migrate``: ``python manage.py migrate --noinput`` with the release image,
  the runtime service account, the same environment and secrets and the Cloud SQL socket. Its
  ``run_execution_token`` is derived from the release id, the image and ``target.migrationAttempt``,
  so every new release runs it once during ``pulumi up`` and the Job only becomes ready when that
  execution *succeeded* (``start_execution_token`` would be ready as soon as the execution started).
  Before migrating, the task waits up to two minutes for the database to answer (Direct VPC egress
  can take about a minute to connect a new instance), and a failed task is retried
  ``MIGRATION_MAX_RETRIES`` times: Django records each applied migration in the same transaction as
  the migration itself on PostgreSQL, so a retry continues where the failed attempt stopped. The
  provider waits for the execution for ``rules.execution_wait_seconds`` (task timeout x attempts plus
  a start-up margin), not its default 20 minutes;
- ``cloudrunv2.Job`` ``<name>-manage``: one-off management commands (``manage --stack S -- <args>``
  runs ``gcloud run jobs execute <name>-manage --args ...``): ``python manage.py`` with the same
  image, service account, environment, secrets and Cloud SQL socket as the migration, no execution
  of its own during ``pulumi up`` (no token), no retries (a failed ``createsuperuser`` or data load
  must not run twice) and a one-hour task timeout. Executing it never touches the migration Job, so
  its token stays in the state (executing ``-migrate`` by hand does not: see the README). It is
  updated after the migration Job, so a command never runs new code on an unmigrated schema;
- ``cloudrunv2.Service`` ``<name>``: Gunicorn on $PORT, which ``depends_on`` the Job: a new revision is
  only created (and takes traffic) after its migrations succeeded; a failed migration fails the
  update while the previous revision keeps serving. Migrations never run at container start;
- ``cloudrunv2.WorkerPool`` ``<name>-worker`` (Celery worker) and ``<name>-beat`` (Celery beat, exactly
  one instance) when enabled: always-on CPU, no ingress, no URL, also after the Job;
- no ``allUsers`` binding: a public service sets ``invoker_iam_disabled`` (Cloud Run skips the invoker
  check), which works under the domain-restricted-sharing organisation policy that refuses
  ``allUsers`` members (https://cloud.google.com/run/docs/securing/managing-access#invoker_check);
- a ``cloudrun.DomainMapping`` (v1 API, managed certificate) per custom domain.

ALLOWED_HOSTS / CSRF_TRUSTED_ORIGINS. The run.app URL Cloud Run reports (``uri``) exists only after
the service does, and the service's own environment cannot depend on it. Cloud Run also serves every
service at the deterministic ``https://<service>-<project number>.<region>.run.app``, computable up
front from the project number (``organizations.get_project_output``). The app's hosts are exactly
that host plus the custom domains: one ``pulumi up``, no follow-up update, no wildcard such as
``.run.app`` (which would accept any Cloud Run service's host). The legacy hashed ``*.a.run.app``
URL is deliberately not allowed (Django answers 400 there); use the deterministic one.

Probes. The startup probe hits the readiness path (/readyz: the database and Redis answer), so a new
instance takes requests only once its Direct VPC egress is connected and both are reachable; it may
take up to ``rules.STARTUP_PROBE_WINDOW_MAX_SECONDS``. The liveness probe hits the liveness path
(/healthz: no database, no cache): probing dependencies from every running instance would restart
them all during a short database blip or failover, turning a dependency hiccup into an outage.

Deletion protection. Cloud Run's own ``deletion_protection`` stays off on the service, job and worker
pools: they hold no state and are recreated from the stack in minutes, and with it on, turning Celery
off (which deletes a worker pool) or the first teardown phase would fail in protected environments.
The stateful resources (Cloud SQL, Memorystore, the media bucket) keep their protection.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_gcp as gcp
from pulumi_command import local
from pulumi_gcp import cloudrunv2

from ...contract.app_env import AppEnvInputs, allowed_hosts_value, build_app_env, csrf_origins_value
from .cache import CA_FILE_NAME, CA_MOUNT_DIR
from .naming import CLOUD_RUN_NAME_MAX, EXECUTION_NAME_MAX, check_length, execution_token, run_app_host
from .rules import (
    JOB_TASK_TIMEOUT_MAX_SECONDS,
    check_execution_wait,
    check_startup_probe,
    execution_wait_seconds,
)
from .secrets import SecretRef

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

MIGRATION_MAX_RETRIES = 2
"""Task retries of the migration execution (3 attempts): for transient failures at a task's start
(an IAM grant or API enablement still propagating, the VPC path not yet up)."""

MANAGE_TIMEOUT_SECONDS = 3600
"""Task timeout of a one-off management command (within ``rules.JOB_TASK_TIMEOUT_MAX_SECONDS``)."""

MIGRATION_CONNECT_WAIT_SECONDS = 120
"""How long a migration task waits for the database to answer before it runs ``migrate``."""

PROPAGATION_WAIT_SECONDS = 120
"""Pause after new API enablements or IAM grants before the first execution: IAM changes typically
propagate within two minutes (https://cloud.google.com/iam/docs/access-change-propagation); the
retries above cover the slower tail."""

STARTUP_PROBE_PERIOD_SECONDS = 10
STARTUP_PROBE_TIMEOUT_SECONDS = 5
STARTUP_PROBE_FAILURE_THRESHOLD = 24
"""The web container may take up to 10 s x 24 = 240 s to reach its database and Redis
(``rules.check_startup_probe``)."""


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
    image: pulumi.Input[str]
    """What every workload runs: a pinned image (digest or immutable tag; validated by the
    settings), or the digest an ``app.build`` pushed (an output of the build command, so every
    workload waits for the build)."""
    image_key: str
    """The image's reference known before anything runs (the given image, or the built image's
    content tag): the migration's execution token derives from it."""
    release_id: str
    service_account_email: pulumi.Input[str]
    cloudsql_connection_name: pulumi.Input[str]
    network_id: pulumi.Input[str]
    subnetwork_id: pulumi.Input[str]
    secret_env: Mapping[str, SecretRef]
    """Secret Manager references by contract name (``SECRET_KEY``); each reaches the workloads
    under the name the app reads (``app.envNames``), as a reference, never a value."""
    env: AppEnvInputs[pulumi.Input[str]]
    """The facts of the app environment (``contract.app_env``); the component fills in the hosts,
    the origins and the release id, and builds the environment every workload shares."""
    liveness_path: str
    readiness_path: str
    """Answers 200 only when the database and Redis answer (the startup probe's path)."""
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
    """Let anyone invoke the service (``invoker_iam_disabled``; no ``allUsers`` binding)."""
    redis_ca: SecretRef | None = None
    """The Redis CA bundle, mounted at /etc/redis-ca/ca.pem when set."""
    custom_domains: tuple[str, ...] = ()
    celery: CeleryArgs | None = None
    migration_timeout_seconds: int = 1800
    """Timeout of one migration task attempt."""
    migration_attempt: int = 1
    """``target.migrationAttempt``: part of the execution token; bump to retry a failed migration."""
    requires: Sequence[pulumi.Resource] = field(default_factory=tuple)
    """IAM grants and API enablements every workload waits for (the Job runs as soon as it exists);
    a change of any of them also re-runs the propagation wait."""


class DjangoOnCloudRun(pulumi.ComponentResource):
    """Migration job, web service and optional Celery worker pools for one release."""

    service: cloudrunv2.Service
    migrate_job: cloudrunv2.Job
    manage_job: cloudrunv2.Job
    """Executed by ``manage`` for one-off management commands, never by ``pulumi up``."""
    propagation_wait: local.Command
    """The one-off pause the Job waits for (enablements and grants propagating)."""
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
        check_names(name, args.release_id, args.image_key)
        self._name = name
        self._args = args
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
        app_env = build_app_env(
            dataclasses.replace(
                args.env,
                allowed_hosts=self.hostnames.apply(allowed_hosts_value),
                csrf_trusted_origins=self.hostnames.apply(csrf_origins_value),
                release_id=args.release_id,
            )
        )
        self._env: dict[str, pulumi.Input[str]] = dict(app_env.plain)
        self._secret_env = {app_env.secrets[contract]: ref for contract, ref in args.secret_env.items()}
        self.execution_token = execution_token(args.release_id, args.image_key, args.migration_attempt)
        self.propagation_wait = self._create_propagation_wait()
        self.migrate_job = self._create_migrate_job()
        self.manage_job = self._create_manage_job()
        self.service = self._create_service()
        self.service_uri = self.service.uri
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

    def _create_propagation_wait(self) -> local.Command:
        """Sleep once after the enablements and grants the workloads need are created or replaced."""
        requires = list(self._args.requires)
        return local.Command(
            f"{self._name}-propagation-wait",
            create=f"sleep {PROPAGATION_WAIT_SECONDS}",
            # A replaced grant or enablement gets a new id: wait again before the next execution.
            triggers=[r.id for r in requires if isinstance(r, pulumi.CustomResource)],
            opts=pulumi.ResourceOptions(parent=self, depends_on=requires),
        )

    def _placement(self, role: str) -> dict[str, Any]:
        """Project, region and name ``<name>-<role>`` of a Job or worker pool. Cloud Run's own
        deletion protection stays off (see the module docstring)."""
        args = self._args
        return {
            "project": args.project,
            "location": args.region,
            "name": f"{self._name}-{role}",
            "deletion_protection": False,
        }

    def _container(self, kit: _Kit, name: str, **fields: Any) -> Any:
        """The one container of a workload: its image, the shared environment, secrets and mounts,
        and the CPU and memory limits (``fields`` adds the workload's own command, ports, probes)."""
        args = self._args
        resources = fields.pop("resources", {})
        return kit.cls("ContainerArgs")(
            name=name,
            image=args.image,
            envs=kit.envs(self._env, self._secret_env),
            volume_mounts=kit.mounts(args.redis_ca is not None),
            resources=kit.cls("ContainerResourcesArgs")(limits={"cpu": args.cpu, "memory": args.memory}, **resources),
            **fields,
        )

    def _create_job(
        self, role: str, container: Any, *, kit: _Kit, max_retries: int, timeout_seconds: int, **options: Any
    ) -> cloudrunv2.Job:
        """A Cloud Run Job ``<name>-<role>`` of one task, with the shared identity, volumes and VPC."""
        args = self._args
        opts = options.pop("opts")
        return cloudrunv2.Job(
            f"{self._name}-{role}",
            **self._placement(role),
            template=cloudrunv2.JobTemplateArgs(
                task_count=1,
                parallelism=1,
                template=cloudrunv2.JobTemplateTemplateArgs(
                    service_account=args.service_account_email,
                    execution_environment="EXECUTION_ENVIRONMENT_GEN2",
                    max_retries=max_retries,
                    timeout=f"{timeout_seconds}s",
                    containers=[container],
                    volumes=kit.volumes(args.cloudsql_connection_name, args.redis_ca),
                    vpc_access=kit.vpc_access(args.network_id, args.subnetwork_id),
                ),
            ),
            opts=opts,
            **options,
        )

    def _create_migrate_job(self) -> cloudrunv2.Job:
        args = self._args
        wait = execution_wait_seconds(args.migration_timeout_seconds, MIGRATION_MAX_RETRIES)
        check_execution_wait(wait, args.migration_timeout_seconds, MIGRATION_MAX_RETRIES)
        kit = _Kit("JobTemplateTemplate")
        return self._create_job(
            "migrate",
            self._container(kit, "migrate", commands=["sh", "-c"], args=[migrate_script()]),
            kit=kit,
            max_retries=MIGRATION_MAX_RETRIES,
            timeout_seconds=args.migration_timeout_seconds,
            run_execution_token=self.execution_token,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[*args.requires, self.propagation_wait],
                # With run_execution_token, create and update last until the execution finished.
                custom_timeouts=pulumi.CustomTimeouts(create=f"{wait}s", update=f"{wait}s"),
            ),
        )

    def _create_manage_job(self) -> cloudrunv2.Job:
        if not 1 <= MANAGE_TIMEOUT_SECONDS <= JOB_TASK_TIMEOUT_MAX_SECONDS:
            raise ValueError(f"Cloud Run job task timeout {MANAGE_TIMEOUT_SECONDS}s is outside 1..24 hours")
        kit = _Kit("JobTemplateTemplate")
        # Every execution overrides the args (``gcloud run jobs execute --args``); a bare execution
        # only runs Django's system checks.
        container = self._container(kit, "manage", commands=["python", "manage.py"], args=["check"])
        return self._create_job(
            "manage",
            container,
            kit=kit,
            max_retries=0,
            timeout_seconds=MANAGE_TIMEOUT_SECONDS,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.migrate_job, *self._args.requires]),
        )

    def _create_service(self) -> cloudrunv2.Service:
        args = self._args
        check_startup_probe(
            STARTUP_PROBE_PERIOD_SECONDS, STARTUP_PROBE_TIMEOUT_SECONDS, STARTUP_PROBE_FAILURE_THRESHOLD
        )
        kit = _Kit("ServiceTemplate")
        container = self._container(
            kit,
            "web",
            ports=cloudrunv2.ServiceTemplateContainerPortsArgs(container_port=CONTAINER_PORT, name="http1"),
            # CPU only while serving requests (the web tier needs no background CPU).
            resources={"cpu_idle": True, "startup_cpu_boost": True},
            startup_probe=cloudrunv2.ServiceTemplateContainerStartupProbeArgs(
                http_get=cloudrunv2.ServiceTemplateContainerStartupProbeHttpGetArgs(
                    path=args.readiness_path, port=CONTAINER_PORT
                ),
                period_seconds=STARTUP_PROBE_PERIOD_SECONDS,
                timeout_seconds=STARTUP_PROBE_TIMEOUT_SECONDS,
                failure_threshold=STARTUP_PROBE_FAILURE_THRESHOLD,
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
            invoker_iam_disabled=args.public,
            deletion_protection=False,
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
        kit = _Kit("WorkerPoolTemplate")
        return cloudrunv2.WorkerPool(
            f"{self._name}-{role}",
            **self._placement(role),
            scaling=cloudrunv2.WorkerPoolScalingArgs(scaling_mode="MANUAL", manual_instance_count=1),
            template=cloudrunv2.WorkerPoolTemplateArgs(
                service_account=args.service_account_email,
                containers=[self._container(kit, role, commands=["celery"], args=celery_args)],
                volumes=kit.volumes(args.cloudsql_connection_name, args.redis_ca),
                vpc_access=kit.vpc_access(args.network_id, args.subnetwork_id),
            ),
            # Workers run the new code only once its migrations are in.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.migrate_job, *args.requires]),
        )


def migrate_script() -> str:
    """The migration task: wait for the database (Direct VPC egress may still be connecting), then
    migrate. ``check --database default`` opens a connection; the wait ends after
    ``MIGRATION_CONNECT_WAIT_SECONDS`` either way and ``migrate`` reports the real error."""
    polls = MIGRATION_CONNECT_WAIT_SECONDS // 5
    return (
        "n=0; "
        "until python manage.py check --database default >/dev/null 2>&1; do "
        f'n=$((n+1)); if [ "$n" -ge {polls} ]; then '
        f'echo "database not reachable after {MIGRATION_CONNECT_WAIT_SECONDS}s; migrating anyway" >&2; break; fi; '
        "sleep 5; done; "
        "exec python manage.py migrate --noinput"
    )


def check_names(name: str, release_id: str, image: str) -> None:
    """Refuse names GCP would reject, before anything is created (pure; also called by the target).

    The service is ``name``, the job ``<name>-migrate`` (whose executions are ``<job>-<token>``), the
    worker pools ``<name>-worker`` / ``<name>-beat``.
    """
    check_length("Cloud Run service", name, CLOUD_RUN_NAME_MAX)
    for suffix in ("migrate", "manage", "worker", "beat"):
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

    def cls(self, suffix: str) -> Any:
        """The family's argument class ``<prefix><suffix>`` (``ServiceTemplateContainerArgs``)."""
        return getattr(cloudrunv2, f"{self._prefix}{suffix}")

    def envs(self, env: Mapping[str, pulumi.Input[str]], secret_env: Mapping[str, SecretRef]) -> list[Any]:
        result: list[Any] = [self.cls("ContainerEnvArgs")(name=key, value=env[key]) for key in sorted(env)]
        for key in sorted(secret_env):
            ref = secret_env[key]
            result.append(
                self.cls("ContainerEnvArgs")(
                    name=key,
                    value_source=self.cls("ContainerEnvValueSourceArgs")(
                        secret_key_ref=self.cls("ContainerEnvValueSourceSecretKeyRefArgs")(
                            secret=ref.secret_id, version=ref.version
                        )
                    ),
                )
            )
        return result

    def volumes(self, connection_name: pulumi.Input[str], redis_ca: SecretRef | None) -> list[Any]:
        result: list[Any] = [
            self.cls("VolumeArgs")(
                name=CLOUDSQL_VOLUME,
                cloud_sql_instance=self.cls("VolumeCloudSqlInstanceArgs")(instances=[connection_name]),
            )
        ]
        if redis_ca is not None:
            result.append(
                self.cls("VolumeArgs")(
                    name=REDIS_CA_VOLUME,
                    secret=self.cls("VolumeSecretArgs")(
                        secret=redis_ca.secret_id,
                        items=[
                            self.cls("VolumeSecretItemArgs")(path=CA_FILE_NAME, version=redis_ca.version, mode=0o444)
                        ],
                    ),
                )
            )
        return result

    def mounts(self, with_redis_ca: bool) -> list[Any]:
        result: list[Any] = [self.cls("ContainerVolumeMountArgs")(name=CLOUDSQL_VOLUME, mount_path=CLOUDSQL_MOUNT)]
        if with_redis_ca:
            result.append(self.cls("ContainerVolumeMountArgs")(name=REDIS_CA_VOLUME, mount_path=CA_MOUNT_DIR))
        return result

    def vpc_access(self, network_id: pulumi.Input[str], subnetwork_id: pulumi.Input[str]) -> Any:
        # Direct VPC egress; only private ranges (Cloud SQL, Memorystore) go through the VPC, the
        # rest (Sentry, Google APIs) keeps Cloud Run's own internet path, so no Cloud NAT is needed.
        return self.cls("VpcAccessArgs")(
            egress="PRIVATE_RANGES_ONLY",
            network_interfaces=[
                self.cls("VpcAccessNetworkInterfaceArgs")(network=network_id, subnetwork=subnetwork_id)
            ],
        )
