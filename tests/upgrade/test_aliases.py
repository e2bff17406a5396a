"""Stacks deployed by the flat layout upgrade to the root component without a replacement.

The previous program (commit ``PREVIOUS_LAYOUT``) registered every target's resources at the top
level; now they sit under one ``DjangoStack`` per environment. The URNs the previous program
registered for the fixture stacks are in previous_urns.json (record_previous_urns.py), with those
of the server stacks from before the host's stable names (``APP_NAMED_HOST``). Here the
current program runs under the mocks for the same stacks, and the engine's alias matching
(tests/upgrade/urns.py) must take every current resource for a previous one — nothing created,
nothing deleted, no previous resource claimed twice — and every resource must keep its explicit
provider (a provider that changed identity would make the engine diff, and possibly replace,
everything it manages). Only the root component itself is new.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from tests.harness import Recording, evaluate_stack
from tests.upgrade.record_previous_urns import APP_NAMED_HOST, LAYOUTS
from tests.upgrade.urns import Matching, Node, match_previous, resource_nodes

HERE = Path(__file__).resolve().parent
STACKS = sorted((HERE / "stacks").glob("Pulumi.*.yaml"))
GOLDEN = json.loads((HERE / "previous_urns.json").read_text(encoding="utf-8"))
PROJECT = "djangostack"
ROOT_TYPE = "djangostack:index:DjangoStack"


def stack_of(path: Path) -> str:
    return path.name.removeprefix("Pulumi.").removesuffix(".yaml")


def records(recording: Recording) -> list[dict[str, Any]]:
    return [
        {
            "urn": r.urn,
            "type": r.type,
            "name": r.name,
            "parent": r.parent,
            "provider": r.options["provider"],
            "aliases": r.options["aliases"],
        }
        for r in recording.resources
    ]


@pytest.fixture(scope="module", params=STACKS, ids=stack_of)
def current(request: pytest.FixtureRequest) -> tuple[str, list[Node]]:
    path: Path = request.param
    stack = stack_of(path)
    return stack, resource_nodes(records(evaluate_stack(path)), stack, PROJECT)


def test_every_fixture_stack_has_recorded_previous_urns() -> None:
    assert sorted(GOLDEN) == sorted(LAYOUTS)
    for commit, only in LAYOUTS.items():
        assert sorted(GOLDEN[commit]) == sorted(only or (stack_of(p) for p in STACKS)), commit


def previous(stack: str) -> list[tuple[str, dict[str, str]]]:
    """(commit, {URN: provider URN}) of every recorded layout of ``stack``."""
    return [(commit, GOLDEN[commit][stack]) for commit in LAYOUTS if stack in GOLDEN[commit]]


def test_one_root_component_holds_every_resource(current: tuple[str, list[Node]]) -> None:
    _stack, nodes = current
    roots = [n for n in nodes if not n.parent]
    assert [n.type for n in roots] == [ROOT_TYPE], [n.urn for n in roots]
    assert all(n.parent for n in nodes if n.type != ROOT_TYPE)


# Resources added on purpose since the recorded layouts (a genuine create on upgrade, never a
# renamed old one): (type, name) per fixture stack. Keep this list short and explained.
ADDED_SINCE: dict[str, set[tuple[str, str]]] = {
    # The one-off command job (`djangostack manage` on gcp-cloudrun), new with issue 16.
    "gcp": {("gcp:cloudrunv2/job:Job", "notes-gcp-manage")},
}


def _matching(stack: str, nodes: list[Node], urns: dict[str, str]) -> Matching:
    added = ADDED_SINCE.get(stack, set())
    without_root = [n for n in nodes if n.type != ROOT_TYPE and (n.type, n.name) not in added]
    return match_previous(without_root, urns, stack, PROJECT)


def test_every_resource_takes_over_its_previous_urn(current: tuple[str, list[Node]]) -> None:
    stack, nodes = current
    for commit, urns in previous(stack):
        matching = _matching(stack, nodes, urns)
        assert matching.creates == [], f"{commit}: the engine would create these (no alias reaches a previous URN)"
        assert matching.deletes == [], f"{commit}: no current resource takes these over (the engine would delete them)"
        assert matching.duplicates == [], commit


def test_every_resource_keeps_its_explicit_provider(current: tuple[str, list[Node]]) -> None:
    stack, nodes = current
    for commit, urns in previous(stack):
        matching = _matching(stack, nodes, urns)
        changed = {
            n.urn: (urns[matching.previous_of[n.urn]], n.provider)
            for n in nodes
            if n.urn in matching.previous_of
            and matching.previous_of.get(n.provider, "") != urns[matching.previous_of[n.urn]]
        }
        assert changed == {}, commit


def test_without_the_aliases_the_engine_would_replace_everything(current: tuple[str, list[Node]]) -> None:
    """The matching above is not vacuous: the same program without its aliases matches nothing."""
    stack, nodes = current
    stripped = [dataclasses.replace(n, aliases=()) for n in nodes]
    for commit, urns in previous(stack):
        matching = _matching(stack, stripped, urns)
        assert len(matching.creates) == len(nodes) - 1 - len(ADDED_SINCE.get(stack, ())), commit
        assert sorted(matching.deletes) == sorted(urns), commit


def test_the_app_named_host_needs_its_legacy_name_at_the_top_level() -> None:
    """A server stack from before the stable names had a top-level ``DjangoHost`` named after the
    app: neither the root's alias (top level, name ``host``) nor the host's own legacy-name alias
    (name ``shop``, under the root) reaches it alone; the host combines them."""
    stack = "server"
    nodes = resource_nodes(records(evaluate_stack(HERE / "stacks" / f"Pulumi.{stack}.yaml")), stack, PROJECT)
    host = next(n for n in nodes if n.type == "djangostack:host:DjangoHost")
    combined = [a for a in host.aliases if a.spec.name == "shop" and a.spec.noParent]
    assert len(combined) == 1
    without = [dataclasses.replace(n, aliases=tuple(a for a in n.aliases if a not in combined)) for n in nodes]
    matching = _matching(stack, without, GOLDEN[APP_NAMED_HOST][stack])
    assert len(matching.creates) == 4  # the host and its three children
