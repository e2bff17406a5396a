"""Tests own their stack files (issue 15): users edit stacks/*.yaml (a new ``app.releaseId`` is how
they release), so no test may assert values read from them.

Two guards: the harness resolves stack names to tests/fixtures/stacks even when the shipped stacks
have been edited, and no test source reaches the shipped stacks except the validity tests below,
which check that every shipped stack is accepted and within limits, never what it contains.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from djangostack.offline import mocking
from tests.harness import FIXTURE_STACKS, Recording, evaluate_stack, fixture_stack

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent
SHIPPED = REPO / "stacks"
EDITED_RELEASE = "2099.12.31-7"

# A direct reference to the shipped stacks: a path into stacks/, or a stack name handed to the
# command line or to the mocking engine's own evaluate_stack (which resolves names into stacks/).
SHIPPED_REFERENCE = re.compile(
    r"""(?<!fixtures/)stacks/Pulumi\.|["']stacks["']"""
    r"""|"--stack",\s*"(dev|staging|prod)"|mocking import[^\n]*\bevaluate_stack\b"""
)

# file -> the exact lines allowed to match, each for validity only or not touching the shipped files.
VALIDITY_ONLY: dict[str, set[str]] = {
    # every shipped stack loads and has a release id
    "tests/unit/test_config.py": {
        'STACKS = sorted((REPO / "stacks").glob("Pulumi.*.yaml"))',
        'assert project["stackConfigDir"] == "stacks"',
    },
    # the shipped prod stack passes the AWS checks
    "tests/aws/test_aws_settings.py": {'SHIPPED_PROD = REPO / "stacks" / "Pulumi.prod.yaml"'},
    # the host files of every aws stack are well-formed
    "tests/aws/test_host_files.py": {
        'for path in sorted([*REPO.glob("stacks/Pulumi.*.yaml"), *REPO.glob("tests/**/Pulumi.*.yaml")]):',
        'assert {"stacks/Pulumi.prod.yaml", "tests/aws/Pulumi.single.yaml"} <= names',
    },
    # every stack passes every policy
    "tests/policy/test_guardrails.py": {
        'STACKS = stack_files(REPO / "stacks", REPO / "tests" / "aws", REPO / "tests" / "gcp")',
        'assert {"stacks/Pulumi.dev.yaml", "stacks/Pulumi.staging.yaml", "stacks/Pulumi.prod.yaml"} <= names',
    },
    # every stack is within the cloud limits
    "tests/unit/test_cloud_limits.py": {
        '[*REPO.glob("stacks/Pulumi.*.yaml"), *REPO.glob("tests/**/Pulumi.*.yaml"), '
        '*REPO.glob("benchmarks/Pulumi.*.yaml")]'
    },
    # the fixture directory itself
    "tests/harness.py": {'FIXTURE_STACKS = Path(__file__).resolve().parent / "fixtures" / "stacks"'},
    # a CI script refusing a stack name on its command line (no stack file is read)
    "tests/artifacts/test_ci_scripts.py": {
        '(["--stack", "dev", "--host", "d.example", "--host-key", "ssh-ed25519 AAAA"], "other than dev"),'
    },
    # the upgrade tests' own fixture stacks (tests/upgrade/stacks), and the previous layout's own
    # mocks engine run on them by the recorder
    "tests/upgrade/record_previous_urns.py": {
        'STACKS = HERE / "stacks"',
        "from components.mocking import evaluate_stack",
    },
    "tests/upgrade/test_aliases.py": {
        'STACKS = sorted((HERE / "stacks").glob("Pulumi.*.yaml"))',
        'nodes = resource_nodes(records(evaluate_stack(HERE / "stacks" / f"Pulumi.{stack}.yaml")), stack, PROJECT)',
    },
    "tests/engine/test_layout_upgrade.py": {
        'shutil.copy2(before.stack_file(STACK), current / "stacks" / before.stack_file(STACK).name)',
    },
    # throwaway project copies for the engine tests (their own stacks/ directory, not the shipped one)
    "tests/engine/conftest.py": {
        '(dest / "stacks").mkdir(exist_ok=True)',
        'return self.cwd / "stacks" / f"Pulumi.{stack}.yaml"',
    },
}


def shipped_references() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted(TESTS.rglob("*.py")):
        if path == Path(__file__).resolve():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            if SHIPPED_REFERENCE.search(line):
                found.setdefault(path.relative_to(REPO).as_posix(), set()).add(line.strip())
    return found


def test_only_the_validity_tests_reach_the_shipped_stacks() -> None:
    found = shipped_references()
    unexpected = {name: lines - VALIDITY_ONLY.get(name, set()) for name, lines in found.items()}
    unexpected = {name: lines for name, lines in unexpected.items() if lines}
    assert unexpected == {}, "use tests.harness.fixture_stack / evaluate_stack instead of stacks/"


def test_the_allow_list_names_only_references_that_exist() -> None:
    # A stale entry would let a new reference with the same text slip through unnoticed.
    found = shipped_references()
    stale = {name: lines - found.get(name, set()) for name, lines in VALIDITY_ONLY.items()}
    assert {name: lines for name, lines in stale.items() if lines} == {}


def test_the_scan_catches_a_direct_reference() -> None:
    for line in (
        'load_from_stack_file(REPO / "stacks/Pulumi.dev.yaml")',
        'REPO / "stacks" / "Pulumi.prod.yaml"',
        'cli(["plan", "--stack", "staging"])',
        "from djangostack.offline.mocking import REPO, evaluate_stack",
    ):
        assert SHIPPED_REFERENCE.search(line), line
    assert not SHIPPED_REFERENCE.search('evaluate_stack("prod")')


def test_the_fixture_stacks_are_the_three_environments() -> None:
    assert sorted(p.name for p in FIXTURE_STACKS.glob("Pulumi.*.yaml")) == [
        "Pulumi.dev.yaml",
        "Pulumi.prod.yaml",
        "Pulumi.staging.yaml",
    ]


def _release_edited(source: Path, dest: Path) -> Path:
    """``source`` copied to ``dest`` as a user releasing would leave it: a new ``app.releaseId``
    (and a new image tag where the stack pins one)."""
    document = yaml.safe_load(source.read_text(encoding="utf-8"))
    app = document["config"]["djangostack:app"]
    old = str(app["releaseId"])
    app["releaseId"] = EDITED_RELEASE
    if isinstance(app.get("image"), str):
        app["image"] = app["image"].replace(old, EDITED_RELEASE)
    dest.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return dest


def _dump(recording: Recording) -> str:
    return json.dumps([[r.inputs for r in recording.resources], recording.outputs], default=str, sort_keys=True)


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_releasing_from_the_shipped_stacks_does_not_reach_the_tests(
    stack: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    edited = _release_edited(SHIPPED / f"Pulumi.{stack}.yaml", tmp_path / f"Pulumi.{stack}.yaml")
    # Wherever the engine would resolve a stack name into stacks/, it now finds the edited copy.
    monkeypatch.setattr(mocking, "stack_file", lambda name, project=None: tmp_path / f"Pulumi.{name}.yaml")
    assert EDITED_RELEASE in _dump(mocking.evaluate_stack(stack))  # the edit is visible to the program
    owned = _dump(evaluate_stack(stack))
    assert EDITED_RELEASE not in owned
    fixture_release = yaml.safe_load(fixture_stack(stack).read_text(encoding="utf-8"))["config"]["djangostack:app"]
    assert str(fixture_release["releaseId"]) in owned
    assert edited.is_file()
