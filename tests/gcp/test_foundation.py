"""APIs, provider, parenting, naming, network, database, cache, bucket."""

from __future__ import annotations

import pytest

from djangostack.offline.mocking_gcp import REFERENCED_NETWORK_ID
from djangostack.targets.gcp.project_services import API_NAMES
from tests.gcp.support import (
    API,
    BUCKET,
    JOB,
    REDIS,
    SECRET,
    SERVICE,
    SQL,
    api_enablement,
    evaluation_error,
    revision_template,
)
from tests.harness import Recording, evaluate_stack

GCP_PROVIDER = "pulumi:providers:gcp"


# ------------------------------------------------------------------------------------ APIs / provider


def test_every_api_the_stack_calls_is_enabled_and_left_on_at_destroy(staging: Recording) -> None:
    enabled = {r.inputs["service"]: r for r in staging.of_type(API)}
    assert set(enabled) == {f"{api}.googleapis.com" for api in API_NAMES}
    for service, resource in enabled.items():
        assert resource.inputs["disableOnDestroy"] is False, f"{service} would be disabled on destroy"


@pytest.mark.parametrize(
    ("resource_type", "api"),
    [
        (SQL, "sqladmin"),
        (REDIS, "redis"),
        (SECRET, "secretmanager"),
        ("gcp:compute/network:Network", "compute"),
        ("gcp:compute/subnetwork:Subnetwork", "compute"),
        ("gcp:servicenetworking/connection:Connection", "servicenetworking"),
        ("gcp:artifactregistry/repository:Repository", "artifactregistry"),
        ("gcp:serviceaccount/account:Account", "iam"),
        (JOB, "run"),
        (SERVICE, "run"),
    ],
)
def test_resources_are_created_after_the_api_they_call(staging: Recording, resource_type: str, api: str) -> None:
    enablement = api_enablement(staging, api)
    for resource in staging.of_type(resource_type):
        assert staging.depends_transitively(resource, enablement), f"{resource.name} does not wait for {api}"


def test_artifact_registry_repository_keeps_tags_immutable(staging: Recording) -> None:
    repo = staging.one("gcp:artifactregistry/repository:Repository")
    assert repo.inputs["format"] == "DOCKER"
    assert repo.inputs["dockerConfig"]["immutableTags"] is True


def test_every_gcp_resource_uses_the_explicit_provider_with_project_and_region(staging: Recording) -> None:
    provider = staging.one(GCP_PROVIDER)
    assert provider.inputs["project"] == "acme-notes-staging"
    assert provider.inputs["region"] == "europe-west1"
    for resource in staging.resources:
        if resource.custom and resource.type.startswith("gcp:"):
            assert resource.options["provider"].startswith(provider.urn), (
                f"{resource.name} uses provider {resource.options['provider']!r}"
            )


def test_every_cloud_resource_is_parented_by_a_component(staging: Recording) -> None:
    by_urn = {r.urn: r for r in staging.resources}
    for resource in staging.resources:
        if resource.type == GCP_PROVIDER or not resource.custom:
            continue
        parent = by_urn.get(resource.parent)
        assert parent is not None, f"{resource.name} is not parented"
        assert not parent.custom
        assert parent.type.startswith("djangostack:gcp:")


def test_child_names_derive_from_the_app_and_stack(staging: Recording) -> None:
    for resource in staging.resources:
        if resource.type != GCP_PROVIDER:
            assert resource.name.startswith("notes-staging"), resource.name
    assert staging.one(SERVICE).inputs["name"] == "notes-staging"
    assert staging.one(SQL).inputs["name"] == "notes-staging-db"


# ---------------------------------------------------------------------------------------- network


def test_created_network_is_custom_mode_with_an_egress_subnet_and_private_services_access(
    staging: Recording,
) -> None:
    vpc = staging.one("gcp:compute/network:Network")
    assert vpc.inputs["autoCreateSubnetworks"] is False
    subnet = staging.one("gcp:compute/subnetwork:Subnetwork")
    assert subnet.inputs["ipCidrRange"] == "10.8.0.0/26"
    assert subnet.depends_on(vpc)
    address = staging.one("gcp:compute/globalAddress:GlobalAddress")
    assert address.inputs["purpose"] == "VPC_PEERING"
    assert (address.inputs["address"], address.inputs["prefixLength"]) == ("10.20.0.0", 16)
    connection = staging.one("gcp:servicenetworking/connection:Connection")
    assert connection.inputs["service"] == "servicenetworking.googleapis.com"
    assert connection.inputs["reservedPeeringRanges"] == [address.inputs["name"]]


def test_cloud_sql_and_memorystore_wait_for_private_services_access(staging: Recording) -> None:
    connection = staging.one("gcp:servicenetworking/connection:Connection")
    assert staging.depends_transitively(staging.one(SQL), connection)
    assert staging.depends_transitively(staging.one(REDIS), connection)


def test_a_referenced_network_comes_from_the_other_stack_and_nothing_network_wide_is_created() -> None:
    recording = evaluate_stack(
        "staging",
        overrides={"network": {"mode": "reference", "reference": {"stack": "acme/network/prod"}}},
    )
    for kind in ("Network", "GlobalAddress"):
        assert not recording.of_type(f"gcp:compute/{kind.lower()[0] + kind[1:]}:{kind}")
    assert not recording.of_type("gcp:servicenetworking/connection:Connection")
    subnet = recording.one("gcp:compute/subnetwork:Subnetwork")
    assert subnet.inputs["network"] == REFERENCED_NETWORK_ID
    sql = recording.one(SQL)
    assert sql.inputs["settings"]["ipConfiguration"]["privateNetwork"] == REFERENCED_NETWORK_ID
    assert recording.one(REDIS).inputs["authorizedNetwork"] == REFERENCED_NETWORK_ID
    interface = revision_template(recording.one(SERVICE))["vpcAccess"]["networkInterfaces"][0]
    assert interface["network"] == REFERENCED_NETWORK_ID
    assert recording.outputs["networkIds"]["vpcId"] == REFERENCED_NETWORK_ID


def test_egress_subnet_overlapping_the_private_services_range_is_refused() -> None:
    error = evaluation_error("staging", {"network": {"cidr": "10.8.0.0/16"}})
    assert "djangostack:target.egressSubnetCidr: 10.8.0.0/26 overlaps network.cidr (10.8.0.0/16)" in str(error)


# ---------------------------------------------------------------------------------------- database


def test_cloud_sql_has_no_public_ip_and_only_a_private_network(staging: Recording) -> None:
    ip = staging.one(SQL).inputs["settings"]["ipConfiguration"]
    assert ip["ipv4Enabled"] is False
    assert ip["privateNetwork"] == staging.one("gcp:compute/network:Network").id
    assert not ip.get("authorizedNetworks")


def test_cloud_sql_refuses_unencrypted_connections(staging: Recording) -> None:
    assert staging.one(SQL).inputs["settings"]["ipConfiguration"]["sslMode"] == "ENCRYPTED_ONLY"


def test_cloud_sql_is_postgres_enterprise_with_the_settings_version_and_tier(staging: Recording) -> None:
    sql = staging.one(SQL)
    assert sql.inputs["databaseVersion"] == "POSTGRES_16"
    assert sql.inputs["settings"]["tier"] == "db-custom-1-3840"
    assert sql.inputs["settings"]["edition"] == "ENTERPRISE"
    assert sql.inputs["settings"]["diskSize"] == 10
    assert sql.inputs["settings"]["diskAutoresize"] is True
    assert sql.inputs["settings"]["diskAutoresizeLimit"] == 100


def test_cloud_sql_backs_up_daily_with_point_in_time_recovery_and_retention(
    staging: Recording, prod: Recording
) -> None:
    for recording, kept in ((staging, 7), (prod, 14)):
        backups = recording.one(SQL).inputs["settings"]["backupConfiguration"]
        assert backups["enabled"] is True
        assert backups["pointInTimeRecoveryEnabled"] is True
        assert backups["backupRetentionSettings"]["retainedBackups"] == kept


def test_cloud_sql_is_regional_in_prod_and_zonal_in_staging(staging: Recording, prod: Recording) -> None:
    assert staging.one(SQL).inputs["settings"]["availabilityType"] == "ZONAL"
    assert prod.one(SQL).inputs["settings"]["availabilityType"] == "REGIONAL"
    assert prod.one(SQL).inputs["settings"]["tier"] == "db-custom-2-7680"


def test_cloud_sql_has_a_maintenance_window_and_query_insights(staging: Recording) -> None:
    settings = staging.one(SQL).inputs["settings"]
    assert (settings["maintenanceWindow"]["day"], settings["maintenanceWindow"]["hour"]) == (7, 3)
    assert settings["insightsConfig"]["queryInsightsEnabled"] is True


def test_the_app_role_password_is_generated_and_only_ever_secret(staging: Recording) -> None:
    password = staging.one("random:index/randomPassword:RandomPassword", "notes-staging-db-app-password")
    assert "result" in password.options["additional_secret_outputs"]
    user = staging.one("gcp:sql/user:User")
    assert user.inputs["name"] == "app"
    assert "password" in user.secret_inputs


# ------------------------------------------------------------------------------------------ cache


def test_memorystore_is_private_authenticated_and_tls_only(staging: Recording) -> None:
    redis = staging.one(REDIS)
    assert redis.inputs["connectMode"] == "PRIVATE_SERVICE_ACCESS"
    assert redis.inputs["authEnabled"] is True
    assert redis.inputs["transitEncryptionMode"] == "SERVER_AUTHENTICATION"
    assert redis.inputs["tier"] == "BASIC"
    assert redis.inputs["memorySizeGb"] == 1
    assert redis.inputs["redisConfigs"]["maxmemory-policy"] == "noeviction"
    assert "authString" in redis.options["additional_secret_outputs"]


def test_prod_memorystore_is_highly_available(prod: Recording) -> None:
    assert prod.one(REDIS).inputs["tier"] == "STANDARD_HA"


def test_redis_url_is_rediss_verified_against_the_instance_ca_and_secret(staging: Recording) -> None:
    url = staging.outputs["redisUrl"]
    assert url.startswith("rediss://:mock-auth-")
    assert "@10.20.1.4:6378/0?" in url
    assert "ssl_cert_reqs=required" in url
    assert "ssl_ca_certs=/etc/redis-ca/ca.pem" in url
    assert "redisUrl" in staging.secret_outputs


def test_without_a_cache_no_redis_secret_or_ca_mount_is_created() -> None:
    recording = evaluate_stack(
        "staging", overrides={"cache": {"mode": "none"}, "celery": {"worker": False, "beat": False}}
    )
    assert not recording.of_type(REDIS)
    assert not any("redis" in r.inputs["secretId"] for r in recording.of_type(SECRET))
    assert not recording.of_type("gcp:cloudrunv2/workerPool:WorkerPool")
    volumes = revision_template(recording.one(SERVICE))["volumes"]
    assert [v["name"] for v in volumes] == ["cloudsql"]
    assert recording.outputs["redisUrl"] == ""


# ------------------------------------------------------------------------------------------ media


def test_media_bucket_is_private_uniform_versioned_and_expires_old_versions(
    staging: Recording, prod: Recording
) -> None:
    for recording, days in ((staging, 30), (prod, 60)):
        bucket = recording.one(BUCKET)
        assert bucket.inputs["uniformBucketLevelAccess"] is True
        assert bucket.inputs["publicAccessPrevention"] == "enforced"
        assert bucket.inputs["versioning"]["enabled"] is True
        (rule,) = bucket.inputs["lifecycleRules"]
        assert rule["action"]["type"] == "Delete"
        assert rule["condition"]["daysSinceNoncurrentTime"] == days
    assert prod.one(BUCKET).inputs["name"] == "acme-notes-prod-media"
