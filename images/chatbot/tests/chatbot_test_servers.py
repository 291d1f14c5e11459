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


class RagStandIn(LocalServer):
    """`POST /generate` as the RAG service has it: `{"prompt", "session_id"}` in, `{"response",
    "session_id"}` out. Answers "RAG answer #n for <prompt>"; a prompt that starts with "fail"
    gets a 503 with a FastAPI `detail`, "too long" a 422, "garble" a 200 in another shape. Records
    every request body and answer."""

    name = "RAG stand-in"

    def __init__(self, port: int | None = None):
        super().__init__(port)
        self.requests: list[dict[str, Any]] = []
        self.responses: list[dict[str, Any]] = []  # the answers that were not errors
        self._count = itertools.count(1)
        self._sessions = itertools.count(1)

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
            if request.prompt.lower().startswith("fail"):
                return JSONResponse({"detail": "the vector database is unreachable"}, 503)
            if request.prompt.lower().startswith("too long"):
                return JSONResponse({"detail": "prompt: String should have at most 4000 characters"}, 422)
            if request.prompt.lower().startswith("garble"):
                return {"answer": "not the field the chatbot reads"}
            session_id = request.session_id or f"rag-session-{next(self._sessions)}"
            answer = {"response": f"RAG answer #{next(self._count)} for {request.prompt}", "session_id": session_id}
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
