"""The ``djangostack`` command line: one command, one module per subcommand."""

from .main import console, main

__all__ = ["console", "main"]
