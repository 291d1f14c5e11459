"""The typed stack config: the real stack files parse, and each kind of bad value is refused
with a `ConfigError` that names the exact key, shows the value and says what is allowed."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import SecretStr

from presets.catalog import model_presets
from presets.fit import PodShape
from presets.plan import WorkspacePlan, plan_workspaces
from stack_config import (
    SECRET_KEYS,
    BucketConfig,
    ChatbotConfig,
    ConfigError,
    ExistingVpc,
    FinetuneConfig,
    GitHubAuth,
    GpuNodePoolConfig,
    InferenceConfig,
    JupyterHubConfig,
    LoraHyperparameters,
    NetworkConfig,
    PrivateModelConfig,
    QdrantConfig,
    RagConfig,
    RegistryConfig,
    StackConfig,
    StorageConfig,
    parse_stack_config,
)
from tests import harness
from tests.harness import managed_gpu_config, run_program, stack_config

REGION = "aws:region"
NETWORK = "genai-eks:network"
CLUSTER = "genai-eks:cluster"
SYSTEM = "genai-eks:systemNodeGroup"
GPU = "genai-eks:gpuNodeGroups"
REGISTRIES = "genai-eks:registries"
BUCKETS = "genai-eks:buckets"
STORAGE = "genai-eks:storage"
JUPYTERHUB = "genai-eks:jupyterhub"
WORKSPACES = "genai-eks:workspaces"
# The dev stack's two workspaces, and where their jobs' keys live.
WS0, WS1 = f"{WORKSPACES}[0]", f"{WORKSPACES}[1]"  # llm (serving), loyalty (finetune)
LLM = f"{WS0}.inference"
LOYALTY = f"{WS1}.finetune"
# The sections that became workspaces: refused, saying where they went.
FINE_TUNING = "genai-eks:fineTuning"
INFERENCE = "genai-eks:inference"
QDRANT = "genai-eks:qdrant"
RAG = "genai-eks:rag"
CHATBOT = "genai-eks:chatbot"
PRIVATE_MODEL = "genai-eks:privateModel"
HF_TOKEN = "genai-eks:huggingFaceToken"
GITHUB_SECRET = "genai-eks:githubClientSecret"
RAG_API_KEY = "genai-eks:ragLlmApiKey"

# What `pulumi config set --secret` marks: the bad-config cases declare every secret key, so a case
# that adds one tests the rule it is about; the plain-text refusal has tests of its own.
DECLARED_SECRETS = frozenset(f"genai-eks:{k}" for k in SECRET_KEYS)
SECRET = "hf_d0NotPr1ntMe0123456789"  # a value no error message or repr may show
GATED_PRESET = "llama-3.1-8b-instruct"
GATED_MODEL = "meta-llama/Llama-3.1-8B-Instruct"  # its Hugging Face id
VALID_GITHUB = {"clientId": "Iv1.0123456789abcdef", "allowedOrganizations": ["example-org"]}

NO_VALUE = object()  # the expected value of a missing key: the message says "no value"

# A model that is no preset, given in full (Qwen2.5-3B-Instruct's config.json).
SMALL_MODEL = {
    "huggingFaceId": "Qwen/Qwen2.5-3B-Instruct",
    "parameters": 3085938688,
    "layers": 36,
    "hiddenSize": 2048,
    "intermediateSize": 11008,
    "attentionHeads": 16,
    "kvHeads": 2,
    "headDim": 128,
    "vocabSize": 151936,
    "maxContextLength": 32768,
}
# Llama-3.2-3B-Instruct's: gated (a meta-llama repository).
GATED_SMALL_MODEL = {
    "huggingFaceId": "meta-llama/Llama-3.2-3B-Instruct",
    "parameters": 3212749824,
    "layers": 28,
    "hiddenSize": 3072,
    "intermediateSize": 8192,
    "attentionHeads": 24,
    "kvHeads": 8,
    "headDim": 128,
    "vocabSize": 128256,
    "maxContextLength": 131072,
}
# Four L4s a node: where a model too big for one L4 is served tensor-parallel.
L4X4_GROUP = {
    "name": "gpu-l4x4",
    "instanceTypes": ["g6.12xlarge"],
    "capacityType": "SPOT",
    "minSize": 0,
    "desiredSize": 0,
    "maxSize": 1,
    "diskSizeGiB": 100,
}
# 4 x 32768 tokens of KV cache next to the weights: more than one L4 holds, so tensor-parallel 2.
CODER = {"name": "coder", "preset": "qwen2.5-coder-7b-instruct", "inference": {"maxModelLen": 32768, "concurrency": 4}}

VALID_EXISTING_VPC = {
    "vpcId": "vpc-0123456789abcdef0",
    "privateSubnetIds": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1", "subnet-0123456789abcdef2"],
    "publicSubnetIds": ["subnet-0123456789abcdef3", "subnet-0123456789abcdef4", "subnet-0123456789abcdef5"],
}


def planned(raw: dict[str, Any], stack: str = "dev", **kwargs: Any) -> tuple[StackConfig, WorkspacePlan]:
    """The parsed config and its workspaces planned: what the program does before registering anything."""
    config = parse_stack_config(raw, stack, **kwargs)
    return config, plan_workspaces(config)


def dev_config() -> dict[str, Any]:
    """The dev stack with a managed GPU node group for its pools: the rules on groups and on the
    fit's capacity are tested here; tests/test_karpenter.py tests the pools'."""
    return copy.deepcopy(managed_gpu_config())


def bad(mutate: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    """The dev config map, deep-copied, with one thing changed by `mutate`."""
    config = dev_config()
    mutate(config)
    return config


def rename(mapping: dict[str, Any], old: str, new: str) -> None:
    mapping[new] = mapping.pop(old)


def gpu0(c: dict[str, Any]) -> dict[str, Any]:
    return c[GPU][0]


def with_existing_vpc(c: dict[str, Any], **changes: Any) -> None:
    c[NETWORK] = {"existingVpc": {**copy.deepcopy(VALID_EXISTING_VPC), **changes}}


def at(c: dict[str, Any], section: str) -> Any:
    """The object `section` names: a top-level key, then `.name` and `[index]` steps
    (e.g. genai-eks:workspaces[0].inference), objects created where missing."""
    top, rest = re.fullmatch(r"([^.\[]+)(.*)", section).groups()
    target = c.setdefault(top, {})
    for name, index in re.findall(r"\.([\w-]+)|\[(\d+)\]", rest):
        target = target[int(index)] if index else target.setdefault(name, {})
    return target


def put(section: str, path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation setting `path` (dots for nested objects) in `section`, creating what is missing."""

    def mutate(c: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = at(c, section)
        for name in parents:
            target = target.setdefault(name, {})
        target[last] = value

    return mutate


def changes(*mutations: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], None]:
    """One mutation made of several, applied in order."""

    def mutate(c: dict[str, Any]) -> None:
        for m in mutations:
            m(c)

    return mutate


def bad_value(section: str, path: str, value: Any, allowed: str, *, index: int | None = None, marks: Any = ()) -> Any:
    """A bad-config case: `value` at `section`.`path` is refused and the error names that key
    (`index`: the list entry the error names)."""
    key = f"{section}.{path}" + ("" if index is None else f"[{index}]")
    shown = value if index is None else value[index]
    return pytest.param(
        put(section, path, value),
        key,
        shown,
        allowed,
        marks=marks,
        id=f"{section.split(':', 1)[1]}.{path}={json.dumps(value)}",
    )


def github_auth(c: dict[str, Any], **github: Any) -> None:
    """JupyterHub signs in with GitHub: the github section (with `github` changes) and its secret."""
    c[JUPYTERHUB].update(authenticator="github", github={**copy.deepcopy(VALID_GITHUB), **github})
    c[GITHUB_SECRET] = SECRET


def no_inference(c: dict[str, Any]) -> None:
    """No inference workspace: what switching inference off now is."""
    c[WORKSPACES] = [w for w in c[WORKSPACES] if "inference" not in w]


def no_finetune(c: dict[str, Any]) -> None:
    """No finetune workspace: what switching fine-tuning off now is."""
    c[WORKSPACES] = [w for w in c[WORKSPACES] if "finetune" not in w]


def add_workspace(entry: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    return lambda c: c[WORKSPACES].append(copy.deepcopy(entry))


def four_l4_nodes(c: dict[str, Any]) -> None:
    c[GPU].append(copy.deepcopy(L4X4_GROUP))


def gated_models(c: dict[str, Any]) -> None:
    """Both dev workspaces on a gated preset (two sequences of 8192 tokens: what one L4 holds next to it)."""
    for w in c[WORKSPACES]:
        w["preset"] = GATED_PRESET
    at(c, LLM)["concurrency"] = 2


def external_llm(c: dict[str, Any]) -> None:
    c[RAG].update(llmBaseUrl="https://api.example.com/v1", llmModel="gpt-4o-mini")


# --- the real stack files ----------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_real_stack_files_parse(stack: str) -> None:
    config = parse_stack_config(stack_config(stack), stack)
    assert config.cluster.name == f"genai-{stack}"
    # GPU capacity from Karpenter pools; no managed GPU group runs nodes that no pod asked for.
    assert config.gpu_node_pools and all(isinstance(p, GpuNodePoolConfig) for p in config.gpu_node_pools)
    assert config.gpu_node_groups == ()


def test_dev_values() -> None:
    config = parse_stack_config(stack_config("dev"), "dev")

    assert config.region == "us-west-2"
    assert config.cluster.kubernetes_version == "1.35"
    assert config.cluster.endpoint_public_access
    assert config.system_node_group.capacity_type == "ON_DEMAND"
    assert config.system_node_group.min_size == 2

    (gpu,) = config.gpu_node_pools
    assert gpu.name == "gpu-l4"
    assert gpu.capacity_types == ("spot", "on-demand")
    assert gpu.instance_types == ("g6.xlarge", "g6.2xlarge", "g6.4xlarge")
    assert (gpu.gpu_limit, gpu.consolidate_after, gpu.expire_after, gpu.disk_size_gib) == (3, "10m", "720h", None)
    assert config.karpenter.ami_alias == "al2023@v20260930"

    network = config.network
    assert network.vpc_cidr == "10.0.0.0/16"
    assert network.existing_vpc is None
    assert network.private_subnet_cidrs == ("10.0.0.0/18", "10.0.64.0/18", "10.0.128.0/18")
    assert network.public_subnet_cidrs == ("10.0.192.0/20", "10.0.208.0/20", "10.0.224.0/20")


def test_prod_values() -> None:
    config = parse_stack_config(stack_config("prod"), "prod")
    assert config.network.nat_gateways == "perAz"
    assert [(p.name, p.gpu_limit) for p in config.gpu_node_pools] == [("gpu-l4", 6), ("gpu-l4x4", 8)]
    assert config.cluster.admin_role_arns == ("arn:aws:iam::123456789012:role/platform-admin",)


ONE_L4_POD = PodShape(gpus=1, cpu=3, memory_gib=10, memory_limit_gib=14, scratch_gib=25)
DEV_L4_TYPES = ("g6.xlarge", "g6.2xlarge", "g6.4xlarge")


def test_dev_workload_values() -> None:
    config, plan = planned(stack_config("dev"), "dev")

    assert config.registries.build and config.registries.image_tag is None  # built in `pulumi up`, tagged by content
    assert config.jupyterhub.authenticator == "sharedPassword" and config.jupyterhub.github is None
    assert not config.jupyterhub.public
    assert [w.name for w in config.workspaces] == ["llm", "loyalty"]
    llm_workspace, loyalty_workspace = config.workspaces
    qwen = model_presets()["qwen2.5-7b-instruct"]
    assert llm_workspace.spec == loyalty_workspace.spec == qwen
    assert loyalty_workspace.inference is None and llm_workspace.finetune is None

    (llm,), (finetune,) = plan.serving, plan.finetune
    assert (llm.name, llm.model.hugging_face_id, llm.served_model_name) == (
        "llm",
        "Qwen/Qwen2.5-7B-Instruct",
        "qwen2.5-7b-instruct",
    )
    assert (llm.max_model_len, llm.config.concurrency, llm.config.adapters, llm.config.replicas) == (
        8192,
        4,
        ("loyalty",),
        1,
    )
    assert llm.tensor_parallel_size == 1
    assert llm.placement.pools == ("gpu-l4",)
    assert llm.placement.instance_types == DEV_L4_TYPES
    assert llm.placement.pod == ONE_L4_POD
    assert plan.default_llm is llm

    assert (finetune.name, finetune.config.run_id, finetune.config.method) == ("loyalty", "1", "qlora")
    assert finetune.model.hugging_face_id == "Qwen/Qwen2.5-7B-Instruct"
    assert finetune.config.train_data == "loyalty/train.jsonl"
    assert finetune.config.hyperparameters.rank == 32 and finetune.config.hyperparameters.learning_rate == 2.5e-5
    assert finetune.placement.instance_types == DEV_L4_TYPES
    assert finetune.placement.pod.gpus == 1

    assert config.rag.llm_base_url is None  # the in-cluster inference service
    assert config.chatbot.exposure == "loadBalancer" and config.chatbot.source_ranges == ("0.0.0.0/0",)
    assert config.hugging_face_token is None
    # The comment in the stack file: the inference server, the finetune Job and one GPU notebook.
    (gpu,) = config.gpu_node_pools
    assert llm.config.replicas * llm.tensor_parallel_size + finetune.placement.pod.gpus + 1 == gpu.gpu_limit
    assert plan.notebook_pool == "gpu-l4"
    assert [(p.name, p.root_volume_gib) for p in plan.node_pools] == [("gpu-l4", 65)]


def test_prod_workload_values() -> None:
    config, plan = planned(stack_config("prod"), "prod")

    assert [w.name for w in config.workspaces] == ["llm", "coder"]
    assert plan.finetune == ()  # training runs are launched on purpose
    llm, coder = plan.serving
    assert plan.default_llm is llm
    assert (llm.config.replicas, llm.max_model_len, llm.config.concurrency, llm.config.adapters) == (
        2,
        16384,
        4,
        ("loyalty",),
    )
    assert llm.tensor_parallel_size == 1
    assert llm.placement.pools == ("gpu-l4", "gpu-l4x4")
    assert llm.placement.instance_types == (
        "g6.xlarge",
        "g6.2xlarge",
        "g6.4xlarge",
        "g6.8xlarge",
        "g6.12xlarge",
        "g6.24xlarge",
    )
    assert llm.placement.pod == ONE_L4_POD
    # The comment in the stack file: 4 x 32768 tokens do not fit one L4, so two of a four-L4 node.
    assert (coder.model.hugging_face_id, coder.served_model_name) == (
        "Qwen/Qwen2.5-Coder-7B-Instruct",
        "qwen2.5-coder-7b-instruct",
    )
    assert (coder.max_model_len, coder.config.concurrency, coder.config.adapters) == (32768, 4, ())
    assert coder.tensor_parallel_size == 2
    assert coder.placement.pools == ("gpu-l4x4",)
    assert coder.placement.instance_types == ("g6.12xlarge", "g6.24xlarge")
    assert coder.placement.pod == PodShape(gpus=2, cpu=5, memory_gib=14, memory_limit_gib=18, scratch_gib=25)


def test_existing_vpc_parses() -> None:
    config = parse_stack_config(bad(with_existing_vpc), "dev")
    assert config.network.existing_vpc == ExistingVpc(
        vpc_id="vpc-0123456789abcdef0",
        private_subnet_ids=tuple(VALID_EXISTING_VPC["privateSubnetIds"]),
        public_subnet_ids=tuple(VALID_EXISTING_VPC["publicSubnetIds"]),
    )


# --- bad configs -------------------------------------------------------------------------------
# (mutation of the dev config, the key the error names, the bad value, a fragment of "allowed")

BAD_CONFIGS = [
    # node groups: instance types
    pytest.param(
        lambda c: gpu0(c)["instanceTypes"].__setitem__(1, "m7i.large"),
        f"{GPU}[0].instanceTypes[1]",
        "m7i.large",
        "an NVIDIA GPU instance type",
        id="gpu-group-with-cpu-instance-type",
    ),
    pytest.param(
        lambda c: c[SYSTEM].update(instanceTypes=["g6.xlarge"]),
        f"{SYSTEM}.instanceTypes[0]",
        "g6.xlarge",
        "a CPU instance type",
        id="system-group-with-gpu-instance-type",
    ),
    pytest.param(
        lambda c: gpu0(c).update(instanceTypes=[]),
        f"{GPU}[0].instanceTypes",
        [],
        "a non-empty list",
        id="gpu-group-empty-instance-types",
    ),
    pytest.param(
        lambda c: gpu0(c).update(instanceTypes=["g6.xlarge", "g6.12xlarge"]),
        f"{GPU}[0].instanceTypes",
        ["g6.xlarge", "g6.12xlarge"],
        "the same GPU count",
        id="gpu-group-mixed-gpu-counts",
    ),
    pytest.param(
        lambda c: gpu0(c).update(capacityType="RESERVED"),
        f"{GPU}[0].capacityType",
        "RESERVED",
        "one of ON_DEMAND, SPOT",
        id="unknown-capacity-type",
    ),
    # node groups: sizes
    pytest.param(
        lambda c: gpu0(c).update(minSize=3, desiredSize=2, maxSize=2),
        f"{GPU}[0].minSize",
        3,
        "at most maxSize (2)",
        id="gpu-min-above-max",
    ),
    pytest.param(
        lambda c: c[SYSTEM].update(desiredSize=1),
        f"{SYSTEM}.desiredSize",
        1,
        "a number from minSize (2) to maxSize (4)",
        id="system-desired-below-min",
    ),
    pytest.param(
        lambda c: gpu0(c).update(minSize=0, desiredSize=3, maxSize=2),
        f"{GPU}[0].desiredSize",
        3,
        "a number from minSize (0) to maxSize (2)",
        id="gpu-desired-above-max",
    ),
    pytest.param(
        lambda c: c[SYSTEM].update(minSize="2"),
        f"{SYSTEM}.minSize",
        "2",
        "a whole number from 0 to 100",
        id="system-min-size-as-string",
    ),
    pytest.param(
        lambda c: c[SYSTEM].update(minSize=0), f"{SYSTEM}.minSize", 0, "at least 1", id="system-min-size-zero"
    ),
    pytest.param(
        lambda c: gpu0(c).update(diskSizeGiB=20),
        f"{GPU}[0].diskSizeGiB",
        20,
        "a whole number from 50 to 16384",
        id="gpu-disk-20-gib",
    ),
    # node groups: names
    pytest.param(
        lambda c: c[GPU].append(copy.deepcopy(gpu0(c))),
        f"{GPU}[1].name",
        "gpu-l4",
        "a name used by no other node group",
        id="duplicate-gpu-group-names",
    ),
    pytest.param(
        lambda c: gpu0(c).update(name="system"),
        f"{GPU}[0].name",
        "system",
        "a name used by no other node group",
        id="gpu-group-named-system",
    ),
    # network
    pytest.param(
        lambda c: c[NETWORK].update(vpcCidr="10.0.0.0/33"),
        f"{NETWORK}.vpcCidr",
        "10.0.0.0/33",
        "an IPv4 CIDR block",
        id="vpc-cidr-prefix-33",
    ),
    pytest.param(
        lambda c: c[NETWORK].update(vpcCidr="banana"),
        f"{NETWORK}.vpcCidr",
        "banana",
        "an IPv4 CIDR block",
        id="vpc-cidr-banana",
    ),
    pytest.param(
        lambda c: c[NETWORK].update(vpcCidr="10.0.1.0/16"),
        f"{NETWORK}.vpcCidr",
        "10.0.1.0/16",
        "no host bits set",
        id="vpc-cidr-host-bits-set",
    ),
    pytest.param(
        lambda c: c[NETWORK].update(vpcCidr="10.0.0.0/8"),
        f"{NETWORK}.vpcCidr",
        "10.0.0.0/8",
        "a prefix length from /16 to /20",
        id="vpc-cidr-too-large-slash-8",
    ),
    pytest.param(
        lambda c: c[NETWORK].update(vpcCidr="10.0.0.0/24"),
        f"{NETWORK}.vpcCidr",
        "10.0.0.0/24",
        "a prefix length from /16 to /20",
        id="vpc-cidr-too-small-slash-24",
    ),
    pytest.param(
        lambda c: c[NETWORK].update(vpcCidr="8.8.0.0/16"),
        f"{NETWORK}.vpcCidr",
        "8.8.0.0/16",
        "a private range inside 10.0.0.0/8",
        id="vpc-cidr-public-range",
    ),
    pytest.param(
        lambda c: c[NETWORK].update(natGateways="two"),
        f"{NETWORK}.natGateways",
        "two",
        "one of single, perAz",
        id="nat-gateways-two",
    ),
    pytest.param(
        lambda c: c[NETWORK].update(availabilityZones=["us-east-1a", "us-east-1b", "us-east-1c"]),
        f"{NETWORK}.availabilityZones[0]",
        "us-east-1a",
        "a zone of us-west-2",
        id="zones-of-another-region",
    ),
    pytest.param(
        lambda c: c[NETWORK].update(availabilityZones=["us-west-2a", "us-west-2b"]),
        f"{NETWORK}.availabilityZones",
        ["us-west-2a", "us-west-2b"],
        "exactly 3 zones",
        id="zones-wrong-count",
    ),
    pytest.param(
        lambda c: with_existing_vpc(c, privateSubnetIds=["subnet-0123456789abcdef0"]),
        f"{NETWORK}.existingVpc.privateSubnetIds",
        ["subnet-0123456789abcdef0"],
        "at least 2 subnets",
        id="existing-vpc-one-private-subnet",
    ),
    pytest.param(
        lambda c: with_existing_vpc(c, publicSubnetIds=["subnet-xyz"]),
        f"{NETWORK}.existingVpc.publicSubnetIds[0]",
        "subnet-xyz",
        "a subnet id",
        id="existing-vpc-malformed-subnet-id",
    ),
    pytest.param(
        lambda c: with_existing_vpc(c, vpcId="vpc-123"),
        f"{NETWORK}.existingVpc.vpcId",
        "vpc-123",
        "a VPC id",
        id="existing-vpc-malformed-vpc-id",
    ),
    pytest.param(
        lambda c: c[NETWORK].update(existingVpc=copy.deepcopy(VALID_EXISTING_VPC)),
        f"{NETWORK}.vpcCidr",
        "10.0.0.0/16",
        "no value when existingVpc is set",
        id="existing-vpc-with-our-cidr",
    ),
    pytest.param(
        lambda c: c[NETWORK].update(vpcCidr="10.0.0.0/255.255.0.0"),
        f"{NETWORK}.vpcCidr",
        "10.0.0.0/255.255.0.0",
        "prefix notation",
        id="vpc-cidr-netmask-notation",
    ),
    # cluster
    pytest.param(
        lambda c: c[CLUSTER].update(endpointPublicAccessCidrs=[0]),
        f"{CLUSTER}.endpointPublicAccessCidrs[0]",
        0,
        "an IPv4 CIDR block",
        id="endpoint-cidr-a-number",
    ),
    pytest.param(
        lambda c: c[CLUSTER].update(endpointPublicAccessCidrs=["203.0.113.5"]),
        f"{CLUSTER}.endpointPublicAccessCidrs[0]",
        "203.0.113.5",
        "prefix notation",
        id="endpoint-cidr-without-prefix",
    ),
    pytest.param(
        lambda c: c[CLUSTER].update(name="genai-dev\n"),
        f"{CLUSTER}.name",
        "genai-dev\n",
        "lower-case letters",
        id="cluster-name-trailing-newline",
    ),
    pytest.param(
        lambda c: c[CLUSTER].update(logRetentionDays=True),
        f"{CLUSTER}.logRetentionDays",
        True,
        "a whole number",
        id="log-retention-a-boolean",
    ),
    pytest.param(
        lambda c: c[CLUSTER].update(endpointPublicAccessCidrs=["0.0.0.0/0", "300.1.2.0/24"]),
        f"{CLUSTER}.endpointPublicAccessCidrs[1]",
        "300.1.2.0/24",
        "an IPv4 CIDR block",
        id="endpoint-cidr-bad-entry",
    ),
    pytest.param(
        lambda c: c[CLUSTER].pop("endpointPublicAccessCidrs"),
        f"{CLUSTER}.endpointPublicAccessCidrs",
        NO_VALUE,
        "a value is required",
        id="endpoint-cidrs-missing",
    ),
    pytest.param(
        lambda c: c[CLUSTER].update(kubernetesVersion="1.28"),
        f"{CLUSTER}.kubernetesVersion",
        "1.28",
        "one of 1.32, 1.33, 1.34, 1.35, 1.36",
        id="kubernetes-version-unsupported",
    ),
    pytest.param(
        lambda c: c[CLUSTER].update(kubernetesVersion=1.35),
        f"{CLUSTER}.kubernetesVersion",
        1.35,
        "one of 1.32, 1.33, 1.34, 1.35, 1.36",
        id="kubernetes-version-as-number",
    ),
    pytest.param(
        lambda c: rename(c[CLUSTER], "kubernetesVersion", "kubernetesVersoin"),
        f"{CLUSTER}.kubernetesVersoin",
        "1.35",
        "the known keys of 'genai-eks:cluster'",
        id="misspelt-key-in-cluster",
    ),
    pytest.param(
        lambda c: c[CLUSTER].update(adminRoleArns=["arn:aws:iam::1234:role/admin"]),
        f"{CLUSTER}.adminRoleArns[0]",
        "arn:aws:iam::1234:role/admin",
        "an IAM role ARN",
        id="admin-role-arn-bad-account",
    ),
    pytest.param(
        lambda c: c[CLUSTER].update(logTypes=["api", "kubelet"]),
        f"{CLUSTER}.logTypes[1]",
        "kubelet",
        "one of api, audit, authenticator, controllerManager, scheduler",
        id="unknown-log-type",
    ),
    pytest.param(
        lambda c: c[CLUSTER].update(logRetentionDays=10),
        f"{CLUSTER}.logRetentionDays",
        10,
        "one of 1, 3, 5, 7, 14",
        id="log-retention-10-days",
    ),
    pytest.param(
        lambda c: c[CLUSTER].update(name="GenAI-dev"),
        f"{CLUSTER}.name",
        "GenAI-dev",
        "1 to 39 lower-case letters",
        id="cluster-name-upper-case",
    ),
    pytest.param(
        lambda c: c[CLUSTER].update(name="g" * 40),
        f"{CLUSTER}.name",
        "g" * 40,
        "1 to 39 lower-case letters",
        id="cluster-name-too-long",
    ),
    # region
    pytest.param(
        lambda c: c.update({REGION: "us-west"}), REGION, "us-west", "an AWS region name", id="region-without-number"
    ),
    pytest.param(
        lambda c: c.update({REGION: "US-WEST-2"}), REGION, "US-WEST-2", "an AWS region name", id="region-upper-case"
    ),
    pytest.param(lambda c: c.pop(REGION), REGION, NO_VALUE, "a value is required", id="region-missing"),
    # top level
    pytest.param(lambda c: c.pop(CLUSTER), CLUSTER, NO_VALUE, "a value is required", id="cluster-section-missing"),
    pytest.param(
        lambda c: rename(c, CLUSTER, "genai-eks:clustr"),
        "genai-eks:clustr",
        stack_config("dev")[CLUSTER],
        "the known keys: genai-eks:network, genai-eks:cluster",
        id="unknown-top-level-key",
    ),
    pytest.param(
        lambda c: c.update({GPU: {"name": "gpu-l4"}}),
        GPU,
        {"name": "gpu-l4"},
        "a list of GPU node groups",
        id="gpu-node-groups-not-a-list",
    ),
    # the sections that became workspaces
    pytest.param(
        lambda c: c.update({INFERENCE: {"model": "Qwen/Qwen2.5-7B-Instruct"}}),
        INFERENCE,
        {"model": "Qwen/Qwen2.5-7B-Instruct"},
        "no value: it is now an inference workspace in genai-eks:workspaces",
        id="old-inference-section",
    ),
    pytest.param(
        lambda c: c.update({FINE_TUNING: {"adapterName": "loyalty"}}),
        FINE_TUNING,
        {"adapterName": "loyalty"},
        "no value: it is now a finetune workspace in genai-eks:workspaces",
        id="old-fine-tuning-section",
    ),
    pytest.param(
        lambda c: c.update({INFERENCE: {"enabled": False}}),
        INFERENCE,
        {"enabled": False},
        "genai-eks:workspaces",
        id="old-inference-section-switched-off",
    ),
    # registries, buckets, storage
    pytest.param(
        lambda c: c[REGISTRIES].update(images=["finetune", "Rag", "chatbot"]),
        f"{REGISTRIES}.images[1]",
        "Rag",
        "a lower-case image name",
        id="image-name-upper-case",
    ),
    pytest.param(
        lambda c: c[BUCKETS].update(forceDestroy="yes"),
        f"{BUCKETS}.forceDestroy",
        "yes",
        "true or false",
        id="boolean-as-yes",
    ),
    pytest.param(
        lambda c: c.update({STORAGE: {"ebsCsiAddonVersion": "1.50"}}),
        f"{STORAGE}.ebsCsiAddonVersion",
        "1.50",
        "an EKS add-on version",
        id="ebs-csi-addon-version-malformed",
    ),
    pytest.param(
        lambda c: c[REGISTRIES].update(imageTag="latest"),
        f"{REGISTRIES}.imageTag",
        "latest",
        "a version tag",
        id="image-tag-latest",
    ),
    pytest.param(
        lambda c: c[REGISTRIES].update(imageTag="0.1.0 rc1"),
        f"{REGISTRIES}.imageTag",
        "0.1.0 rc1",
        "an image tag",
        id="image-tag-with-a-space",
    ),
    pytest.param(
        lambda c: c[REGISTRIES].update(imageTag=0.1),
        f"{REGISTRIES}.imageTag",
        0.1,
        "an image tag",
        id="image-tag-as-number",
    ),
    # secrets (declared secret here; the plain-text refusal is tested on its own)
    pytest.param(
        lambda c: c.update({HF_TOKEN: "   "}), HF_TOKEN, "[secret]", "a non-empty string", id="hugging-face-token-blank"
    ),
    pytest.param(
        lambda c: c.update({HF_TOKEN: 12345}),
        HF_TOKEN,
        "[secret]",
        "a non-empty string",
        id="hugging-face-token-a-number",
    ),
]

# One wrong type and one out-of-range or malformed value (or more) for every key of the workload
# sections, each named exactly.
BAD_WORKLOAD_VALUES = [
    # jupyterhub
    bad_value(JUPYTERHUB, "enabled", "yes", "true or false"),
    bad_value(JUPYTERHUB, "authenticator", "oauth", "one of sharedPassword, github"),
    bad_value(JUPYTERHUB, "authenticator", True, "one of sharedPassword, github"),
    bad_value(JUPYTERHUB, "public", "false", "true or false"),
    bad_value(JUPYTERHUB, "publicSourceRanges", "0.0.0.0/0", "a list"),
    bad_value(JUPYTERHUB, "publicSourceRanges", ["10.1.2.3"], "an IPv4 CIDR block", index=0),
    bad_value(JUPYTERHUB, "gpuProfile", 1, "true or false"),
    bad_value(JUPYTERHUB, "homeStorageGiB", 0, "a whole number from 1 to 16384"),
    bad_value(JUPYTERHUB, "homeStorageGiB", "20Gi", "a whole number from 1 to 16384"),
    bad_value(JUPYTERHUB, "startTimeoutSeconds", 30, "a whole number from 60 to 3600"),
    bad_value(JUPYTERHUB, "startTimeoutSeconds", 600.0, "a whole number from 60 to 3600"),
    pytest.param(
        lambda c: github_auth(c, clientId="short"),
        f"{JUPYTERHUB}.github.clientId",
        "short",
        "a GitHub OAuth app client id",
        id="jupyterhub.github.clientId-too-short",
    ),
    pytest.param(
        lambda c: github_auth(c, clientId=12345678),
        f"{JUPYTERHUB}.github.clientId",
        12345678,
        "a GitHub OAuth app client id",
        id="jupyterhub.github.clientId-a-number",
    ),
    pytest.param(
        lambda c: (github_auth(c), c[JUPYTERHUB]["github"].pop("clientId")),
        f"{JUPYTERHUB}.github.clientId",
        NO_VALUE,
        "a value is required",
        id="jupyterhub.github.clientId-missing",
    ),
    pytest.param(
        lambda c: github_auth(c, allowedOrganizations="example-org"),
        f"{JUPYTERHUB}.github.allowedOrganizations",
        "example-org",
        "a non-empty list",
        id="jupyterhub.github.allowedOrganizations-a-string",
    ),
    pytest.param(
        lambda c: github_auth(c, allowedOrganizations=[]),
        f"{JUPYTERHUB}.github.allowedOrganizations",
        [],
        "a non-empty list",
        id="jupyterhub.github.allowedOrganizations-empty",
    ),
    pytest.param(
        lambda c: github_auth(c, allowedOrganizations=["-example-org"]),
        f"{JUPYTERHUB}.github.allowedOrganizations[0]",
        "-example-org",
        "a GitHub organisation name",
        id="jupyterhub.github.allowedOrganizations-bad-name",
    ),
    # workspaces: the list and its entries
    pytest.param(
        lambda c: c.update({WORKSPACES: {"name": "llm"}}),
        WORKSPACES,
        {"name": "llm"},
        "a list of workspaces",
        id="workspaces-not-a-list",
    ),
    pytest.param(
        lambda c: c[WORKSPACES].__setitem__(0, "llm"),
        WS0,
        "llm",
        "an object (a YAML mapping)",
        id="workspace-not-an-object",
    ),
    bad_value(WS1, "name", "Loyalty", "1 to 32 lower-case letters"),
    bad_value(WS1, "name", "a" * 33, "1 to 32 lower-case letters"),
    bad_value(WS1, "name", 7, "1 to 32 lower-case letters"),
    pytest.param(
        lambda c: c[WORKSPACES][0].pop("name"),
        f"{WS0}.name",
        NO_VALUE,
        "a value is required",
        id="workspace-without-a-name",
    ),
    pytest.param(
        lambda c: c[WORKSPACES][1].update(name="llm"),
        f"{WS1}.name",
        "llm",
        "a name used by no other workspace",
        id="duplicate-workspace-names",
    ),
    pytest.param(
        add_workspace({"name": "llm", "preset": "phi-4-mini-instruct", "inference": {}}),
        f"{WORKSPACES}[2].name",
        "llm",
        "a name used by no other workspace",
        id="duplicate-workspace-names-different-models",
    ),
    pytest.param(
        lambda c: c[WORKSPACES][0].update(model=copy.deepcopy(SMALL_MODEL)),
        f"{WS0}.preset",
        "qwen2.5-7b-instruct",
        "a preset name, or a model given in full under 'model' (one of the two)",
        id="workspace-with-preset-and-model",
    ),
    pytest.param(
        lambda c: c[WORKSPACES][0].pop("preset"),
        f"{WS0}.preset",
        NO_VALUE,
        "a preset name, or a model given in full under 'model' (one of the two)",
        id="workspace-without-preset-or-model",
    ),
    pytest.param(
        lambda c: c[WORKSPACES][0].update(finetune={"runId": "1"}),
        f"{WS0}.inference",
        stack_config("dev")[WORKSPACES][0]["inference"],
        "exactly one of 'inference' or 'finetune'",
        id="workspace-with-inference-and-tuning",
    ),
    pytest.param(
        lambda c: c[WORKSPACES][1].pop("finetune"),
        f"{WS1}.inference",
        NO_VALUE,
        "exactly one of 'inference' or 'finetune'",
        id="workspace-without-inference-or-tuning",
    ),
    bad_value(WS0, "inference", "on", "an object (a YAML mapping)"),
    bad_value(WS1, "finetune", [], "an object (a YAML mapping)"),
    pytest.param(
        lambda c: (c[WORKSPACES][0].pop("preset"), c[WORKSPACES][0].update(model="Qwen/Qwen2.5-3B-Instruct")),
        f"{WS0}.model",
        "Qwen/Qwen2.5-3B-Instruct",
        "an object (a YAML mapping)",
        id="workspace-model-a-string",
    ),
    # workspaces: the preset
    bad_value(WS0, "preset", "llama-3.1-8b", "a preset from presets/models.yaml; the nearest: llama-3.1-8b-instruct"),
    bad_value(WS0, "preset", "qwen2.5-7b", "a preset from presets/models.yaml; the nearest: qwen2.5-7b-instruct"),
    bad_value(WS1, "preset", "Qwen/Qwen2.5-3B-Instruct", "the nearest: qwen2.5-7b-instruct"),
    bad_value(
        WS0, "preset", 7, "a preset from presets/models.yaml: deepseek-r1-distill-qwen-1.5b, llama-3-8b-instruct"
    ),
    # workspaces: a model given in full
    pytest.param(
        add_workspace({"name": "small", "model": {**SMALL_MODEL, "kvHeads": 3}, "inference": {}}),
        f"{WORKSPACES}[2].model.kvHeads",
        3,
        "a divisor of attentionHeads (16)",
        id="model-kv-heads-not-dividing-attention-heads",
    ),
    pytest.param(
        add_workspace(
            {"name": "small", "model": {k: v for k, v in SMALL_MODEL.items() if k != "layers"}, "inference": {}}
        ),
        f"{WORKSPACES}[2].model.layers",
        NO_VALUE,
        "a value is required",
        id="model-without-layers",
    ),
    pytest.param(
        add_workspace(
            {"name": "small", "model": {**SMALL_MODEL, "huggingFaceId": "Qwen2.5-3B-Instruct"}, "inference": {}}
        ),
        f"{WORKSPACES}[2].model.huggingFaceId",
        "Qwen2.5-3B-Instruct",
        "a Hugging Face model id",
        id="model-hugging-face-id-without-organisation",
    ),
    pytest.param(
        add_workspace({"name": "small", "model": {**SMALL_MODEL, "hiddenSize": "2048"}, "inference": {}}),
        f"{WORKSPACES}[2].model.hiddenSize",
        "2048",
        "a whole number from 64 to 65536",
        id="model-hidden-size-a-string",
    ),
    pytest.param(
        add_workspace({"name": "small", "model": {**SMALL_MODEL, "finetune": ["full"]}, "inference": {}}),
        f"{WORKSPACES}[2].model.finetune[0]",
        "full",
        "one of lora, qlora",
        id="model-unknown-tuning-method",
    ),
    pytest.param(
        add_workspace({"name": "small", "model": {**SMALL_MODEL, "contextLength": 8192}, "inference": {}}),
        f"{WORKSPACES}[2].model.contextLength",
        8192,
        "the known keys of 'genai-eks:workspaces[2].model'",
        id="model-unknown-key",
    ),
    # finetune workspace
    bad_value(LOYALTY, "runId", 1, "1 to 16 lower-case letters"),  # YAML `runId: 1` is a number
    bad_value(LOYALTY, "runId", "run_1", "1 to 16 lower-case letters"),
    bad_value(LOYALTY, "method", "full", "one of lora, qlora"),
    bad_value(LOYALTY, "method", 4, "one of lora, qlora"),
    pytest.param(
        changes(lambda c: c.update({HF_TOKEN: SECRET}), put(WS1, "preset", "gemma-3-4b-it")),
        f"{LOYALTY}.method",
        "qlora",
        "no finetune: the platform does not tune gemma-3-4b-it",
        id="finetune-a-preset-that-is-not-tuned",
    ),
    pytest.param(
        add_workspace(
            {"name": "small-lora", "model": {**SMALL_MODEL, "finetune": ["lora"]}, "finetune": {"method": "qlora"}}
        ),
        f"{WORKSPACES}[2].finetune.method",
        "qlora",
        "one of lora (what images/finetune supports for Qwen/Qwen2.5-3B-Instruct)",
        id="finetune-a-method-the-model-does-not-support",
    ),
    bad_value(LOYALTY, "trainData", "train.jsonl", "a .jsonl object key in a folder"),
    bad_value(LOYALTY, "trainData", "loyalty/train.csv", "a .jsonl object key in a folder"),
    bad_value(LOYALTY, "trainData", ["loyalty/train.jsonl"], "a .jsonl object key in a folder"),
    bad_value(LOYALTY, "validationData", "validation.jsonl", "a .jsonl object key in a folder"),
    bad_value(LOYALTY, "validationData", 5, "a .jsonl object key in a folder"),
    bad_value(LOYALTY, "hyperparameters", "fast", "an object (a YAML mapping)"),
    bad_value(LOYALTY, "backoffLimit", 21, "a whole number from 0 to 20"),
    bad_value(LOYALTY, "backoffLimit", "4", "a whole number from 0 to 20"),
    bad_value(LOYALTY, "activeDeadlineHours", 0, "a whole number from 1 to 168"),
    bad_value(LOYALTY, "activeDeadlineHours", True, "a whole number from 1 to 168"),
    bad_value(LOYALTY, "ttlHoursAfterFinished", 8761, "a whole number from 1 to 8760"),
    bad_value(LOYALTY, "ttlHoursAfterFinished", "1w", "a whole number from 1 to 8760"),
    bad_value(LOYALTY, "shmSizeGiB", 0, "a whole number from 1 to 256"),
    bad_value(LOYALTY, "shmSizeGiB", 4.5, "a whole number from 1 to 256"),
    # finetune workspace: hyperparameters
    bad_value(LOYALTY, "hyperparameters.loraR", 0, "a whole number from 1 to 256"),
    bad_value(LOYALTY, "hyperparameters.loraR", 257, "a whole number from 1 to 256"),
    bad_value(LOYALTY, "hyperparameters.loraR", "32", "a whole number from 1 to 256"),
    bad_value(LOYALTY, "hyperparameters.loraAlpha", 1025, "a whole number from 1 to 1024"),
    bad_value(LOYALTY, "hyperparameters.loraAlpha", 16.0, "a whole number from 1 to 1024"),
    bad_value(LOYALTY, "hyperparameters.loraDropout", 0.6, "a number from 0.0 to 0.5"),
    bad_value(LOYALTY, "hyperparameters.loraDropout", "0.05", "a number from 0.0 to 0.5"),
    bad_value(LOYALTY, "hyperparameters.learningRate", 0, "a number above 0.0 and at most 0.01"),
    bad_value(LOYALTY, "hyperparameters.learningRate", 0.1, "a number above 0.0 and at most 0.01"),
    # YAML 1.1 reads an unsigned exponent without a dot (2e-5 is fine, 2e5 and 1e-5 are not) as a string
    bad_value(LOYALTY, "hyperparameters.learningRate", "1e-5", "a number above 0.0 and at most 0.01"),
    bad_value(LOYALTY, "hyperparameters.maxSteps", 0, "a whole number from 1 to 1000000"),
    bad_value(LOYALTY, "hyperparameters.maxSteps", "200", "a whole number from 1 to 1000000"),
    bad_value(LOYALTY, "hyperparameters.batchSize", 513, "a whole number from 1 to 512"),
    bad_value(LOYALTY, "hyperparameters.batchSize", False, "a whole number from 1 to 512"),
    bad_value(LOYALTY, "hyperparameters.gradientAccumulationSteps", 0, "a whole number from 1 to 1024"),
    bad_value(LOYALTY, "hyperparameters.gradientAccumulationSteps", "4", "a whole number from 1 to 1024"),
    bad_value(LOYALTY, "hyperparameters.maxSequenceLength", 63, "a whole number from 64 to 131072"),
    bad_value(LOYALTY, "hyperparameters.maxSequenceLength", 1024.5, "a whole number from 64 to 131072"),
    bad_value(LOYALTY, "hyperparameters.checkpointEverySteps", 0, "a whole number from 1 to 1000000"),
    bad_value(LOYALTY, "hyperparameters.checkpointEverySteps", "50", "a whole number from 1 to 1000000"),
    # inference workspace
    bad_value(LLM, "servedModelName", "Qwen2.5", "1 to 64 lower-case letters"),
    bad_value(LLM, "servedModelName", 2.5, "1 to 64 lower-case letters"),
    bad_value(LLM, "adapters", "loyalty", "a list"),
    bad_value(LLM, "adapters", ["Loyalty"], "an adapter name", index=0),
    bad_value(LLM, "adapters", ["loyalty", "loyalty"], "a list without duplicates"),
    pytest.param(
        changes(lambda c: c.update({HF_TOKEN: SECRET}), put(WS0, "preset", "gemma-3-4b-it")),
        f"{LLM}.adapters",
        ["loyalty"],
        "an empty list: the platform serves no LoRA adapters on gemma-3-4b-it",
        id="adapters-on-a-model-that-takes-none",
    ),
    bad_value(LLM, "replicas", -1, "a whole number from 0 to 64"),
    bad_value(LLM, "replicas", "1", "a whole number from 0 to 64"),
    bad_value(LLM, "maxModelLen", 255, "a whole number from 256 to 1048576"),
    bad_value(LLM, "maxModelLen", 8192.0, "a whole number from 256 to 1048576"),
    bad_value(LLM, "maxModelLen", 32769, "at most 32768, the longest context qwen2.5-7b-instruct takes"),
    pytest.param(
        changes(put(WS0, "preset", "phi-3-mini-4k-instruct"), put(LLM, "maxModelLen", 8192)),
        f"{LLM}.maxModelLen",
        8192,
        "at most 4096, the longest context phi-3-mini-4k-instruct takes",
        id="max-model-len-above-a-short-context-preset",
    ),
    bad_value(LLM, "concurrency", 0, "a whole number from 1 to 1024"),
    bad_value(LLM, "concurrency", "4", "a whole number from 1 to 1024"),
    bad_value(LLM, "gpuMemoryUtilization", 0.99, "a number from 0.1 to 0.98"),
    bad_value(LLM, "gpuMemoryUtilization", "0.9", "a number from 0.1 to 0.98"),
    bad_value(LLM, "dtype", "float32", "one of auto, bfloat16, float16"),
    bad_value(LLM, "dtype", 16, "one of auto, bfloat16, float16"),
    bad_value(LLM, "maxLoraRank", 48, "one of 8, 16, 32, 64, 128, 256, 320, 512"),
    bad_value(LLM, "maxLoraRank", 1024, "a whole number from 8 to 512"),
    bad_value(LLM, "maxLoraRank", "64", "a whole number from 8 to 512"),
    bad_value(LLM, "shmSizeGiB", 0, "a whole number from 1 to 256"),
    bad_value(LLM, "shmSizeGiB", "2Gi", "a whole number from 1 to 256"),
    # qdrant
    bad_value(QDRANT, "enabled", "no", "true or false"),
    bad_value(QDRANT, "storageGiB", 0, "a whole number from 1 to 16384"),
    bad_value(QDRANT, "storageGiB", "20Gi", "a whole number from 1 to 16384"),
    # rag
    bad_value(RAG, "enabled", 0, "true or false"),
    bad_value(RAG, "replicas", 65, "a whole number from 0 to 64"),
    bad_value(RAG, "replicas", "1", "a whole number from 0 to 64"),
    bad_value(RAG, "collection", "my products", "a Qdrant collection name"),
    bad_value(RAG, "collection", 5, "a Qdrant collection name"),
    bad_value(RAG, "catalogPrefix", "/catalog", "a key prefix in the datasets bucket"),
    bad_value(RAG, "catalogPrefix", ["catalog"], "a key prefix in the datasets bucket"),
    bad_value(RAG, "llmBaseUrl", "api.example.com/v1", "an http(s) URL of an OpenAI-compatible API"),
    bad_value(RAG, "llmBaseUrl", 443, "an http(s) URL of an OpenAI-compatible API"),
    bad_value(RAG, "llmBaseUrl", "http://api.example.com/v1", "an https URL"),
    pytest.param(
        changes(external_llm, put(RAG, "llmModel", "gpt 4o")),
        f"{RAG}.llmModel",
        "gpt 4o",
        "a model name the LLM API serves",
        id="rag.llmModel-with-a-space",
    ),
    pytest.param(
        changes(external_llm, put(RAG, "llmModel", 4)),
        f"{RAG}.llmModel",
        4,
        "a model name the LLM API serves",
        id="rag.llmModel-a-number",
    ),
    pytest.param(
        changes(external_llm, lambda c: c[RAG].pop("llmModel")),
        f"{RAG}.llmModel",
        NO_VALUE,
        "the model name to ask for, when llmBaseUrl is set",
        id="rag.llmBaseUrl-without-llmModel",
    ),
    pytest.param(
        lambda c: c.update({RAG_API_KEY: SECRET}),
        RAG_API_KEY,
        "[secret]",
        "no value unless rag.llmBaseUrl names an external API",
        id="rag-api-key-without-llmBaseUrl",
    ),
    # chatbot
    bad_value(CHATBOT, "enabled", "on", "true or false"),
    bad_value(CHATBOT, "replicas", 65, "a whole number from 0 to 64"),
    bad_value(CHATBOT, "replicas", 1.5, "a whole number from 0 to 64"),
    bad_value(CHATBOT, "exposure", "public", "one of none, loadBalancer, ingress"),
    bad_value(CHATBOT, "exposure", True, "one of none, loadBalancer, ingress"),
    bad_value(CHATBOT, "sourceRanges", "0.0.0.0/0", "a list"),
    bad_value(CHATBOT, "sourceRanges", ["0.0.0.0"], "an IPv4 CIDR block", index=0),
    bad_value(
        CHATBOT, "tlsCertificateArn", "arn:aws:acm:us-west-2:123456789012:certificate/abc", "an ACM certificate ARN"
    ),
    bad_value(CHATBOT, "tlsCertificateArn", 42, "an ACM certificate ARN"),
    pytest.param(
        lambda c: c[CHATBOT].pop("sourceRanges"),
        f"{CHATBOT}.sourceRanges",
        [],
        "at least one CIDR when exposure is loadBalancer",
        id="chatbot-load-balancer-without-source-ranges",
    ),
    pytest.param(
        lambda c: c[CHATBOT].update(exposure="none"),
        f"{CHATBOT}.sourceRanges",
        ["0.0.0.0/0"],
        "no value unless exposure is loadBalancer",
        id="chatbot-source-ranges-without-load-balancer",
    ),
    pytest.param(
        lambda c: c.update(
            {
                CHATBOT: {
                    "tlsCertificateArn": "arn:aws:acm:us-west-2:123456789012:certificate/00000000-0000-4000-8000-000000000000"  # noqa: E501
                }
            }
        ),
        f"{CHATBOT}.tlsCertificateArn",
        "arn:aws:acm:us-west-2:123456789012:certificate/00000000-0000-4000-8000-000000000000",
        "no value unless exposure is loadBalancer",
        id="chatbot-certificate-without-load-balancer",
    ),
    pytest.param(
        lambda c: c.update({CHATBOT: {"exposure": "ingress", "ingressTlsSecret": "chat-tls"}}),
        f"{CHATBOT}.ingressHost",
        NO_VALUE,
        "a host name when exposure is ingress",
        id="chatbot-ingress-without-host",
    ),
    pytest.param(
        lambda c: c.update({CHATBOT: {"exposure": "ingress", "ingressHost": "chat.example.com"}}),
        f"{CHATBOT}.ingressTlsSecret",
        NO_VALUE,
        "a TLS Secret name when exposure is ingress",
        id="chatbot-ingress-without-tls-secret",
    ),
    pytest.param(
        lambda c: c.update(
            {CHATBOT: {"exposure": "ingress", "ingressHost": "Chat.Example.com", "ingressTlsSecret": "chat-tls"}}
        ),
        f"{CHATBOT}.ingressHost",
        "Chat.Example.com",
        "a DNS name",
        id="chatbot-ingress-host-upper-case",
    ),
    pytest.param(
        lambda c: c.update({CHATBOT: {"exposure": "ingress", "ingressHost": 5, "ingressTlsSecret": "chat-tls"}}),
        f"{CHATBOT}.ingressHost",
        5,
        "a DNS name",
        id="chatbot-ingress-host-a-number",
    ),
    pytest.param(
        lambda c: c.update(
            {CHATBOT: {"exposure": "ingress", "ingressHost": "chat.example.com", "ingressTlsSecret": "chat_tls"}}
        ),
        f"{CHATBOT}.ingressTlsSecret",
        "chat_tls",
        "a kubernetes.io/tls Secret name",
        id="chatbot-ingress-tls-secret-underscore",
    ),
    pytest.param(
        lambda c: c.update(
            {
                CHATBOT: {
                    "exposure": "ingress",
                    "ingressClass": "ALB",
                    "ingressHost": "chat.example.com",
                    "ingressTlsSecret": "chat-tls",
                }
            }
        ),
        f"{CHATBOT}.ingressClass",
        "ALB",
        "an IngressClass name",
        id="chatbot-ingress-class-upper-case",
    ),
    pytest.param(
        lambda c: c[CHATBOT].update(ingressHost="chat.example.com"),
        f"{CHATBOT}.ingressHost",
        "chat.example.com",
        "no value unless exposure is ingress",
        id="chatbot-ingress-host-with-load-balancer",
    ),
    # privateModel
    bad_value(PRIVATE_MODEL, "enabled", "yes", "true or false"),
    bad_value(PRIVATE_MODEL, "routingKey", "Private LLM", "1 to 63 lower-case letters, digits, '.' or '-'"),
    bad_value(PRIVATE_MODEL, "routingKey", "-llm", "1 to 63 lower-case letters, digits, '.' or '-'"),
    bad_value(PRIVATE_MODEL, "routingKey", 8000, "1 to 63 lower-case letters, digits, '.' or '-'"),
    bad_value(PRIVATE_MODEL, "port", 0, "a whole number from 1 to 65535"),
    bad_value(PRIVATE_MODEL, "port", 65536, "a whole number from 1 to 65535"),
    bad_value(PRIVATE_MODEL, "port", "8000", "a whole number from 1 to 65535"),
    bad_value(PRIVATE_MODEL, "servedModelName", "deepseek r1", "the model name the private server serves"),
    bad_value(PRIVATE_MODEL, "servedModelName", 1.5, "the model name the private server serves"),
    bad_value(PRIVATE_MODEL, "ragUsesPrivateModel", "no", "true or false"),
    bad_value(PRIVATE_MODEL, "skupperVersion", "2.1.3", "a Skupper 2.2 release, e.g. 2.2.1"),
    bad_value(PRIVATE_MODEL, "skupperVersion", "v2.2.1", "a Skupper 2.2 release"),
    bad_value(PRIVATE_MODEL, "skupperVersion", 2.2, "a Skupper 2.2 release"),
    # an unknown key in each section (a misspelling, or a key that belongs elsewhere)
    bad_value(JUPYTERHUB, "password", "hunter2", "the known keys of 'genai-eks:jupyterhub'"),
    pytest.param(
        lambda c: github_auth(c, team="ml"),
        f"{JUPYTERHUB}.github.team",
        "ml",
        "the known keys of 'genai-eks:jupyterhub.github': allowedOrganizations, clientId",
        id="jupyterhub.github.team-unknown",
    ),
    bad_value(
        WS0, "replicas", 2, "the known keys of 'genai-eks:workspaces[0]': finetune, inference, model, name, preset"
    ),
    bad_value(LOYALTY, "epochs", 3, "the known keys of 'genai-eks:workspaces[1].finetune'"),
    bad_value(
        LOYALTY, "hyperparameters.loraRank", 16, "the known keys of 'genai-eks:workspaces[1].finetune.hyperparameters'"
    ),
    bad_value(LLM, "maxModelLength", 4096, "the known keys of 'genai-eks:workspaces[0].inference'"),
    # keys the workspaces replaced: the workspace's name, its preset, its presence
    bad_value(LOYALTY, "adapterName", "loyalty", "the known keys of 'genai-eks:workspaces[1].finetune'"),
    bad_value(LOYALTY, "baseModel", "Qwen/Qwen2.5-7B-Instruct", "the known keys of 'genai-eks:workspaces[1].finetune'"),
    bad_value(LOYALTY, "enabled", True, "the known keys of 'genai-eks:workspaces[1].finetune'"),
    bad_value(LLM, "model", "Qwen/Qwen2.5-7B-Instruct", "the known keys of 'genai-eks:workspaces[0].inference'"),
    bad_value(LLM, "enabled", False, "the known keys of 'genai-eks:workspaces[0].inference'"),
    bad_value(QDRANT, "replicas", 3, "the known keys of 'genai-eks:qdrant'"),
    bad_value(RAG, "topK", 5, "the known keys of 'genai-eks:rag'"),
    bad_value(CHATBOT, "port", 8080, "the known keys of 'genai-eks:chatbot'"),
    bad_value(REGISTRIES, "tag", "0.1.0", "the known keys of 'genai-eks:registries'"),
    bad_value(PRIVATE_MODEL, "listenerPort", 8000, "the known keys of 'genai-eks:privateModel'"),
]

# Rules that span sections: each names the key to change.
CROSS_SECTION_RULES = [
    pytest.param(
        lambda c: c.update({PRIVATE_MODEL: {"ragUsesPrivateModel": True}}),
        f"{PRIVATE_MODEL}.ragUsesPrivateModel",
        True,
        "false unless privateModel.enabled is true",
        id="rag-uses-private-model-that-is-off",
    ),
    pytest.param(
        lambda c: (c[PRIVATE_MODEL].update(ragUsesPrivateModel=True), c[RAG].update(enabled=False)),
        f"{PRIVATE_MODEL}.ragUsesPrivateModel",
        True,
        "false unless rag.enabled is true",
        id="rag-uses-private-model-without-rag",
    ),
    pytest.param(
        lambda c: (c[PRIVATE_MODEL].update(ragUsesPrivateModel=True), external_llm(c)),
        f"{PRIVATE_MODEL}.ragUsesPrivateModel",
        True,
        "false when rag.llmBaseUrl names an external API",
        id="rag-uses-private-model-and-an-external-llm",
    ),
    pytest.param(
        lambda c: (c[PRIVATE_MODEL].update(enabled=False), no_inference(c)),
        f"{RAG}.llmBaseUrl",
        NO_VALUE,
        "(or privateModel.ragUsesPrivateModel true)",
        id="rag-without-inference-external-llm-or-private-model",
    ),
    pytest.param(
        lambda c: c.update({GITHUB_SECRET: "gh-secret-value"}),
        GITHUB_SECRET,
        "[secret]",
        "no value unless jupyterhub.authenticator is github",
        id="github-client-secret-without-github-authenticator",
    ),
    pytest.param(
        lambda c: c[JUPYTERHUB].update(github=copy.deepcopy(VALID_GITHUB)),
        f"{JUPYTERHUB}.github",
        VALID_GITHUB,
        "no value unless authenticator is github",
        id="github-section-with-shared-password",
    ),
    pytest.param(
        lambda c: c[JUPYTERHUB].update(authenticator="github"),
        f"{JUPYTERHUB}.github",
        NO_VALUE,
        "clientId and allowedOrganizations when authenticator is github",
        id="github-authenticator-without-github-section",
    ),
    pytest.param(
        lambda c: (github_auth(c), c.pop(GITHUB_SECRET)),
        GITHUB_SECRET,
        NO_VALUE,
        "a secret (pulumi config set --secret genai-eks:githubClientSecret",
        id="github-authenticator-without-client-secret",
    ),
    pytest.param(
        lambda c: c[JUPYTERHUB].update(public=True),
        f"{JUPYTERHUB}.publicSourceRanges",
        [],
        "at least one CIDR when public is true",
        id="public-jupyterhub-without-source-ranges",
    ),
    pytest.param(
        lambda c: c[JUPYTERHUB].update(publicSourceRanges=["203.0.113.0/24"]),
        f"{JUPYTERHUB}.publicSourceRanges",
        ["203.0.113.0/24"],
        "an empty list unless public is true",
        id="jupyterhub-source-ranges-when-not-public",
    ),
    pytest.param(
        lambda c: c[REGISTRIES].update(images=["rag", "chatbot"]),
        LOYALTY,
        "loyalty",
        "no finetune workspace, or 'finetune' in registries.images",
        id="finetune-workspace-without-its-image-repository",
    ),
    pytest.param(
        lambda c: c[REGISTRIES].update(images=["finetune", "chatbot"]),
        f"{RAG}.enabled",
        True,
        "false, or 'rag' in registries.images",
        id="rag-without-its-image-repository",
    ),
    pytest.param(
        lambda c: c[REGISTRIES].update(images=["finetune", "rag"]),
        f"{CHATBOT}.enabled",
        True,
        "false, or 'chatbot' in registries.images",
        id="chatbot-without-its-image-repository",
    ),
    pytest.param(
        lambda c: c.update({QDRANT: {"enabled": False}}),
        f"{RAG}.enabled",
        True,
        "false, or qdrant.enabled true",
        id="rag-without-qdrant",
    ),
    pytest.param(
        no_inference,
        f"{RAG}.llmBaseUrl",
        NO_VALUE,
        "an external LLM API URL when no workspace serves a model",
        id="rag-without-inference-or-external-llm",
    ),
    # An adapter is trained on the model of the workspace that serves it, at a rank it can load.
    pytest.param(
        put(WS1, "preset", "Qwen/Qwen2.5-Coder-7B-Instruct"),
        f"{WS1}.preset",
        "Qwen/Qwen2.5-Coder-7B-Instruct",
        "the model of workspace 'llm', Qwen/Qwen2.5-7B-Instruct: it serves adapter 'loyalty'",
        id="adapter-trained-on-another-model-than-it-is-served-on",
    ),
    pytest.param(
        put(WS1, "preset", "qwen2.5-coder-7b-instruct"),
        f"{WS1}.preset",
        "qwen2.5-coder-7b-instruct",
        "the model of workspace 'llm', Qwen/Qwen2.5-7B-Instruct: it serves adapter 'loyalty'",
        id="adapter-trained-on-another-preset-than-it-is-served-on",
    ),
    pytest.param(
        lambda c: (c[WORKSPACES][1].pop("preset"), c[WORKSPACES][1].update(model=copy.deepcopy(SMALL_MODEL))),
        f"{WS1}.model.huggingFaceId",
        "Qwen/Qwen2.5-3B-Instruct",
        "the model of workspace 'llm', Qwen/Qwen2.5-7B-Instruct: it serves adapter 'loyalty'",
        id="adapter-trained-on-a-model-given-in-full-served-on-a-preset",
    ),
    pytest.param(
        changes(
            put(WS1, "preset", "Qwen/Qwen2.5-7B-Instruct"),
            add_workspace({"name": "llm-2", "preset": "phi-4-mini-instruct", "inference": {"adapters": ["loyalty"]}}),
        ),
        f"{WS1}.preset",
        "Qwen/Qwen2.5-7B-Instruct",
        "the model of workspace 'llm-2', microsoft/Phi-4-mini-instruct: it serves adapter 'loyalty'",
        id="adapter-served-by-a-second-workspace-on-another-model",
    ),
    pytest.param(
        changes(put(LLM, "maxLoraRank", 16), put(LOYALTY, "hyperparameters.loraR", 32)),
        f"{LOYALTY}.hyperparameters.loraR",
        32,
        "at most workspace 'llm' inference.maxLoraRank (16)",
        id="lora-rank-above-max-lora-rank",
    ),
    # Gated models need the Hugging Face token.
    pytest.param(
        gated_models,
        f"{WS0}.preset",
        GATED_PRESET,
        "a model that is not gated, or a token",
        id="gated-model-without-token",
    ),
    pytest.param(
        changes(no_inference, external_llm, put(WS0, "preset", GATED_PRESET)),
        f"{WS0}.preset",
        GATED_PRESET,
        f"({GATED_MODEL} is gated)",
        id="gated-tuning-preset-without-token",
    ),
    pytest.param(
        changes(no_finetune, put(WS0, "preset", "mistral-7b-instruct")),
        f"{WS0}.preset",
        "mistral-7b-instruct",
        "pulumi config set --secret genai-eks:huggingFaceToken",
        id="gated-mistral-inference-preset-without-token",
    ),
    pytest.param(
        changes(no_finetune, put(WS0, "preset", "gemma-3-4b-it"), put(LLM, "adapters", [])),
        f"{WS0}.preset",
        "gemma-3-4b-it",
        "a model that is not gated, or a token",
        id="gated-google-inference-preset-without-token",
    ),
    pytest.param(
        changes(no_finetune, put(WS0, "preset", "meta-llama/Llama-3.1-8B-Instruct")),
        f"{WS0}.preset",
        "meta-llama/Llama-3.1-8B-Instruct",
        "a model that is not gated, or a token",
        id="gated-preset-by-hugging-face-id-without-token",
    ),
    pytest.param(
        add_workspace({"name": "small", "model": copy.deepcopy(GATED_SMALL_MODEL), "inference": {}}),
        f"{WORKSPACES}[2].model.huggingFaceId",
        "meta-llama/Llama-3.2-3B-Instruct",
        "(meta-llama/Llama-3.2-3B-Instruct is gated)",
        id="gated-model-given-in-full-without-token",
    ),
    # The GPUs the workspaces claim fit the GPU groups' maximum size.
    pytest.param(
        lambda c: (gpu0(c).update(minSize=0, desiredSize=1, maxSize=2), at(c, LLM).update(replicas=2)),
        GPU,
        ["gpu-l4"],
        "room for the workspaces' 3 GPUs (inference replicas x tensor-parallel size, one per finetune Job); "
        "their gpuLimit and maxSize allow 2",
        id="gpu-pods-do-not-fit-max-size",
    ),
    # Each workspace's replicas fit the groups it was placed on: coder fits only the four-L4 group.
    pytest.param(
        changes(four_l4_nodes, add_workspace({**CODER, "inference": {**CODER["inference"], "replicas": 3}})),
        f"{WORKSPACES}[2].inference.replicas",
        3,
        "at most 2: workspace 'coder' takes 2 GPUs a replica, and the pools that fit it (gpu-l4x4) hold 4 "
        "(gpuLimit, or maxSize nodes)",
        id="tensor-parallel-replicas-do-not-fit-their-group",
    ),
    # Each fits its own groups (llm 3 of gpu-l4's 3, coder 4 of gpu-l4x4's 4), not all of them together.
    pytest.param(
        changes(
            four_l4_nodes,
            lambda c: at(c, LLM).update(replicas=3),
            add_workspace({**CODER, "inference": {**CODER["inference"], "replicas": 2}}),
        ),
        GPU,
        ["gpu-l4", "gpu-l4x4"],
        "room for the workspaces' 8 GPUs (inference replicas x tensor-parallel size, one per finetune Job); "
        "their gpuLimit and maxSize allow 7",
        id="tensor-parallel-replicas-do-not-fit-max-size",
    ),
    pytest.param(
        lambda c: (
            gpu0(c).update(minSize=0, desiredSize=1, maxSize=2),
            c[WORKSPACES].append({**copy.deepcopy(c[WORKSPACES][1]), "name": "support"}),
        ),
        GPU,
        ["gpu-l4"],
        "room for the workspaces' 3 GPUs",
        id="two-tuning-jobs-do-not-fit-max-size",
    ),
]


@pytest.mark.parametrize("mutate, key, value, allowed", BAD_CONFIGS + BAD_WORKLOAD_VALUES + CROSS_SECTION_RULES)
def test_bad_config_is_refused(mutate: Callable[[dict[str, Any]], Any], key: str, value: Any, allowed: str) -> None:
    with pytest.raises(ConfigError) as caught:
        planned(bad(mutate), "dev", secret_keys=DECLARED_SECRETS)
    err = caught.value
    message = str(err)

    assert err.key == key
    assert message.startswith(f"config key '{key}': ")
    if value is NO_VALUE:
        assert "no value is not valid" in message
    else:
        assert err.value == value
        assert f"value {json.dumps(value)} is not valid" in message
    assert allowed in err.allowed
    assert message.endswith(f"allowed: {err.allowed}")


def test_a_misspelt_required_key_is_named_in_the_error() -> None:
    config = bad(lambda c: rename(c[SYSTEM], "minSize", "minSise"))
    with pytest.raises(ConfigError, match=r"systemNodeGroup\.minSize.*a value is required \(the section has 'minSise'"):
        parse_stack_config(config, "dev")


# --- secrets -----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(DECLARED_SECRETS))
def test_a_secret_in_plain_text_is_refused_without_showing_it(key: str) -> None:
    config = bad(lambda c: c.update({key: SECRET}))
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(config, "dev")  # no secret_keys: set without --secret

    err = caught.value
    assert err.key == key
    assert f"pulumi config set --secret {key}" in err.allowed
    assert SECRET not in str(err) and SECRET not in repr(err.value)


def test_hugging_face_token_is_accepted_as_a_secret_and_hidden() -> None:
    config = parse_stack_config(bad(lambda c: c.update({HF_TOKEN: f" {SECRET}\n"})), "dev", secret_keys={HF_TOKEN})

    assert config.hugging_face_token == SecretStr(SECRET)  # surrounding blanks dropped
    assert "hugging_face_token=SecretStr('**********')" in repr(config)
    assert SECRET not in repr(config) and SECRET not in str(config)


def test_a_misspelt_secret_key_does_not_show_its_value() -> None:
    misspelt = "genai-eks:huggingfaceToken"
    config = bad(lambda c: c.update({misspelt: SECRET}))
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(config, "dev", secret_keys={misspelt})
    assert caught.value.key == misspelt
    assert SECRET not in str(caught.value)


def test_gated_model_with_a_token_parses() -> None:
    config, plan = planned(
        bad(changes(gated_models, lambda c: c.update({HF_TOKEN: SECRET}))), "dev", secret_keys={HF_TOKEN}
    )
    (llm,), (finetune,) = plan.serving, plan.finetune
    assert finetune.model.hugging_face_id == llm.model.hugging_face_id == GATED_MODEL
    assert llm.served_model_name == GATED_PRESET
    assert config.hugging_face_token == SecretStr(SECRET)


# --- workloads that parse ----------------------------------------------------------------------


def test_github_authenticator_parses() -> None:
    config = parse_stack_config(bad(github_auth), "dev", secret_keys={GITHUB_SECRET})

    hub = config.jupyterhub
    assert hub.authenticator == "github"
    assert hub.github == GitHubAuth(client_id="Iv1.0123456789abcdef", allowed_organizations=("example-org",))
    assert config.github_client_secret == SecretStr(SECRET)
    assert SECRET not in repr(config)


def test_public_jupyterhub_parses() -> None:
    config = parse_stack_config(
        bad(lambda c: c[JUPYTERHUB].update(public=True, publicSourceRanges=["203.0.113.0/24"])), "dev"
    )
    assert config.jupyterhub.public and config.jupyterhub.public_source_ranges == ("203.0.113.0/24",)


def test_chatbot_behind_an_ingress_parses() -> None:
    chatbot = {
        "exposure": "ingress",
        "ingressClass": "alb",
        "ingressHost": "chat.example.com",
        "ingressTlsSecret": "chat-tls",
    }
    config = parse_stack_config(bad(lambda c: c.update({CHATBOT: chatbot})), "dev")
    assert config.chatbot == ChatbotConfig(
        exposure="ingress", ingress_class="alb", ingress_host="chat.example.com", ingress_tls_secret="chat-tls"
    )


def test_dev_private_model_values() -> None:
    config = parse_stack_config(stack_config("dev"), "dev")
    assert config.private_model == PrivateModelConfig(
        enabled=True,
        routing_key="private-llm",
        port=8000,
        served_model_name="deepseek-r1-distill-qwen-1.5b",
        rag_uses_private_model=False,
        skupper_version="2.2.1",
    )
    assert not parse_stack_config(stack_config("prod"), "prod").private_model.enabled


def test_rag_with_the_private_model_needs_no_inference() -> None:
    config, plan = planned(bad(lambda c: (c[PRIVATE_MODEL].update(ragUsesPrivateModel=True), no_inference(c))), "dev")
    assert config.private_model.rag_uses_private_model
    assert plan.serving == () and plan.default_llm is None


def test_rag_with_an_external_llm_needs_no_inference() -> None:
    config, plan = planned(
        bad(changes(external_llm, no_inference, lambda c: c.update({RAG_API_KEY: SECRET}))),
        "dev",
        secret_keys={RAG_API_KEY},
    )

    assert plan.serving == () and plan.default_llm is None
    assert (config.rag.llm_base_url, config.rag.llm_model) == ("https://api.example.com/v1", "gpt-4o-mini")
    assert config.rag_llm_api_key == SecretStr(SECRET)
    assert SECRET not in repr(config)


@pytest.mark.parametrize(
    "replicas, finetune, max_size",
    [
        pytest.param(2, True, 3, id="inference-2-and-job-fill-3"),
        pytest.param(2, False, 2, id="no-tuning-workspace-frees-a-gpu"),
        pytest.param(0, True, 1, id="job-only"),
    ],
)
def test_gpu_pods_that_fit_max_size_parse(replicas: int, finetune: bool, max_size: int) -> None:
    config, plan = planned(
        bad(
            lambda c: (
                gpu0(c).update(minSize=0, desiredSize=0, maxSize=max_size),
                at(c, LLM).update(replicas=replicas),
                None if finetune else no_finetune(c),
            )
        ),
        "dev",
    )
    assert plan.default_llm.config.replicas == replicas and config.gpu_node_groups[0].max_size == max_size
    assert len(plan.finetune) == (1 if finetune else 0)


def test_tensor_parallel_replicas_that_fit_max_size_parse() -> None:
    """Two replicas of two GPUs each, the L4 server and the finetune Job: 6 of the 7 GPUs."""
    _, plan = planned(
        bad(changes(four_l4_nodes, add_workspace({**CODER, "inference": {**CODER["inference"], "replicas": 2}}))), "dev"
    )
    coder = plan.serving[1]
    assert (coder.config.replicas, coder.tensor_parallel_size) == (2, 2)
    assert coder.placement.pools == ("gpu-l4x4",) and coder.placement.instance_types == ("g6.12xlarge",)


def test_an_adapter_no_workspace_serves_may_be_trained_on_any_model_and_rank() -> None:
    """The cross rules hold between a finetune workspace and the inference workspaces serving its adapter only."""
    _, plan = planned(
        bad(
            changes(
                put(LLM, "adapters", []),
                put(LLM, "maxLoraRank", 16),
                put(WS1, "preset", "qwen2.5-coder-7b-instruct"),
                put(LOYALTY, "hyperparameters.loraR", 64),
            )
        ),
        "dev",
    )
    (llm,), (finetune,) = plan.serving, plan.finetune
    assert finetune.model.hugging_face_id == "Qwen/Qwen2.5-Coder-7B-Instruct" != llm.model.hugging_face_id
    assert finetune.config.hyperparameters.rank == 64 > llm.config.max_lora_rank


# --- workspaces: presets, models given in full, and what does not fit --------------------------------


def test_a_preset_is_found_by_its_hugging_face_id() -> None:
    config = parse_stack_config(
        bad(changes(put(WS0, "preset", "Qwen/Qwen2.5-7B-Instruct"), put(WS1, "preset", "qwen/qwen2.5-7b-instruct"))),
        "dev",
    )
    llm_workspace, loyalty_workspace = config.workspaces
    assert llm_workspace.spec == loyalty_workspace.spec == model_presets()["qwen2.5-7b-instruct"]
    assert llm_workspace.served_model_name == "qwen2.5-7b-instruct"  # the preset's name, not the id
    assert llm_workspace.inference == parse_stack_config(stack_config("dev"), "dev").workspaces[0].inference


@pytest.mark.parametrize(
    "preset",
    ["phi-4-mini-instruct", "phi-3-mini-128k-instruct", "deepseek-r1-distill-qwen-1.5b", "phi-3-mini-4k-instruct"],
)
def test_an_inference_workspace_defaults_to_its_presets_context_and_name(preset: str) -> None:
    _, plan = planned(bad(add_workspace({"name": "extra", "preset": preset, "inference": {}})), "dev")
    extra = plan.serving[1]
    model = model_presets()[preset]
    assert extra.model == model
    assert extra.max_model_len == model.default_context_length
    assert extra.served_model_name == preset
    assert extra.config.adapters == ()


def test_a_model_given_in_full_parses_and_is_placed() -> None:
    _, plan = planned(
        bad(add_workspace({"name": "small", "model": copy.deepcopy(SMALL_MODEL), "inference": {}})), "dev"
    )
    small = serving = plan.serving[1]
    assert small.name == "small"
    assert (small.model.name, small.model.hugging_face_id) == ("Qwen/Qwen2.5-3B-Instruct", "Qwen/Qwen2.5-3B-Instruct")
    assert (small.model.layers, small.model.attention_heads, small.model.kv_heads) == (36, 16, 2)
    assert small.model.weight_bytes == 2 * SMALL_MODEL["parameters"]  # bf16 unless given
    assert small.model.default_context_length == 8192  # min(maxContextLength, 8192) unless given
    assert not small.model.gated and small.model.finetune == ("lora", "qlora") and small.model.lora_adapters
    assert (serving.model.hugging_face_id, serving.served_model_name, serving.max_model_len) == (
        "Qwen/Qwen2.5-3B-Instruct",
        "qwen2.5-3b-instruct",
        8192,
    )
    assert serving.tensor_parallel_size == 1
    assert serving.placement.pools == ("gpu-l4",) and serving.placement.instance_types == DEV_L4_TYPES
    # 5.7 GiB of weights: 6 + 10 GiB of scratch disk, not the 7B presets' 25.
    assert serving.placement.pod == PodShape(gpus=1, cpu=3, memory_gib=10, memory_limit_gib=14, scratch_gib=16)


def test_a_gated_model_given_in_full_parses_with_a_token() -> None:
    _, plan = planned(
        bad(
            changes(
                lambda c: c.update({HF_TOKEN: SECRET}),
                add_workspace(
                    {"name": "small", "model": copy.deepcopy(GATED_SMALL_MODEL), "inference": {"maxModelLen": 16384}}
                ),
            )
        ),
        "dev",
        secret_keys={HF_TOKEN},
    )
    small = plan.serving[1]
    assert small.model.gated and small.model.max_context_length == 131072
    assert small.max_model_len == 16384 and small.served_model_name == "llama-3.2-3b-instruct"


# The workspace too big for the stack's node groups: its need, the biggest offer and what would fit
# (the smallest instance type of each family that would host it, in the catalogue's order).
TOO_BIG = [
    pytest.param(
        changes(
            lambda c: c.update({HF_TOKEN: SECRET}),
            put(WS0, "preset", GATED_PRESET),
            put(LLM, "maxModelLen", 131072),
            put(LLM, "adapters", []),
        ),
        f"{WS0}.preset",
        GATED_PRESET,
        [
            "a model the stack's GPU pools can host",
            "workspace 'llm' (serving)",
            "needs 81.0 GiB of GPU memory on one GPU",
            "KV cache 64.0 GiB for 4 x 131072 tokens",
            "the largest GPU pool 'gpu-l4' offers g6.4xlarge: 1 x NVIDIA L4, 20.2 GiB usable per GPU",
            "g6e.12xlarge (tensor-parallel 4",
            "p5.48xlarge (tensor-parallel 2",
        ],
        # 81 GiB is more than one L40S (g6e.xlarge) holds: four of them, or eight L4s.
        ["g6.48xlarge", "g6e.12xlarge", "g5.48xlarge", "p4d.24xlarge", "p5.48xlarge"],
        id="llama-3.1-8b-with-its-whole-context-on-an-l4",
    ),
    pytest.param(
        put(LOYALTY, "method", "lora"),
        f"{WS1}.preset",
        "qwen2.5-7b-instruct",
        [
            "a model the stack's GPU pools can host",
            "workspace 'loyalty' (lora finetune)",
            "needs 24.4 GiB of GPU memory on one GPU for lora",
            "weights 14.2 GiB",
            "the largest GPU pool 'gpu-l4' offers g6.4xlarge: 1 x NVIDIA L4, 21.4 GiB usable per GPU",
        ],
        ["g6e.xlarge", "p4d.24xlarge", "p5.48xlarge"],  # training runs on one GPU: no 24 GiB card holds it
        id="qwen-lora-on-an-l4",
    ),
    pytest.param(
        lambda c: c.update({GPU: []}),
        f"{WS0}.preset",
        "qwen2.5-7b-instruct",
        [
            "workspace 'llm' (serving)",
            "needs 17.9 GiB of GPU memory on one GPU",
            "the stack has no GPU pools (gpuNodePools or gpuNodeGroups)",
        ],
        ["g6.xlarge", "g6e.xlarge", "g5.xlarge", "p4d.24xlarge", "p5.48xlarge"],
        id="no-gpu-node-groups",
    ),
    pytest.param(
        add_workspace(
            {
                "name": "small",
                "model": {**SMALL_MODEL, "maxContextLength": 131072},
                "inference": {"maxModelLen": 131072, "concurrency": 8},
            }
        ),
        f"{WORKSPACES}[2].model.huggingFaceId",
        "Qwen/Qwen2.5-3B-Instruct",
        ["workspace 'small' (serving)", "needs 43.7 GiB of GPU memory on one GPU", "'gpu-l4' offers g6.4xlarge"],
        None,
        id="a-model-given-in-full",
    ),
]
_INSTANCE_TYPE = re.compile(r"\b[a-z]+\d[a-z]*\.\d*xlarge\b")


@pytest.mark.parametrize("mutate, key, value, says, fits_on", TOO_BIG)
def test_a_workspace_too_big_for_the_node_groups_is_refused_naming_what_would_fit(
    mutate: Callable[[dict[str, Any]], Any], key: str, value: Any, says: list[str], fits_on: list[str] | None
) -> None:
    with pytest.raises(ConfigError) as caught:
        planned(bad(mutate), "dev", secret_keys=DECLARED_SECRETS)
    err = caught.value
    assert err.key == key and err.value == value
    assert str(err).startswith(f"config key '{key}': value {json.dumps(value)} is not valid")
    for fragment in says:
        assert fragment in err.allowed
    assert "It would fit on: " in err.allowed
    fits = err.allowed.split("It would fit on: ", 1)[1]
    if fits_on is not None:
        assert _INSTANCE_TYPE.findall(fits) == fits_on


@pytest.mark.parametrize(
    "given, nearest",
    [
        pytest.param("llama-3.1-8b", "llama-3.1-8b-instruct", id="llama-3.1-8b"),
        pytest.param("qwen2.5-7b", "qwen2.5-7b-instruct", id="qwen2.5-7b"),
        pytest.param("Qwen2.5-Coder-7B", "qwen2.5-coder-7b-instruct", id="qwen2.5-coder-7b"),
        pytest.param("mistral-7b", "mistral-7b-instruct", id="mistral-7b"),
        pytest.param("phi-4-mini", "phi-4-mini-instruct", id="phi-4-mini"),
    ],
)
def test_an_unknown_preset_is_refused_naming_the_nearest(given: str, nearest: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(bad(put(WS0, "preset", given)), "dev")
    err = caught.value
    assert (err.key, err.value) == (f"{WS0}.preset", given)
    assert err.allowed.startswith(f"a preset from presets/models.yaml; the nearest: {nearest}")


# --- failure before registration --------------------------------------------------------------------


@pytest.mark.parametrize(
    "mutate, key",
    [
        pytest.param(put(LOYALTY, "method", "lora"), f"{WS1}.preset", id="workspace-too-big"),
        pytest.param(put(WS0, "preset", "llama-3.1-8b"), f"{WS0}.preset", id="unknown-preset"),
        pytest.param(
            lambda c: c.update({INFERENCE: {"model": "Qwen/Qwen2.5-7B-Instruct"}}),
            INFERENCE,
            id="old-inference-section",
        ),
        pytest.param(lambda c: c[WORKSPACES][0].update(finetune={}), f"{WS0}.inference", id="inference-and-tuning"),
    ],
)
def test_a_bad_workspace_fails_before_any_resource_is_registered(
    mutate: Callable[[dict[str, Any]], Any], key: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"config key '{key}'")):
        run_program("dev", bad(mutate))
    assert harness.last_monitor is not None and harness.last_monitor.registered == []


WORKLOADS = {JUPYTERHUB: "jupyterhub", QDRANT: "qdrant", RAG: "rag", CHATBOT: "chatbot", PRIVATE_MODEL: "private_model"}
# Workloads that are workspaces: switched off by having none of their kind.
WORKSPACE_KINDS = {INFERENCE: ("serving", no_inference), FINE_TUNING: ("finetune", no_finetune)}


@pytest.mark.parametrize(
    "switched_off",
    [
        pytest.param([JUPYTERHUB], id="jupyterhub"),
        pytest.param([FINE_TUNING], id="no-tuning-workspace"),
        pytest.param(
            [INFERENCE, RAG], id="no-inference-workspace-with-rag"
        ),  # alone: rag-without-inference-or-external-llm
        pytest.param([QDRANT, RAG], id="qdrant-with-rag"),  # alone: rag-without-qdrant
        pytest.param([RAG], id="rag"),
        pytest.param([CHATBOT], id="chatbot"),
        pytest.param([PRIVATE_MODEL], id="privateModel"),
        pytest.param([*WORKLOADS, *WORKSPACE_KINDS], id="all"),
    ],
)
def test_workloads_can_be_switched_off(switched_off: list[str]) -> None:
    def switch_off(c: dict[str, Any]) -> None:
        for s in switched_off:
            if s in WORKSPACE_KINDS:
                WORKSPACE_KINDS[s][1](c)
            else:
                c[s] = {"enabled": False}

    config, plan = planned(bad(switch_off), "dev")
    for section, attribute in WORKLOADS.items():
        assert getattr(config, attribute).enabled is (section not in switched_off), section
    for section, (attribute, _) in WORKSPACE_KINDS.items():
        assert bool(getattr(plan, attribute)) is (section not in switched_off), section
    assert (plan.default_llm is None) is (INFERENCE in switched_off)


# --- defaults: a missing section is the model's defaults ------------------------------------------


@pytest.mark.parametrize(
    "section, attribute, defaults",
    [
        pytest.param(section, attribute, defaults, id=section.split(":", 1)[1])
        for section, attribute, defaults in [
            (JUPYTERHUB, "jupyterhub", JupyterHubConfig()),
            (QDRANT, "qdrant", QdrantConfig()),
            (RAG, "rag", RagConfig()),
            (CHATBOT, "chatbot", ChatbotConfig()),
            (PRIVATE_MODEL, "private_model", PrivateModelConfig()),
            (REGISTRIES, "registries", RegistryConfig()),
            (BUCKETS, "buckets", BucketConfig()),
            (STORAGE, "storage", StorageConfig()),
            (NETWORK, "network", NetworkConfig()),
        ]
    ],
)
def test_a_missing_or_empty_section_parses_to_the_dataclass_defaults(
    section: str, attribute: str, defaults: Any
) -> None:
    removed = parse_stack_config(bad(lambda c: c.pop(section, None)), "dev")
    empty = parse_stack_config(bad(lambda c: c.update({section: {}})), "dev")
    assert getattr(removed, attribute) == defaults
    assert getattr(empty, attribute) == defaults


# The smallest workspaces: the default model's preset, every other key left to its default.
MINIMAL_WORKSPACES = [
    {"name": "llm", "preset": "qwen2.5-7b-instruct", "inference": {}},
    {"name": "loyalty", "preset": "qwen2.5-7b-instruct", "finetune": {}},
]


def test_a_minimal_workspace_parses_to_the_model_defaults() -> None:
    """InferenceConfig() and FinetuneConfig() are what a workspace that sets nothing but its name and
    preset gives; the context length and served name are derived from the preset."""
    config, plan = planned(bad(lambda c: c.update({WORKSPACES: copy.deepcopy(MINIMAL_WORKSPACES)})), "dev")
    llm_workspace, loyalty_workspace = config.workspaces
    assert llm_workspace.inference == InferenceConfig() and llm_workspace.finetune is None
    assert loyalty_workspace.finetune == FinetuneConfig() and loyalty_workspace.inference is None
    assert loyalty_workspace.finetune.hyperparameters == LoraHyperparameters()
    (llm,) = plan.serving
    assert llm.config.adapters == ()
    assert llm.max_model_len == model_presets()["qwen2.5-7b-instruct"].default_context_length
    assert llm.served_model_name == "qwen2.5-7b-instruct"


def test_missing_hyperparameters_parse_to_the_dataclass_defaults() -> None:
    config = parse_stack_config(bad(lambda c: at(c, LOYALTY).pop("hyperparameters")), "dev")
    assert config.workspaces[1].finetune.hyperparameters == LoraHyperparameters()


@pytest.mark.parametrize("workspaces", [pytest.param(None, id="missing"), pytest.param([], id="empty")])
def test_missing_or_empty_workspaces_parse_to_none(workspaces: list | None) -> None:
    def mutate(c: dict[str, Any]) -> None:
        c.pop(WORKSPACES) if workspaces is None else c.update({WORKSPACES: workspaces})
        external_llm(c)  # the RAG service needs an LLM

    config, plan = planned(bad(mutate), "dev")
    assert config.workspaces == () == plan.serving == plan.finetune
    assert plan.default_llm is None


def test_an_unknown_key_is_refused_naming_the_nearest_known_one() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(bad(lambda c: rename(c[CLUSTER], "kubernetesVersion", "kubernetesVersoin")), "dev")
    assert caught.value.key == f"{CLUSTER}.kubernetesVersoin"
    assert caught.value.allowed.endswith("(the nearest: kubernetesVersion)")


def test_a_secret_is_never_shown_in_an_error_about_it() -> None:
    """A secret key's own check (not the plain-text one) shows "[secret]", never the value."""
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(bad(lambda c: c.update({HF_TOKEN: "   "})), "dev", secret_keys=DECLARED_SECRETS)
    assert (caught.value.key, caught.value.value) == (HF_TOKEN, "[secret]")
