"""`genai-eks:privateModel`: a model served outside AWS, reached over a Skupper link."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from stack_config.base import ConfigModel, Flag, Whole, refuse, text

# The Skupper release the private-model link is built and tested against (its CRDs are in the
# test reference schemas): a patch release of 2.2 only.
SKUPPER_VERSION = "2.2.1"
DEFAULT_PRIVATE_MODEL = "deepseek-r1-distill-qwen-1.5b"


class PrivateModelConfig(ConfigModel):
    """The cluster's side of the link (workloads/private_model.py)."""

    enabled: Annotated[bool, Flag()] = Field(False, description="link a model served outside AWS over Skupper")
    routing_key: Annotated[
        str,
        text(
            r"^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$",
            ("1 to 63 lower-case letters, digits, '.' or '-' (the private site's Connector uses the same key)"),
        ),
    ] = Field("private-llm", description="the Listener's routing key; the private site's Connector uses the same")
    port: Annotated[int, Whole(1, 65535)] = Field(
        8000, description="the port of the Service private-llm in the cluster"
    )
    served_model_name: Annotated[
        str,
        text(r"^[\w./:-]{1,128}$", ("the model name the private server serves, e.g. deepseek-r1-distill-qwen-1.5b")),
    ] = Field(DEFAULT_PRIVATE_MODEL, description="the model the chatbot (and RAG) ask the private server for")
    rag_uses_private_model: Annotated[bool, Flag()] = Field(
        False,
        description=(
            "the RAG service asks the private model instead of vLLM (needs rag.enabled; refused with rag.llmBaseUrl)"
        ),
    )
    skupper_version: Annotated[
        str,
        text(
            r"^2\.2\.\d{1,3}$",
            (f"a Skupper 2.2 release, e.g. {SKUPPER_VERSION} (the CRDs this program is tested against)"),
        ),
    ] = Field(SKUPPER_VERSION, description="the Skupper release whose controller is installed in the cluster")

    @model_validator(mode="after")
    def _rules(self) -> PrivateModelConfig:
        if self.rag_uses_private_model and not self.enabled:
            refuse("false unless privateModel.enabled is true", True, at=["ragUsesPrivateModel"])
        return self
