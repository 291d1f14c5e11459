"""`InferenceService`: an OpenAI-compatible vLLM server for an inference workspace's model and its
LoRA adapters, with the GPU count, instance types, resources and engine arguments its placement
derived (presets/fit.py).

Weights are not baked into an image: an init container copies the base model (when it is
mirrored in the model-assets bucket, else vLLM downloads it from Hugging Face) and each published
adapter into a scratch volume, under an IRSA role that can only read those prefixes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.identity import BucketAccess, bucket_access_policy
from infra.platform import Platform
from presets.plan import ServingWorkspace
from workloads import kube
from workloads.finetune import adapter_prefix
from workloads.kube import core

NAMESPACE = "inference"
PORT = 8000
MODELS_DIR = "/models"
SCRIPTS = Path(__file__).parent / "scripts"

# Pinned engine and sync images (the vLLM image is ~10 GB: a GPU node's first pull takes minutes).
VLLM_IMAGE = "vllm/vllm-openai:v0.31.0"
AWS_CLI_IMAGE = "public.ecr.aws/aws-cli/aws-cli:2.37.9"
# The vLLM image's own non-root user: `vllm`, UID 2000 in group 0 (as reported in ai-dynamo/dynamo#12457 and
# vllm-project/vllm#44548; the image cannot be pulled here to check).
# A UID with no passwd entry breaks `getpass.getuser()`, which torch and triton call for cache paths.
VLLM_UID, VLLM_GID = 2000, 0
# The pod template carries a digest of the scripts it mounts: an edited script rolls the pods.
SCRIPTS_DIGEST_ANNOTATION = "genai.platform/scripts-sha256"


def scripts_digest(scripts: Mapping[str, str]) -> str:
    """sha256 over the scripts' names and contents, in name order."""
    digest = hashlib.sha256()
    for name in sorted(scripts):
        digest.update(name.encode() + b"\0" + scripts[name].encode() + b"\0")
    return digest.hexdigest()


def endpoint(workspace: ServingWorkspace) -> kube.ServiceEndpoint:
    """The workspace's Service: its name is the workspace's, e.g. http://llm.inference.svc:8000/v1."""
    return kube.ServiceEndpoint(NAMESPACE, workspace.name, PORT, kube.app_labels(workspace.name), PORT, path="/v1")


def model_prefix(model: str) -> str:
    """Where a mirrored base model lives in the model-assets bucket, e.g. models/Qwen/Qwen2.5-7B-Instruct."""
    return f"models/{model}"


def reading_policy(model_assets_arn: str, workspace: ServingWorkspace) -> dict[str, Any]:
    return bucket_access_policy(
        [
            BucketAccess(model_assets_arn, model_prefix(workspace.model.hugging_face_id), write=False),
            *(BucketAccess(model_assets_arn, adapter_prefix(a), write=False) for a in workspace.config.adapters),
        ]
    )


def server_environment(workspace: ServingWorkspace) -> dict[str, str]:
    """What scripts/serve.sh reads; the engine arguments follow from it."""
    return {
        "BASE_MODEL": workspace.model.hugging_face_id,
        "SERVED_MODEL_NAME": workspace.served_model_name,
        "ADAPTERS": " ".join(workspace.config.adapters),
        "MODELS_DIR": MODELS_DIR,
        "PORT": str(PORT),
        "DTYPE": workspace.config.dtype,
        "MAX_MODEL_LEN": str(workspace.max_model_len),
        "TENSOR_PARALLEL_SIZE": str(workspace.tensor_parallel_size),
        "GPU_MEMORY_UTILIZATION": repr(workspace.config.gpu_memory_utilization),
        "MAX_LORA_RANK": str(workspace.config.max_lora_rank),
        # Caches under the writable scratch volume: the container runs as a non-root user.
        "HOME": f"{MODELS_DIR}/home",
        "HF_HOME": f"{MODELS_DIR}/hf",
        "VLLM_CACHE_ROOT": f"{MODELS_DIR}/vllm-cache",
        "XDG_CACHE_HOME": f"{MODELS_DIR}/cache",
        "TRITON_CACHE_DIR": f"{MODELS_DIR}/triton",
        "VLLM_CONFIG_ROOT": f"{MODELS_DIR}/vllm-config",
        "TORCHINDUCTOR_CACHE_DIR": f"{MODELS_DIR}/inductor",
        "TMPDIR": "/tmp",
        "VLLM_NO_USAGE_STATS": "1",
        "DO_NOT_TRACK": "1",
    }


@dataclass(frozen=True)
class InferenceServiceArgs:
    platform: Platform
    workspace: ServingWorkspace
    namespace: kube.WorkloadNamespace
    clients: Sequence[kube.Peer] = ()  # who may call the API
    hugging_face_token: pulumi.Input[str] | None = None


class InferenceService(pulumi.ComponentResource):
    def __init__(self, name: str, args: InferenceServiceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("genai:workloads:InferenceService", name, None, opts)
        workspace, platform, pod = args.workspace, args.platform, args.workspace.placement.pod
        namespace = args.namespace.name
        k8s_opts = args.namespace.child_opts(self, platform.provider)
        service, labels = workspace.name, kube.app_labels(workspace.name)
        scripts_name, token_secret = f"{workspace.name}-scripts", f"{workspace.name}-huggingface-token"

        policy = platform.model_assets_bucket.arn.apply(lambda arn: json.dumps(reading_policy(arn, workspace)))
        self.role, account = kube.workload_identity(
            name,
            oidc=platform.oidc,
            namespace=namespace,
            account=service,
            policy_json=policy,
            labels=labels,
            parent=self,
            k8s_opts=k8s_opts,
        )
        script_files = {p.name: p.read_text() for p in sorted(SCRIPTS.glob("*.sh"))}
        scripts = core.ConfigMap(
            f"{name}-scripts",
            metadata=kube.object_meta(scripts_name, namespace, labels),
            data=script_files,
            opts=k8s_opts,
        )
        depends: list[pulumi.Resource] = [account, scripts]
        token_env = []
        if args.hugging_face_token is not None:
            depends.append(
                kube.opaque_secret(
                    f"{name}-hf-token",
                    secret_name=token_secret,
                    namespace=namespace,
                    data={"token": args.hugging_face_token},
                    opts=k8s_opts,
                )
            )
            token_env = [kube.secret_env("HF_TOKEN", token_secret, "token")]

        environment = server_environment(workspace)
        mounts = [
            core.VolumeMountArgs(name="models", mount_path=MODELS_DIR),
            core.VolumeMountArgs(name="scripts", mount_path="/scripts", read_only=True),
        ]
        fetch = core.ContainerArgs(
            name="fetch-model",
            image=AWS_CLI_IMAGE,
            command=["/bin/sh", "/scripts/fetch-model.sh"],
            env=kube.env(
                {
                    "MODEL_ASSETS_BUCKET": platform.model_assets_bucket.name,
                    "BASE_MODEL": workspace.model.hugging_face_id,
                    "BASE_MODEL_PREFIX": model_prefix(workspace.model.hugging_face_id),
                    "ADAPTERS": environment["ADAPTERS"],
                    "MODELS_DIR": MODELS_DIR,
                    "HOME": "/tmp",
                }
            ),
            resources=kube.resources("500m", "512Mi", "2", "1Gi"),
            security_context=kube.container_security_context(),
            volume_mounts=[*mounts, core.VolumeMountArgs(name="tmp", mount_path="/tmp")],
        )
        server = core.ContainerArgs(
            name="vllm",
            image=VLLM_IMAGE,
            command=["/bin/sh", "/scripts/serve.sh"],
            env=[*kube.env(environment), *token_env],
            ports=[core.ContainerPortArgs(name="http", container_port=PORT, protocol="TCP")],
            resources=kube.pod_resources(pod),
            # A model load takes minutes (longer on a first download): the startup probe allows 30 minutes
            # before liveness takes over, and readiness keeps traffic away until /health answers.
            startup_probe=kube.http_probe("/health", "http", period=10, failures=180),
            readiness_probe=kube.http_probe("/health", "http", period=10, failures=3),
            liveness_probe=kube.http_probe("/health", "http", period=20, failures=3, timeout=10),
            # A read-only root: every cache vLLM, torch and triton write is pointed under /models (HOME,
            # HF_HOME, VLLM_CACHE_ROOT, ... in server_environment), and scratch files go to /tmp.
            security_context=kube.container_security_context(),
            volume_mounts=[
                *mounts,
                core.VolumeMountArgs(name="dshm", mount_path="/dev/shm"),
                core.VolumeMountArgs(name="tmp", mount_path="/tmp"),
            ],
        )
        gpu = platform.gpu_scheduling
        self.deployment = k8s.apps.v1.Deployment(
            name,
            # Skip await: the first start waits for a GPU node, a 10 GB image and the weights
            # (tests/deploy_model.py predicts 10 minutes and more: pulumi-kubernetes' default timeout).
            metadata=kube.object_meta(service, namespace, labels, kube.SKIP_AWAIT),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=workspace.config.replicas,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
                # No surge: a rollout must not need a GPU more than the replicas hold.
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_surge=0, max_unavailable=1),
                ),
                template=core.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels=labels, annotations={SCRIPTS_DIGEST_ANNOTATION: scripts_digest(script_files)}
                    ),
                    spec=core.PodSpecArgs(
                        service_account_name=service,
                        security_context=kube.pod_security_context(VLLM_UID, VLLM_GID),
                        node_selector=dict(gpu.node_selector),
                        affinity=kube.placement_affinity(workspace.placement),
                        tolerations=[core.TolerationArgs(**t) for t in gpu.tolerations],
                        init_containers=[fetch],
                        containers=[server],
                        volumes=[
                            kube.scratch_volume("models", f"{pod.scratch_gib}Gi"),
                            kube.scratch_volume("tmp", "1Gi"),
                            kube.memory_volume("dshm", workspace.config.shm_size_gib),
                            core.VolumeArgs(
                                name="scripts",
                                config_map=core.ConfigMapVolumeSourceArgs(name=scripts_name, default_mode=0o555),
                            ),
                        ],
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions.merge(k8s_opts, pulumi.ResourceOptions(depends_on=depends)),
        )
        # Not awaited either: pulumi-kubernetes holds a Service while a selected pod has an IP and is
        # not Ready (provider/pkg/await/service.go), which is the whole model load.
        self.service = core.Service(
            f"{name}-svc",
            metadata=kube.object_meta(service, namespace, labels, kube.SKIP_AWAIT),
            spec=core.ServiceSpecArgs(
                type="ClusterIP",
                selector=labels,
                ports=[core.ServicePortArgs(name="http", port=PORT, target_port="http", protocol="TCP")],
            ),
            opts=k8s_opts,
        )
        # Voluntary evictions (node upgrades, scale-in) take one replica at a time.
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata=kube.object_meta(service, namespace, labels),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                max_unavailable=1, selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels)
            ),
            opts=k8s_opts,
        )
        kube.allow_traffic(
            f"{name}-traffic",
            namespace=namespace,
            pod_labels=labels,
            ingress_from=args.clients,
            ingress_port=PORT,
            egress=kube.Egress(https_to_internet=True),
            opts=k8s_opts,
        )
        self.endpoint = endpoint(workspace)
        self.register_outputs({"url": self.endpoint.url})
