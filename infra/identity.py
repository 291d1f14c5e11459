"""IAM for workloads: IRSA roles scoped to one service account, and S3 prefix policies.

The document builders are pure functions over plain strings, so tests and the IAM linter can
read exactly what AWS will receive; the component wraps them in Outputs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

IAM_VERSION = "2012-10-17"


def irsa_trust_policy(oidc_provider_arn: str, oidc_issuer: str, namespace: str, service_account: str) -> dict[str, Any]:
    """Only this one service account, with tokens minted for STS, may assume the role.

    `oidc_issuer` is the issuer without `https://`, the form IAM condition keys use.
    """
    return {
        "Version": IAM_VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": oidc_provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{oidc_issuer}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                        f"{oidc_issuer}:aud": "sts.amazonaws.com",
                    }
                },
            }
        ],
    }


def service_trust_policy(service: str) -> dict[str, Any]:
    return {
        "Version": IAM_VERSION,
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }


def _prefix_scope(bucket_arn: str, prefix: str) -> tuple[str, dict[str, Any]]:
    """The object ARN pattern and the ListBucket condition for one prefix ('' is the whole bucket)."""
    prefix = prefix.strip("/")
    if not prefix:
        return f"{bucket_arn}/*", {}
    return f"{bucket_arn}/{prefix}/*", {"StringLike": {"s3:prefix": [prefix, f"{prefix}/*"]}}


READ_ACTIONS = ("s3:GetObject", "s3:GetObjectVersion")
WRITE_ACTIONS = ("s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts")


def _bucket_statements(bucket_arn: str, prefix: str, write: bool) -> list[dict[str, Any]]:
    objects, list_condition = _prefix_scope(bucket_arn, prefix)
    sid = "ReadWrite" if write else "Read"
    list_statement: dict[str, Any] = {
        "Sid": f"List{sid}Prefix",
        "Effect": "Allow",
        "Action": ["s3:ListBucket"],
        "Resource": bucket_arn,
    }
    if list_condition:
        list_statement["Condition"] = list_condition
    statements = [
        list_statement,
        {
            "Sid": f"{sid}Objects",
            "Effect": "Allow",
            "Action": list(READ_ACTIONS + (WRITE_ACTIONS if write else ())),
            "Resource": objects,
        },
    ]
    if write:
        statements.append(
            {
                "Sid": "ListOwnUploads",
                "Effect": "Allow",
                "Action": ["s3:ListBucketMultipartUploads"],
                "Resource": bucket_arn,
            }
        )
    return statements


@dataclass(frozen=True)
class BucketAccess:
    """Access to one prefix of one bucket; prefix '' means the whole bucket."""

    bucket_arn: str
    prefix: str
    write: bool


def bucket_access_policy(grants: Sequence[BucketAccess]) -> dict[str, Any]:
    statements: list[dict[str, Any]] = []
    for i, grant in enumerate(grants):
        for statement in _bucket_statements(grant.bucket_arn, grant.prefix, grant.write):
            statements.append({**statement, "Sid": f"{statement['Sid']}{i}"})
    return {"Version": IAM_VERSION, "Statement": statements}


def bucket_prefix_read_only(bucket_arn: str, prefix: str) -> dict[str, Any]:
    return bucket_access_policy([BucketAccess(bucket_arn, prefix, write=False)])


def bucket_prefix_read_write(bucket_arn: str, prefix: str) -> dict[str, Any]:
    return bucket_access_policy([BucketAccess(bucket_arn, prefix, write=True)])


def deny_insecure_transport_policy(bucket_arn: str) -> dict[str, Any]:
    return {
        "Version": IAM_VERSION,
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


@dataclass(frozen=True)
class ClusterOidc:
    """What an IRSA trust policy needs from the cluster."""

    provider_arn: pulumi.Input[str]
    issuer: pulumi.Input[str]  # without https://


@dataclass(frozen=True)
class IrsaRoleArgs:
    oidc: ClusterOidc
    namespace: str
    service_account: str
    # An inline policy document (JSON text), AWS-managed policy ARNs, or both.
    policy_json: pulumi.Input[str] | None = None
    managed_policy_arns: tuple[str, ...] = ()


class IrsaRole(pulumi.ComponentResource):
    """An IAM role that exactly one Kubernetes service account may assume through IRSA."""

    def __init__(self, name: str, args: IrsaRoleArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("genai:identity:IrsaRole", name, None, opts)
        if args.policy_json is None and not args.managed_policy_arns:
            raise ValueError(f"IrsaRole {name}: give a policy document or managed policy ARNs")
        child = pulumi.ResourceOptions(parent=self)
        trust = pulumi.Output.all(args.oidc.provider_arn, args.oidc.issuer).apply(
            lambda v: json.dumps(irsa_trust_policy(v[0], v[1], args.namespace, args.service_account))
        )
        self.role = aws.iam.Role(
            name, assume_role_policy=trust, description=f"IRSA: {args.namespace}/{args.service_account}", opts=child
        )
        if args.policy_json is not None:
            aws.iam.RolePolicy(name, role=self.role.name, policy=args.policy_json, opts=child)
        for i, arn in enumerate(args.managed_policy_arns):
            aws.iam.RolePolicyAttachment(f"{name}-{i}", role=self.role.name, policy_arn=arn, opts=child)
        self.arn = self.role.arn
        self.register_outputs({"arn": self.arn})
