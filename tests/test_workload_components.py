"""Each workload component, as the stack config shapes it: the fine-tuning Job, the inference
server, the Helm releases, the chatbot's exposure, and what `pulumi up` waits for."""

from __future__ import annotations

import re

from tests import workload_model as wm
from tests.harness import ROOT, Graph, run_program, stack_config
from tests.harness import parsed_config as parsed
from tests.harness import planned_workspaces as planned

SKIP_AWAIT = "pulumi.com/skipAwait"
MNG = "eks:index:ManagedNodeGroup"


def manifest(graph: Graph, kind: str, name: str) -> dict:
    (m,) = [m for _, m in wm.objects(graph, kind) if m["metadata"]["name"] == name]
    return m


def resource(graph: Graph, type_: str, name: str):
    return graph.one(f"kubernetes:{type_}", name)


# --- fine-tuning -------------------------------------------------------------------------------


def test_fine_tuning_job_runs_once_per_run_id_on_a_gpu(dev: Graph):
    (workspace,) = planned(dev).finetune
    cfg = workspace.config
    job = manifest(dev, "Job", f"finetune-{workspace.name}-{cfg.run_id}")
    spec, pod = job["spec"], job["spec"]["template"]["spec"]
    assert job["metadata"]["namespace"] == "finetune"
    assert job["metadata"]["annotations"][SKIP_AWAIT] == "true"  # pulumi up does not wait hours
    assert (spec["backoffLimit"], spec["ttlSecondsAfterFinished"]) == (
        cfg.backoff_limit,
        cfg.ttl_hours_after_finished * 3600,
    )
    # The deadline counts from when a kubelet accepts the pod (PodStatus.startTime), not from the Job's
    # start: waiting for a spot GPU node cannot use it up. The Job itself has none.
    assert "activeDeadlineSeconds" not in spec
    assert pod["activeDeadlineSeconds"] == cfg.active_deadline_hours * 3600
    # A spot reclaim does not use up a retry.
    assert spec["podFailurePolicy"]["rules"] == [
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
        # Bad settings or data (the image exits 2) fail the Job at once instead of retrying.
        {"action": "FailJob", "onExitCodes": {"containerName": "finetune", "operator": "In", "values": [2]}},
    ]
    assert pod["restartPolicy"] == "Never" and pod["serviceAccountName"] == "finetune-loyalty"
    (container,) = pod["containers"]
    assert re.fullmatch(r".+/genai-dev/finetune@sha256:[0-9a-f]{64}", container["image"])  # the pushed digest
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    shm = next(v for v in pod["volumes"] if v["name"] == "dshm")
    assert shm["emptyDir"] == {"medium": "Memory", "sizeLimit": f"{cfg.shm_size_gib}Gi"}
    assert {"name": "dshm", "mountPath": "/dev/shm"} in container["volumeMounts"]
    # A Job's template is immutable: a changed run replaces the Job, deleting the old one first.
    assert resource(dev, "batch/v1:Job", "finetune-loyalty").delete_before_replace


def test_fine_tuning_environment_is_the_image_contract(dev: Graph):
    (workspace,) = planned(dev).finetune
    cfg = workspace.config
    env = {
        e["name"]: e.get("value")
        for e in manifest(dev, "Job", "finetune-loyalty-1")["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["BASE_MODEL"] == workspace.model.hugging_face_id and env["FINETUNE_METHOD"] == cfg.method
    assert env["TRAIN_DATA"] == "s3://genai-dev-datasets-1a2b3c4d/loyalty/train.jsonl"
    assert env["VALIDATION_DATA"] == "s3://genai-dev-datasets-1a2b3c4d/loyalty/validation.jsonl"
    assert env["OUTPUT_URI"] == "s3://genai-dev-model-assets-1a2b3c4d/adapters/loyalty/"
    assert env["CHECKPOINT_URI"] == "s3://genai-dev-model-assets-1a2b3c4d/checkpoints/loyalty/1/"
    hp = cfg.hyperparameters
    assert (env["LORA_R"], env["LORA_ALPHA"], env["LORA_DROPOUT"], env["LEARNING_RATE"], env["MAX_STEPS"]) == (
        "32",
        "64",
        "0.05",
        "2.5e-05",
        "200",
    )
    assert float(env["LEARNING_RATE"]) == hp.learning_rate


def test_changing_the_run_id_names_a_new_job():
    config = stack_config("dev")
    (finetune,) = [w for w in config["genai-eks:workspaces"] if "finetune" in w]
    finetune["finetune"]["runId"] = "2"
    graph = run_program("dev", config)
    assert [m["metadata"]["name"] for _, m in wm.objects(graph, "Job")] == ["finetune-loyalty-2"]


# --- inference ---------------------------------------------------------------------------------


def test_inference_serves_the_model_and_adapters_from_a_pinned_vllm(graph: Graph):
    llm = planned(graph).default_llm
    cfg = llm.config
    deployment = manifest(graph, "Deployment", "llm")
    pod = deployment["spec"]["template"]["spec"]
    (server,) = pod["containers"]
    (fetch,) = pod["initContainers"]
    assert server["image"].startswith("vllm/vllm-openai:v") and not server["image"].endswith(":latest")
    assert fetch["image"].startswith("public.ecr.aws/aws-cli/aws-cli:2.")
    assert server["command"] == ["/bin/sh", "/scripts/serve.sh"] and fetch["command"] == [
        "/bin/sh",
        "/scripts/fetch-model.sh",
    ]
    env = {e["name"]: e.get("value") for e in server["env"]}
    assert (env["BASE_MODEL"], env["SERVED_MODEL_NAME"], env["ADAPTERS"]) == (
        llm.model.hugging_face_id,
        llm.served_model_name,
        " ".join(cfg.adapters),
    )
    assert (env["MAX_MODEL_LEN"], env["GPU_MEMORY_UTILIZATION"]) == (
        str(llm.max_model_len),
        repr(cfg.gpu_memory_utilization),
    )
    assert deployment["spec"]["replicas"] == cfg.replicas
    assert deployment["metadata"]["annotations"][SKIP_AWAIT] == "true"
    # Rolling over without a surge: never more GPU pods than replicas.
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}


def test_vllm_runs_as_its_images_user_with_a_read_only_root(dev: Graph):
    pod = manifest(dev, "Deployment", "llm")["spec"]["template"]["spec"]
    # vllm-project/vllm's image: user vllm, UID 2000, group 0; any other UID has no passwd entry.
    assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == (2000, 0)
    server = next(c for c in pod["containers"] if c["name"] == "vllm")
    assert server["securityContext"]["readOnlyRootFilesystem"] is True
    writable = {m["mountPath"] for m in server["volumeMounts"] if not m.get("readOnly")}
    assert writable == {"/models", "/tmp", "/dev/shm"}
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounted = {m["mountPath"]: volumes[m["name"]] for m in server["volumeMounts"]}
    assert all("emptyDir" in mounted[path] for path in writable)
    env = {e["name"]: e.get("value") for e in server["env"]}
    # Every cache the server writes lies on a writable mount.
    for key in (
        "HOME",
        "HF_HOME",
        "VLLM_CACHE_ROOT",
        "VLLM_CONFIG_ROOT",
        "XDG_CACHE_HOME",
        "TRITON_CACHE_DIR",
        "TORCHINDUCTOR_CACHE_DIR",
        "TMPDIR",
    ):
        assert any(env[key] == path or env[key].startswith(path + "/") for path in writable), key


def test_an_edited_script_rolls_the_inference_pods(dev: Graph, monkeypatch, tmp_path):
    from workloads import inference

    template = manifest(dev, "Deployment", "llm")["spec"]["template"]
    scripts = manifest(dev, "ConfigMap", "llm-scripts")["data"]
    digest = template["metadata"]["annotations"][inference.SCRIPTS_DIGEST_ANNOTATION]
    assert digest == inference.scripts_digest(scripts)
    edited = {**scripts, "serve.sh": scripts["serve.sh"] + "# edited\n"}
    assert inference.scripts_digest(edited) != digest
    assert inference.scripts_digest({"a": "bc"}) != inference.scripts_digest({"ab": "c"})


def test_inference_scripts_are_shipped_verbatim(dev: Graph):
    scripts = manifest(dev, "ConfigMap", "llm-scripts")["data"]
    folder = ROOT / "workloads" / "scripts"
    assert scripts == {p.name: p.read_text() for p in folder.glob("*.sh")}


def test_inference_probes_allow_a_slow_model_load(dev: Graph):
    (server,) = manifest(dev, "Deployment", "llm")["spec"]["template"]["spec"]["containers"]
    startup = server["startupProbe"]
    assert startup["httpGet"] == {"path": "/health", "port": "http"}
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 30 * 60
    assert server["readinessProbe"]["httpGet"]["path"] == server["livenessProbe"]["httpGet"]["path"] == "/health"


def test_inference_disruption_budget_covers_its_pods(dev: Graph):
    pdb = manifest(dev, "PodDisruptionBudget", "llm")
    labels = manifest(dev, "Deployment", "llm")["spec"]["template"]["metadata"]["labels"]
    assert wm.matches(pdb["spec"]["selector"]["matchLabels"], labels)
    assert pdb["spec"]["maxUnavailable"] == 1


def test_rag_sessions_stick_to_one_replica(graph: Graph):
    # The RAG service keeps conversation history in memory, per replica.
    assert manifest(graph, "Service", "rag")["spec"]["sessionAffinity"] == "ClientIP"


# --- Helm releases -----------------------------------------------------------------------------


def test_jupyterhub_profiles(graph: Graph):
    cfg = parsed(graph).jupyterhub
    values = wm.charts(graph)["jupyterhub"]["values"]
    user = values["singleuser"]
    assert user["serviceAccountName"] == "notebook"
    assert user["startTimeout"] >= 1200 and user["startTimeout"] == cfg.start_timeout_seconds
    assert user["storage"]["dynamic"]["storageClass"] == "gp3"
    assert user["storage"]["capacity"] == f"{cfg.home_storage_gib}Gi"
    assert user["cloudMetadata"]["blockWithIptables"] is False  # privileged; the NetworkPolicy blocks it
    assert user["networkPolicy"]["egressAllowRules"]["cloudMetadataServer"] is False
    cpu, gpu = user["profileList"]
    assert cpu["default"] is True and "kubespawner_override" not in cpu
    override = gpu["kubespawner_override"]
    assert override["extra_resource_limits"] == override["extra_resource_guarantees"] == {"nvidia.com/gpu": "1"}
    assert wm.GPU_TAINT in override["tolerations"]
    assert override["node_selector"] == {"nvidia.com/gpu.present": "true"}
    assert values["prePuller"] == {"hook": {"enabled": False}, "continuous": {"enabled": False}}
    assert values["hub"]["db"]["pvc"]["storageClassName"] == "gp3"


def test_jupyterhub_gpu_profile_can_be_switched_off():
    config = stack_config("dev")
    config["genai-eks:jupyterhub"] = {**config["genai-eks:jupyterhub"], "gpuProfile": False}
    graph = run_program("dev", config)
    assert [p["slug"] for p in wm.charts(graph)["jupyterhub"]["values"]["singleuser"]["profileList"]] == ["cpu"]


def test_qdrant_release(graph: Graph):
    cfg = parsed(graph).qdrant
    release = wm.charts(graph)["qdrant"]
    values = release["values"]
    assert (release["name"], release["namespace"], release["version"]) == ("qdrant", "vector-db", "1.19.0")
    assert values["persistence"] == {"storageClassName": "gp3", "size": f"{cfg.storage_gib}Gi"}
    assert values["image"]["useUnprivilegedImage"] is True
    assert values["env"] == [
        {
            "name": "QDRANT__SERVICE__API_KEY",
            "valueFrom": {"secretKeyRef": {"name": "qdrant-api-key", "key": "api-key"}},
        }
    ]


# --- what `pulumi up` waits for ----------------------------------------------------------------

# Whether `pulumi up` can wait for each of them, and how long it takes: tests/test_first_deploy.py.


def test_awaited_charts_wait_for_volumes_and_nothing_else_slow(graph: Graph):
    addon = graph.one("aws:eks/addon:Addon", "storage-ebs-csi")
    gp3 = graph.one("kubernetes:storage.k8s.io/v1:StorageClass")
    gpu_groups = [g for g in graph.of_type(MNG) if "gpu" in g.name]
    for chart in ("jupyterhub", "qdrant"):
        release = graph.one("kubernetes:helm.sh/v4:Chart", chart)
        assert graph.depends_on(release, addon) and graph.depends_on(release, gp3), chart
        for group in gpu_groups:
            assert not graph.depends_on(release, group), f"{chart} waits for {group.name}"


def test_namespaces_with_volumes_are_destroyed_before_the_csi_driver(graph: Graph):
    addon = graph.one("aws:eks/addon:Addon", "storage-ebs-csi")
    for name in ("ns-jupyterhub", "ns-vector-db"):
        assert graph.depends_on(graph.one("kubernetes:core/v1:Namespace", name), addon), name
    for name in ("ns-inference", "ns-rag", "ns-chatbot"):  # emptyDir only: no reason to wait
        assert not graph.depends_on(graph.one("kubernetes:core/v1:Namespace", name), addon), name


def test_clients_do_not_wait_for_the_services_they_call(dev: Graph):
    rag = resource(dev, "apps/v1:Deployment", "rag")
    chatbot = resource(dev, "apps/v1:Deployment", "chatbot")
    qdrant = dev.one("kubernetes:helm.sh/v4:Chart", "qdrant")
    llm = resource(dev, "apps/v1:Deployment", "llm")
    assert not dev.depends_on(rag, qdrant) and not dev.depends_on(rag, llm)
    assert not any(dev.depends_on(chatbot, other) for other in (rag, llm, qdrant))


def test_no_workload_waits_for_gpu_nodes(graph: Graph):
    gpu_groups = [g for g in graph.of_type(MNG) if "gpu" in g.name]
    for r in graph.resources:
        if r.type.startswith("kubernetes:"):
            for group in gpu_groups:
                assert not graph.depends_on(r, group), f"{r.type} {r.name} waits for {group.name}"


# --- the chatbot's exposure --------------------------------------------------------------------


def with_chatbot(**chatbot) -> Graph:
    config = stack_config("dev")
    config["genai-eks:chatbot"] = chatbot
    return run_program("dev", config)


def test_chatbot_behind_an_nlb_with_tls():
    arn = "arn:aws:acm:us-west-2:123456789012:certificate/00000000-0000-4000-8000-000000000000"
    graph = with_chatbot(exposure="loadBalancer", sourceRanges=["198.51.100.0/24"], tlsCertificateArn=arn)
    svc = manifest(graph, "Service", "chatbot")
    assert svc["spec"]["type"] == "LoadBalancer" and svc["spec"]["loadBalancerSourceRanges"] == ["198.51.100.0/24"]
    assert svc["spec"]["ports"] == [{"name": "http", "port": 443, "targetPort": "http", "protocol": "TCP"}]
    annotations = svc["metadata"]["annotations"]
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-type"] == "nlb"
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-ssl-cert"] == arn
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-ssl-ports"] == "443"


def test_chatbot_behind_an_ingress_with_tls():
    graph = with_chatbot(
        exposure="ingress", ingressClass="alb", ingressHost="chat.example.com", ingressTlsSecret="chat-tls"
    )
    ingress = manifest(graph, "Ingress", "chatbot")
    assert ingress["spec"]["tls"] == [{"hosts": ["chat.example.com"], "secretName": "chat-tls"}]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    svc = manifest(graph, "Service", "chatbot")
    assert backend == {"name": "chatbot", "port": {"number": svc["spec"]["ports"][0]["port"]}}
    assert svc["spec"]["type"] == "ClusterIP"
    assert not [s for s in wm.services(graph) if s.type == "LoadBalancer" and s.namespace == "chatbot"]


def test_chatbot_by_port_forward_admits_no_outside_traffic():
    graph = with_chatbot(exposure="none")
    policy = manifest(graph, "NetworkPolicy", "allow-chatbot")
    assert "ingress" not in policy["spec"] and policy["spec"]["policyTypes"] == ["Egress"]
    assert manifest(graph, "Service", "chatbot")["spec"]["type"] == "ClusterIP"
