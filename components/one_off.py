"""``manage --stack S -- <manage.py arguments>``: a one-off management command on a deployed stack.

``manage.py <arguments>`` runs on the live release, with the app's environment, as the app user:

- ``server``: over SSH to the stack's host, port and user, with its key (the secret
  ``sshPrivateKey`` read with ``pulumi config get``, or ``target.sshKeyFile``) and its pinned host
  key, the remote command ``sudo -n <lib>/release manage -- <arguments>`` (the release script's
  ``manage`` verb: ``setpriv`` to the app user, the env files read as data). ``ssh -t`` when stdin
  is a terminal (``shell``, ``createsuperuser`` prompts), ``-T`` otherwise (stdin is passed on:
  ``loaddata --format=json -`` reads a fixture from it). The exit code is the command's.
- ``aws-ec2``: through Session Manager, as releases go: the same ``release manage`` on one web host
  of the stack (found by its tags), with SSM Run Command (``AWS-RunShellScript``; the output is
  printed, the exit code passed on), or an interactive session (``AWS-StartInteractiveCommand``,
  which needs the session-manager-plugin) when stdin is a terminal.
- ``gcp-cloudrun``: an execution of the stack's ``<prefix>-manage`` Cloud Run job (the release's
  image, environment and secrets, ``python manage.py`` as its command, no retries) with its
  arguments overridden, ``gcloud run jobs execute --args``, waited for. A job has no terminal:
  commands that prompt need their ``--noinput`` form.

Arguments are never read by a shell of ours: on SSH and SSM they are ``shlex.quote``d one by one
into the single remote command line (the remote shell gives them back as separate words), on Cloud
Run they are the container's arguments. Nothing here needs the Pulumi engine or the program: the
settings come from the stack file, the one secret (the SSH key) from ``pulumi config get``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .host.context import HostContext
from .paths import project_dir, stack_file
from .settings.errors import SettingsError
from .settings.fields import PROJECT
from .settings.stack import StackSettings
from .settings.targets import AwsEc2Target, GcpCloudRunTarget, ServerTarget
from .targets.server.edge import server_edge

Run = Callable[..., "subprocess.CompletedProcess[str]"]
"""``subprocess.run``'s shape (tests pass a recorder)."""

SSM_POLL_SECONDS = 3
SSM_TIMEOUT_SECONDS = 3600
"""How long a Run Command may take (its ``executionTimeout``) and how long we wait for it."""
GCLOUD_LIST_DELIMITERS = "|;:@~!#%+=&,^"
"""Candidates for gcloud's ``^DELIM^`` list syntax: the first one in no argument is used."""


class ManageError(Exception):
    """A one-off command could not be started (one line, shown without a traceback)."""


@dataclass(frozen=True)
class Request:
    """What to run, where."""

    settings: StackSettings
    stack: str
    """The Pulumi stack name (``pulumi config get --stack``; the Cloud Run names)."""
    args: tuple[str, ...]
    """The manage.py arguments, exactly as given."""
    tty: bool
    """stdin is a terminal: interactive where the target allows it."""
    project_dir: Path
    """The Pulumi project directory (relative ``target.sshKeyFile`` paths, ``pulumi`` runs)."""
    env: tuple[tuple[str, str], ...] = ()
    """Extra environment for this command only (``--env NAME``: the value from the local
    environment, never on a command line), e.g. ``DJANGO_SUPERUSER_PASSWORD``. Server only."""


# --------------------------------------------------------------------------------------------------
# Commands (pure)
# --------------------------------------------------------------------------------------------------


ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
UPLOADED_ENV = re.compile(r"/tmp/djangostack-manage\.[A-Za-z0-9]{10}")
UPLOAD_ENV_COMMAND = 'umask 077 && f="$(mktemp /tmp/djangostack-manage.XXXXXXXXXX)" && cat >"$f" && printf "%s\\n" "$f"'
"""Stores stdin (the env lines) in a private temporary file as the SSH user and prints its path;
the release script moves it where the app user can read it for the command, then removes it."""


def remote_command(release_script: str, args: Sequence[str], *, sudo: bool, env_file: str | None = None) -> str:
    """The shell command line that runs ``release manage`` with ``args``, each quoted."""
    words = [release_script, "manage", *(["--env-file", env_file] if env_file else []), "--", *args]
    return ("sudo -n " if sudo else "") + " ".join(shlex.quote(w) for w in words)


def env_lines(env: Sequence[tuple[str, str]]) -> str:
    """``NAME='value'`` lines, the only form the host's env loader reads (as data)."""
    lines = []
    for name, value in env:
        if not ENV_NAME.fullmatch(name):
            raise ManageError(f"--env {name!r}: not an environment variable name (letters, digits, _)")
        if "'" in value or "\n" in value or "\r" in value or "\0" in value:
            raise ManageError(f"--env {name}: the value may hold no quote ('), line break or NUL")
        lines.append(f"{name}='{value}'\n")
    return "".join(lines)


def ssh_argv(
    *,
    host: str,
    port: int,
    user: str,
    key_file: Path,
    known_hosts: Path,
    pinned: bool,
    tty: bool,
    command: str,
    ssh: str = "ssh",
) -> list[str]:
    """The ssh command line: no ssh config, agent or ~/.ssh, the host verified when pinned."""
    return [
        ssh,
        "-F", "/dev/null",
        "-t" if tty else "-T",
        "-i", os.fspath(key_file),
        "-p", str(port),
        "-l", user,
        "-o", "IdentitiesOnly=yes",
        "-o", "IdentityAgent=none",
        "-o", "PasswordAuthentication=no",
        "-o", "KbdInteractiveAuthentication=no",
        "-o", f"StrictHostKeyChecking={'yes' if pinned else 'accept-new'}",
        "-o", f"UserKnownHostsFile={known_hosts}",
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "UpdateHostKeys=no",
        "-o", "ConnectTimeout=15",
        "-o", "ServerAliveInterval=15",
        "-o", "LogLevel=ERROR",
        "--",
        host,
        command,
    ]  # fmt: skip


def ssm_find_instance_argv(region: str, stack_tag: str) -> list[str]:
    """One online web host of the stack (the tags every web host carries)."""
    return [
        "aws", "ssm", "describe-instance-information",
        "--region", region,
        "--filters",
        f"Key=tag:djangostack:stack,Values={stack_tag}",
        "Key=tag:djangostack:role,Values=web",
        "Key=PingStatus,Values=Online",
        "--query", "InstanceInformationList[0].InstanceId",
        "--output", "text",
    ]  # fmt: skip


def ssm_send_command_argv(region: str, instance_id: str, command: str) -> list[str]:
    """Run Command with ``AWS-RunShellScript`` (as root); parameters as JSON, so no character of
    ``command`` is read by the CLI's shorthand syntax."""
    parameters = {"commands": [command], "executionTimeout": [str(SSM_TIMEOUT_SECONDS)]}
    return [
        "aws", "ssm", "send-command",
        "--region", region,
        "--instance-ids", instance_id,
        "--document-name", "AWS-RunShellScript",
        "--comment", "djangostack manage",
        "--parameters", json.dumps(parameters, sort_keys=True),
        "--query", "Command.CommandId",
        "--output", "text",
    ]  # fmt: skip


def ssm_invocation_argv(region: str, instance_id: str, command_id: str) -> list[str]:
    return [
        "aws", "ssm", "get-command-invocation",
        "--region", region,
        "--command-id", command_id,
        "--instance-id", instance_id,
        "--output", "json",
    ]  # fmt: skip


def ssm_session_argv(region: str, instance_id: str, command: str) -> list[str]:
    """An interactive Session Manager session running ``command`` (as ssm-user: hence sudo)."""
    return [
        "aws", "ssm", "start-session",
        "--region", region,
        "--target", instance_id,
        "--document-name", "AWS-StartInteractiveCommand",
        "--parameters", json.dumps({"command": [command]}, sort_keys=True),
    ]  # fmt: skip


def gcloud_list(values: Sequence[str]) -> str:
    """A gcloud list flag value that keeps every element whole: gcloud splits lists on commas
    unless the value starts with ``^DELIM^`` (``gcloud topic escaping``), so a delimiter that
    occurs in no element is chosen."""
    for delimiter in GCLOUD_LIST_DELIMITERS:
        if not any(delimiter in value for value in values):
            return f"^{delimiter}^" + delimiter.join(values)
    raise ManageError(
        f"the arguments use every character gcloud could split them on ({GCLOUD_LIST_DELIMITERS}); "
        "run the command from a shell in the image instead"
    )


def gcloud_execute_argv(project: str, region: str, job: str, args: Sequence[str]) -> list[str]:
    """Execute the manage job once with ``args`` as the container's arguments, and wait."""
    return [
        "gcloud", "run", "jobs", "execute", job,
        "--project", project,
        "--region", region,
        "--wait",
        f"--args={gcloud_list(args)}",
    ]  # fmt: skip


def manage_job_name(app_name: str, stack: str) -> str:
    """The Cloud Run job one-off commands execute (``<app>-<stack>-manage``)."""
    from .targets.gcp.naming import resource_prefix

    return f"{resource_prefix(app_name, stack)}-manage"


# --------------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------------


def _need(tool: str, why: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise ManageError(f"{tool} is not on PATH; it is needed {why}")
    return path


def ssh_private_key(request: Request, run: Run) -> str:
    """The deploy key as the program gets it: the secret ``sshPrivateKey`` (from ``pulumi config
    get``, which decrypts it), else ``target.sshKeyFile``."""
    target = request.settings.target
    assert isinstance(target, ServerTarget)
    if "sshPrivateKey" in request.settings.secrets_present:
        pulumi = _need("pulumi", f"to read the secret {PROJECT}:sshPrivateKey")
        result = run(
            [pulumi, "config", "get", "--stack", request.stack, f"{PROJECT}:sshPrivateKey"],
            capture_output=True,
            text=True,
            cwd=request.project_dir,
            check=False,
        )
        if result.returncode != 0:
            detail = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else f"exit {result.returncode}"
            raise ManageError(f"cannot read {PROJECT}:sshPrivateKey of stack {request.stack}: {detail}")
        return str(result.stdout)
    assert target.ssh_key_file is not None  # validated: one of the two is set
    path = Path(target.ssh_key_file)
    if not path.is_absolute():
        path = request.project_dir / path
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ManageError(f"{PROJECT}:target.sshKeyFile: cannot read {path} ({exc.strerror})") from None


def run_server(request: Request, run: Run) -> int:
    target = request.settings.target
    assert isinstance(target, ServerTarget)
    ctx = HostContext.from_settings(request.settings, server_edge(request.settings))
    lines = env_lines(request.env)
    key = ssh_private_key(request, run)
    if not target.ssh_host_key:
        print(
            f"warning: {PROJECT}:target.sshHostKey is not set: {target.host} is not verified",
            file=sys.stderr,
        )
    with tempfile.TemporaryDirectory(prefix="djangostack-manage-") as tmp:  # mode 0700
        key_file = Path(tmp) / "id"
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(key if key.endswith("\n") else key + "\n")
        known_hosts = Path(tmp) / "known_hosts"
        host_line = ""
        if target.ssh_host_key:
            host = target.host if target.ssh_port == 22 else f"[{target.host}]:{target.ssh_port}"
            host_line = f"{host} {target.ssh_host_key}\n"
        known_hosts.write_text(host_line, encoding="utf-8")
        ssh = _need("ssh", "to reach the server")
        env = {k: v for k, v in os.environ.items() if k not in ("SSH_AUTH_SOCK", "SSH_ASKPASS", "DISPLAY")}

        def ssh_to(command: str, tty: bool) -> list[str]:
            return ssh_argv(
                host=target.host,
                port=target.ssh_port,
                user=target.ssh_user,
                key_file=key_file,
                known_hosts=known_hosts,
                pinned=bool(target.ssh_host_key),
                tty=tty,
                command=command,
                ssh=ssh,
            )

        env_file = None
        if lines:
            # The values travel on stdin, never on a command line (ps, sudo's log).
            stored = run(ssh_to(UPLOAD_ENV_COMMAND, False), input=lines, capture_output=True, text=True, env=env)
            env_file = str(stored.stdout).strip()
            if stored.returncode != 0 or not UPLOADED_ENV.fullmatch(env_file):
                raise ManageError(f"cannot store the --env values on {target.host}: {str(stored.stderr).strip()}")
        command = remote_command(ctx.release_script, request.args, sudo=True, env_file=env_file)
        return int(run(ssh_to(command, request.tty), env=env, check=False).returncode)


def run_aws(request: Request, run: Run, sleep: Callable[[float], None] = time.sleep) -> int:
    from .targets.aws.target import stack_name

    target = request.settings.target
    assert isinstance(target, AwsEc2Target)
    _need("aws", "to reach the hosts through Session Manager")
    release_script = f"/usr/local/lib/{request.settings.app.name}/release"
    stack = stack_name(request.settings.app.name, request.settings.environment)
    found = run(ssm_find_instance_argv(target.region, stack), capture_output=True, text=True)
    instance = str(found.stdout).strip()
    if found.returncode != 0 or instance in ("", "None"):
        raise ManageError(f"no web host of {stack} is online in Session Manager ({target.region})")
    if request.tty:
        command = remote_command(release_script, request.args, sudo=True)
        return int(run(ssm_session_argv(target.region, instance, command), check=False).returncode)
    command = remote_command(release_script, request.args, sudo=False)
    sent = run(ssm_send_command_argv(target.region, instance, command), capture_output=True, text=True)
    command_id = str(sent.stdout).strip()
    if sent.returncode != 0 or not command_id:
        raise ManageError(f"aws ssm send-command failed on {instance}: {str(sent.stderr).strip()}")
    deadline = time.monotonic() + SSM_TIMEOUT_SECONDS + 60
    while True:
        sleep(SSM_POLL_SECONDS)
        polled = run(ssm_invocation_argv(target.region, instance, command_id), capture_output=True, text=True)
        if polled.returncode == 0:
            invocation = json.loads(str(polled.stdout))
            if invocation.get("Status") not in ("Pending", "InProgress", "Delayed"):
                sys.stdout.write(invocation.get("StandardOutputContent", ""))
                sys.stderr.write(invocation.get("StandardErrorContent", ""))
                code = int(invocation.get("ResponseCode", 1))
                return code if code >= 0 else 1
        if time.monotonic() > deadline:
            raise ManageError(f"command {command_id} on {instance} did not finish in {SSM_TIMEOUT_SECONDS}s")


def run_gcp(request: Request, run: Run) -> int:
    target = request.settings.target
    assert isinstance(target, GcpCloudRunTarget)
    gcloud = _need("gcloud", "to execute the Cloud Run job")
    if request.tty:
        print(
            "warning: a Cloud Run job has no terminal: a command that prompts fails; use its --noinput form",
            file=sys.stderr,
        )
    argv = gcloud_execute_argv(
        target.project, target.region, manage_job_name(request.settings.app.name, request.stack), request.args
    )
    return int(run([gcloud, *argv[1:]], check=False).returncode)


def manage(request: Request, run: Run = subprocess.run) -> int:
    """Run the one-off command; the exit code of the command (or of its runner)."""
    if not request.args:
        raise ManageError("nothing to run: give manage.py's arguments after --, e.g. -- migrate --plan")
    kind = request.settings.target.kind
    if request.env and kind != "server":
        # Run Command parameters and job execution overrides are stored by the cloud and shown in
        # its console: no place for a password.
        raise ManageError(
            f"--env is for the server target only; on {kind} the values would be kept in the "
            "command's history (use an interactive session, or a setting in the stack)"
        )
    if kind == "server":
        return run_server(request, run)
    if kind == "aws-ec2":
        return run_aws(request, run)
    if kind == "gcp-cloudrun":
        return run_gcp(request, run)
    raise SettingsError([f"{PROJECT}:target.kind: manage does not support {kind!r}"])


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--stack``, ``--env`` and the manage.py arguments after ``--``."""
    parser.add_argument("--stack", required=True, help="stack name (stacks/Pulumi.<name>.yaml) or stack file path")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME",
        help="pass the local environment variable NAME to this one command (server target; repeatable)",
    )
    parser.add_argument("args", nargs=argparse.REMAINDER, help="-- then manage.py's arguments, passed unchanged")


def run_from_arguments(args: argparse.Namespace, run: Run = subprocess.run) -> int:
    """Build the request from parsed arguments and run it; errors are one line on stderr."""
    from .settings.loading import load_from_stack_file, stack_name

    words = list(args.args)
    if words and words[0] == "--":
        words = words[1:]
    env: list[tuple[str, str]] = []
    for name in args.env:
        value = os.environ.get(name)
        if value is None:
            print(f"manage: --env {name}: {name} is not set in this environment", file=sys.stderr)
            return 2
        env.append((name, value))
    path = stack_file(args.stack)
    request = Request(
        settings=load_from_stack_file(path),  # a SettingsError is printed by the caller, as lines
        stack=stack_name(path) or args.stack,
        args=tuple(words),
        tty=sys.stdin.isatty(),
        project_dir=project_dir(),
        env=tuple(env),
    )
    try:
        return manage(request, run)
    except ManageError as exc:
        print(f"manage: {exc}", file=sys.stderr)
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="manage",
        description="Run a manage.py command on the live release of a deployed stack "
        "(everything after -- goes to manage.py unchanged).",
    )
    add_arguments(parser)
    try:
        return run_from_arguments(parser.parse_args(argv))
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
