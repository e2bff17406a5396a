"""HostContext: every fact a Linux host needs, derived once from the validated stack settings.

The host renderers (``djangostack.host.render``) read only this object, never ``StackSettings``, so
each rendered file depends on a small, flat, documented set of values. Two targets produce a host:

- ``server``: any Debian/Ubuntu machine reached over SSH. Ports and the firewall come from the
  target; PostgreSQL and Redis may run on the host; media lives on the host.
- ``aws-ec2``: Nginx + Gunicorn on EC2. Ports are 80/443, the firewall is the security group (ufw
  off), media is in S3, and the database and Redis are managed services whose URLs reach the host
  as environment at bootstrap/release time (never in user data). When an ALB terminates TLS
  (``domain.tls.mode: acm`` or more than one instance) Nginx listens on plain HTTP behind it.

Paths (``<app>`` is ``app.name``)::

    /srv/<app>/                      root:root 0755   base dir, traversable by Nginx
      releases/<id>/                 root:root 0755   code (read-only to the app), .venv, static/
      current -> releases/<id>                        switched atomically by the release script
      shared/media/                  <app>:www-data 2750  uploads (local media only)
      shared/logs/                   <app>:<app> 2750     file logs, rotated by logrotate
      shared/backups/                root:root 0700   pre-release pg_dump files
      shared/cache/                  <app>:<app> 0700 pip cache + wheelhouse (pip runs as <app>)
      shared/incoming/               root:root 0700   release archives: checked, unpacked (mktemp -d)
    /etc/<app>/                      root:<app> 0750  gunicorn.conf.py, app.env (0640 root:<app>)
      secrets/                       root:root 0700   host-generated secrets, one file each
      tls/                           root:root 0750   site certificate pair + the reject pair
    /usr/local/lib/<app>/            root:root 0755   bootstrap, release, staged host files
    /run/gunicorn-<app>/gunicorn.sock                 <app>:www-data 0660 (systemd socket unit)
    /var/lib/<app>/                                   StateDirectory (celery beat schedule)

Static files are per release (``releases/<id>/static``, ``STATIC_ROOT=/srv/<app>/current/static``)
so the manifest Django reads and the files Nginx serves always belong to the same release and a
rollback brings its own static files back.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal

from ..settings.stack import StackSettings
from ..settings.targets import AwsEc2Target, ServerTarget

TlsMode = Literal["letsencrypt", "self-signed", "load-balancer"]
"""How HTTPS is served: certbot certificate at Nginx, a host-generated self-signed certificate at
Nginx, or TLS terminated by a load balancer in front of Nginx (plain HTTP on the host)."""

WEB_GROUP = "www-data"
"""Nginx's group on Debian/Ubuntu: owns the Gunicorn socket and reads static and media files."""

PRIVATE_CIDRS: tuple[str, ...] = (
    "127.0.0.0/8",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "::1/128",
    "fc00::/7",
)
"""Sources allowed to call the readiness endpoint through Nginx (load balancers, monitoring)."""

PROXY_TIMEOUT_MARGIN_SECONDS = 30
"""Nginx waits this much longer than Gunicorn's worker timeout, so Gunicorn's timeout fires first
and the log shows WORKER TIMEOUT rather than a bare 504."""

_GUNICORN_WORKER_CLASSES = {
    "sync": "sync",
    "gthread": "gthread",
    "uvicorn": "uvicorn.workers.UvicornWorker",
}


@dataclass(frozen=True)
class HostContext:
    """Flat, immutable description of one host. Build it with ``HostContext.from_settings``."""

    # ---- identity -------------------------------------------------------------------------------
    app_name: str
    """``app.name``: unix user, /srv/<app>, /etc/<app>, unit name suffix."""
    environment: str
    """dev, staging or prod (SENTRY_ENVIRONMENT)."""
    target_kind: Literal["server", "aws-ec2"]
    user: str
    """The app's system user (nologin); owns media, logs, the env file."""
    group: str
    """The app user's own group (= ``user``); owns /etc/<app> and the log files."""
    web_group: str
    """Nginx's group (www-data): the runtime group of Gunicorn and Celery and of the socket."""

    # ---- filesystem -----------------------------------------------------------------------------
    base_dir: str
    releases_dir: str
    current_link: str
    shared_dir: str
    media_dir: str
    logs_dir: str
    backups_dir: str
    cache_dir: str
    """pip cache and wheelhouse, reused across releases so unchanged requirements cost seconds."""
    static_dir: str
    """``current/static``: STATIC_ROOT at run time and the Nginx /static/ alias."""
    config_dir: str
    env_file: str
    """Full environment file (0640 root:<app>), assembled on the host from ``env_base_file`` + secrets."""
    env_base_file: str
    """Non-secret environment rendered by ``render_env_file`` (0600 root)."""
    secrets_dir: str
    tls_dir: str
    cert_file: str
    """Certificate chain Nginx serves for the site (self-signed, or a symlink to the certbot lineage)."""
    key_file: str
    reject_cert_file: str
    """Throwaway self-signed pair of the default 443 server that rejects unknown Host headers."""
    reject_key_file: str
    gunicorn_conf: str
    lib_dir: str
    """Scripts and staged host files: /usr/local/lib/<app>."""
    bootstrap_path: str
    release_script: str
    certbot_hook: str
    staging_dir: str
    """Where rendered files are uploaded (or written by cloud-init) before bootstrap installs them."""
    lock_file: str
    state_dir: str
    """/var/lib/<app>: systemd StateDirectory, writable state such as the beat schedule."""
    acme_webroot: str
    nginx_site: str
    nginx_site_link: str

    # ---- systemd / gunicorn ---------------------------------------------------------------------
    runtime_dir_name: str
    """RuntimeDirectory= name (under /run)."""
    socket_path: str
    gunicorn_unit: str
    """Unit name without suffix: gunicorn-<app> (.socket and .service)."""
    celery_worker_unit: str
    celery_beat_unit: str
    wsgi_app: str
    """``module:attribute`` Gunicorn loads (the WSGI or ASGI callable)."""
    worker_class: str
    workers: int | None
    """Fixed worker count, or None: 2 x CPU + 1 computed on the host by gunicorn.conf.py."""
    threads: int
    timeout_seconds: int
    graceful_timeout_seconds: int
    keepalive_seconds: int
    max_requests: int
    max_requests_jitter: int
    backlog: int
    restart: str
    settings_module: str

    # ---- HTTP edge ------------------------------------------------------------------------------
    server_names: tuple[str, ...]
    """Exact Host names Nginx serves (domains, else the target host); anything else gets 444."""
    primary_host: str
    """First of ``server_names``: the Host header of the release health gate."""
    tls_mode: TlsMode
    letsencrypt_email: str | None
    http_port: int
    https_port: int
    """Public HTTPS port (in redirects and CSRF origins); Nginx listens on it unless behind an LB."""
    max_upload_mb: int
    static_cache_days: int
    hsts_seconds: int
    x_frame_options: str
    proxy_timeout_seconds: int
    """Nginx proxy_send/read_timeout: Gunicorn timeout + a margin, never below it."""
    health_path: str
    liveness_path: str
    private_cidrs: tuple[str, ...]
    trusted_proxy_cidrs: tuple[str, ...]
    """Load balancer mode: sources whose X-Forwarded-For/-Proto Nginx trusts (the VPC)."""
    listen_ipv6: bool
    """Also listen on [::]. On by default; ``dataclasses.replace`` it off for IPv6-less hosts."""

    # ---- host hardening -------------------------------------------------------------------------
    firewall: bool
    """ufw (OpenSSH + the HTTP/HTTPS ports) + fail2ban + the SSH hardening drop-in."""
    ssh_port: int
    ssh_user: str

    # ---- data services --------------------------------------------------------------------------
    database_mode: str
    local_postgres: bool
    db_name: str
    db_user: str
    db_port: int
    db_sslmode: str
    db_conn_max_age_seconds: int
    cache_mode: str
    local_redis: bool
    redis_port: int
    media_storage: str
    media_bucket: str | None
    aws_region: str | None

    # ---- celery ---------------------------------------------------------------------------------
    celery_worker: bool
    celery_beat: bool
    celery_app: str
    celery_concurrency: int
    celery_queues: tuple[str, ...]
    celery_stop_timeout_seconds: int

    # ---- operations -----------------------------------------------------------------------------
    backups_pre_release: bool
    backups_keep: int
    releases_to_keep: int
    log_retention_days: int
    log_level: str
    sentry: bool
    extra_env: tuple[tuple[str, str], ...]
    """``app.extraEnv`` as sorted pairs (a tuple keeps the dataclass hashable)."""
    stack_key: str = ""
    """``<project>-<stack>`` when known (the server target): the bootstrap records which app this
    stack installed, so a renamed ``app.name`` retires the old app's services, never its data."""

    @property
    def certbot_issue(self) -> str:
        """Script that asks Let's Encrypt for the certificate (bootstrap, then the retry timer)."""
        return f"{self.lib_dir}/certbot-issue"

    @property
    def certbot_retry_unit(self) -> str:
        """Unit name (no suffix) of the timer/service that retries a failed issuance."""
        return f"certbot-retry-{self.app_name}"

    @property
    def incoming_dir(self) -> str:
        """Root-only (0700): release archives are copied, checked and unpacked in here."""
        return f"{self.shared_dir}/incoming"

    @property
    def uses_letsencrypt(self) -> bool:
        return self.tls_mode == "letsencrypt"

    @property
    def nginx_terminates_tls(self) -> bool:
        return self.tls_mode != "load-balancer"

    @property
    def public_origin_port_suffix(self) -> str:
        """``:<port>`` when the public HTTPS port is not 443, else empty."""
        return "" if self.https_port == 443 else f":{self.https_port}"

    @property
    def needs_secret_database_url(self) -> bool:
        """DATABASE_URL must be supplied to bootstrap (external or managed database)."""
        return not self.local_postgres

    @property
    def needs_secret_redis_url(self) -> bool:
        return self.cache_mode in ("external", "managed")

    @classmethod
    def from_settings(
        cls,
        settings: StackSettings,
        *,
        public_hosts: list[str] | None = None,
        media_bucket: str | None = None,
    ) -> HostContext:
        """Derive the host description for the ``server`` or ``aws-ec2`` target.

        ``public_hosts``: extra hostnames or IPs the site answers to (an Elastic IP, a load
        balancer's DNS name) that only exist once resources are created; they are served next to
        ``domain.names``. ``media_bucket``: the S3 bucket's physical name (aws-ec2), when the
        stack does not fix ``media.bucketName``.
        """
        target = settings.target
        if not isinstance(target, (ServerTarget, AwsEc2Target)):
            raise ValueError(f"target kind {target.kind!r} has no Linux host to render files for")
        app = settings.app.name
        base = f"/srv/{app}"
        etc = f"/etc/{app}"
        lib = f"/usr/local/lib/{app}"
        runtime = f"gunicorn-{app}"

        names: list[str] = list(settings.domain.names)
        for host in public_hosts or []:
            if host not in names:
                names.append(host)
        tls_setting = settings.domain.tls.mode if settings.domain.tls else None
        if isinstance(target, ServerTarget):
            if target.host not in names and not settings.domain.names:
                names.append(target.host)
            http_port, https_port = target.http_port, target.https_port
            firewall, ssh_port, ssh_user = target.firewall, target.ssh_port, target.ssh_user
            releases_to_keep = target.releases_to_keep
            tls_mode: TlsMode = "letsencrypt" if tls_setting == "letsencrypt" else "self-signed"
            trusted: tuple[str, ...] = ()
            aws_region = None
        else:
            http_port, https_port = 80, 443
            firewall, ssh_port, ssh_user = False, 22, "ubuntu"
            releases_to_keep = target.releases_to_keep
            if tls_setting == "acm" or target.instances > 1:
                tls_mode = "load-balancer"
            elif tls_setting == "letsencrypt":
                tls_mode = "letsencrypt"
            else:
                tls_mode = "self-signed"
            reference = settings.network.reference
            trusted = (reference.cidr if reference and reference.cidr else settings.network.cidr,)
            aws_region = target.region
        if not names:
            raise ValueError(
                "the host has no public name: set domain.names, or pass public_hosts "
                "(the Elastic IP or load balancer DNS name)"
            )
        if tls_mode == "letsencrypt":
            bad = [n for n in names if is_ip_address(n)]
            if bad or not settings.domain.names:
                raise ValueError(
                    "letsencrypt issues certificates for DNS names only; "
                    f"remove {bad or names} or use domain.tls.mode self-signed"
                )

        web = settings.web
        interface_app = settings.app.asgi_module if settings.app.interface == "asgi" else settings.app.wsgi_module
        worker_class = "uvicorn" if settings.app.interface == "asgi" else web.worker_class
        hsts = web.hsts_seconds if web.hsts_seconds is not None else 0
        return cls(
            app_name=app,
            environment=settings.environment,
            target_kind=target.kind,
            user=app,
            group=app,
            web_group=WEB_GROUP,
            base_dir=base,
            releases_dir=f"{base}/releases",
            current_link=f"{base}/current",
            shared_dir=f"{base}/shared",
            media_dir=f"{base}/shared/media",
            logs_dir=f"{base}/shared/logs",
            backups_dir=f"{base}/shared/backups",
            cache_dir=f"{base}/shared/cache",
            static_dir=f"{base}/current/static",
            config_dir=etc,
            env_file=f"{etc}/app.env",
            env_base_file=f"{etc}/app.env.base",
            secrets_dir=f"{etc}/secrets",
            tls_dir=f"{etc}/tls",
            cert_file=f"{etc}/tls/fullchain.pem",
            key_file=f"{etc}/tls/privkey.pem",
            reject_cert_file=f"{etc}/tls/reject-fullchain.pem",
            reject_key_file=f"{etc}/tls/reject-privkey.pem",
            gunicorn_conf=f"{etc}/gunicorn.conf.py",
            lib_dir=lib,
            bootstrap_path=f"{lib}/bootstrap",
            release_script=f"{lib}/release",
            certbot_hook=f"{lib}/certbot-deploy-hook",
            staging_dir=f"{lib}/staged",
            lock_file=f"/run/lock/{app}-release.lock",
            state_dir=f"/var/lib/{app}",
            acme_webroot="/var/www/certbot",
            nginx_site=f"/etc/nginx/sites-available/{app}.conf",
            nginx_site_link=f"/etc/nginx/sites-enabled/{app}.conf",
            runtime_dir_name=runtime,
            socket_path=f"/run/{runtime}/gunicorn.sock",
            gunicorn_unit=runtime,
            celery_worker_unit=f"celery-{app}",
            celery_beat_unit=f"celerybeat-{app}",
            wsgi_app=interface_app,
            worker_class=_GUNICORN_WORKER_CLASSES[worker_class],
            workers=web.workers,
            threads=web.threads,
            timeout_seconds=web.timeout_seconds,
            graceful_timeout_seconds=web.graceful_timeout_seconds,
            keepalive_seconds=web.keepalive_seconds,
            max_requests=web.max_requests,
            max_requests_jitter=web.max_requests_jitter,
            backlog=web.backlog,
            restart=web.restart,
            settings_module=settings.app.settings_module,
            server_names=tuple(names),
            primary_host=names[0],
            tls_mode=tls_mode,
            letsencrypt_email=settings.domain.tls.email if settings.domain.tls else None,
            http_port=http_port,
            https_port=https_port,
            max_upload_mb=web.max_upload_mb,
            static_cache_days=web.static_cache_days,
            hsts_seconds=hsts,
            x_frame_options=web.x_frame_options,
            proxy_timeout_seconds=web.timeout_seconds + PROXY_TIMEOUT_MARGIN_SECONDS,
            health_path=settings.app.health_path,
            liveness_path=settings.app.liveness_path,
            private_cidrs=PRIVATE_CIDRS,
            trusted_proxy_cidrs=trusted,
            listen_ipv6=True,
            firewall=firewall,
            ssh_port=ssh_port,
            ssh_user=ssh_user,
            database_mode=settings.database.mode,
            local_postgres=settings.database.mode == "local",
            db_name=settings.database.name,
            db_user=settings.database.user,
            db_port=settings.database.port,
            db_sslmode=settings.database.sslmode,
            db_conn_max_age_seconds=settings.database.conn_max_age_seconds,
            cache_mode=settings.cache.mode,
            local_redis=settings.cache.mode == "local",
            redis_port=settings.cache.port,
            media_storage=settings.media.storage,
            media_bucket=media_bucket or settings.media.bucket_name,
            aws_region=aws_region,
            celery_worker=settings.celery.worker,
            celery_beat=settings.celery.beat,
            celery_app=settings.celery.app,
            celery_concurrency=settings.celery.concurrency,
            celery_queues=tuple(settings.celery.queues),
            celery_stop_timeout_seconds=600,
            backups_pre_release=settings.backups.pre_release,
            backups_keep=settings.backups.keep,
            releases_to_keep=releases_to_keep,
            log_retention_days=settings.observability.log_retention_days,
            log_level=settings.observability.log_level,
            sentry=settings.observability.sentry,
            extra_env=tuple(sorted(settings.app.extra_env.items())),
        )


def is_ip_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
