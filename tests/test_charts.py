"""Every Helm release the program deploys, rendered by Helm's own engine from its source in
../shared/charts as pulumi-kubernetes would apply it (tests/charts.py); its values checked by the
engine; a chart without its source, or a value that breaks a template, fails here by name."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from pathlib import Path

import helm_python
import pytest
import yaml

from infra import charts
from tests import charts as helm
from tests import workload_model as wm
from tests.conftest import graph_of
from tests.harness import Graph, run_program, stack_names

CHART = helm.CHART_TYPE


def release(graph: Graph, chart: str) -> helm.Release:
    (found,) = [r for r in helm.releases(graph) if r.chart == chart]
    return found


def with_values(r: helm.Release, change) -> helm.Release:
    values = r.values
    change(values)
    return dataclasses.replace(r, values_json=json.dumps(values, sort_keys=True))


# --- every release renders from its source --------------------------------------------------------


# Namespaced objects a chart puts outside its release's namespace, on purpose: karpenter's templates
# role.yaml and rolebinding.yaml give the controller read access to kube-system's kube-dns Service
# (it finds the cluster DNS address there for the nodes it launches).
OUTSIDE_RELEASE_NAMESPACE = {
    ("karpenter", "Role", "karpenter-dns"): "kube-system",
    ("karpenter", "RoleBinding", "karpenter-dns"): "kube-system",
}


def test_every_release_renders_from_its_pinned_source(graph: Graph):
    for r in helm.releases(graph):
        objects = helm.render(r)
        assert objects, r.label
        assert helm.source_dir(r.chart, r.version).name == r.chart
        for o in objects:
            if o["kind"] not in helm.CLUSTER_SCOPED_KINDS:
                expected = OUTSIDE_RELEASE_NAMESPACE.get((r.chart, o["kind"], o["metadata"]["name"]), r.namespace)
                assert o["metadata"]["namespace"] == expected, f"{r.label}: {o['kind']} {o['metadata']['name']}"
            else:
                assert "namespace" not in o["metadata"], f"{r.label}: {o['kind']} {o['metadata']['name']}"


def test_release_names_and_namespaces_are_the_programs(dev: Graph):
    assert {(r.resource, r.chart, r.version, r.name, r.namespace) for r in helm.releases(dev)} == {
        ("jupyterhub", "jupyterhub", "4.4.0", "jupyterhub", "jupyterhub"),
        ("qdrant", "qdrant", "1.19.0", "qdrant", "vector-db"),
        # no `name`: the release is named after the resource, as the provider does
        ("nvidia-device-plugin", "nvidia-device-plugin", "0.20.0", "nvidia-device-plugin", "nvidia-device-plugin"),
        ("karpenter", "karpenter", "1.14.1", "karpenter", "karpenter"),
    }
    assert {r.kube_version for r in helm.releases(dev)} == {"v1.35.0-eks-0000000"}  # as EKS reports its version


def kinds(objects) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for o in objects:
        found.setdefault(o["kind"], []).append(o["metadata"]["name"])
    return {k: sorted(v) for k, v in found.items()}


def test_what_the_dev_charts_render(dev: Graph):
    """The objects the cluster gets from each chart (the old hand model knew Qdrant's StatefulSet and Service)."""
    assert kinds(helm.render(release(dev, "qdrant"))) == {
        "ConfigMap": ["qdrant"],
        "Service": ["qdrant", "qdrant-headless"],
        "ServiceAccount": ["qdrant"],
        "StatefulSet": ["qdrant"],
    }
    assert kinds(helm.render(release(dev, "jupyterhub"))) == {
        "ConfigMap": ["hub"],
        "Deployment": ["hub", "proxy"],
        "NetworkPolicy": ["hub", "proxy", "singleuser"],
        "PersistentVolumeClaim": ["hub-db-dir"],
        "Role": ["hub"],
        "RoleBinding": ["hub"],
        "Secret": ["hub"],
        "Service": ["hub", "proxy-api", "proxy-public"],
        "ServiceAccount": ["hub"],
    }
    assert kinds(helm.render(release(dev, "nvidia-device-plugin"))) == {
        "ClusterRole": ["nvidia-device-plugin-role"],
        "ClusterRoleBinding": ["nvidia-device-plugin-role-binding"],
        "DaemonSet": ["nvidia-device-plugin", "nvidia-device-plugin-mps-control-daemon"],
        "ServiceAccount": ["nvidia-device-plugin-service-account"],
    }


def test_hooks_are_rendered_by_helm_but_never_applied(dev: Graph):
    r = release(dev, "qdrant")
    hooks = helm.rendered_hooks(r)
    assert {(h["kind"], h["metadata"]["name"]) for h in hooks} == {
        ("Pod", "qdrant-test-db-interaction"),
        ("ConfigMap", "qdrant-test-db-interaction"),
    }
    assert not {o["metadata"]["name"] for o in helm.render(r)} & {h["metadata"]["name"] for h in hooks}
    assert not [a for a in wm.applied(dev) if helm.HOOK in (a.manifest["metadata"].get("annotations") or {})]


def karpenter(skip_crds: bool) -> helm.Release:
    return helm.Release(
        resource="karpenter",
        chart="karpenter",
        version="1.14.1",
        name="karpenter",
        namespace="kube-system",
        values_json=json.dumps({"settings": {"clusterName": "genai-dev"}}),
        skip_crds=skip_crds,
        kube_version="v1.34.0",
    )


def test_crds_come_first_unless_skipped():
    objects = helm.render(karpenter(skip_crds=False))
    crds = [o["metadata"]["name"] for o in objects if o["kind"] == "CustomResourceDefinition"]
    assert "nodepools.karpenter.sh" in crds and objects[0]["kind"] == "CustomResourceDefinition"
    assert not [o for o in helm.render(karpenter(skip_crds=True)) if o["kind"] == "CustomResourceDefinition"]


def test_render_is_cached_per_release(graph: Graph):
    r = helm.releases(graph)[0]
    helm.render(r)
    started = time.perf_counter()
    first = helm.render(r)
    assert time.perf_counter() - started < 0.05
    first.append("changed")  # callers get their own copy
    assert helm.render(r)[-1] != "changed"


# --- a chart the sources cannot render ----------------------------------------------------------------


def test_a_chart_with_no_source_of_its_version_names_the_folder_to_add(dev: Graph):
    bumped = dataclasses.replace(release(dev, "qdrant"), version="1.20.0")
    with pytest.raises(
        helm.ChartSourceMissing, match=r"qdrant 1\.20\.0 .*\.\./shared/charts/qdrant holds version 1\.19\.0"
    ):
        helm.render(bumped)
    unknown = dataclasses.replace(release(dev, "qdrant"), chart="weaviate", version="17.0.0")
    with pytest.raises(helm.ChartSourceMissing, match=r"\.\./shared/charts/weaviate does not exist"):
        helm.render(unknown)


def test_every_registered_chart_is_a_pin_with_its_source(graph: Graph):
    """infra/charts.py is the one list: each helm.v4.Chart in the graph is one of its pins, and each pin's
    source is in ../shared/charts at that version."""
    pins = {(p.reference, p.version, None if p.is_oci else p.repository) for p in charts.DEPLOYED_CHARTS}
    registered = {
        (r.inputs["chart"], r.inputs["version"], (r.inputs.get("repositoryOpts") or {}).get("repo"))
        for r in graph.of_type(CHART)
    }
    assert registered and registered <= pins
    for pin in charts.DEPLOYED_CHARTS:
        source = helm.SOURCES / pin.name / "Chart.yaml"
        assert yaml.safe_load(source.read_text())["version"] == pin.version, pin


def test_a_chart_bumped_in_code_without_its_source_fails(monkeypatch):
    monkeypatch.setattr(charts, "QDRANT", dataclasses.replace(charts.QDRANT, version="1.20.0"))
    graph = run_program("dev")
    assert release(graph, "qdrant").version == "1.20.0"
    with pytest.raises(helm.ChartSourceMissing, match="qdrant"):
        wm.applied(graph)


def test_a_source_missing_its_subcharts_is_refused(tmp_path: Path, monkeypatch):
    chart = tmp_path / "umbrella"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v2",
                "name": "umbrella",
                "version": "1.0.0",
                "dependencies": [{"name": "grafana", "version": "12.11.1"}],
            }
        )
    )
    monkeypatch.setattr(helm, "SOURCES", tmp_path)
    with pytest.raises(helm.ChartSourceMissing, match="grafana found in Chart.yaml, but missing in charts/"):
        with helm.opened("umbrella", "1.0.0"):
            pass


def test_an_object_of_unknown_scope_is_refused(tmp_path: Path, monkeypatch):
    chart = tmp_path / "widgets"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(yaml.safe_dump({"apiVersion": "v2", "name": "widgets", "version": "0.1.0"}))
    (chart / "templates" / "widget.yaml").write_text("apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n")
    monkeypatch.setattr(helm, "SOURCES", tmp_path)
    r = helm.Release("widgets", "widgets", "0.1.0", "widgets", "apps", "{}", False, "v1.34.0")
    with pytest.raises(helm.UnresolvedScope, match="Widget w"):
        helm.render(r)


def capabilities_chart(tmp_path: Path, monkeypatch, name: str, kube_version: str = ">=1.28.0-0") -> Path:
    """A chart that prints what the engine tells it (sources and renders are cached by name: one name a test)."""
    chart = tmp_path / name
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(
        yaml.safe_dump({"apiVersion": "v2", "name": name, "version": "0.1.0", "kubeVersion": kube_version})
    )
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n"
        "  kube: {{ .Capabilities.KubeVersion.Version | quote }}\n  install: {{ .Release.IsInstall | quote }}\n"
        '  plain: {{ semverCompare ">=1.21" .Capabilities.KubeVersion.Version | quote }}\n'
        '  pre: {{ semverCompare ">=1.21-0" .Capabilities.KubeVersion.Version | quote }}\n'
        '  deployments: {{ .Capabilities.APIVersions.Has "apps/v1/Deployment" | quote }}\n'
        '  monitoring: {{ .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" | quote }}\n'
    )
    monkeypatch.setattr(helm, "SOURCES", tmp_path)
    return chart


def test_the_engine_renders_for_the_clusters_kubernetes_version(dev: Graph, tmp_path: Path, monkeypatch):
    chart = capabilities_chart(tmp_path, monkeypatch, "capabilities")
    r = dataclasses.replace(
        release(dev, "qdrant"),
        resource="capabilities",
        chart="capabilities",
        version="0.1.0",
        name="c",
        values_json="{}",
    )
    (config_map,) = helm.render(r)
    # EKS's version is a semver pre-release: a comparison without "-0" is false on EKS.
    assert config_map["data"] == {
        "kube": "v1.35.0-eks-0000000",
        "install": "true",
        "plain": "false",
        "pre": "true",
        "deployments": "true",
        "monitoring": "false",
    }
    with helm_python.Chart.load(chart) as plain:  # the SDK's own render would claim its client's version
        assert "v1.35.0" not in plain.render({}, name="c", namespace="apps")["capabilities/templates/cm.yaml"]


def test_a_chart_the_clusters_version_does_not_meet_is_refused(dev: Graph, tmp_path: Path, monkeypatch):
    capabilities_chart(tmp_path, monkeypatch, "newer-kubernetes", kube_version=">=1.36.0-0")
    r = dataclasses.replace(
        release(dev, "qdrant"),
        resource="newer-kubernetes",
        chart="newer-kubernetes",
        version="0.1.0",
        name="c",
        values_json="{}",
    )
    with pytest.raises(helm.InstallRefused, match="requires kubeVersion: >=1.36.0-0 which is incompatible"):
        helm.render(r)
    with pytest.raises(helm.InstallRefused, match="Bad_Name|release name"):
        helm.render(dataclasses.replace(r, name="Bad_Name", kube_version="v1.37.0"))


@pytest.mark.parametrize(
    "constraint,version,expected",
    [
        (">=1.28.0-0", "v1.34.0-eks-0000000", True),
        (">=1.28.0", "v1.34.0-eks-0000000", False),  # a pre-release
        (">=1.28.0", "v1.34.0", True),
        (">= 1.19.0-0", "v1.34.0", True),
        (">=v1.23.0-0", "v1.22.9", False),
        (">=1.25, <1.34", "v1.34.0", False),
        ("<1.20 || >=1.30", "v1.34.0", True),
        ("=1.34.0", "v1.34.0", True),
    ],
)
def test_kube_version_constraints_read_as_helm_reads_them(constraint, version, expected):
    assert helm.meets(constraint, version) is expected


def test_rendered_yaml_is_decoded_as_the_provider_decodes_it():
    (doc,) = helm._documents("a: y\nb: 1e3\nc: 12:30\nd: 2026-12-03\ne: =\nf: 0x1f\ng: yes\nh: '1'\n", "t")
    assert doc == {"a": True, "b": 1000.0, "c": "12:30", "d": "2026-12-03", "e": "=", "f": 31, "g": True, "h": "1"}


def test_lists_expand_core_v1_is_v1_and_skip_await_marks_every_object(dev: Graph):
    r = dataclasses.replace(release(dev, "qdrant"), skip_await=True)
    listed = [
        {
            "apiVersion": "v1",
            "kind": "List",
            "items": [
                {"apiVersion": "core/v1", "kind": "ConfigMap", "metadata": {"name": "a"}},
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMapList",
                    "items": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}}],
                },
            ],
        }
    ]
    objects = helm._normalize(listed, r)
    assert [(o["apiVersion"], o["metadata"]["name"], o["metadata"]["namespace"]) for o in objects] == [
        ("v1", "a", "vector-db"),
        ("v1", "b", "vector-db"),
    ]
    assert all(o["metadata"]["annotations"] == {"pulumi.com/skipAwait": "true"} for o in objects)
    assert all(o["metadata"]["annotations"]["pulumi.com/skipAwait"] == "true" for o in helm.render(r))
    assert not any(
        "annotations" in o["metadata"] and "pulumi.com/skipAwait" in o["metadata"]["annotations"]
        for o in helm.render(release(dev, "qdrant"))
    )


def test_a_render_leaves_no_trace_on_the_next(dev: Graph):
    """Rendering drops disabled subcharts from a loaded chart: each render loads it afresh."""
    base = release(dev, "nvidia-device-plugin")
    with_gfd = with_values(base, lambda v: v.update(gfd={"enabled": True}))
    first = helm.render(with_gfd)
    assert "CustomResourceDefinition" in {o["kind"] for o in first}  # node-feature-discovery: a subchart gfd turns on
    assert len(helm.render(base)) == 5
    assert len(helm.render(dataclasses.replace(with_gfd, name="nvidia-device-plugin-again"))) == len(first) > 5


# pkg/engine/funcs.go from v4.0.0 (mustToJson is sprig's, in Helm 3 too).
HELM_4_ONLY_FUNCTIONS = ("mustToYaml", "mustToToml")


def test_no_deployed_chart_uses_a_template_function_the_providers_helm_lacks(graph: Graph):
    """The engine is Helm 4; pulumi-kubernetes renders with Helm 3.20 (provider/go.mod)."""
    for r in helm.releases(graph):
        for path in helm.source_dir(r.chart, r.version).rglob("*"):
            if path.suffix in (".yaml", ".yml", ".tpl", ".txt") and "templates" in path.parts:
                text = path.read_text(errors="replace")
                assert not [f for f in HELM_4_ONLY_FUNCTIONS if re.search(rf"\b{f}\b", text)], path


# --- the values, through the engine -----------------------------------------------------------------


def test_values_meet_the_chart_schema_where_there_is_one(graph: Graph):
    with_schema = [r for r in helm.releases(graph) if helm.has_values_schema(r)]
    assert {r.chart for r in with_schema} == {"jupyterhub"}  # its values.schema.json, as the chart is published
    for r in with_schema:
        helm.validate_values(r)


def test_a_misspelt_key_fails_the_schema_with_helms_message(dev: Graph):
    misspelt = with_values(release(dev, "jupyterhub"), lambda v: v["singleuser"].update(startTimout=1200))
    with pytest.raises(helm_python.HelmValuesError, match="additional properties 'startTimout' not allowed"):
        helm.validate_values(misspelt)
    with pytest.raises(helm_python.HelmValuesError):  # `helm template` refuses it too
        helm.render(misspelt)


def test_a_value_that_breaks_a_template_fails_with_helms_message(dev: Graph):
    broken = with_values(
        release(dev, "jupyterhub"),
        lambda v: v["hub"].update(extraFiles={"settings": {"mountPath": "/etc/settings", "data": {"a": 1}}}),
    )
    with pytest.raises(helm_python.HelmRenderError, match="needs to have a filename extension of .yaml"):
        helm.render(broken)


# Keys the chart reads but documents only as commented-out examples in its values.yaml.
COMMENTED_KEYS = {("qdrant", "persistence.storageClassName")}
# Maps the chart copies verbatim into a manifest (toYaml), so any Kubernetes field is valid there.
VERBATIM = {
    ("qdrant", "podSecurityContext"),
    ("qdrant", "containerSecurityContext"),
    ("qdrant", "resources"),
    ("qdrant", "env"),
    ("qdrant", "config"),
    ("nvidia-device-plugin", "resources"),
    ("nvidia-device-plugin", "tolerations"),
    ("nvidia-device-plugin", "nodeSelector"),
    ("karpenter", "nodeSelector"),  # templates/deployment.yaml: toYaml .Values.nodeSelector
}


def unknown_override_keys(r: helm.Release, overrides: dict, defaults: dict, prefix: str = "") -> list[str]:
    text = (helm.source_dir(r.chart, r.version) / "values.yaml").read_text()
    unknown = []
    for key, value in overrides.items():
        path = f"{prefix}{key}"
        if (r.chart, path) in COMMENTED_KEYS:
            assert f"# {key}:" in text, f"{r.chart}: {path} is not even a commented example"
            continue
        if not isinstance(defaults, dict) or key not in defaults:
            unknown.append(path)
        elif (
            (r.chart, path) not in VERBATIM
            and isinstance(value, dict)
            and isinstance(defaults[key], dict)
            and defaults[key]
        ):
            unknown += unknown_override_keys(r, value, defaults[key], f"{path}.")
    return unknown


def test_charts_without_a_schema_take_only_their_own_keys(graph: Graph):
    without = [r for r in helm.releases(graph) if not helm.has_values_schema(r)]
    assert {r.chart for r in without} == {"qdrant", "nvidia-device-plugin", "karpenter"}
    for r in without:
        assert unknown_override_keys(r, r.values, helm.default_values(r.chart, r.version)) == [], r.label
        merged = helm.merged_values(r)
        for key, value in r.values.items():  # the release uses what the program set
            assert merged[key] == value or isinstance(value, dict), (r.label, key)


def test_the_key_check_catches_a_misspelt_key(dev: Graph):
    r = release(dev, "qdrant")
    values = {**r.values, "persistance": {"size": "1Gi"}}
    assert unknown_override_keys(r, values, helm.default_values(r.chart, r.version)) == ["persistance"]


def test_rendering_every_stack_stays_fast():
    """All stacks' releases, rendered from a cold cache: the proof must stay cheap to run."""
    helm._render.cache_clear()
    started = time.perf_counter()
    count = 0
    for stack in stack_names():
        for r in helm.releases(graph_of(stack)):
            helm.render(r)
            count += 1
    assert count >= 6 and time.perf_counter() - started < 10


# --- the chart sources, for checkouts without ../shared/charts ----------------------------------------


def test_the_fetch_script_pulls_every_deployed_chart_as_helm_pulls_it(tmp_path: Path):
    """scripts/fetch_charts.py against a chart repository on localhost (packaged from the sources)."""
    import functools
    import http.server
    import threading

    from scripts import fetch_charts

    # It pulls the pins, and the pins are exactly what the stacks deploy: none missing, none stale.
    registered = {
        (r.inputs["chart"], r.inputs["version"], (r.inputs.get("repositoryOpts") or {}).get("repo"))
        for stack in stack_names()
        for r in run_program(stack).of_type(CHART)
    }
    assert registered == {
        (p.reference, p.version, None if p.is_oci else p.repository) for p in fetch_charts.DEPLOYED_CHARTS
    }
    assert all(p.repository.startswith(("https://", "oci://")) for p in fetch_charts.DEPLOYED_CHARTS)
    repository = tmp_path / "repository"
    repository.mkdir()
    helm_python.package(helm.source_dir("qdrant", "1.19.0"), destination=repository)
    helm_python.repo_index_generate(repository)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(repository))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        target = tmp_path / "charts"
        assert fetch_charts.pull([charts.ChartPin("qdrant", url, "1.19.0")], target) == ["qdrant"]
        assert fetch_charts.pull([charts.ChartPin("qdrant", url, "1.19.0")], target) == []  # already there
    finally:
        server.shutdown()
    assert yaml.safe_load((target / "qdrant" / "Chart.yaml").read_text())["version"] == "1.19.0"
    assert (target / "qdrant" / "templates" / "statefulset.yaml").read_text() == (
        helm.SOURCES / "qdrant" / "templates" / "statefulset.yaml"
    ).read_text()
