"""`genai-eks:buckets`: the datasets and model-assets S3 buckets."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from stack_config.base import ConfigModel, Flag, Whole


class BucketConfig(ConfigModel):
    """Both buckets: encrypted, versioned, TLS only, no public access."""

    force_destroy: Annotated[bool, Flag()] = Field(
        False, description="let `pulumi destroy` empty and delete the buckets"
    )
    noncurrent_version_expiry_days: Annotated[int, Whole(1, 3650)] = Field(
        30, description="lifecycle: old object versions expire after this many days"
    )
