"""``network``: create a network or reference another stack's."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import (
    Field,
    model_validator,
)

from .fields import Cidr, OutputName, PrivateCidr, SettingsModel


class NetworkReference(SettingsModel):
    """An existing network exported by another stack."""

    stack: Annotated[str, Field(max_length=400, pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+){0,2}$")]
    """Fully qualified stack name: org/project/stack (or project/stack on a file backend)."""
    vpc_id_output: OutputName = "vpcId"
    """Output names in the referenced stack; a dotted path reads inside a map output, so another
    stack of this program is referenced with ``networkIds.vpcId`` (and so on)."""
    public_subnet_ids_output: OutputName = "publicSubnetIds"
    """Output name of the public subnet IDs in the referenced stack."""
    private_subnet_ids_output: OutputName = "privateSubnetIds"
    """Output name of the private subnet IDs in the referenced stack."""
    cidr: PrivateCidr | None = None
    """The referenced network's CIDR, when known: checked for overlap with peered ranges."""


class NetworkSettings(SettingsModel):
    """The network the stack runs in: created, or taken from another stack."""

    mode: Literal["create", "reference"] = "create"
    """create: a network of its own; reference: another stack's network."""
    cidr: PrivateCidr = "10.20.0.0/16"
    """Private IPv4 range of a created network (/24 or larger)."""
    az_count: Annotated[int, Field(ge=2, le=6)] = 2
    """Availability zones the created network spans."""
    nat: Literal["none", "single", "per-az"] = "single"
    """NAT gateways for private subnets: none, one, or one per zone."""
    reference: NetworkReference | None = None
    """The other stack's network (mode reference)."""
    admin_cidrs: Annotated[list[Cidr], Field(max_length=50)] = []
    # 50 leaves room for the group's other rules under AWS's default 60 inbound rules per security
    # group (https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html).
    """Where SSH may come from; empty: SSH closed (Session Manager / console only)."""

    @model_validator(mode="after")
    def _reference_matches_mode(self) -> NetworkSettings:
        if self.mode == "reference" and self.reference is None:
            raise ValueError("reference: mode 'reference' needs network.reference.stack")
        if self.mode == "create" and self.reference is not None:
            raise ValueError("reference: only used with mode 'reference' (mode is 'create')")
        if ipaddress.ip_network(self.cidr).prefixlen > 24:
            raise ValueError(f"cidr: {self.cidr} is too small; use /24 or larger (e.g. /16)")
        for admin in self.admin_cidrs:
            if ipaddress.ip_network(admin).prefixlen == 0:
                raise ValueError(f"adminCidrs: must not contain {admin}; SSH is never open to the world")
        return self
