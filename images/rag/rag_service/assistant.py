"""One turn of the shopping assistant, and catalogue loading.

A turn: (1) with history, the LLM rewrites the question into a standalone one (one chat call);
(2) the top-k products are retrieved; (3) the LLM answers from them as a numbered context list;
(4) the turn is stored. A session_id that holds no conversation (never started, expired, dropped
for newer sessions, or kept by another replica) is adopted as a new conversation, and the answer
says so (`new_session`, `notice`).

Retrieval after a rewrite searches with two queries and keeps each product's best score: the
standalone question, and the previous question joined with the new one. The second keeps the
conversation's subject when a rewrite drifts (a small model may answer with something else
than the question it was asked for); with a good rewrite both agree.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field

from rag_service.catalog import Product
from rag_service.embeddings import Embedder
from rag_service.history import ConversationHistory, Turn
from rag_service.llm import LlmClient
from rag_service.vector_store import Hit, VectorStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answer:
    text: str
    session_id: str
    standalone_question: str
    hits: list[Hit]  # the products the answer was written from, closest first
    new_session: bool = False  # answered without earlier turns
    notice: str | None = None  # set when a session_id was given but holds no conversation
    timings_ms: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadResult:
    rows: int
    new: int
    updated: int
    points: int


class Assistant:
    def __init__(
        self, embedder: Embedder, store: VectorStore, llm: LlmClient, history: ConversationHistory, top_k: int = 5
    ):
        self.embedder = embedder
        self.store = store
        self.llm = llm
        self.history = history
        self.top_k = top_k

    # --- catalogue ------------------------------------------------------------------------------

    def load(self, products: list[Product]) -> LoadResult:
        """Upserts products under ids derived from their catalogue ids: loading again adds nothing."""
        self.store.ensure_collection()
        before = self.store.count()
        vectors = self.embedder.embed([product.embedding_text() for product in products])
        self.store.upsert(products, vectors)
        after = self.store.count()
        new = max(0, min(len(products), after - before))
        return LoadResult(rows=len(products), new=new, updated=len(products) - new, points=after)

    # --- a turn ---------------------------------------------------------------------------------

    def retrieve(self, queries: list[str]) -> list[Hit]:
        best: dict[str, Hit] = {}
        for vector in self.embedder.embed(queries):
            for hit in self.store.search(vector, self.top_k):
                known = best.get(hit.product.id)
                if known is None or hit.score > known.score:
                    best[hit.product.id] = hit
        return sorted(best.values(), key=lambda hit: hit.score, reverse=True)[: self.top_k]

    def ask(self, question: str, session_id: str | None = None) -> Answer:
        given, session_id = session_id, session_id or uuid.uuid4().hex
        timings: dict[str, float] = {}
        started = time.perf_counter()
        history: list[Turn] = self.history.turns(session_id)
        notice = self._unknown_session(session_id) if given and not history else None
        if history:
            standalone = self.llm.rewrite(history, question)
            timings["rewrite"] = _ms(started)
            queries = [standalone, f"{history[-1].question}\n{question}"]
        else:
            standalone, queries = question, [question]
        mark = time.perf_counter()
        hits = self.retrieve(queries)
        timings["retrieve"] = _ms(mark)
        mark = time.perf_counter()
        text = self.llm.answer(history, question, hits)
        timings["answer"] = _ms(mark)
        self.history.append(session_id, question, text)
        timings["total"] = _ms(started)
        log.info(
            "session %s: %d earlier turns, %d products, %s",
            session_id,
            len(history),
            len(hits),
            ", ".join(f"{k} {v:.0f} ms" for k, v in timings.items()),
        )
        return Answer(
            text=text,
            session_id=session_id,
            standalone_question=standalone,
            hits=hits,
            new_session=not history,
            notice=notice,
            timings_ms=timings,
        )

    def _unknown_session(self, session_id: str) -> str:
        if self.history.max_turns == 0:
            return (
                f"conversation history is off (HISTORY_MAX_TURNS=0): session_id {session_id!r} holds no "
                f"earlier turns, and this answer starts a new conversation"
            )
        return (
            f"session_id {session_id!r} holds no conversation here (never started, expired after "
            f"{self.history.ttl_seconds:g} s without a question, dropped for newer sessions, or kept by another "
            f"replica): this answer starts a new conversation under that id"
        )


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000
