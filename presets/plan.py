"""`plan_workspaces`: where each workspace of a parsed stack config runs, beside the fit.

Config stays data (stack_config); this turns each workspace into what its component builds: the
model, the values derived from it (context length, served name) and the placement the fit found
on the stack's GPU node groups. A workspace that fits nowhere, or GPUs the groups cannot hold at
their maximum size, raise `ConfigError` naming the key to change, before any resource exists.
"""

from __future__ import annotations

from dataclasses import dataclass

from presets.catalog import ModelSpec
from presets.fit import FinetuneSettings, NoFit, Placement, ServingSettings, place_finetune, place_serving
from stack_config import PROJECT, ConfigError, FinetuneConfig, InferenceConfig, StackConfig, Workspace

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
class WorkspacePlan:
    serving: tuple[ServingWorkspace, ...]
    finetune: tuple[FinetuneWorkspace, ...]

    @property
    def default_llm(self) -> ServingWorkspace | None:
        """The first inference workspace: the RAG service and the chatbot ask it."""
        return next(iter(self.serving), None)


def _plan(workspace: Workspace, index: int, config: StackConfig) -> ServingWorkspace | FinetuneWorkspace:
    model, groups = workspace.spec, config.gpu_node_groups
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
            f"a model the stack's gpuNodeGroups can host: workspace '{workspace.name}' ({job}) {no_fit}",
        ) from None


def plan_workspaces(config: StackConfig) -> WorkspacePlan:
    """Each workspace placed; the GPUs they claim on `pulumi up` checked against the groups' maximum size."""
    planned = [_plan(w, i, config) for i, w in enumerate(config.workspaces)]
    # Each workspace's GPUs must fit the groups it was placed on, and all of them the GPU groups together.
    groups = {g.name: g for g in config.gpu_node_groups}
    for i, ws in enumerate(planned):
        room = sum(groups[g].max_size * groups[g].gpus_per_node for g in ws.placement.node_groups)
        if ws.gpus > room:
            assert isinstance(ws, ServingWorkspace)
            raise ConfigError(
                f"{WORKSPACES}[{i}].inference.replicas",
                ws.config.replicas,
                f"at most {room // ws.placement.pod.gpus}: workspace '{ws.name}' takes "
                f"{ws.placement.pod.gpus} GPUs a replica, and the groups that fit it "
                f"({', '.join(ws.placement.node_groups)}) have {room} at maxSize",
            )
    gpus = sum(ws.gpus for ws in planned)
    capacity = sum(g.max_size * g.gpus_per_node for g in config.gpu_node_groups)
    if gpus > capacity:
        raise ConfigError(
            f"{PROJECT}:gpuNodeGroups",
            [g.name for g in config.gpu_node_groups],
            f"GPU node groups with room for the workspaces' {gpus} GPUs (inference replicas x tensor-parallel size, "
            f"one per finetune Job); their maxSize allows {capacity}",
        )
    return WorkspacePlan(
        serving=tuple(w for w in planned if isinstance(w, ServingWorkspace)),
        finetune=tuple(w for w in planned if isinstance(w, FinetuneWorkspace)),
    )
