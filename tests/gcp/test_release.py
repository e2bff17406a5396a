"""The release path: migration Job gating the Service, execution token, workloads, URLs, config."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from djangostack.settings.errors import SettingsError
from djangostack.settings.loading import load_from_stack_file
from djangostack.targets.gcp.django_on_cloudrun import MIGRATION_MAX_RETRIES, migrate_script
from djangostack.targets.gcp.naming import execution_token
from djangostack.targets.gcp.target import TARGET_ENV
from tests.gcp.support import (
    JOB,
    SERVICE,
    WORKER_POOL,
    container,
    evaluation_error,
    migrate_job,
    plain_env,
    revision_template,
    secret_env,
)
from tests.harness import Recording, evaluate_stack, fixture_stack

STAGING_APP = {
    "name": "notes",
    "releaseId": "2026.11.25-1",
    "image": "europe-west1-docker.pkg.dev/acme-notes-staging/notes-staging/app:2026.11.25-1",
}


def _token(recording: Recording) -> str:
    token: str = migrate_job(recording).inputs["runExecutionToken"]
    return token


# ------------------------------------------------------------------------------------ migration job


def test_migration_job_runs_migrate_once_with_the_release_image(staging: Recording) -> None:
    job = migrate_job(staging)
    migrate = container(job)
    assert migrate["commands"] == ["sh", "-c"]
    assert migrate["args"] == [migrate_script()]
    assert migrate["args"][0].endswith("; exec python manage.py migrate --noinput")
    assert migrate["image"] == STAGING_APP["image"]
    assert job.inputs["template"]["taskCount"] == 1
    assert revision_template(job)["maxRetries"] == MIGRATION_MAX_RETRIES == 2


def test_migration_job_waits_for_success_not_just_start(staging: Recording) -> None:
    job = migrate_job(staging)
    assert job.inputs["runExecutionToken"]
    assert "startExecutionToken" not in job.inputs


def test_job_shares_the_services_environment_secrets_socket_and_egress(staging: Recording) -> None:
    job, service = migrate_job(staging), staging.one(SERVICE)
    assert plain_env(job) == plain_env(service)
    assert secret_env(job) == secret_env(service)
    assert revision_template(job)["volumes"] == revision_template(service)["volumes"]
    assert container(job)["volumeMounts"] == container(service)["volumeMounts"]
    assert revision_template(job)["vpcAccess"] == revision_template(service)["vpcAccess"]


def test_the_service_takes_traffic_only_after_the_migration_job(staging: Recording) -> None:
    job = migrate_job(staging)
    assert staging.depends_transitively(staging.one(SERVICE), job)
    for pool in staging.of_type(WORKER_POOL):
        assert staging.depends_transitively(pool, job), f"{pool.name} may run new code before migrations"


def test_the_migration_job_starts_only_after_its_grants_exist(staging: Recording) -> None:
    job = migrate_job(staging)
    for grant in (
        *staging.of_type("gcp:secretmanager/secretIamMember:SecretIamMember"),
        staging.one("gcp:projects/iAMMember:IAMMember"),
    ):
        assert staging.depends_transitively(job, grant), f"the job may run before {grant.name}"
    assert staging.depends_transitively(job, staging.one("gcp:sql/user:User"))


def test_migrations_never_run_at_container_start(staging: Recording) -> None:
    for workload in (staging.one(SERVICE), *staging.of_type(WORKER_POOL)):
        command = " ".join([*container(workload).get("commands", []), *container(workload).get("args", [])])
        assert "migrate" not in command, workload.name


def test_execution_token_is_derived_from_release_id_and_image(staging: Recording) -> None:
    assert _token(staging) == execution_token(STAGING_APP["releaseId"], STAGING_APP["image"])
    assert len("notes-staging-migrate") + len(_token(staging)) < 63


def test_an_unchanged_release_keeps_the_execution_token(staging: Recording) -> None:
    again = evaluate_stack("staging")
    assert _token(again) == _token(staging)
    assert migrate_job(again).inputs == migrate_job(staging).inputs


def test_a_new_image_changes_the_execution_token(staging: Recording) -> None:
    image = STAGING_APP["image"].replace(":2026.11.25-1", "@sha256:" + "ab" * 32)
    changed = evaluate_stack("staging", overrides={"app": {**STAGING_APP, "image": image}})
    assert _token(changed) != _token(staging)
    assert container(changed.one(SERVICE))["image"] == image


def test_a_new_release_id_changes_the_execution_token(staging: Recording) -> None:
    changed = evaluate_stack("staging", overrides={"app": {**STAGING_APP, "releaseId": "2026.11.25-2"}})
    assert _token(changed) != _token(staging)
    assert plain_env(changed.one(SERVICE))["RELEASE_ID"] == "2026.11.25-2"
    assert changed.outputs["releaseId"] == "2026.11.25-2"


# ------------------------------------------------------------------------------------------ service


def test_service_runs_the_pinned_image_with_the_cloud_sql_socket_and_direct_vpc_egress(
    staging: Recording,
) -> None:
    service = staging.one(SERVICE)
    template = revision_template(service)
    (sql_volume, _ca) = template["volumes"]
    assert sql_volume == {
        "name": "cloudsql",
        "cloudSqlInstance": {"instances": ["acme-notes-staging:europe-west1:notes-staging-db"]},
    }
    assert {"name": "cloudsql", "mountPath": "/cloudsql"} in container(service)["volumeMounts"]
    vpc = template["vpcAccess"]
    assert vpc["egress"] == "PRIVATE_RANGES_ONLY"
    (interface,) = vpc["networkInterfaces"]
    assert interface["subnetwork"] == staging.one("gcp:compute/subnetwork:Subnetwork").id


def test_service_mounts_the_redis_ca_that_redis_url_points_at(staging: Recording) -> None:
    service = staging.one(SERVICE)
    ca_volume = next(v for v in revision_template(service)["volumes"] if v["name"] == "redis-ca")
    assert ca_volume["secret"]["secret"] == "notes-staging-redis-ca-europe-west1"
    assert ca_volume["secret"]["items"][0]["path"] == "ca.pem"
    assert {"name": "redis-ca", "mountPath": "/etc/redis-ca"} in container(service)["volumeMounts"]


def test_service_environment_names_hosts_origins_media_release_and_tuning(staging: Recording) -> None:
    env = plain_env(staging.one(SERVICE))
    run_host = "notes-staging-123456789012.europe-west1.run.app"
    assert env["ALLOWED_HOSTS"] == f"{run_host},staging.notes.example.com"
    assert env["CSRF_TRUSTED_ORIGINS"] == f"https://{run_host},https://staging.notes.example.com"
    assert env["DJANGO_SETTINGS_MODULE"] == "project.settings"
    assert env["MEDIA_STORAGE"] == "gcs"
    assert env["MEDIA_BUCKET"] == staging.outputs["mediaBucket"]
    assert env["RELEASE_ID"] == "2026.11.25-1"
    assert env["LOG_LEVEL"] == "INFO"
    assert env["WEB_CONCURRENCY"] == "2"
    assert env["SECURE_HSTS_SECONDS"] == "300"
    assert "--threads 4 --timeout 120" in env["GUNICORN_CMD_ARGS"]
    # The app contract's names (contract.app_env, as on the hosts) plus Gunicorn's, nothing else.
    assert set(env) == TARGET_ENV | {
        "ALLOWED_HOSTS",
        "CSRF_TRUSTED_ORIGINS",
        "DJANGO_SETTINGS_MODULE",
        "RELEASE_ID",
        "DJANGO_DEBUG",
        "SECURE_SSL_REDIRECT",
        "USE_X_FORWARDED_HOST",
        "FILE_UPLOAD_MAX_MEMORY_SIZE",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONUNBUFFERED",
    }
    assert env["DJANGO_DEBUG"] == "false" and env["SECURE_SSL_REDIRECT"] == "true"


def test_env_names_reach_every_workload_and_secrets_stay_references() -> None:
    """app.envNames on Cloud Run: the app's names, from the same builder as the hosts; a renamed
    secret is still a Secret Manager reference (never a plain value) under its new name."""
    names = {"SECRET_KEY": "DJANGO_SECRET_KEY", "DATABASE_URL": "DB_URL", "LOG_LEVEL": "DJANGO_LOG_LEVEL"}
    recording = evaluate_stack("staging", overrides={"app": {**STAGING_APP, "envNames": names}})
    workloads = [
        *recording.of_type(SERVICE),
        *recording.of_type(JOB),
        *recording.of_type(WORKER_POOL),
    ]
    assert len(workloads) == 5
    for workload in workloads:
        plain, secret = plain_env(workload), secret_env(workload)
        assert secret["DJANGO_SECRET_KEY"]["secret"] == "notes-staging-secret-key-europe-west1", workload.name
        assert secret["DB_URL"]["secret"] == "notes-staging-database-url-europe-west1"
        assert not {"SECRET_KEY", "DATABASE_URL"} & (set(secret) | set(plain))
        assert not {"DJANGO_SECRET_KEY", "DB_URL"} & set(plain)
        assert plain["DJANGO_LOG_LEVEL"] == "INFO" and "LOG_LEVEL" not in plain
    # The values themselves never reach a workload's inputs in plaintext.
    for workload in workloads:
        assert "mock-random" not in str(workload.inputs) and "postgres://" not in str(workload.inputs)


def test_extra_env_is_passed_through_but_cannot_override_managed_variables(prod: Recording) -> None:
    assert plain_env(prod.one(SERVICE))["FEATURE_FLAGS"] == "reports,exports"
    error = evaluation_error("staging", {"app": {**STAGING_APP, "extraEnv": {"ALLOWED_HOSTS": "*"}}})
    assert "djangostack:app.extraEnv: ALLOWED_HOSTS" in str(error)


def test_liveness_probe_uses_the_liveness_path(staging: Recording) -> None:
    web = container(staging.one(SERVICE))
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert "readinessProbe" not in web


def test_service_scaling_concurrency_resources_timeout_and_ingress(staging: Recording, prod: Recording) -> None:
    service = staging.one(SERVICE)
    template = revision_template(service)
    assert template["scaling"] == {"minInstanceCount": 0, "maxInstanceCount": 5}
    # 40 requested, but 2 workers x 4 threads serve 8 at once.
    assert template["maxInstanceRequestConcurrency"] == 8
    assert template["timeout"] == "60s"
    assert container(service)["resources"]["limits"] == {"cpu": "1", "memory": "512Mi"}
    assert service.inputs["ingress"] == "INGRESS_TRAFFIC_ALL"
    prod_template = revision_template(prod.one(SERVICE))
    assert prod_template["scaling"]["minInstanceCount"] == 1
    assert prod_template["timeout"] == "120s"


# --------------------------------------------------------------------------------------- celery


def test_celery_worker_and_beat_are_worker_pools_with_one_beat_instance(prod: Recording) -> None:
    pools = {p.inputs["name"]: p for p in prod.of_type(WORKER_POOL)}
    assert set(pools) == {"notes-prod-worker", "notes-prod-beat"}
    worker = container(pools["notes-prod-worker"])
    assert worker["commands"] == ["celery"]
    assert worker["args"][:3] == ["-A", "project", "worker"]
    assert worker["args"][-2:] == ["-Q", "celery,emails"]
    assert "--concurrency=4" in worker["args"]
    beat = pools["notes-prod-beat"]
    assert container(beat)["args"][:3] == ["-A", "project", "beat"]
    assert beat.inputs["scaling"] == {"scalingMode": "MANUAL", "manualInstanceCount": 1}
    assert plain_env(beat) == plain_env(prod.one(SERVICE))


# ------------------------------------------------------------------------------- domains and urls


def test_each_custom_domain_is_mapped_to_the_service(prod: Recording) -> None:
    mappings = prod.of_type("gcp:cloudrun/domainMapping:DomainMapping")
    assert sorted(m.inputs["name"] for m in mappings) == ["notes.example.com", "www.notes.example.com"]
    for mapping in mappings:
        assert mapping.inputs["spec"]["routeName"] == "notes-prod"
        assert mapping.inputs["metadata"]["namespace"] == "acme-notes-prod"


def test_url_is_the_custom_domain_and_hostnames_cover_allowed_hosts(prod: Recording) -> None:
    assert prod.outputs["url"] == "https://notes.example.com"
    assert prod.outputs["hostnames"] == [
        "notes-prod-123456789012.europe-west1.run.app",
        "notes.example.com",
        "www.notes.example.com",
    ]
    assert plain_env(prod.one(SERVICE))["ALLOWED_HOSTS"] == ",".join(prod.outputs["hostnames"])


def test_without_domains_the_url_is_the_deterministic_run_app_url_django_accepts() -> None:
    recording = evaluate_stack("staging", overrides={"domain": {"names": []}})
    url = recording.outputs["url"]
    assert url == "https://notes-staging-123456789012.europe-west1.run.app"
    assert plain_env(recording.one(SERVICE))["ALLOWED_HOSTS"] == url.removeprefix("https://")
    assert not recording.of_type("gcp:cloudrun/domainMapping:DomainMapping")
    assert recording.invokes[0].token == "gcp:organizations/getProject:getProject"


def test_outputs_follow_the_contract(staging: Recording) -> None:
    from djangostack.contract.outputs import contract_names

    assert set(staging.outputs) == set(contract_names())
    assert staging.outputs["target"] == "gcp-cloudrun"
    assert staging.outputs["databaseName"] == "app"
    assert staging.outputs["networkIds"]["privateSubnetIds"] == [staging.one("gcp:compute/subnetwork:Subnetwork").id]


# ------------------------------------------------------------------------------------- settings


def _stack_file_with_image(tmp_path: Path, image: str) -> Path:
    staging = fixture_stack("staging")
    document = yaml.safe_load(staging.read_text(encoding="utf-8"))
    document["config"]["djangostack:app"]["image"] = image
    path = tmp_path / "Pulumi.imagecheck.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("image", "reason"),
    [
        ("europe-west1-docker.pkg.dev/acme-notes-staging/notes-staging/app:latest", "mutable tag 'latest'"),
        ("europe-west1-docker.pkg.dev/acme-notes-staging/notes-staging/app", "has no tag"),
    ],
)
def test_a_mutable_or_untagged_image_is_rejected_naming_the_key(tmp_path: Path, image: str, reason: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_from_stack_file(_stack_file_with_image(tmp_path, image))
    (line,) = [line for line in caught.value.lines if "app.image" in line]
    assert line.startswith("djangostack:app.image:")
    assert reason in line
    assert image in line


def test_a_digest_pinned_image_is_accepted(tmp_path: Path) -> None:
    image = "europe-west1-docker.pkg.dev/acme-notes-staging/notes-staging/app@sha256:" + "0" * 64
    assert load_from_stack_file(_stack_file_with_image(tmp_path, image)).app.image == image
