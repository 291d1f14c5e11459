"""The workloads, checked across objects: Services find their pods, URLs find their Services,
Secrets exist, GPU pods are scheduled right, pods are hardened, traffic is exactly what the
platform needs, and each workload can be switched off without breaking the others."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from tests import workload_model as wm
from tests.harness import ACCOUNT, SCHEMAS, SECRET_MARK, Graph, Secret, run_program, stack_config, walk
from tests.harness import parsed_config as parsed

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
            assert target in declared, f"Service {svc.namespace}/{svc.name} targets {target!r}, not a port of {selected[0].owner}"


def check_urls_point_to_services(graph: Graph) -> None:
    exposed = {(s.namespace, s.name): {p["port"] for p in s.ports} for s in wm.services(graph)}
    for owner, name, url in wm.in_cluster_urls(graph):
        match = wm.URL.match(url)
        assert match, f"{owner} {name}={url} is not a Service URL"
        service, namespace, port = match.group(1), match.group(2), int(match.group(3))
        assert (namespace, service) in exposed, f"{owner} {name}={url}: no Service {namespace}/{service}"
        assert port in exposed[(namespace, service)], f"{owner} {name}={url}: the Service does not expose {port}"


def check_referenced_secrets_exist(graph: Graph) -> None:
    secrets = wm.secret_keys(graph)
    for owner, namespace, name, key in wm.secret_references(graph):
        assert (namespace, name) in secrets, f"{owner} reads Secret {namespace}/{name}, which is not created"
        assert key in secrets[(namespace, name)], f"{owner} reads key {key} of {namespace}/{name}, which it lacks"


def check_gpu_pods(graph: Graph) -> None:
    for pod in wm.pods(graph):
        tolerates = wm.GPU_TAINT in (pod.spec.get("tolerations") or [])
        selects = (pod.spec.get("nodeSelector") or {}).get("nvidia.com/gpu.present") == "true"
        assert pod.requests_gpu == tolerates == selects, (
            f"{pod.owner}: requests a GPU {pod.requests_gpu}, tolerates the taint {tolerates}, selects GPU nodes {selects}")
        for c in pod.containers():
            limits, requests = c["resources"].get("limits", {}), c["resources"].get("requests", {})
            assert limits.get(wm.GPU) == requests.get(wm.GPU), f"{pod.owner}/{c['name']}: GPU request != limit"


def check_resources_and_probes(graph: Graph) -> None:
    for pod in wm.pods(graph):
        if pod.from_upstream:
            continue  # Skupper's controller and router: their Deployments are made as Skupper publishes them
        for c in pod.containers():
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c["resources"].get(kind) or {}), f"{pod.owner}/{c['name']}: no {kind}"
        if pod.long_running:
            for c in pod.containers(init=False):
                assert c.get("readinessProbe") and c.get("livenessProbe"), f"{pod.owner}/{c['name']} lacks probes"


# Pods that cannot run with the runtime's seccomp profile, and why (README: security exceptions).
SECCOMP_EXCEPTIONS = {"skupper-router": "Skupper 2.2.1's router Deployment sets no seccomp profile"}


def check_hardened(graph: Graph) -> None:
    for pod in wm.pods(graph):
        pod_context = pod.spec.get("securityContext") or {}
        excepted = pod.from_upstream and pod.labels.get("app.kubernetes.io/name") in SECCOMP_EXCEPTIONS
        if excepted:
            assert not pod_context.get("seccompProfile"), f"{pod.owner}: has a seccomp profile now: drop the exception"
            pod_context = {**pod_context, "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
        assert pod_context.get("runAsNonRoot") is True, f"{pod.owner}: runAsNonRoot"
        for c in pod.containers():
            ctx = c.get("securityContext") or {}
            where = f"{pod.owner}/{c['name']}"
            assert ctx.get("allowPrivilegeEscalation") is False, f"{where}: privilege escalation"
            assert ctx.get("capabilities", {}).get("drop") == ["ALL"], f"{where}: capabilities not dropped"
            assert ctx.get("privileged") in (None, False), f"{where}: privileged"
            seccomp = ctx.get("seccompProfile") or pod_context.get("seccompProfile")
            assert seccomp == {"type": "RuntimeDefault"}, f"{where}: seccomp"
            assert ctx.get("runAsUser", pod_context.get("runAsUser", 1)) != 0, f"{where}: runs as root"


# Namespaces that cannot enforce Pod Security "restricted" (README: security exceptions).
POD_SECURITY_EXCEPTIONS = {
    "nvidia-device-plugin": "privileged",  # the plugin mounts the kubelet's socket; no policies of ours
    "private-model": "baseline",           # Skupper's router sets no seccomp profile (SECCOMP_EXCEPTIONS)
}


def check_namespaces(graph: Graph) -> None:
    namespaces = wm.namespaces(graph)
    policies = {(m["metadata"]["namespace"], m["metadata"]["name"]): m for _, m in wm.objects(graph, "NetworkPolicy")}
    workload_namespaces = {p.namespace for p in wm.pods(graph)} | {c["namespace"] for c in wm.charts(graph).values()}
    for ns in workload_namespaces:
        assert ns in namespaces, f"namespace {ns} is not created"
        if ns == "nvidia-device-plugin":
            continue  # privileged by nature (README: security exceptions)
        assert namespaces[ns]["pod-security.kubernetes.io/enforce"] == POD_SECURITY_EXCEPTIONS.get(ns, "restricted"), ns
        assert namespaces[ns]["pod-security.kubernetes.io/warn"] == "restricted", ns
        deny = policies[(ns, "default-deny")]["spec"]
        assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}, ns
        dns = policies[(ns, "allow-dns")]["spec"]["egress"][0]
        assert {(p["protocol"], p["port"]) for p in dns["ports"]} == {("UDP", 53), ("TCP", 53)}


def check_no_secret_in_plain_values(graph: Graph, extra: tuple[str, ...] = ()) -> None:
    """Generated passwords and configured tokens appear only inside Secrets, and there only as secrets."""
    marks = (SECRET_MARK, *extra)
    for r in graph.resources:
        is_secret_object = r.type == "kubernetes:core/v1:Secret"
        for path, value in walk(r.raw_inputs):
            if isinstance(value, str) and any(m in value for m in marks):
                assert is_secret_object or r.type.startswith("random:"), f"{r.type} {r.name}: {path} holds a secret value"
        if is_secret_object:
            data = r.raw_inputs.get("stringData")
            assert isinstance(data, Secret) or all(isinstance(v, Secret) for v in data.values()), (
                f"Secret {r.name}: its data is not a Pulumi secret")


ALL_CHECKS = (check_services_select_one_workload, check_urls_point_to_services, check_referenced_secrets_exist,
              check_gpu_pods, check_resources_and_probes, check_hardened, check_namespaces, check_no_secret_in_plain_values)


@pytest.mark.parametrize("check", ALL_CHECKS, ids=lambda c: c.__name__)
def test_cross_object_rules(graph: Graph, check):
    check(graph)


# --- the rules catch what they are for ---------------------------------------------------------

def _tamper(graph: Graph, type_: str, name: str, change) -> Graph:
    import copy
    resources = copy.deepcopy(graph.resources)
    target = next(r for r in resources if r.type == type_ and r.name == name)
    change(target.raw_inputs)
    return Graph(graph.stack, resources, graph.exports, graph.seconds)


@pytest.mark.parametrize("check,type_,name,change", [
    (check_services_select_one_workload, "kubernetes:core/v1:Service", "rag-svc",
     lambda i: i["spec"]["selector"].update({"app.kubernetes.io/name": "ragg"})),
    (check_services_select_one_workload, "kubernetes:core/v1:Service", "llm-svc",
     lambda i: i["spec"]["ports"][0].update(targetPort="metrics")),
    (check_urls_point_to_services, "kubernetes:apps/v1:Deployment", "chatbot",
     lambda i: i["spec"]["template"]["spec"]["containers"][0]["env"].append(
         {"name": "RAG_URL", "value": "http://rag.rag.svc.cluster.local:9000"})),
    (check_referenced_secrets_exist, "kubernetes:apps/v1:Deployment", "rag",
     lambda i: i["spec"]["template"]["spec"]["containers"][0]["env"].append(
         {"name": "X", "valueFrom": {"secretKeyRef": {"name": "qdrant-api-key", "key": "apikey"}}})),
    (check_gpu_pods, "kubernetes:batch/v1:Job", "finetune-loyalty",
     lambda i: i["spec"]["template"]["spec"].update(tolerations=[])),
    (check_resources_and_probes, "kubernetes:apps/v1:Deployment", "llm",
     lambda i: i["spec"]["template"]["spec"]["containers"][0].pop("livenessProbe")),
    (check_hardened, "kubernetes:apps/v1:Deployment", "chatbot",
     lambda i: i["spec"]["template"]["spec"]["containers"][0]["securityContext"].update(allowPrivilegeEscalation=True)),
    (check_no_secret_in_plain_values, "kubernetes:apps/v1:Deployment", "rag",
     lambda i: i["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": "KEY", "value": SECRET_MARK + "abc"})),
])
def test_each_rule_fails_on_the_fault_it_guards_against(dev: Graph, check, type_, name, change):
    with pytest.raises(AssertionError):
        check(_tamper(dev, type_, name, change))


# --- traffic -----------------------------------------------------------------------------------

EXPECTED_FLOWS = {
    ("chatbot", "rag", 8000), ("chatbot", "llm", 8000),
    ("rag", "qdrant", 6333), ("rag", "llm", 8000),
    ("notebook", "llm", 8000), ("notebook", "qdrant", 6333),
    # The private model's Listener: the router pod port Skupper gives it (the first one, 1024).
    ("chatbot", "skupper-router", wm.SKUPPER_FIRST_LISTENER_PORT),
}


def test_network_policies_allow_exactly_the_platform_flows(dev: Graph):
    assert wm.allowed_flows(dev) == EXPECTED_FLOWS


def test_internet_egress_is_https_only_and_never_the_metadata_service(graph: Graph):
    openers = set()
    for _, m in wm.objects(graph, "NetworkPolicy"):
        for rule in m["spec"].get("egress") or []:
            for peer in rule.get("to") or []:
                if "ipBlock" in peer:
                    assert peer["ipBlock"] == {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}
                    assert rule["ports"] == [{"protocol": "TCP", "port": 443}]
                    openers.add(m["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"])
    cfg = parsed(graph)
    expected = ({"rag"} | {s.name for s in cfg.inference_services} | {f"finetune-{t.adapter_name}" for t in cfg.fine_tuning_jobs}
                # Skupper's controller and router sidecar call the Kubernetes API (EKS control plane ENIs).
                | ({"skupper-controller", "skupper-router"} if cfg.private_model.enabled else set()))
    assert openers == expected  # the chatbot and Qdrant reach nothing outside the cluster


def test_chatbot_is_the_only_public_entry(graph: Graph):
    cfg = parsed(graph)
    public = [s for s in wm.services(graph) if s.type in ("LoadBalancer", "NodePort")]
    hub = wm.charts(graph)["jupyterhub"]["values"]["proxy"]["service"]
    assert hub["type"] == ("LoadBalancer" if cfg.jupyterhub.public else "ClusterIP")
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
    "tuning": {"genai-eks:workspaces": [w for w in DEV_WORKSPACES if "tuning" not in w]},
    "inference": {"genai-eks:workspaces": [w for w in DEV_WORKSPACES if "inference" not in w],
                  "genai-eks:rag": {"llmBaseUrl": "https://llm.example.com/v1", "llmModel": "gpt-x"}},
    "qdrant+rag": {"genai-eks:qdrant": {"enabled": False}, "genai-eks:rag": {"enabled": False}},
    "rag": {"genai-eks:rag": {"enabled": False}},
    "chatbot": {"genai-eks:chatbot": {"enabled": False}},
    "privateModel": {"genai-eks:privateModel": {"enabled": False}},
}
GONE = {  # what must disappear, by (type, name)
    "jupyterhub": {("kubernetes:helm.sh/v4:Chart", "jupyterhub")},
    "tuning": {("kubernetes:batch/v1:Job", "finetune-loyalty")},
    "inference": {("kubernetes:apps/v1:Deployment", "llm")},
    "qdrant+rag": {("kubernetes:helm.sh/v4:Chart", "qdrant"), ("kubernetes:apps/v1:Deployment", "rag")},
    "rag": {("kubernetes:apps/v1:Deployment", "rag")},
    "chatbot": {("kubernetes:apps/v1:Deployment", "chatbot")},
    "privateModel": {("kubernetes:yaml/v2:ConfigFile", "skupper-install"), ("kubernetes:skupper.io/v2alpha1:Site", "private-model-site"),
                     ("kubernetes:skupper.io/v2alpha1:Listener", "private-model-listener")},
}


@pytest.mark.parametrize("off", list(OFF))
def test_a_workload_switched_off_leaves_the_others_whole(dev: Graph, off: str):
    config = stack_config("dev")
    config.update(OFF[off])
    graph = run_program("dev", config)
    present = {(r.type, r.name) for r in graph.resources}
    assert GONE[off].isdisjoint(present)
    workloads_before = {(r.type, r.name) for r in dev.resources
                        if r.type.endswith((":Deployment", ":Job", ":Chart", ":ConfigFile", ":Site", ":Listener"))}
    others = workloads_before - GONE[off]
    assert others <= present, f"switching off {off} removed {others - present}"
    for check in ALL_CHECKS:
        check(graph)
    flows = wm.allowed_flows(graph)
    names = {e.name for e in wm.endpoints(graph)}
    assert flows == {f for f in EXPECTED_FLOWS if f[0] in names and f[1] in names} - (
        {("rag", "llm", 8000)} if off == "inference" else set())


def test_chatbot_offers_only_assistants_whose_backends_run():
    config = stack_config("dev")
    config.update({"genai-eks:rag": {"enabled": False}, "genai-eks:workspaces": OFF["inference"]["genai-eks:workspaces"]})
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
        ("training", "finetune-loyalty-huggingface-token"), ("inference", "llm-huggingface-token")}
    assert all(m["stringData"] == {"token": HF_TOKEN} for m in tokens)
    for pod in wm.pods(graph):
        if pod.namespace in ("training", "inference"):
            main = pod.spec["containers"][0]
            assert wm.env_of(main)["HF_TOKEN"] == {"name": "HF_TOKEN", "valueFrom": {
                "secretKeyRef": {"name": f"{pod.spec['serviceAccountName']}-huggingface-token", "key": "token"}}}
    check_referenced_secrets_exist(graph)


def test_without_a_token_no_pod_asks_for_one(dev: Graph):
    assert not any("HF_TOKEN" in wm.env_of(c) for p in wm.pods(dev) for c in p.containers())


def test_generated_passwords_are_secret_outputs(dev: Graph):
    for key in ("jupyterhubPassword", "jupyterhubAdminPassword"):
        value, is_secret = dev.exports[key]
        assert is_secret and value.startswith(SECRET_MARK)
    login = next(m for _, m in wm.objects(dev, "Secret") if m["metadata"]["name"] == "jupyterhub-login")
    assert len(login["stringData"]["password"]) >= 8 and len(login["stringData"]["admin-password"]) >= 32


# --- Helm values ---------------------------------------------------------------------------------

def test_jupyterhub_values_validate_against_the_chart_schema(graph: Graph):
    hub = wm.charts(graph)["jupyterhub"]
    assert (hub["version"], hub["repositoryOpts"]) == ("4.4.0", {"repo": "https://hub.jupyter.org/helm-chart/"})
    schema = yaml.safe_load((SCHEMAS / "jupyterhub" / "values.schema.yaml").read_text())
    values = wm.merged(wm.chart_defaults("jupyterhub"), hub["values"])
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(values), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_jupyterhub_schema_check_catches_a_misspelt_key(dev: Graph):
    schema = yaml.safe_load((SCHEMAS / "jupyterhub" / "values.schema.yaml").read_text())
    values = wm.merged(wm.chart_defaults("jupyterhub"), wm.charts(dev)["jupyterhub"]["values"])
    values["singleuser"]["startTimout"] = 1200
    assert list(jsonschema.Draft7Validator(schema).iter_errors(values))


# Keys the chart reads but documents only as commented-out examples in its values.yaml.
COMMENTED_KEYS = {("qdrant", "persistence.storageClassName")}
# Maps the chart copies verbatim into a manifest (toYaml), so any Kubernetes field is valid there.
VERBATIM = {("qdrant", "podSecurityContext"), ("qdrant", "containerSecurityContext"), ("qdrant", "resources"),
            ("qdrant", "env"), ("qdrant", "config"), ("nvidia-device-plugin", "resources"),
            ("nvidia-device-plugin", "tolerations"), ("nvidia-device-plugin", "nodeSelector")}


def unknown_override_keys(chart: str, overrides: dict, defaults: dict, prefix: str = "") -> list[str]:
    text = (SCHEMAS / chart / "values.yaml").read_text()
    unknown = []
    for key, value in overrides.items():
        path = f"{prefix}{key}"
        if (chart, path) in COMMENTED_KEYS:
            assert f"# {key}:" in text, f"{chart}: {path} is not even a commented example"
            continue
        if not isinstance(defaults, dict) or key not in defaults:
            unknown.append(path)
        elif (chart, path) not in VERBATIM and isinstance(value, dict) and isinstance(defaults[key], dict) and defaults[key]:
            unknown += unknown_override_keys(chart, value, defaults[key], f"{path}.")
    return unknown


@pytest.mark.parametrize("chart", ["qdrant", "nvidia-device-plugin"])
def test_override_keys_exist_in_chart_defaults(graph: Graph, chart: str):
    release = wm.charts(graph)[chart]
    assert unknown_override_keys(chart, release["values"], wm.chart_defaults(chart)) == []
    assert release["version"] == yaml.safe_load((SCHEMAS / chart / "Chart.yaml").read_text())["version"]


def test_override_key_check_catches_a_misspelt_key(dev: Graph):
    values = {**wm.charts(dev)["qdrant"]["values"], "persistance": {"size": "1Gi"}}
    assert unknown_override_keys("qdrant", values, wm.chart_defaults("qdrant")) == ["persistance"]


# --- identities --------------------------------------------------------------------------------

def roles_by_arn(graph: Graph) -> dict[str, dict]:
    return {f"arn:aws:iam::{ACCOUNT}:role/{r.name}": r.inputs for r in graph.of_type("aws:iam/role:Role")}


def test_each_service_account_role_trusts_exactly_that_account(graph: Graph):
    roles = roles_by_arn(graph)
    accounts = [m for _, m in wm.objects(graph, "ServiceAccount")]
    assert {(m["metadata"]["namespace"], m["metadata"]["name"]) for m in accounts} >= {
        ("jupyterhub", "notebook"), ("inference", "llm"), ("rag", "rag")}
    for m in accounts:
        arn = m["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
        trust = json.loads(roles[arn]["assumeRolePolicy"])
        (condition,) = [s["Condition"]["StringEquals"] for s in trust["Statement"]]
        subject = next(v for k, v in condition.items() if k.endswith(":sub"))
        assert subject == f"system:serviceaccount:{m['metadata']['namespace']}:{m['metadata']['name']}"


def test_every_pod_service_account_exists(graph: Graph):
    accounts = {(m["metadata"]["namespace"], m["metadata"]["name"]) for _, m in wm.objects(graph, "ServiceAccount")}
    for pod in wm.pods(graph):
        if pod.spec.get("serviceAccountName"):
            assert (pod.namespace, pod.spec["serviceAccountName"]) in accounts, pod.owner
    hub = wm.charts(graph)["jupyterhub"]["values"]["singleuser"]
    assert ("jupyterhub", hub["serviceAccountName"]) in accounts


def policy_of(graph: Graph, role_name_prefix: str) -> dict:
    (policy,) = [json.loads(r.inputs["policy"]) for r in graph.of_type("aws:iam/rolePolicy:RolePolicy")
                 if r.name.startswith(role_name_prefix)]
    return policy


def grants(policy: dict) -> set[tuple[str, str]]:
    """(resource, action) pairs the policy allows."""
    return {(resource, action) for s in policy["Statement"] if s["Effect"] == "Allow"
            for resource in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])
            for action in s["Action"]}


def test_workload_roles_reach_only_their_prefixes(dev: Graph):
    datasets = "arn:aws:s3:::genai-dev-datasets-1a2b3c4d"
    assets = "arn:aws:s3:::genai-dev-model-assets-1a2b3c4d"
    objects = lambda policy: {r for r, a in grants(policy) if a == "s3:GetObject"}
    writes = lambda policy: {r for r, a in grants(policy) if a == "s3:PutObject"}

    training = policy_of(dev, "finetune-loyalty-role")
    assert objects(training) == {f"{datasets}/loyalty/*", f"{assets}/adapters/loyalty/*", f"{assets}/checkpoints/loyalty/*"}
    assert writes(training) == {f"{assets}/adapters/loyalty/*", f"{assets}/checkpoints/loyalty/*"}

    serving = policy_of(dev, "llm-role")
    assert objects(serving) == {f"{assets}/models/Qwen/Qwen2.5-7B-Instruct/*", f"{assets}/adapters/loyalty/*"}
    assert writes(serving) == set()

    assert objects(policy_of(dev, "rag-role")) == {f"{datasets}/catalog/*"}
    assert writes(policy_of(dev, "rag-role")) == set()
    assert objects(policy_of(dev, "jupyterhub-notebook-role")) == {f"{datasets}/*"}
    assert writes(policy_of(dev, "jupyterhub-notebook-role")) == set()
