"""Liveness and readiness endpoints."""

import json

import pytest
from django.db import OperationalError

from notes import health
from tests.conftest import closed_port


def redis_cache_at(port: int) -> dict:
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }


@pytest.mark.django_db
def test_healthz_touches_neither_database_nor_cache(client, settings, django_assert_num_queries):
    settings.CACHES = redis_cache_at(closed_port())  # any cache access would fail
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_healthz_head(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.head("/healthz")
    assert response.status_code == 200
    assert response.content == b""


def test_healthz_rejects_writes(client):
    assert client.post("/healthz").status_code == 405


def test_health_paths_answer_plain_http_probes_without_redirect(http_client):
    response = http_client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_health_paths_ignore_the_host_header(http_client):
    """Load balancers probe with the instance IP as Host; that must not be a 400."""
    response = http_client.get("/healthz", HTTP_HOST="10.1.2.3:8080")
    assert response.status_code == 200
    # Everything else still enforces ALLOWED_HOSTS.
    assert http_client.get("/", HTTP_HOST="10.1.2.3:8080", HTTP_X_FORWARDED_PROTO="https").status_code == 400


@pytest.mark.django_db
def test_readyz_ok_with_real_database_and_cache(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "release": "test-release",
        "checks": {"database": "ok", "cache": "ok"},
    }
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_readyz_over_plain_http(http_client):
    assert http_client.get("/readyz").status_code == 200


@pytest.mark.django_db
def test_readyz_503_when_cache_unreachable(client, settings):
    settings.CACHES = redis_cache_at(closed_port())
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["release"] == "test-release"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["cache"] == "error: ConnectionError"


@pytest.mark.django_db
def test_readyz_503_when_database_fails_without_leaking_details(client, monkeypatch):
    class BrokenConnection:
        def cursor(self):
            raise OperationalError('connection to server at "10.9.9.9" failed: password=hunter2')

    monkeypatch.setattr(health, "connection", BrokenConnection())
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["checks"] == {"database": "error: OperationalError", "cache": "ok"}
    raw = json.dumps(body)
    assert "hunter2" not in raw
    assert "10.9.9.9" not in raw
