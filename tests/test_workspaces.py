"""The stacks' workspaces, as Kubernetes gets them: each preset's derived GPU count, instance types,
CPU, memory, scratch and engine settings, written out in full (docs/presets.md).

The figures follow from presets/fit.py; tests/test_presets.py checks that arithmetic by hand. Here
the question is whether the graph carries exactly what the fit decided, and nothing else.
"""

from __future__ import annotations

import pytest

from tests import workload_model as wm
from tests.harness import Graph, run_program, stack_config

INSTANCE_TYPE = "node.kubernetes.io/instance-type"
DEV_L4 = ["g6.xlarge", "g6.2xlarge", "g6.4xlarge"]


def one_gpu_pod(scratch: str = "25Gi") -> dict:
    return {
        "requests": {"cpu": "3", "memory": "10Gi", "ephemeral-storage": scratch, "nvidia.com/gpu": "1"},
        "limits": {"cpu": "3", "memory": "14Gi", "ephemeral-storage": scratch, "nvidia.com/gpu": "1"},
    }


# Per workload: (kind, namespace/name) -> what the fit decided.
EXPECTED = {
    "dev": {
        ("Deployment", "inference/llm"): {
            "resources": one_gpu_pod(),
            "pools": ["gpu-l4"],
            "instance_types": DEV_L4,
            "scratch": "25Gi",
            "env": {
                "BASE_MODEL": "Qwen/Qwen2.5-7B-Instruct",
                "SERVED_MODEL_NAME": "qwen2.5-7b-instruct",
                "ADAPTERS": "loyalty",
                "MAX_MODEL_LEN": "8192",
                "TENSOR_PARALLEL_SIZE": "1",
                "GPU_MEMORY_UTILIZATION": "0.9",
                "DTYPE": "bfloat16",
                "MAX_LORA_RANK": "64",
            },
        },
        ("Job", "finetune/finetune-loyalty-1"): {
            "resources": one_gpu_pod(),
            "pools": ["gpu-l4"],
            "instance_types": DEV_L4,
            "scratch": "25Gi",
            "env": {
                "BASE_MODEL": "Qwen/Qwen2.5-7B-Instruct",
                "FINETUNE_METHOD": "qlora",
                "LORA_R": "32",
                "BATCH_SIZE": "4",
                "MAX_SEQ_LENGTH": "1024",
            },
        },
    },
    "prod": {
        ("Deployment", "inference/llm"): {
            "resources": one_gpu_pod(),
            "pools": ["gpu-l4", "gpu-l4x4"],
            "instance_types": ["g6.xlarge", "g6.2xlarge", "g6.4xlarge", "g6.8xlarge", "g6.12xlarge", "g6.24xlarge"],
            "scratch": "25Gi",
            "env": {
                "BASE_MODEL": "Qwen/Qwen2.5-7B-Instruct",
                "MAX_MODEL_LEN": "16384",
                "TENSOR_PARALLEL_SIZE": "1",
                "ADAPTERS": "loyalty",
            },
        },
        # 4 x 32768 tokens: 7 GiB of KV cache next to 14.2 GiB of weights is more than an L4's 20.2 GiB
        # budget, so two GPUs of a four-L4 node: CPU 1 + 2x2, memory 6 + 4x2 GiB (limit +4).
        ("Deployment", "inference/coder"): {
            "resources": {
                "requests": {"cpu": "5", "memory": "14Gi", "ephemeral-storage": "25Gi", "nvidia.com/gpu": "2"},
                "limits": {"cpu": "5", "memory": "18Gi", "ephemeral-storage": "25Gi", "nvidia.com/gpu": "2"},
            },
            "pools": ["gpu-l4x4"],
            "instance_types": ["g6.12xlarge", "g6.24xlarge"],
            "scratch": "25Gi",
            "env": {
                "BASE_MODEL": "Qwen/Qwen2.5-Coder-7B-Instruct",
                "SERVED_MODEL_NAME": "qwen2.5-coder-7b-instruct",
                "ADAPTERS": "",
                "MAX_MODEL_LEN": "32768",
                "TENSOR_PARALLEL_SIZE": "2",
            },
        },
    },
}


def gpu_workloads(graph: Graph) -> dict[tuple[str, str], dict]:
    found = {}
    for kind in ("Deployment", "Job"):
        for _, m in wm.objects(graph, kind):
            pod = m["spec"]["template"]["spec"]
            if any("nvidia.com/gpu" in c.get("resources", {}).get("limits", {}) for c in pod["containers"]):
                found[(kind, f"{m['metadata']['namespace']}/{m['metadata']['name']}")] = pod
    return found


@pytest.mark.parametrize("stack", sorted(EXPECTED))
def test_each_workspace_runs_exactly_as_its_fit_decided(stack: str, request):
    graph = request.getfixturevalue(stack)
    workloads = gpu_workloads(graph)
    assert set(workloads) == set(EXPECTED[stack]), "one GPU workload per workspace, and no other"
    for key, expected in EXPECTED[stack].items():
        pod = workloads[key]
        main = pod["containers"][0]
        assert main["resources"] == expected["resources"], key
        (term,) = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        # The pools the fit chose (Karpenter provisions only there) and the instance types it fits.
        assert term["matchExpressions"] == [
            {"key": "genai.platform/node-pool", "operator": "In", "values": expected["pools"]},
            {"key": INSTANCE_TYPE, "operator": "In", "values": expected["instance_types"]},
        ], key
        scratch = {v["name"]: v["emptyDir"]["sizeLimit"] for v in pod["volumes"] if v["name"] in ("models", "cache")}
        assert list(scratch.values()) == [expected["scratch"]], key
        env = {e["name"]: e.get("value") for e in main["env"]}
        assert {k: env.get(k) for k in expected["env"]} == expected["env"], key
        # Still only on tainted GPU nodes: the affinity narrows the GPU node selector, never replaces it.
        assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
        assert {"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"} in pod[
            "tolerations"
        ]


def test_every_inference_workspace_has_its_own_service_identity_and_policy(prod: Graph):
    services = {(m["metadata"]["namespace"], m["metadata"]["name"]) for _, m in wm.objects(prod, "Service")}
    accounts = {(m["metadata"]["namespace"], m["metadata"]["name"]) for _, m in wm.objects(prod, "ServiceAccount")}
    budgets = {m["metadata"]["name"] for _, m in wm.objects(prod, "PodDisruptionBudget")}
    for name in ("llm", "coder"):
        assert ("inference", name) in services and ("inference", name) in accounts and name in budgets
    assert prod.exports["inferenceUrls"] == (
        {
            "llm": "http://llm.inference.svc.cluster.local:8000/v1",
            "coder": "http://coder.inference.svc.cluster.local:8000/v1",
        },
        False,
    )


def test_only_notebooks_call_a_workspace_other_than_the_default_llm(prod: Graph):
    """The chatbot and RAG ask the first inference workspace; notebooks may call every model."""
    flows = wm.allowed_flows(prod)
    assert {f for f in flows if f[1] == "coder"} == {("notebook", "coder", 8000)}
    assert {("chatbot", "llm", 8000), ("rag", "llm", 8000), ("notebook", "llm", 8000)} <= flows


def test_two_tuning_workspaces_get_two_jobs_with_separate_grants():
    config = stack_config("dev")
    (finetune,) = [w for w in config["genai-eks:workspaces"] if "finetune" in w]
    config["genai-eks:workspaces"].append(
        {
            **finetune,
            "name": "support",
            "finetune": {
                **finetune["finetune"],
                "trainData": "support/train.jsonl",
                "validationData": "support/validation.jsonl",
            },
        }
    )
    config["genai-eks:gpuNodePools"][0]["gpuLimit"] = 4
    graph = run_program("dev", config)
    jobs = {m["metadata"]["name"]: m for _, m in wm.objects(graph, "Job")}
    assert set(jobs) == {"finetune-loyalty-1", "finetune-support-1"}
    assert jobs["finetune-support-1"]["spec"]["template"]["spec"]["serviceAccountName"] == "finetune-support"
    env = {
        e["name"]: e.get("value")
        for e in jobs["finetune-support-1"]["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["OUTPUT_URI"].endswith("/adapters/support/") and env["TRAIN_DATA"].endswith("/support/train.jsonl")
    assert graph.exports["finetuneJobs"] == (["finetune/finetune-loyalty-1", "finetune/finetune-support-1"], False)
