"""The ``aws ssm send-command`` wrapper the release and migration steps run, with a fake AWS CLI.

It must name the region on every call (AWS CLI v1 ignores ``AWS_REGION``), skip the migration only
on the very first update (no Auto Scaling group of the stack exists yet), and fail loudly whenever a
fleet exists but no host answers.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from djangostack.offline.mocking import Recording
from djangostack.targets.aws.host_integration import SSM_SEND_COMMAND_SCRIPT

FAKE_AWS = """#!/bin/bash
echo "$* AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-}" >> "$CALLS"
case "$1 $2" in
    "ssm describe-instance-information") echo "${FAKE_HOST:-None}" ;;
    "autoscaling describe-auto-scaling-groups") echo "${FAKE_GROUPS:-0}" ;;
    "ssm send-command") echo cmd-1 ;;
    "ssm get-command-invocation")
        if [[ "$*" == *StandardOutputContent* ]]; then echo "release output"; else echo Success; fi ;;
    *) echo "unexpected call: $*" >&2; exit 2 ;;
esac
"""


def _run(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "aws").write_text(FAKE_AWS)
    (bin_dir / "aws").chmod(0o755)
    calls = tmp_path / "calls.log"
    calls.touch()
    environment = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "CALLS": str(calls),
        "AWS_REGION": "eu-west-1",
        "DOCUMENT": "notes-prod-app-release",
        "MODE": "release",
        "RELEASE_ID": "2026.11.25-1",
        "ARCHIVE_KEY": "releases/2026.11.25-1.tar.gz",
        "ARCHIVE_SHA256": "0" * 64,
        "STACK_TAG": "notes-prod-app",
        "TIMEOUT_SECONDS": "30",
        "REQUIRE_HOST": "0",
        "HOST_WAIT_SECONDS": "2",
        "POLL_SECONDS": "1",
        **env,
    }
    result = subprocess.run(
        ["/bin/bash", "-c", SSM_SEND_COMMAND_SCRIPT], env=environment, capture_output=True, text=True, timeout=60
    )
    return result, calls.read_text().splitlines()


def test_no_host_while_the_fleet_exists_fails_loudly_and_sends_nothing(tmp_path: Path) -> None:
    result, calls = _run(tmp_path, FAKE_GROUPS="1")
    assert result.returncode == 1
    assert "no web host of notes-prod-app is reachable through SSM" in result.stderr
    assert "did NOT migrate" in result.stderr
    assert not [c for c in calls if c.startswith("ssm send-command")]


def test_no_host_and_no_fleet_is_the_first_update_and_defers_to_the_initial_step(tmp_path: Path) -> None:
    result, calls = _run(tmp_path, FAKE_GROUPS="0")
    assert result.returncode == 0, result.stderr
    assert "first update" in result.stdout
    assert any("Name=tag:djangostack:stack,Values=notes-prod-app" in c for c in calls)


def test_a_required_host_that_never_answers_fails_even_without_a_fleet(tmp_path: Path) -> None:
    result, calls = _run(tmp_path, REQUIRE_HOST="1", FAKE_GROUPS="0")
    assert result.returncode == 1
    assert "did NOT migrate" in result.stderr
    assert not [c for c in calls if c.startswith("autoscaling")], "a required host never counts as a first update"


def test_every_call_names_the_region_for_aws_cli_v1_and_v2(tmp_path: Path) -> None:
    result, calls = _run(tmp_path, FAKE_HOST="i-0123456789abcdef0")
    assert result.returncode == 0, result.stderr
    assert "release output" in result.stdout
    assert calls, "the CLI was never called"
    for call in calls:
        assert "--region eu-west-1" in call, call
        assert call.endswith("AWS_DEFAULT_REGION=eu-west-1"), call
    assert any(c.startswith("ssm send-command") for c in calls)


def test_the_steps_set_both_region_variables_and_the_group_carries_the_tag_the_wrapper_looks_for(
    prod: Recording,
) -> None:
    for name in ("notes-prod-app-migrate", "notes-prod-app-migrate-initial"):
        environment = prod.named(name).inputs["environment"]
        assert environment["AWS_REGION"] == environment["AWS_DEFAULT_REGION"] == "eu-west-1"
        assert environment["STACK_TAG"] == "notes-prod-app"
    group = prod.one("aws:autoscaling/group:Group")
    assert {"key": "djangostack:stack", "value": "notes-prod-app", "propagateAtLaunch": False} in group.inputs["tags"]
