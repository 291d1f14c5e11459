"""Does a model fit a GPU instance, for serving and for finetune; and where in the stack's GPU
pools does a workspace go. Pure arithmetic on the two catalogues; docs/presets.md gives
the formula and a worked example, tests/test_presets.py checks it against figures done by hand.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from presets.catalog import GIB, MIB, GpuInstanceType, ModelSpec, gpu_instance_catalog

# --- serving (vLLM) ---------------------------------------------------------------------------
TENSOR_PARALLEL_SIZES = (1, 2, 4, 8)
KV_CACHE_BYTES = 2  # bf16 keys and values
# Per GPU, on top of weights and KV cache: the CUDA context, vLLM's profiled activation peak and
# its CUDA graphs (1-2 GiB for the presets' sizes), and NCCL buffers when tensor-parallel.
RUNTIME_RESERVE_BYTES = 2 * GIB

# --- finetune (images/finetune: one GPU, activation checkpointing) ------------------------------
TRAINING_MEMORY_FRACTION = 0.95  # of the GPU: what PyTorch's caching allocator loses to fragmentation
NF4_BITS = 4.127  # 4-bit NF4 + double-quantised block constants (block 64, then 256)
FP32_BYTES = 4  # QLoRA keeps the unquantised tensors (embeddings, head, norms) in fp32
TRAINABLE_BYTES = 16  # per LoRA parameter: fp32 weight, gradient, two Adam moments
ACTIVATION_BYTES_PER_LAYER = 34  # per token and hidden unit for one layer recomputed (Megatron-LM, flash attention)
CHECKPOINT_BYTES = 2  # per token, hidden unit and layer: each layer's bf16 input kept for backward
LOGIT_BYTES = 10  # per token and vocabulary entry: bf16 logits, their fp32 copy and its gradient

# --- the host side of a GPU pod -----------------------------------------------------------------
NODE_RESERVED_VCPUS = 0.5  # kubelet, containerd and the platform's daemonsets
NODE_MEMORY_FRACTION = 0.9  # EKS's kube-reserved and eviction threshold take ~10%
NODE_RESERVED_MEMORY_GIB = 1  # the daemonsets
NODE_RESERVED_DISK_GIB = 40  # the AMI and container images (vLLM's is ~20 GiB unpacked)
SCRATCH_MARGIN_GIB = 10  # adapters, compile caches, tokenizer files next to the weights


@dataclass(frozen=True)
class PodShape:
    """What one GPU pod asks of its node."""

    gpus: int
    cpu: int  # vCPUs, request and limit
    memory_gib: int  # request
    memory_limit_gib: int
    scratch_gib: int  # ephemeral storage for weights and caches


def scratch_gib(model: ModelSpec) -> int:
    return math.ceil(model.weight_bytes / GIB) + SCRATCH_MARGIN_GIB


def serving_pod(model: ModelSpec, tensor_parallel_size: int) -> PodShape:
    # One vLLM worker process per GPU, each with its CUDA libraries mapped (~4 GiB resident);
    # weights are read through mmap and stay in the reclaimable page cache.
    t = tensor_parallel_size
    memory = 6 + 4 * t
    return PodShape(
        gpus=t, cpu=1 + 2 * t, memory_gib=memory, memory_limit_gib=memory + 4, scratch_gib=scratch_gib(model)
    )


def finetune_pod(model: ModelSpec) -> PodShape:
    # Weights go from safetensors straight to the GPU (device_map), so the host holds the runtime
    # and the tokenised data set.
    return PodShape(gpus=1, cpu=3, memory_gib=10, memory_limit_gib=14, scratch_gib=scratch_gib(model))


# The GPU notebook profile (workloads/jupyterhub.py): its requests decide where it schedules.
NOTEBOOK_POD = PodShape(gpus=1, cpu=2, memory_gib=8, memory_limit_gib=12, scratch_gib=SCRATCH_MARGIN_GIB)


def host_fits(instance: GpuInstanceType, pod: PodShape, disk_gib: int) -> bool:
    """The pod fits its share of the node (its GPUs' fraction), so every GPU on the node can be used."""
    share = pod.gpus / instance.gpus
    return (
        pod.cpu <= (instance.vcpus - NODE_RESERVED_VCPUS) * share
        and pod.memory_gib <= (instance.memory_gib * NODE_MEMORY_FRACTION - NODE_RESERVED_MEMORY_GIB) * share
        and pod.scratch_gib <= (disk_gib - NODE_RESERVED_DISK_GIB) * share
    )


@dataclass(frozen=True)
class ServingSettings:
    max_model_len: int
    concurrency: int = 1  # full-length sequences the KV cache must hold at once
    gpu_memory_utilization: float = 0.9


def tensor_parallel_sizes(model: ModelSpec, gpus: int) -> tuple[int, ...]:
    """The sizes vLLM accepts: attention heads split evenly, KV heads split evenly or replicated."""
    return tuple(
        t
        for t in TENSOR_PARALLEL_SIZES
        if t <= gpus and model.attention_heads % t == 0 and (model.kv_heads % t == 0 or t % model.kv_heads == 0)
    )


def kv_cache_bytes_per_token(model: ModelSpec, tensor_parallel_size: int) -> int:
    """Keys and values of every layer for one token, on one GPU (KV heads below t are replicated)."""
    kv_heads_per_gpu = max(1, model.kv_heads // tensor_parallel_size)
    return 2 * model.layers * kv_heads_per_gpu * model.head_dim * KV_CACHE_BYTES


def serving_bytes_per_gpu(model: ModelSpec, tensor_parallel_size: int, settings: ServingSettings) -> int:
    weights = math.ceil(model.weight_bytes / tensor_parallel_size)
    kv_cache = kv_cache_bytes_per_token(model, tensor_parallel_size) * settings.max_model_len * settings.concurrency
    return weights + kv_cache + RUNTIME_RESERVE_BYTES


def serving_budget_bytes(instance: GpuInstanceType, gpu_memory_utilization: float) -> float:
    return instance.gpu_memory_mib * MIB * gpu_memory_utilization


@dataclass(frozen=True)
class ServingFit:
    instance: GpuInstanceType
    tensor_parallel_size: int
    bytes_per_gpu: int
    budget_bytes_per_gpu: float
    pod: PodShape


def fit_serving(
    model: ModelSpec, instance: GpuInstanceType, settings: ServingSettings, disk_gib: int | None = None
) -> ServingFit | None:
    """The smallest tensor-parallel size that fits one instance (GPU memory, then host), or None."""
    budget = serving_budget_bytes(instance, settings.gpu_memory_utilization)
    for t in tensor_parallel_sizes(model, instance.gpus):
        need = serving_bytes_per_gpu(model, t, settings)
        pod = serving_pod(model, t)
        if need <= budget and (disk_gib is None or host_fits(instance, pod, disk_gib)):
            return ServingFit(instance, t, need, budget, pod)
    return None


@dataclass(frozen=True)
class FinetuneSettings:
    method: str  # lora | qlora
    batch_size: int
    sequence_length: int
    lora_rank: int


def linear_parameters(model: ModelSpec) -> int:
    """The decoder's projection weights: q and o, k and v, and the three MLP projections, per layer."""
    h, a, k, d, i = model.hidden_size, model.attention_heads, model.kv_heads, model.head_dim, model.intermediate_size
    return model.layers * (2 * h * a * d + 2 * h * k * d + 3 * h * i)


def lora_parameters(model: ModelSpec, rank: int) -> int:
    """A and B of every projection: rank x (inputs + outputs) each (fused projections have fewer)."""
    h, a, k, d, i = model.hidden_size, model.attention_heads, model.kv_heads, model.head_dim, model.intermediate_size
    return rank * model.layers * (7 * h + 2 * a * d + 2 * k * d + 3 * i)


@dataclass(frozen=True)
class FinetuneMemory:
    """The bytes one training step holds on its GPU."""

    weights: int
    adapter_and_optimizer: int
    activations: int
    logits: int
    reserve: int = RUNTIME_RESERVE_BYTES

    @property
    def total(self) -> int:
        return self.weights + self.adapter_and_optimizer + self.activations + self.logits + self.reserve


def finetune_memory(model: ModelSpec, settings: FinetuneSettings) -> FinetuneMemory:
    if settings.method == "qlora":
        linear = linear_parameters(model)
        weights = math.ceil(linear * NF4_BITS / 8) + (model.parameters - linear) * FP32_BYTES
    else:
        weights = model.weight_bytes
    tokens = settings.batch_size * settings.sequence_length
    return FinetuneMemory(
        weights=weights,
        adapter_and_optimizer=lora_parameters(model, settings.lora_rank) * TRAINABLE_BYTES,
        activations=tokens * model.hidden_size * (CHECKPOINT_BYTES * model.layers + ACTIVATION_BYTES_PER_LAYER),
        logits=tokens * model.vocab_size * LOGIT_BYTES,
    )


def finetune_budget_bytes(instance: GpuInstanceType) -> float:
    return instance.gpu_memory_mib * MIB * TRAINING_MEMORY_FRACTION


@dataclass(frozen=True)
class FinetuneFit:
    instance: GpuInstanceType
    memory: FinetuneMemory
    budget_bytes: float
    pod: PodShape
    tensor_parallel_size: int = 1  # images/finetune trains on one GPU


def fit_finetune(
    model: ModelSpec, instance: GpuInstanceType, settings: FinetuneSettings, disk_gib: int | None = None
) -> FinetuneFit | None:
    """One GPU of the instance holds the training step (images/finetune trains on one GPU), or None."""
    memory, budget, pod = finetune_memory(model, settings), finetune_budget_bytes(instance), finetune_pod(model)
    if memory.total <= budget and (disk_gib is None or host_fits(instance, pod, disk_gib)):
        return FinetuneFit(instance, memory, budget, pod)
    return None


# --- placing a workspace on the stack's GPU pools (Karpenter NodePools and managed node groups) ---


class GpuPool(Protocol):
    """What placement reads of a GPU pool (read-only: the stack config's models are frozen)."""

    @property
    def name(self) -> str: ...
    @property
    def instance_types(self) -> tuple[str, ...]: ...
    @property
    def disk_size_gib(self) -> int | None: ...  # None: the root volume is sized to what is placed


@dataclass(frozen=True)
class Placement:
    """Where a workspace's pods run: the instance types (in the named pools) that fit, and their shape."""

    pools: tuple[str, ...]
    instance_types: tuple[str, ...]
    pod: PodShape
    tensor_parallel_size: int = 1


class NoFit(ValueError):
    """No GPU pool of the stack can host the workspace; the message says its need and the offer."""


# A pool whose root volume is sized from what lands on it: placement checks no disk limit there.
SIZED_DISK_GIB = 16384


def _disk(pool: GpuPool) -> int:
    return SIZED_DISK_GIB if pool.disk_size_gib is None else pool.disk_size_gib


def root_volume_gib(pods: Iterable[PodShape], instances: Iterable[GpuInstanceType]) -> int:
    """The root volume a node needs so that every GPU of its largest instance runs the pod with the
    most scratch per GPU: the AMI and images, plus that scratch times the GPUs."""
    per_gpu = max((pod.scratch_gib / pod.gpus for pod in pods), default=SCRATCH_MARGIN_GIB)
    gpus = max((instance.gpus for instance in instances), default=1)
    return math.ceil(NODE_RESERVED_DISK_GIB + per_gpu * gpus)


def _gib(n: float) -> str:
    return f"{n / GIB:.1f} GiB"


def _fits_elsewhere(fit_one: Callable[[GpuInstanceType], ServingFit | FinetuneFit | None]) -> str:
    """The smallest instance of each family, anywhere in the catalogue, that would host it, and the
    diskSizeGiB its pool would need for every GPU of a node to run such a pod."""
    found: dict[str, str] = {}
    for instance in gpu_instance_catalog().values():
        fit = fit_one(instance)
        if fit is not None and instance.family not in found:
            tp = fit.tensor_parallel_size
            disk = math.ceil(NODE_RESERVED_DISK_GIB + fit.pod.scratch_gib * instance.gpus / fit.pod.gpus)
            found[instance.family] = (
                f"{instance.name} ({f'tensor-parallel {tp}, ' if tp > 1 else ''}diskSizeGiB >= {disk})"
            )
    return ", ".join(found.values()) or "no instance type in infra/gpu_instances.yaml"


def _largest(groups: Sequence[GpuPool]) -> tuple[GpuPool, GpuInstanceType] | None:
    catalog = gpu_instance_catalog()
    pairs = [(g, catalog[t]) for g in groups for t in g.instance_types]
    return max(pairs, key=lambda p: (p[1].gpus * p[1].gpu_memory_mib, p[1].memory_gib), default=None)


def _offer(groups: Sequence[GpuPool], budget_fraction: float, per_gpu: bool = True) -> str:
    largest = _largest(groups)
    if largest is None:
        return "the stack has no GPU pools (gpuNodePools or gpuNodeGroups)"
    group, instance = largest
    disk = "a root volume sized to fit" if group.disk_size_gib is None else f"{group.disk_size_gib} GiB disk"
    usable = instance.gpu_memory_mib * MIB * budget_fraction
    return (
        f"the largest GPU pool '{group.name}' offers {instance.name}: {instance.gpus} x {instance.gpu_model}, "
        f"{_gib(usable)} usable per GPU ({instance.gpu_memory_mib} MiB x {budget_fraction:g}), "
        f"{instance.vcpus} vCPUs, {instance.memory_gib} GiB memory, {disk}"
    )


def place_serving(model: ModelSpec, settings: ServingSettings, groups: Sequence[GpuPool]) -> Placement:
    one_gpu = serving_bytes_per_gpu(model, 1, settings)
    kv = kv_cache_bytes_per_token(model, 1) * settings.max_model_len * settings.concurrency
    pod = serving_pod(model, 1)
    need = (
        f"needs {_gib(one_gpu)} of GPU memory on one GPU (weights {_gib(model.weight_bytes)}, KV cache {_gib(kv)} "
        f"for {settings.concurrency} x {settings.max_model_len} tokens, runtime {_gib(RUNTIME_RESERVE_BYTES)}) "
        f"or less per GPU split over 2-8 GPUs of one node, with {pod.cpu}+ vCPUs, {pod.memory_gib}+ GiB memory "
        f"and {pod.scratch_gib} GiB scratch disk"
    )
    return _place(
        groups,
        lambda instance, disk: fit_serving(model, instance, settings, disk),
        need,
        settings.gpu_memory_utilization,
    )


def place_finetune(model: ModelSpec, settings: FinetuneSettings, groups: Sequence[GpuPool]) -> Placement:
    memory, pod = finetune_memory(model, settings), finetune_pod(model)
    need = (
        f"needs {_gib(memory.total)} of GPU memory on one GPU for {settings.method} (weights {_gib(memory.weights)}, "
        f"adapter and optimizer {_gib(memory.adapter_and_optimizer)}, activations {_gib(memory.activations)}, "
        f"logits {_gib(memory.logits)} for batch {settings.batch_size} x {settings.sequence_length} tokens, "
        f"runtime {_gib(memory.reserve)}), with {pod.cpu}+ vCPUs, {pod.memory_gib}+ GiB memory and "
        f"{pod.scratch_gib} GiB scratch disk"
    )
    return _place(
        groups, lambda instance, disk: fit_finetune(model, instance, settings, disk), need, TRAINING_MEMORY_FRACTION
    )


def _place(
    groups: Sequence[GpuPool],
    fit_one: Callable[[GpuInstanceType, int], ServingFit | FinetuneFit | None],
    need: str,
    budget_fraction: float,
) -> Placement:
    """The smallest tensor-parallel size any group's instance types fit, and every type that fits at it."""
    catalog = gpu_instance_catalog()
    fits = [(g, fit) for g in groups for t in g.instance_types if (fit := fit_one(catalog[t], _disk(g))) is not None]
    if not fits:
        raise NoFit(
            f"{need}; {_offer(groups, budget_fraction)}. It would fit on: "
            + _fits_elsewhere(lambda instance: fit_one(instance, 10_000))
        )
    tp = min(fit.tensor_parallel_size for _, fit in fits)
    chosen = [(g, fit) for g, fit in fits if fit.tensor_parallel_size == tp]
    return Placement(
        pools=_unique(g.name for g, _ in chosen),
        instance_types=_unique(fit.instance.name for _, fit in chosen),
        pod=chosen[0][1].pod,
        tensor_parallel_size=tp,
    )


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))
