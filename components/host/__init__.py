"""Everything that runs on a Linux host: the host context, pure renderers and their templates.

``render_all(HostContext.from_settings(settings, edge))`` gives every file a host gets; the CLI
(``djangostack render``) and the host components ship them.
"""

from .context import HostContext
from .files import HostFile
from .render import render_all, render_cloud_init

__all__ = ["HostContext", "HostFile", "render_all", "render_cloud_init"]
