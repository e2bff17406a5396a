#!/usr/bin/env bash
# Bring up the PostgreSQL and Redis that examples/django_app's tests run against.
#
# Works on machines where systemd is not PID 1 (containers, CI sandboxes): the
# services are started directly (pg_ctlcluster / redis-server --daemonize).
# Safe to run repeatedly: every step checks the current state first.
#
# Result:
#   PostgreSQL on 127.0.0.1:5432, role "django" (password "django", CREATEDB)
#   owning database "django"   -> postgres://django:django@127.0.0.1:5432/django
#   Redis on 127.0.0.1:6379    -> redis://127.0.0.1:6379/0
#
# PostgreSQL: the newest major version installed under $PG_ROOT (/usr/lib/postgresql), or, when none
# is, the one the distribution's `postgresql` package brings (Debian 12: 15, Ubuntu 24.04: 16).
# Set PG_VERSION to pick another installed one. `start-test-services.sh --print-pg-version` prints
# the version it would use and exits (no root needed).
#
# Needs root (apt-get, starting services as the postgres user).
set -euo pipefail

PG_ROOT="${PG_ROOT:-/usr/lib/postgresql}"
PG_CLUSTER="${PG_CLUSTER:-main}"
PG_PORT="${PG_PORT:-5432}"
DB_USER="${DB_USER:-django}"
DB_PASSWORD="${DB_PASSWORD:-django}"
DB_NAME="${DB_NAME:-django}"
REDIS_PORT="${REDIS_PORT:-6379}"
REDIS_DIR="${REDIS_DIR:-/var/lib/redis}"

log() { printf '[start-test-services] %s\n' "$*"; }

# The newest major version with a server binary under $PG_ROOT; nothing when none is installed.
detect_pg_version() {
    local dir best=""
    for dir in "$PG_ROOT"/*/; do
        dir=${dir%/}
        [[ -x "$dir/bin/postgres" ]] || continue
        dir=${dir##*/}
        [[ "$dir" =~ ^[0-9]+$ ]] || continue
        if [[ -z "$best" ]] || ((dir > best)); then
            best=$dir
        fi
    done
    printf '%s\n' "$best"
}

if [[ "${1:-}" == "--print-pg-version" ]]; then
    version="${PG_VERSION:-$(detect_pg_version)}"
    [[ -n "$version" ]] || { echo "no PostgreSQL server installed under $PG_ROOT" >&2; exit 1; }
    printf '%s\n' "$version"
    exit 0
fi

if [[ "$(id -u)" -ne 0 ]]; then
    echo "start-test-services.sh must run as root" >&2
    exit 1
fi

# The daemons started below outlive this script and inherit its open files. Run under
# `flock <lock file> ...` (the shared test-host lock), that would hand them the lock for their whole
# life and block every later test run: close every descriptor above stderr first.
close_inherited_fds() {
    local fd
    for fd in "/proc/$$/fd/"*; do
        fd=${fd##*/}
        if ((fd > 2)); then
            eval "exec ${fd}>&-" 2>/dev/null || true
        fi
    done
}
close_inherited_fds

# ---------------------------------------------------------------- packages
PG_VERSION="${PG_VERSION:-$(detect_pg_version)}"
missing=()
command -v pg_ctlcluster >/dev/null 2>&1 || missing+=(postgresql)
if [[ -z "$PG_VERSION" ]]; then
    missing+=(postgresql)
elif [[ ! -x "$PG_ROOT/${PG_VERSION}/bin/postgres" ]]; then
    echo "PG_VERSION=${PG_VERSION}: no server at $PG_ROOT/${PG_VERSION}/bin/postgres; installed: $(detect_pg_version || true)" >&2
    exit 1
fi
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)

if ((${#missing[@]} > 0)); then
    # De-duplicate the package list.
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    export DEBIAN_FRONTEND=noninteractive
    for pkg in "${missing[@]}"; do
        if ! apt-cache show "$pkg" >/dev/null 2>&1; then
            log "apt-cache does not know ${pkg}; running apt-get update"
            apt-get update -qq
            break
        fi
    done
    log "installing: ${missing[*]}"
    apt-get install -y -qq "${missing[@]}"
fi
PG_VERSION="${PG_VERSION:-$(detect_pg_version)}"
if [[ -z "$PG_VERSION" ]]; then
    echo "no PostgreSQL server under $PG_ROOT after installing the postgresql package" >&2
    exit 1
fi
log "PostgreSQL ${PG_VERSION} (set PG_VERSION to choose another installed version)"

# -------------------------------------------------------------- PostgreSQL
if ! pg_lsclusters -h | awk -v v="$PG_VERSION" -v c="$PG_CLUSTER" '$1 == v && $2 == c {found=1} END {exit !found}'; then
    log "creating cluster ${PG_VERSION}/${PG_CLUSTER} on port ${PG_PORT}"
    pg_createcluster --port="$PG_PORT" "$PG_VERSION" "$PG_CLUSTER"
fi

pg_status="$(pg_lsclusters -h | awk -v v="$PG_VERSION" -v c="$PG_CLUSTER" '$1 == v && $2 == c {print $4}')"
if [[ "$pg_status" != "online" ]]; then
    log "starting PostgreSQL ${PG_VERSION}/${PG_CLUSTER}"
    pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" start
fi

for _ in $(seq 1 30); do
    if pg_isready -q -h 127.0.0.1 -p "$PG_PORT"; then
        break
    fi
    sleep 1
done
pg_isready -h 127.0.0.1 -p "$PG_PORT"

psql_admin() {
    # Run as the postgres superuser over the local socket (peer auth).
    runuser -u postgres -- psql -p "$PG_PORT" -v ON_ERROR_STOP=1 -qAtX "$@"
}

if [[ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = '${DB_USER}'")" != "1" ]]; then
    log "creating role ${DB_USER}"
    psql_admin -c "CREATE ROLE \"${DB_USER}\" LOGIN CREATEDB PASSWORD '${DB_PASSWORD}'"
else
    # Keep the role usable even if someone changed it.
    psql_admin -c "ALTER ROLE \"${DB_USER}\" LOGIN CREATEDB PASSWORD '${DB_PASSWORD}'"
fi

if [[ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '${DB_NAME}'")" != "1" ]]; then
    log "creating database ${DB_NAME}"
    psql_admin -c "CREATE DATABASE \"${DB_NAME}\" OWNER \"${DB_USER}\""
fi

PGPASSWORD="$DB_PASSWORD" psql -h 127.0.0.1 -p "$PG_PORT" -U "$DB_USER" -d "$DB_NAME" \
    -v ON_ERROR_STOP=1 -qAtX -c 'SELECT 1' >/dev/null
log "PostgreSQL ready: postgres://${DB_USER}:***@127.0.0.1:${PG_PORT}/${DB_NAME}"

# ------------------------------------------------------------------- Redis
if ! redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; then
    log "starting redis-server on 127.0.0.1:${REDIS_PORT}"
    install -d -m 0750 -o redis -g redis "$REDIS_DIR" 2>/dev/null || install -d -m 0750 "$REDIS_DIR"
    redis_user_args=()
    if id redis >/dev/null 2>&1; then
        redis_user_args=(runuser -u redis --)
    fi
    "${redis_user_args[@]}" redis-server \
        --daemonize yes \
        --bind 127.0.0.1 \
        --port "$REDIS_PORT" \
        --protected-mode yes \
        --dir "$REDIS_DIR" \
        --pidfile "${REDIS_DIR}/redis-test-${REDIS_PORT}.pid" \
        --logfile "${REDIS_DIR}/redis-test-${REDIS_PORT}.log" \
        --appendonly no \
        --save ''
fi

for _ in $(seq 1 30); do
    if redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; then
        break
    fi
    sleep 1
done
redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping | grep -q PONG
log "Redis ready: redis://127.0.0.1:${REDIS_PORT}/0"
