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
    return not rule.get("ports") or any(p.get("port") == port and p.get("protocol", "TCP") == "TCP" for p in rule["ports"])


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
