"""Traffic as the VPC CNI enforces it (tests/vpc_cni.py): unit cases built from the network-policy
controller's and agent's source, then every stack's configured calls judged by those rules."""

from __future__ import annotations

import pytest

from tests import vpc_cni as cni
from tests import workload_model as wm
from tests.harness import Graph, run_program, stack_config
from tests.network_policy import Endpoint, Evaluator

NODE = "10.0.0.5"
SERVICE_IP = "172.20.0.50"


def pod(name: str, namespace: str, labels: dict, ip: str, *ports: cni.ContainerPort) -> cni.Pod:
    return cni.Pod(name, namespace, labels, ip, tuple(ports))


def policy(namespace: str, selector: dict, *, egress=None, ingress=None, types=("Ingress", "Egress")) -> dict:
    spec = {"podSelector": {"matchLabels": selector}, "policyTypes": list(types)}
    if egress is not None:
        spec["egress"] = egress
    if ingress is not None:
        spec["ingress"] = ingress
    return {"metadata": {"namespace": namespace, "name": f"p-{len(str(spec))}"}, "spec": spec}


def to(selector: dict | None, ports: list, namespace: str | None = None) -> dict:
    peer = {} if selector is None else {"podSelector": {"matchLabels": selector}}
    if namespace:
        peer["namespaceSelector"] = {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
    return {"to": [peer], "ports": ports}


CLIENT = pod("client", "a", {"app": "client"}, "10.0.1.10")
SERVER = pod("server", "b", {"app": "server", "tier": "web"}, "10.0.1.20", cni.ContainerPort(8080, "http"))


def cluster(policies, pods=(CLIENT, SERVER), services=(), mode=cni.STANDARD, namespaces=("a", "b", "c")) -> cni.Agent:
    return cni.Agent(cni.Controller(policies, {ns: {} for ns in namespaces}, list(pods), list(services)), NODE, mode)


def service(
    selector: dict,
    port: int = 80,
    target: int | str = 8080,
    namespace: str = "b",
    ip: str = SERVICE_IP,
    name: str = "svc",
) -> cni.Service:
    return cni.Service(namespace, name, selector, (cni.ServicePort(port, target),), ip)


def egress_entries(agent: cni.Agent, ip: str) -> list[cni.EndpointInfo]:
    return [e for p in agent.controller.policies for e in agent.controller.egress(p) if e.cidr == ip]


# --- the controller: which ClusterIPs a rule admits (pkg/resolvers/endpoints.go) -------------------


def test_a_service_whose_selector_contains_the_pod_selector_is_admitted():
    svc = service({"app": "server", "tier": "web"})
    agent = cluster(
        [policy("a", {"app": "client"}, egress=[to({"app": "server"}, [{"port": 8080}], "b")])], services=[svc]
    )
    assert egress_entries(agent, SERVICE_IP) == [cni.EndpointInfo(SERVICE_IP, (), (cni.L4("TCP", 80),))]
    assert agent.to_service(CLIENT, svc, 80)


def test_a_pod_selector_with_a_label_the_service_selector_lacks_admits_the_pods_not_the_service():
    """The Skupper case: the Listener's Service selects {application, skupper.io/component}."""
    svc = service({"app": "server"})
    rules = [policy("a", {"app": "client"}, egress=[to({"app": "server", "tier": "web"}, [{"port": 8080}], "b")])]
    agent = cluster(rules, services=[svc])
    assert egress_entries(agent, SERVICE_IP) == []
    assert agent.egress(CLIENT, SERVER.ip, 8080)  # the pod itself, as the API says
    verdict = agent.to_service(CLIENT, svc, 80)
    assert not verdict and "is not contained in the selector of Service b/svc" in verdict.reason
    # The API's evaluator admits the same flow pod to pod: the difference is the ClusterIP alone.
    api = Evaluator(rules, {"a": {}, "b": {}})
    assert api.allows(
        Endpoint("client", "a", CLIENT.labels, CLIENT.ip), Endpoint("server", "b", SERVER.labels, SERVER.ip), 8080
    )
    (dropped,) = cni.dropped_service_rules(agent.controller)
    assert (dropped.service, dropped.port) == ("b/svc", 80)


def test_match_expressions_are_read_against_the_service_selector():
    svc = service({"app": "server"})
    rule = {
        "to": [
            {
                "podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["server"]}]},
                "namespaceSelector": {},
            }
        ],
        "ports": [{"port": 8080}],
    }
    assert egress_entries(cluster([policy("a", {"app": "client"}, egress=[rule])], services=[svc]), SERVICE_IP)


def test_the_namespace_selector_picks_the_namespaces_whose_services_count():
    here = service({"app": "server"})
    elsewhere = service({"app": "server"}, namespace="c", ip="172.20.0.51")
    agent = cluster(
        [policy("a", {"app": "client"}, egress=[to({"app": "server"}, [{"port": 8080}], "b")])],
        services=[here, elsewhere],
    )
    assert egress_entries(agent, here.cluster_ip) and not egress_entries(agent, elsewhere.cluster_ip)
    # A bare podSelector means the policy's own namespace: b's Service is not admitted from a.
    agent = cluster([policy("a", {"app": "client"}, egress=[to({"app": "server"}, [{"port": 8080}])])], services=[here])
    assert not egress_entries(agent, here.cluster_ip)


def test_a_peer_without_pod_selector_admits_every_service_of_its_namespaces():
    selectorless = cni.Service("b", "api", {}, (cni.ServicePort(443, 443),), "172.20.0.52")
    agent = cluster([policy("a", {"app": "client"}, egress=[to(None, [{"port": 443}], "b")])], services=[selectorless])
    assert egress_entries(agent, "172.20.0.52") == [cni.EndpointInfo("172.20.0.52", (), (cni.L4("TCP", 443),))]


def test_a_headless_service_gets_no_cluster_ip_entry_its_clients_call_the_pods():
    headless = service({"app": "server"}, ip=None)
    agent = cluster(
        [policy("a", {"app": "client"}, egress=[to({"app": "server"}, [{"port": 8080}], "b")])], services=[headless]
    )
    assert all(e.cidr == SERVER.ip for p in agent.controller.policies for e in agent.controller.egress(p))
    assert agent.to_service(CLIENT, headless, 80)


def test_a_port_range_is_translated_only_when_it_starts_at_the_target_port():
    svc = service({"app": "server"}, port=8000, target=1024)
    router = pod("server", "b", {"app": "server"}, "10.0.1.20", cni.ContainerPort(1024, "listener"))
    starting = cluster(
        [policy("a", {"app": "client"}, egress=[to({"app": "server"}, [{"port": 1024, "endPort": 5670}], "b")])],
        pods=[CLIENT, router],
        services=[svc],
    )
    # service_utils.go: the Service port replaces the start, the rule's end stays.
    assert egress_entries(starting, SERVICE_IP) == [cni.EndpointInfo(SERVICE_IP, (), (cni.L4("TCP", 8000, 5670),))]
    # tc.v4egress.bpf.c: start < port <= end never holds when end < start: the Service port alone.
    assert starting.egress(CLIENT, SERVICE_IP, 8000) and not starting.egress(CLIENT, SERVICE_IP, 8001)
    assert starting.to_service(CLIENT, svc, 8000)
    containing = cluster(
        [policy("a", {"app": "client"}, egress=[to({"app": "server"}, [{"port": 1000, "endPort": 2000}], "b")])],
        pods=[CLIENT, router],
        services=[svc],
    )
    assert egress_entries(containing, SERVICE_IP) == []
    assert containing.egress(CLIENT, router.ip, 1024) and not containing.to_service(CLIENT, svc, 8000)


def test_a_range_ending_above_the_service_port_opens_the_cluster_ip_from_the_service_port_up():
    svc = service({"app": "server"}, port=80, target=1024)
    router = pod("server", "b", {"app": "server"}, "10.0.1.20", cni.ContainerPort(1024))
    agent = cluster(
        [policy("a", {"app": "client"}, egress=[to({"app": "server"}, [{"port": 1024, "endPort": 2000}], "b")])],
        pods=[CLIENT, router],
        services=[svc],
    )
    assert agent.egress(CLIENT, SERVICE_IP, 80) and agent.egress(CLIENT, SERVICE_IP, 1500)
    assert not agent.egress(CLIENT, SERVICE_IP, 79)


def test_a_named_target_port_is_matched_through_the_pods_ports():
    svc = service({"app": "server"}, port=80, target="http")
    numeric = cluster(
        [policy("a", {"app": "client"}, egress=[to({"app": "server"}, [{"port": 8080}], "b")])], services=[svc]
    )
    named = cluster(
        [policy("a", {"app": "client"}, egress=[to({"app": "server"}, [{"port": "http"}], "b")])], services=[svc]
    )
    for agent in (numeric, named):
        assert egress_entries(agent, SERVICE_IP) == [cni.EndpointInfo(SERVICE_IP, (), (cni.L4("TCP", 80),))]
        assert agent.to_service(CLIENT, svc, 80)
    other = cluster(
        [policy("a", {"app": "client"}, egress=[to({"app": "server"}, [{"port": 9090}], "b")])], services=[svc]
    )
    assert egress_entries(other, SERVICE_IP) == []


def test_a_named_target_port_landing_on_a_port_the_rule_does_not_admit_drops_the_service():
    """endpoints_test.go, "bypass: named targetPort with inconsistent container ports"."""
    nginx = pod("nginx", "b", {"shared-backend": "true"}, "10.0.1.30", cni.ContainerPort(80, "http"))
    python = pod("python", "b", {"shared-backend": "true"}, "10.0.1.31", cni.ContainerPort(8080, "http"))
    svc = service({"shared-backend": "true"}, port=80, target="http")
    agent = cluster(
        [policy("a", {"app": "client"}, egress=[to({"shared-backend": "true"}, [{"port": 80}], "b")])],
        pods=[CLIENT, nginx, python],
        services=[svc],
    )
    assert egress_entries(agent, SERVICE_IP) == []


def test_a_rule_without_ports_admits_every_port_of_the_cluster_ip():
    svc = service({"app": "server"})
    agent = cluster(
        [policy("a", {"app": "client"}, egress=[{"to": to({"app": "server"}, [], "b")["to"]}])], services=[svc]
    )
    assert egress_entries(agent, SERVICE_IP) == [cni.EndpointInfo(SERVICE_IP)]
    assert agent.egress(CLIENT, SERVICE_IP, 80) and agent.egress(CLIENT, SERVICE_IP, 12345)


def test_ingress_is_judged_at_the_pod_port_from_the_client_ip():
    svc = service({"app": "server"})
    out = policy("a", {"app": "client"}, egress=[to({"app": "server"}, [{"port": 8080}], "b")])
    into = policy(
        "b",
        {"app": "server"},
        ingress=[
            {
                "from": [{"podSelector": {"matchLabels": {"app": "other"}}, "namespaceSelector": {}}],
                "ports": [{"port": "http"}],
            }
        ],
    )
    verdict = cluster([out, into], services=[svc]).to_service(CLIENT, svc, 80)
    assert not verdict and verdict.reason.startswith("ingress of b/server: no entry covers 10.0.1.10")


# --- the agent: its maps and its defaults (pkg/fwruleprocessor, pkg/ebpf/c) ------------------------

DENY_ALL = policy("a", {"app": "client"})


def test_probes_from_the_node_pass_a_default_deny():
    agent = cluster([DENY_ALL])
    assert agent.probe(CLIENT, 8080) and agent.probe(CLIENT, 1)
    assert not agent.ingress(CLIENT, "10.0.0.6", 8080)  # another address of the node's subnet


def test_a_pod_reaches_its_node_ip_on_every_port_whatever_its_egress():
    agent = cluster([DENY_ALL])
    assert agent.egress(CLIENT, NODE, 10250) and not agent.egress(CLIENT, "10.0.0.6", 10250)


def test_the_instance_metadata_address_is_judged_like_any_other():
    everywhere = policy("a", {"app": "client"}, egress=[{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}])
    assert cluster([everywhere]).egress(CLIENT, "169.254.169.254", 80)
    https = policy(
        "a",
        {"app": "client"},
        egress=[
            {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}}], "ports": [{"port": 443}]}
        ],
    )
    agent = cluster([https])
    assert agent.egress(CLIENT, "8.8.8.8", 443) and not agent.egress(CLIENT, "169.254.169.254", 443)
    assert not cluster([DENY_ALL]).egress(CLIENT, "169.254.169.254", 80)


def test_an_except_block_denies_its_addresses_although_another_policy_admits_them():
    """fw_rule_processor.go: excepts are merged per CIDR and each gets a deny-all entry; by the API the
    second policy would admit the metadata service."""
    https = policy(
        "a",
        {"app": "client"},
        egress=[
            {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}}], "ports": [{"port": 443}]}
        ],
    )
    everywhere = policy("a", {"app": "client"}, egress=[{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}])
    everywhere["metadata"]["name"] = "everywhere"
    verdict = cluster([https, everywhere]).egress(CLIENT, "169.254.169.254", 80)
    assert not verdict and "except block" in verdict.reason
    api = Evaluator([https, everywhere], {"a": {}})
    assert api.allows(
        Endpoint("client", "a", CLIENT.labels, CLIENT.ip), Endpoint("imds", "", {}, "169.254.169.254", pod=False), 80
    )


def test_a_cluster_ip_inherits_the_ports_of_an_ip_block_around_it():
    """The API server's `kubernetes` Service has no selector: only an ipBlock reaches its ClusterIP."""
    svc = service({"app": "server"})
    rules = [
        policy(
            "a",
            {"app": "client"},
            egress=[
                to({"app": "server"}, [{"port": 8080}], "b"),
                {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": 443}]},
            ],
        )
    ]
    agent = cluster(rules, services=[svc])
    assert agent.egress(CLIENT, SERVICE_IP, 80) and agent.egress(CLIENT, SERVICE_IP, 443)
    assert agent.egress(CLIENT, "172.20.0.1", 443) and not agent.egress(CLIENT, "172.20.0.1", 80)


def test_more_port_entries_than_the_agent_keeps_are_a_fault():
    many = policy(
        "a",
        {"app": "client"},
        egress=[
            {
                "to": [{"ipBlock": {"cidr": "10.9.0.0/16"}}],
                "ports": [{"port": 2000 + i} for i in range(cni.MAX_PORT_PROTOCOL + 1)],
            }
        ],
    )
    verdict = cluster([many]).egress(CLIENT, "10.9.0.1", 2000)
    assert not verdict and "the agent keeps 24" in verdict.reason


@pytest.mark.parametrize("mode,allowed", [(cni.STANDARD, True), (cni.STRICT, False)])
def test_a_pod_no_policy_selects_is_open_in_standard_mode_and_closed_in_strict(mode, allowed):
    agent = cluster([], mode=mode)
    assert (
        bool(agent.egress(CLIENT, SERVER.ip, 8080)) is allowed
        and bool(agent.ingress(SERVER, CLIENT.ip, 8080)) is allowed
    )
    assert agent.probe(SERVER, 8080)


def test_a_direction_no_policy_isolates_stays_open():
    ingress_only = policy("a", {"app": "client"}, ingress=[], types=("Ingress",))
    agent = cluster([ingress_only])
    assert agent.egress(CLIENT, SERVER.ip, 8080) and not agent.ingress(CLIENT, SERVER.ip, 8080)


# --- every stack: what pods are configured to call, under the agent's rules ------------------------


def _failures(calls) -> list[str]:
    return [f"{c.owner} {c.setting}={c.url}: {c.verdict.reason}" for c in calls if not c.verdict]


@pytest.mark.parametrize("service_cidr", cni.EKS_SERVICE_CIDRS)
def test_every_configured_url_is_reachable_under_the_agents_rules(graph: Graph, service_cidr: str):
    calls = wm.service_calls(graph, service_cidr)
    assert calls
    failures = _failures(calls)
    assert not failures, "\n".join(failures)


def test_the_rag_service_reaches_the_private_model_under_the_agents_rules():
    config = stack_config("dev")
    config["genai-eks:privateModel"] = {**config["genai-eks:privateModel"], "ragUsesPrivateModel": True}
    graph = run_program("dev", config)
    calls = wm.service_calls(graph)
    assert ("Deployment rag/rag", "LLM_BASE_URL", "http://private-llm.private-model.svc.cluster.local:8000/v1") in {
        (c.owner, c.setting, c.url) for c in calls
    }
    failures = _failures(calls)
    assert not failures, "\n".join(failures)


def test_no_egress_rule_names_a_services_pods_without_its_cluster_ip(graph: Graph):
    dropped = cni.dropped_service_rules(wm.agent(graph).controller)
    assert not dropped, "\n".join(f"{d.policy} egress[{d.rule}] -> {d.service}:{d.port}: {d.reason}" for d in dropped)


def test_every_pod_resolves_names_through_the_kube_dns_service(graph: Graph):
    agent = wm.agent(graph)
    (dns,) = [s for s in agent.controller.services if (s.namespace, s.name) == wm.KUBE_DNS]
    failing = [
        f"{p.owner} {protocol}: {v.reason}"
        for p, c in wm.cni_pods(graph)
        for protocol in ("UDP", "TCP")
        if not (v := agent.to_service(c, dns, 53, protocol))
    ]
    assert not failing, "\n".join(failing)


def test_every_probe_passes_from_the_node(graph: Graph):
    agent = wm.agent(graph)
    for p, c in wm.cni_pods(graph):
        declared = wm.declared_ports(p)
        for container in p.containers(init=False):
            for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
                probe = container.get(kind) or {}
                action = probe.get("httpGet") or probe.get("tcpSocket") or probe.get("grpc")
                if action:
                    port = declared.get(action["port"], action["port"])
                    assert agent.probe(c, port), f"{p.owner} {container['name']} {kind} on {port}"


def test_no_pod_reaches_the_instance_metadata_service_under_the_agent(graph: Graph):
    agent = wm.agent(graph)
    reaching = {
        (c.name, port) for _, c in wm.cni_pods(graph) for port in (80, 443) if agent.egress(c, "169.254.169.254", port)
    }
    assert reaching == set()


def test_the_private_models_clients_get_the_listeners_port_only(dev: Graph):
    """The chatbot's rule gives it the router pod's Listener port and, translated, the Listener
    Service's port on its ClusterIP: nothing else of the router."""
    agent = wm.agent(dev)
    by_owner = {p.owner: c for p, c in wm.cni_pods(dev)}
    chatbot, router = by_owner["Deployment chatbot/chatbot"], by_owner["Deployment private-model/skupper-router"]
    (listener,) = [s for s in agent.controller.services if s.ident == "private-model/private-llm"]
    egress = agent.entries(chatbot, "Egress")
    assert egress[cni._network(router.ip)] == (cni.L4("TCP", wm.SKUPPER_FIRST_LISTENER_PORT),)
    assert egress[cni._network(listener.cluster_ip)] == (cni.L4("TCP", listener.ports[0].port),)
    opened = {p.number for p in router.ports if agent.pod_to_pod(chatbot, router, p.number)}
    assert opened == {wm.SKUPPER_FIRST_LISTENER_PORT}
