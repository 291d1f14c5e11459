"""Who may call whom: the platform's traffic plan, derived from which workloads are switched on.

Each workload's NetworkPolicy admits exactly the callers listed here; everything else in its
namespace is denied by default.
"""

from __future__ import annotations

from dataclasses import dataclass

from presets.plan import WorkspacePlan
from stack_config import StackConfig
from workloads import chatbot, inference, jupyterhub, qdrant, rag
from workloads.kube import Peer, ServiceEndpoint


@dataclass(frozen=True)
class Clients:
    inference: dict[str, tuple[Peer, ...]]     # by inference workspace
    qdrant: tuple[Peer, ...]
    rag: tuple[Peer, ...]
    private_model: tuple[Peer, ...]
    notebook_upstreams: tuple[ServiceEndpoint, ...]


def plan_clients(config: StackConfig, plan: WorkspacePlan) -> Clients:
    notebooks = (jupyterhub.NOTEBOOK_PEER,) if config.jupyterhub.enabled else ()
    chat = (Peer(chatbot.NAMESPACE, chatbot.POD_LABELS),) if config.chatbot.enabled else ()
    rag_service = (Peer(rag.NAMESPACE, rag.POD_LABELS),) if config.rag.enabled else ()
    rag_uses_private_model = config.rag.enabled and config.private_model.rag_uses_private_model
    rag_uses_inference = config.rag.enabled and config.rag.llm_base_url is None and not rag_uses_private_model
    default_llm = plan.default_llm.name if plan.default_llm else None
    return Clients(
        # Notebooks may call every model and the vector database: that is what data scientists do
        # there. The chatbot and the RAG service ask only the default LLM (the first inference workspace).
        inference={s.name: (chat + (rag_service if rag_uses_inference else ()) if s.name == default_llm else ()) + notebooks
                   for s in plan.serving},
        qdrant=rag_service + notebooks,
        rag=chat,
        # The private model is offered in the chatbot, and to the RAG service when it uses it.
        private_model=(chat + (rag_service if rag_uses_private_model else ())) if config.private_model.enabled else (),
        notebook_upstreams=tuple(inference.endpoint(s) for s in plan.serving)
        + ((qdrant.ENDPOINT,) if config.qdrant.enabled else ()),
    )
