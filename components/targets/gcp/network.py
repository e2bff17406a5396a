"""The private network the Cloud Run workloads egress into.

Creates, in ``create`` mode:
- a custom-mode VPC (``auto_create_subnetworks=False``: no subnet in every region, no surprise ranges);
- the subnet Cloud Run's Direct VPC egress takes its addresses from (``egress_subnet_cidr``);
- private services access: a global ``VPC_PEERING`` address range and the ``servicenetworking``
  connection, through which Cloud SQL and Memorystore get private IPs in this VPC.

In ``reference`` mode the VPC comes from another stack (``pulumi.StackReference``; that stack owns the
network and its private services access, which exists once per VPC), and only this stack's egress
subnet is created in it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from ...contract.outputs import require_output


@dataclass(frozen=True)
class NetworkReferenceArgs:
    """Where an existing VPC is exported."""

    stack: str
    """Fully qualified stack name (org/project/stack)."""
    network_output: str
    """Name of that stack's output holding the VPC id (``projects/<p>/global/networks/<n>``)."""


@dataclass(frozen=True)
class PrivateNetworkArgs:
    """Inputs of ``PrivateNetwork``."""

    project: str
    region: str
    egress_subnet_cidr: str
    """Range of the Direct VPC egress subnet; Cloud Run instances take their addresses from it."""
    services_cidr: str
    """Range reserved for private services access (Cloud SQL, Memorystore); create mode only."""
    reference: NetworkReferenceArgs | None = None
    """Set: use that stack's VPC instead of creating one."""
    requires: Sequence[pulumi.Resource] = field(default_factory=tuple)
    """Enabled APIs (compute, servicenetworking) every child waits for."""


class PrivateNetwork(pulumi.ComponentResource):
    """A VPC (created or referenced) with an egress subnet and private services access."""

    network_id: pulumi.Output[str]
    """VPC id: ``projects/<project>/global/networks/<name>``."""
    subnetwork_id: pulumi.Output[str]
    """The Direct VPC egress subnet id."""
    private_services: pulumi.Resource | None
    """The servicenetworking connection (create mode); Cloud SQL and Memorystore wait for it."""

    def __init__(self, name: str, args: PrivateNetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("djangostack:gcp:PrivateNetwork", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=list(args.requires))
        if args.reference is None:
            check_ranges(args.egress_subnet_cidr, args.services_cidr)
            network = gcp.compute.Network(
                f"{name}-vpc",
                project=args.project,
                name=f"{name}-vpc",
                auto_create_subnetworks=False,
                routing_mode="REGIONAL",
                description="Django stack VPC: Cloud Run egress, Cloud SQL and Memorystore private IPs",
                opts=child,
            )
            self.network_id = network.id
            self.private_services = self._create_private_services(name, args, network)
        else:
            reference = pulumi.StackReference(
                f"{name}-network-ref", stack_name=args.reference.stack, opts=pulumi.ResourceOptions(parent=self)
            )
            self.network_id = require_output(reference, args.reference.network_output).apply(str)
            self.private_services = None
        subnet = gcp.compute.Subnetwork(
            f"{name}-egress",
            project=args.project,
            name=f"{name}-egress",
            region=args.region,
            network=self.network_id,
            ip_cidr_range=args.egress_subnet_cidr,
            # Google APIs (Secret Manager, GCS, Cloud SQL Admin) stay reachable on private addresses.
            private_ip_google_access=True,
            description="Direct VPC egress of the Cloud Run service, job and worker pools",
            opts=child,
        )
        self.subnetwork_id = subnet.id
        self.register_outputs({"networkId": self.network_id, "subnetworkId": self.subnetwork_id})

    def _create_private_services(
        self, name: str, args: PrivateNetworkArgs, network: gcp.compute.Network
    ) -> pulumi.Resource:
        services = ipaddress.ip_network(args.services_cidr)
        peering_range = gcp.compute.GlobalAddress(
            f"{name}-psa-range",
            project=args.project,
            name=f"{name}-psa",
            purpose="VPC_PEERING",
            address_type="INTERNAL",
            address=str(services.network_address),
            prefix_length=services.prefixlen,
            network=network.id,
            description="Private services access range for Cloud SQL and Memorystore",
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.requires)),
        )
        return gcp.servicenetworking.Connection(
            f"{name}-psa",
            network=network.id,
            service="servicenetworking.googleapis.com",
            reserved_peering_ranges=[peering_range.name],
            # Google refuses to delete the peering while a Cloud SQL instance still uses it (it
            # lingers for days after the instance is deleted); abandoning it lets destroy finish,
            # and the VPC deletion removes the peering with it.
            deletion_policy="ABANDON",
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.requires)),
        )


def check_ranges(egress_cidr: str, services_cidr: str) -> None:
    """Refuse an egress subnet inside the private services range (pure; also called by the target)."""
    egress = ipaddress.ip_network(egress_cidr)
    services = ipaddress.ip_network(services_cidr)
    if egress.overlaps(services):
        raise ValueError(
            f"djangostack:target.egressSubnetCidr ({egress}) overlaps djangostack:network.cidr ({services}), "
            "the range reserved for Cloud SQL and Memorystore; pick disjoint ranges "
            "(defaults: 10.8.0.0/26 and 10.20.0.0/16)"
        )
