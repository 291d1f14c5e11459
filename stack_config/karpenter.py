"""`genai-eks:karpenter` and `genai-eks:gpuNodePools`: GPU capacity that Karpenter provisions on demand.

A pool is a Karpenter NodePool (with its EC2NodeClass): no node exists until a pod asks for one,
and an empty or underused node is removed after `consolidateAfter`. The fit places workspaces on
pools as on managed node groups; a pool's `gpuLimit` is its spend ceiling.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from presets.catalog import gpu_instance_catalog
from stack_config.base import ConfigModel, Items, OneOf, Whole, non_empty_list, refuse, text

CAPACITY_TYPES: tuple[Literal["spot", "on-demand"], ...] = (
    "spot",
    "on-demand",
)  # karpenter.sh/capacity-type values (kubernetes-sigs/karpenter labels.go)
# An EKS-optimised AL2023 release, pinned: `latest` would roll every node to each weekly AMI (drift).
# Karpenter picks the NVIDIA variant of the release for GPU instance types.
DEFAULT_AMI_ALIAS = "al2023@v20260930"
_NAME = text(r"^[a-z0-9][a-z0-9-]{0,29}$", "1 to 30 lower-case letters, digits or '-', starting with a letter or digit")
_INSTANCE_TYPE = text(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$", "an EC2 instance type, e.g. g6.xlarge")
# Karpenter's duration fields (NillableDuration): Go durations of hours, minutes and seconds, or Never.
_DURATION = r"^([0-9]+(s|m|h))+$"
_BUDGET_NODES = r"^((100|[0-9]{1,2})%|[0-9]+)$"  # the NodePool CRD's budgets[].nodes pattern


class KarpenterConfig(ConfigModel):
    """The Karpenter controller (on the system node group) and what every GPU node it launches shares."""

    ami_alias: Annotated[str, text(r"^al2023@v[0-9]{8}$", "an AL2023 release alias, e.g. al2023@v20260930")] = Field(
        DEFAULT_AMI_ALIAS,
        alias="amiAlias",
        description=(
            "the EKS-optimised AL2023 release of every GPU node (a dated alias, never latest); "
            "Karpenter picks its NVIDIA variant"
        ),
    )
    replicas: Annotated[int, Whole(1, 3)] = Field(
        2, description="controller replicas on the system nodes (one leads; a second takes over in seconds)"
    )


class GpuNodePoolConfig(ConfigModel):
    """A Karpenter NodePool of GPU nodes: tainted nvidia.com/gpu=true:NoSchedule, spot first, on demand."""

    name: Annotated[str, _NAME] = Field(
        description="the NodePool, its EC2NodeClass and the nodes' `genai.platform/node-pool` label; unique"
    )
    instance_types: Annotated[tuple[Annotated[str, _INSTANCE_TYPE], ...], non_empty_list()] = Field(
        description="GPU instance types from infra/gpu_instances.yaml the pool may launch"
    )
    capacity_types: Annotated[
        tuple[Annotated[Literal["spot", "on-demand"], OneOf(*CAPACITY_TYPES)], ...], non_empty_list()
    ] = Field(
        CAPACITY_TYPES,
        alias="capacityTypes",
        description="spot and on-demand: Karpenter launches spot and falls back to on-demand when spot has no capacity",
    )
    gpu_limit: Annotated[int, Whole(1, 1000)] = Field(
        alias="gpuLimit", description="GPUs the pool may run at once: the spend ceiling (nvidia.com/gpu limit)"
    )
    consolidate_after: Annotated[str, text(_DURATION, "a duration such as 30s, 10m or 1h")] = Field(
        "10m",
        alias="consolidateAfter",
        description="how long a node stays empty or underused before Karpenter removes or replaces it",
    )
    expire_after: Annotated[str, text(_DURATION + "|^Never$", "a duration such as 720h, or Never")] = Field(
        "720h", alias="expireAfter", description="a node's longest life: replaced after it, so AMIs and kernels renew"
    )
    disruption_budget: Annotated[str, text(_BUDGET_NODES, "a node count or a percentage, e.g. 1 or 10%")] = Field(
        "1",
        alias="disruptionBudget",
        description="nodes Karpenter may disrupt at once (consolidation, drift, expiry); spot interruptions ignore it",
    )
    disk_size_gib: Annotated[int, Whole(50, 16384)] | None = Field(
        None,
        alias="diskSizeGiB",
        description=(
            "encrypted gp3 root volume, GiB; unset: sized from the workspaces placed on the pool "
            "(the fit's scratch for every GPU of its largest node)"
        ),
    )

    @model_validator(mode="after")
    def _rules(self) -> Any:
        catalog = gpu_instance_catalog()
        for i, instance_type in enumerate(self.instance_types):
            if instance_type not in catalog:
                refuse(
                    "an NVIDIA GPU instance type from infra/gpu_instances.yaml: " + ", ".join(catalog),
                    instance_type,
                    at=["instanceTypes", i],
                )
        return self

    @property
    def gpu_capacity(self) -> int:
        """GPUs the pool can hold at once: its limit."""
        return self.gpu_limit


GPU_NODE_POOLS = Annotated[
    tuple[GpuNodePoolConfig, ...], Items("a list of GPU node pools (an empty list for none)", unique=False)
]
