"""The server target under mocks: what DjangoHost registers, in which order, and what stays secret."""

from __future__ import annotations

import base64
import re
import tarfile
from io import BytesIO
from pathlib import Path

import pulumi
import pytest

from djangostack.contract.outputs import SECRET_OUTPUTS, contract_names
from djangostack.host.artifact import pack_source, source_files
from djangostack.host.django_host import env_prelude, uninstall_script, upload_script
from djangostack.host.render import render_all
from djangostack.settings.loading import load_from_stack_file
from djangostack.targets.hosts import host_context
from tests.harness import Recording, dev_target, evaluate_dev_with_pulumi_command, fixture_stack

REPO = Path(__file__).resolve().parents[2]
SECRETS = {
    "secretKey": "s3cr3t-django-key-that-must-never-leak-0123456789",
    "databasePassword": "db-password-never-in-plaintext",
    "redisPassword": "redis-password-never-in-plaintext",
}


@pytest.fixture(scope="module")
def dev() -> Recording:
    return evaluate_dev_with_pulumi_command()


@pytest.fixture(scope="module")
def dev_with_secrets() -> Recording:
    return evaluate_dev_with_pulumi_command(secrets=SECRETS)


def test_the_host_component_owns_bootstrap_upload_and_release(dev: Recording) -> None:
    component = dev.one("djangostack:host:DjangoHost")
    children = {(r.type, r.name) for r in dev.children_of(component)}
    assert children == {
        ("command:remote:Command", "host-bootstrap"),
        ("command:remote:CopyToRemote", "host-source"),
        ("command:remote:Command", "host-release"),
    }


def test_the_release_runs_after_bootstrap_and_upload(dev: Recording) -> None:
    bootstrap = dev.named("host-bootstrap")
    source = dev.named("host-source")
    release = dev.named("host-release")
    assert release.depends_on(bootstrap)
    assert release.depends_on(source)
    assert source.depends_on(bootstrap)


def test_the_release_is_triggered_by_the_release_id_only(dev: Recording) -> None:
    release = dev.named("host-release")
    assert release.inputs["triggers"] == ["2026.11.25-1"]
    assert "deploy 2026.11.25-1" in release.inputs["create"]
    assert release.inputs["update"] == release.inputs["create"]


def test_a_new_release_id_changes_the_release_step_and_nothing_else(dev: Recording) -> None:
    newer = evaluate_dev_with_pulumi_command(
        overrides={"app": {"name": "notes", "releaseId": "2026.11.26-1", "source": "examples/django_app"}},
    )
    changed = {r.name for r in newer.resources if r.inputs != dev.named(r.name).inputs}
    assert changed == {"host-release"}


def test_the_bootstrap_reruns_in_place_when_rendered_content_changes(dev: Recording) -> None:
    bigger = evaluate_dev_with_pulumi_command(overrides={"web": {"workers": 2, "maxUploadMb": 25}})
    before = dev.named("host-bootstrap")
    after = bigger.named("host-bootstrap")
    assert before.inputs["stdin"] != after.inputs["stdin"]
    assert after.inputs["update"] == after.inputs["create"]
    assert bigger.named("host-release").inputs == dev.named("host-release").inputs


def test_the_bootstrap_is_never_replaced(dev: Recording) -> None:
    # A replacement would run the old bootstrap's delete (the uninstall) after the new one ran.
    bootstrap = dev.named("host-bootstrap")
    assert "triggers" not in bootstrap.inputs
    # pulumi-command always asks to replace on trigger changes; without triggers nothing can.
    assert set(bootstrap.options["replace_on_changes"]) <= {"triggers[*]"}
    assert not bootstrap.options["delete_before_replace"]


def test_the_ssh_key_is_a_secret_and_connections_retry_with_a_limit(dev: Recording) -> None:
    for resource in dev.of_type("command:remote:Command"):
        assert "connection" in resource.secret_inputs
        connection = resource.inputs["connection"]
        assert connection["host"] == "127.0.0.1"
        assert connection["port"] == 2222
        assert connection["user"] == "deploy"
        assert connection["dialErrorLimit"] > 0
        assert connection["perDialTimeout"] > 0


def test_configured_secrets_reach_the_bootstrap_only_as_secrets(dev_with_secrets: Recording) -> None:
    bootstrap = dev_with_secrets.named("host-bootstrap")
    assert "stdin" in bootstrap.secret_inputs
    assert "export SECRET_KEY=" in bootstrap.inputs["stdin"]
    for resource, key, text in dev_with_secrets.all_plaintext_strings():
        for secret in SECRETS.values():
            assert secret not in text, f"{resource.name}.{key} carries a secret in plaintext"


def test_secrets_never_appear_on_a_command_line(dev_with_secrets: Recording) -> None:
    for resource in dev_with_secrets.of_type("command:remote:Command"):
        for field in ("create", "update", "delete"):
            for secret in SECRETS.values():
                assert secret not in (resource.inputs.get(field) or "")


def test_without_configured_secrets_nothing_secret_is_sent(dev: Recording) -> None:
    bootstrap = dev.named("host-bootstrap")
    assert "stdin" not in bootstrap.secret_inputs
    assert "export " not in bootstrap.inputs["stdin"].split("set -euo pipefail")[0]


def test_outputs_follow_the_contract_and_secret_ones_are_secret(dev_with_secrets: Recording) -> None:
    assert sorted(dev_with_secrets.outputs) == sorted(contract_names())
    assert dev_with_secrets.secret_outputs >= SECRET_OUTPUTS
    assert dev_with_secrets.outputs["url"] == "https://127.0.0.1:8443"
    assert dev_with_secrets.outputs["releaseId"] == "2026.11.25-1"
    assert dev_with_secrets.outputs["databaseUrl"] == (
        f"postgres://app:{SECRETS['databasePassword']}@127.0.0.1:5433/app"
    )
    assert not dev_with_secrets.unknown_outputs


def test_the_upload_script_writes_every_rendered_file_byte_for_byte() -> None:
    ctx = host_context(load_from_stack_file(fixture_stack("dev")))
    files = render_all(ctx)
    script = upload_script(ctx, files)
    blocks = re.findall(r"base64 -d > (\S+) <<'__DJANGOSTACK_EOF__'\n(.*?)\n__DJANGOSTACK_EOF__", script, re.S)
    written = {dest: base64.b64decode(body).decode() for dest, body in blocks}
    assert written[ctx.bootstrap_path] == files[ctx.bootstrap_path].content
    for path, host_file in files.items():
        if path != ctx.bootstrap_path:
            assert written[host_file.staged_path(ctx.staging_dir)] == host_file.content, path
    assert script.rstrip().endswith(f"exec bash {ctx.bootstrap_path}")


def test_env_prelude_quotes_values_and_rejects_bad_names() -> None:
    assert env_prelude({"SECRET_KEY": "a'b $x"}) == "export SECRET_KEY='a'\"'\"'b $x'\n"
    with pytest.raises(ValueError, match="bad environment name"):
        env_prelude({"secret key": "x"})


def test_destroy_removes_the_app_but_keeps_system_packages() -> None:
    ctx = host_context(load_from_stack_file(fixture_stack("dev")))
    script = uninstall_script(ctx, remove_data=True)
    for path in ("/srv/notes", "/etc/notes", "/usr/local/lib/notes", "/etc/nginx/sites-enabled/notes.conf"):
        assert path in script
    assert "apt-get" not in script
    # The database goes with the app's own cluster (never a cluster other apps may use).
    assert 'pg_dropcluster --stop "$version" notes' in script
    assert "rm -rf /var/lib/redis/notes" in script


def test_destroy_keeps_the_data_unless_the_setting_says_remove_it() -> None:
    """Issue 11 item 5: data goes only through app.removeDataOnDestroy (default false)."""
    settings = load_from_stack_file(fixture_stack("dev"))
    assert settings.app.remove_data_on_destroy is False
    ctx = host_context(settings)
    script = uninstall_script(ctx)
    assert "pg_dropcluster" not in script and "/var/lib/redis/notes" not in script.split("echo", 1)[0]
    assert "userdel" not in script
    removed = script.split("rm -rf ", 1)[1].split(";", 1)[0].split()
    for kept in ("/srv/notes", "/srv/notes/shared", ctx.media_dir, ctx.backups_dir, "/etc/notes", ctx.secrets_dir):
        assert kept not in removed, kept
    for gone in ("/srv/notes/releases", "/srv/notes/current", "/usr/local/lib/notes"):
        assert gone in removed, gone
    assert "! -name secrets" in script


def test_the_host_resources_keep_their_names_when_the_app_is_renamed() -> None:
    """Issue 11 item 5: a renamed app.name must update the bootstrap, never replace it (its
    delete would run): stable logical names, aliases from the old app-named resources."""
    renamed = evaluate_dev_with_pulumi_command(overrides={"app": {"name": "renamed", "releaseId": "r1"}})
    original = evaluate_dev_with_pulumi_command()
    for recording in (renamed, original):
        assert {r.name for r in recording.resources if r.parent and "DjangoHost" in r.parent} == {
            "host-bootstrap",
            "host-source",
            "host-release",
        }
    assert renamed.one("djangostack:host:DjangoHost").name == "host"
    bootstrap = original.named("host-bootstrap")
    assert any(a.endswith("::notes-bootstrap") or "notes-bootstrap" in a for a in bootstrap.options["aliases"]), (
        bootstrap.options["aliases"]
    )


def test_the_bootstrap_is_protected_when_the_database_is(tmp_path: Path) -> None:
    protected = evaluate_dev_with_pulumi_command(
        overrides={"database": {"mode": "local", "port": 5433, "deletionProtection": True}}
    )
    assert protected.named("host-bootstrap").protect
    assert not evaluate_dev_with_pulumi_command().named("host-bootstrap").protect


def test_the_artifact_is_reproducible_and_excludes_caches(tmp_path: Path) -> None:
    source = REPO / "examples/django_app"
    assert pack_source(source) == pack_source(source)
    names = [p.relative_to(source).as_posix() for p in source_files(source)]
    assert "manage.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    with tarfile.open(fileobj=BytesIO(pack_source(source))) as tar:
        members = tar.getmembers()
    assert all(m.mtime == 0 and m.uid == 0 for m in members)
    assert {m.name for m in members} == set(names)


def test_a_missing_source_directory_is_a_settings_error() -> None:
    with pytest.raises(pulumi.RunError, match=r"djangostack:app.source: .*not a Django project"):
        evaluate_dev_with_pulumi_command(
            overrides={"app": {"name": "notes", "releaseId": "r1", "source": "components"}}
        )


def test_invalid_settings_stop_before_any_resource() -> None:
    with pytest.raises(pulumi.RunError) as caught:
        evaluate_dev_with_pulumi_command(overrides={"web": {"workers": 0}})
    assert "djangostack:web.workers: Input should be greater than or equal to 1 (got 0)" in str(caught.value)


def test_first_boot_user_data_installs_exactly_what_the_ssh_bootstrap_uploads() -> None:
    import yaml

    from djangostack.host.render import render_cloud_init

    ctx = host_context(load_from_stack_file(fixture_stack("dev")))
    files = render_all(ctx)
    script = upload_script(ctx, files)
    uploaded = {
        dest: base64.b64decode(body).decode()
        for dest, body in re.findall(
            r"base64 -d > (\S+) <<'__DJANGOSTACK_EOF__'\n(.*?)\n__DJANGOSTACK_EOF__", script, re.S
        )
    }
    user_data = yaml.safe_load(render_cloud_init(ctx, files))
    written = {entry["path"]: entry["content"] for entry in user_data["write_files"]}
    assert written == uploaded
    assert user_data["runcmd"] == [["bash", ctx.bootstrap_path]]


def test_an_external_database_and_redis_reach_the_host_only_as_secrets() -> None:
    url = "postgres://app:ext-db-password@db.internal.example.com:6432/app?sslmode=require"
    redis = "rediss://:ext-redis-password@cache.internal.example.com:6380/0"
    recording = evaluate_dev_with_pulumi_command(
        overrides={
            "database": {"mode": "external", "sslmode": "require"},
            "cache": {"mode": "external"},
        },
        secrets={"databaseUrl": url, "redisUrl": redis},
    )
    bootstrap = recording.named("host-bootstrap")
    assert "stdin" in bootstrap.secret_inputs
    assert "export DATABASE_URL=" in bootstrap.inputs["stdin"]
    assert "export REDIS_URL=" in bootstrap.inputs["stdin"]
    for resource, key, text in recording.all_plaintext_strings():
        assert "ext-db-password" not in text, f"{resource.name}.{key}"
        assert "ext-redis-password" not in text, f"{resource.name}.{key}"
    assert recording.outputs["databaseHost"] == "db.internal.example.com"
    assert recording.outputs["databasePort"] == 6432
    assert {"databaseUrl", "redisUrl"} <= recording.secret_outputs
    assert "databaseHost" not in recording.secret_outputs
    # Neither PostgreSQL nor Redis is installed on the host.
    blocks = re.findall(
        r"base64 -d > (\S+) <<'__DJANGOSTACK_EOF__'\n(.*?)\n__DJANGOSTACK_EOF__", bootstrap.inputs["stdin"], re.S
    )
    script = next(base64.b64decode(body).decode() for dest, body in blocks if dest.endswith("/bootstrap"))
    packages = script.split("packages=(", 1)[1].split(")", 1)[0].split()
    assert "postgresql" not in packages
    assert "redis-server" not in packages
    assert "postgresql-client" in packages  # pre-release pg_dump of the external database


def test_secrets_go_only_to_a_host_whose_key_is_pinned() -> None:
    """Issue 11 item 4: without target.sshHostKey the bootstrap's stdin must carry no secret,
    except on dev (warned). Host-generated secrets (none configured) never travel."""
    secrets = {"databasePassword": "pw-" + "x" * 20}
    with pytest.raises(pulumi.RunError) as refused:
        evaluate_dev_with_pulumi_command(overrides={"environment": "staging"}, secrets=secrets)
    line = str(refused.value).splitlines()[-1]
    assert line.startswith("djangostack:target.sshHostKey: not set, but djangostack:databasePassword"), line
    # Pinned: accepted; no secret configured: accepted (the host generates them).
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    pinned = dev_target(remoteExecutor=None, sshHostKey=key)
    evaluate_dev_with_pulumi_command(overrides={"environment": "staging", "target": pinned}, secrets=secrets)
    evaluate_dev_with_pulumi_command(overrides={"environment": "staging"})
    # dev: allowed, with a warning naming the key.
    evaluate_dev_with_pulumi_command(secrets=secrets)


def test_the_host_key_rule_knows_every_secret_the_server_target_sends() -> None:
    from djangostack.targets.server.rules import HOST_SENT_SECRETS
    from djangostack.targets.server.target import _SECRET_CONFIG_KEYS

    assert set(HOST_SENT_SECRETS) == set(_SECRET_CONFIG_KEYS)
