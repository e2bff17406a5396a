"""``djangostack plan --stack NAME-or-PATH [--format markdown|json] [--diff BASE.json]``: what the
program would register, evaluated under the mocks engine (no credentials, no Pulumi CLI); fails
with one line per value a cloud API would refuse (``offline.cloud_limits``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..offline.cloud_limits import CloudLimitsError
from ..offline.plan import PlanError, diff_plans, make_plan, render_plan
from ..paths import stack_file
from ..settings.loading import load_from_stack_file


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    plan = sub.add_parser("plan", help="what the program would register, evaluated under mocks")
    plan.add_argument("--stack", required=True, help="a stack name (dev) or a path to a stack file")
    plan.add_argument("--format", choices=("markdown", "json"), default="markdown")
    plan.add_argument("--diff", metavar="BASE.json", help="print changes against a saved JSON plan")
    plan.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    path = stack_file(args.stack)
    load_from_stack_file(path)  # fail with the settings errors before evaluating anything
    base_text = None
    if args.diff:
        try:
            base_text = Path(args.diff).read_text(encoding="utf-8")
        except OSError as exc:
            print(f"plan: cannot read the base plan {args.diff}: {exc.strerror}", file=sys.stderr)
            return 1
    try:
        plan = make_plan(path, check_limits=True)
    except CloudLimitsError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    if base_text is None:
        print(render_plan(plan, args.format), end="")
        return 0
    try:
        print(diff_plans(base_text, plan), end="")
    except PlanError as exc:
        print(f"plan: {args.diff}: {exc}", file=sys.stderr)
        return 1
    return 0
