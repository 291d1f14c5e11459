"""What the chat shows of an answer (`chatbot_ui.app.render`), without a browser: the HTML the
browser tests see rendered, for where Chromium is absent."""

from __future__ import annotations

from chatbot_ui.app import CUT_SHORT_TITLE, ERROR_TITLE, progress_message, render, source_line, sources_html
from chatbot_ui.backends import Answer, Source, unavailable_message


def test_an_answer_is_its_text_and_its_sources():
    sources = (Source("Trail Walker GTX", "p-101", "Walking shoes", 89.0, 0.91), Source("Socks", price="7"))
    shown = render(Answer("Try the **Trail Walker**.", sources=sources))
    assert shown == (
        "Try the **Trail Walker**.\n\n"
        '<div class="chat-sources"><strong>Sources</strong><ol>'
        "<li>Trail Walker GTX · Walking shoes · $89.00</li><li>Socks · $7.00</li></ol></div>"
    )
    assert render(Answer("No sources.")) == "No sources."


def test_sources_are_text_not_html_and_the_list_is_short():
    assert (
        source_line(Source("Boots <b>", category="A & B", price="about 40 euros"))
        == "Boots <b> · A & B · about 40 euros"
    )
    shown = sources_html([Source("Boots <b>", category="A & B")] + [Source(f"P{i}") for i in range(9)])
    assert "<li>Boots &lt;b&gt; · A &amp; B</li>" in shown and "<b>" not in shown
    assert shown.count("<li>") == 5


def test_a_failure_is_styled_apart_and_its_urls_are_code_not_links():
    notice = unavailable_message("Shopping", "http://rag.rag.svc.cluster.local:8000/generate answered 503: <oops>")
    shown = render(Answer(notice, ok=False, notice=notice))
    assert shown == (
        f'<div class="chat-error" role="alert"><strong>{ERROR_TITLE}</strong> The Shopping assistant is unavailable '
        "right now (<code>http://rag.rag.svc.cluster.local:8000/generate</code> answered 503: &lt;oops&gt;). "
        "Please try again later.</div>"
    )


def test_a_failure_mid_answer_keeps_the_part_that_arrived():
    notice = unavailable_message("Loyalty programme", "connection lost")
    shown = render(Answer("Gold members\n\n" + notice, ok=False, notice=notice))
    assert shown.startswith(f'Gold members\n\n<div class="chat-error" role="alert"><strong>{CUT_SHORT_TITLE}</strong>')
    # A failure made without its notice apart: all of it is the notice.
    assert render(Answer("It broke.", ok=False)).startswith(
        f'<div class="chat-error" role="alert"><strong>{ERROR_TITLE}'
    )


def test_the_placeholder_says_what_the_assistant_is_doing():
    assert progress_message("Shopping") == {
        "role": "assistant",
        "content": "",
        "metadata": {"title": "Searching the catalogue…", "status": "pending"},
    }
    assert progress_message("Loyalty programme")["metadata"]["title"] == "Thinking…"
