"""``djangostack plan``: the offline plan shown on pull requests that cannot run
``pulumi preview`` (forks have no cloud credentials), and its diff against a saved plan."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from djangostack.offline.plan import (
    ABSENT,
    SECRET,
    Plan,
    PlanError,
    PlannedResource,
    compare_plans,
    diff_plans,
    make_plan,
    render_plan,
)
from tests.harness import fixture_stack

REPO = Path(__file__).resolve().parents[2]
STAND_IN = re.compile(r"mock-(secret|random)-")
SUMMARY = re.compile(r"^sha256:[0-9a-f]{12} \(\d+ bytes\)")


def stack_file(tmp_path: Path, stack: str, edit: dict[str, Any]) -> Path:
    """A copy of the fixture stack Pulumi.<stack>.yaml with some config keys replaced (``None`` removes one).
    Keys without a namespace are ours; a nested dict replaces only the fields it names."""
    document = yaml.safe_load(fixture_stack(stack).read_text(encoding="utf-8"))
    config = document["config"]
    for key, value in edit.items():
        full = key if ":" in key else f"djangostack:{key}"
        if value is None:
            config.pop(full, None)
        elif isinstance(value, dict) and isinstance(config.get(full), dict) and "secure" not in value:
            config[full] = {**config[full], **value}
        else:
            config[full] = value
    path = tmp_path / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=True), encoding="utf-8")
    return path


def run_cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "components", "plan", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def dev() -> Plan:
    return make_plan("dev")


@pytest.fixture(scope="module")
def staging() -> Plan:
    return make_plan("staging")


# --------------------------------------------------------------------------------------------------
# Determinism
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_two_evaluations_of_a_stack_print_byte_identical_plans(stack: str) -> None:
    first, second = make_plan(stack), make_plan(stack)
    for fmt in ("json", "markdown"):
        assert render_plan(first, fmt) == render_plan(second, fmt), f"{stack} {fmt} plan differs between runs"


def test_the_plan_does_not_depend_on_the_working_directory_or_the_checkout_path(tmp_path: Path) -> None:
    from_repo = run_cli("--stack", str(fixture_stack("dev").relative_to(REPO)), "--format", "json")
    elsewhere = run_cli("--stack", str(fixture_stack("dev")), "--format", "json", cwd=tmp_path)
    assert from_repo.returncode == 0, from_repo.stderr
    assert elsewhere.returncode == 0, elsewhere.stderr
    assert from_repo.stdout == elsewhere.stdout
    assert str(REPO) not in from_repo.stdout


def test_asset_paths_are_relative_to_the_repository() -> None:
    prod = make_plan("prod")
    archive = next(r for r in prod.resources if r.inputs.get("source", {}).get("fileAsset"))
    assert archive.inputs["source"]["fileAsset"].startswith(".cache/"), archive.inputs["source"]
    assert str(REPO) not in render_plan(prod, "json")


def _local_cache_paths(value: Any) -> list[str]:
    """Every string input naming a file under the project's .cache (asset paths, SshCopy sources)."""
    if isinstance(value, dict):
        return [p for v in value.values() for p in _local_cache_paths(v)]
    if isinstance(value, list):
        return [p for v in value for p in _local_cache_paths(v)]
    return [value] if isinstance(value, str) and ".cache/" in value and value.endswith(".tar.gz") else []


def test_every_target_writes_its_release_archive_into_the_one_artifacts_folder(dev: Plan) -> None:
    aws = make_plan(REPO / "tests" / "aws" / "Pulumi.single.yaml")
    for plan in (dev, aws):
        archives = [p for r in plan.resources for p in _local_cache_paths(r.inputs)]
        assert archives, f"{plan.stack}: no release archive"
        assert all("/.cache/artifacts/" in f"/{p}" for p in archives), archives


def test_resources_and_outputs_are_sorted(staging: Plan) -> None:
    keys = [r.key for r in staging.resources]
    assert keys == sorted(keys)
    assert list(staging.outputs) == sorted(staging.outputs)


def test_long_scripts_are_shown_by_hash_size_and_first_line(dev: Plan) -> None:
    bootstrap = next(r for r in dev.resources if r.name == "host-bootstrap")
    assert SUMMARY.match(bootstrap.inputs["delete"]), bootstrap.inputs["delete"]
    for resource in dev.resources:
        for key, value in resource.inputs.items():
            if isinstance(value, str):
                assert "\n" not in value, f"{resource.name}.{key} printed across several lines"


# --------------------------------------------------------------------------------------------------
# Secrets
# --------------------------------------------------------------------------------------------------


def test_secret_config_values_never_appear_in_any_format(tmp_path: Path) -> None:
    path = stack_file(
        tmp_path,
        "dev",
        {
            "secretKey": {"secure": "v1:AAAA"},
            "databasePassword": {"secure": "v1:BBBB"},
            "redisPassword": {"secure": "v1:CCCC"},
            "sshPrivateKey": {"secure": "v1:DDDD"},
        },
    )
    plan = make_plan(path)
    for fmt in ("json", "markdown"):
        text = render_plan(plan, fmt)
        assert not STAND_IN.search(text), f"a secret stand-in reached the {fmt} plan"
        assert SECRET in text
    release = next(r for r in plan.resources if r.name == "host-release")
    assert release.inputs["connection"] == SECRET, "the SSH connection carries the private key"
    assert plan.outputs["databaseUrl"] == SECRET
    assert plan.warnings == [], plan.warnings


def test_generated_passwords_of_a_cloud_stack_never_appear(staging: Plan) -> None:
    text = render_plan(staging, "json") + render_plan(staging, "markdown")
    assert not STAND_IN.search(text)
    versions = [r for r in staging.resources if r.type == "gcp:secretmanager/secretVersion:SecretVersion"]
    assert versions, "expected Secret Manager versions on staging"
    assert all(r.inputs["secretData"] == SECRET for r in versions)


def test_the_diff_never_prints_secrets(tmp_path: Path, dev: Plan) -> None:
    path = stack_file(tmp_path, "dev", {"secretKey": {"secure": "v1:AAAA"}, "sshPrivateKey": {"secure": "v1:DDDD"}})
    text = diff_plans(dev.to_json(), make_plan(path))
    assert not STAND_IN.search(text)


def test_a_secret_value_is_unchanged_unless_the_secret_appears_or_disappears() -> None:
    def plan(inputs: dict[str, Any]) -> Plan:
        return Plan(stack="dev", resources=[PlannedResource("t:m:R", "r", None, inputs)], outputs={})

    same = compare_plans(plan({"password": SECRET}), plan({"password": SECRET}))
    assert same.changed == []
    appeared = compare_plans(plan({}), plan({"password": SECRET}))
    assert appeared.changed[0][1] == [("password", ABSENT, SECRET)]


# --------------------------------------------------------------------------------------------------
# Diffs
# --------------------------------------------------------------------------------------------------


def test_a_new_release_id_on_dev_changes_exactly_the_release_step(tmp_path: Path, dev: Plan) -> None:
    path = stack_file(tmp_path, "dev", {"app": {"releaseId": "2026.12.01-1"}})
    diff = compare_plans(dev, make_plan(path))
    assert [r.name for r, _ in diff.changed] == ["host-release"], diff.changed
    assert diff.added == [] and diff.removed == []
    assert diff.summary == "+0 ~1 -0"
    changed_paths = {p for p, _, _ in diff.changed[0][1]}
    assert "triggers[0]" in changed_paths
    assert ("releaseId", dev.outputs["releaseId"], "2026.12.01-1") in diff.output_changes

    text = diff_plans(dev.to_json(), make_plan(path))
    assert "**+0 ~1 -0**" in text
    assert '`"2026.12.01-1"`' in text


def test_turning_celery_off_on_staging_removes_the_worker_and_beat(tmp_path: Path, staging: Plan) -> None:
    path = stack_file(tmp_path, "staging", {"celery": {"worker": False, "beat": False}})
    without = make_plan(path)
    removed = compare_plans(staging, without)
    assert {r.name for r in removed.removed} == {"notes-staging-worker", "notes-staging-beat"}
    assert removed.summary.endswith("-2")

    added = compare_plans(without, staging)
    assert {r.name for r in added.added} == {"notes-staging-worker", "notes-staging-beat"}
    text = diff_plans(without.to_json(), staging)
    assert text.splitlines()[0].endswith(added.summary)
    assert "notes-staging-worker" in text.split("#### Added")[1].split("#### Changed")[0]


def test_a_plan_compared_with_itself_has_no_changes(staging: Plan) -> None:
    diff = compare_plans(Plan.from_json(staging.to_json()), staging)
    assert diff.summary == "+0 ~0 -0"
    assert diff.unchanged == len(staging.resources)
    assert diff.output_changes == []


def test_nested_inputs_compare_leaf_by_leaf() -> None:
    def plan(image: str) -> Plan:
        inputs = {"template": {"containers": [{"image": image, "name": "web"}]}, "labels": {"a.b/c": "x"}}
        return Plan(stack="s", resources=[PlannedResource("t:m:R", "r", "p", inputs)], outputs={})

    diff = compare_plans(plan("app:1"), plan("app:2"))
    assert diff.changed[0][1] == [("template.containers[0].image", "app:1", "app:2")]


# --------------------------------------------------------------------------------------------------
# Formats
# --------------------------------------------------------------------------------------------------


def test_the_json_plan_round_trips(staging: Plan) -> None:
    text = staging.to_json()
    again = Plan.from_json(text)
    assert again == staging
    assert again.to_json() == text
    document = json.loads(text)
    assert set(document) >= {"stack", "resources", "outputs"}
    assert document["stack"] == "staging"


def test_a_file_that_is_not_a_plan_is_refused_with_a_message() -> None:
    with pytest.raises(PlanError, match="not a JSON plan"):
        Plan.from_json("nope")
    with pytest.raises(PlanError, match="format 1"):
        Plan.from_json("{}")


def _table_rows_are_well_formed(text: str) -> None:
    rows = [line for line in text.splitlines() if line.startswith("|")]
    assert rows, "expected at least one table"
    for row in rows:
        cells = re.split(r"(?<!\\)\|", row)[1:-1]
        assert len(cells) in (2, 3), f"malformed table row: {row}"


def test_the_markdown_plan_has_a_table_per_section(staging: Plan) -> None:
    text = render_plan(staging, "markdown")
    assert text.startswith("## Plan for stack `staging`")
    for heading in ("### Resources", "### Inputs", "### Outputs"):
        assert heading in text
    _table_rows_are_well_formed(text)
    assert f"{len(staging.resources)} resources" in text


def test_the_markdown_diff_has_a_summary_and_a_list_per_section(tmp_path: Path, dev: Plan) -> None:
    path = stack_file(tmp_path, "dev", {"app": {"releaseId": "r2"}})
    text = diff_plans(dev.to_json(), make_plan(path))
    assert re.match(r"^### Plan diff for stack `dev`: \+\d+ ~\d+ -\d+$", text.splitlines()[0])
    sections = re.split(r"^#### ", text, flags=re.MULTILINE)[1:]
    assert [s.split(" (")[0] for s in sections[:3]] == ["Added", "Changed", "Removed"]
    for section in sections:
        body = [line for line in section.splitlines()[1:] if line.strip() and not line.startswith("<sub>")]
        assert body, f"empty section {section.splitlines()[0]}"
        assert body[0].startswith("- ") or body[0] == "_none_", f"section {section.splitlines()[0]} is not a list"
    assert text.count("<details>") == text.count("</details>")


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------


def test_the_command_line_saves_json_and_prints_a_diff_against_it(tmp_path: Path) -> None:
    saved = run_cli("--stack", str(fixture_stack("dev")), "--format", "json")
    assert saved.returncode == 0, saved.stderr
    base = tmp_path / "base.json"
    base.write_text(saved.stdout, encoding="utf-8")
    diff = run_cli("--stack", str(fixture_stack("dev")), "--diff", str(base))
    assert diff.returncode == 0, diff.stderr
    assert diff.stdout.splitlines()[0] == "### Plan diff for stack `dev`: +0 ~0 -0"


def test_an_invalid_stack_exits_1_with_one_line_per_problem(tmp_path: Path) -> None:
    path = stack_file(tmp_path, "dev", {"web": {"workers": 0}, "environment": "qa"})
    result = run_cli("--stack", str(path))
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("invalid stack settings ("), result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreadable_base_plan_exits_1_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "base.json"
    bad.write_text("[]", encoding="utf-8")
    result = run_cli("--stack", str(fixture_stack("dev")), "--diff", str(bad))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "format 1" in result.stderr, result.stderr
    missing = run_cli("--stack", str(fixture_stack("dev")), "--diff", str(tmp_path / "absent.json"))
    assert missing.returncode == 1
    assert "cannot read the base plan" in missing.stderr
