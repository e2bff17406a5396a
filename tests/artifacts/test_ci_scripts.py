"""The helper scripts the workflows call, run for real: comment capping, the deploy gate (against a
stub `gh` that plays the GitHub API), the CI dev stack file, and PostgreSQL version detection."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

pytestmark = pytest.mark.artifacts

REPO = Path(__file__).resolve().parents[2]
CI = REPO / "scripts" / "ci"
TIP = "a" * 40
OLD = "b" * 40


def module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name.replace("-", "_"), CI / f"{name}.py")
    assert spec and spec.loader
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


# ---------------------------------------------------------------- cap-comment.py


def test_a_plan_over_githubs_limit_is_capped_with_the_banner_and_a_pointer_to_the_full_text(tmp_path: Path) -> None:
    # The measured offline diff against an empty base was 75,174 characters.
    lines = [f"+ resource {i}: " + "é" * 60 for i in range(2000)]
    body = "### Stack `prod`\n\n```diff\n" + "\n".join(lines) + "\n```\n"
    body = body[:75_174] if len(body) > 75_174 else body
    assert len(body) == 75_174
    source, out = tmp_path / "plan.md", tmp_path / "comment.md"
    source.write_text(body, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(CI / "cap-comment.py"), "--input", str(source), "--output", str(out),
         "--banner", "> Produced by the fork's own code", "--full", "artifact `offline-plan`"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    comment = out.read_text(encoding="utf-8")
    assert len(comment) <= 60_000 < 65_536
    assert comment.startswith("> Produced by the fork's own code\n\n### Stack `prod`")
    assert comment.count("```") % 2 == 0, "the cut must not leave a code fence open"
    assert "**Truncated:**" in comment and "of 75,174 characters" in comment and "artifact `offline-plan`" in comment


def test_a_short_plan_is_posted_whole_after_the_banner() -> None:
    cap = module("cap-comment").cap
    assert cap("small plan\n", "> banner") == "> banner\n\nsmall plan\n"
    with pytest.raises(ValueError, match="--limit must be between 1 and 65536"):
        cap("x", "", limit=70_000)


# ---------------------------------------------------------------- deploy-gate.sh


GateResult = tuple[int, str, str]


def run_gate(tmp_path: Path, mode: str, sha: str, *, tip: str = TIP, green: int = 1, **env: str) -> GateResult:
    """Run deploy-gate.sh with a `gh` that answers like the API: main at `tip`, `green` CI runs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    gh = bin_dir / "gh"
    gh.write_text(
        "#!/bin/sh\n"
        'echo "$*" >>"$GH_LOG"\n'
        'case "$2" in\n'
        f"  */git/ref/heads/main) echo {tip} ;;\n"
        f'  */actions/workflows/ci.yml/runs\\?head_sha="$DEPLOY_SHA"*) echo {green} ;;\n'
        "  *) echo 0 ;;\n"
        "esac\n"
    )
    gh.chmod(0o755)
    output = tmp_path / "output"
    output.write_text("")
    full_env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "GH_LOG": str(tmp_path / "gh.log"),
        "GITHUB_REPOSITORY": "acme/notes",
        "GITHUB_OUTPUT": str(output),
        "DEPLOY_SHA": sha,
        **env,
    }
    result = subprocess.run(
        ["bash", str(CI / "deploy-gate.sh"), mode], env=full_env, capture_output=True, text=True, check=False
    )
    return result.returncode, output.read_text(), result.stdout + result.stderr


def test_the_gate_passes_the_tip_of_main_with_green_ci(tmp_path: Path) -> None:
    status, output, _ = run_gate(tmp_path, "gate", TIP, DEPLOY_REF="refs/heads/main", DEV_HOST="dev.example.com")
    assert status == 0
    assert output.splitlines() == ["dev=true", "deploy=true"]
    log = (tmp_path / "gh.log").read_text()
    assert f"head_sha={TIP}&branch=main&event=push&status=success" in log


def test_a_superseded_commit_ends_cleanly_without_deploying(tmp_path: Path) -> None:
    """A re-run of an old run, or a run that waited while main moved on, deploys nothing."""
    status, output, messages = run_gate(tmp_path, "tip", OLD)
    assert status == 0 and output.splitlines() == ["deploy=false"]
    assert f"main is at {TIP}" in messages
    status, output, _ = run_gate(tmp_path / "gate", "gate", OLD, DEPLOY_REF="refs/heads/main", DEV_HOST="d.example")
    assert status == 0 and "deploy=false" in output.splitlines()


def test_a_commit_without_green_ci_is_refused(tmp_path: Path) -> None:
    status, output, messages = run_gate(tmp_path, "gate", TIP, green=0, DEPLOY_REF="refs/heads/main")
    assert status == 1 and "deploy=true" not in output
    assert "no successful CI run" in messages


def test_a_run_for_another_branch_is_refused(tmp_path: Path) -> None:
    status, output, messages = run_gate(tmp_path, "gate", TIP, DEPLOY_REF="refs/heads/feature")
    assert status == 1 and output == ""
    assert "deploys run from main only" in messages


@pytest.mark.parametrize("host", ["", "127.0.0.1", "localhost", "::1", "0.0.0.0"])
def test_a_local_or_missing_dev_host_skips_dev_without_blocking_the_rest(tmp_path: Path, host: str) -> None:
    status, output, _ = run_gate(tmp_path, "gate", TIP, DEPLOY_REF="refs/heads/main", DEV_HOST=host)
    assert status == 0 and output.splitlines() == ["dev=false", "deploy=true"]


def test_the_gate_refuses_something_that_is_not_a_commit_id(tmp_path: Path) -> None:
    status, _, messages = run_gate(tmp_path, "tip", "main; rm -rf /")
    assert status == 1 and "not a commit id" in messages


# ---------------------------------------------------------------- ci-dev-stack.py


def test_the_ci_dev_stack_drops_the_throwaway_salt_and_points_at_the_real_host(tmp_path: Path) -> None:
    source = tmp_path / "Pulumi.dev.yaml"
    source.write_text(
        "encryptionsalt: v1:abc=:v1:def:ghi==\n"
        "config:\n"
        "  djangostack:environment: dev\n"
        "  djangostack:target:\n"
        "    kind: server\n"
        "    host: 127.0.0.1\n"
        "    sshPort: 2222\n"
        "    sshKeyFile: .cache/testhost/dev/id_ed25519\n"
        "    remoteExecutor: builtin-ssh\n"
        "  djangostack:app:\n"
        "    name: notes\n"
    )
    result = subprocess.run(
        [sys.executable, str(CI / "ci-dev-stack.py"), "--source", str(source), "--stack", "ci-dev",
         "--host", "dev.example.com", "--host-key", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB", "--ssh-port", "2200"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    written = tmp_path / "Pulumi.ci-dev.yaml"
    assert result.stdout.strip() == str(written)
    stack = yaml.safe_load(written.read_text())
    assert "encryptionsalt" not in stack, "the committed salt belongs to dev-only-passphrase"
    assert stack["config"]["djangostack:target"] == {
        "kind": "server",
        "host": "dev.example.com",
        "sshPort": 2200,
        "sshUser": "deploy",
        "sshHostKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB",
    }
    assert stack["config"]["djangostack:app"] == {"name": "notes"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "127.0.0.1", "--host-key", "ssh-ed25519 AAAA"], "DEV_HOST must be a server reachable"),
        (["--host", "", "--host-key", "ssh-ed25519 AAAA"], "DEV_HOST must be a server reachable"),
        (["--host", "d.example", "--host-key", "ssh-ed25519 AAAA\nssh-rsa BBBB"], "DEV_SSH_HOST_KEY must be one"),
        (["--host", "d.example", "--host-key", "ssh-ed25519 AAAA", "--ssh-port", "0"], "DEV_SSH_PORT must be"),
        (["--host", "d.example", "--host-key", "ssh-ed25519 AAAA", "--ssh-user", "root;id"], "DEV_SSH_USER must be"),
        (["--stack", "dev", "--host", "d.example", "--host-key", "ssh-ed25519 AAAA"], "other than dev"),
    ],
)
def test_the_ci_dev_stack_refuses_bad_settings_in_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    source = tmp_path / "Pulumi.dev.yaml"
    source.write_text("config:\n  djangostack:target:\n    kind: server\n")
    result = subprocess.run(
        [sys.executable, str(CI / "ci-dev-stack.py"), "--source", str(source), *args],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "Pulumi.ci-dev.yaml").exists()


# ---------------------------------------------------------------- start-test-services.sh


def fake_postgresql(root: Path, versions: list[str]) -> None:
    for version in versions:
        binary = root / version / "bin" / "postgres"
        binary.parent.mkdir(parents=True)
        binary.write_text("#!/bin/sh\n")
        binary.chmod(0o755)
    (root / "17").mkdir()  # a directory without a server binary (client only) is not a server


def print_pg_version(pg_root: Path) -> subprocess.CompletedProcess[str]:
    """``start-test-services.sh --print-pg-version`` with PostgreSQL installations under ``pg_root``
    (and no PG_VERSION from the caller's environment)."""
    env = {**os.environ, "PG_ROOT": str(pg_root)}
    env.pop("PG_VERSION", None)
    return subprocess.run(
        ["bash", str(REPO / "scripts" / "start-test-services.sh"), "--print-pg-version"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(("versions", "expected"), [(["15"], "15"), (["14", "16"], "16"), (["9.6", "16", "15"], "16")])
def test_start_test_services_uses_the_installed_postgresql(tmp_path: Path, versions: list[str], expected: str) -> None:
    fake_postgresql(tmp_path, versions)
    result = print_pg_version(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def test_start_test_services_says_when_no_postgresql_is_installed(tmp_path: Path) -> None:
    result = print_pg_version(tmp_path)
    assert result.returncode == 1 and "no PostgreSQL server installed" in result.stderr


@pytest.mark.parametrize("script", ["deploy-gate.sh", "install-pulumi.sh", "pulumi-tools/update.sh"])
def test_the_ci_scripts_are_shellcheck_clean(script: str) -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed")
    result = subprocess.run(["shellcheck", str(CI / script)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout
