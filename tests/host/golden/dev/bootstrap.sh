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
    die "this host runs $(os_field PRETTY_NAME || true) ($os_seen), but the stack is rendered for Debian 12 (bookworm) (host OS debian-12); set the stack's host OS to match the host"
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
install_file /etc/systemd/system/gunicorn-notes@.service root root 0644 20b8e53ecf333e1beb86c735a33f03bae679a44d6fa805453a3608e27b504c9d gunicorn-unit
install_file /etc/notes/gunicorn.conf.py root notes 0640 e7ccbfd53059d01b7d4f5dbd7fdea488cad7d6b8a0d34bedac4f10dd7c25447b gunicorn
install_file /etc/notes/app.env.base root root 0600 e03599214fa8b3078d3d0289348a57f3d693d662715e8a7e5bb71dc120a25b2b other
install_file /etc/logrotate.d/notes root root 0644 75be558e75bcbe5f87bef0f927bd996f4924e1ef4724212811add58d8488c955 other
install_file /etc/apt/apt.conf.d/21notes-auto-upgrades root root 0644 afaa75ff28c420fcc95b549503dad26e2ce45a851c8afa3294d7c7dedb68b8c2 other
install_file /usr/local/lib/notes/release root root 0755 7c458f84fbe279827f387b78a24cc0abd2e8e14ee95fa213e382e35393b520ac other
install_file /etc/systemd/system/celery-notes.service root root 0644 5539f424d2454d622ad4ebea57632bad0710bd9cb680e2c1c85db530ee73e77f units
install_file /etc/systemd/system/celerybeat-notes.service root root 0644 31580ee8617a8145537411ea41dd0a61a12226105949a06a5ef06e6042e61b43 units
install_file /etc/notes/postgresql.conf root root 0644 1bb3535a1e1e01a3b837392f01be5b2ab2d28ab9a884eaf1dbddd02b7b9542ed other
install_file /etc/notes/redis.conf root root 0644 f4f02881599ed43eb49c590967c15d1157de259dc223205481fd87bc77de4597 other
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
pg_version="$(find /etc/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort -V | tail -n 1)"
[[ -n "$pg_version" ]] || die "no PostgreSQL cluster found under /etc/postgresql"
pg_conf="/etc/postgresql/$pg_version/main/conf.d/50-$APP.conf"
mkdir -p "$(dirname "$pg_conf")"
if [[ ! -f "$pg_conf" ]] || ! cmp -s /etc/notes/postgresql.conf "$pg_conf"; then
    install -o postgres -g postgres -m 0644 /etc/notes/postgresql.conf "$pg_conf"
    systemctl enable --quiet postgresql
    systemctl restart "postgresql@$pg_version-main"
    log "PostgreSQL $pg_version configured on port 5433"
fi
systemctl enable --quiet postgresql
systemctl start "postgresql@$pg_version-main"
for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 -p 5433 && break
    sleep 1
done
pg_isready -q -h 127.0.0.1 -p 5433 || die "PostgreSQL does not answer on port 5433"
# The password travels on stdin, never on a command line.
runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p 5433 -d postgres <<SQL
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
    runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p 5433 -d postgres \
        -c "CREATE DATABASE app OWNER app ENCODING 'UTF8' TEMPLATE template0"
    log "created database app"
fi
runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p 5433 -d postgres <<'SQL'
ALTER DATABASE app OWNER TO app;
REVOKE CONNECT ON DATABASE app FROM PUBLIC;
GRANT CONNECT ON DATABASE app TO app;
SQL

# ---- local Redis ----------------------------------------------------------------------------------
redis_conf=/etc/redis/redis-$APP.conf
redis_new="$(mktemp)"
{ cat /etc/notes/redis.conf; printf 'requirepass %s\n' "$redis_password"; } > "$redis_new"
if [[ ! -f "$redis_conf" ]] || ! cmp -s "$redis_new" "$redis_conf"; then
    install -o redis -g redis -m 0640 "$redis_new" "$redis_conf"
    redis_restart=1
fi
rm -f "$redis_new"
if ! grep -qxF "include $redis_conf" /etc/redis/redis.conf; then
    printf '\n# %s (added by its bootstrap; later directives win)\ninclude %s\n' "$APP" "$redis_conf" \
        >> /etc/redis/redis.conf
    redis_restart=1
fi
systemctl enable --quiet redis-server
if [[ -n "${redis_restart:-}" ]]; then
    systemctl restart redis-server
    log "Redis configured on 127.0.0.1:6380"
else
    systemctl start redis-server
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
