"""The whole stack config: the root model over every section, and `parse_stack_config`, which turns a
stack's raw key/value map into it or raises `ConfigError` before any resource is registered."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, model_validator

from stack_config import rules
from stack_config.apps import ChatbotConfig, QdrantConfig, RagConfig
from stack_config.base import NO_VALUE, PROJECT, ConfigModel, Items, Secret, refuse, text
from stack_config.base import project_key as _key
from stack_config.buckets import BucketConfig
from stack_config.cluster import ClusterConfig
from stack_config.errors import ConfigError, to_config_error
from stack_config.jupyterhub import JupyterHubConfig
from stack_config.karpenter import GPU_NODE_POOLS, GpuNodePoolConfig, KarpenterConfig
from stack_config.network import NetworkConfig
from stack_config.node_groups import GpuNodeGroupConfig, NodeGroupConfig
from stack_config.private_model import PrivateModelConfig
from stack_config.registries import RegistryConfig
from stack_config.storage import StorageConfig
from stack_config.workspaces import Workspace

_REGION = r"^[a-z]{2}(-gov|-iso[a-z]?)?-(central|north|south|east|west|northeast|northwest|southeast|southwest)-\d$"
_SECRET = Annotated[SecretStr, Secret()] | None
# Sections that became workspaces: say where they went rather than "unknown key".
_MOVED_KEYS = {"inference": "an inference workspace", "fineTuning": "a finetune workspace"}


class DefaultTags(ConfigModel):
    """aws:defaultTags, as the AWS provider reads it: {tags: {key: value}}."""

    tags: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "tags the AWS provider puts on every resource; the program adds them to what the node groups launch"
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _tag_limits(cls, data: Any) -> Any:
        tags = data.get("tags", {}) if isinstance(data, Mapping) else {}
        if not isinstance(tags, Mapping):
            refuse("a mapping of tag keys to values", tags, at=["tags"])
        for key, value in tags.items():
            # EC2's tag limits: keys 1-128 characters, values up to 256; the aws: prefix is AWS's own.
            if not isinstance(key, str) or not 1 <= len(key) <= 128 or key.lower().startswith("aws:"):
                refuse("tag keys of 1 to 128 characters, not starting with aws:", key, at=["tags"])
            if not isinstance(value, str) or len(value) > 256:
                refuse("a string of up to 256 characters", value, at=["tags", key])
        return data


class StackConfig(ConfigModel):
    """Every key of a stack: `aws:region`, `aws:defaultTags` and the project's `genai-eks:` keys."""

    region: Annotated[str, text(_REGION, "an AWS region name, e.g. us-west-2")] = Field(
        alias="aws:region", description="the AWS region, e.g. us-west-2"
    )
    default_tags: DefaultTags = Field(
        default_factory=DefaultTags,
        alias="aws:defaultTags",
        description=(
            "the AWS provider's default tags: on every AWS resource, and the program adds them to what launch "
            "templates launch"
        ),
    )
    network: NetworkConfig = Field(default_factory=NetworkConfig, alias=_key("network"), description="the VPC")
    cluster: ClusterConfig = Field(alias=_key("cluster"), description="the EKS control plane")
    system_node_group: NodeGroupConfig = Field(
        alias=_key("systemNodeGroup"), description="the on-demand CPU node group"
    )
    gpu_node_groups: Annotated[
        tuple[GpuNodeGroupConfig, ...], Items("a list of GPU node groups (an empty list for none)", unique=False)
    ] = Field(
        (),
        alias=_key("gpuNodeGroups"),
        description="managed GPU node groups, tainted nvidia.com/gpu=true:NoSchedule (fixed size: they run when idle)",
    )
    gpu_node_pools: GPU_NODE_POOLS = Field(
        (),
        alias=_key("gpuNodePools"),
        description="GPU node pools: Karpenter launches a node when a pod asks for one and removes it when idle",
    )
    karpenter: KarpenterConfig = Field(
        default_factory=KarpenterConfig,
        alias=_key("karpenter"),
        description="the Karpenter controller, installed when gpuNodePools is not empty",
    )
    storage: StorageConfig = Field(default_factory=StorageConfig, alias=_key("storage"), description="EBS storage")
    registries: RegistryConfig = Field(
        default_factory=RegistryConfig, alias=_key("registries"), description="ECR and the images"
    )
    buckets: BucketConfig = Field(default_factory=BucketConfig, alias=_key("buckets"), description="the S3 buckets")
    jupyterhub: JupyterHubConfig = Field(
        default_factory=JupyterHubConfig, alias=_key("jupyterhub"), description="JupyterHub"
    )
    workspaces: Annotated[
        tuple[Workspace, ...], Items("a list of workspaces (an empty list for none)", unique=False)
    ] = Field(
        (),
        alias=_key("workspaces"),
        description="models, each serving or finetune (the first inference workspace is the default LLM)",
    )
    qdrant: QdrantConfig = Field(default_factory=QdrantConfig, alias=_key("qdrant"), description="the vector database")
    rag: RagConfig = Field(default_factory=RagConfig, alias=_key("rag"), description="the RAG service")
    chatbot: ChatbotConfig = Field(default_factory=ChatbotConfig, alias=_key("chatbot"), description="the chat UI")
    private_model: PrivateModelConfig = Field(
        default_factory=PrivateModelConfig,
        alias=_key("privateModel"),
        description="a model outside AWS over a Skupper link",
    )
    hugging_face_token: _SECRET = Field(
        None,
        alias=_key("huggingFaceToken"),
        description=(
            "a Hugging Face token for gated models; reaches the training and inference pods only through a Secret"
        ),
    )
    github_client_secret: _SECRET = Field(
        None,
        alias=_key("githubClientSecret"),
        description=(
            "the GitHub OAuth app's client secret; required with jupyterhub.authenticator github, refused otherwise"
        ),
    )
    rag_llm_api_key: _SECRET = Field(
        None, alias=_key("ragLlmApiKey"), description=("the key for rag.llmBaseUrl; refused without it")
    )

    @property
    def gpu_pools(self) -> tuple[GpuNodePoolConfig | GpuNodeGroupConfig, ...]:
        """Where GPU pods may run: the Karpenter pools first (the notebook profile takes the first
        that hosts it), then the managed node groups."""
        return (*self.gpu_node_pools, *self.gpu_node_groups)

    @model_validator(mode="before")
    @classmethod
    def _gpu_group_names(cls, data: Any) -> Any:
        """A GPU group without a name is gpu-<its index>."""
        groups = data.get(_key("gpuNodeGroups")) if isinstance(data, Mapping) else None
        if isinstance(groups, list):
            named = [
                {"name": f"gpu-{i}", **g} if isinstance(g, Mapping) and g.get("name") is None else g
                for i, g in enumerate(groups)
            ]
            return {**data, _key("gpuNodeGroups"): named}
        return data

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> StackConfig:
        rules.check(self)
        return self


SECRET_KEYS = tuple(
    info.alias.split(":", 1)[1]
    for info in StackConfig.model_fields.values()
    if info.alias and info.annotation is not None and "SecretStr" in str(info.annotation)
)
TOP_LEVEL_KEYS = tuple(
    info.alias for info in StackConfig.model_fields.values() if info.alias and info.alias.startswith(PROJECT)
)


def parse_stack_config(
    raw: Mapping[str, Any], stack: str, secret_keys: Collection[str] = (), today: date | None = None
) -> StackConfig:
    """Parses a stack's config map: keys are `namespace:key`, values are already-decoded objects.

    `secret_keys` are the keys the stack holds encrypted; the keys in SECRET_KEYS must be among them.
    `today` (UTC) decides which Kubernetes versions are past standard support; tests pass their own.
    """
    today = today or datetime.now(UTC).date()
    ours = {k: v for k, v in raw.items() if k.startswith(f"{PROJECT}:")}
    for key in sorted(ours):
        name = key.split(":", 1)[1]
        if name in _MOVED_KEYS:
            raise ConfigError(
                key,
                ours[key],
                f"no value: it is now {_MOVED_KEYS[name]} in {PROJECT}:workspaces (docs/presets.md)",
            )
        if key not in TOP_LEVEL_KEYS:
            # A misspelt secret key is still a secret: never echo a value set with --secret.
            shown = "[secret]" if key in secret_keys else ours[key]
            raise ConfigError(key, shown, f"the known keys: {', '.join(TOP_LEVEL_KEYS)}")
    for name in SECRET_KEYS:
        if _key(name) in ours and _key(name) not in secret_keys:
            # Say which key, never echo the value: it was meant to be secret.
            raise ConfigError(_key(name), "[plain text]", f"a secret: pulumi config set --secret {_key(name)} <value>")
    if "aws:region" not in raw:
        raise ConfigError("aws:region", NO_VALUE, "a value is required, e.g. us-west-2")
    data = {
        **ours,
        "aws:region": raw["aws:region"],
        **({"aws:defaultTags": raw["aws:defaultTags"]} if "aws:defaultTags" in raw else {}),
    }
    try:
        return StackConfig.model_validate(data, context={"stack": stack, "today": today})
    except ValidationError as error:
        raise to_config_error(error, StackConfig, [_key(k) for k in SECRET_KEYS]) from None
