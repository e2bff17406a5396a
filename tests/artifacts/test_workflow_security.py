"""Issue 13 (and issue 11's "run the policy pack"), asserted on the workflow files themselves.

Each test names the finding it covers. They parse the YAML (jobs, steps, triggers, permissions),
and only look inside `run:` scripts for the commands a step runs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.artifacts.test_workflows import LOCAL_ACTIONS, REPO, WORKFLOW_FILES, load, steps, uses

pytestmark = pytest.mark.artifacts

PULUMI_TOOLS = "./.github/actions/pulumi-tools"
DOCS = REPO / "docs" / "workflow.md"


def all_workflows() -> dict[str, dict[str, Any]]:
    return {path.name: load(path.name) for path in WORKFLOW_FILES}


def local_action(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((REPO / ".github" / "actions" / name / "action.yml").read_text(encoding="utf-8")))


def commands(script: str) -> list[str]:
    """The command lines of a shell script, backslash continuations joined."""
    joined = re.sub(r"\\\n\s*", " ", script)
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]


def pulumi_engine_commands(script: str) -> list[str]:
    return [c for c in commands(script) if re.match(r"^(?:\S+=\S+\s+)*pulumi (preview|up)\b", c)]


def jobs() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for name, workflow in all_workflows().items():
        for job_id, job in workflow["jobs"].items():
            yield name, job_id, job


def runs(job: dict[str, Any]) -> str:
    return "\n".join(str(s.get("run", "")) for s in steps(job))


def engine_jobs() -> list[tuple[str, str, dict[str, Any]]]:
    return [(n, j, job) for n, j, job in jobs() if pulumi_engine_commands(runs(job))]


def test_there_are_engine_jobs_to_check() -> None:
    found = {(n, j) for n, j, _ in engine_jobs()}
    assert found >= {
        ("preview.yml", "preview"),
        ("deploy.yml", "dev"),
        ("deploy.yml", "staging"),
        ("deploy.yml", "prod-preview"),
        ("deploy.yml", "prod"),
        ("drift.yml", "drift"),
    }, found


# ---------------------------------------------------------------- finding 1: PR previews


def test_pr_previews_get_no_stored_pulumi_token_passphrase_or_ssh_key() -> None:
    text = yaml.safe_dump(load("preview.yml"))  # comments dropped
    referenced = set(re.findall(r"secrets\.([A-Za-z0-9_]+)", text))
    assert referenced <= {"GITHUB_TOKEN"}, f"preview.yml reads secrets {referenced}: pull requests run their own code"
    for name in ("PULUMI_ACCESS_TOKEN", "PULUMI_CONFIG_PASSPHRASE", "DEV_SSH_PRIVATE_KEY"):
        assert name not in text


def test_pr_previews_use_an_oidc_exchanged_team_token_and_read_only_cloud_identities() -> None:
    job = load("preview.yml")["jobs"]["preview"]
    auth = [s for s in steps(job) if uses(s, "pulumi/auth-actions")]
    assert len(auth) == 1, "the Pulumi token must come from the OIDC exchange"
    assert auth[0]["with"]["requested-token-type"] == "urn:pulumi:token-type:access_token:team"
    assert auth[0]["with"]["scope"] == "team:${{ vars.PULUMI_PREVIEW_TEAM }}"
    gcp = [s for s in steps(job) if uses(s, "google-github-actions/auth")]
    assert [s["with"]["service_account"] for s in gcp] == ["${{ vars.GCP_PREVIEW_SERVICE_ACCOUNT }}"]
    assert not any(uses(s, "aws-actions/configure-aws-credentials") for s in steps(job)), "prod's cloud is AWS"
    assert "environment" not in job, "an environment would hand the pull request its secrets"


def test_prod_and_the_ci_dev_stack_are_never_previewed_by_pull_request_code() -> None:
    preview = load("preview.yml")
    matrix = preview["jobs"]["preview"]["strategy"]["matrix"]["include"]
    assert {m["stack"] for m in matrix} == {"staging"}, "prod and dev state would be readable by the PR's code"
    offline = preview["jobs"]["offline-plan"]
    assert "if" not in offline, "the offline plan covers prod and dev for every pull request"
    assert "for stack in dev staging prod" in runs(offline)


def test_no_workflow_reads_stack_outputs_with_show_secrets() -> None:
    for path in WORKFLOW_FILES + LOCAL_ACTIONS:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        text = yaml.safe_dump(document)
        # pulumi/actions reads every output with --show-secrets after a preview or update.
        assert "pulumi/actions@" not in text, f"{path.name}: run the CLI, not pulumi/actions"
        assert "--show-secrets" not in text, path.name


# ---------------------------------------------------------------- finding 2: environments


MAIN_ONLY_TRIGGERS = {"workflow_run", "workflow_dispatch", "schedule"}


def test_jobs_with_an_environment_run_only_for_main() -> None:
    for name, job_id, job in jobs():
        if "environment" not in job:
            continue
        workflow = load(name)
        assert set(workflow["on"]) <= MAIN_ONLY_TRIGGERS, f"{name}: {set(workflow['on'])} can run branch code"
        if "workflow_run" in workflow["on"]:
            assert workflow["on"]["workflow_run"]["branches"] == ["main"], name
        if name == "deploy.yml":
            assert "gate" in job["needs"], f"{job_id} must wait for the gate (main, green CI, tip)"
        else:
            assert job["if"] == "github.ref == 'refs/heads/main'", f"{name}:{job_id}"
    gate = load("deploy.yml")["jobs"]["gate"]
    assert "github.event.workflow_run.head_branch == 'main'" in gate["if"]
    assert "github.event.workflow_run.head_repository.full_name == github.repository" in gate["if"]
    script = (REPO / "scripts" / "ci" / "deploy-gate.sh").read_text(encoding="utf-8")
    assert '"${DEPLOY_REF:-}" != "refs/heads/main"' in script


def test_secrets_are_only_read_by_jobs_in_an_environment() -> None:
    for name, job_id, job in jobs():
        referenced = set(re.findall(r"secrets\.([A-Za-z0-9_]+)", yaml.safe_dump(job))) - {"GITHUB_TOKEN"}
        if referenced:
            assert "environment" in job, f"{name}:{job_id} reads {referenced} outside a main-only environment"
    for name, workflow in all_workflows().items():
        top = {k: v for k, v in workflow.items() if k != "jobs"}
        assert "secrets." not in yaml.safe_dump(top), f"{name}: workflow-level env must not hold secrets"


def test_every_job_with_a_cloud_or_pulumi_identity_names_where_it_comes_from() -> None:
    """Deploy identities come from environment variables, so each environment has its own."""
    for name, job_id, job in jobs():
        for step in steps(job):
            if uses(step, "pulumi/auth-actions"):
                team = "PULUMI_TEAM" if "environment" in job else "PULUMI_PREVIEW_TEAM"
                expected = f"team:${{{{ vars.{team} }}}}"
                assert step["with"]["scope"] == expected, f"{name}:{job_id}"
            if uses(step, "aws-actions/configure-aws-credentials"):
                assert "environment" in job and step["with"]["role-to-assume"] == "${{ vars.AWS_ROLE_ARN }}"


# ---------------------------------------------------------------- finding 3: policy pack, green CI


def test_every_preview_and_update_runs_the_policy_pack() -> None:
    for name, job_id, job in engine_jobs():
        for command in pulumi_engine_commands(runs(job)):
            assert "--policy-pack policy" in command, f"{name}:{job_id}: {command}"
            assert "--policy-pack-config policy-config.json" in command, f"{name}:{job_id}: {command}"
        assert any(s.get("uses") == PULUMI_TOOLS for s in steps(job)), f"{name}:{job_id} lacks the pinned tools"


def test_the_policy_pack_gets_its_own_hash_checked_virtualenv() -> None:
    action = local_action("pulumi-tools")
    script = "\n".join(str(s.get("run", "")) for s in action["runs"]["steps"])
    assert "python -m venv policy/venv" in script
    assert "policy/venv/bin/pip install --require-hashes --no-deps -r requirements-policy.lock" in script
    runtime = yaml.safe_load((REPO / "policy" / "PulumiPolicy.yaml").read_text(encoding="utf-8"))["runtime"]
    assert runtime["options"]["virtualenv"] == "venv", "the pack's venv moved; install it where the CLI looks"


def test_deploys_start_only_after_ci_succeeded_for_a_push_to_main() -> None:
    deploy = load("deploy.yml")
    assert set(deploy["on"]) == {"workflow_run", "workflow_dispatch"}, "a push alone must not deploy"
    assert deploy["on"]["workflow_run"] == {"workflows": ["ci"], "types": ["completed"], "branches": ["main"]}
    gate = deploy["jobs"]["gate"]
    assert "github.event.workflow_run.conclusion == 'success'" in gate["if"]
    assert "github.event.workflow_run.event == 'push'" in gate["if"]
    assert "deploy-gate.sh gate" in runs(gate)
    for job_id, job in deploy["jobs"].items():
        if job_id != "gate":
            needs = job["needs"] if isinstance(job["needs"], list) else [job["needs"]]
            assert "gate" in needs, job_id
    assert load("ci.yml")["name"] == "ci"


# ---------------------------------------------------------------- finding 4: approval, queue, re-runs


def test_prod_shows_a_fresh_read_only_diff_before_the_approval() -> None:
    jobs_ = load("deploy.yml")["jobs"]
    preview, prod = jobs_["prod-preview"], jobs_["prod"]
    assert prod["environment"]["name"] == "production"
    assert preview["environment"]["name"] == "production-preview", "read-only identity, no reviewers"
    assert "prod-preview" in prod["needs"]
    assert "needs.prod-preview.result == 'success'" in prod["if"]
    script = runs(preview)
    (command,) = pulumi_engine_commands(script)
    assert command.startswith("pulumi preview") and "--diff" in command
    assert 'cat plan/summary.md >>"$GITHUB_STEP_SUMMARY"' in script
    assert any(uses(s, "actions/upload-artifact") for s in steps(preview))


def test_pending_deploys_queue_per_stack_and_a_running_one_is_never_cancelled() -> None:
    deploy = load("deploy.yml")
    assert "concurrency" not in deploy, "one workflow-wide group would drop pending runs of other stacks"
    for job_id in ("dev", "staging", "prod"):
        assert deploy["jobs"][job_id]["concurrency"] == {"group": f"deploy-{job_id}", "cancel-in-progress": False}


@pytest.mark.parametrize("job_id", ["dev", "staging", "prod-preview", "prod"])
def test_each_stack_job_checks_the_tip_of_main_right_before_the_engine_runs(job_id: str) -> None:
    job = load("deploy.yml")["jobs"][job_id]
    job_steps = steps(job)
    checkout = job_steps[0]
    assert uses(checkout, "actions/checkout")
    assert checkout["with"]["ref"] == "${{ needs.gate.outputs.sha }}", "deploy the commit the gate checked"
    tip = job_steps[1]
    assert tip["id"] == "tip" and tip["run"] == "bash scripts/ci/deploy-gate.sh tip"
    assert tip["env"]["DEPLOY_SHA"] == "${{ needs.gate.outputs.sha }}"
    for step in job_steps[2:]:
        assert "steps.tip.outputs.deploy == 'true'" in str(step.get("if", "")), f"{job_id}: {step.get('name')}"


def test_the_gate_deploys_the_commit_ci_ran_for() -> None:
    gate = load("deploy.yml")["jobs"]["gate"]
    sha = next(s for s in steps(gate) if s.get("id") == "sha")
    assert sha["env"]["SHA"] == "${{ github.event.workflow_run.head_sha || github.sha }}"


# ---------------------------------------------------------------- finding 5: CI dev stack secrets


def test_the_ci_dev_stack_never_uses_the_committed_throwaway_passphrase() -> None:
    for path in WORKFLOW_FILES + LOCAL_ACTIONS:
        text = path.read_text(encoding="utf-8")
        assert "dev-only-passphrase" not in text, path.name
        assert "PULUMI_CONFIG_PASSPHRASE" not in yaml.safe_dump(yaml.safe_load(text)), path.name
    dev = load("deploy.yml")["jobs"]["dev"]
    assert dev["env"]["STACK"].endswith("/ci-dev"), "the CI stack is not the committed local dev stack"
    script = runs(dev)
    assert "scripts/ci/ci-dev-stack.py --stack ci-dev" in script
    assert 'pulumi stack select --create --secrets-provider default "$STACK"' in script


# ---------------------------------------------------------------- finding 6: real runners


def test_dev_targets_a_configurable_host_and_never_holds_back_staging_and_prod() -> None:
    deploy = load("deploy.yml")
    dispatch = deploy["on"]["workflow_dispatch"]["inputs"]["stack"]
    assert dispatch["type"] == "choice" and dispatch["options"] == ["dev", "staging", "prod"]
    jobs_ = deploy["jobs"]
    assert "needs.gate.outputs.dev == 'true'" in jobs_["dev"]["if"]
    assert "inputs.stack == 'dev'" in jobs_["dev"]["if"]
    staging_if = jobs_["staging"]["if"]
    assert "needs.dev.result == 'skipped'" in staging_if and staging_if.startswith("!cancelled()")
    assert "needs.staging.result == 'skipped'" in jobs_["prod-preview"]["if"]
    gate_env = next(s for s in steps(jobs_["gate"]) if s.get("id") == "gate")["env"]
    assert gate_env["DEV_HOST"] == "${{ vars.DEV_HOST }}"
    dev_env = {k: v for s in steps(jobs_["dev"]) for k, v in (s.get("env") or {}).items()}
    assert dev_env["DEV_HOST"] == "${{ vars.DEV_HOST }}"
    assert "127.0.0.1" not in yaml.safe_dump(deploy)


def test_start_test_services_has_no_hard_coded_postgresql_version() -> None:
    script = (REPO / "scripts" / "start-test-services.sh").read_text(encoding="utf-8")
    assert not re.search(r"PG_VERSION:-\d", script), "detect the installed version instead"
    assert "detect_pg_version" in script


# ---------------------------------------------------------------- finding 7: comments, pins, drift


def test_every_comment_is_capped_with_a_banner_and_the_full_text_kept_as_an_artifact() -> None:
    for name, job_id, job in jobs():
        job_steps = steps(job)
        for index, step in enumerate(job_steps):
            if not uses(step, "marocchino/sticky-pull-request-comment"):
                continue
            path = step["with"]["path"]
            producers = [str(s.get("run", "")) for s in job_steps[:index]]
            capped = [c for p in producers for c in commands(p) if "cap-comment.py" in c and f"--output {path}" in c]
            assert capped, f"{name}:{job_id}: {path} is not written by scripts/ci/cap-comment.py"
            assert all("--banner" in c and "--full" in c for c in capped), capped
    preview = load("preview.yml")["jobs"]
    for job_id in ("preview", "offline-plan"):
        assert any(uses(s, "actions/upload-artifact") for s in steps(preview[job_id])), job_id


def test_the_fork_banner_is_written_by_the_trusted_workflow_from_the_event() -> None:
    job = load("preview-comment.yml")["jobs"]["comment"]
    assert "workflow_run.head_repository.fork" not in job["if"], "every pull request's plan is posted"
    cap = next(s for s in steps(job) if "cap-comment.py" in str(s.get("run", "")))
    assert cap["env"]["HEAD_SHA"] == "${{ github.event.workflow_run.head_sha }}"
    assert cap["env"]["HEAD_REPO"] == "${{ github.event.workflow_run.head_repository.full_name }}"
    assert cap["env"]["FORK"] == "${{ github.event.workflow_run.head_repository.fork }}"
    assert "python3 trusted/scripts/ci/cap-comment.py" in cap["run"]
    assert "the fork $HEAD_REPO's own code" in cap["run"]


def test_the_pulumi_cli_is_built_from_checksum_pinned_modules() -> None:
    for path in WORKFLOW_FILES + LOCAL_ACTIONS:
        text = yaml.safe_dump(yaml.safe_load(path.read_text(encoding="utf-8")))
        for unpinned in ("pulumi-version", "get.pulumi.com", "curl", "wget"):
            assert unpinned not in text, f"{path.name}: {unpinned}"
    action = local_action("pulumi-tools")
    script = "\n".join(str(s.get("run", "")) for s in action["runs"]["steps"])
    assert 'bash scripts/ci/install-pulumi.sh "$PWD/.tools/bin"' in script
    installer = (REPO / "scripts" / "ci" / "install-pulumi.sh").read_text(encoding="utf-8")
    assert "GOFLAGS=-mod=readonly" in installer and "GOSUMDB=sum.golang.org" in installer
    local_default = re.search(r"PULUMI_CLI_VERSION:-([0-9.]+)", (REPO / "scripts" / "install-pulumi.sh").read_text())
    assert local_default
    go_sum = (REPO / "scripts" / "ci" / "pulumi-tools" / "cli" / "go.sum").read_text(encoding="utf-8")
    assert re.search(rf"^github.com/pulumi/pulumi/pkg/v3 v{re.escape(local_default[1])} h1:\S+=$", go_sum, re.M), (
        "CI builds another CLI version than scripts/install-pulumi.sh"
    )


def _hash_checked_or_local(command: str) -> bool:
    """A pip install that checks hashes, or that installs only this checkout and reaches no index."""
    local = "--no-index" in command and "--no-deps" in command and command.rstrip().endswith("-e .")
    return "--require-hashes" in command or local


def test_jobs_holding_a_token_install_python_packages_only_with_hashes() -> None:
    for name, job_id, job in jobs():
        if job.get("permissions", {}).get("id-token") != "write":
            continue
        for command in commands(runs(job)):
            if "pip install" in command:
                assert _hash_checked_or_local(command), f"{name}:{job_id}: {command}"
    action = local_action("pulumi-tools")
    for command in commands("\n".join(str(s.get("run", "")) for s in action["runs"]["steps"])):
        if "pip install" in command:
            assert _hash_checked_or_local(command), command


def test_a_local_install_reaching_an_index_is_not_allowed_where_a_token_is_held() -> None:
    assert _hash_checked_or_local(".venv/bin/pip install --no-index --no-deps --no-build-isolation -e .")
    assert not _hash_checked_or_local(".venv/bin/pip install --no-deps -e .")
    assert not _hash_checked_or_local(".venv/bin/pip install --no-index --no-deps -e . somepackage")
    assert not _hash_checked_or_local(".venv/bin/pip install -r requirements.txt")


LOCKS = [("requirements.lock", "requirements.txt"), ("requirements-policy.lock", "policy/requirements.txt")]


@pytest.mark.parametrize(("lock", "source"), LOCKS)
def test_the_lock_files_pin_every_requirement_with_hashes(lock: str, source: str) -> None:
    text = (REPO / lock).read_text(encoding="utf-8")
    entries = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+) \\\n((?:\s+--hash=sha256:[0-9a-f]{64}(?: \\)?\n)+)", text, re.M)
    pinned = {name.lower().replace("_", "-"): version for name, version, _ in entries}
    requirement_lines = [line for line in text.splitlines() if re.match(r"^[A-Za-z0-9_.-]+==", line)]
    assert len(requirement_lines) == len(entries), "every requirement needs its hashes"
    for line in (REPO / source).read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if not line or line.startswith("-"):
            continue
        name, version = line.split("==")
        assert pinned.get(name.lower().replace("_", "-")) == version, f"{lock} is stale for {line}: regenerate it"


def test_a_scheduled_drift_check_previews_every_stack_expecting_no_changes() -> None:
    drift = load("drift.yml")
    assert drift["on"]["schedule"] and "workflow_dispatch" in drift["on"]
    job = drift["jobs"]["drift"]
    assert {m["stack"] for m in job["strategy"]["matrix"]["include"]} == {"ci-dev", "staging", "prod"}
    assert job["strategy"]["fail-fast"] is False
    envs = {m["stack"]: m["environment"] for m in job["strategy"]["matrix"]["include"]}
    assert envs["prod"] == "production-preview", "drift must not use the production deploy identity"
    (command,) = pulumi_engine_commands(runs(job))
    assert "--expect-no-changes" in command and "--refresh" in command


# ---------------------------------------------------------------- docs: the operator's page


def test_the_docs_give_the_trust_conditions_and_repository_settings() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    for needed in (
        "repo:OWNER/REPO:pull_request",
        "repo:OWNER/REPO:environment:production",
        "repo:OWNER/REPO:environment:production-preview",
        "repo:OWNER/REPO:environment:staging",
        "repo:OWNER/REPO:environment:dev",
        "token.actions.githubusercontent.com:sub",
        "attribute_condition",
        "Prevent self-review",
        "Required reviewers",
        "Deployment branches",
        "Require status checks",
    ):
        assert needed in docs, f"docs/workflow.md does not mention {needed}"
    # The gate job has no environment, so it only sees repository variables.
    repository_variables = docs.split("**Repository variables**", 1)[1].split("**No repository secrets**")[0]
    assert "`DEV_HOST`" in repository_variables


def test_the_docs_list_every_variable_and_secret_the_workflows_read() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    names: set[str] = set()
    for path in WORKFLOW_FILES + LOCAL_ACTIONS:
        names |= set(re.findall(r"(?:vars|secrets)\.([A-Za-z0-9_]+)", path.read_text(encoding="utf-8")))
    missing = {n for n in names - {"GITHUB_TOKEN"} if f"`{n}`" not in docs}
    assert not missing, f"docs/workflow.md does not document {sorted(missing)}"
