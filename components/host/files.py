"""HostFile: one rendered file and where, with which owner and mode, it lives on the host."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class HostFile:
    """A file the host gets. ``content`` may be installed as-is: renderers never embed secrets."""

    path: str
    """Absolute destination path on the host."""
    mode: int
    """Permission bits, e.g. ``0o644``."""
    owner: str
    group: str
    content: str

    @property
    def mode_text(self) -> str:
        """Mode as four octal digits ("0644"), the form install(1) and cloud-init take."""
        return f"{self.mode:04o}"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content.encode("utf-8")).hexdigest()

    def staged_path(self, staging_dir: str) -> str:
        """Where the file is uploaded before bootstrap installs it (mirrors the destination)."""
        return f"{staging_dir.rstrip('/')}{self.path}"
