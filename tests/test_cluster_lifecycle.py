"""The AWS layer across a cluster's life (the first `pulumi up` completes, and what follows): a Kubernetes
version EKS still supports at the standard price, a control-plane log group that survives a destroy
and is adopted by the next `up`, the add-ons EKS manages (and upgrades) for us, cost tags on what
the node groups launch, and an EBS CSI node plugin on every node, GPU ones included."""

from __future__ import annotations

import copy
import json
from datetime import date
from typing import Any

import pytest
import yaml

import stack_config as sc
from infra.node_groups import GPU_SCHEDULING
from infra.storage import ebs_csi_configuration
from stack_config import ClusterConfig, ConfigError, parse_stack_config
from tests import charts as helm
from tests.harness import DEFAULT_ADDON_VERSIONS, Graph, run_program, stack_config
from tests.harness import parsed_config as parsed

CLUSTER = "genai-eks:cluster"
ADDON = "aws:eks/addon:Addon"
MNG = "eks:index:ManagedNodeGroup"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
GET_ADDON_VERSION = "aws:eks/getAddonVersion:getAddonVersion"
GET_LOG_GROUPS = "aws:cloudwatch/getLogGroups:getLogGroups"
TODAY = date(
    2026, 12, 3
)  # fixed, so the support calendar does not move under the tests: 1.34 left standard support the day before


def dev_with_cluster(**changes: Any) -> dict[str, Any]:
    config = copy.deepcopy(stack_config("dev"))
    config[CLUSTER].update(changes)
    return config


def addon(graph: Graph, name: str):
    (found,) = [a for a in graph.of_type(ADDON) if a.inputs["addonName"] == name]
    return found


def version_lookups(graph: Graph, name: str) -> list[dict[str, Any]]:
    return [args for token, args in graph.invokes if token == GET_ADDON_VERSION and args["addonName"] == name]


# --- defect 3: the Kubernetes version and EKS's support calendar ---------------------------------


def test_the_default_version_is_in_standard_support():
    assert ClusterConfig(name="x", endpoint_public_access_cidrs=()).kubernetes_version == "1.35"
    config = dev_with_cluster()
    config[CLUSTER].pop("kubernetesVersion")
    assert parse_stack_config(config, "dev", today=TODAY).cluster.kubernetes_version == "1.35"
    for stack in ("dev", "prod"):
        assert parse_stack_config(stack_config(stack), stack, today=TODAY).cluster.kubernetes_version == "1.35"


def test_the_calendar_is_the_one_table_of_versions():
    assert sc.SUPPORTED_KUBERNETES_VERSIONS == tuple(sc.EKS_STANDARD_SUPPORT_ENDS)
    assert {"1.35", "1.36"} <= set(sc.SUPPORTED_KUBERNETES_VERSIONS)
    # EKS's published calendar (docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html).
    assert sc.EKS_STANDARD_SUPPORT_ENDS["1.34"] == date(2026, 12, 2)
    assert sc.EKS_STANDARD_SUPPORT_ENDS["1.35"] == date(2027, 3, 27)


@pytest.mark.parametrize("version", ["1.32", "1.33", "1.34"])
def test_a_version_past_standard_support_is_refused_with_its_price(version: str):
    with pytest.raises(ConfigError) as refused:
        parse_stack_config(dev_with_cluster(kubernetesVersion=version), "dev", today=TODAY)
    assert refused.value.key == f"{CLUSTER}.kubernetesVersion" and refused.value.value == version
    message = str(refused.value)
    assert f"standard support ended {sc.EKS_STANDARD_SUPPORT_ENDS[version].isoformat()}" in message
    assert "$0.60/h" in message and "$0.10/h" in message and "allowExtendedSupport: true" in message
    assert "1.35, 1.36" in message


def test_standard_support_ends_on_the_calendars_day():
    config = dev_with_cluster(kubernetesVersion="1.35")
    assert parse_stack_config(config, "dev", today=date(2027, 3, 26)).cluster.kubernetes_version == "1.35"
    with pytest.raises(ConfigError, match="standard support ended 2027-03-27"):
        parse_stack_config(config, "dev", today=date(2027, 3, 27))  # billed from the start of that day (UTC)
    assert (
        parse_stack_config(dev_with_cluster(kubernetesVersion="1.36"), "dev", today=TODAY).cluster.kubernetes_version
        == "1.36"
    )


def test_extended_support_when_allowed_and_never_past_it():
    allowed = parse_stack_config(
        dev_with_cluster(kubernetesVersion="1.34", allowExtendedSupport=True), "dev", today=TODAY
    )
    assert allowed.cluster.kubernetes_version == "1.34" and allowed.cluster.upgrade_support_type == "EXTENDED"
    with pytest.raises(ConfigError, match="extended support ends 2027-03-23"):
        parse_stack_config(
            dev_with_cluster(kubernetesVersion="1.32", allowExtendedSupport=True), "dev", today=date(2027, 3, 23)
        )
    with pytest.raises(ConfigError, match=r"cluster\.allowExtendedSupport.*true or false"):
        parse_stack_config(dev_with_cluster(allowExtendedSupport="yes"), "dev", today=TODAY)


def test_the_upgrade_policy_says_standard_unless_extended_support_is_allowed(graph: Graph):
    assert graph.one("eks:index:Cluster").inputs["upgradePolicy"] == {"supportType": "STANDARD"}
    extended = run_program("dev", dev_with_cluster(allowExtendedSupport=True))
    assert extended.one("eks:index:Cluster").inputs["upgradePolicy"] == {"supportType": "EXTENDED"}


def test_the_schemas_cover_every_supported_version():
    import kubernetes_validate

    for version in sc.SUPPORTED_KUBERNETES_VERSIONS:
        kubernetes_validate.validate(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}, version, strict=True
        )


# --- defect 4: the control-plane log group after a destroy ---------------------------------------


def test_a_log_group_left_by_a_destroy_is_adopted():
    name = "/aws/eks/genai-dev/cluster"
    graph = run_program("dev", log_groups=[name, "/aws/eks/genai-dev/cluster-old"])
    group = graph.one(LOG_GROUP)
    assert group.import_id == name, "EKS re-created the group on destroy: the next up imports it"
    assert group.inputs["name"] == name
    assert group.inputs["retentionInDays"] == parsed(graph).cluster.log_retention_days  # set again after the import
    assert (GET_LOG_GROUPS, {"logGroupNamePrefix": name}) in [
        (t, {k: v for k, v in a.items() if v is not None}) for t, a in graph.invokes
    ]


def test_a_new_stack_creates_its_log_group(graph: Graph):
    group = graph.one(LOG_GROUP)
    assert group.import_id == "", "nothing to adopt: the harness's account holds no log group"
    assert [t for t, _ in graph.invokes].count(GET_LOG_GROUPS) == 1


def test_a_group_that_only_shares_the_prefix_is_not_adopted():
    graph = run_program("dev", log_groups=["/aws/eks/genai-dev/cluster-old", "/aws/eks/genai-dev/clusterx"])
    assert graph.one(LOG_GROUP).import_id == ""


def test_destroy_leaves_the_log_group_with_our_retention(graph: Graph):
    # Deleting it would only make EKS re-create it, without retention, while it flushes its last logs.
    assert graph.one(LOG_GROUP).retain_on_delete is True


# --- defect 5: CoreDNS, kube-proxy and the VPC CNI as managed add-ons ----------------------------


def test_coredns_is_a_managed_addon_that_waits_for_the_system_nodes(graph: Graph):
    cfg = parsed(graph)
    coredns = addon(graph, "coredns")
    assert coredns.inputs["addonVersion"] == DEFAULT_ADDON_VERSIONS["coredns"]
    assert version_lookups(graph, "coredns") == [
        {"addonName": "coredns", "kubernetesVersion": cfg.cluster.kubernetes_version, "mostRecent": False}
    ]
    assert coredns.inputs["clusterName"] == cfg.cluster.name
    assert coredns.inputs["resolveConflictsOnCreate"] == "OVERWRITE"  # takes over EKS's bootstrap copy
    system = graph.one(MNG, f"nodes-{cfg.system_node_group.name}")
    assert system.urn in coredns.dependencies, "EKS reports it ACTIVE only once its pods run"
    for group in graph.of_type(MNG):
        if group is not system:
            assert not graph.depends_on(coredns, group), f"{group.name} may sit at zero"
    cluster = graph.one("eks:index:Cluster")
    assert not graph.depends_on(cluster, coredns)
    # pulumi-eks's own CoreDNS add-on would be the cluster component's child: the cluster would wait
    # on pods that need the nodes that wait on the cluster.
    assert cluster.inputs.get("corednsAddonOptions", {}).get("enabled") is False


def test_kube_proxy_and_the_vpc_cni_take_eks_default_versions(graph: Graph):
    cfg = parsed(graph)
    cluster = graph.one("eks:index:Cluster").inputs
    assert cluster["kubeProxyAddonOptions"]["version"] == DEFAULT_ADDON_VERSIONS["kube-proxy"]
    assert cluster["vpcCniOptions"]["addonVersion"] == DEFAULT_ADDON_VERSIONS["vpc-cni"]
    assert cluster["vpcCniOptions"]["enableNetworkPolicy"] is True
    for name in ("kube-proxy", "vpc-cni", "aws-ebs-csi-driver"):
        assert version_lookups(graph, name) == [
            {"addonName": name, "kubernetesVersion": cfg.cluster.kubernetes_version, "mostRecent": False}
        ], name


def test_addon_versions_can_be_pinned():
    pins = {
        "corednsAddonVersion": "v1.11.4-eksbuild.2",
        "kubeProxyAddonVersion": "v1.35.1-eksbuild.3",
        "vpcCniAddonVersion": "v1.19.6-eksbuild.7",
    }
    graph = run_program("dev", dev_with_cluster(**pins))
    assert addon(graph, "coredns").inputs["addonVersion"] == pins["corednsAddonVersion"]
    cluster = graph.one("eks:index:Cluster").inputs
    assert cluster["kubeProxyAddonOptions"]["version"] == pins["kubeProxyAddonVersion"]
    assert cluster["vpcCniOptions"]["addonVersion"] == pins["vpcCniAddonVersion"]
    assert not [a for t, a in graph.invokes if t == GET_ADDON_VERSION and a["addonName"] != "aws-ebs-csi-driver"]


@pytest.mark.parametrize("key", ["corednsAddonVersion", "kubeProxyAddonVersion", "vpcCniAddonVersion"])
def test_a_bad_addon_pin_is_refused_naming_the_key(key: str):
    with pytest.raises(
        ConfigError, match=rf"'{CLUSTER}\.{key}': value \"1\.11\" is not valid; allowed: an EKS add-on version"
    ):
        parse_stack_config(dev_with_cluster(**{key: "1.11"}), "dev", today=TODAY)


# --- defect 6: cost tags on what the node groups launch ------------------------------------------


def launch_template_of(graph: Graph, group) -> dict:
    lt_id = group.inputs["launchTemplate"]["id"]
    return next(r for r in graph.of_type("aws:ec2/launchTemplate:LaunchTemplate") if r.id == lt_id).inputs


def test_launch_templates_carry_the_default_tags(graph: Graph):
    default_tags = stack_config(graph.stack)["aws:defaultTags"]["tags"]
    assert parsed(graph).default_tags.tags == default_tags
    for group in graph.of_type(MNG):
        specs = launch_template_of(graph, group)["tagSpecifications"]
        # Not spot-instances-request: an on-demand launch that names it fails (aws/karpenter-provider-aws#5850).
        assert [s["resourceType"] for s in specs] == ["instance", "volume", "network-interface"], group.name
        for spec in specs:
            assert spec["tags"] == {**default_tags, "Name": spec["tags"]["Name"]}, (
                f"{group.name} {spec['resourceType']}"
            )
            assert spec["tags"]["Name"].startswith(parsed(graph).cluster.name)


def test_default_tags_are_validated():
    config = copy.deepcopy(stack_config("dev"))
    config["aws:defaultTags"] = {"tags": {"project": 7}}
    with pytest.raises(ConfigError, match=r"'aws:defaultTags\.tags\.project': value 7"):
        parse_stack_config(config, "dev", today=TODAY)
    config["aws:defaultTags"] = {"tag": {"project": "x"}}
    with pytest.raises(ConfigError, match=r"'aws:defaultTags\.tag'"):
        parse_stack_config(config, "dev", today=TODAY)
    config.pop("aws:defaultTags")
    assert parse_stack_config(config, "dev", today=TODAY).default_tags.tags == {}


# --- defect 10: the EBS CSI node plugin on every node --------------------------------------------


def test_the_ebs_csi_node_plugin_tolerates_every_taint(graph: Graph):
    configuration = json.loads(addon(graph, "aws-ebs-csi-driver").inputs["configurationValues"])
    assert configuration == ebs_csi_configuration()
    # The chart ignores node.tolerations while node.tolerateAllTaints is true (templates/_node.tpl):
    # say what it does, and list nothing it would ignore.
    assert configuration["node"]["tolerateAllTaints"] is True
    assert "tolerations" not in configuration["node"]


EBS_CSI_CHART = "aws-ebs-csi-driver"


def ebs_csi_node_tolerations(graph: Graph) -> list[dict[str, Any]]:
    """The node DaemonSet's tolerations, as the chart renders them with the add-on's configuration."""
    meta = helm.SOURCES / EBS_CSI_CHART / "Chart.yaml"
    if not meta.is_file():
        pytest.skip(
            f"no {EBS_CSI_CHART} chart source in {helm.SOURCES} (kubernetes-sigs/aws-ebs-csi-driver, "
            "charts/aws-ebs-csi-driver): the EKS add-on renders that chart with its configuration"
        )
    version = yaml.safe_load(meta.read_text())["version"]
    values = json.loads(addon(graph, EBS_CSI_CHART).inputs["configurationValues"])
    release = helm.Release(
        resource="ebs-csi",
        chart=EBS_CSI_CHART,
        version=version,
        name="aws-ebs-csi-driver",
        namespace="kube-system",
        values_json=json.dumps(values, sort_keys=True),
        skip_crds=True,
        kube_version=helm.cluster_version(graph),
    )
    (node,) = [o for o in helm.render(release) if o["kind"] == "DaemonSet" and o["metadata"]["name"] == "ebs-csi-node"]
    return node["spec"]["template"]["spec"]["tolerations"]


def tolerates(tolerations: list[dict[str, Any]], key: str, value: str | None, effect: str) -> bool:
    """core/v1 Toleration.ToleratesTaint: an empty key with Exists matches every taint; no effect, every effect."""
    for t in tolerations:
        if t.get("effect") and t["effect"] != effect:
            continue
        if t.get("operator") == "Exists" and (not t.get("key") or t["key"] == key):
            return True
        if t.get("key") == key and t.get("operator", "Equal") == "Equal" and t.get("value") == value:
            return True
    return False


def test_the_rendered_node_daemonset_runs_on_gpu_nodes_and_through_spot_reclaim(dev: Graph):
    tolerations = ebs_csi_node_tolerations(dev)
    listed = json.loads(addon(dev, "aws-ebs-csi-driver").inputs["configurationValues"])["node"].get("tolerations", [])
    assert [t for t in listed if t not in tolerations] == [], "tolerations the configuration lists but the chart drops"
    (gpu,) = GPU_SCHEDULING.tolerations
    assert tolerates(tolerations, gpu["key"], gpu["value"], gpu["effect"])
    # A node being reclaimed or drained: the plugin must stay to unmount what its pods leave.
    for key in (
        "node.kubernetes.io/unreachable",
        "node.kubernetes.io/not-ready",
        "ToBeDeletedByClusterAutoscaler",
        "aws-node-termination-handler/spot-itn",
    ):
        assert tolerates(tolerations, key, None, "NoExecute"), key
        assert not [t for t in tolerations if t.get("tolerationSeconds") and (not t.get("key") or t["key"] == key)], (
            f"{key}: evicted after a while"
        )
