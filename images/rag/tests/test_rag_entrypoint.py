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
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
    output = Path(log.name).read_text()
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit reports the signal.
    assert process.returncode in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output and "Traceback" not in output
