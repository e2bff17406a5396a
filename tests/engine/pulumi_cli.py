"""Small, reusable wrapper around the Pulumi CLI for engine tests.

The CLI and plugins come from ``scripts/install-pulumi.sh`` (installed into
``${PULUMI_TOOLS_DIR:-<repo>/.tools}/bin``). Every call gets an isolated
environment: local file backend, fixed passphrase, its own ``PULUMI_HOME``,
no update checks and no automatic plugin downloads.

Typical use::

    env = isolated_env(tmp_path)
    run_pulumi(["stack", "init", "dev"], cwd=project_dir, env=env)
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from tools.testhost import run_captured

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_DIR = REPO_ROOT / ".venv"
INSTALL_HINT = "run scripts/install-pulumi.sh (then `source scripts/pulumi-env.sh`)"


def tools_bin() -> Path:
    """Directory holding the binaries built by scripts/install-pulumi.sh."""
    return Path(os.environ.get("PULUMI_TOOLS_DIR", REPO_ROOT / ".tools")) / "bin"


def missing_tools(*names: str) -> list[str]:
    """Names (e.g. "pulumi", "pulumi-resource-command") not installed in tools_bin()."""
    return [n for n in names if not os.access(tools_bin() / n, os.X_OK)]


def missing_tools_message(missing: Sequence[str]) -> str:
    return f"missing {', '.join(missing)} in {tools_bin()}: {INSTALL_HINT}"


def isolated_env(workdir: Path, passphrase: str = "test", extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for running the CLI with all state under ``workdir``.

    Creates ``workdir/backend`` (PULUMI_BACKEND_URL=file://...) and
    ``workdir/home`` (PULUMI_HOME).
    """
    backend = workdir / "backend"
    home = workdir / "home"
    backend.mkdir(parents=True, exist_ok=True)
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        {
            "PATH": os.pathsep.join([str(tools_bin()), env.get("PATH", "")]),
            "PULUMI_BACKEND_URL": backend.as_uri(),
            "PULUMI_CONFIG_PASSPHRASE": passphrase,
            "PULUMI_HOME": str(home),
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            # The buildable language host ignores the `virtualenv` runtime
            # option and runs this interpreter (see scripts/install-pulumi.sh).
            "PULUMI_PYTHON_CMD": str(VENV_DIR / "bin" / "python"),
        }
    )
    env.pop("PULUMI_ACCESS_TOKEN", None)
    env.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)
    if extra:
        env.update(extra)
    return env


class PulumiCommandError(RuntimeError):
    """A pulumi invocation exited with an unexpected status."""

    def __init__(self, result: subprocess.CompletedProcess[str]) -> None:
        self.result = result
        cmd = shlex.join(str(a) for a in result.args)
        super().__init__(
            f"`{cmd}` exited with {result.returncode}\n--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
        )


def run_pulumi(
    args: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    check: bool = True,
    input: str | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """Run ``pulumi <args>`` in ``cwd`` with ``env``; never interactive.

    Returns the CompletedProcess (text mode). With ``check`` (default) a
    non-zero exit raises PulumiCommandError carrying stdout and stderr.
    """
    pulumi = tools_bin() / "pulumi"
    if not os.access(pulumi, os.X_OK):
        raise FileNotFoundError(missing_tools_message(["pulumi"]))
    result = run_captured([str(pulumi), *args], cwd=cwd, env=env, input=input, timeout=timeout)
    if check and result.returncode != 0:
        raise PulumiCommandError(result)
    return result
