"""Karpenter over every stack: what it is allowed, what feeds it interruptions, the NodePools and node
classes it gets, and a scheduling check that each GPU pod is provisionable by exactly the pools the
fit chose while no CPU pod can land on a GPU pool (tests/karpenter_scheduling.py models Karpenter)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra import charts
from infra.karpenter import DISCOVERY_TAG, NAMESPACE, RELEASE
from infra.karpenter_iam import INTERRUPTION_EVENT_PATTERNS, controller_policy, interruption_queue_policy
from infra.node_groups import NODE_MANAGED_POLICIES, POOL_LABEL
from presets.fit import NODE_RESERVED_DISK_GIB, scratch_gib
from presets.plan import plan_workspaces
from stack_config import ConfigError, parse_stack_config
from tests import charts as helm
from tests import crds
from tests import workload_model as wm
from tests.harness import ACCOUNT, Graph, run_program, stack_config
from tests.harness import _arn as mock_arn
from tests.harness import parsed_config as parsed
from tests.harness import planned_workspaces as planned
from tests.karpenter_scheduling import incompatibility, provisioning_pools
from workloads import finetune

NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"
NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
GPU = "nvidia.com/gpu"


def node_pools(graph: Graph) -> list[dict[str, Any]]:
    return [{"apiVersion": "karpenter.sh/v1", "kind": "NodePool", **r.inputs} for r in graph.of_type(NODE_POOL)]


def node_classes(graph: Graph) -> dict[str, dict[str, Any]]:
    return {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in graph.of_type(NODE_CLASS)}


def gpu_request(pod: wm.Pod) -> int:
    return sum(int((c.get("resources") or {}).get("limits", {}).get(GPU, 0) or 0) for c in pod.containers(init=False))


def karpenter_release(graph: Graph) -> helm.Release:
    (release,) = [r for r in helm.releases(graph) if r.chart == charts.KARPENTER.name]
    return release


# --- the scheduling check ---------------------------------------------------------------------


def test_each_gpu_pod_is_provisionable_by_exactly_the_pools_the_fit_chose(graph: Graph):
    plan = planned(graph)
    pools = node_pools(graph)
    assert {p["metadata"]["name"] for p in pools} == {p.name for p in parsed(graph).gpu_node_pools}
    # The pods' owners by name: an inference Deployment is its workspace's name, a Job finetune.job_name.
    intended = {("Deployment", ws.name): set(ws.placement.pools) for ws in plan.serving}
    intended |= {("Job", finetune.job_name(ws)): set(ws.placement.pools) for ws in plan.finetune}
    if plan.notebook_pool:
        intended[("Pod", "notebook-gpu")] = {plan.notebook_pool}
    checked = {}
    for pod in wm.pods(graph):
        if gpu_request(pod):
            checked[(pod.kind, pod.name)] = set(provisioning_pools(pod.spec, pools))
    # Every GPU workload of the stack, and only those: inference, finetune and the notebook profile.
    assert checked == intended


def test_no_cpu_pod_can_land_on_a_gpu_pool(graph: Graph):
    pools = node_pools(graph)
    cpu_pods = [pod for pod in wm.pods(graph) if not gpu_request(pod)]
    assert len(cpu_pods) >= 5
    for pod in cpu_pods:
        # DaemonSets run on every node Karpenter launches (their pods are not what it provisions for).
        if pod.kind == "DaemonSet":
            continue
        assert provisioning_pools(pod.spec, pools) == [], pod.owner


def test_the_scheduling_check_is_not_blind(dev: Graph):
    # A GPU pod that forgets its pool requirement could land on any GPU pool; one without the
    # toleration on none; the check must tell both apart from the real pods.
    (pod,) = [p for p in wm.pods(dev) if p.name == "llm" and p.kind == "Deployment"]
    pools = node_pools(dev)
    other = json.loads(json.dumps(pools[0]))
    other["metadata"]["name"] = "gpu-other"
    other["spec"]["template"]["metadata"]["labels"][POOL_LABEL] = "gpu-other"
    assert provisioning_pools(pod.spec, [*pools, other]) == ["gpu-l4"]
    loose = json.loads(json.dumps(pod.spec))
    loose["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0][
        "matchExpressions"
    ] = [
        e
        for e in loose["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
            "nodeSelectorTerms"
        ][0]["matchExpressions"]
        if e["key"] != POOL_LABEL
    ]
    assert sorted(provisioning_pools(loose, [*pools, other])) == ["gpu-l4", "gpu-other"]
    assert provisioning_pools({**pod.spec, "tolerations": []}, pools) == []


def test_the_controller_runs_on_system_nodes_only(graph: Graph):
    release = karpenter_release(graph)
    (deployment,) = [o for o in helm.render(release) if o["kind"] == "Deployment"]
    spec = deployment["spec"]["template"]["spec"]
    system = parsed(graph).system_node_group.name
    assert spec["nodeSelector"][POOL_LABEL] == system
    # The chart's own rule keeps it off any node a NodePool launched (karpenter.sh/nodepool exists there).
    (term,) = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert {"key": "karpenter.sh/nodepool", "operator": "DoesNotExist"} in term["matchExpressions"]
    assert provisioning_pools(spec, node_pools(graph)) == []
    assert deployment["spec"]["replicas"] == parsed(graph).karpenter.replicas


# --- NodePools and EC2NodeClasses -------------------------------------------------------------


def test_node_pools_follow_the_config(graph: Graph):
    cfg = parsed(graph)
    by_name = {p["metadata"]["name"]: p["spec"] for p in node_pools(graph)}
    for pool in cfg.gpu_node_pools:
        spec = by_name[pool.name]
        template = spec["template"]
        assert template["metadata"]["labels"] == {POOL_LABEL: pool.name, "nvidia.com/gpu.present": "true"}
        assert template["spec"]["taints"] == [{"key": GPU, "value": "true", "effect": "NoSchedule"}]
        requirements = {r["key"]: r for r in template["spec"]["requirements"]}
        assert requirements["node.kubernetes.io/instance-type"]["values"] == list(pool.instance_types)
        assert requirements["karpenter.sh/capacity-type"] == {
            "key": "karpenter.sh/capacity-type",
            "operator": "In",
            "values": ["spot", "on-demand"],  # spot first, on-demand when spot has none
        }
        assert template["spec"]["nodeClassRef"] == {
            "group": "karpenter.k8s.aws",
            "kind": "EC2NodeClass",
            "name": pool.name,
        }
        assert template["spec"]["expireAfter"] == pool.expire_after
        assert spec["limits"] == {GPU: str(pool.gpu_limit)}
        assert spec["disruption"] == {
            "consolidationPolicy": "WhenEmptyOrUnderutilized",
            "consolidateAfter": pool.consolidate_after,
            "budgets": [{"nodes": pool.disruption_budget}],
        }


def test_node_classes_are_encrypted_imdsv2_al2023_and_sized_from_the_fit(graph: Graph):
    cfg, plan = parsed(graph), planned(graph)
    classes = node_classes(graph)
    assert set(classes) == {p.name for p in cfg.gpu_node_pools}
    for pool in plan.node_pools:
        spec = classes[pool.name]
        assert spec["amiSelectorTerms"] == [{"alias": cfg.karpenter.ami_alias}]
        assert not cfg.karpenter.ami_alias.endswith("@latest")
        assert spec["role"] == "karpenter-node", "the node role of Karpenter's nodes, not the managed groups'"
        discovery = [{"tags": {DISCOVERY_TAG: cfg.cluster.name}}]
        assert spec["subnetSelectorTerms"] == spec["securityGroupSelectorTerms"] == discovery
        (volume,) = spec["blockDeviceMappings"]
        assert volume == {
            "deviceName": "/dev/xvda",
            "ebs": {
                "volumeSize": f"{pool.root_volume_gib}Gi",
                "volumeType": "gp3",
                "encrypted": True,
                "deleteOnTermination": True,
            },
        }
        assert spec["metadataOptions"]["httpTokens"] == "required"
        assert spec["metadataOptions"]["httpPutResponseHopLimit"] == 2  # as the managed groups
        assert spec["tags"] == {**cfg.default_tags.tags, "Name": f"{cfg.cluster.name}-{pool.name}"}


def test_root_volumes_by_hand(dev: Graph, prod: Graph):
    # qwen2.5-7b-instruct: 15.2 GB of bf16 weights -> ceil(14.2 GiB) = 15 GiB, plus the 10 GiB margin.
    qwen = next(ws for ws in planned(dev).serving if ws.name == "llm")
    assert scratch_gib(qwen.model) == 25
    assert NODE_RESERVED_DISK_GIB == 40
    # dev gpu-l4: one L4 a node, 25 GiB scratch a GPU -> 40 + 25.
    assert {p.name: p.root_volume_gib for p in planned(dev).node_pools} == {"gpu-l4": 65}
    # prod gpu-l4x4: four L4s on g6.24xlarge; llm (1 GPU, 25 GiB) may land there -> 40 + 4 x 25.
    assert {p.name: p.root_volume_gib for p in planned(prod).node_pools} == {"gpu-l4": 65, "gpu-l4x4": 140}


def test_karpenter_objects_against_their_crds_refuse_unknown_fields(dev: Graph):
    schemas = crds.index(crds.reference_crds())
    for manifest in [
        *node_pools(dev),
        *(
            {"apiVersion": "karpenter.k8s.aws/v1", "kind": "EC2NodeClass", "metadata": {"name": n}, "spec": s}
            for n, s in node_classes(dev).items()
        ),
    ]:
        assert crds.errors(manifest, schemas) == [], manifest["metadata"]["name"]
    pool = node_pools(dev)[0]
    assert crds.errors({**pool, "spec": {**pool["spec"], "consolidationPolicy": "WhenEmpty"}}, schemas)
    name, spec = next(iter(node_classes(dev).items()))
    bad = {"apiVersion": "karpenter.k8s.aws/v1", "kind": "EC2NodeClass", "metadata": {"name": name}}
    assert crds.errors({**bad, "spec": {**spec, "amiSelectorTerm": spec["amiSelectorTerms"]}}, schemas)
    # The CRD's CEL rule (x-kubernetes-validations, not checked by jsonschema): exactly one of role and
    # instanceProfile.
    assert ("role" in spec) != ("instanceProfile" in spec)


# --- identity, interruptions, discovery --------------------------------------------------------


def test_controller_role_is_upstreams_policy_for_its_one_service_account(graph: Graph):
    cfg = parsed(graph)
    role = graph.one("aws:iam/role:Role", "karpenter-controller")
    (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    sub = next(v for k, v in statement["Condition"]["StringEquals"].items() if k.endswith(":sub"))
    assert sub == f"system:serviceaccount:{NAMESPACE}:{RELEASE}"
    policy = json.loads(graph.one("aws:iam/rolePolicy:RolePolicy", "karpenter-controller").inputs["policy"])
    queue = graph.one("aws:sqs/queue:Queue", "karpenter-interruptions")
    cluster_arn = f"arn:aws:eks:{cfg.region}:{ACCOUNT}:cluster/{cfg.cluster.name}"
    assert policy == controller_policy(
        partition="aws",
        region=cfg.region,
        account_id=ACCOUNT,
        cluster_name=cfg.cluster.name,
        node_role_arn=f"arn:aws:iam::{ACCOUNT}:role/karpenter-node",
        queue_arn=mock_arn("sqs", queue.inputs["name"]),
        cluster_arn=cluster_arn,
    )
    (pass_role,) = [s for s in policy["Statement"] if "iam:PassRole" in s["Action"]]
    assert pass_role["Resource"] == f"arn:aws:iam::{ACCOUNT}:role/karpenter-node"


def test_nodes_join_with_their_own_role_as_ec2_linux(graph: Graph):
    node_role = graph.one("aws:iam/role:Role", "karpenter-node")
    assert json.loads(node_role.inputs["assumeRolePolicy"])["Statement"][0]["Principal"] == {
        "Service": "ec2.amazonaws.com"
    }
    attached = {
        a.inputs["policyArn"]
        for a in graph.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if a.name.startswith("karpenter-node-")
    }
    assert attached == set(NODE_MANAGED_POLICIES)  # no SSM: nobody logs in to a GPU node
    (entry,) = graph.of_type("aws:eks/accessEntry:AccessEntry")
    assert entry.inputs["type"] == "EC2_LINUX"
    assert entry.inputs["principalArn"] == f"arn:aws:iam::{ACCOUNT}:role/karpenter-node"
    assert entry.inputs["clusterName"] == parsed(graph).cluster.name
    for pool in graph.of_type(NODE_POOL):
        assert entry.urn in pool.dependencies, "a launched node joins only once its access entry exists"


def test_interruption_queue_is_encrypted_and_fed_by_every_rule(graph: Graph):
    queue = graph.one("aws:sqs/queue:Queue", "karpenter-interruptions")
    assert queue.inputs["sqsManagedSseEnabled"] is True
    assert queue.inputs["messageRetentionSeconds"] == 300
    (policy,) = graph.of_type("aws:sqs/queuePolicy:QueuePolicy")
    assert json.loads(policy.inputs["policy"]) == interruption_queue_policy(mock_arn("sqs", queue.inputs["name"]))
    rules = {r.name.removeprefix("karpenter-"): r for r in graph.of_type("aws:cloudwatch/eventRule:EventRule")}
    assert {"scheduled-change", "spot-interruption", "rebalance", "instance-state-change"} <= set(rules)
    assert set(rules) == set(INTERRUPTION_EVENT_PATTERNS)
    targets = {t.name.removeprefix("karpenter-"): t for t in graph.of_type("aws:cloudwatch/eventTarget:EventTarget")}
    for event, rule in rules.items():
        assert json.loads(rule.inputs["eventPattern"]) == INTERRUPTION_EVENT_PATTERNS[event]
        assert targets[event].inputs["arn"] == mock_arn("sqs", queue.inputs["name"])
        assert targets[event].inputs["rule"] == rule.name
    values = karpenter_release(graph).values
    assert values["settings"]["interruptionQueue"] == queue.inputs["name"] == parsed(graph).cluster.name
    assert values["settings"]["clusterName"] == parsed(graph).cluster.name
    assert graph.one("aws:iam/role:Role", "karpenter-controller")
    assert values["serviceAccount"]["annotations"] == {
        "eks.amazonaws.com/role-arn": f"arn:aws:iam::{ACCOUNT}:role/karpenter-controller"
    }


def test_discovery_tags_on_the_private_subnets_and_the_nodes_security_group(graph: Graph):
    name = parsed(graph).cluster.name
    subnets = graph.of_type("aws:ec2/subnet:Subnet")
    private = [s for s in subnets if "internal-elb" in json.dumps(s.inputs["tags"])]
    assert len(private) == 3 and all(s.inputs["tags"][DISCOVERY_TAG] == name for s in private)
    assert not any(DISCOVERY_TAG in s.inputs["tags"] for s in subnets if s not in private)
    (tag,) = graph.of_type("aws:ec2/tag:Tag")
    # The security group EKS made (vpcConfig.clusterSecurityGroupId): the managed nodes' own.
    assert tag.inputs == {"resourceId": "sg-0e5c1a57e0c1a5700", "key": DISCOVERY_TAG, "value": name}


def test_training_and_notebook_pods_are_never_drained_to_consolidate(graph: Graph):
    for pod in wm.pods(graph):
        if not gpu_request(pod):
            continue
        disrupt = pod.annotations.get("karpenter.sh/do-not-disrupt")
        if pod.kind == "Job" or pod.workload == "notebook":
            assert disrupt == "true", pod.owner
        else:
            assert disrupt is None, f"{pod.owner}: inference moves under its PodDisruptionBudget"


# --- config and the fit -------------------------------------------------------------------------


def _with(config: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**config, **{f"genai-eks:{k}": v for k, v in changes.items()}}


def test_a_pools_gpu_limit_caps_the_workspaces():
    config = stack_config("prod")
    pools = config["genai-eks:gpuNodePools"]
    small = [{**pools[0], "gpuLimit": 1}, pools[1]]
    # llm: 2 replicas x 1 GPU fit gpu-l4 (1) + gpu-l4x4 (8); coder takes 2 more of gpu-l4x4: 4 <= 9.
    plan_workspaces(parse_stack_config(_with(config, gpuNodePools=small), "prod"))
    tiny = [{**pools[0], "gpuLimit": 1}, {**pools[1], "gpuLimit": 2}]
    with pytest.raises(ConfigError) as error:
        plan_workspaces(parse_stack_config(_with(config, gpuNodePools=tiny), "prod"))
    assert str(error.value).startswith("config key 'genai-eks:gpuNodePools'")
    assert "workspaces' 4 GPUs" in str(error.value) and "allow 3" in str(error.value)


@pytest.mark.parametrize(
    "change, key, allowed",
    [
        ({"amiAlias": "al2023@latest"}, "genai-eks:karpenter.amiAlias", "an AL2023 release alias"),
        ({"replicas": 0}, "genai-eks:karpenter.replicas", "a whole number from 1 to 3"),
    ],
)
def test_karpenter_config_is_refused_naming_the_key(change: dict[str, Any], key: str, allowed: str):
    config = stack_config("dev")
    with pytest.raises(ConfigError) as error:
        parse_stack_config(_with(config, karpenter={**config["genai-eks:karpenter"], **change}), "dev")
    assert str(error.value).startswith(f"config key '{key}'") and allowed in str(error.value)


@pytest.mark.parametrize(
    "change, at, allowed",
    [
        ({"instanceTypes": ["m7i.large"]}, "instanceTypes[0]", "an NVIDIA GPU instance type"),
        ({"capacityTypes": ["spot", "reserved"]}, "capacityTypes[1]", "one of spot, on-demand"),
        ({"gpuLimit": 0}, "gpuLimit", "a whole number from 1 to 1000"),
        ({"consolidateAfter": "10 minutes"}, "consolidateAfter", "a duration"),
        ({"disruptionBudget": "101%"}, "disruptionBudget", "a node count or a percentage"),
        ({"name": "system"}, "name", "a name used by no other node group or pool"),
    ],
)
def test_pool_config_is_refused_naming_the_key(change: dict[str, Any], at: str, allowed: str):
    config = stack_config("dev")
    (pool,) = config["genai-eks:gpuNodePools"]
    with pytest.raises(ConfigError) as error:
        parse_stack_config(_with(config, gpuNodePools=[{**pool, **change}]), "dev")
    assert str(error.value).startswith(f"config key 'genai-eks:gpuNodePools[0].{at}'"), str(error.value)
    assert allowed in str(error.value)


def test_the_device_plugin_runs_on_every_node_a_pool_launches(graph: Graph):
    # A DaemonSet's pod lands on a Karpenter node when it tolerates the pool's taints and matches its
    # labels (Karpenter counts it into the node's overhead by the same rules).
    (plugin,) = [p for p in wm.pods(graph) if p.owner == "DaemonSet nvidia-device-plugin/nvidia-device-plugin"]
    for pool in node_pools(graph):
        assert incompatibility(plugin.spec, pool) is None, pool["metadata"]["name"]


def test_a_gpu_notebook_without_a_pool_that_hosts_it_is_refused():
    config = stack_config("dev")
    (pool,) = config["genai-eks:gpuNodePools"]
    # g6.xlarge hosts the notebook (2 vCPUs, 8 GiB of 4 and 16); a pool for training only does not exist
    # among the g6 sizes, so take the pools away and keep the workspaces off.
    no_pools = _with(config, gpuNodePools=[], workspaces=[], rag={"enabled": False})
    with pytest.raises(ConfigError) as error:
        plan_workspaces(parse_stack_config(no_pools, "dev"))
    assert str(error.value).startswith("config key 'genai-eks:jupyterhub.gpuProfile'")
    assert "a GPU pool with an instance type for the GPU notebook" in str(error.value)
    assert plan_workspaces(parse_stack_config(_with(config, gpuNodePools=[pool]), "dev")).notebook_pool == "gpu-l4"


def test_what_needs_the_cluster_or_dns_waits_for_it(graph: Graph):
    # The access entry names the cluster by its output: created before EKS is, CreateAccessEntry fails.
    cluster = graph.one("eks:index:Cluster")
    (entry,) = graph.of_type("aws:eks/accessEntry:AccessEntry")
    assert graph.depends_on(entry, cluster)
    # The controller exits at start when it cannot reach EC2 (karpenter-provider-aws pkg/operator/operator.go,
    # CheckEC2Connectivity): its chart waits for CoreDNS and the system nodes.
    chart = next(c for c in graph.of_type(helm.CHART_TYPE) if c.name == "karpenter")
    coredns = next(a for a in graph.of_type("aws:eks/addon:Addon") if a.inputs["addonName"] == "coredns")
    assert graph.depends_on(chart, coredns)
    # A node class resolves its security group by the discovery tag: the tag first.
    (tag,) = graph.of_type("aws:ec2/tag:Tag")
    for node_class in graph.of_type(NODE_CLASS):
        assert graph.depends_on(node_class, tag) and graph.depends_on(node_class, entry)


def test_the_controller_follows_a_renamed_system_group():
    config = stack_config("dev")
    config["genai-eks:systemNodeGroup"] = {**config["genai-eks:systemNodeGroup"], "name": "core"}
    graph = run_program("dev", config)
    values = karpenter_release(graph).values
    assert values["nodeSelector"][POOL_LABEL] == "core"


def test_more_controller_replicas_than_system_nodes_is_refused():
    config = stack_config("dev")
    with pytest.raises(ConfigError) as error:
        parse_stack_config(_with(config, karpenter={**config["genai-eks:karpenter"], "replicas": 3}), "dev")
    assert str(error.value).startswith("config key 'genai-eks:karpenter.replicas'")
    assert "at most systemNodeGroup.minSize (2)" in str(error.value)
