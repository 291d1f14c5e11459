"""The image's recipe: CPU-only torch, non-root, nothing secret or heavy baked in (hadolint and
the pins are checked for every image in tests/test_images.py)."""

from __future__ import annotations

import re
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.version import Version

RAG_DIR = Path(__file__).resolve().parents[1]
DOCKERFILE = RAG_DIR / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in (raw.strip() for raw in text.splitlines())
        if line and not line.startswith("#")
    ]


def test_the_base_is_a_pinned_slim_python():
    [(_, base)] = [i for i in _instructions() if i[0] == "FROM"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", base), base


def test_torch_comes_from_the_cpu_index_before_the_requirements():
    runs = [args for kind, args in _instructions() if kind == "RUN"]
    torch_run = next(i for i, args in enumerate(runs) if "download.pytorch.org/whl/cpu" in args)
    requirements_run = next(i for i, args in enumerate(runs) if "-r requirements.txt" in args)
    assert torch_run < requirements_run
    assert "--index-url https://download.pytorch.org/whl/cpu torch==2.13.0" in runs[torch_run]
    assert all("--no-cache-dir" in args for args in runs if "pip install" in args)
    # The CPU wheel's local version satisfies the requirements' pin, so pip does not replace it.
    assert Version("2.13.0+cpu") in SpecifierSet("==2.13.0")


def test_it_runs_as_uid_1000_on_port_8000_and_bakes_in_no_secret_or_model():
    instructions = _instructions()
    assert ("USER", "1000") in instructions
    assert ("EXPOSE", "8000") in instructions
    cmd = [args for kind, args in instructions if kind == "CMD"][-1]
    assert "uvicorn rag_service.app:app" in cmd and "--host 0.0.0.0" in cmd and "${PORT:-8000}" in cmd
    env = " ".join(args for kind, args in instructions if kind in ("ENV", "ARG"))
    assert not re.search(r"(KEY|TOKEN|SECRET|PASSWORD)\w*=", env, re.IGNORECASE)
    assert "XDG_CACHE_HOME=/cache" in env and "HOME=/cache/home" in env
    copied = [args for kind, args in instructions if kind in ("COPY", "ADD")]
    assert copied == ["requirements.txt .", "rag_service ./rag_service"]
    text = DOCKERFILE.read_text()
    assert "snapshot_download" not in text and "SentenceTransformer(" not in text  # no weights at build time
    ignored = [
        line.strip()
        for line in (RAG_DIR / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert ignored[:3] == ["*", "!requirements.txt", "!rag_service/"]  # tests and data stay out
