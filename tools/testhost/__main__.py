"""``python -m tools.testhost build|start|stop|restart|ssh|status|env`` (see scripts/testhost.sh)."""

import sys

from .host import main

sys.exit(main())
