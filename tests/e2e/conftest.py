"""Fixtures for the end-to-end tests: one real systemd host per test session."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tools.testhost import DEFAULT_CACHE_DIR, DEFAULT_SSH_PORT, TestHost, build_base_root, require_test_host


@pytest.fixture(scope="session")
def test_host() -> Iterator[TestHost]:
    """A booted Debian bookworm container, systemd as PID 1, reached over SSH as `deploy`.

    The base root is cached in `<repo>/.cache/testhost`; the machine root is recreated
    from it for every session. Set TESTHOST_SSH_PORT to run several sessions side by side,
    TESTHOST_REQUIRED=1 to fail (not skip) when the host cannot run containers.
    """
    require_test_host()
    port = int(os.environ.get("TESTHOST_SSH_PORT", str(DEFAULT_SSH_PORT)))
    cache_dir = DEFAULT_CACHE_DIR
    host = TestHost(cache_dir / "machines" / f"pytest-{port}", port, base_root=build_base_root(cache_dir))
    with host.booted():
        yield host
