"""End-to-end smoke test of the Pulumi toolchain built by scripts/install-pulumi.sh.

Creates a throwaway Python project on a local file backend, sets a secret,
`pulumi up`s a resource that runs `echo`, checks the outputs, checks that the
secret is not stored in plaintext, then `pulumi destroy`s.

The remote-command test proves the program's own SSH dynamic providers
(``components/host/ssh_provider.py``, the ``builtin-ssh`` executor) against the
engine tests' test host: the pulumi-command plugin cannot be built here (the Go
module proxy answers 403 for github.com/pulumi/pulumi-command/provider), so
that is what the server stack runs on in these tests (docs/engine-tests.md).

Run:  .venv/bin/python -m pytest -m engine tests/engine -v
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import subprocess
import textwrap
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.engine.pulumi_cli import (
    REPO_ROOT,
    VENV_DIR,
    isolated_env,
    missing_tools,
    missing_tools_message,
    run_pulumi,
)
from tools.testhost import TestHost

pytestmark = pytest.mark.engine

CORE_TOOLS = (
    "pulumi",
    "pulumi-language-python",
    "pulumi-language-python-exec",
    "pulumi-resource-pulumi-python",
)
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

SSH_PROGRAM = """
from pathlib import Path

import pulumi

from djangostack.host.ssh_provider import SshCommand, SshConnection, SshCopy

cfg = pulumi.Config()
connection = SshConnection(
    host="127.0.0.1",
    port=int(cfg.require("port")),
    user="deploy",
    private_key=Path(cfg.require("keyFile")).read_text(),
    dial_error_limit=3,
    per_dial_timeout=5,
)
marker = cfg.require("marker")
note = SshCommand(
    "note",
    connection=connection,
    create=f"cat > {marker} && echo created",
    update=f"cat > {marker} && echo updated",
    delete=f"rm -f {marker}",
    stdin=cfg.require_secret("greeting"),
    triggers=[cfg.require("trigger")],
)
upload = SshCopy("upload", connection=connection, source_path=Path("payload.txt"), remote_path=marker + ".payload")
pulumi.export("stdout", note.stdout)
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


def test_up_update_destroy_builtin_ssh_provider(tmp_path: Path, engine_host: TestHost) -> None:
    _require(*CORE_TOOLS)
    project = tmp_path / "project"
    _write_project(project, SSH_PROGRAM)
    shutil.copytree(REPO_ROOT / "components", project / "components", ignore=shutil.ignore_patterns("__pycache__"))
    (project / "payload.txt").write_text("payload v1\n")
    env = isolated_env(tmp_path)
    marker = f"/tmp/smoke-{secrets.token_hex(4)}"
    secret = "s3cr3t-" + secrets.token_hex(8)

    def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_pulumi(list(args), cwd=project, env=env, check=check)

    def on_host(command: str) -> str:
        return engine_host.ssh(command, timeout=60).stdout

    cli("stack", "init", STACK, "--non-interactive")
    for key, value in (("port", str(engine_host.port)), ("keyFile", str(engine_host.private_key_path))):
        cli("config", "set", key, value)
    cli("config", "set", "marker", marker)
    cli("config", "set", "trigger", "1")
    cli("config", "set", "--secret", "greeting", secret)

    cli("up", "--yes", "--skip-preview", "--non-interactive")
    assert json.loads(cli("stack", "output", "--json").stdout) == {"stdout": "created\n"}
    assert on_host(f"cat {marker}") == secret, "stdin did not reach the create command"
    assert on_host(f"cat {marker}.payload") == "payload v1\n"
    assert cli("preview", "--expect-no-changes", "--non-interactive", check=False).returncode == 0

    for path in [p for p in (tmp_path / "backend").rglob("*") if p.is_file()]:
        data = path.read_bytes()
        assert secret.encode() not in data, f"stdin in plaintext in {path}"
        assert engine_host.private_key_pem.splitlines()[1].encode() not in data, f"private key in {path}"

    cli("config", "set", "trigger", "2")
    (project / "payload.txt").write_text("payload v2\n")
    diff = cli("preview", "--diff", "--non-interactive").stdout
    assert '~ [0]: "1" => "2"' in diff and "~ sourceHash" in diff, diff
    cli("up", "--yes", "--skip-preview", "--non-interactive")
    assert json.loads(cli("stack", "output", "--json").stdout) == {"stdout": "updated\n"}
    assert on_host(f"cat {marker}.payload") == "payload v2\n"

    cli("config", "set", "trigger", "3")
    failing = SSH_PROGRAM.replace("echo updated", "echo half-done; echo broken-on-purpose >&2; exit 7")
    (project / "__main__.py").write_text(textwrap.dedent(failing))
    failed = cli("up", "--yes", "--skip-preview", "--non-interactive", check=False)
    output = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert "exited with status 7" in output and "broken-on-purpose" in output and "half-done" in output, output
    assert secret not in output

    cli("destroy", "--yes", "--non-interactive")
    assert engine_host.ssh(f"test -e {marker}", check=False).returncode != 0, "delete did not run"
    engine_host.ssh(f"rm -f {marker}.payload", check=False)
