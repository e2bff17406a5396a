"""The cloud-limits layer: every recorded resource of every stack is within the documented API limits,
each rule fires on a value the cloud would refuse, ``plan`` fails with the breach lines, and ``check``
refuses the settings that would make one."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from djangostack.cli.main import main as cli
from djangostack.offline import cloud_limits, mocking
from djangostack.offline.cloud_limits import Breach, CloudLimitsError, check_recording, require_within_limits
from djangostack.offline.mocking import REPO, Recording, Registered
from djangostack.settings.errors import SettingsError
from djangostack.validation import validate
from tests.harness import evaluate_stack, fixture_stack

STACK_FILES = sorted(
    [*REPO.glob("stacks/Pulumi.*.yaml"), *REPO.glob("tests/**/Pulumi.*.yaml"), *REPO.glob("benchmarks/Pulumi.*.yaml")]
)


def _relative(path: Path) -> str:
    return str(path.relative_to(REPO))


@pytest.fixture(scope="module")
def recordings() -> dict[str, Recording]:
    return {_relative(path): evaluate_stack(path) for path in STACK_FILES}


@pytest.mark.parametrize(
    "stack",
    [_relative(path) for path in STACK_FILES],
)
def test_every_recorded_resource_of_every_stack_is_within_the_cloud_limits(
    stack: str, recordings: dict[str, Recording]
) -> None:
    breaches = check_recording(recordings[stack])
    assert not breaches, "\n".join(b.line() for b in breaches)


def test_the_stack_files_checked_include_every_target() -> None:
    kinds = set()
    for path in STACK_FILES:
        text = path.read_text(encoding="utf-8")
        kinds |= {k for k in ("server", "aws-ec2", "gcp-cloudrun") if f"kind: {k}" in text}
    assert kinds == {"server", "aws-ec2", "gcp-cloudrun"}


# --------------------------------------------------------------------------------------------------
# Each rule on a value the cloud refuses and one it accepts
# --------------------------------------------------------------------------------------------------


def _resource(type_: str, name: str, inputs: dict[str, Any] | None = None, custom: bool = True) -> Registered:
    return Registered(
        type=type_,
        name=name,
        urn=f"urn:pulumi:test::djangostack::{type_}::{name}",
        id=f"{name}-id",
        parent="",
        inputs=dict(inputs or {}),
        secret_inputs=frozenset(),
        dependencies=frozenset(),
        property_dependencies={},
        protect=False,
        custom=custom,
        options={"provider": ""},
    )


def _recording(*resources: Registered) -> Recording:
    return Recording(
        resources=list(resources), invokes=[], outputs={}, secret_outputs=frozenset(), unknown_outputs=frozenset()
    )


def _b64(size: int) -> str:
    return base64.b64encode(b"x" * size).decode()


BAD_AND_GOOD: list[tuple[str, dict[str, Any], dict[str, Any], str, str]] = [
    # type, bad inputs, good inputs, property named, logical name
    ("aws:ec2/launchTemplate:LaunchTemplate", {"userData": _b64(16_385)}, {"userData": _b64(16_384)}, "userData", "lt"),
    ("aws:ec2/instance:Instance", {"userData": "x" * 16_385}, {"userData": "x" * 100}, "userData", "vm"),
    ("aws:lb/loadBalancer:LoadBalancer", {}, {"name": "a" * 32}, "name (auto-named)", "a" * 25),
    ("aws:lb/loadBalancer:LoadBalancer", {"name": "internal-web"}, {"name": "web-1"}, "name", "alb"),
    ("aws:lb/targetGroup:TargetGroup", {"name": "t" * 33}, {"name": "t" * 32}, "name", "tg"),
    ("aws:rds/instance:Instance", {}, {"identifier": "d" * 63}, "identifier (auto-named)", "d" * 56),
    ("aws:rds/instance:Instance", {"identifier": "db--1"}, {"identifier": "db-1"}, "identifier", "db"),
    (
        "aws:rds/instance:Instance",
        {"identifier": "db", "finalSnapshotIdentifier": "1final"},
        {"identifier": "db", "finalSnapshotIdentifier": "final-1"},
        "finalSnapshotIdentifier",
        "db",
    ),
    ("aws:rds/subnetGroup:SubnetGroup", {"name": "default"}, {"name": "db subnets"}, "name", "sg"),
    ("aws:rds/parameterGroup:ParameterGroup", {"name": "params-"}, {"name": "params"}, "name", "pg"),
    (
        "aws:elasticache/replicationGroup:ReplicationGroup",
        {},
        {"replicationGroupId": "r" * 40},
        "replicationGroupId (auto-named)",
        "r" * 33,
    ),
    ("aws:elasticache/subnetGroup:SubnetGroup", {"name": "cache_subnets"}, {"name": "cache-subnets"}, "name", "c"),
    ("aws:iam/role:Role", {}, {"name": "r" * 64}, "name (auto-named)", "r" * 57),
    ("aws:iam/role:Role", {"name": "role", "description": "d" * 1001}, {"name": "role"}, "description", "r"),
    ("aws:iam/instanceProfile:InstanceProfile", {"name": "p" * 129}, {"name": "p" * 128}, "name", "p"),
    ("aws:iam/rolePolicy:RolePolicy", {"name": "has space"}, {"name": "ok.name"}, "name", "rp"),
    ("aws:ec2/securityGroup:SecurityGroup", {"name": "sg-web"}, {"name": "web"}, "name", "sg"),
    (
        "aws:ec2/securityGroup:SecurityGroup",
        {"name": "web", "description": "caf\u00e9"},
        {"name": "web", "description": "web: HTTPS (443)"},
        "description",
        "sg",
    ),
    (
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        {"description": "a & b"},
        {"description": "a and b"},
        "description",
        "rule",
    ),
    ("aws:s3/bucket:Bucket", {"bucket": "192.168.1.1"}, {"bucket": "media-1"}, "bucket", "b"),
    ("aws:s3/bucket:Bucket", {"bucket": "my..bucket"}, {"bucket": "my.bucket"}, "bucket", "b"),
    ("aws:s3/bucket:Bucket", {"bucket": "xn--media"}, {"bucket": "media-xn"}, "bucket", "b"),
    ("aws:s3/bucket:Bucket", {"bucket": "media-s3alias"}, {"bucket": "media-s3"}, "bucket", "b"),
    ("aws:s3/bucketObjectv2:BucketObjectv2", {"key": "k" * 1025}, {"key": "k" * 1024}, "key", "o"),
    ("aws:secretsmanager/secret:Secret", {"name": "a secret"}, {"name": "a/secret"}, "name", "s"),
    ("aws:ssm/document:Document", {"name": "aws-release"}, {"name": "app-release"}, "name", "d"),
    ("aws:ssm/document:Document", {"name": "doc", "content": "x" * 65_537}, {"name": "doc"}, "content", "d"),
    ("aws:ssm/parameter:Parameter", {"name": "/ssm/app"}, {"name": "/app/prod/files"}, "name", "p"),
    ("aws:ssm/parameter:Parameter", {"name": "/" + "/".join("l" * 16)}, {"name": "/a/b"}, "name", "p"),
    (
        "aws:ssm/parameter:Parameter",
        {"name": "/app/x", "value": "v" * 4097},
        {"name": "/app/x", "value": "v" * 4097, "tier": "Advanced"},
        "value",
        "p",
    ),
    ("aws:acm/certificate:Certificate", {"domainName": "a" * 61 + ".com"}, {"domainName": "a.com"}, "domainName", "c"),
    (
        "aws:acm/certificate:Certificate",
        {"domainName": "a.com", "subjectAlternativeNames": [f"{i}.a.com" for i in range(10)]},
        {"domainName": "a.com", "subjectAlternativeNames": [f"{i}.a.com" for i in range(9)]},
        "subjectAlternativeNames",
        "c",
    ),
    (
        "aws:ec2/vpc:Vpc",
        {"tags": {f"k{i}": "v" for i in range(51)}},
        {"tags": {f"k{i}": "v" for i in range(50)}},
        "tags",
        "v",
    ),
    ("aws:ec2/vpc:Vpc", {"tags": {"k" * 129: "v"}}, {"tags": {"k" * 128: "v"}}, "tags", "v"),
    ("aws:ec2/vpc:Vpc", {"tags": {"k": "v" * 257}}, {"tags": {"k": "v" * 256}}, "tags", "v"),
    ("aws:ec2/vpc:Vpc", {"tags": {"aws:owner": "me"}}, {"tags": {"owner": "me"}}, "tags", "v"),
    (
        "aws:s3/bucketObjectv2:BucketObjectv2",
        {"key": "k", "tags": {f"t{i}": "v" for i in range(11)}},
        {"key": "k", "tags": {f"t{i}": "v" for i in range(10)}},
        "tags",
        "o",
    ),
    (
        "aws:autoscaling/group:Group",
        {"name": "g", "tags": [{"key": "k" * 129, "value": "v", "propagateAtLaunch": False}]},
        {"name": "g", "tags": [{"key": "k", "value": "v", "propagateAtLaunch": False}]},
        "tags",
        "g",
    ),
    (
        "aws:ec2/launchTemplate:LaunchTemplate",
        {"name": "lt-1", "tagSpecifications": [{"resourceType": "instance", "tags": {"k": "v" * 257}}]},
        {"name": "lt-1", "tagSpecifications": [{"resourceType": "instance", "tags": {"k": "v"}}]},
        "tagSpecifications[0].tags",
        "lt",
    ),
    ("gcp:cloudrunv2/service:Service", {"name": "s" * 50}, {"name": "s" * 49}, "name", "svc"),
    ("gcp:cloudrunv2/service:Service", {"name": "1web"}, {"name": "web1"}, "name", "svc"),
    ("gcp:cloudrunv2/job:Job", {"name": "Migrate"}, {"name": "migrate"}, "name", "job"),
    (
        "gcp:cloudrunv2/job:Job",
        {"name": "j" * 47, "runExecutionToken": "t" * 16},
        {"name": "j" * 46, "runExecutionToken": "t" * 16},
        "name + runExecutionToken",
        "job",
    ),
    ("gcp:cloudrunv2/workerPool:WorkerPool", {"name": "w-"}, {"name": "w"}, "name", "wp"),
    (
        "gcp:cloudrunv2/service:Service",
        {"name": "s", "template": {"containers": [{"envs": [{"name": "A", "value": "v" * 32_769}]}]}},
        {"name": "s", "template": {"containers": [{"envs": [{"name": "A", "value": "v" * 32_768}]}]}},
        "template.containers[0].envs['A'].value",
        "svc",
    ),
    (
        "gcp:cloudrunv2/job:Job",
        {"name": "j", "template": {"template": {"containers": [{"envs": [{"name": f"E{i}"} for i in range(1001)]}]}}},
        {"name": "j", "template": {"template": {"containers": [{"envs": [{"name": f"E{i}"} for i in range(1000)]}]}}},
        "template.template.containers[0].envs",
        "job",
    ),
    (
        "gcp:cloudrunv2/service:Service",
        {"name": "s", "template": {"containers": [{"envs": [{"name": "A-B", "value": "v"}]}]}},
        {"name": "s", "template": {"containers": [{"envs": [{"name": "A_B", "value": "v"}]}]}},
        "template.containers[0].envs['A-B']",
        "svc",
    ),
    ("gcp:serviceaccount/account:Account", {"accountId": "short"}, {"accountId": "short1"}, "accountId", "sa"),
    ("gcp:serviceaccount/account:Account", {"accountId": "a" * 31}, {"accountId": "a" * 30}, "accountId", "sa"),
    (
        "gcp:serviceaccount/account:Account",
        {"accountId": "runtime", "displayName": "d" * 101},
        {"accountId": "runtime", "displayName": "d" * 100},
        "displayName",
        "sa",
    ),
    (
        "gcp:sql/databaseInstance:DatabaseInstance",
        {"name": "d" * 70, "project": "p" * 28},
        {"name": "d" * 69, "project": "p" * 28},
        "project:name",
        "db",
    ),
    ("gcp:redis/instance:Instance", {"name": "c" * 41}, {"name": "c" * 40}, "name", "cache"),
    ("gcp:secretmanager/secret:Secret", {"secretId": "a.b"}, {"secretId": "a_b-C"}, "secretId", "sec"),
    ("gcp:secretmanager/secret:Secret", {"secretId": "s" * 256}, {"secretId": "s" * 255}, "secretId", "sec"),
    ("gcp:storage/bucket:Bucket", {"name": "b" * 64}, {"name": "b" * 63}, "name", "bucket"),
    ("gcp:storage/bucket:Bucket", {"name": "my-google-media"}, {"name": "my-media"}, "name", "bucket"),
    ("gcp:storage/bucket:Bucket", {"name": "10.1.2.3"}, {"name": "media.example.com"}, "name", "bucket"),
    (
        "gcp:artifactregistry/repository:Repository",
        {"repositoryId": "Images"},
        {"repositoryId": "images"},
        "repositoryId",
        "r",
    ),
    ("gcp:compute/network:Network", {"name": "n" * 64}, {"name": "n" * 63}, "name", "net"),
    (
        "gcp:storage/bucket:Bucket",
        {"name": "b", "labels": {"Purpose": "media"}},
        {"name": "bbb", "labels": {"purpose": "media"}},
        "labels",
        "bucket",
    ),
    (
        "gcp:secretmanager/secret:Secret",
        {"secretId": "s", "labels": {"k": "UPPER"}},
        {"secretId": "s", "labels": {"k": "lower"}},
        "labels",
        "sec",
    ),
    (
        "gcp:secretmanager/secret:Secret",
        {"secretId": "s", "labels": {f"k{i}": "v" for i in range(65)}},
        {"secretId": "s", "labels": {f"k{i}": "v" for i in range(64)}},
        "labels",
        "sec",
    ),
]


@pytest.mark.parametrize(("type_", "bad", "good", "prop", "name"), BAD_AND_GOOD)
def test_each_limit_refuses_a_value_the_cloud_refuses_and_accepts_one_it_accepts(
    type_: str, bad: dict[str, Any], good: dict[str, Any], prop: str, name: str
) -> None:
    breaches = check_recording(_recording(_resource(type_, name, bad)))
    assert breaches, f"{type_} {bad!r:.120} passed"
    assert any(b.prop.startswith(prop) for b in breaches), [b.line() for b in breaches]
    assert all(b.type == type_ and b.name == name for b in breaches)
    assert check_recording(_recording(_resource(type_, name, good))) == []


def test_the_job_name_and_execution_token_are_counted_together() -> None:
    job = _resource(
        "gcp:cloudrunv2/job:Job",
        "job",
        {
            "name": "j" * 47,
            "runExecutionToken": "t" * 16,
            "template": {"template": {"containers": [{"envs": [{"name": "A", "value": "v"}]}]}},
        },
    )
    (breach,) = check_recording(_recording(job))
    assert breach.problem.startswith("are 63 characters together; fewer than 63")


def test_the_inline_policies_of_one_role_count_together() -> None:
    statement = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/" + "k" * 5100}
    policy = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    one = _resource("aws:iam/rolePolicy:RolePolicy", "p1", {"role": "role-1", "name": "p1", "policy": policy})
    two = _resource("aws:iam/rolePolicy:RolePolicy", "p2", {"role": "role-1", "name": "p2", "policy": policy})
    other_role = _resource("aws:iam/rolePolicy:RolePolicy", "p3", {"role": "role-2", "name": "p3", "policy": policy})
    assert check_recording(_recording(one, other_role)) == []
    breaches = check_recording(_recording(one, two, other_role))
    assert [(b.name, b.prop) for b in breaches] == [("p2", "policy")]
    assert "10240" in breaches[0].problem


def test_white_space_does_not_count_toward_a_policy_document() -> None:
    roomy = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow"}]}, indent=200)
    assert len(roomy) > cloud_limits.IAM_TRUST_POLICY_CHARS
    role = _resource("aws:iam/role:Role", "r", {"name": "r", "assumeRolePolicy": roomy})
    assert check_recording(_recording(role)) == []
    big = _resource("aws:iam/role:Role", "r", {"name": "r", "assumeRolePolicy": "x" * 2049})
    assert [b.prop for b in check_recording(_recording(big))] == ["assumeRolePolicy"]
    managed = _resource("aws:iam/policy:Policy", "m", {"name": "m", "policy": "x" * 6145})
    assert [b.prop for b in check_recording(_recording(managed))] == ["policy"]


def test_the_providers_default_tags_count_toward_the_fifty() -> None:
    provider = _resource(
        "pulumi:providers:aws", "aws", {"defaultTags": json.dumps({"tags": {f"d{i}": "v" for i in range(3)}})}
    )
    vpc = _resource("aws:ec2/vpc:Vpc", "vpc", {"tags": {f"k{i}": "v" for i in range(48)}})
    vpc.options["provider"] = f"{provider.urn}::{provider.id}"
    breaches = check_recording(_recording(provider, vpc))
    assert [(b.name, b.prop) for b in breaches] == [("vpc", "tags")]
    assert "51 tags" in breaches[0].problem


def test_components_and_unknown_values_are_not_checked() -> None:
    component = _resource("aws:lb/loadBalancer:LoadBalancer", "x" * 40, custom=False)
    unknown = _resource("aws:s3/bucket:Bucket", "b", {"bucket": mocking.UNKNOWN})
    assert check_recording(_recording(component, unknown)) == []


def test_a_breach_is_one_line_naming_the_resource_the_property_the_size_and_the_limit() -> None:
    template = _resource("aws:ec2/launchTemplate:LaunchTemplate", "shop-prod-app-web", {"userData": _b64(20_000)})
    with pytest.raises(CloudLimitsError) as raised:
        require_within_limits(_recording(template))
    (line,) = raised.value.lines
    assert line == (
        "aws:ec2/launchTemplate:LaunchTemplate shop-prod-app-web: userData is 20000 bytes raw; EC2 allows at most "
        "16384 (EC2 User Guide, instance user data: 16 KB before base64)"
    )
    assert Breach("t", "n", "p", "problem").line() == "t n: p problem"


def test_auto_named_resources_are_checked_with_the_suffix_pulumi_adds() -> None:
    # 24 + 8 = 32 fits the ALB's 32 characters; 25 + 8 does not.
    fits = _resource("aws:lb/loadBalancer:LoadBalancer", "a" * 24)
    too_long = _resource("aws:lb/loadBalancer:LoadBalancer", "a" * 25)
    assert check_recording(_recording(fits)) == []
    (breach,) = check_recording(_recording(too_long))
    assert "33 characters" in breach.problem and "1-32" in breach.problem


# --------------------------------------------------------------------------------------------------
# `plan` fails with the breach lines
# --------------------------------------------------------------------------------------------------


def test_plan_fails_with_one_line_per_breach(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A limit lowered under what the staging stack uses (labels are not a settings-side check).
    monkeypatch.setattr(cloud_limits, "GCP_LABELS", 0)
    assert cli(["plan", "--stack", str(fixture_stack("staging"))]) == 1
    err = capsys.readouterr().err
    assert err.startswith("cloud limits breached (")
    assert (
        "gcp:storage/bucket:Bucket notes-staging-media-bucket: labels has 1 labels; "
        "at most 0 (GCP label requirements)\n" in err
    )


def test_plan_passes_a_stack_within_the_limits(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["plan", "--stack", str(fixture_stack("staging")), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["stack"] == "staging"


# --------------------------------------------------------------------------------------------------
# The mocks engine's fast path records exactly what the SDK's default path records
# --------------------------------------------------------------------------------------------------


def _comparable(recording: Recording) -> list[tuple[str, str, str, str]]:
    return sorted(
        (r.type, r.name, json.dumps(r.inputs, sort_keys=True, default=str), json.dumps(r.options, sort_keys=True))
        for r in recording.resources
    )


def test_skipping_source_positions_records_the_same_program(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = evaluate_stack("staging")
    monkeypatch.setattr(mocking, "FAST_EVALUATION", False)
    slow = evaluate_stack("staging")
    assert _comparable(fast) == _comparable(slow)
    assert fast.outputs == slow.outputs
    import pulumi.runtime.resource as sdk

    assert sdk._get_stack_trace is not mocking._EMPTY_STACK_TRACE  # restored after the evaluation


# --------------------------------------------------------------------------------------------------
# `check` refuses the settings that would breach a limit (components/settings/limits.py)
# --------------------------------------------------------------------------------------------------

AWS_BASE: dict[str, Any] = {
    "environment": "staging",
    "target": {"kind": "aws-ec2", "region": "eu-west-1"},
    "app": {"name": "shop", "releaseId": "r1"},
    "media": {"storage": "s3"},
}

GCP_BASE: dict[str, Any] = {
    "environment": "staging",
    "target": {"kind": "gcp-cloudrun", "project": "acme-shop-1"},
    "app": {"name": "shop", "releaseId": "r1", "image": "europe-docker.pkg.dev/acme/app/web:r1"},
    "media": {"storage": "gcs"},
}


def _with(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    raw = json.loads(json.dumps(base))
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    return raw


def _refused(raw: dict[str, Any], stack: str | None = "staging") -> list[str]:
    with pytest.raises(SettingsError) as raised:
        validate(raw, set(), set(), stack=stack)
    return raised.value.lines


def test_an_app_name_too_long_for_the_elasticache_id_is_refused_by_check() -> None:
    validate(_with(AWS_BASE, app={"name": "a" * 12}), set(), set(), stack="staging")
    (line,) = _refused(_with(AWS_BASE, app={"name": "a" * 13}))
    assert line.startswith("djangostack:app.name: 'aaaaaaaaaaaaa' makes the ElastiCache replication group id ")
    assert "1-40" in line
    # Without a managed Redis there is no replication group to name.
    validate(_with(AWS_BASE, app={"name": "a" * 13}, cache={"mode": "none"}), set(), set(), stack="staging")


def test_s3_bucket_names_the_schema_accepts_but_s3_refuses_are_refused_by_check() -> None:
    for bucket in ("192.168.10.20", "media..uploads", "xn--media", "media--ol-s3"):
        (line,) = _refused(_with(AWS_BASE, media={"storage": "s3", "bucketName": bucket}))
        assert line.startswith("djangostack:media.bucketName: ") and "S3 general purpose bucket naming" in line
    validate(_with(AWS_BASE, media={"storage": "s3", "bucketName": "media.uploads-1"}), set(), set())


def test_domain_lists_an_acm_certificate_cannot_hold_are_refused_by_check() -> None:
    fleet = {"kind": "aws-ec2", "instances": 2}
    tls = {"mode": "acm"}
    names = [f"n{i}.example.com" for i in range(11)]
    (line,) = _refused(_with(AWS_BASE, target=fleet, domain={"names": names, "tls": tls}))
    assert line.startswith("djangostack:domain.names: 11 names; an ACM certificate holds at most 10")
    long_first = ["a" * 60 + ".example.com", "b.example.com"]
    (line,) = _refused(_with(AWS_BASE, target=fleet, domain={"names": long_first, "tls": tls}))
    assert line.startswith("djangostack:domain.names[0]: ") and "at most 64" in line
    validate(_with(AWS_BASE, target=fleet, domain={"names": names[:10], "tls": tls}), set(), set(), stack="staging")


def test_gcp_names_too_long_for_the_service_account_id_are_refused_by_check() -> None:
    validate(_with(GCP_BASE, app={"name": "a" * 14}), set(), set(), stack="staging")  # a...a-staging-run: 26
    lines = _refused(_with(GCP_BASE, app={"name": "a" * 23}))
    assert any("makes the service account id" in line and "allowed 6-30" in line for line in lines), lines
    assert all(
        line.startswith("djangostack:app.name: 'aaaaaaaaaaaaaaaaaaaaaaa' on stack 'staging' makes") for line in lines
    )
    # The stack name is part of every GCP name: a long one is refused the same way.
    assert _refused(_with(GCP_BASE), stack="a-rather-long-feature-stack")


def test_extra_env_cloud_run_cannot_carry_is_refused_by_check() -> None:
    # The schema's own caps (100 variables, 4096 characters each) sit below Cloud Run's limits, so
    # the settings model refuses first; the Cloud Run rule stays as a second line for the limits.
    (line,) = _refused(_with(GCP_BASE, app={"extraEnv": {"BIG": "x" * 32_769}}))
    assert line.startswith("djangostack:app.extraEnv.BIG: "), line
    many = {f"V{i}": "1" for i in range(969)}
    (line,) = _refused(_with(GCP_BASE, app={"extraEnv": many}))
    assert line.startswith("djangostack:app.extraEnv: "), line
    validate(
        _with(GCP_BASE, app={"extraEnv": {f"V{i}": "x" * 4096 for i in range(100)}}), set(), set(), stack="staging"
    )


def test_gcs_bucket_names_the_schema_accepts_but_gcs_refuses_are_refused_by_check() -> None:
    for bucket in ("google-media", "goog-media", "10.0.0.1"):
        (line,) = _refused(_with(GCP_BASE, media={"storage": "gcs", "bucketName": bucket}))
        assert line.startswith("djangostack:media.bucketName: ") and "Cloud Storage bucket naming" in line


def test_check_knows_the_stack_from_the_file_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    document = {"config": {f"djangostack:{k}": v for k, v in _with(GCP_BASE).items()}}
    path = tmp_path / "Pulumi.a-rather-long-feature-stack.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    assert cli(["check", str(path)]) == 1
    assert "on stack 'a-rather-long-feature-stack' makes the" in capsys.readouterr().err
