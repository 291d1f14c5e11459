"""Managed node groups: an on-demand CPU system group and tainted spot GPU groups."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypedDict

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks

from infra.identity import service_trust_policy
from stack_config import GpuNodeGroupConfig, NodeGroupConfig

POOL_LABEL = "genai.platform/node-pool"
GPU_PRESENT_LABEL = "nvidia.com/gpu.present"
GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_TAINT_VALUE = "true"
GPU_AMI_TYPE = "AL2023_x86_64_NVIDIA"
CPU_AMI_TYPE = "AL2023_x86_64_STANDARD"

# What a node itself needs: join the cluster, pull images, run the VPC CNI. Nothing for workloads:
# they get IRSA roles of their own.
NODE_MANAGED_POLICIES = (
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly",
)
# What a launch tags as it creates it. Not spot-instances-request: a request is no cost item, and an
# on-demand launch naming it fails ("You cannot specify tags for Spot instances requests if there are
# no Spot instances requests being created", aws/karpenter-provider-aws#5850).
LAUNCH_TAGGED_RESOURCES = ("instance", "volume", "network-interface")


def node_role(
    name: str, description: str, opts: pulumi.ResourceOptions
) -> tuple[aws.iam.Role, list[aws.iam.RolePolicyAttachment]]:
    """A role EC2 nodes assume, with exactly what a node needs (NODE_MANAGED_POLICIES)."""
    role = aws.iam.Role(
        name,
        assume_role_policy=json.dumps(service_trust_policy("ec2.amazonaws.com")),
        description=description,
        opts=opts,
    )
    attachments = [
        aws.iam.RolePolicyAttachment(f"{name}-{i}", role=role.name, policy_arn=arn, opts=opts)
        for i, arn in enumerate(NODE_MANAGED_POLICIES)
    ]
    return role, attachments


class Toleration(TypedDict):
    key: str
    operator: str
    value: str
    effect: str


@dataclass(frozen=True)
class GpuScheduling:
    """How a pod lands on a GPU node: the Kubernetes layer takes this instead of reaching into infra."""

    node_selector: dict[str, str]
    tolerations: tuple[Toleration, ...]


GPU_SCHEDULING = GpuScheduling(
    node_selector={GPU_PRESENT_LABEL: "true"},
    tolerations=({"key": GPU_TAINT_KEY, "operator": "Equal", "value": GPU_TAINT_VALUE, "effect": "NoSchedule"},),
)


@dataclass(frozen=True)
class NodeGroupsArgs:
    cluster: eks.Cluster
    cluster_name: str
    kubernetes_version: str
    subnet_ids: pulumi.Input[list[str]]
    system: NodeGroupConfig
    gpu: tuple[GpuNodeGroupConfig, ...]
    # aws:defaultTags: the provider's default tags stop at the launch template, not at what it launches.
    default_tags: Mapping[str, str] = field(default_factory=dict)


class NodeGroups(pulumi.ComponentResource):
    def __init__(self, name: str, args: NodeGroupsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("genai:infra:NodeGroups", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.node_role, attachments = node_role(f"{name}-node", f"EKS {args.cluster_name} worker nodes", child)
        self._args, self._attachments = args, attachments

        self.system = self._group(
            f"{name}-{args.system.name}",
            args.system,
            ami_type=CPU_AMI_TYPE,
            labels={POOL_LABEL: args.system.name},
            taints=None,
        )
        self.gpu = {
            group.name: self._group(
                f"{name}-{group.name}",
                group,
                ami_type=GPU_AMI_TYPE,
                labels={POOL_LABEL: group.name, GPU_PRESENT_LABEL: "true"},
                taints=[aws.eks.NodeGroupTaintArgs(key=GPU_TAINT_KEY, value=GPU_TAINT_VALUE, effect="NO_SCHEDULE")],
            )
            for group in args.gpu
        }
        self.register_outputs({})

    def _group(
        self,
        name: str,
        cfg: NodeGroupConfig,
        *,
        ami_type: str,
        labels: dict[str, str],
        taints: list[aws.eks.NodeGroupTaintArgs] | None,
    ) -> eks.ManagedNodeGroup:
        args = self._args
        tags = {**args.default_tags, "Name": f"{args.cluster_name}-{cfg.name}"}
        launch_template = aws.ec2.LaunchTemplate(
            name,
            description=f"EKS {args.cluster_name} node group {cfg.name}",
            # Encrypted gp3 root volume sized for model-serving images; EKS adds the AMI and user data.
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name="/dev/xvda",
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_size=cfg.disk_size_gib, volume_type="gp3", encrypted="true", delete_on_termination="true"
                    ),
                )
            ],
            # IMDSv2 only; hop limit 2 so the EBS CSI node plugin can read instance metadata from its pod.
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=2
            ),
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=tags)
                for kind in LAUNCH_TAGGED_RESOURCES
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )
        return eks.ManagedNodeGroup(
            name,
            cluster=args.cluster,
            node_group_name_prefix=f"{cfg.name}-",
            # A custom launch template stops the group following the cluster's version unless told.
            version=args.kubernetes_version,
            node_role_arn=self.node_role.arn,
            subnet_ids=args.subnet_ids,
            ami_type=ami_type,
            capacity_type=cfg.capacity_type,
            instance_types=list(cfg.instance_types),
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=cfg.min_size, desired_size=cfg.desired_size, max_size=cfg.max_size
            ),
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=launch_template.id, version=launch_template.latest_version.apply(str)
            ),
            labels=labels,
            taints=taints,
            opts=pulumi.ResourceOptions(parent=self, depends_on=self._attachments),
        )
