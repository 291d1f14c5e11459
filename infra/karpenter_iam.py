"""Karpenter's controller IAM, node role policies and interruption queue, as plain documents.

Translated from upstream Karpenter v1.14's reference CloudFormation template:
aws/karpenter-provider-aws, website/content/en/v1.14/getting-started/getting-started-with-karpenter/cloudformation.yaml
(stored commit e0834c2bd02ed804561d5748ab92f5c2b8f86d60). Sids, actions, resources and conditions are upstream's;
CloudFormation's substitutions become arguments: ${ClusterName} -> cluster_name, ${AWS::Region} -> region,
${AWS::Partition} -> partition, ${AWS::AccountId} -> account_id, ${KarpenterNodeRole.Arn} -> node_role_arn,
${KarpenterInterruptionQueue.Arn} -> queue_arn, and the EKS cluster ARN upstream spells out -> cluster_arn.

Pure functions over strings, no Pulumi: tests and the IAM linter read exactly what AWS will receive, and the
caller wraps them in Outputs.
"""

from __future__ import annotations

import json
from typing import Any

IAM_VERSION = "2012-10-17"

# IAM's limit on a role's inline policies, summed over all of them, counted without whitespace.
INLINE_POLICY_LIMIT_CHARS = 10_240

# Upstream's KarpenterInterruptionQueue: MessageRetentionPeriod: 300. Upstream also sets SqsManagedSseEnabled: true
# (SQS-managed server-side encryption); the caller creating the queue should do the same.
INTERRUPTION_QUEUE_MESSAGE_RETENTION_S = 300
INTERRUPTION_QUEUE_SQS_MANAGED_SSE = True

# Exactly the actions upstream grants on Resource "*". None of them has a resource type that covers what Karpenter
# reads, so "*" is the only resource IAM accepts for them (see the Service Authorization Reference for each service):
UNSCOPED_ACTIONS: frozenset[str] = frozenset(
    {
        # EC2 Describe* calls act on the whole region's inventory, not on a resource; upstream narrows them with
        # aws:RequestedRegion instead (AllowRegionalReadActions).
        "ec2:DescribeCapacityReservations",
        "ec2:DescribeImages",
        "ec2:DescribeInstances",
        "ec2:DescribeInstanceStatus",
        "ec2:DescribeInstanceTypeOfferings",
        "ec2:DescribeInstanceTypes",
        "ec2:DescribeLaunchTemplates",
        "ec2:DescribePlacementGroups",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSpotPriceHistory",
        "ec2:DescribeSubnets",
        # The Price List API has no resources at all (AllowPricingReadActions).
        "pricing:GetProducts",
        # Listing is account-wide: iam:ListInstanceProfiles takes no resource (AllowUnscopedInstanceProfileListAction).
        "iam:ListInstanceProfiles",
        # arc-zonal-shift:GetManagedResource's only resource types are load balancers (ALB, NLB); an EKS cluster is
        # not one, so "*" is the only resource that names it. Upstream scopes it to this cluster with the
        # arc-zonal-shift:ResourceIdentifier condition instead (AllowZonalShiftStatusReadOnly).
        "arc-zonal-shift:GetManagedResource",
    }
)

# Upstream's controller policies, in template order, by the name upstream gives each ManagedPolicy (less the
# "-${ClusterName}" suffix).
NODE_LIFECYCLE = "KarpenterControllerNodeLifecyclePolicy"
IAM_INTEGRATION = "KarpenterControllerIAMIntegrationPolicy"
EKS_INTEGRATION = "KarpenterControllerEKSIntegrationPolicy"
INTERRUPTION = "KarpenterControllerInterruptionPolicy"
ZONAL_SHIFT = "KarpenterControllerZonalShiftPolicy"
RESOURCE_DISCOVERY = "KarpenterControllerResourceDiscoveryPolicy"


def _node_lifecycle(partition: str, region: str, cluster_name: str) -> list[dict[str, Any]]:
    ec2 = f"arn:{partition}:ec2:{region}"
    tagged_on_create = [
        f"{ec2}:*:fleet/*",
        f"{ec2}:*:instance/*",
        f"{ec2}:*:volume/*",
        f"{ec2}:*:network-interface/*",
        f"{ec2}:*:launch-template/*",
        f"{ec2}:*:spot-instances-request/*",
    ]
    cluster_tag = f"kubernetes.io/cluster/{cluster_name}"
    owned_by_nodepool = {
        "StringEquals": {f"aws:ResourceTag/{cluster_tag}": "owned"},
        "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
    }
    return [
        {
            "Sid": "AllowScopedEC2InstanceAccessActions",
            "Effect": "Allow",
            "Resource": [
                f"{ec2}::image/*",
                f"{ec2}::snapshot/*",
                f"{ec2}:*:security-group/*",
                f"{ec2}:*:subnet/*",
                f"{ec2}:*:capacity-reservation/*",
                f"{ec2}:*:placement-group/*",
            ],
            "Action": ["ec2:RunInstances", "ec2:CreateFleet"],
        },
        {
            "Sid": "AllowScopedEC2LaunchTemplateAccessActions",
            "Effect": "Allow",
            "Resource": f"{ec2}:*:launch-template/*",
            "Action": ["ec2:RunInstances", "ec2:CreateFleet"],
            "Condition": owned_by_nodepool,
        },
        {
            "Sid": "AllowScopedEC2InstanceActionsWithTags",
            "Effect": "Allow",
            "Resource": tagged_on_create,
            "Action": ["ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"],
            "Condition": {
                "StringEquals": {
                    f"aws:RequestTag/{cluster_tag}": "owned",
                    "aws:RequestTag/eks:eks-cluster-name": cluster_name,
                },
                "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"},
            },
        },
        {
            "Sid": "AllowScopedResourceCreationTagging",
            "Effect": "Allow",
            "Resource": tagged_on_create,
            "Action": "ec2:CreateTags",
            "Condition": {
                "StringEquals": {
                    f"aws:RequestTag/{cluster_tag}": "owned",
                    "aws:RequestTag/eks:eks-cluster-name": cluster_name,
                    "ec2:CreateAction": ["RunInstances", "CreateFleet", "CreateLaunchTemplate"],
                },
                "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"},
            },
        },
        {
            "Sid": "AllowScopedResourceTagging",
            "Effect": "Allow",
            "Resource": f"{ec2}:*:instance/*",
            "Action": "ec2:CreateTags",
            "Condition": {
                "StringEquals": {f"aws:ResourceTag/{cluster_tag}": "owned"},
                "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
                "StringEqualsIfExists": {"aws:RequestTag/eks:eks-cluster-name": cluster_name},
                "ForAllValues:StringEquals": {
                    "aws:TagKeys": ["eks:eks-cluster-name", "karpenter.sh/nodeclaim", "Name"]
                },
            },
        },
        {
            "Sid": "AllowScopedDeletion",
            "Effect": "Allow",
            "Resource": [f"{ec2}:*:instance/*", f"{ec2}:*:launch-template/*"],
            "Action": ["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"],
            "Condition": owned_by_nodepool,
        },
    ]


def _iam_integration(
    partition: str, region: str, account_id: str, cluster_name: str, node_role_arn: str
) -> list[dict[str, Any]]:
    profiles = f"arn:{partition}:iam::{account_id}:instance-profile/*"
    cluster_tag = f"kubernetes.io/cluster/{cluster_name}"
    request_tags = {
        f"aws:RequestTag/{cluster_tag}": "owned",
        "aws:RequestTag/eks:eks-cluster-name": cluster_name,
        "aws:RequestTag/topology.kubernetes.io/region": region,
    }
    resource_tags = {
        f"aws:ResourceTag/{cluster_tag}": "owned",
        "aws:ResourceTag/topology.kubernetes.io/region": region,
    }
    return [
        {
            "Sid": "AllowPassingInstanceRole",
            "Effect": "Allow",
            "Resource": node_role_arn,
            "Action": "iam:PassRole",
            # Upstream lists the China partition's EC2 principal too; it is inert elsewhere.
            "Condition": {"StringEquals": {"iam:PassedToService": ["ec2.amazonaws.com", "ec2.amazonaws.com.cn"]}},
        },
        {
            "Sid": "AllowScopedInstanceProfileCreationActions",
            "Effect": "Allow",
            "Resource": profiles,
            "Action": ["iam:CreateInstanceProfile"],
            "Condition": {
                "StringEquals": dict(request_tags),
                "StringLike": {"aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*"},
            },
        },
        {
            "Sid": "AllowScopedInstanceProfileTagActions",
            "Effect": "Allow",
            "Resource": profiles,
            "Action": ["iam:TagInstanceProfile"],
            "Condition": {
                "StringEquals": {**resource_tags, **request_tags},
                "StringLike": {
                    "aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*",
                    "aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*",
                },
            },
        },
        {
            "Sid": "AllowScopedInstanceProfileActions",
            "Effect": "Allow",
            "Resource": profiles,
            "Action": [
                "iam:AddRoleToInstanceProfile",
                "iam:RemoveRoleFromInstanceProfile",
                "iam:DeleteInstanceProfile",
            ],
            "Condition": {
                "StringEquals": dict(resource_tags),
                "StringLike": {"aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*"},
            },
        },
    ]


def _eks_integration(cluster_arn: str) -> list[dict[str, Any]]:
    return [
        {
            "Sid": "AllowAPIServerEndpointDiscovery",
            "Effect": "Allow",
            "Resource": cluster_arn,
            "Action": "eks:DescribeCluster",
        }
    ]


def _interruption(queue_arn: str) -> list[dict[str, Any]]:
    return [
        {
            "Sid": "AllowInterruptionQueueActions",
            "Effect": "Allow",
            "Resource": queue_arn,
            "Action": ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"],
        }
    ]


def _zonal_shift(cluster_arn: str) -> list[dict[str, Any]]:
    return [
        {
            "Sid": "AllowZonalShiftStatusReadOnly",
            "Effect": "Allow",
            "Resource": "*",
            "Action": ["arc-zonal-shift:GetManagedResource"],
            "Condition": {"StringEquals": {"arc-zonal-shift:ResourceIdentifier": cluster_arn}},
        }
    ]


def _resource_discovery(partition: str, region: str, account_id: str) -> list[dict[str, Any]]:
    return [
        {
            "Sid": "AllowRegionalReadActions",
            "Effect": "Allow",
            "Resource": "*",
            "Action": [
                "ec2:DescribeCapacityReservations",
                "ec2:DescribeImages",
                "ec2:DescribeInstances",
                "ec2:DescribeInstanceStatus",
                "ec2:DescribeInstanceTypeOfferings",
                "ec2:DescribeInstanceTypes",
                "ec2:DescribeLaunchTemplates",
                "ec2:DescribePlacementGroups",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeSpotPriceHistory",
                "ec2:DescribeSubnets",
            ],
            "Condition": {"StringEquals": {"aws:RequestedRegion": region}},
        },
        {
            "Sid": "AllowSSMReadActions",
            "Effect": "Allow",
            "Resource": f"arn:{partition}:ssm:{region}::parameter/aws/service/*",
            "Action": "ssm:GetParameter",
        },
        {
            "Sid": "AllowPricingReadActions",
            "Effect": "Allow",
            "Resource": "*",
            "Action": "pricing:GetProducts",
        },
        {
            "Sid": "AllowUnscopedInstanceProfileListAction",
            "Effect": "Allow",
            "Resource": "*",
            "Action": "iam:ListInstanceProfiles",
        },
        {
            "Sid": "AllowInstanceProfileReadActions",
            "Effect": "Allow",
            "Resource": f"arn:{partition}:iam::{account_id}:instance-profile/*",
            "Action": "iam:GetInstanceProfile",
        },
    ]


def controller_policies(
    *,
    partition: str,
    region: str,
    account_id: str,
    cluster_name: str,
    node_role_arn: str,
    queue_arn: str,
    cluster_arn: str,
) -> dict[str, dict[str, Any]]:
    """Upstream's controller policies as separate documents, keyed by upstream's ManagedPolicy name.

    Upstream attaches these as customer-managed policies (6,144 characters each, 10 per role by default), which
    suits a caller that would rather not put them inline. Upstream's zonal-shift policy is kept although the
    chart only uses it with `settings.enableZonalShift: true` (default false): it is read-only and scoped to this
    cluster by condition, and keeping it lets that setting be turned on without an IAM change.
    """
    statements = {
        NODE_LIFECYCLE: _node_lifecycle(partition, region, cluster_name),
        IAM_INTEGRATION: _iam_integration(partition, region, account_id, cluster_name, node_role_arn),
        EKS_INTEGRATION: _eks_integration(cluster_arn),
        INTERRUPTION: _interruption(queue_arn),
        ZONAL_SHIFT: _zonal_shift(cluster_arn),
        RESOURCE_DISCOVERY: _resource_discovery(partition, region, account_id),
    }
    return {name: {"Version": IAM_VERSION, "Statement": s} for name, s in statements.items()}


def controller_policy(
    *,
    partition: str,
    region: str,
    account_id: str,
    cluster_name: str,
    node_role_arn: str,
    queue_arn: str,
    cluster_arn: str,
) -> dict[str, Any]:
    """All of upstream's controller statements in one document, in upstream's order, Sids unchanged.

    Compacted it stays under IAM's 10,240-character aggregate limit for a role's inline policies (about 6,300
    characters with realistic ARNs, about 7,850 with a 100-character cluster name, EKS's longest; tests check the
    bound), so one inline policy is enough. It is over the
    6,144-character limit for a single customer-managed policy: to attach managed policies instead, use
    `controller_policies`, upstream's own split.
    """
    policies = controller_policies(
        partition=partition,
        region=region,
        account_id=account_id,
        cluster_name=cluster_name,
        node_role_arn=node_role_arn,
        queue_arn=queue_arn,
        cluster_arn=cluster_arn,
    )
    return {"Version": IAM_VERSION, "Statement": [s for p in policies.values() for s in p["Statement"]]}


def policy_size(document: dict[str, Any]) -> int:
    """The characters IAM counts against its size limits: the JSON without whitespace outside strings."""
    return len(json.dumps(document, separators=(",", ":")))


# Upstream's EventBridge rules, each targeting the interruption queue (Target Id KarpenterInterruptionQueueTarget).
# Upstream v1.14 defines five rules: the four usual ones and CapacityReservationInterruptionRule, which Karpenter uses
# to drain nodes on interrupted (interruptible) capacity reservations.
INTERRUPTION_EVENT_PATTERNS: dict[str, dict[str, Any]] = {
    # ScheduledChangeRule
    "scheduled-change": {"source": ["aws.health"], "detail-type": ["AWS Health Event"]},
    # SpotInterruptionRule
    "spot-interruption": {"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]},
    # RebalanceRule
    "rebalance": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance Rebalance Recommendation"]},
    # InstanceStateChangeRule
    "instance-state-change": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]},
    # CapacityReservationInterruptionRule
    "capacity-reservation-interruption": {
        "source": ["aws.ec2"],
        "detail-type": ["EC2 Capacity Reservation Instance Interruption Warning"],
    },
}
INTERRUPTION_TARGET_ID = "KarpenterInterruptionQueueTarget"


def interruption_queue_policy(queue_arn: str) -> dict[str, Any]:
    """Upstream's KarpenterInterruptionQueuePolicy: EventBridge and SQS may send to the queue; no one may use it
    without TLS.

    Upstream's document has no Version (so AWS would read it as 2008-10-17); this adds 2012-10-17, which changes
    nothing as it uses no policy variables. Upstream's YAML `false` is written as IAM's string "false".
    """
    return {
        "Version": IAM_VERSION,
        "Id": "EC2InterruptionPolicy",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
            },
            {
                "Sid": "DenyHTTP",
                "Effect": "Deny",
                "Action": "sqs:*",
                "Resource": queue_arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                "Principal": "*",
            },
        ],
    }
