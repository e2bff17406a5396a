"""Run every guardrail over a mocks ``Recording`` (``djangostack.offline.mocking.evaluate_stack``).

This is what ``pulumi preview --policy-pack policy`` does with the engine, without the engine: each
custom resource's inputs go through every resource guardrail (with the resource's secret inputs
marked secret, so a Pulumi secret is never reported as a plaintext one), and the whole stack goes
through the stack guardrails. ``check_stack("prod")`` evaluates a stack file and checks it.

Usage: ``python -m policy.runner [STACK_FILE_OR_DIRECTORY ...]``; without arguments it checks every
stack file in ``stacks/``. A directory stands for its ``Pulumi.*.yaml`` files.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pulumi
import yaml

from policy.guardrails import GUARDRAILS, STACK_GUARDRAILS, Context, Guardrail, StackGuardrail, StackResource

if TYPE_CHECKING:
    from djangostack.offline.mocking import Recording

REPO = Path(__file__).resolve().parent.parent
SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"
"""The key Pulumi's wire format marks a secret value with (its value is SECRET_SIG)."""
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"


@dataclass(frozen=True)
class Violation:
    policy: str
    urn: str
    name: str
    resource_type: str
    message: str

    def __str__(self) -> str:
        return f"[{self.policy}] {self.resource_type} {self.name}: {self.message}"


def run_policies(
    recording: Recording,
    environment: str | None,
    guardrails: Iterable[Guardrail] = GUARDRAILS,
    stack_guardrails: Iterable[StackGuardrail] = STACK_GUARDRAILS,
) -> list[Violation]:
    """Every violation of ``recording`` (resources in registration order, policies in pack order)."""
    guardrails = tuple(guardrails)
    violations: list[Violation] = []
    custom = [r for r in recording.resources if r.custom]
    for resource in custom:
        context = Context(environment=environment, secret_props=resource.secret_inputs)
        for guardrail in guardrails:
            for message in guardrail(resource.type, resource.inputs, context):
                violations.append(Violation(guardrail.name, resource.urn, resource.name, resource.type, message))
    # Stack policies see each resource's outputs, as the engine gives them: the mocks' state is the
    # echoed inputs plus the attributes the provider would add (physical names, ids).
    stack = [
        StackResource(
            type=r.type,
            name=r.name,
            urn=r.urn,
            props={**r.inputs, **_plain_state(r.state)},
            property_dependencies=r.property_dependencies,
        )
        for r in custom
    ]
    by_urn = {r.urn: r for r in custom}
    for stack_guardrail in stack_guardrails:
        for found in stack_guardrail(stack, Context(environment=environment)):
            owner = by_urn.get(found.urn)
            name, type_ = (owner.name, owner.type) if owner else ("", "")
            violations.append(Violation(stack_guardrail.name, found.urn, name, type_, found.message))
    return violations


def _plain_state(state: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain(v) for k, v in state.items()}


def _plain(value: Any) -> Any:
    """A state value as the engine hands it to a policy: secrets unwrapped, assets as their path."""
    if isinstance(value, pulumi.FileAsset | pulumi.FileArchive):
        return {"path": str(value.path)}
    if isinstance(value, pulumi.StringAsset):
        return {"text": str(value.text)}
    if isinstance(value, Mapping):
        if value.get(SECRET_SIG_KEY) == SECRET_SIG:
            return _plain(value.get("value"))
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def stack_environment(stack_file: Path) -> str:
    """The stack's ``djangostack:environment`` (what the pack reads from stack config), else its name."""
    document = yaml.safe_load(stack_file.read_text(encoding="utf-8")) or {}
    config = document.get("config") or {}
    value = config.get("djangostack:environment")
    return str(value) if value else stack_file.name.removeprefix("Pulumi.").removesuffix(".yaml")


def stack_files(*locations: Path) -> list[Path]:
    """The stack files at ``locations`` (files, or directories of ``Pulumi.*.yaml``); by default
    the project's ``stacks/``."""
    files: list[Path] = []
    for location in locations or (REPO / "stacks",):
        files += sorted(location.glob("Pulumi.*.yaml")) if location.is_dir() else [location]
    return files


def check_stack(stack: str | Path) -> list[Violation]:
    from djangostack.offline.mocking import evaluate_stack

    path = Path(stack)
    if not path.suffix:
        path = REPO / "stacks" / f"Pulumi.{stack}.yaml"
    return run_policies(evaluate_stack(path), stack_environment(path))


if __name__ == "__main__":
    import sys

    failed = False
    for path in stack_files(*(Path(a) for a in sys.argv[1:])):
        found = check_stack(path)
        failed |= bool(found)
        print(f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}: {len(found)} violation(s)")
        for violation in found:
            print(f"  {violation}")
    sys.exit(1 if failed else 0)
