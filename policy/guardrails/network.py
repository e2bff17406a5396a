"""Network exposure: no SSH or database port open to the internet."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from .base import Context, Guardrail, as_list, as_number, dig
from .resource_types import GCP_FIREWALL, SECURITY_GROUP, SECURITY_GROUP_RULE, SG_INGRESS_RULE

SENSITIVE_PORTS: Mapping[int, str] = {22: "SSH", 3306: "MySQL", 5432: "PostgreSQL", 6379: "Redis"}
OPEN_CIDRS = frozenset({"0.0.0.0/0", "::/0"})
OPEN_PREFIX_LIMITS = {4: 8, 6: 16}
"""A public (non-private) network this large counts as "the internet": 0.0.0.0/1 and 128.0.0.0/1,
or ::/1 and 8000::/1, open everything between them just as 0.0.0.0/0 and ::/0 do. The largest IPv4
allocations are /8s and the largest IPv6 registry allocations are far smaller than /16."""


def is_open_cidr(cidr: Any) -> bool:
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
    low, high = as_number(from_port), as_number(to_port)
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


def _rule_problem(where: str, protocol: Any, from_port: Any, to_port: Any, cidrs: list[Any]) -> list[str]:
    open_cidrs = [c for c in cidrs if is_open_cidr(c)]
    ports = _exposed_ports(protocol, from_port, to_port)
    if not open_cidrs or not ports:
        return []
    return [f"{where} opens {_describe_ports(ports)} to {', '.join(map(str, open_cidrs))}; allow an admin CIDR only"]


def _check_open_ports(resource_type: str, props: Mapping[str, Any], context: Context) -> list[str]:
    if resource_type == SECURITY_GROUP:
        problems = []
        for i, rule in enumerate(as_list(props.get("ingress"))):
            cidrs = as_list(dig(rule, "cidrBlocks")) + as_list(dig(rule, "ipv6CidrBlocks"))
            problems += _rule_problem(
                f"ingress[{i}]", dig(rule, "protocol"), dig(rule, "fromPort"), dig(rule, "toPort"), cidrs
            )
        return problems
    if resource_type == SECURITY_GROUP_RULE:
        if props.get("type") != "ingress":
            return []
        cidrs = as_list(props.get("cidrBlocks")) + as_list(props.get("ipv6CidrBlocks"))
        return _rule_problem("the rule", props.get("protocol"), props.get("fromPort"), props.get("toPort"), cidrs)
    if resource_type == SG_INGRESS_RULE:
        cidrs = [props.get("cidrIpv4"), props.get("cidrIpv6")]
        return _rule_problem("the rule", props.get("ipProtocol"), props.get("fromPort"), props.get("toPort"), cidrs)
    if resource_type == GCP_FIREWALL:
        if str(props.get("direction", "INGRESS")).upper() != "INGRESS":
            return []
        cidrs = as_list(props.get("sourceRanges"))
        problems = []
        for allow in as_list(props.get("allows")):
            protocol = str(dig(allow, "protocol", "")).lower()
            ports = as_list(dig(allow, "ports"))
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


GUARDRAILS: tuple[Guardrail, ...] = (
    Guardrail(
        "no-admin-ports-open-to-internet",
        "No security group, rule or firewall opens SSH (22), PostgreSQL (5432), MySQL (3306) or Redis "
        "(6379) to 0.0.0.0/0 or ::/0.",
        _check_open_ports,
        frozenset({SECURITY_GROUP, SECURITY_GROUP_RULE, SG_INGRESS_RULE, GCP_FIREWALL}),
    ),
)
