"""A failed remote step leads with our message; the provider traceback only with --debug (issue 16, 12).

The builtin-ssh steps are Pulumi dynamic providers. The SDK's provider server turns any exception
into ``traceback.format_exc()``, so the user read about ten lines of provider frames before the
step's own message. Here the SDK's own ``_abort_with_traceback`` (its source, read from the
installed SDK) runs in a stand-in for the provider server's ``__main__``, with what
``install_short_errors`` puts there, and the debug copy goes to a real gRPC engine stand-in.
"""

from __future__ import annotations

import re
import types
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pulumi.dynamic
import pytest
from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc

from djangostack.host import ssh_provider
from djangostack.host.ssh_provider import (
    DEBUG_HINT,
    Completed,
    Endpoint,
    SshCommandProvider,
    SshError,
    engine_debug_log,
    install_short_errors,
)

SDK_MAIN = Path(pulumi.dynamic.__file__).parent / "__main__.py"


class FakeContext:
    def __init__(self) -> None:
        self.details: str | None = None

    def abort(self, code: Any, details: str) -> None:
        self.details = details
        raise RuntimeError("aborted")


def provider_server_main() -> types.ModuleType:
    """A module like ``pulumi.dynamic.__main__``: the SDK's wrapper, as the provider server runs it."""
    source = SDK_MAIN.read_text()
    match = re.search(r"^def _abort_with_traceback\(fn\):\n(?:    .*\n|\n)+?(?=^\S)", source, re.M)
    assert match, "the SDK's dynamic provider server has no _abort_with_traceback any more"
    main = types.ModuleType("__main__")
    main.__spec__ = types.SimpleNamespace(name="pulumi.dynamic.__main__")  # type: ignore[assignment]
    exec("import traceback\nimport grpc\n" + match.group(0), main.__dict__)
    return main


class FailingRunner:
    def run(self, endpoint: Endpoint, command: str, stdin: bytes | None = None) -> Completed:
        return Completed(exit_code=1, stdout="[release notes] migrating\n", stderr="ERROR: type nosuchtype\n")


PROPS = {
    "connection": {"host": "10.0.0.5", "port": 2222, "user": "deploy", "privateKey": "KEY"},
    "create": "sudo -n /usr/local/lib/notes/release deploy r3",
}


def fail_a_step(main: types.ModuleType, provider: Any) -> str:
    """What the engine receives when the provider's create fails inside the SDK's wrapper."""

    @main._abort_with_traceback
    def create(self: Any, request: Any, context: Any) -> Any:
        return provider.create(dict(PROPS))

    context = FakeContext()
    with pytest.raises(RuntimeError, match="aborted"):
        create(None, None, context)
    assert context.details is not None
    return context.details


def test_a_failed_step_leads_with_our_message_and_no_traceback() -> None:
    debug: list[str] = []
    main = provider_server_main()
    before = fail_a_step(main, SshCommandProvider(FailingRunner()))
    assert before.startswith("Traceback (most recent call last)"), "the SDK's own behaviour changed"

    assert install_short_errors(main, argv=["python", "127.0.0.1:1"]) is True
    main.traceback._debug_log = debug.append  # a recorder in place of the engine
    details = fail_a_step(main, SshCommandProvider(FailingRunner()))
    assert details.startswith("create command on deploy@10.0.0.5:2222 exited with status 1"), details
    assert "Traceback" not in details and 'File "' not in details, details
    assert "ERROR: type nosuchtype" in details
    assert details.rstrip().endswith(DEBUG_HINT)
    (full,) = debug
    assert full.startswith("Traceback (most recent call last)") and "SshError" in full


def test_other_exceptions_keep_their_traceback() -> None:
    main = provider_server_main()
    install_short_errors(main, argv=["python"])

    class Broken:
        def create(self, props: Any) -> Any:
            raise KeyError("bug in our code")

    details = fail_a_step(main, Broken())
    assert details.startswith("Traceback (most recent call last)") and "KeyError" in details


def test_outside_the_provider_server_nothing_is_installed() -> None:
    program = types.ModuleType("__main__")
    program.__spec__ = None  # type: ignore[assignment]
    assert install_short_errors(program, argv=["python"]) is False
    assert install_short_errors(None) is False  # pytest's own __main__


class Engine(engine_pb2_grpc.EngineServicer):
    def __init__(self) -> None:
        self.logs: list[engine_pb2.LogRequest] = []

    def Log(self, request: engine_pb2.LogRequest, context: Any) -> Any:  # noqa: N802 (the gRPC method name)
        self.logs.append(request)
        from google.protobuf import empty_pb2

        return empty_pb2.Empty()


def test_the_traceback_reaches_the_engine_as_a_debug_diagnostic() -> None:
    """Debug diagnostics are what ``pulumi up --debug`` adds to the output."""
    engine = Engine()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    engine_pb2_grpc.add_EngineServicer_to_server(engine, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        main = provider_server_main()
        assert install_short_errors(main, argv=["python", f"127.0.0.1:{port}"])
        details = fail_a_step(main, SshCommandProvider(FailingRunner()))
    finally:
        server.stop(0)
    assert details.startswith("create command on")
    (log,) = engine.logs
    assert log.severity == engine_pb2.DEBUG
    assert log.message.startswith("Traceback (most recent call last)") and "SshError: create command" in log.message


def test_an_unreachable_engine_does_not_hide_the_message() -> None:
    main = provider_server_main()
    install_short_errors(main, argv=["python", "127.0.0.1:1"])
    details = fail_a_step(main, SshCommandProvider(FailingRunner()))
    assert details.startswith("create command on deploy@10.0.0.5:2222 exited with status 1")


def test_without_an_engine_address_the_debug_copy_is_dropped() -> None:
    engine_debug_log(None)("ignored")  # no exception, nothing sent
    assert ssh_provider._engine_address(["python", "--logtostderr", "-v=9", "127.0.0.1:40123"]) == "127.0.0.1:40123"
    assert isinstance(SshError("x"), Exception)
