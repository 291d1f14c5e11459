"""Settings from the environment.

The Kubernetes Deployment (workloads/rag.py) sets the contract:

| variable | meaning |
| --- | --- |
| `QDRANT_URL` | Qdrant's REST URL, e.g. `http://qdrant.vector-db.svc.cluster.local:6333` |
| `QDRANT_API_KEY` | Qdrant's API key (a Secret); optional |
| `QDRANT_COLLECTION` | the collection holding the products (default `products`) |
| `LLM_BASE_URL` | an OpenAI-compatible API, e.g. `http://llm.inference.svc.cluster.local:8000/v1` |
| `LLM_MODEL` | the model name to ask for |
| `LLM_API_KEY` | the LLM's key (a Secret); optional |
| `EMBEDDING_MODEL` | a sentence-transformers model id or a local folder (default all-MiniLM-L6-v2) |
| `CATALOG_URI_PREFIX` | `s3://bucket/prefix/`: `/load_data` reads S3 only under it; unset: any S3 URI |
| `PORT` | the HTTP port (default 8000) |

For local use `QDRANT_PATH` replaces `QDRANT_URL`: an embedded Qdrant in that folder, or
`:memory:`. Tuning knobs, all optional: `RAG_TOP_K` (5), `HISTORY_MAX_TURNS` (10),
`HISTORY_TTL_SECONDS` (1800), `HISTORY_MAX_SESSIONS` (10000), `LLM_MAX_TOKENS` (512),
`LLM_REWRITE_MAX_TOKENS` (96), `LLM_TEMPERATURE` (0.2), `LLM_TIMEOUT_SECONDS` (50),
`LLM_MAX_RETRIES` (1), `QDRANT_TIMEOUT_SECONDS` (10), `MAX_CATALOG_BYTES` (50 MiB).
Empty values count as unset.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar, overload

from rag_service.errors import StartupError

DEFAULT_EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
COLLECTION_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
T = TypeVar("T", int, float)


class SettingsError(StartupError, ValueError):
    """One or more environment variables are missing or invalid; the message lists them all."""


@dataclass(frozen=True)
class Settings:
    llm_base_url: str
    llm_model: str
    qdrant_url: str | None = None
    qdrant_path: str | None = None
    qdrant_api_key: str | None = field(default=None, repr=False)  # keys never reach logs
    collection: str = "products"
    llm_api_key: str | None = field(default=None, repr=False)
    embedding_model: str = DEFAULT_EMBEDDING_MODEL
    catalog_uri_prefix: str | None = None
    port: int = 8000
    top_k: int = 5
    history_max_turns: int = 10
    history_ttl_seconds: float = 1800.0
    history_max_sessions: int = 10_000
    llm_max_tokens: int = 512
    llm_rewrite_max_tokens: int = 96
    llm_temperature: float = 0.2
    llm_timeout_seconds: float = 50.0
    llm_max_retries: int = 1
    qdrant_timeout_seconds: int = 10
    max_catalog_bytes: int = 50 * 1024 * 1024

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise SettingsError("invalid RAG service settings: " + "; ".join(problems))
        if self.catalog_uri_prefix and not self.catalog_uri_prefix.endswith("/"):
            # "s3://b/catalog" must not admit "s3://b/catalog-private/...": the prefix is a folder.
            object.__setattr__(self, "catalog_uri_prefix", self.catalog_uri_prefix + "/")

    def problems(self) -> list[str]:
        problems = []
        if (self.qdrant_url is None) == (self.qdrant_path is None):
            problems.append(
                "set exactly one of QDRANT_URL (a Qdrant server) and QDRANT_PATH "
                "(an embedded Qdrant folder, or :memory:)"
            )
        if self.qdrant_url is not None and not re.match(r"^https?://[^/\s]+", self.qdrant_url):
            problems.append(f"QDRANT_URL must be an http(s) URL, not {self.qdrant_url!r}")
        if not re.match(r"^https?://[^/\s]+", self.llm_base_url or ""):
            problems.append(f"LLM_BASE_URL must be an http(s) URL, not {self.llm_base_url!r}")
        if not self.llm_model:
            problems.append("LLM_MODEL is required")
        if not COLLECTION_PATTERN.match(self.collection):
            problems.append(f"QDRANT_COLLECTION must be 1 to 64 letters, digits, '_' or '-', not {self.collection!r}")
        if self.catalog_uri_prefix is not None and not re.match(
            r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/|$)", self.catalog_uri_prefix
        ):
            problems.append(f"CATALOG_URI_PREFIX must look like s3://bucket/prefix/, not {self.catalog_uri_prefix!r}")
        for name, value, low in (
            ("PORT", self.port, 1),
            ("RAG_TOP_K", self.top_k, 1),
            ("HISTORY_MAX_TURNS", self.history_max_turns, 0),
            ("HISTORY_MAX_SESSIONS", self.history_max_sessions, 1),
            ("LLM_MAX_TOKENS", self.llm_max_tokens, 1),
            ("LLM_REWRITE_MAX_TOKENS", self.llm_rewrite_max_tokens, 1),
            ("LLM_MAX_RETRIES", self.llm_max_retries, 0),
            ("QDRANT_TIMEOUT_SECONDS", self.qdrant_timeout_seconds, 1),
            ("MAX_CATALOG_BYTES", self.max_catalog_bytes, 1),
        ):
            if value < low:
                problems.append(f"{name} must be at least {low}, not {value}")
        if self.port > 65535:
            problems.append(f"PORT must be at most 65535, not {self.port}")
        for name, seconds in (
            ("HISTORY_TTL_SECONDS", self.history_ttl_seconds),
            ("LLM_TIMEOUT_SECONDS", self.llm_timeout_seconds),
        ):
            if seconds <= 0:
                problems.append(f"{name} must be positive, not {seconds}")
        if not 0 <= self.llm_temperature <= 2:
            problems.append(f"LLM_TEMPERATURE must be between 0 and 2, not {self.llm_temperature}")
        return problems

    @property
    def qdrant_location(self) -> str:
        """Where Qdrant is, for messages (never the key)."""
        return self.qdrant_url or f"embedded Qdrant at {self.qdrant_path}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        problems: list[str] = []

        @overload
        def text(name: str) -> str | None: ...
        @overload
        def text(name: str, default: str) -> str: ...
        def text(name: str, default: str | None = None) -> str | None:
            value = env.get(name, "").strip()
            return value or default

        def number(name: str, kind: Callable[[str], T], default: T) -> T:
            raw = text(name)
            if raw is None:
                return default
            try:
                return kind(raw)
            except ValueError:
                problems.append(f"{name} must be {'an integer' if kind is int else 'a number'}, not {raw!r}")
                return default

        try:
            # number() records bad values in `problems` (and uses the default) before cls() checks the rest.
            settings = cls(
                llm_base_url=text("LLM_BASE_URL", ""),
                llm_model=text("LLM_MODEL", ""),
                qdrant_url=text("QDRANT_URL"),
                qdrant_path=text("QDRANT_PATH"),
                qdrant_api_key=text("QDRANT_API_KEY"),
                collection=text("QDRANT_COLLECTION", "products"),
                llm_api_key=text("LLM_API_KEY"),
                embedding_model=text("EMBEDDING_MODEL", DEFAULT_EMBEDDING_MODEL),
                catalog_uri_prefix=text("CATALOG_URI_PREFIX"),
                port=number("PORT", int, 8000),
                top_k=number("RAG_TOP_K", int, 5),
                history_max_turns=number("HISTORY_MAX_TURNS", int, 10),
                history_ttl_seconds=number("HISTORY_TTL_SECONDS", float, 1800.0),
                history_max_sessions=number("HISTORY_MAX_SESSIONS", int, 10_000),
                llm_max_tokens=number("LLM_MAX_TOKENS", int, 512),
                llm_rewrite_max_tokens=number("LLM_REWRITE_MAX_TOKENS", int, 96),
                llm_temperature=number("LLM_TEMPERATURE", float, 0.2),
                llm_timeout_seconds=number("LLM_TIMEOUT_SECONDS", float, 50.0),
                llm_max_retries=number("LLM_MAX_RETRIES", int, 1),
                qdrant_timeout_seconds=number("QDRANT_TIMEOUT_SECONDS", int, 10),
                max_catalog_bytes=number("MAX_CATALOG_BYTES", int, 50 * 1024 * 1024),
            )
        except SettingsError as error:
            problems.append(str(error).removeprefix("invalid RAG service settings: "))
            settings = None
        if problems:
            raise SettingsError("invalid RAG service settings: " + "; ".join(problems))
        assert settings is not None  # cls() only fails with a SettingsError, which added a problem
        return settings
