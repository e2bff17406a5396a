"""The release artifact: the Django project packed as a reproducible tar.gz.

What goes in: every regular file under the project directory except
- the default list (``DEFAULT_EXCLUDES``): version-control data, virtualenvs (any directory holding
  a ``pyvenv.cfg``, whatever its name), byte-code, tool caches, ``node_modules`` and local ``.env``
  files. None of them is code the host runs: the release builds its own virtualenv, Python writes
  its own byte-code, and the app's environment comes from the stack;
- what the app's own ignore file says: ``.djangostackignore`` (gitignore syntax) when the project
  has one, otherwise its ``.dockerignore`` (Docker's syntax: every pattern is relative to the
  project root), otherwise nothing more. The app's patterns come after the defaults, so ``!``
  lines can take a default back (``!node_modules/``);
- symbolic links (a link can point outside the project; the release gets real files only).

Nothing else is dropped: a directory called ``media`` or ``staticfiles`` deep inside an app (fixture
images, say) ships like any other. Patterns are matched by ``pathspec`` (the maintained
implementation of Git's wildmatch rules) and, as in Git, a file inside an excluded directory cannot
be taken back (the directory is never entered). What was left out is reported by
``SourceSelection.summary()``, which the targets print during ``pulumi up`` and ``preview``.

The same source tree always gives byte-identical archives (sorted entries, fixed timestamps,
owners and modes, gzip without a name or date), so the upload's content hash changes only when the
code does and a preview right after an update shows no change. ``Artifact.release_id`` derives a
release id from the archive's uncompressed content, used when the stack sets no ``app.releaseId``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pathspec

DEFAULT_EXCLUDES: tuple[str, ...] = (
    # version control
    ".git/",
    ".hg/",
    ".svn/",
    # virtualenvs by their usual names (any directory with a pyvenv.cfg is one too)
    ".venv/",
    # byte-code and tool caches
    "__pycache__/",
    "*.py[cod]",
    ".pytest_cache/",
    ".mypy_cache/",
    ".ruff_cache/",
    ".hypothesis/",
    ".tox/",
    ".nox/",
    # front-end dependencies (a build step makes what the app serves)
    "node_modules/",
    # local environment files: the stack gives the app its environment
    ".env",
    # editor and OS litter
    ".DS_Store",
)
"""Left out of every artifact (gitignore syntax, so each matches at any depth). The app's ignore
file can take one back with a ``!`` line."""

IGNORE_FILES: tuple[str, ...] = (".djangostackignore", ".dockerignore")
"""The app's own ignore files, the first one present wins: ours in gitignore syntax, else the
Docker build context's (Docker's syntax: patterns are relative to the project root)."""

SUMMARY_LIMIT = 8
"""How many excluded paths the summary line names before it says "and N more"."""


@dataclass(frozen=True)
class Excluded:
    """A path left out of the artifact (a directory counts once, with the files under it)."""

    path: str
    """Relative to the project, POSIX separators; directories end with ``/``."""
    reason: str
    """``default``, ``virtualenv``, ``symlink`` or ``<ignore file>:<line>``."""
    files: int
    """Files left out with it (1 for a file)."""


@dataclass(frozen=True)
class SourceSelection:
    """The files of a project that go into its release, and what was left out and why."""

    root: Path
    files: tuple[str, ...]
    """Relative POSIX paths, sorted."""
    excluded: tuple[Excluded, ...]
    ignore_file: str | None
    """The app's ignore file that was read (``.djangostackignore`` / ``.dockerignore``), if any."""

    def summary(self) -> str:
        """One line: how many files ship, which ignore file was read, what was left out."""
        rules = self.ignore_file or f"no {IGNORE_FILES[0]} or {IGNORE_FILES[1]}"
        head = f"artifact {self.root.resolve().name}: {len(self.files)} files ({rules}, defaults)"
        if not self.excluded:
            return f"{head}; nothing excluded"
        shown = [
            f"{e.path} ({e.reason}{'' if e.files == 1 else f', {e.files} files'})"
            for e in self.excluded[:SUMMARY_LIMIT]
        ]
        more = len(self.excluded) - SUMMARY_LIMIT
        if more > 0:
            shown.append(f"and {more} more")
        return f"{head}; excluded: {', '.join(shown)}"


@dataclass(frozen=True)
class Artifact:
    """A packed release artifact on this machine."""

    path: Path
    sha256: str
    """Of the archive's bytes (what the host checks before unpacking)."""
    content_sha256: str
    """Of the uncompressed tar: the content alone, whatever gzip does."""
    selection: SourceSelection

    @property
    def release_id(self) -> str:
        """The release id derived from the content (``src-`` and 16 hex digits): a code change
        gives a new one, and an unchanged tree the same one."""
        return content_release_id(self.content_sha256)


def content_release_id(content_sha256: str) -> str:
    """``src-<first 16 hex digits>`` (64 bits: no collision between a project's releases)."""
    return f"src-{content_sha256[:16]}"


def _dockerignore_as_gitignore(line: str) -> str | None:
    """One .dockerignore line in gitignore syntax: Docker matches every pattern from the context
    root (``media`` is only the top-level one), so each is anchored with a leading ``/``."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    negate = text.startswith("!")
    if negate:
        text = text[1:].strip()
    while text.startswith(("/", "./")):
        text = text[2:] if text.startswith("./") else text[1:]
    if not text or text == ".":
        return None
    return ("!" if negate else "") + "/" + text


def _read_rules(
    root: Path, defaults: tuple[str, ...], ignore_files: tuple[str, ...]
) -> tuple[list[str], list[str], str | None]:
    """The patterns (defaults first) with the origin of each, and the ignore file read."""
    patterns = list(defaults)
    origins = ["default"] * len(patterns)
    for name in ignore_files:
        path = root / name
        if not path.is_file():
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            pattern = _dockerignore_as_gitignore(line) if name == ".dockerignore" else line
            if pattern is None or not pattern.strip() or pattern.lstrip().startswith("#"):
                continue
            patterns.append(pattern)
            origins.append(f"{name}:{number}")
        return patterns, origins, name
    return patterns, origins, None


def _count_files(directory: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(directory))


def select_sources(
    root: Path,
    *,
    defaults: tuple[str, ...] = DEFAULT_EXCLUDES,
    ignore_files: tuple[str, ...] = IGNORE_FILES,
    keep_symlinks: bool = False,
    skip_virtualenvs: bool = True,
) -> SourceSelection:
    """Walk ``root`` and decide, path by path, what ships (see the module docstring).

    The keywords serve the other reader of a source tree, the container build context
    (``targets.gcp.image_build``): its own defaults and ignore file, symbolic links kept as links
    (listed, never followed: a build sends them as links), and virtualenvs sent like any directory."""
    patterns, origins, ignore_file = _read_rules(root, defaults, ignore_files)
    spec = pathspec.GitIgnoreSpec.from_lines(patterns)

    def excluded_by(relative: str) -> str | None:
        result = spec.check_file(relative)
        return origins[result.index] if result.include and result.index is not None else None

    files: list[str] = []
    excluded: list[Excluded] = []
    for directory, dirnames, filenames in os.walk(root):
        base = Path(directory)
        prefix = base.relative_to(root).as_posix()
        prefix = "" if prefix == "." else prefix + "/"
        kept_dirs = []
        for name in sorted(dirnames):
            relative = f"{prefix}{name}/"
            path = base / name
            if path.is_symlink() and not keep_symlinks:
                excluded.append(Excluded(relative, "symlink", 1))
            elif (reason := excluded_by(relative)) is not None:
                excluded.append(Excluded(relative, reason, 1 if path.is_symlink() else _count_files(path)))
            elif path.is_symlink():
                files.append(relative.rstrip("/"))  # the link itself, never what it points to
            elif skip_virtualenvs and (path / "pyvenv.cfg").is_file():
                excluded.append(Excluded(relative, "virtualenv", _count_files(path)))
            else:
                kept_dirs.append(name)
        dirnames[:] = kept_dirs
        for name in sorted(filenames):
            relative = f"{prefix}{name}"
            path = base / name
            if path.is_symlink() and not keep_symlinks:
                excluded.append(Excluded(relative, "symlink", 1))
            elif path.is_symlink():
                if (reason := excluded_by(relative)) is not None:
                    excluded.append(Excluded(relative, reason, 1))
                else:
                    files.append(relative)
            elif not path.is_file():
                continue  # sockets, fifos: nothing to pack
            elif (reason := excluded_by(relative)) is not None:
                excluded.append(Excluded(relative, reason, 1))
            else:
                files.append(relative)
    return SourceSelection(
        root=root,
        files=tuple(sorted(files)),
        excluded=tuple(sorted(excluded, key=lambda e: e.path)),
        ignore_file=ignore_file,
    )


def source_files(root: Path) -> list[Path]:
    """Files of the project that go into a release, sorted."""
    return [root / relative for relative in select_sources(root).files]


def _check_project(root: Path) -> None:
    if not (root / "manage.py").is_file():
        raise FileNotFoundError(f"{root} is not a Django project (no manage.py)")
    locks = (("uv.lock", "pyproject.toml"), ("poetry.lock", "pyproject.toml"), ("requirements.txt",))
    if not any(all((root / name).is_file() for name in lock) for lock in locks):
        raise FileNotFoundError(
            f"{root} has no dependency file: uv.lock (with pyproject.toml), poetry.lock (with pyproject.toml) "
            "or requirements.txt"
        )


def _tar(root: Path, selection: SourceSelection) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for relative in selection.files:
            path = root / relative
            info = tarfile.TarInfo(relative)
            data = path.read_bytes()
            info.size = len(data)
            info.mtime = 0
            info.mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def _gzip(data: bytes) -> bytes:
    compressed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, mtime=0, compresslevel=9) as gz:
        gz.write(data)
    return compressed.getvalue()


def pack_source(root: Path) -> bytes:
    """A reproducible gzip'd tarball of ``root``'s release files (paths relative to ``root``)."""
    _check_project(root)
    return _gzip(_tar(root, select_sources(root)))


def source_release_id(root: Path) -> str:
    """The release id ``root``'s artifact would get (``Artifact.release_id``), without writing it."""
    _check_project(root)
    return content_release_id(hashlib.sha256(_tar(root, select_sources(root))).hexdigest())


def build_artifact(root: Path, out_dir: Path, name: str) -> Artifact:
    """Pack ``root`` into ``out_dir/<name>.tar.gz`` (written only when its content changed)."""
    _check_project(root)
    selection = select_sources(root)
    tar = _tar(root, selection)
    data = _gzip(tar)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.tar.gz"
    if not path.exists() or path.read_bytes() != data:
        path.write_bytes(data)
    return Artifact(
        path=path,
        sha256=hashlib.sha256(data).hexdigest(),
        content_sha256=hashlib.sha256(tar).hexdigest(),
        selection=selection,
    )


def write_source_archive(root: Path, out_dir: Path, name: str) -> tuple[Path, str]:
    """Write the archive as ``out_dir/<name>.tar.gz`` (only when its content changed) and return
    the path and its sha256."""
    artifact = build_artifact(root, out_dir, name)
    return artifact.path, artifact.sha256
