"""Command line: ``djangostack <command>`` (or ``python -m djangostack <command>``).

Every subcommand takes ``--stack NAME-or-PATH``: a stack name (``dev`` ->
``stacks/Pulumi.dev.yaml`` in the project directory) or a path to a stack file.

- ``check``: validate a stack file without Pulumi or credentials and print the resolved settings.
- ``render``: write every file a host of that stack gets, for review.
- ``plan``: what the program would register, evaluated under mocks (no credentials, no Pulumi CLI).
- ``manage``: run a manage.py command on the live release of a deployed stack (``-- <arguments>``).
- ``docs``: regenerate the settings reference (docs/settings.md, README table, Pulumi.yaml) from the models.

One module per subcommand; each adds its parser (``add_parser``) and runs it (``run``).
"""

from __future__ import annotations

import argparse
import sys

from ..settings.errors import SettingsError
from . import check, docs, manage, plan, render

SUBCOMMANDS = (check, render, plan, manage, docs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="djangostack", description=(__doc__ or "").splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for command in SUBCOMMANDS:
        command.add_parser(sub)
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


def console() -> None:
    """Entry point of the ``djangostack`` console script."""
    sys.exit(main())
