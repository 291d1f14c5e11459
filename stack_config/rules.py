"""Rules that span sections: what one workload needs from another, from the node groups and from
the top-level secrets. Each names the key to change."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stack_config.base import NO_VALUE, PROJECT, refuse
from stack_config.base import project_key as _key
from stack_config.workspaces import check_workspaces

if TYPE_CHECKING:
    from stack_config.stack import StackConfig


def check(config: StackConfig) -> None:
    config.network.check_zones(config.region, _key("network"))
    # A pool's name is its nodes' genai.platform/node-pool label: one name, one set of nodes.
    names = [(p.name, _key("gpuNodePools"), i) for i, p in enumerate(config.gpu_node_pools)]
    names += [(g.name, _key("gpuNodeGroups"), i) for i, g in enumerate(config.gpu_node_groups)]
    for j, (name, key, i) in enumerate(names):
        if name in [n for n, _, _ in names[:j]] or name == config.system_node_group.name:
            refuse("a name used by no other node group or pool", name, at=[key, i, "name"])
    # The chart places one controller per node (required anti-affinity on the hostname).
    if config.gpu_node_pools and config.karpenter.replicas > config.system_node_group.min_size:
        refuse(
            f"at most systemNodeGroup.minSize ({config.system_node_group.min_size}): Karpenter's chart runs one "
            "controller per node",
            config.karpenter.replicas,
            at=[_key("karpenter"), "replicas"],
        )
    _check_secrets(config)
    check_workspaces(config.workspaces, _key("workspaces"))
    for i, workspace in enumerate(config.workspaces):
        if workspace.spec.gated and config.hugging_face_token is None:
            at, value = workspace.model_key
            refuse(
                f"a model that is not gated, or a token: pulumi config set --secret {PROJECT}:huggingFaceToken hf_... "
                f"({workspace.spec.hugging_face_id} is gated)",
                value,
                at=[_key("workspaces"), i, *at],
            )
    _check_workloads(config)


def _check_secrets(config: StackConfig) -> None:
    hub = config.jupyterhub
    if hub.authenticator == "github" and config.github_client_secret is None:
        refuse(
            f"a secret (pulumi config set --secret {PROJECT}:githubClientSecret <secret>) when authenticator is github",
            at=[_key("githubClientSecret")],
        )
    if hub.authenticator != "github" and config.github_client_secret is not None:
        refuse("no value unless jupyterhub.authenticator is github", "[secret]", at=[_key("githubClientSecret")])
    if config.rag.llm_base_url is None and config.rag_llm_api_key is not None:
        refuse("no value unless rag.llmBaseUrl names an external API", "[secret]", at=[_key("ragLlmApiKey")])


def _check_workloads(config: StackConfig) -> None:
    images = set(config.registries.images)
    finetune = [i for i, w in enumerate(config.workspaces) if w.finetune is not None]
    if finetune and "finetune" not in images:
        refuse(
            "no finetune workspace, or 'finetune' in registries.images (its image repository)",
            config.workspaces[finetune[0]].name,
            at=[_key("workspaces"), finetune[0], "finetune"],
        )
    for section, enabled, image in (("rag", config.rag.enabled, "rag"), ("chatbot", config.chatbot.enabled, "chatbot")):
        if enabled and image not in images:
            refuse(
                f"false, or '{image}' in registries.images (its image repository)", True, at=[_key(section), "enabled"]
            )
    if config.rag.enabled and not config.qdrant.enabled:
        refuse(
            "false, or qdrant.enabled true (the RAG service stores its vectors there)",
            True,
            at=[_key("rag"), "enabled"],
        )
    private = config.private_model
    if private.rag_uses_private_model and not config.rag.enabled:
        refuse("false unless rag.enabled is true", True, at=[_key("privateModel"), "ragUsesPrivateModel"])
    if private.rag_uses_private_model and config.rag.llm_base_url is not None:
        refuse(
            "false when rag.llmBaseUrl names an external API (the RAG service asks one LLM)",
            True,
            at=[_key("privateModel"), "ragUsesPrivateModel"],
        )
    serves = any(w.inference is not None for w in config.workspaces)
    if config.rag.enabled and config.rag.llm_base_url is None and not private.rag_uses_private_model and not serves:
        refuse(
            "an external LLM API URL when no workspace serves a model (or privateModel.ragUsesPrivateModel true)",
            NO_VALUE,
            at=[_key("rag"), "llmBaseUrl"],
        )
