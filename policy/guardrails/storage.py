"""Buckets: encrypted by default, never public (S3 and GCS)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .base import Context, Guardrail, StackGuardrail, StackResource, StackViolation, as_list, dig, is_true, load_json
from .identity import allow_not_statements
from .resource_types import (
    GCS_BUCKET,
    GCS_IAM_TYPES,
    S3_BUCKET,
    S3_BUCKET_ACL,
    S3_BUCKET_ACL_V1,
    S3_BUCKET_POLICY,
    S3_BUCKET_V2,
    S3_PUBLIC_ACCESS_BLOCK,
    S3_SSE,
    S3_SSE_V2,
)


def _sse_rules_ok(rules: Any) -> bool:
    rules = as_list(rules)
    return bool(rules) and all(
        dig(rule, "applyServerSideEncryptionByDefault.sseAlgorithm") in {"AES256", "aws:kms", "aws:kms:dsse"}
        for rule in rules
    )


def _check_bucket_encryption(resource_type: str, props: Mapping[str, Any], context: Context) -> list[str]:
    if resource_type in {S3_SSE, S3_SSE_V2} and not _sse_rules_ok(props.get("rules")):
        return ["rules must set applyServerSideEncryptionByDefault.sseAlgorithm (AES256 or aws:kms) on every rule"]
    if resource_type in {S3_BUCKET, S3_BUCKET_V2}:
        inline = props.get("serverSideEncryptionConfiguration")
        if inline is not None and not _sse_rules_ok(as_list(dig(inline, "rule"))):
            return ["serverSideEncryptionConfiguration must set rule.applyServerSideEncryptionByDefault.sseAlgorithm"]
    if resource_type == GCS_BUCKET and not is_true(props.get("uniformBucketLevelAccess")):
        # GCS encrypts every object at rest; what can still go wrong is per-object ACLs.
        return ["uniformBucketLevelAccess is not true: per-object ACLs can expose objects; enable it"]
    return []


PUBLIC_ACCESS_BLOCK_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
PUBLIC_ACLS = frozenset({"public-read", "public-read-write", "authenticated-read"})
PUBLIC_MEMBERS = frozenset({"allUsers", "allAuthenticatedUsers"})


def _public_principal(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        return any("*" in as_list(v) for v in principal.values())
    return False


def _public_members(props: Mapping[str, Any]) -> list[str]:
    members = as_list(props.get("member")) + as_list(props.get("members")) + as_list(props.get("entity"))
    policy = load_json(props.get("policyData"))
    for binding in as_list(dig(policy, "bindings")):
        members += as_list(dig(binding, "members"))
    return sorted({str(m) for m in members if str(m) in PUBLIC_MEMBERS})


def _check_public_buckets(resource_type: str, props: Mapping[str, Any], context: Context) -> list[str]:
    if resource_type == S3_PUBLIC_ACCESS_BLOCK:
        off = [flag for flag in PUBLIC_ACCESS_BLOCK_FLAGS if not is_true(props.get(flag))]
        return [f"{', '.join(off)} must be true"] if off else []
    if resource_type in {S3_BUCKET, S3_BUCKET_V2, S3_BUCKET_ACL, S3_BUCKET_ACL_V1}:
        acl = props.get("acl")
        return [f"acl is {acl}: the bucket's objects become readable by anyone"] if acl in PUBLIC_ACLS else []
    if resource_type == S3_BUCKET_POLICY:
        policy = load_json(props.get("policy"))
        return allow_not_statements(policy) + [
            f"statement {statement.get('Sid', i)!r} allows Principal * without a condition"
            for i, statement in enumerate(as_list(dig(policy, "Statement")))
            if isinstance(statement, Mapping)
            and statement.get("Effect") == "Allow"
            and _public_principal(statement.get("Principal"))
            and not statement.get("Condition")
        ]
    if resource_type == GCS_BUCKET:
        prevention = props.get("publicAccessPrevention")
        return [] if prevention == "enforced" else [f"publicAccessPrevention is {prevention!r}: set 'enforced'"]
    if resource_type in GCS_IAM_TYPES:
        public = _public_members(props)
        return [f"grants {props.get('role', 'access')} to {', '.join(public)}"] if public else []
    return []


def _check_s3_buckets_guarded(resources: Sequence[StackResource], context: Context) -> list[StackViolation]:
    """Each S3 bucket of the stack has a full public access block and default encryption."""
    violations = []
    for bucket in resources:
        if bucket.type not in {S3_BUCKET, S3_BUCKET_V2}:
            continue

        def attached(types: set[str], bucket: StackResource = bucket) -> list[StackResource]:
            return [r for r in resources if r.type in types and bucket.urn in r.property_dependencies.get("bucket", ())]

        blocks = attached({S3_PUBLIC_ACCESS_BLOCK})
        if not any(all(is_true(b.props.get(f)) for f in PUBLIC_ACCESS_BLOCK_FLAGS) for b in blocks):
            violations.append(StackViolation(bucket.urn, "has no BucketPublicAccessBlock with all four flags true"))
        encryption = attached({S3_SSE, S3_SSE_V2})
        inline = bucket.props.get("serverSideEncryptionConfiguration")
        if not any(_sse_rules_ok(e.props.get("rules")) for e in encryption) and inline is None:
            violations.append(
                StackViolation(bucket.urn, "has no BucketServerSideEncryptionConfiguration (default encryption)")
            )
    return violations


GUARDRAILS: tuple[Guardrail, ...] = (
    Guardrail(
        "bucket-encrypted-at-rest",
        "S3 default encryption sets an algorithm on every rule; GCS buckets (encrypted by Google) use "
        "uniform bucket-level access.",
        _check_bucket_encryption,
        frozenset({S3_SSE, S3_SSE_V2, S3_BUCKET, S3_BUCKET_V2, GCS_BUCKET}),
    ),
    Guardrail(
        "no-public-buckets",
        "S3 public access blocks set all four flags; no public ACL or Principal * policy; GCS enforces "
        "public access prevention and grants nothing to allUsers or allAuthenticatedUsers.",
        _check_public_buckets,
        frozenset(
            {
                S3_PUBLIC_ACCESS_BLOCK,
                S3_BUCKET,
                S3_BUCKET_V2,
                S3_BUCKET_ACL,
                S3_BUCKET_ACL_V1,
                S3_BUCKET_POLICY,
                GCS_BUCKET,
            }
            | GCS_IAM_TYPES
        ),
    ),
)

STACK_GUARDRAILS: tuple[StackGuardrail, ...] = (
    StackGuardrail(
        "s3-bucket-blocked-and-encrypted",
        "Every S3 bucket has a public access block with all four flags and default encryption.",
        _check_s3_buckets_guarded,
    ),
)
