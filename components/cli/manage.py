"""``manage --stack S [--env NAME] -- <manage.py arguments>``: a one-off management command on the
live release of a deployed stack, as the app user with the app's environment (``djangostack.one_off``
says how on each target)."""

from __future__ import annotations

import argparse

from ..one_off import add_arguments, run_from_arguments


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    manage = sub.add_parser(
        "manage",
        help="run a manage.py command on the live release of a deployed stack",
        description="Run manage.py on the live release of a deployed stack, as the app user with the "
        "app's environment. Everything after -- goes to manage.py unchanged; the exit code is its own.",
    )
    add_arguments(manage)
    manage.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return run_from_arguments(args)
