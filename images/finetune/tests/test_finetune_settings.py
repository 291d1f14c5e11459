"""The environment contract: defaults, accepted forms, and one clear line (exit 2) for each bad value."""

from __future__ import annotations

import subprocess

import pytest

from finetune.__main__ import main
from finetune.settings import Hyperparameters, SettingsError, from_env
from finetune_testlib import IMAGE, PYTHON

REQUIRED = {
    "BASE_MODEL": "Qwen/Qwen2.5-7B-Instruct",
    "TRAIN_DATA": "s3://genai-datasets-123/loyalty/train.jsonl",
    "VALIDATION_DATA": "s3://genai-datasets-123/loyalty/validation.jsonl",
    "OUTPUT_URI": "s3://genai-model-assets-123/adapters/loyalty/",
    "CHECKPOINT_URI": "s3://genai-model-assets-123/checkpoints/loyalty/1/",
    "RUN_ID": "1",
}
SECRET = "hf_secret_token_value_123"


def test_defaults_are_the_books():
    settings = from_env(REQUIRED)
    hp = settings.hyperparameters
    assert (hp.lora_r, hp.lora_alpha, hp.lora_dropout, hp.learning_rate, hp.max_steps) == (32, 64, 0.05, 2.5e-5, 200)
    assert hp == Hyperparameters()
    assert settings.finetune_method == "qlora"
    assert settings.hf_token is None


def test_the_jobs_environment_parses_as_given():
    # The strings workloads/finetune.py writes: str() for integers, repr() for floats.
    env = {
        **REQUIRED,
        "FINETUNE_METHOD": "lora",
        "LORA_R": "16",
        "LORA_ALPHA": "32",
        "LORA_DROPOUT": repr(0.1),
        "LEARNING_RATE": repr(2.5e-5),
        "MAX_STEPS": "300",
        "BATCH_SIZE": "2",
        "GRADIENT_ACCUMULATION_STEPS": "8",
        "MAX_SEQ_LENGTH": "2048",
        "CHECKPOINT_EVERY_STEPS": "25",
        "HF_TOKEN": SECRET,
        "HF_HOME": "/cache/huggingface",
        "HOME": "/cache/home",
        "PYTHONUNBUFFERED": "1",
    }
    settings = from_env(env)
    assert settings.finetune_method == "lora"
    assert settings.hyperparameters == Hyperparameters(16, 32, 0.1, 2.5e-5, 300, 2, 8, 2048, 25)
    assert settings.hf_token == SECRET
    assert SECRET not in repr(settings) and SECRET not in settings.describe()


def test_prefixes_get_a_slash_and_local_paths_are_allowed(tmp_path):
    settings = from_env(
        {
            **REQUIRED,
            "OUTPUT_URI": "s3://genai-model-assets-123/adapters/loyalty",
            "CHECKPOINT_URI": str(tmp_path / "ck"),
            "TRAIN_DATA": str(tmp_path / "train.jsonl"),
        }
    )
    assert settings.output_uri == "s3://genai-model-assets-123/adapters/loyalty/"
    assert settings.checkpoint_uri == str(tmp_path / "ck")
    assert settings.train_data == str(tmp_path / "train.jsonl")


BAD = [
    ("BASE_MODEL", None),
    ("BASE_MODEL", "s3://bucket/model"),
    ("FINETUNE_METHOD", "full"),
    ("FINETUNE_METHOD", "QLoRA"),
    ("TRAIN_DATA", None),
    ("TRAIN_DATA", "s3://genai-datasets-123/loyalty/"),
    ("TRAIN_DATA", "s3://Bad_Bucket/x.jsonl"),
    ("TRAIN_DATA", "gs://bucket/train.jsonl"),
    ("VALIDATION_DATA", "s3://genai-datasets-123"),
    ("OUTPUT_URI", None),
    ("OUTPUT_URI", "https://example.com/adapters/"),
    ("CHECKPOINT_URI", "s3://a/x"),
    ("RUN_ID", None),
    ("RUN_ID", "Run_1"),
    ("RUN_ID", "-1"),
    ("RUN_ID", "x" * 17),
    ("LORA_R", "0"),
    ("LORA_R", "257"),
    ("LORA_R", "abc"),
    ("LORA_R", "8.5"),
    ("LORA_ALPHA", "0"),
    ("LORA_DROPOUT", "0.6"),
    ("LORA_DROPOUT", "-0.1"),
    ("LORA_DROPOUT", "nan"),
    ("LEARNING_RATE", "0"),
    ("LEARNING_RATE", "0.5"),
    ("LEARNING_RATE", "fast"),
    ("MAX_STEPS", "0"),
    ("MAX_STEPS", "1e3"),
    ("BATCH_SIZE", "-4"),
    ("GRADIENT_ACCUMULATION_STEPS", "0"),
    ("MAX_SEQ_LENGTH", "32"),
    ("CHECKPOINT_EVERY_STEPS", "0"),
]


@pytest.mark.parametrize("name,value", BAD, ids=[f"{n}={v}" for n, v in BAD])
def test_each_bad_value_is_named_with_what_is_allowed(name, value):
    env = {**REQUIRED, "HF_TOKEN": SECRET}
    if value is None:
        env.pop(name)
    else:
        env[name] = value
    with pytest.raises(SettingsError) as caught:
        from_env(env)
    message = str(caught.value)
    assert caught.value.name == name and message.startswith(f"{name}: ")
    assert ("not set" in message) if value is None else (repr(value) in message)
    assert "allowed: " in message and "\n" not in message
    assert SECRET not in message


def test_main_exits_2_with_one_line_on_stderr(capsys):
    assert main({**REQUIRED, "LORA_R": "abc", "HF_TOKEN": SECRET}) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "finetune: LORA_R: 'abc' is not valid; allowed: an integer from 1 to 256\n"


def test_the_entry_point_rejects_a_bad_value_fast(tmp_path):
    # `python -m finetune` as the container runs it; the settings are checked before torch is imported.
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(IMAGE),
        "HOME": str(tmp_path),
        **REQUIRED,
        "FINETUNE_METHOD": "full",
        "HF_TOKEN": SECRET,
    }
    result = subprocess.run(
        [PYTHON, "-X", "importtime", "-m", "finetune"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if not line.startswith("import time:")]
    assert lines == ["finetune: FINETUNE_METHOD: 'full' is not valid; allowed: lora or qlora"]
    assert " torch" not in result.stderr and SECRET not in result.stderr + result.stdout


def fake_model_folder(path, *names: str):
    path.mkdir(parents=True)
    for name in names:
        (path / name).write_text("{}")
    return path


MODEL_ALLOWED = "a Hugging Face model id (org/name) or a local model folder (config.json, weights, tokenizer)"


def local_run(tmp_path, **overrides) -> dict:
    """REQUIRED with local data and outputs: nothing in these tests may reach S3 or the hub."""
    (tmp_path / "train.jsonl").write_text('{"prompt": "Points?", "response": "Ten."}\n')
    return {
        **REQUIRED,
        "TRAIN_DATA": str(tmp_path / "train.jsonl"),
        "VALIDATION_DATA": str(tmp_path / "train.jsonl"),
        "OUTPUT_URI": str(tmp_path / "adapter"),
        "CHECKPOINT_URI": str(tmp_path / "checkpoints"),
        "FINETUNE_METHOD": "lora",
        **overrides,
    }


BAD_MODELS = {
    "missing-absolute": ("{tmp}/no-such-model", "does not exist (and is not a Hugging Face id)"),
    "missing-relative": ("./no-such-model", "does not exist (and is not a Hugging Face id)"),
    "missing-home": ("~/models/qwen", "does not exist (and is not a Hugging Face id)"),
    "empty-folder": ("{tmp}/empty", "is an empty folder"),
    "not-a-model": (
        "{tmp}/models",
        "is a folder without config.json, weights (*.safetensors or *.bin), "
        "tokenizer (tokenizer.json or tokenizer_config.json)",
    ),
    "no-weights": ("{tmp}/no-weights", "is a folder without weights (*.safetensors or *.bin)"),
    "no-tokenizer": ("{tmp}/no-tokenizer", "is a folder without tokenizer (tokenizer.json or tokenizer_config.json)"),
    "a-file": ("{tmp}/model.safetensors", "is a file, not a model folder"),
}


@pytest.mark.parametrize("case", BAD_MODELS)
def test_a_bad_local_base_model_is_one_line_and_exit_2(case, tmp_path, monkeypatch, capsys, restore_logging):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    (tmp_path / "models" / "qwen").mkdir(parents=True)  # the folder above the model
    fake_model_folder(tmp_path / "no-weights", "config.json", "tokenizer.json")
    fake_model_folder(tmp_path / "no-tokenizer", "config.json", "model.safetensors")
    (tmp_path / "model.safetensors").write_text("")
    value, problem = BAD_MODELS[case]
    value = value.format(tmp=tmp_path)
    assert main(local_run(tmp_path, BASE_MODEL=value, HF_TOKEN=SECRET)) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"finetune: BASE_MODEL: {value!r} {problem}; allowed: {MODEL_ALLOWED}\n"


@pytest.mark.parametrize("value", ["Qwen/Qwen2.5-0.5B", "gpt2", "meta-llama/Llama-3.1-8B-Instruct", "models/qwen"])
def test_hugging_face_ids_that_are_no_local_folder_are_accepted(value, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # downloaded at run time, as before
    assert from_env({**REQUIRED, "BASE_MODEL": value}).base_model == value


def test_a_local_model_folder_is_accepted(tmp_path, monkeypatch):
    folder = fake_model_folder(
        tmp_path / "tiny-model", "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"
    )
    assert from_env({**REQUIRED, "BASE_MODEL": str(folder)}).base_model == str(folder)
    monkeypatch.chdir(tmp_path)
    assert from_env({**REQUIRED, "BASE_MODEL": "./tiny-model"}).base_model == "./tiny-model"
    sharded = fake_model_folder(
        tmp_path / "sharded", "config.json", "pytorch_model.bin.index.json", "pytorch_model-00001-of-00002.bin"
    )
    (sharded / "tokenizer_config.json").write_text("{}")
    assert from_env({**REQUIRED, "BASE_MODEL": str(sharded)}).base_model == str(sharded)


def test_every_bad_setting_is_reported_at_once(capsys):
    env = {**REQUIRED, "LORA_R": "abc", "FINETUNE_METHOD": "full", "OUTPUT_URI": "https://x/", "HF_TOKEN": SECRET}
    env.pop("RUN_ID")
    env["MAX_STEPS"] = "0"
    with pytest.raises(SettingsError) as caught:
        from_env(env)
    assert [e.name for e in caught.value.errors] == ["FINETUNE_METHOD", "OUTPUT_URI", "RUN_ID", "LORA_R", "MAX_STEPS"]
    assert main(env) == 2
    out, err = capsys.readouterr()
    assert out == "" and SECRET not in err
    assert err.splitlines() == [
        "finetune: FINETUNE_METHOD: 'full' is not valid; allowed: lora or qlora",
        "finetune: OUTPUT_URI: 'https://x/' is not valid; allowed: s3://<bucket>/<key> (a prefix) or a local path",
        "finetune: RUN_ID: not set; allowed: 1 to 16 lower-case letters, digits or '-'",
        "finetune: LORA_R: 'abc' is not valid; allowed: an integer from 1 to 256",
        "finetune: MAX_STEPS: '0' is not valid; allowed: an integer from 1 to 1000000",
    ]
