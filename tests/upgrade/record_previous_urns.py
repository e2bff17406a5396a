"""Record the URNs the previous layout's program registers for the upgrade fixture stacks.

The root ``DjangoStack`` component moved every resource under a new parent; stacks deployed with
the previous program must upgrade without a replacement, so every URN of the current program has
to reach, through its aliases, a URN of the previous one (tests/upgrade/test_aliases.py). This
script runs the previous program itself — the commit ``PREVIOUS_LAYOUT`` unpacked with
``git archive`` into a temporary directory (the repository's worktrees are left alone) — under the
mocks engine of that commit, for every stack file in tests/upgrade/stacks/, and writes the URNs
(with each resource's explicit provider) to tests/upgrade/previous_urns.json. The server stacks are
also recorded from the commit before the host's stable names (``APP_NAMED_HOST``), whose stacks
upgrade through the same aliases.

Regenerate (only needed when a fixture stack is added or changed):

    .venv/bin/python tests/upgrade/record_previous_urns.py
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a script: the repository root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.upgrade.urns import resource_nodes
from tools.previous_host import unpack_commit

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
STACKS = HERE / "stacks"
GOLDEN = HERE / "previous_urns.json"
PROJECT = "djangostack"
PREVIOUS_LAYOUT = "ce7f7f1"
"""The last commit of the flat layout (components/program.py, the targets' plain ``deploy()``)."""
APP_NAMED_HOST = "488fb0f"
"""The last commit before the host resources got stable names: ``DjangoHost`` and its children were
named after ``app.name`` (``shop``, ``shop-bootstrap``, ...); the server stacks only."""
LAYOUTS = {PREVIOUS_LAYOUT: None, APP_NAMED_HOST: ("server", "server-ssh")}
"""Commit -> the fixture stacks recorded from it (None: all)."""

_RECORD = """
import json, sys
from pathlib import Path
from components.mocking import evaluate_stack
result = {}
for path in sys.argv[1:]:
    stack = Path(path).name.removeprefix("Pulumi.").removesuffix(".yaml")
    recording = evaluate_stack(Path(path))
    result[stack] = [
        {"urn": r.urn, "type": r.type, "name": r.name, "parent": r.parent, "provider": r.options["provider"]}
        for r in recording.resources
    ]
print(json.dumps(result))
"""


def stack_of(path: Path) -> str:
    return path.name.removeprefix("Pulumi.").removesuffix(".yaml")


def record(commit: str, only: tuple[str, ...] | None = None, python: str = sys.executable) -> dict[str, dict[str, str]]:
    """``{stack: {engine URN: engine URN of its explicit provider or ""}}`` of the program at
    ``commit`` for the stacks in tests/upgrade/stacks (``only`` those named)."""
    stacks = [p for p in sorted(STACKS.glob("Pulumi.*.yaml")) if only is None or stack_of(p) in only]
    with tempfile.TemporaryDirectory(prefix="djangostack-previous-") as tmp:
        tree = unpack_commit(commit, Path(tmp))
        result = subprocess.run(
            [python, "-c", _RECORD, *(str(p) for p in stacks)],
            cwd=tree,
            env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"},
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        raise RuntimeError(f"the program of {commit} failed under the mocks:\n{result.stderr}")
    records: dict[str, list[dict[str, str]]] = json.loads(result.stdout.strip().splitlines()[-1])
    return {
        stack: {node.urn: node.provider for node in resource_nodes(stack_records, stack, PROJECT)}
        for stack, stack_records in records.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    document = {commit: record(commit, only) for commit, only in LAYOUTS.items()}
    GOLDEN.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    for commit, recorded in document.items():
        counts = ", ".join(f"{stack}: {len(urns)}" for stack, urns in recorded.items())
        print(f"{commit}: {counts}")
    print(f"wrote {GOLDEN.relative_to(REPO)}")


if __name__ == "__main__":
    main()
