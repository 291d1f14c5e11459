"""Conversation history per session, in memory, bounded three ways:

- size: a session keeps its last `max_turns` turns;
- age: a turn older than `ttl_seconds` is forgotten, and a session with no live turn goes;
- sessions: at most `max_sessions`; beyond that the least recently used session goes.

The history lives in one process: with several replicas a session may meet a replica that has
not seen it and starts afresh (answers stay correct, only less context-aware).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Turn:
    question: str
    answer: str
    at: float


class ConversationHistory:
    def __init__(
        self,
        max_turns: int = 10,
        ttl_seconds: float = 1800.0,
        max_sessions: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.max_turns = max_turns
        self.ttl_seconds = ttl_seconds
        self.max_sessions = max_sessions
        self.clock = clock
        self._sessions: OrderedDict[str, deque[Turn]] = OrderedDict()  # least recently used first
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            self._expire(self.clock())
            return len(self._sessions)

    def turns(self, session_id: str) -> list[Turn]:
        """The session's live turns, oldest first (empty for an unknown or expired session)."""
        with self._lock:
            now = self.clock()
            self._expire(now)
            turns = self._sessions.get(session_id)
            if turns is None:
                return []
            self._drop_old(turns, now)
            if not turns:
                del self._sessions[session_id]
                return []
            return list(turns)

    def append(self, session_id: str, question: str, answer: str) -> None:
        if self.max_turns == 0:
            return
        with self._lock:
            now = self.clock()
            self._expire(now)
            turns = self._sessions.get(session_id)
            if turns is None:
                turns = self._sessions[session_id] = deque(maxlen=self.max_turns)
            self._sessions.move_to_end(session_id)
            turns.append(Turn(question, answer, now))
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)

    def clear(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

    def _drop_old(self, turns: deque[Turn], now: float) -> None:
        while turns and now - turns[0].at > self.ttl_seconds:
            turns.popleft()

    def _expire(self, now: float) -> None:
        """Drops sessions whose newest turn has expired; they sit at the least-recently-used end."""
        while self._sessions:
            session_id, turns = next(iter(self._sessions.items()))
            if turns and now - turns[-1].at <= self.ttl_seconds:
                break
            del self._sessions[session_id]
