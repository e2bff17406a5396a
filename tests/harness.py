"""The shared test harness (the engine itself lives in components/mocking.py, shared with
``python -m components plan``)."""

from components.mocking import (
    ATTRIBUTES,
    INVOKES,
    Invoke,
    Recording,
    Registered,
    evaluate_stack,
    stack_config,
)

__all__ = ["ATTRIBUTES", "INVOKES", "Invoke", "Recording", "Registered", "evaluate_stack", "stack_config"]
