"""The release artifact: the Django project packed as a reproducible tar.gz.

The same source tree always gives byte-identical archives (sorted entries, fixed timestamps,
owners and modes, gzip without a name or date), so the upload's content hash changes only when
the code does and a preview right after an update shows no change.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from pathlib import Path

EXCLUDED_DIRS = frozenset(
    {
        ".git",
        ".venv",
        "venv",
        "__pycache__",
        ".pytest_cache",
        ".mypy_cache",
        ".ruff_cache",
        "node_modules",
        "media",
        "staticfiles",
        "static_collected",
    }
)
"""Never shipped: VCS data, virtualenvs, caches, and runtime data (uploads, collected static)."""

EXCLUDED_SUFFIXES = (".pyc", ".pyo", ".sqlite3", ".log", ".env")


def _included(path: Path, root: Path) -> bool:
    parts = path.relative_to(root).parts
    if any(part in EXCLUDED_DIRS for part in parts[:-1]):
        return False
    name = parts[-1]
    return not (name in EXCLUDED_DIRS or name.endswith(EXCLUDED_SUFFIXES) or name == ".env")


def source_files(root: Path) -> list[Path]:
    """Files of the project that go into a release, sorted."""
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink() and _included(p, root))


def pack_source(root: Path) -> bytes:
    """A reproducible gzip'd tarball of ``root``'s release files (paths relative to ``root``)."""
    if not (root / "manage.py").is_file():
        raise FileNotFoundError(f"{root} is not a Django project (no manage.py)")
    locks = (("uv.lock", "pyproject.toml"), ("poetry.lock", "pyproject.toml"), ("requirements.txt",))
    if not any(all((root / name).is_file() for name in lock) for lock in locks):
        raise FileNotFoundError(
            f"{root} has no dependency file: uv.lock (with pyproject.toml), poetry.lock (with pyproject.toml) "
            "or requirements.txt"
        )
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in source_files(root):
            info = tarfile.TarInfo(path.relative_to(root).as_posix())
            data = path.read_bytes()
            info.size = len(data)
            info.mtime = 0
            info.mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    compressed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return compressed.getvalue()


def write_source_archive(root: Path, out_dir: Path, name: str) -> tuple[Path, str]:
    """Write the archive as ``out_dir/<name>.tar.gz`` (only when its content changed) and return
    the path and its sha256."""
    data = pack_source(root)
    digest = hashlib.sha256(data).hexdigest()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.tar.gz"
    if not path.exists() or path.read_bytes() != data:
        path.write_bytes(data)
    return path, digest
