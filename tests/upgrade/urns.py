"""Engine URNs and the engine's alias matching, computed from a mocks recording.

The mocks engine's own URNs are not the engine's: it puts ``pulumi:pulumi:Stack`` into the type of
every top-level resource and keeps only the last type of a parent's chain. ``resource_nodes``
rebuilds the URNs the engine computes (``urn:pulumi:<stack>::<project>::<A$B$type>::<name>``, the
root stack left out of the chain). ``match_previous`` then finds, for each resource, the previous
resource the engine's step generator would take it for, the way the engine does (pkg/resource/
deploy/step_generator.go in github.com/pulumi/pulumi, v3.274): the URN itself first, then the
resource's own aliases (a spec's unset name, type and parent default to the resource's own), then
the aliases inherited from the alias its parent was matched by (a child named after its parent
takes the parent's old name as prefix).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf import text_format
from pulumi.runtime.proto import alias_pb2

ROOT_STACK_TYPE = "pulumi:pulumi:Stack"


@dataclass(frozen=True)
class Node:
    """One registered resource, in engine terms."""

    urn: str
    type: str
    name: str
    parent: str
    """Engine URN of the parent; ``""`` for a child of the root stack."""
    provider: str
    """Engine URN of the explicit provider; ``""`` for a component or a default provider."""
    aliases: tuple[alias_pb2.Alias, ...] = ()


def make_urn(stack: str, project: str, parent: str, type_: str, name: str) -> str:
    qualified = f"{qualified_type(parent)}${type_}" if parent else type_
    return f"urn:pulumi:{stack}::{project}::{qualified}::{name}"


def qualified_type(urn: str) -> str:
    return urn.split("::")[2]


def urn_name(urn: str) -> str:
    return urn.split("::", 3)[3]


def urn_type(urn: str) -> str:
    return qualified_type(urn).rsplit("$", 1)[-1]


def resource_nodes(records: Iterable[Mapping[str, Any]], stack: str, project: str) -> list[Node]:
    """Nodes from mocks records (``urn``, ``type``, ``name``, ``parent``, ``provider``, ``aliases``:
    mocks URNs and the alias messages in protobuf text), in registration order."""
    engine_of: dict[str, str] = {}
    nodes: list[Node] = []
    for record in records:
        parent = engine_of.get(record["parent"], "")  # the root stack (not recorded) -> ""
        urn = make_urn(stack, project, parent, record["type"], record["name"])
        engine_of[record["urn"]] = urn
        provider_urn = str(record.get("provider") or "").rpartition("::")[0]
        aliases = tuple(text_format.Parse(text, alias_pb2.Alias()) for text in record.get("aliases", ()))
        for alias in aliases:
            if alias.HasField("spec") and alias.spec.parentUrn:
                alias.spec.parentUrn = engine_of.get(alias.spec.parentUrn, alias.spec.parentUrn)
        nodes.append(
            Node(
                urn=urn,
                type=record["type"],
                name=record["name"],
                parent=parent,
                provider=engine_of.get(provider_urn, ""),
                aliases=aliases,
            )
        )
    return nodes


@dataclass
class Matching:
    """What the engine would make of the current program against the previous state."""

    previous_of: dict[str, str]
    """Current URN -> the previous URN it takes over (itself when unchanged)."""
    creates: list[str]
    """Current URNs no previous resource matches."""
    deletes: list[str]
    """Previous URNs no current resource takes over."""
    duplicates: list[str]
    """Previous URNs more than one current resource claims (an engine error)."""


def match_previous(nodes: Iterable[Node], previous: Iterable[str], stack: str, project: str) -> Matching:
    olds = set(previous)
    used_alias: dict[str, str] = {}  # the engine's sg.aliases: URN -> the alias it was matched by
    previous_of: dict[str, str] = {}
    claimed: dict[str, str] = {}
    creates: list[str] = []
    duplicates: list[str] = []

    def collapse(node: Node, alias: alias_pb2.Alias) -> str:
        if alias.urn:
            return alias.urn
        spec = alias.spec
        parent = spec.parentUrn or node.parent
        if spec.parentUrn and parent in used_alias:
            parent = used_alias[parent]
        if spec.noParent or (parent and qualified_type(parent) == ROOT_STACK_TYPE):
            parent = ""
        return make_urn(
            spec.stack or stack, spec.project or project, parent, spec.type or node.type, spec.name or node.name
        )

    def inherited(child_type: str, child_name: str, parent_name: str, parent_alias: str) -> str:
        name = child_name
        if child_name.startswith(parent_name):
            name = urn_name(parent_alias) + child_name[len(parent_name) :]
        return make_urn(stack, project, parent_alias, child_type, name)

    for node in nodes:
        candidates = [node.urn]
        own = [collapse(node, alias) for alias in node.aliases]
        candidates += own
        if node.parent and node.parent in used_alias:
            parent_alias = used_alias[node.parent]
            parent_name = urn_name(node.parent)
            candidates.append(inherited(node.type, node.name, parent_name, parent_alias))
            candidates += [inherited(urn_type(a), urn_name(a), parent_name, parent_alias) for a in own]
        found = next((c for c in candidates if c in olds), None)
        if found is None:
            creates.append(node.urn)
            continue
        if found in claimed:
            duplicates.append(found)
        claimed[found] = node.urn
        previous_of[node.urn] = found
        if found != node.urn:
            used_alias[node.urn] = found
    deletes = sorted(olds - set(claimed))
    return Matching(previous_of, creates, deletes, duplicates)
