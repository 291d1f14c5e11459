"""Karpenter: GPU nodes that exist while a pod asks for them, spot first, removed when idle.

The controller (chart 1.14.1) runs on the system node group with its own IRSA role (upstream's
reference controller policy, infra/karpenter_iam.py) and an encrypted SQS queue that EventBridge
feeds with spot interruptions, rebalance recommendations, instance state changes and AWS Health
events, so a node is drained before EC2 takes it. Each GPU pool of the stack is a NodePool with an
EC2NodeClass of its own (root volume sized by the plan); Karpenter's nodes get a node role of their
own with an EC2_LINUX access entry, and find subnets and the security group by discovery tag.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra import charts
from infra.identity import ClusterOidc, IrsaRole, IrsaRoleArgs
from infra.karpenter_iam import (
    INTERRUPTION_EVENT_PATTERNS,
    INTERRUPTION_QUEUE_MESSAGE_RETENTION_S,
    INTERRUPTION_QUEUE_SQS_MANAGED_SSE,
    INTERRUPTION_TARGET_ID,
    controller_policy,
    interruption_queue_policy,
)
from infra.node_groups import (
    GPU_PRESENT_LABEL,
    GPU_TAINT_KEY,
    GPU_TAINT_VALUE,
    POOL_LABEL,
    node_role,
)
from presets.plan import PlannedNodePool
from stack_config import KarpenterConfig
from workloads import kube

NAMESPACE = "karpenter"
RELEASE = "karpenter"  # the chart names its service account and Deployment after the release
DISCOVERY_TAG = "karpenter.sh/discovery"  # value: the cluster name (subnets, security group)
NODE_CLASS_API = "karpenter.k8s.aws/v1"
NODE_POOL_API = "karpenter.sh/v1"
CAPACITY_TYPE_LABEL = "karpenter.sh/capacity-type"
POD_LABELS = {kube.APP_LABEL: RELEASE}  # the chart's selector labels (templates/_helpers.tpl)
# The hop limit the managed node groups use (infra/node_groups.py): the EBS CSI node plugin reads IMDS.
IMDS_HOP_LIMIT = 2


@dataclass(frozen=True)
class KarpenterArgs:
    config: KarpenterConfig
    pools: tuple[PlannedNodePool, ...]
    cluster_name: str  # from config: names and tags
    # The EKS cluster's name as its output: what needs the cluster to exist (the access entry) waits for it.
    cluster: pulumi.Input[str]
    cluster_arn: pulumi.Input[str]
    cluster_endpoint: pulumi.Input[str]
    # EKS's own cluster security group: the managed node groups' nodes are in it (their launch templates
    # name none), so Karpenter's nodes join it too and reach and are reached as they are.
    cluster_security_group_id: pulumi.Input[str]
    region: str
    oidc: ClusterOidc
    provider: k8s.Provider
    # The controller runs there (the chart's Deployment is awaited until its pods are Ready).
    system_nodes: pulumi.Resource
    system_pool: str  # the system node group's genai.platform/node-pool label
    # CoreDNS: the controller checks EC2 connectivity at start and exits if it cannot resolve the API.
    dns: pulumi.Resource
    default_tags: Mapping[str, str] = field(default_factory=dict)
    discovery_tags: tuple[pulumi.Resource, ...] = ()  # on subnets the stack does not own (existing VPC)


def node_class_spec(
    pool: PlannedNodePool, *, node_role: str, cluster_name: str, ami_alias: str, tags: Mapping[str, str]
) -> dict[str, Any]:
    """The EC2NodeClass of one pool (CRD karpenter.k8s.aws_ec2nodeclasses.yaml, v1)."""
    discovery = [{"tags": {DISCOVERY_TAG: cluster_name}}]
    return {
        # An alias picks the AMI family (AL2023) and, per instance type, its NVIDIA variant for GPUs.
        "amiSelectorTerms": [{"alias": ami_alias}],
        "role": node_role,
        "subnetSelectorTerms": discovery,
        "securityGroupSelectorTerms": discovery,
        "blockDeviceMappings": [
            {
                "deviceName": "/dev/xvda",
                "ebs": {
                    "volumeSize": f"{pool.root_volume_gib}Gi",
                    "volumeType": "gp3",
                    "encrypted": True,
                    "deleteOnTermination": True,
                },
            }
        ],
        "metadataOptions": {
            "httpEndpoint": "enabled",
            "httpProtocolIPv6": "disabled",
            "httpPutResponseHopLimit": IMDS_HOP_LIMIT,
            "httpTokens": "required",
        },
        "tags": {**tags, "Name": f"{cluster_name}-{pool.name}"},
    }


def node_pool_spec(pool: PlannedNodePool) -> dict[str, Any]:
    """The NodePool of one pool (CRD karpenter.sh_nodepools.yaml, v1)."""
    cfg = pool.config
    return {
        "template": {
            "metadata": {"labels": {POOL_LABEL: cfg.name, GPU_PRESENT_LABEL: "true"}},
            "spec": {
                "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": cfg.name},
                "requirements": [
                    {"key": kube.INSTANCE_TYPE_LABEL, "operator": "In", "values": list(cfg.instance_types)},
                    # Both: Karpenter launches spot (price-capacity-optimized) and on-demand when spot has none.
                    {"key": CAPACITY_TYPE_LABEL, "operator": "In", "values": list(cfg.capacity_types)},
                ],
                "taints": [{"key": GPU_TAINT_KEY, "value": GPU_TAINT_VALUE, "effect": "NoSchedule"}],
                "expireAfter": cfg.expire_after,
            },
        },
        # The spend ceiling: Karpenter launches no node that would take the pool past it.
        "limits": {"nvidia.com/gpu": str(cfg.gpu_limit)},
        "disruption": {
            "consolidationPolicy": "WhenEmptyOrUnderutilized",
            "consolidateAfter": cfg.consolidate_after,
            "budgets": [{"nodes": cfg.disruption_budget}],
        },
    }


def karpenter_values(
    config: KarpenterConfig,
    *,
    cluster_name: str,
    region: str,
    queue_name: str,
    role_arn: str,
    endpoint: str,
    system_pool: str,
) -> dict[str, Any]:
    return {
        "replicas": config.replicas,
        "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": role_arn}},
        # On the system group only; the chart's own affinity keeps it off any node Karpenter launched.
        "nodeSelector": {"kubernetes.io/os": "linux", POOL_LABEL: system_pool},
        "settings": {"clusterName": cluster_name, "clusterEndpoint": endpoint, "interruptionQueue": queue_name},
        "controller": {
            # The namespace's policies block the metadata service: the region comes from here, not IMDS.
            "env": [{"name": "AWS_REGION", "value": region}],
            "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
        },
    }


class Karpenter(pulumi.ComponentResource):
    def __init__(self, name: str, args: KarpenterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("genai:infra:Karpenter", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        cluster = args.cluster_name

        # --- the nodes' identity: a role of their own, allowed to join as EC2 Linux nodes ----------
        self.node_role, attachments = node_role(f"{name}-node", f"EKS {cluster} nodes that Karpenter launches", child)
        self.node_access = aws.eks.AccessEntry(
            f"{name}-node", cluster_name=args.cluster, principal_arn=self.node_role.arn, type="EC2_LINUX", opts=child
        )

        # A tag on a group EKS created: the one thing here on a resource this stack does not own.
        security_group_tag = aws.ec2.Tag(
            f"{name}-security-group-discovery",
            resource_id=args.cluster_security_group_id,
            key=DISCOVERY_TAG,
            value=cluster,
            opts=child,
        )

        # --- interruption handling: EventBridge -> SQS -> the controller drains the node ----------
        self.queue = aws.sqs.Queue(
            f"{name}-interruptions",
            name=cluster,  # upstream's convention: the queue is named after the cluster
            message_retention_seconds=INTERRUPTION_QUEUE_MESSAGE_RETENTION_S,
            sqs_managed_sse_enabled=INTERRUPTION_QUEUE_SQS_MANAGED_SSE,
            opts=child,
        )
        aws.sqs.QueuePolicy(
            f"{name}-interruptions",
            queue_url=self.queue.url,
            policy=self.queue.arn.apply(lambda arn: json.dumps(interruption_queue_policy(arn))),
            opts=child,
        )
        for event, pattern in INTERRUPTION_EVENT_PATTERNS.items():
            rule = aws.cloudwatch.EventRule(
                f"{name}-{event}",
                description=f"Karpenter {cluster}: {event} events to the interruption queue",
                event_pattern=json.dumps(pattern),
                opts=child,
            )
            aws.cloudwatch.EventTarget(
                f"{name}-{event}", rule=rule.name, arn=self.queue.arn, target_id=INTERRUPTION_TARGET_ID, opts=child
            )

        # --- the controller's identity: IRSA for its one service account --------------------------
        policy = pulumi.Output.all(args.cluster_arn, self.node_role.arn, self.queue.arn).apply(
            lambda v: json.dumps(
                controller_policy(
                    partition=v[0].split(":")[1],
                    region=args.region,
                    account_id=v[0].split(":")[4],
                    cluster_name=cluster,
                    node_role_arn=v[1],
                    queue_arn=v[2],
                    cluster_arn=v[0],
                )
            )
        )
        self.controller_role = IrsaRole(
            f"{name}-controller",
            IrsaRoleArgs(oidc=args.oidc, namespace=NAMESPACE, service_account=RELEASE, policy_json=policy),
            opts=child,
        )

        # --- the controller: its namespace (restricted), its flows, its chart ----------------------
        namespace = kube.WorkloadNamespace(
            f"{name}-ns", kube.NamespaceArgs(name=NAMESPACE, provider=args.provider), opts=child
        )
        in_namespace = namespace.child_opts(self, args.provider)
        # The EC2, SQS, IAM, SSM, pricing and EKS APIs, and the Kubernetes API: TCP 443. Nothing calls it.
        kube.allow_traffic(
            f"{name}-traffic",
            namespace=NAMESPACE,
            pod_labels=POD_LABELS,
            egress=kube.Egress(https_to_internet=True),
            opts=in_namespace,
        )
        values = pulumi.Output.all(self.queue.name, self.controller_role.arn, args.cluster_endpoint).apply(
            lambda v: karpenter_values(
                args.config,
                cluster_name=cluster,
                region=args.region,
                queue_name=v[0],
                role_arn=v[1],
                endpoint=v[2],
                system_pool=args.system_pool,
            )
        )
        self.chart = charts.helm_chart(
            name,
            charts.KARPENTER,
            release=RELEASE,
            namespace=NAMESPACE,
            values=values,
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=args.provider,
                depends_on=[namespace, args.system_nodes, args.dns, self.controller_role, *attachments],
            ),
        )

        # --- the pools: created with the chart's CRDs; a node joins once its access entry exists, and
        # the node class resolves once its subnets and security group carry the discovery tag ---
        pools = pulumi.ResourceOptions(
            parent=self,
            provider=args.provider,
            depends_on=[self.chart, self.node_access, security_group_tag, *args.discovery_tags],
        )
        self.node_pools: dict[str, k8s.apiextensions.CustomResource] = {}
        for pool in args.pools:
            node_class = k8s.apiextensions.CustomResource(
                f"{name}-{pool.name}-class",
                api_version=NODE_CLASS_API,
                kind="EC2NodeClass",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=pool.name),
                spec=self.node_role.name.apply(
                    lambda role, pool=pool: node_class_spec(  # type: ignore[misc]
                        pool,
                        node_role=role,
                        cluster_name=cluster,
                        ami_alias=args.config.ami_alias,
                        tags=args.default_tags,
                    )
                ),
                opts=pools,
            )
            self.node_pools[pool.name] = k8s.apiextensions.CustomResource(
                f"{name}-{pool.name}",
                api_version=NODE_POOL_API,
                kind="NodePool",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=pool.name),
                spec=node_pool_spec(pool),
                opts=pulumi.ResourceOptions(
                    parent=self, provider=args.provider, depends_on=[self.chart, self.node_access, node_class]
                ),
            )
        self.register_outputs({"node_role": self.node_role.arn, "queue": self.queue.arn})
