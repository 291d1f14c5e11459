"""The traffic plan: who may call whom, and which model each caller asks, derived from which
workloads are switched on and from the planned workspaces.

Each workload's NetworkPolicy admits exactly the callers listed here; everything else in its
namespace is denied by default. The same plan says which LLM the RAG service asks and which
adapter the chatbot's loyalty assistant uses, so `__main__.py` only wires endpoints to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from presets.plan import WorkspacePlan
from stack_config import StackConfig
from workloads import chatbot, inference, jupyterhub, private_model, qdrant, rag
from workloads.kube import Peer, ServiceEndpoint
from workloads.rag import LlmEndpoint


class RagLlmSource(Enum):
    EXTERNAL = "an external OpenAI-compatible API (rag.llmBaseUrl)"
    PRIVATE_MODEL = "the private model over the Skupper link"
    WORKSPACE = "the default LLM, the first inference workspace"


@dataclass(frozen=True)
class RagLlm:
    """The one LLM the RAG service asks, and the model name it asks for."""

    source: RagLlmSource
    model: str
    workspace: str | None = None  # source WORKSPACE: the inference workspace's name

    def endpoint(self, config: StackConfig, workspaces: WorkspacePlan) -> LlmEndpoint:
        """Where the RAG service sends its requests, and the in-cluster Service its egress rule admits."""
        if self.source is RagLlmSource.EXTERNAL:
            assert config.rag.llm_base_url is not None  # EXTERNAL means llmBaseUrl is set
            return LlmEndpoint(config.rag.llm_base_url, self.model)
        if self.source is RagLlmSource.PRIVATE_MODEL:
            service = private_model.endpoint(config.private_model)
        else:
            service = inference.endpoint(next(s for s in workspaces.serving if s.name == self.workspace))
        return LlmEndpoint(service.url, self.model, service)


@dataclass(frozen=True)
class TrafficPlan:
    inference: dict[str, tuple[Peer, ...]]  # callers, by inference workspace
    qdrant: tuple[Peer, ...]
    rag: tuple[Peer, ...]
    private_model: tuple[Peer, ...]
    notebook_upstreams: tuple[ServiceEndpoint, ...]
    rag_llm: RagLlm | None  # None: no RAG service
    rag_llm_endpoint: LlmEndpoint | None  # rag_llm's endpoint
    loyalty_adapter: str | None  # the chatbot's loyalty assistant: the default LLM's first adapter


def _rag_llm(config: StackConfig, workspaces: WorkspacePlan) -> RagLlm | None:
    if not config.rag.enabled:
        return None
    if config.rag.llm_base_url is not None:
        assert config.rag.llm_model is not None  # the config rules require it with llmBaseUrl
        return RagLlm(RagLlmSource.EXTERNAL, config.rag.llm_model)
    if config.private_model.rag_uses_private_model:
        return RagLlm(RagLlmSource.PRIVATE_MODEL, config.rag.llm_model or config.private_model.served_model_name)
    llm = workspaces.default_llm
    assert llm is not None  # the config rules require an LLM for the RAG service
    return RagLlm(RagLlmSource.WORKSPACE, config.rag.llm_model or llm.served_model_name, llm.name)


def plan_traffic(config: StackConfig, workspaces: WorkspacePlan) -> TrafficPlan:
    notebooks = (jupyterhub.NOTEBOOK_PEER,) if config.jupyterhub.enabled else ()
    chat = (Peer(chatbot.NAMESPACE, chatbot.POD_LABELS),) if config.chatbot.enabled else ()
    rag_service = (Peer(rag.NAMESPACE, rag.POD_LABELS),) if config.rag.enabled else ()
    rag_llm = _rag_llm(config, workspaces)
    rag_asks = rag_llm.source if rag_llm else None
    default_llm = workspaces.default_llm
    return TrafficPlan(
        # Notebooks may call every model and the vector database: that is what data scientists do
        # there. The chatbot and the RAG service ask only the default LLM (the first inference workspace).
        inference={
            s.name: (
                chat + (rag_service if rag_asks is RagLlmSource.WORKSPACE else ())
                if default_llm and s.name == default_llm.name
                else ()
            )
            + notebooks
            for s in workspaces.serving
        },
        qdrant=rag_service + notebooks,
        rag=chat,
        # The private model is offered in the chatbot, and to the RAG service when it uses it.
        private_model=(chat + (rag_service if rag_asks is RagLlmSource.PRIVATE_MODEL else ()))
        if config.private_model.enabled
        else (),
        notebook_upstreams=tuple(inference.endpoint(s) for s in workspaces.serving)
        + ((qdrant.ENDPOINT,) if config.qdrant.enabled else ()),
        rag_llm=rag_llm,
        rag_llm_endpoint=rag_llm.endpoint(config, workspaces) if rag_llm else None,
        loyalty_adapter=default_llm.config.adapters[0] if default_llm and default_llm.config.adapters else None,
    )
