"""`FinetuneJob`: a finetune workspace's LoRA/QLoRA run as a Kubernetes Job on a GPU instance type
its placement found room on (presets/fit.py).

Data comes from the datasets bucket and the adapter goes to the model-assets bucket, under an
IRSA role that can read exactly the dataset prefixes and write exactly this adapter's prefixes.
`pulumi up` creates the Job and returns: training runs for hours and is watched with kubectl.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.identity import BucketAccess, bucket_access_policy
from infra.platform import Platform
from presets.plan import FinetuneWorkspace
from workloads import kube
from workloads.kube import core

NAMESPACE = "finetune"
CONTAINER = "finetune"
CONTAINER_UID = 1000  # the finetune image's non-root user
BAD_INPUT_EXIT_CODE = 2  # images/finetune exits so on bad settings or data


def adapter_prefix(adapter: str) -> str:
    """Where a finished adapter lives in the model-assets bucket (the inference service reads it there)."""
    return f"adapters/{adapter}"


def checkpoint_prefix(adapter: str) -> str:
    return f"checkpoints/{adapter}"


def workload_name(workspace: FinetuneWorkspace) -> str:
    """The run's service account and pod label: one per finetune workspace, each with its own S3 grants."""
    return f"finetune-{workspace.name}"


def job_name(workspace: FinetuneWorkspace) -> str:
    # The run id is part of the name: a new id is a new run; the same id is never trained twice.
    return f"finetune-{workspace.name}-{workspace.config.run_id}"


def dataset_prefixes(workspace: FinetuneWorkspace) -> tuple[str, ...]:
    return tuple(
        sorted({posixpath.dirname(workspace.config.train_data), posixpath.dirname(workspace.config.validation_data)})
    )


def finetune_policy(datasets_arn: str, model_assets_arn: str, workspace: FinetuneWorkspace) -> dict[str, Any]:
    return bucket_access_policy(
        [
            *(BucketAccess(datasets_arn, prefix, write=False) for prefix in dataset_prefixes(workspace)),
            BucketAccess(model_assets_arn, adapter_prefix(workspace.name), write=True),
            BucketAccess(model_assets_arn, checkpoint_prefix(workspace.name), write=True),
        ]
    )


def finetune_environment(
    workspace: FinetuneWorkspace, datasets: pulumi.Input[str], model_assets: pulumi.Input[str]
) -> dict[str, pulumi.Input[str]]:
    """The contract with images/finetune: everything the run needs, none of it secret."""
    hp = workspace.config.hyperparameters
    s3 = lambda bucket, key: pulumi.Output.concat("s3://", bucket, "/", key)
    return {
        "BASE_MODEL": workspace.model.hugging_face_id,
        "FINETUNE_METHOD": workspace.config.method,
        "TRAIN_DATA": s3(datasets, workspace.config.train_data),
        "VALIDATION_DATA": s3(datasets, workspace.config.validation_data),
        "OUTPUT_URI": s3(model_assets, f"{adapter_prefix(workspace.name)}/"),
        "CHECKPOINT_URI": s3(model_assets, f"{checkpoint_prefix(workspace.name)}/{workspace.config.run_id}/"),
        "RUN_ID": workspace.config.run_id,
        "LORA_R": str(hp.rank),
        "LORA_ALPHA": str(hp.alpha),
        "LORA_DROPOUT": repr(hp.dropout),
        "LEARNING_RATE": repr(hp.learning_rate),
        "MAX_STEPS": str(hp.max_steps),
        "BATCH_SIZE": str(hp.batch_size),
        "GRADIENT_ACCUMULATION_STEPS": str(hp.gradient_accumulation_steps),
        "MAX_SEQ_LENGTH": str(hp.max_sequence_length),
        "CHECKPOINT_EVERY_STEPS": str(hp.checkpoint_every_steps),
        "HF_HOME": "/cache/huggingface",
        "HOME": "/cache/home",
        "PYTHONUNBUFFERED": "1",  # progress lines reach `kubectl logs -f` as they are printed
    }


@dataclass(frozen=True)
class FinetuneJobArgs:
    platform: Platform
    workspace: FinetuneWorkspace
    namespace: kube.WorkloadNamespace
    hugging_face_token: pulumi.Input[str] | None = None


class FinetuneJob(pulumi.ComponentResource):
    def __init__(self, name: str, args: FinetuneJobArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("genai:workloads:FinetuneJob", name, None, opts)
        workspace, platform, pod = args.workspace, args.platform, args.workspace.placement.pod
        k8s_opts = args.namespace.child_opts(self, platform.provider)
        namespace = args.namespace.name
        account_name, labels = workload_name(workspace), kube.app_labels(workload_name(workspace))
        token_secret = f"{workload_name(workspace)}-huggingface-token"

        policy = pulumi.Output.all(platform.datasets_bucket.arn, platform.model_assets_bucket.arn).apply(
            lambda arns: json.dumps(finetune_policy(arns[0], arns[1], workspace))
        )
        self.role, account = kube.workload_identity(
            name,
            oidc=platform.oidc,
            namespace=namespace,
            account=account_name,
            policy_json=policy,
            labels=labels,
            parent=self,
            k8s_opts=k8s_opts,
        )

        env_vars = kube.env(
            finetune_environment(workspace, platform.datasets_bucket.name, platform.model_assets_bucket.name)
        )
        token_env = []
        depends: list[pulumi.Resource] = [account]
        if args.hugging_face_token is not None:
            token = kube.opaque_secret(
                f"{name}-hf-token",
                secret_name=token_secret,
                namespace=namespace,
                data={"token": args.hugging_face_token},
                opts=k8s_opts,
            )
            token_env = [kube.secret_env("HF_TOKEN", token_secret, "token")]
            depends.append(token)

        gpu = platform.gpu_scheduling
        container = core.ContainerArgs(
            name=CONTAINER,
            image=platform.images["finetune"],
            env=[*env_vars, *token_env],
            resources=kube.pod_resources(pod),
            security_context=kube.container_security_context(),
            volume_mounts=[
                core.VolumeMountArgs(name="dshm", mount_path="/dev/shm"),
                core.VolumeMountArgs(name="cache", mount_path="/cache"),
                core.VolumeMountArgs(name="tmp", mount_path="/tmp"),
            ],
        )
        # The deadline is the pod's, not the Job's: a Job's activeDeadlineSeconds counts from the Job's
        # start, while its pod waits for a spot GPU node, and fails it DeadlineExceeded before it trains.
        # A pod's counts from when a kubelet accepts it (PodStatus.startTime): the run and its image pull.
        deadline = workspace.config.active_deadline_hours * 3600
        self.job = k8s.batch.v1.Job(
            name,
            metadata=kube.object_meta(job_name(workspace), namespace, labels, kube.SKIP_AWAIT),
            spec=k8s.batch.v1.JobSpecArgs(
                backoff_limit=workspace.config.backoff_limit,
                ttl_seconds_after_finished=workspace.config.ttl_hours_after_finished * 3600,
                # A spot reclaim is not the program's fault: it must not use up the retries.
                pod_failure_policy=k8s.batch.v1.PodFailurePolicyArgs(
                    rules=[
                        k8s.batch.v1.PodFailurePolicyRuleArgs(
                            action="Ignore",
                            on_pod_conditions=[
                                k8s.batch.v1.PodFailurePolicyOnPodConditionsPatternArgs(
                                    type="DisruptionTarget", status="True"
                                )
                            ],
                        ),
                        # Exit 2 is bad settings or data (images/finetune): retrying cannot help.
                        k8s.batch.v1.PodFailurePolicyRuleArgs(
                            action="FailJob",
                            on_exit_codes=k8s.batch.v1.PodFailurePolicyOnExitCodesRequirementArgs(
                                container_name=CONTAINER, operator="In", values=[BAD_INPUT_EXIT_CODE]
                            ),
                        ),
                    ]
                ),
                template=core.PodTemplateSpecArgs(
                    # Karpenter never drains a training node to consolidate it: hours of work would
                    # restart. A spot interruption still can; the run resumes from its checkpoint.
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels, annotations={kube.DO_NOT_DISRUPT: "true"}),
                    spec=core.PodSpecArgs(
                        service_account_name=account_name,
                        restart_policy="Never",
                        active_deadline_seconds=deadline,
                        security_context=kube.pod_security_context(CONTAINER_UID),
                        node_selector=dict(gpu.node_selector),
                        affinity=kube.placement_affinity(workspace.placement),
                        tolerations=[core.TolerationArgs(**t) for t in gpu.tolerations],
                        termination_grace_period_seconds=60,  # time to write a last checkpoint on a spot notice
                        containers=[container],
                        volumes=[
                            kube.memory_volume("dshm", workspace.config.shm_size_gib),
                            kube.scratch_volume("cache", f"{pod.scratch_gib}Gi"),
                            kube.scratch_volume("tmp", "1Gi"),
                        ],
                    ),
                ),
            ),
            # A Job's pod template is immutable: a changed run is replaced, never patched.
            opts=pulumi.ResourceOptions.merge(
                k8s_opts, pulumi.ResourceOptions(depends_on=depends, delete_before_replace=True)
            ),
        )
        kube.allow_traffic(
            f"{name}-traffic",
            namespace=namespace,
            pod_labels=labels,
            egress=kube.Egress(https_to_internet=True),
            opts=k8s_opts,
        )
        self.job_name = job_name(workspace)
        self.register_outputs({"job": self.job_name})
