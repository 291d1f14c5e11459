"""Karpenter's controller policy, interruption queue and node role, checked against upstream v1.14's reference
template (aws/karpenter-provider-aws, website/content/en/v1.14/getting-started/getting-started-with-karpenter/
cloudformation.yaml) and linted with parliament."""

import json
import re

import pytest
from parliament import analyze_policy_string

from infra.karpenter_iam import (
    INLINE_POLICY_LIMIT_CHARS,
    INTERRUPTION_EVENT_PATTERNS,
    INTERRUPTION_QUEUE_MESSAGE_RETENTION_S,
    INTERRUPTION_QUEUE_SQS_MANAGED_SSE,
    UNSCOPED_ACTIONS,
    controller_policies,
    controller_policy,
    interruption_queue_policy,
    policy_size,
)

PARTITION = "aws"
REGION = "us-west-2"
ACCOUNT = "123456789012"
CLUSTER = "genai-platform-dev-cluster"
NODE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/genai-platform-dev-karpenter-node-role-1a2b3c4"
QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{CLUSTER}"
CLUSTER_ARN = f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/{CLUSTER}"
CLUSTER_TAG = f"kubernetes.io/cluster/{CLUSTER}"


def arguments(partition: str = PARTITION, region: str = REGION, cluster: str = CLUSTER) -> dict[str, str]:
    return {
        "partition": partition,
        "region": region,
        "account_id": ACCOUNT,
        "cluster_name": cluster,
        "node_role_arn": f"arn:{partition}:iam::{ACCOUNT}:role/{cluster}-karpenter-node",
        "queue_arn": f"arn:{partition}:sqs:{region}:{ACCOUNT}:{cluster}",
        "cluster_arn": f"arn:{partition}:eks:{region}:{ACCOUNT}:cluster/{cluster}",
    }


POLICY = controller_policy(
    partition=PARTITION,
    region=REGION,
    account_id=ACCOUNT,
    cluster_name=CLUSTER,
    node_role_arn=NODE_ROLE,
    queue_arn=QUEUE,
    cluster_arn=CLUSTER_ARN,
)

# Upstream's statement ids, policy by policy, in template order.
UPSTREAM_SIDS = {
    "KarpenterControllerNodeLifecyclePolicy": [
        "AllowScopedEC2InstanceAccessActions",
        "AllowScopedEC2LaunchTemplateAccessActions",
        "AllowScopedEC2InstanceActionsWithTags",
        "AllowScopedResourceCreationTagging",
        "AllowScopedResourceTagging",
        "AllowScopedDeletion",
    ],
    "KarpenterControllerIAMIntegrationPolicy": [
        "AllowPassingInstanceRole",
        "AllowScopedInstanceProfileCreationActions",
        "AllowScopedInstanceProfileTagActions",
        "AllowScopedInstanceProfileActions",
    ],
    "KarpenterControllerEKSIntegrationPolicy": ["AllowAPIServerEndpointDiscovery"],
    "KarpenterControllerInterruptionPolicy": ["AllowInterruptionQueueActions"],
    "KarpenterControllerZonalShiftPolicy": ["AllowZonalShiftStatusReadOnly"],
    "KarpenterControllerResourceDiscoveryPolicy": [
        "AllowRegionalReadActions",
        "AllowSSMReadActions",
        "AllowPricingReadActions",
        "AllowUnscopedInstanceProfileListAction",
        "AllowInstanceProfileReadActions",
    ],
}


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def statement(sid: str) -> dict:
    (found,) = [s for s in POLICY["Statement"] if s.get("Sid") == sid]
    return found


def arn_matches(pattern: str, arn: str) -> bool:
    """Whether parliament's required format (with `*` wildcards) covers one of our resource ARNs."""
    return re.fullmatch(re.escape(pattern).replace(r"\*", ".*"), arn) is not None


def upstream_accepted(finding, document: dict) -> bool:
    """The parliament findings upstream's own template raises, each checked rather than waved through."""
    if finding.issue == "RESOURCE_MISMATCH":
        mismatches = finding.detail
        # Upstream splits ec2:RunInstances and ec2:CreateFleet across three statements (untagged inputs such as
        # subnets and images, the tagged launch template, and the tagged resources being created), so each one
        # alone lacks resource types parliament wants together. Accept that only if some statement of the policy
        # grants the same action on every resource type parliament asked for.
        if all(m["action"] in {"ec2:RunInstances", "ec2:CreateFleet"} for m in mismatches):
            return all(
                any(
                    m["action"] in as_list(s["Action"])
                    and any(arn_matches(m["required_format"], r) for r in as_list(s["Resource"]))
                    for s in document["Statement"]
                )
                for m in mismatches
            )
        # AWS's public parameters (/aws/service/...) have no account in their ARN, so upstream's
        # arn:...:ssm:<region>::parameter/aws/service/* is right; parliament's format insists on an account field.
        if [m["action"] for m in mismatches] == ["ssm:GetParameter"]:
            return mismatches[0]["required_format"] == "arn:*:ssm:*:*:parameter/*"
    # arc-zonal-shift:GetManagedResource's resource types are load balancers only; an EKS cluster can be named only
    # through "*" plus the arc-zonal-shift:ResourceIdentifier condition, as upstream does.
    if finding.issue == "RESOURCE_STAR" and finding.detail == ["arc-zonal-shift:GetManagedResource"]:
        return True
    return False


def lint(document: dict) -> list[str]:
    findings = analyze_policy_string(json.dumps(document)).findings
    return [f"{f.issue}: {f.detail}" for f in findings if not upstream_accepted(f, document)]


def test_controller_policy_lints_clean():
    assert POLICY["Version"] == "2012-10-17"
    assert lint(POLICY) == []


def test_controller_policy_keeps_upstream_statements_in_order():
    assert [s["Sid"] for s in POLICY["Statement"]] == [sid for sids in UPSTREAM_SIDS.values() for sid in sids]
    split = controller_policies(**arguments())
    assert {name: [s["Sid"] for s in p["Statement"]] for name, p in split.items()} == UPSTREAM_SIDS
    merged = controller_policy(**arguments())
    assert merged["Statement"] == [s for p in split.values() for s in p["Statement"]]


def test_controller_policy_fits_inline_limit_even_for_the_longest_cluster_name():
    assert policy_size(POLICY) <= INLINE_POLICY_LIMIT_CHARS
    longest = "c" * 100  # EKS cluster names are at most 100 characters
    # About 7,850 characters: the role keeps some 2,400 for other inline policies.
    assert policy_size(controller_policy(**arguments(partition="aws-us-gov", cluster=longest))) <= 8_000
    # Upstream's split fits IAM's 6,144-character limit for a customer-managed policy, each.
    for document in controller_policies(**arguments(cluster=longest)).values():
        assert policy_size(document) <= 6_144


def test_policy_size_ignores_whitespace():
    assert policy_size(POLICY) == len(re.sub(r"\s", "", json.dumps(POLICY, indent=2)))


@pytest.mark.parametrize(
    "partition,region", [("aws", "us-west-2"), ("aws-cn", "cn-north-1"), ("aws-us-gov", "us-gov-west-1")]
)
def test_every_arn_is_in_the_partition_and_nothing_is_left_unsubstituted(partition, region):
    document = controller_policy(**arguments(partition=partition, region=region))
    assert "${" not in json.dumps(document)
    for s in document["Statement"]:
        for resource in as_list(s["Resource"]):
            if resource == "*":
                continue
            assert resource.startswith(f"arn:{partition}:")
            service = resource.split(":")[2]
            if service in {"ec2", "ssm", "eks", "sqs"}:
                assert resource.split(":")[3] == region, resource


def test_unscoped_statements_grant_only_unscoped_actions():
    on_star = [s for s in POLICY["Statement"] if s["Effect"] == "Allow" and "*" in as_list(s["Resource"])]
    granted = {a for s in on_star for a in as_list(s["Action"])}
    assert granted == UNSCOPED_ACTIONS
    for s in on_star:
        assert as_list(s["Resource"]) == ["*"], s["Sid"]
    # And nothing scoped grants an action through a wildcard.
    assert all("*" not in a for s in POLICY["Statement"] for a in as_list(s["Action"]))


def test_unscoped_reads_stay_in_region_and_zonal_shift_on_this_cluster():
    assert statement("AllowRegionalReadActions")["Condition"] == {"StringEquals": {"aws:RequestedRegion": REGION}}
    assert statement("AllowZonalShiftStatusReadOnly")["Condition"] == {
        "StringEquals": {"arc-zonal-shift:ResourceIdentifier": CLUSTER_ARN}
    }


MUTATING_EC2 = {
    "ec2:RunInstances",
    "ec2:CreateFleet",
    "ec2:CreateLaunchTemplate",
    "ec2:CreateTags",
    "ec2:TerminateInstances",
    "ec2:DeleteLaunchTemplate",
}
OWNED = re.compile(r"arn:aws:ec2:us-west-2:\*:(instance|fleet|launch-template)/\*")


def cluster_tag_condition(s: dict) -> dict[str, str]:
    equals = s.get("Condition", {}).get("StringEquals", {})
    return {k: v for k, v in equals.items() if k in {f"aws:RequestTag/{CLUSTER_TAG}", f"aws:ResourceTag/{CLUSTER_TAG}"}}


def test_launching_tagging_and_deleting_owned_resources_requires_the_cluster_tag():
    checked = []
    for s in POLICY["Statement"]:
        if set(as_list(s["Action"])) & MUTATING_EC2 and any(OWNED.fullmatch(r) for r in as_list(s["Resource"])):
            checked.append(s["Sid"])
            tags = cluster_tag_condition(s)
            assert tags and set(tags.values()) == {"owned"}, s["Sid"]
            nodepool = s["Condition"]["StringLike"]
            assert set(nodepool) & {"aws:RequestTag/karpenter.sh/nodepool", "aws:ResourceTag/karpenter.sh/nodepool"}
    assert checked == [
        "AllowScopedEC2LaunchTemplateAccessActions",
        "AllowScopedEC2InstanceActionsWithTags",
        "AllowScopedResourceCreationTagging",
        "AllowScopedResourceTagging",
        "AllowScopedDeletion",
    ]
    # Tags go on only at creation, by Karpenter's own create calls, or as the few keys it adds afterwards.
    assert statement("AllowScopedResourceCreationTagging")["Condition"]["StringEquals"]["ec2:CreateAction"] == [
        "RunInstances",
        "CreateFleet",
        "CreateLaunchTemplate",
    ]
    assert statement("AllowScopedResourceTagging")["Condition"]["ForAllValues:StringEquals"] == {
        "aws:TagKeys": ["eks:eks-cluster-name", "karpenter.sh/nodeclaim", "Name"]
    }


def test_instance_profile_changes_require_the_cluster_and_region_tags():
    for sid in ("AllowScopedInstanceProfileCreationActions", "AllowScopedInstanceProfileTagActions"):
        equals = statement(sid)["Condition"]["StringEquals"]
        assert equals[f"aws:RequestTag/{CLUSTER_TAG}"] == "owned"
        assert equals["aws:RequestTag/eks:eks-cluster-name"] == CLUSTER
        assert equals["aws:RequestTag/topology.kubernetes.io/region"] == REGION
    for sid in ("AllowScopedInstanceProfileTagActions", "AllowScopedInstanceProfileActions"):
        equals = statement(sid)["Condition"]["StringEquals"]
        assert equals[f"aws:ResourceTag/{CLUSTER_TAG}"] == "owned"
        assert equals["aws:ResourceTag/topology.kubernetes.io/region"] == REGION
        assert statement(sid)["Resource"] == f"arn:aws:iam::{ACCOUNT}:instance-profile/*"


def test_pass_role_is_the_node_role_to_ec2_only():
    passing = [s for s in POLICY["Statement"] if "iam:PassRole" in as_list(s["Action"])]
    assert [s["Sid"] for s in passing] == ["AllowPassingInstanceRole"]
    (s,) = passing
    assert as_list(s["Action"]) == ["iam:PassRole"]
    assert as_list(s["Resource"]) == [NODE_ROLE]
    # Upstream lists EC2's principal in both the global and the China partitions.
    assert s["Condition"] == {"StringEquals": {"iam:PassedToService": ["ec2.amazonaws.com", "ec2.amazonaws.com.cn"]}}


def test_sqs_access_is_exactly_the_interruption_queue():
    sqs = [s for s in POLICY["Statement"] if any(a.startswith("sqs:") for a in as_list(s["Action"]))]
    assert [s["Sid"] for s in sqs] == ["AllowInterruptionQueueActions"]
    assert as_list(sqs[0]["Resource"]) == [QUEUE]
    assert set(as_list(sqs[0]["Action"])) == {"sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"}


def test_eks_access_is_describing_this_cluster():
    assert statement("AllowAPIServerEndpointDiscovery")["Resource"] == CLUSTER_ARN
    assert statement("AllowAPIServerEndpointDiscovery")["Action"] == "eks:DescribeCluster"


def test_interruption_event_patterns_are_upstreams():
    assert INTERRUPTION_EVENT_PATTERNS == {
        "scheduled-change": {"source": ["aws.health"], "detail-type": ["AWS Health Event"]},
        "spot-interruption": {"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]},
        "rebalance": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance Rebalance Recommendation"]},
        "instance-state-change": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]},
        "capacity-reservation-interruption": {
            "source": ["aws.ec2"],
            "detail-type": ["EC2 Capacity Reservation Instance Interruption Warning"],
        },
    }
    for name in INTERRUPTION_EVENT_PATTERNS:
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", name)
        # EventBridge rule names allow 64 characters; leave room for a cluster prefix.
        assert len(name) <= 40


def test_queue_policy_admits_only_eventbridge_and_sqs_over_tls():
    document = interruption_queue_policy(QUEUE)
    assert lint(document) == []
    allows = [s for s in document["Statement"] if s["Effect"] == "Allow"]
    principals = {p for s in allows for p in as_list(s["Principal"]["Service"])}
    assert principals == {"events.amazonaws.com", "sqs.amazonaws.com"}
    assert all(set(s["Principal"]) == {"Service"} for s in allows)
    assert all(as_list(s["Action"]) == ["sqs:SendMessage"] and s["Resource"] == QUEUE for s in allows)
    (deny,) = [s for s in document["Statement"] if s["Effect"] == "Deny"]
    assert deny["Sid"] == "DenyHTTP"
    assert deny["Principal"] == "*" and deny["Action"] == "sqs:*" and deny["Resource"] == QUEUE
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_queue_settings_are_upstreams():
    assert INTERRUPTION_QUEUE_MESSAGE_RETENTION_S == 300
    assert INTERRUPTION_QUEUE_SQS_MANAGED_SSE is True
