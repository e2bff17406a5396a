"""Remote steps over the system OpenSSH client, as Pulumi dynamic providers.

The ``builtin-ssh`` remote executor (``target.remoteExecutor``): the same semantics as the part of
pulumi-command that ``DjangoHost`` uses, for machines where the pulumi-command provider plugin
cannot be installed (it is a Go binary; the dynamic providers here run in the Python SDK's own
provider plugin, ``pulumi-resource-pulumi-python``, with nothing but ``ssh`` on PATH).

Creates (each a Pulumi dynamic resource):
- ``SshCommand`` (type ``pulumi-python:dynamic/djangostack:SshCommand``), like
  ``command:remote:Command``: ``create`` runs on create; a change in any input runs ``update``
  (or replaces the resource when there is no ``update``, which runs ``create`` again); ``delete``
  runs on destroy. Outputs ``stdout`` and ``stderr``. A non-zero exit fails the step with the
  tail of the command's stdout and stderr in the error.
- ``SshCopy`` (type ``pulumi-python:dynamic/djangostack:SshCopy``), like
  ``command:remote:CopyToRemote`` for one file: uploads it atomically and checks its sha256 on
  the host. Its content hash is an input, so a changed file uploads again and an unchanged one
  never does (the local path is not compared: a different checkout of the same bytes is no
  change). Deleting it leaves the file (as CopyToRemote does).

Secrets: the private key and ``stdin`` are Pulumi secrets in the inputs, so they are encrypted in
state (the engine carries their secretness over to the outputs of the same name, which a
dynamic provider must echo because ``delete`` only gets the outputs). The provider objects
that Pulumi pickles into state hold no data at all (their class is pickled by reference), so no
secret can be captured in the serialized provider.

Errors: a failed step reaches the user as our message (what failed, where, the exit status and
the tail of its output); the SDK's provider server would put its Python traceback first, so that
traceback goes to the engine's debug output instead (``pulumi up --debug``), see ``_ShortErrors``.

Connections: the key is written to a 0600 file in a private temporary directory only for the
duration of one ``ssh`` call; with ``host_key`` the host is verified against a temporary
known_hosts holding exactly that key, otherwise its key is accepted on first use into a
temporary file (never the user's ~/.ssh). Failing dials are retried like pulumi-command's
``dial_error_limit`` / ``per_dial_timeout``; a command that ran is never run twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider, UpdateResult

DEFAULT_DIAL_ERROR_LIMIT = 10
"""Dial attempts (pulumi-command's default); -1 means retry for ever."""
DEFAULT_PER_DIAL_TIMEOUT_SECONDS = 15
DIAL_BACKOFF_SECONDS = 2.0
"""Pause between two failed dials."""
OUTPUT_TAIL_LINES = 60
"""Lines of stdout and of stderr quoted in the error of a failed command."""
OUTPUT_TAIL_CHARS = 6000

COMMAND_INPUTS = ("connection", "create", "update", "delete", "stdin", "triggers")
"""The inputs of an SshCommand; a change in any of them is a change of the resource."""
COPY_INPUTS = ("connection", "remotePath", "sourceHash")
"""The inputs of an SshCopy that decide whether it uploads again (not ``sourcePath``)."""

# What OpenSSH prints when it never reached the point of running the remote command: only then
# is an exit status of 255 a failed dial that may be retried.
_DIAL_FAILURE = re.compile(
    r"ssh: connect to host|ssh: Could not resolve hostname|kex_exchange_identification|"
    r"Connection timed out during banner exchange|Connection closed by \S+ port \d+|"
    r"Connection reset by \S+ port \d+|Network is unreachable|No route to host"
)


class SshError(Exception):
    """A remote step failed: the host was unreachable, or the command exited non-zero."""


# --------------------------------------------------------------------------------------------------
# Errors as the user sees them
# --------------------------------------------------------------------------------------------------

DEBUG_HINT = "(the provider's Python traceback is in the debug output: pulumi up --debug)"


class _ShortErrors:
    """Stands in for the ``traceback`` module inside the SDK's dynamic provider server, whose
    ``_abort_with_traceback`` sends ``traceback.format_exc()`` to the engine as the error of a
    failed step: about ten lines of provider frames before our message. For an ``SshError`` it
    sends the message alone (with a hint), and the traceback goes to the engine as a debug
    diagnostic, which ``pulumi up --debug`` shows. Any other exception keeps its full traceback."""

    def __init__(self, real: Any, debug_log: Any) -> None:
        self._real = real
        self._debug_log = debug_log

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def format_exc(self, *args: Any, **kwargs: Any) -> str:
        full: str = self._real.format_exc(*args, **kwargs)
        error = sys.exc_info()[1]
        if not isinstance(error, SshError):
            return full
        # The message must reach the user whatever happens to the debug copy.
        with contextlib.suppress(Exception):
            self._debug_log(full)
        return f"{error}\n{DEBUG_HINT}"


def engine_debug_log(address: str | None) -> Any:
    """A function sending one message to the Pulumi engine at ``address`` as a debug diagnostic
    (shown by ``pulumi up --debug`` only); without an address it does nothing."""

    def log(message: str) -> None:
        if not address:
            return
        import grpc
        from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc

        with grpc.insecure_channel(address) as channel:
            engine_pb2_grpc.EngineStub(channel).Log(
                engine_pb2.LogRequest(severity=engine_pb2.DEBUG, message=message, urn="", streamId=0),
                timeout=10,
            )

    return log


def _engine_address(argv: Sequence[str]) -> str | None:
    """The engine's address among the provider plugin's arguments (Pulumi passes it as one)."""
    for arg in argv[1:]:
        if re.fullmatch(r"[\w.-]+:\d+", arg):
            return arg
    return None


def install_short_errors(main: Any = None, argv: Sequence[str] | None = None) -> bool:
    """In the dynamic provider's process (``python -m pulumi.dynamic``, where this module is
    imported when the engine first calls our provider), make its error reporting use
    ``_ShortErrors``. Elsewhere (the program, tests) it does nothing. True when installed."""
    main = main if main is not None else sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is None or spec.name != "pulumi.dynamic.__main__" or not hasattr(main, "_abort_with_traceback"):
        return False
    current = getattr(main, "traceback", None)
    if current is None or isinstance(current, _ShortErrors):
        return isinstance(current, _ShortErrors)
    main.traceback = _ShortErrors(current, engine_debug_log(_engine_address(argv if argv is not None else sys.argv)))
    return True


# --------------------------------------------------------------------------------------------------
# Connections
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SshConnection:
    """Where and how to connect (the program-side args; ``as_inputs`` gives the resource input)."""

    host: pulumi.Input[str]
    port: int
    user: str
    private_key: pulumi.Input[str]
    """The private key text (OpenSSH or PEM); always sent as a secret."""
    host_key: str | None = None
    """The host's public key (``ssh-ed25519 AAAA...``); verified on every connection when set."""
    dial_error_limit: int = DEFAULT_DIAL_ERROR_LIMIT
    per_dial_timeout: int = DEFAULT_PER_DIAL_TIMEOUT_SECONDS
    """Seconds one dial may take (ssh ConnectTimeout)."""

    def as_inputs(self) -> dict[str, pulumi.Input[Any]]:
        """The ``connection`` input, camelCase like pulumi-command's, the key marked secret."""
        inputs: dict[str, pulumi.Input[Any]] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "privateKey": pulumi.Output.secret(self.private_key),
            "dialErrorLimit": self.dial_error_limit,
            "perDialTimeout": self.per_dial_timeout,
        }
        if self.host_key is not None:
            inputs["hostKey"] = self.host_key
        return inputs


@dataclass(frozen=True)
class Endpoint:
    """A connection as the provider sees it (plain values from the engine)."""

    host: str
    port: int
    user: str
    private_key: str
    host_key: str | None
    dial_error_limit: int
    per_dial_timeout: int

    @classmethod
    def from_props(cls, props: Mapping[str, Any]) -> Endpoint:
        raw = props.get("connection")
        if not isinstance(raw, Mapping):
            raise SshError("connection: missing")
        missing = [k for k in ("host", "user", "privateKey") if not raw.get(k)]
        if missing:
            raise SshError(f"connection: missing {', '.join(missing)}")
        return cls(
            host=str(raw["host"]),
            port=int(raw.get("port") or 22),
            user=str(raw["user"]),
            private_key=str(raw["privateKey"]),
            host_key=str(raw["hostKey"]) if raw.get("hostKey") else None,
            dial_error_limit=int(raw.get("dialErrorLimit", DEFAULT_DIAL_ERROR_LIMIT)),
            per_dial_timeout=int(raw.get("perDialTimeout") or DEFAULT_PER_DIAL_TIMEOUT_SECONDS),
        )

    def __str__(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"


@dataclass(frozen=True)
class Completed:
    """The outcome of one remote command."""

    exit_code: int
    stdout: str
    stderr: str


class Runner(Protocol):
    """Runs one command on a host (the real one is ``OpenSsh``; tests pass a fake)."""

    def run(self, endpoint: Endpoint, command: str, stdin: bytes | None = None) -> Completed: ...


class OpenSsh:
    """``Runner`` over the system ``ssh`` binary (no ssh config, no agent, no ~/.ssh)."""

    def __init__(self, ssh_binary: str = "ssh", sleep: Any = time.sleep) -> None:
        self.ssh_binary = ssh_binary
        self._sleep = sleep

    def argv(self, endpoint: Endpoint, key_file: Path, known_hosts: Path, command: str) -> list[str]:
        checking = "yes" if endpoint.host_key else "accept-new"
        return [
            self.ssh_binary,
            "-F", "/dev/null",
            "-T",
            "-i", os.fspath(key_file),
            "-p", str(endpoint.port),
            "-l", endpoint.user,
            "-o", "IdentitiesOnly=yes",
            "-o", "IdentityAgent=none",
            "-o", "BatchMode=yes",
            "-o", "PasswordAuthentication=no",
            "-o", f"StrictHostKeyChecking={checking}",
            "-o", f"UserKnownHostsFile={known_hosts}",
            "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "UpdateHostKeys=no",
            "-o", "ConnectionAttempts=1",
            "-o", f"ConnectTimeout={endpoint.per_dial_timeout}",
            "-o", "ServerAliveInterval=15",
            "-o", "ServerAliveCountMax=8",
            "-o", "LogLevel=ERROR",
            "--",
            endpoint.host,
            command,
        ]  # fmt: skip

    def run(self, endpoint: Endpoint, command: str, stdin: bytes | None = None) -> Completed:
        with tempfile.TemporaryDirectory(prefix="djangostack-ssh-") as tmp:  # mode 0700
            key_file = Path(tmp) / "id"
            key = endpoint.private_key if endpoint.private_key.endswith("\n") else endpoint.private_key + "\n"
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(key)
            known_hosts = Path(tmp) / "known_hosts"
            known_hosts.write_text(known_hosts_line(endpoint), encoding="utf-8")
            argv = self.argv(endpoint, key_file, known_hosts, command)
            env = {k: v for k, v in os.environ.items() if k not in ("SSH_AUTH_SOCK", "SSH_ASKPASS", "DISPLAY")}
            attempt = 0
            while True:
                attempt += 1
                proc = subprocess.run(
                    argv,
                    input=stdin if stdin is not None else b"",
                    capture_output=True,
                    env=env,
                    check=False,
                )
                stdout = proc.stdout.decode("utf-8", errors="replace")
                stderr = proc.stderr.decode("utf-8", errors="replace")
                if proc.returncode != 255 or not _DIAL_FAILURE.search(stderr):
                    return Completed(proc.returncode, stdout, stderr)
                limit = endpoint.dial_error_limit
                if 0 <= limit <= attempt:
                    raise SshError(
                        f"could not connect to {endpoint} after {attempt} attempt(s) "
                        f"({endpoint.per_dial_timeout}s each): {stderr.strip()}"
                    )
                self._sleep(DIAL_BACKOFF_SECONDS)


def known_hosts_line(endpoint: Endpoint) -> str:
    """The known_hosts entry pinning ``host_key`` ('' when none is given: accept on first use)."""
    if not endpoint.host_key:
        return ""
    name = endpoint.host if endpoint.port == 22 else f"[{endpoint.host}]:{endpoint.port}"
    return f"{name} {endpoint.host_key.strip()}\n"


def tail(text: str, lines: int = OUTPUT_TAIL_LINES, chars: int = OUTPUT_TAIL_CHARS) -> str:
    """The end of a command's output, as quoted in errors."""
    kept = "\n".join(text.rstrip("\n").splitlines()[-lines:])
    return kept if len(kept) <= chars else "..." + kept[-chars:]


def run_checked(runner: Runner, endpoint: Endpoint, what: str, command: str, stdin: str | None) -> Completed:
    """Run ``command``; a non-zero exit raises ``SshError`` quoting the output's tail."""
    result = runner.run(endpoint, command, stdin.encode("utf-8") if stdin is not None else None)
    if result.exit_code != 0:
        raise SshError(
            f"{what} on {endpoint} exited with status {result.exit_code}\n"
            f"--- stdout (tail) ---\n{tail(result.stdout)}\n"
            f"--- stderr (tail) ---\n{tail(result.stderr)}"
        )
    return result


def changed_inputs(olds: Mapping[str, Any], news: Mapping[str, Any], keys: Sequence[str]) -> list[str]:
    """The keys among ``keys`` whose value differs (absent and ``None`` are the same)."""
    return [k for k in keys if olds.get(k) != news.get(k)]


# --------------------------------------------------------------------------------------------------
# SshCommand
# --------------------------------------------------------------------------------------------------


class _SshProvider(ResourceProvider):
    """What both providers share: no data, only (in tests) a fake runner; ``ssh`` otherwise. The
    instance state stays ``{"_runner": None}``, so the pickle in state is only the class's name."""

    def __init__(self, runner: Runner | None = None) -> None:
        super().__init__()
        self._runner = runner

    @property
    def runner(self) -> Runner:
        return self._runner if self._runner is not None else OpenSsh()


class SshCommandProvider(_SshProvider):
    """CRUD of ``SshCommand``."""

    def _run(self, props: Mapping[str, Any], step: str) -> dict[str, Any]:
        outs = {k: props.get(k) for k in COMMAND_INPUTS if props.get(k) is not None}
        command = props.get(step)
        if not command:
            outs.update(stdout="", stderr="")
            return outs
        endpoint = Endpoint.from_props(props)
        result = run_checked(self.runner, endpoint, f"{step} command", str(command), props.get("stdin"))
        outs.update(stdout=result.stdout, stderr=result.stderr)
        return outs

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=uuid.uuid4().hex, outs=self._run(props, "create"))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = changed_inputs(olds, news, COMMAND_INPUTS)
        if not changed:
            return DiffResult(changes=False)
        replaces = [] if news.get("update") else changed
        return DiffResult(changes=True, replaces=replaces, delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=self._run(news, "update"))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        if props.get("delete"):
            # stdin belongs to create/update (it is the bootstrap's payload): never sent on delete.
            run_checked(self.runner, Endpoint.from_props(props), "delete command", str(props["delete"]), None)


class SshCommand(Resource, module="djangostack", name="SshCommand"):
    """A command run over SSH on create / update / delete (see the module docstring)."""

    stdout: pulumi.Output[str]
    """Standard output of the last create or update."""
    stderr: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        connection: SshConnection,
        create: pulumi.Input[str] | None = None,
        update: pulumi.Input[str] | None = None,
        delete: pulumi.Input[str] | None = None,
        stdin: pulumi.Input[str] | None = None,
        triggers: pulumi.Input[Sequence[Any]] | None = None,
        opts: pulumi.ResourceOptions | None = None,
        provider: SshCommandProvider | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "connection": connection.as_inputs(),
            "create": create,
            "update": update,
            "delete": delete,
            "stdin": pulumi.Output.secret(stdin) if stdin is not None else None,
            "triggers": triggers,
            "stdout": None,
            "stderr": None,
        }
        super().__init__(provider or SshCommandProvider(), name, props, opts)


# --------------------------------------------------------------------------------------------------
# SshCopy
# --------------------------------------------------------------------------------------------------


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def upload_command(remote_path: str) -> str:
    """Shell run on the host: write stdin next to ``remote_path``, check it, rename it into place."""
    path = shlex.quote(remote_path)
    return (
        "set -eu; umask 022; "
        f'mkdir -p "$(dirname {path})"; '
        f"tmp=$(mktemp {shlex.quote(remote_path + '.upload.XXXXXX')}); "
        "trap 'rm -f \"$tmp\"' EXIT; "
        'cat > "$tmp"; chmod 0644 "$tmp"; '
        'sha256sum "$tmp" | cut -d" " -f1; '
        f'mv -f "$tmp" {path}; trap - EXIT'
    )


class SshCopyProvider(_SshProvider):
    """CRUD of ``SshCopy``."""

    def _upload(self, props: Mapping[str, Any]) -> dict[str, Any]:
        source = Path(str(props["sourcePath"]))
        remote_path = str(props["remotePath"])
        expected = str(props["sourceHash"])
        try:
            data = source.read_bytes()
        except OSError as exc:
            raise SshError(f"cannot read {source}: {exc.strerror}") from None
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected:
            raise SshError(f"{source} changed while deploying (sha256 {actual}, expected {expected}); run again")
        endpoint = Endpoint.from_props(props)
        result = self.runner.run(endpoint, upload_command(remote_path), data)
        if result.exit_code != 0:
            raise SshError(
                f"upload of {source} to {endpoint}:{remote_path} exited with status {result.exit_code}\n"
                f"{tail(result.stderr)}"
            )
        uploaded = result.stdout.strip()
        if uploaded != expected:
            raise SshError(f"upload to {endpoint}:{remote_path} arrived with sha256 {uploaded!r}, expected {expected}")
        return {k: props[k] for k in (*COPY_INPUTS, "sourcePath") if props.get(k) is not None}

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=uuid.uuid4().hex, outs=self._upload(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = changed_inputs(olds, news, COPY_INPUTS)
        return DiffResult(changes=bool(changed), replaces=[])

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=self._upload(news))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Like CopyToRemote: the file stays (the bootstrap's delete removes its directory)."""


class SshCopy(Resource, module="djangostack", name="SshCopy"):
    """One local file uploaded over SSH (see the module docstring)."""

    def __init__(
        self,
        name: str,
        *,
        connection: SshConnection,
        source_path: Path,
        remote_path: str,
        opts: pulumi.ResourceOptions | None = None,
        provider: SshCopyProvider | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "connection": connection.as_inputs(),
            "sourcePath": os.fspath(source_path),
            "sourceHash": file_sha256(source_path),
            "remotePath": remote_path,
        }
        super().__init__(provider or SshCopyProvider(), name, props, opts)


install_short_errors()
