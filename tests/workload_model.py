"""Reads a recorded graph as the cluster will hold it: one model of what the cluster gets.

- the program's own Kubernetes objects, as the API server receives them;
- every object its Helm releases render, by Helm's own engine (tests/charts.py);
- the pods controllers make at run time from those objects, modelled from their source:
  JupyterHub's KubeSpawner starts a notebook pod per profile, Skupper's controller runs from its
  release manifest and makes a router Deployment and Services from a Site and its Listeners.

The cross-object rules (test_workloads.py), Pod Security (test_pod_security.py), the
NetworkPolicy evaluation and the VPC CNI's enforcement of it (tests/vpc_cni.py) read this model
only, so a chart's pods, Services and policies are held to the same rules as ours; tests call
them on every stack file and with workloads switched off.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tests import charts as helm
from tests import vpc_cni as cni
from tests.harness import Graph, Registered, kubernetes_objects, parsed_config
from tests.network_policy import Endpoint, Evaluator, addresses

GPU = "nvidia.com/gpu"
SKUPPER = "kubernetes:skupper.io/v2alpha1:"
RELEASE_MANIFEST = "kubernetes:yaml/v2:ConfigFile"
GPU_TAINT = {"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
CHART = helm.CHART_TYPE
PROGRAM = "program"
KUBESPAWNER = "KubeSpawner (the JupyterHub hub)"
SKUPPER_CONTROLLER = "Skupper controller"
SKUPPER_MANIFEST = "Skupper release manifest"


@dataclass(frozen=True)
class Applied:
    """An object the cluster gets, and where it comes from: the program, or a release's label."""

    manifest: dict[str, Any]
    source: str

    @property
    def kind(self) -> str:
        return self.manifest["kind"]

    @property
    def namespace(self) -> str | None:
        return self.manifest["metadata"].get("namespace")

    @property
    def name(self) -> str:
        return self.manifest["metadata"]["name"]

    @property
    def own_namespace(self) -> str:
        """The namespace of an object of a namespaced kind (a workload, Service, Secret, ConfigMap): each
        the cluster gets names one (charts.render gives a chart's objects the release's)."""
        assert self.namespace is not None, f"{self.ident} names no namespace"
        return self.namespace

    @property
    def ident(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"


def applied(graph: Graph) -> list[Applied]:
    """Every object the cluster gets from the program and its charts (computed once per graph)."""
    if "applied" not in graph.cache:
        own = [Applied(m, PROGRAM) for _, m in kubernetes_objects(graph)]
        rendered = [Applied(m, release.label) for release in helm.releases(graph) for m in helm.render(release)]
        graph.cache["applied"] = own + rendered
    return graph.cache["applied"]


def kubernetes_version(graph: Graph) -> tuple[int, int]:
    """The cluster's Kubernetes version (major, minor)."""
    major, minor = helm.cluster_version(graph).lstrip("v").split(".")[:2]
    return int(major), int(minor)


def cluster_objects(graph: Graph, kind: str) -> list[Applied]:
    return [a for a in applied(graph) if a.kind == kind]


def objects(graph: Graph, kind: str) -> list[tuple[Registered, dict[str, Any]]]:
    """The program's own objects of a kind (not the charts')."""
    return [(r, m) for r, m in kubernetes_objects(graph) if m["kind"] == kind]


def charts(graph: Graph) -> dict[str, dict[str, Any]]:
    """The captured inputs of each helm.v4.Chart, by chart name."""
    return {r.inputs["chart"]: r.inputs for r in graph.of_type(CHART)}


# --- pods ------------------------------------------------------------------------------------------


@dataclass
class Pod:
    """The pods of one workload: a template the cluster gets, or a pod a controller makes at run time."""

    kind: str  # of what makes the pods: Deployment, StatefulSet, DaemonSet, Job, Pod
    namespace: str
    name: str
    labels: dict[str, str]
    spec: dict[str, Any]
    long_running: bool
    source: str  # PROGRAM, a release's label, KUBESPAWNER, SKUPPER_*
    annotations: dict[str, str] = field(default_factory=dict)
    workload: str = ""  # its name in the traffic plan (the object's name unless set)

    def __post_init__(self):
        self.workload = self.workload or self.name

    @property
    def owner(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"

    def containers(self, init: bool = True) -> Iterator[dict[str, Any]]:
        yield from self.spec.get("containers", [])
        if init:
            yield from self.spec.get("initContainers") or []

    @property
    def requests_gpu(self) -> bool:
        return any(GPU in (c.get("resources", {}).get("limits") or {}) for c in self.containers())


def _template(a: Applied) -> dict[str, Any] | None:
    spec = a.manifest.get("spec") or {}
    if a.kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        return spec["template"]
    if a.kind == "CronJob":
        return spec["jobTemplate"]["spec"]["template"]
    if a.kind == "Pod":
        return {"metadata": a.manifest["metadata"], "spec": spec}
    return None


def pods(graph: Graph) -> list[Pod]:
    if "pods" not in graph.cache:
        found = []
        for a in applied(graph):
            template = _template(a)
            if template is not None:
                meta = template.get("metadata") or {}
                found.append(
                    Pod(
                        a.kind,
                        a.own_namespace,
                        a.name,
                        dict(meta.get("labels") or {}),
                        template["spec"],
                        long_running=a.kind not in ("Job", "CronJob", "Pod"),
                        source=a.source,
                        annotations=dict(meta.get("annotations") or {}),
                    )
                )
        found += notebook_pods(graph)
        found += skupper_pods(graph)
        graph.cache["pods"] = found
    return graph.cache["pods"]


# --- what JupyterHub's KubeSpawner starts -------------------------------------------------------
# From the release's merged values, as jupyterhub_config.py (chart 4.4.0, files/hub/) hands them to
# KubeSpawner, and as kubespawner's make_pod (objects.py) and _build_pod_labels (spawner.py) build
# the pod: common labels app/release/chart, component singleuser-server, singleuser.extraLabels;
# one container port "notebook-port"; the pod security context from fs_gid and
# pod_security_context; the container's from uid, allow_privilege_escalation and
# container_security_context; tolerations from scheduling.userPods and singleuser.extraTolerations;
# the iptables init container (privileged) when singleuser.cloudMetadata.blockWithIptables.

NOTEBOOK_PORT = 8888


def notebook_pods(graph: Graph) -> list[Pod]:
    found = []
    for release in helm.releases(graph):
        if release.chart != "jupyterhub":
            continue
        values = helm.merged_values(release)
        user, spawner = values["singleuser"], values["hub"]["config"].get("KubeSpawner") or {}
        app = values.get("nameOverride") or "jupyterhub"  # the chart does not default it
        labels = {
            "app": app,
            "app.kubernetes.io/name": app,
            "release": release.name,
            "app.kubernetes.io/instance": release.name,
            "chart": f"jupyterhub-{release.version}",
            "helm.sh/chart": f"jupyterhub-{release.version}",
            "app.kubernetes.io/managed-by": "kubespawner",
            **user["extraLabels"],
            "app.kubernetes.io/component": "singleuser-server",
            "component": "singleuser-server",
        }
        base = {
            "cpu_guarantee": user["cpu"]["guarantee"],
            "cpu_limit": user["cpu"]["limit"],
            "mem_guarantee": user["memory"]["guarantee"],
            "mem_limit": user["memory"]["limit"],
            "extra_resource_guarantees": user["extraResource"]["guarantees"] or {},
            "extra_resource_limits": user["extraResource"]["limits"] or {},
            "node_selector": user["nodeSelector"] or {},
            "tolerations": [
                *(values["scheduling"]["userPods"]["tolerations"] or []),
                *(user["extraTolerations"] or []),
            ],
            "volumes": [{"name": "home", "persistentVolumeClaim": {"claimName": "claim-user"}}]
            if user["storage"]["type"] == "dynamic"
            else [],
        }
        for profile in user["profileList"] or [{"slug": "default"}]:
            settings = {**base, **(profile.get("kubespawner_override") or {})}
            # make_pod sets a request or limit only when its setting is given.
            requests = {
                k: str(v) for k, v in (("cpu", settings["cpu_guarantee"]), ("memory", settings["mem_guarantee"])) if v
            }
            limits = {k: str(v) for k, v in (("cpu", settings["cpu_limit"]), ("memory", settings["mem_limit"])) if v}
            requests.update(settings["extra_resource_guarantees"])
            limits.update(settings["extra_resource_limits"])
            container_context = {
                "runAsUser": user["uid"],
                "allowPrivilegeEscalation": user["allowPrivilegeEscalation"],
                **(spawner.get("container_security_context") or {}),
            }
            spec: dict[str, Any] = {
                "securityContext": {"fsGroup": user["fsGid"], **(spawner.get("pod_security_context") or {})},
                "serviceAccountName": user["serviceAccountName"],
                "automountServiceAccountToken": spawner.get(
                    "automount_service_account_token", False if user["serviceAccountName"] is None else None
                ),
                "containers": [
                    {
                        "name": "notebook",
                        "ports": [{"name": "notebook-port", "containerPort": NOTEBOOK_PORT}],
                        "securityContext": {k: v for k, v in container_context.items() if v is not None},
                        "resources": {"requests": requests, "limits": limits},
                    }
                ],
                "nodeSelector": settings["node_selector"],
                "tolerations": settings["tolerations"],
                "volumes": settings["volumes"],
            }
            # kubespawner objects.py make_pod: node_affinity_required are the required nodeSelectorTerms.
            if settings.get("node_affinity_required"):
                spec["affinity"] = {
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": settings["node_affinity_required"]
                        }
                    }
                }
            if user["cloudMetadata"]["blockWithIptables"]:
                spec["initContainers"] = [
                    {
                        "name": "block-cloud-metadata",
                        "resources": user["networkTools"]["resources"] or {},
                        "securityContext": {"privileged": True, "runAsUser": 0, "capabilities": {"add": ["NET_ADMIN"]}},
                    }
                ]
            found.append(
                Pod(
                    "Pod",
                    release.namespace,
                    f"notebook-{profile['slug']}",
                    labels,
                    spec,
                    long_running=True,
                    source=KUBESPAWNER,
                    # kubespawner make_pod: extra_annotations are the pod's annotations.
                    annotations=dict(settings.get("extra_annotations") or {}),
                    workload="notebook",
                )
            )
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

SKUPPER_CONTROLLER_LABELS = {
    "app.kubernetes.io/part-of": "skupper",
    "application": "skupper-controller",
    "app.kubernetes.io/name": "skupper-controller",
    "skupper.io/component": "controller",
}
SKUPPER_ROUTER_LABELS = {
    "app.kubernetes.io/name": "skupper-router",
    "app.kubernetes.io/part-of": "skupper",
    "application": "skupper-router",
    "skupper.io/component": "router",
    "skupper.io/group": "skupper-router",
    "skupper.io/type": "site",
}
SKUPPER_LISTENER_SELECTOR = {"application": "skupper-router", "skupper.io/component": "router"}
SKUPPER_LINK_PORTS = {"inter-router": 55671, "edge": 45671}
SKUPPER_FIRST_LISTENER_PORT = 1024
_UPSTREAM_HARDENING = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True}


def custom_resources(graph: Graph, kind: str) -> list[dict[str, Any]]:
    return [
        {"apiVersion": r.type[len("kubernetes:") :].rsplit(":", 1)[0], "kind": kind, **r.inputs}
        for r in graph.of_type(SKUPPER + kind)
    ]


def skupper_release(graph: Graph) -> dict[str, Any] | None:
    found = [
        r.inputs for r in graph.of_type(RELEASE_MANIFEST) if r.inputs["file"].endswith("/skupper-cluster-scope.yaml")
    ]
    return found[0] if found else None


def listener_pod_ports(graph: Graph, namespace: str) -> dict[str, int]:
    """Listener name -> the router pod port the controller gives it."""
    listeners = [m for m in custom_resources(graph, "Listener") if m["metadata"]["namespace"] == namespace]
    return {m["metadata"]["name"]: SKUPPER_FIRST_LISTENER_PORT + i for i, m in enumerate(listeners)}


def skupper_pods(graph: Graph) -> list[Pod]:
    found = []
    if skupper_release(graph):
        found.append(
            Pod(
                "Deployment",
                "skupper",
                "skupper-controller",
                SKUPPER_CONTROLLER_LABELS,
                {
                    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{"name": "controller", "securityContext": _UPSTREAM_HARDENING, "resources": {}}],
                },
                long_running=True,
                source=SKUPPER_MANIFEST,
            )
        )
    for site in custom_resources(graph, "Site"):
        namespace = site["metadata"]["namespace"]
        listener_ports = [
            {"name": name, "containerPort": port} for name, port in listener_pod_ports(graph, namespace).items()
        ]
        found.append(
            Pod(
                "Deployment",
                namespace,
                "skupper-router",
                SKUPPER_ROUTER_LABELS,
                {
                    # Skupper 2.2.1's router pod sets no seccomp profile (NOTES; docs/security.md's exceptions).
                    "containers": [
                        {
                            "name": "router",
                            "securityContext": _UPSTREAM_HARDENING,
                            "resources": {},
                            "ports": [
                                {"name": "amqps", "containerPort": 5671},
                                {"name": "http", "containerPort": 9090},
                                *({"name": n, "containerPort": p} for n, p in SKUPPER_LINK_PORTS.items()),
                                *listener_ports,
                            ],
                            "readinessProbe": {"httpGet": {"path": "/healthz", "port": 9090}},
                            "livenessProbe": {"httpGet": {"path": "/healthz", "port": 9090}},
                        },
                        {
                            "name": "kube-adaptor",
                            "securityContext": _UPSTREAM_HARDENING,
                            "resources": {},
                            "ports": [{"name": "metrics", "containerPort": 9000}],
                            "readinessProbe": {"httpGet": {"path": "/healthz", "port": 9191}},
                        },
                    ],
                    "initContainers": [
                        {"name": "config-init", "securityContext": _UPSTREAM_HARDENING, "resources": {}}
                    ],
                },
                long_running=True,
                source=SKUPPER_CONTROLLER,
            )
        )
    return found


# --- Services, namespaces, Secrets and ConfigMaps ------------------------------------------------


@dataclass
class Service:
    namespace: str
    name: str
    selector: dict[str, str]
    ports: list[dict[str, Any]]
    type: str = "ClusterIP"
    source_ranges: list[str] = field(default_factory=list)
    source: str = PROGRAM
    headless: bool = False


def services(graph: Graph) -> list[Service]:
    found = [
        Service(
            a.own_namespace,
            a.name,
            a.manifest["spec"].get("selector") or {},
            a.manifest["spec"]["ports"],
            a.manifest["spec"].get("type", "ClusterIP"),
            a.manifest["spec"].get("loadBalancerSourceRanges") or [],
            a.source,
            headless=a.manifest["spec"].get("clusterIP") == "None",
        )
        for a in cluster_objects(graph, "Service")
    ]
    found.extend(skupper_services(graph))
    return found


def skupper_services(graph: Graph) -> list[Service]:
    found = []
    for site in custom_resources(graph, "Site"):
        namespace = site["metadata"]["namespace"]
        if site["spec"].get("linkAccess") not in (None, "none"):
            found.append(
                Service(
                    namespace,
                    "skupper-router",
                    {"skupper.io/component": "router", "skupper.io/group": "skupper-router"},
                    [{"name": n, "port": p, "targetPort": p} for n, p in SKUPPER_LINK_PORTS.items()],
                    "LoadBalancer",
                    source=SKUPPER_CONTROLLER,
                )
            )
        pod_ports = listener_pod_ports(graph, namespace)
        for listener in custom_resources(graph, "Listener"):
            if listener["metadata"]["namespace"] == namespace:
                name, spec = listener["metadata"]["name"], listener["spec"]
                found.append(
                    Service(
                        namespace,
                        spec["host"],
                        SKUPPER_LISTENER_SELECTOR,
                        [{"name": name, "port": spec["port"], "targetPort": pod_ports[name]}],
                        source=SKUPPER_CONTROLLER,
                    )
                )
    return found


def namespaces(graph: Graph) -> dict[str, dict[str, str]]:
    """Namespace name -> labels: the program's and the charts' Namespaces, and the release manifest's as patched."""
    found = {a.name: dict(a.manifest["metadata"].get("labels") or {}) for a in cluster_objects(graph, "Namespace")}
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
    return [
        (p.owner, name, e["value"])
        for p in pods(graph)
        for c in p.containers()
        for name, e in env_of(c).items()
        if isinstance(e.get("value"), str) and ".svc.cluster.local" in e["value"]
    ]


def _keys(kind: str, graph: Graph) -> dict[tuple[str, str], set[str]]:
    fields = ("stringData", "data") if kind == "Secret" else ("data", "binaryData")
    return {
        (a.own_namespace, a.name): {k for f in fields for k in (a.manifest.get(f) or {})}
        for a in cluster_objects(graph, kind)
    }


def secret_keys(graph: Graph) -> dict[tuple[str, str], set[str]]:
    """(namespace, Secret name) -> its keys, for every Secret the cluster gets."""
    return _keys("Secret", graph)


def config_map_keys(graph: Graph) -> dict[tuple[str, str], set[str]]:
    return _keys("ConfigMap", graph)


@dataclass(frozen=True)
class Reference:
    owner: str
    namespace: str
    kind: str  # Secret or ConfigMap
    name: str
    key: str | None  # None: the object as a whole (envFrom, a volume without items)


def references(graph: Graph) -> list[Reference]:
    """Every Secret and ConfigMap a pod reads (env, envFrom, volumes, projections), unless optional."""
    found = []
    for p in pods(graph):

        def ref(kind: str, name: str, key: str | None, optional: bool | None):
            if not optional:
                found.append(Reference(p.owner, p.namespace, kind, name, key))  # noqa: B023 (called in this iteration only)

        for c in p.containers():
            for e in c.get("env") or []:
                source = e.get("valueFrom") or {}
                for field_, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
                    if field_ in source:
                        ref(kind, source[field_]["name"], source[field_]["key"], source[field_].get("optional"))
            for e in c.get("envFrom") or []:
                for field_, kind in (("secretRef", "Secret"), ("configMapRef", "ConfigMap")):
                    if field_ in e:
                        ref(kind, e[field_]["name"], None, e[field_].get("optional"))
        sources = []
        for v in p.spec.get("volumes") or []:
            sources += [("Secret", v["secret"], v["secret"].get("secretName"))] if "secret" in v else []
            sources += [("ConfigMap", v["configMap"], v["configMap"].get("name"))] if "configMap" in v else []
            for s in (v.get("projected") or {}).get("sources") or []:
                sources += [("Secret", s["secret"], s["secret"].get("name"))] if "secret" in s else []
                sources += [("ConfigMap", s["configMap"], s["configMap"].get("name"))] if "configMap" in s else []
        for kind, source, name in sources:
            for key in [i["key"] for i in source.get("items") or []] or [None]:
                ref(kind, name, key, source.get("optional"))
    return found


def declared_ports(pod: Pod) -> dict[Any, int]:
    """Port name and number -> number, over the pod's containers."""
    ports = {}
    for c in pod.containers(init=False):
        for p in c.get("ports") or []:
            ports[p["containerPort"]] = p["containerPort"]
            if "name" in p:
                ports[p["name"]] = p["containerPort"]
    return ports


# --- NetworkPolicy evaluation --------------------------------------------------------------------


def endpoints(graph: Graph) -> list[Endpoint]:
    """Every pod as NetworkPolicies see it, with an address from the first private subnet."""
    all_pods = pods(graph)
    ips = addresses(parsed_config(graph).network.private_subnet_cidrs[0], len(all_pods))
    found = []
    for pod, ip in zip(all_pods, ips, strict=True):
        tcp = [p for c in pod.containers(init=False) for p in c.get("ports") or [] if p.get("protocol", "TCP") == "TCP"]
        found.append(
            Endpoint(
                pod.workload,
                pod.namespace,
                pod.labels,
                ip,
                {p["name"]: p["containerPort"] for p in tcp if "name" in p},
                tuple(sorted({p["containerPort"] for p in tcp})),
            )
        )
    return found


def evaluator(graph: Graph) -> Evaluator:
    return Evaluator([a.manifest for a in cluster_objects(graph, "NetworkPolicy")], namespaces(graph))


def allowed_flows(graph: Graph) -> set[tuple[str, str, int]]:
    return evaluator(graph).flows(endpoints(graph))


# --- the VPC CNI's enforcement (tests/vpc_cni.py) -------------------------------------------------
# What EKS runs itself that pods call: CoreDNS, behind the Service kube-system/kube-dns at the tenth
# address of the Service range (kubernetes/kubernetes cluster/addons/dns/coredns/coredns.yaml.base,
# whose names EKS's coredns add-on keeps: selector k8s-app=kube-dns, dns 53/UDP, dns-tcp 53/TCP,
# metrics 9153/TCP). The API server's `kubernetes` Service has no selector: no rule with a
# podSelector admits its ClusterIP (C3), only an ipBlock covering the Service range.

COREDNS = cni.Pod(
    "coredns",
    "kube-system",
    {"k8s-app": "kube-dns", "eks.amazonaws.com/component": "coredns"},
    "",
    (
        cni.ContainerPort(53, "dns", "UDP"),
        cni.ContainerPort(53, "dns-tcp", "TCP"),
        cni.ContainerPort(9153, "metrics", "TCP"),
    ),
)
KUBE_DNS = ("kube-system", "kube-dns")


def cni_pods(graph: Graph) -> list[tuple[Pod, cni.Pod]]:
    """Each pod of the model with what the controller reads of it: labels, IP and container ports."""
    if "cni_pods" not in graph.cache:
        all_pods, eps = pods(graph), endpoints(graph)
        found = [
            (
                p,
                cni.Pod(
                    e.name,
                    p.namespace,
                    p.labels,
                    e.ip,
                    tuple(
                        cni.ContainerPort(port["containerPort"], port.get("name"), port.get("protocol", "TCP"))
                        for c in p.containers(init=False)
                        for port in c.get("ports") or []
                    ),
                    bool(p.spec.get("hostNetwork")),
                ),
            )
            for p, e in zip(all_pods, eps, strict=True)
        ]
        graph.cache["cni_pods"] = found
    return graph.cache["cni_pods"]


def _node_ip(graph: Graph) -> str:
    # An address of the pods' subnet no pod has: the node's primary IP.
    return addresses(parsed_config(graph).network.private_subnet_cidrs[0], len(pods(graph)) + 1)[-1]


def cni_services(graph: Graph, service_cidr: str) -> list[cni.Service]:
    """Every Service with a ClusterIP from `service_cidr` (kube-dns at .10), ports as the API server
    defaults them (protocol TCP, targetPort the port)."""
    found = services(graph)
    ips = cni.service_addresses(service_cidr, [(s.namespace, s.name) for s in found])
    result = [
        cni.Service(
            s.namespace,
            s.name,
            s.selector,
            tuple(
                cni.ServicePort(p["port"], p.get("targetPort", p["port"]), p.get("protocol", "TCP"), p.get("name", ""))
                for p in s.ports
            ),
            None if s.headless else ips[(s.namespace, s.name)],
        )
        for s in found
    ]
    dns_ip = str(ipaddress.ip_network(service_cidr)[10])
    result.append(
        cni.Service(
            *KUBE_DNS,
            {"k8s-app": "kube-dns"},
            (
                cni.ServicePort(53, 53, "UDP", "dns"),
                cni.ServicePort(53, 53, "TCP", "dns-tcp"),
                cni.ServicePort(9153, 9153, "TCP", "metrics"),
            ),
            dns_ip,
        )
    )
    return result


def agent(graph: Graph, service_cidr: str = cni.EKS_SERVICE_CIDRS[0], mode: str = cni.STANDARD) -> cni.Agent:
    """The node agent over every policy the cluster gets, the charts' included."""
    key = f"cni_agent:{service_cidr}:{mode}"
    if key not in graph.cache:
        coredns = dataclasses.replace(
            COREDNS, ip=addresses(parsed_config(graph).network.private_subnet_cidrs[-1], 1)[0]
        )
        namespace_labels = {**namespaces(graph), "kube-system": {}}
        controller = cni.Controller(
            [a.manifest for a in cluster_objects(graph, "NetworkPolicy")],
            namespace_labels,
            [c for _, c in cni_pods(graph)] + [coredns],
            cni_services(graph, service_cidr),
        )
        graph.cache[key] = cni.Agent(controller, _node_ip(graph), mode)
    return graph.cache[key]


@dataclass(frozen=True)
class ServiceCall:
    """A pod's configured URL of an in-cluster Service, as the agent judges a call to it."""

    owner: str
    setting: str
    url: str
    verdict: cni.Verdict


def service_calls(graph: Graph, service_cidr: str = cni.EKS_SERVICE_CIDRS[0]) -> list[ServiceCall]:
    """Every in-cluster URL a pod is configured with (`in_cluster_urls`), called as the URL says."""
    judge = agent(graph, service_cidr)
    by_owner = {p.owner: c for p, c in cni_pods(graph)}
    by_name = {(s.namespace, s.name): s for s in judge.controller.services}
    calls = []
    for owner, setting, url in in_cluster_urls(graph):
        match = URL.match(url)
        service = by_name.get((match.group(2), match.group(1))) if match else None
        verdict = (
            judge.to_service(by_owner[owner], service, int(match.group(3)))
            if match and service
            else cni.Verdict(False, "not the URL of a Service the cluster gets")
        )
        calls.append(ServiceCall(owner, setting, url, verdict))
    return calls


def unreachable_urls(graph: Graph, service_cidr: str = cni.EKS_SERVICE_CIDRS[0]) -> list[ServiceCall]:
    """The configured URLs the agent's rules would drop, each with its reason."""
    return [c for c in service_calls(graph, service_cidr) if not c.verdict]
