"""How the EC2 hosts get the host layer's files, their secrets and their releases (pure functions).

The host layer (``components.host``) renders every file a Django host needs and the cloud-init
document that installs them. This module adds the AWS part, as two more host files:

- ``/etc/<app>/aws.env`` (0644 root): region, the two secret ARNs, database host/port/name, the
  bucket, and on fleet hosts the release id and archive key. No secret value, ever.
- ``/usr/local/lib/<app>/aws-release`` (0755 root): ``aws-release boot`` (cloud-init, first boot)
  and ``aws-release release <id> <archive key> <sha256>`` (the release step, over SSH or Run
  Command). Each run reads ``SECRET_KEY``/``REDIS_URL``/``SENTRY_DSN`` from the app secret and the
  database password from the RDS-managed secret with ``aws secretsmanager get-secret-value`` (the
  instance role), builds ``DATABASE_URL`` (password URL-encoded, ``sslmode=require``), and hands
  them to the host layer's ``bootstrap`` in its environment; bootstrap stores them root-only and
  writes the env file. Then it downloads the archive from S3, checks its sha256, unpacks it and runs
  the host layer's ``release deploy <id> <dir>`` (migrations under a PostgreSQL advisory lock).

It also holds the SSM document and the ``aws ssm send-command`` wrapper the release and migration
steps run from the machine executing ``pulumi up`` (needs the AWS CLI and the same credentials).
"""

from __future__ import annotations

import base64
import hashlib
import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi_aws as aws
import yaml

from components.config import StackSettings

REPO = Path(__file__).resolve().parent.parent.parent
ARCHIVE_DIR = REPO / ".cache" / "releases"
"""Where release archives are written before upload (git-ignored)."""

STACK_TAG = "djangostack:stack"
ROLE_TAG = "djangostack:role"


@dataclass(frozen=True)
class AwsHostFacts:
    """Values known only once resources exist; every field is non-secret."""

    public_hosts: tuple[str, ...]
    region: str
    app_secret_arn: str
    db_secret_arn: str
    db_host: str
    db_port: int
    bucket: str
    release_id: str | None = None
    """Fleet hosts install this release at boot; None on a single instance (the release step does)."""
    archive_key: str | None = None
    archive_sha256: str | None = None


@dataclass(frozen=True)
class RenderedUserData:
    """cloud-init user data and the digest of every file it installs."""

    user_data: str
    files_sha256: str


@dataclass(frozen=True)
class UploadedArchive:
    """The release archive in S3."""

    obj: aws.s3.BucketObjectv2
    key: str
    sha256: str


def build_archive(settings: StackSettings) -> tuple[Path, str]:
    """Pack ``app.source`` reproducibly (host layer) into ``.cache/releases/<release id>.tar.gz``."""
    from components.host.artifact import write_source_archive

    source = Path(settings.app.source)
    if not source.is_absolute():
        source = REPO / source
    return write_source_archive(source, ARCHIVE_DIR, f"{settings.app.name}-{settings.app.release_id}")


def instance_tags(stack_tag: str) -> dict[str, str]:
    """Tags every web host carries; the migration step finds a host by them."""
    return {STACK_TAG: stack_tag, ROLE_TAG: "web"}


def base64_text(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def validation_option(options: Sequence[Any], domain: str) -> Any:
    """The ACM DNS validation option for ``domain``."""
    for option in options:
        if option.domain_name == domain:
            return option
    raise ValueError(f"ACM returned no DNS validation option for {domain}")


# --------------------------------------------------------------------------------------------------
# Host files
# --------------------------------------------------------------------------------------------------


def _paths(settings: StackSettings) -> tuple[str, str, str, str]:
    app = settings.app.name
    lib = f"/usr/local/lib/{app}"
    return f"/etc/{app}/aws.env", f"{lib}/aws-release", f"{lib}/bootstrap", f"{lib}/release"


def aws_env_file(settings: StackSettings, facts: AwsHostFacts) -> str:
    """``aws.env``: shell-sourceable, non-secret."""
    values: dict[str, str] = {
        "AWS_REGION": facts.region,
        "AWS_DEFAULT_REGION": facts.region,
        "APP_SECRET_ARN": facts.app_secret_arn,
        "DB_SECRET_ARN": facts.db_secret_arn,
        "DB_HOST": facts.db_host,
        "DB_PORT": str(facts.db_port),
        "DB_NAME": settings.database.name,
        "DB_SSLMODE": settings.database.sslmode,
        "MEDIA_BUCKET": facts.bucket,
        "RELEASE_ID": facts.release_id or "",
        "ARCHIVE_KEY": facts.archive_key or "",
        "ARCHIVE_SHA256": facts.archive_sha256 or "",
    }
    lines = ["# Written by components.aws: non-secret facts about this stack's AWS resources."]
    lines += [f"{key}={shlex.quote(value)}" for key, value in sorted(values.items())]
    return "\n".join(lines) + "\n"


_RELEASE_SCRIPT = r"""#!/usr/bin/env bash
# AWS side of a @APP@ host. Rendered by components.aws; do not edit on the host.
#
# Usage (as root):
#   @SELF@ boot                                     first boot (cloud-init)
#   @SELF@ release <release-id> <archive-key> <sha256>  a release (SSH or SSM Run Command)
#
# Reads the secrets from Secrets Manager with the instance role, passes them to bootstrap in its
# environment (never on a command line, never printed), then installs the release archive from S3
# with the host layer's release script.
set -euo pipefail
umask 077

ENV_FILE=@AWS_ENV@
BOOTSTRAP=@BOOTSTRAP@
RELEASE=@RELEASE@
log() { printf '[aws-release @APP@] %s\n' "$*"; }
die() { printf '[aws-release @APP@] ERROR: %s\n' "$*" >&2; exit 1; }

[[ ${EUID} -eq 0 ]] || die "run as root (sudo)"
# shellcheck source=/dev/null
. "$ENV_FILE"
export AWS_REGION AWS_DEFAULT_REGION

ensure_cli() {
    if ! command -v aws >/dev/null; then
        log "installing the AWS CLI"
        snap install aws-cli --classic >/dev/null
    fi
}

# Secret values travel from the CLI's stdout into python3 and back as shell assignments that are
# evaluated in this process only.
load_secrets() {
    local app_json db_json
    app_json="$(aws secretsmanager get-secret-value --secret-id "$APP_SECRET_ARN" \
        --query SecretString --output text)" || die "cannot read the app secret"
    db_json="$(aws secretsmanager get-secret-value --secret-id "$DB_SECRET_ARN" \
        --query SecretString --output text)" || die "cannot read the database secret"
    eval "$(APP_JSON="$app_json" DB_JSON="$db_json" python3 - <<'PY'
import json, os, shlex
from urllib.parse import quote
app = json.loads(os.environ["APP_JSON"])
db = json.loads(os.environ["DB_JSON"])
url = "postgres://{}:{}@{}:{}/{}?sslmode={}".format(
    quote(db["username"], safe=""), quote(db["password"], safe=""),
    os.environ["DB_HOST"], os.environ["DB_PORT"], os.environ["DB_NAME"], os.environ["DB_SSLMODE"])
out = {"SECRET_KEY": app["SECRET_KEY"], "DATABASE_URL": url}
for key in ("REDIS_URL", "SENTRY_DSN"):
    if app.get(key):
        out[key] = app[key]
for key, value in out.items():
    print(f"export {key}={shlex.quote(value)}")
PY
)"
}

work=""
cleanup() { if [[ -n "$work" ]]; then rm -rf "$work"; fi; }
trap cleanup EXIT

install_release() { # id key sha256 [--no-backup]
    local id=$1 key=$2 sha=$3 backup=${4:-}
    if [[ "$("$RELEASE" current 2>/dev/null || true)" == "$id" ]]; then
        log "release $id is already live"
        return 0
    fi
    work="$(mktemp -d /var/tmp/@APP@-release.XXXXXX)"
    aws s3 cp --only-show-errors "s3://$MEDIA_BUCKET/$key" "$work/source.tar.gz"
    printf '%s  %s\n' "$sha" "$work/source.tar.gz" | sha256sum --check --status \
        || die "archive s3://$MEDIA_BUCKET/$key does not match sha256 $sha"
    mkdir "$work/source"
    tar -xzf "$work/source.tar.gz" -C "$work/source" --no-same-owner
    chmod 0755 "$work" "$work/source"
    "$RELEASE" deploy ${backup:+"$backup"} "$id" "$work/source"
}

# cloud-init status --wait: 0 done, 2 done with recoverable warnings (Ubuntu 24.04's cloud-init
# reports deprecations this way), 1 (or anything else) failed.
wait_for_cloud_init() {
    local status=0
    cloud-init status --wait >/dev/null || status=$?
    case "$status" in
        0) ;;
        2) log "cloud-init finished with recoverable warnings:"
           cloud-init status --long 2>&1 | sed 's/^/  /' || true ;;
        *) die "cloud-init failed on this host (cloud-init status exit $status); see /var/log/cloud-init-output.log" ;;
    esac
}

command=${1:-}
case "$command" in
    boot)
        ensure_cli
        load_secrets
        "$BOOTSTRAP"
        if [[ -n "${RELEASE_ID:-}" ]]; then
            # A fleet host joining: the release step already backed up and migrated this release,
            # so no host dumps the whole database at boot.
            install_release "$RELEASE_ID" "$ARCHIVE_KEY" "$ARCHIVE_SHA256" --no-backup
        fi
        ;;
    release)
        [[ $# -eq 4 ]] || die "usage: $0 release <release-id> <archive-key> <sha256>"
        wait_for_cloud_init
        ensure_cli
        load_secrets
        "$BOOTSTRAP"
        install_release "$2" "$3" "$4"
        ;;
    *)
        die "usage: $0 boot | release <release-id> <archive-key> <sha256>"
        ;;
esac
"""


def aws_release_script(settings: StackSettings) -> str:
    aws_env, script, bootstrap, release = _paths(settings)
    text = _RELEASE_SCRIPT
    for placeholder, value in (
        ("@APP@", settings.app.name),
        ("@SELF@", script),
        ("@AWS_ENV@", aws_env),
        ("@BOOTSTRAP@", bootstrap),
        ("@RELEASE@", release),
    ):
        text = text.replace(placeholder, value)
    return text


def aws_host_files(settings: StackSettings, facts: AwsHostFacts) -> list[Any]:
    """The two AWS files as host-layer ``HostFile`` objects."""
    from components.host.files import HostFile

    aws_env, script, _, _ = _paths(settings)
    return [
        HostFile(path=aws_env, mode=0o644, owner="root", group="root", content=aws_env_file(settings, facts)),
        HostFile(path=script, mode=0o755, owner="root", group="root", content=aws_release_script(settings)),
    ]


def render_user_data(settings: StackSettings, facts: AwsHostFacts) -> RenderedUserData:
    """cloud-init for one web host: the host layer's document, plus the AWS files, booting through
    ``aws-release boot`` instead of running bootstrap bare (bootstrap needs the secrets in its
    environment, which only ``aws-release`` can fetch on the host)."""
    from components.host import render
    from components.host.context import HostContext

    ctx = HostContext.from_settings(settings, public_hosts=list(facts.public_hosts), media_bucket=facts.bucket)
    host_files = render.render_all(ctx)
    extra = aws_host_files(settings, facts)
    text = render.render_cloud_init(ctx, host_files)
    header = "#cloud-config\n"
    if not text.startswith(header):
        raise ValueError("the host layer's cloud-init lost its #cloud-config header")
    document = yaml.safe_load(text[len(header) :])
    document["write_files"] = [
        *document["write_files"],
        *(
            {"path": f.path, "permissions": f.mode_text, "owner": f"{f.owner}:{f.group}", "content": f.content}
            for f in extra
        ),
    ]
    _, script, _, _ = _paths(settings)
    document["runcmd"] = [[script, "boot"]]
    user_data = header + yaml.safe_dump(document, sort_keys=True, default_flow_style=False, width=1000)
    digest = hashlib.sha256()
    for f in sorted([*host_files.values(), *extra], key=lambda f: f.path):
        digest.update(f"{f.path}\0{f.mode}\0{f.owner}\0{f.group}\0{f.sha256}\n".encode())
    return RenderedUserData(user_data=user_data, files_sha256=digest.hexdigest())


def release_command(settings: StackSettings, mode: str, archive_key: str, archive_sha256: str) -> str:
    """The shell command the SSH release step runs on the host."""
    _, script, _, _ = _paths(settings)
    args = [script, mode, settings.app.release_id, archive_key, archive_sha256]
    return "sudo " + " ".join(shlex.quote(a) for a in args)


# --------------------------------------------------------------------------------------------------
# Run Command
# --------------------------------------------------------------------------------------------------


def ssm_release_document(settings: StackSettings) -> str:
    """SSM Command document running ``aws-release`` with validated parameters."""
    _, script, _, _ = _paths(settings)
    document = {
        "schemaVersion": "2.2",
        "description": f"{settings.app.name}: install a release (aws-release)",
        "parameters": {
            "Mode": {"type": "String", "allowedValues": ["release"], "default": "release"},
            "ReleaseId": {"type": "String", "allowedPattern": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"},
            "ArchiveKey": {"type": "String", "allowedPattern": r"^releases/[A-Za-z0-9._-]+\.tar\.gz$"},
            "ArchiveSha256": {"type": "String", "allowedPattern": r"^[0-9a-f]{64}$"},
        },
        "mainSteps": [
            {
                "action": "aws:runShellScript",
                "name": "release",
                "inputs": {
                    "timeoutSeconds": "1800",
                    "runCommand": [
                        f"{script} {{{{ Mode }}}} {{{{ ReleaseId }}}} {{{{ ArchiveKey }}}} {{{{ ArchiveSha256 }}}}"
                    ],
                },
            }
        ],
    }
    return json.dumps(document, sort_keys=True)


SSM_SEND_COMMAND_SCRIPT = r"""set -euo pipefail
# Runs the SSM document on one web host and waits for it; exits non-zero unless it succeeded.
# Environment: AWS_REGION DOCUMENT MODE RELEASE_ID ARCHIVE_KEY ARCHIVE_SHA256 STACK_TAG
#              TIMEOUT_SECONDS REQUIRE_HOST [INSTANCE_ID]
command -v aws >/dev/null || { echo "the AWS CLI is needed on the machine running pulumi" >&2; exit 1; }
deadline=$((SECONDS + 900))
target=""
while [[ -z "$target" || "$target" == None ]]; do
    if [[ -n "${INSTANCE_ID:-}" ]]; then
        target="$(aws ssm describe-instance-information \
            --filters "Key=InstanceIds,Values=$INSTANCE_ID" "Key=PingStatus,Values=Online" \
            --query 'InstanceInformationList[0].InstanceId' --output text)"
    else
        target="$(aws ssm describe-instance-information \
            --filters "Key=tag:djangostack:stack,Values=$STACK_TAG" "Key=tag:djangostack:role,Values=web" \
                      "Key=PingStatus,Values=Online" \
            --query 'InstanceInformationList[0].InstanceId' --output text)"
        if [[ ( -z "$target" || "$target" == None ) && "$REQUIRE_HOST" == 0 ]]; then
            echo "no web host is running yet (first update): the initial migration step runs after the group"
            exit 0
        fi
    fi
    if [[ -z "$target" || "$target" == None ]]; then
        (( SECONDS < deadline )) || { echo "no web host reachable through SSM" >&2; exit 1; }
        sleep 15
    fi
done
echo "running $DOCUMENT ($MODE $RELEASE_ID) on $target"
command_id="$(aws ssm send-command --document-name "$DOCUMENT" --instance-ids "$target" \
    --timeout-seconds 600 --comment "release $RELEASE_ID" \
    --parameters "Mode=$MODE,ReleaseId=$RELEASE_ID,ArchiveKey=$ARCHIVE_KEY,ArchiveSha256=$ARCHIVE_SHA256" \
    --query Command.CommandId --output text)"
deadline=$((SECONDS + TIMEOUT_SECONDS))
status=Pending
while [[ "$status" == Pending || "$status" == InProgress || "$status" == Delayed ]]; do
    (( SECONDS < deadline )) || { echo "timed out waiting for command $command_id" >&2; exit 1; }
    sleep 10
    status="$(aws ssm get-command-invocation --command-id "$command_id" --instance-id "$target" \
        --query Status --output text 2>/dev/null || echo Pending)"
done
aws ssm get-command-invocation --command-id "$command_id" --instance-id "$target" \
    --query '[StandardOutputContent,StandardErrorContent]' --output text | tail -n 60
[[ "$status" == Success ]] || { echo "release $RELEASE_ID failed on $target: $status" >&2; exit 1; }
"""
