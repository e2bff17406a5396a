"""The security guardrails of djangostack as pure functions, testable without the Pulumi engine.

Each ``Guardrail`` checks one resource: ``guardrail.check(resource_type, props, context)`` returns
the list of violation messages (empty when the resource complies, or when the guardrail does not
apply to that type). Each ``StackGuardrail`` checks relations between resources (an RDS instance and
the parameter group it uses, an S3 bucket and its public access block) over the whole stack.

``props`` are the resource's inputs with the provider's camelCase wire names
(``publiclyAccessible``, ``metadataOptions.httpTokens``), exactly what the policy engine (and
``djangostack.offline.mocking``) sees. ``Context`` carries what a resource alone cannot tell: whether the
stack is a production stack, and which top-level props are Pulumi secrets (a secret value is never
a plaintext leak). ``policy/__main__.py`` wraps these as a pulumi-policy pack; ``policy/runner.py``
runs them over a mocks ``Recording``.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import math
import re
import shlex
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

PROD_ENVIRONMENTS = frozenset({"prod", "production"})
MIN_BACKUP_RETENTION_DAYS = 7
SENSITIVE_PORTS: Mapping[int, str] = {22: "SSH", 3306: "MySQL", 5432: "PostgreSQL", 6379: "Redis"}
OPEN_CIDRS = frozenset({"0.0.0.0/0", "::/0"})
OPEN_PREFIX_LIMITS = {4: 8, 6: 16}
"""A public (non-private) network this large counts as "the internet": 0.0.0.0/1 and 128.0.0.0/1,
or ::/1 and 8000::/1, open everything between them just as 0.0.0.0/0 and ::/0 do. The largest IPv4
allocations are /8s and the largest IPv6 registry allocations are far smaller than /16."""


@dataclass(frozen=True)
class Context:
    """What a guardrail needs to know beyond the resource itself."""

    environment: str | None = None
    """The stack's environment (``djangostack:environment``, or the stack name); ``prod`` and
    ``production`` switch on the production-only rules (backups, deletion protection)."""
    secret_props: frozenset[str] = frozenset()
    """Top-level prop names whose value is a Pulumi secret: never reported as a plaintext secret."""
    prod_environments: frozenset[str] = PROD_ENVIRONMENTS
    min_backup_retention_days: int = MIN_BACKUP_RETENTION_DAYS

    @property
    def is_prod(self) -> bool:
        return (self.environment or "").strip().lower() in self.prod_environments


Check = Callable[[str, Mapping[str, Any], Context], list[str]]


@dataclass(frozen=True)
class Guardrail:
    """One resource-level policy: a name (the pack's policy id), what it enforces, and its check."""

    name: str
    description: str
    check: Check
    resource_types: frozenset[str] = field(default_factory=frozenset)
    """The types it inspects (documentation and tests; ``check`` ignores every other type)."""

    def __call__(self, resource_type: str, props: Mapping[str, Any], context: Context | None = None) -> list[str]:
        return self.check(resource_type, props, context or Context())


@dataclass(frozen=True)
class StackResource:
    """A resource as a stack-level guardrail sees it."""

    type: str
    name: str
    urn: str
    props: Mapping[str, Any]
    property_dependencies: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Prop name -> URNs of the resources that prop's value came from."""


@dataclass(frozen=True)
class StackViolation:
    urn: str
    message: str


StackCheck = Callable[[Sequence[StackResource], Context], list[StackViolation]]


@dataclass(frozen=True)
class StackGuardrail:
    name: str
    description: str
    check: StackCheck

    def __call__(self, resources: Sequence[StackResource], context: Context | None = None) -> list[StackViolation]:
        return self.check(resources, context or Context())


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------


def _get(props: Mapping[str, Any] | None, path: str, default: Any = None) -> Any:
    """``props["a"]["b"]`` for ``"a.b"``; ``default`` when any step is missing or not a mapping."""
    current: Any = props
    for part in path.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return default
        current = current[part]
    return current


def _items(value: Any) -> list[Any]:
    """A list of ``value``'s elements (the SDK hands lists over as read-only Sequence proxies)."""
    if value is None:
        return []
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return list(value)
    return [value]


def _true(value: Any) -> bool:
    """Booleans arrive as bools, or as strings where the provider models them so (launch template
    ``ebs.encrypted`` is ``"true"``)."""
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.strip().lower() == "true"


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _is_open_cidr(cidr: Any) -> bool:
    """True for 0.0.0.0/0 and ::/0, and for any other public network of at least a /8 (IPv4) or a
    /16 (IPv6): the halves ::/1 and 8000::/1 together are ::/0. IPv4-mapped IPv6 networks
    (``::ffff:0.0.0.0/96``) count as the IPv4 network they map."""
    if not isinstance(cidr, str):
        return False
    try:
        network = ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError:
        return cidr.strip() in OPEN_CIDRS
    if network.prefixlen == 0:
        return True
    mapped = getattr(network.network_address, "ipv4_mapped", None)
    if isinstance(network, ipaddress.IPv6Network) and mapped is not None and network.prefixlen >= 96:
        network = ipaddress.ip_network(f"{mapped}/{network.prefixlen - 96}", strict=False)
    if network.prefixlen > OPEN_PREFIX_LIMITS[network.version]:
        return False
    return not network.is_private


def _exposed_ports(protocol: Any, from_port: Any, to_port: Any) -> list[int]:
    """The sensitive ports a rule with this protocol and port range opens."""
    proto = str(protocol if protocol is not None else "tcp").strip().lower()
    if proto in {"-1", "all"}:
        return sorted(SENSITIVE_PORTS)
    if proto not in {"tcp", "6"}:
        return []
    low, high = _number(from_port), _number(to_port)
    if low is None:
        low = high
    if high is None:
        high = low
    if low is None or high is None:
        return sorted(SENSITIVE_PORTS)
    if low <= 0 and high in {0, -1, 65535}:  # AWS "all ports" spellings
        return sorted(SENSITIVE_PORTS)
    return [port for port in sorted(SENSITIVE_PORTS) if low <= port <= high]


def _describe_ports(ports: list[int]) -> str:
    return ", ".join(f"{port} ({SENSITIVE_PORTS[port]})" for port in ports)


def _load_json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


# --------------------------------------------------------------------------------------------------
# 1. No publicly accessible database
# --------------------------------------------------------------------------------------------------

RDS_INSTANCE = "aws:rds/instance:Instance"
RDS_CLUSTER = "aws:rds/cluster:Cluster"
RDS_CLUSTER_INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
RDS_PARAMETER_GROUP = "aws:rds/parameterGroup:ParameterGroup"
RDS_CLUSTER_PARAMETER_GROUP = "aws:rds/clusterParameterGroup:ClusterParameterGroup"
CLOUD_SQL = "gcp:sql/databaseInstance:DatabaseInstance"


def _check_public_database(resource_type: str, props: Mapping[str, Any], context: Context) -> list[str]:
    if resource_type in {RDS_INSTANCE, RDS_CLUSTER_INSTANCE}:
        if _true(props.get("publiclyAccessible")):
            return ["publiclyAccessible is true: the database gets a public endpoint; set it to false"]
        return []
    if resource_type == CLOUD_SQL:
        problems = []
        ip_config = _get(props, "settings.ipConfiguration") or {}
        if _get(ip_config, "ipv4Enabled") is not False:
            problems.append(
                "settings.ipConfiguration.ipv4Enabled is not false: the instance gets a public IPv4 address "
                "(the provider's default); set ipv4Enabled false and connect over privateNetwork"
            )
        for network in _items(_get(ip_config, "authorizedNetworks")):
            value = _get(network, "value") if isinstance(network, Mapping) else network
            if _is_open_cidr(value):
                problems.append(f"settings.ipConfiguration.authorizedNetworks allows {value}: anyone may connect")
        return problems
    return []


# --------------------------------------------------------------------------------------------------
# 2. Encryption at rest: databases, caches, buckets, volumes
# --------------------------------------------------------------------------------------------------

ELASTICACHE_REPLICATION_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
ELASTICACHE_CLUSTER = "aws:elasticache/cluster:Cluster"
MEMORYSTORE = "gcp:redis/instance:Instance"
S3_BUCKET = "aws:s3/bucket:Bucket"
S3_BUCKET_V2 = "aws:s3/bucketV2:BucketV2"
S3_SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
S3_SSE_V2 = "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2"
S3_PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
S3_BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
S3_BUCKET_ACL = "aws:s3/bucketAclV2:BucketAclV2"
S3_BUCKET_ACL_V1 = "aws:s3/bucketAcl:BucketAcl"
GCS_BUCKET = "gcp:storage/bucket:Bucket"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
EC2_INSTANCE = "aws:ec2/instance:Instance"
EBS_VOLUME = "aws:ebs/volume:Volume"


def _check_database_encryption(resource_type: str, props: Mapping[str, Any], context: Context) -> list[str]:
    if resource_type in {RDS_INSTANCE, RDS_CLUSTER} and not _true(props.get("storageEncrypted")):
        return ["storageEncrypted is not true: the database storage, its backups and snapshots are unencrypted"]
    return []


def _check_cache_encryption(resource_type: str, props: Mapping[str, Any], context: Context) -> list[str]:
    if resource_type == ELASTICACHE_REPLICATION_GROUP and not _true(props.get("atRestEncryptionEnabled")):
        return ["atRestEncryptionEnabled is not true: Redis snapshots and swap are unencrypted"]
    if resource_type == ELASTICACHE_CLUSTER and str(props.get("engine", "")).lower() in {"redis", "valkey"}:
        return [
            "a single-node ElastiCache Cluster cannot encrypt Redis at rest; "
            "use a ReplicationGroup with atRestEncryptionEnabled"
        ]
    return []


def _sse_rules_ok(rules: Any) -> bool:
    rules = _items(rules)
    return bool(rules) and all(
        _get(rule, "applyServerSideEncryptionByDefault.sseAlgorithm") in {"AES256", "aws:kms", "aws:kms:dsse"}
        for rule in rules
    )


def _check_bucket_encryption(resource_type: str, props: Mapping[str, Any], context: Context) -> list[str]:
    if resource_type in {S3_SSE, S3_SSE_V2} and not _sse_rules_ok(props.get("rules")):
        return ["rules must set applyServerSideEncryptionByDefault.sseAlgorithm (AES256 or aws:kms) on every rule"]
    if resource_type in {S3_BUCKET, S3_BUCKET_V2}:
        inline = props.get("serverSideEncryptionConfiguration")
        if inline is not None and not _sse_rules_ok(_items(_get(inline, "rule"))):
            return ["serverSideEncryptionConfiguration must set rule.applyServerSideEncryptionByDefault.sseAlgorithm"]
    if resource_type == GCS_BUCKET and not _true(props.get("uniformBucketLevelAccess")):
        # GCS encrypts every object at rest; what can still go wrong is per-object ACLs.
        return ["uniformBucketLevelAccess is not true: per-object ACLs can expose objects; enable it"]
    return []


def _ebs_encrypted(device: Any) -> bool:
    return _true(_get(device, "ebs.encrypted"))


def _check_volume_encryption(resource_type: str, props: Mapping[str, Any], context: Context) -> list[str]:
    if resource_type == LAUNCH_TEMPLATE:
        devices = _items(props.get("blockDeviceMappings"))
        if not devices:
            return [
                "blockDeviceMappings is empty: the root volume follows the AMI and may be unencrypted; "
                "declare the root device with ebs.encrypted true"
            ]
        return [
            f"blockDeviceMappings[{i}] ({_get(device, 'deviceName', '?')}) is not encrypted: set ebs.encrypted true"
            for i, device in enumerate(devices)
            if _get(device, "ebs") is not None and not _ebs_encrypted(device)
        ]
    if resource_type == EC2_INSTANCE:
        problems = []
        root = props.get("rootBlockDevice")
        if root is None and props.get("launchTemplate") is None:
            problems.append("rootBlockDevice is not declared (and no launch template): set rootBlockDevice.encrypted")
        elif root is not None and not _true(_get(root, "encrypted")):
            problems.append("rootBlockDevice.encrypted is not true")
        problems += [
            f"ebsBlockDevices[{i}] is not encrypted"
            for i, device in enumerate(_items(props.get("ebsBlockDevices")))
            if not _true(_get(device, "encrypted"))
        ]
        return problems
    if resource_type == EBS_VOLUME and not _true(props.get("encrypted")):
        return ["encrypted is not true"]
    return []


# --------------------------------------------------------------------------------------------------
# 3. Encryption in transit: Redis and PostgreSQL
# --------------------------------------------------------------------------------------------------


def _check_redis_in_transit(resource_type: str, props: Mapping[str, Any], context: Context) -> list[str]:
    if resource_type in {ELASTICACHE_REPLICATION_GROUP, ELASTICACHE_CLUSTER}:
        if resource_type == ELASTICACHE_CLUSTER and str(props.get("engine", "")).lower() not in {"redis", "valkey"}:
            return []
        if not _true(props.get("transitEncryptionEnabled")):
            return [
                "transitEncryptionEnabled is not true: Redis traffic (and its AUTH token) would cross the VPC in clear"
            ]
        return []
    if resource_type == MEMORYSTORE:
        problems = []
        if props.get("transitEncryptionMode") != "SERVER_AUTHENTICATION":
            problems.append(
                f"transitEncryptionMode is {props.get('transitEncryptionMode')!r}: set SERVER_AUTHENTICATION (TLS)"
            )
        if not _true(props.get("authEnabled")):
            problems.append("authEnabled is not true: any client on the network can use Redis without a password")
        return problems
    return []


CLOUD_SQL_SSL_MODES = frozenset({"ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"})


def _force_ssl(props: Mapping[str, Any]) -> str | None:
    """The value the parameter group gives ``rds.force_ssl``, or None when it does not set it."""
    for parameter in _items(props.get("parameters")):
        if _get(parameter, "name") == "rds.force_ssl":
            return str(_get(parameter, "value"))
    return None


def _check_postgres_tls(resource_type: str, props: Mapping[str, Any], context: Context) -> list[str]:
    if resource_type == CLOUD_SQL:
        if not str(props.get("databaseVersion", "POSTGRES")).upper().startswith("POSTGRES"):
            return []
        ip_config = _get(props, "settings.ipConfiguration") or {}
        ssl_mode = _get(ip_config, "sslMode")
        if ssl_mode in CLOUD_SQL_SSL_MODES or (ssl_mode is None and _true(_get(ip_config, "requireSsl"))):
            return []
        return [
            f"settings.ipConfiguration.sslMode is {ssl_mode!r}: set ENCRYPTED_ONLY (or "
            "TRUSTED_CLIENT_CERTIFICATE_REQUIRED) so unencrypted connections are refused"
        ]
    if resource_type in {RDS_PARAMETER_GROUP, RDS_CLUSTER_PARAMETER_GROUP}:
        family = str(props.get("family", ""))
        value = _force_ssl(props)
        if family.startswith(("postgres", "aurora-postgresql")) and value is not None and value != "1":
            return [f"sets rds.force_ssl to {value}: PostgreSQL would accept unencrypted connections; set it to 1"]
    return []


def _check_rds_uses_force_ssl(resources: Sequence[StackResource], context: Context) -> list[StackViolation]:
    """Every PostgreSQL RDS instance uses a parameter group of this stack that sets rds.force_ssl=1."""
    by_urn = {r.urn: r for r in resources}
    groups = [r for r in resources if r.type == RDS_PARAMETER_GROUP]
    violations = []
    for db in resources:
        if db.type != RDS_INSTANCE or not str(db.props.get("engine", "")).startswith("postgres"):
            continue
        group_name = db.props.get("parameterGroupName")
        used = [by_urn[u] for u in db.property_dependencies.get("parameterGroupName", frozenset()) if u in by_urn]
        used += [g for g in groups if group_name is not None and g.props.get("name") == group_name and g not in used]
        if not used:
            violations.append(
                StackViolation(
                    db.urn,
                    f"uses parameter group {group_name!r}, which is not one of this stack's parameter groups: "
                    "create one with rds.force_ssl=1 and set parameterGroupName to it",
                )
            )
        elif not any(_force_ssl(g.props) == "1" for g in used):
            violations.append(
                StackViolation(
                    db.urn,
                    f"its parameter group {used[0].name} does not set rds.force_ssl=1: clients may connect without TLS",
                )
            )
    return violations


# --------------------------------------------------------------------------------------------------
# 4. No SSH or database ports open to the internet
# --------------------------------------------------------------------------------------------------

SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
SG_INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
GCP_FIREWALL = "gcp:compute/firewall:Firewall"


def _rule_problem(where: str, protocol: Any, from_port: Any, to_port: Any, cidrs: list[Any]) -> list[str]:
    open_cidrs = [c for c in cidrs if _is_open_cidr(c)]
    ports = _exposed_ports(protocol, from_port, to_port)
    if not open_cidrs or not ports:
        return []
    return [f"{where} opens {_describe_ports(ports)} to {', '.join(map(str, open_cidrs))}; allow an admin CIDR only"]


def _check_open_ports(resource_type: str, props: Mapping[str, Any], context: Context) -> list[str]:
    if resource_type == SECURITY_GROUP:
        problems = []
        for i, rule in enumerate(_items(props.get("ingress"))):
            cidrs = _items(_get(rule, "cidrBlocks")) + _items(_get(rule, "ipv6CidrBlocks"))
            problems += _rule_problem(
                f"ingress[{i}]", _get(rule, "protocol"), _get(rule, "fromPort"), _get(rule, "toPort"), cidrs
            )
        return problems
    if resource_type == SECURITY_GROUP_RULE:
        if props.get("type") != "ingress":
            return []
        cidrs = _items(props.get("cidrBlocks")) + _items(props.get("ipv6CidrBlocks"))
        return _rule_problem("the rule", props.get("protocol"), props.get("fromPort"), props.get("toPort"), cidrs)
    if resource_type == SG_INGRESS_RULE:
        cidrs = [props.get("cidrIpv4"), props.get("cidrIpv6")]
        return _rule_problem("the rule", props.get("ipProtocol"), props.get("fromPort"), props.get("toPort"), cidrs)
    if resource_type == GCP_FIREWALL:
        if str(props.get("direction", "INGRESS")).upper() != "INGRESS":
            return []
        cidrs = _items(props.get("sourceRanges"))
        problems = []
        for allow in _items(props.get("allows")):
            protocol = str(_get(allow, "protocol", "")).lower()
            ports = _items(_get(allow, "ports"))
            if protocol not in {"tcp", "all"}:
                continue
            if protocol == "all" or not ports:
                problems += _rule_problem("allows", "all", None, None, cidrs)
                continue
            for spec in ports:
                low, _, high = str(spec).partition("-")
                problems += _rule_problem(f"allows tcp:{spec}", "tcp", low, high or low, cidrs)
        return problems
    return []


# --------------------------------------------------------------------------------------------------
# 5. IMDSv2 only
# --------------------------------------------------------------------------------------------------


def _check_imdsv2(resource_type: str, props: Mapping[str, Any], context: Context) -> list[str]:
    if resource_type not in {LAUNCH_TEMPLATE, EC2_INSTANCE}:
        return []
    tokens = _get(props, "metadataOptions.httpTokens")
    if tokens == "required":
        return []
    if resource_type == EC2_INSTANCE and tokens is None and props.get("launchTemplate") is not None:
        return []  # the instance takes its metadata options from the launch template, checked on its own
    return [
        f"metadataOptions.httpTokens is {tokens!r}: set 'required' so only IMDSv2 session tokens can read "
        "the instance role's credentials"
    ]


# --------------------------------------------------------------------------------------------------
# 6. No `latest` (or untagged) container images
# --------------------------------------------------------------------------------------------------

CLOUD_RUN_SERVICE = "gcp:cloudrunv2/service:Service"
CLOUD_RUN_JOB = "gcp:cloudrunv2/job:Job"
CLOUD_RUN_WORKER_POOL = "gcp:cloudrunv2/workerPool:WorkerPool"
CLOUD_RUN_V1_SERVICE = "gcp:cloudrun/service:Service"
ECS_TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"


def _containers(resource_type: str, props: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The container specs of a Cloud Run or ECS resource (the shapes differ per type)."""
    if resource_type in {CLOUD_RUN_SERVICE, CLOUD_RUN_WORKER_POOL}:
        found = _get(props, "template.containers")
    elif resource_type == CLOUD_RUN_JOB:
        found = _get(props, "template.template.containers")
    elif resource_type == CLOUD_RUN_V1_SERVICE:
        found = _get(props, "template.spec.containers")
    elif resource_type == ECS_TASK_DEFINITION:
        found = _load_json(props.get("containerDefinitions"))
    else:
        return []
    return [c for c in _items(found) if isinstance(c, Mapping)]


def image_problem(image: str) -> str | None:
    """Why an image reference is mutable (None when it is pinned by a tag other than latest, or a digest)."""
    if "@sha256:" in image:
        return None
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"image {image!r} has no tag, so it means :latest; pin a release tag or a digest"
    if last.rsplit(":", 1)[1] == "latest":
        return f"image {image!r} uses the mutable tag latest; pin a release tag or a digest"
    return None


def _check_latest_images(resource_type: str, props: Mapping[str, Any], context: Context) -> list[str]:
    problems = []
    for container in _containers(resource_type, props):
        image = container.get("image")
        problem = image_problem(image) if isinstance(image, str) else None
        if problem:
            problems.append(f"container {container.get('name', '?')}: {problem}")
    return problems


# --------------------------------------------------------------------------------------------------
# 7. Production: backups kept >= 7 days, deletion protection on
# --------------------------------------------------------------------------------------------------


def _check_prod_database_protection(resource_type: str, props: Mapping[str, Any], context: Context) -> list[str]:
    if not context.is_prod:
        return []
    minimum = context.min_backup_retention_days
    problems = []
    if resource_type in {RDS_INSTANCE, RDS_CLUSTER}:
        days = _number(props.get("backupRetentionPeriod"))
        if days is None or days < minimum:
            problems.append(
                f"backupRetentionPeriod is {props.get('backupRetentionPeriod')}: keep at least {minimum} days"
            )
        if not _true(props.get("deletionProtection")):
            problems.append("deletionProtection is not true on a production database")
        if _true(props.get("skipFinalSnapshot")):
            problems.append("skipFinalSnapshot is true on a production database: a delete would leave no snapshot")
    elif resource_type == CLOUD_SQL:
        backups = _get(props, "settings.backupConfiguration") or {}
        if not _true(_get(backups, "enabled")):
            problems.append("settings.backupConfiguration.enabled is not true")
        retained = _number(_get(backups, "backupRetentionSettings.retainedBackups"))
        # Cloud SQL takes one automated backup a day, so a count is a number of days.
        if retained is None or retained < minimum:
            problems.append(
                f"settings.backupConfiguration.backupRetentionSettings.retainedBackups is {retained}: "
                f"keep at least {minimum} daily backups"
            )
        if props.get("deletionProtection") is False:
            problems.append("deletionProtection is false: Pulumi would delete the production database")
        if not _true(_get(props, "settings.deletionProtectionEnabled")):
            problems.append("settings.deletionProtectionEnabled is not true: the instance can be deleted in GCP")
    return problems


# --------------------------------------------------------------------------------------------------
# 8. Buckets are never public
# --------------------------------------------------------------------------------------------------

PUBLIC_ACCESS_BLOCK_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
PUBLIC_ACLS = frozenset({"public-read", "public-read-write", "authenticated-read"})
PUBLIC_MEMBERS = frozenset({"allUsers", "allAuthenticatedUsers"})
GCS_IAM_TYPES = frozenset(
    {
        "gcp:storage/bucketIAMMember:BucketIAMMember",
        "gcp:storage/bucketIAMBinding:BucketIAMBinding",
        "gcp:storage/bucketIAMPolicy:BucketIAMPolicy",
        "gcp:storage/bucketAccessControl:BucketAccessControl",
        "gcp:storage/defaultObjectAccessControl:DefaultObjectAccessControl",
        "gcp:storage/objectAccessControl:ObjectAccessControl",
    }
)


def _public_principal(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        return any("*" in _items(v) for v in principal.values())
    return False


def _public_members(props: Mapping[str, Any]) -> list[str]:
    members = _items(props.get("member")) + _items(props.get("members")) + _items(props.get("entity"))
    policy = _load_json(props.get("policyData"))
    for binding in _items(_get(policy, "bindings")):
        members += _items(_get(binding, "members"))
    return sorted({str(m) for m in members if str(m) in PUBLIC_MEMBERS})


def _check_public_buckets(resource_type: str, props: Mapping[str, Any], context: Context) -> list[str]:
    if resource_type == S3_PUBLIC_ACCESS_BLOCK:
        off = [flag for flag in PUBLIC_ACCESS_BLOCK_FLAGS if not _true(props.get(flag))]
        return [f"{', '.join(off)} must be true"] if off else []
    if resource_type in {S3_BUCKET, S3_BUCKET_V2, S3_BUCKET_ACL, S3_BUCKET_ACL_V1}:
        acl = props.get("acl")
        return [f"acl is {acl}: the bucket's objects become readable by anyone"] if acl in PUBLIC_ACLS else []
    if resource_type == S3_BUCKET_POLICY:
        policy = _load_json(props.get("policy"))
        return _allow_not_statements(policy) + [
            f"statement {statement.get('Sid', i)!r} allows Principal * without a condition"
            for i, statement in enumerate(_items(_get(policy, "Statement")))
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
        if not any(all(_true(b.props.get(f)) for f in PUBLIC_ACCESS_BLOCK_FLAGS) for b in blocks):
            violations.append(StackViolation(bucket.urn, "has no BucketPublicAccessBlock with all four flags true"))
        encryption = attached({S3_SSE, S3_SSE_V2})
        inline = bucket.props.get("serverSideEncryptionConfiguration")
        if not any(_sse_rules_ok(e.props.get("rules")) for e in encryption) and inline is None:
            violations.append(
                StackViolation(bucket.urn, "has no BucketServerSideEncryptionConfiguration (default encryption)")
            )
    return violations


# --------------------------------------------------------------------------------------------------
# 9. No plaintext secrets in container env, user data, command env or tags
# --------------------------------------------------------------------------------------------------

SENSITIVE_WORDS = frozenset(
    {"SECRET", "PASSWORD", "PASSWD", "PASS", "TOKEN", "CREDENTIAL", "CREDENTIALS", "DSN", "APIKEY"}
)
KEY_QUALIFIERS = frozenset({"SECRET", "API", "PRIVATE", "ACCESS", "SIGNING", "ENCRYPTION", "MASTER", "AUTH", "CLIENT"})
REFERENCE_SUFFIXES = frozenset({"ARN", "ID", "NAME", "FILE", "PATH", "DIR", "REF", "VERSION", "ENABLED", "LENGTH"})
SECRET_VALUE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a URL with a password", re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s/:@'\"]*:(?![$<{%])[^\s@'\"/]+@")),
    ("a Sentry DSN", re.compile(r"https?://[0-9a-f]{32}(?::[0-9a-f]{32})?@")),
    ("a private key", re.compile(r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----")),
    ("an AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b")),
    ("a Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    ("a Google API key", re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b")),
    ("a Stripe secret key", re.compile(r"\b[rs]k_(?:live|test)_[0-9a-zA-Z]{16,}")),
    ("a webhook signing secret", re.compile(r"\bwhsec_[A-Za-z0-9+/=]{16,}")),
    ("a GitLab token", re.compile(r"\bglpat-[A-Za-z0-9_\-]{20,}")),
    ("a SendGrid key", re.compile(r"\bSG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}")),
    ("an API secret key", re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_\-]{20,}")),
    ("a package registry token", re.compile(r"\b(?:pypi-AgE[A-Za-z0-9_\-]{20,}|npm_[A-Za-z0-9]{36})")),
    ("a JSON Web Token", re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}")),
    ("a password in a connection string", re.compile(r"(?i)(?:^|[;\s])(?:password|pwd)=(?![$<{%])[^;\s'\"]{4,}")),
)
HIGH_ENTROPY_MIN_LENGTH = 24
HIGH_ENTROPY_BITS = 4.2
"""A literal at least this long whose characters carry at least this many bits each (Shannon
entropy) and mix three character classes is treated as a generated secret whatever its name:
a Django SECRET_KEY or an API token scores 4.5 to 5.5; words, host names and hex digests stay
below (hex digests also use only two classes)."""
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
ENV_ASSIGNMENT = re.compile(r"(?m)(?:^|[\s;'\"])(?:export\s+)?([A-Z][A-Z0-9_]*)=(\"[^\"\n]*\"|'[^'\n]*'|[^\s;'\"]+)")


def sensitive_name(name: str) -> bool:
    """True for names that announce a secret: ``SECRET_KEY``, ``DB_PASSWORD``, ``API_TOKEN``,
    ``SENTRY_DSN`` - but not references to one (``APP_SECRET_ARN``, ``PASSWORD_FILE``)."""
    words = [w for w in re.split(r"[^A-Z0-9]+", name.upper()) if w]
    if not words or words[-1] in REFERENCE_SUFFIXES:
        return False
    if any(w in SENSITIVE_WORDS for w in words):
        return True
    return any(w == "KEY" and (i == 0 or words[i - 1] in KEY_QUALIFIERS) for i, w in enumerate(words))


def literal_value(value: Any) -> bool:
    """A value written out in full (not empty, not a reference resolved elsewhere)."""
    if not isinstance(value, str):
        return False
    text = value.strip().strip("'\"").strip()
    if not text or text.startswith(("$", "{{", "arn:", "projects/", "ssm:", "secretsmanager:", "/")):
        return False
    return text.lower() not in {"true", "false", "none", "null", "changeme-not-set"}


def secret_value_kind(text: str) -> str | None:
    """What kind of credential ``text`` contains, or None."""
    for kind, pattern in SECRET_VALUE_PATTERNS:
        if pattern.search(text):
            return kind
    return None


def high_entropy_literal(value: str) -> bool:
    """A value that looks generated (a key or token) rather than written: see HIGH_ENTROPY_BITS.
    Lists, host names, module paths, URLs and paths (``.``, ``,``, ``:``, a leading ``/``) and
    UUIDs are never counted."""
    text = value.strip().strip("'\"")
    if len(text) < HIGH_ENTROPY_MIN_LENGTH or any(c.isspace() or c in ".,:" for c in text):
        return False
    if text.startswith(("/", "$", "{{")) or UUID.match(text):
        return False
    classes = sum(
        [
            any(c.islower() for c in text),
            any(c.isupper() for c in text),
            any(c.isdigit() for c in text),
            any(not c.isalnum() for c in text),
        ]
    )
    if classes < 3:
        return False
    counts = {c: text.count(c) for c in set(text)}
    bits = -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())
    return bits >= HIGH_ENTROPY_BITS


def _env_problems(where: str, env: Mapping[str, Any]) -> list[str]:
    problems = []
    for name, value in sorted(env.items()):
        if not isinstance(value, str):
            continue
        kind = secret_value_kind(value)
        if kind:
            problems.append(f"{where} {name} holds {kind} in plaintext; pass it as a secret reference")
        elif sensitive_name(name) and literal_value(value):
            problems.append(f"{where} {name} is a secret set as a literal value; pass it as a secret reference")
        elif literal_value(value) and high_entropy_literal(value):
            problems.append(
                f"{where} {name} holds a random-looking literal (a generated key or token?) in plaintext; "
                "pass secrets as secret references, whatever their name"
            )
    return problems


def _decode_user_data(value: str) -> str:
    """User data as text: launch templates carry it base64-encoded, instances often in clear."""
    compact = "".join(value.split())
    if compact and re.fullmatch(r"[A-Za-z0-9+/=]+", compact):
        try:
            return base64.b64decode(compact, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            pass
    return value


def user_data_problems(text: str) -> list[str]:
    # cloud-config embeds files as YAML strings with escaped newlines; scan them as lines.
    text = text.replace("\\n", "\n")
    problems = []
    kind = secret_value_kind(text)
    if kind:
        problems.append(f"userData contains {kind}")
    # Assignments count outside comments only (comments document formats: "KEY='value'").
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    for match in ENV_ASSIGNMENT.finditer(code):
        name, value = match.group(1), match.group(2)
        if sensitive_name(name) and literal_value(value):
            problems.append(f"userData assigns {name} a literal value")
        elif literal_value(value) and high_entropy_literal(_unquote(value)):
            problems.append(f"userData assigns {name} a random-looking literal (a generated key or token?)")
    return problems


def _tag_maps(resource_type: str, props: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for key in ("tags", "tagsAll", "labels", "userLabels"):
        if isinstance(props.get(key), Mapping):
            yield key, props[key]
    if isinstance(_get(props, "settings.userLabels"), Mapping):
        yield "settings.userLabels", _get(props, "settings.userLabels")
    for i, spec in enumerate(_items(props.get("tagSpecifications"))):
        if isinstance(_get(spec, "tags"), Mapping):
            yield f"tagSpecifications[{i}].tags", _get(spec, "tags")
    tags = props.get("tags")
    if isinstance(tags, Sequence) and not isinstance(tags, str):  # Auto Scaling group: [{key, value}]
        yield "tags", {str(_get(t, "key")): _get(t, "value") for t in tags if isinstance(t, Mapping)}


def _check_plaintext_secrets(resource_type: str, props: Mapping[str, Any], context: Context) -> list[str]:
    secret = context.secret_props
    problems = []
    if "template" not in secret and "containerDefinitions" not in secret:
        for container in _containers(resource_type, props):
            env = {
                str(_get(e, "name")): _get(e, "value")
                for e in _items(container.get("envs"))
                + _items(container.get("env"))
                + _items(container.get("environment"))
                if isinstance(e, Mapping) and _get(e, "value") is not None
            }
            problems += _env_problems(f"container {container.get('name', '?')} env", env)
    if resource_type.startswith("command:") and "environment" not in secret:
        environment = props.get("environment")
        if isinstance(environment, Mapping):
            problems += _env_problems("command environment", environment)
    if resource_type in {LAUNCH_TEMPLATE, EC2_INSTANCE}:
        for key in ("userData", "userDataBase64"):
            if isinstance(props.get(key), str) and key not in secret:
                problems += user_data_problems(_decode_user_data(props[key]))
    # Files rendered for a host (the server bootstrap's uploads): the app's env file never holds a
    # Pulumi secret by design (the bootstrap appends those on the host), so a credential in it came
    # from plain stack config such as app.extraEnv, whether or not the upload itself is a secret.
    rendered: dict[str, dict[str, str]] = {}
    for setting in env_settings(resource_type, props, Context()):
        if setting.where.startswith("stdin file "):
            rendered.setdefault(setting.where, {})[setting.name] = setting.value
    for where, env in sorted(rendered.items()):
        problems += _env_problems(where, env)
    for where, tags in _tag_maps(resource_type, props):
        if where.split(".")[0].split("[")[0] in secret:
            continue
        for key, value in sorted(tags.items()):
            if not isinstance(value, str):
                continue
            kind = secret_value_kind(value)
            if kind:
                problems.append(f"{where}.{key} holds {kind}; tags and labels are readable by anyone who can list")
            elif sensitive_name(str(key)) and literal_value(value):
                problems.append(f"{where}.{key} looks like a secret; never put secrets in tags or labels")
    return problems


# --------------------------------------------------------------------------------------------------
# 10. Runtime identities are not administrators
# --------------------------------------------------------------------------------------------------

ADMIN_MANAGED_POLICIES = frozenset({"AdministratorAccess", "PowerUserAccess", "IAMFullAccess"})
GCP_ADMIN_ROLES = frozenset({"roles/owner", "roles/editor"})


def _admin_managed_policy(arn: Any) -> bool:
    return isinstance(arn, str) and arn.startswith("arn:aws") and arn.rsplit("/", 1)[-1] in ADMIN_MANAGED_POLICIES


def _allow_not_statements(document: Any) -> list[str]:
    """``Allow`` statements written as exclusions: ``NotAction`` grants every action but the listed
    ones (including every action AWS adds later), ``NotPrincipal`` every principal but the listed
    ones (anonymous users included)."""
    policy = _load_json(document)
    found = []
    for i, statement in enumerate(_items(_get(policy, "Statement"))):
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
    policy = _load_json(document)
    found = _allow_not_statements(document)
    for i, statement in enumerate(_items(_get(policy, "Statement"))):
        if not isinstance(statement, Mapping) or statement.get("Effect") != "Allow":
            continue
        actions = [str(a) for a in _items(statement.get("Action"))]
        resources = [str(r) for r in _items(statement.get("Resource"))]
        if any(a in {"*", "*:*"} for a in actions) and "*" in resources:
            found.append(f"statement {statement.get('Sid', i)!r} allows Action * on Resource *")
        elif any(a == "iam:*" for a in actions) and "*" in resources:
            found.append(f"statement {statement.get('Sid', i)!r} allows iam:* on Resource * (privilege escalation)")
    return found


def _gcp_iam_roles(props: Mapping[str, Any]) -> list[str]:
    roles = _items(props.get("role"))
    policy = _load_json(props.get("policyData"))
    roles += [_get(binding, "role") for binding in _items(_get(policy, "bindings"))]
    return sorted({str(r) for r in roles if r in GCP_ADMIN_ROLES})


def _check_admin_identities(resource_type: str, props: Mapping[str, Any], context: Context) -> list[str]:
    if resource_type.startswith("aws:iam/"):
        problems = []
        arns = _items(props.get("policyArn")) + _items(props.get("managedPolicyArns")) + _items(props.get("policyArns"))
        problems += [f"attaches {arn}" for arn in arns if _admin_managed_policy(arn)]
        if "policy" in props and resource_type != "aws:iam/role:Role":
            problems += _wildcard_statements(props.get("policy"))
        if "assumeRolePolicy" in props:
            problems += [f"assumeRolePolicy: {p}" for p in _allow_not_statements(props.get("assumeRolePolicy"))]
        for inline in _items(props.get("inlinePolicies")):
            problems += [
                f"inline policy {_get(inline, 'name', '?')}: {p}" for p in _wildcard_statements(_get(inline, "policy"))
            ]
        return problems
    if resource_type.startswith("gcp:") and "iam" in resource_type.lower():
        return [f"grants {role}: give the runtime identity narrow roles only" for role in _gcp_iam_roles(props)]
    return []


# --------------------------------------------------------------------------------------------------
# 11. What the app really runs with: the environment and files the program renders
# --------------------------------------------------------------------------------------------------
# The same settings reach the app by different roads: Cloud Run and ECS container env, the
# environment of pulumi-command steps, EC2 user data (cloud-config write_files), and on the server
# target the files the bootstrap's stdin uploads (``base64 -d > <path> <<'EOF'`` blocks). These
# checks read all of them, so a value set through ``app.extraEnv`` is seen where it lands.

HEREDOC_FILE = re.compile(r"base64 -d > (\S+) <<'(\w+)'\n(.*?)\n\2(?:\n|$)", re.S)
TRUE_WORDS = frozenset({"1", "true", "yes", "on", "y", "t"})
DEBUG_NAMES = frozenset({"DJANGO_DEBUG", "DEBUG"})
ALLOWED_HOSTS_NAMES = frozenset({"ALLOWED_HOSTS", "DJANGO_ALLOWED_HOSTS"})
HSTS_NAMES = frozenset({"SECURE_HSTS_SECONDS", "DJANGO_SECURE_HSTS_SECONDS"})
HSTS_OFF_HEADER = re.compile(r"Strict-Transport-Security\s+[\"']?\s*max-age\s*=\s*0*[\"';\s]", re.I)
PLAINTEXT_SSLMODES = frozenset({"disable", "allow"})
LOOPBACK_HOSTS = frozenset({"", "localhost", "127.0.0.1", "::1", "[::1]"})
POSTGRES_URL = re.compile(r"\bpostgres(?:ql)?://[^\s'\"]+")


@dataclass(frozen=True)
class RenderedText:
    """One piece of text the program hands to a host or container."""

    where: str
    text: str
    carries_secrets: bool = False
    """True for the channel built to carry secrets (the bootstrap's stdin prelude, which exports
    them): its values are never reported as plaintext secrets."""


@dataclass(frozen=True)
class EnvSetting:
    where: str
    name: str
    value: str
    carries_secrets: bool = False


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    if value.startswith("'"):
        try:
            return "".join(shlex.split(value))
        except ValueError:
            return value
    return value


def _cloud_config_files(text: str) -> list[tuple[str, str]]:
    """``write_files`` of a cloud-config document: (path, content), base64 content decoded."""
    try:
        import yaml

        document = yaml.safe_load(text)
    except Exception:  # not YAML (a shell script), or no PyYAML: the raw text is still scanned
        return []
    files = []
    for entry in _items(_get(document, "write_files")):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("content"), str):
            continue
        content = entry["content"]
        if str(entry.get("encoding", "")).lower() in {"b64", "base64"}:
            try:
                content = base64.b64decode(content).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                continue
        files.append((str(entry.get("path", "?")), content))
    return files


def rendered_texts(resource_type: str, props: Mapping[str, Any]) -> list[RenderedText]:
    """The rendered files and scripts a resource carries (see the section comment)."""
    texts: list[RenderedText] = []
    stdin = props.get("stdin")
    if isinstance(stdin, str) and stdin:
        script = stdin
        for match in HEREDOC_FILE.finditer(stdin):
            path, body = match.group(1).strip("'\""), match.group(3)
            try:
                decoded = base64.b64decode("".join(body.split()), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                continue
            texts.append(RenderedText(f"stdin file {path}", decoded))
            script = script.replace(match.group(0), "\n")
        texts.append(RenderedText("stdin", script, carries_secrets=True))
    if resource_type in {LAUNCH_TEMPLATE, EC2_INSTANCE}:
        for key in ("userData", "userDataBase64"):
            if isinstance(props.get(key), str):
                text = _decode_user_data(props[key])
                texts.append(RenderedText(key, text))
                texts += [RenderedText(f"{key} file {path}", content) for path, content in _cloud_config_files(text)]
    return texts


def _text_assignments(text: str) -> Iterator[tuple[str, str]]:
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    for match in ENV_ASSIGNMENT.finditer(code):
        yield match.group(1), _unquote(match.group(2))


def env_settings(resource_type: str, props: Mapping[str, Any], context: Context) -> list[EnvSetting]:
    """Every ``NAME=value`` the resource gives an app or a host step (Pulumi secrets excepted)."""
    secret = context.secret_props
    found: list[EnvSetting] = []
    if "template" not in secret and "containerDefinitions" not in secret:
        for container in _containers(resource_type, props):
            where = f"container {container.get('name', '?')} env"
            entries = [e for key in ("envs", "env", "environment") for e in _items(container.get(key))]
            for entry in entries:
                if isinstance(entry, Mapping) and isinstance(_get(entry, "value"), str):
                    found.append(EnvSetting(where, str(_get(entry, "name")), entry["value"]))
    environment = props.get("environment")
    if resource_type.startswith("command:") and "environment" not in secret and isinstance(environment, Mapping):
        found += [EnvSetting("command environment", str(k), v) for k, v in environment.items() if isinstance(v, str)]
    for rendered in rendered_texts(resource_type, props):
        # Only whole files (and the stdin script) are parsed; the raw user data was split into its
        # files above, so its assignments are not counted twice.
        if rendered.where in {"userData", "userDataBase64"} and _cloud_config_files(rendered.text):
            continue
        found += [
            EnvSetting(rendered.where, name, value, rendered.carries_secrets)
            for name, value in _text_assignments(rendered.text)
        ]
    return found


def _truthy(value: str) -> bool:
    return value.strip().strip("'\"").lower() in TRUE_WORDS


def _check_debug_and_hosts(resource_type: str, props: Mapping[str, Any], context: Context) -> list[str]:
    problems = []
    for setting in env_settings(resource_type, props, context):
        if setting.name in DEBUG_NAMES and _truthy(setting.value):
            problems.append(
                f"{setting.where}: {setting.name}={setting.value} turns on Django's debug mode, which shows "
                "settings and tracebacks to visitors; set it false (and not through app.extraEnv)"
            )
        if setting.name in ALLOWED_HOSTS_NAMES and "*" in [h.strip() for h in setting.value.split(",")]:
            problems.append(
                f"{setting.where}: {setting.name} contains '*', so Django answers for any Host header "
                "(host header poisoning); list the stack's domains"
            )
    return sorted(set(problems))


def _check_prod_hsts(resource_type: str, props: Mapping[str, Any], context: Context) -> list[str]:
    if not context.is_prod:
        return []
    problems = []
    for setting in env_settings(resource_type, props, context):
        seconds = _number(setting.value.strip().strip("'\""))
        if setting.name in HSTS_NAMES and seconds is not None and seconds <= 0:
            problems.append(
                f"{setting.where}: {setting.name}={setting.value} switches HSTS off in production; "
                "set web.hstsSeconds to at least 300 (one year once HTTPS is proven)"
            )
    for rendered in rendered_texts(resource_type, props):
        if HSTS_OFF_HEADER.search(rendered.text):
            problems.append(f"{rendered.where}: sends Strict-Transport-Security max-age=0 in production")
    return sorted(set(problems))


def _url_sslmode(url: str) -> tuple[str, str | None]:
    """(host, sslmode) of a postgres:// URL; sslmode None when the URL does not set it."""
    from urllib.parse import parse_qs, urlsplit

    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return "", None
    modes = parse_qs(parts.query).get("sslmode")
    if not host and "host" in parse_qs(parts.query):
        host = parse_qs(parts.query)["host"][0]
    return host, (modes[-1].lower() if modes else None)


def _check_prod_database_tls(resource_type: str, props: Mapping[str, Any], context: Context) -> list[str]:
    if not context.is_prod:
        return []
    problems = []
    for setting in env_settings(resource_type, props, context):
        if setting.name.endswith("SSLMODE") and setting.value.strip().strip("'\"").lower() in PLAINTEXT_SSLMODES:
            problems.append(
                f"{setting.where}: {setting.name}={setting.value} lets the app talk to a production database "
                "without TLS; use require or verify-full"
            )
        for url in POSTGRES_URL.findall(setting.value):
            host, mode = _url_sslmode(url)
            # A database on the same host (loopback or a unix socket) never crosses a network.
            if mode in PLAINTEXT_SSLMODES and host not in LOOPBACK_HOSTS and not host.startswith("/"):
                problems.append(
                    f"{setting.where}: {setting.name} connects to the external database {host} with "
                    f"sslmode={mode} in production; use require or verify-full"
                )
    return sorted(set(problems))


# --------------------------------------------------------------------------------------------------
# The pack's contents
# --------------------------------------------------------------------------------------------------

GUARDRAILS: tuple[Guardrail, ...] = (
    Guardrail(
        "no-public-database",
        "Databases have no public endpoint: RDS publiclyAccessible false; Cloud SQL without a public IPv4 "
        "address or a 0.0.0.0/0 authorized network.",
        _check_public_database,
        frozenset({RDS_INSTANCE, RDS_CLUSTER_INSTANCE, CLOUD_SQL}),
    ),
    Guardrail(
        "database-encrypted-at-rest",
        "RDS instances and clusters set storageEncrypted.",
        _check_database_encryption,
        frozenset({RDS_INSTANCE, RDS_CLUSTER}),
    ),
    Guardrail(
        "cache-encrypted-at-rest",
        "ElastiCache Redis replication groups set atRestEncryptionEnabled.",
        _check_cache_encryption,
        frozenset({ELASTICACHE_REPLICATION_GROUP, ELASTICACHE_CLUSTER}),
    ),
    Guardrail(
        "bucket-encrypted-at-rest",
        "S3 default encryption sets an algorithm on every rule; GCS buckets (encrypted by Google) use "
        "uniform bucket-level access.",
        _check_bucket_encryption,
        frozenset({S3_SSE, S3_SSE_V2, S3_BUCKET, S3_BUCKET_V2, GCS_BUCKET}),
    ),
    Guardrail(
        "volume-encrypted-at-rest",
        "EC2 launch templates, instances and EBS volumes encrypt their block devices.",
        _check_volume_encryption,
        frozenset({LAUNCH_TEMPLATE, EC2_INSTANCE, EBS_VOLUME}),
    ),
    Guardrail(
        "redis-encrypted-in-transit",
        "ElastiCache sets transitEncryptionEnabled; Memorystore uses SERVER_AUTHENTICATION and AUTH.",
        _check_redis_in_transit,
        frozenset({ELASTICACHE_REPLICATION_GROUP, ELASTICACHE_CLUSTER, MEMORYSTORE}),
    ),
    Guardrail(
        "postgres-requires-tls",
        "Cloud SQL PostgreSQL refuses unencrypted connections (sslMode); RDS parameter groups never turn "
        "rds.force_ssl off.",
        _check_postgres_tls,
        frozenset({CLOUD_SQL, RDS_PARAMETER_GROUP, RDS_CLUSTER_PARAMETER_GROUP}),
    ),
    Guardrail(
        "no-admin-ports-open-to-internet",
        "No security group, rule or firewall opens SSH (22), PostgreSQL (5432), MySQL (3306) or Redis "
        "(6379) to 0.0.0.0/0 or ::/0.",
        _check_open_ports,
        frozenset({SECURITY_GROUP, SECURITY_GROUP_RULE, SG_INGRESS_RULE, GCP_FIREWALL}),
    ),
    Guardrail(
        "imdsv2-required",
        "Launch templates and instances require IMDSv2 (metadataOptions.httpTokens = required).",
        _check_imdsv2,
        frozenset({LAUNCH_TEMPLATE, EC2_INSTANCE}),
    ),
    Guardrail(
        "no-latest-images",
        "Cloud Run services, jobs and worker pools (and ECS tasks) run a pinned image: a release tag or a "
        "digest, never latest or no tag.",
        _check_latest_images,
        frozenset({CLOUD_RUN_SERVICE, CLOUD_RUN_JOB, CLOUD_RUN_WORKER_POOL, CLOUD_RUN_V1_SERVICE, ECS_TASK_DEFINITION}),
    ),
    Guardrail(
        "prod-database-protection",
        "In production, databases keep backups for at least 7 days and have deletion protection on.",
        _check_prod_database_protection,
        frozenset({RDS_INSTANCE, RDS_CLUSTER, CLOUD_SQL}),
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
    Guardrail(
        "no-plaintext-secrets",
        "Secrets never appear as plain container or command environment values, EC2 user data, tags or "
        "labels (Pulumi secrets excepted).",
        _check_plaintext_secrets,
    ),
    Guardrail(
        "no-admin-runtime-identity",
        "IAM roles and policies grant no AdministratorAccess/PowerUserAccess and no Action * on Resource *; "
        "GCP IAM grants no roles/owner or roles/editor.",
        _check_admin_identities,
    ),
    Guardrail(
        "no-django-debug-or-wildcard-hosts",
        "The app never runs with DJANGO_DEBUG on or '*' in ALLOWED_HOSTS, however they are set (container "
        "or command env, user data, the server's rendered env file).",
        _check_debug_and_hosts,
    ),
    Guardrail(
        "prod-hsts-enabled",
        "In production, HSTS stays on: no SECURE_HSTS_SECONDS=0 and no Strict-Transport-Security max-age=0.",
        _check_prod_hsts,
    ),
    Guardrail(
        "prod-database-tls",
        "In production, the app connects to an external database with TLS: no sslmode=disable or allow.",
        _check_prod_database_tls,
    ),
)

PROD_ONLY = frozenset({"prod-database-protection", "prod-hsts-enabled", "prod-database-tls"})
"""Guardrails that apply only when the stack's environment is a production one."""

STACK_GUARDRAILS: tuple[StackGuardrail, ...] = (
    StackGuardrail(
        "rds-parameter-group-forces-ssl",
        "Every PostgreSQL RDS instance uses a parameter group of this stack that sets rds.force_ssl=1.",
        _check_rds_uses_force_ssl,
    ),
    StackGuardrail(
        "s3-bucket-blocked-and-encrypted",
        "Every S3 bucket has a public access block with all four flags and default encryption.",
        _check_s3_buckets_guarded,
    ),
)


def by_name(name: str) -> Guardrail:
    return next(g for g in GUARDRAILS if g.name == name)


def stack_by_name(name: str) -> StackGuardrail:
    return next(g for g in STACK_GUARDRAILS if g.name == name)
