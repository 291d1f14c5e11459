"""`pulumi up` completes: nothing it waits for can time out, on a first deploy or on a running cluster.

The rules are pulumi-kubernetes' (tests/deploy_model.py cites them); the durations are estimates,
so an awaited object must be predicted ready with `MARGIN_SECONDS` to spare.
"""

from __future__ import annotations

import copy

import pytest

from scripts import first_deploy
from tests import deploy_model as dm
from tests import workload_model as wm
from tests.harness import Graph, run_program, stack_config

MARGIN_SECONDS = 120.0
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"


def too_slow(t: dm.Timeline) -> list[str]:
    return [
        f"{s.ident} ({s.waits_for}): {dm.minutes(s.finish - s.start)} of {dm.minutes(s.timeout)}"
        for s in t.awaited
        if s.timeout < dm.NEVER and s.finish - s.start > s.timeout - MARGIN_SECONDS
    ]


def tampered(graph: Graph, type_: str, name: str, change) -> Graph:
    resources = copy.deepcopy(graph.resources)
    change(next(r for r in resources if r.type == type_ and r.name == name).raw_inputs)
    return Graph(graph.stack, resources, graph.exports, graph.seconds, reads=graph.reads, invokes=graph.invokes)


@pytest.mark.parametrize("world", dm.WORLDS)
def test_nothing_awaited_can_time_out(graph: Graph, world: str):
    assert too_slow(dm.timeline(graph, world)) == []


@pytest.mark.parametrize("exposure", ["loadBalancer", "ingress"])
def test_every_chatbot_exposure_completes(exposure: str):
    config = stack_config("prod")
    chatbot = dict(config.get("genai-eks:chatbot") or {})
    chatbot.update(exposure=exposure)
    if exposure == "loadBalancer":
        chatbot.update(sourceRanges=["203.0.113.0/24"])
    else:
        chatbot.pop("sourceRanges", None)
        chatbot.pop("tlsCertificateArn", None)
        chatbot.update(ingressHost="chat.example.com", ingressTlsSecret="chat-tls", ingressClass="nginx")
    graph = run_program("prod", {**config, "genai-eks:chatbot": chatbot})
    for world in dm.WORLDS:
        assert too_slow(dm.timeline(graph, world)) == [], world


def test_the_first_deploy_waits_for_the_cluster_and_its_nodes(dev: Graph):
    t = dm.timeline(dev, dm.FIRST_DEPLOY)
    cluster = t.step("eks:index:Cluster cluster")
    nodes = t.step("eks:index:ManagedNodeGroup nodes-system")
    assert nodes.start >= cluster.finish, "pulumi-eks's node group reads the cluster it is given"
    assert 15 * 60 <= t.duration <= 40 * 60, dm.minutes(t.duration)
    # Kubernetes objects need the provider, and so the control plane.
    qdrant = next(s for s in t.steps if s.ident.startswith("StatefulSet vector-db/qdrant"))
    assert qdrant.start >= cluster.finish


# --- the model catches what pulumi-kubernetes would hold the update for ------------------------


def test_a_service_before_pods_that_cannot_become_ready_times_out(prod: Graph):
    """service.go: a selected pod with an IP that is not Ready (an image that was never pushed).
    prod runs CI's images: its Deployment waits for no build, so it meets the Service's endpoints."""

    def missing_image(inputs):
        inputs["spec"]["template"]["spec"]["containers"][0]["image"] = (
            "123456789012.dkr.ecr.us-west-2.amazonaws.com/genai-prod/rag:never-pushed"
        )

    graph = tampered(prod, DEPLOYMENT, "rag", missing_image)
    failures = [s.ident for s in dm.timeline(graph, dm.RUNNING_CLUSTER).failures]
    assert "Service rag/rag" in failures and "Deployment rag/rag" in failures


def test_a_service_of_pods_still_pending_passes_after_its_endpoints_settle(dev: Graph):
    """service.go: a pod with no IP yet (no node) is no not-ready address."""
    t = dm.timeline(dev, dm.FIRST_DEPLOY)
    hub = t.step("Service jupyterhub/hub (chart jupyterhub 4.4.0 (release jupyterhub/jupyterhub))")
    assert hub.finish - hub.start <= 60


def test_the_model_server_is_not_awaited_and_would_time_out_if_it_were(dev: Graph, managed_gpu: Graph):
    for graph in (dev, managed_gpu):
        for world in dm.WORLDS:
            for ident in ("Deployment inference/llm", "Service inference/llm"):
                assert not dm.timeline(graph, world).step(ident).awaited, ident
    # With Karpenter the pod is Pending (no IP) while its node launches, so the Service's endpoints
    # settle empty first; the Deployment still waits for the model.
    unskipped = tampered(dev, SERVICE, "llm-svc", lambda i: i["metadata"].pop("annotations"))
    unskipped = tampered(unskipped, DEPLOYMENT, "llm", lambda i: i["metadata"].pop("annotations"))
    slow = too_slow(dm.timeline(unskipped, dm.RUNNING_CLUSTER))
    assert any(s.startswith("Deployment inference/llm") for s in slow), slow
    # On a managed group's running node the pod has an IP at once and holds the Service too.
    unskipped = tampered(managed_gpu, SERVICE, "llm-svc", lambda i: i["metadata"].pop("annotations"))
    unskipped = tampered(unskipped, DEPLOYMENT, "llm", lambda i: i["metadata"].pop("annotations"))
    slow = too_slow(dm.timeline(unskipped, dm.RUNNING_CLUSTER))
    assert any(s.startswith("Deployment inference/llm") for s in slow), slow
    assert any(s.startswith("Service inference/llm") for s in slow), slow


def test_a_gpu_pod_gets_a_karpenter_node_in_minutes(dev: Graph):
    """From `kubectl apply` of a GPU workload to a node that advertises its GPU: Karpenter's batch
    window, the launch, the boot and join, and the device plugin's pod on the new node."""
    model = dm.Model(dev, dm.RUNNING_CLUSTER)
    (pod,) = [p for p in wm.pods(dev) if p.owner == "Deployment inference/llm"]
    ready = model.node_ready(pod.spec, gpus=True, created=0.0)
    plugin = dm.POD_SANDBOX_SECONDS + 0.2 * dm.PULL_SECONDS_PER_GB + dm.DEVICE_PLUGIN_SECONDS
    assert ready == dm.KARPENTER_NODE_SECONDS + plugin == 120.0  # 10 + 5 + 75, then 5 + 5 + 20
    # No pool fits a pod asking for an instance type no pool has: it waits forever, as on EKS.
    other = {
        **pod.spec,
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["p5.48xlarge"]}
                            ]
                        }
                    ]
                }
            }
        },
    }
    assert model.node_ready(other, gpus=True, created=0.0) == dm.NEVER


def test_an_awaited_ingress_or_training_job_times_out(dev: Graph):
    unskipped = tampered(dev, "kubernetes:batch/v1:Job", "finetune-loyalty", lambda i: i["metadata"].pop("annotations"))
    assert "Job finetune/finetune-loyalty-1" in [s.ident for s in dm.timeline(unskipped, dm.RUNNING_CLUSTER).failures]


def test_timeouts_come_from_custom_timeouts_then_the_annotation(dev: Graph):
    t = dm.timeline(dev, dm.FIRST_DEPLOY)
    assert t.step("Site private-model/genai-dev").timeout == 20 * 60  # customTimeouts(create="20m")
    annotated = tampered(
        dev,
        SERVICE,
        "rag-svc",
        lambda i: i["metadata"].setdefault("annotations", {}).update({"pulumi.com/timeoutSeconds": "90"}),
    )
    assert dm.timeline(annotated, dm.FIRST_DEPLOY).step("Service rag/rag").timeout == 90


def test_the_script_prints_each_stack_and_fails_on_a_timeout(capsys):
    lines: list[str] = []
    assert first_deploy.main(["dev"], lines.append) == 0
    assert any(line.startswith("dev, first deploy: `pulumi up` takes about ") for line in lines)
    assert any(line.startswith("  awaited ") and "timeout 10.0 min" in line for line in lines)


def test_images_build_while_the_cluster_is_created(dev: Graph):
    t = dm.timeline(dev, dm.FIRST_DEPLOY)
    cluster = t.step("eks:index:Cluster cluster")
    builds = [s for s in t.steps if s.ident.startswith(dm.IMAGE_BUILD)]
    assert {s.ident.rsplit("-", 1)[-1] for s in builds} == {"finetune", "rag", "chatbot"}
    for build in builds:
        assert build.start < 60 < cluster.finish, f"{build.ident} waits for something slow"
    # Even the longest (finetune, ~12 min cold) is not what the update waits for last.
    assert not any(name.startswith("Image ") for name, _ in t.critical_path), t.critical_path


def test_the_readme_gives_the_models_timeline():
    """docs/architecture.md ("What `pulumi up` waits for") gives the model's timeline table."""
    from tests.harness import ROOT, stack_names

    table = dm.readme_table(run_program(stack) for stack in stack_names())
    page = (ROOT / "docs" / "architecture.md").read_text()
    section = page.split("## What `pulumi up` waits for", 1)[1].split("\n## ", 1)[0]
    assert table in section, "docs/architecture.md's timeline table is stale; the model says:\n" + table
