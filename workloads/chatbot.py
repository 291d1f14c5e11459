"""`Chatbot`: the Gradio chat UI (its code is images/chatbot), the platform's only public entry.

Reached by port-forward (exposure `none`), an internet-facing NLB limited to configured source
ranges (optionally TLS with an ACM certificate), or an Ingress that terminates TLS.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.platform import Platform
from stack_config import ChatbotConfig
from workloads import kube, web_app

NAMESPACE = "chatbot"
APP = "chatbot"
PORT = 7860  # Gradio's
POD_LABELS = kube.app_labels(APP)


@dataclass(frozen=True)
class Assistants:
    """The backends the UI offers; an assistant without a backend is not shown."""

    shopping: kube.ServiceEndpoint | None = None  # the RAG service
    loyalty: kube.ServiceEndpoint | None = None  # the inference service...
    loyalty_model: str | None = None  # ...and the fine-tuned adapter it serves
    private: kube.ServiceEndpoint | None = None  # the private model's Skupper Listener...
    private_model: str | None = None  # ...and the model name it serves

    @property
    def upstreams(self) -> list[kube.ServiceEndpoint]:
        return [e for e in (self.shopping, self.loyalty, self.private) if e is not None]


def chatbot_environment(assistants: Assistants) -> dict[str, str]:
    environment = {
        "GRADIO_ANALYTICS_ENABLED": "False",
        "GRADIO_SERVER_NAME": "0.0.0.0",
        "GRADIO_SERVER_PORT": str(PORT),
    }
    if assistants.shopping is not None:
        environment["RAG_URL"] = assistants.shopping.url
    if assistants.loyalty is not None and assistants.loyalty_model:
        environment["LLM_BASE_URL"] = assistants.loyalty.url
        environment["LOYALTY_MODEL"] = assistants.loyalty_model
    if assistants.private is not None and assistants.private_model:
        environment["PRIVATE_MODEL_URL"] = assistants.private.url
        environment["PRIVATE_MODEL"] = assistants.private_model
    return environment


def service_shape(config: ChatbotConfig) -> tuple[str, int, Mapping[str, str]]:
    """Service type, port and annotations for the configured exposure."""
    if config.exposure != "loadBalancer":
        return "ClusterIP", 80, {}
    if config.tls_certificate_arn is None:
        return "LoadBalancer", 80, kube.NLB_ANNOTATIONS
    return (
        "LoadBalancer",
        443,
        {
            **kube.NLB_ANNOTATIONS,
            "service.beta.kubernetes.io/aws-load-balancer-ssl-cert": config.tls_certificate_arn,
            "service.beta.kubernetes.io/aws-load-balancer-ssl-ports": "443",
        },
    )


@dataclass(frozen=True)
class ChatbotArgs:
    platform: Platform
    config: ChatbotConfig
    namespace: kube.WorkloadNamespace
    assistants: Assistants


class Chatbot(pulumi.ComponentResource):
    def __init__(self, name: str, args: ChatbotArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("genai:workloads:Chatbot", name, None, opts)
        config, platform = args.config, args.platform
        namespace = args.namespace.name
        k8s_opts = args.namespace.child_opts(self, platform.provider)
        service_type, service_port, annotations = service_shape(config)
        spec = web_app.WebAppSpec(
            app=APP,
            namespace=namespace,
            port=PORT,
            service_port=service_port,
            replicas=config.replicas,
            image=platform.images["chatbot"],
            health_path="/",
            environment=chatbot_environment(args.assistants),
        )
        self.deployment, self.service = web_app.web_app(
            name,
            spec,
            service_type=service_type,
            load_balancer_source_ranges=config.source_ranges,
            # A LoadBalancer Service is awaited until the cloud controller writes the NLB's hostname.
            service_annotations=annotations,
            opts=k8s_opts,
        )
        if config.exposure == "ingress":
            assert config.ingress_host is not None  # the chatbot rules require ingressHost for ingress
            k8s.networking.v1.Ingress(
                # Not awaited: the address comes from the ingress controller of `ingressClass`, which this
                # program does not install; pulumi-kubernetes would wait for it (provider/pkg/await/ingress.go).
                f"{name}-ingress",
                metadata=kube.object_meta(APP, namespace, POD_LABELS, kube.SKIP_AWAIT),
                spec=k8s.networking.v1.IngressSpecArgs(
                    ingress_class_name=config.ingress_class,
                    tls=[
                        k8s.networking.v1.IngressTLSArgs(
                            hosts=[config.ingress_host], secret_name=config.ingress_tls_secret
                        )
                    ],
                    rules=[
                        k8s.networking.v1.IngressRuleArgs(
                            host=config.ingress_host,
                            http=k8s.networking.v1.HTTPIngressRuleValueArgs(
                                paths=[
                                    k8s.networking.v1.HTTPIngressPathArgs(
                                        path="/",
                                        path_type="Prefix",
                                        backend=k8s.networking.v1.IngressBackendArgs(
                                            service=k8s.networking.v1.IngressServiceBackendArgs(
                                                name=APP,
                                                port=k8s.networking.v1.ServiceBackendPortArgs(number=service_port),
                                            )
                                        ),
                                    )
                                ]
                            ),
                        ),
                    ],
                ),
                opts=pulumi.ResourceOptions.merge(k8s_opts, pulumi.ResourceOptions(depends_on=[self.service])),
            )
        # Public modes: clients' addresses reach the pods (the NLB keeps them; its security group
        # rules come from sourceRanges). Port-forward needs no rule.
        kube.allow_traffic(
            f"{name}-traffic",
            namespace=namespace,
            pod_labels=POD_LABELS,
            ingress_port=PORT,
            ingress_from_anywhere=config.exposure != "none",
            egress_to=args.assistants.upstreams,
            opts=k8s_opts,
        )
        self.endpoint = kube.ServiceEndpoint(NAMESPACE, APP, service_port, POD_LABELS, PORT)
        self.register_outputs({})
