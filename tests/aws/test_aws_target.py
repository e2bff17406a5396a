"""The aws-ec2 target under mocks: what is created, how it is configured, and what never exists."""

from __future__ import annotations

import base64
import json
import re
import shlex
from typing import Any

import pytest

from djangostack.contract.outputs import SECRET_OUTPUTS, contract_names
from djangostack.offline.mocking import Recording, Registered
from tests.aws.conftest import SINGLE
from tests.harness import evaluate_stack

RDS = "aws:rds/instance:Instance"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
SG = "aws:ec2/securityGroup:SecurityGroup"
LT = "aws:ec2/launchTemplate:LaunchTemplate"
WORLD = {"0.0.0.0/0", "::/0"}


def _group(rec: Recording, role: str) -> Registered:
    found = [r for r in rec.of_type(SG) if r.name.endswith(f"-sg-{role}")]
    assert len(found) == 1, f"expected one {role} security group, found {[r.name for r in found]}"
    return found[0]


def _rules_of(rec: Recording, type_: str, group: Registered) -> list[Registered]:
    """Rules attached to ``group`` (the mock id of a group is ``<name>-id``)."""
    return [r for r in rec.of_type(type_) if r.inputs["securityGroupId"] == group.id]


def _source(rec: Recording, rule: Registered) -> str:
    ref = rule.inputs.get("referencedSecurityGroupId")
    if ref:
        return next(g.name for g in rec.of_type(SG) if g.id == ref)
    return str(rule.inputs.get("cidrIpv4") or rule.inputs.get("cidrIpv6"))


def _user_data(rec: Recording) -> str:
    template = rec.one(LT)
    encoded = template.inputs["userData"]
    assert isinstance(encoded, str) and encoded, "launch template user data is unknown or empty"
    return base64.b64decode(encoded).decode("utf-8")


HOST_FILES = "aws:s3/bucketObjectv2:BucketObjectv2"


def _host_files(rec: Recording) -> Registered:
    (bundle,) = [o for o in rec.of_type(HOST_FILES) if o.name.endswith("-host-files")]
    return bundle


def _written_file(rec: Recording, path: str) -> str:
    """What the first-boot loader writes at ``path`` (from the host file object in S3)."""
    document = json.loads(_host_files(rec).inputs["content"])
    (entry,) = [f for f in document["files"] if f["path"] == path]
    return str(entry["content"])


# --------------------------------------------------------------------------------------------------
# Database
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["prod", "single"])
def test_database_is_never_publicly_accessible_and_is_encrypted_gp3(stack: str, request: Any) -> None:
    rec: Recording = request.getfixturevalue(stack)
    db = rec.one(RDS).inputs
    assert db["publiclyAccessible"] is False
    assert db["storageEncrypted"] is True
    assert db["storageType"] == "gp3"
    assert db["maxAllocatedStorage"] > db["allocatedStorage"], "storage autoscaling is off"
    assert db["autoMinorVersionUpgrade"] is True
    assert db["copyTagsToSnapshot"] is True
    assert db["caCertIdentifier"] == "rds-ca-rsa2048-g1"
    assert db["backupWindow"] and db["maintenanceWindow"]


def test_database_parameter_group_forces_tls(prod: Recording) -> None:
    group = prod.one("aws:rds/parameterGroup:ParameterGroup")
    params = {p["name"]: p["value"] for p in group.inputs["parameters"]}
    assert params.get("rds.force_ssl") == "1"
    assert group.inputs["family"] == "postgres16"
    assert prod.one(RDS).inputs["parameterGroupName"] == prod.one(RDS).inputs["parameterGroupName"]


def test_database_password_is_managed_by_rds_and_never_passed(prod: Recording) -> None:
    db = prod.one(RDS).inputs
    assert db["manageMasterUserPassword"] is True
    assert "password" not in db and "passwordWo" not in db


def test_database_subnet_group_holds_only_private_subnets(prod: Recording) -> None:
    group = prod.one("aws:rds/subnetGroup:SubnetGroup")
    public = {s.id for s in prod.of_type("aws:ec2/subnet:Subnet") if "-public-" in s.name}
    private = {s.id for s in prod.of_type("aws:ec2/subnet:Subnet") if "-private-" in s.name}
    assert set(group.inputs["subnetIds"]) == private
    assert not set(group.inputs["subnetIds"]) & public


def test_prod_database_has_backups_multi_az_deletion_protection_and_a_final_snapshot(prod: Recording) -> None:
    db = prod.one(RDS)
    assert db.protect, "the prod database must be protected in Pulumi"
    assert db.inputs["deletionProtection"] is True
    assert db.inputs["skipFinalSnapshot"] is False
    # A per-database random suffix: a recreated stack never collides with an old final snapshot.
    assert db.inputs["finalSnapshotIdentifier"] == "notes-prod-db-final-0badc0de"
    assert prod.one("random:index/randomId:RandomId").parent == prod.one("djangostack:aws:PostgresDatabase").urn
    assert db.inputs["multiAz"] is True
    assert db.inputs["backupRetentionPeriod"] == 14
    assert db.inputs["instanceClass"] == "db.t4g.medium"
    assert db.inputs["performanceInsightsEnabled"] is True


def test_staging_database_can_be_torn_down_and_skips_performance_insights_on_small(single: Recording) -> None:
    db = single.one(RDS)
    assert not db.protect
    assert db.inputs["deletionProtection"] is False
    assert db.inputs["skipFinalSnapshot"] is True
    assert db.inputs["multiAz"] is False
    assert db.inputs["instanceClass"] == "db.t4g.small"
    assert db.inputs["performanceInsightsEnabled"] is False, "db.t4g.small has no Performance Insights"


# --------------------------------------------------------------------------------------------------
# Security groups
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["prod", "single"])
def test_no_rule_opens_ssh_to_the_world(stack: str, request: Any) -> None:
    rec: Recording = request.getfixturevalue(stack)
    for rule in rec.of_type(INGRESS):
        if rule.inputs.get("fromPort", 0) <= 22 <= rule.inputs.get("toPort", 65535):
            assert _source(rec, rule) not in WORLD, f"{rule.name} opens SSH to the world"


def test_ssh_is_open_only_from_admin_cidrs(single: Recording) -> None:
    ssh = [r for r in single.of_type(INGRESS) if r.inputs["fromPort"] == 22]
    assert [(_source(single, r), r.inputs["toPort"]) for r in ssh] == [("203.0.113.0/24", 22)]


def test_no_ssh_rule_exists_when_admin_cidrs_is_empty(prod: Recording) -> None:
    assert not [r for r in prod.of_type(INGRESS) if r.inputs["fromPort"] == 22]


def test_scaled_web_hosts_accept_http_only_from_the_load_balancer(prod: Recording) -> None:
    web = _group(prod, "web")
    sources = {(r.inputs["fromPort"], _source(prod, r)) for r in _rules_of(prod, INGRESS, web)}
    assert sources == {(80, "notes-prod-sg-alb"), (443, "notes-prod-sg-alb")}


def test_load_balancer_accepts_80_and_443_from_ipv4_and_ipv6(prod: Recording) -> None:
    alb = _group(prod, "alb")
    sources = {(r.inputs["fromPort"], _source(prod, r)) for r in _rules_of(prod, INGRESS, alb)}
    assert sources == {(80, "0.0.0.0/0"), (80, "::/0"), (443, "0.0.0.0/0"), (443, "::/0")}


def test_single_web_host_accepts_http_and_https_from_the_world_and_ssh_from_admins(single: Recording) -> None:
    web = _group(single, "web")
    sources = {(r.inputs["fromPort"], _source(single, r)) for r in _rules_of(single, INGRESS, web)}
    assert sources == {
        (80, "0.0.0.0/0"),
        (80, "::/0"),
        (443, "0.0.0.0/0"),
        (443, "::/0"),
        (22, "203.0.113.0/24"),
    }
    assert not single.of_type(SG) or all(not g.name.endswith("-alb") for g in single.of_type(SG))


@pytest.mark.parametrize("stack", ["prod", "single"])
def test_database_and_cache_accept_only_their_port_from_the_web_group(stack: str, request: Any) -> None:
    rec: Recording = request.getfixturevalue(stack)
    web = _group(rec, "web")
    for role, port in (("db", 5432), ("cache", 6379)):
        group = _group(rec, role)
        rules = _rules_of(rec, INGRESS, group)
        assert [
            (r.inputs["fromPort"], r.inputs["toPort"], r.inputs.get("referencedSecurityGroupId")) for r in rules
        ] == [(port, port, web.id)], f"{role} must accept {port} from the web group only"
        assert not _rules_of(rec, EGRESS, group), f"{role} needs no egress rule"


@pytest.mark.parametrize("stack", ["prod", "single"])
def test_nothing_from_the_world_reaches_database_or_cache(stack: str, request: Any) -> None:
    rec: Recording = request.getfixturevalue(stack)
    guarded = {_group(rec, "db").id, _group(rec, "cache").id}
    for rule in rec.of_type(INGRESS):
        if rule.inputs["securityGroupId"] in guarded:
            assert rule.inputs.get("cidrIpv4") is None and rule.inputs.get("cidrIpv6") is None, rule.name


# --------------------------------------------------------------------------------------------------
# Hosts
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["prod", "single"])
def test_launch_template_requires_imdsv2_with_hop_limit_one(stack: str, request: Any) -> None:
    rec: Recording = request.getfixturevalue(stack)
    metadata = rec.one(LT).inputs["metadataOptions"]
    assert metadata["httpTokens"] == "required"
    assert metadata["httpPutResponseHopLimit"] == 1
    assert metadata["httpEndpoint"] == "enabled"


@pytest.mark.parametrize("stack", ["prod", "single"])
def test_root_volume_is_encrypted_gp3(stack: str, request: Any) -> None:
    rec: Recording = request.getfixturevalue(stack)
    (mapping,) = rec.one(LT).inputs["blockDeviceMappings"]
    assert mapping["deviceName"] == "/dev/sda1", "the root device comes from the AMI"
    assert mapping["ebs"]["encrypted"] == "true"
    assert mapping["ebs"]["volumeType"] == "gp3"


def test_ami_is_canonicals_ubuntu_noble_for_the_instance_architecture(prod: Recording, single: Recording) -> None:
    for rec, arch in ((prod, "amd64"), (single, "arm64")):
        (lookup,) = [i for i in rec.invokes if i.token == "aws:ec2/getAmi:getAmi"]
        assert lookup.args["owners"] == ["099720109477"]
        names = next(f["values"] for f in lookup.args["filters"] if f["name"] == "name")
        assert names == [f"ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-{arch}-server-*"]
        assert rec.one(LT).inputs["imageId"].startswith("ami-")


def test_target_os_picks_the_ubuntu_release_of_the_ami_and_reaches_the_host_files() -> None:
    """ubuntu-22.04: Canonical's Jammy image, in a launch template of its own (the template ignores
    AMI changes, so another OS must be another template), and the host files say 22.04."""
    target = {
        "kind": "aws-ec2",
        "region": "eu-central-1",
        "instanceType": "t4g.small",
        "instances": 1,
        "sshKeyName": "notes-deploy",
        "os": "ubuntu-22.04",
    }
    app = {"name": "notes", "releaseId": "2026.12.01-2", "systemPackages": ["gettext"]}
    rec = evaluate_stack(SINGLE, overrides={"target": target, "app": app})
    (lookup,) = [i for i in rec.invokes if i.token == "aws:ec2/getAmi:getAmi"]
    assert lookup.args["owners"] == ["099720109477"]
    names = next(f["values"] for f in lookup.args["filters"] if f["name"] == "name")
    assert names == ["ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-arm64-server-*"]
    assert rec.one(LT).name == "notes-staging-app-web-ubuntu-2204"
    (bundle,) = [o for o in rec.of_type("aws:s3/bucketObjectv2:BucketObjectv2") if o.name.endswith("-host-files")]
    bootstrap = next(f for f in json.loads(bundle.inputs["content"])["files"] if f["path"].endswith("/bootstrap"))
    assert 'if [[ "$os_seen" != ubuntu-22.04 ]]; then' in bootstrap["content"]
    assert "\n    gettext\n" in bootstrap["content"]


def test_single_instance_runs_in_a_public_subnet_behind_an_elastic_ip(single: Recording) -> None:
    instance = single.one("aws:ec2/instance:Instance")
    assert instance.inputs["subnetId"] == "notes-staging-net-public-0-id"
    assert instance.inputs["launchTemplate"]["id"] == single.one(LT).id
    association = single.one("aws:ec2/eipAssociation:EipAssociation")
    assert association.inputs["instanceId"] == instance.id
    assert not single.of_type("aws:autoscaling/group:Group")
    assert not single.of_type("aws:lb/loadBalancer:LoadBalancer")


def test_fleet_runs_in_private_subnets_with_elb_health_checks_and_rolling_refresh(prod: Recording) -> None:
    group = prod.one("aws:autoscaling/group:Group").inputs
    assert group["vpcZoneIdentifiers"] == ["notes-prod-net-private-0-id", "notes-prod-net-private-1-id"]
    assert (group["minSize"], group["maxSize"]) == (2, 4)
    assert group["healthCheckType"] == "ELB"
    assert group["healthCheckGracePeriod"] > 0
    refresh = group["instanceRefresh"]
    assert refresh["strategy"] == "Rolling"
    assert refresh["preferences"]["minHealthyPercentage"] == 100
    assert group["launchTemplate"]["id"] == prod.one(LT).id


def test_load_balancer_serves_https_with_the_validated_certificate_and_redirects_http(prod: Recording) -> None:
    listeners = {r.inputs["port"]: r.inputs for r in prod.of_type("aws:lb/listener:Listener")}
    validation = prod.one("aws:acm/certificateValidation:CertificateValidation")
    certificate = prod.one("aws:acm/certificate:Certificate")
    assert listeners[443]["protocol"] == "HTTPS"
    assert listeners[443]["certificateArn"] == certificate.state["arn"]
    assert prod.depends_transitively(prod.one("aws:lb/listener:Listener", "notes-prod-app-https"), validation)
    assert listeners[80]["defaultActions"][0]["type"] == "redirect"
    assert listeners[80]["defaultActions"][0]["redirect"]["protocol"] == "HTTPS"
    assert certificate.inputs["domainName"] == "notes.example.com"
    assert certificate.inputs["subjectAlternativeNames"] == ["www.notes.example.com"]
    health = prod.one("aws:lb/targetGroup:TargetGroup").inputs["healthCheck"]
    assert (health["path"], health["matcher"]) == ("/healthz", "200"), "liveness, not readiness"


def test_certificate_validation_records_are_created_when_a_route53_zone_is_set() -> None:
    rec = evaluate_stack(
        "prod",
        overrides={
            "domain": {
                "names": ["notes.example.com", "www.notes.example.com"],
                "tls": {"mode": "acm", "route53ZoneId": "Z0123456789ABC"},
            }
        },
    )
    records = [r for r in rec.of_type("aws:route53/record:Record") if "-cert-validation-" in r.name]
    assert len(records) == 2
    assert all(r.inputs["zoneId"] == "Z0123456789ABC" and r.inputs["type"] == "CNAME" for r in records)
    validation = rec.one("aws:acm/certificateValidation:CertificateValidation")
    assert len(validation.inputs["validationRecordFqdns"]) == 2


# --------------------------------------------------------------------------------------------------
# Releases and migrations
# --------------------------------------------------------------------------------------------------


def test_fleet_migrates_after_the_database_and_before_the_new_launch_template(prod: Recording) -> None:
    migrate = prod.named("notes-prod-app-migrate")
    assert migrate.type == "command:local:Command"
    assert prod.depends_transitively(migrate, prod.one(RDS)), "migrations need the database"
    template = prod.one(LT)
    group = prod.one("aws:autoscaling/group:Group")
    assert prod.depends_transitively(template, migrate), "new code must wait for its migrations"
    assert prod.depends_transitively(group, migrate)
    assert migrate.inputs["triggers"][0] == "2026.11.25-1"
    assert migrate.inputs["environment"]["RELEASE_ID"] == "2026.11.25-1"
    assert migrate.inputs["environment"]["DOCUMENT"] == prod.one("aws:ssm/document:Document").state["name"]


def test_the_first_fleet_migration_runs_once_after_the_group(prod: Recording) -> None:
    initial = prod.named("notes-prod-app-migrate-initial")
    assert prod.depends_transitively(initial, prod.one("aws:autoscaling/group:Group"))
    assert not initial.inputs.get("triggers"), "it must never re-run"
    assert initial.inputs["environment"]["REQUIRE_HOST"] == "1"


def test_fleet_user_data_carries_the_release_so_a_release_is_a_new_template_version(prod: Recording) -> None:
    aws_env = _written_file(prod, "/etc/notes/aws.env")
    assert "RELEASE_ID=2026.11.25-1" in aws_env
    assert "ARCHIVE_KEY=releases/2026.11.25-1.tar.gz" in aws_env


def test_single_release_runs_over_ssh_after_the_database_and_the_instance(single: Recording) -> None:
    release = single.one("command:remote:Command")
    assert single.depends_transitively(release, single.one(RDS))
    assert single.depends_transitively(release, single.one("aws:ec2/instance:Instance"))
    assert single.depends_transitively(release, single.one("aws:ec2/eipAssociation:EipAssociation"))
    assert "connection" in release.secret_inputs, "the SSH private key is a secret"
    triggers = release.inputs["triggers"]
    assert triggers[0] == "2026.12.01-2"
    assert len(triggers) == 4 and all(isinstance(t, str) and t for t in triggers)
    assert "aws-release release 2026.12.01-2 releases/2026.12.01-2.tar.gz" in release.inputs["create"]


def test_single_user_data_has_no_release_so_a_release_never_replaces_the_instance(single: Recording) -> None:
    user_data = _user_data(single)
    assert "2026.12.01-2" not in user_data
    assert "2026.12.01-2" not in _host_files(single).inputs["content"]
    assert "RELEASE_ID=''" in _written_file(single, "/etc/notes/aws.env")


def test_single_release_uses_session_manager_without_an_ssh_key() -> None:
    rec = evaluate_stack(SINGLE, overrides={"sshPrivateKey": None})
    assert not rec.of_type("command:remote:Command")
    release = rec.named("notes-staging-app-release-ssm")
    assert release.inputs["environment"]["INSTANCE_ID"] == rec.one("aws:ec2/instance:Instance").id
    assert rec.depends_transitively(release, rec.one(RDS))


def test_release_archive_is_uploaded_under_the_releases_prefix(prod: Recording) -> None:
    (archive,) = [o for o in prod.of_type(HOST_FILES) if o.name.endswith("-archive")]
    assert archive.inputs["key"] == "releases/2026.11.25-1.tar.gz"
    assert archive.inputs["bucket"] == prod.one("aws:s3/bucket:Bucket").state["bucket"]


# --------------------------------------------------------------------------------------------------
# Secrets and identity
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["prod", "single"])
def test_no_iam_access_key_exists_anywhere(stack: str, request: Any) -> None:
    rec: Recording = request.getfixturevalue(stack)
    assert not rec.of_type("aws:iam/accessKey:AccessKey")
    assert not rec.of_type("aws:iam/user:User")
    for resource, key, text in rec.all_plaintext_strings():
        assert not re.search(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b", text), f"{resource.name}.{key} holds an access key"
        assert "aws_secret_access_key" not in text.lower(), f"{resource.name}.{key}"


@pytest.mark.parametrize("stack", ["prod", "single"])
def test_no_secret_value_appears_in_plaintext_in_any_input(stack: str, request: Any) -> None:
    rec: Recording = request.getfixturevalue(stack)
    for resource, key, text in rec.all_plaintext_strings():
        assert "mock-secret-" not in text, f"{resource.type} {resource.name}.{key} holds a config secret"
        assert "mock-random-" not in text, f"{resource.type} {resource.name}.{key} holds a generated secret"


@pytest.mark.parametrize("stack", ["prod", "single"])
def test_user_data_holds_no_secret_only_the_secret_arns(stack: str, request: Any) -> None:
    rec: Recording = request.getfixturevalue(stack)
    user_data = _user_data(rec)
    assert user_data.startswith("#!/bin/bash\n")
    bundle = _host_files(rec).inputs["content"]
    for marker in ("mock-secret-", "mock-random-", "SECRET_KEY=", "rediss://", "PRIVATE KEY"):
        assert marker not in user_data, f"user data contains {marker!r}"
        assert marker not in bundle, f"the host files contain {marker!r}"
    app_secret = rec.one("aws:secretsmanager/secret:Secret").state["arn"]
    db_secret = rec.one(RDS).state["masterUserSecrets"][0]["secretArn"]
    aws_env = _written_file(rec, "/etc/notes/aws.env")
    assert f"APP_SECRET_ARN={shlex.quote(app_secret)}" in aws_env
    assert f"DB_SECRET_ARN={shlex.quote(db_secret)}" in aws_env
    assert user_data.rstrip().endswith("exec /usr/local/lib/notes/aws-release boot")


def test_app_secret_holds_secret_key_redis_url_and_sentry_dsn_as_a_secret(single: Recording) -> None:
    version = single.one("aws:secretsmanager/secretVersion:SecretVersion")
    assert "secretString" in version.secret_inputs
    document = json.loads(version.inputs["secretString"])
    assert document["SECRET_KEY"] == "mock-random-notes-staging-secrets-secret-key"
    assert document["REDIS_URL"].startswith("rediss://:mock-random-notes-staging-cache-auth-token@")
    assert document["SENTRY_DSN"] == "mock-secret-sentryDsn"
    generated = single.one("random:index/randomPassword:RandomPassword", "notes-staging-secrets-secret-key")
    assert generated.inputs["length"] == 64


def test_a_stack_secret_key_replaces_the_generated_one() -> None:
    rec = evaluate_stack(SINGLE, secrets={"secretKey": "stack-provided-key"})
    assert not [r for r in rec.of_type("random:index/randomPassword:RandomPassword") if "secret-key" in r.name]
    document = json.loads(rec.one("aws:secretsmanager/secretVersion:SecretVersion").inputs["secretString"])
    assert document["SECRET_KEY"] == "stack-provided-key"


def test_instance_role_reads_exactly_this_stacks_secrets_and_the_media_prefix(prod: Recording) -> None:
    policy = json.loads(prod.one("aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    statements = {s["Sid"]: s for s in policy["Statement"]}
    bucket_arn = prod.one("aws:s3/bucket:Bucket").state["arn"]
    assert sorted(statements["ReadThisStacksSecrets"]["Resource"]) == sorted(
        [
            prod.one("aws:secretsmanager/secret:Secret").state["arn"],
            prod.one(RDS).state["masterUserSecrets"][0]["secretArn"],
        ]
    )
    assert statements["ReadThisStacksSecrets"]["Action"] == "secretsmanager:GetSecretValue"
    # Unconditioned: HeadObject on a missing key needs s3:ListBucket for a 404 (tests/aws/test_fleet.py).
    assert statements["ListMediaBucket"] == {
        "Sid": "ListMediaBucket",
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": bucket_arn,
    }
    assert statements["ReadWriteMedia"]["Resource"] == f"{bucket_arn}/media/*"
    assert sorted(statements["ReadWriteMedia"]["Action"]) == [
        "s3:AbortMultipartUpload",
        "s3:DeleteObject",
        "s3:GetObject",
        "s3:PutObject",
    ]
    assert statements["ReadReleaseArchives"] == {
        "Sid": "ReadReleaseArchives",
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": f"{bucket_arn}/releases/*",
    }
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        assert "*" not in json.dumps(statement["Action"]), "no wildcard actions"
        assert statement["Resource"] != "*"
    attachment = prod.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert attachment.inputs["policyArn"] == "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"


@pytest.mark.parametrize("stack", ["prod", "single"])
def test_secret_outputs_are_marked_secret_and_every_output_is_known(stack: str, request: Any) -> None:
    rec: Recording = request.getfixturevalue(stack)
    assert set(rec.outputs) == set(contract_names())
    assert rec.secret_outputs >= SECRET_OUTPUTS
    assert not rec.unknown_outputs
    assert ":" not in rec.outputs["databaseUrl"].split("@")[0].removeprefix("postgres://"), (
        "the database URL carries no password (RDS manages it)"
    )


# --------------------------------------------------------------------------------------------------
# Cache, storage, network
# --------------------------------------------------------------------------------------------------


def test_cache_encrypts_in_transit_and_at_rest_with_an_auth_token_and_fails_over(prod: Recording) -> None:
    group = prod.one("aws:elasticache/replicationGroup:ReplicationGroup")
    assert group.inputs["transitEncryptionEnabled"] is True
    assert group.inputs["atRestEncryptionEnabled"] is True
    assert "authToken" in group.secret_inputs
    assert group.inputs["engineVersion"].startswith("7.")
    assert group.inputs["numCacheClusters"] == 2
    assert group.inputs["automaticFailoverEnabled"] is True
    assert group.inputs["multiAzEnabled"] is True
    assert prod.outputs["redisUrl"].startswith("rediss://:")


def test_cache_without_replicas_has_no_failover(single: Recording) -> None:
    group = single.one("aws:elasticache/replicationGroup:ReplicationGroup").inputs
    assert (group["numCacheClusters"], group["automaticFailoverEnabled"], group["multiAzEnabled"]) == (1, False, False)


def test_no_cache_exists_when_cache_mode_is_none() -> None:
    rec = evaluate_stack(SINGLE, overrides={"cache": {"mode": "none"}, "celery": {"worker": False}})
    assert not [r for r in rec.resources if r.type.startswith("aws:elasticache")]
    assert not [g for g in rec.of_type(SG) if g.name.endswith("-cache")]
    assert rec.outputs["redisUrl"] == ""
    assert "redisUrl" in rec.secret_outputs


def test_media_bucket_is_private_encrypted_versioned_and_tls_only(prod: Recording) -> None:
    block = prod.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert all(
        block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    ownership = prod.one("aws:s3/bucketOwnershipControls:BucketOwnershipControls").inputs
    assert ownership["rule"]["objectOwnership"] == "BucketOwnerEnforced"
    sse = prod.one("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    assert sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    versioning = prod.one("aws:s3/bucketVersioning:BucketVersioning").inputs
    assert versioning["versioningConfiguration"]["status"] == "Enabled"
    (rule,) = prod.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs["rules"]
    assert rule["noncurrentVersionExpiration"]["noncurrentDays"] == 30
    policy = json.loads(prod.one("aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])
    (deny,) = policy["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert not prod.of_type("aws:s3/bucketV2:BucketV2"), "BucketV2 is deprecated in pulumi-aws 7"


def test_prod_bucket_is_protected_and_staging_bucket_can_be_emptied(prod: Recording, single: Recording) -> None:
    prod_bucket = prod.one("aws:s3/bucket:Bucket")
    assert prod_bucket.protect and prod_bucket.inputs["forceDestroy"] is False
    staging_bucket = single.one("aws:s3/bucket:Bucket")
    assert not staging_bucket.protect and staging_bucket.inputs["forceDestroy"] is True
    lifecycle = single.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    assert lifecycle.inputs["rules"][0]["noncurrentVersionExpiration"]["noncurrentDays"] == 14


def test_network_spans_the_configured_azs_with_nat_per_az(prod: Recording) -> None:
    subnets = {s.name: s.inputs for s in prod.of_type("aws:ec2/subnet:Subnet")}
    assert subnets["notes-prod-net-public-0"]["cidrBlock"] == "10.20.0.0/20"
    assert subnets["notes-prod-net-private-1"]["cidrBlock"] == "10.20.144.0/20"
    assert {s["availabilityZone"] for s in subnets.values()} == {"eu-west-1a", "eu-west-1b"}
    assert all(s["mapPublicIpOnLaunch"] is False for s in subnets.values())
    assert len(prod.of_type("aws:ec2/natGateway:NatGateway")) == 2
    private_routes = [r for r in prod.of_type("aws:ec2/routeTable:RouteTable") if "-private-" in r.name]
    assert all(r.inputs["routes"][0].get("natGatewayId") for r in private_routes)


def test_network_without_nat_leaves_private_subnets_without_an_internet_route(single: Recording) -> None:
    assert not single.of_type("aws:ec2/natGateway:NatGateway")
    private_routes = [r for r in single.of_type("aws:ec2/routeTable:RouteTable") if "-private-" in r.name]
    assert private_routes and all(not r.inputs.get("routes") for r in private_routes)


def test_reference_mode_creates_no_network_and_reads_the_other_stack() -> None:
    rec = evaluate_stack(
        "prod",
        overrides={
            "network": {"mode": "reference", "cidr": "10.50.0.0/16", "reference": {"stack": "acme/network/prod"}}
        },
    )
    created = {r.type.split(":")[-1] for r in rec.resources if r.type.startswith("aws:ec2/")}
    assert not created & {"Vpc", "Subnet", "InternetGateway", "NatGateway", "RouteTable", "Eip"}
    assert rec.outputs["networkIds"] == {
        "vpcId": "vpc-0ref0000000000001",
        "publicSubnetIds": ["subnet-0refpub00000001", "subnet-0refpub00000002"],
        "privateSubnetIds": ["subnet-0refpriv0000001", "subnet-0refpriv0000002"],
    }
    db_subnets = rec.one("aws:rds/subnetGroup:SubnetGroup").inputs["subnetIds"]
    assert db_subnets == ["subnet-0refpriv0000001", "subnet-0refpriv0000002"]
    assert rec.one(SG, "notes-prod-sg-web").inputs["vpcId"] == "vpc-0ref0000000000001"


# --------------------------------------------------------------------------------------------------
# Structure
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["prod", "single"])
def test_every_resource_is_parented_to_a_component_and_uses_the_explicit_provider(stack: str, request: Any) -> None:
    rec: Recording = request.getfixturevalue(stack)
    components = {r.urn for r in rec.resources if not r.custom}
    provider = rec.one("pulumi:providers:aws")
    assert provider.inputs["region"] in ("eu-west-1", "eu-central-1")
    for resource in rec.resources:
        if resource.custom and resource.type.startswith("aws:"):
            assert resource.parent in components, f"{resource.name} has no component parent"
            assert resource.options["provider"].startswith(provider.urn), f"{resource.name} uses another provider"


def test_names_derive_from_app_and_environment(prod: Recording) -> None:
    target_resources = [r for r in prod.resources if r.type != "djangostack:index:DjangoStack"]  # the root: fixed
    assert all(r.name.startswith("notes-prod-") for r in target_resources), "logical names are a contract"


def test_allowed_hosts_name_the_elastic_ip_when_there_is_no_domain() -> None:
    rec = evaluate_stack(SINGLE, overrides={"domain": None})
    eip = rec.one("aws:ec2/eip:Eip").state["publicIp"]
    env = _written_file(rec, "/usr/local/lib/notes/staged/etc/notes/app.env.base")
    assert f"ALLOWED_HOSTS='{eip}'" in env
    assert f"CSRF_TRUSTED_ORIGINS='https://{eip}'" in env
    assert rec.outputs["url"] == f"https://{eip}"
    assert rec.outputs["hostnames"] == [eip]


def test_allowed_hosts_are_the_domain_names_behind_the_load_balancer(prod: Recording) -> None:
    env = _written_file(prod, "/usr/local/lib/notes/staged/etc/notes/app.env.base")
    assert "ALLOWED_HOSTS='notes.example.com,www.notes.example.com'" in env
