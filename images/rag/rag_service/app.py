"""The HTTP API.

- `POST /generate` `{"prompt": "...", "session_id": "..." | null}` -> `{"response": "...", "session_id": "..."}`
  (a new session id when none is given).
- `POST /load_data`, one of:
  - `Content-Type: application/json` `{"uri": "s3://bucket/catalog/products.csv"}` (under
    CATALOG_URI_PREFIX) or `{"uri": "https://..."}`;
  - `Content-Type: application/json` `{"csv": "id,name,category,description,price\\n..."}`;
  - `Content-Type: text/csv` with the CSV as the body.
  -> `{"collection", "source", "rows", "new", "updated", "points"}`.
- `GET /healthz` -> 200 `{"status": "ok", "qdrant": {"reachable": ...}, ...}` once the embedding
  model is loaded. Qdrant being down does not fail it (restarting this pod would not help);
  it shows in `qdrant.reachable`, and requests that need Qdrant answer 503.

Every error is JSON `{"detail": "<what is wrong>"}`, never a traceback.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from starlette.concurrency import run_in_threadpool

from rag_service import __version__
from rag_service.assistant import Assistant
from rag_service.catalog import decode, parse_catalog
from rag_service.embeddings import Embedder
from rag_service.errors import BadRequest, PayloadTooLarge, ServiceError, Unavailable
from rag_service.history import ConversationHistory
from rag_service.llm import LlmClient
from rag_service.settings import Settings
from rag_service.sources import S3ClientFactory, fetch_https, read_s3
from rag_service.vector_store import VectorStore

log = logging.getLogger("rag_service")
MAX_PROMPT_CHARS = 4000
SESSION_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
CSV_TYPES = {"text/csv", "application/csv", "text/plain"}


# --- request and response bodies --------------------------------------------------------------


class GenerateRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    prompt: str = Field(max_length=MAX_PROMPT_CHARS, description="the customer's question")
    session_id: str | None = Field(default=None, description="from an earlier answer; none: a new session")

    @field_validator("prompt")
    @classmethod
    def _prompt_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the prompt must not be empty")
        return value.strip()

    @field_validator("session_id")
    @classmethod
    def _session_id_shape(cls, value: str | None) -> str | None:
        if value is not None and value.strip() == "":
            return None
        if value is not None and not SESSION_ID.match(value):
            raise ValueError("a session id is 1 to 128 letters, digits, '_', '.', ':' or '-'")
        return value


class GenerateResponse(BaseModel):
    response: str
    session_id: str


class LoadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    uri: str | None = Field(default=None, description="s3://bucket/prefix/file.csv or https://...")
    csv: str | None = Field(default=None, description="the catalogue CSV itself")

    @model_validator(mode="after")
    def _exactly_one(self) -> LoadRequest:
        if (self.uri is None) == (self.csv is None):
            raise ValueError("give exactly one of 'uri' (s3:// or https://) and 'csv' (the CSV text)")
        return self


class LoadResponse(BaseModel):
    collection: str
    source: str
    rows: int
    new: int
    updated: int
    points: int


LOAD_DATA_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": LoadRequest.model_json_schema()},
            "text/csv": {"schema": {"type": "string"}},
        },
    }
}


# --- the app ----------------------------------------------------------------------------------


def _configure_logging() -> None:
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        log.addHandler(handler)
        log.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
        log.propagate = False


def _ensure_home() -> None:
    """The pod's HOME (/cache/home) sits on an empty volume: make it, for libraries that write there."""
    home = os.environ.get("HOME")
    if home:
        try:
            os.makedirs(home, exist_ok=True)
        except OSError:
            pass


def create_app(
    settings: Settings | None = None,
    *,
    embedder: Embedder | None = None,
    clock: Callable[[], float] = time.monotonic,
    s3_client_factory: S3ClientFactory | None = None,
    https_transport: httpx.BaseTransport | None = None,
) -> FastAPI:
    """The app. `settings` None: read from the environment at startup. `embedder`: a loaded model
    to share (tests); otherwise EMBEDDING_MODEL is loaded at startup, before the first request."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        _configure_logging()
        _ensure_home()
        config = settings or Settings.from_env()
        model = embedder if embedder is not None else await run_in_threadpool(Embedder, config.embedding_model)
        store = VectorStore.connect(config, model.dimension)
        llm = LlmClient(
            config.llm_base_url,
            config.llm_model,
            config.llm_api_key,
            timeout=config.llm_timeout_seconds,
            max_retries=config.llm_max_retries,
            max_tokens=config.llm_max_tokens,
            rewrite_max_tokens=config.llm_rewrite_max_tokens,
            temperature=config.llm_temperature,
        )
        history = ConversationHistory(
            config.history_max_turns, config.history_ttl_seconds, config.history_max_sessions, clock=clock
        )
        try:
            await run_in_threadpool(store.ensure_collection)
        except ServiceError as error:  # Qdrant may start after us; /load_data creates it then
            log.warning("collection not prepared at startup: %s", error)
        app.state.settings = config
        app.state.assistant = Assistant(model, store, llm, history, top_k=config.top_k)
        log.info(
            "RAG service %s ready: Qdrant %s collection %r, LLM %s model %r, embeddings %s",
            __version__,
            config.qdrant_location,
            config.collection,
            config.llm_base_url,
            config.llm_model,
            model.model_name,
        )
        try:
            yield
        finally:
            app.state.assistant = None
            llm.close()
            store.close()

    app = FastAPI(title="RAG shopping assistant", version=__version__, lifespan=lifespan)
    app.state.assistant = None

    def assistant() -> Assistant:
        if app.state.assistant is None:
            raise Unavailable("the service is starting")
        return app.state.assistant

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, error: ServiceError) -> JSONResponse:
        log.warning("%s %s -> %d: %s", request.method, request.url.path, error.status_code, error.message)
        return JSONResponse({"detail": error.message}, status_code=error.status_code)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        return _validation_response(error.errors())

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return JSONResponse(
            {"detail": f"internal error ({type(error).__name__}); see the service log"}, status_code=500
        )

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        if app.state.assistant is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        service, config = app.state.assistant, app.state.settings
        reachable = service.store.reachable()
        return JSONResponse(
            {
                "status": "ok",
                "qdrant": {"reachable": reachable, "location": config.qdrant_location, "collection": config.collection},
                "embedding_model": service.embedder.model_name,
                "llm": {"base_url": config.llm_base_url, "model": config.llm_model},
            }
        )

    @app.post("/generate", response_model=GenerateResponse)
    def generate(body: GenerateRequest) -> GenerateResponse:
        answer = assistant().ask(body.prompt, body.session_id)
        return GenerateResponse(response=answer.text, session_id=answer.session_id)

    @app.post("/load_data", response_model=LoadResponse, openapi_extra=LOAD_DATA_BODY)
    async def load_data(request: Request) -> LoadResponse | JSONResponse:  # response_model documents the 200
        service, config = assistant(), app.state.settings
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        body = await _read_body(request, config.max_catalog_bytes)
        if content_type in CSV_TYPES:
            source, data = "the request body", body
        elif content_type in ("application/json", ""):
            try:
                load = LoadRequest.model_validate(json.loads(body or b"null"))
            except ValueError as error:  # json.JSONDecodeError and pydantic's ValidationError
                if isinstance(error, ValidationError):
                    return _validation_response(error.errors())
                raise BadRequest('the body is not JSON: send {"uri": ...}, {"csv": ...} or text/csv') from None
            if load.csv is not None:
                source, data = "the request body", load.csv.encode("utf-8")
            else:
                assert load.uri is not None  # _exactly_one: a request without csv has a uri
                source = load.uri.strip()
                data = await run_in_threadpool(_fetch, source, config, s3_client_factory, https_transport)
        else:
            return JSONResponse(
                {
                    "detail": f"unsupported content type {content_type!r}: send application/json "
                    f'({{"uri": ...}} or {{"csv": ...}}) or text/csv'
                },
                status_code=415,
            )
        products = await run_in_threadpool(lambda: parse_catalog(decode(data, source)))  # large files: off the loop
        result = await run_in_threadpool(service.load, products)
        log.info(
            "loaded %d products from %s into %r: %d new, %d updated, %d points",
            result.rows,
            source,
            config.collection,
            result.new,
            result.updated,
            result.points,
        )
        return LoadResponse(
            collection=config.collection,
            source=source,
            rows=result.rows,
            new=result.new,
            updated=result.updated,
            points=result.points,
        )

    return app


def _fetch(
    uri: str, config: Settings, s3_client_factory: S3ClientFactory | None, https_transport: httpx.BaseTransport | None
) -> bytes:
    if uri.startswith("s3://"):
        return read_s3(uri, config.catalog_uri_prefix, config.max_catalog_bytes, s3_client_factory)
    return fetch_https(uri, config.max_catalog_bytes, transport=https_transport)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is {declared} bytes; the limit is {limit} (MAX_CATALOG_BYTES)")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body is larger than {limit} bytes (MAX_CATALOG_BYTES)")
        chunks.append(chunk)
    return b"".join(chunks)


def _validation_response(errors: Sequence[Mapping[str, Any]]) -> JSONResponse:
    """422 with a readable `detail` ("prompt: Field required") and the errors without their inputs."""
    simple = []
    for error in errors:
        if error.get("type") == "json_invalid":  # its loc is a character offset, not a field
            simple.append({"loc": "", "msg": f"the body is not valid JSON ({error.get('msg', 'invalid')})"})
            continue
        loc = [str(part) for part in error.get("loc", ())]
        loc = (loc[1:] if loc[:1] == ["body"] else loc) or ["body"]  # ("body", "prompt") -> prompt
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        simple.append({"loc": ".".join(loc), "msg": message})
    detail = "; ".join(f"{e['loc']}: {e['msg']}" if e["loc"] else e["msg"] for e in simple)
    return JSONResponse({"detail": detail or "invalid request", "errors": simple}, status_code=422)


app = create_app()
