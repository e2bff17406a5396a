"""End-to-end smoke test of the Pulumi toolchain built by scripts/install-pulumi.sh.

Creates a throwaway Python project on a local file backend, sets a secret,
`pulumi up`s a resource that runs `echo`, checks the outputs, checks that the
secret is not stored in plaintext, then `pulumi destroy`s.

Run:  .venv/bin/python -m pytest -m engine tests/engine -v
"""

from __future__ import annotations

import json
import re
import secrets
import textwrap
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.engine.pulumi_cli import (
    VENV_DIR,
    isolated_env,
    missing_tools,
    missing_tools_message,
    run_pulumi,
    tools_bin,
)

pytestmark = pytest.mark.engine

CORE_TOOLS = (
    "pulumi",
    "pulumi-language-python",
    "pulumi-language-python-exec",
    "pulumi-resource-pulumi-python",
)
COMMAND_VERSION = "1.2.1"
STACK = "smoke"

# A Python dynamic provider: exercises the CLI, the language host and a
# resource-provider plugin (pulumi-resource-pulumi-python) without needing
# any third-party provider binary.
DYNAMIC_PROGRAM = """
import subprocess

import pulumi
from pulumi.dynamic import CreateResult, Resource, ResourceProvider


class EchoProvider(ResourceProvider):
    def create(self, props):
        out = subprocess.run(["echo", props["text"]], capture_output=True, text=True, check=True)
        return CreateResult(id_="echo-1", outs={"text": props["text"], "stdout": out.stdout.strip()})


class Echo(Resource):
    stdout: pulumi.Output[str]

    def __init__(self, name, text, opts=None):
        super().__init__(EchoProvider(), name, {"text": text, "stdout": None}, opts)


cfg = pulumi.Config()
echo = Echo("echo", "hello-from-echo")
pulumi.export("stdout", echo.stdout)
pulumi.export("secret_value", cfg.require_secret("greeting"))
"""

COMMAND_PROGRAM = """
import pulumi
import pulumi_command as command

cfg = pulumi.Config()
cmd = command.local.Command("echo", create="echo hello-from-command")
pulumi.export("stdout", cmd.stdout)
pulumi.export("secret_value", cfg.require_secret("greeting"))
"""


def _require(*names: str, note: str = "") -> None:
    missing = missing_tools(*names)
    if missing:
        pytest.fail(missing_tools_message(missing) + note, pytrace=False)


def _write_project(project_dir: Path, program: str) -> None:
    project_dir.mkdir(parents=True)
    (project_dir / "Pulumi.yaml").write_text(
        textwrap.dedent(
            f"""\
            name: cli-smoke
            description: throwaway project of tests/engine/test_cli_smoke.py
            runtime:
              name: python
              options:
                toolchain: pip
                virtualenv: {VENV_DIR}
            """
        )
    )
    (project_dir / "__main__.py").write_text(textwrap.dedent(program))


def _up_check_destroy(
    tmp_path: Path, program: str, expected_stdout: str, plugins: Sequence[tuple[str, str, str]] = ()
) -> None:
    project = tmp_path / "project"
    _write_project(project, program)
    env = isolated_env(tmp_path)
    secret = "s3cr3t-" + secrets.token_hex(8)
    for name, version, binary in plugins:  # as scripts/pulumi-env.sh does, into our PULUMI_HOME
        run_pulumi(["plugin", "install", "resource", name, version, "--file", binary], cwd=project, env=env)

    run_pulumi(["stack", "init", STACK, "--non-interactive"], cwd=project, env=env)
    run_pulumi(["config", "set", "--secret", "greeting", secret], cwd=project, env=env)
    stack_config = (project / f"Pulumi.{STACK}.yaml").read_text()
    assert secret not in stack_config, stack_config
    assert "secure:" in stack_config, stack_config

    up = run_pulumi(["up", "--yes", "--skip-preview", "--non-interactive"], cwd=project, env=env)
    assert secret not in up.stdout + up.stderr

    outputs = json.loads(run_pulumi(["stack", "output", "--json"], cwd=project, env=env).stdout)
    assert outputs == {"stdout": expected_stdout, "secret_value": "[secret]"}, outputs
    shown = json.loads(run_pulumi(["stack", "output", "--json", "--show-secrets"], cwd=project, env=env).stdout)
    assert shown == {"stdout": expected_stdout, "secret_value": secret}, shown

    backend_files = [p for p in (tmp_path / "backend").rglob("*") if p.is_file()]
    state_files = [p for p in backend_files if p.name == f"{STACK}.json"]
    assert state_files, backend_files
    assert "ciphertext" in state_files[0].read_text(), f"no encrypted secret in {state_files[0]}"
    for path in backend_files:  # current state, backups and history
        assert secret.encode() not in path.read_bytes(), f"secret in plaintext in {path}"

    run_pulumi(["destroy", "--yes", "--non-interactive"], cwd=project, env=env)
    exported = json.loads(run_pulumi(["stack", "export"], cwd=project, env=env).stdout)
    assert not exported["deployment"].get("resources"), exported
    run_pulumi(["stack", "rm", "--yes", STACK], cwd=project, env=env)


def test_cli_reports_stamped_version(tmp_path: Path) -> None:
    _require(*CORE_TOOLS)
    out = run_pulumi(["version"], cwd=tmp_path, env=isolated_env(tmp_path)).stdout
    # An unstamped build prints a dev/empty version instead.
    assert re.fullmatch(r"v3\.\d+\.\d+", out.strip()), out


def test_up_destroy_dynamic_provider(tmp_path: Path) -> None:
    _require(*CORE_TOOLS)
    _up_check_destroy(tmp_path, DYNAMIC_PROGRAM, "hello-from-echo")


def test_up_destroy_command_provider(tmp_path: Path) -> None:
    _require(
        *CORE_TOOLS,
        "pulumi-resource-command",
        note=(
            " (where the Go module proxy does not serve github.com/pulumi/pulumi-command/provider,"
            " the script cannot build it: install pulumi-resource-command"
            f" {COMMAND_VERSION} into that directory by other means)"
        ),
    )
    binary = str(tools_bin() / "pulumi-resource-command")
    _up_check_destroy(tmp_path, COMMAND_PROGRAM, "hello-from-command", plugins=[("command", COMMAND_VERSION, binary)])
