"""Command line: ``python -m components <command>``.

- ``check stacks/Pulumi.<stack>.yaml``: validate a stack file without Pulumi or credentials and
  print the resolved settings (or one line per problem); exit 0 or 1.
- ``render --stack <stack> --out <dir>``: write every file a host of that stack gets, for review.
- ``plan --stack <stack> [--format markdown|json] [--diff BASE.json]``: what the program would
  register, evaluated under the mocks engine (no credentials, no Pulumi CLI); fails with one line
  per value a cloud API would refuse (``components.cloud_limits``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from components.config import SettingsError, StackSettings, load_from_stack_file
from components.rules import warnings

REPO = Path(__file__).resolve().parent.parent


def stack_path(stack: str) -> Path:
    """A stack name (``prod``) or a path to a stack file."""
    candidate = Path(stack)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        return candidate
    return REPO / "stacks" / f"Pulumi.{stack}.yaml"


def _load(stack: str) -> StackSettings:
    return load_from_stack_file(stack_path(stack))


def _check(args: argparse.Namespace) -> int:
    path = stack_path(args.stack_file)
    settings = load_from_stack_file(path)
    resolved = settings.model_dump(mode="json", by_alias=True, exclude={"secrets_present"})
    for line in warnings(settings):
        print(f"warning: {line}", file=sys.stderr)
    print(f"# {path}: valid ({settings.target.kind}, {settings.environment})")
    print(yaml.safe_dump({"settings": resolved}, sort_keys=True, default_flow_style=False), end="")
    present = sorted(settings.secrets_present)
    print(f"secrets: {', '.join(f'{k}=[secret]' for k in present) if present else 'none set'}")
    return 0


def _render(args: argparse.Namespace) -> int:
    from components.host.context import HostContext
    from components.host.render import render_all, render_cloud_init

    settings = _load(args.stack)
    if settings.target.kind == "gcp-cloudrun":
        print(f"{args.stack}: the gcp-cloudrun target has no host files to render", file=sys.stderr)
        return 1
    try:
        ctx = HostContext.from_settings(settings)
        files = render_all(ctx)  # the quoting filters refuse, rather than render, an unsafe value
    except ValueError as exc:
        print(f"{args.stack}: {exc}", file=sys.stderr)
        return 1
    out = Path(args.out)
    for key in sorted(files):
        host_file = files[key]
        target = out / host_file.path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(host_file.content, encoding="utf-8")
        print(f"{host_file.mode_text} {host_file.owner}:{host_file.group:<10} {host_file.path}")
    user_data = out / "cloud-init" / "user-data.yaml"
    user_data.parent.mkdir(parents=True, exist_ok=True)
    user_data.write_text(render_cloud_init(ctx, files), encoding="utf-8")
    print(f"{'':4} {'':<16} (first-boot user data with the same files: {user_data})")
    print(f"{len(files)} host files written under {out}")
    return 0


def _plan(args: argparse.Namespace) -> int:
    from components.cloud_limits import CloudLimitsError
    from components.plan import PlanError, diff_plans, make_plan, render_plan

    path = stack_path(args.stack)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m components", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check", help="validate a stack file and print the resolved settings")
    check.add_argument("stack_file", help="stacks/Pulumi.<stack>.yaml (or a stack name)")
    check.set_defaults(func=_check)

    render = sub.add_parser("render", help="write every host file of a stack into a directory")
    render.add_argument("--stack", required=True)
    render.add_argument("--out", required=True)
    render.set_defaults(func=_render)

    plan = sub.add_parser("plan", help="what the program would register, evaluated under mocks")
    plan.add_argument("--stack", required=True)
    plan.add_argument("--format", choices=("markdown", "json"), default="markdown")
    plan.add_argument("--diff", metavar="BASE.json", help="print changes against a saved JSON plan")
    plan.set_defaults(func=_plan)

    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except SettingsError as exc:
        print(
            f"invalid stack settings ({len(exc.lines)} problem{'s' if len(exc.lines) != 1 else ''}):",
            file=sys.stderr,
        )
        for line in exc.lines:
            print(line, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
