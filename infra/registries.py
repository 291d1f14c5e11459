"""ECR: one private repository per image under images/, immutable tags, scanned on push.

Every tag is immutable but one: `CACHE_TAG`, BuildKit's registry cache of the image (infra/images.py),
which each build overwrites. Workloads run images by digest, never by that tag."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from stack_config import CACHE_TAG, RegistryConfig


def repository_name(name_prefix: str, image: str) -> str:
    return f"{name_prefix}/{image}"


def lifecycle_policy(keep_tagged_images: int, untagged_expiry_days: int) -> dict[str, Any]:
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": f"Expire untagged images after {untagged_expiry_days} days",
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": untagged_expiry_days,
                },
                "action": {"type": "expire"},
            },
            # ECR requires the 'any' rule to come last.
            {
                "rulePriority": 2,
                "description": f"Keep the newest {keep_tagged_images} images",
                "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep_tagged_images},
                "action": {"type": "expire"},
            },
        ]
    }


@dataclass(frozen=True)
class RegistriesArgs:
    config: RegistryConfig
    name_prefix: str  # repositories are <prefix>/<image>, so two stacks can share an account


class ImageRepositories(pulumi.ComponentResource):
    def __init__(self, name: str, args: RegistriesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("genai:infra:ImageRepositories", name, None, opts)
        cfg = args.config
        child = pulumi.ResourceOptions(parent=self)
        policy = json.dumps(lifecycle_policy(cfg.keep_tagged_images, cfg.untagged_expiry_days))
        self.urls: dict[str, pulumi.Output[str]] = {}
        self.arns: dict[str, pulumi.Output[str]] = {}
        for image in cfg.images:
            repo = aws.ecr.Repository(
                f"{name}-{image}",
                name=repository_name(args.name_prefix, image),
                # Immutable, except the build cache's tag: a cache re-pushed under an immutable tag is refused.
                image_tag_mutability="IMMUTABLE_WITH_EXCLUSION",
                image_tag_mutability_exclusion_filters=[
                    aws.ecr.RepositoryImageTagMutabilityExclusionFilterArgs(filter=CACHE_TAG, filter_type="WILDCARD")
                ],
                image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
                encryption_configurations=[aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="AES256")],
                force_delete=cfg.force_delete,
                opts=child,
            )
            aws.ecr.LifecyclePolicy(f"{name}-{image}", repository=repo.name, policy=policy, opts=child)
            self.urls[image] = repo.repository_url
            self.arns[image] = repo.arn
        self.register_outputs({"urls": self.urls})
