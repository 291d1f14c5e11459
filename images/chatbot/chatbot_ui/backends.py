"""The chatbot's backends, free of any UI code.

Each assistant has a client with the same shape, `reply(message, history, session)`, which yields
the answer's text in pieces as they arrive:

- `ShoppingBackend`: the RAG service, `POST {RAG_URL}/generate` with `{"prompt", "session_id"}`;
  the service keeps the conversation, so only the new prompt and the RAG session id travel. The id
  the service answers with is stored in `session` (one per browser session).
- `OpenAIChatBackend`: an OpenAI-compatible `/chat/completions` (vLLM with the Loyalty adapter, or
  the private llama.cpp server), streamed; the earlier turns of this assistant travel as messages.

A client raises `BackendUnavailable` whose text is fit for the chat ("The Shopping assistant is
unavailable right now (could not reach http://...). Please try again later."). `respond` wraps a
client for the UI: it yields the answer so far and turns every failure into such a message, so a
person never sees a traceback.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import httpx2
import openai
from openai.types.chat import ChatCompletionMessageParam

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 120.0
MAX_HISTORY_MESSAGES = 20  # earlier messages sent to an OpenAI backend (10 exchanges)
MAX_DETAIL_CHARS = 200  # of a backend's error message shown in the chat

Message = Mapping[str, str]  # {"role": "user" | "assistant", "content": str}


REJECTED_STATUSES = {400, 413, 422}  # the question itself was refused (too long, too much history...)


class BackendUnavailable(Exception):
    """A backend gave no usable answer; `str(error)` is a message for the person chatting."""

    def __init__(self, assistant: str, reason: str, rejected: bool = False):
        self.assistant, self.reason, self.rejected = assistant, reason, rejected
        super().__init__(rejected_message(assistant, reason) if rejected else unavailable_message(assistant, reason))


def unavailable_message(assistant: str, reason: str) -> str:
    return f"The {assistant} assistant is unavailable right now ({reason}). Please try again later."


def rejected_message(assistant: str, reason: str) -> str:
    return (
        f"The {assistant} assistant could not take this question ({reason}). "
        "Please rephrase it, or clear the conversation and ask again."
    )


class Assistant(Protocol):
    name: str  # as shown in the selector: "Shopping", "Loyalty programme", "Private model"

    def reply(self, message: str, history: Sequence[Message], session: MutableMapping[str, Any]) -> Iterator[str]:
        """Yields the answer to `message` in pieces; raises `BackendUnavailable`."""
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
                rejected=response.status_code in REJECTED_STATUSES,
            )
        try:
            data = response.json()
            answer, new_session = data["response"], data.get("session_id", session_id)
            if not isinstance(answer, str):
                raise TypeError("response is not a string")
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise BackendUnavailable(self.name, f"{self.url} sent an answer that could not be read") from error
        return answer, new_session

    def reply(self, message: str, history: Sequence[Message], session: MutableMapping[str, Any]) -> Iterator[str]:
        answer, session[self.SESSION_KEY] = self.ask(message, session.get(self.SESSION_KEY))
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
                rejected=error.status_code in REJECTED_STATUSES,
            )
        if isinstance(error, (openai.APITimeoutError, httpx2.TimeoutException)):
            return BackendUnavailable(self.name, f"no answer from {self.base_url} within {self.read_timeout:g} s")
        if isinstance(error, (openai.APIConnectionError, httpx2.HTTPError)):
            return BackendUnavailable(self.name, f"could not reach {self.base_url}")
        return BackendUnavailable(self.name, f"{self.base_url} failed: {type(error).__name__}")

    def model_name(self) -> str:
        with self._model_lock:
            if self.model is None:
                try:
                    models = [m.id for m in self._client.models.list()]
                except (openai.OpenAIError, httpx2.HTTPError) as error:
                    raise self._fail(error) from error
                if not models:
                    raise BackendUnavailable(self.name, f"{self.base_url} serves no model")
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


def respond(
    assistant: Assistant, message: str, history: Sequence[Message], session: MutableMapping[str, Any]
) -> Iterator[Answer]:
    """Yields the growing answer; a failure ends it with a readable message, never an exception."""
    text = ""
    try:
        for piece in assistant.reply(message, history, session):
            text += piece
            yield Answer(text)
    except BackendUnavailable as error:
        log.warning("%s [%r]", error, error.__cause__)  # expected (a backend is down): no traceback
        notice = str(error)
    except Exception:  # noqa: BLE001 - a bug must not reach the person as a traceback
        log.exception("the %s assistant failed", assistant.name)
        notice = f"The {assistant.name} assistant ran into an unexpected problem. Please try again later."
    else:
        if not text:
            yield Answer(
                f"The {assistant.name} assistant gave an empty answer. Please rephrase your question.", ok=False
            )
        return
    yield Answer(f"{text}\n\n{notice}" if text else notice, ok=False)
