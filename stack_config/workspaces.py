"""`genai-eks:workspaces`: one model doing one job each, serving (vLLM) or finetune (a LoRA/QLoRA Job).

A workspace names its model by preset (presets/models.yaml) or gives it in full. What the fit
derives from it (GPUs, instance types, the pod's shape) is not config: presets/plan.py plans it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from presets.catalog import FINETUNE_METHODS, ModelSpec, UnknownPreset, find_preset, model_presets
from stack_config.base import DNS_LABEL, NO_VALUE, ConfigModel, Items, Number, OneOf, Whole, refuse, text
from stack_config.models import ModelConfig

INFERENCE_DTYPES = ("auto", "bfloat16", "float16")
VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)  # vLLM's --max-lora-rank choices
_DATASET_KEY = r"^[\w!.*'()-]+(/[\w!.*'()-]+)+\.jsonl$"  # in a folder: access is granted per folder
_DATASET = "a .jsonl object key in a folder of the datasets bucket, e.g. "
_SHM = Annotated[int, Whole(1, 256)]


class LoraHyperparameters(ConfigModel):
    """LoRA's shape and the trainer's settings; batchSize, maxSequenceLength and loraR size the fit."""

    rank: Annotated[int, Whole(1, 256)] = Field(
        32, alias="loraR", description=("LoRA rank; at most the serving workspace's maxLoraRank")
    )
    alpha: Annotated[int, Whole(1, 1024)] = Field(64, alias="loraAlpha", description="LoRA alpha")
    dropout: Annotated[float, Number(0.0, 0.5)] = Field(0.05, alias="loraDropout", description="LoRA dropout")
    learning_rate: Annotated[float, Number(0.0, 0.01, low_open=True)] = Field(
        2.5e-5, description="the optimiser's learning rate"
    )
    max_steps: Annotated[int, Whole(1, 1_000_000)] = Field(200, description="training steps")
    batch_size: Annotated[int, Whole(1, 512)] = Field(4, description="per-device batch size (sizes the fit)")
    gradient_accumulation_steps: Annotated[int, Whole(1, 1024)] = Field(
        4, description="steps whose gradients add up to one update"
    )
    max_sequence_length: Annotated[int, Whole(64, 131072)] = Field(
        1024, description="tokens per example (sizes the fit)"
    )
    checkpoint_every_steps: Annotated[int, Whole(1, 1_000_000)] = Field(
        50, description="checkpoint interval (a spot interruption resumes from the last one)"
    )


class FinetuneConfig(ConfigModel):
    """A finetune workspace's job: one LoRA/QLoRA run whose adapter is named after the workspace."""

    run_id: Annotated[
        str,
        text(
            r"^[a-z0-9]([a-z0-9-]{0,14}[a-z0-9])?$",
            "1 to 16 lower-case letters, digits or '-' (change it to train again)",
        ),
    ] = Field("1", description="part of the Job's name; change it to train again")
    method: Annotated[Literal["lora", "qlora"], OneOf(*FINETUNE_METHODS)] = Field(
        "qlora", description="one of the model's finetune methods"
    )
    train_data: Annotated[str, text(_DATASET_KEY, _DATASET + "loyalty/train.jsonl")] = Field(
        "loyalty/train.jsonl",
        description=("training data in the datasets bucket; the Job's role may read its folder only"),
    )
    validation_data: Annotated[str, text(_DATASET_KEY, _DATASET + "loyalty/validation.jsonl")] = Field(
        "loyalty/validation.jsonl", description="validation data, likewise"
    )
    hyperparameters: LoraHyperparameters = Field(
        default_factory=LoraHyperparameters, description="LoRA's and the trainer's"
    )
    backoff_limit: Annotated[int, Whole(0, 20)] = Field(
        4, description=("failed pods retried; each retry resumes from a checkpoint (spot interruptions do not count)")
    )
    active_deadline_hours: Annotated[int, Whole(1, 168)] = Field(
        12, description=("an attempt's pod fails after running this long (waiting for a node does not count)")
    )
    ttl_hours_after_finished: Annotated[int, Whole(1, 8760)] = Field(
        168, description="a finished Job is deleted after this long"
    )
    shm_size_gib: _SHM = Field(4, alias="shmSizeGiB", description="RAM-backed /dev/shm, GiB")


class InferenceConfig(ConfigModel):
    """An inference workspace's job: a vLLM server for its model and LoRA adapters."""

    served_model_name: (
        Annotated[
            str,
            text(
                r"^[a-z0-9][a-z0-9._-]{0,63}$",
                ("1 to 64 lower-case letters, digits, '.', '_' or '-' (the model name clients send)"),
            ),
        ]
        | None
    ) = Field(
        None,
        description="the model name clients send for the base model",
        json_schema_extra={"x-default": "the preset's name"},
    )
    adapters: Annotated[
        tuple[Annotated[str, text(DNS_LABEL, "an adapter name (the name of a finetune workspace)")], ...], Items()
    ] = Field(
        (),
        description=(
            "LoRA adapters (finetune workspace names) served under their own names once published under "
            "adapters/<name>/"
        ),
    )
    replicas: Annotated[int, Whole(0, 64)] = Field(1, description="servers, tensor-parallel size GPUs each")
    max_model_len: Annotated[int, Whole(256, 1_048_576)] | None = Field(
        None,
        description="context length (--max-model-len), at most the model's maxContextLength",
        json_schema_extra={"x-default": "the model's defaultContextLength"},
    )
    concurrency: Annotated[int, Whole(1, 1024)] = Field(
        1, description=("full-length sequences the KV cache must hold at once (sizes the fit)")
    )
    gpu_memory_utilization: Annotated[float, Number(0.1, 0.98)] = Field(
        0.9, description="share of GPU memory vLLM takes (the fit's budget)"
    )
    dtype: Annotated[Literal["auto", "bfloat16", "float16"], OneOf(*INFERENCE_DTYPES)] = Field(
        "bfloat16", description="weight and activation type"
    )
    max_lora_rank: Annotated[int, Whole(8, 512, choices=VLLM_LORA_RANKS, choices_say=" (vLLM's choices)")] = Field(
        64, description="largest adapter rank the server accepts (vLLM's --max-lora-rank)"
    )
    shm_size_gib: _SHM = Field(2, alias="shmSizeGiB", description="RAM-backed /dev/shm, GiB")


_PRESETS = ", ".join(model_presets())


class Workspace(ConfigModel):
    """One model doing one job: serving it (inference) or training an adapter of it (finetune). The
    model is a preset (presets/models.yaml) or given in full; the fit places the job on the GPU node groups."""

    name: Annotated[
        str,
        text(
            DNS_LABEL,
            (
                "1 to 32 lower-case letters, digits or '-', starting with a letter "
                "(it names the Service, or the adapter and the Job)"
            ),
        ),
    ] = Field(
        description=(
            "unique; an inference workspace's Service and service account, a finetune workspace's adapter and Job"
        )
    )
    preset: Annotated[str, text("", f"a preset from presets/models.yaml: {_PRESETS}")] | None = Field(
        None, description="a preset from presets/models.yaml, by name or Hugging Face id (this or model)"
    )
    model: ModelConfig | None = Field(None, description="a model that is no preset, given in full (this or preset)")
    inference: InferenceConfig | None = Field(None, description="serve the model with vLLM (this or finetune)")
    finetune: FinetuneConfig | None = Field(
        None, description="train a LoRA/QLoRA adapter of the model (this or inference)"
    )

    @model_validator(mode="after")
    def _rules(self) -> Workspace:
        if (self.preset is None) == (self.model is None):
            refuse(
                "a preset name, or a model given in full under 'model' (one of the two)",
                self.preset if self.preset is not None else NO_VALUE,
                at=["preset"],
            )
        if self.preset is not None:
            try:
                find_preset(self.preset)
            except UnknownPreset as unknown:
                refuse(
                    f"a preset from presets/models.yaml; the nearest: {', '.join(unknown.suggestions)}",
                    self.preset,
                    at=["preset"],
                )
        if (self.inference is None) == (self.finetune is None):
            refuse(
                "exactly one of 'inference' or 'finetune': a workspace is one model doing one job",
                _dump(self.inference) if self.inference is not None else NO_VALUE,
                at=["inference"],
            )
        spec = self.spec
        if self.finetune is not None and self.finetune.method not in spec.finetune:
            refuse(
                f"one of {', '.join(spec.finetune)} (what images/finetune supports for {spec.name})"
                if spec.finetune
                else f"no finetune: the platform does not tune {spec.name} (choose another preset)",
                self.finetune.method,
                at=["finetune", "method"],
            )
        if self.inference is not None:
            if self.max_model_len > spec.max_context_length:
                refuse(
                    f"at most {spec.max_context_length}, the longest context {spec.name} takes",
                    self.max_model_len,
                    at=["inference", "maxModelLen"],
                )
            if self.inference.adapters and not spec.lora_adapters:
                refuse(
                    f"an empty list: the platform serves no LoRA adapters on {spec.name} (presets/models.yaml: "
                    "loraAdapters)",
                    list(self.inference.adapters),
                    at=["inference", "adapters"],
                )
        return self

    @property
    def spec(self) -> ModelSpec:
        """The model, as the fit reads it."""
        return find_preset(self.preset) if self.preset is not None else self.model.spec()  # type: ignore[union-attr]

    @property
    def model_key(self) -> tuple[list[str], str]:
        """The key that names the model, and its value there (what an error about the model points at)."""
        if self.preset is not None:
            return ["preset"], self.preset
        return ["model", "huggingFaceId"], self.spec.hugging_face_id

    @property
    def max_model_len(self) -> int:
        """An inference workspace's context length: as set, or the model's default."""
        assert self.inference is not None
        return self.inference.max_model_len or self.spec.default_context_length

    @property
    def served_model_name(self) -> str:
        """The name clients send for the base model: as set, or the preset's name made a valid one."""
        assert self.inference is not None
        return (
            self.inference.served_model_name or re.sub(r"[^a-z0-9._-]", "-", self.spec.name.split("/")[-1].lower())[:64]
        )


def _dump(section: ConfigModel) -> Any:
    return section.model_dump(by_alias=True, exclude_unset=True, mode="json")


def check_workspaces(workspaces: tuple[Workspace, ...], key: str) -> None:
    """Rules across workspaces: unique names; an adapter served by an inference workspace is trained on
    that workspace's model, at a rank it can load."""
    for i, workspace in enumerate(workspaces):
        if workspace.name in [w.name for w in workspaces[:i]]:
            refuse("a name used by no other workspace", workspace.name, at=[key, i, "name"])
    for i, workspace in enumerate(workspaces):
        finetune = workspace.finetune
        for server in (w for w in workspaces if w.inference is not None):
            assert server.inference is not None
            if finetune is None or workspace.name not in server.inference.adapters:
                continue
            if workspace.spec.hugging_face_id != server.spec.hugging_face_id:
                at, value = workspace.model_key
                refuse(
                    f"the model of workspace '{server.name}', {server.spec.hugging_face_id}: "
                    f"it serves adapter '{workspace.name}'",
                    value,
                    at=[key, i, *at],
                )
            if finetune.hyperparameters.rank > server.inference.max_lora_rank:
                refuse(
                    f"at most workspace '{server.name}' inference.maxLoraRank ({server.inference.max_lora_rank})",
                    finetune.hyperparameters.rank,
                    at=[key, i, "finetune", "hyperparameters", "loraR"],
                )
