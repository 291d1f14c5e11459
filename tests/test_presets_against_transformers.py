"""The catalogue and the fit's counts, checked against the libraries that run the models.

- transformers builds each preset's architecture from the preset's shape on the `meta` device (no
  memory, no weights, no network) and counts its parameters and projection weights;
- peft wraps it with the LoRA that images/finetune uses and counts the trainable parameters;
- bitsandbytes quantises a small model to NF4 with double quantisation on the CPU, after
  prepare_model_for_kbit_training, and the bytes it holds are weighed against the fit's QLoRA
  weights term.

The KV cache and activation terms need vLLM and a GPU; they are estimates (docs/presets.md).
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")

from presets.catalog import ModelSpec, model_presets  # noqa: E402
from presets.fit import FinetuneSettings, finetune_memory, linear_parameters, lora_parameters  # noqa: E402

# The transformers config class of each preset's architecture (config.json "model_type"), and
# whether it ties the output head to the embeddings.
ARCHITECTURES = {
    "deepseek-r1-distill-qwen-1.5b": ("Qwen2Config", False),
    "llama-3-8b-instruct": ("LlamaConfig", False),
    "llama-3.1-8b-instruct": ("LlamaConfig", False),
    "deepseek-r1-distill-llama-8b": ("LlamaConfig", False),
    "mistral-7b-instruct": ("MistralConfig", False),
    "qwen2.5-7b-instruct": ("Qwen2Config", False),
    "qwen2.5-coder-7b-instruct": ("Qwen2Config", False),
    "phi-3-mini-4k-instruct": ("Phi3Config", False),
    "phi-3-mini-128k-instruct": ("Phi3Config", False),
    "phi-4-mini-instruct": ("Phi3Config", True),
    "gemma-3-4b-it": ("Gemma3TextConfig", True),  # its text decoder; the vision tower is counted apart
}
# What images/finetune targets (finetune.model.PROJECTIONS, as far as these architectures have them).
PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "qkv_proj", "gate_proj", "up_proj", "down_proj", "gate_up_proj"]
FUSED = {"phi-3-mini-4k-instruct", "phi-3-mini-128k-instruct", "phi-4-mini-instruct"}  # qkv_proj, gate_up_proj
GEMMA_VISION_PARAMETERS = 419_816_304  # SigLIP tower and projector of gemma-3-4b-it


def build(name: str):
    """The preset's architecture as transformers implements it, on the meta device."""
    spec = model_presets()[name]
    config_class, tied = ARCHITECTURES[name]
    config = getattr(transformers, config_class)(
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.layers,
        num_attention_heads=spec.attention_heads,
        num_key_value_heads=spec.kv_heads,
        head_dim=spec.head_dim,
        vocab_size=spec.vocab_size,
        tie_word_embeddings=tied,
    )
    with torch.device("meta"):
        return transformers.AutoModelForCausalLM.from_config(config)


def test_every_preset_has_an_architecture():
    assert set(ARCHITECTURES) == set(model_presets())


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_parameters_are_what_transformers_builds(name: str):
    spec, model = model_presets()[name], build(name)
    counted = sum(p.numel() for p in model.parameters())
    vision = GEMMA_VISION_PARAMETERS if name == "gemma-3-4b-it" else 0
    assert spec.parameters == counted + vision
    assert spec.weight_bytes == 2 * spec.parameters


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_linear_parameters_are_the_decoder_projections(name: str):
    """The fit's `linear` (what QLoRA quantises): every projection weight in the decoder layers."""
    model = build(name)
    projections = sum(
        m.weight.numel()
        for n, m in model.named_modules()
        if isinstance(m, torch.nn.Linear) and ".layers." in n and n.rsplit(".", 1)[-1] in PROJECTIONS
    )
    assert linear_parameters(model_presets()[name]) == projections


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_lora_parameters_are_what_peft_trains(name: str):
    """Exact for separate projections; an upper bound for fused ones (one adapter on qkv, not three)."""
    model = build(name)
    with torch.device("meta"):
        adapted = peft.get_peft_model(
            model,
            peft.LoraConfig(
                r=32,
                target_modules=[p for p in PROJECTIONS if any(n.endswith(f".{p}") for n, _ in model.named_modules())],
            ),
        )
    trainable, _ = adapted.get_nb_trainable_parameters()
    estimate = lora_parameters(model_presets()[name], 32)
    if name in FUSED:
        assert trainable < estimate <= 1.25 * trainable
    else:
        assert trainable == estimate


def test_qlora_weights_are_what_bitsandbytes_holds(tmp_path):
    """A small Qwen2 quantised for real (NF4, double quantisation) and prepared for training as
    images/finetune does: the bytes of its parameters, buffers and quantisation states."""
    config = transformers.Qwen2Config(
        hidden_size=512,
        intermediate_size=1536,
        num_hidden_layers=4,
        num_attention_heads=8,
        num_key_value_heads=2,
        head_dim=64,
        vocab_size=2048,
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    transformers.AutoModelForCausalLM.from_config(config).to(torch.bfloat16).save_pretrained(tmp_path)
    quantised = transformers.AutoModelForCausalLM.from_pretrained(
        tmp_path,
        device_map={"": "cpu"},
        dtype=torch.bfloat16,
        quantization_config=transformers.BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
        ),
    )
    quantised = peft.prepare_model_for_kbit_training(quantised, use_gradient_checkpointing=False)

    size = lambda t: t.numel() * t.element_size()
    held = sum(map(size, quantised.parameters())) + sum(map(size, quantised.buffers()))
    for module in quantised.modules():
        state = getattr(getattr(module, "weight", None), "quant_state", None)
        if state is not None:
            held += size(state.absmax) + size(state.code) + size(state.state2.absmax) + size(state.state2.code)
    # What is not quantised is fp32 after prepare_model_for_kbit_training: the fit's 4 bytes.
    assert {p.dtype for p in quantised.parameters()} == {torch.uint8, torch.float32}

    parameters = sum(p.numel() for p in transformers.AutoModelForCausalLM.from_config(config).parameters())
    spec = ModelSpec(
        name="small",
        hugging_face_id="test/small",
        parameters=parameters,
        weight_bytes=2 * parameters,
        layers=4,
        hidden_size=512,
        intermediate_size=1536,
        attention_heads=8,
        kv_heads=2,
        head_dim=64,
        vocab_size=2048,
        max_context_length=4096,
        default_context_length=4096,
    )
    estimate = finetune_memory(spec, FinetuneSettings("qlora", batch_size=1, sequence_length=64, lora_rank=8)).weights
    # Within 1%: the per-module lookup tables (about 1 KiB each) are all the formula leaves out.
    assert abs(held / estimate - 1) < 0.01, (held, estimate)
    # And the fp32 term matters: counting the unquantised tensors at bf16 would be 10% short.
    linear = linear_parameters(spec)
    assert held / (estimate - 2 * (parameters - linear)) > 1.1
