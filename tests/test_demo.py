"""scripts/demo wires the local parts as the dev stack wires the cluster's: the same model names,
and a catalogue the RAG service accepts. The browser drives the running demo in
images/chatbot/tests/test_chatbot_demo.py."""

from __future__ import annotations

from rag_service.catalog import REQUIRED_COLUMNS, parse_catalog
from scripts import demo
from tests.test_traffic_plan import traffic


def test_the_demo_asks_for_the_model_names_the_dev_stack_serves():
    plan = traffic("dev")
    assert plan.rag_llm is not None and plan.rag_llm.model == demo.DEFAULT_LLM_NAME
    assert plan.loyalty_adapter == demo.LOYALTY_MODEL
    from stack_config.private_model import DEFAULT_PRIVATE_MODEL

    assert demo.PRIVATE_MODEL == DEFAULT_PRIVATE_MODEL


def test_the_sample_catalogue_has_a_hundred_products_the_rag_service_accepts():
    text = demo.CATALOG.read_text()
    header = text.splitlines()[0].lower().split(",")
    assert set(REQUIRED_COLUMNS) <= set(header)
    products = parse_catalog(text)
    assert len(products) >= 100
    assert len({p.category for p in products}) >= 5


def test_each_part_is_wired_to_the_others(tmp_path):
    llm, rag, chatbot = demo.parts(tmp_path, 7860, 8001, 8002)
    llm_url = "http://127.0.0.1:8001/v1"
    assert llm.command[llm.command.index("--model") + 1] == str(demo.gguf_path())
    assert rag.env["LLM_BASE_URL"] == llm_url and rag.env["LLM_MODEL"] == demo.DEFAULT_LLM_NAME
    assert rag.env["QDRANT_PATH"].startswith(str(tmp_path)) and rag.env["HF_HUB_OFFLINE"] == "1"
    assert chatbot.env["RAG_URL"] == "http://127.0.0.1:8002"
    assert chatbot.env["LLM_BASE_URL"] == chatbot.env["PRIVATE_MODEL_URL"] == llm_url
    assert chatbot.env["LOYALTY_MODEL"] == demo.LOYALTY_MODEL and chatbot.env["PRIVATE_MODEL"] == demo.PRIVATE_MODEL
    assert chatbot.ready_url == "http://127.0.0.1:7860/"
