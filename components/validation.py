"""The one validation entry point: every rule runs here, once, for ``check`` and ``pulumi up``."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Protocol

from pydantic import (
    BaseModel,
    ValidationError,
)

from .settings import rules as shared_rules
from .settings.errors import SettingsError
from .settings.fields import PROJECT
from .settings.limits import check_settings as check_cloud_limits
from .settings.stack import SECRET_KEYS, StackSettings
from .settings.targets import AwsEc2Target, GcpCloudRunTarget, ServerTarget
from .targets.aws import rules as aws_rules
from .targets.gcp import rules as gcp_rules
from .targets.server import rules as server_rules


class TargetRules(Protocol):
    """What each target's ``rules`` module offers the validator."""

    def combination_problems(self, settings: StackSettings) -> list[str]: ...

    def problems(self, settings: StackSettings, stack: str) -> list[str]: ...

    @property
    def REFUSED_KEYS(self) -> Mapping[str, str]:  # noqa: N802 - a module constant
        """Keys (``target.os``) the target has no field for and refuses with its own hint."""
        ...


TARGET_RULES: dict[str, TargetRules] = {"server": server_rules, "aws-ec2": aws_rules, "gcp-cloudrun": gcp_rules}
"""Each target's rules, in its own package."""

# --------------------------------------------------------------------------------------------------
# Errors: one line per problem, full key, bad value, what is allowed
# --------------------------------------------------------------------------------------------------


_TAGS = {"server", "aws-ec2", "gcp-cloudrun"}
_RELATIVE_KEY = re.compile(r"[a-z][A-Za-z0-9]*(\.[a-z][A-Za-z0-9]*)*")


def _allowed_keys(loc: tuple[str | int, ...]) -> list[str]:
    """The camelCase keys a model at ``loc`` accepts (for 'unknown key' messages)."""
    model: Any = StackSettings
    for part in loc:
        if isinstance(part, int):
            continue
        if part in _TAGS:
            model = {
                "server": ServerTarget,
                "aws-ec2": AwsEc2Target,
                "gcp-cloudrun": GcpCloudRunTarget,
            }[part]
            continue
        field = next(
            (f for n, f in model.model_fields.items() if (f.alias or n) == part),
            None,
        )
        if field is None:
            return []
        annotation = field.annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        nested = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if nested is None:
            return []
        model = nested
    return sorted((f.alias or n) for n, f in model.model_fields.items() if n != "secrets_present")


def _show(value: Any) -> str:
    if isinstance(value, str) and len(value) > 100:
        value = value[:100]  # only the first 77 characters are shown; never dump megabytes
    text = json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."


def _key_part(index: int, part: str | int) -> str:
    """One step of a key path: ``.name``, ``[0]``, or ``["odd key"]`` for a dict key that is no name."""
    if isinstance(part, int):
        return f"[{part}]"
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]{0,63}", part):
        return ("." if index else "") + part
    return f"[{_show(part)}]"


def _error_lines(exc: ValidationError) -> list[str]:
    lines: list[str] = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if p not in _TAGS)
        path = "".join(_key_part(i, p) for i, p in enumerate(loc))
        key = f"{PROJECT}:{path}"
        etype = err["type"]
        tag = next((p for p in err["loc"] if isinstance(p, str) and p in _TAGS), None)
        refused = TARGET_RULES[tag].REFUSED_KEYS.get(path) if tag else None
        if etype == "extra_forbidden" and refused:
            lines.append(f"{key}: {refused}")
        elif etype == "extra_forbidden":
            allowed = _allowed_keys(loc[:-1])
            lines.append(
                f"{key}: unknown key (got {_show(err['input'])}); allowed keys here: "
                f"{', '.join(allowed) if allowed else 'none'}"
            )
        elif etype == "missing":
            lines.append(f"{key}: required key is missing")
        elif etype == "union_tag_invalid":
            ctx = err.get("ctx", {})
            lines.append(f"{key}.kind: unknown target {ctx.get('tag')!r}; allowed: {ctx.get('expected_tags')}")
        elif etype == "union_tag_not_found":
            lines.append(f"{key}.kind: required; allowed: 'server', 'aws-ec2', 'gcp-cloudrun'")
        elif etype == "value_error":
            message = str(err.get("ctx", {}).get("error", err["msg"]))
            if not isinstance(err["input"], dict):
                lines.append(f"{key}: {message} (got {_show(err['input'])})")
                continue
            # Checks across fields start each line with the key they are about, relative to
            # the model that raised them ("image: ..."), so the line names the full key.
            for part in message.splitlines():
                field, sep, rest = part.partition(": ")
                if sep and _RELATIVE_KEY.fullmatch(field):
                    lines.append(f"{key}{'.' if loc else ''}{field}: {rest}")
                else:
                    lines.append(f"{key}: {part}")
        else:
            lines.append(f"{key}: {err['msg']} (got {_show(err['input'])})")
    return lines


def validate(
    raw: Mapping[str, Any],
    secrets_present: set[str],
    plaintext_secrets: set[str],
    stack: str | None = None,
) -> StackSettings:
    """Validate raw config (keys without namespace, JSON values) into ``StackSettings``.

    ``stack`` is the Pulumi stack name; physical names derive from it (GCP name limits). Unset (a
    settings dict without a stack file), the environment name stands in for it.

    Every rule runs here, once: the models' own field checks, then the settings that contradict
    each other (shared and the target's), then the cross-target guardrails (``settings.rules``), the
    target's own rules (``targets.<target>.rules``) and the cloud limits (``settings.limits``).
    Raises the one ``SettingsError`` listing every problem found.
    """
    lines: list[str] = []
    for key in sorted(plaintext_secrets):
        lines.append(
            f"{PROJECT}:{key}: is stored in plaintext; it is a secret: `pulumi config set --secret {key} <value>`"
        )
    data = {k: v for k, v in raw.items() if k not in SECRET_KEYS}
    data["secretsPresent"] = frozenset(secrets_present)
    try:
        settings = StackSettings.model_validate(data)
    except ValidationError as exc:
        lines.extend(_error_lines(exc))
        raise SettingsError(lines) from None
    target_rules = TARGET_RULES[settings.target.kind]
    # Contradicting settings first: the other rules assume a coherent stack.
    combinations = [
        *shared_rules.combination_problems(settings),
        *target_rules.combination_problems(settings),
        *shared_rules.secret_problems(settings),
    ]
    if combinations:
        raise SettingsError(lines + combinations)
    # Without a stack name (a settings dict, no stack file) the environment name stands in for it.
    stack = stack or settings.environment
    lines.extend(shared_rules.problems(settings))
    lines.extend(target_rules.problems(settings, stack))
    # Values the cloud APIs would refuse (name lengths, sizes, counts).
    lines.extend(check_cloud_limits(settings, stack))
    if lines:
        raise SettingsError(lines)
    return settings
