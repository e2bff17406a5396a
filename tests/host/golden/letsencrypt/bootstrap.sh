#!/usr/bin/env bash
# Bootstrap of a shop host (prod). Rendered by components.host; do not edit.
#
# Idempotent: it runs on first boot (cloud-init) and again over SSH whenever its content changes
# (the content embeds the sha256 of every staged file, so any rendered change re-runs it).
# It installs packages, creates the app user and directories, configures local PostgreSQL and
# Redis, generates missing secrets on the host, assembles /etc/shop/app.env, installs every staged
# file from /usr/local/lib/shop/staged, sets up TLS and Nginx, and enables the systemd units.
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

APP=shop
APP_USER=shop
APP_GROUP=shop
WEB_GROUP=www-data
STAGING=/usr/local/lib/shop/staged
SECRETS=/etc/shop/secrets

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
    fail2ban
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
    redis-server
    rsync
    ssl-cert
    ufw
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
if [[ "$(/usr/local/lib/shop/uv/bin/uv --version 2>/dev/null | cut -d' ' -f2 || true)" != "$uv_wanted" ]]; then
    rm -rf /usr/local/lib/shop/uv
    /usr/bin/python3 -m venv /usr/local/lib/shop/uv
    PIP_DISABLE_PIP_VERSION_CHECK=1 /usr/local/lib/shop/uv/bin/pip install --quiet --no-cache-dir "uv==$uv_wanted" \
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
    useradd --system --gid "$APP_GROUP" --home-dir /srv/shop --no-create-home \
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
ensure_dir /srv/shop root root 0755
ensure_dir /srv/shop/releases root root 0755
ensure_dir /srv/shop/colors root root 0755
ensure_dir /srv/shop/shared root root 0755
ensure_dir /srv/shop/shared/logs shop shop 2750
ensure_dir /srv/shop/shared/backups root root 0700
ensure_dir /srv/shop/shared/cache shop shop 0700
ensure_dir /srv/shop/shared/incoming root root 0700
ensure_dir /srv/shop/shared/venvs root root 0755
ensure_dir /etc/shop root shop 0750
ensure_dir /etc/shop/secrets root root 0700
ensure_dir /etc/shop/tls root root 0700
ensure_dir /usr/local/lib/shop root root 0755
ensure_dir /var/www/certbot root root 0755
ensure_dir /srv/shop/shared/media shop www-data 2750

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
install_file /etc/nginx/sites-available/shop.conf root root 0644 d34e5afdcb4621e5a0365b72a2438309481b197bcea9aa5a86e51048cd071f78 nginx
install_file /etc/systemd/system/gunicorn-shop@.socket root root 0644 02198a206ebcfbf8833ba0c79ee104c2559a518e18aed495804b1664f2c878ed socket
install_file /etc/systemd/system/gunicorn-shop@.service root root 0644 7de1bc65b0817d55380a1c5213a2cc61cf53fb0fccda8f97177ac45e47bbec39 gunicorn-unit
install_file /etc/shop/gunicorn.conf.py root shop 0640 c1afcce84a7c91852a66a80573e48424b8bb97e720285d8142045702d80f3fa6 gunicorn
install_file /etc/shop/app.env.base root root 0600 feb4b27957400690867fb614fa6253a303346ca30db7cfcb849e70589d8fc8fc other
install_file /etc/logrotate.d/shop root root 0644 0ca5059e5335ee8a7ca2037f3014de041be4e4ee5e3164769873ddd3fd5e883a other
install_file /etc/apt/apt.conf.d/21shop-auto-upgrades root root 0644 afaa75ff28c420fcc95b549503dad26e2ce45a851c8afa3294d7c7dedb68b8c2 other
install_file /usr/local/lib/shop/release root root 0755 c55c22825397fe639c6e171eb8d8101f220b9b30ec91469a9af735c83176cdeb other
install_file /etc/shop/redis.conf root root 0644 7f8da0f5cb40b8701e5a2100ed7f1d09e2053f5ff1d0fac12f7f521946a210b5 other
install_file /etc/shop/sshd-hardening.conf root root 0644 7caa24b6ffd48dd8ca1051f8d4ec552db78c33a12d0cf4d1923b39daabe813ae other
install_file /etc/fail2ban/jail.d/shop.local root root 0644 8dd079ed93ba00e6ef5a1b653df79113f83924693e5a796dae5b6635bacb2913 other
install_file /usr/local/lib/shop/certbot-deploy-hook root root 0755 a544adc54be76bbdc4556d5d1923d4e99d9e4eb3f0b720c2972e75135cf9edda other
install_file /usr/local/lib/shop/certbot-issue root root 0755 1ffb3f348743057474bbc2964e80b062872fc75a87dc23511f5e51a86aa6c22e other
install_file /etc/systemd/system/certbot-retry-shop.service root root 0644 dbf395b5a366734b422d76c657bd90bf55556731112ce7c1f3e22b0abbee497a units
install_file /etc/systemd/system/certbot-retry-shop.timer root root 0644 0013176983fd610d0fd9269655bdfbf0d043cdb8298b51de49ea72d5ffd68f32 units
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
    || die "DATABASE_URL is required (database.mode is external): pass it in the environment"
redis_password="$(secret REDIS_PASSWORD gen_password)" || die "REDIS_PASSWORD missing"
url_safe REDIS_PASSWORD "$redis_password"
redis_url="redis://:${redis_password}@127.0.0.1:6379/0"
sentry_dsn="$(secret SENTRY_DSN "")" || die "SENTRY_DSN is required (observability.sentry is on)"

# ---- local PostgreSQL -----------------------------------------------------------------------------
log "database: external (URL from the environment)"

# ---- local Redis ----------------------------------------------------------------------------------
# The app's own Redis instance, redis-server@shop.service: its complete configuration is /etc/redis/redis-shop.conf,
# its data /var/lib/redis/shop. The host's default redis-server is left as it is.
redis_conf=/etc/redis/redis-shop.conf
if [[ -f /etc/redis/redis.conf ]] && grep -qxF "include $redis_conf" /etc/redis/redis.conf; then
    # The old layout: these settings were included into the host's redis-server (the last include
    # won the port and password for every app). Take them out; that server returns to its own port.
    sed -i -e "\\#^include $redis_conf\$#d" -e "/^# $APP (added by its bootstrap; later directives win)\$/d" \
        /etc/redis/redis.conf
    rm -f "$redis_conf"
    systemctl try-restart redis-server || log "WARNING: the host's redis-server did not restart"
    log "Redis of $APP moved from the host's redis-server into redis-server@shop.service (the old server's keys stay in it)"
fi
# The host's default redis-server set to this app's port (the package's 6379 is the default
# cache.port), with no other app's include: it cannot keep the port. Stopped and disabled; its data
# in /var/lib/redis stays.
redis_default_port="$(sed -n 's/^port[[:space:]]\{1,\}\([0-9]\{1,\}\).*/\1/p' /etc/redis/redis.conf 2>/dev/null | tail -n 1)"
if [[ "$redis_default_port" == 6379 ]] && ! grep -q '^include ' /etc/redis/redis.conf \
    && { systemctl is-enabled --quiet redis-server 2>/dev/null || systemctl is-active --quiet redis-server; }; then
    systemctl disable --now --quiet redis-server
    log "the host's redis-server was set to port 6379, this app's: stopped and disabled (its data in /var/lib/redis stays)"
fi
install -d -o redis -g redis -m 0750 /var/lib/redis/shop
redis_new="$(mktemp)"
{ cat /etc/shop/redis.conf; printf 'requirepass %s\n' "$redis_password"; } > "$redis_new"
if [[ ! -f "$redis_conf" ]] || ! cmp -s "$redis_new" "$redis_conf"; then
    install -o redis -g redis -m 0640 "$redis_new" "$redis_conf"
    redis_restart=1
fi
rm -f "$redis_new"
systemctl enable --quiet redis-server@shop.service
if [[ -n "${redis_restart:-}" ]]; then
    systemctl restart redis-server@shop.service \
        || die "redis-server@shop.service does not start on port 6379 (is the port taken? see journalctl -u redis-server@shop.service)"
    log "Redis configured on 127.0.0.1:6379 (redis-server@shop.service)"
else
    systemctl start redis-server@shop.service \
        || die "redis-server@shop.service does not start on port 6379 (is the port taken? see journalctl -u redis-server@shop.service)"
fi

# ---- the app's environment file -------------------------------------------------------------------
# Non-secret part rendered as /etc/shop/app.env.base; secrets appended here. Same quoting as the
# rendered part: KEY='value', which bash (`set -a; . file`) and systemd's EnvironmentFile read alike.
env_line() { printf "%s='%s'\n" "$1" "$2"; }
env_new="$(mktemp /etc/shop/.app.env.XXXXXX)"
{
    cat /etc/shop/app.env.base
    printf '\n# Secrets, assembled on the host by bootstrap.\n'
    env_line SECRET_KEY "$secret_key"
    env_line DATABASE_URL "$database_url"
    env_line REDIS_URL "$redis_url"
    env_line SENTRY_DSN "$sentry_dsn"
} > "$env_new"
# root-owned, readable by the app's group: systemd and the release script read it, the app user
# cannot change what root reads.
chown "root:$APP_GROUP" "$env_new"
chmod 0640 "$env_new"
if [[ ! -f /etc/shop/app.env ]] || ! cmp -s "$env_new" /etc/shop/app.env; then
    mv -f "$env_new" /etc/shop/app.env
    changed+="env "
    log "wrote /etc/shop/app.env"
else
    rm -f "$env_new"
    chown "root:$APP_GROUP" /etc/shop/app.env
    chmod 0640 /etc/shop/app.env
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
if [[ ! -s /etc/shop/tls/reject-fullchain.pem || ! -s /etc/shop/tls/reject-privkey.pem ]]; then
    self_signed /etc/shop/tls/reject-fullchain.pem /etc/shop/tls/reject-privkey.pem invalid DNS:invalid
    changed+="tls "
fi
# The site always has a certificate, so Nginx can start and serve ACME challenges; with Let's
# Encrypt the certbot deploy hook later points these two paths at the issued certificate.
if [[ ! -s /etc/shop/tls/fullchain.pem || ! -s /etc/shop/tls/privkey.pem ]]; then
    self_signed /etc/shop/tls/fullchain.pem /etc/shop/tls/privkey.pem shop.example.com 'DNS:shop.example.com,DNS:www.shop.example.com'
    log "generated a self-signed certificate for shop.example.com www.shop.example.com"
    changed+="tls "
fi

# ---- Nginx ----------------------------------------------------------------------------------------
# Nginx connects to /srv/shop/colors/live.sock, a link the release script points at the live Gunicorn's
# socket. A host set up before the two Gunicorn colors serves from /run/gunicorn-shop/gunicorn.sock: the link
# points there until the restart below replaces that Gunicorn, side by side.
if [[ ! -L /srv/shop/colors/live.sock ]] && systemctl --quiet is-active gunicorn-shop.service 2>/dev/null; then
    ln -sfn /run/gunicorn-shop/gunicorn.sock /srv/shop/colors/live.sock
fi
if [[ -e /etc/nginx/sites-enabled/default || -L /etc/nginx/sites-enabled/default ]]; then
    rm -f /etc/nginx/sites-enabled/default
    changed+="nginx "
fi
if [[ "$(readlink /etc/nginx/sites-enabled/shop.conf || true)" != /etc/nginx/sites-available/shop.conf ]]; then
    ln -sfn /etc/nginx/sites-available/shop.conf /etc/nginx/sites-enabled/shop.conf
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
ufw default deny incoming >/dev/null
ufw default allow outgoing >/dev/null
ufw allow 22/tcp >/dev/null
ufw allow 80/tcp >/dev/null
ufw allow 443/tcp >/dev/null
ufw --force enable >/dev/null
systemctl enable --quiet fail2ban
systemctl restart fail2ban
# Never lock the deploy user out: harden only when it has an authorized key.
if [[ -s ~deploy/.ssh/authorized_keys ]]; then
    install -o root -g root -m 0644 /etc/shop/sshd-hardening.conf /etc/ssh/sshd_config.d/50-$APP-hardening.conf
    if sshd -t; then
        systemctl reload ssh 2>/dev/null || systemctl reload sshd
    else
        rm -f /etc/ssh/sshd_config.d/50-$APP-hardening.conf
        die "sshd -t rejected the hardening drop-in; it was removed again"
    fi
else
    log "WARNING: ~deploy/.ssh/authorized_keys is empty; SSH hardening skipped"
fi

# ---- systemd units --------------------------------------------------------------------------------
systemctl daemon-reload
if [[ -f /etc/systemd/system/celery-shop.service ]]; then
    systemctl disable --now --quiet celery-shop.service || true
    rm -f /etc/systemd/system/celery-shop.service
    systemctl daemon-reload
    log "removed celery-shop.service (disabled in the stack)"
fi
if [[ -f /etc/systemd/system/celerybeat-shop.service ]]; then
    systemctl disable --now --quiet celerybeat-shop.service || true
    rm -f /etc/systemd/system/celerybeat-shop.service
    systemctl daemon-reload
    log "removed celerybeat-shop.service (disabled in the stack)"
fi
# Gunicorn runs as gunicorn-shop@blue or @green; the release script enables the live one.
legacy_units=()
for unit in gunicorn-shop.socket gunicorn-shop.service; do
    if [[ -f /etc/systemd/system/$unit ]]; then legacy_units+=("$unit"); fi
done
live_color="$(readlink /srv/shop/colors/live.sock || true)"
live_color="${live_color##*/}"
live_color="${live_color%.sock}"
if [[ -x /srv/shop/current/.venv/bin/gunicorn ]]; then
    # A release is live. Whatever changes what Gunicorn runs with (its units, gunicorn.conf.py, the
    # environment) goes through the overlap: the idle color starts with it next to the live one and
    # is switched to only once healthy, so a bad value never reaches the live site.
    if [[ -n "${legacy_units[*]:-}" ]] || was_changed socket || was_changed gunicorn-unit \
        || was_changed env || was_changed gunicorn || [[ "$live_color" != blue && "$live_color" != green ]]; then
        /usr/local/lib/shop/release restart \
            || die "Gunicorn did not start healthy with the new settings; the live one keeps serving (the output above says why)"
    else
        systemctl start "gunicorn-shop@$live_color.socket" "gunicorn-shop@$live_color.service"
    fi
else
    log "no release yet: Gunicorn starts with the first release"
fi
if [[ -n "${legacy_units[*]:-}" ]]; then
    # The single Gunicorn of before the colors: stopped by the overlap above (or never started).
    systemctl disable --now --quiet "${legacy_units[@]}" 2>/dev/null || true
    for unit in "${legacy_units[@]}"; do rm -f "/etc/systemd/system/$unit"; done
    systemctl daemon-reload
    log "replaced ${legacy_units[*]} by gunicorn-shop@blue/@green"
fi

# ---- Let's Encrypt --------------------------------------------------------------------------------
if [[ "${CERTBOT_SKIP:-}" == 1 ]]; then
    log "CERTBOT_SKIP=1: keeping the self-signed certificate"
else
    log "requesting a Let's Encrypt certificate for shop.example.com www.shop.example.com"
    # On a brand-new host DNS may not point here yet: a failure must not fail the host (cloud-init
    # would end in error). The site keeps its self-signed certificate and a timer retries.
    if /usr/local/lib/shop/certbot-issue; then
        systemctl disable --now --quiet certbot-retry-shop.timer 2>/dev/null || true
        systemctl enable --quiet certbot.timer 2>/dev/null || true
    else
        systemctl enable --now --quiet certbot-retry-shop.timer
        log "WARNING: certificate issuance failed: check that DNS for shop.example.com www.shop.example.com points \
here and port 80 is reachable. The site serves a self-signed certificate until \
certbot-retry-shop.timer (every 20 minutes) succeeds."
    fi
fi
log "done"
