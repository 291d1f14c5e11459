"""The OpenAI-compatible chat endpoint (vLLM in the cluster, or an external API), and the prompts.

Failures become ServiceErrors that name the endpoint: unreachable -> 503, no answer in time ->
504, an error status (unknown model, refused key) -> 502.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import openai
from openai.types.chat import ChatCompletionMessageParam

from rag_service.errors import ServiceError, Unavailable, UpstreamError
from rag_service.history import Turn
from rag_service.vector_store import Hit

log = logging.getLogger(__name__)

ANSWER_SYSTEM_PROMPT = (
    "You are the shopping assistant of an online store. Answer the customer's question using only the "
    "products listed in the context. Recommend the products that fit best, mention their names and prices, "
    "and say so when none of them fits. Do not invent products, sizes or prices that the context does not show."
)
REWRITE_SYSTEM_PROMPT = (
    "You rewrite a customer's follow-up question into one standalone question that can be understood "
    "without the conversation, keeping every product, size, colour and budget it refers to. "
    "Reply with the rewritten question only."
)


class LlmClient:
    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        timeout: float = 50.0,
        max_retries: int = 1,
        max_tokens: int = 512,
        rewrite_max_tokens: int = 96,
        temperature: float = 0.2,
    ):
        self.base_url = base_url
        self.model = model
        self.timeout = timeout
        self.max_tokens = max_tokens
        self.rewrite_max_tokens = rewrite_max_tokens
        self.temperature = temperature
        # Servers without a key (vLLM by default) accept any; the client insists on one.
        self._client = openai.OpenAI(
            base_url=base_url, api_key=api_key or "not-needed", timeout=timeout, max_retries=max_retries
        )

    def close(self) -> None:
        self._client.close()

    def chat(self, messages: list[ChatCompletionMessageParam], max_tokens: int) -> str:
        try:
            completion = self._client.chat.completions.create(
                model=self.model, messages=messages, max_tokens=max_tokens, temperature=self.temperature
            )
        except openai.APITimeoutError:
            raise ServiceError(f"the LLM at {self.base_url} did not answer within {self.timeout:g} s", 504) from None
        except openai.APIConnectionError:
            raise Unavailable(f"the LLM at {self.base_url} is unreachable") from None
        except openai.APIStatusError as error:
            raise UpstreamError(
                f"the LLM at {self.base_url} answered {error.status_code}: {_error_message(error)}"
            ) from None
        except openai.OpenAIError as error:
            raise UpstreamError(
                f"the LLM at {self.base_url} sent an answer that could not be read ({type(error).__name__})"
            ) from None
        if not completion.choices or completion.choices[0].message.content is None:
            raise UpstreamError(f"the LLM at {self.base_url} returned no answer")
        return completion.choices[0].message.content

    # --- the two calls of a turn ----------------------------------------------------------------

    def rewrite(self, history: Sequence[Turn], question: str) -> str:
        """A standalone version of a follow-up question; the question itself when the LLM returns nothing."""
        standalone = self.chat(rewrite_messages(history, question), self.rewrite_max_tokens).strip()
        return standalone or question

    def answer(self, history: Sequence[Turn], question: str, hits: Sequence[Hit]) -> str:
        return self.chat(answer_messages(history, question, hits), self.max_tokens)


def _error_message(error: openai.APIStatusError) -> str:
    body, message = error.body, None
    if isinstance(body, dict):  # {"error": {"message"}}, {"message"} or FastAPI's {"detail"}
        inner = body.get("error")
        message = (
            (inner.get("message") if isinstance(inner, dict) else inner) or body.get("message") or body.get("detail")
        )
    return " ".join(str(message or error.message or "no detail").split())[:300]


def rewrite_messages(history: Sequence[Turn], question: str) -> list[ChatCompletionMessageParam]:
    conversation = "\n".join(f"Customer: {turn.question}\nAssistant: {turn.answer}" for turn in history)
    return [
        {"role": "system", "content": REWRITE_SYSTEM_PROMPT},
        {
            "role": "user",
            "content": f"Conversation so far:\n{conversation}\n\nFollow-up question: {question}\n\n"
            f"Standalone question:",
        },
    ]


def format_context(hits: Sequence[Hit]) -> str:
    """The retrieved products as a numbered list, one product a line."""
    lines = []
    for number, hit in enumerate(hits, 1):
        p = hit.product
        details = "; ".join(f"{key.replace('_', ' ')}: {value}" for key, value in p.extra.items() if value)
        lines.append(
            f"{number}. {p.name} (id {p.id}; category: {p.category}; price: ${p.price:.2f}"
            f"{'; ' + details if details else ''}) - {p.description}"
        )
    return "\n".join(lines)


def answer_messages(history: Sequence[Turn], question: str, hits: Sequence[Hit]) -> list[ChatCompletionMessageParam]:
    messages: list[ChatCompletionMessageParam] = [{"role": "system", "content": ANSWER_SYSTEM_PROMPT}]
    for turn in history:
        messages += [{"role": "user", "content": turn.question}, {"role": "assistant", "content": turn.answer}]
    messages.append(
        {
            "role": "user",
            "content": f"Context (products from the catalogue):\n{format_context(hits)}\n\nQuestion: {question}",
        }
    )
    return messages
