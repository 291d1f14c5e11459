"""Stands up the GenAI platform: load the typed stack config, compose the components, export."""

import pulumi

from infra.buckets import Buckets, BucketsArgs
from infra.cluster import Cluster, ClusterArgs, check_admins_exclude_deployer
from infra.device_plugin import DevicePluginArgs, NvidiaDevicePlugin
from infra.network import Network, NetworkArgs
from infra.node_groups import GPU_SCHEDULING, NodeGroups, NodeGroupsArgs
from infra.platform import Platform
from infra.registries import ImageRepositories, RegistriesArgs
from infra.storage import DEFAULT_STORAGE_CLASS, Storage, StorageArgs
from stack_config import load_stack_config

config = load_stack_config()
check_admins_exclude_deployer(config.cluster)
name = config.cluster.name

network = Network("network", NetworkArgs(config=config.network, cluster_name=name, region=config.region))
cluster = Cluster("cluster", ClusterArgs(config=config.cluster, vpc_id=network.vpc_id,
                                         private_subnet_ids=network.private_subnet_ids,
                                         public_subnet_ids=network.public_subnet_ids))
nodes = NodeGroups("nodes", NodeGroupsArgs(cluster=cluster.eks, cluster_name=name,
                                           kubernetes_version=config.cluster.kubernetes_version,
                                           subnet_ids=network.private_subnet_ids,
                                           system=config.system_node_group, gpu=config.gpu_node_groups))
storage = Storage("storage", StorageArgs(cluster_name=cluster.name, kubernetes_version=config.cluster.kubernetes_version,
                                         oidc=cluster.oidc, provider=cluster.provider, controller_nodes=nodes.system,
                                         addon_version=config.storage.ebs_csi_addon_version))
if config.gpu_node_groups:
    NvidiaDevicePlugin("nvidia-device-plugin", DevicePluginArgs(provider=cluster.provider))
registries = ImageRepositories("images", RegistriesArgs(config=config.registries, name_prefix=name))
buckets = Buckets("buckets", BucketsArgs(config=config.buckets, name_prefix=name))

platform = Platform(
    provider=cluster.provider,
    oidc=cluster.oidc,
    datasets_bucket=buckets.datasets,
    model_assets_bucket=buckets.model_assets,
    image_repositories=registries.urls,
    gpu_scheduling=GPU_SCHEDULING,
    storage_class=DEFAULT_STORAGE_CLASS,
)

pulumi.export("region", config.region)
pulumi.export("clusterName", cluster.name)
pulumi.export("kubeconfig", cluster.kubeconfig)
pulumi.export("datasetsBucket", buckets.datasets.name)
pulumi.export("modelAssetsBucket", buckets.model_assets.name)
pulumi.export("imageRepositories", registries.urls)
