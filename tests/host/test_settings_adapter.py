"""``app.adaptSettings``: the settings module a release gets when the app's own settings read
nothing from the environment (a starter's output, a packaged app).

The adapter is executed here for real, in a subprocess with a throwaway settings package of the
kind ``wagtail start`` generates (hard-coded SQLite, DEBUG on, a dev secret key), and the app
environment the host would give it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from djangostack.host.context import HostContext
from djangostack.host.render import ADAPTER_MODULE, env_values, render_release_script, settings_adapter_source
from djangostack.settings.errors import SettingsError
from djangostack.settings.loading import load_from_stack_file, read_stack_file
from djangostack.targets.gcp import rules as gcp_rules
from djangostack.targets.hosts import host_context
from djangostack.validation import validate
from tests.harness import fixture_stack

APP_SETTINGS = """\
from pathlib import Path
BASE_DIR = Path(__file__).resolve().parent.parent.parent
DEBUG = True
SECRET_KEY = "django-insecure-dev-only"
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["django.contrib.contenttypes"]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "mysite.settings.production"
urlpatterns = []
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"},
    "legacy": {"ENGINE": "django.db.backends.sqlite3", "NAME": "legacy.sqlite3"},
}
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "static"
MEDIA_ROOT = BASE_DIR / "media"
_private = "not a setting"
"""


@pytest.fixture
def ctx() -> HostContext:
    base = host_context(load_from_stack_file(fixture_stack("dev")))
    return dataclasses.replace(base, adapt_settings=True, settings_module="mysite.settings.production")


def write_app(tmp_path: Path, ctx: HostContext, app_settings: str = APP_SETTINGS) -> None:
    package = tmp_path / "mysite" / "settings"
    package.mkdir(parents=True)
    (tmp_path / "mysite" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "production.py").write_text(app_settings)
    (tmp_path / f"{ADAPTER_MODULE}.py").write_text(settings_adapter_source(ctx))


def run_adapter(
    tmp_path: Path, ctx: HostContext, env: dict[str, str], app_settings: str = APP_SETTINGS
) -> dict[str, Any]:
    write_app(tmp_path, ctx, app_settings)
    probe = (
        f"import json, {ADAPTER_MODULE} as s\n"
        "names = [n for n in dir(s) if n.isupper()]\n"
        "print(json.dumps({n: getattr(s, n) for n in names}, default=str))\n"
        "print(json.dumps(hasattr(s, '_private')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n{probe}"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    values, private = result.stdout.splitlines()
    assert json.loads(private) is False, "only upper-case names are settings"
    return dict(json.loads(values))


def test_the_adapter_puts_the_host_over_the_apps_own_settings(tmp_path: Path, ctx: HostContext) -> None:
    env = {name: value for name, value in env_values(ctx).items()}
    env.update(
        SECRET_KEY="k" * 50,
        DATABASE_URL="postgres://notes:p%40ss%2Fword@127.0.0.1:5433/notes?sslmode=disable",
        STATIC_ROOT="/srv/notes/releases/r1/static",
    )
    values = run_adapter(tmp_path, ctx, env)
    assert values["SECRET_KEY"] == "k" * 50
    assert values["DEBUG"] is False
    assert values["ALLOWED_HOSTS"] == env["ALLOWED_HOSTS"].split(",")
    assert values["CSRF_TRUSTED_ORIGINS"] == env["CSRF_TRUSTED_ORIGINS"].split(",")
    databases = values["DATABASES"]
    assert isinstance(databases, dict)
    assert databases["default"] == {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "notes",
        "USER": "notes",
        "PASSWORD": "p@ss/word",
        "HOST": "127.0.0.1",
        "PORT": "5433",
        "CONN_MAX_AGE": int(env["DATABASE_CONN_MAX_AGE"]),
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {"sslmode": "disable"},
    }
    assert databases["legacy"]["NAME"] == "legacy.sqlite3", "the app's other databases stay"
    assert values["STATIC_URL"] == "/static/"
    assert values["STATIC_ROOT"] == "/srv/notes/releases/r1/static"
    assert values["MEDIA_URL"] == "/media/"
    assert values["MEDIA_ROOT"] == ctx.media_dir
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert values["SESSION_COOKIE_SECURE"] is True and values["CSRF_COOKIE_SECURE"] is True
    assert values["SECURE_HSTS_SECONDS"] == ctx.hsts_seconds
    # the app's own apps stay; PostgreSQL's contrib app joins them (its field checks need it)
    assert values["INSTALLED_APPS"] == ["django.contrib.contenttypes", "django.contrib.postgres"]
    assert values["MIDDLEWARE"] == [
        f"{ADAPTER_MODULE}.HealthMiddleware",
        "django.middleware.security.SecurityMiddleware",  # the HTTPS settings act through it
        "django.middleware.common.CommonMiddleware",
    ]
    assert {"security.W005", "security.W021"} <= set(values["SILENCED_SYSTEM_CHECKS"])


def test_an_apps_own_security_middleware_keeps_its_place(tmp_path: Path, ctx: HostContext) -> None:
    own = APP_SETTINGS.replace(
        'MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]',
        'MIDDLEWARE = ["django.middleware.common.CommonMiddleware", "django.middleware.security.SecurityMiddleware"]',
    )
    env = env_values(ctx)
    env.update(SECRET_KEY="k", DATABASE_URL="postgres://u:p@h/d", STATIC_ROOT="/x")
    values = run_adapter(tmp_path, ctx, env, own)
    assert values["MIDDLEWARE"] == [
        f"{ADAPTER_MODULE}.HealthMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.security.SecurityMiddleware",
    ]


def test_renamed_contract_variables_are_read_under_the_apps_names(tmp_path: Path, ctx: HostContext) -> None:
    renamed = dataclasses.replace(ctx, env_names=(("SECRET_KEY", "DJANGO_SECRET_KEY"),))
    env = env_values(renamed)
    env.update(DJANGO_SECRET_KEY="s" * 50, DATABASE_URL="postgres://u:p@db.internal/app", STATIC_ROOT="/x")
    values = run_adapter(tmp_path, renamed, env)
    assert values["SECRET_KEY"] == "s" * 50
    assert values["DATABASES"]["default"]["PORT"] == ""


def test_media_in_a_bucket_leaves_the_apps_media_settings_alone(tmp_path: Path, ctx: HostContext) -> None:
    env = env_values(ctx)
    env.update(MEDIA_STORAGE="s3", SECRET_KEY="k", DATABASE_URL="postgres://u:p@h/d", STATIC_ROOT="/x")
    values = run_adapter(tmp_path, ctx, env)
    assert values["MEDIA_ROOT"].endswith("/media")
    assert values["MEDIA_ROOT"] != ctx.media_dir


def test_the_app_environment_names_the_adapter(ctx: HostContext) -> None:
    assert env_values(ctx)["DJANGO_SETTINGS_MODULE"] == ADAPTER_MODULE
    plain = dataclasses.replace(ctx, adapt_settings=False)
    assert env_values(plain)["DJANGO_SETTINGS_MODULE"] == "mysite.settings.production"


def test_the_release_writes_the_adapter_and_adds_a_postgresql_driver_and_the_redis_client(ctx: HostContext) -> None:
    script = render_release_script(ctx)
    assert f"<<'DJANGOSTACK_ADAPTER'\n{settings_adapter_source(ctx)}DJANGOSTACK_ADAPTER\n" in script
    assert "PSYCOPG_REQUIREMENT='psycopg[binary]==" in script
    assert "REDIS_REQUIREMENT=redis==" in script
    assert 'u.find_spec("redis")' in script and 'pip install --python "$venv/bin/python" "$REDIS_REQUIREMENT"' in script
    assert 'printf \'adapter %s %s\\n\' "$PSYCOPG_REQUIREMENT" "$REDIS_REQUIREMENT"' in script, (
        "the pins are part of the venv key"
    )
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)
    plain = render_release_script(dataclasses.replace(ctx, adapt_settings=False))
    assert "DJANGOSTACK_ADAPTER" not in plain and "PSYCOPG" not in plain and "REDIS_REQUIREMENT" not in plain


def test_the_stacks_redis_is_the_cache_of_an_app_that_sets_none(tmp_path: Path, ctx: HostContext) -> None:
    env = env_values(ctx)
    env.update(SECRET_KEY="k", DATABASE_URL="postgres://u:p@h/d", STATIC_ROOT="/x", REDIS_URL="redis://:pw@h:6380/0")
    values = run_adapter(tmp_path, ctx, env)
    assert values["CACHES"] == {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://:pw@h:6380/0",
            "OPTIONS": {"socket_connect_timeout": 3, "socket_timeout": 3},
        }
    }


def test_an_apps_own_cache_and_a_stack_without_redis_keep_djangos_choice(tmp_path: Path, ctx: HostContext) -> None:
    env = env_values(ctx)
    env.update(SECRET_KEY="k", DATABASE_URL="postgres://u:p@h/d", STATIC_ROOT="/x", REDIS_URL="redis://h:6380/0")
    own = APP_SETTINGS + 'CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}\n'
    assert run_adapter(tmp_path / "own", ctx, env, own)["CACHES"]["default"]["BACKEND"].endswith("DummyCache")
    del env["REDIS_URL"]
    assert "CACHES" not in run_adapter(tmp_path / "none", ctx, env)


@pytest.mark.parametrize("module", ["djangostack_settings", "djangostack_settings.base", "a-b.settings", "x;y"])
def test_a_settings_module_the_adapter_cannot_import_is_refused(ctx: HostContext, module: str) -> None:
    with pytest.raises(ValueError, match=r"app\.settingsModule"):
        settings_adapter_source(dataclasses.replace(ctx, settings_module=module))


@pytest.mark.parametrize("module", ["djangostack_settings", "djangostack_settings.production"])
def test_check_refuses_the_adapters_own_module_as_the_apps_settings(module: str) -> None:
    raw, secrets, plaintext = read_stack_file(fixture_stack("dev"))
    raw = {**raw, "app": {**raw["app"], "adaptSettings": True, "settingsModule": module}}
    with pytest.raises(SettingsError) as error:
        validate(raw, secrets, plaintext, "dev")
    assert error.value.lines == [
        "djangostack:app.settingsModule: with app.adaptSettings it names the app's own settings, "
        f"which djangostack_settings imports (got {module!r})"
    ]
    raw["app"]["adaptSettings"] = False  # without the adapter the name is the app's business
    validate(raw, secrets, plaintext, "dev")


def test_cloud_run_refuses_adapt_settings() -> None:
    settings = load_from_stack_file(fixture_stack("staging"))
    assert not [line for line in gcp_rules.combination_problems(settings) if "adaptSettings" in line]
    adapted = settings.model_copy(update={"app": settings.app.model_copy(update={"adapt_settings": True})})
    found = [line for line in gcp_rules.combination_problems(adapted) if "adaptSettings" in line]
    assert found and found[0].startswith("djangostack:app.adaptSettings: the gcp-cloudrun target runs the image")


HEALTH_PROBE = """\
import json, django
from django.test import Client
django.setup()
client = Client(HTTP_HOST="evil.example.com")
for path in ({liveness!r}, {health!r}):
    response = client.get(path)
    print(json.dumps([response.status_code, json.loads(response.content)]))
"""


def test_the_adapter_answers_the_health_endpoints_before_the_host_check(tmp_path: Path, ctx: HostContext) -> None:
    write_app(tmp_path, ctx)
    env = env_values(ctx)
    # Nothing listens on port 9: readiness says the database is not ready, liveness does not care.
    env.update(SECRET_KEY="k" * 50, DATABASE_URL="postgres://u:p@127.0.0.1:9/d", STATIC_ROOT="/x", RELEASE_ID="r7")
    env["PYTHONPATH"] = str(tmp_path)
    probe = HEALTH_PROBE.format(liveness=ctx.liveness_path, health=ctx.health_path)
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    live, ready = (json.loads(line) for line in result.stdout.splitlines())
    assert live == [200, {"status": "ok"}]
    assert ready[0] == 503 and ready[1]["status"] == "error" and ready[1]["release"] == "r7", ready
    assert ready[1]["checks"] == {"database": "OperationalError"}, "no Redis in the environment: no cache check"


@pytest.mark.parametrize("redis_up", [True, False])
def test_readiness_asks_the_stacks_redis_when_it_is_the_cache(tmp_path: Path, ctx: HostContext, redis_up: bool) -> None:
    """Against this machine's Redis (scripts/start-test-services.sh; ``TEST_REDIS_URL``) or a port
    nothing listens on."""
    write_app(tmp_path, ctx)
    env = env_values(ctx)
    redis_url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0") if redis_up else "redis://127.0.0.1:9/0"
    env.update(SECRET_KEY="k", DATABASE_URL="postgres://u:p@127.0.0.1:9/d", STATIC_ROOT="/x", REDIS_URL=redis_url)
    env["PYTHONPATH"] = str(tmp_path)
    probe = HEALTH_PROBE.format(liveness=ctx.liveness_path, health=ctx.health_path)
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    ready = json.loads(result.stdout.splitlines()[1])
    assert ready[0] == 503, "the database is down either way"
    assert ready[1]["checks"]["cache"] == ("ok" if redis_up else "ConnectionError"), ready
