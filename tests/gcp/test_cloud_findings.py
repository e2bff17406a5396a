"""Issue 12's GCP findings and issue 10 item 5: what the real cloud and provider do that mocks cannot
show, pinned as exact inputs, dependencies, timeouts, README commands and cloud rules."""

from __future__ import annotations

import hashlib
import re
import ssl
from pathlib import Path
from typing import Any

import pytest
import yaml

from djangostack.settings.errors import SettingsError
from djangostack.settings.loading import load_from_stack_file
from djangostack.targets.gcp import rules
from djangostack.targets.gcp.django_on_cloudrun import (
    MIGRATION_CONNECT_WAIT_SECONDS,
    MIGRATION_MAX_RETRIES,
    PROPAGATION_WAIT_SECONDS,
    migrate_script,
)
from djangostack.targets.gcp.naming import EXECUTION_NAME_MAX, execution_token
from djangostack.targets.gcp.project_services import API_NAMES
from tests.gcp.support import (
    API,
    JOB,
    SECRET,
    SERVICE,
    WORKER_POOL,
    api_enablement,
    container,
    migrate_job,
    revision_template,
)
from tests.harness import Recording, Registered, evaluate_stack, fixture_stack
from tests.upgrade.urns import make_urn

REPO = Path(__file__).resolve().parents[2]
STAGING_FILE = fixture_stack("staging")
RELEASE = "2026.11.25-1"
IMAGE = "europe-west1-docker.pkg.dev/acme-notes-staging/notes-staging/app:2026.11.25-1"
COMMAND = "command:local:Command"
GRANT_TYPES = (
    "gcp:projects/iAMMember:IAMMember",
    "gcp:storage/bucketIAMMember:BucketIAMMember",
    "gcp:serviceaccount/iAMMember:IAMMember",
    "gcp:secretmanager/secretIamMember:SecretIamMember",
)


def _staging_target(**changes: Any) -> dict[str, Any]:
    """The committed staging stack's ``target`` with ``changes`` (read only to build overrides)."""
    document = yaml.safe_load(STAGING_FILE.read_text(encoding="utf-8"))
    return {**document["config"]["djangostack:target"], **changes}


def _seconds(duration: str) -> int:
    assert duration.endswith("s"), duration
    return int(duration[:-1])


def _engine_urns(rec: Recording) -> dict[str, str]:
    """The URNs the real engine gives, by the mocks URN: the SDK's mocks put the root stack's type
    into the type chain of top-level resources and keep only the last type of a parent's chain; the
    engine leaves the root stack out and qualifies a child's type with its parent's whole chain
    (``tests.upgrade.urns``). README commands must name what the engine uses."""
    engine: dict[str, str] = {}
    for resource in rec.resources:  # registration order: a parent before its children
        head, project = resource.urn.split("::")[:2]
        stack = head.split(":")[2]
        engine[resource.urn] = make_urn(stack, project, engine.get(resource.parent, ""), resource.type, resource.name)
    return engine


def _gcp_readme() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index("### Google Cloud (`gcp-cloudrun`)")
    return text[start : text.index("\n## ", start)]


def _commands(section: str, verb: str) -> list[str]:
    """Shell commands of the fenced blocks in ``section`` starting with ``verb`` (continuations joined)."""
    commands: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL):
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            line = line.split("   #", 1)[0].strip()
            if line.startswith(verb):
                commands.append(" ".join(line.split()))
    return commands


def _targets(command: str) -> set[str]:
    return set(re.findall(r"--target '([^']+)'", command))


# ------------------------------------------------------------------------ 1: the execution wait


def test_the_job_waits_for_task_timeout_times_attempts_not_the_provider_default(staging: Recording) -> None:
    job = migrate_job(staging)
    task_timeout = _seconds(revision_template(job)["timeout"])
    attempts = int(revision_template(job)["maxRetries"]) + 1
    expected = f"{task_timeout * attempts + rules.EXECUTION_START_MARGIN_SECONDS}s"
    assert job.options["custom_timeouts"] == {"create": expected, "update": expected}
    assert _seconds(expected) > task_timeout * attempts > rules.PROVIDER_DEFAULT_WAIT_SECONDS


@pytest.mark.parametrize(
    ("wait", "timeout", "retries", "message"),
    [
        (rules.PROVIDER_DEFAULT_WAIT_SECONDS, 1800, 0, "must exceed the task timeout x attempts (1800s x 1"),
        (5400, 1800, 2, "(1800s x 3 = 5400s)"),
        (9000, 1800, 11, "maxRetries 11 is outside 0..10"),
        (200000, 100000, 0, "task timeout 100000s is outside"),
    ],
)
def test_the_execution_wait_rule_refuses_waits_the_execution_can_outlast(
    wait: int, timeout: int, retries: int, message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        rules.check_execution_wait(wait, timeout, retries)


# ---------------------------------------------- 2 / issue 10 item 5: attempts and failure modes


def test_attempt_one_keeps_the_token_of_a_deployed_release() -> None:
    """An upgrade must not re-run a deployed release's migration: attempt 1 hashes as before."""
    legacy = hashlib.sha256(f"{RELEASE}\n{IMAGE}".encode()).hexdigest()[:16]
    assert execution_token(RELEASE, IMAGE) == execution_token(RELEASE, IMAGE, 1) == legacy


def test_every_attempt_gets_a_token_never_used_before() -> None:
    tokens = {execution_token(RELEASE, IMAGE, attempt) for attempt in range(1, 201)}
    assert len(tokens) == 200
    assert execution_token("2026.11.25-2", IMAGE) not in tokens


def test_bumping_the_attempt_reruns_only_the_migration(staging: Recording) -> None:
    bumped = evaluate_stack("staging", overrides={"target": _staging_target(migrationAttempt=2)})
    job, old_job = migrate_job(bumped), migrate_job(staging)
    assert job.inputs["runExecutionToken"] == execution_token(RELEASE, IMAGE, 2)
    assert job.inputs["runExecutionToken"] != old_job.inputs["runExecutionToken"]
    assert len("notes-staging-migrate") + len(job.inputs["runExecutionToken"]) < EXECUTION_NAME_MAX
    # Nothing else changes: no new revision, no new worker pool template, the same Job template.
    assert {k: v for k, v in job.inputs.items() if k != "runExecutionToken"} == {
        k: v for k, v in old_job.inputs.items() if k != "runExecutionToken"
    }
    assert bumped.one(SERVICE).inputs == staging.one(SERVICE).inputs
    for pool in bumped.of_type(WORKER_POOL):
        assert pool.inputs == staging.one(WORKER_POOL, pool.name).inputs


def test_the_same_settings_send_the_same_token_so_an_unchanged_stack_starts_nothing(staging: Recording) -> None:
    again = evaluate_stack("staging", overrides={"target": _staging_target(migrationAttempt=1)})
    assert migrate_job(again).inputs == migrate_job(staging).inputs


def test_a_migration_attempt_below_one_is_refused_naming_the_key(tmp_path: Path) -> None:
    document = yaml.safe_load(STAGING_FILE.read_text(encoding="utf-8"))
    document["config"]["djangostack:target"]["migrationAttempt"] = 0
    path = tmp_path / "Pulumi.attempt.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    with pytest.raises(SettingsError) as caught:
        load_from_stack_file(path)
    (line,) = [line for line in caught.value.lines if "migrationAttempt" in line]
    assert line.startswith("djangostack:target.migrationAttempt:")
    assert "greater than or equal to 1" in line


def test_the_readme_gives_the_way_forward_for_both_upstream_failure_modes(staging: Recording) -> None:
    section = _gcp_readme()
    (bump,) = {c for c in _commands(section, "pulumi config set") if "migrationAttempt" in c}
    assert bump == "pulumi config set --path --type int 'djangostack:target.migrationAttempt' 2"
    assert "24451" in section and "19060" in section
    (refresh,) = _commands(section, "pulumi refresh")
    assert _targets(refresh.replace("--exclude", "--target")) == {_engine_urns(staging)[migrate_job(staging).urn]}
    job_name = migrate_job(staging).inputs["name"]
    assert f"--job {job_name} --region europe-west1" in section


# --------------------------------------------------------- 3: API enablement and IAM propagation


def test_the_job_waits_for_every_api_and_grant_and_then_for_their_propagation(staging: Recording) -> None:
    wait = staging.one(COMMAND)
    assert wait.inputs["create"] == f"sleep {PROPAGATION_WAIT_SECONDS}"
    assert PROPAGATION_WAIT_SECONDS >= 120
    grants = [r for kind in GRANT_TYPES for r in staging.of_type(kind)]
    enablements = [api_enablement(staging, api) for api in API_NAMES]
    assert len(grants) == 7
    for prerequisite in (*grants, *enablements):
        assert wait.depends_on(prerequisite), f"the propagation wait does not wait for {prerequisite.name}"
        assert migrate_job(staging).depends_on(prerequisite), f"the Job does not wait for {prerequisite.name}"
    assert migrate_job(staging).depends_on(wait)
    # A replaced grant or enablement (new id) waits again.
    assert sorted(wait.inputs["triggers"]) == sorted(r.id for r in (*grants, *enablements))


def test_the_job_retries_transient_task_failures_and_waits_for_the_database(staging: Recording) -> None:
    job = migrate_job(staging)
    assert revision_template(job)["maxRetries"] == MIGRATION_MAX_RETRIES == 2
    script = container(job)["args"][0]
    assert script == migrate_script()
    polls = MIGRATION_CONNECT_WAIT_SECONDS // 5
    assert script.startswith("n=0; until python manage.py check --database default >/dev/null 2>&1; do ")
    assert f'if [ "$n" -ge {polls} ]' in script and "sleep 5; done;" in script
    assert script.endswith("exec python manage.py migrate --noinput")


# --------------------------------------------------------------------- 4a: the first-image command


def test_the_readme_first_image_targets_are_the_repository_and_everything_it_needs(staging: Recording) -> None:
    by_urn = {r.urn: r for r in staging.resources}
    repository = staging.one("gcp:artifactregistry/repository:Repository")
    needed: set[str] = set()
    pending = [repository.urn]
    while pending:
        urn = pending.pop()
        resource = by_urn.get(urn)
        if urn in needed or resource is None or resource.type == "pulumi:pulumi:Stack":
            continue  # the root stack and providers are targeted implicitly by the engine
        if resource.type.startswith("pulumi:providers:"):
            continue
        needed.add(urn)
        pending.extend(resource.dependencies)
        pending.extend(d for deps in resource.property_dependencies.values() for d in deps)
        if resource.parent:
            pending.append(resource.parent)
    (first,) = [c for c in _commands(_gcp_readme(), "pulumi up") if "--target" in c]
    assert _targets(first) == {_engine_urns(staging)[urn] for urn in needed}
    assert len(needed) == 4  # the root DjangoStack, ProjectServices, the API and the repository
    pushed = [c for c in _commands(_gcp_readme(), "docker push")]
    assert pushed == [f"docker push {IMAGE}"]
    assert IMAGE.split("/")[2] == repository.inputs["repositoryId"]


# ---------------------------------------------------------------- 4b: Redis hostname checking


def test_redis_url_verifies_the_ca_but_not_the_hostname_in_redis_py_and_kombu(staging: Recording) -> None:
    from kombu.utils.url import parse_url as kombu_parse_url
    from redis.connection import SSLConnection, parse_url

    url = staging.outputs["redisUrl"]
    assert url.endswith("?ssl_cert_reqs=required&ssl_ca_certs=/etc/redis-ca/ca.pem&ssl_check_hostname=false")
    kwargs: dict[str, Any] = parse_url(url)  # type: ignore[no-untyped-call]
    connection = SSLConnection(**{k: v for k, v in kwargs.items() if k != "connection_class"})
    assert connection.check_hostname is False
    assert connection.cert_reqs == ssl.CERT_REQUIRED
    assert connection.ca_certs == "/etc/redis-ca/ca.pem"
    broker_ssl = kombu_parse_url(url)["ssl"]
    assert broker_ssl["ssl_check_hostname"] is False
    assert broker_ssl["ssl_cert_reqs"] == ssl.CERT_REQUIRED


def test_redis_py_checks_hostnames_by_default_which_is_why_the_url_says_so() -> None:
    from redis.connection import SSLConnection

    assert SSLConnection(host="10.20.1.4", ssl_cert_reqs="required").check_hostname is True


# ------------------------------------------------------------------------ 4c: public invoker


def test_a_public_service_disables_the_invoker_check_instead_of_granting_all_users(staging: Recording) -> None:
    assert staging.one(SERVICE).inputs["invokerIamDisabled"] is True
    assert not staging.of_type("gcp:cloudrunv2/serviceIamMember:ServiceIamMember")
    private = evaluate_stack("staging", overrides={"target": _staging_target(public=False)})
    assert private.one(SERVICE).inputs["invokerIamDisabled"] is False


# ----------------------------------------------------------------------- 4d: two-phase teardown


def _dependents_closure(recording: Recording, root: Registered) -> set[str]:
    """What ``pulumi destroy --target root --target-dependents`` deletes: root and everything that
    depends on it or is its descendant, transitively."""
    chosen = {root.urn}
    changed = True
    while changed:
        changed = False
        for resource in recording.resources:
            links = {
                *resource.dependencies,
                *(d for deps in resource.property_dependencies.values() for d in deps),
                resource.parent,
            }
            if resource.urn not in chosen and links & chosen:
                chosen.add(resource.urn)
                changed = True
    return chosen


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_teardown_phase_one_deletes_exactly_the_cloud_run_workloads(
    stack: str, staging: Recording, prod: Recording
) -> None:
    recording = {"staging": staging, "prod": prod}[stack]
    (component,) = recording.of_type("djangostack:gcp:DjangoOnCloudRun")
    phase_one = _dependents_closure(recording, component)
    kinds = {r.type for r in recording.resources if r.urn in phase_one}
    assert kinds == {
        "djangostack:gcp:DjangoOnCloudRun",
        SERVICE,
        JOB,
        WORKER_POOL,
        COMMAND,
        "gcp:cloudrun/domainMapping:DomainMapping",
    }
    subnet = recording.one("gcp:compute/subnetwork:Subnetwork")
    assert subnet.urn not in phase_one
    for urn in phase_one:
        resource = next(r for r in recording.resources if r.urn == urn)
        assert not resource.protect, f"{resource.name} would block phase one"
        assert resource.inputs.get("deletionProtection") in (None, False), resource.name
    if stack == "staging":
        (command,) = [c for c in _commands(_gcp_readme(), "pulumi destroy") if "--target" in c]
        assert "--target-dependents" in command
        assert _targets(command) == {_engine_urns(recording)[component.urn]}


def test_the_readme_tears_down_in_two_phases_with_commands() -> None:
    destroys = _commands(_gcp_readme(), "pulumi destroy")
    assert len(destroys) == 2
    assert "--target" in destroys[0] and destroys[1] == "pulumi destroy --yes"
    assert "one to two hours" in _gcp_readme()


# ---------------------------------------------------- 4e: startup probe reaches database and Redis


def test_the_startup_probe_waits_for_database_and_redis_on_the_readiness_path(staging: Recording) -> None:
    probe = container(staging.one(SERVICE))["startupProbe"]
    assert probe == {
        "httpGet": {"path": "/readyz", "port": 8080},
        "periodSeconds": 10,
        "timeoutSeconds": 5,
        "failureThreshold": 24,
    }
    rules.check_startup_probe(probe["periodSeconds"], probe["timeoutSeconds"], probe["failureThreshold"])
    assert container(staging.one(SERVICE))["livenessProbe"]["httpGet"]["path"] == "/healthz"


@pytest.mark.parametrize(
    ("period", "timeout", "failures", "message"),
    [(10, 5, 25, "= 250s; at most 240s"), (5, 6, 10, "timeoutSeconds 6 must be 1..periodSeconds (5)")],
)
def test_the_startup_probe_rule_refuses_what_cloud_run_refuses(
    period: int, timeout: int, failures: int, message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        rules.check_startup_probe(period, timeout, failures)


# ------------------------------------------------------- 4f: one image repository per stack


def test_two_stacks_of_one_app_in_one_project_get_distinct_repositories(tmp_path: Path, staging: Recording) -> None:
    other = tmp_path / "Pulumi.staging-eu.yaml"
    other.write_text(STAGING_FILE.read_text(encoding="utf-8"), encoding="utf-8")
    second = evaluate_stack(other)
    ids = [r.one("gcp:artifactregistry/repository:Repository").inputs["repositoryId"] for r in (staging, second)]
    assert ids == ["notes-staging", "notes-staging-eu"]
    assert staging.one("gcp:artifactregistry/repository:Repository").options["retain_on_delete"] is False


def test_the_prod_repository_outlives_pulumi_deleting_it(prod: Recording) -> None:
    repository = prod.one("gcp:artifactregistry/repository:Repository")
    assert repository.inputs["repositoryId"] == "notes-prod"
    assert repository.options["retain_on_delete"] is True


@pytest.mark.parametrize("bad", ["9notes", "notes-", "Notes", "n" * 64])
def test_the_repository_id_rule(bad: str) -> None:
    with pytest.raises(ValueError, match="Artifact Registry repository id"):
        rules.check_repository_id(bad)


# ----------------------------------------------------------- 5a: secrets stay in the region


def test_secrets_are_replicated_only_in_the_stack_region(prod: Recording) -> None:
    for secret in prod.of_type(SECRET):
        assert secret.inputs["replication"] == {"userManaged": {"replicas": [{"location": "europe-west1"}]}}
        assert "auto" not in secret.inputs["replication"]
        assert secret.inputs["secretId"].endswith("-europe-west1")


@pytest.mark.parametrize("bad", ["global", "eu", "europe"])
def test_the_replica_location_rule_refuses_multi_regions(bad: str) -> None:
    with pytest.raises(ValueError, match="not a single region"):
        rules.secret_replica_locations(bad)


# --------------------------------------------- 5b: Celery can be turned off in protected stacks


def test_turning_celery_off_in_prod_deletes_unprotected_worker_pools(prod: Recording) -> None:
    for pool in prod.of_type(WORKER_POOL):
        assert pool.inputs["deletionProtection"] is False, pool.name
        assert not pool.protect
    without = evaluate_stack(
        Path(__file__).with_name("Pulumi.prod.yaml"), overrides={"celery": {"worker": False, "beat": False}}
    )
    assert not without.of_type(WORKER_POOL)
    assert without.one(API.replace("projects/service:Service", "sql/databaseInstance:DatabaseInstance")).protect
