"""``manage``: the exact commands a one-off management command runs on each target, and that
hostile arguments arrive whole (parsed back by a real shell, or by gcloud's list rule)."""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest

from djangostack.one_off import (
    UPLOAD_ENV_COMMAND,
    ManageError,
    Request,
    gcloud_execute_argv,
    gcloud_list,
    manage,
    remote_command,
    ssm_send_command_argv,
    ssm_session_argv,
)
from djangostack.validation import validate
from tests.harness import HOSTILE_ARGS

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHRlc3QtaG9zdC1rZXktZm9yLXRoZS1maXh0dXJl"


def argv_printer(tmp_path: Path) -> Path:
    """A stand-in for the release script that prints the arguments it got as JSON."""
    script = tmp_path / "release"
    script.write_text("#!/usr/bin/python3\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n", encoding="utf-8")
    script.chmod(0o755)
    return script


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_the_remote_command_gives_every_argument_back_whole_through_a_real_shell(tmp_path: Path, shell: str) -> None:
    command = remote_command(str(argv_printer(tmp_path)), HOSTILE_ARGS, sudo=False)
    out = subprocess.run([shell, "-c", command], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == ["manage", "--", *HOSTILE_ARGS]
    assert not Path("/tmp/djangostack-pwned").exists()


def test_the_remote_command_on_a_server_is_sudo_of_the_release_scripts_manage_verb() -> None:
    assert remote_command("/usr/local/lib/shop/release", ["createsuperuser", "--noinput"], sudo=True) == (
        "sudo -n /usr/local/lib/shop/release manage -- createsuperuser --noinput"
    )


def test_ssm_run_command_carries_the_quoted_command_as_json(tmp_path: Path) -> None:
    command = remote_command(str(argv_printer(tmp_path)), HOSTILE_ARGS, sudo=False)
    argv = ssm_send_command_argv("eu-west-1", "i-0123456789abcdef0", command)
    assert argv[:12] == [
        "aws", "ssm", "send-command",
        "--region", "eu-west-1",
        "--instance-ids", "i-0123456789abcdef0",
        "--document-name", "AWS-RunShellScript",
        "--comment", "djangostack manage",
        "--parameters",
    ]  # fmt: skip
    parameters = json.loads(argv[12])
    assert parameters == {"commands": [command], "executionTimeout": ["3600"]}
    # AWS-RunShellScript writes the commands into a script that sh runs.
    out = subprocess.run(["sh", "-c", parameters["commands"][0]], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == ["manage", "--", *HOSTILE_ARGS]


def test_an_interactive_aws_session_runs_the_same_command_with_sudo() -> None:
    command = remote_command("/usr/local/lib/shop/release", ["shell"], sudo=True)
    argv = ssm_session_argv("eu-west-1", "i-0123456789abcdef0", command)
    assert argv[:9] == [
        "aws", "ssm", "start-session", "--region", "eu-west-1", "--target", "i-0123456789abcdef0",
        "--document-name", "AWS-StartInteractiveCommand",
    ]  # fmt: skip
    assert json.loads(argv[10]) == {"command": ["sudo -n /usr/local/lib/shop/release manage -- shell"]}


def gcloud_split(value: str) -> list[str]:
    """gcloud's list parsing (``gcloud topic escaping``): ``^D^`` sets the delimiter D."""
    if value.startswith("^") and value.index("^", 1) == 2:
        return value[3:].split(value[1])
    return value.split(",")


def test_gcloud_args_keep_commas_and_every_other_character() -> None:
    argv = gcloud_execute_argv("acme-shop", "europe-west1", "shop-staging-manage", HOSTILE_ARGS)
    assert argv[:10] == [
        "gcloud", "run", "jobs", "execute", "shop-staging-manage",
        "--project", "acme-shop", "--region", "europe-west1", "--wait",
    ]  # fmt: skip
    assert argv[10].startswith("--args=")
    assert gcloud_split(argv[10].removeprefix("--args=")) == list(HOSTILE_ARGS)


def test_gcloud_args_without_a_free_delimiter_are_refused() -> None:
    with pytest.raises(ManageError, match="every character gcloud could split them on"):
        gcloud_list(["|;:@~!#%+=&,^"])


# --------------------------------------------------------------------------------------------------
# The whole path, with a recording runner
# --------------------------------------------------------------------------------------------------


class Recorder:
    def __init__(self, answers: dict[str, Any] | None = None) -> None:
        self.calls: list[tuple[list[str], dict[str, Any]]] = []
        self.files: dict[str, str] = {}
        self.answers = answers or {}

    def __call__(self, argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        self.calls.append((argv, kwargs))
        if Path(argv[0]).name == "ssh":
            # The key and known_hosts exist only while ssh runs.
            self.files["key"] = Path(argv[argv.index("-i") + 1]).read_text(encoding="utf-8")
            known = next(a for a in argv if a.startswith("UserKnownHostsFile="))
            self.files["known_hosts"] = Path(known.split("=", 1)[1]).read_text(encoding="utf-8")
            if argv[-1] == UPLOAD_ENV_COMMAND:
                return subprocess.CompletedProcess(argv, 0, "/tmp/djangostack-manage.AbCdEf0123\n", "")
            return subprocess.CompletedProcess(argv, 7, "", "")
        for prefix, answer in self.answers.items():
            if " ".join(argv).startswith(prefix) or Path(argv[0]).name + " " + " ".join(argv[1:3]) == prefix:
                return subprocess.CompletedProcess(argv, *answer)
        return subprocess.CompletedProcess(argv, 0, "", "")


def server_request(
    tmp_path: Path, *, tty: bool, secret_key: bool, args: list[str], env: tuple[tuple[str, str], ...] = ()
) -> Request:
    target: dict[str, Any] = {"kind": "server", "host": "203.0.113.10", "sshPort": 2200, "sshHostKey": HOST_KEY}
    if not secret_key:
        (tmp_path / "deploy_key").write_text("KEY FROM FILE\n", encoding="utf-8")
        target["sshKeyFile"] = "deploy_key"
    raw = {
        "environment": "prod",
        "target": target,
        "app": {"name": "shop", "releaseId": "v1"},
        "database": {"mode": "local"},
        "cache": {"mode": "local"},
    }
    settings = validate(raw, {"sshPrivateKey"} if secret_key else set(), set())
    return Request(settings=settings, stack="prod", args=tuple(args), tty=tty, project_dir=tmp_path, env=env)


@pytest.fixture
def tools_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("ssh", "pulumi", "aws", "gcloud"):
        (bin_dir / tool).write_text("#!/bin/sh\nexit 99\n", encoding="utf-8")
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    return bin_dir


def test_server_manage_reads_the_secret_key_with_pulumi_and_runs_ssh_with_a_tty(
    tmp_path: Path, tools_on_path: Path
) -> None:
    run = Recorder({"pulumi config get": (0, "SECRET KEY\n", "")})
    code = manage(server_request(tmp_path, tty=True, secret_key=True, args=["createsuperuser"]), run)
    assert code == 7, "the remote command's exit code is manage's"
    (pulumi_argv, pulumi_kwargs), (ssh, _) = run.calls
    assert pulumi_argv == [
        str(tools_on_path / "pulumi"),
        "config",
        "get",
        "--stack",
        "prod",
        "djangostack:sshPrivateKey",
    ]
    assert pulumi_kwargs["cwd"] == tmp_path
    assert run.files == {"key": "SECRET KEY\n", "known_hosts": f"[203.0.113.10]:2200 {HOST_KEY}\n"}
    assert ssh[ssh.index("-p") + 1] == "2200" and ssh[ssh.index("-l") + 1] == "deploy"
    assert "-t" in ssh and "-T" not in ssh
    assert "StrictHostKeyChecking=yes" in ssh
    assert ssh[-3:] == ["--", "203.0.113.10", "sudo -n /usr/local/lib/shop/release manage -- createsuperuser"]
    assert not Path(ssh[ssh.index("-i") + 1]).exists(), "the key file is removed afterwards"


def test_server_manage_without_a_tty_uses_the_key_file_and_no_terminal(tmp_path: Path, tools_on_path: Path) -> None:
    run = Recorder()
    manage(server_request(tmp_path, tty=False, secret_key=False, args=["loaddata", "--format=json", "-"]), run)
    [(ssh, kwargs)] = run.calls
    assert run.files["key"] == "KEY FROM FILE\n"
    assert "-T" in ssh and "-t" not in ssh
    assert "input" not in kwargs and "stdin" not in kwargs, "stdin is passed on to the remote command"
    assert ssh[-1] == "sudo -n /usr/local/lib/shop/release manage -- loaddata --format=json -"


def test_server_manage_says_why_the_secret_key_cannot_be_read(tmp_path: Path, tools_on_path: Path) -> None:
    run = Recorder({"pulumi config get": (255, "", "error: passphrase must be set\n")})
    with pytest.raises(ManageError, match="cannot read djangostack:sshPrivateKey of stack prod: error: passphrase"):
        manage(server_request(tmp_path, tty=False, secret_key=True, args=["check"]), run)


def test_manage_without_arguments_is_refused(tmp_path: Path, tools_on_path: Path) -> None:
    with pytest.raises(ManageError, match="nothing to run"):
        manage(server_request(tmp_path, tty=False, secret_key=False, args=[]), Recorder())


def aws_request(tty: bool, args: list[str]) -> Request:
    raw = {
        "environment": "staging",
        "target": {"kind": "aws-ec2", "region": "eu-central-1"},
        "app": {"name": "shop", "releaseId": "v1"},
        "database": {"mode": "managed"},
        "cache": {"mode": "managed"},
        "media": {"storage": "s3"},
    }
    return Request(settings=validate(raw, set(), set()), stack="staging", args=tuple(args), tty=tty, project_dir=Path())


def test_aws_manage_runs_the_release_script_on_one_web_host_through_run_command(
    tools_on_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    invocation = {
        "Status": "Failed",
        "ResponseCode": 3,
        "StandardOutputContent": "out\n",
        "StandardErrorContent": "e\n",
    }
    run = Recorder(
        {
            "aws ssm describe-instance-information": (0, "i-0abc\n", ""),
            "aws ssm send-command": (0, "cmd-1\n", ""),
            "aws ssm get-command-invocation": (0, json.dumps(invocation), ""),
        }
    )
    from djangostack import one_off as module

    code = module.run_aws(aws_request(False, ["migrate", "--plan"]), run, sleep=lambda _s: None)
    assert code == 3
    find, send, poll = (argv for argv, _ in run.calls)
    assert "Key=tag:djangostack:stack,Values=shop-staging" in find
    assert "Key=tag:djangostack:role,Values=web" in find
    assert send == ssm_send_command_argv(
        "eu-central-1", "i-0abc", "/usr/local/lib/shop/release manage -- migrate --plan"
    )
    assert poll[poll.index("--command-id") + 1] == "cmd-1"
    assert capsys.readouterr() == ("out\n", "e\n")


def test_aws_manage_with_a_tty_opens_an_interactive_session(tools_on_path: Path) -> None:
    run = Recorder({"aws ssm describe-instance-information": (0, "i-0abc\n", "")})
    manage(aws_request(True, ["shell"]), run)
    assert run.calls[1][0] == ssm_session_argv(
        "eu-central-1", "i-0abc", "sudo -n /usr/local/lib/shop/release manage -- shell"
    )


def test_aws_manage_without_an_online_host_says_so(tools_on_path: Path) -> None:
    run = Recorder({"aws ssm describe-instance-information": (0, "None\n", "")})
    with pytest.raises(ManageError, match="no web host of shop-staging is online"):
        manage(aws_request(False, ["check"]), run)


def test_gcp_manage_executes_the_stacks_manage_job_with_the_arguments(tools_on_path: Path) -> None:
    raw = {
        "environment": "staging",
        "target": {"kind": "gcp-cloudrun", "project": "acme-shop", "region": "europe-west1"},
        "app": {"name": "shop", "releaseId": "v1", "image": "europe-west1-docker.pkg.dev/acme-shop/r/app:v1"},
        "database": {"mode": "managed"},
        "cache": {"mode": "managed"},
        "media": {"storage": "gcs"},
    }
    request = Request(
        settings=validate(raw, set(), set()),
        stack="staging",
        args=("loaddata", "a,b.json"),
        tty=False,
        project_dir=Path(),
    )
    run = Recorder()
    manage(request, run)
    [(argv, _)] = run.calls
    assert argv[0] == str(tools_on_path / "gcloud")
    assert (
        argv[1:]
        == gcloud_execute_argv("acme-shop", "europe-west1", "shop-staging-manage", ["loaddata", "a,b.json"])[1:]
    )
    assert shlex.join(argv[1:]).endswith("'--args=^|^loaddata|a,b.json'")


def test_env_values_go_on_stdin_to_a_private_file_and_the_command_names_only_its_path(
    tmp_path: Path, tools_on_path: Path
) -> None:
    run = Recorder()
    request = server_request(
        tmp_path,
        tty=False,
        secret_key=False,
        args=["createsuperuser", "--noinput"],
        env=(("DJANGO_SUPERUSER_PASSWORD", "pa ss$(x)"),),
    )
    manage(request, run)
    (upload, upload_kwargs), (command, _) = run.calls
    assert upload[-1] == UPLOAD_ENV_COMMAND
    assert upload_kwargs["input"] == "DJANGO_SUPERUSER_PASSWORD='pa ss$(x)'\n"
    assert command[-1] == (
        "sudo -n /usr/local/lib/shop/release manage --env-file /tmp/djangostack-manage.AbCdEf0123 "
        "-- createsuperuser --noinput"
    )
    assert not [a for a in upload + command if "pa ss" in a], "the value is on no command line"


def test_the_env_upload_command_keeps_the_values_private(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path)}
    out = subprocess.run(
        ["sh", "-c", UPLOAD_ENV_COMMAND], input="A='1'\n", capture_output=True, text=True, check=True, env=env
    )
    path = Path(out.stdout.strip())
    try:
        assert path.read_text(encoding="utf-8") == "A='1'\n"
        assert path.stat().st_mode & 0o777 == 0o600
    finally:
        path.unlink()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("BAD-NAME", "x", "not an environment variable name"),
        ("PASSWORD", "it's", "no quote"),
        ("PASSWORD", "a\nb", "line break"),
    ],
)
def test_env_values_the_host_could_not_read_back_are_refused(
    tmp_path: Path, tools_on_path: Path, name: str, value: str, message: str
) -> None:
    request = server_request(tmp_path, tty=False, secret_key=False, args=["check"], env=((name, value),))
    with pytest.raises(ManageError, match=message):
        manage(request, Recorder())


def test_env_is_refused_on_the_cloud_targets(tools_on_path: Path) -> None:
    request = aws_request(False, ["createsuperuser", "--noinput"])
    request = Request(**{**request.__dict__, "env": (("DJANGO_SUPERUSER_PASSWORD", "x"),)})
    with pytest.raises(ManageError, match="--env is for the server target only"):
        manage(request, Recorder())


# --------------------------------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------------------------------


def write_stack(tmp_path: Path) -> Path:
    (tmp_path / "deploy_key").write_text("KEY\n", encoding="utf-8")
    path = tmp_path / "Pulumi.shop-prod.yaml"
    path.write_text(
        "config:\n"
        "  djangostack:environment: dev\n"
        "  djangostack:target:\n"
        "    kind: server\n"
        "    host: 203.0.113.10\n"
        f"    sshKeyFile: {tmp_path / 'deploy_key'}\n"
        "  djangostack:app:\n"
        "    name: shop\n"
        "    releaseId: v1\n"
        "  djangostack:database:\n"
        "    mode: local\n"
        "  djangostack:cache:\n"
        "    mode: local\n",
        encoding="utf-8",
    )
    return path


def test_the_command_line_passes_everything_after_the_separator_unchanged(
    tmp_path: Path, tools_on_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from djangostack import one_off

    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "from-env")
    seen: list[Request] = []
    monkeypatch.setattr(one_off, "manage", lambda request, _run: seen.append(request) or 5)
    parser = argparse.ArgumentParser()
    one_off.add_arguments(parser)
    argv = ["--stack", str(write_stack(tmp_path)), "--env", "DJANGO_SUPERUSER_PASSWORD", "--", "shell", "--", "--stack"]
    assert one_off.run_from_arguments(parser.parse_args(argv)) == 5
    [request] = seen
    assert request.args == ("shell", "--", "--stack")
    assert request.env == (("DJANGO_SUPERUSER_PASSWORD", "from-env"),)
    assert request.stack == "shop-prod"
    assert request.settings.app.name == "shop"


def test_the_command_line_refuses_an_env_name_that_is_not_set(
    tmp_path: Path, tools_on_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from djangostack import one_off

    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    code = one_off.main(["--stack", str(write_stack(tmp_path)), "--env", "NOT_SET_ANYWHERE", "--", "check"])
    assert code == 2
    assert (
        capsys.readouterr().err == "manage: --env NOT_SET_ANYWHERE: NOT_SET_ANYWHERE is not set in this environment\n"
    )


def test_the_command_line_prints_settings_errors_as_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from djangostack import one_off

    assert one_off.main(["--stack", str(tmp_path / "Pulumi.nope.yaml"), "--", "check"]) == 1
    assert "no such stack file" in capsys.readouterr().err
