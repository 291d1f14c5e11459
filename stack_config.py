"""The typed stack config: every key the program reads, parsed and validated once.

`parse_stack_config` turns the raw key/value map of a stack (what `Pulumi.<stack>.yaml` holds
under `config:`) into frozen dataclasses. It runs before any resource is registered, and a bad
value raises `ConfigError` naming the key, the value and what is allowed.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Callable, Collection, Mapping, TypeVar

from presets.catalog import TUNING_METHODS, ModelSpec, UnknownPreset, find_preset, gpu_instance_catalog, model_presets
from presets.fit import NoFit, Placement, PodShape, ServingSettings, TuningSettings, place_serving, place_tuning

PROJECT = "genai-eks"

# EKS's release calendar: the day each version's standard support ends, UTC
# (docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html). From that day on EKS bills
# extended support, for 12 more months, then upgrades the control plane itself.
EKS_STANDARD_SUPPORT_ENDS = {
    "1.32": date(2026, 3, 23),
    "1.33": date(2026, 7, 29),
    "1.34": date(2026, 12, 2),
    "1.35": date(2027, 3, 27),
    "1.36": date(2027, 8, 1),  # approximate (14 months from EKS's release): replace with the published day
}
SUPPORTED_KUBERNETES_VERSIONS = tuple(EKS_STANDARD_SUPPORT_ENDS)
DEFAULT_KUBERNETES_VERSION = "1.35"
# The control plane's price per hour (us-west-2 list), in standard and in extended support.
EKS_STANDARD_HOURLY, EKS_EXTENDED_HOURLY = 0.10, 0.60
HOURS_A_MONTH = 730
CAPACITY_TYPES = ("ON_DEMAND", "SPOT")
NAT_GATEWAY_MODES = ("single", "perAz")
CONTROL_PLANE_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
# The values CloudWatch Logs accepts for a log group's retention.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)
AVAILABILITY_ZONE_COUNT = 3
DEFAULT_BASE_MODEL = "Qwen/Qwen2.5-7B-Instruct"  # Apache-2.0, not gated: works without a Hugging Face token
CHATBOT_EXPOSURES = ("none", "loadBalancer", "ingress")
JUPYTERHUB_AUTHENTICATORS = ("sharedPassword", "github")
INFERENCE_DTYPES = ("auto", "bfloat16", "float16")
# Organisations whose Hugging Face repositories are gated: downloading them needs a token.
GATED_MODEL_ORGANISATIONS = ("meta-llama", "mistralai", "google")
SECRET_KEYS = ("huggingFaceToken", "githubClientSecret", "ragLlmApiKey")
# The Skupper release the private-model link is built and tested against (its CRDs are in the
# test reference schemas): a patch release of 2.2 only.
SKUPPER_VERSION = "2.2.1"
DEFAULT_PRIVATE_MODEL = "deepseek-r1-distill-qwen-1.5b"
# Each image's build context: images/<name>/ with its Dockerfile (infra/images.py builds them).
IMAGES_DIR = Path(__file__).resolve().parent / "images"
# Each repository's one mutable tag: BuildKit's registry cache (infra/registries.py). Never run.
CACHE_TAG = "buildcache"

_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-(central|north|south|east|west|northeast|northwest|southeast|southwest)-\d$")
_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
_CLUSTER_NAME = re.compile(r"^[a-z][a-z0-9-]{0,38}$")
_NODE_GROUP_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,29}$")
_IMAGE_NAME = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
_ROLE_ARN = re.compile(r"^arn:aws(-cn|-us-gov)?:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_VPC_ID = re.compile(r"^vpc-[0-9a-f]{8,17}$")
_SUBNET_ID = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)


class ConfigError(ValueError):
    """A stack config value that the program cannot use."""

    def __init__(self, key: str, value: Any, allowed: str):
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"config key '{key}': {_show(value)} is not valid; allowed: {allowed}")


def _show(value: Any) -> str:
    return "no value" if value is _MISSING else f"value {json.dumps(value, default=str)}"


_MISSING = object()
T = TypeVar("T")
# What a workspace config built in code (not parsed) carries; parsing always derives the real one.
DEFAULT_PLACEMENT = Placement(node_groups=(), instance_types=(), pod=PodShape(
    gpus=1, cpu=3, memory_gib=10, memory_limit_gib=14, scratch_gib=25))


# --- the typed config --------------------------------------------------------------------------

@dataclass(frozen=True)
class ExistingVpc:
    vpc_id: str
    private_subnet_ids: tuple[str, ...]
    public_subnet_ids: tuple[str, ...]


@dataclass(frozen=True)
class NetworkConfig:
    vpc_cidr: str = "10.0.0.0/16"
    nat_gateways: str = "single"
    availability_zones: tuple[str, ...] = ()  # empty: the region's first three
    existing_vpc: ExistingVpc | None = None

    @property
    def private_subnet_cidrs(self) -> tuple[str, ...]:
        """Three large private subnets (nodes and pods: the VPC CNI gives every pod a VPC IP)."""
        quarters = list(ipaddress.ip_network(self.vpc_cidr).subnets(prefixlen_diff=2))
        return tuple(str(n) for n in quarters[:AVAILABILITY_ZONE_COUNT])

    @property
    def public_subnet_cidrs(self) -> tuple[str, ...]:
        """Three small public subnets (load balancers and NAT gateways only), from the last quarter."""
        last_quarter = list(ipaddress.ip_network(self.vpc_cidr).subnets(prefixlen_diff=2))[3]
        return tuple(str(n) for n in list(last_quarter.subnets(prefixlen_diff=2))[:AVAILABILITY_ZONE_COUNT])


@dataclass(frozen=True)
class ClusterConfig:
    name: str
    endpoint_public_access_cidrs: tuple[str, ...]
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION
    # Accept a version past standard support (billed as extended support) and keep it past its end.
    allow_extended_support: bool = False
    admin_role_arns: tuple[str, ...] = ()
    log_types: tuple[str, ...] = ("api", "audit", "authenticator")
    log_retention_days: int = 30
    # Managed add-ons; None: EKS's default version for the cluster's Kubernetes version.
    coredns_addon_version: str | None = None
    kube_proxy_addon_version: str | None = None
    vpc_cni_addon_version: str | None = None

    @property
    def upgrade_support_type(self) -> str:
        """The cluster's upgrade policy: STANDARD makes EKS upgrade it when standard support ends
        instead of billing extended support; EXTENDED is what a version past it needs."""
        return "EXTENDED" if self.allow_extended_support else "STANDARD"

    @property
    def endpoint_public_access(self) -> bool:
        return bool(self.endpoint_public_access_cidrs)


@dataclass(frozen=True)
class NodeGroupConfig:
    name: str
    instance_types: tuple[str, ...]
    capacity_type: str
    min_size: int
    desired_size: int
    max_size: int
    disk_size_gib: int


@dataclass(frozen=True)
class GpuNodeGroupConfig(NodeGroupConfig):
    @property
    def gpus_per_node(self) -> int:
        return gpu_instance_catalog()[self.instance_types[0]].gpus


@dataclass(frozen=True)
class StorageConfig:
    # None: the EKS default add-on version for the cluster's Kubernetes version.
    ebs_csi_addon_version: str | None = None


@dataclass(frozen=True)
class RegistryConfig:
    images: tuple[str, ...] = ("finetune", "rag", "chatbot")
    build: bool = True                                 # built and pushed in `pulumi up`, tagged by content
    image_tag: str | None = None                       # build false: the tag CI pushed, that the workloads run
    keep_tagged_images: int = 30
    untagged_expiry_days: int = 7
    force_delete: bool = False


@dataclass(frozen=True)
class BucketConfig:
    force_destroy: bool = False
    noncurrent_version_expiry_days: int = 30


@dataclass(frozen=True)
class SecretValue:
    """A value set with `pulumi config set --secret`; never shown in a repr or an error."""
    value: str = field(repr=False)


@dataclass(frozen=True)
class GitHubAuth:
    client_id: str
    allowed_organizations: tuple[str, ...]
    client_secret: SecretValue


@dataclass(frozen=True)
class JupyterHubConfig:
    enabled: bool = True
    authenticator: str = "sharedPassword"
    github: GitHubAuth | None = None
    public: bool = False
    public_source_ranges: tuple[str, ...] = ()
    gpu_profile: bool = True
    home_storage_gib: int = 20
    start_timeout_seconds: int = 1200


@dataclass(frozen=True)
class LoraHyperparameters:
    rank: int = 32
    alpha: int = 64
    dropout: float = 0.05
    learning_rate: float = 2.5e-5
    max_steps: int = 200
    batch_size: int = 4
    gradient_accumulation_steps: int = 4
    max_sequence_length: int = 1024
    checkpoint_every_steps: int = 50


@dataclass(frozen=True)
class FineTuningConfig:
    """A tuning workspace: one LoRA/QLoRA run whose adapter is named after the workspace."""
    adapter_name: str = "loyalty"
    run_id: str = "1"
    base_model: str = DEFAULT_BASE_MODEL               # a Hugging Face id
    method: str = "qlora"
    train_data: str = "loyalty/train.jsonl"          # keys in the datasets bucket
    validation_data: str = "loyalty/validation.jsonl"
    hyperparameters: LoraHyperparameters = field(default_factory=LoraHyperparameters)
    backoff_limit: int = 4                             # spot interruptions: each retry resumes from a checkpoint
    active_deadline_hours: int = 12
    ttl_hours_after_finished: int = 168
    shm_size_gib: int = 4
    placement: Placement = DEFAULT_PLACEMENT           # derived: the instance types that fit, and the pod's shape


@dataclass(frozen=True)
class InferenceConfig:
    """An inference workspace: a vLLM server for a base model and its LoRA adapters."""
    name: str = "llm"                                  # the Deployment, Service and service account
    model: str = DEFAULT_BASE_MODEL                    # a Hugging Face id
    served_model_name: str = "qwen2.5-7b-instruct"
    adapters: tuple[str, ...] = ()                     # adapter names (tuning workspaces), published under adapters/<name>/
    replicas: int = 1
    max_model_len: int = 8192
    concurrency: int = 1                               # full-length sequences the KV cache must hold at once
    gpu_memory_utilization: float = 0.9
    dtype: str = "bfloat16"
    max_lora_rank: int = 64
    shm_size_gib: int = 2
    placement: Placement = DEFAULT_PLACEMENT           # derived: tensor-parallel size, instance types, pod shape

    @property
    def tensor_parallel_size(self) -> int:
        return self.placement.tensor_parallel_size


@dataclass(frozen=True)
class Workspace:
    """One model doing one job (README: Model presets and workspaces)."""
    name: str
    model: ModelSpec
    inference: InferenceConfig | None = None
    tuning: FineTuningConfig | None = None


@dataclass(frozen=True)
class QdrantConfig:
    enabled: bool = True
    storage_gib: int = 20


@dataclass(frozen=True)
class RagConfig:
    enabled: bool = True
    replicas: int = 1
    collection: str = "products"
    catalog_prefix: str = "catalog"                    # where /load_data may read CSVs in the datasets bucket
    llm_base_url: str | None = None                    # None: the in-cluster inference service
    llm_model: str | None = None                       # None: the inference service's base model
    llm_api_key: SecretValue | None = None


@dataclass(frozen=True)
class ChatbotConfig:
    enabled: bool = True
    replicas: int = 1
    exposure: str = "none"                             # none | loadBalancer | ingress
    source_ranges: tuple[str, ...] = ()
    tls_certificate_arn: str | None = None             # loadBalancer: TLS on 443 with an ACM certificate
    ingress_class: str | None = None
    ingress_host: str | None = None
    ingress_tls_secret: str | None = None


@dataclass(frozen=True)
class PrivateModelConfig:
    """A model served outside AWS, reached over a Skupper link (workloads/private_model.py)."""
    enabled: bool = False
    routing_key: str = "private-llm"                   # the private site's Connector must use the same
    port: int = 8000                                   # the Listener's port in the cluster
    served_model_name: str = DEFAULT_PRIVATE_MODEL     # the model name clients ask the private server for
    rag_uses_private_model: bool = False               # the RAG service asks the private model instead of vLLM
    skupper_version: str = SKUPPER_VERSION             # the Skupper controller release installed in the cluster


@dataclass(frozen=True)
class StackConfig:
    region: str
    cluster: ClusterConfig
    system_node_group: NodeGroupConfig
    gpu_node_groups: tuple[GpuNodeGroupConfig, ...]
    network: NetworkConfig = field(default_factory=NetworkConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    registries: RegistryConfig = field(default_factory=RegistryConfig)
    buckets: BucketConfig = field(default_factory=BucketConfig)
    jupyterhub: JupyterHubConfig = field(default_factory=JupyterHubConfig)
    workspaces: tuple[Workspace, ...] = ()
    qdrant: QdrantConfig = field(default_factory=QdrantConfig)
    rag: RagConfig = field(default_factory=RagConfig)
    chatbot: ChatbotConfig = field(default_factory=ChatbotConfig)
    private_model: PrivateModelConfig = field(default_factory=PrivateModelConfig)
    hugging_face_token: SecretValue | None = None
    # aws:defaultTags: the provider adds them to every AWS resource, but not to what a launch template launches.
    default_tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def inference_services(self) -> tuple[InferenceConfig, ...]:
        return tuple(w.inference for w in self.workspaces if w.inference is not None)

    @property
    def fine_tuning_jobs(self) -> tuple[FineTuningConfig, ...]:
        return tuple(w.tuning for w in self.workspaces if w.tuning is not None)

    @property
    def default_llm(self) -> InferenceConfig | None:
        """The first inference workspace: the RAG service and the chatbot ask it."""
        return next(iter(self.inference_services), None)


# --- parsing -----------------------------------------------------------------------------------

class _Section:
    """Reads one config object, remembering which keys were read so unknown ones are refused."""

    def __init__(self, key: str, raw: Any):
        if not isinstance(raw, dict):
            raise ConfigError(key, raw, "an object (a YAML mapping)")
        self.key, self.raw = key, raw
        self.read: set[str] = set()

    def path(self, name: str) -> str:
        return f"{self.key}.{name}"

    def get(self, name: str, default: Any = _MISSING) -> Any:
        self.read.add(name)
        value = self.raw.get(name, _MISSING)
        if value is _MISSING or value is None:
            if default is _MISSING:
                near = difflib.get_close_matches(name, [k for k in self.raw if k not in self.read], n=1)
                hint = f" (the section has '{near[0]}': a misspelling?)" if near else ""
                raise ConfigError(self.path(name), _MISSING, "a value is required" + hint)
            return default
        return value

    def string(self, name: str, default: Any = _MISSING, *, pattern: re.Pattern | None = None,
               choices: tuple[str, ...] | None = None, describe: str = "a string") -> str:
        value = self.get(name, default)
        if value is None:
            return value
        _check_string(self.path(name), value, pattern=pattern, choices=choices, describe=describe)
        return value

    def integer(self, name: str, default: Any = _MISSING, *, low: int, high: int) -> int:
        value = self.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ConfigError(self.path(name), value, f"a whole number from {low} to {high}")
        return value

    def number(self, name: str, default: Any = _MISSING, *, low: float, high: float,
               low_open: bool = False) -> float:
        value = self.get(name, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                (low < value if low_open else low <= value) and value <= high):
            raise ConfigError(self.path(name), value, f"a number {'above' if low_open else 'from'} {low} {'and at most' if low_open else 'to'} {high}")
        return float(value)

    def boolean(self, name: str, default: Any = _MISSING) -> bool:
        value = self.get(name, default)
        if not isinstance(value, bool):
            raise ConfigError(self.path(name), value, "true or false")
        return value

    def strings(self, name: str, default: Any = _MISSING, *, non_empty: bool = False,
                check: Callable[[str, Any], None] | None = None) -> tuple[str, ...]:
        values = self.get(name, default)
        if not isinstance(values, (list, tuple)) or (non_empty and not values):
            raise ConfigError(self.path(name), values, "a non-empty list" if non_empty else "a list")
        for i, value in enumerate(values):
            (check or (lambda k, v: _check_string(k, v)))(f"{self.path(name)}[{i}]", value)
        if len(set(values)) != len(values):
            raise ConfigError(self.path(name), values, "a list without duplicates")
        return tuple(values)

    def section(self, name: str, default: Any = _MISSING) -> _Section | None:
        value = self.get(name, default)
        return None if value is None else _Section(self.path(name), value)

    def done(self) -> None:
        unknown = sorted(set(self.raw) - self.read)
        if unknown:
            raise ConfigError(f"{self.key}.{unknown[0]}", self.raw[unknown[0]],
                              f"the known keys of '{self.key}': {', '.join(sorted(self.read))}")


def _check_string(key: str, value: Any, *, pattern: re.Pattern | None = None,
                  choices: tuple[str, ...] | None = None, describe: str = "a string") -> None:
    if choices is not None and value not in choices:
        raise ConfigError(key, value, f"one of {', '.join(choices)}")
    if not isinstance(value, str) or (pattern is not None and not pattern.fullmatch(value)):
        raise ConfigError(key, value, describe)


def _check_cidr(key: str, value: Any) -> None:
    allowed = "an IPv4 CIDR block in prefix notation with no host bits set, e.g. 203.0.113.0/24"
    if not isinstance(value, str) or not re.fullmatch(r"[0-9.]+/\d{1,2}", value):
        raise ConfigError(key, value, allowed)
    try:
        ipaddress.IPv4Network(value)
    except ValueError:
        raise ConfigError(key, value, allowed) from None


def _parse_network(s: _Section, region: str) -> NetworkConfig:
    vpc_cidr = s.string("vpcCidr", "10.0.0.0/16")
    _check_cidr(s.path("vpcCidr"), vpc_cidr)
    network = ipaddress.IPv4Network(vpc_cidr)
    if not 16 <= network.prefixlen <= 20:
        raise ConfigError(s.path("vpcCidr"), vpc_cidr, "a prefix length from /16 to /20 (smaller VPCs run out of pod IPs)")
    if not any(network.subnet_of(private) for private in _PRIVATE_NETWORKS):
        raise ConfigError(s.path("vpcCidr"), vpc_cidr, "a private range inside 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or 100.64.0.0/10")
    nat = s.string("natGateways", "single", choices=NAT_GATEWAY_MODES)
    zones = s.strings("availabilityZones", [], check=lambda k, v: _check_string(
        k, v, pattern=re.compile(rf"^{re.escape(region)}[a-z]$"), describe=f"a zone of {region}, e.g. {region}a"))
    if zones and len(zones) != AVAILABILITY_ZONE_COUNT:
        raise ConfigError(s.path("availabilityZones"), list(zones), f"exactly {AVAILABILITY_ZONE_COUNT} zones, or none for the region's first {AVAILABILITY_ZONE_COUNT}")
    existing = s.section("existingVpc", None)
    existing_vpc = None
    if existing is not None:
        for unused in ("vpcCidr", "natGateways", "availabilityZones"):
            if unused in s.raw:
                raise ConfigError(s.path(unused), s.raw[unused], "no value when existingVpc is set (the VPC is not ours to shape)")
        subnet_check = lambda k, v: _check_string(k, v, pattern=_SUBNET_ID, describe="a subnet id, e.g. subnet-0123456789abcdef0")
        existing_vpc = ExistingVpc(
            vpc_id=existing.string("vpcId", pattern=_VPC_ID, describe="a VPC id, e.g. vpc-0123456789abcdef0"),
            private_subnet_ids=existing.strings("privateSubnetIds", non_empty=True, check=subnet_check),
            public_subnet_ids=existing.strings("publicSubnetIds", non_empty=True, check=subnet_check),
        )
        if len(existing_vpc.private_subnet_ids) < 2:
            raise ConfigError(existing.path("privateSubnetIds"), list(existing_vpc.private_subnet_ids),
                              "at least 2 subnets in different availability zones (EKS requires 2)")
        existing.done()
    s.done()
    return NetworkConfig(vpc_cidr=vpc_cidr, nat_gateways=nat, availability_zones=zones, existing_vpc=existing_vpc)


_ADDON_VERSION = re.compile(r"^v\d+\.\d+\.\d+-eksbuild\.\d+$")


def _addon_version(s: _Section, name: str, example: str) -> str | None:
    return s.string(name, None, pattern=_ADDON_VERSION, describe=f"an EKS add-on version, e.g. {example}")


def _check_support(s: _Section, config: ClusterConfig, today: date) -> None:
    """A version past standard support costs six times as much; past extended support EKS refuses it."""
    version = config.kubernetes_version
    standard_ends = EKS_STANDARD_SUPPORT_ENDS[version]
    extended_ends = standard_ends.replace(year=standard_ends.year + 1)
    current = ", ".join(v for v, ends in EKS_STANDARD_SUPPORT_ENDS.items() if today < ends)
    if today >= extended_ends:
        raise ConfigError(s.path("kubernetesVersion"), version,
                          f"a version EKS still runs on {today.isoformat()}: {current} ({version}'s extended support "
                          f"ends {extended_ends.isoformat()}, then EKS upgrades the control plane itself)")
    if today >= standard_ends and not config.allow_extended_support:
        raise ConfigError(s.path("kubernetesVersion"), version,
                          f"a version in EKS standard support on {today.isoformat()}: {current} ({version}'s standard "
                          f"support ended {standard_ends.isoformat()}; EKS bills extended support for it, "
                          f"${EKS_EXTENDED_HOURLY:.2f}/h for the control plane instead of ${EKS_STANDARD_HOURLY:.2f}/h, "
                          f"~${EKS_EXTENDED_HOURLY * HOURS_A_MONTH:.0f} a month instead of ~${EKS_STANDARD_HOURLY * HOURS_A_MONTH:.0f}: "
                          f"set {s.path('allowExtendedSupport')}: true to pay that)")


def _parse_cluster(s: _Section, stack: str, today: date) -> ClusterConfig:
    config = ClusterConfig(
        name=s.string("name", f"genai-{stack}", pattern=_CLUSTER_NAME,
                      describe="1 to 39 lower-case letters, digits or '-', starting with a letter (it also prefixes bucket and ECR names)"),
        kubernetes_version=s.string("kubernetesVersion", DEFAULT_KUBERNETES_VERSION, choices=SUPPORTED_KUBERNETES_VERSIONS),
        allow_extended_support=s.boolean("allowExtendedSupport", False),
        endpoint_public_access_cidrs=s.strings("endpointPublicAccessCidrs", check=_check_cidr),
        admin_role_arns=s.strings("adminRoleArns", [], check=lambda k, v: _check_string(
            k, v, pattern=_ROLE_ARN, describe="an IAM role ARN, e.g. arn:aws:iam::123456789012:role/platform-admin")),
        log_types=s.strings("logTypes", ["api", "audit", "authenticator"],
                            check=lambda k, v: _check_string(k, v, choices=CONTROL_PLANE_LOG_TYPES)),
        log_retention_days=s.integer("logRetentionDays", 30, low=1, high=3653),
        coredns_addon_version=_addon_version(s, "corednsAddonVersion", "v1.12.4-eksbuild.1"),
        kube_proxy_addon_version=_addon_version(s, "kubeProxyAddonVersion", "v1.35.0-eksbuild.2"),
        vpc_cni_addon_version=_addon_version(s, "vpcCniAddonVersion", "v1.20.4-eksbuild.1"),
    )
    if config.log_retention_days not in LOG_RETENTION_DAYS:
        raise ConfigError(s.path("logRetentionDays"), config.log_retention_days,
                          f"one of {', '.join(map(str, LOG_RETENTION_DAYS))}")
    _check_support(s, config, today)
    s.done()
    return config


def _parse_node_group(s: _Section, *, gpu: bool, default_name: str) -> NodeGroupConfig:
    catalog = gpu_instance_catalog()

    def check_instance_type(key: str, value: Any) -> None:
        _check_string(key, value, pattern=_INSTANCE_TYPE, describe="an EC2 instance type, e.g. m7i.large")
        if gpu and value not in catalog:
            raise ConfigError(key, value, "an NVIDIA GPU instance type from infra/gpu_instances.yaml: " + ", ".join(catalog))
        if not gpu and value in catalog:
            raise ConfigError(key, value, "a CPU instance type (GPU instances belong in gpuNodeGroups)")

    name = s.string("name", default_name, pattern=_NODE_GROUP_NAME,
                    describe="1 to 30 lower-case letters, digits or '-', starting with a letter or digit")
    instance_types = s.strings("instanceTypes", non_empty=True, check=check_instance_type)
    if gpu:
        gpu_counts = {t: catalog[t].gpus for t in instance_types}
        if len(set(gpu_counts.values())) > 1:
            raise ConfigError(s.path("instanceTypes"), list(instance_types),
                              f"instance types with the same GPU count, so every node fits the same pods (got {gpu_counts})")
    capacity_type = s.string("capacityType", "SPOT" if gpu else "ON_DEMAND", choices=CAPACITY_TYPES)
    min_size = s.integer("minSize", low=0, high=100)
    max_size = s.integer("maxSize", low=1, high=100)
    desired_size = s.integer("desiredSize", low=0, high=100)
    if min_size > max_size:
        raise ConfigError(s.path("minSize"), min_size, f"at most maxSize ({max_size})")
    if not min_size <= desired_size <= max_size:
        raise ConfigError(s.path("desiredSize"), desired_size, f"a number from minSize ({min_size}) to maxSize ({max_size})")
    if not gpu and min_size < 1:
        raise ConfigError(s.path("minSize"), min_size, "at least 1: the system group runs CoreDNS and the add-ons")
    disk_size = s.integer("diskSizeGiB", 100 if gpu else 50, low=50 if gpu else 20, high=16384)
    s.done()
    cls = GpuNodeGroupConfig if gpu else NodeGroupConfig
    return cls(name=name, instance_types=instance_types, capacity_type=capacity_type,
               min_size=min_size, desired_size=desired_size, max_size=max_size, disk_size_gib=disk_size)


def _parse_gpu_node_groups(key: str, raw: Any) -> tuple[GpuNodeGroupConfig, ...]:
    if not isinstance(raw, list):
        raise ConfigError(key, raw, "a list of GPU node groups (an empty list for none)")
    groups = tuple(_parse_node_group(_Section(f"{key}[{i}]", g), gpu=True, default_name=f"gpu-{i}")
                   for i, g in enumerate(raw))
    names = [g.name for g in groups]
    for i, name in enumerate(names):
        if name in names[:i] or name == "system":
            raise ConfigError(f"{key}[{i}].name", name, "a name used by no other node group")
    return groups


def _parse_registries(s: _Section) -> RegistryConfig:
    config = RegistryConfig(
        images=s.strings("images", list(RegistryConfig.images), check=lambda k, v: _check_string(
            k, v, pattern=_IMAGE_NAME, describe="a lower-case image name, e.g. rag")),
        build=s.boolean("build", True),
        image_tag=s.string("imageTag", None, pattern=_IMAGE_TAG, describe="an image tag, e.g. 0.1.0 (not latest: tags are immutable)"),
        keep_tagged_images=s.integer("keepTaggedImages", 30, low=1, high=1000),
        untagged_expiry_days=s.integer("untaggedExpiryDays", 7, low=1, high=365),
        force_delete=s.boolean("forceDelete", False),
    )
    if config.image_tag == "latest":
        raise ConfigError(s.path("imageTag"), "latest", "a version tag: the repositories are immutable, so 'latest' could never move")
    if config.image_tag == CACHE_TAG:
        raise ConfigError(s.path("imageTag"), CACHE_TAG, "a version tag: this one is the build cache's (mutable, not an image)")
    if config.build and config.image_tag is not None:
        raise ConfigError(s.path("imageTag"), config.image_tag, "no value while registries.build is true (the program tags "
                          "what it builds by content); registries.build false runs the images CI pushed under this tag")
    if not config.build and config.image_tag is None:
        raise ConfigError(s.path("imageTag"), _MISSING, "the tag CI pushed the images under, e.g. 0.1.0 "
                          "(registries.build is false)")
    for i, image in enumerate(config.images if config.build else ()):
        if not (IMAGES_DIR / image / "Dockerfile").is_file():
            raise ConfigError(f"{s.path('images')}[{i}]", image, f"an image the program can build: images/{image}/Dockerfile "
                              "is missing (or registries.build false, to run CI's image)")
    s.done()
    return config


def _parse_buckets(s: _Section) -> BucketConfig:
    config = BucketConfig(
        force_destroy=s.boolean("forceDestroy", False),
        noncurrent_version_expiry_days=s.integer("noncurrentVersionExpiryDays", 30, low=1, high=3650),
    )
    s.done()
    return config


def _parse_storage(s: _Section) -> StorageConfig:
    config = StorageConfig(ebs_csi_addon_version=_addon_version(s, "ebsCsiAddonVersion", "v1.50.1-eksbuild.1"))
    s.done()
    return config


_HF_MODEL_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[\w.-]{1,96}$")
_DNS_LABEL = re.compile(r"^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$")
_RUN_ID = re.compile(r"^[a-z0-9]([a-z0-9-]{0,14}[a-z0-9])?$")
_DATASET_KEY = re.compile(r"^[\w!.*'()-]+(/[\w!.*'()-]+)+\.jsonl$")  # in a folder: access is granted per folder
_PREFIX = re.compile(r"^[\w.-]+(/[\w.-]+)*$")
_IMAGE_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_ACM_ARN = re.compile(r"^arn:aws(-cn|-us-gov)?:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}$")
_GITHUB_ORG = re.compile(r"^[A-Za-z0-9](-?[A-Za-z0-9]){0,38}$")


def _model_id(s: _Section, name: str, default: str) -> str:
    return s.string(name, default, pattern=_HF_MODEL_ID, describe="a Hugging Face model id, e.g. Qwen/Qwen2.5-7B-Instruct")


def _parse_jupyterhub(s: _Section, secrets: Mapping[str, SecretValue]) -> JupyterHubConfig:
    enabled = s.boolean("enabled", True)
    authenticator = s.string("authenticator", "sharedPassword", choices=JUPYTERHUB_AUTHENTICATORS)
    github = None
    gh = s.section("github", None)
    if authenticator == "github":
        if gh is None:
            raise ConfigError(s.path("github"), _MISSING, "clientId and allowedOrganizations when authenticator is github")
        if "githubClientSecret" not in secrets:
            raise ConfigError(f"{PROJECT}:githubClientSecret", _MISSING,
                              f"a secret (pulumi config set --secret {PROJECT}:githubClientSecret <secret>) when authenticator is github")
        github = GitHubAuth(
            client_id=gh.string("clientId", pattern=re.compile(r"^[\w.-]{8,64}$"), describe="a GitHub OAuth app client id"),
            allowed_organizations=gh.strings("allowedOrganizations", non_empty=True, check=lambda k, v: _check_string(
                k, v, pattern=_GITHUB_ORG, describe="a GitHub organisation name")),
            client_secret=secrets["githubClientSecret"],
        )
        gh.done()
    elif gh is not None:
        raise ConfigError(s.path("github"), gh.raw, "no value unless authenticator is github")
    elif "githubClientSecret" in secrets:
        raise ConfigError(f"{PROJECT}:githubClientSecret", "[secret]", "no value unless jupyterhub.authenticator is github")
    public = s.boolean("public", False)
    ranges = s.strings("publicSourceRanges", [], check=_check_cidr)
    if public and not ranges:
        raise ConfigError(s.path("publicSourceRanges"), [], "at least one CIDR when public is true (who may reach the hub)")
    if ranges and not public:
        raise ConfigError(s.path("publicSourceRanges"), list(ranges), "an empty list unless public is true")
    config = JupyterHubConfig(
        enabled=enabled, authenticator=authenticator, github=github, public=public, public_source_ranges=ranges,
        gpu_profile=s.boolean("gpuProfile", True),
        home_storage_gib=s.integer("homeStorageGiB", 20, low=1, high=16384),
        start_timeout_seconds=s.integer("startTimeoutSeconds", 1200, low=60, high=3600),
    )
    s.done()
    return config


def _parse_hyperparameters(s: _Section) -> LoraHyperparameters:
    config = LoraHyperparameters(
        rank=s.integer("loraR", 32, low=1, high=256),
        alpha=s.integer("loraAlpha", 64, low=1, high=1024),
        dropout=s.number("loraDropout", 0.05, low=0.0, high=0.5),
        learning_rate=s.number("learningRate", 2.5e-5, low=0.0, high=0.01, low_open=True),
        max_steps=s.integer("maxSteps", 200, low=1, high=1_000_000),
        batch_size=s.integer("batchSize", 4, low=1, high=512),
        gradient_accumulation_steps=s.integer("gradientAccumulationSteps", 4, low=1, high=1024),
        max_sequence_length=s.integer("maxSequenceLength", 1024, low=64, high=131072),
        checkpoint_every_steps=s.integer("checkpointEverySteps", 50, low=1, high=1_000_000),
    )
    s.done()
    return config


def _parse_tuning(s: _Section, name: str, model: ModelSpec) -> FineTuningConfig:
    dataset = lambda name, default: s.string(
        name, default, pattern=_DATASET_KEY, describe="a .jsonl object key in a folder of the datasets bucket, e.g. loyalty/train.jsonl")
    method = s.string("method", "qlora", choices=TUNING_METHODS)
    if method not in model.tuning:
        raise ConfigError(s.path("method"), method, f"one of {', '.join(model.tuning)} (what images/finetune supports for {model.name})"
                          if model.tuning else f"no tuning: the platform does not tune {model.name} (choose another preset)")
    config = FineTuningConfig(
        adapter_name=name,
        run_id=s.string("runId", "1", pattern=_RUN_ID,
                        describe="1 to 16 lower-case letters, digits or '-' (change it to train again)"),
        base_model=model.hugging_face_id,
        method=method,
        train_data=dataset("trainData", "loyalty/train.jsonl"),
        validation_data=dataset("validationData", "loyalty/validation.jsonl"),
        hyperparameters=_parse_hyperparameters(s.section("hyperparameters", {})),
        backoff_limit=s.integer("backoffLimit", 4, low=0, high=20),
        active_deadline_hours=s.integer("activeDeadlineHours", 12, low=1, high=168),
        ttl_hours_after_finished=s.integer("ttlHoursAfterFinished", 168, low=1, high=8760),
        shm_size_gib=s.integer("shmSizeGiB", 4, low=1, high=256),
    )
    s.done()
    return config


_SERVED_MODEL_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def _parse_inference(s: _Section, name: str, model: ModelSpec) -> InferenceConfig:
    default_served = re.sub(r"[^a-z0-9._-]", "-", model.name.split("/")[-1].lower())[:64]
    config = InferenceConfig(
        name=name,
        model=model.hugging_face_id,
        served_model_name=s.string("servedModelName", default_served, pattern=_SERVED_MODEL_NAME,
                                   describe="1 to 64 lower-case letters, digits, '.', '_' or '-' (the model name clients send)"),
        adapters=s.strings("adapters", [], check=lambda k, v: _check_string(
            k, v, pattern=_DNS_LABEL, describe="an adapter name (the name of a tuning workspace)")),
        replicas=s.integer("replicas", 1, low=0, high=64),
        max_model_len=s.integer("maxModelLen", model.default_context_length, low=256, high=1_048_576),
        concurrency=s.integer("concurrency", 1, low=1, high=1024),
        gpu_memory_utilization=s.number("gpuMemoryUtilization", 0.9, low=0.1, high=0.98),
        dtype=s.string("dtype", "bfloat16", choices=INFERENCE_DTYPES),
        max_lora_rank=s.integer("maxLoraRank", 64, low=8, high=512),
        shm_size_gib=s.integer("shmSizeGiB", 2, low=1, high=256),
    )
    if config.max_model_len > model.max_context_length:
        raise ConfigError(s.path("maxModelLen"), config.max_model_len,
                          f"at most {model.max_context_length}, the longest context {model.name} takes")
    if config.max_lora_rank not in (8, 16, 32, 64, 128, 256, 320, 512):
        raise ConfigError(s.path("maxLoraRank"), config.max_lora_rank, "one of 8, 16, 32, 64, 128, 256, 320, 512 (vLLM's choices)")
    if config.adapters and not model.lora_adapters:
        raise ConfigError(s.path("adapters"), list(config.adapters),
                          f"an empty list: the platform serves no LoRA adapters on {model.name} (presets/models.yaml: loraAdapters)")
    s.done()
    return config


def _parse_model_spec(s: _Section) -> ModelSpec:
    """A model that is not a preset, given with the preset keys (copied from its config.json)."""
    size = lambda name, low, high, default=_MISSING: s.integer(name, default, low=low, high=high)
    hf_id = _model_id(s, "huggingFaceId", _MISSING)
    parameters = size("parameters", 1_000_000, 2_000_000_000_000)
    max_context = size("maxContextLength", 256, 1_048_576)
    spec = ModelSpec(
        name=hf_id, hugging_face_id=hf_id, parameters=parameters,
        weight_bytes=size("weightBytes", 2_000_000, 4_000_000_000_000, 2 * parameters),
        layers=size("layers", 1, 1000), hidden_size=size("hiddenSize", 64, 65536),
        intermediate_size=size("intermediateSize", 64, 262144), attention_heads=size("attentionHeads", 1, 1024),
        kv_heads=size("kvHeads", 1, 1024), head_dim=size("headDim", 8, 1024), vocab_size=size("vocabSize", 256, 1_000_000),
        max_context_length=max_context, default_context_length=size("defaultContextLength", 256, max_context, min(max_context, 8192)),
        gated=s.boolean("gated", hf_id.split("/")[0].lower() in GATED_MODEL_ORGANISATIONS),
        tuning=s.strings("tuning", list(TUNING_METHODS), check=lambda k, v: _check_string(k, v, choices=TUNING_METHODS)),
        lora_adapters=s.boolean("loraAdapters", True),
    )
    if spec.attention_heads % spec.kv_heads:
        raise ConfigError(s.path("kvHeads"), spec.kv_heads, f"a divisor of attentionHeads ({spec.attention_heads})")
    s.done()
    return spec


def _parse_workspaces(key: str, raw: Any, groups: tuple[GpuNodeGroupConfig, ...],
                      hugging_face_token: SecretValue | None) -> tuple[Workspace, ...]:
    if not isinstance(raw, list):
        raise ConfigError(key, raw, "a list of workspaces (an empty list for none)")
    workspaces: list[Workspace] = []
    named_by: list[tuple[str, Any]] = []    # per workspace: the key that names its model, and the value there
    for i, entry in enumerate(raw):
        s = _Section(f"{key}[{i}]", entry)
        name = s.string("name", pattern=_DNS_LABEL, describe=(
            "1 to 32 lower-case letters, digits or '-', starting with a letter (it names the Service, or the adapter and the Job)"))
        if name in [w.name for w in workspaces]:
            raise ConfigError(s.path("name"), name, "a name used by no other workspace")
        preset, given = s.get("preset", None), s.section("model", None)
        if (preset is None) == (given is None):
            raise ConfigError(s.path("preset"), preset if preset is not None else _MISSING,
                              "a preset name, or a model given in full under 'model' (one of the two)")
        if preset is not None:
            if not isinstance(preset, str):
                raise ConfigError(s.path("preset"), preset, f"a preset from presets/models.yaml: {', '.join(model_presets())}")
            try:
                model = find_preset(preset)
            except UnknownPreset as unknown:
                raise ConfigError(s.path("preset"), preset,
                                  f"a preset from presets/models.yaml; the nearest: {', '.join(unknown.suggestions)}") from None
            model_key, model_value = s.path("preset"), preset
        else:
            model = _parse_model_spec(given)
            model_key, model_value = s.path("model.huggingFaceId"), model.hugging_face_id
        if model.gated and hugging_face_token is None:
            raise ConfigError(model_key, model_value, f"a model that is not gated, or a token: "
                              f"pulumi config set --secret {PROJECT}:huggingFaceToken hf_... ({model.hugging_face_id} is gated)")
        serving, tuning = s.section("inference", None), s.section("tuning", None)
        if (serving is None) == (tuning is None):
            raise ConfigError(s.path("inference"), serving.raw if serving else _MISSING,
                              "exactly one of 'inference' or 'tuning': a workspace is one model doing one job")
        s.done()
        try:
            if serving is not None:
                config = _parse_inference(serving, name, model)
                settings = ServingSettings(config.max_model_len, config.concurrency, config.gpu_memory_utilization)
                workspace = Workspace(name, model, inference=replace(config, placement=place_serving(model, settings, groups)))
            else:
                config = _parse_tuning(tuning, name, model)
                hp = config.hyperparameters
                settings = TuningSettings(config.method, hp.batch_size, hp.max_sequence_length, hp.rank)
                workspace = Workspace(name, model, tuning=replace(config, placement=place_tuning(model, settings, groups)))
        except NoFit as no_fit:
            job = "serving" if serving is not None else f"{config.method} tuning"
            raise ConfigError(model_key, model_value,
                              f"a model the stack's gpuNodeGroups can host: workspace '{name}' ({job}) {no_fit}") from None
        workspaces.append(workspace)
        named_by.append((model_key, model_value))
    _check_adapters_match_their_server(key, workspaces, named_by)
    return tuple(workspaces)


def _check_adapters_match_their_server(key: str, workspaces: list[Workspace], named_by: list[tuple[str, Any]]) -> None:
    """An adapter served by an inference workspace is trained on that workspace's model, at a rank it can load."""
    for i, workspace in enumerate(workspaces):
        tuning = workspace.tuning
        for inference in (w.inference for w in workspaces if w.inference is not None):
            if tuning is None or tuning.adapter_name not in inference.adapters:
                continue
            if tuning.base_model != inference.model:
                raise ConfigError(*named_by[i], f"the model of workspace '{inference.name}', {inference.model}: "
                                  f"it serves adapter '{tuning.adapter_name}'")
            if tuning.hyperparameters.rank > inference.max_lora_rank:
                raise ConfigError(f"{key}[{i}].tuning.hyperparameters.loraR", tuning.hyperparameters.rank,
                                  f"at most workspace '{inference.name}' inference.maxLoraRank ({inference.max_lora_rank})")


def _parse_qdrant(s: _Section) -> QdrantConfig:
    config = QdrantConfig(enabled=s.boolean("enabled", True), storage_gib=s.integer("storageGiB", 20, low=1, high=16384))
    s.done()
    return config


def _parse_rag(s: _Section, secrets: Mapping[str, SecretValue]) -> RagConfig:
    base_url = s.string("llmBaseUrl", None, pattern=re.compile(r"^https?://[^\s/]+(/[^\s]*)?$"),
                        describe="an http(s) URL of an OpenAI-compatible API, e.g. https://api.example.com/v1")
    config = RagConfig(
        enabled=s.boolean("enabled", True),
        replicas=s.integer("replicas", 1, low=0, high=64),
        collection=s.string("collection", "products", pattern=re.compile(r"^[a-zA-Z0-9_-]{1,64}$"),
                            describe="a Qdrant collection name: letters, digits, '_' or '-'"),
        catalog_prefix=s.string("catalogPrefix", "catalog", pattern=_PREFIX,
                                describe="a key prefix in the datasets bucket, e.g. catalog"),
        llm_base_url=base_url,
        llm_model=s.string("llmModel", None, pattern=re.compile(r"^[\w./:-]{1,128}$"), describe="a model name the LLM API serves"),
        llm_api_key=secrets.get("ragLlmApiKey"),
    )
    if base_url is None and config.llm_api_key is not None:
        raise ConfigError(f"{PROJECT}:ragLlmApiKey", "[secret]", "no value unless rag.llmBaseUrl names an external API")
    if base_url is not None and base_url.startswith("http://"):
        raise ConfigError(s.path("llmBaseUrl"), base_url, "an https URL (prompts and the API key leave the cluster)")
    if base_url is not None and config.llm_model is None:
        raise ConfigError(s.path("llmModel"), _MISSING, "the model name to ask for, when llmBaseUrl is set")
    s.done()
    return config


def _parse_chatbot(s: _Section) -> ChatbotConfig:
    exposure = s.string("exposure", "none", choices=CHATBOT_EXPOSURES)
    ranges = s.strings("sourceRanges", [], check=_check_cidr)
    config = ChatbotConfig(
        enabled=s.boolean("enabled", True),
        replicas=s.integer("replicas", 1, low=0, high=64),
        exposure=exposure, source_ranges=ranges,
        tls_certificate_arn=s.string("tlsCertificateArn", None, pattern=_ACM_ARN, describe="an ACM certificate ARN"),
        ingress_class=s.string("ingressClass", None, pattern=_DNS_LABEL, describe="an IngressClass name, e.g. alb"),
        ingress_host=s.string("ingressHost", None, pattern=_HOSTNAME, describe="a DNS name, e.g. chat.example.com"),
        ingress_tls_secret=s.string("ingressTlsSecret", None, pattern=_DNS_LABEL, describe="a kubernetes.io/tls Secret name in the chatbot namespace"),
    )
    if exposure == "loadBalancer" and not ranges:
        raise ConfigError(s.path("sourceRanges"), [], "at least one CIDR when exposure is loadBalancer (who may reach the chatbot)")
    if exposure != "loadBalancer":
        for key, value in (("sourceRanges", list(ranges) or None), ("tlsCertificateArn", config.tls_certificate_arn)):
            if value:
                raise ConfigError(s.path(key), value, "no value unless exposure is loadBalancer")
    if exposure == "ingress":
        if config.ingress_host is None:
            raise ConfigError(s.path("ingressHost"), _MISSING, "a host name when exposure is ingress")
        if config.ingress_tls_secret is None:
            raise ConfigError(s.path("ingressTlsSecret"), _MISSING, "a TLS Secret name when exposure is ingress (the only public entry serves HTTPS)")
    else:
        for key, value in (("ingressClass", config.ingress_class), ("ingressHost", config.ingress_host),
                           ("ingressTlsSecret", config.ingress_tls_secret)):
            if value is not None:
                raise ConfigError(s.path(key), value, "no value unless exposure is ingress")
    s.done()
    return config


def _parse_private_model(s: _Section) -> PrivateModelConfig:
    config = PrivateModelConfig(
        enabled=s.boolean("enabled", False),
        routing_key=s.string("routingKey", "private-llm", pattern=re.compile(r"^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$"),
                             describe="1 to 63 lower-case letters, digits, '.' or '-' (the private site's Connector uses the same key)"),
        port=s.integer("port", 8000, low=1, high=65535),
        served_model_name=s.string("servedModelName", DEFAULT_PRIVATE_MODEL, pattern=re.compile(r"^[\w./:-]{1,128}$"),
                                   describe="the model name the private server serves, e.g. deepseek-r1-distill-qwen-1.5b"),
        rag_uses_private_model=s.boolean("ragUsesPrivateModel", False),
        skupper_version=s.string("skupperVersion", SKUPPER_VERSION, pattern=re.compile(r"^2\.2\.\d{1,3}$"),
                                 describe=f"a Skupper 2.2 release, e.g. {SKUPPER_VERSION} (the CRDs this program is tested against)"),
    )
    if config.rag_uses_private_model and not config.enabled:
        raise ConfigError(s.path("ragUsesPrivateModel"), True, "false unless privateModel.enabled is true")
    s.done()
    return config


def _check_workloads(config: StackConfig) -> None:
    """Rules that span sections: what one workload needs from another and from the node groups."""
    key = lambda section, name: f"{PROJECT}:{section}.{name}"
    images = set(config.registries.images)
    if config.fine_tuning_jobs and "finetune" not in images:
        tuning = next(i for i, w in enumerate(config.workspaces) if w.tuning is not None)
        raise ConfigError(f"{PROJECT}:workspaces[{tuning}].tuning", config.workspaces[tuning].name,
                          "no tuning workspace, or 'finetune' in registries.images (its image repository)")
    for section, enabled, image in (("rag", config.rag.enabled, "rag"), ("chatbot", config.chatbot.enabled, "chatbot")):
        if enabled and image not in images:
            raise ConfigError(key(section, "enabled"), True, f"false, or '{image}' in registries.images (its image repository)")
    if config.rag.enabled and not config.qdrant.enabled:
        raise ConfigError(key("rag", "enabled"), True, "false, or qdrant.enabled true (the RAG service stores its vectors there)")
    private = config.private_model
    if private.rag_uses_private_model and not config.rag.enabled:
        raise ConfigError(key("privateModel", "ragUsesPrivateModel"), True, "false unless rag.enabled is true")
    if private.rag_uses_private_model and config.rag.llm_base_url is not None:
        raise ConfigError(key("privateModel", "ragUsesPrivateModel"), True,
                          "false when rag.llmBaseUrl names an external API (the RAG service asks one LLM)")
    if (config.rag.enabled and config.rag.llm_base_url is None and not private.rag_uses_private_model
            and config.default_llm is None):
        raise ConfigError(key("rag", "llmBaseUrl"), _MISSING,
                          "an external LLM API URL when no workspace serves a model (or privateModel.ragUsesPrivateModel true)")
    # GPUs the stack's pods claim on `pulumi up`: each workspace's must fit the groups it was placed
    # on, and all of them the GPU groups together, at their maximum size.
    groups = {g.name: g for g in config.gpu_node_groups}
    gpus = 0
    for i, workspace in enumerate(config.workspaces):
        job = workspace.inference or workspace.tuning
        needed = workspace.inference.replicas * job.placement.pod.gpus if workspace.inference else job.placement.pod.gpus
        room = sum(groups[g].max_size * groups[g].gpus_per_node for g in job.placement.node_groups)
        if needed > room:
            raise ConfigError(f"{PROJECT}:workspaces[{i}].inference.replicas", workspace.inference.replicas,
                              f"at most {room // job.placement.pod.gpus}: workspace '{workspace.name}' takes "
                              f"{job.placement.pod.gpus} GPUs a replica, and the groups that fit it "
                              f"({', '.join(job.placement.node_groups)}) have {room} at maxSize")
        gpus += needed
    capacity = sum(g.max_size * g.gpus_per_node for g in config.gpu_node_groups)
    if gpus > capacity:
        raise ConfigError(f"{PROJECT}:gpuNodeGroups", [g.name for g in config.gpu_node_groups],
                          f"GPU node groups with room for the workspaces' {gpus} GPUs (inference replicas x tensor-parallel size, "
                          f"one per tuning Job); their maxSize allows {capacity}")


_TOP_LEVEL_KEYS = ("network", "cluster", "systemNodeGroup", "gpuNodeGroups", "storage", "registries", "buckets",
                   "jupyterhub", "workspaces", "qdrant", "rag", "chatbot", "privateModel", *SECRET_KEYS)
# Sections that became workspaces: say where they went rather than "unknown key".
_MOVED_KEYS = {"inference": "an inference workspace", "fineTuning": "a tuning workspace"}


def _parse_secrets(ours: Mapping[str, Any], secret_keys: Collection[str]) -> dict[str, SecretValue]:
    secrets = {}
    for key in SECRET_KEYS:
        if key not in ours:
            continue
        full = f"{PROJECT}:{key}"
        if full not in secret_keys:
            # Say which key, never echo the value: it was meant to be secret.
            raise ConfigError(full, "[plain text]", f"a secret: pulumi config set --secret {full} <value>")
        if not isinstance(ours[key], str) or not ours[key].strip():
            raise ConfigError(full, "[secret]", "a non-empty string")
        secrets[key] = SecretValue(ours[key].strip())
    return secrets


def _parse_default_tags(raw: Any) -> dict[str, str]:
    """aws:defaultTags, as the AWS provider reads it: {tags: {key: value}}."""
    if raw is _MISSING:
        return {}
    s = _Section("aws:defaultTags", raw)
    tags = s.get("tags", {})
    if not isinstance(tags, dict):
        raise ConfigError(s.path("tags"), tags, "a mapping of tag keys to values")
    for key, value in tags.items():
        # EC2's tag limits: keys 1-128 characters, values up to 256; the aws: prefix is AWS's own.
        if not isinstance(key, str) or not 1 <= len(key) <= 128 or key.lower().startswith("aws:"):
            raise ConfigError(s.path("tags"), key, "tag keys of 1 to 128 characters, not starting with aws:")
        if not isinstance(value, str) or len(value) > 256:
            raise ConfigError(f"{s.path('tags')}.{key}", value, "a string of up to 256 characters")
    s.done()
    return dict(tags)


def parse_stack_config(raw: Mapping[str, Any], stack: str, secret_keys: Collection[str] = (),
                       today: date | None = None) -> StackConfig:
    """Parses a stack's config map: keys are `namespace:key`, values are already-decoded objects.

    `secret_keys` are the keys the stack holds encrypted; the keys in SECRET_KEYS must be among them.
    `today` (UTC) decides which Kubernetes versions are past standard support; tests pass their own.
    """
    today = today or datetime.now(UTC).date()
    region = raw.get("aws:region", _MISSING)
    if region is _MISSING:
        raise ConfigError("aws:region", _MISSING, "a value is required, e.g. us-west-2")
    _check_string("aws:region", region, pattern=_REGION, describe="an AWS region name, e.g. us-west-2")

    ours = {k.split(":", 1)[1]: v for k, v in raw.items() if k.startswith(f"{PROJECT}:")}
    for key in sorted(ours):
        if key in _MOVED_KEYS:
            raise ConfigError(f"{PROJECT}:{key}", ours[key], f"no value: it is now {_MOVED_KEYS[key]} in {PROJECT}:workspaces "
                              "(README: Model presets and workspaces)")
        if key not in _TOP_LEVEL_KEYS:
            # A misspelt secret key is still a secret: never echo a value set with --secret.
            shown = "[secret]" if f"{PROJECT}:{key}" in secret_keys else ours[key]
            raise ConfigError(f"{PROJECT}:{key}", shown, f"the known keys: {', '.join(PROJECT + ':' + k for k in _TOP_LEVEL_KEYS)}")

    def section(key: str, required: bool = False) -> _Section:
        value = ours.get(key, _MISSING)
        if value is _MISSING:
            if required:
                raise ConfigError(f"{PROJECT}:{key}", _MISSING, "a value is required")
            value = {}
        return _Section(f"{PROJECT}:{key}", value)

    secrets = _parse_secrets(ours, secret_keys)
    config = StackConfig(
        region=region,
        network=_parse_network(section("network"), region),
        cluster=_parse_cluster(section("cluster", required=True), stack, today),
        system_node_group=_parse_node_group(section("systemNodeGroup", required=True), gpu=False, default_name="system"),
        gpu_node_groups=_parse_gpu_node_groups(f"{PROJECT}:gpuNodeGroups", ours.get("gpuNodeGroups", [])),
        storage=_parse_storage(section("storage")),
        registries=_parse_registries(section("registries")),
        buckets=_parse_buckets(section("buckets")),
        jupyterhub=_parse_jupyterhub(section("jupyterhub"), secrets),
        workspaces=(),
        qdrant=_parse_qdrant(section("qdrant")),
        rag=_parse_rag(section("rag"), secrets),
        chatbot=_parse_chatbot(section("chatbot")),
        private_model=_parse_private_model(section("privateModel")),
        hugging_face_token=secrets.get("huggingFaceToken"),
        default_tags=_parse_default_tags(raw.get("aws:defaultTags", _MISSING)),
    )
    # Workspaces are placed on the GPU node groups parsed above.
    config = replace(config, workspaces=_parse_workspaces(f"{PROJECT}:workspaces", ours.get("workspaces", []),
                                                          config.gpu_node_groups, config.hugging_face_token))
    _check_workloads(config)
    return config


def _decode(value: Any) -> Any:
    """Pulumi hands structured config to the program as JSON text; scalars stay strings."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def load_stack_config() -> StackConfig:
    """Reads the running stack's config from the Pulumi runtime and parses it."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    raw = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    plain_strings = {"aws:region", *(f"{PROJECT}:{k}" for k in SECRET_KEYS)}
    decoded = {k: (v if k in plain_strings else _decode(v)) for k, v in raw.items()}
    secret_keys = {*runtime_config.get_config_secret_keys_env(), *runtime_config._SECRET_KEYS.get()}
    return parse_stack_config(decoded, pulumi.get_stack(), secret_keys)
