"""The image: Dockerfile lint and rules, pinned requirements, and the environment contract with
the Job in workloads/finetune.py (read as source, so this needs no Pulumi)."""

from __future__ import annotations

import ast
import re

from finetune_testlib import IMAGE, IMAGES

REPO = IMAGES.parent
DOCKERFILE = IMAGE / "Dockerfile"
JOB = REPO / "workloads" / "finetune.py"


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip())
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def test_dockerfile_rules():
    steps = instructions()
    base = [args for op, args in steps if op == "FROM"]
    assert len(base) == 1 and re.fullmatch(
        r"nvidia/cuda:\d+\.\d+\.\d+-(base|runtime|cudnn-runtime)-ubuntu\d\d\.\d\d", base[0]
    )
    assert [args for op, args in steps if op == "USER"] == ["1000:1000"]
    assert steps[-1] == ("ENTRYPOINT", '["python", "-m", "finetune"]')
    env = " ".join(args for op, args in steps if op == "ENV")
    assert "HF_HOME=/cache/huggingface" in env and "HOME=/cache/home" in env
    baked = " ".join(args for op, args in steps if op in ("ENV", "ARG", "RUN", "COPY", "ADD"))
    assert not re.search(r"HF_TOKEN|AWS_|SECRET|PASSWORD|\.safetensors|\.bin\b", baked)  # no secrets or weights
    runs = " ".join(args for op, args in steps if op == "RUN")
    assert "pip install --no-cache-dir -r requirements.txt" in runs
    assert not re.search(r"hf download|huggingface-cli|from_pretrained|snapshot_download", runs)  # no weights baked in


def test_the_job_runs_the_images_user():
    uid = re.search(r"^CONTAINER_UID = (\d+)", JOB.read_text(), re.M)[1]
    assert [args for op, args in instructions() if op == "USER"] == [f"{uid}:{uid}"]


def _contract_variables() -> set[str]:
    tree = ast.parse(JOB.read_text())
    function = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "finetune_environment")
    returned = next(n.value for n in ast.walk(function) if isinstance(n, ast.Return))
    return {key.value for key in returned.keys}


def test_the_image_reads_every_variable_the_job_sets():
    from finetune.settings import from_env

    variables = _contract_variables()
    for_the_runtime = {"HF_HOME", "HOME", "PYTHONUNBUFFERED"}  # read by Python and the HF libraries
    assert for_the_runtime <= variables
    read = set(re.findall(r'"([A-Z][A-Z0-9_]+)"', (IMAGE / "finetune" / "settings.py").read_text()))
    assert variables - for_the_runtime <= read
    # ... and needs nothing else (HF_TOKEN comes from a Secret when configured, and is optional).
    env = {name: "1" for name in variables}
    env.update(
        BASE_MODEL="Qwen/Qwen2.5-7B-Instruct",
        FINETUNE_METHOD="qlora",
        LORA_DROPOUT="0.05",
        LEARNING_RATE="2.5e-05",
        MAX_SEQ_LENGTH="1024",
        TRAIN_DATA="s3://datasets-b/loyalty/train.jsonl",
        VALIDATION_DATA="s3://datasets-b/loyalty/validation.jsonl",
        OUTPUT_URI="s3://assets-b/adapters/loyalty/",
        CHECKPOINT_URI="s3://assets-b/checkpoints/loyalty/1/",
    )
    assert from_env(env).hf_token is None
