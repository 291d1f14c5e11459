"""The typed stack config: the real stack files parse, and each kind of bad value is refused
with a `ConfigError` that names the exact key, shows the value and says what is allowed."""

from __future__ import annotations

import copy
import json
from typing import Any, Callable

import pytest

from stack_config import (
    SECRET_KEYS,
    BucketConfig,
    ChatbotConfig,
    ConfigError,
    ExistingVpc,
    FineTuningConfig,
    GitHubAuth,
    GpuNodeGroupConfig,
    InferenceConfig,
    JupyterHubConfig,
    LoraHyperparameters,
    NetworkConfig,
    PrivateModelConfig,
    QdrantConfig,
    RagConfig,
    RegistryConfig,
    SecretValue,
    StorageConfig,
    parse_stack_config,
)
from tests.harness import stack_config

REGION = "aws:region"
NETWORK = "genai-eks:network"
CLUSTER = "genai-eks:cluster"
SYSTEM = "genai-eks:systemNodeGroup"
GPU = "genai-eks:gpuNodeGroups"
REGISTRIES = "genai-eks:registries"
BUCKETS = "genai-eks:buckets"
STORAGE = "genai-eks:storage"
JUPYTERHUB = "genai-eks:jupyterhub"
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
GATED_MODEL = "meta-llama/Meta-Llama-3-8B-Instruct"
VALID_GITHUB = {"clientId": "Iv1.0123456789abcdef", "allowedOrganizations": ["example-org"]}

NO_VALUE = object()  # the expected value of a missing key: the message says "no value"

VALID_EXISTING_VPC = {
    "vpcId": "vpc-0123456789abcdef0",
    "privateSubnetIds": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1", "subnet-0123456789abcdef2"],
    "publicSubnetIds": ["subnet-0123456789abcdef3", "subnet-0123456789abcdef4", "subnet-0123456789abcdef5"],
}


def dev_config() -> dict[str, Any]:
    return copy.deepcopy(stack_config("dev"))


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


def put(section: str, path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation setting `path` (dots for nested objects) in `section`, creating what is missing."""
    def mutate(c: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = c.setdefault(section, {})
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


def bad_value(section: str, path: str, value: Any, allowed: str, *, index: int | None = None,
              marks: Any = ()) -> Any:
    """A bad-config case: `value` at `section`.`path` is refused and the error names that key
    (`index`: the list entry the error names)."""
    key = f"{section}.{path}" + ("" if index is None else f"[{index}]")
    shown = value if index is None else value[index]
    return pytest.param(put(section, path, value), key, shown, allowed, marks=marks,
                        id=f"{section.split(':', 1)[1]}.{path}={json.dumps(value)}")


def github_auth(c: dict[str, Any], **github: Any) -> None:
    """JupyterHub signs in with GitHub: the github section (with `github` changes) and its secret."""
    c[JUPYTERHUB].update(authenticator="github", github={**copy.deepcopy(VALID_GITHUB), **github})
    c[GITHUB_SECRET] = SECRET


def gated_models(c: dict[str, Any]) -> None:
    c[FINE_TUNING]["baseModel"] = GATED_MODEL
    c[INFERENCE]["model"] = GATED_MODEL


def external_llm(c: dict[str, Any]) -> None:
    c[RAG].update(llmBaseUrl="https://api.example.com/v1", llmModel="gpt-4o-mini")


# --- the real stack files ----------------------------------------------------------------------

@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_real_stack_files_parse(stack: str) -> None:
    config = parse_stack_config(stack_config(stack), stack)
    assert config.cluster.name == f"genai-{stack}"
    assert config.gpu_node_groups and all(isinstance(g, GpuNodeGroupConfig) for g in config.gpu_node_groups)


def test_dev_values() -> None:
    config = parse_stack_config(stack_config("dev"), "dev")

    assert config.region == "us-west-2"
    assert config.cluster.kubernetes_version == "1.34"
    assert config.cluster.endpoint_public_access
    assert config.system_node_group.capacity_type == "ON_DEMAND"
    assert config.system_node_group.min_size == 2

    (gpu,) = config.gpu_node_groups
    assert gpu.name == "gpu-l4"
    assert gpu.capacity_type == "SPOT"
    assert gpu.instance_types == ("g6.xlarge", "g6.2xlarge", "g6.4xlarge")
    assert (gpu.min_size, gpu.desired_size, gpu.max_size) == (0, 2, 3)
    assert gpu.gpus_per_node == 1

    network = config.network
    assert network.vpc_cidr == "10.0.0.0/16"
    assert network.existing_vpc is None
    assert network.private_subnet_cidrs == ("10.0.0.0/18", "10.0.64.0/18", "10.0.128.0/18")
    assert network.public_subnet_cidrs == ("10.0.192.0/20", "10.0.208.0/20", "10.0.224.0/20")


def test_prod_values() -> None:
    config = parse_stack_config(stack_config("prod"), "prod")
    assert config.network.nat_gateways == "perAz"
    assert [g.gpus_per_node for g in config.gpu_node_groups] == [1, 4]
    assert config.cluster.admin_role_arns == ("arn:aws:iam::123456789012:role/platform-admin",)


def test_dev_workload_values() -> None:
    config = parse_stack_config(stack_config("dev"), "dev")

    assert config.registries.image_tag == "0.1.0"
    assert config.jupyterhub.authenticator == "sharedPassword" and config.jupyterhub.github is None
    assert not config.jupyterhub.public
    tuning = config.fine_tuning
    assert (tuning.adapter_name, tuning.run_id, tuning.method) == ("loyalty", "1", "qlora")
    assert tuning.train_data == "loyalty/train.jsonl"
    assert tuning.hyperparameters.rank == 32 and tuning.hyperparameters.learning_rate == 2.5e-5
    assert config.inference.model == tuning.base_model == "Qwen/Qwen2.5-7B-Instruct"
    assert config.inference.adapters == ("loyalty",)
    assert config.rag.llm_base_url is None  # the in-cluster inference service
    assert config.chatbot.exposure == "loadBalancer" and config.chatbot.source_ranges == ("0.0.0.0/0",)
    assert config.hugging_face_token is None
    # The comment in the stack file: the fine-tuning Job and the inference server hold one GPU each.
    (gpu,) = config.gpu_node_groups
    assert config.inference.replicas + 1 <= gpu.desired_size <= gpu.max_size


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
    pytest.param(lambda c: gpu0(c)["instanceTypes"].__setitem__(1, "m7i.large"),
                 f"{GPU}[0].instanceTypes[1]", "m7i.large", "an NVIDIA GPU instance type",
                 id="gpu-group-with-cpu-instance-type"),
    pytest.param(lambda c: c[SYSTEM].update(instanceTypes=["g6.xlarge"]),
                 f"{SYSTEM}.instanceTypes[0]", "g6.xlarge", "a CPU instance type",
                 id="system-group-with-gpu-instance-type"),
    pytest.param(lambda c: gpu0(c).update(instanceTypes=[]),
                 f"{GPU}[0].instanceTypes", [], "a non-empty list",
                 id="gpu-group-empty-instance-types"),
    pytest.param(lambda c: gpu0(c).update(instanceTypes=["g6.xlarge", "g6.12xlarge"]),
                 f"{GPU}[0].instanceTypes", ["g6.xlarge", "g6.12xlarge"], "the same GPU count",
                 id="gpu-group-mixed-gpu-counts"),
    pytest.param(lambda c: gpu0(c).update(capacityType="RESERVED"),
                 f"{GPU}[0].capacityType", "RESERVED", "one of ON_DEMAND, SPOT",
                 id="unknown-capacity-type"),
    # node groups: sizes
    pytest.param(lambda c: gpu0(c).update(minSize=3, desiredSize=2, maxSize=2),
                 f"{GPU}[0].minSize", 3, "at most maxSize (2)",
                 id="gpu-min-above-max"),
    pytest.param(lambda c: c[SYSTEM].update(desiredSize=1),
                 f"{SYSTEM}.desiredSize", 1, "a number from minSize (2) to maxSize (4)",
                 id="system-desired-below-min"),
    pytest.param(lambda c: gpu0(c).update(minSize=0, desiredSize=3, maxSize=2),
                 f"{GPU}[0].desiredSize", 3, "a number from minSize (0) to maxSize (2)",
                 id="gpu-desired-above-max"),
    pytest.param(lambda c: c[SYSTEM].update(minSize="2"),
                 f"{SYSTEM}.minSize", "2", "a whole number from 0 to 100",
                 id="system-min-size-as-string"),
    pytest.param(lambda c: c[SYSTEM].update(minSize=0),
                 f"{SYSTEM}.minSize", 0, "at least 1",
                 id="system-min-size-zero"),
    pytest.param(lambda c: gpu0(c).update(diskSizeGiB=20),
                 f"{GPU}[0].diskSizeGiB", 20, "a whole number from 50 to 16384",
                 id="gpu-disk-20-gib"),
    # node groups: names
    pytest.param(lambda c: c[GPU].append(copy.deepcopy(gpu0(c))),
                 f"{GPU}[1].name", "gpu-l4", "a name used by no other node group",
                 id="duplicate-gpu-group-names"),
    pytest.param(lambda c: gpu0(c).update(name="system"),
                 f"{GPU}[0].name", "system", "a name used by no other node group",
                 id="gpu-group-named-system"),
    # network
    pytest.param(lambda c: c[NETWORK].update(vpcCidr="10.0.0.0/33"),
                 f"{NETWORK}.vpcCidr", "10.0.0.0/33", "an IPv4 CIDR block",
                 id="vpc-cidr-prefix-33"),
    pytest.param(lambda c: c[NETWORK].update(vpcCidr="banana"),
                 f"{NETWORK}.vpcCidr", "banana", "an IPv4 CIDR block",
                 id="vpc-cidr-banana"),
    pytest.param(lambda c: c[NETWORK].update(vpcCidr="10.0.1.0/16"),
                 f"{NETWORK}.vpcCidr", "10.0.1.0/16", "no host bits set",
                 id="vpc-cidr-host-bits-set"),
    pytest.param(lambda c: c[NETWORK].update(vpcCidr="10.0.0.0/8"),
                 f"{NETWORK}.vpcCidr", "10.0.0.0/8", "a prefix length from /16 to /20",
                 id="vpc-cidr-too-large-slash-8"),
    pytest.param(lambda c: c[NETWORK].update(vpcCidr="10.0.0.0/24"),
                 f"{NETWORK}.vpcCidr", "10.0.0.0/24", "a prefix length from /16 to /20",
                 id="vpc-cidr-too-small-slash-24"),
    pytest.param(lambda c: c[NETWORK].update(vpcCidr="8.8.0.0/16"),
                 f"{NETWORK}.vpcCidr", "8.8.0.0/16", "a private range inside 10.0.0.0/8",
                 id="vpc-cidr-public-range"),
    pytest.param(lambda c: c[NETWORK].update(natGateways="two"),
                 f"{NETWORK}.natGateways", "two", "one of single, perAz",
                 id="nat-gateways-two"),
    pytest.param(lambda c: c[NETWORK].update(availabilityZones=["us-east-1a", "us-east-1b", "us-east-1c"]),
                 f"{NETWORK}.availabilityZones[0]", "us-east-1a", "a zone of us-west-2",
                 id="zones-of-another-region"),
    pytest.param(lambda c: c[NETWORK].update(availabilityZones=["us-west-2a", "us-west-2b"]),
                 f"{NETWORK}.availabilityZones", ["us-west-2a", "us-west-2b"], "exactly 3 zones",
                 id="zones-wrong-count"),
    pytest.param(lambda c: with_existing_vpc(c, privateSubnetIds=["subnet-0123456789abcdef0"]),
                 f"{NETWORK}.existingVpc.privateSubnetIds", ["subnet-0123456789abcdef0"], "at least 2 subnets",
                 id="existing-vpc-one-private-subnet"),
    pytest.param(lambda c: with_existing_vpc(c, publicSubnetIds=["subnet-xyz"]),
                 f"{NETWORK}.existingVpc.publicSubnetIds[0]", "subnet-xyz", "a subnet id",
                 id="existing-vpc-malformed-subnet-id"),
    pytest.param(lambda c: with_existing_vpc(c, vpcId="vpc-123"),
                 f"{NETWORK}.existingVpc.vpcId", "vpc-123", "a VPC id",
                 id="existing-vpc-malformed-vpc-id"),
    pytest.param(lambda c: c[NETWORK].update(existingVpc=copy.deepcopy(VALID_EXISTING_VPC)),
                 f"{NETWORK}.vpcCidr", "10.0.0.0/16", "no value when existingVpc is set",
                 id="existing-vpc-with-our-cidr"),
    pytest.param(lambda c: c[NETWORK].update(vpcCidr="10.0.0.0/255.255.0.0"),
                 f"{NETWORK}.vpcCidr", "10.0.0.0/255.255.0.0", "prefix notation",
                 id="vpc-cidr-netmask-notation"),
    # cluster
    pytest.param(lambda c: c[CLUSTER].update(endpointPublicAccessCidrs=[0]),
                 f"{CLUSTER}.endpointPublicAccessCidrs[0]", 0, "an IPv4 CIDR block",
                 id="endpoint-cidr-a-number"),
    pytest.param(lambda c: c[CLUSTER].update(endpointPublicAccessCidrs=["203.0.113.5"]),
                 f"{CLUSTER}.endpointPublicAccessCidrs[0]", "203.0.113.5", "prefix notation",
                 id="endpoint-cidr-without-prefix"),
    pytest.param(lambda c: c[CLUSTER].update(name="genai-dev\n"),
                 f"{CLUSTER}.name", "genai-dev\n", "lower-case letters",
                 id="cluster-name-trailing-newline"),
    pytest.param(lambda c: c[CLUSTER].update(logRetentionDays=True),
                 f"{CLUSTER}.logRetentionDays", True, "a whole number",
                 id="log-retention-a-boolean"),
    pytest.param(lambda c: c[CLUSTER].update(endpointPublicAccessCidrs=["0.0.0.0/0", "300.1.2.0/24"]),
                 f"{CLUSTER}.endpointPublicAccessCidrs[1]", "300.1.2.0/24", "an IPv4 CIDR block",
                 id="endpoint-cidr-bad-entry"),
    pytest.param(lambda c: c[CLUSTER].pop("endpointPublicAccessCidrs"),
                 f"{CLUSTER}.endpointPublicAccessCidrs", NO_VALUE, "a value is required",
                 id="endpoint-cidrs-missing"),
    pytest.param(lambda c: c[CLUSTER].update(kubernetesVersion="1.28"),
                 f"{CLUSTER}.kubernetesVersion", "1.28", "one of 1.32, 1.33, 1.34, 1.35",
                 id="kubernetes-version-unsupported"),
    pytest.param(lambda c: c[CLUSTER].update(kubernetesVersion=1.34),
                 f"{CLUSTER}.kubernetesVersion", 1.34, "one of 1.32, 1.33, 1.34, 1.35",
                 id="kubernetes-version-as-number"),
    pytest.param(lambda c: rename(c[CLUSTER], "kubernetesVersion", "kubernetesVersoin"),
                 f"{CLUSTER}.kubernetesVersoin", "1.34", "the known keys of 'genai-eks:cluster'",
                 id="misspelt-key-in-cluster"),
    pytest.param(lambda c: c[CLUSTER].update(adminRoleArns=["arn:aws:iam::1234:role/admin"]),
                 f"{CLUSTER}.adminRoleArns[0]", "arn:aws:iam::1234:role/admin", "an IAM role ARN",
                 id="admin-role-arn-bad-account"),
    pytest.param(lambda c: c[CLUSTER].update(logTypes=["api", "kubelet"]),
                 f"{CLUSTER}.logTypes[1]", "kubelet", "one of api, audit, authenticator, controllerManager, scheduler",
                 id="unknown-log-type"),
    pytest.param(lambda c: c[CLUSTER].update(logRetentionDays=10),
                 f"{CLUSTER}.logRetentionDays", 10, "one of 1, 3, 5, 7, 14",
                 id="log-retention-10-days"),
    pytest.param(lambda c: c[CLUSTER].update(name="GenAI-dev"),
                 f"{CLUSTER}.name", "GenAI-dev", "1 to 39 lower-case letters",
                 id="cluster-name-upper-case"),
    pytest.param(lambda c: c[CLUSTER].update(name="g" * 40),
                 f"{CLUSTER}.name", "g" * 40, "1 to 39 lower-case letters",
                 id="cluster-name-too-long"),
    # region
    pytest.param(lambda c: c.update({REGION: "us-west"}),
                 REGION, "us-west", "an AWS region name",
                 id="region-without-number"),
    pytest.param(lambda c: c.update({REGION: "US-WEST-2"}),
                 REGION, "US-WEST-2", "an AWS region name",
                 id="region-upper-case"),
    pytest.param(lambda c: c.pop(REGION),
                 REGION, NO_VALUE, "a value is required",
                 id="region-missing"),
    # top level
    pytest.param(lambda c: c.pop(CLUSTER),
                 CLUSTER, NO_VALUE, "a value is required",
                 id="cluster-section-missing"),
    pytest.param(lambda c: rename(c, CLUSTER, "genai-eks:clustr"),
                 "genai-eks:clustr", stack_config("dev")[CLUSTER], "the known keys: genai-eks:network, genai-eks:cluster",
                 id="unknown-top-level-key"),
    pytest.param(lambda c: c.update({GPU: {"name": "gpu-l4"}}),
                 GPU, {"name": "gpu-l4"}, "a list of GPU node groups",
                 id="gpu-node-groups-not-a-list"),
    # registries, buckets, storage
    pytest.param(lambda c: c[REGISTRIES].update(images=["finetune", "Rag", "chatbot"]),
                 f"{REGISTRIES}.images[1]", "Rag", "a lower-case image name",
                 id="image-name-upper-case"),
    pytest.param(lambda c: c[BUCKETS].update(forceDestroy="yes"),
                 f"{BUCKETS}.forceDestroy", "yes", "true or false",
                 id="boolean-as-yes"),
    pytest.param(lambda c: c.update({STORAGE: {"ebsCsiAddonVersion": "1.50"}}),
                 f"{STORAGE}.ebsCsiAddonVersion", "1.50", "an EKS add-on version",
                 id="ebs-csi-addon-version-malformed"),
    pytest.param(lambda c: c[REGISTRIES].update(imageTag="latest"),
                 f"{REGISTRIES}.imageTag", "latest", "a version tag",
                 id="image-tag-latest"),
    pytest.param(lambda c: c[REGISTRIES].update(imageTag="0.1.0 rc1"),
                 f"{REGISTRIES}.imageTag", "0.1.0 rc1", "an image tag",
                 id="image-tag-with-a-space"),
    pytest.param(lambda c: c[REGISTRIES].update(imageTag=0.1),
                 f"{REGISTRIES}.imageTag", 0.1, "an image tag",
                 id="image-tag-as-number"),
    # secrets (declared secret here; the plain-text refusal is tested on its own)
    pytest.param(lambda c: c.update({HF_TOKEN: "   "}),
                 HF_TOKEN, "[secret]", "a non-empty string",
                 id="hugging-face-token-blank"),
    pytest.param(lambda c: c.update({HF_TOKEN: 12345}),
                 HF_TOKEN, "[secret]", "a non-empty string",
                 id="hugging-face-token-a-number"),
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
    pytest.param(lambda c: github_auth(c, clientId="short"),
                 f"{JUPYTERHUB}.github.clientId", "short", "a GitHub OAuth app client id",
                 id="jupyterhub.github.clientId-too-short"),
    pytest.param(lambda c: github_auth(c, clientId=12345678),
                 f"{JUPYTERHUB}.github.clientId", 12345678, "a GitHub OAuth app client id",
                 id="jupyterhub.github.clientId-a-number"),
    pytest.param(lambda c: (github_auth(c), c[JUPYTERHUB]["github"].pop("clientId")),
                 f"{JUPYTERHUB}.github.clientId", NO_VALUE, "a value is required",
                 id="jupyterhub.github.clientId-missing"),
    pytest.param(lambda c: github_auth(c, allowedOrganizations="example-org"),
                 f"{JUPYTERHUB}.github.allowedOrganizations", "example-org", "a non-empty list",
                 id="jupyterhub.github.allowedOrganizations-a-string"),
    pytest.param(lambda c: github_auth(c, allowedOrganizations=[]),
                 f"{JUPYTERHUB}.github.allowedOrganizations", [], "a non-empty list",
                 id="jupyterhub.github.allowedOrganizations-empty"),
    pytest.param(lambda c: github_auth(c, allowedOrganizations=["-example-org"]),
                 f"{JUPYTERHUB}.github.allowedOrganizations[0]", "-example-org", "a GitHub organisation name",
                 id="jupyterhub.github.allowedOrganizations-bad-name"),
    # fineTuning
    bad_value(FINE_TUNING, "enabled", "true", "true or false"),
    bad_value(FINE_TUNING, "adapterName", "Loyalty", "1 to 32 lower-case letters"),
    bad_value(FINE_TUNING, "adapterName", "a" * 33, "1 to 32 lower-case letters"),
    bad_value(FINE_TUNING, "adapterName", 7, "1 to 32 lower-case letters"),
    bad_value(FINE_TUNING, "runId", 1, "1 to 16 lower-case letters"),  # YAML `runId: 1` is a number
    bad_value(FINE_TUNING, "runId", "run_1", "1 to 16 lower-case letters"),
    bad_value(FINE_TUNING, "baseModel", "Qwen2.5-7B-Instruct", "a Hugging Face model id"),
    bad_value(FINE_TUNING, "baseModel", 7, "a Hugging Face model id"),
    bad_value(FINE_TUNING, "method", "full", "one of lora, qlora"),
    bad_value(FINE_TUNING, "method", 4, "one of lora, qlora"),
    bad_value(FINE_TUNING, "trainData", "train.jsonl", "a .jsonl object key in a folder"),
    bad_value(FINE_TUNING, "trainData", "loyalty/train.csv", "a .jsonl object key in a folder"),
    bad_value(FINE_TUNING, "trainData", ["loyalty/train.jsonl"], "a .jsonl object key in a folder"),
    bad_value(FINE_TUNING, "validationData", "validation.jsonl", "a .jsonl object key in a folder"),
    bad_value(FINE_TUNING, "validationData", 5, "a .jsonl object key in a folder"),
    bad_value(FINE_TUNING, "hyperparameters", "fast", "an object (a YAML mapping)"),
    bad_value(FINE_TUNING, "backoffLimit", 21, "a whole number from 0 to 20"),
    bad_value(FINE_TUNING, "backoffLimit", "4", "a whole number from 0 to 20"),
    bad_value(FINE_TUNING, "activeDeadlineHours", 0, "a whole number from 1 to 168"),
    bad_value(FINE_TUNING, "activeDeadlineHours", True, "a whole number from 1 to 168"),
    bad_value(FINE_TUNING, "ttlHoursAfterFinished", 8761, "a whole number from 1 to 8760"),
    bad_value(FINE_TUNING, "ttlHoursAfterFinished", "1w", "a whole number from 1 to 8760"),
    bad_value(FINE_TUNING, "shmSizeGiB", 0, "a whole number from 1 to 256"),
    bad_value(FINE_TUNING, "shmSizeGiB", 4.5, "a whole number from 1 to 256"),
    # fineTuning.hyperparameters
    bad_value(FINE_TUNING, "hyperparameters.loraR", 0, "a whole number from 1 to 256"),
    bad_value(FINE_TUNING, "hyperparameters.loraR", 257, "a whole number from 1 to 256"),
    bad_value(FINE_TUNING, "hyperparameters.loraR", "32", "a whole number from 1 to 256"),
    bad_value(FINE_TUNING, "hyperparameters.loraAlpha", 1025, "a whole number from 1 to 1024"),
    bad_value(FINE_TUNING, "hyperparameters.loraAlpha", 16.0, "a whole number from 1 to 1024"),
    bad_value(FINE_TUNING, "hyperparameters.loraDropout", 0.6, "a number from 0.0 to 0.5"),
    bad_value(FINE_TUNING, "hyperparameters.loraDropout", "0.05", "a number from 0.0 to 0.5"),
    bad_value(FINE_TUNING, "hyperparameters.learningRate", 0, "a number above 0.0 and at most 0.01"),
    bad_value(FINE_TUNING, "hyperparameters.learningRate", 0.1, "a number above 0.0 and at most 0.01"),
    # YAML 1.1 reads an unsigned exponent without a dot (2e-5 is fine, 2e5 and 1e-5 are not) as a string
    bad_value(FINE_TUNING, "hyperparameters.learningRate", "1e-5", "a number above 0.0 and at most 0.01"),
    bad_value(FINE_TUNING, "hyperparameters.maxSteps", 0, "a whole number from 1 to 1000000"),
    bad_value(FINE_TUNING, "hyperparameters.maxSteps", "200", "a whole number from 1 to 1000000"),
    bad_value(FINE_TUNING, "hyperparameters.batchSize", 513, "a whole number from 1 to 512"),
    bad_value(FINE_TUNING, "hyperparameters.batchSize", False, "a whole number from 1 to 512"),
    bad_value(FINE_TUNING, "hyperparameters.gradientAccumulationSteps", 0, "a whole number from 1 to 1024"),
    bad_value(FINE_TUNING, "hyperparameters.gradientAccumulationSteps", "4", "a whole number from 1 to 1024"),
    bad_value(FINE_TUNING, "hyperparameters.maxSequenceLength", 63, "a whole number from 64 to 131072"),
    bad_value(FINE_TUNING, "hyperparameters.maxSequenceLength", 1024.5, "a whole number from 64 to 131072"),
    bad_value(FINE_TUNING, "hyperparameters.checkpointEverySteps", 0, "a whole number from 1 to 1000000"),
    bad_value(FINE_TUNING, "hyperparameters.checkpointEverySteps", "50", "a whole number from 1 to 1000000"),
    # inference
    bad_value(INFERENCE, "enabled", "false", "true or false"),
    bad_value(INFERENCE, "model", "meta-llama", "a Hugging Face model id"),
    bad_value(INFERENCE, "model", 7, "a Hugging Face model id"),
    bad_value(INFERENCE, "servedModelName", "Qwen2.5", "1 to 64 lower-case letters"),
    bad_value(INFERENCE, "servedModelName", 2.5, "1 to 64 lower-case letters"),
    bad_value(INFERENCE, "adapters", "loyalty", "a list"),
    bad_value(INFERENCE, "adapters", ["Loyalty"], "an adapter name", index=0),
    bad_value(INFERENCE, "adapters", ["loyalty", "loyalty"], "a list without duplicates"),
    bad_value(INFERENCE, "replicas", -1, "a whole number from 0 to 64"),
    bad_value(INFERENCE, "replicas", "1", "a whole number from 0 to 64"),
    bad_value(INFERENCE, "maxModelLen", 255, "a whole number from 256 to 1048576"),
    bad_value(INFERENCE, "maxModelLen", 8192.0, "a whole number from 256 to 1048576"),
    bad_value(INFERENCE, "gpuMemoryUtilization", 0.99, "a number from 0.1 to 0.98"),
    bad_value(INFERENCE, "gpuMemoryUtilization", "0.9", "a number from 0.1 to 0.98"),
    bad_value(INFERENCE, "dtype", "float32", "one of auto, bfloat16, float16"),
    bad_value(INFERENCE, "dtype", 16, "one of auto, bfloat16, float16"),
    bad_value(INFERENCE, "maxLoraRank", 48, "one of 8, 16, 32, 64, 128, 256, 320, 512"),
    bad_value(INFERENCE, "maxLoraRank", 1024, "a whole number from 8 to 512"),
    bad_value(INFERENCE, "maxLoraRank", "64", "a whole number from 8 to 512"),
    bad_value(INFERENCE, "shmSizeGiB", 0, "a whole number from 1 to 256"),
    bad_value(INFERENCE, "shmSizeGiB", "2Gi", "a whole number from 1 to 256"),
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
    pytest.param(changes(external_llm, put(RAG, "llmModel", "gpt 4o")),
                 f"{RAG}.llmModel", "gpt 4o", "a model name the LLM API serves",
                 id="rag.llmModel-with-a-space"),
    pytest.param(changes(external_llm, put(RAG, "llmModel", 4)),
                 f"{RAG}.llmModel", 4, "a model name the LLM API serves",
                 id="rag.llmModel-a-number"),
    pytest.param(changes(external_llm, lambda c: c[RAG].pop("llmModel")),
                 f"{RAG}.llmModel", NO_VALUE, "the model name to ask for, when llmBaseUrl is set",
                 id="rag.llmBaseUrl-without-llmModel"),
    pytest.param(lambda c: c.update({RAG_API_KEY: SECRET}),
                 RAG_API_KEY, "[secret]", "no value unless rag.llmBaseUrl names an external API",
                 id="rag-api-key-without-llmBaseUrl"),
    # chatbot
    bad_value(CHATBOT, "enabled", "on", "true or false"),
    bad_value(CHATBOT, "replicas", 65, "a whole number from 0 to 64"),
    bad_value(CHATBOT, "replicas", 1.5, "a whole number from 0 to 64"),
    bad_value(CHATBOT, "exposure", "public", "one of none, loadBalancer, ingress"),
    bad_value(CHATBOT, "exposure", True, "one of none, loadBalancer, ingress"),
    bad_value(CHATBOT, "sourceRanges", "0.0.0.0/0", "a list"),
    bad_value(CHATBOT, "sourceRanges", ["0.0.0.0"], "an IPv4 CIDR block", index=0),
    bad_value(CHATBOT, "tlsCertificateArn", "arn:aws:acm:us-west-2:123456789012:certificate/abc", "an ACM certificate ARN"),
    bad_value(CHATBOT, "tlsCertificateArn", 42, "an ACM certificate ARN"),
    pytest.param(lambda c: c[CHATBOT].pop("sourceRanges"),
                 f"{CHATBOT}.sourceRanges", [], "at least one CIDR when exposure is loadBalancer",
                 id="chatbot-load-balancer-without-source-ranges"),
    pytest.param(lambda c: c[CHATBOT].update(exposure="none"),
                 f"{CHATBOT}.sourceRanges", ["0.0.0.0/0"], "no value unless exposure is loadBalancer",
                 id="chatbot-source-ranges-without-load-balancer"),
    pytest.param(lambda c: c.update({CHATBOT: {"tlsCertificateArn": "arn:aws:acm:us-west-2:123456789012:certificate/00000000-0000-4000-8000-000000000000"}}),
                 f"{CHATBOT}.tlsCertificateArn", "arn:aws:acm:us-west-2:123456789012:certificate/00000000-0000-4000-8000-000000000000",
                 "no value unless exposure is loadBalancer",
                 id="chatbot-certificate-without-load-balancer"),
    pytest.param(lambda c: c.update({CHATBOT: {"exposure": "ingress", "ingressTlsSecret": "chat-tls"}}),
                 f"{CHATBOT}.ingressHost", NO_VALUE, "a host name when exposure is ingress",
                 id="chatbot-ingress-without-host"),
    pytest.param(lambda c: c.update({CHATBOT: {"exposure": "ingress", "ingressHost": "chat.example.com"}}),
                 f"{CHATBOT}.ingressTlsSecret", NO_VALUE, "a TLS Secret name when exposure is ingress",
                 id="chatbot-ingress-without-tls-secret"),
    pytest.param(lambda c: c.update({CHATBOT: {"exposure": "ingress", "ingressHost": "Chat.Example.com", "ingressTlsSecret": "chat-tls"}}),
                 f"{CHATBOT}.ingressHost", "Chat.Example.com", "a DNS name",
                 id="chatbot-ingress-host-upper-case"),
    pytest.param(lambda c: c.update({CHATBOT: {"exposure": "ingress", "ingressHost": 5, "ingressTlsSecret": "chat-tls"}}),
                 f"{CHATBOT}.ingressHost", 5, "a DNS name",
                 id="chatbot-ingress-host-a-number"),
    pytest.param(lambda c: c.update({CHATBOT: {"exposure": "ingress", "ingressHost": "chat.example.com", "ingressTlsSecret": "chat_tls"}}),
                 f"{CHATBOT}.ingressTlsSecret", "chat_tls", "a kubernetes.io/tls Secret name",
                 id="chatbot-ingress-tls-secret-underscore"),
    pytest.param(lambda c: c.update({CHATBOT: {"exposure": "ingress", "ingressClass": "ALB", "ingressHost": "chat.example.com", "ingressTlsSecret": "chat-tls"}}),
                 f"{CHATBOT}.ingressClass", "ALB", "an IngressClass name",
                 id="chatbot-ingress-class-upper-case"),
    pytest.param(lambda c: c[CHATBOT].update(ingressHost="chat.example.com"),
                 f"{CHATBOT}.ingressHost", "chat.example.com", "no value unless exposure is ingress",
                 id="chatbot-ingress-host-with-load-balancer"),
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
    pytest.param(lambda c: github_auth(c, team="ml"),
                 f"{JUPYTERHUB}.github.team", "ml", "the known keys of 'genai-eks:jupyterhub.github': allowedOrganizations, clientId",
                 id="jupyterhub.github.team-unknown"),
    bad_value(FINE_TUNING, "epochs", 3, "the known keys of 'genai-eks:fineTuning'"),
    bad_value(FINE_TUNING, "hyperparameters.loraRank", 16, "the known keys of 'genai-eks:fineTuning.hyperparameters'"),
    bad_value(INFERENCE, "maxModelLength", 4096, "the known keys of 'genai-eks:inference'"),
    bad_value(QDRANT, "replicas", 3, "the known keys of 'genai-eks:qdrant'"),
    bad_value(RAG, "topK", 5, "the known keys of 'genai-eks:rag'"),
    bad_value(CHATBOT, "port", 8080, "the known keys of 'genai-eks:chatbot'"),
    bad_value(REGISTRIES, "tag", "0.1.0", "the known keys of 'genai-eks:registries'"),
    bad_value(PRIVATE_MODEL, "listenerPort", 8000, "the known keys of 'genai-eks:privateModel'"),
]

# Rules that span sections: each names the key to change.
CROSS_SECTION_RULES = [
    pytest.param(lambda c: c.update({PRIVATE_MODEL: {"ragUsesPrivateModel": True}}),
                 f"{PRIVATE_MODEL}.ragUsesPrivateModel", True, "false unless privateModel.enabled is true",
                 id="rag-uses-private-model-that-is-off"),
    pytest.param(lambda c: (c[PRIVATE_MODEL].update(ragUsesPrivateModel=True), c[RAG].update(enabled=False)),
                 f"{PRIVATE_MODEL}.ragUsesPrivateModel", True, "false unless rag.enabled is true",
                 id="rag-uses-private-model-without-rag"),
    pytest.param(lambda c: (c[PRIVATE_MODEL].update(ragUsesPrivateModel=True), external_llm(c)),
                 f"{PRIVATE_MODEL}.ragUsesPrivateModel", True, "false when rag.llmBaseUrl names an external API",
                 id="rag-uses-private-model-and-an-external-llm"),
    pytest.param(lambda c: (c[PRIVATE_MODEL].update(enabled=False), c.update({INFERENCE: {"enabled": False}})),
                 f"{RAG}.llmBaseUrl", NO_VALUE, "(or privateModel.ragUsesPrivateModel true)",
                 id="rag-without-inference-external-llm-or-private-model"),
    pytest.param(lambda c: c.update({GITHUB_SECRET: "gh-secret-value"}),
                 GITHUB_SECRET, "[secret]", "no value unless jupyterhub.authenticator is github",
                 id="github-client-secret-without-github-authenticator"),
    pytest.param(lambda c: c[JUPYTERHUB].update(github=copy.deepcopy(VALID_GITHUB)),
                 f"{JUPYTERHUB}.github", VALID_GITHUB, "no value unless authenticator is github",
                 id="github-section-with-shared-password"),
    pytest.param(lambda c: c[JUPYTERHUB].update(authenticator="github"),
                 f"{JUPYTERHUB}.github", NO_VALUE, "clientId and allowedOrganizations when authenticator is github",
                 id="github-authenticator-without-github-section"),
    pytest.param(lambda c: (github_auth(c), c.pop(GITHUB_SECRET)),
                 GITHUB_SECRET, NO_VALUE, "a secret (pulumi config set --secret genai-eks:githubClientSecret",
                 id="github-authenticator-without-client-secret"),
    pytest.param(lambda c: c[JUPYTERHUB].update(public=True),
                 f"{JUPYTERHUB}.publicSourceRanges", [], "at least one CIDR when public is true",
                 id="public-jupyterhub-without-source-ranges"),
    pytest.param(lambda c: c[JUPYTERHUB].update(publicSourceRanges=["203.0.113.0/24"]),
                 f"{JUPYTERHUB}.publicSourceRanges", ["203.0.113.0/24"], "an empty list unless public is true",
                 id="jupyterhub-source-ranges-when-not-public"),
    pytest.param(lambda c: c[REGISTRIES].update(images=["rag", "chatbot"]),
                 f"{FINE_TUNING}.enabled", True, "false, or 'finetune' in registries.images",
                 id="fine-tuning-without-its-image-repository"),
    pytest.param(lambda c: c[REGISTRIES].update(images=["finetune", "chatbot"]),
                 f"{RAG}.enabled", True, "false, or 'rag' in registries.images",
                 id="rag-without-its-image-repository"),
    pytest.param(lambda c: c[REGISTRIES].update(images=["finetune", "rag"]),
                 f"{CHATBOT}.enabled", True, "false, or 'chatbot' in registries.images",
                 id="chatbot-without-its-image-repository"),
    pytest.param(lambda c: c.update({QDRANT: {"enabled": False}}),
                 f"{RAG}.enabled", True, "false, or qdrant.enabled true",
                 id="rag-without-qdrant"),
    pytest.param(lambda c: c.update({INFERENCE: {"enabled": False}}),
                 f"{RAG}.llmBaseUrl", NO_VALUE, "an external LLM API URL when inference.enabled is false",
                 id="rag-without-inference-or-external-llm"),
    pytest.param(lambda c: c[FINE_TUNING].update(baseModel="Qwen/Qwen2.5-3B-Instruct"),
                 f"{FINE_TUNING}.baseModel", "Qwen/Qwen2.5-3B-Instruct",
                 "the inference model Qwen/Qwen2.5-7B-Instruct: adapter 'loyalty' is served on top of it",
                 id="adapter-base-model-is-not-the-inference-model"),
    pytest.param(changes(put(INFERENCE, "maxLoraRank", 16), put(FINE_TUNING, "hyperparameters.loraR", 32)),
                 f"{FINE_TUNING}.hyperparameters.loraR", 32, "at most inference.maxLoraRank (16)",
                 id="lora-rank-above-max-lora-rank"),
    pytest.param(gated_models,
                 f"{FINE_TUNING}.baseModel", GATED_MODEL, "a model that is not gated, or a token",
                 id="gated-model-without-token"),
    pytest.param(lambda c: (c[FINE_TUNING].update(enabled=False), c[INFERENCE].update(model="mistralai/Mistral-7B-Instruct-v0.3")),
                 f"{INFERENCE}.model", "mistralai/Mistral-7B-Instruct-v0.3", "pulumi config set --secret genai-eks:huggingFaceToken",
                 id="gated-mistral-inference-model-without-token"),
    pytest.param(lambda c: (c[FINE_TUNING].update(enabled=False), c[INFERENCE].update(model="google/gemma-2-9b-it")),
                 f"{INFERENCE}.model", "google/gemma-2-9b-it", "a model that is not gated, or a token",
                 id="gated-google-inference-model-without-token"),
    pytest.param(lambda c: (gpu0(c).update(minSize=0, desiredSize=1, maxSize=2), c[INFERENCE].update(replicas=2)),
                 GPU, ["gpu-l4"],
                 "room for 3 one-GPU pods (inference replicas and the fine-tuning Job); their maxSize allows 2",
                 id="gpu-pods-do-not-fit-max-size"),
]


@pytest.mark.parametrize("mutate, key, value, allowed", BAD_CONFIGS + BAD_WORKLOAD_VALUES + CROSS_SECTION_RULES)
def test_bad_config_is_refused(mutate: Callable[[dict[str, Any]], Any], key: str, value: Any, allowed: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(bad(mutate), "dev", secret_keys=DECLARED_SECRETS)
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

    assert config.hugging_face_token == SecretValue(SECRET)  # surrounding blanks dropped
    assert "hugging_face_token=SecretValue()" in repr(config)
    assert SECRET not in repr(config) and SECRET not in str(config)


def test_a_misspelt_secret_key_does_not_show_its_value() -> None:
    misspelt = "genai-eks:huggingfaceToken"
    config = bad(lambda c: c.update({misspelt: SECRET}))
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(config, "dev", secret_keys={misspelt})
    assert caught.value.key == misspelt
    assert SECRET not in str(caught.value)


def test_gated_model_with_a_token_parses() -> None:
    config = parse_stack_config(bad(changes(gated_models, lambda c: c.update({HF_TOKEN: SECRET}))), "dev",
                                secret_keys={HF_TOKEN})
    assert config.fine_tuning.base_model == config.inference.model == GATED_MODEL
    assert config.hugging_face_token == SecretValue(SECRET)


# --- workloads that parse ----------------------------------------------------------------------

def test_github_authenticator_parses() -> None:
    config = parse_stack_config(bad(github_auth), "dev", secret_keys={GITHUB_SECRET})

    hub = config.jupyterhub
    assert hub.authenticator == "github"
    assert hub.github == GitHubAuth(client_id="Iv1.0123456789abcdef", allowed_organizations=("example-org",),
                                    client_secret=SecretValue(SECRET))
    assert SECRET not in repr(config)


def test_public_jupyterhub_parses() -> None:
    config = parse_stack_config(bad(lambda c: c[JUPYTERHUB].update(public=True, publicSourceRanges=["203.0.113.0/24"])), "dev")
    assert config.jupyterhub.public and config.jupyterhub.public_source_ranges == ("203.0.113.0/24",)


def test_chatbot_behind_an_ingress_parses() -> None:
    chatbot = {"exposure": "ingress", "ingressClass": "alb", "ingressHost": "chat.example.com", "ingressTlsSecret": "chat-tls"}
    config = parse_stack_config(bad(lambda c: c.update({CHATBOT: chatbot})), "dev")
    assert config.chatbot == ChatbotConfig(exposure="ingress", ingress_class="alb", ingress_host="chat.example.com",
                                           ingress_tls_secret="chat-tls")


def test_dev_private_model_values() -> None:
    config = parse_stack_config(stack_config("dev"), "dev")
    assert config.private_model == PrivateModelConfig(enabled=True, routing_key="private-llm", port=8000,
                                                      served_model_name="deepseek-r1-distill-qwen-1.5b",
                                                      rag_uses_private_model=False, skupper_version="2.2.1")
    assert not parse_stack_config(stack_config("prod"), "prod").private_model.enabled


def test_rag_with_the_private_model_needs_no_inference() -> None:
    config = parse_stack_config(bad(lambda c: (
        c[PRIVATE_MODEL].update(ragUsesPrivateModel=True), c.update({INFERENCE: {"enabled": False}}))), "dev")
    assert config.private_model.rag_uses_private_model and not config.inference.enabled


def test_rag_with_an_external_llm_needs_no_inference() -> None:
    config = parse_stack_config(
        bad(changes(external_llm, lambda c: c.update({INFERENCE: {"enabled": False}, RAG_API_KEY: SECRET}))),
        "dev", secret_keys={RAG_API_KEY})

    assert not config.inference.enabled
    assert (config.rag.llm_base_url, config.rag.llm_model) == ("https://api.example.com/v1", "gpt-4o-mini")
    assert config.rag.llm_api_key == SecretValue(SECRET)
    assert SECRET not in repr(config)


@pytest.mark.parametrize("replicas, fine_tuning, max_size", [
    pytest.param(2, True, 3, id="inference-2-and-job-fill-3"),
    pytest.param(2, False, 2, id="no-fine-tuning-frees-a-gpu"),
    pytest.param(0, True, 1, id="job-only"),
])
def test_gpu_pods_that_fit_max_size_parse(replicas: int, fine_tuning: bool, max_size: int) -> None:
    config = parse_stack_config(bad(lambda c: (
        gpu0(c).update(minSize=0, desiredSize=0, maxSize=max_size),
        c[INFERENCE].update(replicas=replicas),
        c[FINE_TUNING].update(enabled=fine_tuning),
    )), "dev")
    assert config.inference.replicas == replicas and config.gpu_node_groups[0].max_size == max_size


WORKLOADS = {JUPYTERHUB: "jupyterhub", FINE_TUNING: "fine_tuning", INFERENCE: "inference",
             QDRANT: "qdrant", RAG: "rag", CHATBOT: "chatbot", PRIVATE_MODEL: "private_model"}


@pytest.mark.parametrize("switched_off", [
    pytest.param([JUPYTERHUB], id="jupyterhub"),
    pytest.param([FINE_TUNING], id="fineTuning"),
    pytest.param([INFERENCE, RAG], id="inference-with-rag"),  # alone: rag-without-inference-or-external-llm
    pytest.param([QDRANT, RAG], id="qdrant-with-rag"),         # alone: rag-without-qdrant
    pytest.param([RAG], id="rag"),
    pytest.param([CHATBOT], id="chatbot"),
    pytest.param([PRIVATE_MODEL], id="privateModel"),
    pytest.param(list(WORKLOADS), id="all"),
])
def test_workloads_can_be_switched_off(switched_off: list[str]) -> None:
    config = parse_stack_config(bad(lambda c: c.update({s: {"enabled": False} for s in switched_off})), "dev")
    for section, attribute in WORKLOADS.items():
        assert getattr(config, attribute).enabled is (section not in switched_off), section


# --- defaults: the dataclass and the parser agree ------------------------------------------------

@pytest.mark.parametrize("section, attribute, defaults", [
    pytest.param(section, attribute, defaults, id=section.split(":", 1)[1])
    for section, attribute, defaults in [
        (JUPYTERHUB, "jupyterhub", JupyterHubConfig()),
        (FINE_TUNING, "fine_tuning", FineTuningConfig()),
        (INFERENCE, "inference", InferenceConfig()),
        (QDRANT, "qdrant", QdrantConfig()),
        (RAG, "rag", RagConfig()),
        (CHATBOT, "chatbot", ChatbotConfig()),
        (PRIVATE_MODEL, "private_model", PrivateModelConfig()),
        (REGISTRIES, "registries", RegistryConfig()),
        (BUCKETS, "buckets", BucketConfig()),
        (STORAGE, "storage", StorageConfig()),
        (NETWORK, "network", NetworkConfig()),
    ]
])
def test_a_missing_or_empty_section_parses_to_the_dataclass_defaults(section: str, attribute: str, defaults: Any) -> None:
    removed = parse_stack_config(bad(lambda c: c.pop(section, None)), "dev")
    empty = parse_stack_config(bad(lambda c: c.update({section: {}})), "dev")
    assert getattr(removed, attribute) == defaults
    assert getattr(empty, attribute) == defaults


def test_missing_hyperparameters_parse_to_the_dataclass_defaults() -> None:
    config = parse_stack_config(bad(lambda c: c[FINE_TUNING].pop("hyperparameters")), "dev")
    assert config.fine_tuning.hyperparameters == LoraHyperparameters()
