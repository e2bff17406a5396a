"""aws-ec2 settings and pure rules: bad input stops before any resource, with a message naming the key."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from djangostack.settings.errors import SettingsError
from djangostack.settings.loading import load_from_stack_file, read_stack_file
from djangostack.settings.stack import StackSettings
from djangostack.targets.aws.rules import (
    check_settings,
    instance_architecture,
    performance_insights_supported,
    plan_subnets,
)
from djangostack.validation import validate
from tests.aws.conftest import SINGLE
from tests.harness import evaluate_stack, fixture_stack

REPO = Path(__file__).resolve().parents[2]
PROD = fixture_stack("prod")
SHIPPED_PROD = REPO / "stacks" / "Pulumi.prod.yaml"


def _raw(path: Path) -> tuple[dict[str, Any], set[str]]:
    raw, secrets, _ = read_stack_file(path)
    return copy.deepcopy(raw), secrets


def _settings(path: Path, **changes: Any) -> StackSettings:
    raw, secrets = _raw(path)
    raw.update(changes)
    return validate(raw, secrets, set())


def test_both_aws_stack_files_validate() -> None:
    assert load_from_stack_file(PROD).target.kind == "aws-ec2"
    assert load_from_stack_file(SINGLE).target.instances == 1  # type: ignore[union-attr]


def test_an_instance_type_outside_its_family_is_rejected_naming_the_key() -> None:
    raw, secrets = _raw(PROD)
    raw["target"] = {**raw["target"], "instanceType": "t3.huge"}
    with pytest.raises(SettingsError) as error:
        validate(raw, secrets, set())
    (line,) = error.value.lines
    assert line.startswith("djangostack:target.instanceType:")
    assert "t3.huge" in line and "micro" in line


def test_an_unknown_instance_family_is_rejected() -> None:
    raw, secrets = _raw(PROD)
    raw["target"] = {**raw["target"], "instanceType": "x9.large"}
    with pytest.raises(SettingsError, match=r"target\.instanceType: unknown instance family 'x9'"):
        validate(raw, secrets, set())


def test_a_cidr_overlapping_the_referenced_network_stops_before_any_resource() -> None:
    network = {
        "mode": "reference",
        "cidr": "10.20.0.0/16",
        "reference": {"stack": "acme/network/prod", "cidr": "10.0.0.0/8"},
    }
    # validate() runs the AWS rules too, so `check` and the program stop on the same line.
    with pytest.raises(SettingsError) as error:
        _settings(PROD, network=network)
    assert any(line.startswith("djangostack:network.cidr: 10.20.0.0/16 overlaps") for line in error.value.lines)
    # Through the program: the update stops with the same line, before any resource is registered.
    with pytest.raises((SettingsError, pulumi.RunError), match=r"network\.cidr: 10\.20\.0\.0/16 overlaps"):
        evaluate_stack("prod", overrides={"network": network})


def test_the_referenced_network_itself_is_accepted() -> None:
    network = {
        "mode": "reference",
        "cidr": "10.0.0.0/8",
        "reference": {"stack": "acme/network/prod", "cidr": "10.0.0.0/8"},
    }
    check_settings(_settings(PROD, network=network))


def test_ssh_from_the_whole_internet_is_rejected_by_config() -> None:
    raw, secrets = _raw(PROD)
    raw["network"] = {**raw["network"], "adminCidrs": ["0.0.0.0/0"]}
    with pytest.raises(SettingsError, match="SSH is never open to the world"):
        validate(raw, secrets, set())


def test_a_huge_admin_range_is_rejected_before_any_resource() -> None:
    # validate() runs the AWS rules too, so `check` and the program stop on the same line.
    with pytest.raises(SettingsError, match=r"network\.adminCidrs: 0\.0\.0\.0/1"):
        _settings(PROD, network={"cidr": "10.20.0.0/16", "nat": "per-az", "adminCidrs": ["0.0.0.0/1"]})


def test_a_fleet_without_nat_is_rejected() -> None:
    # validate() runs the AWS rules too, so `check` and the program stop on the same line.
    with pytest.raises(SettingsError, match=r"network\.nat: 'none'"):
        _settings(PROD, network={"cidr": "10.20.0.0/16", "nat": "none"})


def test_a_fleet_needs_a_domain_with_an_acm_certificate() -> None:
    # validate() runs the AWS rules too, so `check` and the program stop on the same line.
    with pytest.raises(SettingsError, match=r"djangostack:domain: target\.instances is 2"):
        _settings(PROD, domain={})


def test_acm_on_a_single_instance_is_rejected() -> None:
    # validate() runs the AWS rules too, so `check` and the program stop on the same line.
    with pytest.raises(SettingsError, match="acm certificates are served by a load balancer"):
        _settings(SINGLE, domain={"names": ["a.example.com"], "tls": {"mode": "acm"}})


def test_the_shipped_stacks_pass_the_aws_checks() -> None:
    check_settings(load_from_stack_file(SHIPPED_PROD))
    check_settings(load_from_stack_file(PROD))
    check_settings(load_from_stack_file(SINGLE))


def test_single_fixture_has_a_stack_file_header_and_secure_secrets() -> None:
    text = SINGLE.read_text(encoding="utf-8")
    assert text.startswith("# single")
    config = yaml.safe_load(text)["config"]
    assert set(config["djangostack:sshPrivateKey"]) == {"secure"}


# --------------------------------------------------------------------------------------------------
# Pure rules
# --------------------------------------------------------------------------------------------------


def test_subnets_are_carved_into_stable_slots() -> None:
    plan = plan_subnets("10.20.0.0/16", 2)
    assert plan.public == ("10.20.0.0/20", "10.20.16.0/20")
    assert plan.private == ("10.20.128.0/20", "10.20.144.0/20")
    wider = plan_subnets("10.20.0.0/16", 3)
    assert wider.public[:2] == plan.public and wider.private[:2] == plan.private, "adding an AZ moves nothing"


def test_subnets_never_overlap_for_any_az_count() -> None:
    import ipaddress

    for count in range(2, 7):
        plan = plan_subnets("10.0.0.0/24", count)
        nets = [ipaddress.ip_network(c) for c in (*plan.public, *plan.private)]
        assert all(not a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1 :])


@pytest.mark.parametrize(
    ("db_class", "supported"),
    [
        ("db.t2.micro", False),
        ("db.t2.large", False),
        ("db.t3.micro", False),
        ("db.t3.small", False),
        ("db.t4g.micro", False),
        ("db.t4g.small", False),
        ("db.t3.medium", True),
        ("db.t4g.medium", True),
        ("db.m7g.large", True),
        ("db.r6g.xlarge", True),
    ],
)
def test_performance_insights_follows_the_instance_class(db_class: str, supported: bool) -> None:
    assert performance_insights_supported(db_class) is supported


@pytest.mark.parametrize(
    ("instance_type", "arch"),
    [
        ("t3.small", "amd64"),
        ("t3a.medium", "amd64"),
        ("t4g.small", "arm64"),
        ("m7g.large", "arm64"),
        ("c7i.large", "amd64"),
    ],
)
def test_graviton_families_get_the_arm64_image(instance_type: str, arch: str) -> None:
    assert instance_architecture(instance_type) == arch


@pytest.mark.artifacts
def test_the_aws_host_scripts_pass_shellcheck(tmp_path: Path) -> None:
    import shutil
    import subprocess

    from djangostack.targets.aws.host_integration import SSM_SEND_COMMAND_SCRIPT, aws_release_script

    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed")
    release = tmp_path / "aws-release"
    release.write_text(aws_release_script(load_from_stack_file(SINGLE).app.name), encoding="utf-8")
    send = tmp_path / "ssm-send-command"
    send.write_text("#!/usr/bin/env bash\n" + SSM_SEND_COMMAND_SCRIPT, encoding="utf-8")
    result = subprocess.run(["shellcheck", str(release), str(send)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


def test_an_app_name_too_long_for_the_load_balancer_is_rejected() -> None:
    raw, secrets = _raw(PROD)
    raw["app"] = {**raw["app"], "name": "a-very-long-application-name"}
    with pytest.raises(SettingsError, match=r"djangostack:app.name: .* too long for the load balancer"):
        validate(raw, secrets, set())
