"""The Karpenter scheduling model (tests/karpenter_scheduling.py) on hand-made NodePools and pods: each GPU
pod is provisionable by exactly the NodePool it aims at, and a pod without the GPU toleration by none."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.karpenter_scheduling import (
    Requirement,
    Requirements,
    incompatibility,
    nodepool_requirements,
    pod_requirements,
    provisioning_pools,
)

GPU_TAINT = {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
POOL = "genai.platform/node-pool"
INSTANCE_TYPE = "node.kubernetes.io/instance-type"


def nodepool(name: str, requirements: list[dict[str, Any]], labels: dict[str, str], taints=(), **spec) -> dict:
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": name},
        "spec": {
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
                    "requirements": requirements,
                    "taints": list(taints),
                },
            },
            **spec,
        },
    }


def gpu_pool(name: str, instance_types: list[str], **spec) -> dict:
    requirements = [
        {"key": INSTANCE_TYPE, "operator": "In", "values": instance_types},
        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["spot", "on-demand"]},
    ]
    labels = {"nvidia.com/gpu.present": "true", POOL: name}
    return nodepool(name, requirements, labels, [GPU_TAINT], **spec)


GPU_L4 = gpu_pool("gpu-l4", ["g6.xlarge", "g6.2xlarge"])
GPU_L4X4 = gpu_pool("gpu-l4x4", ["g6.12xlarge"])
CPU = nodepool("cpu", [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}], {POOL: "cpu"})
GPU_POOLS = [GPU_L4, GPU_L4X4]


def expr(key: str, operator: str, *values: str) -> dict:
    return {"key": key, "operator": operator, "values": list(values)} if values else {"key": key, "operator": operator}


def pod(*terms: list[dict], node_selector=None, tolerations=None, preferred=None) -> dict:
    """A Deployment's spec.template.spec; each positional argument is one nodeSelectorTerm's expressions."""
    spec: dict[str, Any] = {"containers": [{"name": "app", "image": "app:1"}]}
    if node_selector is not None:
        spec["nodeSelector"] = node_selector
    if tolerations is not None:
        spec["tolerations"] = tolerations
    affinity: dict[str, Any] = {}
    if terms:
        terms_ = [{"matchExpressions": t} for t in terms]
        affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": terms_}
    if preferred:
        affinity["preferredDuringSchedulingIgnoredDuringExecution"] = preferred
    if affinity:
        spec["affinity"] = {"nodeAffinity": affinity}
    return spec


def gpu_pod(*terms: list[dict], **kwargs) -> dict:
    kwargs.setdefault("node_selector", {"nvidia.com/gpu.present": "true"})
    kwargs.setdefault("tolerations", [GPU_TOLERATION])
    return pod(*terms, **kwargs)


INFERENCE_POD = gpu_pod([expr(POOL, "In", "gpu-l4"), expr(INSTANCE_TYPE, "In", "g6.xlarge")])


def test_the_gpu_pod_is_provisionable_by_exactly_its_pool():
    assert provisioning_pools(INFERENCE_POD, [*GPU_POOLS, CPU]) == ["gpu-l4"]
    reason = incompatibility(INFERENCE_POD, GPU_L4X4)
    assert reason == (
        f"incompatible requirements, key {POOL}, {POOL} In [gpu-l4] not in {POOL} In [gpu-l4x4]; "
        f"key {INSTANCE_TYPE}, {INSTANCE_TYPE} In [g6.xlarge] not in {INSTANCE_TYPE} In [g6.12xlarge]"
    )
    assert incompatibility(INFERENCE_POD, CPU) == 'incompatible requirements, label "nvidia.com/gpu.present" ' + (
        "does not have known values"
    )


def test_without_the_toleration_no_gpu_pool_provisions_it():
    untolerating = {k: v for k, v in INFERENCE_POD.items() if k != "tolerations"}
    assert provisioning_pools(untolerating, GPU_POOLS) == []
    for pool in GPU_POOLS:
        assert incompatibility(untolerating, pool) == "did not tolerate taint nvidia.com/gpu=true:NoSchedule"


def test_a_cpu_pod_lands_on_the_cpu_pool_only():
    cpu_pod = pod()
    assert provisioning_pools(cpu_pod, [*GPU_POOLS, CPU]) == ["cpu"]
    assert "did not tolerate taint nvidia.com/gpu=true:NoSchedule" == incompatibility(cpu_pod, GPU_L4)
    # Selecting its own pool's label does not bring a CPU pod any nearer the GPU pools.
    assert provisioning_pools(pod([expr(POOL, "In", "cpu", "gpu-l4")]), [*GPU_POOLS, CPU]) == ["cpu"]


def test_a_custom_label_no_pool_defines_is_refused():
    needy = gpu_pod(node_selector={"nvidia.com/gpu.present": "true", "example.com/team": "ml"})
    assert provisioning_pools(needy, GPU_POOLS) == []
    reason = incompatibility(needy, GPU_L4)
    assert reason == 'incompatible requirements, label "example.com/team" does not have known values'


@pytest.mark.parametrize(
    "key",
    ["topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone", "karpenter.k8s.aws/instance-family"],
)
def test_a_well_known_label_the_pool_leaves_open_is_allowed(key):
    zonal = gpu_pod([expr(POOL, "In", "gpu-l4"), expr(key, "In", "us-east-1a")])
    assert provisioning_pools(zonal, GPU_POOLS) == ["gpu-l4"]


def test_the_nodepool_and_node_class_labels_are_defined():
    reqs = nodepool_requirements(GPU_L4X4)
    assert str(reqs["karpenter.sh/nodepool"]) == "karpenter.sh/nodepool In [gpu-l4x4]"
    assert str(reqs["karpenter.k8s.aws/ec2nodeclass"]) == "karpenter.k8s.aws/ec2nodeclass In [default]"
    assert str(reqs["karpenter.sh/capacity-type"]) == "karpenter.sh/capacity-type In [on-demand spot]"
    assert provisioning_pools(gpu_pod([expr("karpenter.sh/nodepool", "In", "gpu-l4x4")]), GPU_POOLS) == ["gpu-l4x4"]
    spot = gpu_pod(node_selector={"nvidia.com/gpu.present": "true", "karpenter.sh/capacity-type": "reserved"})
    assert provisioning_pools(spot, GPU_POOLS) == []


def test_not_in():
    assert provisioning_pools(gpu_pod([expr(POOL, "NotIn", "gpu-l4")]), GPU_POOLS) == ["gpu-l4x4"]
    # NotIn on a label no pool defines rules nothing out.
    assert provisioning_pools(gpu_pod([expr("example.com/team", "NotIn", "ml")]), GPU_POOLS) == ["gpu-l4x4", "gpu-l4"]
    refused = incompatibility(gpu_pod([expr(INSTANCE_TYPE, "NotIn", "g6.xlarge", "g6.2xlarge")]), GPU_L4)
    assert refused == (
        f"incompatible requirements, key {INSTANCE_TYPE}, {INSTANCE_TYPE} NotIn [g6.2xlarge g6.xlarge] not in "
        f"{INSTANCE_TYPE} In [g6.2xlarge g6.xlarge]"
    )


def test_exists():
    assert provisioning_pools(gpu_pod([expr(POOL, "Exists")]), GPU_POOLS) == ["gpu-l4x4", "gpu-l4"]
    reason = incompatibility(gpu_pod([expr("example.com/team", "Exists")]), GPU_L4)
    assert reason == 'incompatible requirements, label "example.com/team" does not have known values'


def test_does_not_exist():
    shy = pod([expr("nvidia.com/gpu.present", "DoesNotExist")], tolerations=[GPU_TOLERATION])
    assert provisioning_pools(shy, [*GPU_POOLS, CPU]) == ["cpu"]
    reason = incompatibility(shy, GPU_L4)
    assert reason == (
        "incompatible requirements, key nvidia.com/gpu.present, nvidia.com/gpu.present DoesNotExist not in "
        "nvidia.com/gpu.present In [true]"
    )
    assert provisioning_pools(gpu_pod([expr("example.com/team", "DoesNotExist")]), GPU_POOLS) == ["gpu-l4x4", "gpu-l4"]
    # A pod that keeps off Karpenter's nodes is not provisioned for at all.
    assert incompatibility(pod([expr("karpenter.sh/nodepool", "DoesNotExist")]), CPU) == (
        "ignoring pod, configured to not run on a Karpenter provisioned node"
    )


GPU_COUNT = "karpenter.k8s.aws/instance-gpu-count"
COUNTED = [
    nodepool("one", [expr(GPU_COUNT, "In", "1")], {}),
    nodepool("four", [expr(GPU_COUNT, "In", "4")], {}),
    nodepool("many", [expr(GPU_COUNT, "Gt", "2")], {}),
    nodepool("few", [expr(GPU_COUNT, "Lt", "3")], {}),
    nodepool("open", [], {}),
]


@pytest.mark.parametrize(
    "requirement, pools",
    [
        (expr(GPU_COUNT, "Gt", "1"), {"four", "many", "few", "open"}),  # few is <= 2, so 2 fits both
        (expr(GPU_COUNT, "Lt", "2"), {"one", "few", "open"}),
        (expr(GPU_COUNT, "Gt", "4"), {"many", "open"}),
        (expr(GPU_COUNT, "Lt", "1"), {"few", "open"}),
        (expr(GPU_COUNT, "Gt", "1000"), {"many", "open"}),
        (expr(INSTANCE_TYPE, "Gt", "1"), {"one", "four", "many", "few", "open"}),  # well-known, left open by all
    ],
)
def test_gt_and_lt(requirement, pools):
    assert set(provisioning_pools(pod([requirement]), COUNTED)) == pools


def test_gt_and_lt_against_each_other_and_against_names():
    assert incompatibility(pod([expr(GPU_COUNT, "Gt", "2")]), COUNTED[3]) == (
        f"incompatible requirements, key {GPU_COUNT}, {GPU_COUNT} Exists >=3 not in {GPU_COUNT} Exists <=2"
    )
    # Bounds on a label whose values are names match no value.
    assert provisioning_pools(gpu_pod([expr(INSTANCE_TYPE, "Gt", "1")]), GPU_POOLS) == []


def test_node_selector_terms_are_ored():
    either = gpu_pod([expr(POOL, "In", "gpu-h100")], [expr(POOL, "In", "gpu-l4x4")])
    assert provisioning_pools(either, GPU_POOLS) == ["gpu-l4x4"]
    assert [sorted(r) for r in pod_requirements(either)] == [[POOL, "nvidia.com/gpu.present"]] * 2
    neither = gpu_pod([expr(POOL, "In", "gpu-h100")], [expr("example.com/team", "In", "ml")])
    assert incompatibility(neither, GPU_L4) == (
        f"nodeSelectorTerms[0]: incompatible requirements, key {POOL}, {POOL} In [gpu-h100] not in {POOL} In [gpu-l4]; "
        'nodeSelectorTerms[1]: incompatible requirements, label "example.com/team" does not have known values'
    )


def test_the_node_selector_is_anded_with_each_term():
    torn = gpu_pod([expr(POOL, "In", "gpu-l4x4")], node_selector={"nvidia.com/gpu.present": "true", POOL: "gpu-l4"})
    assert str(pod_requirements(torn)[0][POOL]) == f"{POOL} DoesNotExist"
    assert provisioning_pools(torn, GPU_POOLS) == []


def test_preferred_affinity_does_not_decide():
    preferring = gpu_pod(preferred=[{"weight": 10, "preference": {"matchExpressions": [expr(POOL, "In", "gpu-l4")]}}])
    assert provisioning_pools(preferring, GPU_POOLS) == ["gpu-l4x4", "gpu-l4"]


@pytest.mark.parametrize(
    "toleration, tolerated",
    [
        ({"operator": "Exists"}, True),
        ({"key": "nvidia.com/gpu", "operator": "Exists"}, True),
        ({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}, True),
        ({"key": "nvidia.com/gpu", "value": "true"}, True),  # operator defaults to Equal, effect to all
        ({"key": "nvidia.com/gpu", "operator": "Equal", "value": "false"}, False),
        ({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoExecute"}, False),
        ({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "PreferNoSchedule"}, False),
        ({"key": "amd.com/gpu", "operator": "Exists"}, False),
        ({"operator": "Exists", "effect": "NoSchedule"}, True),
    ],
)
def test_tolerations(toleration, tolerated):
    assert (provisioning_pools(pod(tolerations=[toleration]), [GPU_L4]) == ["gpu-l4"]) is tolerated


def test_numeric_tolerations():
    pool = nodepool("tiered", [], {}, [{"key": "example.com/tier", "value": "3", "effect": "NoSchedule"}])
    assert incompatibility(pod(tolerations=[{"key": "example.com/tier", "operator": "Lt", "value": "5"}]), pool) is None
    assert incompatibility(pod(tolerations=[{"key": "example.com/tier", "operator": "Gt", "value": "5"}]), pool)


def test_startup_and_prefer_no_schedule_taints_do_not_block():
    pool = copy.deepcopy(CPU)
    pool["spec"]["template"]["spec"]["startupTaints"] = [{"key": "example.com/booting", "effect": "NoSchedule"}]
    pool["spec"]["template"]["spec"]["taints"] = [{"key": "example.com/spare", "effect": "PreferNoSchedule"}]
    assert provisioning_pools(pod(), [pool]) == ["cpu"]
    pool["spec"]["template"]["spec"]["taints"] = [{"key": "example.com/spare", "effect": "NoExecute"}]
    assert incompatibility(pod(), pool) == "did not tolerate taint example.com/spare:NoExecute"


@pytest.mark.parametrize(
    "key, value",
    [("kubernetes.io/hostname", "ip-10-0-0-1"), ("karpenter.k8s.aws/ec2nodeclass", "default"), ("karpenter.sh/x", "y")],
)
def test_pods_on_restricted_labels_are_ignored(key, value):
    reason = incompatibility(gpu_pod(node_selector={key: value}), GPU_L4)
    assert reason and reason.startswith(f"ignoring pod, using label {key} is not allowed")


def test_pools_are_tried_by_weight_then_name_descending_and_static_pools_never():
    heavy = gpu_pool("a-heavy", ["g6.xlarge"], weight=50)
    assert provisioning_pools(gpu_pod(), [GPU_L4, heavy, GPU_L4X4]) == ["a-heavy", "gpu-l4x4", "gpu-l4"]
    static = gpu_pool("static", ["g6.xlarge"], replicas=2)
    assert provisioning_pools(gpu_pod(), [static]) == []


def test_requirement_algebra():
    def req(*args: str) -> Requirement:
        return Requirement.new(args[0], args[1], list(args[2:]))

    assert str(req("k", "In", "a", "b").intersection(req("k", "NotIn", "a"))) == "k In [b]"
    assert str(req("k", "NotIn", "a").intersection(req("k", "NotIn", "b"))) == "k NotIn [a b]"
    assert str(req("k", "Gt", "1").intersection(req("k", "In", "1", "2", "x"))) == "k In [2]"
    assert str(req("k", "Gt", "1").intersection(req("k", "Lt", "5"))) == "k Exists >=2 <=4"
    assert str(req("k", "Gt", "4").intersection(req("k", "Lt", "5"))) == "k DoesNotExist"
    assert not req("k", "DoesNotExist").has_intersection(req("k", "DoesNotExist"))
    both_absent = Requirements().add(req("k", "DoesNotExist"))
    assert both_absent.compatible(Requirements().add(req("k", "NotIn", "a"))) is None
    assert str(req("beta.kubernetes.io/arch", "In", "arm64")) == "kubernetes.io/arch In [arm64]"
