"""``djangostack plan``: what the program would register for a stack, without any cloud.

The real program runs under the recording mocks engine (``djangostack.offline.mocking.evaluate_stack``) and
the recording becomes a ``Plan``: every resource (type, logical name, the parent's logical name,
its inputs, and the resource options that differ from Pulumi's defaults) and every stack output.
Nothing is created and no credentials or Pulumi CLI are needed, so this is what a pull request
from a fork can be shown instead of ``pulumi preview``.

A plan is safe to paste into a pull request and stable enough to diff:

- secret inputs (``Registered.secret_inputs``) and secret outputs print as ``[secret]``; as a
  second line of defence, any input or output holding one of the mocks engine's secret stand-ins
  is redacted as well and reported under ``warnings`` (that is a bug in the program);
- long or multi-line strings (scripts, user data, rendered documents) print as
  ``sha256:<12 hex> (<n> bytes) <first line>``;
- asset paths are relative to the repository and the checkout's absolute path never appears;
- everything is sorted and nothing depends on the clock or the working directory.

``render_plan`` prints a plan as markdown or as JSON (the format to save and diff against);
``diff_plans`` compares a saved JSON plan with a new one and prints markdown for a PR comment.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .mocking import REPO, Recording, Registered, evaluate_stack, strings_in

FORMAT_VERSION = 1
"""Bumped when the JSON layout changes; a base plan of another version cannot be diffed."""

SECRET = "[secret]"
UNKNOWN = "[unknown]"
LONG_STRING_BYTES = 200
"""Strings longer than this (or spanning several lines) are shown by hash, size and first line."""
FIRST_LINE_CHARS = 60
STAND_IN_PREFIXES = ("mock-secret-", "mock-random-")
"""How the mocks engine's secret stand-ins begin (secure config values, RandomPassword results)."""
REPO_PLACEHOLDER = "<repo>"

_SUMMARY = re.compile(r"^sha256:[0-9a-f]{12} \(\d+ bytes\)")
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


class PlanError(ValueError):
    """A saved plan that cannot be read or compared."""


@dataclass(frozen=True)
class PlannedResource:
    """One resource the program would register."""

    type: str
    name: str
    parent: str | None
    """Logical name of the parent resource; ``None`` for resources directly under the stack."""
    inputs: dict[str, Any]
    """Input values as shown (secrets, long strings and asset paths already replaced)."""
    options: dict[str, Any] = field(default_factory=dict)
    """Resource options that differ from the default (protect, provider, ignore_changes, ...)."""

    @property
    def key(self) -> tuple[str, str, str]:
        """What identifies the resource between two plans (Pulumi's URN is made of the same)."""
        return (self.type, self.name, self.parent or "")

    def as_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "name": self.name,
            "parent": self.parent,
            "inputs": self.inputs,
            "options": self.options,
        }


@dataclass(frozen=True)
class Plan:
    """Everything one stack would register and export."""

    stack: str
    resources: list[PlannedResource]
    outputs: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        document = {
            "format": FORMAT_VERSION,
            "stack": self.stack,
            "resources": [r.as_json() for r in self.resources],
            "outputs": self.outputs,
            "warnings": self.warnings,
        }
        return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Plan:
        """Read a plan saved with ``--format json``."""
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PlanError(f"not a JSON plan: {exc}") from None
        if not isinstance(document, dict) or document.get("format") != FORMAT_VERSION:
            found = document.get("format") if isinstance(document, dict) else type(document).__name__
            raise PlanError(
                f"not a plan of format {FORMAT_VERSION} (found {found!r}); "
                "save it with `djangostack plan --format json`"
            )
        try:
            resources = [
                PlannedResource(
                    type=str(r["type"]),
                    name=str(r["name"]),
                    parent=None if r.get("parent") is None else str(r["parent"]),
                    inputs=dict(r.get("inputs") or {}),
                    options=dict(r.get("options") or {}),
                )
                for r in document["resources"]
            ]
            return cls(
                stack=str(document["stack"]),
                resources=resources,
                outputs=dict(document.get("outputs") or {}),
                warnings=[str(w) for w in document.get("warnings") or []],
            )
        except (KeyError, TypeError) as exc:
            raise PlanError(f"malformed plan: missing or wrong field {exc}") from None


# --------------------------------------------------------------------------------------------------
# Making a plan
# --------------------------------------------------------------------------------------------------


def make_plan(stack: str | Path, *, check_limits: bool = False) -> Plan:
    """Evaluate the program for a stack (name or stack file) under mocks and describe the result.

    The program runs from the repository root, as ``pulumi`` runs it from the project directory,
    so relative paths in the stack file resolve the same from wherever this is called.
    ``check_limits`` applies ``djangostack.offline.cloud_limits`` to the recording and raises
    ``CloudLimitsError`` (one line per breach) when a value would be refused by the cloud.
    """
    path = Path(stack).resolve() if Path(stack).suffix else stack
    with contextlib.chdir(REPO):
        recording = evaluate_stack(path)
    if check_limits:
        from .cloud_limits import require_within_limits

        require_within_limits(recording)
    stack_name = Path(str(stack)).name.removeprefix("Pulumi.").removesuffix(".yaml").removesuffix(".yml")
    return plan_from_recording(stack_name, recording)


def plan_from_recording(stack: str, recording: Recording) -> Plan:
    """Turn a recording into a plan (pure: no evaluation, no file access)."""
    names = {r.urn: r.name for r in recording.resources}
    warnings: list[str] = []
    resources: list[PlannedResource] = []
    for registered in recording.resources:
        inputs = {
            key: _masked(
                value,
                f"{registered.type} {registered.name}: input {key}",
                warnings,
                secret=key in registered.secret_inputs,
            )
            for key, value in registered.inputs.items()
        }
        resources.append(
            PlannedResource(
                type=registered.type,
                name=registered.name,
                parent=names.get(registered.parent),
                inputs=inputs,
                options=_options(registered),
            )
        )
    resources.sort(key=lambda r: r.key)
    outputs = {
        key: _masked(
            value,
            f"output {key}",
            warnings,
            secret=key in recording.secret_outputs,
            unknown=key in recording.unknown_outputs,
        )
        for key, value in recording.outputs.items()
    }
    return Plan(stack=stack, resources=resources, outputs=dict(sorted(outputs.items())), warnings=sorted(warnings))


def _options(registered: Registered) -> dict[str, Any]:
    """The options a reviewer should see. Aliases and additional secret outputs are left out: the
    provider SDKs add their own to every resource of a type, which would drown the program's."""
    options: dict[str, Any] = {}
    if registered.protect:
        options["protect"] = True
    raw = registered.options
    for key in ("retain_on_delete", "delete_before_replace"):
        if raw.get(key):
            options[key] = True
    for key in ("ignore_changes", "replace_on_changes"):
        if raw.get(key):
            options[key] = sorted(str(v) for v in raw[key])
    if raw.get("custom_timeouts"):
        options["custom_timeouts"] = _shown(raw["custom_timeouts"])
    provider = str(raw.get("provider") or "")
    if provider:
        # "<provider urn>::<id>"; the urn ends in "::<logical name>"
        options["provider"] = provider.rsplit("::", 1)[0].rsplit("::", 1)[-1]
    return options


def _masked(value: Any, what: str, warnings: list[str], *, secret: bool, unknown: bool = False) -> Any:
    """``value`` as the plan shows it: SECRET for a secret (and, with a warning naming ``what``, for
    a plain value that holds a secret's stand-in), UNKNOWN for a value known only after apply."""
    if secret:
        return SECRET
    if unknown:
        return UNKNOWN
    if _holds_stand_in(value):
        warnings.append(f"{what} holds a secret but is not secret")
        return SECRET
    return _shown(value)


def _holds_stand_in(value: Any) -> bool:
    return any(prefix in text for text in strings_in(value) for prefix in STAND_IN_PREFIXES)


def _shown(value: Any) -> Any:
    """An input or output value as the plan shows it."""
    if isinstance(value, Mapping):
        if "sha256" in value and ("fileAsset" in value or "fileArchive" in value):
            kind = "fileAsset" if "fileAsset" in value else "fileArchive"
            return {kind: _repo_relative(str(value[kind])), "sha256": value["sha256"]}
        return {str(k): _shown(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple):
        return [_shown(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        # The engine sends every number as a double; 2222.0 was written 2222.
        return int(value)
    if isinstance(value, str):
        return _summarised(value.replace(str(REPO), REPO_PLACEHOLDER))
    return value


def _repo_relative(path: str) -> str:
    candidate = Path(path)
    if not candidate.is_absolute():
        return candidate.as_posix()
    with contextlib.suppress(ValueError):
        return candidate.resolve().relative_to(REPO).as_posix()
    # Outside the checkout (a temporary directory): only the name is stable.
    return f"<outside the repository>/{candidate.name}"


def _summarised(text: str) -> str:
    if len(text) <= LONG_STRING_BYTES and "\n" not in text:
        return text
    data = text.encode("utf-8")
    first = text.splitlines()[0].rstrip() if text.strip() else ""
    if len(first) > FIRST_LINE_CHARS:
        first = first[:FIRST_LINE_CHARS] + "..."
    digest = hashlib.sha256(data).hexdigest()[:12]
    return f"sha256:{digest} ({len(data)} bytes) {first}".rstrip()


# --------------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------------

FOOTNOTE = (
    "<sub>Evaluated by `djangostack plan` under Pulumi mocks, without credentials: ids and "
    "values the cloud computes are stand-ins, and replacements are not predicted. "
    "`pulumi preview` is authoritative.</sub>"
)


def render_plan(plan: Plan, fmt: str = "markdown") -> str:
    """The plan as ``markdown`` (to read) or ``json`` (to save and diff against)."""
    if fmt == "json":
        return plan.to_json()
    if fmt != "markdown":
        raise ValueError(f"unknown plan format {fmt!r} (allowed: markdown, json)")
    lines = [
        f"## Plan for stack `{plan.stack}`",
        "",
        f"{len(plan.resources)} resources, {len(plan.outputs)} outputs.",
        "",
    ]
    lines += _warning_lines(plan.warnings)
    lines += ["### Resources", "", "| type | name | parent |", "|---|---|---|"]
    for resource in plan.resources:
        parent = _code(resource.parent) if resource.parent else "(stack)"
        lines.append(f"| {_cell(_code(resource.type))} | {_cell(_code(resource.name))} | {_cell(parent)} |")
    lines += ["", "### Inputs", ""]
    for resource in plan.resources:
        lines += [f"#### {_code(resource.name)} ({_code(resource.type)})", ""]
        leaves = _resource_leaves(resource)
        lines += [f"- {_code(path)}: {_value(value)}" for path, value in leaves] or ["_no inputs_"]
        lines.append("")
    lines += ["### Outputs", "", "| output | value |", "|---|---|"]
    for name, value in plan.outputs.items():
        lines.append(f"| {_cell(_code(name))} | {_cell(_value(value))} |")
    lines += ["", FOOTNOTE, ""]
    return "\n".join(lines)


Change = tuple[str, Any, Any]
"""(leaf path, value before, value after); ``ABSENT`` on the side where the leaf does not exist."""


@dataclass(frozen=True)
class PlanDiff:
    """What a plan adds, changes and removes against a base plan."""

    base_stack: str
    stack: str
    added: list[PlannedResource]
    changed: list[tuple[PlannedResource, list[Change]]]
    removed: list[PlannedResource]
    unchanged: int
    output_changes: list[Change]
    warnings: list[str]

    @property
    def summary(self) -> str:
        return f"+{len(self.added)} ~{len(self.changed)} -{len(self.removed)}"


def compare_plans(base: Plan, plan: Plan) -> PlanDiff:
    """Resources match by (type, name, parent), as Pulumi matches them by URN; within a resource,
    inputs and options compare leaf by leaf (``template.containers[0].image``)."""
    before = {r.key: r for r in base.resources}
    after = {r.key: r for r in plan.resources}
    changed: list[tuple[PlannedResource, list[Change]]] = []
    for key in sorted(before.keys() & after.keys()):
        changes = _changes(dict(_resource_leaves(before[key])), dict(_resource_leaves(after[key])))
        if changes:
            changed.append((after[key], changes))
    added = [after[k] for k in sorted(after.keys() - before.keys())]
    return PlanDiff(
        base_stack=base.stack,
        stack=plan.stack,
        added=added,
        changed=changed,
        removed=[before[k] for k in sorted(before.keys() - after.keys())],
        unchanged=len(after) - len(added) - len(changed),
        output_changes=_changes(_leaf_map(base.outputs), _leaf_map(plan.outputs)),
        warnings=plan.warnings,
    )


def diff_plans(base_json_text: str, plan: Plan) -> str:
    """Markdown for a pull-request comment: what ``plan`` adds, changes and removes against the
    saved plan ``base_json_text``, with a one-line summary (``+2 ~1 -0``)."""
    return render_diff(compare_plans(Plan.from_json(base_json_text), plan))


def render_diff(diff: PlanDiff) -> str:
    """A ``PlanDiff`` as markdown: a summary line, then a list per section."""
    n_outputs = len(diff.output_changes)
    lines = [
        f"### Plan diff for stack `{diff.stack}`: {diff.summary}",
        "",
        f"**{diff.summary}**: {len(diff.added)} to add, {len(diff.changed)} to change, "
        f"{len(diff.removed)} to remove, {diff.unchanged} unchanged; "
        f"{n_outputs} output value{'s' if n_outputs != 1 else ''} changed.",
        "",
    ]
    if diff.base_stack != diff.stack:
        lines += ["> [!NOTE]", f"> The base plan is for stack `{diff.base_stack}`.", ""]
    lines += _warning_lines(diff.warnings)

    lines += [f"#### Added ({len(diff.added)})", ""]
    for resource in diff.added:
        lines.append(f"- {_describe(resource)}")
        leaves = _resource_leaves(resource)
        if leaves:
            lines += ["", "  <details><summary>inputs</summary>", ""]
            lines += [f"  - {_code(path)}: {_value(value)}" for path, value in leaves]
            lines += ["", "  </details>", ""]
    lines += ([] if diff.added else ["_none_"]) + [""]

    lines += [f"#### Changed ({len(diff.changed)})", ""]
    for resource, changes in diff.changed:
        lines.append(f"- {_describe(resource)}")
        lines += [f"  - {_code(path)}: {_value(old)} -> {_value(new)}" for path, old, new in changes]
    lines += ([] if diff.changed else ["_none_"]) + [""]

    lines += [f"#### Removed ({len(diff.removed)})", ""]
    lines += [f"- {_describe(resource)}" for resource in diff.removed] or ["_none_"]
    lines.append("")

    if diff.output_changes:
        lines += ["#### Outputs", ""]
        lines += [f"- {_code(path)}: {_value(old)} -> {_value(new)}" for path, old, new in diff.output_changes]
        lines.append("")
    lines += [FOOTNOTE, ""]
    return "\n".join(lines)


class _Absent:
    """A value present on one side of a comparison only."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT = _Absent()


def _changes(before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    """(path, old, new) for every leaf that differs. Secret leaves compare as equal: under mocks
    their values are stand-ins, so only a secret appearing or disappearing is a change."""
    result: list[Change] = []
    for path in sorted(before.keys() | after.keys()):
        old = before.get(path, ABSENT)
        new = after.get(path, ABSENT)
        if old != new:
            result.append((path, old, new))
    return result


def _resource_leaves(resource: PlannedResource) -> list[tuple[str, Any]]:
    leaves = _leaves(resource.inputs, "") if resource.inputs else []
    if resource.options:
        leaves += [(f"option:{path}", value) for path, value in _leaves(resource.options, "")]
    return leaves


def _leaf_map(value: dict[str, Any]) -> dict[str, Any]:
    return dict(_leaves(value, "")) if value else {}


def _leaves(value: Any, prefix: str) -> list[tuple[str, Any]]:
    """Flatten nested inputs into (path, scalar) pairs: ``template.containers[0].image``."""
    if isinstance(value, dict) and value:
        result: list[tuple[str, Any]] = []
        for key in sorted(value):
            if _PLAIN_KEY.match(key):
                path = f"{prefix}.{key}" if prefix else key
            else:
                path = f"{prefix}[{json.dumps(key, ensure_ascii=True)}]"
            result += _leaves(value[key], path)
        return result
    if isinstance(value, list) and value:
        result = []
        for index, item in enumerate(value):
            result += _leaves(item, f"{prefix}[{index}]")
        return result
    return [(prefix, value)]


def _describe(resource: PlannedResource) -> str:
    parent = f" (parent {_code(resource.parent)})" if resource.parent else ""
    return f"{_code(resource.type)} **{_code(resource.name)}**{parent}"


def _value(value: Any) -> str:
    if value is ABSENT:
        return "(absent)"
    if value in (SECRET, UNKNOWN):
        return str(value)
    if isinstance(value, str) and _SUMMARY.match(value):
        return _code(value)
    return _code(json.dumps(value, sort_keys=True, ensure_ascii=True))


def _code(text: str) -> str:
    """A markdown code span that survives backticks in ``text``."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _cell(text: str) -> str:
    """Table cells end at a pipe, even inside a code span."""
    return text.replace("|", "\\|")


def _warning_lines(warnings: list[str]) -> list[str]:
    if not warnings:
        return []
    return ["> [!WARNING]", *[f"> {w}  " for w in warnings], ""]
