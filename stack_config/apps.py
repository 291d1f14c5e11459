"""`genai-eks:qdrant`, `genai-eks:rag` and `genai-eks:chatbot`: the retrieval-augmented chat."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from stack_config.base import DNS_LABEL, NO_VALUE, Cidr, ConfigModel, Flag, Items, OneOf, Whole, refuse, text

CHATBOT_EXPOSURES = ("none", "loadBalancer", "ingress")
_REPLICAS = Annotated[int, Whole(0, 64)]


class QdrantConfig(ConfigModel):
    """Qdrant, the vector database (its chart), on an encrypted gp3 volume; an API key is generated."""

    enabled: Annotated[bool, Flag()] = Field(True, description="deploy Qdrant, the vector database")
    storage_gib: Annotated[int, Whole(1, 16384)] = Field(20, alias="storageGiB", description="its gp3 volume, GiB")


class RagConfig(ConfigModel):
    """The RAG service (images/rag): retrieves from Qdrant, asks one LLM (the traffic plan says which)."""

    enabled: Annotated[bool, Flag()] = Field(True, description="deploy the RAG service")
    replicas: _REPLICAS = Field(1, description="pods of the RAG service")
    collection: Annotated[
        str, text(r"^[a-zA-Z0-9_-]{1,64}$", "a Qdrant collection name: letters, digits, '_' or '-'")
    ] = Field("products", description="the Qdrant collection")
    catalog_prefix: Annotated[
        str, text(r"^[\w.-]+(/[\w.-]+)*$", "a key prefix in the datasets bucket, e.g. catalog")
    ] = Field(
        "catalog", description="where POST /load_data may read catalogue files in the datasets bucket (read-only)"
    )
    llm_base_url: (
        Annotated[
            str,
            text(
                r"^https?://[^\s/]+(/[^\s]*)?$",
                "an http(s) URL of an OpenAI-compatible API, e.g. https://api.example.com/v1",
            ),
        ]
        | None
    ) = Field(None, description="an external OpenAI-compatible API instead of the in-cluster vLLM (https only)")
    llm_model: Annotated[str, text(r"^[\w./:-]{1,128}$", "a model name the LLM API serves")] | None = Field(
        None,
        description="the model to ask for; required with llmBaseUrl",
        json_schema_extra={"x-default": "the LLM's served name (the default LLM's, or privateModel.servedModelName)"},
    )

    @model_validator(mode="after")
    def _rules(self) -> RagConfig:
        if self.llm_base_url is not None and self.llm_base_url.startswith("http://"):
            refuse("an https URL (prompts and the API key leave the cluster)", self.llm_base_url, at=["llmBaseUrl"])
        if self.llm_base_url is not None and self.llm_model is None:
            refuse("the model name to ask for, when llmBaseUrl is set", NO_VALUE, at=["llmModel"])
        return self


class ChatbotConfig(ConfigModel):
    """The chat UI (images/chatbot): the platform's one public entry, when exposed."""

    enabled: Annotated[bool, Flag()] = Field(True, description="deploy the chat UI")
    replicas: _REPLICAS = Field(1, description="pods of the chat UI")
    exposure: Annotated[Literal["none", "loadBalancer", "ingress"], OneOf(*CHATBOT_EXPOSURES)] = Field(
        "none", description="port-forward only, an internet-facing NLB, or an Ingress with TLS"
    )
    source_ranges: Annotated[tuple[Annotated[str, Cidr()], ...], Items()] = Field(
        (), description="who may reach the NLB; required with loadBalancer, refused otherwise"
    )
    tls_certificate_arn: (
        Annotated[
            str,
            text(r"^arn:aws(-cn|-us-gov)?:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}$", "an ACM certificate ARN"),
        ]
        | None
    ) = Field(None, description="loadBalancer only: TLS on 443 at the NLB with this ACM certificate")
    ingress_class: Annotated[str, text(DNS_LABEL, "an IngressClass name, e.g. alb")] | None = Field(
        None, description="ingress only: the IngressClass; none: the cluster's default"
    )
    ingress_host: (
        Annotated[
            str,
            text(
                r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$",
                "a DNS name, e.g. chat.example.com",
            ),
        ]
        | None
    ) = Field(None, description="ingress only (required there): the host name, e.g. chat.example.com")
    ingress_tls_secret: (
        Annotated[str, text(DNS_LABEL, "a kubernetes.io/tls Secret name in the chatbot namespace")] | None
    ) = Field(None, description="ingress only (required there): a kubernetes.io/tls Secret in the chatbot namespace")

    @model_validator(mode="after")
    def _rules(self) -> ChatbotConfig:
        if self.exposure == "loadBalancer" and not self.source_ranges:
            refuse(
                "at least one CIDR when exposure is loadBalancer (who may reach the chatbot)", [], at=["sourceRanges"]
            )
        if self.exposure != "loadBalancer":
            for key, value in (
                ("sourceRanges", list(self.source_ranges) or None),
                ("tlsCertificateArn", self.tls_certificate_arn),
            ):
                if value:
                    refuse("no value unless exposure is loadBalancer", value, at=[key])
        if self.exposure == "ingress":
            if self.ingress_host is None:
                refuse("a host name when exposure is ingress", NO_VALUE, at=["ingressHost"])
            if self.ingress_tls_secret is None:
                refuse(
                    "a TLS Secret name when exposure is ingress (the only public entry serves HTTPS)",
                    NO_VALUE,
                    at=["ingressTlsSecret"],
                )
        else:
            for key, value in (
                ("ingressClass", self.ingress_class),
                ("ingressHost", self.ingress_host),
                ("ingressTlsSecret", self.ingress_tls_secret),
            ):
                if value is not None:
                    refuse("no value unless exposure is ingress", value, at=[key])
        return self
