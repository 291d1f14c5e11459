"""`PrivateModelClusterSite`: a model served outside AWS (on premises, a laptop, another cloud), reached by
the platform as an in-cluster Service over a Skupper link.

In the namespace `private-model` the program creates a Skupper `Site` with link access (the
controller puts the router's inter-router and edge ports behind a LoadBalancer Service), a
`Listener` that gives the cluster the Service `private-llm` for the routing key, and a
`Certificate`: a client certificate signed by the site's CA (`skupper-site-ca`) that the
controller issues into a Secret of the same name. The private site links in with a *static* Link
to the Site's endpoints, authenticated by that certificate — what `skupper link generate
--generate-credential` prints — so it never redeems a one-time token and can restart, or be
re-created, at will. Its `Connector` uses the same routing key and points at its model server.

The private side (`scripts/`, `private_host/`) consumes two stack outputs. The contract:

`privateModel` (plain JSON object, OUTPUT_PRIVATE_MODEL)::

    {"namespace": "private-model", "siteName": "genai-dev", "linkName": "link-genai-dev",
     "routingKey": "private-llm", "port": 8000, "listenerHost": "private-llm",
     "url": "http://private-llm.private-model.svc.cluster.local:8000/v1",
     "servedModelName": "deepseek-r1-distill-qwen-1.5b", "skupperVersion": "2.2.1"}

- `routingKey`: the private site's Connector must use exactly this `spec.routingKey`.
- `port`: the Listener's (cluster-side) port; the Connector's `spec.port` is the port of the
  private model server, which may differ.
- `servedModelName`: the model name the chatbot asks for; the private server must serve the
  OpenAI API under `/v1` with this model id.
- `siteName` is the cluster's `cluster.name`; `linkName` is `link-<siteName>`, the name of the
  Link and of its TLS Secret (one private site can link to several stacks).

`privateModelLink` (SECRET JSON object, OUTPUT_PRIVATE_MODEL_LINK), ready to write as YAML into
the private site's resources (no namespace set)::

    {"link": {"apiVersion": "skupper.io/v2alpha1", "kind": "Link", "metadata": {"name": "link-genai-dev"},
              "spec": {"endpoints": [{"name": "inter-router", "host": "<LB host>", "port": "55671", "group": "skupper-router"},
                                     {"name": "edge", "host": "<LB host>", "port": "45671", "group": "skupper-router"}],
                       "tlsCredentials": "link-genai-dev", "cost": 1}},
     "secret": {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls", "metadata": {"name": "link-genai-dev"},
                "data": {"ca.crt": "<base64 PEM>", "tls.crt": "<base64 PEM>", "tls.key": "<base64 PEM>"}}}

`link.spec.endpoints` is the Site's `status.endpoints` verbatim (ports are strings);
`link.spec.tlsCredentials` equals `secret.metadata.name`; `secret.data` is the controller-issued
Secret's data (base64 PEM; the certificate is valid for 5 years, `ca.crt` is the site CA). Read
with `pulumi stack output --json --show-secrets`; both outputs exist only when
`privateModel.enabled` is true.
"""  # noqa: E501 (the JSON output, laid out as it nests)

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.platform import Platform
from stack_config import PrivateModelConfig
from workloads import kube
from workloads.skupper import SkupperController
from workloads.skupper_types import (
    WAIT_FOR_READY,
    Certificate,
    Link,
    LinkEndpoint,
    Listener,
    Site,
    SkupperResource,
)

NAMESPACE = "private-model"
LISTENER_HOST = "private-llm"  # the Service the controller creates for the Listener
API_PATH = "/v1"  # the private server speaks the OpenAI API under /v1
OUTPUT_PRIVATE_MODEL = "privateModel"
OUTPUT_PRIVATE_MODEL_LINK = "privateModelLink"
SITE_CA = "skupper-site-ca"  # the CA Secret the controller creates for every Site
LINK_COST = 1
CLIENT_SUBJECT = "private-model-site"

# What the controller makes from a Site (internal/kube/site of skupperproject/skupper 2.2):
# the router Deployment `skupper-router` and its pods' labels...
ROUTER_POD_LABELS = {
    "app.kubernetes.io/name": "skupper-router",
    "app.kubernetes.io/part-of": "skupper",
    "application": "skupper-router",
    "skupper.io/component": "router",
    "skupper.io/group": "skupper-router",
    "skupper.io/type": "site",
}
# ...the selector of the Services it creates for Listeners (internal/kube/site/site.go getLabelsForRouter).
# Clients' egress rules name the router by this selector, not by more labels: the VPC CNI's controller
# admits a Service's ClusterIP for a rule only when the Service's selector holds every label of the
# rule's podSelector (aws/amazon-network-policy-controller-k8s pkg/resolvers/endpoints.go
# getMatchingServiceClusterIPs), and its agent checks egress before kube-proxy's DNAT.
ROUTER_SERVICE_SELECTOR = {"application": "skupper-router", "skupper.io/component": "router"}
ROUTER_POLICY_SELECTOR = {"app.kubernetes.io/name": "skupper-router", "skupper.io/component": "router"}
# ...the ports remote sites link to (the default RouterAccess `skupper-router`: roles inter-router
# and edge), exposed by a LoadBalancer Service of the same name...
INTER_ROUTER_PORT = 55671
EDGE_PORT = 45671
LINK_PORTS = (INTER_ROUTER_PORT, EDGE_PORT)
# ...and the ports the router pod listens on itself: amqps (5671, mTLS), local amqp (5672,
# localhost), health and metrics (9090), and the kube-adaptor's metrics (9000) and health (9191).
ROUTER_OWN_PORTS = (5671, 5672, 9000, 9090, 9191, EDGE_PORT, INTER_ROUTER_PORT)
# A Listener's Service port maps to a router pod port the controller allocates (skupper 2.2.1,
# internal/qdr/port_mapping.go GetPortForKey): the lowest free port of a pool that starts at 1024
# (internal/ports/ports.go NewFreePorts, NextFreePort), the router's own ports above taken out
# (RecoverPortMapping). The site's one Listener therefore gets 1024, again after a controller restart:
# `recovered` releases the port it recovers, so the Listener is allocated afresh from the same pool.
# The controller rewrites only a rule port that starts at the Service's targetPort (pkg/k8s/
# service_utils.go LookupServiceListenPort), so clients' rules name exactly this port.
LISTENER_POD_PORT = 1024


def link_name(site_name: str) -> str:
    """`skupper link generate` names a site's link (and its TLS Secret) link-<site>."""
    return f"link-{site_name}"


def endpoint(config: PrivateModelConfig) -> kube.ServiceEndpoint:
    """The Listener's Service, as clients see it."""
    return kube.ServiceEndpoint(
        NAMESPACE, LISTENER_HOST, config.port, ROUTER_SERVICE_SELECTOR, target_port=LISTENER_POD_PORT, path=API_PATH
    )


def site(site_name: str) -> Site:
    return Site(name=site_name, namespace=NAMESPACE, link_access="default")


def listener(config: PrivateModelConfig) -> Listener:
    return Listener(
        name=LISTENER_HOST,
        namespace=NAMESPACE,
        routing_key=config.routing_key,
        host=LISTENER_HOST,
        port=config.port,
        type="tcp",
    )


def client_certificate(site_name: str) -> Certificate:
    """What `skupper link generate --generate-credential` creates: a client certificate of the site CA."""
    return Certificate(name=link_name(site_name), namespace=NAMESPACE, ca=SITE_CA, subject=CLIENT_SUBJECT, client=True)


def static_link(site_name: str, endpoints: Sequence[Mapping[str, Any]]) -> Link:
    """The Link the private site applies: this site's endpoints and the client certificate."""
    return Link(
        name=link_name(site_name),
        endpoints=tuple(LinkEndpoint.from_status(e) for e in endpoints),
        tls_credentials=link_name(site_name),
        cost=LINK_COST,
    )


def link_secret(site_name: str, data: Mapping[str, str]) -> dict[str, Any]:
    """The client certificate as the private site's TLS Secret (base64 values, as in the cluster)."""
    missing = {"ca.crt", "tls.crt", "tls.key"} - set(data or {})
    if missing:
        raise ValueError(f"the Secret {NAMESPACE}/{link_name(site_name)} lacks {sorted(missing)}")
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {"name": link_name(site_name)},
        "data": {k: data[k] for k in ("ca.crt", "tls.crt", "tls.key")},
    }


def site_endpoints(status: Mapping[str, Any] | None, site_name: str) -> list[Mapping[str, Any]]:
    endpoints = (status or {}).get("endpoints") or []
    if not pulumi.runtime.is_dry_run() and not endpoints:
        raise ValueError(f"Site {NAMESPACE}/{site_name} reports no link endpoints: is its link access resolved?")
    return endpoints


def outputs(config: PrivateModelConfig, site_name: str) -> dict[str, Any]:
    """The plain `privateModel` output: what the private site and a reader need besides the secret."""
    service = endpoint(config)
    return {
        "namespace": NAMESPACE,
        "siteName": site_name,
        "linkName": link_name(site_name),
        "routingKey": config.routing_key,
        "port": config.port,
        "listenerHost": LISTENER_HOST,
        "url": service.url,
        "servedModelName": config.served_model_name,
        "skupperVersion": config.skupper_version,
    }


@dataclass(frozen=True)
class PrivateModelClusterSiteArgs:
    platform: Platform
    config: PrivateModelConfig
    namespace: kube.WorkloadNamespace  # Pod Security "baseline": the router sets no seccomp profile
    controller: SkupperController
    site_name: str  # the cluster's name: the remote site sees it
    clients: Sequence[kube.Peer] = ()  # who may call the private model


class PrivateModelClusterSite(pulumi.ComponentResource):
    def __init__(self, name: str, args: PrivateModelClusterSiteArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("genai:workloads:PrivateModelClusterSite", name, None, opts)
        config, provider, site_name = args.config, args.platform.provider, args.site_name
        ns_opts = args.namespace.child_opts(self, provider)
        # Custom resources need the CRDs and a running controller: after the install.
        after_controller = pulumi.ResourceOptions.merge(ns_opts, pulumi.ResourceOptions(depends_on=[args.controller]))

        # The router's traffic, opened before the router starts (its sidecar calls the API at once).
        router_policy = self._router_policy(name, args, ns_opts)
        # `pulumi up` waits until the Site is Ready: router running, CA issued, and the load
        # balancer's address known (status.endpoints), which the Link below needs.
        self.site = SkupperResource(
            f"{name}-site",
            site(site_name),
            annotations=WAIT_FOR_READY,
            opts=pulumi.ResourceOptions.merge(
                after_controller,
                pulumi.ResourceOptions(
                    depends_on=[router_policy], custom_timeouts=pulumi.CustomTimeouts(create="20m", update="20m")
                ),
            ),
        )
        self.listener = SkupperResource(
            f"{name}-listener",
            listener(config),
            opts=pulumi.ResourceOptions.merge(after_controller, pulumi.ResourceOptions(depends_on=[self.site])),
        )
        # The CA exists once the Site is Ready; the controller issues the Secret, then marks the
        # Certificate Ready (a Certificate created before its CA would stay in error).
        self.certificate = SkupperResource(
            f"{name}-link-certificate",
            client_certificate(site_name),
            annotations=WAIT_FOR_READY,
            opts=pulumi.ResourceOptions.merge(after_controller, pulumi.ResourceOptions(depends_on=[self.site])),
        )
        # Read the issued Secret. Its id is taken from the Certificate's, so during the first
        # preview (no Certificate yet) it is unknown and the read is skipped.
        secret_name = link_name(site_name)
        credentials = k8s.core.v1.Secret.get(
            f"{name}-link-credentials",
            self.certificate.id.apply(lambda _: f"{NAMESPACE}/{secret_name}"),
            opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[self.certificate]),
        )

        self.endpoint = endpoint(config)
        self.outputs = outputs(config, site_name)
        link = self.site.status.apply(
            lambda status: static_link(site_name, site_endpoints(status, site_name)).manifest()
        )
        secret = credentials.data.apply(lambda data: link_secret(site_name, data))
        self.link_bundle: pulumi.Output[dict[str, Any]] = pulumi.Output.secret(
            pulumi.Output.all(link, secret).apply(lambda parts: {"link": parts[0], "secret": parts[1]})
        )
        self.register_outputs({"url": self.endpoint.url})

    @staticmethod
    def _router_policy(
        name: str, args: PrivateModelClusterSiteArgs, opts: pulumi.ResourceOptions
    ) -> k8s.networking.v1.NetworkPolicy:
        """The router pods: callers of the Listener on the pod port it is given, the remote
        site's link on the inter-router and edge ports from anywhere (mutual TLS with the site CA),
        and the kube-adaptor sidecar's calls to the Kubernetes API."""
        net = k8s.networking.v1
        ingress = [
            net.NetworkPolicyIngressRuleArgs(
                from_=None, ports=[kube.PortRange(port).as_policy_port() for port in LINK_PORTS]
            )
        ]
        if args.clients:
            ingress.append(
                net.NetworkPolicyIngressRuleArgs(
                    from_=[peer.as_policy_peer() for peer in args.clients],
                    ports=[kube.PortRange(LISTENER_POD_PORT).as_policy_port()],
                )
            )
        return net.NetworkPolicy(
            f"{name}-router-traffic",
            metadata=kube.object_meta("allow-skupper-router", NAMESPACE),
            spec=net.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=ROUTER_POLICY_SELECTOR),
                policy_types=["Ingress", "Egress"],
                ingress=ingress,
                egress=[kube.https_to_internet()],
            ),
            opts=opts,
        )
