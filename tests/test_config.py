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
]


@pytest.mark.parametrize("mutate, key, value, allowed", BAD_CONFIGS)
def test_bad_config_is_refused(mutate: Callable[[dict[str, Any]], Any], key: str, value: Any, allowed: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(bad(mutate), "dev")
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
