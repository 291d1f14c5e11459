"""The private model path end to end, offline and real: a tiny Qwen2 checkpoint is converted to GGUF
f16 by convert.sh with llama.cpp's own converter (from the pinned llama-cpp-python sdist), served by
llama-cpp-python's OpenAI-compatible server configured as private-model.container configures the
container, and answered through the chatbot's Private model assistant, built from the same
settings the cluster gives it (PRIVATE_MODEL_URL=http://<host>:<port>/v1, PRIVATE_MODEL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from private_model_testlib import (
    CONVERT,
    SDIST_MISSING,
    SERVED_NAME,
    UNIT_FILE,
    LlamaCppServer,
    converter_python,
    environment,
    find_sdist,
    free_port,
    llama_cpp_server_missing,
    parse_unit,
)
from testing.tiny_model import make_tiny_model


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory) -> Path:
    """The tiny model, converted by convert.sh (the real converter) into a models folder."""
    sdist = find_sdist()
    if sdist is None:
        pytest.skip(SDIST_MISSING)
    root = tmp_path_factory.mktemp("private-model")
    checkpoint = make_tiny_model(root / "Tiny-Qwen2-Chat")
    env = {
        **os.environ,
        "PRIVATE_MODEL_CACHE": str(root / "cache"),
        "LLAMA_CPP_PYTHON_SDIST": str(sdist),
        "CONVERTER_PYTHON": str(converter_python(root / "converter-python")),
        "MODELS_DIR": str(root / "models"),
    }
    started = time.monotonic()
    result = subprocess.run([str(CONVERT), str(checkpoint)], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    output = Path(result.stdout.strip().splitlines()[-1])
    print(f"\nconvert.sh (tiny model, f16): {time.monotonic() - started:.1f} s")
    # Named as convert.sh names any checkpoint, next to nothing half-written.
    assert output == root / "models" / "tiny-qwen2-chat-f16.gguf"
    assert sorted(p.name for p in output.parent.iterdir()) == [output.name]
    return output


@pytest.fixture(scope="session")
def served(tiny_gguf, tmp_path_factory) -> Iterator[LlamaCppServer]:
    """The server with the unit's settings; only the model file, the address and the threads are
    this machine's."""
    missing = llama_cpp_server_missing()
    if missing:
        pytest.skip(missing)
    env = environment(parse_unit(UNIT_FILE.read_text()))
    env.update(
        MODEL=str(tiny_gguf),
        HOST="127.0.0.1",
        PORT=str(free_port()),
        N_THREADS=str(min(int(env["N_THREADS"]), os.cpu_count() or 1)),
        SEED="7",
    )  # sampling repeats from run to run: no flaky empty answer from a random model
    with LlamaCppServer(env, tmp_path_factory.mktemp("llama-server") / "server.log") as server:
        print(f"\nllama_cpp.server: /v1/models answered {server.startup_s:.2f} s after the start")
        yield server


GGUF_METADATA = """
import json, sys
sys.path.insert(0, sys.argv[1])
from gguf import GGUFReader
fields = GGUFReader(sys.argv[2]).fields
print(json.dumps({name: fields[name].contents() for name in sys.argv[3:]}))
"""


def gguf_metadata(path: Path, *names: str) -> dict:
    """Read with the gguf-py that came with the converter (no `gguf` package is installed)."""
    gguf_py = next((path.parents[1] / "cache").glob("llama.cpp-*/gguf-py"))
    result = subprocess.run(
        [sys.executable, "-c", GGUF_METADATA, str(gguf_py), str(path), *names],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_tiny_checkpoint_converts_to_an_f16_gguf_with_its_chat_template(tiny_gguf: Path):
    assert tiny_gguf.read_bytes()[:4] == b"GGUF"
    assert oct(tiny_gguf.stat().st_mode & 0o777) == "0o644"  # the container's user reads it
    metadata = gguf_metadata(
        tiny_gguf,
        "general.architecture",
        "general.file_type",
        "tokenizer.ggml.model",
        "tokenizer.ggml.pre",
        "tokenizer.chat_template",
        "tokenizer.ggml.eos_token_id",
    )
    assert metadata["general.architecture"] == "qwen2"
    assert metadata["general.file_type"] == 1  # LlamaFileType.MOSTLY_F16
    assert metadata["tokenizer.ggml.model"] == "gpt2" and metadata["tokenizer.ggml.pre"] == "gpt-2"
    assert "<|im_start|>" in metadata["tokenizer.chat_template"]
    assert metadata["tokenizer.ggml.eos_token_id"] == 2  # <|im_end|>: answers end where ChatML turns do


# A random tiny model may end its answer at once; the raw API tests forbid its end tokens
# (<|endoftext|> 0, <|im_end|> 2) so that an answer always has text.
NO_END = {"logit_bias": {"0": -100, "2": -100}}


def test_models_lists_the_served_name(served: LlamaCppServer):
    response = httpx.get(f"{served.base_url}/models", timeout=10)
    assert response.status_code == 200
    assert [m["id"] for m in response.json()["data"]] == [SERVED_NAME]


def test_chat_completion_answers(served: LlamaCppServer):
    response = httpx.post(
        f"{served.base_url}/chat/completions",
        timeout=60,
        json={
            "model": SERVED_NAME,
            "max_tokens": 16,
            **NO_END,
            "messages": [
                {"role": "system", "content": "You answer shoppers."},
                {"role": "user", "content": "Which shoes earn points?"},
            ],
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    choice = body["choices"][0]
    assert choice["message"]["role"] == "assistant" and choice["message"]["content"]
    assert choice["finish_reason"] in ("stop", "length")
    assert 0 < body["usage"]["completion_tokens"] <= 16
    # The prompt went through the GGUF's ChatML template: two turns and the assistant's header.
    assert body["usage"]["prompt_tokens"] > 10


def test_chat_completion_streams(served: LlamaCppServer):
    pieces, finish = [], None
    with httpx.stream(
        "POST",
        f"{served.base_url}/chat/completions",
        timeout=60,
        json={
            "model": SERVED_NAME,
            "max_tokens": 8,
            "stream": True,
            **NO_END,
            "messages": [{"role": "user", "content": "Hello"}],
        },
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    for line in lines[:-1]:
        chunk = json.loads(line[len("data: ") :])
        assert chunk["object"] == "chat.completion.chunk"
        delta = chunk["choices"][0]["delta"]
        pieces.append(delta.get("content") or "")
        finish = chunk["choices"][0]["finish_reason"] or finish
    assert "".join(pieces) and finish in ("stop", "length")
    assert sum(1 for p in pieces if p) >= 2  # it arrived in pieces


def private_assistant(served: LlamaCppServer, **env: str):
    """The chatbot's Private model assistant, made by its own settings code from the variables the
    cluster sets (workloads/chatbot.py)."""
    from chatbot_ui.config import PRIVATE, Settings

    settings = Settings.from_env({"PRIVATE_MODEL_URL": served.base_url, **env})
    (assistant,) = settings.assistants()
    assert assistant.name == PRIVATE
    # The chatbot asks for no length limit, so a random tiny model would talk until n_ctx is full.
    assistant.max_tokens = 12
    return assistant


def ask(assistant, message: str, history=()) -> list:
    """The chatbot's answers to one question, asked again (at most 5 times) while the random tiny
    model ends its answer before it has two pieces; a backend failure fails at once."""
    from chatbot_ui.backends import respond

    for _ in range(5):
        answers = list(respond(assistant, message, list(history), {}))
        assert not any("unavailable" in a.text or "could not take" in a.text for a in answers), answers
        if len(answers) >= 2 and all(a.ok for a in answers):
            return answers
    pytest.fail(f"no answer of two pieces or more in 5 questions: {answers}")


def test_the_chatbot_private_assistant_answers_through_the_url_scheme_of_the_cluster(served: LlamaCppServer):
    assert served.base_url == f"http://127.0.0.1:{served.port}/v1"
    assistant = private_assistant(served, PRIVATE_MODEL=SERVED_NAME)
    history = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How can I help?"}]
    answers = ask(assistant, "Do members earn points?", history)
    assert answers[-1].text  # streamed: the answer grew piece by piece
    assert all(answers[-1].text.startswith(a.text) for a in answers)
    assistant.close()


def test_the_chatbot_finds_the_served_name_when_private_model_is_unset(served: LlamaCppServer):
    assistant = private_assistant(served)
    assert assistant.model is None
    assert ask(assistant, "Hello")[-1].text
    assert assistant.model == SERVED_NAME
    assistant.close()


def test_a_single_model_server_answers_any_model_name(served: LlamaCppServer):
    """llama-cpp-python serves its one model whatever name a request gives (the README relies on
    it for `ilab model serve`, which lists the model under its path)."""
    response = httpx.post(
        f"{served.base_url}/chat/completions",
        timeout=60,
        json={"model": "some-other-name", "max_tokens": 4, **NO_END, "messages": [{"role": "user", "content": "Hi"}]},
    )
    assert response.status_code == 200 and response.json()["choices"][0]["message"]["content"]
