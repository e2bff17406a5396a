"""Small readers over recorded Cloud Run inputs (camelCase, as the engine sees them)."""

from __future__ import annotations

from typing import Any

from tests.harness import Recording, Registered

SERVICE = "gcp:cloudrunv2/service:Service"
JOB = "gcp:cloudrunv2/job:Job"
WORKER_POOL = "gcp:cloudrunv2/workerPool:WorkerPool"
SQL = "gcp:sql/databaseInstance:DatabaseInstance"
REDIS = "gcp:redis/instance:Instance"
SECRET = "gcp:secretmanager/secret:Secret"
SECRET_VERSION = "gcp:secretmanager/secretVersion:SecretVersion"
BUCKET = "gcp:storage/bucket:Bucket"
API = "gcp:projects/service:Service"


def migrate_job(recording: Recording) -> Registered:
    """The migration Job (the stack also has the ``-manage`` Job for one-off commands)."""
    [job] = [r for r in recording.of_type(JOB) if r.name.endswith("-migrate")]
    return job


def revision_template(resource: Registered) -> dict[str, Any]:
    """The per-revision / per-task template of a Service, Job or WorkerPool."""
    template: dict[str, Any] = resource.inputs["template"]
    if resource.type == JOB:
        inner: dict[str, Any] = template["template"]
        return inner
    return template


def container(resource: Registered) -> dict[str, Any]:
    containers = revision_template(resource)["containers"]
    assert len(containers) == 1, f"{resource.name}: expected one container, got {len(containers)}"
    first: dict[str, Any] = containers[0]
    return first


def plain_env(resource: Registered) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container(resource).get("envs", []) if "value" in e}


def secret_env(resource: Registered) -> dict[str, dict[str, str]]:
    """Variable -> {"secret": id, "version": v} for Secret Manager references."""
    return {
        e["name"]: e["valueSource"]["secretKeyRef"] for e in container(resource).get("envs", []) if "valueSource" in e
    }


def api_enablement(recording: Recording, api: str) -> Registered:
    return next(r for r in recording.of_type(API) if r.inputs["service"] == f"{api}.googleapis.com")


def runtime_email(recording: Recording) -> str:
    account = recording.one("gcp:serviceaccount/account:Account")
    email: str = account.state["email"]
    return email


def evaluation_error(stack: str, overrides: dict[str, Any]) -> BaseException:
    """Evaluate a stack expected to fail and return its error."""
    from tests.harness import evaluate_stack

    try:
        evaluate_stack(stack, overrides=overrides)
    except Exception as exc:
        return exc
    raise AssertionError(f"evaluating {stack} with {overrides} succeeded; expected an error")
