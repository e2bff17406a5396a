"""Runtime identities: IAM roles, policies and GCP grants are never administrators."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import Context, Guardrail, as_list, dig, load_json

ADMIN_MANAGED_POLICIES = frozenset({"AdministratorAccess", "PowerUserAccess", "IAMFullAccess"})
GCP_ADMIN_ROLES = frozenset({"roles/owner", "roles/editor"})


def _admin_managed_policy(arn: Any) -> bool:
    return isinstance(arn, str) and arn.startswith("arn:aws") and arn.rsplit("/", 1)[-1] in ADMIN_MANAGED_POLICIES


def allow_not_statements(document: Any) -> list[str]:
    """``Allow`` statements written as exclusions: ``NotAction`` grants every action but the listed
    ones (including every action AWS adds later), ``NotPrincipal`` every principal but the listed
    ones (anonymous users included)."""
    policy = load_json(document)
    found = []
    for i, statement in enumerate(as_list(dig(policy, "Statement"))):
        if not isinstance(statement, Mapping) or statement.get("Effect") != "Allow":
            continue
        sid = statement.get("Sid", i)
        if "NotAction" in statement:
            found.append(
                f"statement {sid!r} uses NotAction with Allow: it grants every action except the listed ones; "
                "list the actions to allow instead"
            )
        if "NotPrincipal" in statement:
            found.append(
                f"statement {sid!r} uses NotPrincipal with Allow: it grants every principal except the listed "
                "ones, anonymous users included; name the principals to allow instead"
            )
    return found


def _wildcard_statements(document: Any) -> list[str]:
    policy = load_json(document)
    found = allow_not_statements(document)
    for i, statement in enumerate(as_list(dig(policy, "Statement"))):
        if not isinstance(statement, Mapping) or statement.get("Effect") != "Allow":
            continue
        actions = [str(a) for a in as_list(statement.get("Action"))]
        resources = [str(r) for r in as_list(statement.get("Resource"))]
        if any(a in {"*", "*:*"} for a in actions) and "*" in resources:
            found.append(f"statement {statement.get('Sid', i)!r} allows Action * on Resource *")
        elif any(a == "iam:*" for a in actions) and "*" in resources:
            found.append(f"statement {statement.get('Sid', i)!r} allows iam:* on Resource * (privilege escalation)")
    return found


def _gcp_iam_roles(props: Mapping[str, Any]) -> list[str]:
    roles = as_list(props.get("role"))
    policy = load_json(props.get("policyData"))
    roles += [dig(binding, "role") for binding in as_list(dig(policy, "bindings"))]
    return sorted({str(r) for r in roles if r in GCP_ADMIN_ROLES})


def _check_admin_identities(resource_type: str, props: Mapping[str, Any], context: Context) -> list[str]:
    if resource_type.startswith("aws:iam/"):
        problems = []
        arns = (
            as_list(props.get("policyArn")) + as_list(props.get("managedPolicyArns")) + as_list(props.get("policyArns"))
        )
        problems += [f"attaches {arn}" for arn in arns if _admin_managed_policy(arn)]
        if "policy" in props and resource_type != "aws:iam/role:Role":
            problems += _wildcard_statements(props.get("policy"))
        if "assumeRolePolicy" in props:
            problems += [f"assumeRolePolicy: {p}" for p in allow_not_statements(props.get("assumeRolePolicy"))]
        for inline in as_list(props.get("inlinePolicies")):
            problems += [
                f"inline policy {dig(inline, 'name', '?')}: {p}" for p in _wildcard_statements(dig(inline, "policy"))
            ]
        return problems
    if resource_type.startswith("gcp:") and "iam" in resource_type.lower():
        return [f"grants {role}: give the runtime identity narrow roles only" for role in _gcp_iam_roles(props)]
    return []


GUARDRAILS: tuple[Guardrail, ...] = (
    Guardrail(
        "no-admin-runtime-identity",
        "IAM roles and policies grant no AdministratorAccess/PowerUserAccess and no Action * on Resource *; "
        "GCP IAM grants no roles/owner or roles/editor.",
        _check_admin_identities,
    ),
)
