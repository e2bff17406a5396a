"""Pure renderers of every file a Linux host gets (settings -> text).

Each ``render_*`` function takes a ``HostContext`` and returns the text of one file; rendering is
deterministic (sorted, no timestamps), so an unchanged stack renders byte-identical files and
``pulumi preview`` shows no diff. Templates live in ``templates/*.j2`` and are rendered with
``StrictUndefined`` (a missing value is an error, never an empty string).

``render_all`` returns the complete set as ``HostFile`` objects keyed by destination path.
Delivery: every file except the bootstrap script is uploaded (or written by cloud-init) to its
staged path under ``HostContext.staging_dir``; the bootstrap script verifies each staged file's
sha256, installs it with its owner and mode, and applies it. No rendered file contains a secret:
secrets reach the host as environment of the bootstrap run and are assembled there.
"""

from __future__ import annotations

import json
import re
import shlex
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import yaml

from ..contract.app_env import (
    CONTRACT_NAMES,
    AppEnv,
    AppEnvInputs,
    allowed_hosts_value,
    app_contract_problems,
    build_app_env,
    csrf_origins_value,
)
from ..settings.app import ADAPTER_MODULE
from . import python_check
from .context import HostContext, is_ip_address
from .distros import (
    GUNICORN_VERSION,
    POETRY_EXPORT,
    PSYCOPG_VERSION,
    REDIS_PY_VERSION,
    UV_VERSION,
    check_package_name,
    python_hint,
)
from .files import HostFile

TEMPLATES = Path(__file__).parent / "templates"

BASE_PACKAGES: tuple[str, ...] = (
    "acl",
    "build-essential",
    "ca-certificates",
    "certbot",
    "curl",
    "git",
    "iproute2",
    "libpq-dev",
    "logrotate",
    "nginx",
    "openssl",
    "pkg-config",
    "postgresql-client",
    "procps",
    "python3",
    "python3-certbot-nginx",
    "python3-dev",
    "python3-venv",
    "rsync",
    "ssl-cert",
    "unattended-upgrades",
    "util-linux",
)
"""Packages every host gets (sorted); ``host_packages`` adds the optional ones."""

CERTBOT_RETRY_MINUTES = 20
"""Retry period after a failed Let's Encrypt issuance: 3 attempts an hour, under the limit of 5
failed validations per hostname per hour (https://letsencrypt.org/docs/failed-validation-limit/)."""

_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# Quoting filters: the second line of defence behind the settings validation. Every value from a
# stack that lands in a shell script, Nginx or a systemd unit goes through one of them, so even a
# value the validator wrongly let through stays data (or stops the render) instead of becoming code.

_NGINX_SAFE = re.compile(r"[A-Za-z0-9._:/\[\]*~-]+")
_SYSTEMD_SAFE = re.compile(r"[A-Za-z0-9._:/@,=+-]+")


def shell_quote(value: object) -> str:
    """One shell word (``shlex.quote``): plain values stay as they are, anything else is single-quoted."""
    return shlex.quote(str(value))


def nginx_token(value: object) -> str:
    """A bare Nginx token; refuses whatever could end the directive or expand a variable."""
    text = str(value)
    if not _NGINX_SAFE.fullmatch(text):
        raise ValueError(f"refusing to render {text!r} into the Nginx configuration")
    return text


def systemd_word(value: object) -> str:
    """One word of a systemd unit setting (``%`` escaped as ``%%``); refuses spaces, quotes, newlines."""
    text = str(value)
    if not _SYSTEMD_SAFE.fullmatch(text.replace("%", "")):
        raise ValueError(f"refusing to render {text!r} into a systemd unit")
    return text.replace("%", "%%")


def env_quote(value: object) -> str:
    """``'value'`` for the env file (systemd EnvironmentFile and bash read it back unchanged)."""
    text = str(value)
    if "'" in text or any(ch in text for ch in "\n\r\0"):
        raise ValueError("refusing to render a quote or line break into the env file")
    return f"'{text}'"


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # noqa: S701 - config files and shell scripts, not HTML
    )
    # py: a Python string literal (gunicorn.conf.py), quoted by construction.
    env.filters.update(sh=shell_quote, nginx=nginx_token, systemd=systemd_word, envq=env_quote, py=repr)
    return env


def _render(template: str, ctx: HostContext, **extra: Any) -> str:
    names = {name: env_name(ctx, name) for name in CONTRACT_NAMES}
    return _environment().get_template(template).render(c=ctx, names=names, **extra)


def host_packages(ctx: HostContext) -> list[str]:
    """Debian/Ubuntu packages the host needs, sorted."""
    packages = set(BASE_PACKAGES)
    packages.update(check_package_name(name) for name in ctx.system_packages)
    if ctx.local_postgres:
        packages.add("postgresql")
    if ctx.local_redis:
        packages.add("redis-server")
    if ctx.firewall:
        packages.update(("fail2ban", "ufw"))
    return sorted(packages)


# --------------------------------------------------------------------------------------------------
# Nginx, Gunicorn, Celery, logrotate
# --------------------------------------------------------------------------------------------------


def render_nginx_site(ctx: HostContext) -> str:
    """/etc/nginx/sites-available/<app>.conf: default servers, redirect, the HTTPS site."""
    check_release_subdirs(ctx)
    # Second line behind the settings rule: the readiness location answers private addresses only.
    health = app_contract_problems(
        env_names={}, extra_env={}, health_path=ctx.health_path, liveness_path=ctx.liveness_path
    )
    if health:
        raise ValueError(health[0])
    slug = ctx.app_name.replace("-", "_")
    return _render(
        "nginx-site.conf.j2",
        ctx,
        slug=slug,
        upstream=f"{slug}_gunicorn",
        ssl_cache_zone=f"{slug}_tls",
        server_names=" ".join(nginx_token(name) for name in ctx.server_names),
    )


GUNICORN_COLORS = ("blue", "green")
"""The two Gunicorn instances of a host: a release starts the idle one next to the live one."""


def render_gunicorn_socket(ctx: HostContext) -> str:
    """/etc/systemd/system/gunicorn-<app>@.socket (one socket per color)."""
    return _render("gunicorn.socket.j2", ctx)


def render_gunicorn_service(ctx: HostContext) -> str:
    """/etc/systemd/system/gunicorn-<app>@.service (one Gunicorn per color)."""
    return _render("gunicorn.service.j2", ctx)


def instance_units(ctx: HostContext, unit: str) -> list[str]:
    """The units systemd runs from one rendered unit file: a Gunicorn template's two colors, else
    the unit itself."""
    if unit.startswith(f"{ctx.gunicorn_unit}@."):
        return [unit.replace("@.", f"@{color}.") for color in GUNICORN_COLORS]
    return [unit]


def legacy_gunicorn_units(ctx: HostContext) -> list[str]:
    """The single socket-activated Gunicorn of hosts set up before the two colors (the bootstrap
    replaces it; destroy removes it if it is still there)."""
    return [f"{ctx.gunicorn_unit}.socket", f"{ctx.gunicorn_unit}.service"]


def render_gunicorn_conf(ctx: HostContext) -> str:
    """/etc/<app>/gunicorn.conf.py (workers: the setting, else 2 x CPU + 1 on the host)."""
    return _render("gunicorn.conf.py.j2", ctx)


def render_celery_worker_service(ctx: HostContext) -> str:
    """/etc/systemd/system/celery-<app>.service (only installed when celery.worker is on)."""
    return _render("celery-worker.service.j2", ctx)


def render_celery_beat_service(ctx: HostContext) -> str:
    """/etc/systemd/system/celerybeat-<app>.service (only installed when celery.beat is on)."""
    return _render("celery-beat.service.j2", ctx)


def render_logrotate(ctx: HostContext) -> str:
    """/etc/logrotate.d/<app>: daily, compressed, no copytruncate; Gunicorn reopens on USR1."""
    return _render("logrotate.j2", ctx)


# --------------------------------------------------------------------------------------------------
# Environment file
# --------------------------------------------------------------------------------------------------


def app_env(ctx: HostContext) -> AppEnv[str]:
    """The host's app environment, from the one builder every target uses."""
    secrets = ["SECRET_KEY", "DATABASE_URL"]
    if ctx.local_redis or ctx.needs_secret_redis_url:
        secrets.append("REDIS_URL")
    if ctx.sentry:
        secrets.append("SENTRY_DSN")
    return build_app_env(
        AppEnvInputs[str](
            settings_module=ADAPTER_MODULE if ctx.adapt_settings else ctx.settings_module,
            environment=ctx.environment,
            allowed_hosts=allowed_hosts_value(ctx.server_names),
            csrf_trusted_origins=csrf_origins_value(ctx.server_names, ctx.https_port),
            log_level=ctx.log_level,
            traces_sample_rate=ctx.traces_sample_rate,
            hsts_seconds=ctx.hsts_seconds,
            x_frame_options=ctx.x_frame_options,
            max_upload_mb=ctx.max_upload_mb,
            db_conn_max_age_seconds=ctx.db_conn_max_age_seconds,
            media_storage=ctx.media_storage,
            secrets=tuple(secrets),
            media_bucket=ctx.media_bucket,
            media_root=ctx.media_dir,
            static_root=ctx.static_dir,
            aws_region=ctx.aws_region,
            celery_default_queue=ctx.celery_queues[0] if ctx.celery_queues else None,
            env_names=dict(ctx.env_names),
            extra_env=dict(ctx.extra_env),
        )
    )


_PYTHON_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")

_ADAPTER = '''\
"""Written by djangostack into this release (app.adaptSettings); not part of the app's source.

First the app's own settings module, then what the host provides, read from the environment
at import time: the secret key, DEBUG off, the public hosts and CSRF origins, the PostgreSQL
database, where static files are collected and uploads are kept, HTTPS behind Nginx, the stack's
Redis as the cache (when the app sets none); and the stack's health endpoints, which the release
gate and Nginx ask.
"""

import importlib as _importlib
import os as _os
from urllib.parse import parse_qs as _parse_qs, unquote as _unquote, urlsplit as _urlsplit

from django import VERSION as _django_version

_app = _importlib.import_module({module!r})
globals().update({{_name: _value for _name, _value in vars(_app).items() if _name.isupper()}})
_env = _os.environ


def _list(name):
    return [item.strip() for item in _env.get(name, "").split(",") if item.strip()]


SECRET_KEY = _env[{secret_key!r}]
DEBUG = False
ALLOWED_HOSTS = _list({allowed_hosts!r})
CSRF_TRUSTED_ORIGINS = _list({csrf_origins!r})

_url = _urlsplit(_env[{database_url!r}])
_query = _parse_qs(_url.query)
DATABASES = {{
    **globals().get("DATABASES", {{}}),
    "default": {{
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _unquote(_url.path.lstrip("/")),
        "USER": _unquote(_url.username or ""),
        "PASSWORD": _unquote(_url.password or ""),
        "HOST": _url.hostname or "",
        "PORT": str(_url.port or ""),
        "CONN_MAX_AGE": int(_env.get({conn_max_age!r}, "0")),
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {{"sslmode": _query["sslmode"][-1]}} if "sslmode" in _query else {{}},
    }},
}}

# The stack's Redis as the cache when the app configures none of its own: Django's default keeps a
# cache in each worker process, which the other workers, the other Gunicorn color and Celery never
# see (Django's RedisCache needs Django 4.0; the release adds the redis client when the app lacks it).
_redis_url = _env.get({redis_url!r}, "")
_OUR_CACHE = bool(_redis_url) and "CACHES" not in vars(_app) and _django_version >= (4, 0)
if _OUR_CACHE:
    CACHES = {{
        "default": {{
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _redis_url,
            # Bounded waits: a dead Redis fails a request (and readiness) instead of hanging it.
            "OPTIONS": {{"socket_connect_timeout": 3, "socket_timeout": 3}},
        }}
    }}

# The app may have been written for SQLite: PostgreSQL's own field types and indexes (a search
# backend's, say) need its contrib app.
if "django.contrib.postgres" not in globals().get("INSTALLED_APPS", []):
    INSTALLED_APPS = [*globals().get("INSTALLED_APPS", []), "django.contrib.postgres"]

# Nginx serves /static/ from STATIC_ROOT and, with local media, /media/ from MEDIA_ROOT.
STATIC_URL = "/static/"
STATIC_ROOT = _env[{static_root!r}]
if _env.get({media_storage!r}, "local") == "local":
    MEDIA_URL = "/media/"
    MEDIA_ROOT = _env[{media_root!r}]

# Nginx terminates TLS and says so in X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = _env.get({ssl_redirect!r}, "true") == "true"
SECURE_HSTS_SECONDS = int(_env.get({hsts!r}, "0"))
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = _env.get({x_frame!r}, "DENY")
DATA_UPLOAD_MAX_MEMORY_SIZE = int(_env.get({data_upload!r}, "2621440"))
FILE_UPLOAD_MAX_MEMORY_SIZE = int(_env.get({file_upload!r}, "2621440"))
# HSTS for the stack's own names only (web.hstsSeconds), never its subdomains or the preload list.
SILENCED_SYSTEM_CHECKS = [*globals().get("SILENCED_SYSTEM_CHECKS", []), "security.W005", "security.W021"]

# The health endpoints the release gate and Nginx use, answered first (before the host check and
# any redirect): liveness touches nothing, readiness runs one query on the database. Django's
# SecurityMiddleware, which the HTTPS settings above act through, is added when the app lacks it.
MIDDLEWARE = [*globals().get("MIDDLEWARE", [])]
if "django.middleware.security.SecurityMiddleware" not in MIDDLEWARE:
    MIDDLEWARE.insert(0, "django.middleware.security.SecurityMiddleware")
MIDDLEWARE.insert(0, {module_name!r} + ".HealthMiddleware")


class HealthMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from django.http import JsonResponse

        if request.path_info == {liveness_path!r}:
            return JsonResponse({{"status": "ok"}})
        if request.path_info != {health_path!r}:
            return self.get_response(request)
        release = _env.get({release_id!r}, "")
        checks = {{}}
        try:
            from django.db import connection

            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            checks["database"] = "ok"
        except Exception as error:  # any failure is "not ready"
            checks["database"] = type(error).__name__
        if _OUR_CACHE:
            try:
                from django.core.cache import cache

                cache.get("djangostack:readiness")
                checks["cache"] = "ok"
            except Exception as error:
                checks["cache"] = type(error).__name__
        ready = all(value == "ok" for value in checks.values())
        body = {{"status": "ok" if ready else "error", "checks": checks, "release": release}}
        return JsonResponse(body, status=200 if ready else 503)
'''


def settings_adapter_source(ctx: HostContext) -> str:
    """The settings module a release gets with ``app.adaptSettings`` (``ADAPTER_MODULE``.py).

    Values are read from the app's environment when Django imports it (secrets stay in the env
    file); the names are the ones the app environment uses (``app.envNames`` applies).
    """
    if not _PYTHON_MODULE.match(ctx.settings_module):
        raise ValueError(f"app.settingsModule: {ctx.settings_module!r} is not a dotted Python module name")
    if ctx.settings_module == ADAPTER_MODULE or ctx.settings_module.startswith(ADAPTER_MODULE + "."):
        raise ValueError(f"app.settingsModule: {ADAPTER_MODULE} is the adapter's own module; name the app's")

    def name(contract: str) -> str:
        return env_name(ctx, contract)

    return _ADAPTER.format(
        module=ctx.settings_module,
        secret_key=name("SECRET_KEY"),
        allowed_hosts=name("ALLOWED_HOSTS"),
        csrf_origins=name("CSRF_TRUSTED_ORIGINS"),
        database_url=name("DATABASE_URL"),
        conn_max_age=name("DATABASE_CONN_MAX_AGE"),
        static_root=name("STATIC_ROOT"),
        media_storage=name("MEDIA_STORAGE"),
        media_root=name("MEDIA_ROOT"),
        ssl_redirect=name("SECURE_SSL_REDIRECT"),
        hsts=name("SECURE_HSTS_SECONDS"),
        x_frame=name("X_FRAME_OPTIONS"),
        data_upload=name("DATA_UPLOAD_MAX_MEMORY_SIZE"),
        file_upload=name("FILE_UPLOAD_MAX_MEMORY_SIZE"),
        release_id=name("RELEASE_ID"),
        redis_url=name("REDIS_URL"),
        module_name=ADAPTER_MODULE,
        health_path=ctx.health_path,
        liveness_path=ctx.liveness_path,
    )


def env_values(ctx: HostContext) -> dict[str, str]:
    """The app's non-secret environment (the app contract); bootstrap appends the secrets."""
    return {name: str(value) for name, value in app_env(ctx).plain.items()}


def env_name(ctx: HostContext, contract_name: str) -> str:
    """The name the app reads a contract variable under (``app.envNames``)."""
    return dict(ctx.env_names).get(contract_name, contract_name)


def check_env_value(key: str, value: str) -> None:
    """Raise ValueError unless ``KEY='value'`` round-trips through systemd and bash unchanged."""
    if not _ENV_KEY.match(key):
        raise ValueError(f"environment name {key!r} is not a valid shell variable name")
    bad = [c for c in ("'", "\n", "\r", "\0") if c in value]
    if bad:
        raise ValueError(
            f"environment value of {key} contains {bad!r}; values are single-quoted for "
            "systemd EnvironmentFile and bash, so quotes and line breaks are not allowed"
        )
    if value != value.strip():
        raise ValueError(f"environment value of {key} has leading or trailing whitespace")


def render_env_file(ctx: HostContext, values: Mapping[str, str]) -> str:
    """An env file: ``KEY='value'`` lines sorted by key, parsed identically by systemd and bash.

    ``values`` may hold secrets; the caller installs the file 0600, owned by the app user.
    """
    for key, value in values.items():
        check_env_value(key, value)
    return _render("env-file.j2", ctx, values=sorted(values.items()))


# --------------------------------------------------------------------------------------------------
# Host configuration snippets
# --------------------------------------------------------------------------------------------------


def render_postgresql_conf(ctx: HostContext) -> str:
    return _render("postgresql.conf.j2", ctx)


def render_redis_conf(ctx: HostContext) -> str:
    return _render("redis.conf.j2", ctx)


def render_ssh_hardening(ctx: HostContext) -> str:
    return _render("ssh-hardening.conf.j2", ctx)


def render_fail2ban_jail(ctx: HostContext) -> str:
    return _render("fail2ban-jail.local.j2", ctx)


def render_unattended_upgrades(ctx: HostContext) -> str:
    return _render("unattended-upgrades.j2", ctx)


def render_certbot(ctx: HostContext) -> str:
    """The certbot deploy hook: links the issued lineage to Nginx's stable paths, reloads Nginx.

    Issuance itself (``certbot certonly --webroot``) is ``certbot-issue``, run by the bootstrap and the retry timer.
    """
    return _render("certbot-deploy-hook.j2", ctx)


def render_certbot_issue(ctx: HostContext) -> str:
    """/usr/local/lib/<app>/certbot-issue: ``certbot certonly --webroot``, then the deploy hook."""
    return _render("certbot-issue.sh.j2", ctx)


def render_certbot_retry_service(ctx: HostContext) -> str:
    """/etc/systemd/system/certbot-retry-<app>.service: runs certbot-issue once."""
    return _render("certbot-retry.service.j2", ctx)


def render_certbot_retry_timer(ctx: HostContext) -> str:
    """/etc/systemd/system/certbot-retry-<app>.timer: enabled only after a failed issuance."""
    return _render("certbot-retry.timer.j2", ctx, certbot_retry_minutes=CERTBOT_RETRY_MINUTES)


DEPLOY_CHECK_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
"""``manage.py check --fail-level`` choices."""

CHECK_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\.[CEWID][0-9]{3}$")
"""A Django system check id: ``<tag>.<level letter><3 digits>`` (security.W005, fields.E304)."""

_DEPLOY_CHECK = """\
import sys
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import SystemCheckError
settings.SILENCED_SYSTEM_CHECKS = [*settings.SILENCED_SYSTEM_CHECKS, *{silence}]
try:
    call_command("check", deploy=True, fail_level={level})
except SystemCheckError as error:
    sys.exit(str(error))
"""


def deploy_check_command(ctx: HostContext) -> list[str]:
    """``check --deploy`` as the release runs it (in the release, as the app user, with its env):
    the stack's fail level, and its silenced check ids on top of the app's own
    SILENCED_SYSTEM_CHECKS (the app's code is not changed)."""
    level = ctx.deploy_check_fail_level
    if level not in DEPLOY_CHECK_LEVELS:
        raise ValueError(f"app.deployCheck.failLevel: {level!r} is not one of {', '.join(DEPLOY_CHECK_LEVELS)}")
    bad = [check for check in ctx.deploy_check_silence if not CHECK_ID.match(check)]
    if bad:
        raise ValueError(f"app.deployCheck.silence: {bad[0]!r} is not a system check id like security.W005")
    if not ctx.deploy_check_silence:
        return [".venv/bin/python", "manage.py", "check", "--deploy", "--fail-level", level]
    code = _DEPLOY_CHECK.format(silence=json.dumps(list(ctx.deploy_check_silence)), level=json.dumps(level))
    return [".venv/bin/python", "manage.py", "shell", "--no-startup", "--command", code]


RELEASE_SUBDIR = re.compile(r"^(?!\.)[A-Za-z0-9_][A-Za-z0-9._-]{0,63}(/(?!\.)[A-Za-z0-9_][A-Za-z0-9._-]{0,63}){0,3}$")
"""A folder inside the release: relative, 1-4 plain segments, none starting with a dot (no ``..``)."""


def check_release_subdirs(ctx: HostContext) -> None:
    """Refuse a static or media folder that is not a plain relative path inside the release."""
    for key, value in (("app.staticRoot", ctx.static_subdir), ("app.mediaRoot", ctx.media_subdir)):
        if value is not None and not RELEASE_SUBDIR.match(value):
            raise ValueError(
                f"{key}: {value!r} must be a folder inside the release, relative, like static or assets/static"
            )
    if ctx.media_subdir is not None and ctx.media_subdir == ctx.static_subdir:
        raise ValueError(f"app.mediaRoot: {ctx.media_subdir!r} is also app.staticRoot; uploads need their own folder")


def render_release_script(ctx: HostContext) -> str:
    """/usr/local/lib/<app>/release: deploy | rollback | list | current."""
    check_release_subdirs(ctx)
    worker_units = [f"{ctx.celery_worker_unit}.service"] if ctx.celery_worker else []
    beat_units = [f"{ctx.celery_beat_unit}.service"] if ctx.celery_beat else []
    return _render(
        "release.sh.j2",
        ctx,
        worker_units=worker_units,
        beat_units=beat_units,
        deploy_check=" ".join(shell_quote(word) for word in deploy_check_command(ctx)),
        # Stable per app and within PostgreSQL's signed bigint range.
        migrate_lock_key=zlib.crc32(f"djangostack-migrate-{ctx.app_name}".encode()),
        python_check=Path(python_check.__file__).read_text(encoding="utf-8"),
        python_hint=python_hint(ctx.os_info, ctx.python),
        gunicorn_version=GUNICORN_VERSION,
        poetry_export=POETRY_EXPORT,
        adapter_module=ADAPTER_MODULE,
        adapter_source=settings_adapter_source(ctx) if ctx.adapt_settings else "",
        psycopg_requirement=f"psycopg[binary]=={PSYCOPG_VERSION}",
        redis_requirement=f"redis=={REDIS_PY_VERSION}",
    )


# --------------------------------------------------------------------------------------------------
# Bootstrap, cloud-init and the whole set
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Dir:
    path: str
    owner: str
    group: str
    mode: str


def host_directories(ctx: HostContext) -> list[_Dir]:
    """Directories bootstrap creates, each with its own owner and mode (nothing recursive)."""
    dirs = [
        _Dir(ctx.base_dir, "root", "root", "0755"),
        _Dir(ctx.releases_dir, "root", "root", "0755"),
        # Gunicorn's colors: which release each runs, and the link Nginx connects to.
        _Dir(ctx.colors_dir, "root", "root", "0755"),
        _Dir(ctx.shared_dir, "root", "root", "0755"),
        _Dir(ctx.logs_dir, ctx.user, ctx.group, "2750"),
        _Dir(ctx.backups_dir, "root", "root", "0700"),
        # pip runs as the app user and keeps its cache and wheelhouse here.
        _Dir(ctx.cache_dir, ctx.user, ctx.group, "0700"),
        _Dir(ctx.incoming_dir, "root", "root", "0700"),
        # Built by the app user, then sealed root-owned like the releases that link to them.
        _Dir(ctx.venvs_dir, "root", "root", "0755"),
        _Dir(ctx.config_dir, "root", ctx.group, "0750"),
        _Dir(ctx.secrets_dir, "root", "root", "0700"),
        _Dir(ctx.tls_dir, "root", "root", "0700"),
        _Dir(ctx.lib_dir, "root", "root", "0755"),
        _Dir(ctx.acme_webroot, "root", "root", "0755"),
    ]
    if ctx.media_storage == "local":
        # Nginx (www-data) reads uploads; setgid keeps new files in its group.
        dirs.append(_Dir(ctx.media_dir, ctx.user, ctx.web_group, "2750"))
    else:
        # Unused with bucket storage, but ReadWritePaths= needs it to exist.
        dirs.append(_Dir(ctx.media_dir, ctx.user, ctx.group, "0750"))
    return dirs


def _unit(name: str) -> str:
    return f"/etc/systemd/system/{name}"


def _config_files(ctx: HostContext) -> list[HostFile]:
    """Every host file except the bootstrap script, in a fixed order."""
    root, app = "root", ctx.group
    files = [
        HostFile(ctx.nginx_site, 0o644, root, root, render_nginx_site(ctx)),
        HostFile(_unit(f"{ctx.gunicorn_unit}@.socket"), 0o644, root, root, render_gunicorn_socket(ctx)),
        HostFile(_unit(f"{ctx.gunicorn_unit}@.service"), 0o644, root, root, render_gunicorn_service(ctx)),
        # Readable by the Gunicorn master (the app user), not writable by it.
        HostFile(ctx.gunicorn_conf, 0o640, root, app, render_gunicorn_conf(ctx)),
        HostFile(ctx.env_base_file, 0o600, root, root, render_env_file(ctx, env_values(ctx))),
        HostFile(f"/etc/logrotate.d/{ctx.app_name}", 0o644, root, root, render_logrotate(ctx)),
        HostFile(
            f"/etc/apt/apt.conf.d/21{ctx.app_name}-auto-upgrades",
            0o644,
            root,
            root,
            render_unattended_upgrades(ctx),
        ),
        HostFile(ctx.release_script, 0o755, root, root, render_release_script(ctx)),
    ]
    if ctx.celery_worker:
        files.append(
            HostFile(_unit(f"{ctx.celery_worker_unit}.service"), 0o644, root, root, render_celery_worker_service(ctx))
        )
    if ctx.celery_beat:
        files.append(
            HostFile(_unit(f"{ctx.celery_beat_unit}.service"), 0o644, root, root, render_celery_beat_service(ctx))
        )
    if ctx.local_postgres:
        files.append(HostFile(f"{ctx.config_dir}/postgresql.conf", 0o644, root, root, render_postgresql_conf(ctx)))
    if ctx.local_redis:
        files.append(HostFile(f"{ctx.config_dir}/redis.conf", 0o644, root, root, render_redis_conf(ctx)))
    if ctx.firewall:
        files.append(HostFile(f"{ctx.config_dir}/sshd-hardening.conf", 0o644, root, root, render_ssh_hardening(ctx)))
        files.append(
            HostFile(f"/etc/fail2ban/jail.d/{ctx.app_name}.local", 0o644, root, root, render_fail2ban_jail(ctx))
        )
    if ctx.uses_letsencrypt:
        files.append(HostFile(ctx.certbot_hook, 0o755, root, root, render_certbot(ctx)))
        files.append(HostFile(ctx.certbot_issue, 0o755, root, root, render_certbot_issue(ctx)))
        files.append(
            HostFile(_unit(f"{ctx.certbot_retry_unit}.service"), 0o644, root, root, render_certbot_retry_service(ctx))
        )
        files.append(
            HostFile(_unit(f"{ctx.certbot_retry_unit}.timer"), 0o644, root, root, render_certbot_retry_timer(ctx))
        )
    return files


def _tag(ctx: HostContext, path: str) -> str:
    if path == ctx.nginx_site:
        return "nginx"
    if path == _unit(f"{ctx.gunicorn_unit}@.socket"):
        return "socket"
    if path == _unit(f"{ctx.gunicorn_unit}@.service"):
        return "gunicorn-unit"
    if path.startswith("/etc/systemd/system/"):
        return "units"
    if path == ctx.gunicorn_conf:
        return "gunicorn"
    return "other"


def _san(ctx: HostContext) -> str:
    """subjectAltName of the self-signed site certificate (single-quoted in the bootstrap script, so
    each name must be a bare token: ``nginx_token`` refuses quotes, spaces and ``$``)."""
    return ",".join(f"{'IP' if is_ip_address(n) else 'DNS'}:{nginx_token(n)}" for n in ctx.server_names)


def render_bootstrap_script(ctx: HostContext, files: list[HostFile] | None = None) -> str:
    """/usr/local/lib/<app>/bootstrap: idempotent host setup (see the script's header).

    ``files`` is ``_config_files(ctx)`` when the caller already rendered them (``render_all``).
    """
    files = _config_files(ctx) if files is None else files
    # Gunicorn's colors are enabled by the release script (the live one starts at boot).
    enabled: list[str] = []
    disabled: list[str] = []
    for flag, unit in ((ctx.celery_worker, ctx.celery_worker_unit), (ctx.celery_beat, ctx.celery_beat_unit)):
        (enabled if flag else disabled).append(f"{unit}.service")
    celery = list(enabled)
    return _render(
        "bootstrap.sh.j2",
        ctx,
        packages=host_packages(ctx),
        directories=host_directories(ctx),
        files=files,
        tags={f.path: _tag(ctx, f.path) for f in files},
        enabled_units=enabled,
        disabled_units=disabled,
        celery_units=celery,
        san=_san(ctx),
        certbot_retry_minutes=CERTBOT_RETRY_MINUTES,
        uv_version=UV_VERSION,
    )


def render_all(ctx: HostContext) -> dict[str, HostFile]:
    """Every file the host gets, keyed by destination path (sorted), bootstrap script included."""
    files = _config_files(ctx)
    files.append(HostFile(ctx.bootstrap_path, 0o700, "root", "root", render_bootstrap_script(ctx, list(files))))
    return {f.path: f for f in sorted(files, key=lambda f: f.path)}


def first_boot_writes(ctx: HostContext, files: Mapping[str, HostFile]) -> list[HostFile]:
    """What first boot writes before bootstrap runs, sorted by destination: every rendered file at
    its staged path (root-only, bootstrap installs it with its real owner and mode) and the
    bootstrap script itself at its own path. Cloud targets deliver exactly these files."""
    writes = []
    for path in sorted(files):
        f = files[path]
        if path == ctx.bootstrap_path:
            writes.append(HostFile(path, 0o700, "root", "root", f.content))
        else:
            writes.append(HostFile(f.staged_path(ctx.staging_dir), 0o600, "root", "root", f.content))
    return writes


def render_cloud_init(ctx: HostContext, files: Mapping[str, HostFile]) -> str:
    """cloud-init user data: packages, the app user, staged files, run bootstrap on first boot.

    ``files`` is ``render_all(ctx)``. Files are written to their staged paths (root only) and
    installed by the bootstrap script, which knows the owners; user data holds no secret.
    """
    write_files = [
        {"path": f.path, "permissions": f.mode_text, "owner": f"{f.owner}:{f.group}", "content": f.content}
        for f in first_boot_writes(ctx, files)
    ]
    document: dict[str, Any] = {
        "package_update": True,
        "package_upgrade": False,
        "packages": host_packages(ctx),
        "timezone": "UTC",
        "users": [
            "default",
            {
                "name": ctx.user,
                "system": True,
                "shell": "/usr/sbin/nologin",
                "homedir": ctx.base_dir,
                "no_create_home": True,
                "lock_passwd": True,
            },
        ],
        "write_files": write_files,
        # runcmd runs once per instance (first boot); later changes replace the instance or
        # re-run the bootstrap over SSH.
        "runcmd": [["bash", ctx.bootstrap_path]],
    }
    return "#cloud-config\n" + yaml.safe_dump(document, sort_keys=True, default_flow_style=False, width=1000)
