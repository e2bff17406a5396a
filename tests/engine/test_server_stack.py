"""The real Pulumi engine deploys the `server` target to a real systemd host (verification ladder,
step 5).

One stack of a copy of the project, on a local file backend, with ``remoteExecutor: builtin-ssh``
(the pulumi-command plugin cannot be installed here; see docs/engine-tests.md), pointed at the
engine tests' own test host. The tests run in file order and share that one deployed stack:
preview + up, no perpetual diff, outputs, a consumer stack, secrets in state, a new release, a
failing migration, destroy, and a fresh up on the same host.
"""

from __future__ import annotations

import difflib
import http.client
import json
import os
import re
import secrets
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from djangostack.contract.outputs import SECRET_OUTPUTS, contract_names
from tests.engine.conftest import Cli, copy_project, output_of
from tests.engine.pulumi_cli import REPO_ROOT, isolated_env
from tools.testhost import TestHost

pytestmark = pytest.mark.engine

STACK = "engine"
APP = "notes"
HTTP_PORT, HTTPS_PORT, DB_PORT, REDIS_PORT = 9080, 9443, 5434, 6381
"""Ports of this stack's services: clear of the host e2e stack (8080/8443/5433/6380) and of
this machine's own PostgreSQL and Redis (5432/6379); the container shares the host's network."""
PREVIEW_DOC = REPO_ROOT / "docs" / "example-pr-preview.txt"
"""The README's example of a release's preview: this test checks it, and rewrites it only with
``UPDATE_DOCS=1`` (a test run never changes a tracked file)."""


def masked_preview(diff: str, project: Path) -> str:
    """The parts of a preview that change from run to run or with the sample app, masked: the
    project copy's path, the resource ids (random per deployment), the test host's SSH port
    (``ENGINE_TESTHOST_SSH_PORT``) and the artifacts' sha256 (numbered in order of appearance, so
    the example still shows which values are the same)."""
    text = diff.replace(str(project), "<project>")
    text = re.sub(r"\[id=[0-9a-f]+\]", "[id=<id>]", text)
    text = re.sub(r"^(\s+port\s*: )\d+$", r"\g<1><ssh port>", text, flags=re.M)
    hashes: dict[str, str] = {}
    return re.sub(r"\b[0-9a-f]{64}\b", lambda m: hashes.setdefault(m[0], f"<sha256 #{len(hashes) + 1}>"), text)


@dataclass
class Deployment:
    """The shared stack: its CLI, its project copy, the host and the secrets it was given."""

    cli: Cli
    project: Path
    workdir: Path
    host: TestHost
    secret_values: dict[str, str]
    release_id: str = "r1"

    def https_get(self, path: str) -> tuple[int, str]:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the host's self-signed certificate
        connection = http.client.HTTPSConnection("127.0.0.1", HTTPS_PORT, timeout=30, context=context)
        try:
            connection.request("GET", path, headers={"Host": "127.0.0.1"})
            response = connection.getresponse()
            return response.status, response.read().decode("utf-8", errors="replace")
        finally:
            connection.close()

    def readyz(self) -> dict[str, Any]:
        status, body = self.https_get("/readyz")
        assert status == 200, f"/readyz answered {status}: {body[:2000]}"
        return dict(json.loads(body))

    def ssh(self, command: str) -> subprocess.CompletedProcess[str]:
        return self.host.ssh(command, check=False, timeout=120)

    def set_release(self, release_id: str, source: str = "examples/django_app") -> None:
        self.cli.set_config(STACK, "djangostack:app", {"name": APP, "releaseId": release_id, "source": source})


def server_target(host: TestHost) -> dict[str, Any]:
    """The server target settings that reach the engine tests' host (the builtin-ssh executor)."""
    return {
        "kind": "server",
        "host": host.host,
        "sshPort": host.port,
        "sshUser": host.user,
        "sshKeyFile": str(host.private_key_path),
        "httpPort": HTTP_PORT,
        "httpsPort": HTTPS_PORT,
        "firewall": False,
        "remoteExecutor": "builtin-ssh",
    }


def stack_config(host: TestHost, release_id: str) -> dict[str, Any]:
    return {
        "djangostack:environment": "dev",
        "djangostack:target": {**server_target(host), "releasesToKeep": 3},
        "djangostack:app": {"name": APP, "releaseId": release_id, "source": "examples/django_app"},
        "djangostack:web": {"workers": 2},
        "djangostack:database": {"mode": "local", "port": DB_PORT, "sslmode": "disable"},
        "djangostack:cache": {"mode": "local", "port": REDIS_PORT},
        "djangostack:celery": {"worker": True, "beat": True},
    }


def assert_serving(deployment: Deployment, release: str) -> None:
    """The app answers ready (database and cache ok) on ``release``, the notes app's migrations applied."""
    health = deployment.readyz()
    assert health["checks"] == {"database": "ok", "cache": "ok"}, health
    assert health["release"] == release, health
    applied = deployment.ssh(
        f"sudo -n runuser -u postgres -- psql -p {DB_PORT} -d app -Atc "
        "\"select count(*) from django_migrations where app = 'notes'\""
    )
    assert applied.returncode == 0 and int(applied.stdout.strip()) >= 1, applied


def add_migration(app_dir: Path, name: str, operation: str) -> Path:
    """Add one migration to the app in ``app_dir`` (after its last one); returns its file."""
    migrations = sorted((app_dir / "notes/migrations").glob("0*.py"))
    last = migrations[-1].stem
    path = app_dir / f"notes/migrations/{int(last[:4]) + 1:04d}_{name}.py"
    path.write_text(
        "from django.db import migrations\n\n\n"
        "class Migration(migrations.Migration):\n"
        f"    dependencies = [('notes', '{last}')]\n"
        f"    operations = [{operation}]\n"
    )
    return path


def up(deployment: Deployment, check: bool = True) -> subprocess.CompletedProcess[str]:
    started = time.monotonic()
    result = deployment.cli("up", "--yes", "--non-interactive", "--skip-preview", check=check)
    print(f"pulumi up took {time.monotonic() - started:.0f}s")
    return result


def steps_of(preview_json: str) -> dict[str, str]:
    """``pulumi preview --json``: resource name -> operation, for every step that is not 'same'."""
    document = json.loads(preview_json)
    return {step["urn"].rsplit("::", 1)[-1]: step["op"] for step in document.get("steps", []) if step["op"] != "same"}


@pytest.fixture(scope="module")
def deployment(engine_host: TestHost, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    workdir = tmp_path_factory.mktemp("engine-server")
    project = copy_project(workdir / "project")
    cli = Cli(project, isolated_env(workdir))
    secret_values = {
        "secretKey": "engine-secret-key-" + secrets.token_urlsafe(48),
        "databasePassword": "engine-db-password-" + secrets.token_hex(16),
    }
    cli.init_stack(STACK, stack_config(engine_host, "r1"), secret_values)
    deployment = Deployment(cli, project, workdir, engine_host, secret_values)
    yield deployment
    # Leave the host as we found it even when a test failed half-way, the data too: the upgrade
    # test deploys this app name on the same port with the old layout, whose database in main
    # would meet this stack's kept cluster (the bootstrap refuses to choose between the two).
    app = yaml.safe_load(cli.stack_file(STACK).read_text())["config"]["djangostack:app"]
    cli.set_config(STACK, "djangostack:app", {**app, "removeDataOnDestroy": True})
    cli("up", "--yes", "--non-interactive", "--skip-preview", check=False)
    cli("destroy", "--yes", "--non-interactive", check=False)


def test_preview_then_up_bootstraps_the_host_and_serves_the_app(deployment: Deployment) -> None:
    preview = deployment.cli("preview", "--non-interactive")
    for name in ("host-bootstrap", "host-source", "host-release"):
        assert name in preview.stdout, preview.stdout
    assert "to create" in preview.stdout
    up(deployment)
    assert_serving(deployment, "r1")


def test_stack_outputs_follow_the_contract_and_hide_secrets(deployment: Deployment) -> None:
    outputs = json.loads(deployment.cli("stack", "output", "--json").stdout)
    assert sorted(outputs) == sorted(contract_names())
    for name in SECRET_OUTPUTS:
        assert outputs[name] == "[secret]", f"{name} is shown without --show-secrets"
    assert outputs["url"] == f"https://127.0.0.1:{HTTPS_PORT}"
    assert outputs["releaseId"] == "r1"
    assert outputs["target"] == "server"
    assert outputs["databasePort"] == DB_PORT
    shown = json.loads(deployment.cli("stack", "output", "--json", "--show-secrets").stdout)
    assert deployment.secret_values["databasePassword"] in shown["databaseUrl"]


def test_a_preview_right_after_up_shows_no_changes(deployment: Deployment) -> None:
    result = deployment.cli("preview", "--expect-no-changes", "--non-interactive", check=False)
    assert result.returncode == 0, f"perpetual diff:\n{output_of(result)}"


def test_secrets_are_encrypted_in_state_and_in_the_stack_file(deployment: Deployment) -> None:
    plaintexts = [*deployment.secret_values.values(), deployment.host.private_key_pem.splitlines()[1]]
    backend = deployment.workdir / "backend"
    files = [p for p in backend.rglob("*") if p.is_file()]
    assert any(p.name == f"{STACK}.json" for p in files), files
    for path in [*files, deployment.cli.stack_file(STACK)]:
        data = path.read_bytes()
        for secret in plaintexts:
            assert secret.encode() not in data, f"a secret is stored in plaintext in {path}"
    state = json.loads(deployment.cli("stack", "export").stdout)
    bootstrap = next(r for r in state["deployment"]["resources"] if r["urn"].endswith("::host-bootstrap"))
    for key in ("stdin", "__provider"):
        assert "ciphertext" in json.dumps(bootstrap["inputs"][key]), f"bootstrap input {key} is not encrypted"
    assert "ciphertext" in json.dumps(bootstrap["inputs"]["connection"]["privateKey"])


def test_a_consumer_stack_reads_the_outputs_through_a_stack_reference(deployment: Deployment) -> None:
    consumer = deployment.workdir / "consumer"
    consumer.mkdir()
    (consumer / "Pulumi.yaml").write_text(
        f"name: consumer\nruntime:\n  name: python\n  options:\n    virtualenv: {REPO_ROOT / '.venv'}\n"
    )
    (consumer / "__main__.py").write_text(
        "import pulumi\n\n"
        f"ref = pulumi.StackReference('organization/djangostack/{STACK}')\n"
        "pulumi.export('healthUrl', pulumi.Output.concat(ref.require_output('url'), '/readyz'))\n"
        "pulumi.export('liveRelease', ref.require_output('releaseId'))\n"
        "pulumi.export('databaseUrl', ref.require_output('databaseUrl'))\n"
    )
    cli = Cli(consumer, deployment.cli.env)
    cli("stack", "init", "consumer", "--non-interactive")
    cli("up", "--yes", "--non-interactive", "--skip-preview")
    outputs = json.loads(cli("stack", "output", "--json").stdout)
    assert outputs == {
        "healthUrl": f"https://127.0.0.1:{HTTPS_PORT}/readyz",
        "liveRelease": "r1",
        "databaseUrl": "[secret]",
    }, outputs
    cli("destroy", "--yes", "--non-interactive")
    cli("stack", "rm", "--yes", "consumer")


def test_a_new_release_previews_as_the_release_step_only_and_runs_its_migration(deployment: Deployment) -> None:
    app = deployment.project / "examples/django_app"
    add_migration(
        app,
        "engine_marker",
        "migrations.RunSQL('CREATE TABLE engine_marker (id int)', 'DROP TABLE engine_marker')",
    )
    deployment.set_release("r2")

    steps = steps_of(deployment.cli("preview", "--json", "--non-interactive").stdout)
    assert steps == {"host-release": "update", "host-source": "update"}, steps

    diff = deployment.cli("preview", "--diff", "--non-interactive").stdout
    assert "host-bootstrap" not in diff, f"the bootstrap would run again:\n{diff}"
    assert not re.search(r"^\s*[+-]{2}|replace", diff, re.M), f"something would be replaced:\n{diff}"
    assert '~ [0]: "r1" => "r2"' in diff, diff
    example = "$ pulumi preview --diff   # release id r1 -> r2, the app gained one migration\n\n" + masked_preview(
        diff, deployment.project
    )
    if os.environ.get("UPDATE_DOCS") == "1":
        PREVIEW_DOC.write_text(example)
    committed = PREVIEW_DOC.read_text()
    assert example == committed, (
        f"{PREVIEW_DOC.relative_to(REPO_ROOT)} no longer shows what the engine previews; regenerate it with "
        "UPDATE_DOCS=1 (this test), then review the change:\n"
        + "".join(difflib.unified_diff(committed.splitlines(True), example.splitlines(True), "committed", "engine"))
    )

    up(deployment)
    assert deployment.readyz()["release"] == "r2"
    marker = deployment.ssh(
        f"sudo -n runuser -u postgres -- psql -p {DB_PORT} -d app -Atc \"select to_regclass('engine_marker')\""
    )
    assert marker.stdout.strip() == "engine_marker", f"the release's migration did not run: {marker}"
    result = deployment.cli("preview", "--expect-no-changes", "--non-interactive", check=False)
    assert result.returncode == 0, f"perpetual diff after a release:\n{output_of(result)}"


def test_a_failing_migration_fails_the_update_and_the_old_release_keeps_serving(deployment: Deployment) -> None:
    app = deployment.project / "examples/django_app"
    broken = add_migration(app, "broken", "migrations.RunSQL('ALTER TABLE notes_note ADD COLUMN broken nosuchtype')")
    deployment.set_release("r3-broken")
    try:
        result = up(deployment, check=False)
        assert result.returncode != 0, output_of(result)
        assert "nosuchtype" in output_of(result), output_of(result)[-4000:]
        # Issue 16 (12): our message first, no provider traceback without --debug.
        assert "Traceback (most recent call last)" not in output_of(result), output_of(result)[-4000:]
        assert deployment.readyz()["release"] == "r2"
    finally:
        broken.unlink()
        deployment.set_release("r2")
    # Back to the live release: only the artifact differs from what was last uploaded.
    up(deployment)
    result = deployment.cli("preview", "--expect-no-changes", "--non-interactive", check=False)
    assert result.returncode == 0, output_of(result)


def note_rows(deployment: Deployment) -> list[str]:
    result = deployment.ssh(
        f"sudo -n runuser -u postgres -- psql -p {DB_PORT} -d app -Atc 'select text from notes_note order by id'"
    )
    assert result.returncode == 0, result
    return result.stdout.splitlines()


def test_renaming_the_app_keeps_the_database_rows(deployment: Deployment) -> None:
    """Issue 11 item 5: app.name notes -> notes-renamed is an update of the same resources, not a
    replacement whose delete drops the database; the rows are still there and served."""
    marker = f"row that survives a rename {secrets.token_hex(4)}"
    inserted = deployment.ssh(
        f"sudo -n runuser -u postgres -- psql -p {DB_PORT} -d app -c "
        f"\"insert into notes_note (text, created_at) values ('{marker}', now())\""
    )
    assert inserted.returncode == 0, inserted
    app = {"name": "notes-renamed", "releaseId": "r2", "source": "examples/django_app"}
    deployment.cli.set_config(STACK, "djangostack:app", app)
    steps = steps_of(deployment.cli("preview", "--json", "--non-interactive").stdout)
    assert "delete" not in steps.values() and "replace" not in steps.values(), steps
    try:
        result = up(deployment, check=False)
        assert result.returncode == 0, output_of(result)[-4000:]
        assert marker in note_rows(deployment)
        assert deployment.readyz()["release"] == "r2"
        old_units = deployment.ssh(
            f"systemctl list-units --state=active --plain --no-legend 'gunicorn-{APP}@*' 'gunicorn-{APP}.*'"
        )
        assert old_units.stdout.strip() == "", f"the old app's Gunicorn still runs: {old_units.stdout}"
    finally:
        deployment.set_release("r2")
    result = up(deployment, check=False)
    assert result.returncode == 0, output_of(result)[-4000:]
    assert marker in note_rows(deployment)
    assert deployment.readyz()["release"] == "r2"


def test_destroy_removes_the_app_from_the_host(deployment: Deployment) -> None:
    # Data goes only when the stack says so (app.removeDataOnDestroy); then it all goes.
    deployment.cli.set_config(
        STACK,
        "djangostack:app",
        {"name": APP, "releaseId": "r2", "source": "examples/django_app", "removeDataOnDestroy": True},
    )
    up(deployment)
    deployment.cli("destroy", "--yes", "--non-interactive")
    checks = {
        "/srv/notes": f"test ! -e /srv/{APP}",
        "/etc/notes": f"test ! -e /etc/{APP}",
        "nginx site": f"test ! -e /etc/nginx/sites-enabled/{APP}.conf",
        "units": f"! ls /etc/systemd/system | grep -q '^{APP}'",
        # Gunicorn's two colors (template units, their wants links) and the single unit of before.
        "gunicorn units": f"! ls -R /etc/systemd/system | grep -q 'gunicorn-{APP}'",
        "running gunicorn": f"test -z \"$(systemctl list-units --plain --no-legend 'gunicorn-{APP}*')\"",
        "database": (
            f'test -z "$(sudo -n runuser -u postgres -- psql -p {DB_PORT} -Atc '
            '"select 1 from pg_database where datname = \'app\'")"'
        ),
        "unix user": f"! id -u {APP}",
        # Issue 16 (10): every file and config line the bootstrap added, and the ports it served.
        "unix group": f"! getent group {APP}",
        "rendered files": (
            f"sudo -n sh -c 'for p in /etc/nginx/sites-available/{APP}.conf /etc/logrotate.d/{APP} "
            f"/etc/apt/apt.conf.d/21{APP}-auto-upgrades /etc/fail2ban/jail.d/{APP}.local "
            f"/etc/ssh/sshd_config.d/50-{APP}-hardening.conf /var/lib/{APP} /usr/local/lib/{APP} "
            f"/var/tmp/{APP}-artifacts /run/lock/{APP}-release.lock; do test ! -e $p || {{ echo $p; exit 1; }}; done'"
        ),
        # This stack's own marker: other engine modules' stacks share the host (the policy pack's
        # dev stack keeps its data by design).
        "stack marker": f"sudo -n test ! -e /var/lib/djangostack/stacks/djangostack-{STACK}",
        # The app's own PostgreSQL cluster and Redis instance, with their data (removeDataOnDestroy).
        "postgresql cluster": (
            f"sudo -n sh -c '! ls -d /etc/postgresql/*/{APP} /var/lib/postgresql/*/{APP} 2>/dev/null"
            f" && ! ls /etc/postgresql/*/main/conf.d/50-{APP}.conf 2>/dev/null'"
        ),
        "redis instance": (
            f"sudo -n sh -c '! grep -q {APP} /etc/redis/redis.conf && ! ls /etc/redis/redis-{APP}.conf 2>/dev/null"
            f" && test ! -e /var/lib/redis/{APP}' && ! systemctl is-active --quiet redis-server@{APP}.service"
        ),
        # Nothing of this stack listens any more. Other modules' stacks share the engine host on
        # other ports; before each app had its own cluster and Redis, the database and Redis ports
        # stayed open here, served by the host's shared PostgreSQL and Redis for another app.
        "ports": (
            f"! sudo -n ss -ltnH | awk '{{print $4}}' | grep -Eq ':({HTTP_PORT}|{HTTPS_PORT}|{DB_PORT}|{REDIS_PORT})$'"
        ),
    }
    left = {what: deployment.ssh(cmd) for what, cmd in checks.items()}
    assert not [w for w, r in left.items() if r.returncode != 0], {
        w: (r.stdout, r.stderr) for w, r in left.items() if r.returncode != 0
    }
    exported = json.loads(deployment.cli("stack", "export").stdout)
    assert not exported["deployment"].get("resources"), exported


def test_the_host_is_reusable_after_destroy(deployment: Deployment) -> None:
    deployment.set_release("r4")
    up(deployment)
    health = deployment.readyz()
    assert health["release"] == "r4"
    assert health["checks"] == {"database": "ok", "cache": "ok"}
    marker = f"row kept by a destroy {secrets.token_hex(4)}"
    inserted = deployment.ssh(
        f"sudo -n runuser -u postgres -- psql -p {DB_PORT} -d app -c "
        f"\"insert into notes_note (text, created_at) values ('{marker}', now())\""
    )
    assert inserted.returncode == 0, inserted
    deployment.cli("destroy", "--yes", "--non-interactive")
    # Default (app.removeDataOnDestroy false): the code goes, the data stays.
    # As root: the deploy user may not traverse the app's directories (a plain `test ! -e` would pass).
    assert (
        deployment.ssh(f"sudo -n test ! -e /srv/{APP}/releases && sudo -n test ! -e /usr/local/lib/{APP}").returncode
        == 0
    )
    assert (
        deployment.ssh(f"sudo -n test -d /srv/{APP}/shared/media && sudo -n test -d /etc/{APP}/secrets").returncode == 0
    )
    # The data stays on disk, but nothing of the app runs: its cluster and Redis are stopped.
    kept = deployment.ssh(f"sudo -n sh -c 'ls -d /var/lib/postgresql/*/{APP}/base && test -d /var/lib/redis/{APP}'")
    assert kept.returncode == 0, kept
    cluster = deployment.ssh(f"pg_lsclusters --no-header | awk '$2 == \"{APP}\" {{print $4}}'")
    assert cluster.stdout.strip() == "down", cluster
    assert deployment.ssh(f"systemctl is-enabled redis-server@{APP}.service").stdout.strip() != "enabled"
    ports = deployment.ssh(
        f"! sudo -n ss -ltnH | awk '{{print $4}}' | grep -E ':({HTTP_PORT}|{HTTPS_PORT}|{DB_PORT}|{REDIS_PORT})$'"
    )
    assert ports.returncode == 0, f"ports still open after destroy: {ports.stdout}"
    # A later deploy of the same app starts them again, with the rows.
    up(deployment)
    assert deployment.readyz()["checks"] == {"database": "ok", "cache": "ok"}
    assert marker in note_rows(deployment)
