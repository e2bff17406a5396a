#!/usr/bin/env bash
# Releases of notes (dev). Rendered by components.host; do not edit on the host.
#
# Usage (as root):
#   /usr/local/lib/notes/release deploy [--no-backup] <release-id> <archive.tar.gz> <sha256>
#   /usr/local/lib/notes/release deploy [--no-backup] <release-id> <unpacked-source-dir>
#   /usr/local/lib/notes/release rollback
#   /usr/local/lib/notes/release restart
#   /usr/local/lib/notes/release list
#   /usr/local/lib/notes/release current
#   /usr/local/lib/notes/release manage [--env-file <file>] [--] <manage.py arguments>
#
# deploy: copy the archive into a fresh root-only directory, check its sha256 there and unpack it
# (an unpacked directory is taken as it is), copy the source into releases/<id>, then every step
# that cannot touch the database: build its venv, `check --deploy`, collectstatic into the release,
# `gunicorn --check-config`; then back up the database (a pg_dump that matches the server's major
# version; --no-backup skips it), migrate (once: flock here, a PostgreSQL advisory lock across
# hosts), then the overlap: start Gunicorn for the new release on the idle color (blue or green,
# each its own socket) next to the live one, gate on /readyz on that socket, and only
# then switch `current` and /srv/notes/colors/live.sock (the link Nginx connects to; one rename each),
# restart the Celery worker then beat, and drain the old color (it answers what it was sent, then
# stops). A failed start or health check stops the new color; the live one was never touched.
# A Celery failure after the switch puts the previous release back. pip and every manage.py step
# run as notes with a clean environment; root never sources or runs anything that user can write.
# restart: the live release again through the same overlap (the bootstrap runs it when the
# environment, gunicorn.conf.py or a Gunicorn unit changed); it waits for a running release.
# manage: `manage.py <arguments>` in the live release, as notes with the app's environment,
# its exit code passed on (no lock: a long shell or data load never holds up a release).
# --env-file adds KEY='value' lines for this command only (DJANGO_SUPERUSER_PASSWORD, say); the
# file is moved into a root-owned directory the app user can read, and removed afterwards.
# Deploying the live release id again is a health check: 0 when it is healthy (a lost session or
# a retried `pulumi up` is not an error).
#
# Exit codes: 0 ok (or already live and healthy); 1 failed before the switch (`current` and the
# live Gunicorn untouched); 2 usage; 3 another release holds the lock; 4 failed after the switch, previous
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
# Venvs live here, one per distinct set of dependencies; a release's .venv links to its own.
VENVS=/srv/notes/shared/venvs
UV=/usr/local/lib/notes/uv/bin/uv
PYTHON_VERSION=3.11
PYTHON_INSTALL_DIR=""
GUNICORN_REQUIREMENT=gunicorn==27.0.1
POETRY_EXPORT=(--from poetry==2.5.1 --with poetry-plugin-export==1.10.1 poetry)
# Root-only (0700): archives are copied, checked and unpacked in a mktemp directory in here.
INCOMING=/srv/notes/shared/incoming
LOCK=/run/lock/notes-release.lock
# Nginx connects to $SOCKET, a link to the live color's socket: $RUNTIME/blue.sock or green.sock.
SOCKET=/srv/notes/colors/live.sock
COLORS=/srv/notes/colors
RUNTIME=/run/gunicorn-notes
GUNICORN=gunicorn-notes
# Hosts set up before the two colors ran one socket-activated Gunicorn ($GUNICORN.socket/.service)
# on this socket; the bootstrap links $SOCKET to it, and the next overlap replaces it.
LEGACY_SOCKET=/run/gunicorn-notes/gunicorn.sock
# How long the old color may take to answer what is queued on its socket after the switch.
DRAIN_SECONDS=30
# How long the new color's workers may take to load the app (Gunicorn's worker timeout).
WORKER_BOOT_SECONDS=30
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
note() { printf '[release %s] %s\n' "$APP" "$*" >&3; }
usage() { sed -n '4,11p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

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

# ---- the two Gunicorn colors -----------------------------------------------------------------------
# live_color: the color Nginx sends requests to (blue, green), legacy (the one unit of a host set up
# before the colors), or nothing.
live_color() {
    local target
    target="$(readlink "$SOCKET" 2>/dev/null)" || target=""
    case "$target" in
        "$RUNTIME/blue.sock") echo blue ;;
        "$RUNTIME/green.sock") echo green ;;
        *) if systemctl --quiet is-active "$GUNICORN.service" 2>/dev/null; then echo legacy; fi ;;
    esac
}

idle_color() { # live color -> the other one
    if [[ "$1" == blue ]]; then echo green; else echo blue; fi
}

color_socket() { # color
    if [[ "$1" == legacy ]]; then echo "$LEGACY_SOCKET"; else echo "$RUNTIME/$1.sock"; fi
}

color_units() { # color -> its socket and service unit
    if [[ "$1" == legacy ]]; then
        printf '%s\n' "$GUNICORN.socket" "$GUNICORN.service"
    else
        printf '%s\n' "$GUNICORN@$1.socket" "$GUNICORN@$1.service"
    fi
}

# stop_color <color>: SIGTERM (Gunicorn's graceful shutdown: the workers finish their requests,
# within graceful_timeout), then the socket closes; the color no longer starts at boot.
stop_color() {
    local units
    mapfile -t units < <(color_units "$1")
    systemctl disable --quiet "${units[@]}" 2>/dev/null || true
    systemctl stop "${units[@]}"
}

# start_color <color> <release id>: Gunicorn of that release on that color's own socket. Nginx does
# not send it anything yet.
start_color() {
    local color=$1 id=$2
    stop_color "$color" 2>/dev/null || true
    # Workers' notes of an earlier start (see wait_workers): only a starting color needs them.
    rm -f "$RUNTIME"/ready.*
    ln -sfn "../releases/$id" "$COLORS/$color.tmp" && mv -T "$COLORS/$color.tmp" "$COLORS/$color" || return 1
    systemctl reset-failed "$GUNICORN@$color.socket" "$GUNICORN@$color.service" 2>/dev/null || true
    systemctl start "$GUNICORN@$color.socket" || unit_failed "$GUNICORN@$color.socket" || return 1
    systemctl start "$GUNICORN@$color.service" || unit_failed "$GUNICORN@$color.service" || return 1
}

# wait_workers <unit>: every first worker of that Gunicorn has loaded the app (gunicorn.conf.py's
# post_worker_init writes their pids into $RUNTIME/ready.<master pid>), so Nginx never switches to
# a Gunicorn whose workers are still booting. After WORKER_BOOT_SECONDS it switches anyway (the
# health check passed) and says so.
wait_workers() {
    local pid workers=0 ready=0 i
    pid="$(systemctl show --property MainPID --value "$1")"
    for ((i = 0; i < WORKER_BOOT_SECONDS * 10; i++)); do
        workers="$(pgrep -c -P "$pid" || true)"
        if [[ -f "$RUNTIME/ready.$pid" ]]; then ready="$(sort -u "$RUNTIME/ready.$pid" | wc -l)"; fi
        if (( workers > 0 && ready >= workers )); then
            rm -f "$RUNTIME/ready.$pid"
            return 0
        fi
        sleep 0.1
    done
    rm -f "$RUNTIME/ready.$pid"
    warn "$ready of $workers workers of $1 loaded the app within ${WORKER_BOOT_SECONDS}s; switching to it anyway (it is healthy)"
}

# switch_live <color>: Nginx's next connection goes to that color (one rename of the link it
# connects to: no reload, no connection of a client closed); that color starts at boot.
switch_live() {
    local units
    ln -sfn "$(color_socket "$1")" "$SOCKET.tmp" && mv -T "$SOCKET.tmp" "$SOCKET" || return 1
    mapfile -t units < <(color_units "$1")
    systemctl enable --quiet "${units[@]}"
}

# drain <color>: after the switch the old color gets no new connection; it still answers the ones
# queued on its socket (waited for here) and in its workers (SIGTERM lets them finish), then stops.
drain() {
    local sock queued i
    sock="$(color_socket "$1")"
    sleep 0.5
    for ((i = 0; i < DRAIN_SECONDS * 10; i++)); do
        queued="$(ss -xlnH src "$sock" 2>/dev/null | awk '{ print $3; exit }')"
        [[ -z "$queued" || "$queued" == 0 ]] && break
        sleep 0.1
    done
    stop_color "$1"
}

# The overlap, in three steps. OLD_COLOR and NEW_COLOR are set by start_idle.
OLD_COLOR=""
NEW_COLOR=""
# start_idle <release id>: the release on the idle color next to the live one, health-checked on its
# own socket. On failure it is stopped again, and the live color never noticed.
start_idle() {
    local id=$1
    OLD_COLOR="$(live_color)"
    NEW_COLOR="$(idle_color "$OLD_COLOR")"
    if run "starting Gunicorn $NEW_COLOR for $id (live: ${OLD_COLOR:-none})" start_color "$NEW_COLOR" "$id" \
        && run "health check $HEALTH_URL (Host: $HEALTH_HOST) on Gunicorn $NEW_COLOR" health_gate "$(color_socket "$NEW_COLOR")" "$GUNICORN@$NEW_COLOR.service" \
        && run "waiting for every worker of Gunicorn $NEW_COLOR to load the app" wait_workers "$GUNICORN@$NEW_COLOR.service"; then
        return 0
    fi
    run "stopping Gunicorn $NEW_COLOR" stop_color "$NEW_COLOR" || true
    return 1
}

# go_live <release id>: `current` and Nginx's link switch to the release and NEW_COLOR.
go_live() {
    switch_to "$1" && switch_live "$NEW_COLOR" || return 1
    log "switched current -> releases/$1, Nginx -> Gunicorn $NEW_COLOR"
}

drain_old() {
    [[ -n "$OLD_COLOR" ]] || return 0
    run "draining Gunicorn $OLD_COLOR (it answers what it was sent, then stops)" drain "$OLD_COLOR" \
        || warn "Gunicorn $OLD_COLOR did not stop cleanly (see journalctl -u $(color_units "$OLD_COLOR" | tail -n 1))"
}

# Workers first, then beat: beat never schedules onto a worker that runs old code.
restart_celery() {
    local unit
    for unit in "${WORKER_UNITS[@]}" "${BEAT_UNITS[@]}"; do
        systemctl restart "$unit" || unit_failed "$unit" || return 1
    done
}

celery_step() { # run restart_celery with a log line, when there is a Celery unit
    if [[ -n "${WORKER_UNITS[*]}${BEAT_UNITS[*]}" ]]; then
        run "restarting Celery" restart_celery
    fi
}

# restart_live: the live release again through the overlap (a changed environment, gunicorn.conf.py
# or unit; an unhealthy live Gunicorn).
restart_live() {
    local live
    live="$(live_release)"
    [[ -n "$live" ]] || { log "no live release: nothing to restart"; return 0; }
    start_idle "$live" || { err "Gunicorn for $live did not start healthy; ${OLD_COLOR:-nothing} stays live"; return 1; }
    go_live "$live" || return 1
    celery_step || return 1
    drain_old
    log "release $live is live on Gunicorn $NEW_COLOR"
}

# Healthy: an HTTP status below 400. Unhealthy after every attempt: say what the last one got (the
# status and the first lines of the body, or why there was no answer).
# With a unit, a Gunicorn that exits meanwhile (a worker that cannot boot stops the master) fails
# the gate at once, with the exception lines that run logged (a worker's traceback ends long before
# the master's own, so the last lines alone often miss the cause) and its last lines (systemd
# restarts it, and the next run's lines would hide why).
health_gate() { # [socket (the live one by default)] [unit]
    local sock=${1:-$SOCKET} unit=${2:-} pid="" run_id="" i status="" body
    if [[ -n "$unit" ]]; then
        pid="$(systemctl show --property MainPID --value "$unit")"
        run_id="$(systemctl show --property InvocationID --value "$unit")"
    fi
    body="$(mktemp)"
    for i in $(seq 1 "$HEALTH_ATTEMPTS"); do
        status="$(curl --silent --show-error --max-time 10 --unix-socket "$sock" --output "$body" \
            --write-out '%{http_code}' -H "Host: $HEALTH_HOST" -H "X-Forwarded-Proto: https" "$HEALTH_URL" \
            2>"$body.err")" || true
        if [[ "$status" =~ ^[1-3][0-9][0-9]$ ]]; then
            rm -f "$body" "$body.err"
            return 0
        fi
        if [[ -n "$unit" && "$(systemctl show --property MainPID --value "$unit")" != "$pid" ]]; then
            journalctl "_SYSTEMD_INVOCATION_ID=$run_id" --no-pager --output cat >"$body" 2>&1 || true
            echo "$unit exited (main PID $pid); the errors that run logged:"
            { grep -E '^[A-Za-z_][A-Za-z0-9_.]*: ' "$body" || true; } | awk '!seen[$0]++' | head -n 10 |
                cut -c 1-300 | awk '{ print "    " $0 }' || true
            echo "its last log lines:"
            tail -n 25 "$body"
            rm -f "$body" "$body.err"
            return 1
        fi
        sleep 2
    done
    if [[ "$status" =~ ^[4-5][0-9][0-9]$ ]]; then
        log "health check failed $i times; the last answer was HTTP $status from $HEALTH_URL (Host: $HEALTH_HOST), beginning:"
        head -n 10 "$body" | cut -c 1-200 | awk '{ print "    " $0 }'
    else
        log "health check failed $i times; no HTTP answer from $HEALTH_URL on $sock: $(head -c 300 "$body.err")"
    fi
    rm -f "$body" "$body.err"
    return 1
}

# After the switch (only Celery can fail there): put the previous release back on the old color,
# which still runs (or, on a first release, take the new one offline), then fail with the output of
# the step that broke.
restore_previous() { # failed-release previous-release
    local failed=$1 previous=$2
    if [[ -z "$previous" || -z "$OLD_COLOR" ]]; then
        err "first release $failed failed; no previous release to restore"
        rm -f "$CURRENT" "$SOCKET"
        stop_color "$NEW_COLOR" 2>/dev/null || true
        systemctl stop "${WORKER_UNITS[@]}" "${BEAT_UNITS[@]}" 2>/dev/null || true
        drop_failed "$failed"
        exit 4
    fi
    err "restoring release $previous"
    local unit
    for unit in "${BEAT_UNITS[@]}"; do
        systemctl stop "$unit" || true
    done
    if switch_to "$previous" && switch_live "$OLD_COLOR" && restart_celery; then
        printf '%s\n' "$previous" >>"$HISTORY"
        stop_color "$NEW_COLOR" || true
        err "release $failed failed; $previous is live again"
        drop_failed "$failed"
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

# ---- the app's Python and venv --------------------------------------------------------------------
# Dependencies come from the first of: uv.lock (with pyproject.toml), poetry.lock (with
# pyproject.toml), requirements.txt. uv builds every venv (sdists included: it builds them with
# their own build backend, so no `bdist_wheel` of an old setuptools is involved).

deps_kind() { # source dir -> uv | poetry | requirements (or nothing)
    if [[ -f "$1/uv.lock" && -f "$1/pyproject.toml" ]]; then
        echo uv
    elif [[ -f "$1/poetry.lock" && -f "$1/pyproject.toml" ]]; then
        echo poetry
    elif [[ -f "$1/requirements.txt" ]]; then
        echo requirements
    fi
}

app_python() { # the interpreter of the app's venvs
    if [[ -n "$PYTHON_INSTALL_DIR" ]]; then
        env -i PATH="$CLEAN_PATH" UV_PYTHON_INSTALL_DIR="$PYTHON_INSTALL_DIR" UV_PYTHON_DOWNLOADS=never \
            "$UV" python find --managed-python "$PYTHON_VERSION"
    elif [[ -x "/usr/bin/python$PYTHON_VERSION" ]]; then
        echo "/usr/bin/python$PYTHON_VERSION"
    else
        echo "no /usr/bin/python$PYTHON_VERSION on this host" >&2
        return 1
    fi
}

# check_python <release dir>: refuse, in one line, a Python the app says it cannot run on.
check_python() {
    local python
    python="$(app_python)" || return 1
    PYTHON=$python
    as_app "$1" 0 "$python" -I -c "$PYTHON_CHECK" "$1" 'This release uses the Debian 12 (bookworm) python3; set target.os to one whose Python fits (debian-12: 3.11, debian-13: 3.13, ubuntu-22.04: 3.10, ubuntu-24.04: 3.12) or app.python to a version that fits (uv installs it)'
}
# shellcheck disable=SC2016
PYTHON_CHECK='"""Refuse a Python the app cannot run on, before its venv is built and before the switch.

The release script runs this file'"'"'s source with the app'"'"'s interpreter (``python -I - <source dir>
<hint>``), so it is standard library only and runs on every Python a host can have (3.9 and newer). It
reads what the app says about Python, without importing or building anything:

- ``requires-python`` in pyproject.toml (``[project]``) and in uv.lock;
- ``python = "^3.12"`` under ``[tool.poetry.dependencies]``;
- the Django version: the locked one (uv.lock, poetry.lock) or the lowest one requirements.txt
  allows, against the oldest Python that Django series supports.

It prints one line and exits 1 when the interpreter does not fit, else prints what it checked.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

DJANGO_MIN_PYTHON: dict[tuple[int, int], tuple[int, int]] = {
    (3, 2): (3, 6),
    (4, 0): (3, 8),
    (4, 1): (3, 8),
    (4, 2): (3, 8),
    (5, 0): (3, 10),
    (5, 1): (3, 10),
    (5, 2): (3, 10),
    (6, 0): (3, 12),
}
"""Oldest Python of each Django series (Django'"'"'s "What Python version can I use" FAQ)."""

_CLAUSE = re.compile(r"^(~=|===|==|!=|<=|>=|<|>|\^|~)?\s*v?([0-9]+(?:\.[0-9]+)*)(\.\*)?$")
_VERSION = tuple[int, ...]


def version_tuple(text: str) -> _VERSION:
    """``3.12.1`` -> (3, 12, 1); stops at the first part that is not a number (``3.13.0rc1``)."""
    parts: list[int] = []
    for part in text.split("."):
        digits = re.match(r"[0-9]+", part)
        if not digits:
            break
        parts.append(int(digits.group()))
        if digits.group() != part:
            break
    return tuple(parts)


def _pad(version: _VERSION, length: int) -> _VERSION:
    return version + (0,) * (length - len(version))


def _compare(left: _VERSION, right: _VERSION) -> int:
    length = max(len(left), len(right))
    a, b = _pad(left, length), _pad(right, length)
    return (a > b) - (a < b)


def satisfies(version: _VERSION, spec: str) -> bool:
    """Whether ``version`` meets a PEP 440 specifier set (or Poetry'"'"'s ``^``/``~``).

    A clause this function does not understand is ignored, so an odd spec never blocks a release.
    """
    for raw in spec.split(","):
        clause = raw.strip()
        if not clause:
            continue
        match = _CLAUSE.match(clause)
        if not match:
            continue
        op, text, star = match.group(1) or "==", match.group(2), match.group(3)
        wanted = version_tuple(text)
        if op in ("==", "===", "!=") and star:
            prefix = version[: len(wanted)] == _pad(wanted, len(wanted))
            if prefix != (op != "!="):
                return False
            continue
        cmp = _compare(version, wanted)
        if op == "^":  # Poetry: >=X.Y, < next major (or next minor for 0.x)
            upper = (wanted[0] + 1,) if wanted[0] > 0 else (0, wanted[1] + 1 if len(wanted) > 1 else 1)
            ok = cmp >= 0 and _compare(version, upper) < 0
        elif op == "~":  # Poetry: >=X.Y, < X.(Y+1)
            upper = (wanted[0], wanted[1] + 1) if len(wanted) > 1 else (wanted[0] + 1,)
            ok = cmp >= 0 and _compare(version, upper) < 0
        elif op == "~=":
            ok = cmp >= 0 and version[: len(wanted) - 1] == wanted[: len(wanted) - 1]
        else:
            ok = {
                "==": cmp == 0,
                "===": cmp == 0,
                "!=": cmp != 0,
                "<=": cmp <= 0,
                ">=": cmp >= 0,
                "<": cmp < 0,
                ">": cmp > 0,
            }[op]
        if not ok:
            return False
    return True


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _toml_section(text: str, name: str) -> str:
    """The body of ``[name]`` (up to the next table header), or '"'"''"'"'."""
    match = re.search(r"^\[" + re.escape(name) + r"\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
    return match.group(1) if match else ""


def _string_value(section: str, key: str) -> str | None:
    match = re.search(r"^\s*" + re.escape(key) + r"\s*=\s*[\"'"'"']([^\"'"'"']*)[\"'"'"']", section, re.M)
    return match.group(1) if match else None


def python_specs(source: Path) -> list[tuple[str, str]]:
    """(where, specifier) pairs the app states about its Python."""
    found: list[tuple[str, str]] = []
    pyproject = _read(source / "pyproject.toml")
    spec = _string_value(_toml_section(pyproject, "project"), "requires-python")
    if spec:
        found.append(("pyproject.toml requires-python", spec))
    spec = _string_value(_toml_section(pyproject, "tool.poetry.dependencies"), "python")
    if spec:
        found.append(("pyproject.toml [tool.poetry.dependencies] python", spec))
    uv_lock = _read(source / "uv.lock")
    spec = _string_value(uv_lock.split("[[package]]", 1)[0], "requires-python")
    if spec:
        found.append(("uv.lock requires-python", spec))
    return found


def _locked_version(lock: str, package: str) -> str | None:
    pattern = r"^\[\[package\]\]\s*\nname\s*=\s*\"" + re.escape(package) + r"\"\s*\nversion\s*=\s*\"([^\"]+)\""
    match = re.search(pattern, lock, re.M | re.I)
    return match.group(1) if match else None


def _requirement_floor(text: str, package: str) -> tuple[str, str] | None:
    """The lowest version a requirements file allows for ``package`` (its ``==``, ``~=``, ``>=``)."""
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        match = re.match(re.escape(package) + r"(?:\[[^\]]*\])?\s*(.*)$", line, re.I)
        if not match or (match.group(1)[:1].isalnum() or match.group(1)[:1] in "-_."):
            continue
        spec = match.group(1).split(";", 1)[0]
        for clause in spec.split(","):
            clause_match = _CLAUSE.match(clause.strip())
            if clause_match and (clause_match.group(1) or "") in ("==", "===", "~=", ">=", ">"):
                return clause_match.group(2), line
    return None


def django_requirement(source: Path) -> tuple[str, str] | None:
    """(Django version, where it comes from): the locked version, else requirements.txt'"'"'s floor."""
    for name in ("uv.lock", "poetry.lock"):
        version = _locked_version(_read(source / name), "django")
        if version:
            return version, f"{name} locks Django {version}"
    floor = _requirement_floor(_read(source / "requirements.txt"), "django")
    if floor:
        return floor[0], f"requirements.txt asks for {floor[1]}"
    return None


def django_min_python(version: str) -> tuple[int, int] | None:
    wanted = _pad(version_tuple(version), 2)[:2]
    known = [series for series in DJANGO_MIN_PYTHON if series <= wanted]
    return DJANGO_MIN_PYTHON[max(known)] if known else None


def problems(source: Path, python: _VERSION) -> list[str]:
    """Why ``python`` cannot run the app in ``source`` (empty when it can)."""
    found = []
    shown = ".".join(map(str, python))
    for where, spec in python_specs(source):
        if not satisfies(python, spec):
            found.append(f"{where} is {spec!r}")
    django = django_requirement(source)
    if django:
        minimum = django_min_python(django[0])
        if minimum and python[:2] < minimum:
            found.append(f"{django[1]}, which needs Python {minimum[0]}.{minimum[1]} or newer (not {shown})")
    return found


def main(argv: list[str]) -> int:
    source = Path(argv[1])
    hint = argv[2] if len(argv) > 2 else ""
    python = tuple(sys.version_info[:3])
    shown = ".".join(map(str, python))
    found = problems(source, python)
    if found:
        print(f"Python {shown} ({sys.executable}) cannot run this app: {'"'"'; '"'"'.join(found)}. {hint}".rstrip())
        return 1
    print(f"Python {shown} ({sys.executable}) fits the app'"'"'s requirements")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
'

# uv trusts the host's certificate store (like apt and pip), so a proxy's own CA works.
UV_ENV=(UV_CACHE_DIR="$CACHE/uv" UV_TOOL_DIR="$CACHE/uv-tools" UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
    UV_NO_PROGRESS=1 UV_SYSTEM_CERTS=1)

uv_as_app() { # dir uv-arguments...: uv as the app user, without the app's environment (no secrets)
    local dir=$1
    shift
    as_app "$dir" 0 env "${UV_ENV[@]}" \
        POETRY_CACHE_DIR="$CACHE/poetry" XDG_CACHE_HOME="$CACHE/xdg" "$UV" "$@"
}

# deps_key <release dir>: a hash of everything a venv depends on. Releases with equal keys share
# one venv, so a release that changes no dependency builds nothing.
deps_key() {
    local dir=$1 kind
    kind="$(deps_kind "$dir")"
    {
        printf 'kind %s\npython %s %s\nuv %s\n%s\n' "$kind" "$PYTHON" "$PYTHON_VERSION" "$("$UV" --version)" \
            "$GUNICORN_REQUIREMENT"
        (
            cd "$dir" || exit 1
            find . -maxdepth 1 -type f \( -name pyproject.toml -o -name uv.lock -o -name poetry.lock \
                -o -name 'requirements*.txt' -o -name 'constraints*.txt' \) -print0 | sort -z | xargs -0r sha256sum
            if [[ -d requirements ]]; then
                find requirements -type f -print0 | sort -z | xargs -0r sha256sum
            fi
            if [[ -d wheels ]]; then
                find wheels -type f -print0 | sort -z | xargs -0r sha256sum
            fi
        )
        # Local paths (an editable install of the app, a path dependency) point into one release:
        # such a venv is that release's alone.
        if grep -Eqs '^[[:space:]]*(-e|--editable|\.|/|file:)' "$dir"/requirements*.txt \
            || grep -Eqs 'source = \{ (editable|path|directory) = "[^.]' "$dir/uv.lock"; then
            printf 'release %s\n' "$dir"
        fi
    } | sha256sum | cut -c1-24
}

install_deps() { # release dir, venv
    local dir=$1 venv=$2 links=()
    if [[ -d "$dir/wheels" ]]; then
        links=(--find-links "$dir/wheels")
    fi
    case "$(deps_kind "$dir")" in
        uv)
            as_app "$dir" 0 env UV_PROJECT_ENVIRONMENT="$venv" "${UV_ENV[@]}" \
                "$UV" sync --frozen --no-dev --no-install-project --python "$venv/bin/python" "${links[@]}" || return 1
            ;;
        poetry)
            # poetry.lock -> requirements with Poetry's own exporter (run by uv from its cache).
            uv_as_app "$dir" tool run "${POETRY_EXPORT[@]}" export --format requirements.txt \
                --without-hashes --only main --output "$venv/.poetry-requirements.txt" || return 1
            uv_as_app "$dir" pip install --python "$venv/bin/python" "${links[@]}" \
                -r "$venv/.poetry-requirements.txt" || return 1
            ;;
        requirements)
            uv_as_app "$dir" pip install --python "$venv/bin/python" "${links[@]}" -r requirements.txt || return 1
            ;;
        *)
            echo "no uv.lock, poetry.lock or requirements.txt"
            return 1
            ;;
    esac
    # Gunicorn serves the app: when its own requirements do not bring it, it comes from here.
    if ! as_app "$dir" 0 "$venv/bin/python" -c 'import gunicorn' 2>/dev/null; then
        note "gunicorn is not in the app's requirements: installing $GUNICORN_REQUIREMENT into the venv" \
            "(pin gunicorn in your requirements to choose its version)"
        uv_as_app "$dir" pip install --python "$venv/bin/python" "$GUNICORN_REQUIREMENT" || return 1
    fi
}

# Celery's Redis transport asks ZRANGE ... BYSCORE (Redis 6.2+) from kombu 5.7 on, as the worker
# starts: with an older Redis (Ubuntu 22.04 ships 6.0) every worker exits at once while the release
# looks fine, and no task ever runs. Refused before the switch instead, with the ways out.
check_broker() { # release dir
    local dir=$1 kombu redis_version
    kombu="$(as_app "$dir" 0 "$dir/.venv/bin/python" -c \
        'import importlib.metadata as m; print(m.version("kombu"))' 2>/dev/null)" || return 0
    redis_version="$(redis-server --version | sed -n 's/.* v=\([0-9.]*\).*/\1/p')"
    [[ -n "$redis_version" ]] || return 0
    if dpkg --compare-versions "$redis_version" lt 6.2 && dpkg --compare-versions "$kombu" ge 5.7; then
        echo "kombu $kombu (Celery's Redis transport) needs Redis 6.2 or newer; this host's Redis is" \
            "$redis_version (Debian 12 (bookworm)). Pin kombu<5.7 (and celery<5.7) in the app's" \
            "requirements, choose a target.os whose Redis is 6.2 or newer (debian-12, debian-13," \
            "ubuntu-24.04), or use an external Redis (cache.mode: external)"
        return 1
    fi
}

build_venv() { # release dir
    local dir=$1 key venv
    [[ -n "${PYTHON:-}" ]] || PYTHON="$(app_python)" || return 1
    install -d -o "$APP_USER" -g "$APP_USER" -m 0700 "$CACHE" || return 1
    install -d -o root -g root -m 0755 "$VENVS" || return 1
    key="$(deps_key "$dir")" || return 1
    venv="$VENVS/$key"
    if [[ -f "$venv/.complete" ]]; then
        note "dependencies unchanged: reusing the venv $key"
    else
        rm -rf "$venv"
        install -d -o "$APP_USER" -g "$APP_USER" -m 0755 "$venv" || return 1
        uv_as_app "$dir" venv --allow-existing --python "$PYTHON" "$venv" || return 1
        install_deps "$dir" "$venv" || return 1
        # Sealed like the release: root's, read-only to the app user.
        seal "$venv" || return 1
        touch "$venv/.complete" || return 1
    fi
    ln -sfn "$venv" "$dir/.venv"
}

# build_commands <release dir>: the stack's build steps, as the app user, in the new release
# (writable by the app user until it is sealed), the venv first on PATH, the app's environment.
build_commands() {
    : "$1"
}

prune_venvs() { # venvs no remaining release links to
    local used=" " link venv
    for link in "$RELEASES"/*/.venv; do
        if [[ -L "$link" ]]; then used+="$(readlink "$link") "; fi
    done
    for venv in "$VENVS"/*; do
        if [[ -d "$venv" && "$used" != *" $venv "* ]]; then
            rm -rf "$venv"
            log "removed unused venv ${venv##*/}"
        fi
    done
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

# collectstatic writes into the release's static/ (app.staticRoot: where the app's
# STATIC_ROOT points when its code fixes it), the one folder of the release the app user may write.
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
    # Anchored excludes (/static, /.venv): the collected static and the venv of this
    # release are rebuilt here; an app's own static/ directories elsewhere must be copied.
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
    warn "release $id is live but failed its health check: starting it again next to the live Gunicorn"
    if restart_live; then
        log "release $id is live and healthy again"
        exit 0
    fi
    err "release $id is live but unhealthy; deploy a new release id, or roll back"
    exit 1
}

# The folder of a release that failed (hundreds of MB with its venv): removed at once, unless it is
# live. STAGED is set once this run wrote into it: an earlier release's folder with the same id is
# not touched by a failure before that.
STAGED=""
drop_failed() { # release id
    if [[ -n "$STAGED" && "$1" != "$(live_release)" && -d "$RELEASES/$1" ]]; then
        rm -rf "${RELEASES:?}/$1"
        log "removed the folder of the failed release $1"
    fi
}

fail_before() { # release id, live release
    err "release $1 failed before the switch; ${2:-nothing} stays live"
    drop_failed "$1"
    exit 1
}

prune_releases() {
    local live previous id
    live="$(live_release)"
    previous="$(previous_release)"
    # A folder that never went live is a failed or interrupted release (killed before it could
    # clean up): it is not kept as one of the last releases.
    find "$RELEASES" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | while read -r id; do
        if [[ "$id" != "$live" ]] && ! grep -qxF -- "$id" "$HISTORY" 2>/dev/null; then
            rm -rf "${RELEASES:?}/$id"
            log "removed release $id, which never went live"
        fi
    done
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
    [[ -f "$src/manage.py" && -n "$(deps_kind "$src")" ]] \
        || { err "$src needs manage.py and one of uv.lock (with pyproject.toml), poetry.lock (with pyproject.toml) or requirements.txt"; fail_before "$id" "$previous"; }
    STAGED=1
    run "copying source into $dir" stage_source "$dir" "$src" "$id" "$sha" || fail_before "$id" "$previous"
    run "checking Python $PYTHON_VERSION against the app's requirements" check_python "$dir" \
        || fail_before "$id" "$previous"
    run "building the virtualenv with uv ($(deps_kind "$dir"), as $APP_USER)" build_venv "$dir" \
        || fail_before "$id" "$previous"
    run "checking Celery's Redis transport against this host's Redis" check_broker "$dir" \
        || fail_before "$id" "$previous"
    run "manage.py check --deploy (fail level WARNING)" \
        app "$dir" .venv/bin/python manage.py check --deploy --fail-level WARNING || fail_before "$id" "$previous"
    run "collecting static files" collectstatic "$dir" || fail_before "$id" "$previous"
    run "gunicorn --check-config" check_gunicorn "$dir" || fail_before "$id" "$previous"
    run "sealing the release (root-owned, read-only to $APP_USER)" seal "$dir" || fail_before "$id" "$previous"
    run "backing up the database" backup_database "$id" || fail_before "$id" "$previous"
    run "migrating" migrate "$dir" || fail_before "$id" "$previous"

    # The overlap: the new release serves nothing until it is healthy on its own socket.
    start_idle "$id" || fail_before "$id" "$previous"
    # The switch: one rename each (current, Nginx's link), atomic for every reader.
    go_live "$id" || restore_previous "$id" "$previous"
    printf '%s\n' "$id" >>"$HISTORY"
    celery_step || restore_previous "$id" "$previous"
    drain_old

    prune_releases
    prune_venvs
    log "release $id is live"
}

rollback() {
    local live previous unit
    live="$(live_release)"
    previous="$(previous_release)"
    [[ -n "$previous" ]] || { err "no previous release to roll back to"; exit 1; }
    log "rolling back $live -> $previous (the database is left as it is)"
    start_idle "$previous" || { err "rollback failed: $previous did not start healthy; $live stays live"; exit 1; }
    for unit in "${BEAT_UNITS[@]}" "${WORKER_UNITS[@]}"; do
        run "stopping $unit" systemctl stop "$unit" || { stop_color "$NEW_COLOR" || true; exit 1; }
    done
    go_live "$previous" || exit 1
    printf '%s\n' "$previous" >>"$HISTORY"
    celery_step || exit 1
    drain_old
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
    rollback | restart) [[ $# -eq 0 ]] || usage ;;
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
# restart (the bootstrap's) waits for a running release; the others give up at once.
if [[ "$command" == restart ]]; then
    flock -w 1800 9 || { err "a release of $APP held the lock for 30 minutes; restart not done"; exit 3; }
elif ! flock -n 9; then
    err "another release of $APP is running (lock $LOCK is held); try again when it has finished"
    exit 3
fi

case "$command" in
    deploy) deploy "$@" ;;
    rollback) rollback ;;
    restart) restart_live ;;
esac
