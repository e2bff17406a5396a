#!/usr/bin/env bash
# Bootstrap of a notes host (dev). Rendered by components.host; do not edit.
#
# Idempotent: it runs on first boot (cloud-init) and again over SSH whenever its content changes
# (the content embeds the sha256 of every staged file, so any rendered change re-runs it).
# It installs packages, creates the app user and directories, configures local PostgreSQL and
# Redis, generates missing secrets on the host, assembles /etc/notes/app.env, installs every staged
# file from /usr/local/lib/notes/staged, sets up TLS and Nginx, and enables the systemd units.
#
# Optional environment (never logged; absent values are kept from the last run or generated):
#   SECRET_KEY       Django secret key
#   DB_PASSWORD      password of the local PostgreSQL role app
#   REDIS_PASSWORD   requirepass of the local Redis
#   DATABASE_URL     external/managed database URL (required unless PostgreSQL is local)
#   REDIS_URL        external/managed Redis URL (required when cache.mode is external/managed)
#   SENTRY_DSN       required when observability.sentry is on
#   CERTBOT_SKIP=1   do not ask Let's Encrypt for a certificate (tests, no internet)
# Exit codes: 0 done (a failed Let's Encrypt issuance included: the site keeps serving a
# self-signed certificate and a systemd timer retries certbot; the output says so); 1 failed.
set -euo pipefail
umask 022
export DEBIAN_FRONTEND=noninteractive

APP=notes
APP_USER=notes
APP_GROUP=notes
WEB_GROUP=www-data
STAGING=/usr/local/lib/notes/staged
SECRETS=/etc/notes/secrets

log() { printf '[bootstrap %s] %s\n' "$APP" "$*"; }
die() { printf '[bootstrap %s] ERROR: %s\n' "$APP" "$*" >&2; exit 1; }

[[ ${EUID} -eq 0 ]] || die "run as root (sudo)"
command -v systemctl >/dev/null || die "systemd is required"

# ---- host OS ------------------------------------------------------------------------------------
# The stack chose Debian 12 (bookworm): its package names, Python 3.11 and PostgreSQL 15.
os_field() { sed -n "s/^$1=//p" /etc/os-release 2>/dev/null | tr -d '"' | head -n 1; }
os_seen="$(os_field ID)-$(os_field VERSION_ID)"
if [[ "$os_seen" != debian-12 ]]; then
    die "this host runs $(os_field PRETTY_NAME || true) ($os_seen), but the stack is rendered for Debian 12 (bookworm) (target.os debian-12); set target.os to match the host"
fi

# ---- packages -------------------------------------------------------------------------------
packages=(
    acl
    build-essential
    ca-certificates
    certbot
    curl
    git
    iproute2
    libpq-dev
    logrotate
    nginx
    openssl
    pkg-config
    postgresql
    postgresql-client
    procps
    python3
    python3-certbot-nginx
    python3-dev
    python3-venv
    redis-server
    rsync
    ssl-cert
    unattended-upgrades
    util-linux
)
missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
if [[ -n "${missing[*]:-}" ]]; then
    log "installing packages: ${missing[*]}"
    # Services must not start with their stock configuration while we install them (the
    # default Nginx site on port 80, Redis without a password): a policy-rc.d holds them back.
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}" \
        || die "apt-get could not install: ${missing[*]} (check the names in app.systemPackages and the host's apt sources)"
    rm -f /usr/sbin/policy-rc.d
    trap - EXIT
fi

# ---- uv (builds every release's venv) ----------------------------------------------------------
# Pinned, from PyPI, into a venv of its own (root-owned); the release script runs it as the app user.
uv_wanted=0.13.9
if [[ "$(/usr/local/lib/notes/uv/bin/uv --version 2>/dev/null | cut -d' ' -f2 || true)" != "$uv_wanted" ]]; then
    rm -rf /usr/local/lib/notes/uv
    /usr/bin/python3 -m venv /usr/local/lib/notes/uv
    PIP_DISABLE_PIP_VERSION_CHECK=1 /usr/local/lib/notes/uv/bin/pip install --quiet --no-cache-dir "uv==$uv_wanted" \
        || die "could not install uv $uv_wanted from PyPI (the release builds need it)"
    log "installed uv $uv_wanted"
fi

# ---- time zone --------------------------------------------------------------------------------
if [[ "$(readlink /etc/localtime || true)" != /usr/share/zoneinfo/UTC ]]; then
    ln -sfn /usr/share/zoneinfo/UTC /etc/localtime
    printf 'UTC\n' > /etc/timezone
    log "time zone set to UTC"
fi

# ---- app user -----------------------------------------------------------------------------------
getent group "$APP_GROUP" >/dev/null || groupadd --system "$APP_GROUP"
if ! id -u "$APP_USER" >/dev/null 2>&1; then
    useradd --system --gid "$APP_GROUP" --home-dir /srv/notes --no-create-home \
        --shell /usr/sbin/nologin "$APP_USER"
    log "created system user $APP_USER"
fi
getent group "$WEB_GROUP" >/dev/null || die "group $WEB_GROUP (Nginx) does not exist"

# ---- directories (explicit owner and mode each; nothing recursive) ------------------------------
ensure_dir() { # path owner group mode
    mkdir -p "$1"
    chown "$2:$3" "$1"
    chmod "$4" "$1"
}
ensure_dir /srv/notes root root 0755
ensure_dir /srv/notes/releases root root 0755
ensure_dir /srv/notes/colors root root 0755
ensure_dir /srv/notes/shared root root 0755
ensure_dir /srv/notes/shared/logs notes notes 2750
ensure_dir /srv/notes/shared/backups root root 0700
ensure_dir /srv/notes/shared/cache notes notes 0700
ensure_dir /srv/notes/shared/incoming root root 0700
ensure_dir /srv/notes/shared/venvs root root 0755
ensure_dir /etc/notes root notes 0750
ensure_dir /etc/notes/secrets root root 0700
ensure_dir /etc/notes/tls root root 0700
ensure_dir /usr/local/lib/notes root root 0755
ensure_dir /var/www/certbot root root 0755
ensure_dir /srv/notes/shared/media notes www-data 2750

# ---- staged files -------------------------------------------------------------------------------
changed=" "
install_file() { # staged-relative dest owner group mode sha256 tag
    local src="$STAGING$1" dest="$1"
    [[ -f "$src" ]] || die "missing staged file $src (upload every rendered file first)"
    printf '%s  %s\n' "$5" "$src" | sha256sum --check --status \
        || die "staged file $src does not match its rendered checksum"
    if [[ ! -f "$dest" ]] || ! cmp -s "$src" "$dest"; then
        mkdir -p "$(dirname "$dest")"
        install -o "$2" -g "$3" -m "$4" "$src" "$dest"
        changed+="$6 "
        log "installed $dest"
    else
        chown "$2:$3" "$dest"
        chmod "$4" "$dest"
    fi
}
install_file /etc/nginx/sites-available/notes.conf root root 0644 65a0ea1aebcf41122351d340755a7f8c33afd8f02f906dcc823a2edf98c4545b nginx
install_file /etc/systemd/system/gunicorn-notes@.socket root root 0644 58a6350188db8bc3b0f1644ba403d5bcbcf5b602c35b0f64e4f86da63170ddd5 socket
install_file /etc/systemd/system/gunicorn-notes@.service root root 0644 4557be9e2cf8ef1ba671f556137311a97e5b66868194c7b79a89b232d25c7cd8 gunicorn-unit
install_file /etc/notes/gunicorn.conf.py root notes 0640 6601e53a2cc14bc4feb4f3d743f542d6db847777d393dfc54a5c180bfaf0388a gunicorn
install_file /etc/notes/app.env.base root root 0600 e03599214fa8b3078d3d0289348a57f3d693d662715e8a7e5bb71dc120a25b2b other
install_file /etc/logrotate.d/notes root root 0644 75be558e75bcbe5f87bef0f927bd996f4924e1ef4724212811add58d8488c955 other
install_file /etc/apt/apt.conf.d/21notes-auto-upgrades root root 0644 afaa75ff28c420fcc95b549503dad26e2ce45a851c8afa3294d7c7dedb68b8c2 other
install_file /usr/local/lib/notes/release root root 0755 d56a601d77f143fa1a456313ae071d33ade3a2a2f67c753821ba8eb6e7497f30 other
install_file /etc/systemd/system/celery-notes.service root root 0644 3863018b23d954f40ad4c59c2b92455a79081a0bcf093f7dc5fc914387eea342 units
install_file /etc/systemd/system/celerybeat-notes.service root root 0644 5163dd105e9645f4058d3886dc810955be87c84a5ca005cfb6f23964634ad830 units
install_file /etc/notes/postgresql.conf root root 0644 f66d106ee8740a25ef36ca4cc81d928ac2e9c066c540fec9a5cb3657114ba437 other
install_file /etc/notes/redis.conf root root 0644 b593ccf78f3a35708d987231b40f179bfda798dc08f199865529116c5a0cfa8d other
was_changed() { [[ "$changed" == *" $1 "* ]]; }

# ---- secrets --------------------------------------------------------------------------------------
# Each secret lives in $SECRETS/<NAME> (root, 0600). A value given in the environment wins and is
# stored; otherwise the stored one is kept; otherwise it is generated here (never in IaC state).
secret() { # NAME generator|"" -> prints the value
    local name=$1 generator=$2 file="$SECRETS/$1" value
    value="${!name:-}"
    if [[ -z "$value" && -s "$file" ]]; then
        value="$(cat "$file")"
    fi
    if [[ -z "$value" && -n "$generator" ]]; then
        value="$($generator)"
    fi
    [[ -n "$value" ]] || return 1
    # Env-file values are single-quoted: a quote or a line break could not round-trip.
    [[ "$value" != *"'"* && "$value" != *$'\n'* && "$value" != *$'\r'* ]] \
        || die "$name contains a quote or a line break, which the env file cannot carry"
    if [[ ! -s "$file" ]] || [[ "$(cat "$file")" != "$value" ]]; then
        (umask 077 && printf '%s' "$value" > "$file.tmp" && mv -f "$file.tmp" "$file")
    fi
    printf '%s' "$value"
}
gen_key() { openssl rand -base64 48 | tr -d '\n=' | tr '+/' '-_'; }
gen_password() { openssl rand -hex 24; }
url_safe() { [[ "$2" =~ ^[A-Za-z0-9._~-]+$ ]] || die "$1 may only use A-Z a-z 0-9 . _ ~ - (it goes into a URL)"; }

secret_key="$(secret SECRET_KEY gen_key)" || die "SECRET_KEY missing"
db_password="$(secret DB_PASSWORD gen_password)" || die "DB_PASSWORD missing"
url_safe DB_PASSWORD "$db_password"
database_url="postgres://app:${db_password}@127.0.0.1:5433/app?sslmode=disable"
redis_password="$(secret REDIS_PASSWORD gen_password)" || die "REDIS_PASSWORD missing"
url_safe REDIS_PASSWORD "$redis_password"
redis_url="redis://:${redis_password}@127.0.0.1:6380/0"

# ---- local PostgreSQL -----------------------------------------------------------------------------
# The app has a cluster of its own, notes (unit postgresql@<version>-notes), on port
# 5433: no other app's settings can move its port. The host's other clusters (main among them)
# are left as they are. The newest installed PostgreSQL creates it; an existing one keeps its version.
PG_CLUSTER=notes
pg_version=""
for pg_conf_file in /etc/postgresql/*/"$PG_CLUSTER"/postgresql.conf; do
    [[ -f "$pg_conf_file" ]] || continue
    pg_conf_file="${pg_conf_file#/etc/postgresql/}"
    pg_version="${pg_conf_file%%/*}"
done
if [[ -z "$pg_version" ]]; then
    pg_version="$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/initdb' -printf '%P\n' 2>/dev/null \
        | cut -d/ -f1 | sort -V | tail -n 1)"
    [[ -n "$pg_version" ]] || die "no PostgreSQL server is installed (no initdb under /usr/lib/postgresql)"
fi
pg_unit="postgresql@$pg_version-$PG_CLUSTER.service"
pg_etc="/etc/postgresql/$pg_version/$PG_CLUSTER"
pg_app() { runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p 5433 "$@"; }
pg_ready() { # port: wait up to 30 s for the server on 127.0.0.1:<port>
    for _ in $(seq 1 30); do
        pg_isready -q -h 127.0.0.1 -p "$1" && return 0
        sleep 1
    done
    pg_isready -q -h 127.0.0.1 -p "$1"
}
# pg_table_counts <psql command...>: "<schema>.<table> <rows>" for every table of app, sorted.
pg_table_counts() {
    "$@" -X -At -v ON_ERROR_STOP=1 -d app <<'SQL'
SELECT format('SELECT %L || '' '' || count(*) FROM %I.%I', n.nspname || '.' || c.relname, n.nspname, c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname NOT LIKE 'pg\_toast%'
ORDER BY 1 \gexec
SQL
}
pg_create_cluster() { # lc_collate lc_ctype: a new cluster on the app's port (not started)
    pg_createcluster --port 5433 --encoding UTF8 --lc-collate "$1" --lc-ctype "$2" --start-conf auto \
        "$pg_version" "$PG_CLUSTER" -- --auth-host=scram-sha-256 --auth-local=peer >/dev/null || return 1
    log "created the PostgreSQL cluster $pg_version/$PG_CLUSTER on port 5433 (collation $1)"
}
# The app's role and database (the password travels on stdin, never on a command line).
pg_role_and_database() {
    pg_app -d postgres <<SQL || return 1
DO \$\$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'app') THEN
        CREATE ROLE app LOGIN;
    END IF;
END
\$\$;
ALTER ROLE app WITH LOGIN PASSWORD '${db_password}';
ALTER ROLE app SET client_encoding TO 'utf8';
ALTER ROLE app SET default_transaction_isolation TO 'read committed';
ALTER ROLE app SET timezone TO 'UTC';
SQL
    if [[ "$(runuser -u postgres -- psql -X -tA -p 5433 -d postgres \
            -c "SELECT 1 FROM pg_database WHERE datname = 'app'")" != 1 ]]; then
        pg_app -d postgres -c "CREATE DATABASE app OWNER app ENCODING 'UTF8' TEMPLATE template0" \
            || return 1
        log "created database app"
    fi
    pg_app -d postgres <<'SQL' || return 1
ALTER DATABASE app OWNER TO app;
REVOKE CONNECT ON DATABASE app FROM PUBLIC;
GRANT CONNECT ON DATABASE app TO app;
SQL
}
pg_settings() { # install the app's settings into its cluster; prints "changed" when they changed
    if [[ ! -f "$pg_etc/conf.d/50-djangostack.conf" ]] || ! cmp -s /etc/notes/postgresql.conf "$pg_etc/conf.d/50-djangostack.conf"; then
        install -d -o postgres -g postgres -m 0755 "$pg_etc/conf.d"
        install -o postgres -g postgres -m 0644 /etc/notes/postgresql.conf "$pg_etc/conf.d/50-djangostack.conf"
        echo changed
    fi
}

# The app's port must not be another cluster's. A cluster that starts by itself (start.conf auto)
# on it: the distribution's default main cluster without databases of its own (created by the
# package on 5432, the default database.port) is stopped and set to start.conf manual, its files
# unchanged; any other is an error, before anything is created.
pg_port_is_free() { # [a cluster not to look at]
    local version cluster port data
    while read -r version cluster port _ _ data _; do
        [[ "$port" == 5433 && "$cluster" != "$PG_CLUSTER" && "$cluster" != "${1:-}" ]] || continue
        [[ "$(cat "/etc/postgresql/$version/$cluster/start.conf" 2>/dev/null || true)" == auto ]] || continue
        if [[ "$cluster" == main && "$(find "$data/base" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | wc -l)" -le 3 ]]; then
            systemctl stop "postgresql@$version-main" || true
            printf 'manual\n' > "/etc/postgresql/$version/main/start.conf"
            log "the host's PostgreSQL cluster $version/main (no databases of its own) was set to port 5433, this app's: stopped, start.conf manual, its files unchanged"
        else
            die "database.port 5433 is the port of the host's PostgreSQL cluster $version/$cluster, which holds databases: choose another database.port (nothing was changed)"
        fi
    done < <(pg_lsclusters --no-header 2>/dev/null || true)
}

# The old layout kept the app's database in the host's main cluster, with a drop-in there that set
# the port (the last app's drop-in won the port for every app): move the database into the app's
# own cluster. The app's services stop, the database is dumped (root-only, into the app's backups),
# the drop-in goes and main restarts on its own port, which frees the app's port; then the app's
# cluster is created on it, the dump restored and every table's row count compared with main's.
# The copy in main is never changed. A failure puts the old layout back (the app serves from main
# again); a move cut short is started again by the next run (the drop-in waits as *.moving).
pg_legacy_version=""
for pg_conf_file in /etc/postgresql/*/main/conf.d/50-"$APP".conf /etc/postgresql/*/main/conf.d/50-"$APP".conf.moving; do
    [[ -f "$pg_conf_file" ]] || continue
    pg_conf_file="${pg_conf_file#/etc/postgresql/}"
    pg_legacy_version="${pg_conf_file%%/*}"
done
if [[ -n "$pg_legacy_version" ]]; then
    pg_legacy="/etc/postgresql/$pg_legacy_version/main/conf.d/50-$APP.conf"
    pg_main=(runuser -u postgres -- psql --cluster "$pg_legacy_version/main")
    pg_move_created=""
    pg_move_parked=""
    pg_move_dump=""
    pg_move_stopped=()
    pg_move_failed() { # message: the old layout back, the app's services running again, exit 1
        log "moving the database failed: $1; putting the old layout back (the database stays in $pg_legacy_version/main)"
        if [[ -n "$pg_move_created" ]]; then
            pg_dropcluster --stop "$pg_version" "$PG_CLUSTER" || log "WARNING: could not drop the half-made cluster $pg_version/$PG_CLUSTER"
        fi
        [[ ! -f "$pg_legacy.moving" ]] || mv -f "$pg_legacy.moving" "$pg_legacy"
        if [[ -n "$pg_move_parked" ]]; then
            printf 'auto\n' > "/etc/postgresql/$pg_legacy_version/main/start.conf"
        fi
        systemctl restart "postgresql@$pg_legacy_version-main" || true
        if [[ -n "${pg_move_stopped[*]:-}" ]]; then
            systemctl start "${pg_move_stopped[@]}" || true
        fi
        die "$1${pg_move_dump:+ (the dump: $pg_move_dump)}"
    }
    if [[ -f "$pg_legacy.moving" ]]; then
        # A run that stopped half-way: its cluster may be incomplete; main still holds the original.
        log "a move of the database into its own cluster was cut short: starting it again from $pg_legacy_version/main"
        if [[ -f "$pg_etc/postgresql.conf" ]]; then
            pg_dropcluster --stop "$pg_version" "$PG_CLUSTER" || die "could not drop the incomplete cluster $pg_version/$PG_CLUSTER"
        fi
        mv -f "$pg_legacy.moving" "$pg_legacy"
        systemctl restart "postgresql@$pg_legacy_version-main" || true
    elif [[ -f "$pg_etc/postgresql.conf" ]]; then
        die "the database of $APP is in PostgreSQL $pg_legacy_version/main ($pg_legacy) while its own cluster $pg_version/$PG_CLUSTER exists too; move one of them aside (nothing was changed)"
    fi
    pg_port_is_free main # main is the one the move frees the port of
    log "moving the database app from PostgreSQL $pg_legacy_version/main into its own cluster $pg_version/$PG_CLUSTER"
    for unit in gunicorn-notes.socket gunicorn-notes.service celery-notes.service celerybeat-notes.service; do
        if systemctl is-active --quiet "$unit"; then
            pg_move_stopped+=("$unit")
        fi
    done
    if [[ -n "${pg_move_stopped[*]:-}" ]]; then
        systemctl stop "${pg_move_stopped[@]}"
    fi
    systemctl start "postgresql@$pg_legacy_version-main" || pg_move_failed "PostgreSQL $pg_legacy_version/main does not start"
    for _ in $(seq 1 30); do
        "${pg_main[@]}" -X -Atc 'SELECT 1' -d postgres >/dev/null 2>&1 && break
        sleep 1
    done
    # The database keeps its collation (the order of its text indexes).
    pg_locale="$("${pg_main[@]}" -X -At -F ' ' -d postgres \
        -c "SELECT datcollate, datctype FROM pg_database WHERE datname = 'app'")" \
        || pg_move_failed "PostgreSQL $pg_legacy_version/main does not answer"
    if [[ -n "$pg_locale" ]]; then
        pg_move_dump="/srv/notes/shared/backups/move-from-main-$(date -u +%Y%m%dT%H%M%SZ).dump"
        (umask 077 && runuser -u postgres -- pg_dump --cluster "$pg_legacy_version/main" -Fc -d app > "$pg_move_dump") \
            || pg_move_failed "pg_dump of app in $pg_legacy_version/main failed"
        pg_counts_main="$(pg_table_counts "${pg_main[@]}")" || pg_move_failed "could not count the rows in $pg_legacy_version/main"
    else
        pg_locale="C.UTF-8 C.UTF-8"
        log "no database app in $pg_legacy_version/main: nothing to move"
    fi
    mv -f "$pg_legacy" "$pg_legacy.moving"
    if [[ "$(pg_lsclusters --no-header "$pg_legacy_version" main 2>/dev/null | awk '{print $3}')" == 5433 ]]; then
        # main's own port is the app's: it cannot keep it. It stays stopped (start.conf manual).
        systemctl stop "postgresql@$pg_legacy_version-main" || true
        printf 'manual\n' > "/etc/postgresql/$pg_legacy_version/main/start.conf"
        pg_move_parked=1
        log "PostgreSQL $pg_legacy_version/main is set to port 5433 itself: it stays stopped (start.conf manual), its data unchanged; give it another port to start it again"
    else
        systemctl restart "postgresql@$pg_legacy_version-main" \
            || log "WARNING: PostgreSQL $pg_legacy_version/main did not restart on its own port (its data is unchanged)"
    fi
    pg_create_cluster "${pg_locale% *}" "${pg_locale#* }" || pg_move_failed "pg_createcluster $pg_version $PG_CLUSTER failed"
    pg_move_created=1
    pg_settings >/dev/null
    systemctl restart "$pg_unit" || pg_move_failed "$pg_unit does not start"
    pg_ready 5433 || pg_move_failed "the new cluster does not answer on port 5433 (is the port free?)"
    pg_role_and_database || pg_move_failed "could not create the role and database in $pg_version/$PG_CLUSTER"
    if [[ -n "$pg_move_dump" ]]; then
        runuser -u postgres -- pg_restore --cluster "$pg_version/$PG_CLUSTER" --exit-on-error --single-transaction \
            -d app < "$pg_move_dump" || pg_move_failed "pg_restore into $pg_version/$PG_CLUSTER failed"
        pg_counts_new="$(pg_table_counts runuser -u postgres -- psql -p 5433)" \
            || pg_move_failed "could not count the rows in $pg_version/$PG_CLUSTER"
        [[ "$pg_counts_new" == "$pg_counts_main" ]] \
            || pg_move_failed "the restored tables or row counts differ from $pg_legacy_version/main"
    fi
    rm -f "$pg_legacy.moving"
    if [[ -n "$pg_move_dump" ]]; then
        log "moved the database app ($(printf '%s\n' "$pg_counts_new" | grep -c . || true) tables, row counts checked) into its own cluster $pg_version/$PG_CLUSTER on port 5433; the dump is $pg_move_dump"
        log "the old copy of app in PostgreSQL $pg_legacy_version/main is left untouched: drop it there by hand once the app is checked"
    fi
    # The app's services start again below, once its Redis and units are in place.
fi

pg_port_is_free
if [[ ! -f "$pg_etc/postgresql.conf" ]]; then
    pg_create_cluster C.UTF-8 C.UTF-8 || die "pg_createcluster $pg_version $PG_CLUSTER failed"
fi
# start.conf auto: started at boot with the others (a destroy that kept the data set it to manual).
if [[ "$(cat "$pg_etc/start.conf" 2>/dev/null || true)" != auto ]]; then
    printf 'auto\n' > "$pg_etc/start.conf"
fi
systemctl enable --quiet postgresql
if [[ -n "$(pg_settings)" ]]; then
    systemctl restart "$pg_unit"
    log "PostgreSQL $pg_version/$PG_CLUSTER configured on port 5433"
else
    systemctl start "$pg_unit"
fi
pg_ready 5433 || die "PostgreSQL $pg_version/$PG_CLUSTER does not answer on port 5433 (see journalctl -u $pg_unit)"
pg_role_and_database || die "could not create the role app and database app"

# ---- local Redis ----------------------------------------------------------------------------------
# The app's own Redis instance, redis-server@notes.service: its complete configuration is /etc/redis/redis-notes.conf,
# its data /var/lib/redis/notes. The host's default redis-server is left as it is.
redis_conf=/etc/redis/redis-notes.conf
if [[ -f /etc/redis/redis.conf ]] && grep -qxF "include $redis_conf" /etc/redis/redis.conf; then
    # The old layout: these settings were included into the host's redis-server (the last include
    # won the port and password for every app). Take them out; that server returns to its own port.
    sed -i -e "\\#^include $redis_conf\$#d" -e "/^# $APP (added by its bootstrap; later directives win)\$/d" \
        /etc/redis/redis.conf
    rm -f "$redis_conf"
    systemctl try-restart redis-server || log "WARNING: the host's redis-server did not restart"
    log "Redis of $APP moved from the host's redis-server into redis-server@notes.service (the old server's keys stay in it)"
fi
# The host's default redis-server set to this app's port (the package's 6379 is the default
# cache.port), with no other app's include: it cannot keep the port. Stopped and disabled; its data
# in /var/lib/redis stays.
redis_default_port="$(sed -n 's/^port[[:space:]]\{1,\}\([0-9]\{1,\}\).*/\1/p' /etc/redis/redis.conf 2>/dev/null | tail -n 1)"
if [[ "$redis_default_port" == 6380 ]] && ! grep -q '^include ' /etc/redis/redis.conf \
    && { systemctl is-enabled --quiet redis-server 2>/dev/null || systemctl is-active --quiet redis-server; }; then
    systemctl disable --now --quiet redis-server
    log "the host's redis-server was set to port 6380, this app's: stopped and disabled (its data in /var/lib/redis stays)"
fi
install -d -o redis -g redis -m 0750 /var/lib/redis/notes
redis_new="$(mktemp)"
{ cat /etc/notes/redis.conf; printf 'requirepass %s\n' "$redis_password"; } > "$redis_new"
if [[ ! -f "$redis_conf" ]] || ! cmp -s "$redis_new" "$redis_conf"; then
    install -o redis -g redis -m 0640 "$redis_new" "$redis_conf"
    redis_restart=1
fi
rm -f "$redis_new"
systemctl enable --quiet redis-server@notes.service
if [[ -n "${redis_restart:-}" ]]; then
    systemctl restart redis-server@notes.service \
        || die "redis-server@notes.service does not start on port 6380 (is the port taken? see journalctl -u redis-server@notes.service)"
    log "Redis configured on 127.0.0.1:6380 (redis-server@notes.service)"
else
    systemctl start redis-server@notes.service \
        || die "redis-server@notes.service does not start on port 6380 (is the port taken? see journalctl -u redis-server@notes.service)"
fi

# ---- the app's environment file -------------------------------------------------------------------
# Non-secret part rendered as /etc/notes/app.env.base; secrets appended here. Same quoting as the
# rendered part: KEY='value', which bash (`set -a; . file`) and systemd's EnvironmentFile read alike.
env_line() { printf "%s='%s'\n" "$1" "$2"; }
env_new="$(mktemp /etc/notes/.app.env.XXXXXX)"
{
    cat /etc/notes/app.env.base
    printf '\n# Secrets, assembled on the host by bootstrap.\n'
    env_line SECRET_KEY "$secret_key"
    env_line DATABASE_URL "$database_url"
    env_line REDIS_URL "$redis_url"
} > "$env_new"
# root-owned, readable by the app's group: systemd and the release script read it, the app user
# cannot change what root reads.
chown "root:$APP_GROUP" "$env_new"
chmod 0640 "$env_new"
if [[ ! -f /etc/notes/app.env ]] || ! cmp -s "$env_new" /etc/notes/app.env; then
    mv -f "$env_new" /etc/notes/app.env
    changed+="env "
    log "wrote /etc/notes/app.env"
else
    rm -f "$env_new"
    chown "root:$APP_GROUP" /etc/notes/app.env
    chmod 0640 /etc/notes/app.env
fi

# ---- TLS ------------------------------------------------------------------------------------------
self_signed() { # cert key cn san
    openssl req -x509 -newkey rsa:2048 -sha256 -nodes -days 825 -subj "/CN=$3" \
        -addext "subjectAltName=$4" -keyout "$2.tmp" -out "$1.tmp" 2>/dev/null
    chmod 0600 "$2.tmp"
    chmod 0644 "$1.tmp"
    mv -f "$2.tmp" "$2"
    mv -f "$1.tmp" "$1"
}
if [[ ! -s /etc/notes/tls/reject-fullchain.pem || ! -s /etc/notes/tls/reject-privkey.pem ]]; then
    self_signed /etc/notes/tls/reject-fullchain.pem /etc/notes/tls/reject-privkey.pem invalid DNS:invalid
    changed+="tls "
fi
# The site always has a certificate, so Nginx can start and serve ACME challenges; with Let's
# Encrypt the certbot deploy hook later points these two paths at the issued certificate.
if [[ ! -s /etc/notes/tls/fullchain.pem || ! -s /etc/notes/tls/privkey.pem ]]; then
    self_signed /etc/notes/tls/fullchain.pem /etc/notes/tls/privkey.pem 127.0.0.1 'IP:127.0.0.1'
    log "generated a self-signed certificate for 127.0.0.1"
    changed+="tls "
fi

# ---- Nginx ----------------------------------------------------------------------------------------
# Nginx connects to /srv/notes/colors/live.sock, a link the release script points at the live Gunicorn's
# socket. A host set up before the two Gunicorn colors serves from /run/gunicorn-notes/gunicorn.sock: the link
# points there until the restart below replaces that Gunicorn, side by side.
if [[ ! -L /srv/notes/colors/live.sock ]] && systemctl --quiet is-active gunicorn-notes.service 2>/dev/null; then
    ln -sfn /run/gunicorn-notes/gunicorn.sock /srv/notes/colors/live.sock
fi
if [[ -e /etc/nginx/sites-enabled/default || -L /etc/nginx/sites-enabled/default ]]; then
    rm -f /etc/nginx/sites-enabled/default
    changed+="nginx "
fi
if [[ "$(readlink /etc/nginx/sites-enabled/notes.conf || true)" != /etc/nginx/sites-available/notes.conf ]]; then
    ln -sfn /etc/nginx/sites-available/notes.conf /etc/nginx/sites-enabled/notes.conf
    changed+="nginx "
fi
nginx -t -q || die "nginx -t rejected the configuration"
systemctl enable --quiet nginx
# Reloaded only when its configuration or a certificate changed: a reload closes the clients' idle
# keep-alive connections, and a client that sends its next request at that moment sees it fail.
if was_changed nginx || was_changed tls || ! systemctl --quiet is-active nginx; then
    systemctl reload-or-restart nginx
fi

# ---- firewall and SSH -----------------------------------------------------------------------------
log "host firewall off (firewall: false, or security groups)"

# ---- systemd units --------------------------------------------------------------------------------
systemctl daemon-reload
systemctl enable --quiet celery-notes.service celerybeat-notes.service
# Gunicorn runs as gunicorn-notes@blue or @green; the release script enables the live one.
legacy_units=()
for unit in gunicorn-notes.socket gunicorn-notes.service; do
    if [[ -f /etc/systemd/system/$unit ]]; then legacy_units+=("$unit"); fi
done
live_color="$(readlink /srv/notes/colors/live.sock || true)"
live_color="${live_color##*/}"
live_color="${live_color%.sock}"
if [[ -x /srv/notes/current/.venv/bin/gunicorn ]]; then
    # A release is live. Whatever changes what Gunicorn runs with (its units, gunicorn.conf.py, the
    # environment) goes through the overlap: the idle color starts with it next to the live one and
    # is switched to only once healthy, so a bad value never reaches the live site.
    if [[ -n "${legacy_units[*]:-}" ]] || was_changed socket || was_changed gunicorn-unit \
        || was_changed env || was_changed gunicorn || [[ "$live_color" != blue && "$live_color" != green ]]; then
        /usr/local/lib/notes/release restart \
            || die "Gunicorn did not start healthy with the new settings; the live one keeps serving (the output above says why)"
        restarted=1
    else
        systemctl start "gunicorn-notes@$live_color.socket" "gunicorn-notes@$live_color.service"
    fi
    if [[ -n "${restarted:-}" ]]; then
        : # the restart above restarted Celery too
    elif was_changed units || was_changed env; then
        systemctl restart celery-notes.service celerybeat-notes.service
        log "restarted celery-notes.service celerybeat-notes.service"
    else
        systemctl start celery-notes.service celerybeat-notes.service
    fi
else
    log "no release yet: Gunicorn starts with the first release"
fi
if [[ -n "${legacy_units[*]:-}" ]]; then
    # The single Gunicorn of before the colors: stopped by the overlap above (or never started).
    systemctl disable --now --quiet "${legacy_units[@]}" 2>/dev/null || true
    for unit in "${legacy_units[@]}"; do rm -f "/etc/systemd/system/$unit"; done
    systemctl daemon-reload
    log "replaced ${legacy_units[*]} by gunicorn-notes@blue/@green"
fi

# ---- Let's Encrypt --------------------------------------------------------------------------------
log "done"
