"""Real LoRA and QLoRA runs of the tiny model on the CPU, with local paths for data and outputs."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from finetune_testlib import (
    PYTHON,
    book_records,
    captured_log,
    chat_records,
    one_torch_thread,  # noqa: F401 (an autouse fixture: one thread in this module)
    run_env,
    subprocess_env,
    write_jsonl,
)

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings(
    "ignore::FutureWarning:transformers.*", "ignore:`torch.jit.script_method` is deprecated:DeprecationWarning"
)

from finetune import checkpoints, train  # noqa: E402
from finetune.model import ModelError  # noqa: E402
from finetune.settings import from_env  # noqa: E402

ADAPTER_FILES = {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "tokenizer_config.json"}
MANIFEST_KEYS = {
    "run_id",
    "base_model",
    "finetune_method",
    "steps",
    "final_eval_loss",
    "train_data",
    "validation_data",
    "hyperparameters",
    "finished_at",
    "target_modules",
    "files",
}


def run(env: dict, work: Path) -> tuple[int, list[str]]:
    with captured_log() as log:
        code = train.run(from_env(env), work_root=work)
    return code, log


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def datasets_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    write_jsonl(root / "book-train.jsonl", book_records(20))
    write_jsonl(root / "book-validation.jsonl", book_records(24)[20:])
    write_jsonl(root / "chat-train.jsonl", chat_records(20))
    write_jsonl(root / "chat-validation.jsonl", chat_records(24)[20:])
    return root


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory, model_dir, datasets_dir):
    """One LoRA run on the book's format, shared by the tests that look at its results."""
    root = tmp_path_factory.mktemp("lora-run")
    env = run_env(
        model_dir,
        datasets_dir / "book-train.jsonl",
        datasets_dir / "book-validation.jsonl",
        root / "adapter",
        root / "checkpoints",
    )
    code, log = run(env, root / "work")
    return {"root": root, "env": env, "code": code, "log": log}


def test_lora_run_publishes_adapter_and_manifest(lora_run, datasets_dir, model_dir):
    assert lora_run["code"] == 0
    adapter = lora_run["root"] / "adapter"
    assert ADAPTER_FILES <= {p.name for p in adapter.iterdir()}
    assert not [p.name for p in adapter.iterdir() if "probe" in p.name]  # the check before training leaves nothing
    manifest = json.loads((adapter / "manifest.json").read_text())
    assert MANIFEST_KEYS <= set(manifest)
    assert manifest["run_id"] == "1" and manifest["finetune_method"] == "lora"
    assert manifest["base_model"] == str(model_dir)
    assert manifest["steps"] == 6 and manifest["resumed_from_step"] is None
    assert manifest["train_data"]["sha256"] == sha256(datasets_dir / "book-train.jsonl")
    assert manifest["validation_data"]["sha256"] == sha256(datasets_dir / "book-validation.jsonl")
    assert manifest["train_data"]["examples"] == 20 and manifest["validation_data"]["examples"] == 4
    assert manifest["hyperparameters"] == {
        "lora_r": 8,
        "lora_alpha": 16,
        "lora_dropout": 0.05,
        "learning_rate": 0.001,
        "max_steps": 6,
        "batch_size": 4,
        "gradient_accumulation_steps": 1,
        "max_seq_length": 128,
        "checkpoint_every_steps": 3,
    }
    assert isinstance(manifest["final_eval_loss"], float) and manifest["final_eval_loss"] > 0
    assert manifest["target_modules"] == ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", manifest["finished_at"])
    # adapter_config.json marks the adapter published for the inference side: it goes after the weights.
    assert manifest["files"][-1] == "adapter_config.json"
    assert manifest["files"].index("adapter_model.safetensors") < manifest["files"].index("adapter_config.json")
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["r"] == 8 and config["lora_alpha"] == 16 and config["peft_type"] == "LORA"


def test_checkpoints_every_n_steps_with_a_completion_marker(lora_run):
    root = lora_run["root"] / "checkpoints"
    assert sorted(p.name for p in root.iterdir()) == ["checkpoint-3", "checkpoint-6"]
    for step in (3, 6):
        marker = json.loads((root / f"checkpoint-{step}" / checkpoints.MARKER).read_text())
        assert marker["step"] == step and marker["fingerprint"]["run_id"] == "1"
        assert {"adapter_model.safetensors", "optimizer.pt", "scheduler.pt", "trainer_state.json"} <= set(
            marker["files"]
        )
        assert json.loads((root / f"checkpoint-{step}" / "trainer_state.json").read_text())["global_step"] == step


def test_progress_lines_for_kubectl_logs(lora_run):
    log = lora_run["log"]
    steps = [line for line in log if re.match(r"step \d+/6 \(\d+%\)  loss ", line)]
    assert len(steps) == 6, log
    assert re.fullmatch(
        r"step 6/6 \(100%\)  loss \d+\.\d{4}  lr \S+  eval_loss \d+\.\d{4}  \d+\.\d\d steps/s  eta 0s", steps[-1]
    ), steps[-1]
    assert any(re.fullmatch(r"step 3/6 \(50%\)  eval_loss \d+\.\d{4}  \(eval \d+\.\d s\)", line) for line in log)
    assert any(line.startswith("checkpoint 3 uploaded to ") for line in log)
    assert any(line.startswith("training: starting at step 0 of 6") for line in log)
    assert log[-1].startswith("done: run 1, 6 steps")


def _generate(model, tokenizer) -> tuple[torch.Tensor, torch.Tensor]:
    messages = [{"role": "user", "content": "I am a gold member. How many points do I earn on walking shoes?"}]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    inputs = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        logits = model(**inputs).logits
        out = model.generate(**inputs, max_new_tokens=8, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    assert out.shape[1] > inputs["input_ids"].shape[1]
    return logits, out


def test_the_adapter_reloads_with_peft_and_generates(lora_run, model_dir):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    adapter = lora_run["root"] / "adapter"
    tokenizer = AutoTokenizer.from_pretrained(adapter)
    base_logits, _ = _generate(AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval(), tokenizer)
    model = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32), adapter
    ).eval()
    tuned_logits, _ = _generate(model, tokenizer)
    assert not torch.allclose(base_logits, tuned_logits)  # the trained adapter changes the model


def test_lora_on_the_chat_format(tmp_path, model_dir, datasets_dir):
    env = run_env(
        model_dir,
        datasets_dir / "chat-train.jsonl",
        datasets_dir / "chat-validation.jsonl",
        tmp_path / "adapter",
        tmp_path / "checkpoints",
        MAX_STEPS=4,
        CHECKPOINT_EVERY_STEPS=4,
    )
    code, log = run(env, tmp_path / "work")
    assert code == 0
    manifest = json.loads((tmp_path / "adapter" / "manifest.json").read_text())
    assert manifest["steps"] == 4 and manifest["train_data"]["sha256"] == sha256(datasets_dir / "chat-train.jsonl")
    assert ADAPTER_FILES <= {p.name for p in (tmp_path / "adapter").iterdir()}
    assert not list((tmp_path / "work").iterdir())  # the scratch folder is cleaned up


def test_qlora_trains_4bit_and_the_adapter_reloads(tmp_path, model_dir, datasets_dir):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    env = run_env(
        model_dir,
        datasets_dir / "book-train.jsonl",
        datasets_dir / "book-validation.jsonl",
        tmp_path / "adapter",
        tmp_path / "checkpoints",
        FINETUNE_METHOD="qlora",
        MAX_STEPS=4,
        CHECKPOINT_EVERY_STEPS=2,
    )
    code, log = run(env, tmp_path / "work")
    assert code == 0
    assert any(line.startswith("adapter: qlora, r=8") and "on cpu (float32)" in line for line in log)
    manifest = json.loads((tmp_path / "adapter" / "manifest.json").read_text())
    assert manifest["finetune_method"] == "qlora" and manifest["steps"] == 4
    # Adapter weights stay float32 (trl would make them bf16; a resumed run would load them as float32).
    from safetensors.torch import load_file

    for path in (
        tmp_path / "adapter" / "adapter_model.safetensors",
        tmp_path / "checkpoints" / "checkpoint-2" / "adapter_model.safetensors",
    ):
        assert {t.dtype for t in load_file(path).values()} == {torch.float32}
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "adapter")
    quantized = AutoModelForCausalLM.from_pretrained(
        model_dir,
        device_map={"": "cpu"},
        quantization_config=BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.float32,
        ),
    )
    assert type(quantized.model.layers[0].self_attn.q_proj).__name__ == "Linear4bit"
    _generate(PeftModel.from_pretrained(quantized, tmp_path / "adapter").eval(), tokenizer)
    # The adapter is an ordinary LoRA adapter: it also loads on the unquantized base (as vLLM serves it).
    _generate(
        PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model_dir), tmp_path / "adapter").eval(),
        tokenizer,
    )


def test_a_finished_run_id_is_not_trained_again(lora_run):
    adapter = lora_run["root"] / "adapter"
    before = (adapter / "manifest.json").stat().st_mtime_ns
    code, log = run(lora_run["env"], lora_run["root"] / "work")
    assert code == 0
    assert log[-1].startswith(f"already done: {adapter} has the adapter of run 1")
    assert (adapter / "manifest.json").stat().st_mtime_ns == before


def test_checkpoints_of_other_settings_are_not_resumed(lora_run, tmp_path):
    env = {**lora_run["env"], "OUTPUT_URI": str(tmp_path / "adapter"), "LORA_R": "16"}
    with pytest.raises(train.ConfigurationChanged) as caught:
        run(env, tmp_path / "work")
    assert str(caught.value) == (
        f"CHECKPOINT_URI {lora_run['root'] / 'checkpoints' / 'checkpoint-6'} was written with other hyperparameters "
        "than this run has (lora_r: 8 in the checkpoint, 16 now); use a new RUN_ID (or empty CHECKPOINT_URI)"
    )


def test_a_refused_resume_names_each_difference(tmp_path):
    from finetune.storage import LocalLocation

    found = {
        "run_id": "1",
        "base_model": "Qwen/Qwen2.5-0.5B",
        "finetune_method": "qlora",
        "train_sha256": "a" * 64,
        "validation_sha256": "b" * 64,
        "hyperparameters": {"lora_r": 8, "learning_rate": 0.001, "max_steps": 6, "batch_size": 4},
    }
    expected = {
        **found,
        "base_model": "Qwen/Qwen2.5-7B-Instruct",
        "train_sha256": "c" * 64,
        "hyperparameters": {"lora_r": 8, "learning_rate": 0.0002, "max_steps": 6, "batch_size": 8},
    }
    checkpoint = checkpoints.RemoteCheckpoint(6, LocalLocation(tmp_path / "checkpoint-6"), {"fingerprint": found})
    with pytest.raises(train.ConfigurationChanged) as caught:
        train.check_resumable(checkpoint, expected)
    assert str(caught.value) == (
        f"CHECKPOINT_URI {tmp_path / 'checkpoint-6'} was written with other base_model, train data, hyperparameters "
        "than this run has (base_model: 'Qwen/Qwen2.5-0.5B' in the checkpoint, 'Qwen/Qwen2.5-7B-Instruct' now; "
        "train data: sha256 aaaaaaaaaaaa... in the checkpoint, cccccccccccc... now; "
        "learning_rate: 0.001 in the checkpoint, 0.0002 now; batch_size: 4 in the checkpoint, 8 now); "
        "use a new RUN_ID (or empty CHECKPOINT_URI)"
    )
    train.check_resumable(checkpoint, found)  # the same: resumed


def unwritable_folder(kind: str, tmp_path: Path) -> Path:
    if kind == "read-only folder":
        if os.geteuid() == 0:
            pytest.skip("root writes into a read-only folder")
        parent = tmp_path / "read-only"
        parent.mkdir(mode=0o555)
        return parent / "adapter"
    folder = Path("/sys/finetune-output")  # sysfs: no one may make a folder there
    try:
        folder.mkdir()
    except OSError:
        return folder
    folder.rmdir()
    pytest.skip("/sys is writable here")


@pytest.mark.parametrize("kind", ["read-only folder", "sysfs"])
def test_an_output_folder_that_cannot_be_written_stops_the_run_before_training(
    kind, tmp_path, model_dir, datasets_dir, capsys, restore_logging
):
    from finetune.__main__ import main

    output = unwritable_folder(kind, tmp_path)
    env = run_env(
        model_dir,
        datasets_dir / "book-train.jsonl",
        datasets_dir / "book-validation.jsonl",
        output,
        tmp_path / "checkpoints",
    )
    assert main(env) == 2
    out = capsys.readouterr().out
    errors = [line.split(" ", 1)[1] for line in out.splitlines() if " error: " in line]
    assert len(errors) == 1 and errors[0].startswith(
        f"error: OUTPUT_URI {output} is not writable (checked before training): "
    )
    assert errors[0].endswith(f": {output}")  # the reason (e.g. "Permission denied") and the path
    assert " step " not in out and " train data: " not in out
    assert not (tmp_path / "checkpoints").exists()


KERNEL_WARNING = "Failed to load CPU gemm_4bit_forward from kernels-community"

# Runs its argument (a module, with `-m`, or code) as on a host CPU with AVX512-BF16 (as GPU nodes
# have): bitsandbytes then asks the `kernels` package for the hub's CPU kernel while it is imported,
# and logs KERNEL_WARNING when that fails (offline here, or `kernels` missing). Only that check at
# import time is answered "yes" (the Linear4bit layers ask it too, and would use the CPU kernels).
AVX512_BF16_HOST = """
import importlib.machinery, runpy, sys

original = {}

class AVX512BF16(importlib.machinery.PathFinder):
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name not in ("bitsandbytes.functional", "bitsandbytes.backends.cpu.ops"):
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            functional = sys.modules["bitsandbytes.functional"]
            if name == "bitsandbytes.functional":
                original["check"], functional.has_avx512bf16 = functional.has_avx512bf16, lambda: True
            else:
                functional.has_avx512bf16 = original["check"]

        spec.loader.exec_module = exec_module
        return spec

sys.meta_path.insert(0, AVX512BF16)
if sys.argv[1] == "-m":
    runpy.run_module(sys.argv[2], run_name="__main__", alter_sys=True)
else:
    exec(sys.argv[1])
"""


def test_the_entry_point_silences_the_hub_kernel_warning_of_bitsandbytes(tmp_path, model_dir, datasets_dir):
    host = tmp_path / "avx512_bf16_host.py"
    host.write_text(AVX512_BF16_HOST)
    contract = run_env(
        model_dir,
        datasets_dir / "book-train.jsonl",
        datasets_dir / "book-validation.jsonl",
        tmp_path / "adapter",
        tmp_path / "checkpoints",
        FINETUNE_METHOD="qlora",
        MAX_STEPS=2,
        CHECKPOINT_EVERY_STEPS=2,
    )
    env = subprocess_env(tmp_path, contract)
    # Without the entry point, bitsandbytes prints it (so this host does what a GPU node does) ...
    plain = subprocess.run([PYTHON, host, "import bitsandbytes"], env=env, capture_output=True, text=True, timeout=300)
    assert plain.returncode == 0, plain.stderr
    assert KERNEL_WARNING in plain.stderr
    # ... and a run of `python -m finetune` does not.
    run = subprocess.run([PYTHON, host, "-m", "finetune"], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "done: run 1, 2 steps" in run.stdout
    assert "kernels-community" not in run.stdout + run.stderr


def test_a_model_without_chat_template_is_refused(tmp_path, model_dir, datasets_dir):
    plain = tmp_path / "plain-model"
    shutil.copytree(model_dir, plain)
    (plain / "chat_template.jinja").unlink()
    config = json.loads((plain / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (plain / "tokenizer_config.json").write_text(json.dumps(config))
    env = run_env(
        plain,
        datasets_dir / "book-train.jsonl",
        datasets_dir / "book-validation.jsonl",
        tmp_path / "adapter",
        tmp_path / "checkpoints",
    )
    with pytest.raises(ModelError, match="has no chat template"):
        run(env, tmp_path / "work")


def test_a_run_that_died_while_publishing_publishes_its_last_checkpoint(lora_run, tmp_path):
    # As if the pod was lost after the last checkpoint but before manifest.json was written.
    from safetensors.torch import load_file

    root = tmp_path / "copy"
    shutil.copytree(lora_run["root"], root, ignore=shutil.ignore_patterns("work"))
    (root / "adapter" / "manifest.json").unlink()
    env = {**lora_run["env"], "OUTPUT_URI": str(root / "adapter"), "CHECKPOINT_URI": str(root / "checkpoints")}
    code, log = run(env, tmp_path / "work")
    assert code == 0
    assert "checkpoint 6 is the last step: publishing it without training" in log
    assert not any(line.startswith(("step ", "training: ")) for line in log)  # not one step more
    manifest = json.loads((root / "adapter" / "manifest.json").read_text())
    assert manifest["steps"] == 6 and manifest["resumed_from_step"] == 6
    assert (
        manifest["final_eval_loss"]
        == json.loads((lora_run["root"] / "adapter" / "manifest.json").read_text())["final_eval_loss"]
    )
    published = load_file(root / "adapter" / "adapter_model.safetensors")
    checkpoint = load_file(root / "checkpoints" / "checkpoint-6" / "adapter_model.safetensors")
    assert published.keys() == checkpoint.keys() and all(torch.equal(published[k], checkpoint[k]) for k in published)


def test_examples_are_chat_templated_and_the_loss_is_on_the_answer(tmp_path, model_dir):
    from finetune import data
    from finetune import model as models

    env = run_env(model_dir, "train.jsonl", "validation.jsonl", tmp_path / "adapter", tmp_path / "checkpoints")
    settings = from_env(env)
    book = data.to_example({"prompt": "How many points?", "response": "Ten points."})
    chat = data.to_example(
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"},
                {"role": "user", "content": "Gold status?"},
                {"role": "assistant", "content": "At 500 points."},
            ]
        }
    )
    dataset = data.Dataset("memory", "0" * 64, [book, chat])
    device = models.pick_device()
    tokenizer = models.load_tokenizer(settings)
    peft_model = models.with_adapter(models.load_base_model(settings, device), settings, device)
    trainer = train.build_trainer(settings, peft_model, tokenizer, device, dataset, dataset, tmp_path / "t", [])
    batch = trainer.data_collator([trainer.train_dataset[0], trainer.train_dataset[1]])
    rendered = [
        tokenizer.decode(ids[mask == 1]) for ids, mask in zip(batch["input_ids"], batch["attention_mask"], strict=True)
    ]
    trained = [
        tokenizer.decode(ids[labels != -100]) for ids, labels in zip(batch["input_ids"], batch["labels"], strict=True)
    ]
    assert rendered[0] == (
        "<|im_start|>user\nHow many points?<|im_end|>\n<|im_start|>assistant\nTen points.<|im_end|>\n"
    )
    assert rendered[1].startswith("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n")
    assert trained == ["Ten points.<|im_end|>\n", "At 500 points.<|im_end|>\n"]
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters() if p.requires_grad)


def test_hf_token_is_passed_to_from_pretrained(tmp_path, model_dir, monkeypatch):
    import transformers

    from finetune import model as models

    seen = []
    for cls in (transformers.AutoTokenizer, transformers.AutoModelForCausalLM):
        original = cls.from_pretrained.__func__

        def spy(klass, path, *args, _original=original, **kwargs):
            seen.append((klass.__name__, kwargs.get("token")))
            return _original(klass, path, *args, **kwargs)

        monkeypatch.setattr(cls, "from_pretrained", classmethod(spy))
    for token in ("hf_test_token", None):
        env = run_env(model_dir, "t.jsonl", "v.jsonl", tmp_path / "a", tmp_path / "c", HF_TOKEN=token or "")
        settings = from_env(env)
        models.load_tokenizer(settings)
        models.load_base_model(settings, models.pick_device())
    assert seen == [
        ("AutoTokenizer", "hf_test_token"),
        ("AutoModelForCausalLM", "hf_test_token"),
        ("AutoTokenizer", None),
        ("AutoModelForCausalLM", None),
    ]
