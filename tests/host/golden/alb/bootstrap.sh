#!/usr/bin/env bash
# Bootstrap of a api host (staging). Rendered by components.host; do not edit.
#
# Idempotent: it runs on first boot (cloud-init) and again over SSH whenever its content changes
# (the content embeds the sha256 of every staged file, so any rendered change re-runs it).
# It installs packages, creates the app user and directories, configures local PostgreSQL and
# Redis, generates missing secrets on the host, assembles /etc/api/app.env, installs every staged
# file from /usr/local/lib/api/staged, sets up TLS and Nginx, and enables the systemd units.
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

APP=api
APP_USER=api
APP_GROUP=api
WEB_GROUP=www-data
STAGING=/usr/local/lib/api/staged
SECRETS=/etc/api/secrets

log() { printf '[bootstrap %s] %s\n' "$APP" "$*"; }
die() { printf '[bootstrap %s] ERROR: %s\n' "$APP" "$*" >&2; exit 1; }

[[ ${EUID} -eq 0 ]] || die "run as root (sudo)"
command -v systemctl >/dev/null || die "systemd is required"

# ---- host OS ------------------------------------------------------------------------------------
# The stack chose Ubuntu 24.04 (noble): its package names, Python 3.12 and PostgreSQL 16.
os_field() { sed -n "s/^$1=//p" /etc/os-release 2>/dev/null | tr -d '"' | head -n 1; }
os_seen="$(os_field ID)-$(os_field VERSION_ID)"
if [[ "$os_seen" != ubuntu-24.04 ]]; then
    die "this host runs $(os_field PRETTY_NAME || true) ($os_seen), but the stack is rendered for Ubuntu 24.04 (noble) (target.os ubuntu-24.04); set target.os to match the host"
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
    postgresql-client
    procps
    python3
    python3-certbot-nginx
    python3-dev
    python3-venv
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
        || die "apt-get could not install: ${missing[*]} (on Ubuntu, nginx, redis-server, certbot and fail2ban come from the universe component: enable it in /etc/apt/sources.list*)"
    rm -f /usr/sbin/policy-rc.d
    trap - EXIT
fi

# ---- uv (builds every release's venv) ----------------------------------------------------------
# Pinned, from PyPI, into a venv of its own (root-owned); the release script runs it as the app user.
uv_wanted=0.13.9
if [[ "$(/usr/local/lib/api/uv/bin/uv --version 2>/dev/null | cut -d' ' -f2 || true)" != "$uv_wanted" ]]; then
    rm -rf /usr/local/lib/api/uv
    /usr/bin/python3 -m venv /usr/local/lib/api/uv
    PIP_DISABLE_PIP_VERSION_CHECK=1 /usr/local/lib/api/uv/bin/pip install --quiet --no-cache-dir "uv==$uv_wanted" \
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
    useradd --system --gid "$APP_GROUP" --home-dir /srv/api --no-create-home \
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
ensure_dir /srv/api root root 0755
ensure_dir /srv/api/releases root root 0755
ensure_dir /srv/api/colors root root 0755
ensure_dir /srv/api/shared root root 0755
ensure_dir /srv/api/shared/logs api api 2750
ensure_dir /srv/api/shared/backups root root 0700
ensure_dir /srv/api/shared/cache api api 0700
ensure_dir /srv/api/shared/incoming root root 0700
ensure_dir /srv/api/shared/venvs root root 0755
ensure_dir /etc/api root api 0750
ensure_dir /etc/api/secrets root root 0700
ensure_dir /etc/api/tls root root 0700
ensure_dir /usr/local/lib/api root root 0755
ensure_dir /var/www/certbot root root 0755
ensure_dir /srv/api/shared/media api api 0750

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
install_file /etc/nginx/sites-available/api.conf root root 0644 6157b7ad529f2ab9582d170032b243ae3af20812a36022387a2d49b8cd8c5f14 nginx
install_file /etc/systemd/system/gunicorn-api@.socket root root 0644 a81cad225234cac718715eba22878c75fd8b20864a29ef6e21c1901e743adcf8 socket
install_file /etc/systemd/system/gunicorn-api@.service root root 0644 a1a145598719a8b0e0df8a3c495d3586e56391cd370376f2b78e11f1beb46f8a gunicorn-unit
install_file /etc/api/gunicorn.conf.py root api 0640 9eb73bb81aa8c6e1a36547ebb787934e7fe8ee722c9f51a8e74241b2450ebec2 gunicorn
install_file /etc/api/app.env.base root root 0600 ae5bdea9dd4df6fe9d438564bfcea01030bc03a0b8ad30333ce286ff3daffedd other
install_file /etc/logrotate.d/api root root 0644 6e1fcf0337d12f958a8c40cd07441791dd6086420d968951a63fa5e734c5ccf5 other
install_file /etc/apt/apt.conf.d/21api-auto-upgrades root root 0644 afaa75ff28c420fcc95b549503dad26e2ce45a851c8afa3294d7c7dedb68b8c2 other
install_file /usr/local/lib/api/release root root 0755 bfe37d070ec452fc6f5c25c1f87ec37178c489f834e781383e7d84bef311f576 other
install_file /etc/systemd/system/celery-api.service root root 0644 36110c44713178644b60f42abbe831417220f8065ef81de5af84b5754c49c57f units
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
database_url="$(secret DATABASE_URL "")" \
    || die "DATABASE_URL is required (database.mode is managed): pass it in the environment"
redis_url="$(secret REDIS_URL "")" \
    || die "REDIS_URL is required (cache.mode is managed): pass it in the environment"

# ---- local PostgreSQL -----------------------------------------------------------------------------
log "database: managed (URL from the environment)"

# ---- local Redis ----------------------------------------------------------------------------------

# ---- the app's environment file -------------------------------------------------------------------
# Non-secret part rendered as /etc/api/app.env.base; secrets appended here. Same quoting as the
# rendered part: KEY='value', which bash (`set -a; . file`) and systemd's EnvironmentFile read alike.
env_line() { printf "%s='%s'\n" "$1" "$2"; }
env_new="$(mktemp /etc/api/.app.env.XXXXXX)"
{
    cat /etc/api/app.env.base
    printf '\n# Secrets, assembled on the host by bootstrap.\n'
    env_line SECRET_KEY "$secret_key"
    env_line DATABASE_URL "$database_url"
    env_line REDIS_URL "$redis_url"
} > "$env_new"
# root-owned, readable by the app's group: systemd and the release script read it, the app user
# cannot change what root reads.
chown "root:$APP_GROUP" "$env_new"
chmod 0640 "$env_new"
if [[ ! -f /etc/api/app.env ]] || ! cmp -s "$env_new" /etc/api/app.env; then
    mv -f "$env_new" /etc/api/app.env
    changed+="env "
    log "wrote /etc/api/app.env"
else
    rm -f "$env_new"
    chown "root:$APP_GROUP" /etc/api/app.env
    chmod 0640 /etc/api/app.env
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
if [[ ! -s /etc/api/tls/reject-fullchain.pem || ! -s /etc/api/tls/reject-privkey.pem ]]; then
    self_signed /etc/api/tls/reject-fullchain.pem /etc/api/tls/reject-privkey.pem invalid DNS:invalid
    changed+="tls "
fi

# ---- Nginx ----------------------------------------------------------------------------------------
# Nginx connects to /srv/api/colors/live.sock, a link the release script points at the live Gunicorn's
# socket. A host set up before the two Gunicorn colors serves from /run/gunicorn-api/gunicorn.sock: the link
# points there until the restart below replaces that Gunicorn, side by side.
if [[ ! -L /srv/api/colors/live.sock ]] && systemctl --quiet is-active gunicorn-api.service 2>/dev/null; then
    ln -sfn /run/gunicorn-api/gunicorn.sock /srv/api/colors/live.sock
fi
if [[ -e /etc/nginx/sites-enabled/default || -L /etc/nginx/sites-enabled/default ]]; then
    rm -f /etc/nginx/sites-enabled/default
    changed+="nginx "
fi
if [[ "$(readlink /etc/nginx/sites-enabled/api.conf || true)" != /etc/nginx/sites-available/api.conf ]]; then
    ln -sfn /etc/nginx/sites-available/api.conf /etc/nginx/sites-enabled/api.conf
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
if [[ -f /etc/systemd/system/celerybeat-api.service ]]; then
    systemctl disable --now --quiet celerybeat-api.service || true
    rm -f /etc/systemd/system/celerybeat-api.service
    systemctl daemon-reload
    log "removed celerybeat-api.service (disabled in the stack)"
fi
systemctl enable --quiet celery-api.service
# Gunicorn runs as gunicorn-api@blue or @green; the release script enables the live one.
legacy_units=()
for unit in gunicorn-api.socket gunicorn-api.service; do
    if [[ -f /etc/systemd/system/$unit ]]; then legacy_units+=("$unit"); fi
done
live_color="$(readlink /srv/api/colors/live.sock || true)"
live_color="${live_color##*/}"
live_color="${live_color%.sock}"
if [[ -x /srv/api/current/.venv/bin/gunicorn ]]; then
    # A release is live. Whatever changes what Gunicorn runs with (its units, gunicorn.conf.py, the
    # environment) goes through the overlap: the idle color starts with it next to the live one and
    # is switched to only once healthy, so a bad value never reaches the live site.
    if [[ -n "${legacy_units[*]:-}" ]] || was_changed socket || was_changed gunicorn-unit \
        || was_changed env || was_changed gunicorn || [[ "$live_color" != blue && "$live_color" != green ]]; then
        /usr/local/lib/api/release restart \
            || die "Gunicorn did not start healthy with the new settings; the live one keeps serving (the output above says why)"
        restarted=1
    else
        systemctl start "gunicorn-api@$live_color.socket" "gunicorn-api@$live_color.service"
    fi
    if [[ -n "${restarted:-}" ]]; then
        : # the restart above restarted Celery too
    elif was_changed units || was_changed env; then
        systemctl restart celery-api.service
        log "restarted celery-api.service"
    else
        systemctl start celery-api.service
    fi
else
    log "no release yet: Gunicorn starts with the first release"
fi
if [[ -n "${legacy_units[*]:-}" ]]; then
    # The single Gunicorn of before the colors: stopped by the overlap above (or never started).
    systemctl disable --now --quiet "${legacy_units[@]}" 2>/dev/null || true
    for unit in "${legacy_units[@]}"; do rm -f "/etc/systemd/system/$unit"; done
    systemctl daemon-reload
    log "replaced ${legacy_units[*]} by gunicorn-api@blue/@green"
fi

# ---- Let's Encrypt --------------------------------------------------------------------------------
log "done"
