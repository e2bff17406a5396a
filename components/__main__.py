"""``python -m djangostack``: the command line (see ``cli``)."""

from .cli import console

console()
