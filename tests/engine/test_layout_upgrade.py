"""A stack deployed by the flat layout upgrades to the root component with nothing replaced.

The previous program (commit ``PREVIOUS_LAYOUT``, unpacked from git at test time) deploys a server
stack onto the engine tests' host on a local file backend. The current program then previews the
same stack on the same backend: ``pulumi preview --json`` may show updates, but no resource is
created, deleted or replaced — the only new node is the root ``DjangoStack`` component itself,
which has no provider and touches nothing. Then the current program's ``up`` applies it and the
app still serves, with the data the previous deployment made.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator

import pytest
import yaml

from tests.engine.conftest import Cli, copy_project
from tests.engine.pulumi_cli import VENV_DIR, isolated_env
from tests.engine.test_server_stack import Deployment, assert_serving, stack_config
from tests.upgrade.record_previous_urns import PREVIOUS_LAYOUT, unpack_commit
from tools.testhost import TestHost

pytestmark = pytest.mark.engine

STACK = "upgrade"
ROOT_TYPE = "djangostack:index:DjangoStack"
CHANGING_OPS = {"create", "delete", "replace", "create-replacement", "delete-replaced", "discard", "import"}


def steps(preview_json: str) -> list[tuple[str, str]]:
    """``(op, urn)`` of every step of ``pulumi preview --json``."""
    document = json.loads(preview_json)
    return [(step["op"], step["urn"]) for step in document.get("steps", [])]


@pytest.fixture(scope="module")
def upgrade(engine_host: TestHost, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cli, Cli]]:
    """(previous, current): the same stack and backend, run by the previous and the current program.
    The previous program has deployed the stack."""
    workdir = tmp_path_factory.mktemp("engine-upgrade")
    previous = unpack_commit(PREVIOUS_LAYOUT, workdir)
    (previous / ".venv").symlink_to(VENV_DIR)
    override = os.environ.get("DJANGOSTACK_ENGINE_PROJECT_FILE")
    if override:  # the copies of the current project use the candidate project file (conftest.py)
        shutil.copy2(override, previous / "Pulumi.yaml")
    env = isolated_env(workdir)
    before = Cli(previous, env)
    before.init_stack(STACK, stack_config(engine_host, "r1"), {"databasePassword": "upgrade-db-password-1"})
    current = copy_project(workdir / "current")
    shutil.copy2(before.stack_file(STACK), current / "stacks" / before.stack_file(STACK).name)
    after = Cli(current, env)
    try:
        before("up", "--yes", "--non-interactive", "--skip-preview")
        after("stack", "select", STACK, "--non-interactive")
        yield before, after
    finally:
        # Leave the shared engine host as the next module expects it (test_server_stack checks that
        # its destroy leaves no ports or stack markers): this stack's data goes with it too.
        app = yaml.safe_load(after.stack_file(STACK).read_text())["config"]["djangostack:app"]
        after.set_config(STACK, "djangostack:app", {**app, "removeDataOnDestroy": True})
        after("up", "--yes", "--non-interactive", "--skip-preview", check=False)
        after("destroy", "--yes", "--non-interactive", check=False)
        before("destroy", "--yes", "--non-interactive", check=False)


def test_the_previous_layout_deployed_the_host_at_the_top_level(upgrade: tuple[Cli, Cli]) -> None:
    before, _after = upgrade
    state = json.loads(before("stack", "export").stdout)
    host = next(r for r in state["deployment"]["resources"] if r["urn"].endswith("::host"))
    assert host["type"] == "djangostack:host:DjangoHost"
    assert "$" not in host["urn"].split("::")[2], host["urn"]  # no parent but the stack


def test_the_current_program_previews_no_create_delete_or_replace(upgrade: tuple[Cli, Cli]) -> None:
    _before, after = upgrade
    result = after("preview", "--json", "--non-interactive")
    planned = steps(result.stdout)
    changing = [(op, urn) for op, urn in planned if op in CHANGING_OPS]
    root = [urn for op, urn in changing if op == "create" and urn.split("::")[2] == ROOT_TYPE]
    assert len(root) == 1, changing
    assert [step for step in changing if step[1] not in root] == [], "the upgrade would create, delete or replace"
    kept = {urn.rsplit("::", 1)[-1]: op for op, urn in planned if urn not in root}
    # The custom resources are kept (same or updated in place); the DjangoHost component itself is
    # covered by the no-create/no-delete check above and by the state check after `up` below.
    for name in ("host-bootstrap", "host-source", "host-release"):
        assert kept.get(name) in ("same", "update"), (name, kept)
    moved = [urn for op, urn in planned if urn.endswith("::host-bootstrap")]
    assert moved and moved[0].split("::")[2].startswith(f"{ROOT_TYPE}$"), moved


def test_the_current_program_applies_the_upgrade_and_the_app_keeps_serving(
    upgrade: tuple[Cli, Cli], engine_host: TestHost
) -> None:
    _before, after = upgrade
    after("up", "--yes", "--non-interactive", "--skip-preview")
    state = json.loads(after("stack", "export").stdout)
    urns = [r["urn"] for r in state["deployment"]["resources"]]
    assert not any("::djangostack:host:DjangoHost::" in u and "$" not in u.split("::")[2] for u in urns), urns
    deployment = Deployment(after, after.cwd, after.cwd.parent, engine_host, {})
    assert_serving(deployment, "r1")
    assert after("preview", "--expect-no-changes", "--non-interactive", check=False).returncode == 0
