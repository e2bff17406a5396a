"""The host description of a stack whose target runs Linux hosts (``server``, ``aws-ec2``).

The host layer (``djangostack.host``) knows nothing of targets: each target builds its own
``HostEdge`` (``server.edge``, ``aws.edge``). This picks the stack's one, for the callers that start
from settings alone (the CLI's ``render``, one-off commands, tests).
"""

from __future__ import annotations

from ..host.context import HostContext, HostEdge
from ..settings.stack import StackSettings
from .aws.edge import ec2_edge
from .server.edge import server_edge


def host_edge(settings: StackSettings) -> HostEdge:
    """The edge of the stack's own target; a ``ValueError`` for a target without Linux hosts."""
    kind = settings.target.kind
    if kind == "server":
        return server_edge(settings)
    if kind == "aws-ec2":
        return ec2_edge(settings)
    raise ValueError(f"target kind {kind!r} has no Linux host to render files for")


def host_context(
    settings: StackSettings, *, public_hosts: list[str] | None = None, media_bucket: str | None = None
) -> HostContext:
    """``HostContext.from_settings`` with the stack's own target's edge."""
    return HostContext.from_settings(
        settings, host_edge(settings), public_hosts=public_hosts, media_bucket=media_bucket
    )
