"""`plan_workspaces`: where each workspace of a parsed stack config runs, beside the fit.

Config stays data (stack_config); this turns each workspace into what its component builds: the
model, the values derived from it (context length, served name) and the placement the fit found
on the stack's GPU pools (Karpenter NodePools, managed node groups). A workspace that fits nowhere,
or GPUs the pools cannot hold (a pool's gpuLimit, a group's maxSize), raise `ConfigError` naming the
key to change, before any resource exists. Each Karpenter pool's root volume is sized here too.
"""

from __future__ import annotations

from dataclasses import dataclass

from presets.catalog import ModelSpec, gpu_instance_catalog
from presets.fit import (
    NOTEBOOK_POD,
    FinetuneSettings,
    NoFit,
    Placement,
    PodShape,
    ServingSettings,
    host_fits,
    place_finetune,
    place_serving,
    root_volume_gib,
)
from stack_config import (
    PROJECT,
    ConfigError,
    FinetuneConfig,
    GpuNodePoolConfig,
    InferenceConfig,
    StackConfig,
    Workspace,
)

WORKSPACES = f"{PROJECT}:workspaces"


@dataclass(frozen=True)
class ServingWorkspace:
    """An inference workspace, planned: a vLLM server (workloads/inference.py)."""

    name: str  # the Deployment, Service and service account
    model: ModelSpec
    config: InferenceConfig
    max_model_len: int
    served_model_name: str
    placement: Placement

    @property
    def tensor_parallel_size(self) -> int:
        return self.placement.tensor_parallel_size

    @property
    def gpus(self) -> int:
        """What its replicas claim on `pulumi up`."""
        return self.config.replicas * self.placement.pod.gpus


@dataclass(frozen=True)
class FinetuneWorkspace:
    """A finetune workspace, planned: one LoRA/QLoRA Job whose adapter is named after it (workloads/finetune.py)."""

    name: str  # the adapter's name
    model: ModelSpec
    config: FinetuneConfig
    placement: Placement

    @property
    def gpus(self) -> int:
        return self.placement.pod.gpus


@dataclass(frozen=True)
class PlannedNodePool:
    """A Karpenter GPU pool, planned: its root volume fits every GPU of its largest node running the
    pod with the most scratch per GPU placed on it (infra/karpenter.py builds it)."""

    config: GpuNodePoolConfig
    root_volume_gib: int

    @property
    def name(self) -> str:
        return self.config.name


@dataclass(frozen=True)
class WorkspacePlan:
    serving: tuple[ServingWorkspace, ...]
    finetune: tuple[FinetuneWorkspace, ...]
    node_pools: tuple[PlannedNodePool, ...] = ()
    notebook_pool: str | None = None  # where the GPU notebook profile runs (None: no profile)

    @property
    def default_llm(self) -> ServingWorkspace | None:
        """The first inference workspace: the RAG service and the chatbot ask it."""
        return next(iter(self.serving), None)


def _plan(workspace: Workspace, index: int, config: StackConfig) -> ServingWorkspace | FinetuneWorkspace:
    model, groups = workspace.spec, config.gpu_pools
    try:
        if workspace.inference is not None:
            serving = workspace.inference
            settings = ServingSettings(workspace.max_model_len, serving.concurrency, serving.gpu_memory_utilization)
            return ServingWorkspace(
                workspace.name,
                model,
                serving,
                workspace.max_model_len,
                workspace.served_model_name,
                place_serving(model, settings, groups),
            )
        assert workspace.finetune is not None
        finetune, hp = workspace.finetune, workspace.finetune.hyperparameters
        placement = place_finetune(
            model, FinetuneSettings(finetune.method, hp.batch_size, hp.max_sequence_length, hp.rank), groups
        )
        return FinetuneWorkspace(workspace.name, model, finetune, placement)
    except NoFit as no_fit:
        job = "serving" if workspace.inference is not None else f"{workspace.finetune.method} finetune"  # type: ignore[union-attr]
        at, value = workspace.model_key
        raise ConfigError(
            f"{WORKSPACES}[{index}].{'.'.join(at)}",
            value,
            f"a model the stack's GPU pools can host: workspace '{workspace.name}' ({job}) {no_fit}",
        ) from None


def plan_workspaces(config: StackConfig) -> WorkspacePlan:
    """Each workspace placed; the GPUs they claim on `pulumi up` checked against what the pools may hold
    (a Karpenter pool's gpuLimit, a managed group's maxSize nodes)."""
    planned = [_plan(w, i, config) for i, w in enumerate(config.workspaces)]
    # Each workspace's GPUs must fit the pools it was placed on, and all of them the pools together.
    pools = {p.name: p for p in config.gpu_pools}
    for i, ws in enumerate(planned):
        room = sum(pools[p].gpu_capacity for p in ws.placement.pools)
        if ws.gpus > room:
            assert isinstance(ws, ServingWorkspace)
            raise ConfigError(
                f"{WORKSPACES}[{i}].inference.replicas",
                ws.config.replicas,
                f"at most {room // ws.placement.pod.gpus}: workspace '{ws.name}' takes "
                f"{ws.placement.pod.gpus} GPUs a replica, and the pools that fit it "
                f"({', '.join(ws.placement.pools)}) hold {room} (gpuLimit, or maxSize nodes)",
            )
    gpus = sum(ws.gpus for ws in planned)
    capacity = sum(p.gpu_capacity for p in config.gpu_pools)
    if gpus > capacity:
        key = "gpuNodePools" if config.gpu_node_pools else "gpuNodeGroups"
        raise ConfigError(
            f"{PROJECT}:{key}",
            [p.name for p in config.gpu_pools],
            f"GPU pools with room for the workspaces' {gpus} GPUs (inference replicas x tensor-parallel size, "
            f"one per finetune Job); their gpuLimit and maxSize allow {capacity}",
        )
    notebook_pool = _notebook_pool(config)
    return WorkspacePlan(
        serving=tuple(w for w in planned if isinstance(w, ServingWorkspace)),
        finetune=tuple(w for w in planned if isinstance(w, FinetuneWorkspace)),
        node_pools=tuple(_size(pool, planned, notebook_pool) for pool in config.gpu_node_pools),
        notebook_pool=notebook_pool,
    )


def _notebook_pool(config: StackConfig) -> str | None:
    """The first pool with an instance type that hosts the GPU notebook profile (Karpenter pools first)."""
    if not (config.jupyterhub.enabled and config.jupyterhub.gpu_profile):
        return None
    catalog = gpu_instance_catalog()
    for pool in config.gpu_pools:
        disk = pool.disk_size_gib
        if any(host_fits(catalog[t], NOTEBOOK_POD, disk if disk is not None else 16384) for t in pool.instance_types):
            return pool.name
    raise ConfigError(
        f"{PROJECT}:jupyterhub.gpuProfile",
        True,
        f"false, or a GPU pool with an instance type for the GPU notebook ({NOTEBOOK_POD.cpu}+ vCPUs, "
        f"{NOTEBOOK_POD.memory_gib}+ GiB memory, 1 GPU); the stack's pools: "
        + (", ".join(p.name for p in config.gpu_pools) or "none"),
    )


def _size(
    pool: GpuNodePoolConfig, planned: list[ServingWorkspace | FinetuneWorkspace], notebook_pool: str | None
) -> PlannedNodePool:
    if pool.disk_size_gib is not None:
        return PlannedNodePool(pool, pool.disk_size_gib)
    catalog = gpu_instance_catalog()
    pods: list[PodShape] = [ws.placement.pod for ws in planned if pool.name in ws.placement.pools]
    if notebook_pool == pool.name:
        pods.append(NOTEBOOK_POD)
    return PlannedNodePool(pool, root_volume_gib(pods, (catalog[t] for t in pool.instance_types)))
