"""The project file and stack config as the real engine reads them (no host needed: nothing is
deployed). A stack with only the required keys must be accepted; an invalid stack must stop
``pulumi up`` with our one-line-per-problem errors and no Python traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.engine.conftest import Cli, copy_project, output_of
from tests.engine.pulumi_cli import REPO_ROOT, isolated_env

pytestmark = pytest.mark.engine


def minimal_config(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "djangostack:environment": "dev",
        "djangostack:target": {
            "kind": "server",
            "host": "127.0.0.1",
            "sshPort": 2299,
            "sshKeyFile": "deploy_key",
            "remoteExecutor": "builtin-ssh",
        },
        "djangostack:app": {"name": "notes", "releaseId": "r1"},
        "djangostack:database": {"mode": "local"},
        "djangostack:cache": {"mode": "local"},
    }
    config.update(overrides)
    return config


def project_cli(tmp_path: Path, project_file: Path | None = None) -> Cli:
    project = copy_project(tmp_path / "project", project_file)
    (project / "deploy_key").write_text("not a real key\n")
    return Cli(project, isolated_env(tmp_path))


def test_the_repository_project_file_accepts_a_stack_that_sets_only_required_keys(tmp_path: Path) -> None:
    """Every key Pulumi.yaml declares without a default is one the CLI demands of every stack."""
    cli = project_cli(tmp_path, REPO_ROOT / "Pulumi.yaml")
    cli.init_stack("minimal", minimal_config())
    result = cli("preview", "--non-interactive", check=False)
    assert result.returncode == 0, output_of(result)[-3000:]
    assert "host-bootstrap" in result.stdout


def test_an_invalid_stack_stops_up_with_one_line_per_problem_and_no_traceback(tmp_path: Path) -> None:
    cli = project_cli(tmp_path)
    cli.init_stack("broken", minimal_config(**{"djangostack:web": {"workers": 0, "colour": "blue"}}))
    result = cli("up", "--yes", "--non-interactive", check=False)
    output = output_of(result)
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    lines = [line.strip() for line in output.splitlines()]
    assert any(line.startswith("djangostack:web.workers: ") for line in lines), output
    assert any(line.startswith("djangostack:web.colour: unknown key") for line in lines), output
    assert "invalid stack settings (2 problems)" in output, output
    exported = cli("stack", "export").stdout
    assert "host-bootstrap" not in exported, "resources were registered despite invalid settings"
