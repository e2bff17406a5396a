"""The ``server`` target's ``HostEdge``: what stands in front of Nginx on a plain Linux host."""

from __future__ import annotations

from ...host.context import HostEdge
from ...settings.stack import StackSettings
from ...settings.targets import ServerTarget


def server_edge(settings: StackSettings) -> HostEdge:
    """The target's own ports and firewall, TLS at Nginx, its address as the site's name when the
    stack has no domain."""
    target = settings.target
    if not isinstance(target, ServerTarget):
        raise ValueError(f"target kind {target.kind!r} is not server")
    tls = settings.domain.tls.mode if settings.domain.tls else None
    return HostEdge(
        kind="server",
        tls_mode="letsencrypt" if tls == "letsencrypt" else "self-signed",
        http_port=target.http_port,
        https_port=target.https_port,
        public_hosts=() if settings.domain.names else (target.host,),
        firewall=target.firewall,
        ssh_port=target.ssh_port,
        ssh_user=target.ssh_user,
        releases_to_keep=target.releases_to_keep,
        host_os=target.os,
    )
