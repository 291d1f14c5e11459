"""Fixtures: real local backends for the chatbot's tests (the tiny OpenAI-compatible servers for
Loyalty and Private model, the RAG stand-in for Shopping)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chatbot_test_servers import LOYALTY_MODEL, PRIVATE_MODEL, RagStandIn
from testing.openai_server import OpenAIServer
from testing.tiny_model import make_tiny_model


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("chatbot-tiny-model"))


@pytest.fixture(scope="session")
def loyalty_server(tiny_model_dir) -> Iterator[OpenAIServer]:
    """The inference service: serves the tiny model as the fine-tuned adapter's name."""
    with OpenAIServer(tiny_model_dir, served_names=("tiny", LOYALTY_MODEL)) as server:
        yield server


@pytest.fixture(scope="session")
def private_server(tiny_model_dir) -> Iterator[OpenAIServer]:
    """The private llama.cpp server: another server, another served name."""
    with OpenAIServer(tiny_model_dir, served_names=(PRIVATE_MODEL,), max_new_tokens=8) as server:
        yield server


@pytest.fixture
def rag_server() -> Iterator[RagStandIn]:
    with RagStandIn() as server:
        yield server
