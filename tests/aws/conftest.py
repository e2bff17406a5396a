"""Fixtures for the aws-ec2 target tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness import Recording, evaluate_stack

SINGLE = Path(__file__).parent / "Pulumi.single.yaml"


@pytest.fixture(scope="module")
def prod() -> Recording:
    """The prod fixture stack: two instances behind an ALB, Multi-AZ RDS, Redis with a replica."""
    return evaluate_stack("prod")


@pytest.fixture(scope="module")
def single() -> Recording:
    """tests/aws/Pulumi.single.yaml: one instance with an Elastic IP, staging, SSH release."""
    return evaluate_stack(SINGLE)
