"""Settings for the sample project.

Every deployment-specific value comes from the process environment (the "app
contract", see README.md). There are no per-environment settings files and no
silent fallbacks for things production needs: a missing SECRET_KEY or
DATABASE_URL stops the process at import time with ImproperlyConfigured.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip()


def env_required(name: str, hint: str) -> str:
    value = env_str(name)
    if value is None:
        raise ImproperlyConfigured(f"The {name} environment variable is required ({hint}).")
    return value


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false/1/0/yes/no/on/off), got {raw!r}.")


def env_int(name: str, default: int) -> int:
    raw = env_str(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}.") from None


def env_float(name: str, default: float) -> float:
    raw = env_str(name)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}.") from None


def env_list(name: str) -> list[str]:
    """Comma-separated list; blanks are dropped."""
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


# --------------------------------------------------------------------- core
SECRET_KEY = env_required("SECRET_KEY", "a long random string; never commit it")

DEBUG = env_bool("DJANGO_DEBUG", False)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS")
if not ALLOWED_HOSTS:
    if not DEBUG:
        raise ImproperlyConfigured(
            "The ALLOWED_HOSTS environment variable is required when DJANGO_DEBUG is off "
            "(comma-separated host names, e.g. 'example.com,www.example.com')."
        )
    ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]"]

# Full origins including the scheme, e.g. "https://example.com".
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

RELEASE_ID = env_str("RELEASE_ID", "dev")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "notes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Answers /healthz and /readyz before host validation (see notes/middleware.py).
    "notes.middleware.HealthCheckMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "project.urls"
WSGI_APPLICATION = "project.wsgi.application"
ASGI_APPLICATION = "project.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# ----------------------------------------------------------------- database
# No SQLite fallback: the app only ever runs against the PostgreSQL it is given.
# TLS etc. go in the URL query, e.g. "...?sslmode=require".
DATABASES = {
    "default": dj_database_url.parse(
        env_required("DATABASE_URL", "e.g. postgres://user:password@host:5432/name"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}

# ------------------------------------------------------------ cache / Redis
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL is None and not DEBUG:
    # Without Redis the cache would silently become per-process memory and
    # Celery would have no broker; refuse to start instead.
    raise ImproperlyConfigured(
        "The REDIS_URL environment variable is required when DJANGO_DEBUG is off (e.g. redis://:password@host:6379/0)."
    )

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "TIMEOUT": 300,
            # Bounded waits so a dead Redis fails a request (and /readyz) instead of hanging it.
            "OPTIONS": {"socket_connect_timeout": 3, "socket_timeout": 3},
        }
    }
else:  # DEBUG only (local development without Redis)
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# ------------------------------------------------------------------- Celery
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL) or "memory://"
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "celery")
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_TASK_ALWAYS_EAGER = False
# Results are recorded in the database by the tasks themselves; no result backend.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 1800
CELERY_TASK_SOFT_TIME_LIMIT = 1500
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A late-acked task must be redelivered only after it could have finished.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
# Keep the worker's logs in the same JSON format as the web process: Django's
# LOGGING owns the root logger, and stdout stays the real stdout (redirecting it
# into a logger would loop our stdout handler back into logging and drop lines).
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_REDIRECT_STDOUTS = False
# Beat's one periodic task: a heartbeat the worker records in the cache (proves beat, broker and
# worker are wired together). Whole seconds, at least 1.
CELERY_HEARTBEAT_SECONDS = env_int("CELERY_HEARTBEAT_SECONDS", 300)
if CELERY_HEARTBEAT_SECONDS < 1:
    raise ImproperlyConfigured(f"CELERY_HEARTBEAT_SECONDS must be at least 1, got {CELERY_HEARTBEAT_SECONDS}.")
CELERY_BEAT_SCHEDULE = {
    "heartbeat": {"task": "notes.heartbeat", "schedule": float(CELERY_HEARTBEAT_SECONDS)},
}

# ------------------------------------------------------ static & media files
STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "media")))
if STATIC_ROOT.resolve() == MEDIA_ROOT.resolve():
    raise ImproperlyConfigured("STATIC_ROOT and MEDIA_ROOT must be different directories.")

MEDIA_STORAGE = (env_str("MEDIA_STORAGE", "local") or "local").lower()
MEDIA_BUCKET = env_str("MEDIA_BUCKET")
AWS_REGION = env_str("AWS_REGION")

if MEDIA_STORAGE == "local":
    _media_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT), "base_url": MEDIA_URL},
    }
elif MEDIA_STORAGE in {"s3", "gcs"}:
    if not MEDIA_BUCKET:
        raise ImproperlyConfigured(f"MEDIA_BUCKET is required when MEDIA_STORAGE={MEDIA_STORAGE}.")
    if MEDIA_STORAGE == "s3":
        # Credentials come from the instance role / default AWS chain; no keys here.
        _media_storage = {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": MEDIA_BUCKET,
                "region_name": AWS_REGION,
                "default_acl": None,
                "file_overwrite": False,
                "location": "media",
                "querystring_auth": True,
            },
        }
    else:
        # Application Default Credentials (Cloud Run service account). Signed URLs
        # are produced through the IAM signBlob API because no key file exists.
        _media_storage = {
            "BACKEND": "storages.backends.gcloud.GoogleCloudStorage",
            "OPTIONS": {
                "bucket_name": MEDIA_BUCKET,
                "default_acl": None,
                "file_overwrite": False,
                "location": "media",
                "querystring_auth": True,
                "iam_sign_blob": True,
            },
        }
else:
    raise ImproperlyConfigured(f"MEDIA_STORAGE must be one of local, s3, gcs; got {MEDIA_STORAGE!r}.")

STORAGES = {
    "default": _media_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 10 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = env_int("FILE_UPLOAD_MAX_MEMORY_SIZE", 2560 * 1024)

# ----------------------------------------------------------------- security
# Only correct behind a proxy that overwrites X-Forwarded-Proto (our Nginx /
# the cloud load balancer); the app port must not be reachable directly.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
# Load balancers and local probes hit the health paths over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 300)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
X_FRAME_OPTIONS = env_str("X_FRAME_OPTIONS", "DENY")
USE_X_FORWARDED_HOST = env_bool("USE_X_FORWARDED_HOST", False)

# W005 (HSTS without includeSubDomains) and W021 (no HSTS preload) flag choices
# we make on purpose: both stay off until the operator has verified every
# subdomain serves HTTPS, then turns them on through the environment. They are
# silenced only while the corresponding setting is deliberately off, so
# `check --deploy` stays a meaningful gate for everything else.
SILENCED_SYSTEM_CHECKS = []
if not SECURE_HSTS_INCLUDE_SUBDOMAINS:
    SILENCED_SYSTEM_CHECKS.append("security.W005")
if not SECURE_HSTS_PRELOAD:
    SILENCED_SYSTEM_CHECKS.append("security.W021")

# ------------------------------------------------------------------ logging
LOG_LEVEL = (env_str("LOG_LEVEL", "INFO") or "INFO").upper()

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "project.jsonlog.JsonFormatter"}},
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "json",
        },
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
        "django.request": {"level": "ERROR"},
        "django.security.csrf": {"level": "WARNING"},
    },
}

# ------------------------------------------------------------------- Sentry
SENTRY_DSN = env_str("SENTRY_DSN")
if SENTRY_DSN:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=SENTRY_DSN,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        environment=env_str("SENTRY_ENVIRONMENT", "production"),
        release=RELEASE_ID,
        send_default_pii=False,
        traces_sample_rate=env_float("SENTRY_TRACES_SAMPLE_RATE", 0.0),
    )
