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
      releases/<id>/                 root:root 0755   code (read-only to the app), static/,
                                                      .venv: a link to the venv in shared/venvs/<deps hash>
      current -> releases/<id>                        switched atomically by the release script
      colors/                        root:root 0755   Gunicorn's two instances (blue, green):
        blue -> ../releases/<id>                      the release each one runs,
        live.sock -> /run/gunicorn-<app>/<color>.sock the one Nginx connects to (one rename switches it)
      shared/media/                  <app>:www-data 2750  uploads (local media only)
      shared/logs/                   <app>:<app> 2750     file logs, rotated by logrotate
      shared/backups/                root:root 0700   pre-release pg_dump files
      shared/cache/                  <app>:<app> 0700 uv's cache (uv runs as <app>)
      shared/venvs/<deps hash>/      root:root 0755   a venv, reused while the dependencies match
      shared/incoming/               root:root 0700   release archives: checked, unpacked (mktemp -d)
    /etc/<app>/                      root:<app> 0750  gunicorn.conf.py, app.env (0640 root:<app>)
      secrets/                       root:root 0700   host-generated secrets, one file each
      tls/                           root:root 0750   site certificate pair + the reject pair
    /usr/local/lib/<app>/            root:root 0755   bootstrap, release, staged host files
    /run/gunicorn-<app>/<color>.sock                  <app>:www-data 0660 (systemd socket unit gunicorn-<app>@<color>)
    /var/lib/<app>/                                   StateDirectory (celery beat schedule)

Static files are per release (``releases/<id>/static``, ``STATIC_ROOT=/srv/<app>/current/static``)
so the manifest Django reads and the files Nginx serves always belong to the same release and a
rollback brings its own static files back.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace
from typing import Literal

from ..settings.stack import StackSettings
from .distros import DEFAULT_OS, HostOs, host_os

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
class HostEdge:
    """What a target tells the host layer about the machine and what stands in front of Nginx.

    The host layer knows nothing of clouds: each target (``server``, ``aws-ec2``) builds one of
    these from its own settings and resources and hands it to ``HostContext.from_settings``.
    """

    kind: str
    """The target's name, for messages and the host's records (server, aws-ec2)."""
    tls_mode: TlsMode
    """Who terminates TLS: Nginx (letsencrypt, self-signed) or a load balancer in front of it."""
    http_port: int = 80
    https_port: int = 443
    """The public HTTPS port (redirects, CSRF origins, the Host the app sees)."""
    trusted_proxy_cidrs: tuple[str, ...] = ()
    """Load balancer mode: the sources whose X-Forwarded-For/-Proto Nginx trusts."""
    public_hosts: tuple[str, ...] = ()
    """Names or addresses served next to ``domain.names`` (an Elastic IP, a load balancer's DNS
    name, the server's address when the stack has no domain)."""
    firewall: bool = False
    """ufw + fail2ban + SSH hardening on the host (off where a security group is the firewall)."""
    ssh_port: int = 22
    ssh_user: str = "root"
    releases_to_keep: int = 5
    media_bucket: str | None = None
    """The bucket's physical name when media live in one."""
    region: str | None = None
    """The cloud region the app's SDK clients use (AWS_REGION), if any."""
    database_snapshots: bool = False
    """The database has the platform's own snapshots: a host pg_dump that cannot match the server's
    version is skipped with a warning instead of stopping the release."""
    beat_exec_prefix: str | None = None
    """A command the target puts in front of Celery beat's (one scheduler per fleet), if any."""
    host_os: str = DEFAULT_OS
    """The operating system the target's machines run (``components.host.distros``)."""


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
    """uv's cache (downloads and built wheels), reused across releases."""
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
    """The path Nginx connects to: a link to the live color's socket (see ``colors_dir``)."""
    gunicorn_unit: str
    """Unit name prefix: gunicorn-<app>, whose template units gunicorn-<app>@.socket and
    gunicorn-<app>@.service run the instances gunicorn-<app>@blue and gunicorn-<app>@green."""
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
    traces_sample_rate: float = 0.0
    """``observability.tracesSampleRate`` (SENTRY_TRACES_SAMPLE_RATE)."""
    env_names: tuple[tuple[str, str], ...] = ()
    """``app.envNames`` as sorted pairs: contract name -> the name the app reads."""
    static_subdir: str = "static"
    """``app.staticRoot``: where in the release collectstatic writes (``static_dir`` is
    ``current/<static_subdir>``). An app that fixes STATIC_ROOT in its code names that folder here."""
    media_subdir: str | None = None
    """``app.mediaRoot``: a folder in the release where the app's code fixes MEDIA_ROOT. The release
    makes it a link to ``media_dir`` (the read-only release never receives uploads); files the
    source ships there are copied into ``media_dir`` once (existing uploads are never replaced)."""
    adapt_settings: bool = False
    """``app.adaptSettings``: DJANGO_SETTINGS_MODULE is the settings adapter each release gets
    (``render.settings_adapter_source``), which imports ``settings_module`` and sets what the host
    provides; the venv gets a PostgreSQL driver when the app brings none."""
    deploy_check_fail_level: str = "WARNING"
    """``app.deployCheck.failLevel``: the release stops on ``check --deploy`` messages of this level or above."""
    deploy_check_silence: tuple[str, ...] = ()
    """``app.deployCheck.silence``: check ids (``security.W005``) added to SILENCED_SYSTEM_CHECKS for the check."""
    database_snapshots: bool = False
    """See ``HostEdge.database_snapshots``."""
    beat_exec_prefix: str | None = None
    """See ``HostEdge.beat_exec_prefix``."""
    stack_key: str = ""
    """``<project>-<stack>`` when known (the server target): the bootstrap records which app this
    stack installed, so a renamed ``app.name`` retires the old app's services, never its data."""

    # ---- host OS, Python and builds -------------------------------------------------------------
    host_os: str = DEFAULT_OS
    """``debian-12``, ``debian-13``, ``ubuntu-22.04`` or ``ubuntu-24.04`` (``components.host.distros``)."""
    python: str = "system"
    """``system`` (the distribution's python3) or ``3.N``: uv installs that CPython when the
    distribution ships another one."""
    system_packages: tuple[str, ...] = ()
    """Extra Debian/Ubuntu packages the app needs (``libjpeg-dev``, ``gettext``); validated names."""
    build_commands: tuple[tuple[str, ...], ...] = ()
    """Per-release build steps, each an argv run as the app user in the new release (venv first on
    PATH, the app's environment loaded) before ``check --deploy``; every word is shell-quoted."""

    @property
    def os_info(self) -> HostOs:
        return host_os(self.host_os)

    @property
    def python_version(self) -> str:
        """major.minor of the app's Python."""
        return self.os_info.python if self.python == "system" else self.python

    @property
    def managed_python(self) -> bool:
        """True when uv installs the app's CPython (the distribution ships another version)."""
        return self.python_version != self.os_info.python

    @property
    def uv_dir(self) -> str:
        """A venv holding the pinned uv (from PyPI), installed by the bootstrap."""
        return f"{self.lib_dir}/uv"

    @property
    def uv_bin(self) -> str:
        return f"{self.uv_dir}/bin/uv"

    @property
    def python_dir(self) -> str:
        """UV_PYTHON_INSTALL_DIR of a uv-managed CPython (root-owned, readable)."""
        return f"{self.lib_dir}/python"

    @property
    def venvs_dir(self) -> str:
        """One venv per distinct set of dependencies, shared by the releases that have it."""
        return f"{self.shared_dir}/venvs"

    @property
    def colors_dir(self) -> str:
        """Gunicorn runs as two instances, blue and green, each on its own socket: ``<color>`` links
        to the release that instance runs and ``live.sock`` (``socket_path``) to the live one's
        socket. A release starts the idle color next to the live one and switches only once it
        answers its health check; the old one then drains and stops."""
        return f"{self.base_dir}/colors"

    def color_socket(self, color: str) -> str:
        """The socket of one Gunicorn instance (blue or green), owned by its socket unit."""
        return f"/run/{self.runtime_dir_name}/{color}.sock"

    @property
    def legacy_socket(self) -> str:
        """The one socket of hosts set up before the two instances (gunicorn-<app>.socket); their
        next bootstrap replaces that unit with an instance, side by side."""
        return f"/run/{self.runtime_dir_name}/gunicorn.sock"

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
    def pg_cluster(self) -> str:
        """The app's own PostgreSQL cluster (``pg_createcluster <version> <name>``): ``app.name``
        with ``_`` for ``-``. postgresql-common's unit template ``postgresql@<version>-<name>``
        reads the instance as ``<version>/<name>`` with every dash a slash, so a dash in a cluster
        name breaks the unit; app names have no underscore, so no two apps share a cluster."""
        return self.app_name.replace("-", "_")

    @property
    def pg_conf_name(self) -> str:
        """The app's settings file in its cluster's ``conf.d`` (a fixed name: it survives a
        ``pg_renamecluster``)."""
        return "50-djangostack.conf"

    @property
    def redis_unit(self) -> str:
        """The app's own Redis: the distribution's template unit ``redis-server@.service``
        instantiated with ``app.name`` (it reads ``/etc/redis/redis-<app>.conf``)."""
        return f"redis-server@{self.app_name}.service"

    @property
    def redis_conf_file(self) -> str:
        """The Redis instance's complete configuration (the template unit's path for the instance)."""
        return f"/etc/redis/redis-{self.app_name}.conf"

    @property
    def redis_data_dir(self) -> str:
        """The Redis instance's ``dir`` (AOF and RDB); the unit may write under /var/lib/redis only."""
        return f"/var/lib/redis/{self.app_name}"

    @property
    def redis_log_file(self) -> str:
        """The instance's log (the unit may write under /var/log/redis; the package's logrotate
        file covers ``redis-server*.log``)."""
        return f"/var/log/redis/redis-server-{self.app_name}.log"

    @property
    def redis_pid_file(self) -> str:
        """In the unit's ``RuntimeDirectory=redis-<app>`` (its ``PIDFile=``)."""
        return f"/run/redis-{self.app_name}/redis-server.pid"

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
        edge: HostEdge,
        *,
        public_hosts: list[str] | None = None,
        media_bucket: str | None = None,
    ) -> HostContext:
        """Derive the host description from the settings and the target's ``edge``.

        ``edge`` comes from the target (``djangostack.targets.hosts.host_edge`` picks the stack's
        own). ``public_hosts`` and ``media_bucket`` are added to that edge: names that exist once
        resources are created, and the bucket's physical name.
        """
        if public_hosts or media_bucket:
            edge = replace(
                edge,
                public_hosts=(*edge.public_hosts, *(public_hosts or [])),
                media_bucket=media_bucket or edge.media_bucket,
            )
        app = settings.app.name
        base = f"/srv/{app}"
        etc = f"/etc/{app}"
        lib = f"/usr/local/lib/{app}"
        runtime = f"gunicorn-{app}"

        names: list[str] = list(settings.domain.names)
        for host in edge.public_hosts:
            if host not in names:
                names.append(host)
        tls_mode = edge.tls_mode
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
            target_kind="aws-ec2" if edge.kind == "aws-ec2" else "server",
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
            static_dir=f"{base}/current/{settings.app.static_root}",
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
            socket_path=f"{base}/colors/live.sock",
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
            http_port=edge.http_port,
            https_port=edge.https_port,
            max_upload_mb=web.max_upload_mb,
            static_cache_days=web.static_cache_days,
            hsts_seconds=hsts,
            x_frame_options=web.x_frame_options,
            proxy_timeout_seconds=web.timeout_seconds + PROXY_TIMEOUT_MARGIN_SECONDS,
            health_path=settings.app.health_path,
            liveness_path=settings.app.liveness_path,
            private_cidrs=PRIVATE_CIDRS,
            trusted_proxy_cidrs=edge.trusted_proxy_cidrs,
            listen_ipv6=True,
            firewall=edge.firewall,
            ssh_port=edge.ssh_port,
            ssh_user=edge.ssh_user,
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
            media_bucket=edge.media_bucket or settings.media.bucket_name,
            aws_region=edge.region,
            celery_worker=settings.celery.worker,
            celery_beat=settings.celery.beat,
            celery_app=settings.celery.app,
            celery_concurrency=settings.celery.concurrency,
            celery_queues=tuple(settings.celery.queues),
            celery_stop_timeout_seconds=600,
            backups_pre_release=settings.backups.pre_release,
            backups_keep=settings.backups.keep,
            releases_to_keep=edge.releases_to_keep,
            log_retention_days=settings.observability.log_retention_days,
            log_level=settings.observability.log_level,
            sentry=settings.observability.sentry,
            extra_env=tuple(sorted(settings.app.extra_env.items())),
            host_os=edge.host_os,
            python=settings.app.python,
            system_packages=tuple(settings.app.system_packages),
            build_commands=tuple(tuple(command) for command in settings.app.build_commands),
            traces_sample_rate=settings.observability.traces_sample_rate,
            env_names=tuple(sorted(settings.app.env_names.items())),
            static_subdir=settings.app.static_root,
            media_subdir=settings.app.media_root,
            adapt_settings=settings.app.adapt_settings,
            deploy_check_fail_level=settings.app.deploy_check.fail_level,
            deploy_check_silence=tuple(settings.app.deploy_check.silence),
            database_snapshots=edge.database_snapshots,
            beat_exec_prefix=edge.beat_exec_prefix,
        )


def is_ip_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
