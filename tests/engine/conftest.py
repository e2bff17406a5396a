"""Fixtures for the engine tests: a real test host, throwaway copies of the project, the CLI.

- ``engine_host``: its own booted Debian container (``TestHost``) on ssh port 2240
  (``ENGINE_TESTHOST_SSH_PORT``), so the engine tests can run in the same session as the host
  e2e tests (port 2222) without sharing a machine.
- ``copy_project``: a copy of what ``pulumi`` needs (Pulumi.yaml, __main__.py, components/,
  examples/django_app) in a temporary directory, so no stack file or state is written into the
  repository. ``.venv`` is a symlink to the repository's virtualenv (the dynamic-provider plugin
  resolves the project's ``virtualenv`` option relative to the project).
- ``Cli``: ``pulumi`` in one project directory with an isolated environment (local file backend,
  passphrase secrets, its own PULUMI_HOME, no plugin downloads; see ``pulumi_cli.isolated_env``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.engine.pulumi_cli import REPO_ROOT, VENV_DIR, run_pulumi
from tools.testhost import DEFAULT_CACHE_DIR, TestHost, build_base_root, require_test_host

ENGINE_SSH_PORT = int(os.environ.get("ENGINE_TESTHOST_SSH_PORT", "2240"))
PROJECT_FILE_OVERRIDE = "DJANGOSTACK_ENGINE_PROJECT_FILE"
"""Path of a candidate Pulumi.yaml to test instead of the repository's (see docs/engine-tests.md)."""


def project_file_source() -> Path:
    override = os.environ.get(PROJECT_FILE_OVERRIDE)
    return Path(override) if override else REPO_ROOT / "Pulumi.yaml"


def copy_project(dest: Path, project_file: Path | None = None) -> Path:
    """A runnable copy of the project in ``dest`` (created); returns ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "media", "staticfiles", ".pytest_cache")
    shutil.copy2(project_file or project_file_source(), dest / "Pulumi.yaml")
    shutil.copy2(REPO_ROOT / "__main__.py", dest / "__main__.py")
    shutil.copytree(REPO_ROOT / "components", dest / "components", ignore=ignore)
    shutil.copytree(REPO_ROOT / "examples" / "django_app", dest / "examples" / "django_app", ignore=ignore)
    (dest / "stacks").mkdir(exist_ok=True)
    (dest / ".venv").symlink_to(VENV_DIR)
    return dest


@dataclass
class Cli:
    """``pulumi`` run in one project directory."""

    cwd: Path
    env: Mapping[str, str]

    def __call__(self, *args: str, check: bool = True, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
        return run_pulumi(list(args), cwd=self.cwd, env=self.env, check=check, timeout=timeout)

    def stack_file(self, stack: str) -> Path:
        return self.cwd / "stacks" / f"Pulumi.{stack}.yaml"

    def init_stack(self, stack: str, config: Mapping[str, Any], secrets: Mapping[str, str] | None = None) -> None:
        """``stack init``, the plain config written into the stack file, secrets set with
        ``config set --secret`` (as an operator would)."""
        self("stack", "init", stack, "--non-interactive")
        path = self.stack_file(stack)
        document = (yaml.safe_load(path.read_text()) if path.exists() else None) or {}
        document["config"] = {**(document.get("config") or {}), **config}
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        for key, value in (secrets or {}).items():
            # On stdin, not argv: a secret never shows up in `ps`.
            run_pulumi(["config", "set", "--secret", key], cwd=self.cwd, env=self.env, input=value)

    def set_config(self, stack: str, key: str, value: Any) -> None:
        path = self.stack_file(stack)
        document = yaml.safe_load(path.read_text())
        document["config"][key] = value
        path.write_text(yaml.safe_dump(document, sort_keys=False))


def output_of(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


@pytest.fixture(scope="session")
def engine_host() -> Iterator[TestHost]:
    """A booted Debian container of the engine tests' own (ssh on 127.0.0.1:2240)."""
    require_test_host()
    host = TestHost(
        DEFAULT_CACHE_DIR / "machines" / f"engine-{ENGINE_SSH_PORT}",
        ENGINE_SSH_PORT,
        base_root=build_base_root(DEFAULT_CACHE_DIR),
    )
    with host.booted():
        yield host
