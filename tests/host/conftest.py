"""Fixtures for the host-layer tests: host contexts for representative stacks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from djangostack.host.context import HostContext
from djangostack.settings.loading import load_from_stack_file
from djangostack.targets.hosts import host_context
from djangostack.validation import validate
from tests.harness import fixture_stack

ROOT = Path(__file__).resolve().parents[2]

SERVER_TARGET: dict[str, Any] = {
    "kind": "server",
    "host": "203.0.113.10",
    "sshKeyFile": "id_ed25519",
    "sshHostKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHRlc3QtaG9zdC1rZXktZm9yLXRoZS1maXh0dXJl",
}
"""A server target reached with a key file and a pinned host key (a documentation address)."""


def dev_context() -> HostContext:
    """The dev fixture stack: server target, local Postgres/Redis, Celery on, custom ports."""
    return host_context(load_from_stack_file(fixture_stack("dev")))


def letsencrypt_context() -> HostContext:
    """A prod server with a Let's Encrypt domain, firewall on, external database, Celery off."""
    raw: dict[str, Any] = {
        "environment": "prod",
        "target": dict(SERVER_TARGET),
        "app": {"name": "shop", "releaseId": "v1.2.3", "extraEnv": {"FEATURE_X": "on"}},
        "web": {"workerClass": "gthread", "threads": 4, "timeoutSeconds": 60, "maxUploadMb": 20},
        "database": {"mode": "external", "sslmode": "verify-full"},
        "cache": {"mode": "local"},
        "domain": {
            "names": ["shop.example.com", "www.shop.example.com"],
            "tls": {"mode": "letsencrypt", "email": "ops@example.com"},
        },
        "observability": {"sentry": True},
    }
    settings = validate(raw, {"databaseUrl", "sentryDsn"}, set())
    return host_context(settings)


def alb_context() -> HostContext:
    """aws-ec2 behind a load balancer (ACM): Nginx on plain HTTP, S3 media, managed services."""
    raw: dict[str, Any] = {
        "environment": "staging",
        "target": {"kind": "aws-ec2", "instances": 2},
        "app": {"name": "api", "releaseId": "r42"},
        "database": {"mode": "managed"},
        "cache": {"mode": "managed"},
        "media": {"storage": "s3"},
        "celery": {"worker": True, "queues": ["default", "emails"]},
        "domain": {"names": ["api.example.com"], "tls": {"mode": "acm"}},
    }
    settings = validate(raw, set(), set())
    return host_context(settings, media_bucket="api-staging-media")


CONTEXTS = {"dev": dev_context, "letsencrypt": letsencrypt_context, "alb": alb_context}


@pytest.fixture(params=sorted(CONTEXTS))
def any_ctx(request: pytest.FixtureRequest) -> HostContext:
    return CONTEXTS[request.param]()


@pytest.fixture
def dev() -> HostContext:
    return dev_context()


@pytest.fixture
def letsencrypt() -> HostContext:
    return letsencrypt_context()


@pytest.fixture
def alb() -> HostContext:
    return alb_context()
