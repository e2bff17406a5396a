"""Network: the VPC the stack runs in, created here or read from another stack.

mode ``create`` makes:
- a VPC on ``network.cidr`` with DNS support and hostnames;
- per AZ (zones from ``aws.get_availability_zones_output``, the first ``az_count``): a public and a
  private subnet carved with ``ipaddress`` (``djangostack.targets.aws.rules.plan_subnets``);
- an internet gateway and one public route table (0.0.0.0/0 -> IGW; the subnets are IPv4-only);
- NAT: ``none`` (private subnets have no internet route), ``single`` (one NAT gateway in the first
  public subnet shared by every AZ) or ``per-az`` (one NAT gateway and Elastic IP per AZ, so losing
  an AZ never cuts the others off);
- one private route table per AZ (pointing at its NAT gateway when there is one).

mode ``reference`` makes no network resources: a ``pulumi.StackReference`` to ``network.reference.stack``
supplies the VPC id and subnet ids through ``require_output``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_aws as aws

from ...contract.outputs import require_output
from .rules import plan_subnets


@dataclass(frozen=True)
class NetworkReferenceArgs:
    """Where an existing network is exported."""

    stack: str
    """Fully qualified stack name (org/project/stack)."""
    vpc_id_output: str = "vpcId"
    public_subnet_ids_output: str = "publicSubnetIds"
    private_subnet_ids_output: str = "privateSubnetIds"


@dataclass(frozen=True)
class NetworkArgs:
    """Inputs of ``Network``."""

    mode: Literal["create", "reference"]
    cidr: str
    """VPC range (mode create); subnets are carved from it."""
    az_count: int
    """How many Availability Zones get a public + private subnet pair (2-6)."""
    nat: Literal["none", "single", "per-az"]
    reference: NetworkReferenceArgs | None = None
    tags: dict[str, str] | None = None


class Network(pulumi.ComponentResource):
    """A VPC with public and private subnets across AZs, or a reference to one."""

    vpc_id: pulumi.Output[str]
    """The VPC every security group and subnet group lives in."""
    public_subnet_ids: pulumi.Output[list[str]]
    """Subnets with a route to the internet gateway (load balancer, single instance, NAT)."""
    private_subnet_ids: pulumi.Output[list[str]]
    """Subnets without public addresses (database, cache, Auto Scaling group)."""

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("djangostack:aws:Network", name, None, opts)
        self._name = name
        self._tags = dict(args.tags or {})
        if args.mode == "reference":
            if args.reference is None:
                raise ValueError("Network mode 'reference' needs NetworkArgs.reference")
            self._reference_network(args.reference)
        else:
            self._create_network(args)
        self.register_outputs(
            {
                "vpcId": self.vpc_id,
                "publicSubnetIds": self.public_subnet_ids,
                "privateSubnetIds": self.private_subnet_ids,
            }
        )

    # ------------------------------------------------------------------------------------------

    def _reference_network(self, reference: NetworkReferenceArgs) -> None:
        stack = pulumi.StackReference(
            f"{self._name}-ref", stack_name=reference.stack, opts=pulumi.ResourceOptions(parent=self)
        )
        self.vpc_id = require_output(stack, reference.vpc_id_output).apply(str)
        self.public_subnet_ids = require_output(stack, reference.public_subnet_ids_output).apply(_str_list)
        self.private_subnet_ids = require_output(stack, reference.private_subnet_ids_output).apply(_str_list)

    def _create_network(self, args: NetworkArgs) -> None:
        name = self._name
        child = pulumi.ResourceOptions(parent=self)
        plan = plan_subnets(args.cidr, args.az_count)
        zones = aws.get_availability_zones_output(state="available", opts=pulumi.InvokeOutputOptions(parent=self))
        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.cidr,
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags=self._tagged(f"{name}-vpc"),
            opts=child,
        )
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=self._tagged(f"{name}-igw"), opts=child)
        public_rt = aws.ec2.RouteTable(
            f"{name}-public",
            vpc_id=vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
            tags=self._tagged(f"{name}-public"),
            opts=child,
        )
        public: list[aws.ec2.Subnet] = []
        private: list[aws.ec2.Subnet] = []
        for index in range(args.az_count):
            zone = zones.names.apply(functools.partial(_zone, index=index))
            public.append(self._subnet("public", index, plan.public[index], zone, vpc.id, child))
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{index}", subnet_id=public[-1].id, route_table_id=public_rt.id, opts=child
            )
            private.append(self._subnet("private", index, plan.private[index], zone, vpc.id, child))
        nat_ids = self._create_nat(args, public, igw)
        for index, subnet in enumerate(private):
            routes = []
            if nat_ids:
                nat_id = nat_ids[index] if len(nat_ids) > 1 else nat_ids[0]
                routes.append(aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat_id))
            table = aws.ec2.RouteTable(
                f"{name}-private-{index}",
                vpc_id=vpc.id,
                routes=routes,
                tags=self._tagged(f"{name}-private-{index}"),
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{index}", subnet_id=subnet.id, route_table_id=table.id, opts=child
            )
        self.vpc_id = vpc.id
        self.public_subnet_ids = pulumi.Output.all(*[s.id for s in public]).apply(_str_list)
        self.private_subnet_ids = pulumi.Output.all(*[s.id for s in private]).apply(_str_list)

    def _create_nat(
        self, args: NetworkArgs, public: Sequence[aws.ec2.Subnet], igw: aws.ec2.InternetGateway
    ) -> list[pulumi.Output[str]]:
        if args.nat == "none":
            return []
        count = len(public) if args.nat == "per-az" else 1
        ids: list[pulumi.Output[str]] = []
        for index in range(count):
            eip = aws.ec2.Eip(
                f"{self._name}-nat-{index}",
                domain="vpc",
                tags=self._tagged(f"{self._name}-nat-{index}"),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
            )
            nat = aws.ec2.NatGateway(
                f"{self._name}-nat-{index}",
                allocation_id=eip.id,
                subnet_id=public[index].id,
                tags=self._tagged(f"{self._name}-nat-{index}"),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
            )
            ids.append(nat.id)
        return ids

    def _subnet(
        self,
        tier: str,
        index: int,
        cidr: str,
        zone: pulumi.Input[str],
        vpc_id: pulumi.Input[str],
        opts: pulumi.ResourceOptions,
    ) -> aws.ec2.Subnet:
        """The ``tier`` (public or private) subnet of zone ``index``. Nothing gets a public address
        by accident, in either tier: the single instance uses an Elastic IP."""
        return aws.ec2.Subnet(
            f"{self._name}-{tier}-{index}",
            vpc_id=vpc_id,
            cidr_block=cidr,
            availability_zone=zone,
            map_public_ip_on_launch=False,
            tags=self._tagged(f"{self._name}-{tier}-{index}", tier=tier),
            opts=opts,
        )

    def _tagged(self, resource_name: str, **extra: str) -> dict[str, str]:
        return {**self._tags, "Name": resource_name, **extra}


def _zone(names: Sequence[str], index: int) -> str:
    if index >= len(names):
        raise ValueError(f"network.azCount asks for {index + 1} Availability Zones but the region offers {len(names)}")
    return names[index]


def _str_list(values: object) -> list[str]:
    if not isinstance(values, list | tuple):
        raise TypeError(f"expected a list of ids, got {values!r}")
    return [str(v) for v in values]
