"""The backend clients against real local HTTP servers: the tiny OpenAI-compatible server (Loyalty,
Private model) and the RAG stand-in (Shopping); backends that are down, hang or fail."""

from __future__ import annotations

import itertools
import time

import pytest

from chatbot_test_servers import CATALOGUE_HITS, LOYALTY_MODEL, PRIVATE_MODEL, SilentServer, closed_port_url
from chatbot_ui.backends import (
    Answer,
    BackendUnavailable,
    OpenAIChatBackend,
    ShoppingBackend,
    misconfigured_message,
    rejected_message,
    respond,
    unavailable_message,
)
from chatbot_ui.config import LOYALTY, PRIVATE, SHOPPING, Settings
from testing.openai_server import OpenAIServer

# --- Shopping --------------------------------------------------------------------------------------


def text_only(pieces) -> str:
    """A reply's answer text (its `Source`s left out)."""
    return "".join(piece for piece in pieces if isinstance(piece, str))


def test_shopping_asks_the_rag_service_and_keeps_its_session_id(rag_server):
    shopping = ShoppingBackend(rag_server.url)
    session: dict = {}

    first = text_only(shopping.reply("Which walking shoes for a 60-year-old man?", [], session))
    second = text_only(shopping.reply("And in blue?", [{"role": "user", "content": "ignored"}], session))

    assert first == "RAG answer #1 for Which walking shoes for a 60-year-old man?"
    assert second == "RAG answer #2 for And in blue?"
    assert session == {"rag_session_id": "rag-session-1"}
    # Only the new prompt travels; the RAG service keeps the conversation under its session id.
    assert rag_server.requests == [
        {"prompt": "Which walking shoes for a 60-year-old man?", "session_id": None},
        {"prompt": "And in blue?", "session_id": "rag-session-1"},
    ]


def test_shopping_sessions_are_separate(rag_server):
    shopping = ShoppingBackend(rag_server.url + "/")  # a trailing slash is fine
    alice, bob = {}, {}
    list(shopping.reply("hello", [], alice))
    list(shopping.reply("hello", [], bob))
    list(shopping.reply("again", [], alice))
    assert alice["rag_session_id"] != bob["rag_session_id"]
    assert rag_server.requests[-1] == {"prompt": "again", "session_id": alice["rag_session_id"]}


def test_shopping_down_gives_a_readable_message():
    url = closed_port_url()
    shopping = ShoppingBackend(url)
    with pytest.raises(BackendUnavailable) as raised:
        shopping.ask("shoes?", None)
    assert str(raised.value) == (
        f"The Shopping assistant is unavailable right now (could not reach {url}/generate). Please try again later."
    )

    answers = list(respond(shopping, "shoes?", [], {}))
    assert answers == [Answer(str(raised.value), ok=False)]


def test_shopping_error_status_shows_the_services_message(rag_server):
    answers = list(respond(ShoppingBackend(rag_server.url), "fail now", [], {}))
    assert answers == [
        Answer(
            unavailable_message(
                "Shopping", f"{rag_server.url}/generate answered 503: the vector database is unreachable"
            ),
            ok=False,
        )
    ]


def test_shopping_refused_question_says_so(rag_server):
    [answer] = respond(ShoppingBackend(rag_server.url), "too long a question", [], {})
    assert answer == Answer(
        rejected_message(
            "Shopping", f"{rag_server.url}/generate answered 422: prompt: String should have at most 4000 characters"
        ),
        ok=False,
    )


def test_shopping_hanging_service_times_out():
    with SilentServer() as silent:
        shopping = ShoppingBackend(silent.url, read_timeout=0.5)
        started = time.monotonic()
        [answer] = respond(shopping, "shoes?", [], {})
    assert time.monotonic() - started < 5
    assert not answer.ok
    assert answer.text == unavailable_message("Shopping", f"no answer from {silent.url}/generate within 0.5 s")


def test_shopping_unreadable_answer(rag_server):
    with pytest.raises(BackendUnavailable) as raised:
        ShoppingBackend(rag_server.url).ask("garble it", None)
    assert raised.value.reason == f"{rag_server.url}/generate sent an answer that could not be read"


def test_shopping_answer_brings_the_retrieved_sources_in_rank_order(rag_server):
    answers = list(respond(ShoppingBackend(rag_server.url), "Walking shoes?", [], {}))
    final = answers[-1]
    assert final.ok and final.text == rag_server.responses[-1]["response"]  # the text is the answer alone
    assert [(s.name, s.id, s.category, s.price, s.score) for s in final.sources] == [
        (hit["name"], hit["id"], hit["category"], hit.get("price"), hit["score"]) for hit in CATALOGUE_HITS
    ]


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("no sources here", []),  # an older RAG service: no `sources` at all
        ("empty sources", []),
        # another name field and a string price; an id alone; blanks and nulls dropped; the rest skipped
        (
            "odd sources",
            [
                ("Rain Jacket", None, None, "49.99"),
                ("Product p-9", "p-9", None, None),
                ("Roomy Backpack", None, None, None),
            ],
        ),
    ],
)
def test_shopping_tolerates_missing_empty_and_odd_sources(rag_server, prompt, expected):
    [answer] = respond(ShoppingBackend(rag_server.url), prompt, [], {})
    assert answer.ok and answer.text.startswith("RAG answer #")
    assert [(s.name, s.id, s.category, s.price) for s in answer.sources] == expected


@pytest.mark.parametrize(
    ("status", "retry_helps"),
    [(503, True), (504, True), (429, True), (404, False), (401, False), (409, False), (500, False), (502, False)],
)
def test_only_a_failure_a_retry_can_mend_says_try_again(rag_server, status, retry_helps):
    [answer] = respond(ShoppingBackend(rag_server.url), f"status {status}", [], {})
    assert not answer.ok
    assert f"answered {status}: the stand-in answers {status}" in answer.text  # says what is wrong
    assert ("try again" in answer.text.lower()) == retry_helps, answer.text


# --- Loyalty programme and Private model -----------------------------------------------------------


def test_loyalty_streams_the_models_answer(loyalty_server):
    loyalty = OpenAIChatBackend(LOYALTY, loyalty_server.base_url, LOYALTY_MODEL)
    history = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]

    pieces = list(loyalty.reply("How do I earn points?", history, {}))

    assert len(pieces) > 1, "the answer arrives in several streamed pieces"
    assert "".join(pieces) == loyalty_server.answers[-1]
    request = loyalty_server.requests[-1]
    assert request["model"] == LOYALTY_MODEL and request["stream"] is True
    assert request["messages"] == [*history, {"role": "user", "content": "How do I earn points?"}]


def test_respond_yields_the_growing_answer(loyalty_server):
    loyalty = OpenAIChatBackend(LOYALTY, loyalty_server.base_url, LOYALTY_MODEL)
    answers = list(respond(loyalty, "Gold status?", [], {}))
    assert all(answer.ok for answer in answers)
    assert answers[-1].text == loyalty_server.answers[-1]
    assert [a.text for a in answers] == sorted((a.text for a in answers), key=len)  # each extends the last
    assert all(later.text.startswith(earlier.text) for earlier, later in itertools.pairwise(answers))


def test_private_model_without_a_name_uses_the_served_one(private_server):
    private = OpenAIChatBackend(PRIVATE, private_server.base_url + "/")
    text = "".join(private.reply("Tell me a secret", [], {}))
    assert text == private_server.answers[-1]
    assert private_server.requests[-1]["model"] == PRIVATE_MODEL
    assert private.model == PRIVATE_MODEL  # looked up once


def test_api_key_is_sent(tiny_model_dir):
    with OpenAIServer(tiny_model_dir, served_names=("m",), api_key="s3cret") as server:
        assert (
            "".join(OpenAIChatBackend(PRIVATE, server.base_url, "m", api_key="s3cret").reply("hi", [], {}))
            == server.answers[-1]
        )
        [answer] = respond(OpenAIChatBackend(PRIVATE, server.base_url, "m"), "hi", [], {})
        assert answer == Answer(
            misconfigured_message("Private model", f"{server.base_url} answered 401: invalid api key"), ok=False
        )


def test_unknown_model_gives_the_servers_message(loyalty_server):
    [answer] = respond(OpenAIChatBackend(LOYALTY, loyalty_server.base_url, "no-such-adapter"), "hi", [], {})
    assert answer == Answer(
        misconfigured_message(
            "Loyalty programme", f"{loyalty_server.base_url} answered 404: The model `no-such-adapter` does not exist."
        ),
        ok=False,
    )


def test_unknown_model_says_what_is_wrong_and_not_to_try_again(loyalty_server):
    [answer] = respond(OpenAIChatBackend(LOYALTY, loyalty_server.base_url, "no-such-adapter"), "hi", [], {})
    assert not answer.ok
    assert "not set up correctly" in answer.text and "The model `no-such-adapter` does not exist." in answer.text
    assert "try again" not in answer.text.lower(), answer.text


@pytest.mark.parametrize("model", [LOYALTY_MODEL, None])
def test_openai_backend_down_gives_a_readable_message(model):
    url = closed_port_url() + "/v1"
    backend = OpenAIChatBackend(PRIVATE, url, model, max_retries=0)
    [answer] = respond(backend, "hi", [], {})
    assert answer == Answer(
        f"The Private model assistant is unavailable right now (could not reach {url}). Please try again later.",
        ok=False,
    )


def test_openai_backend_hanging_times_out():
    with SilentServer() as silent:
        backend = OpenAIChatBackend(LOYALTY, silent.url + "/v1", LOYALTY_MODEL, read_timeout=0.5, max_retries=0)
        started = time.monotonic()
        [answer] = respond(backend, "hi", [], {})
    assert time.monotonic() - started < 5
    assert answer == Answer(
        unavailable_message("Loyalty programme", f"no answer from {silent.url}/v1 within 0.5 s"), ok=False
    )


def test_history_sent_is_bounded_and_starts_with_a_user_turn():
    backend = OpenAIChatBackend(
        LOYALTY, "http://127.0.0.1:9/v1", LOYALTY_MODEL, max_history_messages=3, system_prompt="Be brief."
    )
    history = [{"role": "user" if i % 2 == 0 else "assistant", "content": str(i)} for i in range(6)]
    history.append({"role": "tool", "content": "dropped"})
    assert backend.messages("next", history) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "4"},
        {"role": "assistant", "content": "5"},
        {"role": "user", "content": "next"},
    ]


# --- respond never raises -------------------------------------------------------------------------


class Broken:
    name = "Shopping"

    def __init__(self, pieces=(), error: Exception | None = None):
        self.pieces, self.error = pieces, error

    def reply(self, message, history, session):
        yield from self.pieces
        if self.error is not None:
            raise self.error


def test_a_bug_becomes_a_readable_message_not_a_traceback():
    [answer] = respond(Broken(error=KeyError("boom")), "hi", [], {})
    assert answer == Answer("The Shopping assistant ran into an unexpected problem.", ok=False)


def test_a_failure_mid_answer_keeps_what_arrived():
    answers = list(
        respond(Broken(["Walking ", "shoes"], BackendUnavailable("Shopping", "connection lost")), "hi", [], {})
    )
    assert [a.text for a in answers[:2]] == ["Walking ", "Walking shoes"]
    assert answers[-1] == Answer("Walking shoes\n\n" + unavailable_message("Shopping", "connection lost"), ok=False)
    assert answers[-1].partial == "Walking shoes"
    assert answers[-1].notice == unavailable_message("Shopping", "connection lost")


def test_an_empty_answer_says_so():
    [answer] = respond(Broken(), "hi", [], {})
    assert not answer.ok and "empty answer" in answer.text


# --- the environment contract ---------------------------------------------------------------------


def test_settings_from_the_deployments_environment():
    settings = Settings.from_env(
        {
            "RAG_URL": "http://rag.rag.svc.cluster.local:8000",
            "LLM_BASE_URL": "http://inference.inference.svc.cluster.local:8000/v1",
            "LOYALTY_MODEL": "loyalty",
            "GRADIO_ANALYTICS_ENABLED": "False",
            "GRADIO_SERVER_NAME": "0.0.0.0",
            "GRADIO_SERVER_PORT": "7860",
        }
    )
    assistants = settings.assistants()
    assert [a.name for a in assistants] == [SHOPPING, LOYALTY]
    shopping, loyalty = assistants
    assert shopping.url == "http://rag.rag.svc.cluster.local:8000/generate"
    assert (loyalty.base_url, loyalty.model) == ("http://inference.inference.svc.cluster.local:8000/v1", "loyalty")
    assert (settings.server_name, settings.server_port) == ("0.0.0.0", 7860)
    assert (settings.connect_timeout, settings.read_timeout, settings.concurrency) == (5.0, 120.0, 32)


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({}, []),
        ({"RAG_URL": ""}, []),  # empty counts as absent
        ({"LLM_BASE_URL": "http://llm/v1"}, []),  # no adapter name: no Loyalty assistant
        ({"LOYALTY_MODEL": "loyalty"}, []),
        ({"PRIVATE_MODEL_URL": "http://private:8080/v1"}, [PRIVATE]),
        ({"PRIVATE_MODEL_URL": "http://private:8080/v1", "RAG_URL": "http://rag:8000"}, [SHOPPING, PRIVATE]),
    ],
)
def test_only_configured_assistants(env, names):
    assert [a.name for a in Settings.from_env(env).assistants()] == names


def test_private_model_name_and_timeouts_from_the_environment():
    settings = Settings.from_env(
        {
            "PRIVATE_MODEL_URL": "http://p/v1",
            "PRIVATE_MODEL": "llama",
            "BACKEND_CONNECT_TIMEOUT_S": "2",
            "BACKEND_READ_TIMEOUT_S": "30",
        }
    )
    [private] = settings.assistants()
    assert private.model == "llama" and private.read_timeout == 30.0 and settings.connect_timeout == 2.0


@pytest.mark.parametrize(
    "env",
    [
        {"GRADIO_SERVER_PORT": "http"},
        {"GRADIO_SERVER_PORT": "70000"},
        {"BACKEND_READ_TIMEOUT_S": "-1"},
        {"BACKEND_CONNECT_TIMEOUT_S": "soon"},
        {"GRADIO_DEFAULT_CONCURRENCY_LIMIT": "0"},
    ],
)
def test_bad_settings_are_refused(env):
    with pytest.raises(ValueError):
        Settings.from_env(env)


@pytest.mark.parametrize(
    ("env", "name", "value"),
    [
        ({"RAG_URL": "localhost:8000"}, "RAG_URL", "localhost:8000"),  # no scheme
        ({"RAG_URL": "rag.rag.svc.cluster.local"}, "RAG_URL", "rag.rag.svc.cluster.local"),
        ({"RAG_URL": "http://"}, "RAG_URL", "http://"),  # no host
        ({"RAG_URL": "http://:8000"}, "RAG_URL", "http://:8000"),
        ({"RAG_URL": "http://rag:port"}, "RAG_URL", "http://rag:port"),  # not a port
        ({"LLM_BASE_URL": "inference:8000/v1", "LOYALTY_MODEL": "loyalty"}, "LLM_BASE_URL", "inference:8000/v1"),
        ({"LLM_BASE_URL": "inference:8000/v1"}, "LLM_BASE_URL", "inference:8000/v1"),  # checked even when unused
        ({"PRIVATE_MODEL_URL": "ftp://private/v1"}, "PRIVATE_MODEL_URL", "ftp://private/v1"),
    ],
)
def test_backend_urls_must_be_http_urls_with_a_host(env, name, value):
    with pytest.raises(ValueError) as raised:
        Settings.from_env(env)
    message = str(raised.value)
    assert "\n" not in message and message.startswith(f"{name} ") and repr(value) in message
    assert "http:// or https://" in message and "host" in message


@pytest.mark.parametrize(
    "url", ["http://rag:8000", "https://rag.example.com/", "http://127.0.0.1:8000", "http://[::1]:8000", "HTTP://Rag"]
)
def test_good_backend_urls_are_taken(url):
    settings = Settings.from_env({"RAG_URL": url, "LLM_BASE_URL": url + "/v1", "PRIVATE_MODEL_URL": url + "/v1"})
    assert (settings.rag_url, settings.llm_base_url, settings.private_model_url) == (url, url + "/v1", url + "/v1")


def test_the_entry_point_refuses_a_url_without_a_scheme_in_one_line(monkeypatch, caplog):
    import chatbot_ui.app
    from chatbot_ui.__main__ import main

    def launch(*args, **kwargs):
        raise AssertionError("the chatbot started with RAG_URL=localhost:8000")

    monkeypatch.setattr(chatbot_ui.app, "launch", launch)
    monkeypatch.setenv("RAG_URL", "localhost:8000")
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    [record] = [r for r in caplog.records if r.levelname == "ERROR"]
    assert "RAG_URL" in record.getMessage() and "'localhost:8000'" in record.getMessage()
    assert "\n" not in record.getMessage()


def test_the_entry_point_refuses_bad_settings_plainly(monkeypatch, caplog):
    from chatbot_ui.__main__ import main

    monkeypatch.setenv("GRADIO_SERVER_PORT", "not-a-port")
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    assert "GRADIO_SERVER_PORT must be a port number, not 'not-a-port'" in caplog.text
