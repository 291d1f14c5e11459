"""`genai-eks:systemNodeGroup` and `genai-eks:gpuNodeGroups`: the managed node groups."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from presets.catalog import gpu_instance_catalog
from stack_config.base import ConfigModel, OneOf, Whole, non_empty_list, refuse, text

CAPACITY_TYPES = ("ON_DEMAND", "SPOT")
_NAME = text(r"^[a-z0-9][a-z0-9-]{0,29}$", "1 to 30 lower-case letters, digits or '-', starting with a letter or digit")
_INSTANCE_TYPE = text(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$", "an EC2 instance type, e.g. m7i.large")
_INSTANCE_TYPES = Annotated[tuple[Annotated[str, _INSTANCE_TYPE], ...], non_empty_list()]
_SIZE = "{} of the group (nodes)"


class NodeGroupConfig(ConfigModel):
    """A managed node group; as systemNodeGroup, the on-demand CPU nodes for CoreDNS, add-ons and CPU work."""

    name: Annotated[str, _NAME] = Field("system", description="the node group and its `genai.platform/node-pool` label")
    instance_types: _INSTANCE_TYPES = Field(description="CPU instance types, e.g. [m7i.large]; GPU types are refused")
    capacity_type: Annotated[Literal["ON_DEMAND", "SPOT"], OneOf(*CAPACITY_TYPES)] = Field(
        "ON_DEMAND", description="on-demand or spot instances"
    )
    min_size: Annotated[int, Whole(0, 100)] = Field(
        description="nodes at least; the system group needs 1 (CoreDNS, the add-ons)"
    )
    desired_size: Annotated[int, Whole(0, 100)] = Field(description="nodes at creation, from minSize to maxSize")
    max_size: Annotated[int, Whole(1, 100)] = Field(description="nodes at most")
    disk_size_gib: Annotated[int, Whole(20, 16384)] = Field(
        50, alias="diskSizeGiB", description="encrypted gp3 root volume, GiB"
    )

    @model_validator(mode="after")
    def _rules(self) -> Any:
        catalog = gpu_instance_catalog()
        gpu = isinstance(self, GpuNodeGroupConfig)
        for i, instance_type in enumerate(self.instance_types):
            if gpu and instance_type not in catalog:
                refuse(
                    "an NVIDIA GPU instance type from infra/gpu_instances.yaml: " + ", ".join(catalog),
                    instance_type,
                    at=["instanceTypes", i],
                )
            if not gpu and instance_type in catalog:
                refuse(
                    "a CPU instance type (GPU instances belong in gpuNodeGroups)",
                    instance_type,
                    at=["instanceTypes", i],
                )
        if gpu:
            gpu_counts = {t: catalog[t].gpus for t in self.instance_types}
            if len(set(gpu_counts.values())) > 1:
                refuse(
                    f"instance types with the same GPU count, so every node fits the same pods (got {gpu_counts})",
                    list(self.instance_types),
                    at=["instanceTypes"],
                )
        if self.min_size > self.max_size:
            refuse(f"at most maxSize ({self.max_size})", self.min_size, at=["minSize"])
        if not self.min_size <= self.desired_size <= self.max_size:
            refuse(
                f"a number from minSize ({self.min_size}) to maxSize ({self.max_size})",
                self.desired_size,
                at=["desiredSize"],
            )
        if not gpu and self.min_size < 1:
            refuse("at least 1: the system group runs CoreDNS and the add-ons", self.min_size, at=["minSize"])
        return self


class GpuNodeGroupConfig(NodeGroupConfig):
    """A GPU node group: tainted nvidia.com/gpu=true:NoSchedule, spot by default."""

    name: Annotated[str, _NAME] = Field(
        description="the node group and its `genai.platform/node-pool` label; unique",
        json_schema_extra={"x-default": "gpu-<index>"},
    )
    instance_types: _INSTANCE_TYPES = Field(
        description="GPU instance types from infra/gpu_instances.yaml, all with the same GPU count"
    )
    capacity_type: Annotated[Literal["ON_DEMAND", "SPOT"], OneOf(*CAPACITY_TYPES)] = Field(
        "SPOT", description="spot (the default: up to ~70% cheaper) or on-demand instances"
    )
    min_size: Annotated[int, Whole(0, 100)] = Field(description="nodes at least; 0 lets the group sit empty")
    disk_size_gib: Annotated[int, Whole(50, 16384)] = Field(
        100, alias="diskSizeGiB", description="encrypted gp3 root volume, GiB: room for large inference images"
    )

    @property
    def gpus_per_node(self) -> int:
        return gpu_instance_catalog()[self.instance_types[0]].gpus

    @property
    def gpu_capacity(self) -> int:
        """GPUs the group can hold at once: maxSize nodes."""
        return self.max_size * self.gpus_per_node
