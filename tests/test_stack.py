"""The whole program, run under mocks for every stack file: what it would create, and in what order."""

from __future__ import annotations

import copy
import json
import re

import pytest

from presets.catalog import gpu_instance_catalog
from stack_config import ConfigError, parse_stack_config
from tests import harness
from tests.harness import ROOT, UNKNOWN, Graph, run_program, stack_config, walk
from tests.harness import parsed_config as parsed

K8S_PROVIDER = "pulumi:providers:kubernetes"
MNG = "eks:index:ManagedNodeGroup"


def launch_template_of(graph: Graph, group) -> dict:
    lt_id = group.inputs["launchTemplate"]["id"]
    return next(r for r in graph.of_type("aws:ec2/launchTemplate:LaunchTemplate") if r.id == lt_id).inputs


def gpu_groups(graph: Graph):
    cfg = parsed(graph)
    return {g.name: graph.one(MNG, f"nodes-{g.name}") for g in cfg.gpu_node_groups}


# --- counts and mock gaps ---------------------------------------------------------------------


def test_counts_follow_the_config(graph: Graph):
    cfg = parsed(graph)
    assert len(graph.of_type("eks:index:Cluster")) == 1
    assert len(graph.of_type(MNG)) == 1 + len(cfg.gpu_node_groups)
    assert len(graph.of_type("aws:ec2/subnet:Subnet")) == 6
    assert len(graph.of_type("aws:ec2/natGateway:NatGateway")) == (3 if cfg.network.nat_gateways == "perAz" else 1)
    assert len(graph.of_type("aws:ecr/repository:Repository")) == len(cfg.registries.images)
    assert len(graph.of_type("aws:s3/bucket:Bucket")) == 2
    charts = bool(cfg.gpu_pools) + bool(cfg.gpu_node_pools) + cfg.jupyterhub.enabled + cfg.qdrant.enabled
    assert len(graph.of_type("kubernetes:helm.sh/v4:Chart")) == charts


def test_program_evaluates_quickly(graph: Graph):
    # The goal is under 2 s on a 2-core machine; the bound leaves room for a loaded CI runner.
    assert graph.seconds < 6, f"{graph.stack}: {graph.seconds:.2f} s"


def test_no_mock_gaps_leak_into_inputs(graph: Graph):
    gaps = []
    for r in graph.resources:
        for path, value in walk(r.raw_inputs):
            if value is UNKNOWN or value is None:
                gaps.append(f"{r.type} {r.name}: {path} is {value!r}")
            elif isinstance(value, str) and re.search(r"\bNone\b|<unknown>", value):
                gaps.append(f"{r.type} {r.name}: {path} = {value[:80]!r}")
    assert not gaps, "\n".join(gaps)


def test_every_kubernetes_resource_names_the_cluster_provider(graph: Graph):
    provider = graph.one(K8S_PROVIDER)
    cluster = graph.one("eks:index:Cluster")
    assert cluster.urn in provider.property_dependencies["kubeconfig"]
    kube = [r for r in graph.resources if r.type.startswith("kubernetes:")]
    assert kube, "the program registers Kubernetes resources"
    for r in kube:
        assert r.provider_urn == provider.urn, f"{r.type} {r.name} uses provider {r.provider!r}"


def test_exports(graph: Graph):
    cfg = parsed(graph)
    value, secret = graph.exports["kubeconfig"]
    assert secret, "the kubeconfig is exported as a secret"
    assert json.loads(value)["clusters"][0]["name"] == cfg.cluster.name
    assert graph.exports["clusterName"][0] == cfg.cluster.name
    assert graph.exports["region"][0] == cfg.region
    assert set(graph.exports["imageRepositories"][0]) == set(cfg.registries.images)
    for key in ("datasetsBucket", "modelAssetsBucket"):
        assert not graph.exports[key][1]
        assert graph.exports[key][0] in {b.inputs["bucket"] for b in graph.of_type("aws:s3/bucket:Bucket")}


# --- the cluster ------------------------------------------------------------------------------


def test_cluster_control_plane(graph: Graph):
    cfg = parsed(graph).cluster
    cluster = graph.one("eks:index:Cluster")
    i = cluster.inputs
    assert i["name"] == cfg.name
    assert i["version"] == cfg.kubernetes_version and float(cfg.kubernetes_version) >= 1.32
    assert i["authenticationMode"] == "API"
    assert i["createOidcProvider"] is True
    assert i["skipDefaultNodeGroup"] is True
    assert i["endpointPrivateAccess"] is True
    assert i["endpointPublicAccess"] is bool(cfg.endpoint_public_access_cidrs)
    assert i.get("publicAccessCidrs", []) == list(cfg.endpoint_public_access_cidrs)
    assert i["enabledClusterLogTypes"] == list(cfg.log_types)
    assert i["vpcCniOptions"]["enableNetworkPolicy"] is True
    key = graph.one("aws:kms/key:Key", "cluster-secrets")
    assert key.inputs["enableKeyRotation"] is True
    assert i["encryptionConfigKeyArn"].endswith(f"key/{key.id}")
    log_group = graph.one("aws:cloudwatch/logGroup:LogGroup")
    assert log_group.inputs["name"] == f"/aws/eks/{cfg.name}/cluster"
    assert log_group.inputs["retentionInDays"] == cfg.log_retention_days
    assert log_group.urn in cluster.dependencies, "the log group exists before EKS writes to it"


def test_cluster_runs_in_the_private_subnets(graph: Graph):
    cluster = graph.one("eks:index:Cluster").inputs
    private = {s.id for s in graph.of_type("aws:ec2/subnet:Subnet") if "private" in s.name}
    public = {s.id for s in graph.of_type("aws:ec2/subnet:Subnet") if "public" in s.name}
    assert set(cluster["privateSubnetIds"]) == private
    assert set(cluster["publicSubnetIds"]) == public
    for group in graph.of_type(MNG):
        assert set(group.inputs["subnetIds"]) == private, f"{group.name} nodes stay in private subnets"


def test_admin_access_entries(graph: Graph):
    cfg = parsed(graph).cluster
    entries = graph.one("eks:index:Cluster").inputs.get("accessEntries", {})
    assert sorted(e["principalArn"] for e in entries.values()) == sorted(cfg.admin_role_arns)
    for entry in entries.values():
        (policy,) = entry["accessPolicies"].values()
        assert policy == {
            "policyArn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
            "accessScope": {"type": "cluster"},
        }


def test_prod_stack_declares_an_admin_role():
    assert parse_stack_config(stack_config("prod"), "prod").cluster.admin_role_arns


# --- node groups ------------------------------------------------------------------------------


def test_stacks_run_no_gpu_node_that_no_pod_asked_for(graph: Graph):
    # Before Karpenter the dev stack held two spot GPU nodes around the clock; now GPU nodes come from
    # the pools, launched for pending pods. A managed GPU group stays possible, by config.
    cfg = parsed(graph)
    assert cfg.gpu_node_pools and not cfg.gpu_node_groups
    gpu_groups = [g for g in graph.of_type(MNG) if g.inputs["amiType"].endswith("NVIDIA")]
    assert sum(g.inputs["scalingConfig"]["desiredSize"] for g in gpu_groups) == 0


def test_gpu_node_groups(managed_gpu: Graph):
    graph = managed_gpu
    cfg = parsed(graph)
    cluster_version = cfg.cluster.kubernetes_version
    assert cfg.gpu_node_groups and not cfg.gpu_node_pools
    assert not graph.of_type("kubernetes:karpenter.sh/v1:NodePool"), "no pools, no Karpenter"
    for group_cfg, group in zip(cfg.gpu_node_groups, gpu_groups(graph).values(), strict=True):
        i = group.inputs
        assert i["amiType"] == "AL2023_x86_64_NVIDIA"
        assert i["capacityType"] == group_cfg.capacity_type
        assert i["instanceTypes"] == list(group_cfg.instance_types)
        assert all(t in gpu_instance_catalog() for t in i["instanceTypes"])
        assert i["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}]
        assert i["labels"] == {"nvidia.com/gpu.present": "true", "genai.platform/node-pool": group_cfg.name}
        assert i["scalingConfig"] == {
            "minSize": group_cfg.min_size,
            "desiredSize": group_cfg.desired_size,
            "maxSize": group_cfg.max_size,
        }
        assert i["version"] == cluster_version, "a custom launch template needs the version passed"
        lt = launch_template_of(graph, group)
        assert lt["blockDeviceMappings"] == [
            {
                "deviceName": "/dev/xvda",
                "ebs": {
                    "volumeSize": group_cfg.disk_size_gib,
                    "volumeType": "gp3",
                    "encrypted": "true",
                    "deleteOnTermination": "true",
                },
            }
        ]
        assert lt["metadataOptions"] == {
            "httpEndpoint": "enabled",
            "httpTokens": "required",
            "httpPutResponseHopLimit": 2,
        }


def test_managed_gpu_group_is_spot_g6_from_zero(managed_gpu: Graph):
    (group,) = gpu_groups(managed_gpu).values()
    i = group.inputs
    assert i["capacityType"] == "SPOT"
    assert len(i["instanceTypes"]) >= 3 and all(t.startswith("g6.") for t in i["instanceTypes"])
    assert i["scalingConfig"]["minSize"] == 0 and i["scalingConfig"]["desiredSize"] == 2  # training + inference
    assert launch_template_of(managed_gpu, group)["blockDeviceMappings"][0]["ebs"]["volumeSize"] == 100


def test_system_node_group(graph: Graph):
    cfg = parsed(graph).system_node_group
    i = graph.one(MNG, f"nodes-{cfg.name}").inputs
    assert i["amiType"] == "AL2023_x86_64_STANDARD"
    assert i["capacityType"] == "ON_DEMAND"
    assert "taints" not in i
    assert not any(t in gpu_instance_catalog() for t in i["instanceTypes"])
    assert i["scalingConfig"]["minSize"] >= 1


def test_node_groups_join_the_cluster_with_the_node_role(graph: Graph):
    cluster = graph.one("eks:index:Cluster")
    node_role = graph.one("aws:iam/role:Role", "nodes-node")
    attachments = [
        a
        for a in graph.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if a.inputs["role"] == node_role.id or a.inputs["role"] == "nodes-node"
    ]
    assert {a.inputs["policyArn"].rsplit("/", 1)[1] for a in attachments} == {
        "AmazonEKSWorkerNodePolicy",
        "AmazonEKS_CNI_Policy",
        "AmazonEC2ContainerRegistryPullOnly",
    }
    for group in graph.of_type(MNG):
        assert group.raw_inputs["cluster"].urn == cluster.urn
        assert group.inputs["nodeRoleArn"].endswith(":role/nodes-node")
        assert all(a.urn in group.dependencies for a in attachments), "nodes wait for their role's policies"


# --- storage ----------------------------------------------------------------------------------


def test_default_storage_class_is_encrypted_gp3(graph: Graph):
    gp3 = graph.one("kubernetes:storage.k8s.io/v1:StorageClass").inputs
    assert gp3["metadata"] == {"name": "gp3", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}}
    assert gp3["provisioner"] == "ebs.csi.aws.com"
    assert gp3["parameters"] == {"type": "gp3", "encrypted": "true", "csi.storage.k8s.io/fstype": "ext4"}
    assert gp3["volumeBindingMode"] == "WaitForFirstConsumer"
    assert gp3["allowVolumeExpansion"] is True
    assert gp3["reclaimPolicy"] == "Delete"
    gp2 = graph.one("kubernetes:storage.k8s.io/v1:StorageClassPatch").inputs
    assert gp2["metadata"]["name"] == "gp2"
    assert gp2["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "false"


def test_ebs_csi_addon_has_its_own_irsa_role(graph: Graph):
    addon = graph.one("aws:eks/addon:Addon", "storage-ebs-csi")
    assert addon.inputs["addonName"] == "aws-ebs-csi-driver"
    assert re.match(r"^v\d+\.\d+\.\d+-eksbuild\.\d+$", addon.inputs["addonVersion"])
    role = graph.by_urn(next(u for u in addon.property_dependencies["serviceAccountRoleArn"]))
    assert role.type == "aws:iam/role:Role"
    assert addon.inputs["serviceAccountRoleArn"].endswith(f":role/{role.name}")
    trust = json.loads(role.inputs["assumeRolePolicy"])
    (statement,) = trust["Statement"]
    conditions = statement["Condition"]["StringEquals"]
    assert sorted(conditions.values()) == [
        "sts.amazonaws.com",
        "system:serviceaccount:kube-system:ebs-csi-controller-sa",
    ]
    attached = [
        a.inputs["policyArn"]
        for a in graph.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if a.parent == next(p.urn for p in graph.ancestors(role))
    ]
    assert attached == ["arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"]
    # The node plugin on every node, GPU ones included (tests/test_cluster_lifecycle.py renders the chart).
    assert json.loads(addon.inputs["configurationValues"])["node"] == {"tolerateAllTaints": True}


def test_ebs_csi_addon_waits_for_nodes_to_run_its_controller(graph: Graph):
    addon = graph.one("aws:eks/addon:Addon", "storage-ebs-csi")
    system = graph.one(MNG, f"nodes-{parsed(graph).system_node_group.name}")
    assert system.urn in addon.dependencies, "EKS reports the add-on ACTIVE only once its controller runs"
    for gpu in gpu_groups(graph).values():
        assert not graph.depends_on(addon, gpu), "GPU nodes may sit at zero; the add-on must not wait for them"


def test_storage_classes_wait_only_for_the_api_server(graph: Graph):
    for sc in graph.of_type("kubernetes:storage.k8s.io/v1:StorageClass"):
        for group in graph.of_type(MNG):
            assert not graph.depends_on(sc, group)


# --- the device plugin ------------------------------------------------------------------------


def test_device_plugin_is_a_pinned_chart_on_gpu_nodes(graph: Graph):
    chart = graph.one("kubernetes:helm.sh/v4:Chart", "nvidia-device-plugin").inputs
    assert chart["chart"] == "nvidia-device-plugin"
    assert chart["version"] == "0.20.0"
    assert chart["repositoryOpts"] == {"repo": "https://nvidia.github.io/k8s-device-plugin"}
    assert chart["namespace"] == "nvidia-device-plugin"
    values = chart["values"]
    assert values["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"} in values[
        "tolerations"
    ]
    # The selector must match the label the GPU node groups put on their nodes.
    for group in gpu_groups(graph).values():
        assert values["nodeSelector"].items() <= group.inputs["labels"].items()


def test_device_plugin_waits_for_its_namespace_and_the_cluster_only(graph: Graph):
    chart = graph.one("kubernetes:helm.sh/v4:Chart", "nvidia-device-plugin")
    namespace = graph.one("kubernetes:core/v1:Namespace", "nvidia-device-plugin-ns")
    provider = graph.one(K8S_PROVIDER)
    assert namespace.urn in chart.property_dependencies["namespace"]
    assert chart.provider_urn == provider.urn
    assert namespace.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    for group in graph.of_type(MNG):
        assert not graph.depends_on(chart, group), f"the device plugin does not wait for {group.name}"


def test_no_gpu_groups_means_no_device_plugin():
    config = stack_config("dev")
    config["genai-eks:gpuNodePools"] = []
    config["genai-eks:workspaces"] = []
    config["genai-eks:jupyterhub"] = {**config["genai-eks:jupyterhub"], "gpuProfile": False}
    config["genai-eks:rag"] = {"enabled": False}
    graph = run_program("dev", config)
    assert not {"nvidia-device-plugin", "karpenter"} & {r.name for r in graph.of_type("kubernetes:helm.sh/v4:Chart")}
    assert len(graph.of_type(MNG)) == 1
    assert not graph.of_type("aws:sqs/queue:Queue"), "no pools, no Karpenter"


# --- registries and buckets -------------------------------------------------------------------


def test_one_immutable_scanned_repository_per_image(graph: Graph):
    cfg = parsed(graph)
    repos = {r.inputs["name"]: r.inputs for r in graph.of_type("aws:ecr/repository:Repository")}
    assert set(repos) == {f"{cfg.cluster.name}/{image}" for image in cfg.registries.images}
    for repo in repos.values():
        assert repo["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"  # but the build cache's tag (test_images_build)
        assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
        assert repo["forceDelete"] is cfg.registries.force_delete
    policies = graph.of_type("aws:ecr/lifecyclePolicy:LifecyclePolicy")
    assert sorted(p.inputs["repository"] for p in policies) == sorted(repos)
    rules = json.loads(policies[0].inputs["policy"])["rules"]
    assert [r["selection"]["tagStatus"] for r in rules] == ["untagged", "any"], "ECR wants 'any' last"
    assert rules[1]["selection"]["countNumber"] == cfg.registries.keep_tagged_images


# Images that never run in the cluster: the private model server runs at the private site, which
# builds it there (scripts/private-host-bundle).
OFF_CLUSTER_IMAGES = {"private-model"}


def test_every_image_directory_has_a_repository():
    images = {p.parent.name for p in (ROOT / "images").glob("*/Dockerfile")} - OFF_CLUSTER_IMAGES
    cfg = parse_stack_config(stack_config("dev"), "dev")
    assert images <= set(cfg.registries.images), f"images without a repository: {images - set(cfg.registries.images)}"


def test_buckets_are_private_encrypted_versioned_and_tls_only(graph: Graph):
    cfg = parsed(graph)
    buckets = graph.of_type("aws:s3/bucket:Bucket")
    names = sorted(b.inputs["bucket"] for b in buckets)
    assert [re.sub(r"-[0-9a-f]{8}$", "", n) for n in names] == [
        f"{cfg.cluster.name}-datasets",
        f"{cfg.cluster.name}-model-assets",
    ]
    assert all(len(n) <= 63 and re.match(r"^[a-z0-9][a-z0-9-]*[a-z0-9]$", n) for n in names)

    def for_bucket(type_: str, bucket) -> dict:
        (r,) = [r for r in graph.of_type(type_) if r.inputs["bucket"] == bucket.inputs["bucket"]]
        return r

    for bucket in buckets:
        assert bucket.inputs["forceDestroy"] is cfg.buckets.force_destroy
        assert for_bucket("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", bucket).inputs | {"bucket": ""} == {
            "bucket": "",
            "blockPublicAcls": True,
            "blockPublicPolicy": True,
            "ignorePublicAcls": True,
            "restrictPublicBuckets": True,
        }
        sse = for_bucket(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", bucket
        )
        assert sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
        versioning = for_bucket("aws:s3/bucketVersioning:BucketVersioning", bucket)
        assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled"
        ownership = for_bucket("aws:s3/bucketOwnershipControls:BucketOwnershipControls", bucket)
        assert ownership.inputs["rule"]["objectOwnership"] == "BucketOwnerEnforced"
        policy_resource = for_bucket("aws:s3/bucketPolicy:BucketPolicy", bucket)
        (statement,) = json.loads(policy_resource.inputs["policy"])["Statement"]
        arn = f"arn:aws:s3:::{bucket.inputs['bucket']}"
        assert statement["Effect"] == "Deny" and statement["Principal"] == "*" and statement["Action"] == "s3:*"
        assert statement["Resource"] == [arn, f"{arn}/*"]
        assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        pab = for_bucket("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", bucket)
        assert pab.urn in policy_resource.dependencies
        lifecycle = for_bucket("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", bucket)
        (rule,) = lifecycle.inputs["rules"]
        assert rule["noncurrentVersionExpiration"]["noncurrentDays"] == cfg.buckets.noncurrent_version_expiry_days


# --- network ----------------------------------------------------------------------------------


def test_subnets_are_tagged_for_load_balancers(graph: Graph):
    cfg = parsed(graph).network
    subnets = graph.of_type("aws:ec2/subnet:Subnet")
    public = sorted((s for s in subnets if "public" in s.name), key=lambda s: s.name)
    private = sorted((s for s in subnets if "private" in s.name), key=lambda s: s.name)
    assert [s.inputs["cidrBlock"] for s in public] == list(cfg.public_subnet_cidrs)
    assert [s.inputs["cidrBlock"] for s in private] == list(cfg.private_subnet_cidrs)
    assert len({s.inputs["availabilityZone"] for s in private}) == 3
    for s in public:
        assert s.inputs["tags"]["kubernetes.io/role/elb"] == "1"
        assert s.inputs["mapPublicIpOnLaunch"] is False
    for s in private:
        assert s.inputs["tags"]["kubernetes.io/role/internal-elb"] == "1"


def test_private_subnets_route_through_nat(graph: Graph):
    cfg = parsed(graph).network
    nat_ids = {n.id for n in graph.of_type("aws:ec2/natGateway:NatGateway")}
    private_tables = [t for t in graph.of_type("aws:ec2/routeTable:RouteTable") if "private" in t.name]
    used = [t.inputs["routes"][0]["natGatewayId"] for t in private_tables]
    assert set(used) <= nat_ids and len(private_tables) == 3
    assert len(set(used)) == (3 if cfg.nat_gateways == "perAz" else 1)
    igw = graph.one("aws:ec2/internetGateway:InternetGateway")
    for nat in graph.of_type("aws:ec2/natGateway:NatGateway"):
        assert igw.urn in nat.dependencies
    endpoint = graph.one("aws:ec2/vpcEndpoint:VpcEndpoint").inputs
    assert endpoint["serviceName"] == f"com.amazonaws.{parsed(graph).region}.s3"
    assert sorted(endpoint["routeTableIds"]) == sorted(t.id for t in private_tables)


def test_existing_vpc_creates_no_network():
    config = stack_config("dev")
    config["genai-eks:network"] = {
        "existingVpc": {
            "vpcId": "vpc-0123456789abcdef0",
            "privateSubnetIds": ["subnet-0000000000000000a", "subnet-0000000000000000b"],
            "publicSubnetIds": ["subnet-0000000000000000c", "subnet-0000000000000000d"],
        }
    }
    graph = run_program("dev", config)
    created = [r for r in graph.resources if r.type.startswith("aws:ec2/") and "launchTemplate" not in r.type]
    # Only Karpenter's discovery tags: on each private subnet, and on the cluster's security group.
    assert [(r.type, r.inputs["resourceId"]) for r in created] == [
        ("aws:ec2/tag:Tag", "subnet-0000000000000000a"),
        ("aws:ec2/tag:Tag", "subnet-0000000000000000b"),
        ("aws:ec2/tag:Tag", "sg-0e5c1a57e0c1a5700"),
    ]
    cluster = graph.one("eks:index:Cluster").inputs
    assert cluster["vpcId"] == "vpc-0123456789abcdef0"
    assert cluster["privateSubnetIds"] == ["subnet-0000000000000000a", "subnet-0000000000000000b"]


# --- failure before registration --------------------------------------------------------------


def test_bad_config_fails_before_any_resource_is_registered():
    config = copy.deepcopy(stack_config("dev"))
    config["genai-eks:gpuNodePools"][0]["instanceTypes"] = ["m7i.large"]
    with pytest.raises(ConfigError, match=r"genai-eks:gpuNodePools\[0\]\.instanceTypes\[0\]"):
        run_program("dev", config)
    assert harness.last_monitor.registered == []


def test_listing_the_deployer_as_admin_fails_before_any_resource():
    config = copy.deepcopy(stack_config("prod"))
    config["genai-eks:cluster"]["adminRoleArns"] = [
        "arn:aws:iam::123456789012:role/platform-admin",
        f"arn:aws:iam::123456789012:role/{harness.DEPLOYER_ROLE}",
    ]
    with pytest.raises(ValueError, match=r"cluster\.adminRoleArns\[1\].*deploying this stack"):
        run_program("prod", config)
    assert harness.last_monitor.registered == []
