"""Stands up the GenAI platform: load the typed stack config, compose the components, export."""

import pulumi

from infra.addons import CoreDns, CoreDnsArgs
from infra.buckets import Buckets, BucketsArgs
from infra.cluster import Cluster, ClusterArgs, check_admins_exclude_deployer
from infra.device_plugin import DevicePluginArgs, NvidiaDevicePlugin
from infra.images import ContainerImages, ContainerImagesArgs, find_pushed_images
from infra.karpenter import DISCOVERY_TAG, Karpenter, KarpenterArgs
from infra.network import Network, NetworkArgs
from infra.node_groups import GPU_SCHEDULING, NodeGroups, NodeGroupsArgs
from infra.platform import Platform
from infra.registries import ImageRepositories, RegistriesArgs
from infra.storage import DEFAULT_STORAGE_CLASS, Storage, StorageArgs
from presets.plan import plan_workspaces
from stack_config import load_stack_config
from workloads import chatbot, finetune, inference, jupyterhub, private_model, qdrant, rag
from workloads.chatbot import Assistants, Chatbot, ChatbotArgs
from workloads.finetune import FinetuneJob, FinetuneJobArgs
from workloads.inference import InferenceService, InferenceServiceArgs
from workloads.jupyterhub import JupyterHub, JupyterHubArgs
from workloads.kube import NamespaceArgs, WorkloadNamespace
from workloads.private_model import PrivateModelClusterSite, PrivateModelClusterSiteArgs
from workloads.qdrant import Qdrant, QdrantArgs
from workloads.rag import RagService, RagServiceArgs
from workloads.skupper import SkupperController, SkupperControllerArgs
from workloads.traffic_plan import plan_traffic

config = load_stack_config()
workspaces = plan_workspaces(config)  # each model placed on the GPU pools, or a ConfigError
check_admins_exclude_deployer(config.cluster)
name = config.cluster.name
# registries.build false: CI's images must be in ECR before anything is created (previews too).
pushed_images = find_pushed_images(config.registries, name, config.region)

network = Network(
    "network",
    NetworkArgs(
        config=config.network,
        cluster_name=name,
        region=config.region,
        discovery_tag=DISCOVERY_TAG if config.gpu_node_pools else None,
    ),
)
cluster = Cluster(
    "cluster",
    ClusterArgs(
        config=config.cluster,
        vpc_id=network.vpc_id,
        private_subnet_ids=network.private_subnet_ids,
        public_subnet_ids=network.public_subnet_ids,
    ),
)
nodes = NodeGroups(
    "nodes",
    NodeGroupsArgs(
        cluster=cluster.eks,
        cluster_name=name,
        kubernetes_version=config.cluster.kubernetes_version,
        subnet_ids=network.private_subnet_ids,
        system=config.system_node_group,
        gpu=config.gpu_node_groups,
        default_tags=config.default_tags.tags,
    ),
)
coredns = CoreDns(
    "coredns",
    CoreDnsArgs(
        cluster_name=cluster.name,
        kubernetes_version=config.cluster.kubernetes_version,
        nodes=nodes.system,
        version=config.cluster.coredns_addon_version,
    ),
)
storage = Storage(
    "storage",
    StorageArgs(
        cluster_name=cluster.name,
        kubernetes_version=config.cluster.kubernetes_version,
        oidc=cluster.oidc,
        provider=cluster.provider,
        controller_nodes=nodes.system,
        addon_version=config.storage.ebs_csi_addon_version,
    ),
)
if workspaces.node_pools:
    # GPU nodes on demand: Karpenter launches what pending GPU pods ask for, and removes idle nodes.
    Karpenter(
        "karpenter",
        KarpenterArgs(
            config=config.karpenter,
            pools=workspaces.node_pools,
            cluster_name=name,
            cluster=cluster.name,
            cluster_arn=cluster.eks.eks_cluster.arn,
            cluster_endpoint=cluster.eks.eks_cluster.endpoint,
            cluster_security_group_id=cluster.eks.eks_cluster.vpc_config.cluster_security_group_id,
            region=config.region,
            oidc=cluster.oidc,
            provider=cluster.provider,
            system_nodes=nodes.system,
            system_pool=config.system_node_group.name,
            dns=coredns,
            default_tags=config.default_tags.tags,
            discovery_tags=network.discovery_tags,
        ),
    )
if config.gpu_pools:
    NvidiaDevicePlugin("nvidia-device-plugin", DevicePluginArgs(provider=cluster.provider))
registries = ImageRepositories("images", RegistriesArgs(config=config.registries, name_prefix=name))
# Built while the cluster is created: a build waits for its repository only.
images = ContainerImages(
    "container-images",
    ContainerImagesArgs(config=config.registries, repository_urls=registries.urls, pushed=pushed_images),
)
buckets = Buckets("buckets", BucketsArgs(config=config.buckets, name_prefix=name))

platform = Platform(
    provider=cluster.provider,
    oidc=cluster.oidc,
    datasets_bucket=buckets.datasets,
    model_assets_bucket=buckets.model_assets,
    images=images.refs,
    gpu_scheduling=GPU_SCHEDULING,
    storage_class=DEFAULT_STORAGE_CLASS,
    volumes_ready=(storage.addon, storage.default_class),
)

# --- the Kubernetes layer: each workload in its namespace, switched on by config ---------------
traffic = plan_traffic(config, workspaces)  # who calls whom, and which model each asks
hf_token = pulumi.Output.secret(config.hugging_face_token.get_secret_value()) if config.hugging_face_token else None


def namespace(ns: str, claims_volumes: bool = False, pod_security: str = "restricted") -> WorkloadNamespace:
    return WorkloadNamespace(
        f"ns-{ns}",
        NamespaceArgs(
            name=ns,
            provider=cluster.provider,
            pod_security=pod_security,
            volumes_ready=platform.volumes_ready if claims_volumes else (),
        ),
    )


hub = None
if config.jupyterhub.enabled:
    hub = JupyterHub(
        "jupyterhub",
        JupyterHubArgs(
            platform=platform,
            config=config.jupyterhub,
            namespace=namespace(jupyterhub.NAMESPACE, claims_volumes=True),
            upstreams=traffic.notebook_upstreams,
            gpu_pool=workspaces.notebook_pool,
            github_client_secret=(
                config.github_client_secret.get_secret_value() if config.github_client_secret else None
            ),
        ),
    )
# Workspaces: each model's job, with the GPUs, instance types and engine arguments its preset fits.
if workspaces.finetune:
    finetune_namespace = namespace(finetune.NAMESPACE)
    for job in workspaces.finetune:
        FinetuneJob(
            f"finetune-{job.name}",
            FinetuneJobArgs(
                platform=platform, workspace=job, namespace=finetune_namespace, hugging_face_token=hf_token
            ),
        )
models: dict[str, InferenceService] = {}
if workspaces.serving:
    serving = namespace(inference.NAMESPACE)
    for service in workspaces.serving:
        models[service.name] = InferenceService(
            service.name,
            InferenceServiceArgs(
                platform=platform,
                workspace=service,
                namespace=serving,
                clients=traffic.inference[service.name],
                hugging_face_token=hf_token,
            ),
        )
default_llm = workspaces.default_llm
llm = models[default_llm.name] if default_llm else None
vector_db = None
if config.qdrant.enabled:
    vector_db = Qdrant(
        "qdrant",
        QdrantArgs(
            platform=platform,
            config=config.qdrant,
            namespace=namespace(qdrant.NAMESPACE, claims_volumes=True),
            clients=traffic.qdrant,
        ),
    )
private_host = None
if config.private_model.enabled:
    skupper = SkupperController(
        "skupper", SkupperControllerArgs(provider=cluster.provider, version=config.private_model.skupper_version)
    )
    # Pod Security "baseline": Skupper's router Deployment sets no seccomp profile (docs/security.md).
    private_host = PrivateModelClusterSite(
        "private-model",
        PrivateModelClusterSiteArgs(
            platform=platform,
            config=config.private_model,
            controller=skupper,
            site_name=name,
            namespace=namespace(private_model.NAMESPACE, pod_security="baseline"),
            clients=traffic.private_model,
        ),
    )
rag_service = None
if config.rag.enabled:
    # The config rules guarantee both: the RAG service has an LLM to ask and a Qdrant to search.
    assert traffic.rag_llm_endpoint is not None and vector_db is not None
    rag_service = RagService(
        "rag",
        RagServiceArgs(
            platform=platform,
            config=config.rag,
            namespace=namespace(rag.NAMESPACE),
            qdrant=vector_db.endpoint,
            qdrant_api_key=vector_db.api_key,
            llm=traffic.rag_llm_endpoint,
            clients=traffic.rag,
            llm_api_key=(config.rag_llm_api_key.get_secret_value() if config.rag_llm_api_key else None),
        ),
    )
if config.chatbot.enabled:
    Chatbot(
        "chatbot",
        ChatbotArgs(
            platform=platform,
            config=config.chatbot,
            namespace=namespace(chatbot.NAMESPACE),
            assistants=Assistants(
                shopping=rag_service.endpoint if rag_service else None,
                loyalty=llm.endpoint if llm and traffic.loyalty_adapter else None,
                loyalty_model=traffic.loyalty_adapter,
                private=private_host.endpoint if private_host else None,
                private_model=config.private_model.served_model_name,
            ),
        ),
    )

pulumi.export("region", config.region)
pulumi.export("clusterName", cluster.name)
pulumi.export("kubeconfig", cluster.kubeconfig)
pulumi.export("datasetsBucket", buckets.datasets.name)
pulumi.export("modelAssetsBucket", buckets.model_assets.name)
pulumi.export("imageRepositories", registries.urls)
pulumi.export("images", images.refs)  # what the workloads run: <repository URL>@sha256:<digest>
# In-cluster URLs and how to reach what is running (docs/operations.md: "Watching slow workloads").
if hub is not None and hub.password is not None:
    pulumi.export("jupyterhubPassword", hub.password)
    pulumi.export("jupyterhubAdminPassword", hub.admin_password)
if llm is not None:
    pulumi.export("inferenceUrl", llm.endpoint.url)
if models:
    pulumi.export("inferenceUrls", {name: model.endpoint.url for name, model in models.items()})
if rag_service is not None:
    pulumi.export("ragUrl", rag_service.endpoint.url)
if private_host is not None:
    # The contract with the private site's bundle (workloads/private_model.py): plain, and secret.
    pulumi.export(private_model.OUTPUT_PRIVATE_MODEL, private_host.outputs)
    pulumi.export(private_model.OUTPUT_PRIVATE_MODEL_LINK, private_host.link_bundle)
if workspaces.finetune:
    pulumi.export("finetuneJobs", [f"{finetune.NAMESPACE}/{finetune.job_name(t)}" for t in workspaces.finetune])
