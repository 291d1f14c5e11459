"""The HTTP API.

- `POST /generate` `{"prompt": "...", "session_id": "..." | null}` ->
  `{"response", "session_id", "new_session", "notice", "sources": [{"rank", "id", "name", ...}]}`
  (a new session id when none is given; `new_session` and `notice` when the one given is unknown).
- `POST /load_data`, one of:
  - `Content-Type: application/json` `{"uri": "s3://bucket/catalog/products.csv"}` (under
    CATALOG_URI_PREFIX) or `{"uri": "https://..."}`;
  - `Content-Type: application/json` `{"csv": "id,name,category,description,price\\n..."}`;
  - `Content-Type: text/csv` with the CSV as the body.
  -> `{"collection", "source", "rows", "new", "updated", "points"}`.
- `GET /healthz` -> 200 `{"status": "ok", "qdrant": {"reachable": ...}, ...}` once the embedding
  model is loaded. Qdrant being down does not fail it (restarting this pod would not help);
  it shows in `qdrant.reachable`, and requests that need Qdrant answer 503.

Every error is JSON `{"detail": "<what is wrong>"}`, never a traceback. A request body that is not
JSON is a 400 and one that does not fit the endpoint's model a 422, alike on both endpoints: both
add `errors: [{"loc": "<field> | body", "msg": "..."}]`, and `detail` joins the messages.

A startup that cannot succeed (invalid settings, an embedding model that cannot be loaded) logs one
line saying what to do and exits non-zero (uvicorn's exit status 3), without a traceback.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rag_service import __version__
from rag_service.assistant import Answer, Assistant
from rag_service.catalog import decode, parse_catalog
from rag_service.embeddings import Embedder, load_embedder
from rag_service.errors import PayloadTooLarge, ServiceError, StartupError, Unavailable
from rag_service.history import ConversationHistory
from rag_service.llm import LlmClient
from rag_service.settings import Settings
from rag_service.sources import S3ClientFactory, fetch_https, read_s3
from rag_service.vector_store import VectorStore

log = logging.getLogger("rag_service")
M = TypeVar("M", bound=BaseModel)
MAX_PROMPT_CHARS = 4000
MAX_GENERATE_BYTES = 64 * 1024  # a prompt of 4000 characters, even all escaped, fits with room to spare
SESSION_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
CSV_TYPES = {"text/csv", "application/csv", "text/plain"}
JSON_TYPES = {"application/json", ""}  # no Content-Type: JSON, on both endpoints


# --- request and response bodies --------------------------------------------------------------


class GenerateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: str = Field(
        max_length=MAX_PROMPT_CHARS, description=f"the customer's question, 1 to {MAX_PROMPT_CHARS} characters"
    )
    session_id: str | None = Field(
        default=None,
        description="the session_id of an earlier answer, to continue that conversation; absent or null: a new one",
    )

    @field_validator("prompt")
    @classmethod
    def _prompt_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("prompt must not be empty or only spaces: send the customer's question")
        return value.strip()

    @field_validator("session_id")
    @classmethod
    def _session_id_shape(cls, value: str | None) -> str | None:
        if value is not None and value.strip() == "":
            return None
        if value is not None and not SESSION_ID.match(value):
            raise ValueError(
                "session_id must be 1 to 128 letters, digits, '_', '.', ':' or '-' (the session_id of an "
                "earlier answer), or null for a new conversation"
            )
        return value


class Source(BaseModel):
    """A catalogue product that retrieval gave the LLM for this answer."""

    rank: int = Field(description="1 for the closest product; the number it had in the context the LLM was given")
    id: str = Field(description="the product's catalogue id (the CSV's id column)")
    name: str = Field(description="the product's name")
    category: str = Field(description="the product's category")
    description: str = Field(description="the product's description")
    price: float = Field(description="the product's price, a plain number as in the catalogue")
    attributes: dict[str, str] = Field(
        description="the catalogue's other columns (brand, sizes, colors, ...) that have a value for this product"
    )
    score: float = Field(
        description="the cosine similarity of the product to the question, -1 to 1 (higher is closer), to 4 decimals"
    )


class GenerateResponse(BaseModel):
    response: str = Field(description="the assistant's answer")
    session_id: str = Field(description="the conversation's id: send it with the next question to continue it")
    new_session: bool = Field(
        description="true when this answer starts a conversation, answered without earlier turns: no session_id "
        "was sent, or the one sent holds no conversation here (then `notice` says so)"
    )
    notice: str | None = Field(
        description="set when the session_id sent holds no conversation here (never started, expired, dropped "
        "for newer sessions, or held by another replica): this answer starts a new conversation under that "
        "id; null otherwise"
    )
    sources: list[Source] = Field(
        description="the catalogue products retrieval gave the LLM for this answer, closest first (rank 1)"
    )

    @classmethod
    def of(cls, answer: Answer) -> GenerateResponse:
        return cls(
            response=answer.text,
            session_id=answer.session_id,
            new_session=answer.new_session,
            notice=answer.notice,
            sources=[
                Source(
                    rank=rank,
                    id=hit.product.id,
                    name=hit.product.name,
                    category=hit.product.category,
                    description=hit.product.description,
                    price=hit.product.price,
                    attributes={key: value for key, value in hit.product.extra.items() if value},
                    score=round(hit.score, 4),
                )
                for rank, hit in enumerate(answer.hits, 1)
            ],
        )


class FieldError(BaseModel):
    loc: str = Field(description="the field the message is about, or 'body' for the body as a whole")
    msg: str = Field(description="what is wrong and what is expected, in plain words")


class RequestError(BaseModel):
    """A body that is not JSON (400) or does not fit the endpoint's request model (422)."""

    detail: str = Field(description="the messages of `errors`, joined with '; '")
    errors: list[FieldError] = Field(description="one entry per problem found")


REQUEST_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": RequestError, "description": "The body is not valid JSON"},
    422: {"model": RequestError, "description": "The body does not fit the request model"},
}


class LoadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    uri: str | None = Field(
        default=None,
        description="where to read the catalogue CSV: s3://bucket/prefix/file.csv (under CATALOG_URI_PREFIX) "
        "or https://...",
    )
    csv: str | None = Field(default=None, description="the catalogue CSV text itself")

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


# Both endpoints read their body themselves (_json_body), so that a body that is not JSON, or JSON
# that does not fit, is answered alike; these document the bodies in the OpenAPI schema.
GENERATE_BODY = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": GenerateRequest.model_json_schema()}}}
}
LOAD_DATA_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": LoadRequest.model_json_schema()},
            "text/csv": {"schema": {"type": "string"}},
        },
    }
}
# What a body should look like, for the messages about one that does not.
BODY_EXAMPLES: dict[type[BaseModel], str] = {
    GenerateRequest: '{"prompt": "walking shoes for a 60-year-old man", "session_id": null}',
    LoadRequest: '{"uri": "s3://bucket/catalog/products.csv"} or {"csv": "id,name,category,description,price\\n..."}, '
    "or the CSV itself as text/csv",
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


class StartupFailureInOneLine:
    """Reports a StartupError raised by the lifespan as its one line.

    Starlette answers any lifespan exception with `lifespan.startup.failed` carrying the formatted
    traceback, which uvicorn logs at ERROR before "Application startup failed. Exiting." and exit
    status 3. For a StartupError this replaces that message with the error's own line. The
    exception still propagates: uvicorn logs nothing more for it (the startup has already failed)
    and a TestClient re-raises it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_one_line(message: Message) -> None:
            # Starlette sends startup.failed from its `except` block: the exception is the one handled.
            error = sys.exc_info()[1]
            if message["type"] == "lifespan.startup.failed" and isinstance(error, StartupError):
                message = {**message, "message": " ".join(str(error).split())}
            await send(message)

        await self.app(scope, receive, send_one_line)


def create_app(
    settings: Settings | None = None,
    *,
    embedder: Embedder | None = None,
    clock: Callable[[], float] = time.monotonic,
    s3_client_factory: S3ClientFactory | None = None,
    https_transport: httpx.BaseTransport | None = None,
) -> FastAPI:
    """The app. `settings` None: read from the environment at startup. `embedder`: a loaded model
    to share (tests); otherwise EMBEDDING_MODEL is loaded at startup, before the first request.
    Invalid settings or a model that cannot be loaded raise StartupError, logged as one line."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        _configure_logging()
        _ensure_home()
        config = settings or Settings.from_env()
        model = embedder if embedder is not None else await run_in_threadpool(load_embedder, config.embedding_model)
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
    app.add_middleware(StartupFailureInOneLine)
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
        return _validation_response(error.errors(), None)

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

    @app.post("/generate", response_model=GenerateResponse, responses=REQUEST_ERRORS, openapi_extra=GENERATE_BODY)
    async def generate(request: Request) -> GenerateResponse | JSONResponse:  # response_model documents the 200
        service = assistant()
        content_type = _content_type(request)
        if content_type not in JSON_TYPES:
            return _unsupported(content_type, f"application/json {BODY_EXAMPLES[GenerateRequest]}")
        body = _json_body(await _read_body(request, MAX_GENERATE_BYTES, "for /generate"), GenerateRequest)
        if isinstance(body, JSONResponse):
            return body
        answer = await run_in_threadpool(service.ask, body.prompt, body.session_id)
        return GenerateResponse.of(answer)

    @app.post("/load_data", response_model=LoadResponse, responses=REQUEST_ERRORS, openapi_extra=LOAD_DATA_BODY)
    async def load_data(request: Request) -> LoadResponse | JSONResponse:  # response_model documents the 200
        service, config = assistant(), app.state.settings
        content_type = _content_type(request)
        if content_type not in CSV_TYPES | JSON_TYPES:
            return _unsupported(content_type, 'application/json ({"uri": ...} or {"csv": ...}) or text/csv')
        body = await _read_body(request, config.max_catalog_bytes)
        if content_type in CSV_TYPES:
            source, data = "the request body", body
        else:
            load = _json_body(body, LoadRequest)
            if isinstance(load, JSONResponse):
                return load
            if load.csv is not None:
                source, data = "the request body", load.csv.encode("utf-8")
            else:
                assert load.uri is not None  # _exactly_one: a request without csv has a uri
                source = load.uri.strip()
                data = await run_in_threadpool(_fetch, source, config, s3_client_factory, https_transport)
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


async def _read_body(request: Request, limit: int, limit_name: str = "MAX_CATALOG_BYTES") -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is {declared} bytes; the limit is {limit} ({limit_name})")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body is larger than {limit} bytes ({limit_name})")
        chunks.append(chunk)
    return b"".join(chunks)


def _content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _unsupported(content_type: str, expected: str) -> JSONResponse:
    return JSONResponse({"detail": f"unsupported content type {content_type!r}: send {expected}"}, status_code=415)


def _json_body(body: bytes, model: type[M]) -> M | JSONResponse:
    """The body as `model`, or the 400 (not JSON) or 422 (JSON that does not fit) saying why; the
    errors have the shape of pydantic's, so both endpoints answer alike."""
    if not body.strip():
        return _validation_response([{"type": "missing", "loc": ()}], model)
    try:
        value = json.loads(body.decode("utf-8-sig"))
    except UnicodeDecodeError as error:
        reason = {"error": f"not UTF-8 text: bad byte at offset {error.start}"}
        return _validation_response([{"type": "json_invalid", "loc": (), "ctx": reason}], model)
    except json.JSONDecodeError as error:
        reason = {"error": f"{error.msg} at character {error.pos}"}
        return _validation_response([{"type": "json_invalid", "loc": (), "ctx": reason}], model)
    try:
        return model.model_validate(value)
    except ValidationError as error:
        return _validation_response(error.errors(), model)


def _validation_response(errors: Sequence[Mapping[str, Any]], model: type[BaseModel] | None) -> JSONResponse:
    """400 (the body is not JSON) or 422 (it does not fit `model`) with a readable `detail` and
    `errors: [{loc, msg}]`, in plain words that name the field and what it should be, never the
    input. `model`: the request body's model, for the field descriptions and an example body."""
    simple = [{"loc": _field(error) or "body", "msg": _plain_message(error, model)} for error in errors]
    status = 400 if any(error.get("type") == "json_invalid" for error in errors) else 422
    detail = "; ".join(error["msg"] for error in simple)
    return JSONResponse({"detail": detail or "invalid request", "errors": simple}, status_code=status)


def _field(error: Mapping[str, Any]) -> str:
    """The field an error is about ("prompt", "a.b"); "" for the body as a whole."""
    loc = [str(part) for part in error.get("loc", ())]
    if loc[:1] == ["body"]:  # FastAPI's ("body", "prompt")
        loc = loc[1:]
    if error.get("type") == "json_invalid":  # its loc is a character offset, not a field
        return ""
    return ".".join(loc)


def _plain_message(error: Mapping[str, Any], model: type[BaseModel] | None) -> str:
    kind, field, ctx = str(error.get("type", "")), _field(error), error.get("ctx") or {}
    example = BODY_EXAMPLES.get(model, "") if model is not None else ""
    such_as = f" such as {example}" if example else ""
    if kind == "json_invalid":
        return f"the body is not valid JSON ({ctx.get('error', 'unreadable')}): send a JSON object{such_as}"
    if not field:
        if kind == "missing":
            return f"the body is empty: send a JSON object{such_as}"
        if kind in ("model_type", "model_attributes_type", "dict_type"):
            return f"the body must be a JSON object{such_as}, not {_kind_of(error.get('input'))}"
        return str(error.get("msg", "the body is invalid")).removeprefix("Value error, ")  # our own words
    info = model.model_fields.get(field) if model is not None else None
    about = f" ({info.description})" if info is not None and info.description else ""
    nullable = info is not None and not info.is_required() and info.default is None
    if kind == "extra_forbidden":
        allowed = [repr(name) for name in model.model_fields] if model is not None else []
        fields = " and ".join(", ".join(allowed).rsplit(", ", 1))
        return f"{field!r} is not a field of this request" + (f"; the fields are {fields}" if fields else "")
    if kind == "missing":
        return f"{field} is missing: it is required{about}"
    if kind == "string_type":
        return f"{field} must be a string{' or null' if nullable else ''}{about}, not {_kind_of(error.get('input'))}"
    if kind == "string_too_long":
        value = error.get("input")
        length = f"is {len(value)} characters long" if isinstance(value, str) else "is too long"
        return f"{field} {length}; at most {ctx.get('max_length')} characters are allowed"
    if kind == "value_error":  # our validators' messages, already in plain words
        return str(ctx.get("error") or error.get("msg", "")).removeprefix("Value error, ")
    return f"{field} is invalid{about}: {error.get('msg', 'invalid')}"


def _kind_of(value: Any) -> str:
    """What a JSON value is, in words: "a number", "null", "a list"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "raw bytes" if isinstance(value, bytes | bytearray) else type(value).__name__


app = create_app()
