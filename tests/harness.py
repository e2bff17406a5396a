"""The shared test harness (the engine itself lives in components/offline/mocking.py, shared with
``djangostack plan``).

Tests own their stack files: a stack *name* (``"dev"``, ``"staging"``, ``"prod"``) resolves to
``tests/fixtures/stacks/Pulumi.<name>.yaml``, never to the shipped ``stacks/`` files, which users
edit (a new ``app.releaseId`` is how they release). Only the validity tests listed in
``tests/unit/test_fixture_ownership.py`` read ``stacks/``, and they assert validity, not values.
"""

import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from djangostack.offline import mocking
from djangostack.offline.mocking import ATTRIBUTES, INVOKES, Invoke, Recording, Registered, stack_config

__all__ = [
    "ATTRIBUTES",
    "FIXTURE_STACKS",
    "HOSTILE_ARGS",
    "INVOKES",
    "Invoke",
    "Recording",
    "Registered",
    "dev_target",
    "evaluate_dev_with_pulumi_command",
    "evaluate_stack",
    "fixture_stack",
    "repository_files",
    "stack_config",
]

FIXTURE_STACKS = Path(__file__).resolve().parent / "fixtures" / "stacks"
"""The tests' own copies of the dev, staging and prod stacks."""

HOSTILE_ARGS: tuple[str, ...] = (
    "shell",
    "-c",
    "import os; print(os.getuid())",
    "$(touch /tmp/djangostack-pwned)",
    "`id`",
    "; rm -rf / #",
    "a b  c",
    "'\"\\",
    "--",
    "",
    "line\nbreak",
    "*",
    "a,b",
    "^;^x",
    "--settings=x && reboot",
)
"""Arguments of a one-off management command that a shell, a list syntax (gcloud's ``^;^``) or an
option parser would split, expand or run: each must reach ``manage.py`` whole, as its own argv entry."""


REPO = Path(__file__).resolve().parents[1]


def repository_files(*pathspecs: str) -> list[Path]:
    """The repository's own files that match git ``pathspecs`` (``"*.md"`` matches at any depth):
    tracked ones and new ones that are not ignored. Never a walk of the tree, which would enter what
    ``.gitignore`` keeps out: ``.venv``, build output, and ``.cache``, where a test host's root may
    be under construction with ``/proc`` mounted in it (reading that failed collection in CI)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *pathspecs],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return sorted({REPO / name for name in listed.split("\0") if name and (REPO / name).is_file()})


def fixture_stack(name: str) -> Path:
    """The tests' own stack file for ``name`` (``dev`` -> tests/fixtures/stacks/Pulumi.dev.yaml)."""
    path = FIXTURE_STACKS / f"Pulumi.{name}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no fixture stack {name!r} in {FIXTURE_STACKS}")
    return path


def evaluate_stack(
    stack: str | Path,
    overrides: Mapping[str, Any] | None = None,
    secrets: Mapping[str, str] | None = None,
) -> Recording:
    """``mocking.evaluate_stack`` with stack names resolved to the tests' fixture stacks."""
    path = fixture_stack(stack) if isinstance(stack, str) else stack
    return mocking.evaluate_stack(path, overrides=overrides, secrets=secrets)


def dev_target(**changes: object) -> dict[str, object]:
    """The dev fixture stack's ``target`` object with ``changes`` applied (for ``overrides={"target": ...}``)."""
    import yaml

    document = yaml.safe_load(fixture_stack("dev").read_text(encoding="utf-8"))
    target = dict(document["config"]["djangostack:target"])
    for key, value in changes.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value
    return target


def evaluate_dev_with_pulumi_command(
    overrides: dict[str, object] | None = None, secrets: dict[str, str] | None = None
) -> Recording:
    """The dev stack as a real server stack would run it: remote steps through pulumi-command (the
    default executor; the dev stack uses builtin-ssh for the local quick start)."""
    merged: dict[str, object] = {"target": dev_target(remoteExecutor=None)}
    merged.update(overrides or {})
    return evaluate_stack("dev", overrides=merged, secrets=secrets)
