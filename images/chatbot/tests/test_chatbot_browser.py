"""The chat UI in a real browser (headless Debian Chromium, selenium), against real local backends:
the RAG stand-in (Shopping), the tiny OpenAI-compatible server (Loyalty programme) and a second one
with another served name (Private model). Waits are explicit waits on DOM elements."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chatbot_test_servers import LOYALTY_MODEL, PRIVATE_MODEL, RagStandIn
from chatbot_ui.app import PROGRESS, THINKING, build_app, launch
from chatbot_ui.backends import unavailable_message
from chatbot_ui.config import LOYALTY, PRIVATE, SHOPPING, Settings
from testing.local_server import free_port

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

# Debian's chromium by default (.ci/run installs it); GitHub's runner points these at its Chrome.
CHROMIUM = os.environ.get("CHROMIUM_BINARY", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
CHATBOT_DIR = Path(__file__).resolve().parents[1]
WAIT_S = 30
PLACEHOLDERS = {THINKING, *PROGRESS.values()}

pytestmark = [
    pytest.mark.skipif(
        not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
        reason="needs chromium and chromedriver (apt-get install chromium chromium-driver)",
    ),
    # Gradio's queue calls pandas options that pandas 3 deprecates: not ours to fix.
    pytest.mark.filterwarnings("ignore::Warning:gradio.queueing"),
]


# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rag() -> Iterator[RagStandIn]:
    server = RagStandIn().start()
    yield server
    server.stop()


def serve(assistants) -> tuple[object, str]:
    demo = build_app(assistants)
    port = free_port()
    launch(demo, "127.0.0.1", port, concurrency=8, prevent_thread_lock=True, quiet=True)
    return demo, f"http://127.0.0.1:{port}/"


@pytest.fixture(scope="module")
def chatbot(rag, loyalty_server, private_server) -> Iterator[str]:
    """The chatbot with all three assistants, as the Deployment's environment would configure it."""
    settings = Settings.from_env(
        {
            "RAG_URL": rag.url,
            "LLM_BASE_URL": loyalty_server.base_url,
            "LOYALTY_MODEL": LOYALTY_MODEL,
            "PRIVATE_MODEL_URL": private_server.base_url,
            "PRIVATE_MODEL": PRIVATE_MODEL,
        }
    )
    demo, url = serve(settings.assistants())
    yield url
    demo.close()


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--window-size=1200,900",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


# --- the page -------------------------------------------------------------------------------------


def wait(driver, condition, what: str):
    return WebDriverWait(
        driver, WAIT_S, poll_frequency=0.1, ignored_exceptions=(StaleElementReferenceException,)
    ).until(condition, what)


def text_of(element) -> str:
    return " ".join(element.text.split())


def open_chat(driver, url: str) -> None:
    """Loads the page: a new Gradio session."""
    driver.get(url)
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#message textarea"), "the message box")


def assistant_names(driver) -> list[str]:
    return [text_of(label) for label in driver.find_elements(By.CSS_SELECTOR, "#assistant label")]


def choose(driver, name: str) -> None:
    driver.find_element(By.CSS_SELECTOR, f'#assistant label[data-testid="{name}-radio-label"]').click()
    wait(
        driver,
        lambda d: (
            d.find_element(By.CSS_SELECTOR, f'#assistant input[value="{name}"]').is_selected()
            and f"{name} assistant" in text_of(d.find_element(By.ID, "chat"))
        ),
        f"{name} chosen",
    )


def bot_elements(driver) -> list:
    return driver.find_elements(By.CSS_SELECTOR, '#chat [data-testid="bot"]')


def without_sources(message) -> str:
    """A bot message's text without its list of sources."""
    text = text_of(message)
    for block in message.find_elements(By.CSS_SELECTOR, ".chat-sources"):
        text = text.replace(text_of(block), "")
    return " ".join(text.split())


def bot_messages(driver) -> list[str]:
    """The answers' texts (a Shopping answer's list of sources left out: see `sources_shown`)."""
    return [without_sources(m) for m in bot_elements(driver)]


def sources_shown(driver) -> list[str]:
    """The items of the last answer's list of sources."""
    return [text_of(item) for item in bot_elements(driver)[-1].find_elements(By.CSS_SELECTOR, ".chat-sources li")]


def style_of(driver, element, prop: str) -> str:
    return driver.execute_script("return getComputedStyle(arguments[0]).getPropertyValue(arguments[1])", element, prop)


def user_messages(driver) -> list[str]:
    return [text_of(m) for m in driver.find_elements(By.CSS_SELECTOR, '#chat [data-testid="user"]')]


def ask(driver, question: str) -> str:
    """Types a question, presses Enter and waits for the whole answer; returns its text."""
    before = len(bot_messages(driver))
    driver.find_element(By.CSS_SELECTOR, "#message textarea").send_keys(question, Keys.RETURN)

    def answered(d):
        # The box is disabled from the question until the last piece of the answer is shown.
        if not d.find_element(By.CSS_SELECTOR, "#message textarea").is_enabled():
            return False
        if d.find_elements(By.CSS_SELECTOR, '#chat [data-testid="bot"] [aria-busy="true"]'):
            return False  # the placeholder ("Searching the catalogue…") the answer replaces
        answers = bot_messages(d)
        # The placeholder's own text too: in one CI run the box was enabled again and the spinner's
        # aria-busy gone while the page still showed "Thinking…" (Gradio renders them apart).
        if len(answers) <= before or not answers[-1] or answers[-1] in PLACEHOLDERS:
            return False
        return answers[-1]

    return wait(driver, answered, f"the answer to {question!r}")


def same_text(text: str) -> str:
    return " ".join(text.split())


def box_value(driver) -> str:
    return driver.find_element(By.CSS_SELECTOR, "#message textarea").get_property("value")


def soon(driver, condition, what: str, seconds: float = 10):
    """`wait`, shorter: for what should be there at once."""
    return WebDriverWait(
        driver, seconds, poll_frequency=0.1, ignored_exceptions=(StaleElementReferenceException,)
    ).until(condition, what)


# --- tests ----------------------------------------------------------------------------------------


def test_all_configured_assistants_are_offered(browser, chatbot):
    open_chat(browser, chatbot)
    assert assistant_names(browser) == [SHOPPING, LOYALTY, PRIVATE]
    assert browser.find_element(By.CSS_SELECTOR, f'#assistant input[value="{SHOPPING}"]').is_selected()


def test_shopping_answers_from_the_rag_service(browser, chatbot, rag):
    open_chat(browser, chatbot)
    choose(browser, SHOPPING)
    first = ask(browser, "Which walking shoes for a 60-year-old man?")
    assert first == rag.responses[-1]["response"]
    assert first.startswith("RAG answer #") and first.endswith(" for Which walking shoes for a 60-year-old man?")
    assert rag.requests[-1] == {"prompt": "Which walking shoes for a 60-year-old man?", "session_id": None}
    second = ask(browser, "In blue?")
    assert second == rag.responses[-1]["response"] and second.endswith(" for In blue?")
    # The same browser session goes on in the RAG session the service opened.
    assert rag.requests[-1] == {"prompt": "In blue?", "session_id": rag.responses[-2]["session_id"]}
    assert user_messages(browser) == ["Which walking shoes for a 60-year-old man?", "In blue?"]


def test_loyalty_streams_the_fine_tuned_models_answer(browser, chatbot, loyalty_server):
    open_chat(browser, chatbot)
    choose(browser, LOYALTY)
    answer = ask(browser, "How do I earn points?")
    assert answer == same_text(loyalty_server.answers[-1])
    request = loyalty_server.requests[-1]
    assert request["model"] == LOYALTY_MODEL and request["stream"] is True
    assert request["messages"] == [{"role": "user", "content": "How do I earn points?"}]


def test_private_model_answers_from_the_private_server(browser, chatbot, private_server, loyalty_server):
    open_chat(browser, chatbot)
    choose(browser, PRIVATE)
    loyalty_before = len(loyalty_server.requests)
    answer = ask(browser, "Is my data private?")
    assert answer == same_text(private_server.answers[-1])
    assert private_server.requests[-1]["model"] == PRIVATE_MODEL
    assert len(loyalty_server.requests) == loyalty_before


def test_history_is_kept_per_assistant(browser, chatbot, rag, loyalty_server):
    open_chat(browser, chatbot)
    choose(browser, SHOPPING)
    ask(browser, "Shoes for hiking?")
    choose(browser, LOYALTY)
    assert bot_messages(browser) == []  # Loyalty's own (empty) conversation
    ask(browser, "What is gold status?")
    first_answer = loyalty_server.answers[-1]
    ask(browser, "And silver?")
    # The model is told this assistant's earlier exchange, not Shopping's.
    assert loyalty_server.requests[-1]["messages"] == [
        {"role": "user", "content": "What is gold status?"},
        {"role": "assistant", "content": first_answer},
        {"role": "user", "content": "And silver?"},
    ]
    choose(browser, SHOPPING)
    assert user_messages(browser) == ["Shoes for hiking?"]
    choose(browser, LOYALTY)
    assert user_messages(browser) == ["What is gold status?", "And silver?"]


def test_two_browser_sessions_do_not_see_each_other(browser, chatbot, rag):
    open_chat(browser, chatbot)
    choose(browser, SHOPPING)
    ask(browser, "Alice asks about boots")
    alice_session = rag.responses[-1]["session_id"]
    alice_tab = browser.current_window_handle
    browser.switch_to.new_window("tab")
    try:
        open_chat(browser, chatbot)
        assert bot_messages(browser) == [] and user_messages(browser) == []
        ask(browser, "Bob asks about sandals")
        assert user_messages(browser) == ["Bob asks about sandals"]
        ask(browser, "Bob again")
        bob_session = rag.requests[-1]["session_id"]
        assert bob_session is not None and alice_session is not None and bob_session != alice_session
    finally:
        browser.close()
        browser.switch_to.window(alice_tab)
    assert user_messages(browser) == ["Alice asks about boots"]


def test_shopping_down_shows_a_readable_message(browser, chatbot, rag):
    open_chat(browser, chatbot)
    choose(browser, SHOPPING)
    rag.stop()
    try:
        message = ask(browser, "Any shoes?")
    finally:
        rag.start()  # same port: later tests find it again
    assert message == "⚠ Could not get an answer: " + unavailable_message(
        SHOPPING, f"could not reach {rag.url}/generate"
    )
    assert "Traceback" not in browser.page_source
    # Back up: the next question is answered.
    assert ask(browser, "Any shoes now?").endswith("for Any shoes now?")


def test_shopping_shows_progress_at_once_and_the_answer_replaces_it(browser, chatbot, rag):
    open_chat(browser, chatbot)
    choose(browser, SHOPPING)
    asked = len(rag.requests)
    rag.release.clear()  # the RAG service takes its time (its /generate is not streamed)
    try:
        browser.find_element(By.CSS_SELECTOR, "#message textarea").send_keys("Boots for snow?", Keys.RETURN)
        wait(browser, lambda d: len(rag.requests) > asked, "the question at the RAG service")
        soon(browser, lambda d: bot_messages(d) == ["Searching the catalogue…"], "a sign that it is at work")
        assert user_messages(browser) == ["Boots for snow?"]
    finally:
        rag.release.set()
    wait(
        browser,
        lambda d: (
            d.find_element(By.CSS_SELECTOR, "#message textarea").is_enabled()
            and bot_messages(d)[-1].startswith("RAG answer #")
        ),
        "the answer",
    )
    assert bot_messages(browser) == [rag.responses[-1]["response"]]  # the answer took the placeholder's place


def test_shopping_answer_lists_its_sources(browser, chatbot, rag):
    open_chat(browser, chatbot)
    choose(browser, SHOPPING)
    assert ask(browser, "Walking shoes for a long trip?") == rag.responses[-1]["response"]
    [block] = bot_elements(browser)[-1].find_elements(By.CSS_SELECTOR, ".chat-sources")
    assert text_of(block).startswith("Sources ")
    # In rank order: names, with category and price where the service sent them (and no HTML taken from them).
    assert sources_shown(browser) == [
        "Trail Walker GTX · Walking shoes · $89.00",
        "City Stroller · Walking shoes · $64.50",
        "Merino Socks <2 pairs> & Liners · Socks",
    ]
    assert ask(browser, "No sources for this one?") == rag.responses[-1]["response"]
    assert "sources" not in rag.responses[-1]
    assert not bot_elements(browser)[-1].find_elements(By.CSS_SELECTOR, ".chat-sources")


def test_an_error_looks_unlike_an_answer_and_links_nowhere(browser, chatbot, rag):
    open_chat(browser, chatbot)
    choose(browser, SHOPPING)
    ask(browser, "Walking shoes?")
    message = ask(browser, "fail to answer")
    assert message.startswith("⚠ Could not get an answer: ")
    assert f"{rag.url}/generate answered 503: the vector database is unreachable" in message
    answer, failure = bot_elements(browser)[-2:]
    [notice] = failure.find_elements(By.CSS_SELECTOR, ".chat-error")
    paragraph = answer.find_element(By.TAG_NAME, "p")
    assert style_of(browser, notice, "color") != style_of(browser, paragraph, "color")
    assert style_of(browser, notice, "background-color") != style_of(browser, paragraph, "background-color")
    # The backend's URL is there to read, not to click.
    assert rag.url in notice.text and not browser.find_elements(By.CSS_SELECTOR, '#chat [data-testid="bot"] a')


def test_the_chosen_assistant_stays_visibly_chosen_after_an_answer(browser, chatbot):
    open_chat(browser, chatbot)
    choose(browser, LOYALTY)  # the pointer stays on the chosen label, as a person's mouse does

    def radio(name: str):
        return browser.find_element(By.CSS_SELECTOR, f'#assistant input[value="{name}"]')

    chosen_look = style_of(browser, radio(LOYALTY), "background-color")
    assert chosen_look != style_of(browser, radio(SHOPPING), "background-color")
    ask(browser, "What is gold status?")
    assert radio(LOYALTY).is_selected()
    soon(
        browser,
        lambda d: style_of(d, radio(LOYALTY), "background-color") == chosen_look,
        "the chosen radio to look chosen",
        seconds=5,
    )
    assert style_of(browser, radio(LOYALTY), "background-color") != style_of(
        browser, radio(SHOPPING), "background-color"
    )


def test_the_page_is_named_for_no_single_assistant(browser, chatbot):
    open_chat(browser, chatbot)
    assert browser.title == "Chat assistants"
    assert text_of(browser.find_element(By.TAG_NAME, "h1")) == "Chat assistants"


def test_no_api_page_and_no_gradio_footer(browser, chatbot):
    open_chat(browser, chatbot)
    assert not browser.find_elements(By.TAG_NAME, "footer")
    page = text_of(browser.find_element(By.TAG_NAME, "body"))
    assert "Use via API" not in page and "Built with Gradio" not in page and "Settings" not in page
    assert httpx.get(f"{chatbot}gradio_api/runs", timeout=10).status_code == 404  # no run history either


def test_an_overlong_question_is_refused_with_the_limit_not_cut(browser, chatbot, rag):
    open_chat(browser, chatbot)
    choose(browser, SHOPPING)
    asked = len(rag.requests)
    question = ("Which of these walking shoes fits wide feet and has a good grip on wet stones? " * 60)[:4321]
    question = question.strip()
    box = browser.find_element(By.CSS_SELECTOR, "#message textarea")
    box.send_keys(question)
    soon(browser, lambda d: box_value(d) == question, "the box to take the whole question")
    box.send_keys(Keys.RETURN)
    notice = soon(
        browser,
        lambda d: [n for n in d.find_elements(By.ID, "message-notice") if n.is_displayed() and n.text],
        "a notice",
    )[0]
    assert text_of(notice) == (
        f"⚠ Your question is {len(question):,} characters long; the limit is 4,000. "
        "Please shorten it and send it again."
    )
    assert len(rag.requests) == asked and user_messages(browser) == []  # nothing sent, nothing cut
    assert box_value(browser) == question and box.is_enabled()  # still there to shorten
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)
    soon(browser, lambda d: box_value(d) == "", "an empty box")
    assert ask(browser, "A short one?").endswith("for A short one?")
    assert not [n for n in browser.find_elements(By.ID, "message-notice") if n.is_displayed() and n.text]


def test_no_assistant_configured_says_so(browser):
    demo, url = serve([])
    try:
        browser.get(url)
        notice = wait(browser, lambda d: d.find_elements(By.ID, "no-assistant"), "the notice")[0]
        assert "No assistant is configured" in notice.text
        assert not browser.find_elements(By.ID, "assistant") and not browser.find_elements(By.ID, "chat")
    finally:
        demo.close()


# --- the image's entry point ----------------------------------------------------------------------


def runs_as_uid_1000(env: dict[str, str]) -> bool:
    """Whether this interpreter and the chatbot's imports work for UID 1000 (root only; the
    interpreter may live where UID 1000 cannot read)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return False
    try:
        probe = subprocess.run(
            [sys.executable, "-c", "import chatbot_ui.config"],
            env=env,
            cwd="/",
            user=1000,
            group=1000,
            capture_output=True,
            timeout=60,
        )
    except OSError:
        return False
    return probe.returncode == 0


def test_module_entry_point_without_private_model(browser, rag, loyalty_server, tmp_path):
    """`python -m chatbot_ui` with the Deployment's environment and no PRIVATE_MODEL_URL: no Private
    model option. Where the tests run as root (and UID 1000 can run this interpreter), it runs as UID
    1000 in a folder it cannot write, with only TMPDIR and HOME writable, as in the pod (read-only root filesystem)."""
    port = free_port()
    writable = Path(tempfile.mkdtemp(prefix="chatbot-writable-"))
    (writable / "home").mkdir()
    (writable / "tmp").mkdir()
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(CHATBOT_DIR),
        "PYTHONDONTWRITEBYTECODE": "1",
        "HOME": str(writable / "home"),
        "XDG_CACHE_HOME": str(writable),
        "TMPDIR": str(writable / "tmp"),
        "RAG_URL": rag.url,
        "LLM_BASE_URL": loyalty_server.base_url,
        "LOYALTY_MODEL": LOYALTY_MODEL,
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
    }  # GRADIO_ANALYTICS_ENABLED: the package sets it
    as_uid_1000 = runs_as_uid_1000(env)
    if as_uid_1000:
        shutil.chown(writable, 1000, 1000)
        for path in writable.rglob("*"):
            shutil.chown(path, 1000, 1000)
        readonly.chmod(0o555)
    process = subprocess.Popen(
        [sys.executable, "-m", "chatbot_ui"],
        cwd=readonly,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **({"user": 1000, "group": 1000} if as_uid_1000 else {}),
    )
    try:
        deadline = time.monotonic() + 60
        while True:  # the readiness probe: GET /
            if process.poll() is not None:
                pytest.fail(f"python -m chatbot_ui exited {process.returncode}:\n{process.stdout.read()}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the chatbot did not answer GET / within 60 s"
            time.sleep(0.2)
        open_chat(browser, f"http://127.0.0.1:{port}/")
        assert assistant_names(browser) == [SHOPPING, LOYALTY]
        assert not browser.find_elements(By.CSS_SELECTOR, f'#assistant input[value="{PRIVATE}"]')
        assert ask(browser, "Walking shoes?").endswith("for Walking shoes?")
        assert list(readonly.iterdir()) == []  # wrote nothing where it runs
    finally:
        process.terminate()
        try:
            output, _ = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
        shutil.rmtree(writable, ignore_errors=True)
    assert "Traceback" not in output, output
