"""A recording mocks engine and a helper that evaluates the program without any cloud.

Used by the tests (through ``tests/harness.py``) and by ``djangostack plan``.

``evaluate_stack("stacks/Pulumi.prod.yaml")`` runs the real program (``djangostack.stack.main``)
under ``pulumi.runtime.set_mocks`` with that stack's config and returns a ``Recording``: every
resource registered (type, name, parent, inputs, which inputs are secret, dependencies and
options), every invoke, and the stack outputs resolved (with which are secret).

Each evaluation runs in a fresh ``contextvars.Context`` and event loop, so Pulumi's ambient state
(root stack, config, settings) never leaks from one test into the next.

Mocked resources echo their inputs and add realistic ids and attributes (``ATTRIBUTES``) with the
provider's camelCase names; invokes answer from ``INVOKES``. The cloud targets keep their tables in
``components/offline/mocking_aws.py`` and ``components/offline/mocking_gcp.py``, merged in below.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import resource as pulumi_resource_runtime
from pulumi.runtime import rpc
from pulumi.runtime.proto import source_pb2

from ..paths import project_dir, stack_file
from ..settings.fields import PROJECT
from ..settings.stack import SECRET_KEYS

REPO = project_dir()
"""The Pulumi project directory the stacks are evaluated in (see ``paths.project_dir``)."""
SECRET_MARKER = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


@dataclass
class Registered:
    """One resource the program registered."""

    type: str
    name: str
    urn: str
    id: str
    parent: str
    inputs: dict[str, Any]
    secret_inputs: frozenset[str]
    """Top-level input names whose value is (or contains) a secret."""
    dependencies: frozenset[str]
    """URNs this resource depends on (explicit depends_on and through its inputs)."""
    property_dependencies: dict[str, frozenset[str]]
    protect: bool
    custom: bool
    options: dict[str, Any]
    state: dict[str, Any] = field(default_factory=dict)

    def depends_on(self, other: Registered) -> bool:
        return other.urn in self.dependencies


@dataclass
class Invoke:
    token: str
    args: dict[str, Any]


@dataclass
class Recording:
    """What one evaluation of the program registered and exported."""

    resources: list[Registered]
    invokes: list[Invoke]
    outputs: dict[str, Any]
    secret_outputs: frozenset[str]
    unknown_outputs: frozenset[str]

    def of_type(self, type_: str) -> list[Registered]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: str | None = None) -> Registered:
        found = [r for r in self.of_type(type_) if name is None or r.name == name]
        assert len(found) == 1, (
            f"expected exactly one {type_}{' named ' + name if name else ''}, found {[r.name for r in found]}"
        )
        return found[0]

    def named(self, name: str) -> Registered:
        found = [r for r in self.resources if r.name == name]
        assert len(found) == 1, f"expected one resource named {name}, found {len(found)}"
        return found[0]

    def by_urn(self, urn: str) -> Registered:
        return next(r for r in self.resources if r.urn == urn)

    def types(self) -> set[str]:
        return {r.type for r in self.resources}

    def children_of(self, parent: Registered) -> list[Registered]:
        return [r for r in self.resources if r.parent == parent.urn]

    def ancestors(self, resource: Registered) -> Iterator[Registered]:
        by_urn = {r.urn: r for r in self.resources}
        current = by_urn.get(resource.parent)
        while current is not None:
            yield current
            current = by_urn.get(current.parent)

    def depends_transitively(self, resource: Registered, other: Registered) -> bool:
        """True when ``resource`` waits for ``other``: directly, or through a dependency or a
        dependency's component children (Pulumi waits for a component's children)."""
        by_urn = {r.urn: r for r in self.resources}
        seen: set[str] = set()
        stack = list(resource.dependencies)
        while stack:
            urn = stack.pop()
            if urn == other.urn:
                return True
            if urn in seen or urn not in by_urn:
                continue
            seen.add(urn)
            dep = by_urn[urn]
            stack.extend(dep.dependencies)
            if not dep.custom:
                stack.extend(r.urn for r in self.resources if r.parent == urn)
        return False

    def all_plaintext_strings(self) -> Iterator[tuple[Registered, str, str]]:
        """(resource, input name, string) for every non-secret string in every input."""
        for resource in self.resources:
            for key, value in resource.inputs.items():
                if key in resource.secret_inputs:
                    continue
                for text in strings_in(value):
                    yield resource, key, text


def strings_in(value: Any) -> Iterator[str]:
    """Every string inside ``value`` (nested mappings, lists and tuples), depth first."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from strings_in(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from strings_in(v)


def _plain(value: Any) -> Any:
    """Inputs with assets and archives replaced by comparable descriptions (path and content hash)."""
    if isinstance(value, pulumi.FileAsset | pulumi.FileArchive):
        path = Path(str(value.path))
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
        return {"fileAsset" if isinstance(value, pulumi.FileAsset) else "fileArchive": str(path), "sha256": digest}
    if isinstance(value, pulumi.StringAsset):
        return {"stringAsset": hashlib.sha256(str(value.text).encode()).hexdigest()}
    if isinstance(value, Mapping):
        if value.get(SECRET_MARKER) == SECRET_SIG:
            return _plain(value.get("value"))
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _contains_secret(value: Any) -> bool:
    if isinstance(value, Mapping):
        if value.get(SECRET_MARKER) == SECRET_SIG:
            return True
        return any(_contains_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(_contains_secret(v) for v in value)
    return False


# --------------------------------------------------------------------------------------------------
# Realistic attributes per resource type and answers per invoke token
# --------------------------------------------------------------------------------------------------

AttributeFn = Callable[[str, dict[str, Any]], dict[str, Any]]


def _local_stdout(name: str, inputs: dict[str, Any]) -> str:
    """What a local command prints: an image build (``<prefix>-image-build``, gcp ``app.build``)
    answers the digest a registry would, derived from the reference it pushes; others print nothing."""
    if name.endswith("-image-build"):
        reference = str((inputs.get("triggers") or [""])[0])
        return f"sha256:{hashlib.sha256(reference.encode()).hexdigest()}\n"
    return ""


ATTRIBUTES: dict[str, AttributeFn] = {
    "command:remote:Command": lambda name, inputs: {"stdout": "", "stderr": ""},
    "command:remote:CopyToRemote": lambda name, inputs: {},
    "command:local:Command": lambda name, inputs: {"stdout": _local_stdout(name, inputs), "stderr": ""},
    "random:index/randomPassword:RandomPassword": lambda name, inputs: {
        "result": f"mock-random-{name}",
        "bcryptHash": "$2a$10$mock",
    },
    "random:index/randomId:RandomId": lambda name, inputs: {"hex": "0badc0de", "b64Url": "C63A3g"},
}
"""Type token -> extra output attributes (beyond the echoed inputs). Extend per component."""

INVOKES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}
"""Invoke token -> result. Extend per component (AMI and zone look-ups, identities, ...)."""


STACK_REFERENCE = "pulumi:pulumi:StackReference"
STACK_REFERENCES: dict[str, AttributeFn] = {}
"""Target kind -> what a referenced stack (the shared network) exports to that target."""


def _load_target_tables() -> None:
    from . import mocking_aws, mocking_gcp

    for kind, module in (("aws-ec2", mocking_aws), ("gcp-cloudrun", mocking_gcp)):
        for token, answer in module.ATTRIBUTES.items():
            if token == STACK_REFERENCE:
                STACK_REFERENCES[kind] = answer
            else:
                ATTRIBUTES[token] = answer
        INVOKES.update(module.INVOKES)


_load_target_tables()


class RecordingMocks(pulumi.runtime.Mocks):
    """Answers the engine's calls and remembers invokes."""

    def __init__(self, target_kind: str = "") -> None:
        self.invokes: list[Invoke] = []
        self.states: dict[str, dict[str, Any]] = {}
        self.target_kind = target_kind

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        state = dict(args.inputs)
        extra = STACK_REFERENCES.get(self.target_kind) if args.typ == STACK_REFERENCE else ATTRIBUTES.get(args.typ)
        if extra is not None:
            state.update(extra(args.name, dict(args.inputs)))
        resource_id = args.resource_id or f"{args.name}-id"
        state.setdefault("arn", f"arn:mock:{args.typ.split(':')[0]}:::{args.name}")
        self.states[f"{args.typ}::{args.name}"] = state
        return resource_id, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        self.invokes.append(Invoke(args.token, dict(args.args)))
        answer = INVOKES.get(args.token)
        if answer is None:
            raise AssertionError(
                f"no mock answer for invoke {args.token}; add one to components/offline/mocking_<cloud>.py INVOKES"
            )
        return answer(dict(args.args)), []


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The mock monitor, plus a record of parents, dependencies, options and secret inputs."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.recorded: list[Registered] = []
        self.stack_outputs: dict[str, Any] = {}

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type == "pulumi:pulumi:Stack":
            return response
        raw = json_format.MessageToDict(request.object, preserving_proto_field_name=True)
        inputs = rpc.deserialize_properties(request.object)
        secret_inputs = frozenset(k for k, v in raw.items() if _contains_secret(v))
        property_deps = {key: frozenset(deps.urns) for key, deps in request.propertyDependencies.items()}
        dependencies = set(request.dependencies)
        for urns in property_deps.values():
            dependencies |= urns
        registration = self.resources.get(response.urn)
        self.recorded.append(
            Registered(
                type=request.type,
                name=request.name,
                urn=response.urn,
                id=response.id,
                parent=request.parent,
                inputs=_plain(dict(inputs)),
                secret_inputs=secret_inputs,
                dependencies=frozenset(dependencies),
                property_dependencies=property_deps,
                protect=bool(request.protect),
                custom=bool(request.custom),
                options={
                    "ignore_changes": list(request.ignoreChanges),
                    "retain_on_delete": bool(request.retainOnDelete),
                    "delete_before_replace": bool(request.deleteBeforeReplace),
                    "additional_secret_outputs": list(request.additionalSecretOutputs),
                    "aliases": [str(a) for a in request.aliases],
                    "replace_on_changes": list(request.replaceOnChanges),
                    "provider": request.provider,
                    "custom_timeouts": json_format.MessageToDict(request.customTimeouts),
                },
                state=dict(registration.state) if registration else {},
            )
        )
        return response


# --------------------------------------------------------------------------------------------------
# Evaluating the program for a stack
# --------------------------------------------------------------------------------------------------


def stack_config(stack_file: Path, overrides: Mapping[str, Any] | None = None) -> tuple[dict[str, str], list[str]]:
    """The stack file's config as Pulumi passes it to programs: ``project:key`` -> string (objects
    as JSON), ``secure:`` values replaced by stand-in plaintext and listed as secret keys."""
    document = yaml.safe_load(stack_file.read_text(encoding="utf-8")) or {}
    config: dict[str, Any] = dict(document.get("config") or {})
    for key, value in (overrides or {}).items():
        full = key if ":" in key else f"{PROJECT}:{key}"
        if value is None:
            config.pop(full, None)
        else:
            config[full] = value
    target = config.get(f"{PROJECT}:target")
    ssh_key = f"{PROJECT}:sshPrivateKey"
    if isinstance(target, dict) and target.get("kind") == "server" and ssh_key not in config:
        # The deploy key file (target.sshKeyFile) exists only where the stack is deployed from;
        # under mocks a stand-in secret key takes its place (it has precedence over the file).
        config[ssh_key] = {"secure": "stand-in"}
    result: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in config.items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            result[key] = f"mock-secret-{key.partition(':')[2]}"
            secret_keys.append(key)
        elif isinstance(value, str):
            result[key] = value
        else:
            result[key] = json.dumps(value)
    return result, secret_keys


def evaluate_stack(
    stack: str | Path,
    overrides: Mapping[str, Any] | None = None,
    secrets: Mapping[str, str] | None = None,
) -> Recording:
    """Run the program for a stack file under mocks and return what it registered.

    ``stack`` is a path or a stack name (``prod`` -> ``stacks/Pulumi.prod.yaml``). ``overrides``
    replace whole top-level config keys (camelCase, namespace optional; ``None`` removes a key).
    ``secrets`` adds secret config values (``{"sshPrivateKey": "..."}``).
    """
    path = stack if isinstance(stack, Path) else stack_file(stack, REPO)
    stack_name = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
    config, secret_keys = stack_config(path, overrides)
    for key, value in (secrets or {}).items():
        assert key in SECRET_KEYS, f"{key} is not a secret config key"
        config[f"{PROJECT}:{key}"] = value
        secret_keys.append(f"{PROJECT}:{key}")
    return contextvars.Context().run(_evaluate, stack_name, config, secret_keys)


def _drop_pending_outputs() -> None:
    """Forget output tasks Pulumi tracks process-wide (``SETTINGS.outputs``). Tasks left by a
    program that failed, or by code that made Outputs outside an evaluation, belong to another
    (closed) event loop; waiting on them would hang or fail this evaluation."""
    with pulumi.runtime.settings.SETTINGS.lock:
        pulumi.runtime.settings.SETTINGS.outputs.clear()


@contextlib.contextmanager
def _without_source_positions() -> Iterator[None]:
    """Skip the SDK's capture of a Python stack trace for every registered resource.

    The SDK walks and formats the whole call stack (``traceback.extract_stack``) for each resource
    so that a real engine can show where it was declared; the mocks engine never reads it, and on
    the prod stack it was about a third of an evaluation. The resources, inputs and options
    recorded are the same (``tests/unit/test_cloud_limits.py`` compares a recording made with and
    without it).
    """
    module = pulumi_resource_runtime
    original = module._get_stack_trace
    module._get_stack_trace = _EMPTY_STACK_TRACE
    try:
        yield
    finally:
        module._get_stack_trace = original


def _EMPTY_STACK_TRACE() -> Any:  # noqa: N802 - stands in for the SDK function
    return source_pb2.StackTrace()


FAST_EVALUATION = True
"""``False`` evaluates with the SDK's stack-trace capture (to compare recordings)."""


def _evaluate(stack_name: str, config: dict[str, str], secret_keys: list[str]) -> Recording:
    from ..stack import main

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    _drop_pending_outputs()
    with contextlib.ExitStack() as stack:
        if FAST_EVALUATION:
            stack.enter_context(_without_source_positions())
        return _evaluate_in_loop(loop, stack_name, config, secret_keys, main)


def _evaluate_in_loop(
    loop: asyncio.AbstractEventLoop,
    stack_name: str,
    config: dict[str, str],
    secret_keys: list[str],
    main: Callable[[], None],
) -> Recording:
    try:
        target = json.loads(config.get(f"{PROJECT}:target", "{}") or "{}")
        mocks = RecordingMocks(target.get("kind", "") if isinstance(target, dict) else "")
        monitor = RecordingMonitor(mocks)
        pulumi.runtime.set_all_config(config, secret_keys)
        pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack_name, preview=False, monitor=monitor)
        outputs, secret, unknown = loop.run_until_complete(_run_program(main))
        return Recording(
            resources=monitor.recorded,
            invokes=mocks.invokes,
            outputs=outputs,
            secret_outputs=frozenset(secret),
            unknown_outputs=frozenset(unknown),
        )
    finally:
        # A program that failed leaves its pending outputs behind; they must not leak into (and
        # hang) the next evaluation in this process.
        _drop_pending_outputs()
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        asyncio.set_event_loop(None)


async def _run_program(main: Callable[[], None]) -> tuple[dict[str, Any], set[str], set[str]]:
    from pulumi.runtime.stack import wait_for_rpcs

    main()
    await wait_for_rpcs()
    root = pulumi.runtime.settings.get_root_resource()
    assert isinstance(root, pulumi.runtime.stack.Stack)
    outputs: dict[str, Any] = {}
    secret: set[str] = set()
    unknown: set[str] = set()
    for name, value in root.outputs.items():
        output = pulumi.Output.from_input(value)
        resolved = await output.future(with_unknowns=True)
        if not await output.is_known():
            unknown.add(name)
        if await output.is_secret():
            secret.add(name)
        outputs[name] = resolved
    await wait_for_rpcs()
    return outputs, secret, unknown
