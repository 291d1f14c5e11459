"""The two catalogues the fit reads, as data: model presets (presets/models.yaml) and AWS GPU
instance types (infra/gpu_instances.yaml)."""

from __future__ import annotations

import difflib
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
MODELS_FILE = ROOT / "presets" / "models.yaml"
GPU_INSTANCES_FILE = ROOT / "infra" / "gpu_instances.yaml"
FINETUNE_METHODS = ("lora", "qlora")
MIB = 2**20
GIB = 2**30


@dataclass(frozen=True)
class GpuInstanceType:
    name: str
    gpus: int
    gpu_model: str
    gpu_memory_gib: int  # as AWS sells it
    vcpus: int
    memory_gib: int
    gpu_memory_mib: int = 0  # what the driver reports: the total vLLM's utilisation is a fraction of

    @property
    def family(self) -> str:
        return self.name.split(".")[0]

    def describe(self) -> str:
        return f"{self.name} ({self.gpus} x {self.gpu_model}, {self.gpu_memory_mib / 1024:.1f} GiB each)"


@functools.cache
def gpu_instance_catalog() -> Mapping[str, GpuInstanceType]:
    data = yaml.safe_load(GPU_INSTANCES_FILE.read_text())
    families = data["families"]
    return {
        name: GpuInstanceType(
            name=name,
            gpus=spec["gpus"],
            gpu_model=families[name.split(".")[0]]["gpuModel"],
            gpu_memory_gib=families[name.split(".")[0]]["gpuMemoryGiB"],
            gpu_memory_mib=families[name.split(".")[0]]["gpuMemoryMiB"],
            vcpus=spec["vcpus"],
            memory_gib=spec["memoryGiB"],
        )
        for name, spec in data["instances"].items()
    }


@dataclass(frozen=True)
class ModelSpec:
    """What the fit needs to know about a model: its size and shape, from its config.json."""

    name: str  # the preset name, or the Hugging Face id for a model given in full
    hugging_face_id: str
    parameters: int
    weight_bytes: int  # at bf16
    layers: int
    hidden_size: int
    intermediate_size: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    vocab_size: int
    max_context_length: int
    default_context_length: int
    gated: bool = False
    finetune: tuple[str, ...] = FINETUNE_METHODS
    lora_adapters: bool = True


# The keys of a preset entry (and of a workspace's `model:` object), in the catalogue's spelling.
SPEC_KEYS = {
    "huggingFaceId": "hugging_face_id",
    "parameters": "parameters",
    "weightBytes": "weight_bytes",
    "layers": "layers",
    "hiddenSize": "hidden_size",
    "intermediateSize": "intermediate_size",
    "attentionHeads": "attention_heads",
    "kvHeads": "kv_heads",
    "headDim": "head_dim",
    "vocabSize": "vocab_size",
    "maxContextLength": "max_context_length",
    "defaultContextLength": "default_context_length",
    "gated": "gated",
    "finetune": "finetune",
    "loraAdapters": "lora_adapters",
}


def spec_from_data(name: str, data: Mapping[str, Any]) -> ModelSpec:
    values = {SPEC_KEYS[k]: v for k, v in data.items()}
    if "finetune" in values:
        values["finetune"] = tuple(values["finetune"])
    return ModelSpec(name=name, **values)


@functools.cache
def model_presets() -> Mapping[str, ModelSpec]:
    data = yaml.safe_load(MODELS_FILE.read_text())["presets"]
    return {name: spec_from_data(name, entry) for name, entry in data.items()}


class UnknownPreset(KeyError):
    def __init__(self, name: str, suggestions: tuple[str, ...]):
        self.name, self.suggestions = name, suggestions
        super().__init__(name)


def find_preset(name: str) -> ModelSpec:
    """A preset by its name or its Hugging Face id (any case); UnknownPreset carries the nearest names."""
    presets = model_presets()
    by_key = {**{p.hugging_face_id.lower(): p for p in presets.values()}, **{k.lower(): p for k, p in presets.items()}}
    found = by_key.get(str(name).lower())
    if found is not None:
        return found
    lowered = str(name).lower()
    near = difflib.get_close_matches(lowered, list(presets), n=3, cutoff=0.5)
    near += [p for p in presets if p not in near and (lowered in p or p in lowered)]
    if not near:
        near = difflib.get_close_matches(lowered, list(presets), n=3, cutoff=0.0)
    raise UnknownPreset(str(name), tuple(near[:3]))
