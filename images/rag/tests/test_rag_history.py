"""Conversation history: bounded in turns, age and sessions (with an injected clock)."""

from __future__ import annotations

from rag_service.history import ConversationHistory


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_keeps_only_its_last_turns():
    history = ConversationHistory(max_turns=3, ttl_seconds=60, clock=Clock())
    for i in range(5):
        history.append("s", f"q{i}", f"a{i}")
    assert [(t.question, t.answer) for t in history.turns("s")] == [("q2", "a2"), ("q3", "a3"), ("q4", "a4")]
    assert history.turns("unknown") == []


def test_turns_older_than_the_ttl_are_forgotten():
    clock = Clock()
    history = ConversationHistory(max_turns=10, ttl_seconds=60, clock=clock)
    history.append("s", "q0", "a0")
    clock.now += 40
    history.append("s", "q1", "a1")
    clock.now += 30  # q0 is 70 s old, q1 30 s
    assert [t.question for t in history.turns("s")] == ["q1"]
    clock.now += 31  # q1 is 61 s old
    assert history.turns("s") == []
    assert len(history) == 0


def test_expired_sessions_are_dropped_even_when_nobody_asks_for_them():
    clock = Clock()
    history = ConversationHistory(max_turns=10, ttl_seconds=60, clock=clock)
    history.append("old", "q", "a")
    clock.now += 50
    history.append("recent", "q", "a")
    clock.now += 20
    history.append("new", "q", "a")
    assert len(history) == 2  # "old" went when "new" arrived
    assert history.turns("old") == []
    assert [t.question for t in history.turns("recent")] == ["q"]


def test_the_number_of_sessions_is_bounded_least_recently_used_first():
    history = ConversationHistory(max_turns=10, ttl_seconds=3600, max_sessions=2, clock=Clock())
    history.append("a", "q", "a")
    history.append("b", "q", "a")
    history.append("a", "q2", "a2")  # "a" is now the most recently used
    history.append("c", "q", "a")
    assert len(history) == 2
    assert history.turns("b") == []
    assert len(history.turns("a")) == 2 and len(history.turns("c")) == 1


def test_zero_turns_keeps_nothing_and_clear_forgets_a_session():
    history = ConversationHistory(max_turns=0, clock=Clock())
    history.append("s", "q", "a")
    assert history.turns("s") == []
    history = ConversationHistory(max_turns=2, clock=Clock())
    history.append("s", "q", "a")
    history.clear("s")
    assert history.turns("s") == []
