"""`scripts/demo`, run as a newcomer runs it, driven in the browser: the real RAG service over the
sample catalogue and a real llama.cpp server with SmolLM2-135M-Instruct behind the chatbot.

A 135M model words its answers loosely, so the Shopping test checks what retrieval found (the
sources the chat lists) rather than the wording; the Loyalty test checks that the answer streams."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selenium.common.exceptions import TimeoutException

from chatbot_ui.config import LOYALTY, SHOPPING
from test_chatbot_browser import ask, bot_messages, browser, choose, open_chat, soon, sources_shown  # noqa: F401 (browser: a fixture)
from testing.local_server import free_port

ROOT = Path(__file__).resolve().parents[3]
CATALOG = ROOT / "images" / "rag" / "tests" / "data" / "products.csv"
START_TIMEOUT_S = 240
pytestmark = pytest.mark.skipif(
    not (ROOT / ".venv" / "bin" / "python").exists(), reason="scripts/demo runs the .venv that scripts/test makes"
)


@pytest.fixture(autouse=True)
def patient_waits(monkeypatch):
    """A real model on two shared cores: the browser helpers wait up to two minutes, not 30 s."""
    import test_chatbot_browser

    monkeypatch.setattr(test_chatbot_browser, "WAIT_S", 120)


@pytest.fixture(scope="module")
def demo() -> Iterator[tuple[str, list[str]]]:
    """The demo's URL and its log so far; stopped with Ctrl-C (SIGINT) afterwards, which must end every part."""
    port = free_port()
    process = subprocess.Popen(
        [str(ROOT / "scripts" / "demo"), "--port", str(port)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    log: list[str] = []
    deadline = time.monotonic() + START_TIMEOUT_S
    assert process.stdout is not None
    for line in process.stdout:
        log.append(line.rstrip())
        if line.startswith("The chatbot is at "):
            break
        assert time.monotonic() < deadline, "\n".join(log[-40:])
    else:
        pytest.fail("scripts/demo ended before it was ready:\n" + "\n".join(log[-40:]))
    url = log[-1].split()[4]
    try:
        yield url, log
    finally:
        os.kill(process.pid, signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
        log += rest.splitlines()
        assert process.returncode == 0, "\n".join(log[-40:])
        with pytest.raises(httpx.ConnectError):
            httpx.get(url, timeout=2)


def catalogue_names(category: str) -> set[str]:
    with CATALOG.open(newline="") as f:
        return {row["name"] for row in csv.DictReader(f) if row["category"] == category}


def test_the_demo_logs_each_part_ready_and_loads_the_catalogue(demo):
    url, log = demo
    for part in ("llm", "rag", "chatbot"):
        assert any(line.startswith(f"[demo] {part} ready in ") for line in log), part
    assert any("catalogue loaded" in line and "'rows': 100" in line for line in log)
    assert url.startswith("http://127.0.0.1:")


def test_the_shopping_reply_lists_catalogue_products_relevant_to_the_question(browser, demo):  # noqa: F811
    url, _ = demo
    open_chat(browser, url)
    choose(browser, SHOPPING)
    answer = ask(browser, "Which walking shoes do you have for an older man?")
    # The sources come in the same message as the answer; on a loaded machine the chat may show the
    # answer's final form a moment after the box is enabled again, so wait for the list a little.
    try:
        shown = soon(browser, sources_shown, "the sources under the answer", seconds=30)
    except TimeoutException:
        pytest.fail(f"no sources listed under the answer: {bot_messages(browser)[-1]!r}")
    answer = bot_messages(browser)[-1]
    assert answer and not answer.startswith("⚠"), answer
    footwear = catalogue_names("Footwear")
    # Each source is a catalogue product, and retrieval puts footwear first for this question.
    assert any(name in shown[0] for name in footwear), shown
    assert sum(any(name in item for name in footwear) for item in shown) >= 2, shown


def test_the_loyalty_answer_streams(browser, demo):  # noqa: F811
    url, _ = demo
    open_chat(browser, url)
    choose(browser, LOYALTY)
    before = len(bot_messages(browser))
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.find_element(By.CSS_SELECTOR, "#message textarea").send_keys("How do I earn points?", Keys.RETURN)
    seen: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        busy = browser.find_elements(By.CSS_SELECTOR, '#chat [data-testid="bot"] [aria-busy="true"]')
        messages = bot_messages(browser)
        text = messages[-1] if len(messages) > before and not busy else ""
        if text == "Thinking…":  # the placeholder before the first piece
            text = ""
        if text and (not seen or seen[-1] != text):
            seen.append(text)
        if browser.find_element(By.CSS_SELECTOR, "#message textarea").is_enabled() and seen:
            break
        time.sleep(0.05)
    partial = [t for t in seen if t != seen[-1]]
    assert seen and not seen[-1].startswith("⚠"), seen[-1:]
    # Streamed: the chat showed the answer growing before its end (several texts, each a prefix of the next).
    assert partial, f"the answer appeared in one piece: {seen[-1]!r}"
    assert all(seen[-1].startswith(p.rstrip()[:40]) for p in partial), seen
