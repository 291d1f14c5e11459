"""Reads a recorded graph as Kubernetes sees it: workloads with their pods, Services, Secrets,
NetworkPolicies, and what the Helm releases will add (from their values and the chart defaults).

The checks here are the cross-object rules of the workloads; tests call them on every stack file
and on graphs with one workload switched off.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any, Iterator

import yaml

from tests.harness import SCHEMAS, Graph, Registered, kubernetes_objects

GPU = "nvidia.com/gpu"
SKUPPER = "kubernetes:skupper.io/v2alpha1:"
RELEASE_MANIFEST = "kubernetes:yaml/v2:ConfigFile"
GPU_TAINT = {"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
CHART = "kubernetes:helm.sh/v4:Chart"


@dataclass
class Pod:
    """The pods of one workload: a Deployment, StatefulSet or Job in the graph, or one a chart renders."""
    owner: str                      # e.g. "Deployment rag/rag"
    namespace: str
    labels: dict[str, str]
    spec: dict[str, Any]
    long_running: bool
    from_chart: bool = False
    from_upstream: bool = False     # made by an operator or a release manifest: its resources and probes are not ours

    def containers(self, init: bool = True) -> Iterator[dict[str, Any]]:
        yield from self.spec.get("containers", [])
        if init:
            yield from self.spec.get("initContainers", [])

    @property
    def requests_gpu(self) -> bool:
        return any(GPU in (c.get("resources", {}).get("limits") or {}) for c in self.containers())


@dataclass
class Service:
    namespace: str
    name: str
    selector: dict[str, str]
    ports: list[dict[str, Any]]
    type: str = "ClusterIP"
    source_ranges: list[str] = field(default_factory=list)
    from_chart: bool = False
    from_upstream: bool = False


def objects(graph: Graph, kind: str) -> list[tuple[Registered, dict[str, Any]]]:
    return [(r, m) for r, m in kubernetes_objects(graph) if m["kind"] == kind]


def charts(graph: Graph) -> dict[str, dict[str, Any]]:
    return {r.inputs["chart"]: r.inputs for r in graph.of_type(CHART)}


def chart_defaults(chart: str) -> dict[str, Any]:
    return yaml.safe_load((SCHEMAS / chart / "values.yaml").read_text())


def merged(defaults: Any, overrides: Any) -> Any:
    """Helm's merge: maps merge key by key, anything else is replaced."""
    if isinstance(defaults, dict) and isinstance(overrides, dict):
        out = copy.deepcopy(defaults)
        for k, v in overrides.items():
            out[k] = merged(defaults.get(k), v)
        return out
    return copy.deepcopy(overrides)


def pods(graph: Graph) -> list[Pod]:
    found = []
    for kind in ("Deployment", "StatefulSet", "Job", "DaemonSet"):
        for _, m in objects(graph, kind):
            template = m["spec"]["template"]
            found.append(Pod(f"{kind} {m['metadata']['namespace']}/{m['metadata']['name']}", m["metadata"]["namespace"],
                             template["metadata"]["labels"], template["spec"], long_running=kind != "Job"))
    qdrant = charts(graph).get("qdrant")
    if qdrant:
        values = merged(chart_defaults("qdrant"), qdrant["values"])
        container = {"name": "qdrant", "env": values["env"], "resources": values["resources"],
                     "securityContext": values["containerSecurityContext"],
                     "readinessProbe": values["readinessProbe"] if values["readinessProbe"]["enabled"] else None,
                     "livenessProbe": values["livenessProbe"] if values["livenessProbe"]["enabled"] else None,
                     "ports": [{"name": p["name"], "containerPort": p["targetPort"]} for p in values["service"]["ports"]]}
        found.append(Pod(f"StatefulSet {qdrant['namespace']}/{qdrant['name']} (chart)", qdrant["namespace"],
                         {"app.kubernetes.io/name": "qdrant", "app.kubernetes.io/instance": qdrant["name"]},
                         {"containers": [container], "securityContext": values["podSecurityContext"]},
                         long_running=True, from_chart=True))
    found.extend(skupper_pods(graph))
    return found


def services(graph: Graph) -> list[Service]:
    found = [Service(m["metadata"]["namespace"], m["metadata"]["name"], m["spec"].get("selector", {}),
                     m["spec"]["ports"], m["spec"].get("type", "ClusterIP"), m["spec"].get("loadBalancerSourceRanges", []))
             for _, m in objects(graph, "Service")]
    qdrant = charts(graph).get("qdrant")
    if qdrant:
        values = merged(chart_defaults("qdrant"), qdrant["values"])
        found.append(Service(qdrant["namespace"], qdrant["name"],
                             {"app.kubernetes.io/name": "qdrant", "app.kubernetes.io/instance": qdrant["name"]},
                             values["service"]["ports"], values["service"]["type"], from_chart=True))
    found.extend(skupper_services(graph))
    return found


# --- what Skupper makes from the program's objects ---------------------------------------------
# Facts of Skupper 2.2 (skupperproject/skupper), stated here independently of the program:
# - the release manifest `skupper-cluster-scope.yaml` runs the controller Deployment in `skupper`
#   (config/manifests/cluster-scope/bases/manager.yaml.in);
# - a Site makes the router Deployment `skupper-router` (internal/kube/site/resources/
#   skupper-router-deployment.yaml): containers `router` and `kube-adaptor`, init `config-init`;
# - link access makes the RouterAccess `skupper-router` (roles inter-router 55671, edge 45671) and
#   a LoadBalancer Service of that name selecting the router group (internal/kube/site/site.go);
# - a Listener makes a Service named after its host, selecting the router pods, whose port maps to
#   a router pod port the controller allocates from 1024 up (the first one here).

SKUPPER_CONTROLLER_LABELS = {"app.kubernetes.io/part-of": "skupper", "application": "skupper-controller",
                             "app.kubernetes.io/name": "skupper-controller", "skupper.io/component": "controller"}
SKUPPER_ROUTER_LABELS = {"app.kubernetes.io/name": "skupper-router", "app.kubernetes.io/part-of": "skupper",
                         "application": "skupper-router", "skupper.io/component": "router",
                         "skupper.io/group": "skupper-router", "skupper.io/type": "site"}
SKUPPER_LISTENER_SELECTOR = {"application": "skupper-router", "skupper.io/component": "router"}
SKUPPER_LINK_PORTS = {"inter-router": 55671, "edge": 45671}
SKUPPER_FIRST_LISTENER_PORT = 1024
_UPSTREAM_HARDENING = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True}


def custom_resources(graph: Graph, kind: str) -> list[dict[str, Any]]:
    return [{"apiVersion": r.type[len("kubernetes:"):].rsplit(":", 1)[0], "kind": kind, **r.inputs}
            for r in graph.of_type(SKUPPER + kind)]


def skupper_release(graph: Graph) -> dict[str, Any] | None:
    found = [r.inputs for r in graph.of_type(RELEASE_MANIFEST) if r.inputs["file"].endswith("/skupper-cluster-scope.yaml")]
    return found[0] if found else None


def listener_pod_ports(graph: Graph, namespace: str) -> dict[str, int]:
    """Listener name -> the router pod port the controller gives it."""
    listeners = [m for m in custom_resources(graph, "Listener") if m["metadata"]["namespace"] == namespace]
    return {m["metadata"]["name"]: SKUPPER_FIRST_LISTENER_PORT + i for i, m in enumerate(listeners)}


def skupper_pods(graph: Graph) -> list[Pod]:
    found = []
    if skupper_release(graph):
        found.append(Pod("Deployment skupper/skupper-controller (release manifest)", "skupper", SKUPPER_CONTROLLER_LABELS, {
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "controller", "securityContext": _UPSTREAM_HARDENING, "resources": {}}],
        }, long_running=True, from_upstream=True))
    for site in custom_resources(graph, "Site"):
        namespace = site["metadata"]["namespace"]
        listener_ports = [{"name": name, "containerPort": port} for name, port in listener_pod_ports(graph, namespace).items()]
        found.append(Pod(f"Deployment {namespace}/skupper-router (Skupper controller)", namespace, SKUPPER_ROUTER_LABELS, {
            # Skupper 2.2.1's router pod sets no seccomp profile (NOTES; the README's security exceptions).
            "containers": [
                {"name": "router", "securityContext": _UPSTREAM_HARDENING, "resources": {},
                 "ports": [{"name": "amqps", "containerPort": 5671}, {"name": "http", "containerPort": 9090},
                           *({"name": n, "containerPort": p} for n, p in SKUPPER_LINK_PORTS.items()), *listener_ports],
                 "readinessProbe": {"httpGet": {"path": "/healthz", "port": 9090}},
                 "livenessProbe": {"httpGet": {"path": "/healthz", "port": 9090}}},
                {"name": "kube-adaptor", "securityContext": _UPSTREAM_HARDENING, "resources": {},
                 "ports": [{"name": "metrics", "containerPort": 9000}],
                 "readinessProbe": {"httpGet": {"path": "/healthz", "port": 9191}}},
            ],
            "initContainers": [{"name": "config-init", "securityContext": _UPSTREAM_HARDENING, "resources": {}}],
        }, long_running=True, from_upstream=True))
    return found


def skupper_services(graph: Graph) -> list[Service]:
    found = []
    for site in custom_resources(graph, "Site"):
        namespace = site["metadata"]["namespace"]
        if site["spec"].get("linkAccess") not in (None, "none"):
            found.append(Service(namespace, "skupper-router", {"skupper.io/component": "router", "skupper.io/group": "skupper-router"},
                                 [{"name": n, "port": p, "targetPort": p} for n, p in SKUPPER_LINK_PORTS.items()],
                                 "LoadBalancer", from_upstream=True))
        pod_ports = listener_pod_ports(graph, namespace)
        for listener in custom_resources(graph, "Listener"):
            if listener["metadata"]["namespace"] == namespace:
                name, spec = listener["metadata"]["name"], listener["spec"]
                found.append(Service(namespace, spec["host"], SKUPPER_LISTENER_SELECTOR,
                                     [{"name": name, "port": spec["port"], "targetPort": pod_ports[name]}],
                                     from_upstream=True))
    return found


def namespaces(graph: Graph) -> dict[str, dict[str, str]]:
    """Namespace name -> labels: the program's Namespaces, and the release manifest's as patched."""
    found = {m["metadata"]["name"]: dict(m["metadata"].get("labels") or {}) for _, m in objects(graph, "Namespace")}
    if skupper_release(graph):
        found.setdefault("skupper", {})
    for r in graph.of_type("kubernetes:core/v1:NamespacePatch"):
        meta = r.inputs["metadata"]
        if meta["name"] in found:
            found[meta["name"]].update(meta.get("labels") or {})
    return found


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env") or []}


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


URL = re.compile(r"^https?://([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local:(\d+)(/.*)?$")


def in_cluster_urls(graph: Graph) -> list[tuple[str, str, str]]:
    """(owner, env name, URL) for every in-cluster URL a pod is configured with."""
    return [(p.owner, name, e["value"]) for p in pods(graph) for c in p.containers()
            for name, e in env_of(c).items() if isinstance(e.get("value"), str) and ".svc.cluster.local" in e["value"]]


def secret_keys(graph: Graph) -> dict[tuple[str, str], set[str]]:
    """(namespace, Secret name) -> its keys, for every Secret the program creates."""
    return {(m["metadata"]["namespace"], m["metadata"]["name"]): set((m.get("stringData") or m.get("data") or {}))
            for _, m in objects(graph, "Secret")}


def secret_references(graph: Graph) -> list[tuple[str, str, str, str]]:
    """(owner, namespace, Secret, key) for every Secret a pod or a chart's values reference."""
    refs = [(p.owner, p.namespace, e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
            for p in pods(graph) for c in p.containers() for e in env_of(c).values()
            if "secretKeyRef" in (e.get("valueFrom") or {}) and not e["valueFrom"]["secretKeyRef"].get("optional")]
    hub = charts(graph).get("jupyterhub")
    if hub:
        for name, e in hub["values"]["hub"]["extraEnv"].items():
            ref = e["valueFrom"]["secretKeyRef"]
            refs.append((f"jupyterhub hub env {name}", hub["namespace"], ref["name"], ref["key"]))
    return refs


def declared_ports(pod: Pod) -> dict[Any, int]:
    """Port name and number -> number, over the pod's containers."""
    ports = {}
    for c in pod.containers(init=False):
        for p in c.get("ports") or []:
            ports[p["containerPort"]] = p["containerPort"]
            if "name" in p:
                ports[p["name"]] = p["containerPort"]
    return ports


# --- NetworkPolicy evaluation ------------------------------------------------------------------

NOTEBOOK_LABELS = {"app": "jupyterhub", "component": "singleuser-server", "release": "jupyterhub"}


@dataclass
class Endpoint:
    """A set of pods as NetworkPolicies see them."""
    name: str
    namespace: str
    labels: dict[str, str]
    ports: tuple[int, ...]


def endpoints(graph: Graph) -> list[Endpoint]:
    found = [Endpoint(p.owner.split(" ")[1].split("/")[1], p.namespace, p.labels, tuple(sorted(
        {v for v in declared_ports(p).values()}))) for p in pods(graph)]
    hub = charts(graph).get("jupyterhub")
    if hub:
        found.append(Endpoint("notebook", hub["namespace"], NOTEBOOK_LABELS, (8888,)))
    return found


def _peer_matches(peer: dict[str, Any], target: Endpoint) -> bool:
    if "ipBlock" in peer:
        return True  # pod IPs are VPC addresses: an ipBlock of 0.0.0.0/0 covers them too
    ns_selector = peer.get("namespaceSelector")
    if ns_selector is None:
        return False  # a bare podSelector means "in the policy's namespace": handled by the caller
    ns_ok = matches(ns_selector.get("matchLabels", {}), {"kubernetes.io/metadata.name": target.namespace}) \
        or ns_selector == {}
    pod_selector = peer.get("podSelector", {})
    return ns_ok and (pod_selector == {} or matches(pod_selector.get("matchLabels", {}), target.labels))


def _port_ok(rule: dict[str, Any], port: int) -> bool:
    return not rule.get("ports") or any(
        p.get("protocol", "TCP") == "TCP" and isinstance(p.get("port"), int) and p["port"] <= port <= p.get("endPort", p["port"])
        for p in rule["ports"])


def allows(graph: Graph, source: Endpoint, target: Endpoint, port: int) -> bool:
    """Whether both the source's egress and the target's ingress policies admit the flow."""
    policies = [m for _, m in objects(graph, "NetworkPolicy")]

    def selected(policy: dict[str, Any], e: Endpoint) -> bool:
        selector = policy["spec"]["podSelector"]
        return policy["metadata"]["namespace"] == e.namespace and (
            not selector or matches(selector.get("matchLabels", {}), e.labels))

    def direction(e: Endpoint, other: Endpoint, kind: str, rules_key: str, peers_key: str) -> bool:
        relevant = [p for p in policies if selected(p, e) and kind in p["spec"]["policyTypes"]]
        if not relevant:
            return True  # not isolated in this direction
        for p in relevant:
            for rule in p["spec"].get(rules_key) or []:
                peers = rule.get(peers_key)
                if _port_ok(rule, port) and (peers is None or any(_peer_matches(x, other) for x in peers)):
                    return True
        return False

    return direction(source, target, "Egress", "egress", "to") and direction(target, source, "Ingress", "ingress", "from")


def allowed_flows(graph: Graph) -> set[tuple[str, str, int]]:
    eps = endpoints(graph)
    return {(s.name, t.name, port) for s in eps for t in eps if s is not t for port in t.ports if allows(graph, s, t, port)}
