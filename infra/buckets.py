"""S3: the datasets and model-assets buckets, private, encrypted, versioned, TLS only."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from infra.identity import deny_insecure_transport_policy
from stack_config import BucketConfig

BUCKET_PURPOSES = ("datasets", "model-assets")


@dataclass(frozen=True)
class BucketsArgs:
    config: BucketConfig
    name_prefix: str


@dataclass(frozen=True)
class BucketRef:
    """What a workload needs to be granted access to a bucket."""

    name: pulumi.Output[str]
    arn: pulumi.Output[str]


class Buckets(pulumi.ComponentResource):
    datasets: BucketRef
    model_assets: BucketRef

    def __init__(self, name: str, args: BucketsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("genai:infra:Buckets", name, None, opts)
        # S3 names are global: a random suffix keeps two accounts (or a re-created stack) from colliding.
        suffix = random.RandomId(f"{name}-suffix", byte_length=4, opts=pulumi.ResourceOptions(parent=self))
        refs = {purpose: self._bucket(f"{name}-{purpose}", purpose, suffix.hex, args) for purpose in BUCKET_PURPOSES}
        self.datasets, self.model_assets = refs["datasets"], refs["model-assets"]
        self.register_outputs({"datasets": self.datasets.name, "model_assets": self.model_assets.name})

    def _bucket(self, name: str, purpose: str, suffix: pulumi.Output[str], args: BucketsArgs) -> BucketRef:
        cfg = args.config
        child = pulumi.ResourceOptions(parent=self)
        bucket = aws.s3.Bucket(
            name,
            bucket=suffix.apply(lambda s: f"{args.name_prefix}-{purpose}-{s}"),
            force_destroy=cfg.force_destroy,
            opts=child,
        )
        aws.s3.BucketOwnershipControls(
            name,
            bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child,
        )
        public_access_block = aws.s3.BucketPublicAccessBlock(
            name,
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            name,
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="AES256"
                    )
                )
            ],
            opts=child,
        )
        versioning = aws.s3.BucketVersioning(
            name,
            bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=child,
        )
        # Versioning guards against overwrites; old versions and abandoned uploads still expire to bound the bill.
        aws.s3.BucketLifecycleConfiguration(
            name,
            bucket=bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-noncurrent-and-abandoned-uploads",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=cfg.noncurrent_version_expiry_days
                    ),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=7
                    ),
                )
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
        )
        # S3 rejects policy writes that race the public access block on the same bucket.
        aws.s3.BucketPolicy(
            name,
            bucket=bucket.id,
            policy=bucket.arn.apply(lambda arn: json.dumps(deny_insecure_transport_policy(arn))),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_access_block]),
        )
        return BucketRef(name=bucket.bucket, arn=bucket.arn)
