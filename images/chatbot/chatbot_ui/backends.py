"""The chatbot's backends, free of any UI code.

Each assistant has a client with the same shape, `reply(message, history, session)`, which yields
the answer's text in pieces as they arrive, and the catalogue products it drew on as `Source`s:

- `ShoppingBackend`: the RAG service, `POST {RAG_URL}/generate` with `{"prompt", "session_id"}`;
  the service keeps the conversation, so only the new prompt and the RAG session id travel. The id
  the service answers with is stored in `session` (one per browser session). Its answer's
  `sources` (the products it retrieved, in rank order; absent from older services) become `Source`s.
- `OpenAIChatBackend`: an OpenAI-compatible `/chat/completions` (vLLM with the Loyalty adapter, or
  the private llama.cpp server), streamed; the earlier turns of this assistant travel as messages.

A client raises `BackendUnavailable` whose text is fit for the chat and says whether trying again
can help (`kind`): only for timeouts, refused connections and 429/503/504 ("The Shopping assistant
is unavailable right now (could not reach http://...). Please try again later."); a refused
question (400/413/422) asks for another question, and a misconfiguration (401/403/404: an unknown
model, a refused key) or another failure says what is wrong without suggesting a retry. `respond`
wraps a client for the UI: it yields the answer so far and turns every failure into such a message,
so a person never sees a traceback.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import httpx
import httpx2
import openai
from openai.types.chat import ChatCompletionMessageParam

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 120.0
MAX_HISTORY_MESSAGES = 20  # earlier messages sent to an OpenAI backend (10 exchanges)
MAX_DETAIL_CHARS = 200  # of a backend's error message shown in the chat
MAX_SOURCE_FIELD_CHARS = 120  # of a source's name or category

Message = Mapping[str, str]  # {"role": "user" | "assistant", "content": str}

# What went wrong decides what the person is told to do:
# - unavailable: down, slow or overloaded; trying again later can help
# - rejected: the question itself was refused (too long, too much history...); ask another way
# - misconfigured: the assistant is set up wrongly (unknown model, refused key); a retry cannot help
# - failed: anything else (an internal error, an unreadable answer); not said to be worth a retry
Failure = Literal["unavailable", "rejected", "misconfigured", "failed"]
RETRY_STATUSES = {429, 503, 504}
REJECTED_STATUSES = {400, 413, 422}
MISCONFIGURED_STATUSES = {401, 403, 404}


def failure_of_status(status: int) -> Failure:
    if status in RETRY_STATUSES:
        return "unavailable"
    if status in REJECTED_STATUSES:
        return "rejected"
    if status in MISCONFIGURED_STATUSES:
        return "misconfigured"
    return "failed"


class BackendUnavailable(Exception):
    """A backend gave no usable answer; `str(error)` is a message for the person chatting."""

    def __init__(self, assistant: str, reason: str, kind: Failure = "unavailable"):
        self.assistant, self.reason, self.kind = assistant, reason, kind
        super().__init__(MESSAGES[kind](assistant, reason))

    @property
    def rejected(self) -> bool:
        return self.kind == "rejected"


def unavailable_message(assistant: str, reason: str) -> str:
    return f"The {assistant} assistant is unavailable right now ({reason}). Please try again later."


def rejected_message(assistant: str, reason: str) -> str:
    return (
        f"The {assistant} assistant could not take this question ({reason}). "
        "Please rephrase it, or clear the conversation and ask again."
    )


def misconfigured_message(assistant: str, reason: str) -> str:
    return (
        f"The {assistant} assistant is not set up correctly ({reason}). "
        "Trying again will not help until its configuration is fixed."
    )


def failed_message(assistant: str, reason: str) -> str:
    return f"The {assistant} assistant failed ({reason})."


MESSAGES = {
    "unavailable": unavailable_message,
    "rejected": rejected_message,
    "misconfigured": misconfigured_message,
    "failed": failed_message,
}


@dataclass(frozen=True)
class Source:
    """A catalogue product an answer drew on, as the RAG service's `sources` lists it; a field it
    did not send is None. `price` is a number, or the service's text when it sent one."""

    name: str
    id: str | None = None
    category: str | None = None
    price: float | str | None = None
    score: float | None = None

    @classmethod
    def from_json(cls, item: object) -> Source | None:
        """Reads one entry of `sources`, leniently: the name from `name`, `title` or `product_name`
        (else "Product <id>"), the id from `id` or `product_id`, fields nested under `product` too.
        None for an entry that is not an object or names no product."""
        if not isinstance(item, Mapping):
            return None
        fields = {**item["product"], **item} if isinstance(item.get("product"), Mapping) else dict(item)

        def text(*keys: str) -> str | None:
            for key in keys:
                value = fields.get(key)
                if isinstance(value, (str, int)) and not isinstance(value, bool):
                    value = " ".join(str(value).split())[:MAX_SOURCE_FIELD_CHARS]
                    if value:
                        return value
            return None

        def number(key: str) -> float | None:
            value = fields.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                return float(value)
            return None

        product_id = text("id", "product_id")
        name = text("name", "title", "product_name") or (f"Product {product_id}" if product_id else None)
        if name is None:
            return None
        price: float | str | None = number("price")
        if price is None:
            price = text("price")
        return cls(name=name, id=product_id, category=text("category"), price=price, score=number("score"))


def read_sources(value: object) -> tuple[Source, ...]:
    """The `sources` of a RAG answer: absent, empty or not a list gives none."""
    if not isinstance(value, list):
        return ()
    return tuple(source for source in map(Source.from_json, value) if source is not None)


class Assistant(Protocol):
    name: str  # as shown in the selector: "Shopping", "Loyalty programme", "Private model"

    def reply(
        self, message: str, history: Sequence[Message], session: MutableMapping[str, Any]
    ) -> Iterator[str | Source]:
        """Yields the answer to `message` in pieces, and the sources it drew on; raises `BackendUnavailable`."""
        ...


def _detail(body: bytes | str) -> str:
    """The message in an error body: `{"detail": ...}` (FastAPI), `{"error": ...}` or
    `{"error": {"message": ...}}` (OpenAI), `{"message": ...}`, else the text itself."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        for key in ("detail", "error", "message"):
            value = data.get(key)
            if isinstance(value, dict):
                value = value.get("message") or value.get("detail") or value
            if value:
                text = value if isinstance(value, str) else json.dumps(value)
                break
    text = " ".join(str(text).split())
    return text[:MAX_DETAIL_CHARS] + ("..." if len(text) > MAX_DETAIL_CHARS else "")


def _status_reason(url: str, status: int, body: bytes | str) -> str:
    detail = _detail(body)
    return f"{url} answered {status}" + (f": {detail}" if detail else "")


# --- Shopping: the RAG service --------------------------------------------------------------------


class ShoppingBackend:
    """The RAG service's `/generate`; keeps its session id in the browser session's `session`."""

    SESSION_KEY = "rag_session_id"

    def __init__(
        self,
        base_url: str,
        name: str = "Shopping",
        connect_timeout: float = CONNECT_TIMEOUT_S,
        read_timeout: float = READ_TIMEOUT_S,
    ):
        self.name = name
        self.url = base_url.rstrip("/") + "/generate"
        self.read_timeout = read_timeout
        # One client (one connection pool) for every user; httpx.Client is thread-safe.
        self._client = httpx.Client(timeout=httpx.Timeout(read_timeout, connect=connect_timeout))

    def ask(self, prompt: str, session_id: str | None) -> tuple[str, str | None]:
        """Returns the RAG service's answer and its session id."""
        answer, new_session, _ = self.ask_with_sources(prompt, session_id)
        return answer, new_session

    def ask_with_sources(self, prompt: str, session_id: str | None) -> tuple[str, str | None, tuple[Source, ...]]:
        """Returns the RAG service's answer, its session id and the products it retrieved."""
        try:
            response = self._client.post(self.url, json={"prompt": prompt, "session_id": session_id})
        except httpx.TimeoutException as error:
            reason = (
                f"no answer from {self.url} within {self.read_timeout:g} s"
                if isinstance(error, httpx.ReadTimeout)
                else f"could not reach {self.url} in time"
            )
            raise BackendUnavailable(self.name, reason) from error
        except httpx.HTTPError as error:
            raise BackendUnavailable(self.name, f"could not reach {self.url}") from error
        if response.status_code >= 400:
            raise BackendUnavailable(
                self.name,
                _status_reason(self.url, response.status_code, response.content),
                failure_of_status(response.status_code),
            )
        try:
            data = response.json()
            answer, new_session = data["response"], data.get("session_id", session_id)
            if not isinstance(answer, str):
                raise TypeError("response is not a string")
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise BackendUnavailable(
                self.name, f"{self.url} sent an answer that could not be read", "failed"
            ) from error
        return answer, new_session, read_sources(data.get("sources"))

    def reply(
        self, message: str, history: Sequence[Message], session: MutableMapping[str, Any]
    ) -> Iterator[str | Source]:
        answer, session[self.SESSION_KEY], sources = self.ask_with_sources(message, session.get(self.SESSION_KEY))
        yield from sources  # first: the answer then shows with them at once
        yield answer

    def close(self) -> None:
        self._client.close()


# --- Loyalty programme and Private model: OpenAI-compatible chat ----------------------------------


class OpenAIChatBackend:
    """Streams `/chat/completions` of an OpenAI-compatible server (vLLM, llama.cpp).

    `model` None: the first model the server lists (`GET /models`), looked up once.
    """

    def __init__(
        self,
        name: str,
        base_url: str,
        model: str | None = None,
        api_key: str | None = None,
        connect_timeout: float = CONNECT_TIMEOUT_S,
        read_timeout: float = READ_TIMEOUT_S,
        max_retries: int = 1,
        system_prompt: str | None = None,
        max_history_messages: int = MAX_HISTORY_MESSAGES,
        max_tokens: int | None = None,
    ):
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.read_timeout = read_timeout
        self.system_prompt = system_prompt
        self.max_history_messages = max_history_messages
        self.max_tokens = max_tokens
        # In-cluster servers need no key, but the client insists on one.
        self._client = openai.OpenAI(
            base_url=self.base_url,
            api_key=api_key or "not-needed",
            max_retries=max_retries,
            timeout=openai.Timeout(read_timeout, connect=connect_timeout),
        )
        self._model_lock = threading.Lock()

    def _fail(self, error: BaseException) -> BackendUnavailable:
        if isinstance(error, openai.APIStatusError):
            return BackendUnavailable(
                self.name,
                _status_reason(self.base_url, error.status_code, error.response.content),
                failure_of_status(error.status_code),
            )
        if isinstance(error, (openai.APITimeoutError, httpx2.TimeoutException)):
            return BackendUnavailable(self.name, f"no answer from {self.base_url} within {self.read_timeout:g} s")
        if isinstance(error, (openai.APIConnectionError, httpx2.HTTPError)):
            return BackendUnavailable(self.name, f"could not reach {self.base_url}")
        return BackendUnavailable(self.name, f"{self.base_url} failed: {type(error).__name__}", "failed")

    def model_name(self) -> str:
        with self._model_lock:
            if self.model is None:
                try:
                    models = [m.id for m in self._client.models.list()]
                except (openai.OpenAIError, httpx2.HTTPError) as error:
                    raise self._fail(error) from error
                if not models:
                    raise BackendUnavailable(self.name, f"{self.base_url} serves no model", "misconfigured")
                self.model = models[0]
            return self.model

    def messages(self, message: str, history: Sequence[Message]) -> list[ChatCompletionMessageParam]:
        earlier: list[ChatCompletionMessageParam] = []
        for m in history:  # only the text turns of the person and the assistant
            role, content = m.get("role"), m.get("content")
            if not isinstance(content, str):
                continue
            if role == "user":
                earlier.append({"role": "user", "content": content})
            elif role == "assistant":
                earlier.append({"role": "assistant", "content": content})
        earlier = earlier[-self.max_history_messages :] if self.max_history_messages else []
        while earlier and earlier[0]["role"] != "user":  # chat templates want a user turn first
            earlier.pop(0)
        system: list[ChatCompletionMessageParam] = (
            [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        )
        return [*system, *earlier, {"role": "user", "content": message}]

    def stream(self, messages: Sequence[ChatCompletionMessageParam]) -> Iterator[str]:
        """Yields the content pieces of a streamed chat completion."""
        model = self.model_name()
        max_tokens = self.max_tokens or openai.omit  # None (or 0): not sent, the server's default
        try:
            chunks = self._client.chat.completions.create(
                model=model, messages=list(messages), stream=True, max_tokens=max_tokens
            )
            with chunks:
                for chunk in chunks:
                    for choice in chunk.choices or ():
                        if choice.delta is not None and choice.delta.content:
                            yield choice.delta.content
        except (openai.OpenAIError, httpx2.HTTPError) as error:
            raise self._fail(error) from error

    def reply(self, message: str, history: Sequence[Message], session: MutableMapping[str, Any]) -> Iterator[str]:
        yield from self.stream(self.messages(message, history))

    def close(self) -> None:
        self._client.close()


# --- for the UI -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    text: str  # the answer so far, or the answer followed by a notice that it failed
    ok: bool = True  # False: `text` ends with (or is) a message that the backend failed
    sources: tuple[Source, ...] = ()  # the catalogue products the answer drew on, in rank order
    # After a failure: the notice alone (the end of `text`, which holds it already: not compared).
    notice: str = field(default="", compare=False)

    @property
    def partial(self) -> str:
        """What arrived of the answer itself, without the notice."""
        if not self.ok and not self.notice:
            return ""  # a failure without its notice apart: all of `text` is the notice
        return self.text[: len(self.text) - len(self.notice)].rstrip() if self.notice else self.text


def respond(
    assistant: Assistant, message: str, history: Sequence[Message], session: MutableMapping[str, Any]
) -> Iterator[Answer]:
    """Yields the growing answer; a failure ends it with a readable message, never an exception."""
    text = ""
    sources: list[Source] = []
    try:
        for piece in assistant.reply(message, history, session):
            if isinstance(piece, Source):
                sources.append(piece)
            else:
                text += piece
            if text:  # sources that come first show with the answer's first piece
                yield Answer(text, sources=tuple(sources))
    except BackendUnavailable as error:
        log.warning("%s [%r]", error, error.__cause__)  # expected (a backend is down): no traceback
        notice = str(error)
    except Exception:  # noqa: BLE001 - a bug must not reach the person as a traceback
        log.exception("the %s assistant failed", assistant.name)
        notice = f"The {assistant.name} assistant ran into an unexpected problem."
    else:
        if not text:
            notice = f"The {assistant.name} assistant gave an empty answer. Please rephrase your question."
            yield Answer(notice, ok=False, notice=notice)
        return
    yield Answer(f"{text}\n\n{notice}" if text else notice, ok=False, notice=notice)
