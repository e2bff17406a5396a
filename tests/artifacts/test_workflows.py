"""The GitHub Actions workflows: actionlint (with shellcheck on every ``run:`` block) and the
policies the workflows promise: pinned actions, OIDC instead of cloud keys, one update of a stack
at a time, prod behind the ``production`` environment, pinned SSH host keys."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.artifacts

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"
WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yml"))
LOCAL_ACTIONS = sorted((REPO / ".github" / "actions").glob("*/action.yml"))

PINS: dict[str, tuple[str, str]] = {
    "actions/checkout": ("3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "actions/setup-python": ("5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0"),
    "actions/setup-go": ("b7ad1dad31e06c5925ef5d2fc7ad053ef454303e", "v7.0.0"),
    "actions/upload-artifact": ("bbbca2ddaa5d8feaa63e36b76fdaad77386f024f", "v7.0.0"),
    "actions/download-artifact": ("3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c", "v8.0.1"),
    "aws-actions/configure-aws-credentials": ("e6de054238d6b7531b4efff3b6587d9aade6a06c", "v6.2.3"),
    "google-github-actions/auth": ("7c6bc770dae815cd3e89ee6cdf493a5fab2cc093", "v3.0.0"),
    "marocchino/sticky-pull-request-comment": ("5770ad5eb8f42dd2c4f34da00c94c5381e49af88", "v3.0.5"),
    "pulumi/auth-actions": ("141415910c3beb54e03b48e9057c204c97b956f2", "v2.1.0"),
}
"""Every third-party action we use: the commit its release tag pointed to (read from the action's
repository, tag -> commit) and that tag. A new action or a version bump is added here first."""

USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?:\s+#\s*(?P<comment>.*))?$")
PINNED = re.compile(r"^(?P<action>[\w.-]+/[\w.-]+)(?:/[\w./-]+)?@(?P<sha>[0-9a-f]{40})$")


def load(name: str) -> dict[str, Any]:
    document = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    # PyYAML reads the key `on` as the boolean True.
    if True in document:
        document["on"] = document.pop(True)
    return dict(document)


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps") or [])


def uses(step: dict[str, Any], action: str) -> bool:
    return str(step.get("uses", "")).startswith(f"{action}@")


def actionlint() -> str:
    found = REPO / ".tools" / "bin" / "actionlint"
    if found.is_file():
        return str(found)
    on_path = shutil.which("actionlint")
    if on_path is None:
        pytest.skip("actionlint is not installed (scripts/install-actionlint.sh)")
    return on_path


def test_the_workflows_exist() -> None:
    names = {p.name for p in WORKFLOW_FILES}
    assert names >= {"ci.yml", "preview.yml", "preview-comment.yml", "deploy.yml", "drift.yml"}


def test_actionlint_finds_nothing_in_the_workflows() -> None:
    result = subprocess.run(
        [actionlint(), "-no-color", *map(str, WORKFLOW_FILES)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_checks_run_blocks_with_shellcheck() -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed")
    bad = "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo $UNQUOTED\n"
    result = subprocess.run(
        [actionlint(), "-no-color", "-"], input=bad, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != 0 and "shellcheck" in result.stdout, result.stdout


def test_the_installer_is_shellcheck_clean() -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed")
    script = REPO / "scripts" / "install-actionlint.sh"
    result = subprocess.run(["shellcheck", str(script)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("path", WORKFLOW_FILES + LOCAL_ACTIONS, ids=lambda p: p.parent.name + "/" + p.name)
def test_every_third_party_action_is_pinned_to_a_commit_with_its_tag_in_a_comment(path: Path) -> None:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = USES.match(line)
        if match is None:
            continue
        ref = match["ref"]
        if ref.startswith("./"):
            continue  # an action of this repository
        pinned = PINNED.match(ref)
        assert pinned, f"{path.name}:{number}: {ref} is not pinned to a full commit SHA"
        action = pinned["action"]
        assert action in PINS, f"{path.name}:{number}: {action} is not in the reviewed PINS list"
        sha, tag = PINS[action]
        assert pinned["sha"] == sha, f"{path.name}:{number}: {action} pinned to another commit than PINS"
        assert match["comment"] == tag, f"{path.name}:{number}: the comment must name the tag ({tag})"


def test_no_workflow_uses_long_lived_cloud_keys_or_learns_host_keys() -> None:
    for path in WORKFLOW_FILES:
        text = yaml.safe_dump(load(path.name))  # without the comments, which may name them
        for forbidden in ("aws-access-key-id", "aws-secret-access-key", "credentials_json", "ssh-keyscan"):
            assert forbidden not in text, f"{path.name} uses {forbidden}"


def test_ci_runs_lint_types_and_the_ci_entry_point_and_cancels_superseded_runs() -> None:
    ci = load("ci.yml")
    assert set(ci["on"]) == {"pull_request", "push"}
    assert ci["concurrency"]["cancel-in-progress"] is True
    assert "github.ref" in ci["concurrency"]["group"]
    runs = "\n".join(str(s.get("run", "")) for job in ci["jobs"].values() for s in steps(job))
    for command in ("ruff check", "ruff format --check", "mypy components", "sudo -E"):
        assert command in runs, f"ci.yml does not run {command}"


def test_ci_runs_the_ci_entry_point_so_real_host_suites_cannot_skip() -> None:
    """Finding 6: ci.yml called scripts/test.sh, without TESTHOST_REQUIRED, so e2e/engine could skip."""
    test_job = load("ci.yml")["jobs"]["test"]
    commands = [str(s["run"]) for s in steps(test_job) if "run" in s]
    assert any(".ci/run" in c for c in commands), commands
    assert not any("scripts/test.sh" in c for c in commands), "call .ci/run, which sets TESTHOST_REQUIRED=1"
    assert "TESTHOST_REQUIRED=1" in (REPO / ".ci" / "run").read_text(encoding="utf-8")


def test_forks_get_the_offline_plan_diff_posted_by_a_trusted_workflow() -> None:
    preview = load("preview.yml")
    job = preview["jobs"]["offline-plan"]
    assert "id-token" not in job["permissions"], "the offline plan must not ask for cloud tokens"
    assert set(job["permissions"]) == {"contents"}
    script = "\n".join(str(s.get("run", "")) for s in steps(job))
    assert "components plan --stack" in script and "--format json" in script and "--diff" in script
    comment = load("preview-comment.yml")
    assert comment["on"]["workflow_run"]["workflows"] == ["preview"]
    comment_steps = steps(comment["jobs"]["comment"])
    for step in comment_steps:
        if uses(step, "actions/checkout"):
            # Only the default branch's helpers, never the pull request's head or repository.
            assert step["with"]["ref"] == "${{ github.event.repository.default_branch }}"
            assert "repository" not in step["with"]
    assert any(uses(s, "marocchino/sticky-pull-request-comment") for s in comment_steps)


def test_the_server_stack_gets_its_key_from_a_secret_and_a_pinned_host_key() -> None:
    dev = load("deploy.yml")["jobs"]["dev"]
    script = "\n".join(str(s.get("run", "")) for s in steps(dev))
    assert "--secret sshPrivateKey" in script and "printf '%s\\n' \"$DEV_SSH_PRIVATE_KEY\" |" in script
    assert '--host-key "$DEV_SSH_HOST_KEY"' in script
    env = {k: v for s in steps(dev) for k, v in (s.get("env") or {}).items()}
    assert env["DEV_SSH_PRIVATE_KEY"] == "${{ secrets.DEV_SSH_PRIVATE_KEY }}"
    assert env["DEV_SSH_HOST_KEY"] == "${{ vars.DEV_SSH_HOST_KEY }}"
