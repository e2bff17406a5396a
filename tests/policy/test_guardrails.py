"""The security guardrails: each policy on a violating and a compliant resource, every stack of the
repository through every policy (under mocks), and the pack itself served over the analyzer gRPC
protocol the Pulumi engine speaks."""

from __future__ import annotations

import base64
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from policy import guardrails
from policy.guardrails import Context, StackResource
from policy.runner import REPO, run_policies, stack_environment, stack_files
from tests.harness import evaluate_stack, fixture_stack

PROD = Context(environment="prod")

RDS_OK = {
    "engine": "postgres",
    "publiclyAccessible": False,
    "storageEncrypted": True,
    "backupRetentionPeriod": 14.0,
    "deletionProtection": True,
    "skipFinalSnapshot": False,
    "parameterGroupName": "db-params-1",
}
CLOUD_SQL_OK = {
    "databaseVersion": "POSTGRES_16",
    "deletionProtection": True,
    "settings": {
        "ipConfiguration": {"ipv4Enabled": False, "sslMode": "ENCRYPTED_ONLY", "privateNetwork": "vpc"},
        "backupConfiguration": {"enabled": True, "backupRetentionSettings": {"retainedBackups": 14.0}},
        "deletionProtectionEnabled": True,
    },
}
LAUNCH_TEMPLATE_OK = {
    "blockDeviceMappings": [{"deviceName": "/dev/sda1", "ebs": {"encrypted": "true", "volumeSize": 20.0}}],
    "metadataOptions": {"httpTokens": "required", "httpEndpoint": "enabled"},
    "userData": base64.b64encode(b"#cloud-config\nwrite_files:\n- content: 'APP_SECRET_ARN=arn:aws:x'\n").decode(),
    "tagSpecifications": [{"resourceType": "instance", "tags": {"Name": "web"}}],
}


def cloud_run(
    image: str = "europe-docker.pkg.dev/p/r/app:2026.12.01-1", envs: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        "template": {
            "containers": [
                {
                    "name": "web",
                    "image": image,
                    "envs": envs
                    if envs is not None
                    else [
                        {"name": "ALLOWED_HOSTS", "value": "notes.example.com"},
                        {"name": "SECRET_KEY", "valueSource": {"secretKeyRef": {"secret": "key", "version": "1"}}},
                    ],
                }
            ]
        }
    }


def bootstrap(files: dict[str, str], secrets: dict[str, str] | None = None) -> dict[str, Any]:
    """A server bootstrap's inputs: ``stdin`` exports the secrets, then uploads each file as a
    base64 heredoc (the shape ``djangostack.host.django_host`` gives it)."""
    lines = [f"export {k}={shlex.quote(v)}" for k, v in sorted((secrets or {}).items())]
    lines += ["set -euo pipefail", "umask 077"]
    for path, text in sorted(files.items()):
        lines.append(f"base64 -d > {path} <<'__DJANGOSTACK_EOF__'")
        lines.append(base64.encodebytes(text.encode()).decode().rstrip("\n"))
        lines.append("__DJANGOSTACK_EOF__")
    lines.append("exec bash /usr/local/lib/notes/bootstrap")
    return {"create": "sudo -n bash -s", "stdin": "\n".join(lines) + "\n"}


ENV_BASE = "/usr/local/lib/notes/staged/etc/notes/app.env.base"
NGINX_SITE = "/usr/local/lib/notes/staged/etc/nginx/sites-available/notes.conf"
ENV_OK = {
    "DJANGO_DEBUG": "false",
    "ALLOWED_HOSTS": "notes.example.com",
    "SECURE_HSTS_SECONDS": "31536000",
    "DJANGO_SETTINGS_MODULE": "project.settings",
}


def env_file(**overrides: str) -> str:
    values = {**ENV_OK, **overrides}
    return "# Environment of notes (prod).\n" + "".join(f"{k}='{v}'\n" for k, v in sorted(values.items()))


def server(**overrides: str) -> dict[str, Any]:
    return bootstrap({ENV_BASE: env_file(**overrides)})


SSH_COMMAND = "pulumi-python:dynamic/djangostack:SshCommand"
REMOTE_COMMAND = "command:remote:Command"
LOCAL_COMMAND = "command:local:Command"
ROLE = "aws:iam/role:Role"
GENERATED_KEY = "q8V!zR2#kW9@tL4$mX7%bN1&cJ6*hF3^"


def with_(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of ``base`` with ``path`` (dotted) set to ``value``."""
    copy: dict[str, Any] = json.loads(json.dumps(base))
    target = copy
    *parents, last = path.split(".")
    for part in parents:
        target = target[part]
    target[last] = value
    return copy


# (policy, resource type, violating props, compliant props, context)
CASES: list[tuple[str, str, dict[str, Any], dict[str, Any], Context]] = [
    ("no-public-database", guardrails.RDS_INSTANCE, with_(RDS_OK, "publiclyAccessible", True), RDS_OK, Context()),
    (
        "no-public-database",
        guardrails.CLOUD_SQL,
        with_(CLOUD_SQL_OK, "settings.ipConfiguration.ipv4Enabled", True),
        CLOUD_SQL_OK,
        Context(),
    ),
    (
        "no-public-database",
        guardrails.CLOUD_SQL,
        with_(CLOUD_SQL_OK, "settings.ipConfiguration.authorizedNetworks", [{"value": "0.0.0.0/0"}]),
        CLOUD_SQL_OK,
        Context(),
    ),
    (
        "database-encrypted-at-rest",
        guardrails.RDS_INSTANCE,
        with_(RDS_OK, "storageEncrypted", False),
        RDS_OK,
        Context(),
    ),
    (
        "cache-encrypted-at-rest",
        guardrails.ELASTICACHE_REPLICATION_GROUP,
        {"atRestEncryptionEnabled": False, "transitEncryptionEnabled": True},
        {"atRestEncryptionEnabled": True, "transitEncryptionEnabled": True},
        Context(),
    ),
    (
        "bucket-encrypted-at-rest",
        guardrails.S3_SSE,
        {"bucket": "b", "rules": []},
        {"bucket": "b", "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]},
        Context(),
    ),
    (
        "bucket-encrypted-at-rest",
        guardrails.GCS_BUCKET,
        {"uniformBucketLevelAccess": False, "publicAccessPrevention": "enforced"},
        {"uniformBucketLevelAccess": True, "publicAccessPrevention": "enforced"},
        Context(),
    ),
    (
        "volume-encrypted-at-rest",
        guardrails.LAUNCH_TEMPLATE,
        with_(LAUNCH_TEMPLATE_OK, "blockDeviceMappings", [{"deviceName": "/dev/sda1", "ebs": {"encrypted": "false"}}]),
        LAUNCH_TEMPLATE_OK,
        Context(),
    ),
    (
        "volume-encrypted-at-rest",
        guardrails.EC2_INSTANCE,
        {"ami": "ami-1", "rootBlockDevice": {"encrypted": False}},
        {"ami": "ami-1", "rootBlockDevice": {"encrypted": True}, "metadataOptions": {"httpTokens": "required"}},
        Context(),
    ),
    (
        "redis-encrypted-in-transit",
        guardrails.ELASTICACHE_REPLICATION_GROUP,
        {"atRestEncryptionEnabled": True, "transitEncryptionEnabled": False},
        {"atRestEncryptionEnabled": True, "transitEncryptionEnabled": True},
        Context(),
    ),
    (
        "redis-encrypted-in-transit",
        guardrails.MEMORYSTORE,
        {"transitEncryptionMode": "DISABLED", "authEnabled": False},
        {"transitEncryptionMode": "SERVER_AUTHENTICATION", "authEnabled": True},
        Context(),
    ),
    (
        "postgres-requires-tls",
        guardrails.CLOUD_SQL,
        with_(CLOUD_SQL_OK, "settings.ipConfiguration.sslMode", "ALLOW_UNENCRYPTED_AND_ENCRYPTED"),
        CLOUD_SQL_OK,
        Context(),
    ),
    (
        "postgres-requires-tls",
        guardrails.RDS_PARAMETER_GROUP,
        {"family": "postgres16", "parameters": [{"name": "rds.force_ssl", "value": "0"}]},
        {"family": "postgres16", "parameters": [{"name": "rds.force_ssl", "value": "1"}]},
        Context(),
    ),
    (
        "no-admin-ports-open-to-internet",
        guardrails.SG_INGRESS_RULE,
        {"ipProtocol": "tcp", "fromPort": 22.0, "toPort": 22.0, "cidrIpv4": "0.0.0.0/0"},
        {"ipProtocol": "tcp", "fromPort": 22.0, "toPort": 22.0, "cidrIpv4": "203.0.113.0/24"},
        Context(),
    ),
    (
        "no-admin-ports-open-to-internet",
        guardrails.SG_INGRESS_RULE,
        {"ipProtocol": "-1", "cidrIpv6": "::/0"},
        {"ipProtocol": "tcp", "fromPort": 443.0, "toPort": 443.0, "cidrIpv6": "::/0"},
        Context(),
    ),
    (
        "no-admin-ports-open-to-internet",
        guardrails.SECURITY_GROUP,
        {"ingress": [{"protocol": "tcp", "fromPort": 5000, "toPort": 6000, "cidrBlocks": ["0.0.0.0/0"]}]},
        {"ingress": [{"protocol": "tcp", "fromPort": 80, "toPort": 80, "cidrBlocks": ["0.0.0.0/0"]}]},
        Context(),
    ),
    (
        "no-admin-ports-open-to-internet",
        guardrails.SECURITY_GROUP_RULE,
        {"type": "ingress", "protocol": "tcp", "fromPort": 6379, "toPort": 6379, "cidrBlocks": ["0.0.0.0/0"]},
        {"type": "egress", "protocol": "tcp", "fromPort": 6379, "toPort": 6379, "cidrBlocks": ["0.0.0.0/0"]},
        Context(),
    ),
    (
        "no-admin-ports-open-to-internet",
        guardrails.GCP_FIREWALL,
        {"sourceRanges": ["0.0.0.0/0"], "allows": [{"protocol": "tcp", "ports": ["22", "3000-4000"]}]},
        {"sourceRanges": ["35.235.240.0/20"], "allows": [{"protocol": "tcp", "ports": ["22"]}]},
        Context(),
    ),
    (
        "imdsv2-required",
        guardrails.LAUNCH_TEMPLATE,
        with_(LAUNCH_TEMPLATE_OK, "metadataOptions.httpTokens", "optional"),
        LAUNCH_TEMPLATE_OK,
        Context(),
    ),
    (
        "imdsv2-required",
        guardrails.EC2_INSTANCE,
        {"ami": "ami-1", "rootBlockDevice": {"encrypted": True}},
        {"launchTemplate": {"id": "lt-1", "version": "1"}},
        Context(),
    ),
    ("no-latest-images", guardrails.CLOUD_RUN_SERVICE, cloud_run("gcr.io/p/app:latest"), cloud_run(), Context()),
    (
        "no-latest-images",
        guardrails.CLOUD_RUN_JOB,
        {"template": cloud_run("localhost:5000/app")},
        {"template": cloud_run("europe-docker.pkg.dev/p/r/app@sha256:" + "a" * 64)},
        Context(),
    ),
    (
        "no-latest-images",
        guardrails.ECS_TASK_DEFINITION,
        {"containerDefinitions": json.dumps([{"name": "web", "image": "nginx:latest"}])},
        {"containerDefinitions": json.dumps([{"name": "web", "image": "nginx:1.27.3"}])},
        Context(),
    ),
    ("prod-database-protection", guardrails.RDS_INSTANCE, with_(RDS_OK, "backupRetentionPeriod", 3.0), RDS_OK, PROD),
    ("prod-database-protection", guardrails.RDS_INSTANCE, with_(RDS_OK, "deletionProtection", False), RDS_OK, PROD),
    (
        "prod-database-protection",
        guardrails.CLOUD_SQL,
        with_(CLOUD_SQL_OK, "settings.deletionProtectionEnabled", False),
        CLOUD_SQL_OK,
        PROD,
    ),
    (
        "prod-database-protection",
        guardrails.CLOUD_SQL,
        with_(CLOUD_SQL_OK, "settings.backupConfiguration.backupRetentionSettings.retainedBackups", 5.0),
        CLOUD_SQL_OK,
        PROD,
    ),
    (
        "no-public-buckets",
        guardrails.S3_PUBLIC_ACCESS_BLOCK,
        {"blockPublicAcls": True, "blockPublicPolicy": False, "ignorePublicAcls": True, "restrictPublicBuckets": True},
        {"blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": True, "restrictPublicBuckets": True},
        Context(),
    ),
    (
        "no-public-buckets",
        guardrails.S3_BUCKET_POLICY,
        {"policy": json.dumps({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}]})},
        {
            "policy": json.dumps(
                {
                    "Statement": [
                        {
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:*",
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        }
                    ]
                }
            )
        },
        Context(),
    ),
    (
        "no-public-buckets",
        guardrails.GCS_BUCKET,
        {"uniformBucketLevelAccess": True, "publicAccessPrevention": "inherited"},
        {"uniformBucketLevelAccess": True, "publicAccessPrevention": "enforced"},
        Context(),
    ),
    (
        "no-public-buckets",
        "gcp:storage/bucketIAMMember:BucketIAMMember",
        {"bucket": "media", "role": "roles/storage.objectViewer", "member": "allUsers"},
        {
            "bucket": "media",
            "role": "roles/storage.objectAdmin",
            "member": "serviceAccount:run@p.iam.gserviceaccount.com",
        },
        Context(),
    ),
    (
        "no-plaintext-secrets",
        guardrails.CLOUD_RUN_SERVICE,
        cloud_run(envs=[{"name": "SECRET_KEY", "value": "django-insecure-abc123"}]),
        cloud_run(),
        Context(),
    ),
    (
        "no-plaintext-secrets",
        guardrails.CLOUD_RUN_WORKER_POOL,
        cloud_run(envs=[{"name": "DATABASE_URL", "value": "postgres://app:hunter2@10.0.0.3/app"}]),
        cloud_run(envs=[{"name": "DATABASE_URL", "value": "postgres:///app?host=/cloudsql/p:r:i"}]),
        Context(),
    ),
    (
        "no-plaintext-secrets",
        guardrails.LAUNCH_TEMPLATE,
        with_(
            LAUNCH_TEMPLATE_OK,
            "userData",
            base64.b64encode(b"#!/bin/bash\necho 'DB_PASSWORD=s3cr3t' >> /etc/app.env\n").decode(),
        ),
        LAUNCH_TEMPLATE_OK,
        Context(),
    ),
    (
        "no-plaintext-secrets",
        guardrails.EC2_INSTANCE,
        {"launchTemplate": {"id": "lt"}, "tags": {"Name": "web", "api_token": "tok-123456"}},
        {"launchTemplate": {"id": "lt"}, "tags": {"Name": "web", "djangostack:role": "web"}},
        Context(),
    ),
    (
        "no-admin-runtime-identity",
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        {"role": "web", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
        {"role": "web", "policyArn": "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"},
        Context(),
    ),
    (
        "no-admin-runtime-identity",
        "aws:iam/rolePolicy:RolePolicy",
        {"role": "web", "policy": json.dumps({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})},
        {
            "role": "web",
            "policy": json.dumps(
                {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/media/*"}]}
            ),
        },
        Context(),
    ),
    (
        "no-admin-runtime-identity",
        "aws:iam/policy:Policy",
        {"policy": json.dumps({"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]})},
        {"policy": json.dumps({"Statement": [{"Effect": "Deny", "NotAction": "s3:GetObject", "Resource": "*"}]})},
        Context(),
    ),
    (
        "no-admin-runtime-identity",
        ROLE,
        {
            "assumeRolePolicy": json.dumps(
                {
                    "Statement": [
                        {"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::1:root"}, "Action": "sts:AssumeRole"}
                    ]
                }
            )
        },
        {
            "assumeRolePolicy": json.dumps(
                {
                    "Statement": [
                        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
                    ]
                }
            )
        },
        Context(),
    ),
    (
        "no-public-buckets",
        guardrails.S3_BUCKET_POLICY,
        {
            "policy": json.dumps(
                {"Statement": [{"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::1:role/x"}, "Action": "s3:*"}]}
            )
        },
        {
            "policy": json.dumps(
                {"Statement": [{"Effect": "Deny", "NotPrincipal": {"AWS": "arn:aws:iam::1:role/x"}, "Action": "s3:*"}]}
            )
        },
        Context(),
    ),
    (
        "no-admin-ports-open-to-internet",
        guardrails.SG_INGRESS_RULE,
        {"ipProtocol": "tcp", "fromPort": 22.0, "toPort": 22.0, "cidrIpv6": "::/1"},
        {"ipProtocol": "tcp", "fromPort": 22.0, "toPort": 22.0, "cidrIpv6": "2001:db8:1::/48"},
        Context(),
    ),
    (
        "no-admin-ports-open-to-internet",
        guardrails.SG_INGRESS_RULE,
        {"ipProtocol": "tcp", "fromPort": 5432.0, "toPort": 5432.0, "cidrIpv6": "8000::/1"},
        {"ipProtocol": "tcp", "fromPort": 5432.0, "toPort": 5432.0, "cidrIpv6": "fd00::/8"},
        Context(),
    ),
    (
        "no-admin-ports-open-to-internet",
        guardrails.GCP_FIREWALL,
        {"sourceRanges": ["::/0"], "allows": [{"protocol": "tcp", "ports": ["6379"]}]},
        {"sourceRanges": ["::/0"], "allows": [{"protocol": "tcp", "ports": ["443"]}]},
        Context(),
    ),
    (
        "no-admin-ports-open-to-internet",
        guardrails.SECURITY_GROUP,
        {"ingress": [{"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["128.0.0.0/1"]}]},
        {"ingress": [{"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["10.0.0.0/8"]}]},
        Context(),
    ),
    (
        "no-django-debug-or-wildcard-hosts",
        SSH_COMMAND,
        server(DJANGO_DEBUG="true"),
        server(),
        Context(),
    ),
    (
        "no-django-debug-or-wildcard-hosts",
        SSH_COMMAND,
        server(ALLOWED_HOSTS="notes.example.com,*"),
        server(ALLOWED_HOSTS="notes.example.com,.notes.example.com"),
        Context(),
    ),
    (
        "no-django-debug-or-wildcard-hosts",
        guardrails.CLOUD_RUN_SERVICE,
        cloud_run(envs=[{"name": "DJANGO_DEBUG", "value": "True"}]),
        cloud_run(envs=[{"name": "DJANGO_DEBUG", "value": "false"}]),
        Context(),
    ),
    (
        "no-django-debug-or-wildcard-hosts",
        guardrails.LAUNCH_TEMPLATE,
        with_(
            LAUNCH_TEMPLATE_OK,
            "userData",
            base64.b64encode(
                b"#cloud-config\nwrite_files:\n- path: /etc/notes/app.env.base\n  encoding: b64\n  content: "
                + base64.b64encode(b"ALLOWED_HOSTS='*'\n")
                + b"\n"
            ).decode(),
        ),
        LAUNCH_TEMPLATE_OK,
        Context(),
    ),
    ("prod-hsts-enabled", SSH_COMMAND, server(SECURE_HSTS_SECONDS="0"), server(), PROD),
    (
        "prod-hsts-enabled",
        SSH_COMMAND,
        bootstrap({ENV_BASE: env_file(), NGINX_SITE: 'add_header Strict-Transport-Security "max-age=0" always;\n'}),
        bootstrap({ENV_BASE: env_file(), NGINX_SITE: 'add_header Strict-Transport-Security "max-age=300" always;\n'}),
        PROD,
    ),
    (
        "prod-hsts-enabled",
        guardrails.CLOUD_RUN_SERVICE,
        cloud_run(envs=[{"name": "SECURE_HSTS_SECONDS", "value": "0"}]),
        cloud_run(envs=[{"name": "SECURE_HSTS_SECONDS", "value": "300"}]),
        PROD,
    ),
    (
        "prod-database-tls",
        REMOTE_COMMAND,
        bootstrap(
            {ENV_BASE: env_file()}, {"DATABASE_URL": "postgres://app:pw@db.example.com:5432/app?sslmode=disable"}
        ),
        bootstrap(
            {ENV_BASE: env_file()}, {"DATABASE_URL": "postgres://app:pw@db.example.com:5432/app?sslmode=require"}
        ),
        PROD,
    ),
    (
        "prod-database-tls",
        LOCAL_COMMAND,
        {"environment": {"DB_SSLMODE": "disable", "RELEASE_ID": "r1"}},
        {"environment": {"DB_SSLMODE": "verify-full", "RELEASE_ID": "r1"}},
        PROD,
    ),
    (
        "no-plaintext-secrets",
        SSH_COMMAND,
        server(PAYMENTS="sk_test_4eC39HqLyjWDarjtT1zdp7dc"),
        server(PAYMENTS_MODE="test"),
        Context(),
    ),
    (
        "no-plaintext-secrets",
        SSH_COMMAND,
        server(BILLING_BLOB=GENERATED_KEY),
        server(BILLING_BLOB="monthly-invoices-enabled-for-eu"),
        Context(),
    ),
    (
        "no-plaintext-secrets",
        guardrails.CLOUD_RUN_SERVICE,
        cloud_run(envs=[{"name": "UPSTREAM", "value": "Server=db;User Id=app;Password=hunter22;"}]),
        cloud_run(envs=[{"name": "UPSTREAM", "value": "Server=db;User Id=app"}]),
        Context(),
    ),
    (
        "no-admin-runtime-identity",
        "gcp:projects/iAMMember:IAMMember",
        {"project": "p", "role": "roles/editor", "member": "serviceAccount:run@p.iam.gserviceaccount.com"},
        {"project": "p", "role": "roles/cloudsql.client", "member": "serviceAccount:run@p.iam.gserviceaccount.com"},
        Context(),
    ),
]


def case_id(case: tuple[str, str, dict[str, Any], dict[str, Any], Context]) -> str:
    return f"{case[0]}-{case[1].rsplit(':', 1)[-1]}"


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_policy_flags_the_violating_resource_and_passes_the_compliant_one(case: Any) -> None:
    policy, resource_type, bad, good, context = case
    guardrail = guardrails.by_name(policy)
    assert guardrail(resource_type, bad, context), f"{policy} did not flag {bad}"
    assert guardrail(resource_type, good, context) == [], f"{policy} flagged the compliant {good}"


def test_every_policy_has_a_violating_and_a_compliant_case() -> None:
    tested = {case[0] for case in CASES}
    assert tested == {g.name for g in guardrails.GUARDRAILS}


def test_production_rules_stay_quiet_outside_production_and_for_a_local_database() -> None:
    hsts_off = server(SECURE_HSTS_SECONDS="0")
    assert guardrails.by_name("prod-hsts-enabled")(SSH_COMMAND, hsts_off, Context(environment="staging")) == []
    tls = guardrails.by_name("prod-database-tls")
    external = bootstrap({}, {"DATABASE_URL": "postgres://app:pw@db.example.com/app?sslmode=disable"})
    assert tls(REMOTE_COMMAND, external, Context(environment="dev")) == []
    # A database on the same host never crosses a network: the server target's local PostgreSQL.
    local = bootstrap({}, {"DATABASE_URL": "postgres://app:pw@127.0.0.1:5433/app?sslmode=disable"})
    assert tls(REMOTE_COMMAND, local, PROD) == []


def test_the_secret_channel_of_the_bootstrap_is_not_a_plaintext_secret() -> None:
    # The bootstrap exports the stack's secrets on stdin (a Pulumi secret); only its files count.
    exported = bootstrap({ENV_BASE: env_file()}, {"SECRET_KEY": GENERATED_KEY, "DATABASE_URL": "postgres://a:b@h/d"})
    assert guardrails.by_name("no-plaintext-secrets")(SSH_COMMAND, exported, Context()) == []


def test_a_database_url_violation_never_repeats_the_password() -> None:
    leaked = bootstrap({}, {"DATABASE_URL": "postgres://app:S3cretPw@db.example.com/app?sslmode=disable"})
    found = guardrails.by_name("prod-database-tls")(REMOTE_COMMAND, leaked, PROD)
    assert found and all("S3cretPw" not in message for message in found), found
    assert "db.example.com" in found[0]


@pytest.mark.parametrize(
    ("cidr", "is_open"),
    [
        ("0.0.0.0/0", True),
        ("::/0", True),
        ("::/1", True),
        ("8000::/1", True),
        ("0.0.0.0/1", True),
        ("128.0.0.0/1", True),
        ("2000::/3", True),
        ("::ffff:0.0.0.0/96", True),
        ("10.0.0.0/8", False),
        ("fc00::/7", False),
        ("2001:db8::/32", False),
        ("203.0.113.0/24", False),
        ("35.235.240.0/20", False),
    ],
)
def test_networks_this_large_count_as_the_internet(cidr: str, is_open: bool) -> None:
    assert guardrails.is_open_cidr(cidr) is is_open


@pytest.mark.parametrize(
    ("value", "generated"),
    [
        (GENERATED_KEY, True),
        ("django-insecure-9f#x!2kq@l0zv&7m$w1r^c8b*e4t", True),
        ("notes-prod-app-release-2c8cd93", False),
        ("39e9506e43377580abc435b461f95199ec0af1a6bb09fa79be65b60a6bfa4eee", False),
        ("123e4567-e89b-12d3-a456-426614174000", False),
        ("notes.example.com,www.notes.example.com", False),
        ("project.wsgi:application", False),
    ],
)
def test_generated_keys_are_told_from_written_values(value: str, generated: bool) -> None:
    assert guardrails.high_entropy_literal(value) is generated


def test_production_rules_stay_quiet_outside_production() -> None:
    relaxed = with_(RDS_OK, "deletionProtection", False)
    check = guardrails.by_name("prod-database-protection")
    assert check(guardrails.RDS_INSTANCE, relaxed, Context(environment="staging")) == []
    assert check(guardrails.RDS_INSTANCE, relaxed, Context(environment="production"))
    assert check(guardrails.RDS_INSTANCE, relaxed, Context(environment="live", prod_environments=frozenset({"live"})))


def test_a_secret_input_is_never_a_plaintext_secret() -> None:
    leaked = cloud_run(envs=[{"name": "SECRET_KEY", "value": "django-insecure-abc123"}])
    check = guardrails.by_name("no-plaintext-secrets")
    assert check(guardrails.CLOUD_RUN_SERVICE, leaked, Context())
    assert check(guardrails.CLOUD_RUN_SERVICE, leaked, Context(secret_props=frozenset({"template"}))) == []


@pytest.mark.parametrize(
    ("name", "sensitive"),
    [
        ("SECRET_KEY", True),
        ("DB_PASSWORD", True),
        ("SENTRY_DSN", True),
        ("API_KEY", True),
        ("GITHUB_TOKEN", True),
        ("APP_SECRET_ARN", False),
        ("PASSWORD_FILE", False),
        ("MIGRATE_LOCK_KEY", False),
        ("ARCHIVE_KEY", False),
        ("ALLOWED_HOSTS", False),
    ],
)
def test_secret_looking_names_are_told_from_references(name: str, sensitive: bool) -> None:
    assert guardrails.sensitive_name(name) is sensitive


def test_user_data_comments_and_references_are_not_leaks() -> None:
    script = "# Format: KEY='value'\nAPP_SECRET_ARN=arn:aws:secretsmanager:x\nSECRET_KEY=\"$(fetch)\"\n"
    assert guardrails.user_data_problems(script) == []
    assert guardrails.user_data_problems("SECRET_KEY=abc\n") == ["userData assigns SECRET_KEY a literal value"]


def test_an_rds_instance_must_use_a_parameter_group_that_forces_ssl() -> None:
    check = guardrails.stack_by_name("rds-parameter-group-forces-ssl")
    db_urn, pg_urn = "urn:db", "urn:pg"

    def stack(force_ssl: str) -> list[StackResource]:
        group = {
            "family": "postgres16",
            "name": "db-params-1",
            "parameters": [{"name": "rds.force_ssl", "value": force_ssl}],
        }
        return [
            StackResource(guardrails.RDS_PARAMETER_GROUP, "pg", pg_urn, group),
            StackResource(guardrails.RDS_INSTANCE, "db", db_urn, RDS_OK, {"parameterGroupName": frozenset({pg_urn})}),
        ]

    assert check(stack("1")) == []
    assert [v.urn for v in check(stack("0"))] == [db_urn]
    outside = [
        StackResource(guardrails.RDS_INSTANCE, "db", db_urn, with_(RDS_OK, "parameterGroupName", "default.postgres16"))
    ]
    assert "not one of this stack's parameter groups" in check(outside)[0].message


def test_every_s3_bucket_needs_a_public_access_block_and_encryption() -> None:
    check = guardrails.stack_by_name("s3-bucket-blocked-and-encrypted")
    bucket = StackResource(guardrails.S3_BUCKET, "media", "urn:b", {})
    block = StackResource(
        guardrails.S3_PUBLIC_ACCESS_BLOCK,
        "pab",
        "urn:pab",
        dict.fromkeys(guardrails.PUBLIC_ACCESS_BLOCK_FLAGS, True),
        {"bucket": frozenset({"urn:b"})},
    )
    sse = StackResource(
        guardrails.S3_SSE,
        "sse",
        "urn:sse",
        {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}]},
        {"bucket": frozenset({"urn:b"})},
    )
    assert check([bucket, block, sse]) == []
    assert [v.message for v in check([bucket])] == [
        "has no BucketPublicAccessBlock with all four flags true",
        "has no BucketServerSideEncryptionConfiguration (default encryption)",
    ]


# --------------------------------------------------------------------------------------------------
# The real program, every stack
# --------------------------------------------------------------------------------------------------

STACKS = stack_files(REPO / "stacks", REPO / "tests" / "aws", REPO / "tests" / "gcp")


@pytest.mark.parametrize("stack_file", STACKS, ids=[str(p.relative_to(REPO)) for p in STACKS])
def test_every_stack_passes_every_policy(stack_file: Path) -> None:
    recording = evaluate_stack(stack_file)
    violations = run_policies(recording, stack_environment(stack_file))
    assert violations == [], "\n".join(str(v) for v in violations)


def test_the_stacks_cover_every_target_and_a_production_stack() -> None:
    names = {str(p.relative_to(REPO)) for p in STACKS}
    assert {"stacks/Pulumi.dev.yaml", "stacks/Pulumi.staging.yaml", "stacks/Pulumi.prod.yaml"} <= names
    assert stack_environment(fixture_stack("prod")) == "prod"


def test_a_prod_stack_without_deletion_protection_is_stopped() -> None:
    # The settings allow turning protection off; the pack is the second line that refuses it in prod.
    recording = evaluate_stack("prod", overrides={"database": {"mode": "managed", "deletionProtection": False}})
    violations = run_policies(recording, "prod")
    assert {(v.policy, v.resource_type) for v in violations} == {
        ("prod-database-protection", guardrails.RDS_INSTANCE)
    }, violations
    assert any("deletionProtection is not true" in v.message for v in violations)
    assert run_policies(recording, "staging") == []


def test_the_policies_see_what_the_program_registers() -> None:
    # Guard against vacuous passes: the stacks contain the resources the guardrails inspect.
    inspected = set().union(*(g.resource_types for g in guardrails.GUARDRAILS))
    seen = {r.type for path in STACKS for r in evaluate_stack(path).resources}
    for expected in (
        guardrails.RDS_INSTANCE,
        guardrails.CLOUD_SQL,
        guardrails.LAUNCH_TEMPLATE,
        guardrails.MEMORYSTORE,
        guardrails.ELASTICACHE_REPLICATION_GROUP,
        guardrails.CLOUD_RUN_SERVICE,
        guardrails.CLOUD_RUN_JOB,
        guardrails.GCS_BUCKET,
        guardrails.S3_PUBLIC_ACCESS_BLOCK,
        guardrails.SG_INGRESS_RULE,
    ):
        assert expected in seen & inspected, f"no stack registers {expected}"


# --------------------------------------------------------------------------------------------------
# The pack, as the engine runs it
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def analyzer(request: pytest.FixtureRequest) -> Any:
    """The pack started as the CLI starts it (``python policy``), reached over gRPC."""
    pytest.importorskip("pulumi_policy", reason="pulumi-policy is installed from policy/requirements.txt")
    import grpc
    from pulumi.runtime.proto import analyzer_pb2_grpc

    env = {**os.environ, **getattr(request, "param", {})}
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "policy")], stdout=subprocess.PIPE, env=env, cwd=REPO / "policy"
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield analyzer_pb2_grpc.AnalyzerStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def analyze(stub: Any, resource_type: str, props: dict[str, Any]) -> list[tuple[str, str]]:
    from google.protobuf import struct_pb2
    from pulumi.runtime.proto import analyzer_pb2

    properties = struct_pb2.Struct()
    properties.update(props)
    request = analyzer_pb2.AnalyzeRequest(
        type=resource_type, properties=properties, urn=f"urn:pulumi:prod::djangostack::{resource_type}::r", name="r"
    )
    return [(d.policyName, d.message) for d in stub.Analyze(request, timeout=20).diagnostics]


def test_the_pack_registers_every_guardrail_as_mandatory(analyzer: Any) -> None:
    from google.protobuf import empty_pb2

    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=20)
    assert info.name == "djangostack-guardrails"
    names = [p.name for p in info.policies]
    assert names == [g.name for g in guardrails.GUARDRAILS] + [g.name for g in guardrails.STACK_GUARDRAILS]
    assert {p.enforcementLevel for p in info.policies} == {1}, "every policy is mandatory (1)"


def test_the_pack_reports_a_public_database(analyzer: Any) -> None:
    found = analyze(analyzer, guardrails.RDS_INSTANCE, with_(RDS_OK, "publiclyAccessible", True))
    assert [name for name, _ in found] == ["no-public-database"]
    assert "publiclyAccessible is true" in found[0][1]


@pytest.mark.parametrize(
    "analyzer",
    [{"PULUMI_PROJECT": "djangostack", "PULUMI_STACK": "prod", "PULUMI_DRY_RUN": "true"}],
    indirect=True,
)
def test_the_pack_applies_production_rules_to_a_stack_named_prod(analyzer: Any) -> None:
    found = analyze(analyzer, guardrails.RDS_INSTANCE, with_(RDS_OK, "deletionProtection", False))
    assert [name for name, _ in found] == ["prod-database-protection"]


@pytest.mark.parametrize(
    "analyzer",
    [{"PULUMI_PROJECT": "djangostack", "PULUMI_STACK": "prod", "PULUMI_DRY_RUN": "true"}],
    indirect=True,
)
def test_the_pack_agrees_with_the_pure_checks_on_every_case(analyzer: Any) -> None:
    # The SDK hands props over as read-only proxies (Sequence, Mapping), numbers as floats: every
    # case goes through the real pack to prove the checks read those shapes the same way.
    for policy, resource_type, bad, good, _context in CASES:
        flagged_bad = {name for name, _ in analyze(analyzer, resource_type, bad)}
        flagged_good = {name for name, _ in analyze(analyzer, resource_type, good)}
        assert policy in flagged_bad, f"the pack did not flag {policy} on {bad}"
        assert policy not in flagged_good, f"the pack flagged {policy} on the compliant {good}"


def configure_stack(stub: Any, stack: str, config: dict[str, str]) -> None:
    """What recent CLIs send right after starting the pack (instead of PULUMI_CONFIG in its env)."""
    from pulumi.runtime.proto import analyzer_pb2

    request = analyzer_pb2.AnalyzerStackConfigureRequest(
        stack=stack, project="djangostack", organization="organization", dry_run=True, config=config
    )
    stub.ConfigureStack(request, timeout=20)


def test_the_pack_takes_the_environment_from_the_stack_config_it_is_configured_with(analyzer: Any) -> None:
    # The stack's name says nothing; djangostack:environment does.
    configure_stack(analyzer, "blue", {"djangostack:environment": "prod", "djangostack:app": '{"name": "notes"}'})
    found = analyze(analyzer, guardrails.RDS_INSTANCE, with_(RDS_OK, "deletionProtection", False))
    assert [name for name, _ in found] == ["prod-database-protection"]
    [(name, message)] = analyze(analyzer, SSH_COMMAND, server(SECURE_HSTS_SECONDS="0"))
    assert name == "prod-hsts-enabled"
    # The SDK puts the policy's description on the first line, then the violation.
    assert message.splitlines()[-1] == (
        f"stdin file {ENV_BASE}: SECURE_HSTS_SECONDS=0 switches HSTS off in production; set web.hstsSeconds "
        "to at least 300 (one year once HTTPS is proven)"
    )


def test_the_stack_config_wins_over_a_stack_named_prod(analyzer: Any) -> None:
    configure_stack(analyzer, "prod", {"djangostack:environment": "staging"})
    assert analyze(analyzer, guardrails.RDS_INSTANCE, with_(RDS_OK, "deletionProtection", False)) == []
    configure_stack(analyzer, "prod", {})
    found = analyze(analyzer, guardrails.RDS_INSTANCE, with_(RDS_OK, "deletionProtection", False))
    assert [name for name, _ in found] == ["prod-database-protection"], "the stack name is the last resort"
