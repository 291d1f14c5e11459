"""The Gradio page: an assistant selector, a chat, a message box.

Sessions: everything a person's chat holds lives in a `gr.State`, which Gradio keeps per browser
session (a new tab is a new session), so two people never see each other's messages. The state
holds one conversation per assistant: switching assistants shows that assistant's own earlier
conversation, and switching back brings the previous one back. The chat's clear (trash) button
empties the current assistant's conversation (for Shopping it also starts a new RAG session). A state lives as long as
Gradio keeps the session (`state_session_capacity`), not across a reload of the page.

Each conversation keeps what is shown (`shown`, failures included) apart from what an assistant is
told (`context`: only the exchanges that succeeded), so an error notice never becomes a model's
context. Shopping's history lives in the RAG service under its session id (kept per conversation).

What a person sees of an answer: a placeholder at once ("Searching the catalogue…" for Shopping,
whose RAG service does not stream; "Thinking…" until a streamed answer's first piece), which the
answer replaces; under a Shopping answer, the catalogue products it drew on ("Sources"); a failure
as a notice styled apart from answers ("⚠ Could not get an answer: ..."), its URLs shown as code,
never as links. A question over `MAX_QUESTION_CHARS` is not sent (nor cut): a notice above the box
says the limit, and the question stays there to be shortened. No API page, no Gradio footer, no
run history.
"""

from __future__ import annotations

import copy
import html
import math
import os
import re
from collections.abc import Iterator, Sequence
from typing import Any

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio is imported (see __init__)

import gradio as gr  # noqa: E402

from chatbot_ui.backends import Answer, Assistant, Source, respond  # noqa: E402

TITLE = "Chat assistants"  # the page's, whichever assistant is chosen
MAX_QUESTION_CHARS = 4000  # the RAG service refuses longer prompts
MAX_SOURCES_SHOWN = 5
PROGRESS = {"Shopping": "Searching the catalogue…"}  # shown until the answer arrives
THINKING = "Thinking…"  # the others' (streamed: until the first piece)
ERROR_TITLE = "⚠ Could not get an answer:"
CUT_SHORT_TITLE = "⚠ The answer was cut short:"  # a failure after part of the answer arrived
DESCRIPTIONS = {
    "Shopping": "product questions, answered from the shop's catalogue",
    "Loyalty programme": "points, tiers and rewards of the loyalty programme",
    "Private model": "a model that runs on private infrastructure",
}
NOTHING_CONFIGURED = (
    "**No assistant is configured.** The chatbot needs at least one backend: `RAG_URL` (Shopping), "
    "`LLM_BASE_URL` and `LOYALTY_MODEL` (Loyalty programme) or `PRIVATE_MODEL_URL` (Private model)."
)


CSS = """
#chat .chat-error {
  color: var(--error-text-color);
  background: var(--error-background-fill);
  border: 1px solid var(--error-border-color);
  border-left-width: 4px;
  border-radius: var(--radius-md);
  padding: var(--size-2) var(--size-3);
}
#chat .chat-error code { display: inline; color: inherit; background: transparent; word-break: break-all; }
#chat .chat-sources {
  margin-top: var(--size-2);
  padding-top: var(--size-2);
  border-top: 1px solid var(--border-color-primary);
  color: var(--body-text-color-subdued);
  font-size: var(--text-sm);
}
#chat .chat-sources ol { margin: var(--size-1) 0 0; padding-left: var(--size-5); }
#chat .chat-sources li { margin: 0; }
/* Gradio's own radio style turns a checked radio under the pointer (hovering its label counts) white
   on white: after an answer re-enabled the selector, the chosen assistant looked unchosen. */
#assistant input[type="radio"]:checked,
#assistant input[type="radio"]:checked:hover,
#assistant input[type="radio"]:checked:focus {
  background-color: var(--checkbox-background-color-selected);
  border-color: var(--checkbox-border-color-selected);
  background-image: var(--radio-circle);
}
#assistant label.selected {
  border-color: var(--color-accent);
  box-shadow: inset 0 0 0 1px var(--color-accent);
  font-weight: var(--weight-semibold);
}
#message-notice, #message-notice * { color: var(--error-text-color); }
"""


def launch(demo: gr.Blocks, server_name: str, server_port: int, concurrency: int = 32, **options: Any):
    """Serves the page: `concurrency` chats at once (Gradio's default is one at a time), no
    server-side rendering (no Node.js in the image), no error details sent to the browser, the
    page's CSS, no footer (so no "Use via API" page, which `?view=api` opens only with the footer's
    "api" link) and no run history (it would keep people's chats in their browser)."""
    demo.queue(default_concurrency_limit=concurrency)
    options = {"footer_links": [], "run_history": False, "css": CSS, **options}
    return demo.launch(server_name=server_name, server_port=server_port, ssr_mode=False, show_error=False, **options)


# --- what the chat shows --------------------------------------------------------------------------

URL = re.compile(r"https?://[^\s<>\"'`()]+")


def _unlinked(text: str) -> str:
    """`text` as HTML on one line, its URLs as code: readable, never a link."""
    text = " ".join(text.split())
    pieces, last = [], 0
    for match in URL.finditer(text):
        url = match.group().rstrip(".,;:!?")
        pieces += [html.escape(text[last : match.start()]), f"<code>{html.escape(url)}</code>"]
        last = match.start() + len(url)
    pieces.append(html.escape(text[last:]))
    return "".join(pieces)


def error_html(notice: str, cut_short: bool = False) -> str:
    """A failure notice, styled apart from answers (an HTML block: Markdown does not link its URLs)."""
    title = CUT_SHORT_TITLE if cut_short else ERROR_TITLE
    return f'<div class="chat-error" role="alert"><strong>{title}</strong> {_unlinked(notice)}</div>'


def _price(price: float | str) -> str:
    """A number as dollars (the RAG service's prompts say its prices are), other text as it is."""
    try:
        amount = float(price)
    except ValueError:
        return str(price)
    return f"${amount:,.2f}" if math.isfinite(amount) else str(price)


def source_line(source: Source) -> str:
    """The name, and the category and price if known: "Trail Walker GTX · Walking shoes · $89.00"."""
    parts = [source.name, source.category, None if source.price is None else _price(source.price)]
    return " · ".join(part for part in parts if part)


def sources_html(sources: Sequence[Source]) -> str:
    items = "".join(f"<li>{html.escape(source_line(source))}</li>" for source in sources[:MAX_SOURCES_SHOWN])
    return f'<div class="chat-sources"><strong>Sources</strong><ol>{items}</ol></div>'


def render(answer: Answer) -> str:
    """An answer as the chat shows it: its text, its sources, and a failure's notice."""
    parts = [answer.partial] if answer.partial else []
    if answer.sources and answer.ok:
        parts.append(sources_html(answer.sources))
    if not answer.ok:
        parts.append(error_html(answer.notice or answer.text, cut_short=bool(answer.partial)))
    return "\n\n".join(parts)


def progress_message(name: str) -> dict[str, Any]:
    """The placeholder the answer replaces: a title with a spinner (Gradio's pending "thought")."""
    return {
        "role": "assistant",
        "content": "",
        "metadata": {"title": PROGRESS.get(name, THINKING), "status": "pending"},
    }


def too_long_notice(length: int) -> str:
    return (
        f"⚠ Your question is {length:,} characters long; the limit is {MAX_QUESTION_CHARS:,}. "
        "Please shorten it and send it again."
    )


def new_conversation() -> dict[str, Any]:
    return {"shown": [], "context": [], "session": {}}


def initial_state(names: Sequence[str]) -> dict[str, Any]:
    return {"conversations": {name: new_conversation() for name in names}}


def _shown(conversation: dict[str, Any]) -> list[dict[str, Any]]:
    return copy.deepcopy(conversation["shown"])  # Gradio gets its own copy of every value it is given


def build_app(assistants: Sequence[Assistant]) -> gr.Blocks:
    by_name = {assistant.name: assistant for assistant in assistants}
    names = list(by_name)

    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        gr.Markdown(f"# {TITLE}")
        if not names:
            gr.Markdown(NOTHING_CONFIGURED, elem_id="no-assistant")
            return demo

        info = "; ".join(f"{name}: {DESCRIPTIONS.get(name, '')}" for name in names)
        selector = gr.Radio(names, value=names[0], label="Assistant", info=info, elem_id="assistant")
        chat = gr.Chatbot(
            label=f"{names[0]} assistant",
            elem_id="chat",
            height=480,
            buttons=["copy"],
            feedback_options=None,
            placeholder="Ask a question below.",
        )
        # Above the box, which grows with a long question: in view when it says the question is too long.
        notice = gr.Markdown(visible=False, elem_id="message-notice")
        with gr.Row():
            # No max_length: the browser would cut a longer paste silently; `send` refuses it, saying so.
            message = gr.Textbox(
                show_label=False,
                placeholder="Type your question and press Enter",
                elem_id="message",
                scale=8,
                max_lines=6,
                autofocus=True,
            )
            send_button = gr.Button("Send", variant="primary", elem_id="send", scale=1, min_width=80)
        state = gr.State(initial_state(names))

        def conversation(state: dict[str, Any], name: str) -> dict[str, Any]:
            return state["conversations"].setdefault(name, new_conversation())

        def switch(name: str, state: dict[str, Any]):
            return gr.update(value=_shown(conversation(state, name)), label=f"{name} assistant")

        def clear(name: str, state: dict[str, Any]):
            state["conversations"][name] = new_conversation()
            return state

        def send(text: str, name: str, state: dict[str, Any]) -> Iterator[tuple]:
            busy, idle = gr.update(interactive=False), gr.update(interactive=True)
            text = (text or "").strip()
            assistant = by_name.get(name)
            if not text or assistant is None:
                yield gr.update(), gr.update(), state, gr.update(), gr.update(), gr.update()
                return
            if len(text) > MAX_QUESTION_CHARS:  # not sent, not cut: the box keeps it to be shortened
                shown_notice = gr.update(value=too_long_notice(len(text)), visible=True)
                yield gr.update(), gr.update(), state, gr.update(), gr.update(), shown_notice
                return
            current = conversation(state, name)
            # The question shows at once (the box, emptied, waits for the answer), then a placeholder
            # until the answer's first piece replaces it.
            current["shown"].append({"role": "user", "content": text})
            hidden = gr.update(value="", visible=False)
            yield gr.update(value="", interactive=False), _shown(current), state, busy, busy, hidden
            current["shown"].append(progress_message(name))
            yield gr.update(), _shown(current), state, busy, busy, gr.update()
            answer = None
            for answer in respond(assistant, text, current["context"], current["session"]):
                current["shown"][-1] = {"role": "assistant", "content": render(answer)}
                yield gr.update(), _shown(current), state, busy, busy, gr.update()
            if answer is not None and answer.ok:
                current["context"] += [{"role": "user", "content": text}, {"role": "assistant", "content": answer.text}]
            yield gr.update(interactive=True), _shown(current), state, idle, idle, gr.update()

        selector.change(switch, [selector, state], [chat], queue=False, api_visibility="private")
        chat.clear(clear, [selector, state], [state], queue=False, api_visibility="private")  # its trash button
        outputs = [message, chat, state, selector, send_button, notice]
        message.submit(send, [message, selector, state], outputs, api_visibility="private")
        send_button.click(send, [message, selector, state], outputs, api_visibility="private")
    return demo
