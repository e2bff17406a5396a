"""``components.host.ssh_provider`` is ``djangostack.host.ssh_provider``: the very module, so a
provider unpickled from old state is an instance of the current classes."""

import sys

from djangostack.host import ssh_provider

sys.modules[__name__] = ssh_provider
