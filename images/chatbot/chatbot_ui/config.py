"""The image's environment contract (set by workloads/chatbot.py), read once at start.

| variable | meaning |
| --- | --- |
| `RAG_URL` | the RAG service's base URL; absent: no Shopping assistant |
| `LLM_BASE_URL`, `LOYALTY_MODEL` | the inference service's OpenAI base URL (with `/v1`) and the fine-tuned adapter's model name; either absent: no Loyalty programme assistant |
| `LLM_API_KEY` | optional bearer key for `LLM_BASE_URL` |
| `PRIVATE_MODEL_URL` | an OpenAI-compatible base URL (with `/v1`) of the private model server; absent: no Private model assistant |
| `PRIVATE_MODEL` | the private server's model name; absent: the first one it lists at `/models` |
| `PRIVATE_MODEL_API_KEY` | optional bearer key for `PRIVATE_MODEL_URL` |
| `BACKEND_CONNECT_TIMEOUT_S`, `BACKEND_READ_TIMEOUT_S` | timeouts of every backend call (default 5 and 120) |
| `GRADIO_SERVER_NAME`, `GRADIO_SERVER_PORT` | where the UI listens (default 0.0.0.0:7860) |
| `GRADIO_DEFAULT_CONCURRENCY_LIMIT` | how many chats are answered at once (default 32) |

`GRADIO_ANALYTICS_ENABLED` is forced to `False` by the package itself. Every backend URL that is
set must be an http:// or https:// URL with a host (checked at start, used or not), else the
chatbot does not start and says in one line which variable is wrong.
"""  # noqa: E501 (a Markdown table, one row per line)

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypedDict
from urllib.parse import urlsplit

from chatbot_ui.backends import CONNECT_TIMEOUT_S, READ_TIMEOUT_S, Assistant, OpenAIChatBackend, ShoppingBackend

log = logging.getLogger(__name__)

SHOPPING = "Shopping"
LOYALTY = "Loyalty programme"
PRIVATE = "Private model"

URL_EXAMPLES = {  # what each backend URL looks like in the cluster
    "RAG_URL": "http://rag.rag.svc.cluster.local:8000",
    "LLM_BASE_URL": "http://inference.inference.svc.cluster.local:8000/v1",
    "PRIVATE_MODEL_URL": "http://private-llm.private-model.svc.cluster.local:8000/v1",
}


def _backend_url(name: str, value: str | None) -> str | None:
    """`value` if it is an http(s) URL with a host (and a port, if any, that is a number)."""
    if value is None:
        return None
    try:
        parts = urlsplit(value)
        good = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        good = False
    if not good:
        raise ValueError(
            f"{name} must be an http:// or https:// URL with a host, e.g. {URL_EXAMPLES[name]}; not {value!r}"
        )
    return value


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise ValueError(f"{name} must be a positive number of seconds, not {raw!r}")
    return value


class Timeouts(TypedDict):
    """The timeout keywords every backend takes."""

    connect_timeout: float
    read_timeout: float


@dataclass(frozen=True)
class Settings:
    rag_url: str | None = None
    llm_base_url: str | None = None
    loyalty_model: str | None = None
    llm_api_key: str | None = None
    private_model_url: str | None = None
    private_model: str | None = None
    private_model_api_key: str | None = None
    connect_timeout: float = CONNECT_TIMEOUT_S
    read_timeout: float = READ_TIMEOUT_S
    server_name: str = "0.0.0.0"
    server_port: int = 7860
    concurrency: int = 32

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            return env.get(name, "").strip() or None  # empty counts as absent

        port = get("GRADIO_SERVER_PORT") or "7860"
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"GRADIO_SERVER_PORT must be a port number, not {port!r}")
        concurrency = get("GRADIO_DEFAULT_CONCURRENCY_LIMIT") or "32"
        if not concurrency.isdigit() or int(concurrency) < 1:
            raise ValueError(f"GRADIO_DEFAULT_CONCURRENCY_LIMIT must be a positive whole number, not {concurrency!r}")
        return cls(
            rag_url=_backend_url("RAG_URL", get("RAG_URL")),
            llm_base_url=_backend_url("LLM_BASE_URL", get("LLM_BASE_URL")),
            loyalty_model=get("LOYALTY_MODEL"),
            llm_api_key=get("LLM_API_KEY"),
            private_model_url=_backend_url("PRIVATE_MODEL_URL", get("PRIVATE_MODEL_URL")),
            private_model=get("PRIVATE_MODEL"),
            private_model_api_key=get("PRIVATE_MODEL_API_KEY"),
            connect_timeout=_positive_float(env, "BACKEND_CONNECT_TIMEOUT_S", CONNECT_TIMEOUT_S),
            read_timeout=_positive_float(env, "BACKEND_READ_TIMEOUT_S", READ_TIMEOUT_S),
            server_name=get("GRADIO_SERVER_NAME") or "0.0.0.0",
            server_port=int(port),
            concurrency=int(concurrency),
        )

    def assistants(self) -> list[Assistant]:
        """The configured assistants, in the order the selector shows them."""
        timeouts = Timeouts(connect_timeout=self.connect_timeout, read_timeout=self.read_timeout)
        assistants: list[Assistant] = []
        if self.rag_url:
            assistants.append(ShoppingBackend(self.rag_url, name=SHOPPING, **timeouts))
        if self.llm_base_url and self.loyalty_model:
            assistants.append(
                OpenAIChatBackend(LOYALTY, self.llm_base_url, self.loyalty_model, api_key=self.llm_api_key, **timeouts)
            )
        elif self.llm_base_url or self.loyalty_model:
            log.warning("the Loyalty programme assistant needs both LLM_BASE_URL and LOYALTY_MODEL; it is off")
        if self.private_model_url:
            assistants.append(
                OpenAIChatBackend(
                    PRIVATE, self.private_model_url, self.private_model, api_key=self.private_model_api_key, **timeouts
                )
            )
        return assistants
