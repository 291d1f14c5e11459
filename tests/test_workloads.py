"""The workloads, checked across objects as the cluster gets them (the program's own and every chart's,
tests/workload_model.py): Services find their pods, URLs find their Services, Secrets and ConfigMaps
exist, GPU pods are scheduled right, pods are hardened, mount no API token unless they must, have
probes and limits, traffic is exactly what the platform needs, and each workload can be switched off
without breaking the others. Exceptions are listed, with reasons, in tests/exceptions.py only."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from tests import charts as helm
from tests import workload_model as wm
from tests.conftest import graph_of
from tests.exceptions import NAMESPACE_LEVELS, WAIVERS, waived
from tests.harness import (
    ACCOUNT,
    SECRET_MARK,
    Graph,
    Secret,
    planned_workspaces,
    run_program,
    stack_config,
    stack_names,
    walk,
)
from tests.harness import parsed_config as parsed
from tests.network_policy import Endpoint
from tests.pod_security import policy_version, violations

HF_TOKEN = "hf_MOCKTOKENdoNotLeak0123456789"


# --- the cross-object rules, applied to any graph ----------------------------------------------


def check_services_select_one_workload(graph: Graph) -> None:
    all_pods = wm.pods(graph)
    for svc in wm.services(graph):
        selected = [p for p in all_pods if p.namespace == svc.namespace and wm.matches(svc.selector, p.labels)]
        assert len(selected) == 1, f"Service {svc.namespace}/{svc.name} selects {[p.owner for p in selected]}"
        declared = wm.declared_ports(selected[0])
        for port in svc.ports:
            target = port.get("targetPort", port["port"])
            assert target in declared, (
                f"Service {svc.namespace}/{svc.name} targets {target!r}, not a port of {selected[0].owner}"
            )


def check_urls_point_to_services(graph: Graph) -> None:
    exposed = {(s.namespace, s.name): {p["port"] for p in s.ports} for s in wm.services(graph)}
    for owner, name, url in wm.in_cluster_urls(graph):
        match = wm.URL.match(url)
        assert match, f"{owner} {name}={url} is not a Service URL"
        service, namespace, port = match.group(1), match.group(2), int(match.group(3))
        assert (namespace, service) in exposed, f"{owner} {name}={url}: no Service {namespace}/{service}"
        assert port in exposed[(namespace, service)], f"{owner} {name}={url}: the Service does not expose {port}"


def check_referenced_secrets_and_config_maps_exist(graph: Graph) -> None:
    present = {"Secret": wm.secret_keys(graph), "ConfigMap": wm.config_map_keys(graph)}
    for ref in wm.references(graph):
        keys = present[ref.kind].get((ref.namespace, ref.name))
        assert keys is not None, f"{ref.owner} reads {ref.kind} {ref.namespace}/{ref.name}, which is not created"
        assert ref.key is None or ref.key in keys, (
            f"{ref.owner} reads key {ref.key} of {ref.namespace}/{ref.name}, which it lacks"
        )


def check_gpu_pods(graph: Graph) -> None:
    """A pod requests GPUs exactly when it tolerates the GPU taint and selects GPU nodes; a node agent
    (a DaemonSet) on GPU nodes tolerates and selects them but takes no GPU (it would hold one per node)."""
    for pod in wm.pods(graph):
        tolerates = wm.GPU_TAINT in (pod.spec.get("tolerations") or [])
        selects = (pod.spec.get("nodeSelector") or {}).get("nvidia.com/gpu.present") == "true"
        if pod.kind == "DaemonSet":
            assert tolerates == selects and not pod.requests_gpu, (
                f"{pod.owner}: a node agent tolerates the taint {tolerates}, selects GPU nodes {selects}, requests a "
                f"GPU {pod.requests_gpu}"
            )
        else:
            assert pod.requests_gpu == tolerates == selects, (
                f"{pod.owner}: requests a GPU {pod.requests_gpu}, tolerates the taint {tolerates}, selects GPU nodes "
                f"{selects}"
            )
        for c in pod.containers():
            limits, requests = c["resources"].get("limits", {}), c["resources"].get("requests", {})
            assert limits.get(wm.GPU) == requests.get(wm.GPU), f"{pod.owner}/{c['name']}: GPU request != limit"


@dataclass(frozen=True)
class Finding:
    rule: str
    owner: str
    detail: str


def resource_findings(graph: Graph) -> Iterator[Finding]:
    for pod in wm.pods(graph):
        for c in pod.containers():
            for kind in ("requests", "limits"):
                if not {"cpu", "memory"} <= set((c.get("resources") or {}).get(kind) or {}):
                    yield Finding("resources", pod.owner, f"{c['name']}: no cpu and memory {kind}")


def probe_findings(graph: Graph) -> Iterator[Finding]:
    for pod in wm.pods(graph):
        if pod.long_running:
            for c in pod.containers(init=False):
                if not (c.get("readinessProbe") and c.get("livenessProbe")):
                    yield Finding("probes", pod.owner, f"{c['name']} lacks a readiness or liveness probe")


def hardening_findings(graph: Graph) -> Iterator[Finding]:
    """Pod Security "restricted" for every pod, whatever its namespace enforces."""
    version = wm.kubernetes_version(graph)
    for pod in wm.pods(graph):
        for v in violations({"annotations": pod.annotations}, pod.spec, "restricted", version):
            yield Finding(f"pss:{v.check}", pod.owner, v.detail)


def api_token_findings(graph: Graph) -> Iterator[Finding]:
    """Pods that get a Kubernetes API token: the pod does not opt out, nor its service account."""
    accounts = {(a.namespace, a.name): a.manifest for a in wm.cluster_objects(graph, "ServiceAccount")}
    for pod in wm.pods(graph):
        account = accounts.get((pod.namespace, pod.spec.get("serviceAccountName") or "default"), {})
        if pod.spec.get("automountServiceAccountToken", account.get("automountServiceAccountToken")) is not False:
            yield Finding(
                "api-token", pod.owner, f"mounts the token of {pod.spec.get('serviceAccountName') or 'default'}"
            )


WAIVABLE: tuple[Callable[[Graph], Iterator[Finding]], ...] = (
    resource_findings,
    probe_findings,
    hardening_findings,
    api_token_findings,
)


def check_findings_are_waived(graph: Graph, rules=WAIVABLE) -> None:
    unwaived = [f for rule in rules for f in rule(graph) if not waived(f.owner, f.rule)]
    assert not unwaived, "\n".join(f"{f.owner}: {f.rule}: {f.detail}" for f in unwaived)


def check_pod_security_admits_every_pod(graph: Graph) -> None:
    """What the API server's Pod Security admission would refuse, at the level each namespace enforces."""
    namespaces, cluster = wm.namespaces(graph), wm.kubernetes_version(graph)
    for pod in wm.pods(graph):
        # A namespace without the label (or not created: check_namespaces says so) enforces nothing.
        labels = namespaces.get(pod.namespace, {})
        level = labels.get("pod-security.kubernetes.io/enforce", "privileged")
        refused = violations(
            {"annotations": pod.annotations},
            pod.spec,
            level,
            policy_version(labels.get("pod-security.kubernetes.io/enforce-version"), cluster),
        )
        assert not refused, f"{pod.owner}: namespace {pod.namespace} enforces {level}: " + "; ".join(
            f"{v.check}: {v.detail}" for v in refused
        )


def check_namespaces(graph: Graph) -> None:
    namespaces = wm.namespaces(graph)
    policies = {(a.namespace, a.name): a.manifest for a in wm.cluster_objects(graph, "NetworkPolicy")}
    workload_namespaces = {p.namespace for p in wm.pods(graph)} | {c["namespace"] for c in wm.charts(graph).values()}
    for ns in workload_namespaces:
        assert ns in namespaces, f"namespace {ns} is not created"
        enforced = NAMESPACE_LEVELS.get(ns, ("restricted",))[0]
        assert namespaces[ns]["pod-security.kubernetes.io/enforce"] == enforced, ns
        # A privileged namespace would only warn about its own pods on every update.
        assert namespaces[ns]["pod-security.kubernetes.io/warn"] == (
            "privileged" if enforced == "privileged" else "restricted"
        ), ns
        assert (ns, "default-deny") in policies and (ns, "allow-dns") in policies, f"namespace {ns} is not isolated"
        deny = policies[(ns, "default-deny")]["spec"]
        assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}, ns
        dns = policies[(ns, "allow-dns")]["spec"]["egress"][0]
        assert {(p["protocol"], p["port"]) for p in dns["ports"]} == {("UDP", 53), ("TCP", 53)}


def check_no_secret_in_plain_values(graph: Graph, extra: tuple[str, ...] = ()) -> None:
    """Generated passwords and configured tokens appear only inside Secrets, and there only as secrets;
    what the charts render keeps them in Secrets too."""
    marks = (SECRET_MARK, *extra)
    for r in graph.resources:
        is_secret_object = r.type == "kubernetes:core/v1:Secret"
        for path, value in walk(r.raw_inputs):
            if isinstance(value, str) and any(m in value for m in marks):
                assert is_secret_object or r.type.startswith("random:"), (
                    f"{r.type} {r.name}: {path} holds a secret value"
                )
        if is_secret_object:
            data = r.raw_inputs.get("stringData")
            assert isinstance(data, Secret) or all(isinstance(v, Secret) for v in data.values()), (
                f"Secret {r.name}: its data is not a Pulumi secret"
            )
    leaks = list(rendered_secret_values(graph, marks))
    assert not leaks, "\n".join(leaks)


def rendered_secret_values(graph: Graph, marks: tuple[str, ...]) -> Iterator[str]:
    """Where a chart puts a secret value outside a Secret."""
    for a in wm.applied(graph):
        if a.source != wm.PROGRAM and a.kind != "Secret":
            for path, value in walk(a.manifest):
                if isinstance(value, str) and any(m in value for m in marks):
                    yield f"{a.ident} ({a.source}): {path} holds a secret value"


ALL_CHECKS = (
    check_services_select_one_workload,
    check_urls_point_to_services,
    check_referenced_secrets_and_config_maps_exist,
    check_gpu_pods,
    check_findings_are_waived,
    check_pod_security_admits_every_pod,
    check_namespaces,
    check_no_secret_in_plain_values,
)


@pytest.mark.parametrize("check", ALL_CHECKS, ids=lambda c: c.__name__)
def test_cross_object_rules(graph: Graph, check):
    check(graph)


def test_the_rules_see_every_chart_pod(graph: Graph):
    """Each chart's pods are in the model the rules read, not only our own."""
    releases = {r.label for r in helm.releases(graph)}
    assert releases and releases == {p.source for p in wm.pods(graph) if p.source.startswith("chart ")}


def test_every_waiver_is_still_needed():
    seen = {(f.owner, f.rule) for stack in stack_names() for rule in WAIVABLE for f in rule(graph_of(stack))}
    stale = sorted((w.owner, r) for w in WAIVERS for r in w.rules if (w.owner, r) not in seen)
    assert not stale, f"no stack breaks these rules any more: drop them from tests/exceptions.py: {stale}"


# --- the rules catch what they are for ---------------------------------------------------------


def _tamper(graph: Graph, type_: str, name: str, change) -> Graph:
    resources = copy.deepcopy(graph.resources)
    target = next(r for r in resources if r.type == type_ and r.name == name)
    change(target.raw_inputs)
    return Graph(graph.stack, resources, graph.exports, graph.seconds)


def chart_values(change):
    return lambda inputs: change(inputs["values"])


CHART = "kubernetes:helm.sh/v4:Chart"


@pytest.mark.parametrize(
    "check,type_,name,change",
    [
        (
            check_services_select_one_workload,
            "kubernetes:core/v1:Service",
            "rag-svc",
            lambda i: i["spec"]["selector"].update({"app.kubernetes.io/name": "ragg"}),
        ),
        (
            check_services_select_one_workload,
            "kubernetes:core/v1:Service",
            "llm-svc",
            lambda i: i["spec"]["ports"][0].update(targetPort="metrics"),
        ),
        (
            check_services_select_one_workload,
            CHART,
            "jupyterhub",  # the chart's Service on a port the proxy lacks
            chart_values(
                lambda v: v["proxy"]["service"].update(extraPorts=[{"name": "x", "port": 7000, "targetPort": 7000}])
            ),
        ),
        (
            check_urls_point_to_services,
            "kubernetes:apps/v1:Deployment",
            "chatbot",
            lambda i: i["spec"]["template"]["spec"]["containers"][0]["env"].append(
                {"name": "RAG_URL", "value": "http://rag.rag.svc.cluster.local:9000"}
            ),
        ),
        (
            check_referenced_secrets_and_config_maps_exist,
            "kubernetes:apps/v1:Deployment",
            "rag",
            lambda i: i["spec"]["template"]["spec"]["containers"][0]["env"].append(
                {"name": "X", "valueFrom": {"secretKeyRef": {"name": "qdrant-api-key", "key": "apikey"}}}
            ),
        ),
        (
            check_referenced_secrets_and_config_maps_exist,
            CHART,
            "jupyterhub",  # the hub reads a Secret nobody creates
            chart_values(
                lambda v: v["hub"]["extraEnv"].update(X={"valueFrom": {"secretKeyRef": {"name": "nope", "key": "k"}}})
            ),
        ),
        (
            check_gpu_pods,
            "kubernetes:batch/v1:Job",
            "finetune-loyalty",
            lambda i: i["spec"]["template"]["spec"].update(tolerations=[]),
        ),
        (
            check_gpu_pods,
            CHART,
            "nvidia-device-plugin",  # the plugin on GPU nodes without tolerating their taint
            chart_values(lambda v: v.update(tolerations=[])),
        ),
        (
            check_findings_are_waived,
            "kubernetes:apps/v1:Deployment",
            "llm",
            lambda i: i["spec"]["template"]["spec"]["containers"][0].pop("livenessProbe"),
        ),
        (
            check_findings_are_waived,
            "kubernetes:apps/v1:Deployment",
            "chatbot",
            lambda i: i["spec"]["template"]["spec"]["containers"][0]["securityContext"].update(
                allowPrivilegeEscalation=True
            ),
        ),
        (
            check_findings_are_waived,
            CHART,
            "jupyterhub",  # the hub's chart resources taken away
            chart_values(lambda v: v["hub"].pop("resources")),
        ),
        (
            check_findings_are_waived,
            CHART,
            "jupyterhub",  # the proxy given the namespace's API token again
            chart_values(lambda v: v["proxy"]["chp"].pop("extraPodSpec")),
        ),
        (
            check_pod_security_admits_every_pod,
            CHART,
            "qdrant",  # a privileged Qdrant in a "restricted" namespace
            chart_values(lambda v: v["containerSecurityContext"].update(privileged=True)),
        ),
        (
            check_pod_security_admits_every_pod,
            CHART,
            "jupyterhub",  # the metadata-blocking init container is privileged
            chart_values(lambda v: v["singleuser"]["cloudMetadata"].update(blockWithIptables=True)),
        ),
        (
            check_no_secret_in_plain_values,
            "kubernetes:apps/v1:Deployment",
            "rag",
            lambda i: i["spec"]["template"]["spec"]["containers"][0]["env"].append(
                {"name": "KEY", "value": SECRET_MARK + "abc"}
            ),
        ),
    ],
)
def test_each_rule_fails_on_the_fault_it_guards_against(dev: Graph, check, type_, name, change):
    check(dev)  # holds before the change
    with pytest.raises(AssertionError):
        check(_tamper(dev, type_, name, change))


def test_a_secret_a_chart_writes_into_a_config_map_is_found(dev: Graph):
    graph = _tamper(
        dev, CHART, "qdrant", chart_values(lambda v: v["config"].update(service={"api_key": SECRET_MARK + "k"}))
    )
    rendered = [a for a in wm.cluster_objects(graph, "ConfigMap") if a.name == "qdrant"]
    assert SECRET_MARK in json.dumps(rendered[0].manifest)  # the chart copies config into its ConfigMap
    assert [leak.split(" (")[0] for leak in rendered_secret_values(graph, (SECRET_MARK,))] == [
        "ConfigMap vector-db/qdrant"
    ]


# --- traffic -----------------------------------------------------------------------------------

JUPYTERHUB_FLOWS = {  # the chart's own policies: the proxy in front of the hub and the notebooks
    ("proxy", "hub", 8081),
    ("proxy", "notebook", 8888),
    ("hub", "proxy", 8001),
    ("hub", "notebook", 8888),
    ("notebook", "hub", 8081),
    ("notebook", "proxy", 8000),
}
EXPECTED_FLOWS = {
    ("chatbot", "rag", 8000),
    ("chatbot", "llm", 8000),
    ("rag", "qdrant", 6333),
    ("rag", "llm", 8000),
    ("notebook", "llm", 8000),
    ("notebook", "qdrant", 6333),
    # The private model's Listener: the router pod port Skupper gives it (the first one, 1024).
    ("chatbot", "skupper-router", wm.SKUPPER_FIRST_LISTENER_PORT),
    *JUPYTERHUB_FLOWS,
}


def test_network_policies_allow_exactly_the_platform_flows(dev: Graph):
    assert wm.allowed_flows(dev) == EXPECTED_FLOWS


@pytest.mark.parametrize(
    "change,extra",
    [
        # Notebooks allowed every private address: they reach the chatbot behind its load balancer.
        (
            lambda v: v["singleuser"]["networkPolicy"]["egressAllowRules"].update(privateIPs=True),
            ("notebook", "chatbot", 7860),
        ),
        # The hub's chart default (every private address): it reaches the Skupper router's link ports.
        (lambda v: v["hub"]["networkPolicy"].update(egressAllowRules={}, egress=[]), ("hub", "skupper-router", 55671)),
    ],
)
def test_a_chart_policy_admitting_more_than_the_plan_is_found(dev: Graph, change, extra):
    flows = wm.allowed_flows(_tamper(dev, CHART, "jupyterhub", chart_values(change)))
    assert extra in flows - EXPECTED_FLOWS


def test_internet_egress_is_https_only(graph: Graph):
    openers = set()
    for _, m in wm.objects(graph, "NetworkPolicy"):
        for rule in m["spec"].get("egress") or []:
            for peer in rule.get("to") or []:
                if "ipBlock" in peer:
                    assert peer["ipBlock"] == {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}
                    assert rule["ports"] == [{"protocol": "TCP", "port": 443}]
                    openers.add(m["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"])
    cfg, plan = parsed(graph), planned_workspaces(graph)
    expected = (
        {"rag"}
        | {s.name for s in plan.serving}
        | {f"finetune-{t.name}" for t in plan.finetune}
        # The device plugin, Skupper's controller and router sidecar call the Kubernetes API; Karpenter
        # calls it and the EC2, SQS, IAM, SSM and pricing APIs.
        | ({"nvidia-device-plugin"} if cfg.gpu_pools else set())
        | ({"karpenter"} if cfg.gpu_node_pools else set())
        | ({"skupper-controller", "skupper-router"} if cfg.private_model.enabled else set())
    )
    assert openers == expected  # the chatbot and Qdrant reach nothing outside the cluster


INSTANCE_METADATA = Endpoint("instance-metadata", "", {}, "169.254.169.254", pod=False)


def test_no_pod_reaches_the_instance_metadata_service(graph: Graph):
    """Evaluated over every policy, the charts' included: pods use IRSA, never the node's role."""
    evaluator = wm.evaluator(graph)
    reaching = {
        e.name for e in wm.endpoints(graph) for port in (80, 443) if evaluator.allows(e, INSTANCE_METADATA, port)
    }
    assert reaching == set()
    # Without the charts' policies' exception, the notebooks would (their egress admits public addresses).
    policies = copy.deepcopy([a.manifest for a in wm.cluster_objects(graph, "NetworkPolicy")])
    for p in policies:
        for rule in p["spec"].get("egress") or []:
            for peer in rule.get("to") or []:
                if "ipBlock" in peer:
                    peer["ipBlock"]["except"] = [
                        c for c in peer["ipBlock"].get("except", []) if c != "169.254.169.254/32"
                    ]
    opened = type(evaluator)(policies, wm.namespaces(graph))
    assert "notebook" in {e.name for e in wm.endpoints(graph) if opened.allows(e, INSTANCE_METADATA, 80)}


def test_chatbot_is_the_only_public_entry(graph: Graph):
    cfg = parsed(graph)
    public = [s for s in wm.services(graph) if s.type in ("LoadBalancer", "NodePort")]
    if cfg.jupyterhub.public:
        (hub,) = [s for s in public if (s.namespace, s.name) == ("jupyterhub", "proxy-public")]
        public.remove(hub)
    if cfg.private_model.enabled:
        # The Skupper router's link access: the private site links in (mutual TLS, site CA only).
        (link,) = [s for s in public if s.namespace == "private-model"]
        assert link.name == "skupper-router" and {p["port"] for p in link.ports} == set(wm.SKUPPER_LINK_PORTS.values())
        public.remove(link)
    if cfg.chatbot.exposure == "loadBalancer":
        (svc,) = public
        assert (svc.namespace, svc.name) == ("chatbot", "chatbot")
        assert svc.source_ranges == list(cfg.chatbot.source_ranges)
    else:
        assert public == []


# --- each workload can be switched off ---------------------------------------------------------

DEV_WORKSPACES = stack_config("dev")["genai-eks:workspaces"]
OFF = {
    "jupyterhub": {"genai-eks:jupyterhub": {"enabled": False}},
    "finetune": {"genai-eks:workspaces": [w for w in DEV_WORKSPACES if "finetune" not in w]},
    "inference": {
        "genai-eks:workspaces": [w for w in DEV_WORKSPACES if "inference" not in w],
        "genai-eks:rag": {"llmBaseUrl": "https://llm.example.com/v1", "llmModel": "gpt-x"},
    },
    "qdrant+rag": {"genai-eks:qdrant": {"enabled": False}, "genai-eks:rag": {"enabled": False}},
    "rag": {"genai-eks:rag": {"enabled": False}},
    "chatbot": {"genai-eks:chatbot": {"enabled": False}},
    "privateModel": {"genai-eks:privateModel": {"enabled": False}},
}
GONE = {  # what must disappear, by (type, name)
    "jupyterhub": {("kubernetes:helm.sh/v4:Chart", "jupyterhub")},
    "finetune": {("kubernetes:batch/v1:Job", "finetune-loyalty")},
    "inference": {("kubernetes:apps/v1:Deployment", "llm")},
    "qdrant+rag": {("kubernetes:helm.sh/v4:Chart", "qdrant"), ("kubernetes:apps/v1:Deployment", "rag")},
    "rag": {("kubernetes:apps/v1:Deployment", "rag")},
    "chatbot": {("kubernetes:apps/v1:Deployment", "chatbot")},
    "privateModel": {
        ("kubernetes:yaml/v2:ConfigFile", "skupper-install"),
        ("kubernetes:skupper.io/v2alpha1:Site", "private-model-site"),
        ("kubernetes:skupper.io/v2alpha1:Listener", "private-model-listener"),
    },
}


@pytest.mark.parametrize("off", list(OFF))
def test_a_workload_switched_off_leaves_the_others_whole(dev: Graph, off: str):
    config = stack_config("dev")
    config.update(OFF[off])
    graph = run_program("dev", config)
    present = {(r.type, r.name) for r in graph.resources}
    assert GONE[off].isdisjoint(present)
    workloads_before = {
        (r.type, r.name)
        for r in dev.resources
        if r.type.endswith((":Deployment", ":Job", ":Chart", ":ConfigFile", ":Site", ":Listener"))
    }
    others = workloads_before - GONE[off]
    assert others <= present, f"switching off {off} removed {others - present}"
    for check in ALL_CHECKS:
        check(graph)
    flows = wm.allowed_flows(graph)
    names = {e.name for e in wm.endpoints(graph)}
    assert flows == {f for f in EXPECTED_FLOWS if f[0] in names and f[1] in names} - (
        {("rag", "llm", 8000)} if off == "inference" else set()
    )


def test_chatbot_offers_only_assistants_whose_backends_run():
    config = stack_config("dev")
    config.update(
        {"genai-eks:rag": {"enabled": False}, "genai-eks:workspaces": OFF["inference"]["genai-eks:workspaces"]}
    )
    graph = run_program("dev", config)
    env = wm.env_of(next(p for p in wm.pods(graph) if p.owner == "Deployment chatbot/chatbot").spec["containers"][0])
    assert not {"RAG_URL", "LLM_BASE_URL", "LOYALTY_MODEL"} & set(env)
    assert ("chatbot", "rag", 8000) not in wm.allowed_flows(graph)


# --- secrets -------------------------------------------------------------------------------------


def test_hugging_face_token_reaches_pods_only_through_secrets():
    config = stack_config("dev")
    config["genai-eks:huggingFaceToken"] = HF_TOKEN
    graph = run_program("dev", config, secret_keys=["genai-eks:huggingFaceToken"])
    check_no_secret_in_plain_values(graph, extra=(HF_TOKEN,))
    tokens = [m for _, m in wm.objects(graph, "Secret") if m["metadata"]["name"].endswith("huggingface-token")]
    assert {(m["metadata"]["namespace"], m["metadata"]["name"]) for m in tokens} == {
        ("finetune", "finetune-loyalty-huggingface-token"),
        ("inference", "llm-huggingface-token"),
    }
    assert all(m["stringData"] == {"token": HF_TOKEN} for m in tokens)
    for pod in wm.pods(graph):
        if pod.namespace in ("finetune", "inference"):
            main = pod.spec["containers"][0]
            assert wm.env_of(main)["HF_TOKEN"] == {
                "name": "HF_TOKEN",
                "valueFrom": {
                    "secretKeyRef": {"name": f"{pod.spec['serviceAccountName']}-huggingface-token", "key": "token"}
                },
            }
    check_referenced_secrets_and_config_maps_exist(graph)


def test_without_a_token_no_pod_asks_for_one(dev: Graph):
    assert not any("HF_TOKEN" in wm.env_of(c) for p in wm.pods(dev) for c in p.containers())


def test_generated_passwords_are_secret_outputs(dev: Graph):
    for key in ("jupyterhubPassword", "jupyterhubAdminPassword"):
        value, is_secret = dev.exports[key]
        assert is_secret and value.startswith(SECRET_MARK)
    login = next(m for _, m in wm.objects(dev, "Secret") if m["metadata"]["name"] == "jupyterhub-login")
    assert len(login["stringData"]["password"]) >= 8 and len(login["stringData"]["admin-password"]) >= 32


# --- identities --------------------------------------------------------------------------------


def roles_by_arn(graph: Graph) -> dict[str, dict]:
    return {f"arn:aws:iam::{ACCOUNT}:role/{r.name}": r.inputs for r in graph.of_type("aws:iam/role:Role")}


def test_each_service_account_role_trusts_exactly_that_account(graph: Graph):
    roles = roles_by_arn(graph)
    accounts = [m for _, m in wm.objects(graph, "ServiceAccount")]
    assert {(m["metadata"]["namespace"], m["metadata"]["name"]) for m in accounts} >= {
        ("jupyterhub", "notebook"),
        ("inference", "llm"),
        ("rag", "rag"),
    }
    for m in accounts:
        arn = m["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
        trust = json.loads(roles[arn]["assumeRolePolicy"])
        (condition,) = [s["Condition"]["StringEquals"] for s in trust["Statement"]]
        subject = next(v for k, v in condition.items() if k.endswith(":sub"))
        assert subject == f"system:serviceaccount:{m['metadata']['namespace']}:{m['metadata']['name']}"


def test_every_pod_service_account_exists(graph: Graph):
    accounts = {(a.namespace, a.name) for a in wm.cluster_objects(graph, "ServiceAccount")}
    named = [p for p in wm.pods(graph) if p.spec.get("serviceAccountName")]
    assert {"Pod jupyterhub/notebook-cpu", "Deployment jupyterhub/hub"} <= {p.owner for p in named}
    for pod in named:
        assert (pod.namespace, pod.spec["serviceAccountName"]) in accounts, pod.owner


def policy_of(graph: Graph, role_name_prefix: str) -> dict:
    (policy,) = [
        json.loads(r.inputs["policy"])
        for r in graph.of_type("aws:iam/rolePolicy:RolePolicy")
        if r.name.startswith(role_name_prefix)
    ]
    return policy


def grants(policy: dict) -> set[tuple[str, str]]:
    """(resource, action) pairs the policy allows."""
    return {
        (resource, action)
        for s in policy["Statement"]
        if s["Effect"] == "Allow"
        for resource in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])
        for action in s["Action"]
    }


def test_workload_roles_reach_only_their_prefixes(dev: Graph):
    datasets = "arn:aws:s3:::genai-dev-datasets-1a2b3c4d"
    assets = "arn:aws:s3:::genai-dev-model-assets-1a2b3c4d"
    objects = lambda policy: {r for r, a in grants(policy) if a == "s3:GetObject"}
    writes = lambda policy: {r for r, a in grants(policy) if a == "s3:PutObject"}

    training = policy_of(dev, "finetune-loyalty-role")
    assert objects(training) == {
        f"{datasets}/loyalty/*",
        f"{assets}/adapters/loyalty/*",
        f"{assets}/checkpoints/loyalty/*",
    }
    assert writes(training) == {f"{assets}/adapters/loyalty/*", f"{assets}/checkpoints/loyalty/*"}

    serving = policy_of(dev, "llm-role")
    assert objects(serving) == {f"{assets}/models/Qwen/Qwen2.5-7B-Instruct/*", f"{assets}/adapters/loyalty/*"}
    assert writes(serving) == set()

    assert objects(policy_of(dev, "rag-role")) == {f"{datasets}/catalog/*"}
    assert writes(policy_of(dev, "rag-role")) == set()
    assert objects(policy_of(dev, "jupyterhub-notebook-role")) == {f"{datasets}/*"}
    assert writes(policy_of(dev, "jupyterhub-notebook-role")) == set()
