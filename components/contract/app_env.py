"""THE app environment: one pure function from a few narrow inputs to every variable the app reads.

Every target (``server``, ``aws-ec2``, ``gcp-cloudrun``) builds the app's environment here and only
here, so the same settings give the same names everywhere. What differs per target is only how the
values travel: a host writes the plain part into its env file and appends the secrets on the host;
Cloud Run sets the plain part as container variables and the secrets as Secret Manager references.

The contract names (``CONTRACT_NAMES``) are the names the sample app reads. An app that reads a
value under another name maps it with ``app.envNames`` (``{SECRET_KEY: DJANGO_SECRET_KEY}``): the
value then goes under the app's name only, and a secret stays a secret under its new name.

Values that only exist once resources are created (Cloud Run's hostnames, a bucket's physical
name) are passed in as the target's own value type (``pulumi.Input[str]`` on Cloud Run); the
builder never looks inside them, so it stays pure and needs no Pulumi.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

V = TypeVar("V")
"""A value as the target carries it: ``str`` on hosts, ``pulumi.Input[str]`` on Cloud Run."""

SECRET_NAMES: tuple[str, ...] = ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "SENTRY_DSN")
"""Contract names whose values are secrets: never in a rendered file, state or plain variable."""

PLAIN_NAMES: tuple[str, ...] = (
    "ALLOWED_HOSTS",
    "AWS_REGION",
    "CELERY_TASK_DEFAULT_QUEUE",
    "CSRF_TRUSTED_ORIGINS",
    "DATABASE_CONN_MAX_AGE",
    "DATA_UPLOAD_MAX_MEMORY_SIZE",
    "DJANGO_DEBUG",
    "DJANGO_SETTINGS_MODULE",
    "FILE_UPLOAD_MAX_MEMORY_SIZE",
    "LOG_LEVEL",
    "MEDIA_BUCKET",
    "MEDIA_ROOT",
    "MEDIA_STORAGE",
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONUNBUFFERED",
    "RELEASE_ID",
    "SECURE_HSTS_SECONDS",
    "SECURE_SSL_REDIRECT",
    "SENTRY_ENVIRONMENT",
    "SENTRY_TRACES_SAMPLE_RATE",
    "STATIC_ROOT",
    "USE_X_FORWARDED_HOST",
    "X_FRAME_OPTIONS",
)
"""Contract names of plain values (any of them may be absent on a target that has no such value)."""

CONTRACT_NAMES: frozenset[str] = frozenset(SECRET_NAMES + PLAIN_NAMES)
"""Every name ``app.envNames`` may map to another name."""

UNMAPPABLE: frozenset[str] = frozenset({"PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED"})
"""Read by the interpreter, not the app: their names are fixed."""

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")

FILE_UPLOAD_MAX_MEMORY_SIZE = 2560 * 1024
"""Django's own default (2.5 MB): uploads above it stream to a temporary file."""


def allowed_hosts_value(hosts: Iterable[str]) -> str:
    """ALLOWED_HOSTS: the exact names the site answers to, comma separated."""
    return ",".join(hosts)


def csrf_origins_value(hosts: Iterable[str], https_port: int = 443) -> str:
    """CSRF_TRUSTED_ORIGINS: ``https://<host>[:<port>]`` for each host; the port is there exactly
    when the public HTTPS port is not 443, as the browser sends it in ``Origin``."""
    suffix = "" if https_port == 443 else f":{https_port}"
    return ",".join(f"https://{host}{suffix}" for host in hosts)


@dataclass(frozen=True)
class AppEnvInputs(Generic[V]):
    """The narrow facts the app environment depends on (no settings object, no resources)."""

    settings_module: str
    """``app.settingsModule`` (DJANGO_SETTINGS_MODULE)."""
    environment: str
    """dev, staging or prod (SENTRY_ENVIRONMENT)."""
    allowed_hosts: V
    """``allowed_hosts_value(...)`` of every public name, as the target carries it."""
    csrf_trusted_origins: V
    """``csrf_origins_value(...)`` of the same names and the public HTTPS port."""
    log_level: str
    traces_sample_rate: float
    hsts_seconds: int
    x_frame_options: str
    max_upload_mb: int
    db_conn_max_age_seconds: int
    media_storage: str
    """local, s3 or gcs (MEDIA_STORAGE)."""
    secrets: tuple[str, ...]
    """Which of ``SECRET_NAMES`` this stack provides (the target delivers the values)."""
    media_bucket: V | None = None
    media_root: str | None = None
    """Where uploads are written (hosts with local media); None where media live in a bucket."""
    static_root: str | None = None
    """Where collectstatic writes (hosts); None where the image carries its static files."""
    aws_region: str | None = None
    celery_default_queue: str | None = None
    """The worker's first queue when it is not Celery's default (``celery``)."""
    release_id: str | None = None
    """Set where the environment itself carries the release (Cloud Run); hosts write it per release."""
    env_names: Mapping[str, str] = field(default_factory=dict)
    """``app.envNames``: contract name -> the name the app reads."""
    extra_env: Mapping[str, str] = field(default_factory=dict)
    """``app.extraEnv``: plain variables under the user's own names; they win over a plain contract
    value of the same name, and may never take a secret's name."""
    target_env: Mapping[str, str] = field(default_factory=dict)
    """Target-only plain variables that are not part of the app contract (Gunicorn's flags on
    Cloud Run, whose image starts Gunicorn itself)."""


@dataclass(frozen=True)
class AppEnv(Generic[V]):
    """The app's environment: plain values and secret names, both under the names the app reads."""

    plain: dict[str, V | str]
    """Final name -> value, sorted by name. Never a secret."""
    secrets: dict[str, str]
    """Contract secret name -> the name the app reads it under (e.g. SECRET_KEY -> DJANGO_SECRET_KEY)."""

    def names(self) -> list[str]:
        """Every variable name the app gets, sorted (plain and secret)."""
        return sorted([*self.plain, *self.secrets.values()])


def env_name_problems(env_names: Mapping[str, str], extra_env: Iterable[str] = ()) -> list[str]:
    """One line per bad ``app.envNames`` entry (unknown contract name, bad or clashing target name),
    and per ``app.extraEnv`` name that would shadow a mapped contract variable."""
    key = "djangostack:app.envNames"
    found: list[str] = []
    targets: dict[str, str] = {}
    for source, target in sorted(env_names.items()):
        if source not in CONTRACT_NAMES:
            allowed = ", ".join(sorted(CONTRACT_NAMES - UNMAPPABLE))
            found.append(f"{key}.{source}: not a name the stack sets; mappable names are {allowed}")
            continue
        if source in UNMAPPABLE:
            found.append(f"{key}.{source}: read by Python itself, its name cannot change")
            continue
        if not ENV_NAME.match(target):
            found.append(
                f"{key}.{source}: {target!r} is not an environment variable name (letters, digits and _, "
                "not starting with a digit, at most 128 characters)"
            )
            continue
        if target in targets:
            found.append(f"{key}.{source}: {target} is already the name of {targets[target]}; each name once")
            continue
        targets[target] = source
    # A mapped name may not be another contract variable that keeps its own name.
    final = {source: env_names.get(source, source) for source in CONTRACT_NAMES}
    for target, source in sorted(targets.items()):
        other = [name for name, now in final.items() if now == target and name != source]
        if other:
            found.append(f"{key}.{source}: {target} is already set by the stack as {other[0]}; map that one away first")
    for name in sorted(extra_env):
        if name in targets:
            found.append(
                f"djangostack:app.extraEnv.{name}: the stack sets {name} itself (app.envNames maps "
                f"{targets[name]} to it); remove it from extraEnv"
            )
    return found


def build_app_env(inputs: AppEnvInputs[V]) -> AppEnv[V]:
    """THE app environment of every target (see the module docstring)."""
    problems = env_name_problems(inputs.env_names, inputs.extra_env)
    if problems:
        raise ValueError(problems[0])
    unknown = sorted(set(inputs.secrets) - set(SECRET_NAMES))
    if unknown:
        raise ValueError(f"unknown secret names {unknown}; the contract's secrets are {list(SECRET_NAMES)}")
    values: dict[str, V | str] = {
        "DJANGO_SETTINGS_MODULE": inputs.settings_module,
        "DJANGO_DEBUG": "false",
        "ALLOWED_HOSTS": inputs.allowed_hosts,
        "CSRF_TRUSTED_ORIGINS": inputs.csrf_trusted_origins,
        "DATABASE_CONN_MAX_AGE": str(inputs.db_conn_max_age_seconds),
        "MEDIA_STORAGE": inputs.media_storage,
        "SECURE_SSL_REDIRECT": "true",
        # Same value as the edge's header so `check --deploy` passes; the edge owns HSTS.
        "SECURE_HSTS_SECONDS": str(inputs.hsts_seconds),
        "X_FRAME_OPTIONS": inputs.x_frame_options,
        # The edge passes the public Host (with a non-443 port) itself: X-Forwarded-Host is not needed.
        "USE_X_FORWARDED_HOST": "false",
        "DATA_UPLOAD_MAX_MEMORY_SIZE": str(inputs.max_upload_mb * 1024 * 1024),
        "FILE_UPLOAD_MAX_MEMORY_SIZE": str(FILE_UPLOAD_MAX_MEMORY_SIZE),
        "LOG_LEVEL": inputs.log_level,
        "SENTRY_ENVIRONMENT": inputs.environment,
        "SENTRY_TRACES_SAMPLE_RATE": str(inputs.traces_sample_rate),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    if inputs.media_root is not None:
        values["MEDIA_ROOT"] = inputs.media_root
    if inputs.static_root is not None:
        values["STATIC_ROOT"] = inputs.static_root
    if inputs.media_bucket is not None:
        values["MEDIA_BUCKET"] = inputs.media_bucket
    if inputs.aws_region:
        values["AWS_REGION"] = inputs.aws_region
    if inputs.celery_default_queue and inputs.celery_default_queue != "celery":
        values["CELERY_TASK_DEFAULT_QUEUE"] = inputs.celery_default_queue
    if inputs.release_id is not None:
        values["RELEASE_ID"] = inputs.release_id
    plain: dict[str, V | str] = {inputs.env_names.get(name, name): value for name, value in values.items()}
    secrets = {name: inputs.env_names.get(name, name) for name in SECRET_NAMES if name in inputs.secrets}
    # extraEnv may override a plain value (a dev stack's DJANGO_DEBUG; each target's rules say which
    # it refuses), never put a plaintext value under a secret's name.
    clash = sorted((set(inputs.target_env) | set(inputs.extra_env)) & (set(secrets.values()) | set(SECRET_NAMES)))
    if clash:
        raise ValueError(
            f"djangostack:app.extraEnv: {', '.join(clash)} would hold a secret in plaintext; set it with "
            "`pulumi config set --secret` (secretKey, databaseUrl, redisUrl, sentryDsn) instead"
        )
    plain.update(inputs.target_env)
    plain.update(inputs.extra_env)
    return AppEnv(plain=dict(sorted(plain.items())), secrets=secrets)


def app_contract_problems(
    *,
    env_names: Mapping[str, str],
    extra_env: Mapping[str, str],
    health_path: str,
    liveness_path: str,
    static_root: str = "static",
    media_root: str | None = None,
    media_storage: str = "local",
) -> list[str]:
    """Validation of the app-contract settings, one line per problem (the settings rules call it).

    - ``app.envNames``: see ``env_name_problems``.
    - ``app.healthPath`` / ``app.livenessPath``: never ``/``. Nginx answers the readiness path to
      private addresses only, so a health path of ``/`` would hide the home page from everyone
      else; the two checks get paths of their own.
    - ``app.staticRoot`` / ``app.mediaRoot``: two different folders; ``mediaRoot`` only with media
      on the host (with a bucket the uploads never touch the host's disk).
    """
    found = env_name_problems(env_names, extra_env)
    for key, path in (("healthPath", health_path), ("livenessPath", liveness_path)):
        if path == "/":
            found.append(
                f"djangostack:app.{key}: '/' is the site's home page, and the health endpoints are answered to "
                "private addresses only, so the public would lose it; give the check its own path (/readyz, /healthz)"
            )
    if health_path == liveness_path and health_path != "/":
        found.append(
            f"djangostack:app.livenessPath: {liveness_path!r} is also app.healthPath; liveness (no database, no "
            "cache) and readiness need paths of their own"
        )
    if media_root is not None:
        if media_root == static_root:
            found.append(
                f"djangostack:app.mediaRoot: {media_root!r} is also app.staticRoot; uploads need their own folder"
            )
        if media_storage != "local":
            found.append(
                f"djangostack:app.mediaRoot: media live in a bucket (media.storage {media_storage}), so there is no "
                "folder on the host to point it at; remove app.mediaRoot"
            )
    return found
