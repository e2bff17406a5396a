"""``djangostack docs [--check]``: regenerate the settings reference from the pydantic schema.

Rewrites docs/settings.md, the settings table in README.md and the optional-keys comment block in
Pulumi.yaml (only the text between their markers) in the project directory. ``--check`` writes
nothing and exits 1 with a diff when a file is out of date.
"""

from __future__ import annotations

import argparse
import difflib
import sys

from ..paths import project_dir
from ..settings.reference import generate


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    docs = sub.add_parser(
        "docs", help="regenerate docs/settings.md, the README settings table and Pulumi.yaml's key list"
    )
    docs.add_argument("--check", action="store_true", help="write nothing; exit 1 with a diff if a file is stale")
    docs.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    root = project_dir()
    names = ("README.md", "Pulumi.yaml")
    current = {name: (root / name).read_text(encoding="utf-8") for name in names}
    generated = generate(current)
    stale = 0
    for name, text in generated.items():
        path = root / name
        before = path.read_text(encoding="utf-8") if path.exists() else ""
        if before == text:
            continue
        stale += 1
        if args.check:
            sys.stdout.writelines(
                difflib.unified_diff(before.splitlines(True), text.splitlines(True), f"a/{name}", f"b/{name}")
            )
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {name}")
    if args.check and stale:
        print(f"{stale} generated file(s) out of date; run: djangostack docs", file=sys.stderr)
        return 1
    return 0
