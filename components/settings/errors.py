"""The one exception every settings rule raises.

Kept in a module of its own so the settings models, the shared rules (``settings.rules``) and each
target's rules (``targets.<target>.rules``) can all use it without importing each other.
"""

from __future__ import annotations


class SettingsError(ValueError):
    """Invalid stack settings; ``lines`` holds one human-readable line per problem.

    ``check``, ``render``, ``plan`` and the Pulumi program all print these lines and stop; none of
    them shows a traceback for a bad stack. A subclass of ValueError so callers that guard a
    component's arguments with ``except ValueError`` keep working.
    """

    def __init__(self, lines: list[str]) -> None:
        self.lines = [_one_line(line) for line in lines]
        super().__init__("\n".join(self.lines))


def _one_line(line: str) -> str:
    """Problems are one line each, whatever a value smuggled into the message."""
    return line.replace("\r", "\\r").replace("\n", "\\n")
