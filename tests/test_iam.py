"""IAM documents, parsed as JSON: trust scoped to one service account, access scoped to one prefix,
no wildcard grants, no *FullAccess policies, and a clean bill from the parliament IAM linter."""

import json

import pytest
from parliament import analyze_policy_string

from infra.identity import (
    BucketAccess,
    bucket_access_policy,
    bucket_prefix_read_only,
    bucket_prefix_read_write,
    deny_insecure_transport_policy,
    irsa_trust_policy,
)
from infra.karpenter_iam import UNSCOPED_ACTIONS
from tests.harness import Graph
from tests.test_karpenter_iam import lint as karpenter_lint

BUCKET = "arn:aws:s3:::genai-dev-datasets-1a2b3c4d"
ISSUER = "oidc.eks.us-west-2.amazonaws.com/id/0123456789ABCDEF0123456789ABCDEF"
PROVIDER = f"arn:aws:iam::123456789012:oidc-provider/{ISSUER}"


def lint(document: dict) -> list[str]:
    return [f"{f.issue}: {f.detail}" for f in analyze_policy_string(json.dumps(document)).findings]


def actions(document: dict, resource: str) -> set[str]:
    return {
        a for s in document["Statement"] if s["Resource"] == resource and s["Effect"] == "Allow" for a in s["Action"]
    }


def test_irsa_trust_is_one_service_account_and_sts():
    trust = irsa_trust_policy(PROVIDER, ISSUER, "ml", "finetune")
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Federated": PROVIDER}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {
        "StringEquals": {
            f"{ISSUER}:sub": "system:serviceaccount:ml:finetune",
            f"{ISSUER}:aud": "sts.amazonaws.com",
        }
    }
    assert not ISSUER.startswith("https://"), "IAM condition keys use the issuer without its scheme"


def test_read_only_prefix_policy():
    policy = bucket_prefix_read_only(BUCKET, "datasets/loyalty/")
    assert lint(policy) == []
    assert actions(policy, f"{BUCKET}/datasets/loyalty/*") == {"s3:GetObject", "s3:GetObjectVersion"}
    (listing,) = [s for s in policy["Statement"] if s["Resource"] == BUCKET]
    assert listing["Action"] == ["s3:ListBucket"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["datasets/loyalty", "datasets/loyalty/*"]}}


def test_read_write_prefix_policy():
    policy = bucket_prefix_read_write(BUCKET, "adapters")
    assert lint(policy) == []
    assert actions(policy, f"{BUCKET}/adapters/*") == {
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:AbortMultipartUpload",
        "s3:ListMultipartUploadParts",
    }
    assert actions(policy, BUCKET) == {"s3:ListBucket", "s3:ListBucketMultipartUploads"}
    assert not any("*" in a for s in policy["Statement"] for a in s["Action"])


def test_whole_bucket_grant_has_no_prefix_condition():
    policy = bucket_prefix_read_only(BUCKET, "")
    assert lint(policy) == []
    assert actions(policy, f"{BUCKET}/*") == {"s3:GetObject", "s3:GetObjectVersion"}
    assert all("Condition" not in s for s in policy["Statement"])


def test_combined_grants_keep_unique_statement_ids():
    policy = bucket_access_policy(
        [BucketAccess(BUCKET, "datasets", write=False), BucketAccess("arn:aws:s3:::models", "adapters", write=True)]
    )
    sids = [s["Sid"] for s in policy["Statement"]]
    assert len(sids) == len(set(sids))
    assert lint(policy) == []


def test_linter_is_not_blind():
    # The linter must flag a misspelt action, or its clean bills above mean nothing.
    broken = bucket_prefix_read_only(BUCKET, "datasets")
    broken["Statement"][1]["Action"] = ["s3:GetObjekt"]
    assert any("UNKNOWN_ACTION" in f for f in lint(broken))


def test_tls_only_bucket_policy_lints_clean():
    assert lint(deny_insecure_transport_policy(BUCKET)) == []


def test_every_role_trust_in_the_graph(graph: Graph):
    roles = graph.of_type("aws:iam/role:Role")
    assert roles
    for role in roles:
        (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
        if "Federated" in statement["Principal"]:
            conditions = statement["Condition"]["StringEquals"]
            sub = next(v for k, v in conditions.items() if k.endswith(":sub"))
            aud = next(v for k, v in conditions.items() if k.endswith(":aud"))
            assert aud == "sts.amazonaws.com"
            namespace, service_account = sub.removeprefix("system:serviceaccount:").split(":")
            assert namespace and service_account and "*" not in sub, f"{role.name}: {sub}"
            assert statement["Principal"]["Federated"].endswith(next(iter(conditions)).rsplit(":", 1)[0])
        else:
            assert statement["Principal"] == {"Service": "ec2.amazonaws.com"}, role.name
            assert statement["Action"] == "sts:AssumeRole"


def test_no_full_access_or_admin_managed_policies(graph: Graph):
    for attachment in graph.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment"):
        arn = attachment.inputs["policyArn"]
        assert arn.startswith("arn:aws:iam::aws:policy/")
        assert "FullAccess" not in arn and "Administrator" not in arn and "PowerUser" not in arn, arn


@pytest.mark.parametrize(
    "type_, field",
    [
        ("aws:iam/rolePolicy:RolePolicy", "policy"),
        ("aws:s3/bucketPolicy:BucketPolicy", "policy"),
    ],
)
def test_inline_documents_in_the_graph_lint_clean(graph: Graph, type_: str, field: str):
    # One inline policy per workload role (notebooks, training when on, inference, RAG, Karpenter's controller);
    # a bucket policy per bucket.
    assert len(graph.of_type(type_)) >= (3 if "rolePolicy" in type_ else 2)
    for resource in graph.of_type(type_):
        document = json.loads(resource.inputs[field])
        karpenter = resource.name == "karpenter-controller"
        # Upstream's reference policy raises findings parliament gets wrong (tests/test_karpenter_iam.py
        # checks each one rather than waving it through).
        assert (karpenter_lint(document) if karpenter else lint(document)) == [], resource.name
        for statement in document["Statement"]:
            if statement["Effect"] == "Allow":
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                assert not any("*" in a for a in actions), resource.name
                if statement["Resource"] == "*":
                    # Only the actions AWS offers no resource-level permissions for (Describe*, pricing, ...).
                    assert karpenter and set(actions) <= UNSCOPED_ACTIONS, (resource.name, statement.get("Sid"))
