"""The VPC: three AZs, private subnets for nodes and pods, public subnets for load balancers."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from stack_config import AVAILABILITY_ZONE_COUNT, NetworkConfig


@dataclass(frozen=True)
class NetworkArgs:
    config: NetworkConfig
    cluster_name: str
    region: str
    # Karpenter finds the node subnets by this tag (EC2NodeClass subnetSelectorTerms): karpenter.sh/discovery.
    discovery_tag: str | None = None


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    private_subnet_ids: pulumi.Output[list[str]]
    public_subnet_ids: pulumi.Output[list[str]]
    discovery_tags: tuple[pulumi.Resource, ...] = ()  # Karpenter's tags on subnets the stack does not own

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("genai:infra:Network", name, None, opts)
        existing = args.config.existing_vpc
        if existing is not None:
            # Bring-your-own VPC: nothing is created; the subnets must already carry the ELB role tags.
            self.vpc_id = pulumi.Output.from_input(existing.vpc_id)
            self.private_subnet_ids = pulumi.Output.from_input(list(existing.private_subnet_ids))
            self.public_subnet_ids = pulumi.Output.from_input(list(existing.public_subnet_ids))
            # The one tag added to subnets this stack does not own: its own, removed again on destroy.
            for i, subnet_id in enumerate(existing.private_subnet_ids if args.discovery_tag else ()):
                tag = aws.ec2.Tag(
                    f"{name}-private-{i}-discovery",
                    resource_id=subnet_id,
                    key=str(args.discovery_tag),
                    value=args.cluster_name,
                    opts=pulumi.ResourceOptions(parent=self),
                )
                self.discovery_tags += (tag,)
        else:
            self._create(name, args)
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "private_subnet_ids": self.private_subnet_ids,
                "public_subnet_ids": self.public_subnet_ids,
            }
        )

    def _create(self, name: str, args: NetworkArgs) -> None:
        cfg = args.config
        child = pulumi.ResourceOptions(parent=self)
        zones = (
            list(cfg.availability_zones)
            or aws.get_availability_zones(
                state="available",
                # Regular zones only: Local and Wavelength Zones lack EKS control-plane support and GPU instances.
                filters=[aws.GetAvailabilityZonesFilterArgs(name="opt-in-status", values=["opt-in-not-required"])],
            ).names
        )
        if len(zones) < AVAILABILITY_ZONE_COUNT:
            raise ValueError(
                f"the region offers {len(zones)} availability zones; the network needs {AVAILABILITY_ZONE_COUNT}"
            )
        zones = zones[:AVAILABILITY_ZONE_COUNT]

        vpc = aws.ec2.Vpc(
            name,
            cidr_block=cfg.vpc_cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": f"{args.cluster_name}-vpc"},
            opts=child,
        )
        igw = aws.ec2.InternetGateway(name, vpc_id=vpc.id, tags={"Name": f"{args.cluster_name}-igw"}, opts=child)
        public_rt = aws.ec2.RouteTable(
            f"{name}-public",
            vpc_id=vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
            tags={"Name": f"{args.cluster_name}-public"},
            opts=child,
        )
        public, private, nat_ids = [], [], []
        for i, (zone, cidr) in enumerate(zip(zones, cfg.public_subnet_cidrs, strict=True)):
            subnet = aws.ec2.Subnet(
                f"{name}-public-{i}",
                vpc_id=vpc.id,
                cidr_block=cidr,
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags={"Name": f"{args.cluster_name}-public-{zone}", "kubernetes.io/role/elb": "1"},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{i}", subnet_id=subnet.id, route_table_id=public_rt.id, opts=child
            )
            public.append(subnet)
            if cfg.nat_gateways == "perAz" or i == 0:
                eip = aws.ec2.Eip(
                    f"{name}-nat-{i}", domain="vpc", tags={"Name": f"{args.cluster_name}-nat-{zone}"}, opts=child
                )
                nat = aws.ec2.NatGateway(
                    f"{name}-{i}",
                    allocation_id=eip.id,
                    subnet_id=subnet.id,
                    tags={"Name": f"{args.cluster_name}-nat-{zone}"},
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
                )
                nat_ids.append(nat.id)

        private_route_tables = []
        for i, (zone, cidr) in enumerate(zip(zones, cfg.private_subnet_cidrs, strict=True)):
            subnet = aws.ec2.Subnet(
                f"{name}-private-{i}",
                vpc_id=vpc.id,
                cidr_block=cidr,
                availability_zone=zone,
                tags={
                    "Name": f"{args.cluster_name}-private-{zone}",
                    "kubernetes.io/role/internal-elb": "1",
                    **({args.discovery_tag: args.cluster_name} if args.discovery_tag else {}),
                },
                opts=child,
            )
            # With one NAT gateway every zone routes through it; per-AZ NAT keeps a zone's traffic in the zone.
            rt = aws.ec2.RouteTable(
                f"{name}-private-{i}",
                vpc_id=vpc.id,
                routes=[
                    aws.ec2.RouteTableRouteArgs(
                        cidr_block="0.0.0.0/0", nat_gateway_id=nat_ids[min(i, len(nat_ids) - 1)]
                    )
                ],
                tags={"Name": f"{args.cluster_name}-private-{zone}"},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(f"{name}-private-{i}", subnet_id=subnet.id, route_table_id=rt.id, opts=child)
            private.append(subnet)
            private_route_tables.append(rt)

        # Free gateway endpoint: model weights and datasets from S3 skip the NAT gateway's per-GB charge.
        aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=vpc.id,
            service_name=f"com.amazonaws.{args.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[rt.id for rt in private_route_tables],
            tags={"Name": f"{args.cluster_name}-s3"},
            opts=child,
        )

        self.vpc_id = vpc.id
        self.private_subnet_ids = pulumi.Output.all(*[s.id for s in private])
        self.public_subnet_ids = pulumi.Output.all(*[s.id for s in public])
