"""`pulumi up` on a stack with hostile values stops with the same lines as `check`, no traceback."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
import yaml

from djangostack.cli.main import main as components_cli
from tests.engine.conftest import output_of
from tests.engine.test_project_config import minimal_config, project_cli

pytestmark = pytest.mark.engine


def test_up_and_check_refuse_hostile_values_with_the_same_lines(tmp_path: Path) -> None:
    config = minimal_config(
        **{
            "djangostack:app": {"name": "notes", "releaseId": "r1", "extraEnv": {"NOTE": "it's"}},
            "djangostack:web": {"hstsSeconds": True},
        }
    )
    stack_file = tmp_path / "Pulumi.hostile.yaml"
    stack_file.write_text(yaml.safe_dump({"config": config}))
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        assert components_cli(["check", str(stack_file)]) == 1
    check_lines = [line for line in err.getvalue().splitlines() if line.startswith("djangostack:")]
    assert len(check_lines) == 2, check_lines

    cli = project_cli(tmp_path)
    cli.init_stack("hostile", config)
    result = cli("up", "--yes", "--non-interactive", check=False)
    output = output_of(result)
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    lines = {line.strip() for line in output.splitlines()}
    for line in check_lines:
        assert line in lines, (line, output)
    assert "notes-bootstrap" not in cli("stack", "export").stdout
