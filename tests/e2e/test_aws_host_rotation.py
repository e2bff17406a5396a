"""An EC2-style host on the real test host survives RDS rotating the master password (issue 10, item 4).

The aws-ec2 target's own rendered files run unchanged on the booted test host: the host bundle
(the host layer's first-boot files plus ``aws.env`` and ``aws-release``) is installed by the
launch template's loader, which then runs ``aws-release boot``; releases run ``aws-release
release`` as the SSH release step does. What only AWS provides is played by the host itself:

- a fake ``aws`` CLI answers ``secretsmanager get-secret-value``, ``s3 cp`` and ``s3api
  get-object`` from files under ``/var/lib/fake-aws``;
- a PostgreSQL cluster of its own (port 15499) stands in for RDS, with a master user that may
  create roles and owns the database, as RDS sets it up;
- a Redis on port 16390 stands in for ElastiCache; a ``cloud-init`` that reports "done".

Then, while a load generator sends requests, the master password is rotated the way RDS does it
(``ALTER ROLE ... PASSWORD`` and the managed secret answers the new one) and a new release runs:
no request fails, and the app never connects as the master user.

Shares the session's booted host with the other e2e modules: the app is named ``awsnotes`` and
serves on ports 18080/18443, so it does not meet the ``server`` target's sample app.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re
import shlex
import time
from pathlib import Path

import pytest

from djangostack.host.artifact import pack_source
from djangostack.host.context import HostContext
from djangostack.settings.loading import load_from_stack_file
from djangostack.settings.stack import StackSettings
from djangostack.targets.aws import host_integration as hosts
from djangostack.targets.hosts import host_context
from tests.e2e.test_host_release import Load
from tests.e2e.web import Browser
from tools.testhost import TestHost, distro

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "examples/django_app"
FAKE = "/var/lib/fake-aws"
APP_NAME = "awsnotes"
RDS_PORT = 15499
REDIS_PORT = 16390
REDIS_PASSWORD = "ElastiCacheStandIn0123456789"
APP_PASSWORD = "AppRolePasswordGeneratedByPulumi0123456789"
MASTER_PASSWORDS = ("RdsMasterOne0123456789", "RdsMasterTwo0123456789")
FACTS = hosts.AwsHostFacts(
    public_hosts=(),
    region="eu-central-1",
    app_secret_arn="arn:aws:secretsmanager:eu-central-1:000000000000:secret:awsnotes-app-AbCdEf",
    db_secret_arn="arn:aws:secretsmanager:eu-central-1:000000000000:secret:rds!db-0123-XyZ",
    db_host="127.0.0.1",
    db_port=RDS_PORT,
    bucket="awsnotes-media-test",
)

# The AWS CLI calls aws-release and the loader make, answered from local files; anything else fails.
FAKE_AWS = r"""#!/bin/bash
# Stand-in for the AWS CLI on the e2e test host: Secrets Manager and S3 from local files.
set -euo pipefail
root=/var/lib/fake-aws
printf '%s\n' "$*" >> "$root/calls.log" 2>/dev/null || true
service=${1:-} action=${2:-}
shift 2 || true
declare -A opt=()
args=()
while (($#)); do
    case $1 in
        --only-show-errors) shift ;;
        --*) opt[$1]=$2; shift 2 ;;
        *) args+=("$1"); shift ;;
    esac
done
case "$service $action" in
    "secretsmanager get-secret-value") cat "$root/secrets/${opt[--secret-id]}" ;;
    "s3 cp") cp "$root/s3/${args[0]#s3://}" "${args[1]}" ;;
    "s3api get-object") cp "$root/s3/${opt[--bucket]}/${opt[--key]}" "${args[0]}"; echo '{}' ;;
    *) echo "fake aws: unsupported call: $service $action" >&2; exit 2 ;;
esac
"""


@pytest.fixture(scope="module")
def settings() -> StackSettings:
    base = load_from_stack_file(REPO / "tests/aws/Pulumi.single.yaml")
    return base.model_copy(
        update={
            "app": base.app.model_copy(update={"name": APP_NAME}),
            # Self-signed at Nginx: the test host cannot get a Let's Encrypt certificate.
            "domain": base.domain.model_copy(update={"names": ["staging.awsnotes.example.com"], "tls": None}),
        }
    )


@pytest.fixture(scope="module")
def ctx(settings: StackSettings) -> HostContext:
    ctx = host_context(settings, public_hosts=list(FACTS.public_hosts), media_bucket=FACTS.bucket)
    # The test host shares this machine's network: ports of its own instead of 80/443, and the
    # test host's login user in place of EC2's "ubuntu", and the test host's OS in place of the AMI's
    # Ubuntu (the bootstrap refuses a host that runs another OS than the one it was rendered for).
    return dataclasses.replace(ctx, http_port=18080, https_port=18443, ssh_user="deploy", host_os=distro().host_os)


def root_write(host: TestHost, path: str, content: str, mode: str = "0600") -> None:
    """Write a file on the host as root, atomically (a reader never sees half a secret)."""
    quoted = shlex.quote(path)
    host.ssh(
        f"sudo -n install -d -m 0755 $(dirname {quoted}) && sudo -n tee {quoted}.new >/dev/null "
        f"&& sudo -n chmod {mode} {quoted}.new && sudo -n mv -f {quoted}.new {quoted}",
        input=content,
    )


def rds(host: TestHost, sql: str) -> str:
    """Run SQL on the RDS stand-in as its superuser (what AWS does on the managed instance)."""
    return host.ssh(f"sudo -n -u postgres psql -p {RDS_PORT} -d postgres -qAtX -v ON_ERROR_STOP=1", input=sql).stdout


def serve_secrets(host: TestHost, settings: StackSettings, master_password: str) -> None:
    app = {
        "SECRET_KEY": "e2e-secret-key-" + "x" * 40,
        "DATABASE_APP_PASSWORD": APP_PASSWORD,
        "REDIS_URL": f"redis://:{REDIS_PASSWORD}@127.0.0.1:{REDIS_PORT}/0",
        # observability.sentry is on in this stack; nothing listens there (events are dropped).
        "SENTRY_DSN": "http://public@127.0.0.1:9/1",
    }
    master = {"username": settings.database.user, "password": master_password}
    root_write(host, f"{FAKE}/secrets/{FACTS.app_secret_arn}", json.dumps(app))
    root_write(host, f"{FAKE}/secrets/{FACTS.db_secret_arn}", json.dumps(master))


def upload_release(host: TestHost, release_id: str) -> tuple[str, str]:
    """Put the sample app's archive into the fake bucket; return its key and sha256."""
    archive = pack_source(APP)
    key = f"releases/{APP_NAME}-{release_id}.tar.gz"
    target = f"{FAKE}/s3/{FACTS.bucket}/{key}"
    host.ssh(
        f"sudo -n install -d -m 0755 $(dirname {target}) && base64 -d | sudo -n tee {target} >/dev/null",
        input=base64.b64encode(archive).decode(),
    )
    return key, hashlib.sha256(archive).hexdigest()


def aws_release(host: TestHost, settings: StackSettings, release_id: str) -> str:
    key, sha256 = upload_release(host, release_id)
    with_id = settings.model_copy(update={"app": settings.app.model_copy(update={"release_id": release_id})})
    command = hosts.release_command(with_id.app, "release", key, sha256)
    result = host.ssh(command.replace("sudo ", "sudo -n ", 1), timeout=900, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"aws-release release {release_id} failed:\n{output[-4000:]}"
    return output


@pytest.fixture(scope="module")
def ec2_host(test_host: TestHost, settings: StackSettings, ctx: HostContext) -> TestHost:
    host = test_host
    master = settings.database.user
    # The AWS stand-ins.
    root_write(host, "/usr/local/bin/aws", FAKE_AWS, "0755")
    root_write(host, "/usr/local/bin/cloud-init", "#!/bin/sh\n# stand-in: cloud-init is done\nexit 0\n", "0755")
    host.ssh(
        f"sudo -n install -d -m 0700 {FAKE} {FAKE}/secrets && "
        f"sudo -n systemctl is-active --quiet fake-elasticache || sudo -n systemd-run --unit fake-elasticache "
        f"-p User=redis /usr/bin/redis-server --port {REDIS_PORT} --bind 127.0.0.1 --save '' "
        f"--requirepass {REDIS_PASSWORD} --dir /tmp"
    )
    # RDS: a cluster of its own with TLS (Debian's snakeoil certificate), connections logged.
    version = host.ssh("ls /usr/lib/postgresql | sort -V | tail -1").stdout.strip()
    host.ssh(
        f"sudo -n pg_lsclusters -h | grep -q '^{version} rds ' || sudo -n pg_createcluster {version} rds "
        f"-p {RDS_PORT} >/dev/null",
        timeout=300,
    )
    root_write(
        host,
        f"/etc/postgresql/{version}/rds/conf.d/rds-standin.conf",
        "listen_addresses = '127.0.0.1'\nssl = on\nlog_connections = on\n",
        "0644",
    )
    host.ssh(f"sudo -n pg_ctlcluster {version} rds restart || sudo -n pg_ctlcluster {version} rds start")
    rds(
        host,
        f"CREATE ROLE {master} LOGIN CREATEROLE CREATEDB PASSWORD '{MASTER_PASSWORDS[0]}';\n"
        f"CREATE DATABASE {settings.database.name} OWNER {master};\n",
    )
    serve_secrets(host, settings, MASTER_PASSWORDS[0])
    # First boot, as on EC2: the bundle in S3, the loader from the user data.
    # The same bundle the stack uploads, for this test's host (its ports, user and OS).
    files = hosts.host_bundle(ctx, settings.database, FACTS)
    root_write(host, f"{FAKE}/s3/{FACTS.bucket}/{files.key}", files.content)
    loader = hosts.loader_user_data(settings.app.name, FACTS, files)
    result = host.ssh("sudo -n bash -s", input=loader, timeout=1200, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"first boot failed:\n{output[-4000:]}"
    aws_release(host, settings, "r1")
    return host


@pytest.fixture
def browser(ctx: HostContext) -> Browser:
    return Browser(host=ctx.primary_host, port=ctx.https_port, http_port=ctx.http_port)


def ready(browser: Browser) -> dict[str, object]:
    response = browser.get("/readyz")
    assert response.status == 200, response.text[:500]
    body: dict[str, object] = response.json()
    return body


def master_sessions(host: TestHost, master: str) -> list[str]:
    """Sessions of the master user other than psql (aws-release's ensure_app_role uses psql)."""
    out = rds(
        host,
        "SELECT application_name || '@' || coalesce(client_addr::text, 'local') FROM pg_stat_activity "
        f"WHERE usename = '{master}' AND application_name <> 'psql';",
    )
    return [line for line in out.splitlines() if line]


def authorized_connections(host: TestHost) -> list[tuple[str, str]]:
    """(user, application_name) of every connection the RDS stand-in let in (log_connections)."""
    version = host.ssh("ls /usr/lib/postgresql | sort -V | tail -1").stdout.strip()
    log = host.ssh(f"sudo -n cat /var/log/postgresql/postgresql-{version}-rds.log").stdout
    found = re.findall(r"connection authorized: user=(\S+) database=\S+(?: application_name=(\S+))?", log)
    assert found, log[-2000:]
    return found


def test_the_ec2_host_serves_the_app_as_its_own_database_role(
    ec2_host: TestHost, browser: Browser, settings: StackSettings, ctx: HostContext
) -> None:
    body = ready(browser)
    assert body["release"] == "r1"
    assert body["checks"] == {"database": "ok", "cache": "ok"}
    assert browser.get("/").status == 200
    app_role = hosts.app_db_user(settings.database)
    assert any(user == app_role for user, _ in authorized_connections(ec2_host)), "the app never connected"
    owner = rds(
        ec2_host, f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{settings.database.name}';"
    )
    assert owner.strip() == app_role
    # The master password never reaches a file the app or its units read.
    leaked = ec2_host.ssh(
        f"sudo -n grep -rl {MASTER_PASSWORDS[0]} {ctx.config_dir} {ctx.lib_dir} /etc/systemd/system", check=False
    )
    assert leaked.stdout.strip() == "", leaked.stdout
    calls = ec2_host.ssh(f"sudo -n cat {FAKE}/calls.log").stdout
    assert "s3api get-object" in calls and FACTS.db_secret_arn in calls, calls


def test_rotating_the_master_password_and_releasing_under_load_fails_no_request(
    ec2_host: TestHost, browser: Browser, settings: StackSettings
) -> None:
    master = settings.database.user
    seen: list[str] = []
    with Load(browser, ["/", "/readyz", "/healthz"]) as load:
        seen += master_sessions(ec2_host, master)
        # What RDS does on rotation: the master password changes and the managed secret follows.
        rds(ec2_host, f"ALTER ROLE {master} PASSWORD '{MASTER_PASSWORDS[1]}';")
        serve_secrets(ec2_host, settings, MASTER_PASSWORDS[1])
        time.sleep(3)
        seen += master_sessions(ec2_host, master)
        # The next release reads the rotated password (ensure_app_role needs it) while serving.
        output = aws_release(ec2_host, settings, "r2")
        seen += master_sessions(ec2_host, master)
        time.sleep(2)
    total = sum(load.results.values())
    assert total > 50, f"the load generator made too few requests to mean anything: {load.results}"
    assert not load.errors, f"{len(load.errors)} failed of {total}: {load.errors[:10]}"
    assert ready(browser)["release"] == "r2", output[-2000:]
    assert seen == [], f"something other than aws-release's psql connected as the master user: {seen}"
    # The old master password no longer works: the rotation really happened.
    old = ec2_host.ssh(
        f"PGPASSWORD={MASTER_PASSWORDS[0]} psql 'host=127.0.0.1 port={RDS_PORT} dbname={settings.database.name} "
        f"user={master} sslmode=require' -Atc 'SELECT 1'",
        check=False,
    )
    assert old.returncode != 0, "the old master password still works"
    # Every master connection the server ever logged came from psql (aws-release), none from the app.
    authorized = authorized_connections(ec2_host)
    by_master = {app for user, app in authorized if user == master}
    assert by_master == {"psql"}, f"the master user connected from {by_master}"
    assert any(user == hosts.app_db_user(settings.database) for user, _ in authorized)
