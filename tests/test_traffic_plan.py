"""The traffic plan's choices, from config alone: which LLM the RAG service asks, and which adapter the
chatbot's loyalty assistant uses (they used to be decided in __main__.py)."""

from __future__ import annotations

import copy

from presets.plan import plan_workspaces
from stack_config import parse_stack_config
from tests.harness import stack_config
from workloads.traffic_plan import RagLlm, RagLlmSource, plan_traffic

RAG, PRIVATE, WORKSPACES = "genai-eks:rag", "genai-eks:privateModel", "genai-eks:workspaces"


def traffic(stack: str, **changes: dict) -> object:
    raw = copy.deepcopy(stack_config(stack))
    for key, values in changes.items():
        raw[f"genai-eks:{key}"] = {**raw.get(f"genai-eks:{key}", {}), **values}
    config = parse_stack_config(raw, stack, secret_keys={"genai-eks:ragLlmApiKey"})
    return plan_traffic(config, plan_workspaces(config))


def test_the_rag_service_asks_the_default_llm_by_its_served_name():
    plan = traffic("dev")
    assert plan.rag_llm == RagLlm(RagLlmSource.WORKSPACE, "qwen2.5-7b-instruct", "llm")
    assert plan.loyalty_adapter == "loyalty"  # dev's llm serves the loyalty adapter


def test_rag_llm_model_overrides_the_served_name():
    assert traffic("dev", rag={"llmModel": "loyalty"}).rag_llm == RagLlm(RagLlmSource.WORKSPACE, "loyalty", "llm")


def test_the_rag_service_may_ask_the_private_model():
    plan = traffic("dev", privateModel={"ragUsesPrivateModel": True})
    assert plan.rag_llm == RagLlm(RagLlmSource.PRIVATE_MODEL, "deepseek-r1-distill-qwen-1.5b")
    assert plan.inference["llm"] and all(p.namespace != "rag" for p in plan.inference["llm"])
    assert any(p.namespace == "rag" for p in plan.private_model)


def test_an_external_llm_is_asked_for_its_model_and_the_workspaces_are_not_called_by_rag():
    plan = traffic("dev", rag={"llmBaseUrl": "https://api.example.com/v1", "llmModel": "gpt-4o-mini"})
    assert plan.rag_llm == RagLlm(RagLlmSource.EXTERNAL, "gpt-4o-mini")
    assert all(p.namespace != "rag" for p in plan.inference["llm"])


def test_no_rag_service_no_choice_and_prod_offers_its_first_adapter():
    assert traffic("dev", rag={"enabled": False}).rag_llm is None
    assert traffic("prod").loyalty_adapter == "loyalty"
