"""The bootstrap payload of an earlier commit of this repository, for upgrade tests and benchmarks.

``previous_upload_script`` unpacks ``components/`` of that commit with ``git archive`` into a
temporary directory (the checkout and its worktrees are left alone) and renders, in a subprocess
that imports that copy, what its ``DjangoHost`` would send to the host: the upload script that
stages every rendered file and runs the bootstrap, for a stack file and a host OS.

``SINGLE_GUNICORN`` is the last commit whose hosts ran one socket-activated Gunicorn
(``gunicorn-<app>.socket`` + ``.service``, restarted in place by every release), before the two
colors (``gunicorn-<app>@blue`` / ``@green``) that overlap during a release.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SINGLE_GUNICORN = "f2b4d7c03160b88b7f618e88b38946c2d5206594"

_RENDER = """
import dataclasses, json, sys
from pathlib import Path
from components.host.context import HostContext
from components.host.django_host import env_prelude, upload_script
from components.host.render import render_all
from components.settings.loading import load_from_stack_file
stack_file, host_os, env = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
ctx = dataclasses.replace(HostContext.from_settings(load_from_stack_file(Path(stack_file))), host_os=host_os)
print(json.dumps(env_prelude(env) + upload_script(ctx, render_all(ctx))))
"""


class PreviousRenderError(RuntimeError):
    """The earlier commit could not be unpacked or did not render (the message has its output)."""


def unpack_commit(commit: str, dest: Path, *paths: str) -> Path:
    """The tree of ``commit`` (only ``paths`` when given) written into ``dest/tree`` with ``git
    archive``; a clear error when the clone does not hold the commit (a shallow clone)."""
    result = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", commit, *paths], capture_output=True, check=False
    )
    if result.returncode != 0:
        raise PreviousRenderError(
            f"cannot read commit {commit} ({result.stderr.decode(errors='replace').strip()}); "
            "a shallow clone needs `git fetch --unshallow`"
        )
    tree = dest / "tree"
    with tarfile.open(fileobj=io.BytesIO(result.stdout)) as tar:
        tar.extractall(tree, filter="data")
    return tree


def previous_upload_script(commit: str, stack_file: Path, host_os: str, env: Mapping[str, str]) -> str:
    """The bootstrap payload (``env_prelude(env) + upload_script(...)``) that ``commit`` renders for
    ``stack_file`` on ``host_os``."""
    with tempfile.TemporaryDirectory(prefix="previous-host-") as work:
        tmp = str(unpack_commit(commit, Path(work), "components"))
        # -I: neither PYTHONPATH nor the current directory's package; the temporary copy is the
        # only ``components`` on the path (it comes first, from the working directory).
        result = subprocess.run(
            [
                sys.executable,
                "-I",
                "-c",
                f"import sys; sys.path.insert(0, {tmp!r})\n{_RENDER}",
                str(stack_file),
                host_os,
                json.dumps(dict(env)),
            ],
            capture_output=True,
            text=True,
            cwd=tmp,
            check=False,
        )
    if result.returncode != 0:
        raise PreviousRenderError(f"rendering with {commit} failed:\n{result.stderr[-3000:]}")
    return str(json.loads(result.stdout))


__all__ = ["SINGLE_GUNICORN", "PreviousRenderError", "previous_upload_script", "unpack_commit"]
