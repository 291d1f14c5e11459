"""`genai-eks:storage`: the EBS CSI add-on behind the default encrypted gp3 StorageClass."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from stack_config.base import ConfigModel, addon_version


class StorageConfig(ConfigModel):
    """The EBS CSI add-on; the default StorageClass is encrypted gp3 (infra/storage.py)."""

    ebs_csi_addon_version: Annotated[str, addon_version("v1.50.1-eksbuild.1")] | None = Field(
        None, description="pin the EBS CSI add-on; none: EKS's default for the Kubernetes version"
    )
