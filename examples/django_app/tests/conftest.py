import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from django.core.management import call_command
from django.test import Client

from tests.settings import TEST_DATABASE_URL, TEST_REDIS_URL

APP_DIR = Path(__file__).resolve().parent.parent


def production_env(**overrides: str) -> dict[str, str]:
    """A clean process environment holding a complete, production-like contract.

    Built from scratch (not a copy of os.environ) so subprocess tests see only
    what a deployment would give the app. A value of None removes the variable.
    """
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "app.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://app.example.com",
        "DATABASE_URL": TEST_DATABASE_URL,
        "REDIS_URL": TEST_REDIS_URL,
        "MEDIA_ROOT": os.environ["MEDIA_ROOT"],
        "STATIC_ROOT": os.environ["STATIC_ROOT"],
    }
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_python(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        cwd=APP_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def database_url_for(name: str) -> str:
    """TEST_DATABASE_URL pointing at another database on the same server."""
    parts = urlsplit(TEST_DATABASE_URL)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def closed_port() -> int:
    """A local TCP port with nothing listening on it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session", autouse=True)
def collected_static() -> Path:
    """Run collectstatic once, as a release does, so the manifest storage works."""
    call_command("collectstatic", "--noinput", verbosity=0)
    return Path(os.environ["STATIC_ROOT"])


@pytest.fixture(scope="session", autouse=True)
def _drop_run_queue_from_redis():
    """Remove this run's Celery queue and kombu binding keys from Redis afterwards."""
    yield
    queue = os.environ["CELERY_TASK_DEFAULT_QUEUE"]
    client = redis.Redis.from_url(TEST_REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"*{queue}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def client() -> Client:
    """A client whose requests arrive like ours do behind the TLS-terminating proxy."""
    return Client(HTTP_X_FORWARDED_PROTO="https")


@pytest.fixture
def http_client() -> Client:
    """A client speaking plain HTTP (no X-Forwarded-Proto), like a load-balancer probe."""
    return Client()
