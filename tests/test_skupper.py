"""The private model's Skupper side: the controller from its release, the Site, Listener and
client Certificate as typed objects valid for Skupper 2.2.1's CRDs, the static link handed to
the private site as a secret output, and the traffic to and from the router."""

from __future__ import annotations

import base64
import copy
import dataclasses
import functools
import json

import jsonschema
import pytest
import yaml

from stack_config import SKUPPER_VERSION, parse_stack_config
from tests import crds
from tests import workload_model as wm
from tests.harness import (
    LINK_CREDENTIAL_MARK,
    LINK_HOST,
    ROOT,
    SCHEMAS,
    Graph,
    is_custom,
    kubernetes_objects,
    run_program,
    stack_config,
    walk,
)
from workloads import private_model, skupper
from workloads.skupper_types import (
    KINDS,
    AccessGrant,
    Certificate,
    Connector,
    Link,
    LinkEndpoint,
    Listener,
    Site,
    camel,
)

K8S_PROVIDER = "pulumi:providers:kubernetes"
SITE = "kubernetes:skupper.io/v2alpha1:Site"
LISTENER = "kubernetes:skupper.io/v2alpha1:Listener"
CERTIFICATE = "kubernetes:skupper.io/v2alpha1:Certificate"


# --- validating against the CRDs ----------------------------------------------------------------


@functools.cache
def crd_schema(kind: str) -> dict:
    """The CRD's schema with unknown fields refused (tests/crds.py `closed`)."""
    crd = yaml.safe_load((SCHEMAS / "skupper" / f"{kind.lower()}.yaml").read_text())
    assert crd["spec"]["group"] == "skupper.io" and crd["spec"]["names"]["kind"] == kind
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v2alpha1"]
    return crds.validator(version["schema"]["openAPIV3Schema"], "skupper.io/v2alpha1", kind).schema


def validate(manifest: dict) -> None:
    assert manifest["apiVersion"] == "skupper.io/v2alpha1", manifest["apiVersion"]
    jsonschema.Draft7Validator(crd_schema(manifest["kind"])).validate(manifest)


def test_every_kind_renders_only_fields_of_its_crd():
    for kind in KINDS:
        spec = crd_schema(kind.KIND)["properties"]["spec"]["properties"]
        fields = {camel(f.name) for f in dataclasses.fields(kind)} - {"name", "namespace"}
        assert fields <= set(spec), f"{kind.KIND}: {fields - set(spec)} are not in the CRD"


def test_a_misspelt_field_fails():
    listener = private_model.listener(parse_stack_config(stack_config("dev"), "dev").private_model).manifest()
    validate(listener)
    misspelt = copy.deepcopy(listener)
    misspelt["spec"]["routingkey"] = misspelt["spec"].pop("routingKey")
    with pytest.raises(jsonschema.ValidationError):
        validate(misspelt)
    extra = copy.deepcopy(listener)
    extra["spec"]["hostName"] = "private-llm"
    with pytest.raises(jsonschema.ValidationError, match="hostName"):
        validate(extra)
    with pytest.raises(TypeError):
        Listener(name="x", namespace="y", routing_key="k", host="h", port=1, routingKey="k")  # type: ignore[call-arg]


def test_custom_resources_the_program_registers_validate(graph: Graph):
    custom = [
        (r, m) for r, m in kubernetes_objects(graph) if is_custom(m) and m["apiVersion"].startswith("skupper.io/")
    ]
    assert {m["kind"] for _, m in custom} == (
        {"Site", "Listener", "Certificate"}
        if parse_stack_config(stack_config(graph.stack), graph.stack).private_model.enabled
        else set()
    )
    for resource, manifest in custom:
        try:
            validate(manifest)
        except jsonschema.ValidationError as e:
            pytest.fail(f"{resource.type} {resource.name}: {e.message}")


def test_the_kinds_the_program_does_not_register_validate_too():
    validate(Connector(name="private-llm", routing_key="private-llm", host="127.0.0.1", port=8000).manifest())
    validate(
        AccessGrant(name="grant", namespace="private-model", redemptions_allowed=1, expiration_window="15m").manifest()
    )
    validate(
        Link(
            name="link-genai-dev",
            endpoints=(LinkEndpoint("edge", LINK_HOST, "45671", "skupper-router"),),
            tls_credentials="link-genai-dev",
            cost=1,
        ).manifest()
    )
    validate(Site(name="genai-dev", namespace="private-model", link_access="default", ha=False).manifest())
    validate(
        Certificate(name="c", namespace="private-model", ca="skupper-site-ca", subject="s", client=True).manifest()
    )


# --- the controller -----------------------------------------------------------------------------


def test_the_controller_is_the_pinned_release_manifest_fetched_at_deploy_time(dev: Graph):
    (release,) = dev.of_type("kubernetes:yaml/v2:ConfigFile")
    assert release.inputs["file"] == (
        f"https://github.com/skupperproject/skupper/releases/download/{SKUPPER_VERSION}/skupper-cluster-scope.yaml"
    )
    assert SKUPPER_VERSION.startswith("2.2.")
    assert release.provider_urn == dev.one(K8S_PROVIDER).urn
    assert not release.inputs.get("skipAwait")  # the CRDs and the controller are up before the Site


def test_no_skupper_manifest_is_copied_into_the_repository():
    for path in ROOT.rglob("*.y*ml"):
        if ".venv" in path.parts or not path.is_file():
            continue
        text = path.read_text(errors="replace")
        assert not ("kind: CustomResourceDefinition" in text and "skupper.io" in text), path


def test_the_controller_namespace_is_restricted_and_isolated(dev: Graph):
    labels = wm.namespaces(dev)["skupper"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    (patch,) = dev.of_type("kubernetes:core/v1:NamespacePatch")
    assert dev.depends_on(patch, dev.one("kubernetes:yaml/v2:ConfigFile"))
    policies = {
        m["metadata"]["name"]: m for _, m in wm.objects(dev, "NetworkPolicy") if m["metadata"]["namespace"] == "skupper"
    }
    assert set(policies) == {"default-deny", "allow-dns", "allow-skupper-controller"}
    controller = policies["allow-skupper-controller"]["spec"]
    assert controller["policyTypes"] == ["Egress"] and "ingress" not in controller  # nobody reaches its grant server
    assert wm.matches(controller["podSelector"]["matchLabels"], wm.SKUPPER_CONTROLLER_LABELS)


# --- the site, the listener, the link -----------------------------------------------------------


def cr(graph: Graph, type_: str):
    (r,) = graph.of_type(type_)
    return r


def test_site_listener_and_certificate(dev: Graph):
    cfg = parse_stack_config(stack_config("dev"), "dev")
    site, listener, certificate = cr(dev, SITE), cr(dev, LISTENER), cr(dev, CERTIFICATE)
    assert site.inputs["metadata"] == {
        "name": cfg.cluster.name,
        "namespace": "private-model",
        "annotations": {"pulumi.com/waitFor": "condition=Ready"},
    }
    assert site.inputs["spec"] == {"linkAccess": "default"}  # a LoadBalancer on EKS
    assert listener.inputs["spec"] == {
        "routingKey": cfg.private_model.routing_key,
        "host": "private-llm",
        "port": cfg.private_model.port,
        "type": "tcp",
    }
    assert certificate.inputs["metadata"]["name"] == f"link-{cfg.cluster.name}"
    assert certificate.inputs["spec"] == {"ca": "skupper-site-ca", "subject": "private-model-site", "client": True}
    assert certificate.inputs["metadata"]["annotations"] == {"pulumi.com/waitFor": "condition=Ready"}
    release = dev.one("kubernetes:yaml/v2:ConfigFile")  # the CRDs and the running controller
    for r in (site, listener, certificate):
        assert r.provider_urn == dev.one(K8S_PROVIDER).urn
        assert dev.depends_on(r, release), r.name
    # The client certificate needs the site CA, which exists once the Site is Ready.
    assert site.urn in certificate.dependencies and site.urn in listener.dependencies


def test_the_credentials_are_read_with_the_cluster_provider_after_the_certificate(dev: Graph):
    (read,) = dev.reads
    assert read.type == "kubernetes:core/v1:Secret"
    assert read.id == "private-model/link-genai-dev"
    assert read.provider.rsplit("::", 1)[0] == dev.one(K8S_PROVIDER).urn
    assert cr(dev, CERTIFICATE).urn in read.dependencies


def outputs_json(graph: Graph, show_secrets: bool = True) -> str:
    """The stack outputs as `pulumi stack output --json [--show-secrets]` prints them."""
    return json.dumps(
        {k: (v if show_secrets or not secret else "[secret]") for k, (v, secret) in graph.exports.items()}
    )


def test_the_outputs_are_the_bundle_contract(dev: Graph):
    cfg = parse_stack_config(stack_config("dev"), "dev")
    plain, plain_secret = dev.exports[private_model.OUTPUT_PRIVATE_MODEL]
    assert not plain_secret
    assert plain == {
        "namespace": "private-model",
        "siteName": "genai-dev",
        "linkName": "link-genai-dev",
        "routingKey": cfg.private_model.routing_key,
        "port": cfg.private_model.port,
        "listenerHost": "private-llm",
        "url": "http://private-llm.private-model.svc.cluster.local:8000/v1",
        "servedModelName": "deepseek-r1-distill-qwen-1.5b",
        "skupperVersion": SKUPPER_VERSION,
    }
    bundle, is_secret = dev.exports[private_model.OUTPUT_PRIVATE_MODEL_LINK]
    assert is_secret, "the link credentials must be a secret output"
    link, secret = bundle["link"], bundle["secret"]
    validate(link)
    assert link["metadata"] == {"name": "link-genai-dev"} and link["spec"]["cost"] == 1
    assert link["spec"]["endpoints"] == [  # the Site's status.endpoints, verbatim
        {"name": "inter-router", "host": LINK_HOST, "port": "55671", "group": "skupper-router"},
        {"name": "edge", "host": LINK_HOST, "port": "45671", "group": "skupper-router"},
    ]
    assert link["spec"]["tlsCredentials"] == secret["metadata"]["name"] == plain["linkName"]
    assert secret["type"] == "kubernetes.io/tls" and "namespace" not in secret["metadata"]
    assert set(secret["data"]) == {"ca.crt", "tls.crt", "tls.key"}
    assert b"PRIVATE KEY" in base64.b64decode(secret["data"]["tls.key"])
    # The Listener the cluster has is the one the private site's Connector must match.
    listener = cr(dev, LISTENER).inputs["spec"]
    assert (plain["routingKey"], plain["port"], plain["listenerHost"]) == (
        listener["routingKey"],
        listener["port"],
        listener["host"],
    )
    # Without --show-secrets nothing of the key shows.
    assert LINK_CREDENTIAL_MARK not in outputs_json(dev, show_secrets=False)
    assert base64.b64encode(LINK_CREDENTIAL_MARK.encode()).decode()[:16] not in outputs_json(dev, show_secrets=False)


def test_the_private_sites_connector_matches_the_listener(dev: Graph):
    """What the bundle makes from the outputs: a Connector with the Listener's routing key."""
    plain, _ = dev.exports[private_model.OUTPUT_PRIVATE_MODEL]
    connector = Connector(name="private-llm", routing_key=plain["routingKey"], host="127.0.0.1", port=8000).manifest()
    validate(connector)
    assert connector["spec"]["routingKey"] == cr(dev, LISTENER).inputs["spec"]["routingKey"]
    bundle_outputs = pytest.importorskip("private_host.outputs")  # the bundle command, when present
    parsed = bundle_outputs.parse_stack_outputs(outputs_json(dev))
    assert (parsed.model.routing_key, parsed.model.port) == (plain["routingKey"], plain["port"])
    assert parsed.credentials.link == dev.exports[private_model.OUTPUT_PRIVATE_MODEL_LINK][0]["link"]


def test_no_link_credential_outside_the_secret_output(dev: Graph):
    for r in [*dev.resources, *dev.reads]:
        for path, value in walk(r.raw_inputs):
            assert not (isinstance(value, str) and LINK_CREDENTIAL_MARK in value), f"{r.type} {r.name}: {path}"
    for key, (value, is_secret) in dev.exports.items():
        if not is_secret:
            assert LINK_CREDENTIAL_MARK not in json.dumps(value, default=str), key


# --- the chatbot, the RAG service, the traffic ------------------------------------------------


def pod_env(graph: Graph, owner: str) -> dict[str, str]:
    pod = next(p for p in wm.pods(graph) if p.owner == owner)
    return {k: e.get("value") for k, e in wm.env_of(pod.spec["containers"][0]).items()}


def test_the_chatbot_asks_the_listener_service(dev: Graph):
    plain, _ = dev.exports[private_model.OUTPUT_PRIVATE_MODEL]
    env = pod_env(dev, "Deployment chatbot/chatbot")
    assert env["PRIVATE_MODEL_URL"] == plain["url"] and env["PRIVATE_MODEL"] == plain["servedModelName"]
    (service,) = [s for s in wm.services(dev) if (s.namespace, s.name) == ("private-model", "private-llm")]
    assert service.source == wm.SKUPPER_CONTROLLER and service.ports[0]["port"] == plain["port"]
    assert ("chatbot", "skupper-router", wm.SKUPPER_FIRST_LISTENER_PORT) in wm.allowed_flows(dev)


def test_the_router_admits_the_link_and_the_listeners_callers_only(dev: Graph):
    (policy,) = [m for _, m in wm.objects(dev, "NetworkPolicy") if m["metadata"]["name"] == "allow-skupper-router"]
    assert wm.matches(policy["spec"]["podSelector"]["matchLabels"], wm.SKUPPER_ROUTER_LABELS)
    link_rule, callers = policy["spec"]["ingress"]
    assert "from" not in link_rule and {p["port"] for p in link_rule["ports"]} == set(wm.SKUPPER_LINK_PORTS.values())
    # The Listener's pod port only: the router's own listeners (amqps 5671 above all) stay closed.
    assert callers["ports"] == [{"protocol": "TCP", "port": wm.SKUPPER_FIRST_LISTENER_PORT}]
    assert [peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for peer in callers["from"]] == [
        "chatbot"
    ]
    flows = {f for f in wm.allowed_flows(dev) if f[1] == "skupper-router"}
    assert flows == {("chatbot", "skupper-router", wm.SKUPPER_FIRST_LISTENER_PORT)}


def with_private_model(**changes) -> Graph:
    config = stack_config("dev")
    config["genai-eks:privateModel"] = {**config["genai-eks:privateModel"], **changes}
    return run_program("dev", config)


def test_the_rag_service_can_ask_the_private_model():
    graph = with_private_model(ragUsesPrivateModel=True)
    env = pod_env(graph, "Deployment rag/rag")
    assert env["LLM_BASE_URL"] == "http://private-llm.private-model.svc.cluster.local:8000/v1"
    assert env["LLM_MODEL"] == "deepseek-r1-distill-qwen-1.5b"
    flows = wm.allowed_flows(graph)
    assert ("rag", "skupper-router", wm.SKUPPER_FIRST_LISTENER_PORT) in flows and ("rag", "llm", 8000) not in flows
    from tests.test_workloads import ALL_CHECKS

    for check in ALL_CHECKS:
        check(graph)


def test_another_routing_key_and_port_reach_every_side():
    graph = with_private_model(routingKey="edge-llm", port=9000, servedModelName="qwen2.5-0.5b-instruct")
    plain, _ = graph.exports[private_model.OUTPUT_PRIVATE_MODEL]
    assert (plain["routingKey"], plain["port"]) == ("edge-llm", 9000)
    assert cr(graph, LISTENER).inputs["spec"]["routingKey"] == "edge-llm"
    env = pod_env(graph, "Deployment chatbot/chatbot")
    assert env["PRIVATE_MODEL_URL"] == "http://private-llm.private-model.svc.cluster.local:9000/v1"
    assert env["PRIVATE_MODEL"] == "qwen2.5-0.5b-instruct"
    from tests.test_workloads import check_urls_point_to_services

    check_urls_point_to_services(graph)


def test_switched_off_nothing_of_it_remains():
    graph = with_private_model(enabled=False)
    assert not [r for r in graph.resources if "skupper" in r.type or r.type.endswith("ConfigFile")]
    assert not graph.reads
    assert not {private_model.OUTPUT_PRIVATE_MODEL, private_model.OUTPUT_PRIVATE_MODEL_LINK} & set(graph.exports)
    assert "private-model" not in wm.namespaces(graph) and "skupper" not in wm.namespaces(graph)
    assert not {"PRIVATE_MODEL_URL", "PRIVATE_MODEL"} & set(pod_env(graph, "Deployment chatbot/chatbot"))


def test_a_site_without_endpoints_fails_the_up():
    """Without link access resolved there is no Link to hand out: `pulumi up` says so."""
    with pytest.raises(ValueError, match="no link endpoints"):
        private_model.site_endpoints({"status": "Ready"}, "genai-dev")


def test_the_listener_port_is_the_first_one_skupper_allocates(dev: Graph):
    """skupper 2.2.1 internal/ports/ports.go: the pool starts at 1024 and NextFreePort takes its lowest
    port; the router's own listeners, taken out of it, all lie above."""
    assert private_model.LISTENER_POD_PORT == wm.SKUPPER_FIRST_LISTENER_PORT == 1024
    assert min(private_model.ROUTER_OWN_PORTS) > private_model.LISTENER_POD_PORT
    assert private_model.endpoint(parse_stack_config(stack_config("dev"), "dev").private_model).target_port == 1024
    # One Listener per site: a second would get 1025 or 1024 by the order the controller sees them.
    listeners = [m["metadata"]["namespace"] for m in wm.custom_resources(dev, "Listener")]
    assert len(listeners) == len(set(listeners)) == 1
    assert skupper.manifest_url("2.2.1").startswith(
        "https://github.com/skupperproject/skupper/releases/download/2.2.1/"
    )
