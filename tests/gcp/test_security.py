"""Least-privilege IAM, secrets by reference, nothing secret in plaintext, deletion protection."""

from __future__ import annotations

import re

import pytest

from djangostack.contract.outputs import SECRET_OUTPUTS
from tests.gcp.support import (
    BUCKET,
    REDIS,
    SECRET,
    SECRET_VERSION,
    SERVICE,
    SQL,
    WORKER_POOL,
    migrate_job,
    runtime_email,
    secret_env,
)
from tests.harness import Recording, Registered, evaluate_stack

IAM_TYPE = re.compile(r"iam(member|binding|policy)", re.IGNORECASE)


def _grants(recording: Recording) -> set[tuple[str, str, str, str]]:
    """(scope kind, scope, role, member) for every IAM resource the program created."""
    scope_keys = {
        "gcp:projects/iAMMember:IAMMember": ("project", "project"),
        "gcp:secretmanager/secretIamMember:SecretIamMember": ("secret", "secretId"),
        "gcp:storage/bucketIAMMember:BucketIAMMember": ("bucket", "bucket"),
        "gcp:serviceaccount/iAMMember:IAMMember": ("serviceAccount", "serviceAccountId"),
        "gcp:cloudrunv2/serviceIamMember:ServiceIamMember": ("runService", "name"),
    }
    grants = set()
    for resource in recording.resources:
        if not IAM_TYPE.search(resource.type.rsplit(":", 1)[-1]):
            continue
        assert resource.type in scope_keys, f"unexpected IAM resource type {resource.type} ({resource.name})"
        kind, key = scope_keys[resource.type]
        grants.add((kind, resource.inputs[key], resource.inputs["role"], resource.inputs["member"]))
    return grants


def test_iam_grants_are_exactly_the_least_privilege_set(staging: Recording) -> None:
    runtime = f"serviceAccount:{runtime_email(staging)}"
    account_name = staging.one("gcp:serviceaccount/account:Account").state["name"]
    secret_ids = {r.inputs["secretId"] for r in staging.of_type(SECRET)}
    assert secret_ids == {
        "notes-staging-secret-key-europe-west1",
        "notes-staging-database-url-europe-west1",
        "notes-staging-redis-url-europe-west1",
        "notes-staging-redis-ca-europe-west1",
    }
    expected = {
        ("project", "acme-notes-staging", "roles/cloudsql.client", runtime),
        ("bucket", "acme-notes-staging-notes-staging-media", "roles/storage.objectAdmin", runtime),
        ("serviceAccount", account_name, "roles/iam.serviceAccountTokenCreator", runtime),
        *{("secret", sid, "roles/secretmanager.secretAccessor", runtime) for sid in secret_ids},
    }
    assert _grants(staging) == expected


def test_secret_access_is_granted_per_secret_never_project_wide(staging: Recording) -> None:
    project_roles = {role for kind, _, role, _ in _grants(staging) if kind == "project"}
    assert project_roles == {"roles/cloudsql.client"}


def test_a_private_service_gets_no_public_invoker_binding() -> None:
    recording = evaluate_stack(
        "staging",
        overrides={
            "target": {
                "kind": "gcp-cloudrun",
                "project": "acme-notes-staging",
                "region": "europe-west1",
                "public": False,
                "ingress": "internal-and-cloud-load-balancing",
            }
        },
    )
    assert not recording.of_type("gcp:cloudrunv2/serviceIamMember:ServiceIamMember")
    assert all(member != "allUsers" for *_, member in _grants(recording))
    assert recording.one(SERVICE).inputs["ingress"] == "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"


def test_workloads_run_as_the_dedicated_runtime_account(staging: Recording) -> None:
    email = runtime_email(staging)
    assert staging.one(SERVICE).inputs["template"]["serviceAccount"] == email
    assert migrate_job(staging).inputs["template"]["template"]["serviceAccount"] == email
    for pool in staging.of_type(WORKER_POOL):
        assert pool.inputs["template"]["serviceAccount"] == email


# ------------------------------------------------------------------------------------------ secrets


def test_secret_manager_holds_each_app_secret_only_in_the_stack_region(staging: Recording) -> None:
    for secret in staging.of_type(SECRET):
        assert secret.inputs["replication"] == {"userManaged": {"replicas": [{"location": "europe-west1"}]}}, (
            secret.name
        )
    for version in staging.of_type(SECRET_VERSION):
        assert "secretData" in version.secret_inputs, f"{version.name} stores its data in plaintext"


def test_secret_key_is_generated_64_characters_when_not_configured(staging: Recording) -> None:
    generated = staging.one("random:index/randomPassword:RandomPassword", "notes-staging-secrets-secret-key")
    assert generated.inputs["length"] == 64
    assert "result" in generated.options["additional_secret_outputs"]


def test_configured_secret_key_and_sentry_dsn_are_used_and_stay_secret(prod: Recording) -> None:
    passwords = {r.name for r in prod.of_type("random:index/randomPassword:RandomPassword")}
    assert passwords == {"notes-prod-db-app-password"}, "SECRET_KEY must come from config when set"
    refs = secret_env(prod.one(SERVICE))
    assert set(refs) == {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "SENTRY_DSN"}


def test_sentry_dsn_secret_exists_only_when_sentry_is_on(staging: Recording) -> None:
    assert not any("sentry" in r.inputs["secretId"] for r in staging.of_type(SECRET))
    assert "SENTRY_DSN" not in secret_env(staging.one(SERVICE))


def test_secrets_reach_containers_by_pinned_secret_manager_reference(staging: Recording) -> None:
    versions = {r.inputs["secret"]: r for r in staging.of_type(SECRET_VERSION)}
    for workload in (staging.one(SERVICE), migrate_job(staging), *staging.of_type(WORKER_POOL)):
        refs = secret_env(workload)
        assert set(refs) == {"SECRET_KEY", "DATABASE_URL", "REDIS_URL"}, workload.name
        for variable, ref in refs.items():
            assert ref["version"] != "latest", f"{workload.name} {variable} floats on 'latest'"
            secret = next(s for s in staging.of_type(SECRET) if s.inputs["secretId"] == ref["secret"])
            assert ref["version"] == versions[secret.id].state["version"]


def test_database_url_points_at_the_cloud_sql_socket(staging: Recording) -> None:
    assert staging.outputs["databaseUrl"] == (
        "postgres://app:mock-random-notes-staging-db-app-password@/app"
        "?host=/cloudsql/acme-notes-staging:europe-west1:notes-staging-db"
    )
    assert staging.outputs["databaseHost"] == "/cloudsql/acme-notes-staging:europe-west1:notes-staging-db"
    assert staging.outputs["databasePort"] == 5432


SECRET_MARKERS = ("mock-random-", "mock-secret-", "mock-auth-")
"""RandomPassword results, secret config stand-ins and the mocked Redis AUTH string."""


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_no_secret_value_appears_in_plaintext_in_any_input_or_output(
    stack: str, staging: Recording, prod: Recording
) -> None:
    recording = {"staging": staging, "prod": prod}[stack]
    leaks = [
        (resource.name, key)
        for resource, key, text in recording.all_plaintext_strings()
        if any(marker in text for marker in SECRET_MARKERS)
    ]
    assert not leaks, f"secret material in plaintext inputs: {leaks}"
    for name, value in recording.outputs.items():
        if any(marker in str(value) for marker in SECRET_MARKERS):
            assert name in recording.secret_outputs, f"stack output {name} exposes a secret"


def test_contract_secret_outputs_are_secret(staging: Recording) -> None:
    assert staging.secret_outputs >= SECRET_OUTPUTS
    assert not staging.unknown_outputs


# ------------------------------------------------------------------------------ deletion protection


def _protected(resource: Registered) -> bool:
    return resource.protect


def test_prod_state_is_deletion_protected(prod: Recording) -> None:
    sql = prod.one(SQL)
    assert sql.inputs["deletionProtection"] is True
    assert sql.inputs["settings"]["deletionProtectionEnabled"] is True
    assert _protected(sql)
    assert _protected(prod.one("gcp:sql/database:Database"))
    bucket = prod.one(BUCKET)
    assert _protected(bucket)
    assert bucket.inputs["forceDestroy"] is False
    assert _protected(prod.one(REDIS))
    # Cloud Run workloads hold no state: their own deletion protection stays off (issue 12 GCP 5).
    for workload in (prod.one(SERVICE), migrate_job(prod), *prod.of_type(WORKER_POOL)):
        assert workload.inputs["deletionProtection"] is False, workload.name
        assert not _protected(workload), workload.name


def test_staging_state_is_not_deletion_protected(staging: Recording) -> None:
    sql = staging.one(SQL)
    assert sql.inputs["deletionProtection"] is False
    assert sql.inputs["settings"]["deletionProtectionEnabled"] is False
    assert not any(_protected(r) for r in staging.resources), "staging must stay destroyable"
    assert staging.one(BUCKET).inputs["forceDestroy"] is True
    for workload in (staging.one(SERVICE), migrate_job(staging), *staging.of_type(WORKER_POOL)):
        assert workload.inputs["deletionProtection"] is False, workload.name
