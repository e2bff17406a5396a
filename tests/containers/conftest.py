"""Fixtures of the container contract test: the recorded specs, the image, PostgreSQL and Redis.

Needs root, podman and runc (scripts/setup.sh installs them) and debootstrap for the base image.
Everything is session-scoped: one image build, one PostgreSQL cluster, one Redis per run.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.containers import podman, services
from tests.containers.specs import CloudRunSpecs, cloudrun_specs
from tests.harness import evaluate_stack

STACK_FIXTURE = Path(__file__).with_name("Pulumi.containers.yaml")
TEST_IMAGE = "localhost/djangostack-sample:contract"


@pytest.fixture(scope="session")
def specs() -> CloudRunSpecs:
    return cloudrun_specs(evaluate_stack(STACK_FIXTURE))


@pytest.fixture(scope="session")
def image(specs: CloudRunSpecs) -> str:
    """The sample app's image built from the Dockerfile, also tagged as the image the program
    records, so the containers run exactly the recorded reference (never pulled)."""
    if os.geteuid() != 0:
        pytest.fail("the container tests need root (podman, a private PostgreSQL cluster)")
    missing = podman.missing_tools()
    if missing:
        pytest.fail(f"missing tools {missing}: run scripts/setup.sh (installs podman, runc, debootstrap)")
    podman.build_app_image(TEST_IMAGE)
    for spec in (specs.service, specs.job, *specs.worker_pools.values()):
        podman.podman("tag", TEST_IMAGE, spec.image)
    return TEST_IMAGE


@pytest.fixture(scope="session")
def pg_password() -> str:
    return secrets.token_hex(16)


@pytest.fixture(scope="session")
def postgres(specs: CloudRunSpecs, pg_password: str) -> Iterator[services.Postgres]:
    from urllib.parse import urlsplit

    role = urlsplit(specs.secret_values[specs.job.secret_env["DATABASE_URL"]]).username or "app"
    with services.postgres(role, pg_password) as pg:
        yield pg


@pytest.fixture(scope="session")
def redis() -> Iterator[services.Redis]:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is missing: run scripts/setup.sh")
    with services.tls_redis() as r:
        yield r
