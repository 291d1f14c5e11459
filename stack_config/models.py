"""A workspace's `model:` given in full: a model that is no preset, with the preset keys
(copied from its config.json)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from presets.catalog import FINETUNE_METHODS, ModelSpec
from stack_config.base import ConfigModel, Flag, Items, OneOf, Whole, refuse, text

# Organisations whose Hugging Face repositories are gated: downloading them needs a token.
GATED_MODEL_ORGANISATIONS = ("meta-llama", "mistralai", "google")
HF_MODEL_ID = text(r"^[A-Za-z0-9][\w.-]{0,95}/[\w.-]{1,96}$", "a Hugging Face model id, e.g. Qwen/Qwen2.5-7B-Instruct")


class ModelConfig(ConfigModel):
    """A model that is no preset: the keys of a preset entry, from the model's config.json."""

    hugging_face_id: Annotated[str, HF_MODEL_ID] = Field(description="the model's Hugging Face id")
    parameters: Annotated[int, Whole(1_000_000, 2_000_000_000_000)] = Field(description="parameter count")
    layers: Annotated[int, Whole(1, 1000)] = Field(description="num_hidden_layers")
    hidden_size: Annotated[int, Whole(64, 65536)] = Field(description="hidden_size")
    intermediate_size: Annotated[int, Whole(64, 262144)] = Field(description="intermediate_size (the MLP's width)")
    attention_heads: Annotated[int, Whole(1, 1024)] = Field(description="num_attention_heads")
    kv_heads: Annotated[int, Whole(1, 1024)] = Field(description="num_key_value_heads; divides attentionHeads")
    head_dim: Annotated[int, Whole(8, 1024)] = Field(description="head_dim")
    vocab_size: Annotated[int, Whole(256, 1_000_000)] = Field(description="vocab_size")
    max_context_length: Annotated[int, Whole(256, 1_048_576)] = Field(description="the longest context it takes")
    weight_bytes: Annotated[int, Whole(2_000_000, 4_000_000_000_000)] | None = Field(
        None, description="bf16 weight size in bytes", json_schema_extra={"x-default": "2 x parameters"}
    )
    default_context_length: Annotated[int, Whole(256, 1_048_576)] | None = Field(
        None,
        description="maxModelLen when unset; at most maxContextLength",
        json_schema_extra={"x-default": "min(maxContextLength, 8192)"},
    )
    gated: Annotated[bool, Flag()] | None = Field(
        None,
        description="downloading it needs huggingFaceToken",
        json_schema_extra={"x-default": "true for " + ", ".join(GATED_MODEL_ORGANISATIONS)},
    )
    finetune: Annotated[tuple[Annotated[str, OneOf(*FINETUNE_METHODS)], ...], Items()] = Field(
        FINETUNE_METHODS, description="the methods a finetune workspace may use on it"
    )
    lora_adapters: Annotated[bool, Flag()] = Field(True, description="whether LoRA adapters may be served on it")

    @model_validator(mode="after")
    def _rules(self) -> ModelConfig:
        if self.default_context_length is not None and self.default_context_length > self.max_context_length:
            refuse(
                f"a whole number from 256 to {self.max_context_length}",
                self.default_context_length,
                at=["defaultContextLength"],
            )
        if self.attention_heads % self.kv_heads:
            refuse(f"a divisor of attentionHeads ({self.attention_heads})", self.kv_heads, at=["kvHeads"])
        return self

    def spec(self) -> ModelSpec:
        """What the fit reads, the derived defaults filled in."""
        return ModelSpec(
            name=self.hugging_face_id,
            hugging_face_id=self.hugging_face_id,
            parameters=self.parameters,
            weight_bytes=self.weight_bytes if self.weight_bytes is not None else 2 * self.parameters,
            layers=self.layers,
            hidden_size=self.hidden_size,
            intermediate_size=self.intermediate_size,
            attention_heads=self.attention_heads,
            kv_heads=self.kv_heads,
            head_dim=self.head_dim,
            vocab_size=self.vocab_size,
            max_context_length=self.max_context_length,
            default_context_length=(
                self.default_context_length
                if self.default_context_length is not None
                else min(self.max_context_length, 8192)
            ),
            gated=self.gated
            if self.gated is not None
            else self.hugging_face_id.split("/")[0].lower() in GATED_MODEL_ORGANISATIONS,
            finetune=self.finetune,
            lora_adapters=self.lora_adapters,
        )
