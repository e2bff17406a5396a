"""The pre-package ``components.host`` (see ``components/__init__.py`` here)."""
