"""The Cloud Run job one-off management commands execute (``manage`` on gcp-cloudrun)."""

from __future__ import annotations

from djangostack.one_off import manage_job_name
from tests.gcp.support import JOB, container, migrate_job, plain_env, revision_template, secret_env
from tests.harness import Recording, Registered


def manage_job(recording: Recording) -> Registered:
    [job] = [r for r in recording.of_type(JOB) if r.name.endswith("-manage")]
    return job


def test_the_manage_job_runs_manage_py_with_the_migrations_image_environment_and_secrets(staging: Recording) -> None:
    job, migrate = manage_job(staging), migrate_job(staging)
    assert container(job)["commands"] == ["python", "manage.py"]
    assert container(job)["image"] == container(migrate)["image"]
    assert plain_env(job) == plain_env(migrate)
    assert secret_env(job) == secret_env(migrate)
    assert container(job)["volumeMounts"] == container(migrate)["volumeMounts"]
    assert revision_template(job)["serviceAccount"] == revision_template(migrate)["serviceAccount"]
    assert revision_template(job)["vpcAccess"] == revision_template(migrate)["vpcAccess"]


def test_the_manage_job_never_runs_during_an_update_and_never_retries(staging: Recording) -> None:
    job = manage_job(staging)
    assert "runExecutionToken" not in job.inputs and "startExecutionToken" not in job.inputs
    assert revision_template(job)["maxRetries"] == 0
    assert revision_template(job)["timeout"] == "3600s"


def test_the_manage_job_is_updated_after_the_migration(staging: Recording) -> None:
    assert manage_job(staging).depends_on(migrate_job(staging))


def test_the_cli_executes_the_job_the_program_creates(prod: Recording) -> None:
    # tests/gcp/Pulumi.prod.yaml (app "notes"), evaluated as the stack "prod".
    assert manage_job(prod).inputs["name"] == manage_job_name("notes", "prod")
