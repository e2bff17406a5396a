"""``djangostack check --stack NAME-or-PATH``: validate a stack file without Pulumi or credentials
and print the resolved settings (or one line per problem); exit 0 or 1."""

from __future__ import annotations

import argparse
import sys

import yaml

from ..paths import stack_file
from ..settings.loading import load_from_stack_file
from ..settings.rules import warnings


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    check = sub.add_parser("check", help="validate a stack file and print the resolved settings")
    check.add_argument("--stack", help="a stack name (dev) or a path to a stack file")
    check.add_argument("stack_file", nargs="?", help=argparse.SUPPRESS)
    check.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if (args.stack is None) == (args.stack_file is None):
        print("check: give the stack once, as --stack NAME-or-PATH", file=sys.stderr)
        return 2
    path = stack_file(args.stack or args.stack_file)
    settings = load_from_stack_file(path)
    resolved = settings.model_dump(mode="json", by_alias=True, exclude={"secrets_present"})
    for line in warnings(settings):
        print(f"warning: {line}", file=sys.stderr)
    print(f"# {path}: valid ({settings.target.kind}, {settings.environment})")
    print(yaml.safe_dump({"settings": resolved}, sort_keys=True, default_flow_style=False), end="")
    present = sorted(settings.secrets_present)
    print(f"secrets: {', '.join(f'{k}=[secret]' for k in present) if present else 'none set'}")
    return 0
