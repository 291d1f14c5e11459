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
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator, Sequence
from typing import Any

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio is imported (see __init__)

import gradio as gr  # noqa: E402

from chatbot_ui.backends import Assistant, respond  # noqa: E402

TITLE = "Shop assistant"
MAX_QUESTION_CHARS = 4000  # the RAG service refuses longer prompts
DESCRIPTIONS = {
    "Shopping": "product questions, answered from the shop's catalogue",
    "Loyalty programme": "points, tiers and rewards of the loyalty programme",
    "Private model": "a model that runs on private infrastructure",
}
NOTHING_CONFIGURED = (
    "**No assistant is configured.** The chatbot needs at least one backend: `RAG_URL` (Shopping), "
    "`LLM_BASE_URL` and `LOYALTY_MODEL` (Loyalty programme) or `PRIVATE_MODEL_URL` (Private model)."
)


def launch(demo: gr.Blocks, server_name: str, server_port: int, concurrency: int = 32, **options: Any):
    """Serves the page: `concurrency` chats at once (Gradio's default is one at a time), no
    server-side rendering (no Node.js in the image), no error details sent to the browser."""
    demo.queue(default_concurrency_limit=concurrency)
    return demo.launch(server_name=server_name, server_port=server_port, ssr_mode=False, show_error=False, **options)


def new_conversation() -> dict[str, Any]:
    return {"shown": [], "context": [], "session": {}}


def initial_state(names: Sequence[str]) -> dict[str, Any]:
    return {"conversations": {name: new_conversation() for name in names}}


def _shown(conversation: dict[str, Any]) -> list[dict[str, str]]:
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
        with gr.Row():
            message = gr.Textbox(
                show_label=False,
                placeholder="Type your question and press Enter",
                elem_id="message",
                scale=8,
                max_lines=6,
                max_length=MAX_QUESTION_CHARS,
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
                yield gr.update(), gr.update(), state, gr.update(), gr.update()
                return
            current = conversation(state, name)
            current["shown"].append({"role": "user", "content": text})
            # The question shows at once; the answer appears with its first piece (Gradio marks the chat busy).
            yield gr.update(value="", interactive=False), _shown(current), state, busy, busy
            answer = None
            for answer in respond(assistant, text, current["context"], current["session"]):
                if current["shown"][-1]["role"] == "user":
                    current["shown"].append({"role": "assistant", "content": answer.text})
                else:
                    current["shown"][-1]["content"] = answer.text
                yield gr.update(), _shown(current), state, busy, busy
            if answer is not None and answer.ok:
                current["context"] += [{"role": "user", "content": text}, {"role": "assistant", "content": answer.text}]
            yield gr.update(interactive=True), _shown(current), state, idle, idle

        selector.change(switch, [selector, state], [chat], queue=False, api_visibility="private")
        chat.clear(clear, [selector, state], [state], queue=False, api_visibility="private")  # its trash button
        outputs = [message, chat, state, selector, send_button]
        message.submit(send, [message, selector, state], outputs, api_visibility="private")
        send_button.click(send, [message, selector, state], outputs, api_visibility="private")
    return demo
