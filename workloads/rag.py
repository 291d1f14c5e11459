"""`RagService`: the retrieval-augmented shopping assistant's API (its code is images/rag).

It reads product catalogues from one prefix of the datasets bucket (IRSA, read-only), stores
vectors in Qdrant, and asks an OpenAI-compatible endpoint (the in-cluster inference service, or
an external API) for answers. Its settings are env values; the keys are Secret references.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi

from infra.identity import BucketAccess, bucket_access_policy
from infra.platform import Platform
from stack_config import RagConfig
from workloads import kube, web_app

NAMESPACE = "rag"
APP = "rag"
SERVICE_ACCOUNT = "rag"
PORT = 8000
POD_LABELS = kube.app_labels(APP)
ENDPOINT = kube.ServiceEndpoint(NAMESPACE, APP, PORT, POD_LABELS, PORT)
QDRANT_KEY_SECRET = "qdrant-api-key"
LLM_KEY_SECRET = "llm-api-key"
EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


@dataclass(frozen=True)
class LlmEndpoint:
    """Where the RAG service asks for answers."""

    base_url: str
    model: str
    in_cluster: kube.ServiceEndpoint | None = None  # for the egress rule; None: an external https API


def catalog_policy(datasets_arn: str, config: RagConfig) -> dict[str, Any]:
    return bucket_access_policy([BucketAccess(datasets_arn, config.catalog_prefix, write=False)])


@dataclass(frozen=True)
class RagServiceArgs:
    platform: Platform
    config: RagConfig
    namespace: kube.WorkloadNamespace
    qdrant: kube.ServiceEndpoint
    qdrant_api_key: pulumi.Input[str]
    llm: LlmEndpoint
    clients: Sequence[kube.Peer] = ()
    llm_api_key: str | None = None  # the top-level secret ragLlmApiKey (an external LLM API)


class RagService(pulumi.ComponentResource):
    def __init__(self, name: str, args: RagServiceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("genai:workloads:RagService", name, None, opts)
        config, platform = args.config, args.platform
        namespace = args.namespace.name
        k8s_opts = args.namespace.child_opts(self, platform.provider)

        policy = platform.datasets_bucket.arn.apply(lambda arn: json.dumps(catalog_policy(arn, config)))
        self.role, account = kube.workload_identity(
            name,
            oidc=platform.oidc,
            namespace=namespace,
            account=SERVICE_ACCOUNT,
            policy_json=policy,
            labels=POD_LABELS,
            parent=self,
            k8s_opts=k8s_opts,
        )
        depends: list[pulumi.Resource] = [
            account,
            # Secrets do not cross namespaces: the RAG service gets its own copy of Qdrant's key.
            kube.opaque_secret(
                f"{name}-qdrant-key",
                secret_name=QDRANT_KEY_SECRET,
                namespace=namespace,
                data={"api-key": args.qdrant_api_key},
                opts=k8s_opts,
            ),
        ]
        secret_env = [kube.secret_env("QDRANT_API_KEY", QDRANT_KEY_SECRET, "api-key")]
        if args.llm_api_key is not None:
            depends.append(
                kube.opaque_secret(
                    f"{name}-llm-key",
                    secret_name=LLM_KEY_SECRET,
                    namespace=namespace,
                    data={"api-key": args.llm_api_key},
                    opts=k8s_opts,
                )
            )
            secret_env.append(kube.secret_env("LLM_API_KEY", LLM_KEY_SECRET, "api-key"))

        spec = web_app.WebAppSpec(
            app=APP,
            namespace=namespace,
            port=PORT,
            service_port=PORT,
            replicas=config.replicas,
            image=platform.images["rag"],
            health_path="/healthz",
            environment={
                "QDRANT_URL": args.qdrant.url,
                "QDRANT_COLLECTION": config.collection,
                "LLM_BASE_URL": args.llm.base_url,
                "LLM_MODEL": args.llm.model,
                "EMBEDDING_MODEL": EMBEDDING_MODEL,
                "CATALOG_URI_PREFIX": pulumi.Output.concat(
                    "s3://", platform.datasets_bucket.name, f"/{config.catalog_prefix}/"
                ),
                "PORT": str(PORT),
            },
            secret_environment=secret_env,
            service_account=SERVICE_ACCOUNT,
            cpu="500m",
            memory="1Gi",
            cpu_limit="2",
            memory_limit="3Gi",  # embeddings run on the CPU
            cache_size="4Gi",
        )
        # Conversation history lives in each replica's memory: a client keeps talking to one replica.
        self.deployment, self.service = web_app.web_app(
            name,
            spec,
            session_affinity="ClientIP",
            opts=pulumi.ResourceOptions.merge(k8s_opts, pulumi.ResourceOptions(depends_on=depends)),
        )
        upstreams = [args.qdrant] + ([args.llm.in_cluster] if args.llm.in_cluster else [])
        # 443 out: S3 and STS for catalogues, Hugging Face for a non-default embedding model (the
        # default is bundled), an external LLM API.
        kube.allow_traffic(
            f"{name}-traffic",
            namespace=namespace,
            pod_labels=POD_LABELS,
            ingress_from=args.clients,
            ingress_port=PORT,
            egress_to=upstreams,
            egress=kube.Egress(https_to_internet=True),
            opts=k8s_opts,
        )
        self.endpoint = ENDPOINT
        self.register_outputs({"url": ENDPOINT.url})
