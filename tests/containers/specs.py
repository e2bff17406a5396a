"""The container specs the gcp-cloudrun program records (Service, migration Job, worker pools),
read from a mocks recording into plain data the container tests can run with podman."""

from __future__ import annotations

import dataclasses
from typing import Any

from djangostack.offline.mocking import Recording

SERVICE = "gcp:cloudrunv2/service:Service"
JOB = "gcp:cloudrunv2/job:Job"
WORKER_POOL = "gcp:cloudrunv2/workerPool:WorkerPool"
SECRET = "gcp:secretmanager/secret:Secret"
SECRET_VERSION = "gcp:secretmanager/secretVersion:SecretVersion"


@dataclasses.dataclass(frozen=True)
class Probe:
    path: str
    port: int
    period_seconds: int
    failure_threshold: int
    timeout_seconds: int


@dataclasses.dataclass(frozen=True)
class SecretFile:
    """One item of a secret volume: ``<mount>/<path>`` with ``mode``, holding ``secret``'s value."""

    secret: str
    path: str
    mode: int


@dataclasses.dataclass(frozen=True)
class Mount:
    name: str
    path: str
    cloudsql_instances: tuple[str, ...] = ()
    secret_files: tuple[SecretFile, ...] = ()


@dataclasses.dataclass(frozen=True)
class ContainerSpec:
    """What Cloud Run would run: ``command`` replaces the image's ENTRYPOINT, ``args`` its CMD."""

    resource: str  # the Pulumi resource name
    kind: str  # service, job or worker-pool
    image: str
    command: tuple[str, ...]
    args: tuple[str, ...]
    env: dict[str, str]
    secret_env: dict[str, str]  # variable -> secret id
    mounts: tuple[Mount, ...]
    container_port: int | None = None
    startup_probe: Probe | None = None
    liveness_probe: Probe | None = None


def _probe(raw: dict[str, Any] | None) -> Probe | None:
    if not raw:
        return None
    http = raw.get("httpGet") or {}
    return Probe(
        path=str(http.get("path", "/")),
        port=int(http.get("port", 0)),
        period_seconds=int(raw.get("periodSeconds", 10)),
        failure_threshold=int(raw.get("failureThreshold", 3)),
        timeout_seconds=int(raw.get("timeoutSeconds", 1)),
    )


def _container(resource: str, kind: str, template: dict[str, Any]) -> ContainerSpec:
    containers = template.get("containers") or []
    assert len(containers) == 1, f"{resource}: expected one container, found {len(containers)}"
    c = containers[0]
    volumes = {v["name"]: v for v in template.get("volumes") or []}
    mounts = []
    for m in c.get("volumeMounts") or []:
        volume = volumes.get(m["name"])
        assert volume is not None, f"{resource}: volume mount {m['name']!r} names no volume of the template"
        instances = tuple((volume.get("cloudSqlInstance") or {}).get("instances") or ())
        secret = volume.get("secret") or {}
        files = tuple(
            SecretFile(secret=str(secret["secret"]), path=str(item["path"]), mode=int(item.get("mode", 0o444)))
            for item in secret.get("items") or ()
        )
        mounts.append(Mount(name=m["name"], path=m["mountPath"], cloudsql_instances=instances, secret_files=files))
    env: dict[str, str] = {}
    secret_env: dict[str, str] = {}
    for e in c.get("envs") or []:
        ref = (e.get("valueSource") or {}).get("secretKeyRef")
        if ref:
            secret_env[e["name"]] = str(ref["secret"])
        else:
            env[e["name"]] = str(e.get("value", ""))
    ports = c.get("ports")
    port = None
    if isinstance(ports, list):
        ports = ports[0] if ports else None
    if ports:
        port = int(ports["containerPort"])
    return ContainerSpec(
        resource=resource,
        kind=kind,
        image=str(c["image"]),
        command=tuple(c.get("commands") or ()),
        args=tuple(c.get("args") or ()),
        env=env,
        secret_env=secret_env,
        mounts=tuple(mounts),
        container_port=port,
        startup_probe=_probe(c.get("startupProbe")),
        liveness_probe=_probe(c.get("livenessProbe")),
    )


@dataclasses.dataclass(frozen=True)
class CloudRunSpecs:
    service: ContainerSpec
    job: ContainerSpec
    worker_pools: dict[str, ContainerSpec]  # container name (worker, beat) -> spec
    secret_values: dict[str, str]  # secret id -> the value the program stores (mocked)


def cloudrun_specs(recording: Recording) -> CloudRunSpecs:
    service = recording.one(SERVICE)
    # The migration Job (the stack also has the `-manage` Job for one-off commands).
    [job] = [r for r in recording.of_type(JOB) if r.name.endswith("-migrate")]
    pools = {}
    for pool in recording.of_type(WORKER_POOL):
        spec = _container(pool.name, "worker-pool", pool.inputs["template"])
        name = pool.inputs["template"]["containers"][0].get("name") or pool.name
        pools[str(name)] = spec
    by_resource_id = {s.id: str(s.inputs.get("secretId")) for s in recording.of_type(SECRET)}
    values = {}
    for version in recording.of_type(SECRET_VERSION):
        secret_id = by_resource_id.get(version.inputs.get("secret"))
        if secret_id is not None:
            values[secret_id] = str(version.inputs.get("secretData", ""))
    return CloudRunSpecs(
        service=_container(service.name, "service", service.inputs["template"]),
        job=_container(job.name, "job", job.inputs["template"]["template"]),
        worker_pools=pools,
        secret_values=values,
    )
