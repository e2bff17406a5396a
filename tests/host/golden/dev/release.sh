#!/usr/bin/env bash
# Releases of notes (dev). Rendered by components.host; do not edit on the host.
#
# Usage (as root):
#   /usr/local/lib/notes/release deploy [--no-backup] <release-id> <archive.tar.gz> <sha256>
#   /usr/local/lib/notes/release deploy [--no-backup] <release-id> <unpacked-source-dir>
#   /usr/local/lib/notes/release rollback
#   /usr/local/lib/notes/release list
#   /usr/local/lib/notes/release current
#   /usr/local/lib/notes/release manage [--env-file <file>] [--] <manage.py arguments>
#
# deploy: copy the archive into a fresh root-only directory, check its sha256 there and unpack it
# (an unpacked directory is taken as it is), copy the source into releases/<id>, then every step
# that cannot touch the database: build its venv, `check --deploy`, collectstatic into the release,
# `gunicorn --check-config`; then back up the database (a pg_dump that matches the server's major
# version; --no-backup skips it), migrate (once: flock here, a PostgreSQL advisory lock across
# hosts), switch `current` atomically, restart Gunicorn (its socket stays open, so no request is
# refused), restart the Celery worker then beat, and gate on /readyz. Any failure after
# the switch puts the previous release back. pip and every manage.py step run as notes with
# a clean environment; root never sources or runs anything that user can write.
# manage: `manage.py <arguments>` in the live release, as notes with the app's environment,
# its exit code passed on (no lock: a long shell or data load never holds up a release).
# --env-file adds KEY='value' lines for this command only (DJANGO_SUPERUSER_PASSWORD, say); the
# file is moved into a root-owned directory the app user can read, and removed afterwards.
# Deploying the live release id again is a health check: 0 when it is healthy (a lost session or
# a retried `pulumi up` is not an error).
#
# Exit codes: 0 ok (or already live and healthy); 1 failed before the switch (`current`
# untouched); 2 usage; 3 another release holds the lock; 4 failed after the switch, previous
# release restored; 5 failed after the switch and restoring the previous release failed too.
set -euo pipefail
umask 022

APP=notes
APP_USER=notes
WEB_GROUP=www-data
BASE=/srv/notes
RELEASES=/srv/notes/releases
CURRENT=/srv/notes/current
HISTORY=/srv/notes/.release-history
ENV_FILE=/etc/notes/app.env
BACKUPS=/srv/notes/shared/backups
CACHE=/srv/notes/shared/cache
# Root-only (0700): archives are copied, checked and unpacked in a mktemp directory in here.
INCOMING=/srv/notes/shared/incoming
LOCK=/run/lock/notes-release.lock
SOCKET=/run/gunicorn-notes/gunicorn.sock
GUNICORN=gunicorn-notes
KEEP=3
BACKUPS_KEEP=10
PRE_RELEASE_BACKUP=1
# No pg_dump on the host can dump the server's major version: fail (a host database's only
# backup), or skip with a warning (a managed database, whose snapshots are the backup).
PG_DUMP_MISMATCH=fail
NO_BACKUP=0
MANAGE_ENV_FILE=""
# Env files read after the app's own, for one manage command (see manage_live).
EXTRA_ENV_FILES=()
CLEAN_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
WORKER_UNITS=(celery-notes.service)
BEAT_UNITS=(celerybeat-notes.service)
HEALTH_URL=http://localhost/readyz
HEALTH_HOST=127.0.0.1
HEALTH_ATTEMPTS=15
# A fixed key for pg_advisory_lock: two hosts never migrate the same database at once.
MIGRATE_LOCK_KEY=739313660

# fd 3: the script's own stdout, for warnings from inside a step (whose output is kept quiet).
exec 3>&1
log() { printf '[release %s] %s\n' "$APP" "$*"; }
warn() { printf '[release %s] WARNING: %s\n' "$APP" "$*" >&3; }
err() { printf '[release %s] ERROR: %s\n' "$APP" "$*" >&2; }
usage() { sed -n '4,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

step_log="$(mktemp)"
work=""
cleanup() {
    rm -f "$step_log"
    if [[ -n "$work" ]]; then rm -rf "$work"; fi
}
trap cleanup EXIT

# run <description> <command...>: output goes to a log that is shown (on stderr) only on failure.
# Steps run where `set -e` does not apply (an `if`), so every step function chains `|| return 1`.
run() {
    local what=$1
    shift
    log "$what"
    if ! "$@" >"$step_log" 2>&1; then
        err "$what failed:"
        cat "$step_log" >&2
        return 1
    fi
}

live_release() {
    if [[ -L "$CURRENT" ]]; then
        basename "$(readlink "$CURRENT")"
    fi
}

# The release before the live one (from the history of switches), if its directory still exists.
previous_release() {
    local live id
    live="$(live_release)"
    [[ -f "$HISTORY" ]] || return 0
    tac "$HISTORY" | while read -r id; do
        if [[ "$id" != "$live" && -d "$RELEASES/$id" ]]; then
            printf '%s\n' "$id"
            break
        fi
    done
}

# Runs as the app user (never as root): reads KEY='value' env files as data, exports them, execs
# the command. Arguments: with-env (1/0), env files..., --, command...
# shellcheck disable=SC2016
APP_LOADER='set -euo pipefail
with_env=$1; shift; files=()
while [[ $1 != -- ]]; do files+=("$1"); shift; done; shift
re="^([A-Za-z_][A-Za-z0-9_]*)='"'"'([^'"'"']*)'"'"'\$"
if [[ $with_env == 1 ]]; then
    for file in "${files[@]}"; do
        n=0
        while IFS= read -r line || [[ -n $line ]]; do
            n=$((n + 1))
            [[ -z $line || $line == "#"* ]] && continue
            [[ $line =~ $re ]] || { echo "$file:$n: expected a name, = and a single-quoted value" >&2; exit 1; }
            export "${BASH_REMATCH[1]}=${BASH_REMATCH[2]}"
        done <"$file"
    done
fi
exec "$@"'

# as_app <dir> <with-env 0|1> <command...>: run in <dir> as the app user with an empty environment
# (PATH, HOME, LANG only; with-env 1 adds the app's env file and the release's .release.env, read
# by the app user's shell as data). Root runs only env and setpriv here.
as_app() {
    local dir=$1 with_env=$2
    shift 2
    (
        cd "$dir"
        exec env -i PATH="$CLEAN_PATH" HOME="$BASE" LANG=C.UTF-8 \
            setpriv --reuid="$APP_USER" --regid="$WEB_GROUP" --init-groups -- \
            /bin/bash -c "$APP_LOADER" app-env "$with_env" "$ENV_FILE" "$dir/.release.env" "${EXTRA_ENV_FILES[@]}" -- "$@"
    )
}

# app <release-dir> <command...>: run as the app user in the release, with the app's environment.
app() {
    local dir=$1
    shift
    as_app "$dir" 1 "$@"
}

# env_value <file> <NAME>: the value of NAME='...' in an env file, read as data (never sourced).
env_value() {
    local line
    while IFS= read -r line || [[ -n "$line" ]]; do
        if [[ "$line" == "$2='"*"'" ]]; then
            line="${line#"$2='"}"
            printf '%s' "${line%\'}"
            return 0
        fi
    done <"$1"
}

switch_to() { # release id
    ln -sfn "releases/$1" "$BASE/current.tmp" && mv -T "$BASE/current.tmp" "$CURRENT"
}

unit_failed() { # unit: say why it did not start (the unit's last journal lines)
    echo "$1 did not start; its last log lines:"
    journalctl --unit "$1" --lines 25 --no-pager --output cat 2>&1 || true
    return 1
}

restart_services() {
    systemctl reset-failed "$GUNICORN.socket" "$GUNICORN.service" 2>/dev/null || true
    systemctl start "$GUNICORN.socket" || unit_failed "$GUNICORN.socket" || return 1
    # A restart (not a HUP) so the new release's own venv runs; see the unit file for why.
    systemctl restart "$GUNICORN.service" || unit_failed "$GUNICORN.service" || return 1
    # Workers first, then beat: beat never schedules onto a worker that runs old code.
    local unit
    for unit in "${WORKER_UNITS[@]}" "${BEAT_UNITS[@]}"; do
        systemctl restart "$unit" || unit_failed "$unit" || return 1
    done
}

health_gate() {
    local i
    for i in $(seq 1 "$HEALTH_ATTEMPTS"); do
        if curl --silent --show-error --fail --max-time 10 --unix-socket "$SOCKET" \
            -H "Host: $HEALTH_HOST" -H "X-Forwarded-Proto: https" "$HEALTH_URL" >"$step_log" 2>&1; then
            return 0
        fi
        sleep 2
    done
    log "health check failed $i times"
    return 1
}

# After the switch: on failure put the previous release back (or, on a first release, take the
# new one offline), then fail with the output of the step that broke.
restore_previous() { # failed-release previous-release
    local failed=$1 previous=$2
    if [[ -z "$previous" ]]; then
        err "first release $failed failed; no previous release to restore"
        rm -f "$CURRENT"
        systemctl stop "$GUNICORN.service" "${WORKER_UNITS[@]}" "${BEAT_UNITS[@]}" 2>/dev/null || true
        exit 4
    fi
    err "restoring release $previous"
    local unit
    for unit in "${BEAT_UNITS[@]}"; do
        systemctl stop "$unit" || true
    done
    if switch_to "$previous" && restart_services && health_gate; then
        printf '%s\n' "$previous" >>"$HISTORY"
        err "release $failed failed; $previous is live again"
        exit 4
    fi
    err "restoring $previous failed too; the site needs attention"
    exit 5
}

# pick_pg_dump <server major>: the oldest installed pg_dump that can dump that server (pg_dump
# refuses a server newer than itself), from Debian's side-by-side client directories or PATH.
pick_pg_dump() {
    local want=$1 best="" best_major=0 bin major
    for bin in /usr/lib/postgresql/*/bin/pg_dump "$(command -v pg_dump || true)"; do
        [[ -x "$bin" ]] || continue
        major="$("$bin" --version 2>/dev/null | sed -n 's/^pg_dump (PostgreSQL) \([0-9][0-9]*\).*/\1/p')"
        [[ -n "$major" ]] || continue
        if (( major >= want )) && { [[ -z "$best" ]] || (( major < best_major )); }; then
            best=$bin
            best_major=$major
        fi
    done
    [[ -n "$best" ]] && printf '%s\n' "$best"
}

pg_dump_versions() { # what is installed, for the error line
    local bin
    for bin in /usr/lib/postgresql/*/bin/pg_dump "$(command -v pg_dump || true)"; do
        [[ -x "$bin" ]] && "$bin" --version 2>/dev/null | sed -n 's/^pg_dump (PostgreSQL) \([0-9.]*\).*/\1/p'
    done | sort -uV | paste -sd, -
}

backup_database() { # release id
    if [[ "$PRE_RELEASE_BACKUP" != 1 ]]; then
        log "pre-release backup off (backups.preRelease: false)"
        return 0
    fi
    if [[ "$NO_BACKUP" == 1 ]]; then
        log "pre-release backup skipped (--no-backup: the release step of this release already made one)"
        return 0
    fi
    local url
    url="$(env_value "$ENV_FILE" DATABASE_URL)"
    if [[ -z "$url" ]]; then
        log "no DATABASE_URL: skipping the pre-release backup"
        return 0
    fi
    local name="$BACKUPS/pre-$1.dump"
    # The URL (and its password) reaches pg_dump through PG* variables, never a command line.
    # The system Python (isolated mode), never the release's venv, parses it.
    local status=0
    (
        set -a
        # shellcheck source=/dev/null
        . <(SOURCE_URL="$url" /usr/bin/python3 -I - <<'PY'
import os, shlex
from urllib.parse import parse_qs, unquote, urlsplit
u = urlsplit(os.environ["SOURCE_URL"])
env = {"PGHOST": u.hostname or "", "PGPORT": str(u.port or 5432), "PGUSER": unquote(u.username or ""),
       "PGPASSWORD": unquote(u.password or ""), "PGDATABASE": unquote(u.path.lstrip("/"))}
for key, values in parse_qs(u.query).items():
    if key == "sslmode":
        env["PGSSLMODE"] = values[-1]
for key, value in env.items():
    print(f"{key}={shlex.quote(value)}")
PY
)
        set +a
        server="$(psql -X -At -c 'SHOW server_version_num')" \
            || { echo "cannot ask the database server for its version (psql failed)"; exit 1; }
        [[ "$server" =~ ^[0-9]+$ ]] || { echo "unexpected server_version_num: $server"; exit 1; }
        major=$((server / 10000))
        dump="$(pick_pg_dump "$major")" || true
        if [[ -z "$dump" ]]; then
            problem="no pg_dump for PostgreSQL $major on this host (installed: $(pg_dump_versions))"
            problem+="; pg_dump refuses a server newer than itself"
            if [[ "$PG_DUMP_MISMATCH" == skip ]]; then
                warn "$problem. Skipping the host dump: the managed database's snapshots are this release's" \
                    "backup. Install postgresql-client-$major (PostgreSQL's apt repository) to get the dump back."
                exit 10
            fi
            echo "$problem. Install postgresql-client-$major (PostgreSQL's apt repository, PGDG), or set" \
                "backups.preRelease: false and back the database up another way."
            exit 1
        fi
        echo "pg_dump: $dump (server $server)"
        umask 077
        "$dump" --format=custom --file "$name.tmp" || exit 1
        test -s "$name.tmp" || { echo "pg_dump wrote an empty file"; exit 1; }
        "$(dirname "$dump")/pg_restore" --list "$name.tmp" >/dev/null || exit 1
    ) || status=$?
    if [[ "$status" == 10 ]]; then
        return 0
    fi
    [[ "$status" == 0 ]] || { rm -f "$name.tmp"; return 1; }
    mv -f "$name.tmp" "$name" || return 1
    sha256sum "$name" >"$name.sha256" || return 1
    chmod 0600 "$name" "$name.sha256" || return 1
    log "backup: $name"
    # Retention: the newest $BACKUPS_KEEP dumps stay.
    find "$BACKUPS" -maxdepth 1 -name 'pre-*.dump' -printf '%T@ %p\n' | sort -rn \
        | tail -n +"$((BACKUPS_KEEP + 1))" | cut -d' ' -f2- | while read -r old; do
        rm -f "$old" "$old.sha256"
    done
}

# pip <release dir> <pip arguments...>: the release's pip, as the app user, without the app's
# environment (the build needs none of its secrets).
pip_as_app() {
    local dir=$1
    shift
    as_app "$dir" 0 env PIP_CACHE_DIR="$CACHE/pip" PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 \
        "$dir/.venv/bin/pip" "$@"
}

build_venv() { # release dir
    local dir=$1 links=(--find-links "$CACHE/wheels")
    if [[ -d "$dir/wheels" ]]; then
        links+=(--find-links "$dir/wheels")
    fi
    # The wheel cache belongs to the app user (caches from before are handed over once).
    install -d -o "$APP_USER" -g "$APP_USER" -m 0700 "$CACHE" || return 1
    find "$CACHE" ! -user "$APP_USER" -exec chown -h "$APP_USER:$APP_USER" {} + || return 1
    install -d -o "$APP_USER" -g "$APP_USER" -m 0755 "$dir/.venv" || return 1
    as_app "$dir" 0 python3 -m venv "$dir/.venv" || return 1
    # Unchanged requirements install from the wheelhouse alone, offline, in seconds; otherwise
    # the missing wheels are built (or downloaded) into the wheelhouse first.
    if ! pip_as_app "$dir" install --no-index "${links[@]}" -r "$dir/requirements.txt"; then
        pip_as_app "$dir" wheel "${links[@]}" --wheel-dir "$CACHE/wheels" -r "$dir/requirements.txt" \
            && pip_as_app "$dir" install --no-index "${links[@]}" -r "$dir/requirements.txt"
    fi
}

# seal <release dir>: what the app user built (venv, static) becomes root's and read-only to it.
seal() {
    chown -R root:root "$1" && find "$1" ! -type l -perm /022 -exec chmod go-w {} +
}

migrate() { # release dir
    app "$1" .venv/bin/python manage.py shell --no-startup --command "$(cat <<PY
from django.core.management import call_command
from django.db import connection
postgres = connection.vendor == "postgresql"
if postgres:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [$MIGRATE_LOCK_KEY])
try:
    call_command("migrate", interactive=False, verbosity=1)
finally:
    if postgres:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [$MIGRATE_LOCK_KEY])
PY
)"
}

collectstatic() { # release dir
    install -d -o "$APP_USER" -g "$WEB_GROUP" -m 0755 "$1/static" || return 1
    app "$1" env STATIC_ROOT="$1/static" .venv/bin/python manage.py collectstatic --noinput
}

check_gunicorn() { # release dir
    app "$1" .venv/bin/gunicorn --check-config --config /etc/notes/gunicorn.conf.py --chdir "$1" project.wsgi:application
}

# unpack_archive <archive> <sha256> <release id>: copy the uploaded archive (writable by the SSH
# user) into a fresh directory only root can enter, check its sha256 there, right before unpacking
# that same copy. Sets SOURCE_DIR.
unpack_archive() {
    install -d -o root -g root -m 0700 "$INCOMING" || return 1
    work="$(mktemp -d "$INCOMING/$3.XXXXXXXX")" || return 1
    install -o root -g root -m 0600 "$1" "$work/source.tar.gz" || return 1
    if ! printf '%s  %s\n' "$2" "$work/source.tar.gz" | sha256sum --check --status; then
        echo "the archive $1 does not match sha256 $2 (changed or corrupted after upload)"
        return 1
    fi
    mkdir -m 0755 "$work/source" || return 1
    tar -xzf "$work/source.tar.gz" -C "$work/source" --no-same-owner --no-same-permissions || return 1
    SOURCE_DIR="$work/source"
}

stage_source() { # release dir, source dir, release id, sha256 (or "")
    # Anchored excludes (/static, /.venv): the collected static and the venv of this release are
    # rebuilt here; an app's own static/ directories must be copied.
    rm -rf "$1" && mkdir -p "$1" || return 1
    rsync -a --delete --no-owner --no-group --chmod=go-w,Dgo+rx,Fgo+r \
        --exclude=/.venv --exclude=.git --exclude=/static --exclude=__pycache__ "$2/" "$1/" || return 1
    printf "RELEASE_ID='%s'\n" "$3" >"$1/.release.env"
    if [[ -n "$4" ]]; then
        printf '%s\n' "$4" >"$1/.artifact.sha256"
    fi
}

# The live release asked for again (a retried `pulumi up`, a lost session): healthy is success.
already_live() { # release id, sha256 (or "")
    local id=$1 sha=$2 recorded=""
    if [[ -f "$RELEASES/$id/.artifact.sha256" ]]; then
        recorded="$(cat "$RELEASES/$id/.artifact.sha256")"
    fi
    if [[ -n "$sha" && -n "$recorded" && "$sha" != "$recorded" ]]; then
        warn "release $id is live with another artifact (sha256 $recorded, asked for $sha): the code" \
            "changed but app.releaseId did not, so nothing is deployed; set a new release id to deploy it"
    fi
    if run "health check of the live release $id" health_gate; then
        log "release $id is already live and healthy: nothing to do"
        exit 0
    fi
    warn "release $id is live but failed its health check: restarting it"
    if run "restarting Gunicorn and Celery" restart_services && run "health check $HEALTH_URL" health_gate; then
        log "release $id is live and healthy again"
        exit 0
    fi
    err "release $id is live but unhealthy; deploy a new release id, or roll back"
    exit 1
}

fail_before() { # release id, live release
    err "release $1 failed before the switch; ${2:-nothing} stays live"
    exit 1
}

prune_releases() {
    local live previous id
    live="$(live_release)"
    previous="$(previous_release)"
    find "$RELEASES" -mindepth 1 -maxdepth 1 -type d -printf '%T@ %f\n' | sort -rn | cut -d' ' -f2- \
        | tail -n +"$((KEEP + 1))" | while read -r id; do
        if [[ "$id" != "$live" && "$id" != "$previous" ]]; then
            rm -rf "${RELEASES:?}/$id"
            log "removed old release $id"
        fi
    done
}

deploy() {
    local id=$1 src=$2 sha=${3:-} dir previous
    [[ "$id" =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$ ]] || { err "bad release id: $id"; exit 2; }
    if [[ -f "$src" ]]; then
        [[ "$sha" =~ ^[0-9a-f]{64}$ ]] || { err "an archive needs its sha256 (64 hex digits), got: ${sha:-nothing}"; exit 2; }
    elif [[ ! -d "$src" || -n "$sha" ]]; then
        err "$src is not an archive with a sha256 nor an unpacked source directory"
        exit 2
    fi
    if [[ "$(live_release)" == "$id" ]]; then
        already_live "$id" "$sha"
    fi
    dir="$RELEASES/$id"
    previous="$(live_release)"
    log "deploying $id (live: ${previous:-none})"

    # Before the switch: any failure leaves `current` untouched. Everything that can fail without
    # touching the database runs before the backup and the migration.
    if [[ -f "$src" ]]; then
        run "checking sha256 and unpacking $src" unpack_archive "$src" "$sha" "$id" || fail_before "$id" "$previous"
        src=$SOURCE_DIR
    fi
    [[ -f "$src/manage.py" && -f "$src/requirements.txt" ]] \
        || { err "$src has no manage.py and requirements.txt"; fail_before "$id" "$previous"; }
    run "copying source into $dir" stage_source "$dir" "$src" "$id" "$sha" || fail_before "$id" "$previous"
    run "building the virtualenv (as $APP_USER)" build_venv "$dir" || fail_before "$id" "$previous"
    run "manage.py check --deploy" app "$dir" .venv/bin/python manage.py check --deploy --fail-level WARNING \
        || fail_before "$id" "$previous"
    run "collecting static files" collectstatic "$dir" || fail_before "$id" "$previous"
    run "gunicorn --check-config" check_gunicorn "$dir" || fail_before "$id" "$previous"
    run "sealing the release (root-owned, read-only to $APP_USER)" seal "$dir" || fail_before "$id" "$previous"
    run "backing up the database" backup_database "$id" || fail_before "$id" "$previous"
    run "migrating" migrate "$dir" || fail_before "$id" "$previous"

    # The switch: one rename, atomic for every reader of the symlink.
    switch_to "$id"
    printf '%s\n' "$id" >>"$HISTORY"
    log "switched current -> releases/$id"

    run "restarting Gunicorn and Celery" restart_services || restore_previous "$id" "$previous"
    run "health check $HEALTH_URL (Host: $HEALTH_HOST)" health_gate || restore_previous "$id" "$previous"

    prune_releases
    log "release $id is live"
}

rollback() {
    local live previous unit
    live="$(live_release)"
    previous="$(previous_release)"
    [[ -n "$previous" ]] || { err "no previous release to roll back to"; exit 1; }
    log "rolling back $live -> $previous (the database is left as it is)"
    for unit in "${BEAT_UNITS[@]}" "${WORKER_UNITS[@]}"; do
        run "stopping $unit" systemctl stop "$unit" || exit 1
    done
    switch_to "$previous"
    printf '%s\n' "$previous" >>"$HISTORY"
    run "restarting Gunicorn and Celery" restart_services || exit 1
    run "health check $HEALTH_URL (Host: $HEALTH_HOST)" health_gate || exit 1
    log "release $previous is live"
}

# manage.py in the live release. Every argument reaches python as its own argv entry (sudo, this
# script and the app loader pass "$@" on; no shell reads them).
manage_live() {
    local live
    live="$(live_release)"
    if [[ -z "$live" || ! -d "$RELEASES/$live" ]]; then
        err "no live release of $APP to run manage.py in; deploy one first"
        return 2
    fi
    if [[ -n "$MANAGE_ENV_FILE" ]]; then
        if [[ ! -f "$MANAGE_ENV_FILE" || -L "$MANAGE_ENV_FILE" ]]; then
            err "--env-file $MANAGE_ENV_FILE is not a regular file"
            return 2
        fi
        # Removed by the EXIT trap whatever happens; the app user may only read it.
        work="$(mktemp -d)"
        chgrp "$WEB_GROUP" "$work" && chmod 0710 "$work"
        install -m 0640 -g "$WEB_GROUP" /dev/null "$work/manage.env"
        cat "$MANAGE_ENV_FILE" >"$work/manage.env"
        rm -f "$MANAGE_ENV_FILE"
        EXTRA_ENV_FILES=("$work/manage.env")
    fi
    as_app "$RELEASES/$live" 1 .venv/bin/python manage.py "$@"
}

list_releases() {
    local live id
    live="$(live_release)"
    find "$RELEASES" -mindepth 1 -maxdepth 1 -type d -printf '%T@ %f\n' | sort -rn | cut -d' ' -f2- \
        | while read -r id; do
        if [[ "$id" == "$live" ]]; then printf '* %s\n' "$id"; else printf '  %s\n' "$id"; fi
    done
}

[[ $# -ge 1 ]] || usage
command=$1
shift
case "$command" in
    list) list_releases; exit 0 ;;
    current) live_release; exit 0 ;;
    deploy)
        if [[ "${1:-}" == --no-backup ]]; then
            NO_BACKUP=1
            shift
        fi
        [[ $# -eq 2 || $# -eq 3 ]] || usage
        ;;
    rollback) [[ $# -eq 0 ]] || usage ;;
    manage)
        if [[ "${1:-}" == --env-file ]]; then
            [[ $# -ge 2 ]] || usage
            MANAGE_ENV_FILE=$2
            shift 2
        fi
        if [[ "${1:-}" == -- ]]; then shift; fi
        [[ $# -ge 1 ]] || usage
        ;;
    *) usage ;;
esac

[[ ${EUID} -eq 0 ]] || { err "run as root (sudo)"; exit 2; }
if [[ "$command" == manage ]]; then
    status=0
    manage_live "$@" || status=$?
    exit "$status"
fi
mkdir -p "$(dirname "$LOCK")"
exec 9>"$LOCK"
if ! flock -n 9; then
    err "another release of $APP is running (lock $LOCK is held); try again when it has finished"
    exit 3
fi

case "$command" in
    deploy) deploy "$@" ;;
    rollback) rollback ;;
esac
