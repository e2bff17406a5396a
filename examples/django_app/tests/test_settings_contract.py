"""The environment contract: what the settings require, default to and refuse."""

import json
import logging

import pytest
from django.conf import settings

from project.jsonlog import JsonFormatter
from tests.conftest import production_env, run_python

DUMP_SETTINGS = """
import json, django
django.setup()
from django.conf import settings
from django.core.files.storage import storages
default_storage = storages["default"]
print(json.dumps({
    "DEBUG": settings.DEBUG,
    "ALLOWED_HOSTS": settings.ALLOWED_HOSTS,
    "CSRF_TRUSTED_ORIGINS": settings.CSRF_TRUSTED_ORIGINS,
    "CONN_MAX_AGE": settings.DATABASES["default"]["CONN_MAX_AGE"],
    "CONN_HEALTH_CHECKS": settings.DATABASES["default"]["CONN_HEALTH_CHECKS"],
    "ENGINE": settings.DATABASES["default"]["ENGINE"],
    "CACHE_BACKEND": settings.CACHES["default"]["BACKEND"],
    "BROKER": settings.CELERY_BROKER_URL,
    "STORAGE_CLASS": type(default_storage).__module__ + "." + type(default_storage).__name__,
    "STORAGE": {k: getattr(default_storage, k, None) for k in (
        "bucket_name", "region_name", "default_acl", "file_overwrite", "location",
        "querystring_auth", "iam_sign_blob", "access_key", "secret_key")},
    "SECURE_SSL_REDIRECT": settings.SECURE_SSL_REDIRECT,
    "SECURE_HSTS_SECONDS": settings.SECURE_HSTS_SECONDS,
    "X_FRAME_OPTIONS": settings.X_FRAME_OPTIONS,
}, default=str))
"""


def dump_settings(**env_overrides):
    result = run_python(["-c", DUMP_SETTINGS], production_env(**env_overrides))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("missing", "overrides"),
    [
        ("SECRET_KEY", {"SECRET_KEY": None}),
        ("SECRET_KEY", {"SECRET_KEY": ""}),
        ("DATABASE_URL", {"DATABASE_URL": None}),
        ("ALLOWED_HOSTS", {"ALLOWED_HOSTS": None}),
        ("REDIS_URL", {"REDIS_URL": None}),
    ],
)
def test_settings_fail_fast_without_required_values(missing, overrides):
    result = run_python(["manage.py", "check"], production_env(**overrides))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert f"The {missing} environment variable is required" in result.stderr


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"MEDIA_STORAGE": "ftp"}, "MEDIA_STORAGE must be one of local, s3, gcs"),
        ({"MEDIA_STORAGE": "s3"}, "MEDIA_BUCKET is required when MEDIA_STORAGE=s3"),
        ({"DJANGO_DEBUG": "maybe"}, "DJANGO_DEBUG must be a boolean"),
        ({"SECURE_HSTS_SECONDS": "soon"}, "SECURE_HSTS_SECONDS must be an integer"),
        ({"CELERY_HEARTBEAT_SECONDS": "0"}, "CELERY_HEARTBEAT_SECONDS must be at least 1, got 0"),
        ({"CELERY_HEARTBEAT_SECONDS": "often"}, "CELERY_HEARTBEAT_SECONDS must be an integer"),
        (
            {"MEDIA_ROOT": "/tmp/same", "STATIC_ROOT": "/tmp/same"},
            "STATIC_ROOT and MEDIA_ROOT must be different",
        ),
    ],
)
def test_settings_reject_invalid_values(overrides, message):
    result = run_python(["manage.py", "check"], production_env(**overrides))
    assert result.returncode != 0
    assert message in result.stderr


def test_debug_allows_missing_hosts_and_redis_for_local_development():
    values = dump_settings(DJANGO_DEBUG="true", ALLOWED_HOSTS=None, REDIS_URL=None)
    assert values["DEBUG"] is True
    assert values["ALLOWED_HOSTS"] == ["localhost", "127.0.0.1", "[::1]"]
    assert values["CACHE_BACKEND"].endswith("LocMemCache")


def test_production_defaults_from_environment():
    values = dump_settings(
        ALLOWED_HOSTS="a.example.com, b.example.com",
        CSRF_TRUSTED_ORIGINS="https://a.example.com,https://b.example.com",
        DATABASE_CONN_MAX_AGE="120",
    )
    assert values["DEBUG"] is False
    assert values["ALLOWED_HOSTS"] == ["a.example.com", "b.example.com"]
    assert values["CSRF_TRUSTED_ORIGINS"] == ["https://a.example.com", "https://b.example.com"]
    assert values["ENGINE"] == "django.db.backends.postgresql"
    assert values["CONN_MAX_AGE"] == 120
    assert values["CONN_HEALTH_CHECKS"] is True
    assert values["CACHE_BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert values["STORAGE_CLASS"] == "django.core.files.storage.filesystem.FileSystemStorage"
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_HSTS_SECONDS"] == 300
    assert values["X_FRAME_OPTIONS"] == "DENY"


def test_celery_broker_defaults_to_redis_and_can_be_overridden():
    assert dump_settings(REDIS_URL="redis://cache:6379/1")["BROKER"] == "redis://cache:6379/1"
    overridden = dump_settings(REDIS_URL="redis://cache:6379/1", CELERY_BROKER_URL="redis://broker:6379/2")
    assert overridden["BROKER"] == "redis://broker:6379/2"


def test_s3_media_storage_uses_instance_role_and_private_objects():
    values = dump_settings(MEDIA_STORAGE="s3", MEDIA_BUCKET="media-bucket", AWS_REGION="eu-west-1")
    assert values["STORAGE_CLASS"] == "storages.backends.s3.S3Storage"
    storage = values["STORAGE"]
    assert storage["bucket_name"] == "media-bucket"
    assert storage["region_name"] == "eu-west-1"
    assert storage["default_acl"] is None
    assert storage["file_overwrite"] is False
    assert storage["location"] == "media"
    assert storage["querystring_auth"] is True
    assert storage["access_key"] is None
    assert storage["secret_key"] is None


def test_gcs_media_storage():
    values = dump_settings(MEDIA_STORAGE="gcs", MEDIA_BUCKET="media-bucket")
    assert values["STORAGE_CLASS"] == "storages.backends.gcloud.GoogleCloudStorage"
    storage = values["STORAGE"]
    assert storage["bucket_name"] == "media-bucket"
    assert storage["default_acl"] is None
    assert storage["file_overwrite"] is False
    assert storage["location"] == "media"
    assert storage["iam_sign_blob"] is True


def test_check_deploy_is_clean_with_production_values():
    result = run_python(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout + result.stderr


def test_check_deploy_is_clean_with_full_hsts():
    env = production_env(
        SECURE_HSTS_SECONDS="31536000",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="true",
        SECURE_HSTS_PRELOAD="true",
    )
    result = run_python(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)" in result.stdout, result.stdout


def test_check_deploy_is_a_real_gate():
    """The silenced checks are narrow: DEBUG or a weak key still fails the gate."""
    for overrides, check_id in (
        ({"DJANGO_DEBUG": "true"}, "security.W018"),
        ({"SECRET_KEY": "too-short"}, "security.W009"),
        ({"SECURE_HSTS_SECONDS": "0"}, "security.W004"),
    ):
        result = run_python(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], production_env(**overrides))
        assert result.returncode != 0, overrides
        assert check_id in result.stderr + result.stdout, overrides


def test_migrations_are_complete():
    result = run_python(["manage.py", "makemigrations", "--check", "--dry-run"], production_env())
    assert result.returncode == 0, result.stdout + result.stderr


def test_security_and_upload_settings_in_process():
    assert settings.SECURE_PROXY_SSL_HEADER == ("HTTP_X_FORWARDED_PROTO", "https")
    assert settings.SESSION_COOKIE_SECURE is True
    assert settings.CSRF_COOKIE_SECURE is True
    assert settings.SESSION_COOKIE_HTTPONLY is True
    assert settings.SESSION_COOKIE_SAMESITE == "Lax"
    assert settings.SECURE_CONTENT_TYPE_NOSNIFF is True
    assert settings.SECURE_REFERRER_POLICY == "strict-origin-when-cross-origin"
    assert settings.USE_X_FORWARDED_HOST is False
    assert settings.SECURE_HSTS_INCLUDE_SUBDOMAINS is False
    assert settings.SECURE_HSTS_PRELOAD is False
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == 10485760
    assert settings.FILE_UPLOAD_MAX_MEMORY_SIZE == 2621440
    assert settings.STATIC_URL == "/static/"
    assert settings.MEDIA_URL == "/media/"
    assert settings.STATIC_ROOT != settings.MEDIA_ROOT
    assert settings.STORAGES["staticfiles"]["BACKEND"] == "whitenoise.storage.CompressedManifestStaticFilesStorage"
    middleware = settings.MIDDLEWARE
    assert middleware[0] == "django.middleware.security.SecurityMiddleware"
    assert middleware[1] == "whitenoise.middleware.WhiteNoiseMiddleware"


def test_celery_configuration():
    from project.celery import app

    conf = app.conf
    assert app.main == "project"
    assert conf.broker_url == settings.REDIS_URL
    assert conf.accept_content == ["json"]
    assert conf.task_serializer == "json"
    assert conf.result_serializer == "json"
    assert conf.timezone == "UTC"
    assert conf.enable_utc is True
    assert conf.task_always_eager is False
    assert conf.task_acks_late is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_time_limit == 1800
    assert conf.task_soft_time_limit == 1500
    assert conf.broker_connection_retry_on_startup is True
    assert "notes.record_ping" in app.tasks


def test_beat_schedules_the_heartbeat_task():
    import notes.tasks  # noqa: F401 - registers the tasks, as the worker's autodiscovery does
    from project.celery import app

    assert app.conf.beat_schedule == {"heartbeat": {"task": "notes.heartbeat", "schedule": 300.0}}
    assert "notes.heartbeat" in app.tasks


def test_the_heartbeat_task_records_its_time_in_the_cache():
    from django.core.cache import cache

    from notes.tasks import HEARTBEAT_CACHE_KEY, heartbeat

    cache.delete(HEARTBEAT_CACHE_KEY)
    heartbeat()
    assert cache.get(HEARTBEAT_CACHE_KEY) is not None


def test_logging_is_json_lines():
    record = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "boom %s", ("x",), None)
    record.status_code = 500
    line = JsonFormatter().format(record)
    assert "\n" not in line
    payload = json.loads(line)
    assert payload["level"] == "ERROR"
    assert payload["logger"] == "django.request"
    assert payload["message"] == "boom x"
    assert payload["status_code"] == 500
    assert settings.LOGGING["loggers"]["django"]["level"] == "INFO"
    assert settings.LOGGING["loggers"]["django.request"]["level"] == "ERROR"
    assert settings.LOGGING["loggers"]["django.security.csrf"]["level"] == "WARNING"


def test_sentry_initialised_only_with_dsn():
    probe = (
        "import django, sentry_sdk; django.setup(); "
        "c = sentry_sdk.get_client(); o = c.options if c.is_active() else {}; "
        "print(c.is_active(), o.get('release'), o.get('environment'), o.get('send_default_pii'), "
        "o.get('traces_sample_rate'))"
    )
    off = run_python(["-c", probe], production_env())
    assert off.returncode == 0, off.stderr
    assert off.stdout.split()[0] == "False"
    on = run_python(
        ["-c", probe],
        production_env(
            SENTRY_DSN="https://public@sentry.invalid/1",
            SENTRY_ENVIRONMENT="staging",
            RELEASE_ID="app@abc123",
        ),
    )
    assert on.returncode == 0, on.stderr
    assert on.stdout.split() == ["True", "app@abc123", "staging", "False", "0.0"]
