"""The typed stack config: every key the program reads, parsed and validated once.

`parse_stack_config` turns the raw key/value map of a stack (what `Pulumi.<stack>.yaml` holds
under `config:`) into frozen dataclasses. It runs before any resource is registered, and a bad
value raises `ConfigError` naming the key, the value and what is allowed.
"""

from __future__ import annotations

import difflib
import functools
import ipaddress
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, TypeVar

import yaml

PROJECT = "genai-eks"

SUPPORTED_KUBERNETES_VERSIONS = ("1.32", "1.33", "1.34", "1.35")
CAPACITY_TYPES = ("ON_DEMAND", "SPOT")
NAT_GATEWAY_MODES = ("single", "perAz")
CONTROL_PLANE_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
# The values CloudWatch Logs accepts for a log group's retention.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)
AVAILABILITY_ZONE_COUNT = 3

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


# --- the GPU catalogue -------------------------------------------------------------------------

@dataclass(frozen=True)
class GpuInstanceType:
    name: str
    gpus: int
    gpu_model: str
    gpu_memory_gib: int
    vcpus: int
    memory_gib: int


@functools.cache
def gpu_instance_catalog() -> Mapping[str, GpuInstanceType]:
    data = yaml.safe_load((Path(__file__).parent / "infra" / "gpu_instances.yaml").read_text())
    families = data["families"]
    return {
        name: GpuInstanceType(
            name=name,
            gpus=spec["gpus"],
            gpu_model=families[name.split(".")[0]]["gpuModel"],
            gpu_memory_gib=families[name.split(".")[0]]["gpuMemoryGiB"],
            vcpus=spec["vcpus"],
            memory_gib=spec["memoryGiB"],
        )
        for name, spec in data["instances"].items()
    }


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
    kubernetes_version: str = "1.34"
    admin_role_arns: tuple[str, ...] = ()
    log_types: tuple[str, ...] = ("api", "audit", "authenticator")
    log_retention_days: int = 30

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
    keep_tagged_images: int = 30
    untagged_expiry_days: int = 7
    force_delete: bool = False


@dataclass(frozen=True)
class BucketConfig:
    force_destroy: bool = False
    noncurrent_version_expiry_days: int = 30


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


def _parse_cluster(s: _Section, stack: str) -> ClusterConfig:
    config = ClusterConfig(
        name=s.string("name", f"genai-{stack}", pattern=_CLUSTER_NAME,
                      describe="1 to 39 lower-case letters, digits or '-', starting with a letter (it also prefixes bucket and ECR names)"),
        kubernetes_version=s.string("kubernetesVersion", "1.34", choices=SUPPORTED_KUBERNETES_VERSIONS),
        endpoint_public_access_cidrs=s.strings("endpointPublicAccessCidrs", check=_check_cidr),
        admin_role_arns=s.strings("adminRoleArns", [], check=lambda k, v: _check_string(
            k, v, pattern=_ROLE_ARN, describe="an IAM role ARN, e.g. arn:aws:iam::123456789012:role/platform-admin")),
        log_types=s.strings("logTypes", ["api", "audit", "authenticator"],
                            check=lambda k, v: _check_string(k, v, choices=CONTROL_PLANE_LOG_TYPES)),
        log_retention_days=s.integer("logRetentionDays", 30, low=1, high=3653),
    )
    if config.log_retention_days not in LOG_RETENTION_DAYS:
        raise ConfigError(s.path("logRetentionDays"), config.log_retention_days,
                          f"one of {', '.join(map(str, LOG_RETENTION_DAYS))}")
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
        keep_tagged_images=s.integer("keepTaggedImages", 30, low=1, high=1000),
        untagged_expiry_days=s.integer("untaggedExpiryDays", 7, low=1, high=365),
        force_delete=s.boolean("forceDelete", False),
    )
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
    config = StorageConfig(ebs_csi_addon_version=s.string(
        "ebsCsiAddonVersion", None, pattern=re.compile(r"^v\d+\.\d+\.\d+-eksbuild\.\d+$"),
        describe="an EKS add-on version, e.g. v1.50.1-eksbuild.1"))
    s.done()
    return config


_TOP_LEVEL_KEYS = ("network", "cluster", "systemNodeGroup", "gpuNodeGroups", "storage", "registries", "buckets")


def parse_stack_config(raw: Mapping[str, Any], stack: str) -> StackConfig:
    """Parses a stack's config map: keys are `namespace:key`, values are already-decoded objects."""
    region = raw.get("aws:region", _MISSING)
    if region is _MISSING:
        raise ConfigError("aws:region", _MISSING, "a value is required, e.g. us-west-2")
    _check_string("aws:region", region, pattern=_REGION, describe="an AWS region name, e.g. us-west-2")

    ours = {k.split(":", 1)[1]: v for k, v in raw.items() if k.startswith(f"{PROJECT}:")}
    for key in sorted(ours):
        if key not in _TOP_LEVEL_KEYS:
            raise ConfigError(f"{PROJECT}:{key}", ours[key], f"the known keys: {', '.join(PROJECT + ':' + k for k in _TOP_LEVEL_KEYS)}")

    def section(key: str, required: bool = False) -> _Section:
        value = ours.get(key, _MISSING)
        if value is _MISSING:
            if required:
                raise ConfigError(f"{PROJECT}:{key}", _MISSING, "a value is required")
            value = {}
        return _Section(f"{PROJECT}:{key}", value)

    return StackConfig(
        region=region,
        network=_parse_network(section("network"), region),
        cluster=_parse_cluster(section("cluster", required=True), stack),
        system_node_group=_parse_node_group(section("systemNodeGroup", required=True), gpu=False, default_name="system"),
        gpu_node_groups=_parse_gpu_node_groups(f"{PROJECT}:gpuNodeGroups", ours.get("gpuNodeGroups", [])),
        storage=_parse_storage(section("storage")),
        registries=_parse_registries(section("registries")),
        buckets=_parse_buckets(section("buckets")),
    )


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
    decoded = {k: (v if k == "aws:region" else _decode(v)) for k, v in raw.items()}
    return parse_stack_config(decoded, pulumi.get_stack())
