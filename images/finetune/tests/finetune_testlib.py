"""Shared test support for the finetune image: a tiny local model, small loyalty-programme
datasets in both formats, and the environment of a short run. Nothing here reaches a network."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # any hub access would be a bug in a test
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

IMAGE = Path(__file__).resolve().parents[1]  # images/finetune
IMAGES = IMAGE.parent

TIERS = ("bronze", "silver", "gold", "platinum")
PRODUCTS = ("walking shoes", "a rain jacket", "a yoga mat", "running socks", "a water bottle")


def book_records(count: int = 20) -> list[dict]:
    """The book's format: {"prompt": ..., "response": ...}."""
    records = []
    for i in range(count):
        tier, product = TIERS[i % len(TIERS)], PRODUCTS[i % len(PRODUCTS)]
        records.append(
            {
                "prompt": f"I am a {tier} member. How many points do I earn on {product}?",
                "response": f"As a {tier} member you earn {10 * (i % 4 + 1)} points per euro on {product}.",
            }
        )
    return records


def chat_records(count: int = 20) -> list[dict]:
    """The chat format, with a system message and sometimes an earlier turn."""
    records = []
    for i in range(count):
        tier, product = TIERS[i % len(TIERS)], PRODUCTS[i % len(PRODUCTS)]
        messages = [{"role": "system", "content": "You are the store's loyalty programme assistant."}]
        if i % 3 == 0:
            messages += [
                {"role": "user", "content": "Hello!"},
                {"role": "assistant", "content": "Hello! How can I help with your points?"},
            ]
        messages += [
            {"role": "user", "content": f"Can I get free shipping on {product} with {tier} status?"},
            {
                "role": "assistant",
                "content": f"Yes: {tier} members get free shipping on {product}."
                if tier in ("gold", "platinum")
                else f"Free shipping starts at gold; {tier} members pay it.",
            },
        ]
        records.append({"messages": messages})
    return records


def write_jsonl(path: Path, records: list[dict], blank_lines: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(r) for r in records]
    if blank_lines:
        lines.insert(1, "")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


_MODELS: dict[str, Path] = {}


def tiny_model(tmp_path_factory, architecture: str = "qwen2") -> Path:
    """The tiny model, made once per test session (a few seconds) and shared."""
    if architecture not in _MODELS:
        from testing.tiny_model import make_tiny_model

        _MODELS[architecture] = make_tiny_model(tmp_path_factory.mktemp(f"tiny-{architecture}"), architecture)
    return _MODELS[architecture]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """The tiny model trains as fast on one thread, and a busy 2-core machine (other test sessions)
    makes two OpenMP threads wait on each other many times over. Restored after the module."""
    if "torch" not in sys.modules:
        import torch  # noqa: F401  (first import here is fine: the modules using this need torch anyway)
    torch = sys.modules["torch"]
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def run_env(model: Path, train: str, validation: str, output: str, checkpoints: str, **overrides) -> dict:
    """The contract's variables for a short CPU run (strings, as the Job passes them)."""
    env = {
        "BASE_MODEL": str(model),
        "FINETUNE_METHOD": "lora",
        "TRAIN_DATA": str(train),
        "VALIDATION_DATA": str(validation),
        "OUTPUT_URI": str(output),
        "CHECKPOINT_URI": str(checkpoints),
        "RUN_ID": "1",
        "LORA_R": "8",
        "LORA_ALPHA": "16",
        "LORA_DROPOUT": "0.05",
        "LEARNING_RATE": "0.001",
        "MAX_STEPS": "6",
        "BATCH_SIZE": "4",
        "GRADIENT_ACCUMULATION_STEPS": "1",
        "MAX_SEQ_LENGTH": "128",
        "CHECKPOINT_EVERY_STEPS": "3",
    }
    env.update({k: str(v) for k, v in overrides.items()})
    return env


def subprocess_env(tmp_path: Path, contract: dict) -> dict:
    """A clean environment for `python -m finetune` in a subprocess: the contract, offline, own HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "HF_", "FINETUNE_"))}
    env.update(contract)
    env.update(
        {
            "HOME": str(tmp_path / "home"),
            "HF_HOME": str(tmp_path / "hf-home"),
            "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": str(IMAGE),
            "TOKENIZERS_PARALLELISM": "false",
            "OMP_NUM_THREADS": "1",
        }
    )
    return env


PYTHON = sys.executable


@contextlib.contextmanager
def captured_log():
    """The messages the `finetune` logger emits inside the block (its INFO lines included)."""
    messages: list[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: messages.append(record.getMessage())
    logger = logging.getLogger("finetune")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield messages
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
