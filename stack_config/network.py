"""`genai-eks:network`: the VPC the program creates, or an existing one it uses."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import Field, model_validator

from stack_config.base import Cidr, ConfigModel, Items, OneOf, non_empty_list, refuse, text

AVAILABILITY_ZONE_COUNT = 3
NAT_GATEWAY_MODES = ("single", "perAz")
_PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)
SubnetId = Annotated[str, text(r"^subnet-[0-9a-f]{8,17}$", "a subnet id, e.g. subnet-0123456789abcdef0")]


class ExistingVpc(ConfigModel):
    """A VPC the program uses as it is: its subnets must carry the load-balancer role tags."""

    vpc_id: Annotated[str, text(r"^vpc-[0-9a-f]{8,17}$", "a VPC id, e.g. vpc-0123456789abcdef0")] = Field(
        description="use this VPC instead of creating one (then no other `network` key)"
    )
    private_subnet_ids: Annotated[tuple[SubnetId, ...], non_empty_list()] = Field(
        description="node subnets, at least 2 in different zones (tagged `kubernetes.io/role/internal-elb`)"
    )
    public_subnet_ids: Annotated[tuple[SubnetId, ...], non_empty_list()] = Field(
        description="load-balancer subnets (tagged `kubernetes.io/role/elb`)"
    )

    @model_validator(mode="after")
    def _two_zones(self) -> ExistingVpc:
        if len(self.private_subnet_ids) < 2:
            refuse(
                "at least 2 subnets in different availability zones (EKS requires 2)",
                list(self.private_subnet_ids),
                at=["privateSubnetIds"],
            )
        return self


class NetworkConfig(ConfigModel):
    """The VPC: 3 zones, large private subnets for nodes and pods, small public ones for load balancers."""

    vpc_cidr: Annotated[str, Cidr()] = Field(
        "10.0.0.0/16",
        description=("the VPC's private range, /16 to /20; split into 3 private quarters and 3 small public subnets"),
    )
    nat_gateways: Annotated[Literal["single", "perAz"], OneOf(*NAT_GATEWAY_MODES)] = Field(
        "single", description="one shared NAT gateway, or one per zone (`perAz` survives the loss of a zone)"
    )
    availability_zones: Annotated[
        tuple[Annotated[str, text(r"^[a-z]{2}(-[a-z]+)+-\d[a-z]$", "an availability zone, e.g. us-west-2a")], ...],
        Items(),
    ] = Field(
        (),
        description="pin the 3 zones, e.g. where g6 spot capacity is",
        json_schema_extra={"x-default": "the region's first 3"},
    )
    existing_vpc: ExistingVpc | None = Field(None, description="an existing VPC to use instead of creating one")

    @model_validator(mode="after")
    def _rules(self) -> NetworkConfig:
        network = ipaddress.IPv4Network(self.vpc_cidr)
        if not 16 <= network.prefixlen <= 20:
            refuse("a prefix length from /16 to /20 (smaller VPCs run out of pod IPs)", self.vpc_cidr, at=["vpcCidr"])
        if not any(network.subnet_of(private) for private in _PRIVATE_NETWORKS):  # type: ignore[arg-type]
            refuse(
                "a private range inside 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or 100.64.0.0/10",
                self.vpc_cidr,
                at=["vpcCidr"],
            )
        if self.availability_zones and len(self.availability_zones) != AVAILABILITY_ZONE_COUNT:
            refuse(
                f"exactly {AVAILABILITY_ZONE_COUNT} zones, or none for the region's first {AVAILABILITY_ZONE_COUNT}",
                list(self.availability_zones),
                at=["availabilityZones"],
            )
        if self.existing_vpc is not None:
            for unused in ("vpc_cidr", "nat_gateways", "availability_zones"):
                if unused in self.model_fields_set:
                    refuse(
                        "no value when existingVpc is set (the VPC is not ours to shape)",
                        _plain(getattr(self, unused)),
                        at=[type(self).model_fields[unused].alias or unused],
                    )
        return self

    def check_zones(self, region: str, key: str) -> None:
        """Zones belong to the stack's region (the root model calls this: the region is another key)."""
        for i, zone in enumerate(self.availability_zones):
            if not (
                zone.startswith(region) and len(zone) == len(region) + 1 and zone[-1].isalpha() and zone[-1].islower()
            ):
                refuse(f"a zone of {region}, e.g. {region}a", zone, at=[key, "availabilityZones", i])

    @property
    def private_subnet_cidrs(self) -> tuple[str, ...]:
        """Three large private subnets (nodes and pods: the VPC CNI gives every pod a VPC IP)."""
        quarters = list(ipaddress.IPv4Network(self.vpc_cidr).subnets(prefixlen_diff=2))
        return tuple(str(n) for n in quarters[:AVAILABILITY_ZONE_COUNT])

    @property
    def public_subnet_cidrs(self) -> tuple[str, ...]:
        """Three small public subnets (load balancers and NAT gateways only), from the last quarter."""
        last_quarter = list(ipaddress.IPv4Network(self.vpc_cidr).subnets(prefixlen_diff=2))[3]
        return tuple(str(n) for n in list(last_quarter.subnets(prefixlen_diff=2))[:AVAILABILITY_ZONE_COUNT])


def _plain(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value
