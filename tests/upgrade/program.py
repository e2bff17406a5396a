"""The program these tests evaluate: ``components.stack.main`` (the root component's program).

Until the program's entry point (components/program.py, moved by the layout change) calls it, the
mocks harness is pointed at it here; the evaluation is the harness's own otherwise.
"""

from __future__ import annotations

import contextvars
from pathlib import Path

from components import mocking
from components.stack import main
from tests.harness import Recording


def evaluate_stack(path: Path) -> Recording:
    stack = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
    config, secret_keys = mocking.stack_config(path)
    return contextvars.Context().run(_evaluate, stack, config, secret_keys)


def _evaluate(stack: str, config: dict[str, str], secret_keys: list[str]) -> Recording:
    import asyncio

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    mocking._drop_pending_outputs()
    return mocking._evaluate_in_loop(loop, stack, config, secret_keys, main)
