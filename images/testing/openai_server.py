"""A real OpenAI-compatible HTTP server on localhost that generates with a local model.

It speaks the subset of the API our images use: `GET /v1/models`, `POST /v1/chat/completions`
(plain and `stream: true` as server-sent events) and `POST /v1/completions`. Every request body
and every answer is recorded, so a test can assert what a client sent (e.g. the retrieved
products in a RAG prompt) and that the client returned what the model produced.

    with OpenAIServer(model_dir, served_names=("tiny", "loyalty")) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="unused")
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from testing.local_server import LocalServer


class OpenAIServer(LocalServer):
    name = "test OpenAI server"

    def __init__(
        self,
        model_dir: Path,
        served_names: Iterable[str] = ("tiny",),
        max_new_tokens: int = 12,
        port: int | None = None,
        api_key: str | None = None,
    ):
        super().__init__(port)
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
        self.served_names = tuple(served_names)
        self.max_new_tokens = max_new_tokens
        self.api_key = api_key
        self.requests: list[dict[str, Any]] = []  # request bodies, in order
        self.answers: list[str] = []  # generated texts, in order
        # Only word-like tokens are sampled, so answers are readable text (in a browser too).
        self._suppressed = [
            i for i in range(len(self.tokenizer)) if not re.fullmatch(r" ?[A-Za-z]+[.,]?", self.tokenizer.decode([i]))
        ]
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # --- generation ----------------------------------------------------------------------------

    def _generate(self, prompt_ids: list[int], max_tokens: int) -> list[str]:
        import torch

        # A random-initialised model decodes greedily into one repeated token; seeded sampling gives
        # varied text that is still the same for the same prompt.
        with self._lock, torch.no_grad():
            torch.manual_seed(sum(prompt_ids) % 2**31)
            output = self.model.generate(
                torch.tensor([prompt_ids]),
                max_new_tokens=max_tokens,
                do_sample=True,
                top_k=50,
                min_new_tokens=max_tokens,
                suppress_tokens=self._suppressed,
                pad_token_id=self.tokenizer.pad_token_id,
            )
        new_ids = output[0][len(prompt_ids) :].tolist()
        pieces, previous = [], ""
        for i in range(1, len(new_ids) + 1):  # decode incrementally so streamed pieces join up exactly
            text = self.tokenizer.decode(new_ids[:i], skip_special_tokens=True)
            pieces.append(text[len(previous) :])
            previous = text
        return [p for p in pieces if p] or [""]

    # --- the app -------------------------------------------------------------------------------

    def app(self) -> FastAPI:
        app = FastAPI()

        def refused(request: Request) -> JSONResponse | None:
            if self.api_key and request.headers.get("authorization") != f"Bearer {self.api_key}":
                return JSONResponse({"error": {"message": "invalid api key", "type": "invalid_request_error"}}, 401)
            return None

        def unknown_model(body: dict) -> JSONResponse | None:
            if body.get("model") not in self.served_names:
                return JSONResponse(
                    {
                        "error": {
                            "message": f"The model `{body.get('model')}` does not exist.",
                            "type": "NotFoundError",
                            "code": 404,
                        }
                    },
                    404,
                )
            return None

        @app.get("/v1/models")
        def models(request: Request):
            return refused(request) or {
                "object": "list",
                "data": [
                    {"id": name, "object": "model", "created": 0, "owned_by": "tests"} for name in self.served_names
                ],
            }

        @app.post("/v1/chat/completions")
        async def chat(request: Request):
            body = await request.json()
            self.requests.append(body)
            if (error := refused(request) or unknown_model(body)) is not None:
                return error
            prompt = self.tokenizer.apply_chat_template(body["messages"], add_generation_prompt=True, tokenize=False)
            ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
            pieces = self._generate(ids, int(body.get("max_tokens") or self.max_new_tokens))
            self.answers.append("".join(pieces))
            return self._respond(body, pieces, chat=True)

        @app.post("/v1/completions")
        async def completions(request: Request):
            body = await request.json()
            self.requests.append(body)
            if (error := refused(request) or unknown_model(body)) is not None:
                return error
            ids = self.tokenizer(body["prompt"])["input_ids"]
            pieces = self._generate(ids, int(body.get("max_tokens") or self.max_new_tokens))
            self.answers.append("".join(pieces))
            return self._respond(body, pieces, chat=False)

        return app

    def _respond(self, body: dict, pieces: list[str], chat: bool):
        ident, created, model = f"cmpl-{uuid.uuid4().hex[:12]}", int(time.time()), body["model"]
        kind = "chat.completion" if chat else "text_completion"
        if body.get("stream"):

            def chunk(choice):  # one SSE event
                event = {"id": ident, "object": f"{kind}.chunk", "created": created, "model": model}
                return f"data: {json.dumps({**event, 'choices': [choice]})}\n\n"

            def events():
                for piece in pieces:
                    choice = (
                        {"index": 0, "delta": {"role": "assistant", "content": piece}}
                        if chat
                        else {"index": 0, "text": piece}
                    )
                    yield chunk({**choice, "finish_reason": None})
                final = (
                    {"index": 0, "delta": {}, "finish_reason": "length"}
                    if chat
                    else {"index": 0, "text": "", "finish_reason": "length"}
                )
                yield chunk(final)
                yield "data: [DONE]\n\n"

            return StreamingResponse(events(), media_type="text/event-stream")
        text = "".join(pieces)
        choice = (
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "length"}
            if chat
            else {"index": 0, "text": text, "finish_reason": "length"}
        )
        return {
            "id": ident,
            "object": kind,
            "created": created,
            "model": model,
            "choices": [choice],
            "usage": {"prompt_tokens": 0, "completion_tokens": len(pieces), "total_tokens": len(pieces)},
        }
