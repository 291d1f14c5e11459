"""The typed stack config: every key the program reads, declared once, parsed and validated once.

One module per section, each with its pydantic model and its own rules; `rules` holds the rules
across sections, `stack` the root model and `parse_stack_config`, `pulumi_config` the reading of
the running stack. A bad value raises `ConfigError` naming the key, the value and what is allowed,
before any resource is registered. docs/configuration.md is generated from these models.
"""

from stack_config.apps import CHATBOT_EXPOSURES, ChatbotConfig, QdrantConfig, RagConfig
from stack_config.base import NO_VALUE, PROJECT
from stack_config.buckets import BucketConfig
from stack_config.cluster import (
    DEFAULT_KUBERNETES_VERSION,
    EKS_STANDARD_SUPPORT_ENDS,
    SUPPORTED_KUBERNETES_VERSIONS,
    ClusterConfig,
)
from stack_config.errors import ConfigError
from stack_config.jupyterhub import GitHubAuth, JupyterHubConfig
from stack_config.karpenter import GpuNodePoolConfig, KarpenterConfig
from stack_config.models import GATED_MODEL_ORGANISATIONS, ModelConfig
from stack_config.network import AVAILABILITY_ZONE_COUNT, ExistingVpc, NetworkConfig
from stack_config.node_groups import GpuNodeGroupConfig, NodeGroupConfig
from stack_config.private_model import DEFAULT_PRIVATE_MODEL, SKUPPER_VERSION, PrivateModelConfig
from stack_config.pulumi_config import load_stack_config
from stack_config.registries import CACHE_TAG, IMAGES_DIR, RegistryConfig
from stack_config.stack import SECRET_KEYS, TOP_LEVEL_KEYS, DefaultTags, StackConfig, parse_stack_config
from stack_config.storage import StorageConfig
from stack_config.workspaces import FinetuneConfig, InferenceConfig, LoraHyperparameters, Workspace

__all__ = [
    "AVAILABILITY_ZONE_COUNT",
    "CACHE_TAG",
    "CHATBOT_EXPOSURES",
    "DEFAULT_KUBERNETES_VERSION",
    "DEFAULT_PRIVATE_MODEL",
    "EKS_STANDARD_SUPPORT_ENDS",
    "GATED_MODEL_ORGANISATIONS",
    "IMAGES_DIR",
    "NO_VALUE",
    "PROJECT",
    "SECRET_KEYS",
    "SKUPPER_VERSION",
    "SUPPORTED_KUBERNETES_VERSIONS",
    "TOP_LEVEL_KEYS",
    "BucketConfig",
    "ChatbotConfig",
    "ClusterConfig",
    "ConfigError",
    "DefaultTags",
    "ExistingVpc",
    "FinetuneConfig",
    "GitHubAuth",
    "GpuNodeGroupConfig",
    "GpuNodePoolConfig",
    "KarpenterConfig",
    "InferenceConfig",
    "JupyterHubConfig",
    "LoraHyperparameters",
    "ModelConfig",
    "NetworkConfig",
    "NodeGroupConfig",
    "PrivateModelConfig",
    "QdrantConfig",
    "RagConfig",
    "RegistryConfig",
    "StackConfig",
    "StorageConfig",
    "Workspace",
    "load_stack_config",
    "parse_stack_config",
]
