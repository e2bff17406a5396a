"""Record the URNs the previous layout's program registers for the upgrade fixture stacks.

The root ``DjangoStack`` component moved every resource under a new parent; stacks deployed with
the previous program must upgrade without a replacement, so every URN of the current program has
to reach, through its aliases, a URN of the previous one (tests/upgrade/test_aliases.py). This
script runs the previous program itself — the commit ``PREVIOUS_LAYOUT`` unpacked with
``git archive`` into a temporary directory (the repository's worktrees are left alone) — under the
mocks engine of that commit, for every stack file in tests/upgrade/stacks/, and writes the URNs
to tests/upgrade/previous_urns.json.

Regenerate (only needed when a fixture stack is added or changed):

    .venv/bin/python tests/upgrade/record_previous_urns.py [--commit SHA]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
STACKS = HERE / "stacks"
GOLDEN = HERE / "previous_urns.json"
PREVIOUS_LAYOUT = "ce7f7f1"
"""The last commit of the flat layout (components/program.py, the targets' plain ``deploy()``)."""

_RECORD = """
import json, sys
from pathlib import Path
from components.mocking import evaluate_stack
result = {}
for path in sys.argv[1:]:
    stack = Path(path).name.removeprefix("Pulumi.").removesuffix(".yaml")
    recording = evaluate_stack(Path(path))
    result[stack] = sorted(r.urn for r in recording.resources)
print(json.dumps(result))
"""


def unpack_commit(commit: str, dest: Path) -> Path:
    """The tree of ``commit`` written into ``dest`` (``git archive``); a clear error when the clone
    does not hold the commit (a shallow clone: ``git fetch --unshallow``)."""
    archive = dest / "tree.tar"
    result = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", "-o", str(archive), commit],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"cannot read commit {commit} of the previous layout ({result.stderr.strip()}); "
            "a shallow clone needs `git fetch --unshallow`"
        )
    tree = dest / "tree"
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter="data")
    archive.unlink()
    return tree


def record(commit: str, python: str = sys.executable) -> dict[str, list[str]]:
    """``{stack: sorted URNs}`` of the program at ``commit`` for every stack in tests/upgrade/stacks."""
    stacks = sorted(STACKS.glob("Pulumi.*.yaml"))
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
    recorded: dict[str, list[str]] = json.loads(result.stdout.strip().splitlines()[-1])
    return recorded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commit", default=PREVIOUS_LAYOUT, help=f"the previous layout (default {PREVIOUS_LAYOUT})")
    args = parser.parse_args()
    recorded = record(args.commit)
    document = {"commit": args.commit, "stacks": recorded}
    GOLDEN.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    counts = ", ".join(f"{stack}: {len(urns)}" for stack, urns in recorded.items())
    print(f"wrote {GOLDEN.relative_to(REPO)} ({counts})")


if __name__ == "__main__":
    main()
