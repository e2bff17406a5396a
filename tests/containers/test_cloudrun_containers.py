"""The gcp-cloudrun target's containers, run for real: the sample app's image with the container
specs the program records (Service, migration Job, Celery worker and beat pools), with podman,
against a real PostgreSQL (through the recorded Cloud SQL socket path) and a real TLS Redis
(through the recorded CA secret volume). Secrets are replaced by test values; everything else is
exactly what the program would send to Cloud Run.

Any disagreement between the recording and the image fails with one line naming both sides.
"""

from __future__ import annotations

import http.client
import json
import re
import secrets
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

import pytest

from tests.containers import podman, runner, services
from tests.containers.specs import CloudRunSpecs, ContainerSpec

pytestmark = pytest.mark.containers

HEARTBEAT_KEY = ":1:notes:beat-heartbeat"  # Django's RedisCache key for notes.tasks.HEARTBEAT_CACHE_KEY


# --------------------------------------------------------------------------- test values


def database_url(specs: CloudRunSpecs, password: str, database: str | None = None) -> str:
    """The recorded DATABASE_URL with the test password (and optionally another database)."""
    recorded = urlsplit(specs.secret_values[specs.service.secret_env["DATABASE_URL"]])
    netloc = f"{recorded.username}:{password}@{recorded.hostname or ''}"
    path = f"/{database}" if database else recorded.path
    return urlunsplit((recorded.scheme, netloc, path, recorded.query, ""))


def redis_url(specs: CloudRunSpecs, redis: services.Redis) -> str:
    """The recorded REDIS_URL (scheme, database, TLS query) pointing at the test Redis."""
    recorded = urlsplit(specs.secret_values[specs.service.secret_env["REDIS_URL"]])
    return urlunsplit((recorded.scheme, f":{redis.password}@127.0.0.1:{redis.port}", recorded.path, recorded.query, ""))


@pytest.fixture(scope="session")
def secret_key() -> str:
    return secrets.token_urlsafe(50)


def secret_values(
    specs: CloudRunSpecs, pg_password: str, redis: services.Redis, key: str, database: str | None = None
) -> dict[str, str]:
    values = {}
    for spec in (specs.service, specs.job, *specs.worker_pools.values()):
        for env, secret in spec.secret_env.items():
            if env == "DATABASE_URL":
                values[secret] = database_url(specs, pg_password, database)
            elif env == "REDIS_URL":
                values[secret] = redis_url(specs, redis)
            elif env == "SECRET_KEY":
                values[secret] = key
            else:
                raise runner.MismatchError(f"{spec.resource}: secret env {env} has no test value in this test")
    return values


def ca_secret(spec: ContainerSpec) -> str:
    return next(f.secret for m in spec.mounts for f in m.secret_files)


class Stage:
    """Runs the recorded specs against the test PostgreSQL/Redis and cleans up after itself."""

    def __init__(self, specs: CloudRunSpecs, pg: services.Postgres, pg_password: str, redis: services.Redis, key: str):
        self.specs, self.pg, self.pg_password, self.redis, self.key = specs, pg, pg_password, redis, key
        self.names: list[str] = []
        self.tmp_dirs: list[Path] = []

    def _args(
        self,
        spec: ContainerSpec,
        role: str,
        *,
        database: str | None = None,
        ca_pem: str | None = None,
        extra_env: dict[str, str] | None = None,
        command: list[str] | None = None,
    ) -> tuple[str, list[str]]:
        name = runner.unique_name(role)
        self.names.append(name)
        values = secret_values(self.specs, self.pg_password, self.redis, self.key, database)
        files = {ca_secret(spec): ca_pem or self.redis.ca_pem}
        secret_dirs = {m.name: runner.secret_dir(spec, files, m.name) for m in spec.mounts if m.secret_files}
        self.tmp_dirs.extend(secret_dirs.values())
        args = runner.run_args(
            spec,
            name=name,
            secret_values=values,
            pg_socket_dir=self.pg.socket_dir,
            secret_dirs=secret_dirs,
            extra_env=extra_env,
            command=command,
        )
        return name, args

    def run(self, spec: ContainerSpec, role: str, timeout: float = 600, **kw: object) -> tuple[int, str]:
        """Run to completion; (exit code, output)."""
        _, args = self._args(spec, role, **kw)  # type: ignore[arg-type]
        proc = podman.podman(*args, check=False, timeout=timeout)
        return proc.returncode, proc.stdout + proc.stderr

    def start(self, spec: ContainerSpec, role: str, **kw: object) -> str:
        name, args = self._args(spec, role, **kw)  # type: ignore[arg-type]
        podman.podman(args[0], "--detach", *args[1:])
        return name

    def stop_all(self) -> None:
        for name in self.names:
            runner.remove(name)
        self.names.clear()

    def close(self) -> None:
        self.stop_all()
        for d in self.tmp_dirs:
            shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def stage(
    specs: CloudRunSpecs,
    image: str,
    postgres: services.Postgres,
    pg_password: str,
    redis: services.Redis,
    secret_key: str,
) -> Iterator[Stage]:
    s = Stage(specs, postgres, pg_password, redis, secret_key)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture(scope="module")
def migrated(stage: Stage, specs: CloudRunSpecs) -> tuple[int, str]:
    """The recorded migration Job, run once on the recorded database (empty before)."""
    database = urlsplit(specs.secret_values[specs.job.secret_env["DATABASE_URL"]]).path.lstrip("/")
    role = urlsplit(specs.secret_values[specs.job.secret_env["DATABASE_URL"]]).username or ""
    stage.pg.create_database(database, role)
    return stage.run(specs.job, "migrate")


# ------------------------------------------------------------------------------ HTTP


def http_get(
    port: int,
    path: str,
    *,
    host: str | None = None,
    headers: dict[str, str] | None = None,
    method: str = "GET",
    body: str | None = None,
) -> tuple[int, dict[str, str], str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        all_headers = {"X-Forwarded-Proto": "https", **(headers or {})}
        if host:
            all_headers["Host"] = host
        conn.request(method, path, body=body, headers=all_headers)
        response = conn.getresponse()
        raw_headers = {k.lower(): v for k, v in response.getheaders()}
        raw_headers["set-cookie"] = "; ".join(response.headers.get_all("Set-Cookie") or [])
        return response.status, raw_headers, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


def wait_for_probe(stage: Stage, name: str, port: int, spec: ContainerSpec) -> float:
    """Poll the startup probe as Cloud Run would (within period x failure threshold); seconds taken."""
    probe = spec.startup_probe
    assert probe is not None
    budget = probe.period_seconds * probe.failure_threshold
    started = time.monotonic()
    last = ""
    while time.monotonic() - started < budget:
        try:
            status, _, body = http_get(port, probe.path)
            if status == 200:
                return time.monotonic() - started
            last = f"{status} {body[:300]}"
        except OSError as exc:
            last = repr(exc)
        state = podman.podman("inspect", "--format", "{{.State.Running}}", name, check=False).stdout.strip()
        if state != "true":
            raise AssertionError(
                f"{spec.resource}: the container exited before its startup probe passed:\n{runner.logs(name)}"
            )
        time.sleep(1)
    raise AssertionError(
        f"{spec.resource}: startup probe {probe.path} did not pass within {budget}s "
        f"(last answer: {last})\n{runner.logs(name)}"
    )


def start_service(stage: Stage, spec: ContainerSpec, **kw: object) -> tuple[str, int]:
    port = services.free_port()
    name = stage.start(spec, "web", extra_env={"PORT": str(port)}, **kw)
    wait_for_probe(stage, name, port, spec)
    return name, port


# --------------------------------------------------------------------- static contract


def contract_mismatches(specs: CloudRunSpecs, image_config: dict[str, object], which: dict[str, str]) -> list[str]:
    """Lines naming every disagreement between the recorded specs and the image's config."""
    out: list[str] = []
    user = str(image_config.get("User") or "")
    if user.split(":")[0] in ("", "0", "root"):
        out.append(f"image: runs as {user or 'root (no USER)'}; Cloud Run containers must run as a non-root user")
    cmd = list(image_config.get("Cmd") or [])  # type: ignore[call-overload]
    entrypoint = list(image_config.get("Entrypoint") or [])  # type: ignore[call-overload]
    service = specs.service
    if service.command or service.args:
        out.append(f"service: recorded command {service.command} args {service.args}; expected the image's CMD")
    elif entrypoint or cmd[:1] != ["gunicorn"]:
        out.append(f"service: the image starts {entrypoint + cmd}, expected Gunicorn (CMD [gunicorn, ...])")
    if "PORT" in service.env:
        out.append("service: sets env PORT, which Cloud Run reserves and sets to the container port")
    if service.container_port is None:
        out.append("service: records no container port")
    for probe_name, probe in (("startup", service.startup_probe), ("liveness", service.liveness_probe)):
        if probe is None:
            out.append(f"service: records no {probe_name} probe")
        elif probe.port != service.container_port:
            out.append(f"service: {probe_name} probe port {probe.port} != container port {service.container_port}")
    if "manage.py migrate" not in " ".join((*specs.job.command, *specs.job.args)):
        out.append(f"job: command {specs.job.command} {specs.job.args} does not run manage.py migrate")
    for spec in (service, *specs.worker_pools.values()):
        if "migrate" in " ".join((*spec.command, *spec.args)):
            out.append(f"{spec.resource}: runs a migration at start: {spec.command} {spec.args}")
    for spec in (service, specs.job, *specs.worker_pools.values()):
        program = (spec.command or tuple(entrypoint) or tuple(cmd))[:1]
        if program and program[0] not in ("sh",) and not which.get(program[0]):
            out.append(f"{spec.resource}: runs {program[0]!r}, which is not on the image's PATH")
        settings = spec.env.get("DJANGO_SETTINGS_MODULE")
        if settings and not which.get(f"module:{settings}"):
            out.append(f"{spec.resource}: DJANGO_SETTINGS_MODULE={settings} is not importable in the image")
        db = urlsplit(specs.secret_values.get(spec.secret_env.get("DATABASE_URL", ""), ""))
        socket_dirs = parse_qs(db.query).get("host", [])
        sql_paths = {f"{m.path.rstrip('/')}/{i}" for m in spec.mounts for i in m.cloudsql_instances}
        for d in socket_dirs:
            if d not in sql_paths:
                out.append(
                    f"{spec.resource}: DATABASE_URL's socket dir {d} is not a mounted Cloud SQL instance "
                    f"{sorted(sql_paths)}"
                )
        redis = urlsplit(specs.secret_values.get(spec.secret_env.get("REDIS_URL", ""), ""))
        ca_files = parse_qs(redis.query).get("ssl_ca_certs", [])
        mounted = {f"{m.path.rstrip('/')}/{f.path}" for m in spec.mounts for f in m.secret_files}
        for ca in ca_files:
            if ca not in mounted:
                out.append(
                    f"{spec.resource}: REDIS_URL's ssl_ca_certs {ca} is not a mounted secret file {sorted(mounted)}"
                )
    worker = specs.worker_pools.get("worker")
    if worker is not None:
        queue = worker.env.get("CELERY_TASK_DEFAULT_QUEUE", "celery")
        args = list(worker.args)
        queues = args[args.index("-Q") + 1].split(",") if "-Q" in args else [queue]
        if queue not in queues:
            out.append(f"worker: consumes {queues}, the web process publishes to {queue!r}")
    return out


def image_facts(image: str) -> tuple[dict[str, object], dict[str, str]]:
    config = json.loads(podman.podman("image", "inspect", "--format", "{{json .Config}}", image).stdout)
    script = (
        'for t in gunicorn celery python sh; do printf \'%s=%s\\n\' "$t" "$(command -v $t)"; done; '
        'python -c \'import importlib.util as u; print("module:project.settings=" + '
        '("yes" if u.find_spec("project.settings") else ""))\''
    )
    out = podman.podman(
        "run", "--rm", "--pull=never", "--network", "none", "--entrypoint", '["sh"]', image, "-c", script
    ).stdout
    which = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return config, which


# ----------------------------------------------------------------------------- tests


def test_the_recording_and_the_image_agree(specs: CloudRunSpecs, image: str) -> None:
    config, which = image_facts(image)
    mismatches = contract_mismatches(specs, config, which)
    assert not mismatches, "recording vs image:\n" + "\n".join(mismatches)


def test_the_contract_check_names_a_mismatch(specs: CloudRunSpecs) -> None:
    """The check above can fail: a root image with a shell CMD and a probe on another port."""
    import dataclasses

    from tests.containers.specs import Probe

    bad_probe = Probe(path="/readyz", port=9999, period_seconds=10, failure_threshold=3, timeout_seconds=1)
    bad = dataclasses.replace(specs, service=dataclasses.replace(specs.service, startup_probe=bad_probe))
    lines = contract_mismatches(bad, {"User": "", "Cmd": ["sh", "-c", "gunicorn app"]}, {})
    assert any("runs as root" in line for line in lines), lines
    assert any("expected Gunicorn" in line for line in lines), lines
    assert any("startup probe port 9999 != container port" in line for line in lines), lines
    assert any("is not on the image's PATH" in line for line in lines), lines


def test_the_image_runs_as_non_root_without_build_tools_on_a_recent_python(image: str) -> None:
    script = (
        "id -u; python -c 'import sys; print(sys.version_info >= (3, 12))'; "
        "for t in gcc cc c++ g++ make ld as apt-get pip3.12-build; do command -v $t || true; done"
    )
    out = podman.podman(
        "run", "--rm", "--pull=never", "--network", "none", "--entrypoint", '["sh"]', image, "-c", script
    ).stdout.split()
    uid, recent, *tools = out
    assert uid != "0", "the image runs as root"
    assert recent == "True", "the image's Python is older than 3.12"
    # apt-get stays in a Debian base, but no compiler, linker or make.
    assert [t for t in tools if not t.endswith("apt-get")] == [], f"build tools in the image: {tools}"


def test_the_job_migrates_and_exits_0(migrated: tuple[int, str], stage: Stage, specs: CloudRunSpecs) -> None:
    code, output = migrated
    assert code == 0, f"{specs.job.resource} exited {code}:\n{output[-3000:]}"
    database = urlsplit(specs.secret_values[specs.job.secret_env["DATABASE_URL"]]).path.lstrip("/")
    assert "notes_note" in stage.pg.tables(database)
    assert stage.pg.psql(database, "SELECT count(*) FROM django_migrations WHERE app = 'notes'") != "0"


def test_a_failing_migration_exits_non_zero(stage: Stage, specs: CloudRunSpecs) -> None:
    """A table in the way of the first migration: migrate fails, and so does the Job's task."""
    role = urlsplit(specs.secret_values[specs.job.secret_env["DATABASE_URL"]]).username or ""
    stage.pg.create_database("broken", role)
    stage.pg.psql("broken", f'CREATE TABLE notes_note (id int); ALTER TABLE notes_note OWNER TO "{role}"')
    code, output = stage.run(specs.job, "migrate-broken", database="broken")
    assert code != 0, f"the Job exited 0 although its migration failed:\n{output[-3000:]}"
    assert "already exists" in output, output[-3000:]


def test_the_service_answers_its_probes_on_port_and_serves_a_page_from_the_database(
    migrated: tuple[int, str], stage: Stage, specs: CloudRunSpecs
) -> None:
    assert migrated[0] == 0, "the migration Job failed (see test_the_job_migrates_and_exits_0)"
    service = specs.service
    name, port = start_service(stage, service)
    assert service.startup_probe is not None and service.liveness_probe is not None
    status, _, body = http_get(port, service.startup_probe.path)
    ready = json.loads(body)
    assert status == 200 and ready["checks"] == {"database": "ok", "cache": "ok"}, body
    assert ready["release"] == service.env["RELEASE_ID"]
    status, _, body = http_get(port, service.liveness_probe.path)
    assert status == 200, f"liveness probe {service.liveness_probe.path}: {status} {body}"
    # A row written straight into the database shows up on the home page.
    text = f"contract-{uuid.uuid4().hex}"
    database = urlsplit(specs.secret_values[specs.job.secret_env["DATABASE_URL"]]).path.lstrip("/")
    stage.pg.psql(database, f"INSERT INTO notes_note (text, created_at) VALUES ('{text}', now())")
    host = service.env["ALLOWED_HOSTS"].split(",")[0]
    status, _, body = http_get(port, "/", host=host)
    assert status == 200 and text in body, f"GET / on {host}: {status}\n{body[:1000]}"
    # Gunicorn runs as configured: WEB_CONCURRENCY workers under the master (PID 1).
    count = (
        "import glob; print(sum(1 for p in glob.glob('/proc/[0-9]*/cmdline') "
        "if any(a.endswith(b'/gunicorn') for a in open(p, 'rb').read().split(b'\\0'))))"
    )
    procs = podman.podman("exec", name, "python", "-c", count).stdout.strip()
    assert int(procs) == 1 + int(service.env["WEB_CONCURRENCY"]), f"gunicorn processes: {procs}"
    # Nothing in the image wants to write where the app user cannot (e.g. Gunicorn's control socket).
    assert "Permission denied" not in runner.logs(name), runner.logs(name)


def test_gunicorn_takes_the_recorded_settings(image: str, specs: CloudRunSpecs) -> None:
    """GUNICORN_CMD_ARGS and WEB_CONCURRENCY from the recording win over the image's defaults."""
    service = specs.service
    env = []
    for key in ("GUNICORN_CMD_ARGS", "WEB_CONCURRENCY"):
        env += ["--env", f"{key}={service.env[key]}"]
    config, _ = image_facts(image)
    cmd = list(config["Cmd"])  # type: ignore[call-overload]
    # --print-config prints, then loads the app, which fails without the secrets: only the print counts.
    out = podman.podman(
        "run",
        "--rm",
        "--pull=never",
        "--network",
        "none",
        *env,
        "--env",
        "PORT=8123",
        "--entrypoint",
        json.dumps(cmd[:1]),
        image,
        *cmd[1:],
        "--print-config",
        check=False,
    ).stdout
    printed = dict(re.findall(r"^(\w+)\s+= (.*)$", out, re.MULTILINE))
    recorded = service.env["GUNICORN_CMD_ARGS"].split()
    for flag, key in (
        ("--threads", "threads"),
        ("--timeout", "timeout"),
        ("--worker-class", "worker_class"),
        ("--graceful-timeout", "graceful_timeout"),
        ("--max-requests", "max_requests"),
    ):
        if flag in recorded:
            assert printed.get(key) == recorded[recorded.index(flag) + 1], f"gunicorn {key}: {printed.get(key)}"
    assert printed.get("workers") == service.env["WEB_CONCURRENCY"]
    assert printed.get("bind") == "['0.0.0.0:8123']", printed.get("bind")


def test_no_migration_runs_at_container_start(stage: Stage, specs: CloudRunSpecs) -> None:
    role = urlsplit(specs.secret_values[specs.job.secret_env["DATABASE_URL"]]).username or ""
    stage.pg.create_database("fresh", role)
    start_service(stage, specs.service, database="fresh")
    worker = stage.start(specs.worker_pools["worker"], "worker-fresh", database="fresh")
    deadline = time.monotonic() + 60
    while "ready" not in runner.logs(worker) and time.monotonic() < deadline:
        time.sleep(1)
    assert "ready" in runner.logs(worker), runner.logs(worker)
    assert stage.pg.tables("fresh") == [], "a container created tables at start (a migration ran)"
    # They share the test Redis with the next tests: a worker on the empty database must not take their tasks.
    stage.stop_all()


def test_the_worker_consumes_a_task_and_beat_schedules_one(
    migrated: tuple[int, str], stage: Stage, specs: CloudRunSpecs, redis: services.Redis, tmp_path: Path
) -> None:
    assert migrated[0] == 0
    (tmp_path / "ca.pem").write_text(redis.ca_pem, encoding="utf-8")
    client = redis.client(tmp_path / "ca.pem")
    client.delete(HEARTBEAT_KEY)
    worker = stage.start(specs.worker_pools["worker"], "worker")
    # The one override: beat's interval, so its first heartbeat comes in seconds, not minutes.
    stage.start(specs.worker_pools["beat"], "beat", extra_env={"CELERY_HEARTBEAT_SECONDS": "2"})
    _, port = start_service(stage, specs.service)
    host = specs.service.env["ALLOWED_HOSTS"].split(",")[0]
    status, headers, _ = http_get(port, "/", host=host)
    token = re.search(r"csrftoken=([^;]+)", headers["set-cookie"])
    assert status == 200 and token, headers
    status, _, body = http_get(
        port,
        "/tasks/ping/",
        host=host,
        method="POST",
        body="",
        headers={
            "Cookie": f"csrftoken={token[1]}",
            "X-CSRFToken": token[1],
            "Origin": f"https://{host}",
            "Referer": f"https://{host}/",
        },
    )
    assert status == 202, f"POST /tasks/ping/: {status} {body[:500]}"
    run_id = json.loads(body)["id"]
    deadline = time.monotonic() + 90
    done = False
    while not done and time.monotonic() < deadline:
        _, _, body = http_get(port, f"/tasks/{run_id}/", host=host)
        done = json.loads(body).get("done") is True
        time.sleep(1)
    assert done, f"the worker did not run task {run_id}:\n{runner.logs(worker)}"
    deadline = time.monotonic() + 60
    while not client.exists(HEARTBEAT_KEY) and time.monotonic() < deadline:
        time.sleep(1)
    assert client.exists(HEARTBEAT_KEY), "beat's heartbeat never reached the worker"


def test_the_redis_ca_mount_verifies_tls(stage: Stage, specs: CloudRunSpecs, redis: services.Redis) -> None:
    """With the recorded URL and CA mount: the issuing CA connects (no hostname check, as recorded:
    the server's name is memorystore.invalid), another CA is refused."""
    probe = [
        "python",
        "-c",
        "import django; django.setup(); from django.core.cache import cache; "
        "cache.set('ca-check', 1); print('CACHE', cache.get('ca-check'))",
    ]
    code, output = stage.run(specs.service, "ca-good", command=probe)
    assert code == 0 and "CACHE 1" in output, output[-2000:]
    code, output = stage.run(specs.service, "ca-other", command=probe, ca_pem=redis.other_ca_pem)
    assert code != 0 and "certificate verify failed" in output, output[-2000:]


def test_a_new_release_id_is_a_new_image(image: str) -> None:
    """A RELEASE_ID build arg reaches the image even with podman's layer cache warm (buildah's
    cache ignores args only an ENV reads; the Dockerfile reads it in a RUN)."""
    release = f"ctest-{uuid.uuid4().hex[:8]}"
    tag = podman.build_app_image("localhost/djangostack-sample:release", build_args=[f"RELEASE_ID={release}"])
    out = podman.podman(
        "run", "--rm", "--pull=never", "--network", "none", "--entrypoint", '["sh"]', tag, "-c", "echo $RELEASE_ID"
    ).stdout.strip()
    assert out == release, f"the image says RELEASE_ID={out}, built with {release}"
