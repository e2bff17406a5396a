"""How the EC2 hosts get the host layer's files, their secrets and their releases (pure functions).

The host layer (``djangostack.host``) renders every file a Django host needs and the cloud-init
document that installs them. This module adds the AWS part, as more host files:

- ``/etc/<app>/aws.env`` (0644 root): region, the two secret ARNs, database host/port/name, the
  bucket, and on fleet hosts the release id and archive key. No secret value, ever.
- ``/usr/local/lib/<app>/aws-release`` (0755 root): ``aws-release boot`` (cloud-init, first boot)
  and ``aws-release release <id> <archive key> <sha256>`` (the release step, over SSH or Run
  Command). Each run reads ``SECRET_KEY``/``REDIS_URL``/``SENTRY_DSN``/``DATABASE_APP_PASSWORD``
  from the app secret and the master credentials from the RDS-managed secret with
  ``aws secretsmanager get-secret-value`` (the instance role), builds ``DATABASE_URL`` for the app's
  own role ``<database.user>_app`` (password URL-encoded, ``sslmode=require``), and hands them to
  the host layer's ``bootstrap`` in its environment; bootstrap stores them root-only and writes the
  env file. With the master credentials (never exported) it creates that role, sets its password
  and makes it own the database (``ensure_app_role``): RDS rotates the master password, and the app
  never uses it, so a rotation between releases changes nothing for the app. Then it downloads the
  archive from S3, checks its sha256, unpacks it and runs the host layer's
  ``release deploy <id> <dir>`` (migrations under a PostgreSQL advisory lock).
- ``/usr/local/lib/<app>/beat-leader`` and a drop-in for the beat unit (when beat is on): one
  Celery beat per stack, see ``single_scheduler_files``.

The user data is only a loader (``loader_user_data``); every file above and the host layer's
first-boot files reach the host as one S3 object named by its sha256 (``host_bundle``).

It also holds the SSM document and the ``aws ssm send-command`` wrapper the release and migration
steps run from the machine executing ``pulumi up`` (needs the AWS CLI and the same credentials).
"""

from __future__ import annotations

import base64
import hashlib
import json
import shlex
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_aws as aws

from ...paths import ARTIFACTS, project_dir
from ...settings.app import AppSettings
from ...settings.data import DatabaseSettings
from .storage import HOST_FILES_PREFIX

if TYPE_CHECKING:
    from ...host.context import HostContext
    from ...host.files import HostFile


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
class UploadedHostFiles:
    """The host file bundle in S3."""

    obj: aws.s3.BucketObjectv2
    sha256: pulumi.Output[str]


@dataclass(frozen=True)
class UploadedArchive:
    """The release archive in S3."""

    obj: aws.s3.BucketObjectv2
    key: str
    sha256: str


def build_archive(app: AppSettings) -> tuple[Path, str]:
    """Pack ``app.source`` reproducibly (host layer) into ``paths.ARTIFACTS`` as ``<app>-<release id>.tar.gz``."""
    from ...host.artifact import build_artifact

    source = Path(app.source)
    if not source.is_absolute():
        source = project_dir() / source
    artifact = build_artifact(source, project_dir() / ARTIFACTS, f"{app.name}-{app.release}")
    pulumi.log.info(artifact.selection.summary())
    return artifact.path, artifact.sha256


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


def _paths(app: str) -> tuple[str, str, str, str]:
    lib = f"/usr/local/lib/{app}"
    return f"/etc/{app}/aws.env", f"{lib}/aws-release", f"{lib}/bootstrap", f"{lib}/release"


def aws_env_file(database: DatabaseSettings, facts: AwsHostFacts) -> str:
    """``aws.env``: shell-sourceable, non-secret."""
    values: dict[str, str] = {
        "AWS_REGION": facts.region,
        "AWS_DEFAULT_REGION": facts.region,
        "APP_SECRET_ARN": facts.app_secret_arn,
        "DB_SECRET_ARN": facts.db_secret_arn,
        "DB_HOST": facts.db_host,
        "DB_PORT": str(facts.db_port),
        "DB_NAME": database.name,
        "DB_SSLMODE": database.sslmode,
        "DB_APP_USER": app_db_user(database),
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

@INSTALL_CLI@

# Secret values travel from the CLI's stdout into python3 and back as shell assignments that are
# evaluated in this process only.
load_secrets() {
    local app_json db_json
    app_json="$(aws secretsmanager get-secret-value --secret-id "$APP_SECRET_ARN" \
        --query SecretString --output text)" || die "cannot read the app secret"
    db_json="$(aws secretsmanager get-secret-value --secret-id "$DB_SECRET_ARN" \
        --query SecretString --output text)" || die "cannot read the database secret"
    # aws.env is sourced, not exported: hand python exactly the values it reads.
    eval "$(APP_JSON="$app_json" DB_JSON="$db_json" DB_HOST="$DB_HOST" DB_PORT="$DB_PORT" DB_NAME="$DB_NAME" \
        DB_SSLMODE="$DB_SSLMODE" DB_APP_USER="$DB_APP_USER" python3 - <<'PY'
import base64, hashlib, hmac, json, os, shlex
from urllib.parse import quote
app = json.loads(os.environ["APP_JSON"])
db = json.loads(os.environ["DB_JSON"])
app_password = app["DATABASE_APP_PASSWORD"]
url = "postgres://{}:{}@{}:{}/{}?sslmode={}".format(
    quote(os.environ["DB_APP_USER"], safe=""), quote(app_password, safe=""),
    os.environ["DB_HOST"], os.environ["DB_PORT"], os.environ["DB_NAME"], os.environ["DB_SSLMODE"])
out = {"SECRET_KEY": app["SECRET_KEY"], "DATABASE_URL": url}
for key in ("REDIS_URL", "SENTRY_DSN"):
    if app.get(key):
        out[key] = app[key]
for key, value in out.items():
    print(f"export {key}={shlex.quote(value)}")
# Not exported: only ensure_app_role's psql gets the master credentials, as its own environment.
salt = os.urandom(16)
salted = hashlib.pbkdf2_hmac("sha256", app_password.encode(), salt, 4096)
client_key = hmac.new(salted, b"Client Key", "sha256").digest()
server_key = hmac.new(salted, b"Server Key", "sha256").digest()
b64 = lambda b: base64.b64encode(b).decode()
verifier = "SCRAM-SHA-256$4096:{}${}:{}".format(b64(salt), b64(hashlib.sha256(client_key).digest()), b64(server_key))
for key, value in (("MASTER_USER", db["username"]), ("MASTER_PASSWORD", db["password"]),
                   ("DB_APP_VERIFIER", verifier)):
    print(f"{key}={shlex.quote(value)}")
PY
)"
}

# The app connects as DB_APP_USER, a role whose password Pulumi generated and RDS never rotates;
# the RDS-managed master password (rotated every 7 days by default) is only used here, freshly read
# at each boot and release, to create that role, set its password (as a SCRAM verifier computed on
# the host, so no plaintext reaches the server or its logs), make it own the database and take over
# what the master owns in it (stacks deployed before the role existed).
# The verifier reaches psql on its stdin (never in argv, where ps shows it), as a \set ahead of the
# script: psql 14 (Ubuntu 22.04's) has no \getenv. Checked first, so it is always one quotable word.
ensure_app_role() {
    [[ "$DB_APP_VERIFIER" =~ ^SCRAM-SHA-256\$[0-9]+:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$ ]] \
        || die "the database role's password verifier is malformed"
    {
        printf '%s\n' "\\set app_verifier '$DB_APP_VERIFIER'"
        cat <<'SQL'
@APP_ROLE_SQL@
SQL
    } | PGHOST="$DB_HOST" PGPORT="$DB_PORT" PGDATABASE="$DB_NAME" PGSSLMODE="$DB_SSLMODE" \
        PGUSER="$MASTER_USER" PGPASSWORD="$MASTER_PASSWORD" \
        psql --no-psqlrc --quiet --no-align --tuples-only --set ON_ERROR_STOP=1 \
        --set app_user="$DB_APP_USER" --set db_name="$DB_NAME" --set lock_key=@ROLE_LOCK_KEY@ \
        >/dev/null || die "cannot set up the database role $DB_APP_USER"
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
        install_cli
        load_secrets
        "$BOOTSTRAP"
        ensure_app_role
        if [[ -n "${RELEASE_ID:-}" ]]; then
            # A fleet host joining: the release step already backed up and migrated this release,
            # so no host dumps the whole database at boot.
            install_release "$RELEASE_ID" "$ARCHIVE_KEY" "$ARCHIVE_SHA256" --no-backup
        fi
        ;;
    release)
        [[ $# -eq 4 ]] || die "usage: $0 release <release-id> <archive-key> <sha256>"
        wait_for_cloud_init
        install_cli
        load_secrets
        # An existing host has psql: the role exists before bootstrap restarts anything with it.
        if command -v psql >/dev/null; then ensure_app_role; fi
        "$BOOTSTRAP"
        ensure_app_role
        install_release "$2" "$3" "$4"
        ;;
    *)
        die "usage: $0 boot | release <release-id> <archive-key> <sha256>"
        ;;
esac
"""


def aws_release_script(app_name: str) -> str:
    aws_env, script, bootstrap, release = _paths(app_name)
    text = _RELEASE_SCRIPT.replace("@INSTALL_CLI@", _INSTALL_CLI)
    for placeholder, value in (
        ("@APP@", app_name),
        ("@SELF@", script),
        ("@AWS_ENV@", aws_env),
        ("@BOOTSTRAP@", bootstrap),
        ("@RELEASE@", release),
        ("@APP_ROLE_SQL@", APP_ROLE_SQL.strip()),
        ("@ROLE_LOCK_KEY@", str(zlib.crc32(f"djangostack-approle-{app_name}".encode()))),
    ):
        text = text.replace(placeholder, value)
    return text


def app_db_user(database: DatabaseSettings) -> str:
    """The role the app connects as (PostgreSQL names: at most 63 bytes)."""
    return f"{database.user[:59]}_app"


# psql script run by the master user (variables: app_user, db_name, lock_key, app_verifier; the
# last set on stdin ahead of it). Idempotent, and serialised by a transaction lock: fleet hosts boot
# concurrently. Runs on every psql a supported host OS ships (14 on Ubuntu 22.04 and newer).
APP_ROLE_SQL = r"""
BEGIN;
SELECT pg_advisory_xact_lock(:lock_key);
SELECT format('CREATE ROLE %I LOGIN', :'app_user')
    WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app_user') \gexec
ALTER ROLE :"app_user" WITH LOGIN NOCREATEDB NOCREATEROLE
    PASSWORD :'app_verifier';
-- The master may act as the app role (needed to hand objects over to it).
-- PostgreSQL 16 gives the creator ADMIN but not SET on a role it creates: ask for SET explicitly.
SELECT format('GRANT %I TO %I%s', :'app_user', current_user,
        CASE WHEN current_setting('server_version_num')::int >= 160000 THEN ' WITH SET TRUE' ELSE '' END)
    WHERE NOT pg_has_role(current_user, :'app_user',
        CASE WHEN current_setting('server_version_num')::int >= 160000 THEN 'SET' ELSE 'MEMBER' END) \gexec
ALTER DATABASE :"db_name" OWNER TO :"app_user";
SELECT format('ALTER %s %I.%I OWNER TO %I',
        CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'
                       ELSE 'TABLE' END,
        n.nspname, c.relname, :'app_user')
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
      AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'
      AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
      -- sequences owned by a column follow their table
      AND NOT (c.relkind = 'S' AND EXISTS (
          SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
              AND d.deptype IN ('a', 'i')))
    \gexec
COMMIT;
"""


def aws_host_files(app_name: str, database: DatabaseSettings, facts: AwsHostFacts) -> list[Any]:
    """The two AWS files as host-layer ``HostFile`` objects."""
    from ...host.files import HostFile

    aws_env, script, _, _ = _paths(app_name)
    return [
        HostFile(path=aws_env, mode=0o644, owner="root", group="root", content=aws_env_file(database, facts)),
        HostFile(path=script, mode=0o755, owner="root", group="root", content=aws_release_script(app_name)),
    ]


# --------------------------------------------------------------------------------------------------
# One Celery beat per stack
# --------------------------------------------------------------------------------------------------

BEAT_DROP_IN = "50-single-scheduler.conf"

# Celery beat must run once per stack, but every web host of a fleet is identical (one launch
# template). Each host's beat unit runs beat through this wrapper, which starts beat only while it
# holds a PostgreSQL session advisory lock: the lock lives exactly as long as the wrapper's psql
# session, so a host that stops, crashes or loses the database gives it up and a standby takes
# over within seconds, without a lease to tune or another service to run.
_BEAT_LEADER = r"""#!/usr/bin/env bash
# Runs Celery beat ("$@") only while this host holds @APP@'s scheduler lock (a PostgreSQL session
# advisory lock). Rendered by components.aws; do not edit on the host.
set -uo pipefail
LOCK_KEY=@LOCK_KEY@
CHECK_SECONDS=${BEAT_LOCK_CHECK_SECONDS:-15}
log() { printf '[beat-leader @APP@] %s\n' "$*"; }
[[ -n "${DATABASE_URL:-}" ]] || { log "DATABASE_URL is not set"; exit 1; }
[[ $# -gt 0 ]] || { log "usage: $0 <beat command...>"; exit 2; }

coproc PG { exec psql "$DATABASE_URL" --no-psqlrc --quiet --no-align --tuples-only \
    --set ON_ERROR_STOP=1 2>&1; }
reply=""
ask() { # one query; its first output line in $reply; fails when the session is gone or silent
    printf '%s\n' "$1" 1>&"${PG[1]}" 2>/dev/null || return 1
    IFS= read -r -t 30 reply <&"${PG[0]}" || return 1
}
beat=""
stop() { # exit code
    if [[ -n "$beat" ]]; then
        kill -TERM "$beat" 2>/dev/null
        wait "$beat"
    fi
    exit "$1"
}
trap 'stop 0' TERM INT

waiting=""
while :; do
    ask "SELECT pg_try_advisory_lock($LOCK_KEY);" || { log "cannot hold a database session"; exit 1; }
    [[ "$reply" == t ]] && break
    [[ -n "$reply" && "$reply" != f ]] && { log "cannot take the lock: $reply"; exit 1; }
    [[ -n "$waiting" ]] || log "another host runs beat; standing by"
    waiting=1
    sleep "$CHECK_SECONDS" & wait $!
done
log "this host holds the scheduler lock; starting beat"
"$@" &
beat=$!
while :; do
    sleep "$CHECK_SECONDS" & wait $!
    if ! kill -0 "$beat" 2>/dev/null; then
        wait "$beat"
        exit $?
    fi
    if ! ask "SELECT 1;" || [[ "$reply" != 1 ]]; then
        log "lost the database session, and with it the lock: stopping beat"
        stop 1
    fi
done
"""


def beat_lock_key(app_name: str) -> int:
    """The scheduler's advisory lock key: stable per app, distinct from the migration lock."""
    return zlib.crc32(f"djangostack-beat-{app_name}".encode())


def single_scheduler_files(ctx: HostContext, files: Mapping[str, HostFile]) -> list[HostFile]:
    """The beat wrapper and a drop-in running the host layer's beat command through it (none when
    beat is off). The beat command is read from the rendered unit, so the two never drift."""
    from ...host.files import HostFile

    if not ctx.celery_beat:
        return []
    unit = f"/etc/systemd/system/{ctx.celery_beat_unit}.service"
    lines = files[unit].content.splitlines()
    commands = [line.removeprefix("ExecStart=") for line in lines if line.startswith("ExecStart=")]
    if len(commands) != 1:
        raise ValueError(f"{unit} must have exactly one ExecStart= line, found {len(commands)}")
    wrapper = f"{ctx.lib_dir}/beat-leader"
    script = _BEAT_LEADER.replace("@APP@", ctx.app_name).replace("@LOCK_KEY@", str(beat_lock_key(ctx.app_name)))
    drop_in = (
        "# Written by components.aws: one Celery beat per stack, whatever the number of hosts.\n"
        "[Service]\n"
        "ExecStart=\n"
        f"ExecStart={wrapper} {commands[0]}\n"
        "# A standby keeps waiting for the lock; a lost session restarts the wait.\n"
        "Restart=always\n"
        "RestartSec=15\n"
    )
    return [
        HostFile(wrapper, 0o755, "root", "root", script),
        HostFile(f"{unit}.d/{BEAT_DROP_IN}", 0o644, "root", "root", drop_in),
    ]


@dataclass(frozen=True)
class HostBundle:
    """Every file a web host needs at first boot, as the one JSON document uploaded to S3."""

    content: str
    """``{"files": [{"path", "mode", "owner", "group", "content"}, ...], "format": 1}``, sorted."""
    sha256: str
    """sha256 of ``content`` (UTF-8): the loader checks the download against it."""
    key: str
    """``host-files/<app>-<sha256>.json``: a new key for new content, so nothing is overwritten."""


def host_bundle(ctx: HostContext, database: DatabaseSettings, facts: AwsHostFacts) -> HostBundle:
    """The host layer's first-boot files (staged files and bootstrap) for ``ctx`` (the host as
    ``facts`` name it) plus the AWS files."""
    from ...host import render

    files = render.render_all(ctx)
    writes = [
        *render.first_boot_writes(ctx, files),
        *aws_host_files(ctx.app_name, database, facts),
        *single_scheduler_files(ctx, files),
    ]
    document = {
        "format": 1,
        "files": [
            {"path": f.path, "mode": f.mode_text, "owner": f.owner, "group": f.group, "content": f.content}
            for f in sorted(writes, key=lambda f: f.path)
        ],
    }
    content = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    digest = hashlib.sha256(content.encode("utf-8")).hexdigest()
    return HostBundle(content=content, sha256=digest, key=f"{HOST_FILES_PREFIX}{ctx.app_name}-{digest}.json")


USER_DATA_LIMIT_BYTES = 16 * 1024
"""EC2 refuses more raw user data (EC2 User Guide, "Work with instance user data": "User data is
limited to 16 KB, in raw form, before it is base64-encoded")."""


# Runs once per instance (cloud-init's scripts-user). Everything it embeds has a bounded size (app
# name, region, bucket, key, digest), so the user data stays a few KB whatever the settings.
_LOADER = r"""#!/bin/bash
# First-boot loader of a @APP@ web host (components.aws). Downloads this host's files from S3 with
# the instance role, refuses them unless their sha256 matches, writes them, runs aws-release boot.
set -euo pipefail
umask 077
export AWS_REGION=@REGION@ AWS_DEFAULT_REGION=@REGION@
BUNDLE_BUCKET=@BUCKET@
BUNDLE_KEY=@KEY@
BUNDLE_SHA256=@SHA256@
log() { printf '[loader @APP@] %s\n' "$*"; }
die() { printf '[loader @APP@] ERROR: %s\n' "$*" >&2; exit 1; }

@INSTALL_CLI@

install_cli
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for attempt in 1 2 3 4 5 6; do
    if aws s3api get-object --region "$AWS_REGION" --bucket "$BUNDLE_BUCKET" --key "$BUNDLE_KEY" \
        "$work/bundle.json" >/dev/null; then
        break
    fi
    (( attempt < 6 )) || die "cannot download s3://$BUNDLE_BUCKET/$BUNDLE_KEY"
    sleep $(( attempt * 5 ))
done
printf '%s  %s\n' "$BUNDLE_SHA256" "$work/bundle.json" | sha256sum --check --status \
    || die "s3://$BUNDLE_BUCKET/$BUNDLE_KEY does not match sha256 $BUNDLE_SHA256"
python3 - "$work/bundle.json" <<'PY'
import json, os, shutil, sys
with open(sys.argv[1], encoding="utf-8") as handle:
    bundle = json.load(handle)
assert bundle["format"] == 1, "unknown host file bundle format"
os.umask(0o022)  # directories as cloud-init's write_files makes them; each file is created 0600
for entry in bundle["files"]:
    path = entry["path"]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".loading"
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as out:
        out.write(entry["content"])
    shutil.chown(tmp, entry["owner"], entry["group"])
    os.chmod(tmp, int(entry["mode"], 8))
    os.replace(tmp, path)
PY
log "installed the host files $BUNDLE_SHA256"
rm -rf "$work"
trap - EXIT
exec @SELF@ boot
"""

# Shared by the loader and aws-release: Ubuntu 24.04 has no AWS CLI package in its archive, only
# the snap, and snapd seeds the image's preinstalled snaps at first boot; `snap install` before
# seeding finished fails or hangs, so wait for it (`snap wait system seed.loaded`) and retry.
_INSTALL_CLI = r"""install_cli() {
    command -v aws >/dev/null && return 0
    log "waiting for snapd to finish seeding"
    snap wait system seed.loaded
    local attempt
    for attempt in 1 2 3 4 5; do
        if snap install aws-cli --classic >/dev/null; then
            hash -r
            return 0
        fi
        sleep $(( attempt * 10 ))
    done
    die "cannot install the AWS CLI snap"
}"""


def loader_user_data(app_name: str, facts: AwsHostFacts, bundle: HostBundle) -> str:
    """The launch template's user data: a short script naming the bundle and its sha256."""
    _, script, _, _ = _paths(app_name)
    text = _LOADER.replace("@INSTALL_CLI@", _INSTALL_CLI)
    for placeholder, value in (
        ("@APP@", app_name),
        ("@REGION@", shlex.quote(facts.region)),
        ("@BUCKET@", shlex.quote(facts.bucket)),
        ("@KEY@", shlex.quote(bundle.key)),
        ("@SHA256@", bundle.sha256),
        ("@SELF@", script),
    ):
        text = text.replace(placeholder, value)
    size = len(text.encode("utf-8"))
    if size > USER_DATA_LIMIT_BYTES // 2:
        raise ValueError(f"EC2 user data is {size} bytes; the loader must stay far below {USER_DATA_LIMIT_BYTES}")
    return text


def release_command(app: AppSettings, mode: str, archive_key: str, archive_sha256: str) -> str:
    """The shell command the SSH release step runs on the host."""
    _, script, _, _ = _paths(app.name)
    args = [script, mode, app.release, archive_key, archive_sha256]
    return "sudo " + " ".join(shlex.quote(a) for a in args)


# --------------------------------------------------------------------------------------------------
# Run Command
# --------------------------------------------------------------------------------------------------


def ssm_release_document(app_name: str) -> str:
    """SSM Command document running ``aws-release`` with validated parameters."""
    _, script, _, _ = _paths(app_name)
    document = {
        "schemaVersion": "2.2",
        "description": f"{app_name}: install a release (aws-release)",
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
#              TIMEOUT_SECONDS REQUIRE_HOST [INSTANCE_ID] [HOST_WAIT_SECONDS] [POLL_SECONDS]
command -v aws >/dev/null || { echo "the AWS CLI is needed on the machine running pulumi" >&2; exit 1; }
# AWS CLI v1 ignores AWS_REGION: set the variable both versions read, and name the region on
# every call, so no ambient profile can send the release to another region.
export AWS_DEFAULT_REGION="$AWS_REGION"
region=(--region "$AWS_REGION")
poll=${POLL_SECONDS:-15}
deadline=$((SECONDS + ${HOST_WAIT_SECONDS:-900}))
fleet_exists() { # any Auto Scaling group of this stack, whatever its state
    local count
    count="$(aws autoscaling describe-auto-scaling-groups "${region[@]}" \
        --filters "Name=tag:djangostack:stack,Values=$STACK_TAG" \
        --query 'length(AutoScalingGroups)' --output text)" \
        || { echo "cannot list the Auto Scaling groups of $STACK_TAG" >&2; exit 1; }
    [[ "$count" != 0 ]]
}
target=""
while [[ -z "$target" || "$target" == None ]]; do
    if [[ -n "${INSTANCE_ID:-}" ]]; then
        target="$(aws ssm describe-instance-information "${region[@]}" \
            --filters "Key=InstanceIds,Values=$INSTANCE_ID" "Key=PingStatus,Values=Online" \
            --query 'InstanceInformationList[0].InstanceId' --output text)"
    else
        target="$(aws ssm describe-instance-information "${region[@]}" \
            --filters "Key=tag:djangostack:stack,Values=$STACK_TAG" "Key=tag:djangostack:role,Values=web" \
                      "Key=PingStatus,Values=Online" \
            --query 'InstanceInformationList[0].InstanceId' --output text)"
        # Only the very first update may go on without a host: no group exists yet, and
        # <name>-migrate-initial migrates once the group is up. A group without a reachable host
        # is an outage; its migration must not be skipped.
        if [[ ( -z "$target" || "$target" == None ) && "$REQUIRE_HOST" == 0 ]] && ! fleet_exists; then
            echo "first update: $STACK_TAG has no Auto Scaling group yet; the initial migration step runs after it"
            exit 0
        fi
    fi
    if [[ -z "$target" || "$target" == None ]]; then
        (( SECONDS < deadline )) || {
            echo "ERROR: no web host of $STACK_TAG is reachable through SSM; release $RELEASE_ID did NOT migrate" >&2
            exit 1
        }
        sleep "$poll"
    fi
done
echo "running $DOCUMENT ($MODE $RELEASE_ID) on $target"
command_id="$(aws ssm send-command "${region[@]}" --document-name "$DOCUMENT" --instance-ids "$target" \
    --timeout-seconds 600 --comment "release $RELEASE_ID" \
    --parameters "Mode=$MODE,ReleaseId=$RELEASE_ID,ArchiveKey=$ARCHIVE_KEY,ArchiveSha256=$ARCHIVE_SHA256" \
    --query Command.CommandId --output text)"
deadline=$((SECONDS + TIMEOUT_SECONDS))
status=Pending
while [[ "$status" == Pending || "$status" == InProgress || "$status" == Delayed ]]; do
    (( SECONDS < deadline )) || { echo "timed out waiting for command $command_id" >&2; exit 1; }
    sleep "$poll"
    status="$(aws ssm get-command-invocation "${region[@]}" --command-id "$command_id" --instance-id "$target" \
        --query Status --output text 2>/dev/null || echo Pending)"
done
aws ssm get-command-invocation "${region[@]}" --command-id "$command_id" --instance-id "$target" \
    --query '[StandardOutputContent,StandardErrorContent]' --output text | tail -n 60
[[ "$status" == Success ]] || { echo "release $RELEASE_ID failed on $target: $status" >&2; exit 1; }
"""
