"""The builtin-ssh remote executor: its graph under mocks, and its providers' CRUD against fakes.

Under mocks the dynamic resources register with their own type tokens
(``pulumi-python:dynamic/djangostack:SshCommand`` / ``...:SshCopy``); the provider logic is
tested directly with a fake runner, and the OpenSSH runner with a fake ``ssh`` executable.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dill
import pytest
from pulumi.dynamic.dynamic import serialize_provider

from djangostack.host.artifact import pack_source
from djangostack.host.ssh_provider import (
    Completed,
    Endpoint,
    OpenSsh,
    SshCommandProvider,
    SshCopyProvider,
    SshError,
    known_hosts_line,
    tail,
)
from tests.harness import Recording, evaluate_dev_with_pulumi_command, evaluate_stack

REPO = Path(__file__).resolve().parents[2]
COMMAND_TYPE = "pulumi-python:dynamic/djangostack:SshCommand"
COPY_TYPE = "pulumi-python:dynamic/djangostack:SshCopy"
SECRETS = {
    "secretKey": "s3cr3t-django-key-that-must-never-leak-0123456789",
    "databasePassword": "db-password-never-in-plaintext",
}
PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAAfakekeymaterial\n-----END OPENSSH PRIVATE KEY-----"
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeHostKeyFakeHostKeyFakeHostKey0000"


def builtin_ssh_target(**extra: Any) -> dict[str, Any]:
    target: dict[str, Any] = {
        "kind": "server",
        "host": "127.0.0.1",
        "sshPort": 2222,
        "sshUser": "deploy",
        "sshKeyFile": ".cache/testhost/dev/id_ed25519",
        "httpPort": 8080,
        "httpsPort": 8443,
        "firewall": False,
        "releasesToKeep": 3,
        "remoteExecutor": "builtin-ssh",
    }
    target.update(extra)
    return target


@pytest.fixture(scope="module")
def builtin() -> Recording:
    return evaluate_stack("dev", overrides={"target": builtin_ssh_target()}, secrets=SECRETS)


# --------------------------------------------------------------------------------------------------
# The graph under mocks
# --------------------------------------------------------------------------------------------------


def test_builtin_ssh_creates_the_same_three_steps_as_dynamic_resources(builtin: Recording) -> None:
    component = builtin.one("djangostack:host:DjangoHost")
    children = {(r.type, r.name) for r in builtin.children_of(component)}
    assert children == {
        (COMMAND_TYPE, "host-bootstrap"),
        (COPY_TYPE, "host-source"),
        (COMMAND_TYPE, "host-release"),
    }
    assert not [r for r in builtin.resources if r.type.startswith("command:")], "pulumi-command used anyway"


def test_pulumi_command_stays_the_default_executor() -> None:
    default = evaluate_dev_with_pulumi_command()
    assert {r.type for r in default.resources if r.name.startswith("host-")} == {
        "command:remote:Command",
        "command:remote:CopyToRemote",
    }


def test_builtin_ssh_keeps_the_order_bootstrap_upload_release(builtin: Recording) -> None:
    bootstrap, source, release = (builtin.named(f"host-{n}") for n in ("bootstrap", "source", "release"))
    assert source.depends_on(bootstrap)
    assert release.depends_on(bootstrap)
    assert release.depends_on(source)


def test_builtin_ssh_steps_have_the_same_commands_and_triggers_as_pulumi_command(builtin: Recording) -> None:
    default = evaluate_dev_with_pulumi_command(secrets=SECRETS)
    for name in ("host-bootstrap", "host-release"):
        ours, theirs = builtin.named(name).inputs, default.named(name).inputs
        for key in ("create", "update", "delete", "stdin", "triggers"):
            assert ours.get(key) == theirs.get(key), f"{name}.{key} differs between the executors"
    assert builtin.named("host-release").inputs["triggers"] == ["2026.11.25-1"]


def test_the_private_key_and_stdin_are_secret_inputs(builtin: Recording) -> None:
    for resource in builtin.of_type(COMMAND_TYPE) + builtin.of_type(COPY_TYPE):
        assert "connection" in resource.secret_inputs, resource.name
        connection = resource.inputs["connection"]
        assert (connection["host"], connection["port"], connection["user"]) == ("127.0.0.1", 2222, "deploy")
        assert connection["dialErrorLimit"] > 0
        assert connection["perDialTimeout"] > 0
    assert "stdin" in builtin.named("host-bootstrap").secret_inputs
    for resource, key, text in builtin.all_plaintext_strings():
        for secret in SECRETS.values():
            assert secret not in text, f"{resource.name}.{key} carries a secret in plaintext"
        assert "PRIVATE KEY" not in text, f"{resource.name}.{key} carries the private key in plaintext"


def test_the_serialized_provider_is_a_secret_input(builtin: Recording) -> None:
    for resource in builtin.of_type(COMMAND_TYPE) + builtin.of_type(COPY_TYPE):
        assert "__provider" in resource.secret_inputs, resource.name


def test_the_upload_carries_the_artifact_content_hash(builtin: Recording) -> None:
    source = builtin.named("host-source").inputs
    assert source["remotePath"] == "/var/tmp/notes-artifacts/source.tar.gz"
    expected = hashlib.sha256(pack_source(REPO / "examples/django_app")).hexdigest()
    assert source["sourceHash"] == expected
    assert Path(source["sourcePath"]).name == "notes.tar.gz"


def test_builtin_ssh_outputs_are_known_and_follow_the_contract(builtin: Recording) -> None:
    assert builtin.outputs["releaseId"] == "2026.11.25-1"
    assert not builtin.unknown_outputs


def test_a_new_release_id_changes_only_the_release_step_under_builtin_ssh(builtin: Recording) -> None:
    newer = evaluate_stack(
        "dev",
        overrides={
            "target": builtin_ssh_target(),
            "app": {"name": "notes", "releaseId": "2026.11.26-1", "source": "examples/django_app"},
        },
        secrets=SECRETS,
    )
    changed = {
        r.name
        for r in newer.resources
        if {k: v for k, v in r.inputs.items() if k != "__provider"}
        != {k: v for k, v in builtin.named(r.name).inputs.items() if k != "__provider"}
    }
    assert changed == {"host-release"}


def test_protection_reaches_the_builtin_bootstrap() -> None:
    protected = evaluate_stack(
        "dev",
        overrides={
            "target": builtin_ssh_target(),
            "database": {"mode": "local", "port": 5433, "sslmode": "disable", "deletionProtection": True},
        },
    )
    assert protected.named("host-bootstrap").protect
    assert not protected.named("host-release").protect


def test_the_serialized_provider_holds_no_data() -> None:
    for provider in (SshCommandProvider(), SshCopyProvider()):
        pickled = base64.b64decode(serialize_provider(provider))
        assert b"djangostack.host.ssh_provider" in pickled, "the class is pickled by reference"
        assert len(pickled) < 400, f"{type(provider).__name__} pickles {len(pickled)} bytes: it captured data"
        assert type(dill.loads(pickled)) is type(provider)


# --------------------------------------------------------------------------------------------------
# Provider logic against a fake runner
# --------------------------------------------------------------------------------------------------


@dataclass
class Call:
    command: str
    stdin: bytes | None
    endpoint: Endpoint


@dataclass
class FakeRunner:
    """Answers every command with ``results`` in turn (default: exit 0, stdout 'ok')."""

    results: list[Completed] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)

    def run(self, endpoint: Endpoint, command: str, stdin: bytes | None = None) -> Completed:
        self.calls.append(Call(command, stdin, endpoint))
        return self.results.pop(0) if self.results else Completed(0, "ok\n", "")


def connection(**extra: Any) -> dict[str, Any]:
    conn: dict[str, Any] = {
        "host": "10.0.0.5",
        "port": 2222,
        "user": "deploy",
        "privateKey": PRIVATE_KEY,
        "dialErrorLimit": 5,
        "perDialTimeout": 7,
    }
    conn.update(extra)
    return conn


def command_props(**extra: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "connection": connection(),
        "create": "sudo -n bash -s",
        "update": "sudo -n bash -s",
        "delete": "sudo -n uninstall",
        "stdin": "export SECRET_KEY=abc\necho hi\n",
        "triggers": ["sha-1"],
    }
    props.update(extra)
    return props


def as_state(props: dict[str, Any], **outputs: Any) -> dict[str, Any]:
    """What the engine hands back as ``olds``: the outputs, which echo the inputs."""
    return {**props, "stdout": "ok\n", "stderr": "", "__provider": "pickled", **outputs}


def test_create_runs_the_create_command_with_stdin_and_echoes_the_inputs() -> None:
    runner = FakeRunner([Completed(0, "installed\n", "a warning\n")])
    result = SshCommandProvider(runner).create(command_props())
    assert [c.command for c in runner.calls] == ["sudo -n bash -s"]
    assert runner.calls[0].stdin == b"export SECRET_KEY=abc\necho hi\n"
    assert runner.calls[0].endpoint == Endpoint("10.0.0.5", 2222, "deploy", PRIVATE_KEY, None, 5, 7)
    assert result.outs is not None
    assert result.outs["stdout"] == "installed\n"
    assert result.outs["stderr"] == "a warning\n"
    assert result.outs["triggers"] == ["sha-1"]
    assert result.outs["connection"]["privateKey"] == PRIVATE_KEY, "delete needs the connection"
    assert result.id


def test_create_without_a_create_command_runs_nothing() -> None:
    runner = FakeRunner()
    result = SshCommandProvider(runner).create(command_props(create=None))
    assert runner.calls == []
    assert result.outs is not None and result.outs["stdout"] == ""


def test_equal_inputs_are_no_change_even_with_outputs_in_the_old_state() -> None:
    provider = SshCommandProvider(FakeRunner())
    props = command_props()
    assert provider.diff("id", as_state(props), dict(props)).changes is False


def test_absent_and_none_inputs_are_the_same() -> None:
    provider = SshCommandProvider(FakeRunner())
    props = command_props(delete=None)
    olds = {k: v for k, v in as_state(props).items() if v is not None}
    assert provider.diff("id", olds, props).changes is False


def test_a_changed_trigger_is_an_update_when_there_is_an_update_command() -> None:
    provider = SshCommandProvider(FakeRunner())
    result = provider.diff("id", as_state(command_props()), command_props(triggers=["sha-2"]))
    assert result.changes is True
    assert result.replaces == []


def test_without_an_update_command_a_change_replaces_naming_only_the_changed_inputs() -> None:
    provider = SshCommandProvider(FakeRunner())
    olds = as_state(command_props(update=None))
    result = provider.diff("id", olds, command_props(update=None, triggers=["sha-2"], create="other"))
    assert result.changes is True
    assert sorted(result.replaces or []) == ["create", "triggers"]
    assert result.delete_before_replace is False


def test_an_unknown_input_during_preview_is_a_change() -> None:
    provider = SshCommandProvider(FakeRunner())
    unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
    assert provider.diff("id", as_state(command_props()), command_props(stdin=unknown)).changes is True


def test_update_runs_the_update_command() -> None:
    runner = FakeRunner([Completed(0, "updated\n", "")])
    result = SshCommandProvider(runner).update("id", as_state(command_props()), command_props(update="run-update"))
    assert [c.command for c in runner.calls] == ["run-update"]
    assert result.outs is not None and result.outs["stdout"] == "updated\n"


def test_delete_runs_the_delete_command_without_stdin() -> None:
    runner = FakeRunner()
    SshCommandProvider(runner).delete("id", as_state(command_props()))
    assert [(c.command, c.stdin) for c in runner.calls] == [("sudo -n uninstall", None)]


def test_delete_without_a_delete_command_runs_nothing() -> None:
    runner = FakeRunner()
    SshCommandProvider(runner).delete("id", as_state(command_props(delete=None)))
    assert runner.calls == []


def test_a_failing_command_fails_with_the_tail_of_its_output_and_no_secrets() -> None:
    stdout = "".join(f"step {i}\n" for i in range(200))
    runner = FakeRunner([Completed(4, stdout, "psycopg.errors.UndefinedObject: type nosuchtype does not exist\n")])
    with pytest.raises(SshError) as failure:
        SshCommandProvider(runner).update("id", {}, command_props())
    message = str(failure.value)
    assert "exited with status 4" in message
    assert "deploy@10.0.0.5:2222" in message
    assert "nosuchtype" in message
    assert "step 199" in message
    assert "step 0\n" not in message, "the whole output instead of its tail"
    assert "SECRET_KEY=abc" not in message
    assert "fakekeymaterial" not in message


def test_a_failing_delete_fails_the_destroy() -> None:
    runner = FakeRunner([Completed(1, "", "rm: cannot remove\n")])
    with pytest.raises(SshError, match="delete command"):
        SshCommandProvider(runner).delete("id", as_state(command_props()))


def test_a_missing_private_key_is_a_clear_error() -> None:
    with pytest.raises(SshError, match="privateKey"):
        SshCommandProvider(FakeRunner()).create(command_props(connection=connection(privateKey="")))


def test_tail_keeps_the_last_lines_and_caps_the_length() -> None:
    assert tail("a\nb\nc\n", lines=2) == "b\nc"
    assert len(tail("x" * 10_000, chars=100)) == 103


# --------------------------------------------------------------------------------------------------
# SshCopy
# --------------------------------------------------------------------------------------------------


def copy_props(path: Path, **extra: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "connection": connection(),
        "sourcePath": os.fspath(path),
        "sourceHash": hashlib.sha256(path.read_bytes()).hexdigest(),
        "remotePath": "/var/tmp/notes-artifacts/source.tar.gz",
    }
    props.update(extra)
    return props


def test_copy_uploads_the_bytes_and_checks_the_hash_on_the_host(tmp_path: Path) -> None:
    source = tmp_path / "a.tar.gz"
    source.write_bytes(b"release bytes")
    digest = hashlib.sha256(b"release bytes").hexdigest()
    runner = FakeRunner([Completed(0, digest + "\n", "")])
    result = SshCopyProvider(runner).create(copy_props(source))
    assert runner.calls[0].stdin == b"release bytes"
    assert "/var/tmp/notes-artifacts/source.tar.gz" in runner.calls[0].command
    assert "mv -f" in runner.calls[0].command, "the upload is renamed into place atomically"
    assert result.outs is not None and result.outs["sourceHash"] == digest


def test_copy_fails_when_the_bytes_arrive_different(tmp_path: Path) -> None:
    source = tmp_path / "a.tar.gz"
    source.write_bytes(b"release bytes")
    runner = FakeRunner([Completed(0, "0" * 64 + "\n", "")])
    with pytest.raises(SshError, match="arrived with sha256"):
        SshCopyProvider(runner).create(copy_props(source))


def test_copy_refuses_a_file_changed_since_the_program_hashed_it(tmp_path: Path) -> None:
    source = tmp_path / "a.tar.gz"
    source.write_bytes(b"v1")
    props = copy_props(source)
    source.write_bytes(b"v2")
    runner = FakeRunner()
    with pytest.raises(SshError, match="changed while deploying"):
        SshCopyProvider(runner).create(props)
    assert runner.calls == []


def test_copy_diff_follows_the_content_not_the_local_path(tmp_path: Path) -> None:
    source = tmp_path / "a.tar.gz"
    source.write_bytes(b"v1")
    provider = SshCopyProvider(FakeRunner())
    olds = as_state(copy_props(source))
    moved = copy_props(source, sourcePath="/elsewhere/a.tar.gz")
    assert provider.diff("id", olds, moved).changes is False
    source.write_bytes(b"v2")
    changed = provider.diff("id", olds, copy_props(source))
    assert changed.changes is True
    assert changed.replaces == []


def test_copy_delete_leaves_the_file() -> None:
    runner = FakeRunner()
    SshCopyProvider(runner).delete("id", {"connection": connection()})
    assert runner.calls == []


# --------------------------------------------------------------------------------------------------
# The OpenSSH runner, against a fake `ssh` executable
# --------------------------------------------------------------------------------------------------

FAKE_SSH = textwrap.dedent(
    """\
    #!/usr/bin/env python3
    import json, os, stat, sys
    log = os.environ["FAKE_SSH_LOG"]
    args = sys.argv[1:]
    key = args[args.index("-i") + 1]
    options = [args[i + 1] for i, a in enumerate(args) if a == "-o"]
    known = next(o.split("=", 1)[1] for o in options if o.startswith("UserKnownHostsFile="))
    record = {
        "args": args,
        "key_mode": oct(stat.S_IMODE(os.stat(key).st_mode)),
        "key": open(key).read(),
        "known_hosts": open(known).read(),
        "stdin": sys.stdin.read(),
        "agent": os.environ.get("SSH_AUTH_SOCK"),
    }
    with open(log, "a") as fh:
        fh.write(json.dumps(record) + "\\n")
    calls = sum(1 for _ in open(log))
    if calls <= int(os.environ.get("FAKE_SSH_REFUSE", "0")):
        sys.stderr.write("ssh: connect to host 10.0.0.5 port 2222: Connection refused\\n")
        sys.exit(255)
    sys.stdout.write("ran\\n")
    sys.exit(int(os.environ.get("FAKE_SSH_EXIT", "0")))
    """
)


@pytest.fixture
def fake_ssh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[OpenSsh, Path]:
    binary = tmp_path / "ssh"
    binary.write_text(FAKE_SSH)
    binary.chmod(0o755)
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_SSH_LOG", os.fspath(log))
    monkeypatch.setenv("SSH_AUTH_SOCK", "/tmp/agent.sock")
    sleeps: list[float] = []
    return OpenSsh(os.fspath(binary), sleep=sleeps.append), log


def calls(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def endpoint(**extra: Any) -> Endpoint:
    values: dict[str, Any] = {
        "host": "10.0.0.5",
        "port": 2222,
        "user": "deploy",
        "private_key": PRIVATE_KEY,
        "host_key": None,
        "dial_error_limit": 5,
        "per_dial_timeout": 7,
    }
    values.update(extra)
    return Endpoint(**values)


def test_the_key_is_a_0600_file_only_while_ssh_runs(fake_ssh: tuple[OpenSsh, Path]) -> None:
    runner, log = fake_ssh
    result = runner.run(endpoint(), "echo hi", b"payload")
    assert (result.exit_code, result.stdout) == (0, "ran\n")
    (call,) = calls(log)
    assert call["key_mode"] == "0o600"
    assert call["key"] == PRIVATE_KEY + "\n", "OpenSSH needs the key's final newline"
    assert call["stdin"] == "payload"
    assert call["agent"] is None, "the user's ssh agent must not be offered"
    key_path = Path(call["args"][call["args"].index("-i") + 1])
    assert not key_path.exists(), "the key file outlived the call"
    assert call["args"][-2:] == ["10.0.0.5", "echo hi"]
    assert "ConnectTimeout=7" in call["args"]
    assert call["args"][0:2] == ["-F", "/dev/null"]


def test_a_given_host_key_is_pinned_and_verified(fake_ssh: tuple[OpenSsh, Path]) -> None:
    runner, log = fake_ssh
    runner.run(endpoint(host_key=HOST_KEY), "true")
    (call,) = calls(log)
    assert call["known_hosts"] == f"[10.0.0.5]:2222 {HOST_KEY}\n"
    assert "StrictHostKeyChecking=yes" in call["args"]


def test_without_a_host_key_the_key_is_accepted_into_a_throwaway_file(fake_ssh: tuple[OpenSsh, Path]) -> None:
    runner, log = fake_ssh
    runner.run(endpoint(), "true")
    (call,) = calls(log)
    assert call["known_hosts"] == ""
    assert "StrictHostKeyChecking=accept-new" in call["args"]
    assert not any("/.ssh/" in a for a in call["args"]), "never the user's ~/.ssh"


def test_failed_dials_are_retried_up_to_the_limit(
    fake_ssh: tuple[OpenSsh, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    runner, log = fake_ssh
    monkeypatch.setenv("FAKE_SSH_REFUSE", "2")
    assert runner.run(endpoint(dial_error_limit=3), "true").exit_code == 0
    assert len(calls(log)) == 3


def test_an_unreachable_host_fails_after_the_limit(
    fake_ssh: tuple[OpenSsh, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    runner, log = fake_ssh
    monkeypatch.setenv("FAKE_SSH_REFUSE", "100")
    with pytest.raises(SshError, match=r"could not connect to deploy@10.0.0.5:2222 after 4 attempt"):
        runner.run(endpoint(dial_error_limit=4), "true")
    assert len(calls(log)) == 4


def test_a_command_that_ran_is_never_run_twice(fake_ssh: tuple[OpenSsh, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    runner, log = fake_ssh
    monkeypatch.setenv("FAKE_SSH_EXIT", "255")
    assert runner.run(endpoint(), "exit 255").exit_code == 255
    assert len(calls(log)) == 1


def test_known_hosts_line_uses_the_bracket_form_for_other_ports() -> None:
    assert known_hosts_line(endpoint(port=22, host_key=HOST_KEY)) == f"10.0.0.5 {HOST_KEY}\n"
    assert known_hosts_line(endpoint()) == ""


def test_a_fresh_key_file_is_private_even_with_a_loose_umask(fake_ssh: tuple[OpenSsh, Path]) -> None:
    runner, log = fake_ssh
    old = os.umask(0)
    try:
        runner.run(endpoint(), "true")
    finally:
        os.umask(old)
    assert calls(log)[0]["key_mode"] == oct(stat.S_IRUSR | stat.S_IWUSR)
