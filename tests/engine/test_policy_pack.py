"""The policy pack under the real engine: ``pulumi preview/up --policy-pack policy`` (issue 14).

Everything runs as the README says: a copy of the project with the pack in ``policy/``, the pack's
own virtualenv (``policy/venv``, built from ``policy/requirements.txt``), the CLI and Python
language host from ``scripts/install-pulumi.sh`` with ``PULUMI_PYTHON_CMD`` pointing at the
project's virtualenv (``scripts/pulumi-env.sh``), on a local file backend.

- The shipped dev stack (re-pointed at the engine tests' host) passes the pack in preview and up.
- A violation stops preview and up with the policy's name and message, and nothing is created.
- Production-only rules follow ``djangostack:environment`` from the stack config (the stack is
  named ``blue``, so its name cannot be what decides).

The last two need no host: the engine checks a resource before it creates it, and the bootstrap
is the first resource, so they point at a closed port with a dummy key.

The violations come from the rendered app environment. ``check`` refuses the same settings in a
stack file (issue 11), so to test the pack alone the copy's ``__main__.py`` plays a program that
renders them anyway (a bug, a fork): it adds ``RENDERED_ENV_OVERRIDES`` (JSON, from the CLI's
environment) to the env file the server bootstrap uploads. The stack settings stay valid.

The pack's virtualenv takes a few minutes to build, so it is built once per machine under
``.cache/policy-venv/`` (or taken from ``DJANGOSTACK_POLICY_VENV``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.engine.conftest import Cli, copy_project, output_of
from tests.engine.pulumi_cli import REPO_ROOT, isolated_env, tools_bin
from tests.harness import fixture_stack
from tools.testhost import TestHost

pytestmark = pytest.mark.engine

PACK = "djangostack-guardrails"
APP = "guarded"
PINNED_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
HTTP_PORT, HTTPS_PORT, DB_PORT, REDIS_PORT = 9180, 9543, 5435, 6382
"""Clear of the server stack test (9080/9443/5434/6381), the host e2e stack and this machine's own
PostgreSQL and Redis; the test host shares the machine's network."""
PACK_FILES = ("PulumiPolicy.yaml", "__init__.py", "__main__.py", "requirements.txt")
PACK_PACKAGES = ("guardrails",)
"""The pack's packages, copied whole (their ``__pycache__`` left behind)."""
PATCH_MARKER = ".pulumi-language-python.patch"
WRAPPER = '''"""The project's entry point, with RENDERED_ENV_OVERRIDES added to the rendered app env."""
import json
import os

import djangostack.host.render as render

_original = render.env_values


def env_values(ctx):
    return {**_original(ctx), **json.loads(os.environ.get("RENDERED_ENV_OVERRIDES") or "{}")}


render.env_values = env_values

from djangostack.stack import main  # noqa: E402

main()
'''


def pack_venv() -> Path:
    """A virtualenv built from policy/requirements.txt, as policy/README.md says (cached)."""
    given = os.environ.get("DJANGOSTACK_POLICY_VENV")
    if given:
        return Path(given)
    requirements = REPO_ROOT / "policy" / "requirements.txt"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:12]
    venv = REPO_ROOT / ".cache" / "policy-venv" / digest
    if not (venv / "bin" / "python").exists():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-r", str(requirements)],
            check=True,
            timeout=1800,
        )
    return venv


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (tools_bin() / PATCH_MARKER).exists():
        pytest.fail(
            f"{tools_bin() / 'pulumi-language-python'} was built without the RunPlugin patch, so the pack "
            "cannot start (it would run the project's __main__.py): rerun scripts/install-pulumi.sh"
        )
    project = copy_project(tmp_path_factory.mktemp("policy-engine") / "project")
    (project / "__main__.py").write_text(WRAPPER)
    pack = project / "policy"
    pack.mkdir()
    for name in PACK_FILES:
        shutil.copy2(REPO_ROOT / "policy" / name, pack / name)
    for name in PACK_PACKAGES:
        shutil.copytree(REPO_ROOT / "policy" / name, pack / name, ignore=shutil.ignore_patterns("__pycache__"))
    (pack / "venv").symlink_to(pack_venv())
    return project


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    user: str
    key_file: str


def stack_config(host: Endpoint, environment: str) -> dict[str, Any]:
    """The dev fixture stack's settings, re-pointed at ``host``."""
    shipped = yaml.safe_load(fixture_stack("dev").read_text())["config"]
    config: dict[str, Any] = json.loads(json.dumps(shipped))
    config["djangostack:environment"] = environment
    config["djangostack:target"].update(
        {
            "host": host.host,
            "sshPort": host.port,
            "sshUser": host.user,
            "sshKeyFile": host.key_file,
            "httpPort": HTTP_PORT,
            "httpsPort": HTTPS_PORT,
        }
    )
    config["djangostack:app"]["name"] = APP
    if environment == "prod":
        # check refuses a prod server without a pinned host key; preview never connects to it.
        config["djangostack:target"]["sshHostKey"] = PINNED_HOST_KEY
    config["djangostack:database"]["port"] = DB_PORT
    config["djangostack:cache"]["port"] = REDIS_PORT
    return config


def new_stack(project: Path, workdir: Path, host: Endpoint, stack: str, environment: str, **overrides: str) -> Cli:
    env = isolated_env(workdir, extra={"RENDERED_ENV_OVERRIDES": json.dumps(overrides)})
    cli = Cli(project, env)
    cli.init_stack(stack, stack_config(host, environment))
    return cli


def custom_resources(cli: Cli) -> list[str]:
    state = json.loads(cli("stack", "export").stdout)
    return [
        r["urn"].rsplit("::", 1)[-1]
        for r in state["deployment"].get("resources") or []
        if r.get("custom") and not r["type"].startswith("pulumi:providers:")
    ]


def assert_stopped_by(result: subprocess.CompletedProcess[str], policy: str, message: str) -> None:
    output = output_of(result)
    assert result.returncode != 0, output
    assert re.search(rf"\[mandatory\]\s+{re.escape(policy)}\s", output), output
    assert message in output, output
    assert "Traceback" not in output, output


@pytest.fixture(scope="module")
def shipped(project: Path, engine_host: TestHost, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    endpoint = Endpoint(engine_host.host, engine_host.port, engine_host.user, str(engine_host.private_key_path))
    cli = new_stack(project, tmp_path_factory.mktemp("shipped"), endpoint, "dev", "dev")
    yield cli
    cli("destroy", "--yes", "--non-interactive", check=False)


def test_the_shipped_dev_stack_passes_the_pack_in_preview_and_up(shipped: Cli, engine_host: TestHost) -> None:
    preview = shipped("preview", "--non-interactive", "--policy-pack", "policy")
    print(preview.stdout)
    assert PACK in preview.stdout, f"the pack did not run:\n{preview.stdout}"
    assert "violation" not in preview.stdout.lower(), preview.stdout
    up = shipped("up", "--yes", "--non-interactive", "--skip-preview", "--policy-pack", "policy")
    print(up.stdout)
    assert PACK in up.stdout, up.stdout
    # The server target's logical names are stable ("host-*", aliased from the app-named ones).
    assert {"host-bootstrap", "host-source", "host-release"} <= set(custom_resources(shipped))
    assert engine_host.ssh(f"test -d /srv/{APP}/current", check=False).returncode == 0


@pytest.fixture
def nowhere(tmp_path: Path) -> Endpoint:
    """A host nothing listens on: any attempt to create a resource would fail to connect."""
    key = tmp_path / "deploy_key"
    key.write_text("not a real key\n")
    return Endpoint("127.0.0.1", 2299, "deploy", str(key))


def test_a_violation_stops_preview_and_up_and_nothing_is_created(
    project: Path, nowhere: Endpoint, tmp_path: Path
) -> None:
    cli = new_stack(project, tmp_path, nowhere, "red", "dev", DJANGO_DEBUG="true")
    message = "DJANGO_DEBUG=true turns on Django's debug mode"
    preview = cli("preview", "--non-interactive", "--policy-pack", "policy", check=False)
    print(output_of(preview))
    assert_stopped_by(preview, "no-django-debug-or-wildcard-hosts", message)
    up = cli("up", "--yes", "--non-interactive", "--skip-preview", "--policy-pack", "policy", check=False)
    print(output_of(up))
    assert_stopped_by(up, "no-django-debug-or-wildcard-hosts", message)
    assert custom_resources(cli) == [], "a resource was created despite a mandatory violation"


@pytest.mark.parametrize(("environment", "stopped"), [("prod", True), ("staging", False)])
def test_production_rules_follow_the_environment_in_the_stack_config(
    project: Path, nowhere: Endpoint, tmp_path: Path, environment: str, stopped: bool
) -> None:
    cli = new_stack(project, tmp_path, nowhere, "blue", environment, SECURE_HSTS_SECONDS="0")
    result = cli("preview", "--non-interactive", "--policy-pack", "policy", check=False)
    print(output_of(result))
    if stopped:
        assert_stopped_by(result, "prod-hsts-enabled", "SECURE_HSTS_SECONDS=0 switches HSTS off in production")
    else:
        assert result.returncode == 0, output_of(result)
        assert PACK in result.stdout and "prod-hsts-enabled" not in result.stdout, result.stdout
