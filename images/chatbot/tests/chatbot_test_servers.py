"""Real local servers for the chatbot's tests: a RAG stand-in with the RAG service's API (Shopping)
and a port that accepts connections but never answers (timeouts). The OpenAI-compatible ones come
from `testing.openai_server`."""

from __future__ import annotations

import itertools
import socket
import threading
from typing import Any

from pydantic import BaseModel

from testing.local_server import LocalServer, free_port

LOYALTY_MODEL = "loyalty"
PRIVATE_MODEL = "private-llama"


class GenerateRequest(BaseModel):
    prompt: str
    session_id: str | None = None


# What the stand-in "retrieves": catalogue products, in rank order, as the RAG service's `sources`
# list has them (the third has no price, and a name that must not be taken for HTML).
CATALOGUE_HITS: list[dict[str, Any]] = [
    {"id": "p-101", "name": "Trail Walker GTX", "category": "Walking shoes", "price": 89.0, "score": 0.91},
    {"id": "p-102", "name": "City Stroller", "category": "Walking shoes", "price": 64.5, "score": 0.84},
    {"id": "p-205", "name": "Merino Socks <2 pairs> & Liners", "category": "Socks", "score": 0.77},
]
# Sources in shapes a client must tolerate: another name field, a string price, no name at all,
# not an object, nothing but a score, blank and null fields.
ODD_SOURCES: list[Any] = [
    {"title": "Rain Jacket", "price": "49.99"},
    {"product_id": "p-9"},
    "not an object",
    {"score": 0.1},
    {"name": "  Roomy   Backpack ", "category": None, "price": None},
]


class RagStandIn(LocalServer):
    """`POST /generate` as the RAG service has it: `{"prompt", "session_id"}` in, `{"response",
    "session_id", "sources"}` out. Answers "RAG answer #n for <prompt>" with `CATALOGUE_HITS` as its
    sources; a prompt that starts with "fail" gets a 503 with a FastAPI `detail`, "too long" a 422,
    "status <n>" that status, "garble" a 200 in another shape, "no sources" an answer without
    `sources`, "empty sources" an empty list and "odd sources" `ODD_SOURCES`. Records every request
    body (as it arrives) and answer. Clear `release` to hold the answers until it is set again."""

    name = "RAG stand-in"

    def __init__(self, port: int | None = None):
        super().__init__(port)
        self.requests: list[dict[str, Any]] = []
        self.responses: list[dict[str, Any]] = []  # the answers that were not errors
        self._count = itertools.count(1)
        self._sessions = itertools.count(1)
        self.release = threading.Event()
        self.release.set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def app(self):
        from fastapi import FastAPI
        from fastapi.responses import JSONResponse

        app = FastAPI()

        @app.post("/generate")
        def generate(request: GenerateRequest):
            self.requests.append(request.model_dump())
            self.release.wait(60)  # a sync endpoint: it waits in its own worker thread
            prompt = request.prompt.lower()
            if prompt.startswith("fail"):
                return JSONResponse({"detail": "the vector database is unreachable"}, 503)
            if prompt.startswith("too long"):
                return JSONResponse({"detail": "prompt: String should have at most 4000 characters"}, 422)
            if prompt.startswith("status "):
                status = int(prompt.split()[1])
                return JSONResponse({"detail": f"the stand-in answers {status}"}, status)
            if prompt.startswith("garble"):
                return {"answer": "not the field the chatbot reads"}
            session_id = request.session_id or f"rag-session-{next(self._sessions)}"
            answer: dict[str, Any] = {
                "response": f"RAG answer #{next(self._count)} for {request.prompt}",
                "session_id": session_id,
            }
            if prompt.startswith("odd sources"):
                answer["sources"] = ODD_SOURCES
            elif prompt.startswith("empty sources"):
                answer["sources"] = []
            elif not prompt.startswith("no sources"):
                answer["sources"] = CATALOGUE_HITS
            self.responses.append(answer)
            return answer

        return app


class SilentServer:
    """Accepts connections and reads, but never answers: a backend that hangs."""

    def __init__(self):
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(16)
        self.port = self._socket.getsockname()[1]
        self._connections: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            self._connections.append(connection)

    def __enter__(self) -> SilentServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._socket.close()
        for connection in self._connections:
            connection.close()


def closed_port_url() -> str:
    """A URL on which nothing listens."""
    return f"http://127.0.0.1:{free_port()}"
