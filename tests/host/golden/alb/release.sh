#!/usr/bin/env bash
# Releases of api (staging). Rendered by components.host; do not edit on the host.
#
# Usage (as root):
#   /usr/local/lib/api/release deploy <release-id> <uploaded-source-dir>
#   /usr/local/lib/api/release rollback
#   /usr/local/lib/api/release list
#   /usr/local/lib/api/release current
#
# deploy: copy the source into releases/<id>, build its venv, `check --deploy`, back up the
# database, migrate (once: flock here, a PostgreSQL advisory lock across hosts), collectstatic into
# the release, `gunicorn --check-config`, switch `current` atomically, restart Gunicorn (its socket
# stays open, so no request is refused), restart the Celery worker then beat, and gate on
# /readyz. Any failure after the switch puts the previous release back.
#
# Exit codes: 0 ok; 1 failed before the switch (`current` untouched); 2 usage, or the release is
# live; 3 another release holds the lock; 4 failed after the switch, previous release restored;
# 5 failed after the switch and restoring the previous release failed too.
set -euo pipefail
umask 022

APP=api
APP_USER=api
WEB_GROUP=www-data
BASE=/srv/api
RELEASES=/srv/api/releases
CURRENT=/srv/api/current
HISTORY=/srv/api/.release-history
ENV_FILE=/etc/api/app.env
BACKUPS=/srv/api/shared/backups
CACHE=/srv/api/shared/cache
LOCK=/run/lock/api-release.lock
SOCKET=/run/gunicorn-api/gunicorn.sock
GUNICORN=gunicorn-api
KEEP=5
BACKUPS_KEEP=10
PRE_RELEASE_BACKUP=1
WORKER_UNITS=(celery-api.service)
BEAT_UNITS=()
HEALTH_URL=http://localhost/readyz
HEALTH_HOST=api.example.com
HEALTH_ATTEMPTS=15
# A fixed key for pg_advisory_lock: two hosts never migrate the same database at once.
MIGRATE_LOCK_KEY=2395277890

log() { printf '[release %s] %s\n' "$APP" "$*"; }
err() { printf '[release %s] ERROR: %s\n' "$APP" "$*" >&2; }
usage() { sed -n '4,8p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

step_log="$(mktemp)"
cleanup() { rm -f "$step_log"; }
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

# app <release-dir> <command...>: run as the app user in the release, with the app's environment.
app() {
    local dir=$1
    shift
    (
        cd "$dir"
        set -a
        # shellcheck source=/dev/null
        . "$ENV_FILE"
        # shellcheck source=/dev/null
        . "$dir/.release.env"
        set +a
        export HOME="$BASE"
        exec setpriv --reuid="$APP_USER" --regid="$WEB_GROUP" --init-groups "$@"
    )
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

backup_database() { # release dir
    if [[ "$PRE_RELEASE_BACKUP" != 1 ]]; then
        log "pre-release backup off (backups.preRelease: false)"
        return 0
    fi
    local url
    # shellcheck source=/dev/null
    url="$(set +u; set -a; . "$ENV_FILE"; printf '%s' "${DATABASE_URL:-}")"
    if [[ -z "$url" ]]; then
        log "no DATABASE_URL: skipping the pre-release backup"
        return 0
    fi
    local name="$BACKUPS/pre-$2.dump"
    # The URL (and its password) reaches pg_dump through PG* variables, never a command line.
    (
        set -a
        # shellcheck source=/dev/null
        . <(SOURCE_URL="$url" "$1/.venv/bin/python" - <<'PY'
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
        umask 077
        pg_dump --format=custom --file "$name.tmp"
    ) || return 1
    test -s "$name.tmp" || { echo "pg_dump wrote an empty file"; return 1; }
    pg_restore --list "$name.tmp" >/dev/null || return 1
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

build_venv() { # release dir
    local dir=$1 links=(--find-links "$CACHE/wheels")
    if [[ -d "$dir/wheels" ]]; then
        links+=(--find-links "$dir/wheels")
    fi
    python3 -m venv "$dir/.venv" || return 1
    export PIP_CACHE_DIR="$CACHE/pip" PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_ROOT_USER_ACTION=ignore
    # Unchanged requirements install from the wheelhouse alone, offline, in seconds; otherwise
    # the missing wheels are built (or downloaded) into the wheelhouse first.
    if ! "$dir/.venv/bin/pip" install --no-index "${links[@]}" -r "$dir/requirements.txt"; then
        "$dir/.venv/bin/pip" wheel "${links[@]}" --wheel-dir "$CACHE/wheels" -r "$dir/requirements.txt" \
            && "$dir/.venv/bin/pip" install --no-index "${links[@]}" -r "$dir/requirements.txt"
    fi
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
    app "$1" .venv/bin/gunicorn --check-config --config /etc/api/gunicorn.conf.py --chdir "$1" project.wsgi:application
}

stage_source() { # release dir, source dir, release id
    # Anchored excludes (/static, /.venv): the collected static and the venv of this release are
    # rebuilt here; an app's own static/ directories must be copied.
    rm -rf "$1" && mkdir -p "$1" || return 1
    rsync -a --delete --no-owner --no-group --chmod=go-w,Dgo+rx,Fgo+r \
        --exclude=/.venv --exclude=.git --exclude=/static --exclude=__pycache__ "$2/" "$1/" || return 1
    printf "RELEASE_ID='%s'\n" "$3" >"$1/.release.env"
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
    local id=$1 src=$2 dir previous
    [[ "$id" =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$ ]] || { err "bad release id: $id"; exit 2; }
    [[ -f "$src/manage.py" && -f "$src/requirements.txt" ]] \
        || { err "$src has no manage.py and requirements.txt"; exit 2; }
    if [[ "$(live_release)" == "$id" ]]; then
        err "release $id is live; refusing to overwrite it (deploy a new release id)"
        exit 2
    fi
    dir="$RELEASES/$id"
    previous="$(live_release)"
    log "deploying $id (live: ${previous:-none})"

    # Before the switch: any failure leaves `current` untouched.
    run "copying source into $dir" stage_source "$dir" "$src" "$id" || fail_before "$id" "$previous"
    run "building the virtualenv" build_venv "$dir" || fail_before "$id" "$previous"
    run "manage.py check --deploy" app "$dir" .venv/bin/python manage.py check --deploy --fail-level WARNING \
        || fail_before "$id" "$previous"
    run "backing up the database" backup_database "$dir" "$id" || fail_before "$id" "$previous"
    run "migrating" migrate "$dir" || fail_before "$id" "$previous"
    run "collecting static files" collectstatic "$dir" || fail_before "$id" "$previous"
    run "gunicorn --check-config" check_gunicorn "$dir" || fail_before "$id" "$previous"

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
    deploy) [[ $# -eq 2 ]] || usage ;;
    rollback) [[ $# -eq 0 ]] || usage ;;
    *) usage ;;
esac

[[ ${EUID} -eq 0 ]] || { err "run as root (sudo)"; exit 2; }
mkdir -p "$(dirname "$LOCK")"
exec 9>"$LOCK"
if ! flock -n 9; then
    err "another release of $APP is running (lock $LOCK is held); try again when it has finished"
    exit 3
fi

case "$command" in
    deploy) deploy "$1" "$2" ;;
    rollback) rollback ;;
esac
