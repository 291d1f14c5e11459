"""The base model and tokenizer, and the LoRA adapter put on top.

* lora:  the base weights in bf16 on a GPU (fp16 where the GPU has no bf16), float32 on a CPU.
* qlora: the base weights quantized to 4-bit NF4 with double quantization (bitsandbytes); the
  compute dtype is bf16 on a GPU and float32 on a CPU.

The adapter targets the attention and MLP projections the model has (q/k/v/o, gate/up/down in
Llama-like models); models with other layer names fall back to peft's "all-linear".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from finetune.errors import ModelError
from finetune.settings import Settings

log = logging.getLogger("finetune")

# Attention and MLP projection names across common architectures (Llama, Qwen, Mistral, Gemma,
# Phi, GPT-NeoX, Falcon, GPT-2, ...). Only those the model really has are used.
PROJECTIONS = (
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "qkv_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
    "gate_up_proj",
    "query_key_value",
    "dense",
    "dense_h_to_4h",
    "dense_4h_to_h",
    "c_attn",
    "c_proj",
    "c_fc",
    "fc1",
    "fc2",
    "Wqkv",
    "out_proj",
    "w1",
    "w2",
    "w3",
)


@dataclass(frozen=True)
class Device:
    name: str  # "cuda" or "cpu"
    dtype: torch.dtype  # weights (lora) / compute dtype (qlora)

    @property
    def bf16(self) -> bool:
        return self.name == "cuda" and self.dtype == torch.bfloat16

    @property
    def fp16(self) -> bool:
        return self.name == "cuda" and self.dtype == torch.float16

    @property
    def checkpoint_activations(self) -> bool:
        """Recompute activations in the backward pass: memory for long sequences on one GPU (CPU runs are tiny)."""
        return self.name == "cuda"


def pick_device() -> Device:
    if torch.cuda.is_available():
        return Device("cuda", torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
    return Device("cpu", torch.float32)


def load_tokenizer(settings: Settings):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(settings.base_model, token=settings.hf_token)
    if not getattr(tokenizer, "chat_template", None):
        raise ModelError(
            f"BASE_MODEL {settings.base_model!r} has no chat template: the examples are chats, "
            "so use a chat/instruct model (or a tokenizer that defines one)"
        )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_base_model(settings: Settings, device: Device):
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    kwargs: dict[str, object] = dict(
        token=settings.hf_token, dtype=device.dtype, device_map={"": 0 if device.name == "cuda" else "cpu"}
    )
    if settings.finetune_method == "qlora":
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=device.dtype,
        )
    model = AutoModelForCausalLM.from_pretrained(settings.base_model, **kwargs)
    model.config.use_cache = False  # no KV cache while training (and with checkpointing)
    return model


def target_modules(model) -> list[str] | str:
    """The attention + MLP projection names present in the model (never the LM head)."""
    names = set()
    for full_name, module in model.named_modules():
        leaf = full_name.rsplit(".", 1)[-1]
        if leaf in PROJECTIONS and _is_linear(module):
            names.add(leaf)
    return sorted(names) or "all-linear"


def _is_linear(module) -> bool:
    if isinstance(module, torch.nn.Linear):  # bitsandbytes' Linear4bit is a subclass
        return True
    return type(module).__name__ in ("Conv1D", "Linear4bit", "Linear8bitLt")  # GPT-2's Conv1D


def with_adapter(model, settings: Settings, device: Device):
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if settings.finetune_method == "qlora":
        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=device.checkpoint_activations,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
    hp = settings.hyperparameters
    config = LoraConfig(
        r=hp.lora_r,
        lora_alpha=hp.lora_alpha,
        lora_dropout=hp.lora_dropout,
        target_modules=target_modules(model),
        bias="none",
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, config)
    targets = model.peft_config["default"].target_modules  # "all-linear" is resolved to names by now
    trainable, total = model.get_nb_trainable_parameters()
    log.info(
        "adapter: %s, r=%d alpha=%d dropout=%g on %s; %d trainable of %d parameters (%.3f%%) on %s (%s)",
        settings.finetune_method,
        hp.lora_r,
        hp.lora_alpha,
        hp.lora_dropout,
        ",".join(sorted(targets)),
        trainable,
        total,
        100 * trainable / max(total, 1),
        device.name,
        str(device.dtype).replace("torch.", ""),
    )
    return model


def keep_adapter_float32(model) -> None:
    """trl's SFTTrainer casts QLoRA adapter weights to bf16, but a resumed run loads them from the
    checkpoint as float32 (peft's default): keep them float32 from the start, so a run that was
    interrupted trains exactly like one that was not. (The base weights keep their dtype; on a GPU
    the compute runs in bf16 either way.)"""
    for param in model.parameters():
        if param.requires_grad and param.dtype != torch.float32:
            param.data = param.data.float()
