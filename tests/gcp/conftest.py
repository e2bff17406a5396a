"""Fixtures for the gcp-cloudrun graph tests: recordings of the staging stack and a prod-like one.

Each evaluation runs the real program under the recording mocks in its own context and event loop
(``tests.harness.evaluate_stack``), so sharing one recording between read-only tests is safe.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness import Recording, evaluate_stack

PROD_FIXTURE = Path(__file__).with_name("Pulumi.prod.yaml")


@pytest.fixture(scope="session")
def staging() -> Recording:
    """The staging fixture stack (tests/fixtures/stacks/Pulumi.staging.yaml)."""
    return evaluate_stack("staging")


@pytest.fixture(scope="session")
def prod() -> Recording:
    """The prod-like fixture: HA, custom domains, Sentry, configured SECRET_KEY, digest-pinned image."""
    return evaluate_stack(PROD_FIXTURE)
