"""What each `helm.v4.Chart` in a recorded graph puts in the cluster, rendered by Helm's own engine.

pulumi-kubernetes renders a v4 Chart as `helm template` does and registers every object of the
release manifest (provider/pkg/provider/helm/v4/chart.go, `ChartProvider.Construct`):
- the release name is `name`, or the resource's name when unset; the namespace is `namespace`;
- the Kubernetes version is the cluster's (`setKubeVersionAndAPIVersions`);
- `cmd.DisableHooks = true`: hooks are not in the release manifest, so nothing annotated
  `helm.sh/hook` is applied (test hooks never);
- `cmd.IncludeCRDs = !skipCrds`: the chart's `crds/` come first;
- yaml/v2 `Normalize` gives every namespaced object without a namespace the release's namespace
  (the scope from provider/pkg/kinds/kinds.go `Kind.Namespaced`, or from a CRD among the objects).
This module does the same from the chart's source in ../shared/charts/<chart>, at the version the
program pins, and refuses a chart with no source of that version, naming the folder to add.

Helm's `CheckDependencies` (action/dependency.go) refuses a chart whose declared dependencies are
missing under `charts/`, so a source without them is refused here too. The engine is given no
custom API groups: on a first `pulumi up` a chart renders before the CRDs the stack installs exist.

Rendering is pure, so it is cached per (chart, version, values, release, namespace, CRDs, Kubernetes
version): every stack and every switched-off variant renders each distinct release once.
"""

from __future__ import annotations

import atexit
import copy
import functools
import json
import posixpath
import shutil
import tempfile
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python
import yaml
from helm_python import _native

from tests.harness import ROOT, Graph, Registered

CHART_TYPE = "kubernetes:helm.sh/v4:Chart"
CLUSTER_TYPE = "eks:index:Cluster"
SOURCES = ROOT.parent / "shared" / "charts"
HOOK = "helm.sh/hook"

# provider/pkg/kinds/kinds.go `Kind.Namespaced`: the built-in kinds' scope, as the provider knows it.
NAMESPACED_KINDS = frozenset({
    "Binding", "ConfigMap", "ControllerRevision", "CronJob", "CSIStorageCapacity", "DaemonSet", "Deployment",
    "Endpoints", "EndpointSlice", "Event", "HorizontalPodAutoscaler", "Ingress", "Job", "Lease", "LimitRange",
    "NetworkPolicy", "PersistentVolumeClaim", "Pod", "PodDisruptionBudget", "PodTemplate", "ReplicaSet",
    "ReplicationController", "ResourceQuota", "Role", "RoleBinding", "Secret", "Service", "ServiceAccount",
    "StatefulSet"})
CLUSTER_SCOPED_KINDS = frozenset({
    "APIService", "CertificateSigningRequest", "ClusterRole", "ClusterRoleBinding", "CSIDriver", "CSINode",
    "CustomResourceDefinition", "FlowSchema", "IngressClass", "MutatingWebhookConfiguration", "Namespace", "Node",
    "PersistentVolume", "PodSecurityPolicy", "PriorityClass", "PriorityLevelConfiguration", "RuntimeClass",
    "StorageClass", "ValidatingWebhookConfiguration", "VolumeAttachment"})


class ChartSourceMissing(AssertionError):
    """A chart in the graph whose source, at the pinned version, is not in ../shared/charts."""


class UnresolvedScope(AssertionError):
    """A rendered object of a kind whose scope neither the provider nor a CRD tells: it would land in `default`."""


@dataclass(frozen=True)
class Release:
    """One `helm.v4.Chart` as the program registered it."""
    resource: str       # the Pulumi resource name
    chart: str          # the chart's name (the last part of a repository or OCI reference)
    version: str
    name: str           # the Helm release name
    namespace: str
    values_json: str    # canonical JSON: hashable, and the cache key
    skip_crds: bool
    kube_version: str   # the cluster's, as Helm's Capabilities.KubeVersion ("v1.34.0")

    @property
    def values(self) -> dict[str, Any]:
        return json.loads(self.values_json)

    @property
    def label(self) -> str:
        return f"chart {self.chart} {self.version} (release {self.namespace}/{self.name})"


def cluster_version(graph: Graph) -> str:
    (cluster,) = graph.of_type(CLUSTER_TYPE)
    major, minor = str(cluster.inputs["version"]).split(".")[:2]
    return f"v{major}.{minor}.0"


def release_of(r: Registered, kube_version: str) -> Release:
    inputs = r.inputs
    return Release(resource=r.name, chart=inputs["chart"].rstrip("/").rsplit("/", 1)[-1], version=inputs["version"],
                   name=inputs.get("name") or r.name, namespace=inputs.get("namespace") or "default",
                   values_json=json.dumps(inputs.get("values") or {}, sort_keys=True),
                   skip_crds=bool(inputs.get("skipCrds")), kube_version=kube_version)


def releases(graph: Graph) -> list[Release]:
    charts = graph.of_type(CHART_TYPE)
    return [release_of(r, cluster_version(graph)) for r in charts] if charts else []


# --- the chart sources --------------------------------------------------------------------------

_published_copies = Path(tempfile.mkdtemp(prefix="charts-published-"))
atexit.register(shutil.rmtree, _published_copies, ignore_errors=True)


def _drop_descriptions(schema: MutableMapping) -> None:
    """As zero-to-jupyterhub-k8s tools/generate-json-schema.py `clean_jsonschema` (4.4.0)."""
    schema.pop("description", None)
    for value in (schema.get("properties") or {}).values():
        if isinstance(value, MutableMapping):
            _drop_descriptions(value)


@functools.cache
def source_dir(chart: str, version: str) -> Path:
    """The chart's source folder, laid out as the published chart; refuses a missing or other version."""
    folder = SOURCES / chart
    meta = folder / "Chart.yaml"
    found = yaml.safe_load(meta.read_text()).get("version") if meta.is_file() else None
    if found != version:
        raise ChartSourceMissing(
            f"{chart} {version} is deployed, but ../shared/charts/{chart} "
            + (f"holds version {found}" if found else "does not exist")
            + f": add the source of {chart} {version} there (its README lists repository, tag and commit)")
    if (folder / "values.schema.yaml").is_file() and not (folder / "values.schema.json").is_file():
        # jupyterhub keeps its schema as YAML in git; its publish workflow (.github/workflows/publish.yml,
        # tools/generate-json-schema.py) writes the values.schema.json that Helm validates values against.
        published = _published_copies / chart
        if not published.exists():
            shutil.copytree(folder, published)
            schema = yaml.safe_load((folder / "values.schema.yaml").read_text())
            _drop_descriptions(schema)
            (published / "values.schema.json").write_text(json.dumps(schema))
        folder = published
    return folder


@functools.cache
def loaded(chart: str, version: str) -> helm_python.Chart:
    """The chart as Helm loads it (kept open: loading is the slow part); its dependencies present."""
    loaded_chart = helm_python.Chart.load(source_dir(chart, version))
    declared = {d["name"] for d in loaded_chart.metadata.get("dependencies") or []}
    missing = sorted(declared - {d["name"] for d in loaded_chart.dependencies})
    if missing:
        raise ChartSourceMissing(f"../shared/charts/{chart}: {', '.join(missing)} found in Chart.yaml, but missing "
                                 "in charts/ (Helm refuses to install it): add the subcharts the published chart carries")
    return loaded_chart


def default_values(chart: str, version: str) -> dict[str, Any]:
    """The chart's own defaults, as the engine loads them."""
    return copy.deepcopy(loaded(chart, version).values)


def merged_values(release: Release) -> dict[str, Any]:
    """The values the release uses: the chart's defaults coalesced with the program's (Helm's merge)."""
    return loaded(release.chart, release.version).merge_values(release.values)


def has_values_schema(release: Release) -> bool:
    return loaded(release.chart, release.version).schema is not None


def validate_values(release: Release) -> None:
    """Helm's check of the values against the chart's values.schema.json (HelmValuesError names the key)."""
    loaded(release.chart, release.version).validate_schema(release.values)


# --- rendering ----------------------------------------------------------------------------------

def _is_manifest(path: str) -> bool:
    # Helm's releaseutil.SortManifests skips partials; the install action takes NOTES.txt out as notes.
    return not path.endswith("NOTES.txt") and not posixpath.basename(path).startswith("_")


def _documents(text: str, origin: str) -> list[dict[str, Any]]:
    try:
        return [d for d in yaml.safe_load_all(text) if d]
    except yaml.YAMLError as e:
        raise AssertionError(f"{origin} is not YAML: {e}") from e


def _crd_scopes(objects: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    return {(o["spec"]["group"], o["spec"]["names"]["kind"]): o["spec"]["scope"]
            for o in objects if o.get("kind") == "CustomResourceDefinition"}


def _normalize(objects: list[dict[str, Any]], namespace: str, origin: str) -> None:
    scopes = _crd_scopes(objects)
    for o in objects:
        meta = o.setdefault("metadata", {})
        if meta.get("namespace"):
            continue
        kind, group = o["kind"], o["apiVersion"].rpartition("/")[0]
        if "/" not in o["apiVersion"] or "." not in group or group.endswith(".k8s.io"):
            if kind in NAMESPACED_KINDS:
                meta["namespace"] = namespace
                continue
            if kind in CLUSTER_SCOPED_KINDS:
                continue
        scope = scopes.get((group, kind))
        if scope is None:
            raise UnresolvedScope(f"{origin}: {kind} {meta.get('name')} ({o['apiVersion']}): the provider cannot tell its "
                                  "scope offline, so it would be applied without a namespace")
        if scope == "Namespaced":
            meta["namespace"] = namespace


@functools.cache
def _render(release: Release) -> str:
    chart = loaded(release.chart, release.version)
    options = {"name": release.name, "namespace": release.namespace, "kube_version": release.kube_version,
               "is_install": True, "revision": 1}  # `helm template`: a first install
    # helm_python's Chart.render has no kube_version argument; its native call takes the option.
    files = json.loads(_native.call_string("helm_render", chart._raw(), release.values_json, json.dumps(options)))
    objects = [] if release.skip_crds else [d for crd in chart.crds for d in _documents(crd["data"], crd["filename"])]
    for path in sorted(files):
        if _is_manifest(path):
            objects += [d for d in _documents(files[path], path) if HOOK not in (d.get("metadata", {}).get("annotations") or {})]
    _normalize(objects, release.namespace, release.label)
    return json.dumps(objects)


def render(release: Release) -> list[dict[str, Any]]:
    """The objects pulumi-kubernetes applies for the release (a fresh copy: callers may change it).

    Raises ChartSourceMissing, UnresolvedScope, or Helm's own HelmRenderError / HelmValuesError.
    """
    return json.loads(_render(release))


def rendered_hooks(release: Release) -> list[dict[str, Any]]:
    """What the chart renders as hooks: Helm would run them, Pulumi never applies them."""
    chart = loaded(release.chart, release.version)
    options = {"name": release.name, "namespace": release.namespace, "kube_version": release.kube_version}
    files = json.loads(_native.call_string("helm_render", chart._raw(), release.values_json, json.dumps(options)))
    return [d for path, text in sorted(files.items()) if _is_manifest(path) for d in _documents(text, path)
            if HOOK in (d.get("metadata", {}).get("annotations") or {})]
