"""The chatbot image's build files keep the pod's contract (hadolint and the pins are checked for
every image in tests/test_images.py)."""

from __future__ import annotations

import re
from pathlib import Path

CHATBOT_DIR = Path(__file__).resolve().parents[1]
DOCKERFILE = CHATBOT_DIR / "Dockerfile"
REQUIREMENTS = CHATBOT_DIR / "requirements.txt"


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip())
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def test_dockerfile_keeps_the_pods_contract():
    steps = instructions()
    [base] = [arg for op, arg in steps if op == "FROM"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", base), "a pinned python:3.11 slim-bookworm tag"
    assert ("RUN", "pip install --no-cache-dir -r requirements.txt") in steps
    assert [arg for op, arg in steps if op == "USER"] == ["1000"]  # numeric: runAsNonRoot can check it
    assert [arg for op, arg in steps if op == "EXPOSE"] == ["7860"]
    assert steps[-1] == ("CMD", '["python", "-m", "chatbot_ui"]')
    env = " ".join(arg for op, arg in steps if op == "ENV")
    for setting in ("GRADIO_ANALYTICS_ENABLED=False", "GRADIO_SERVER_NAME=0.0.0.0", "GRADIO_SERVER_PORT=7860"):
        assert setting in env.split()
    copied = [arg.split()[0] for op, arg in steps if op == "COPY"]
    assert copied == ["requirements.txt", "chatbot_ui"]
    assert all((CHATBOT_DIR / path).exists() for path in copied)
