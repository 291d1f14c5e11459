"""What each `helm.v4.Chart` in a recorded graph puts in the cluster, rendered by Helm's own engine.

pulumi-kubernetes renders a v4 Chart as `helm template` does and registers every object of the
release manifest (provider/pkg/provider/helm/v4/chart.go, `ChartProvider.Construct`):
- the release name is `name`, or the resource's name when unset; the namespace is `namespace`;
- Capabilities are the cluster's (`setKubeVersionAndAPIVersions`): its version as the API server
  reports it (on EKS `v1.34.x-eks-<commit>`, a semver pre-release: `semverCompare ">=1.21"` is false
  there, `">=1.21-0"` true) and the group/versions and kinds discovery lists;
- Helm's install action refuses a chart whose `kubeVersion` the cluster does not meet, a bad
  release name, a library chart, missing dependencies (`CheckDependencies`), and values its
  values.schema.json refuses;
- `cmd.DisableHooks = true`: hooks are not in the release manifest, so nothing annotated
  `helm.sh/hook` is applied (test hooks never); `cmd.IncludeCRDs = !skipCrds`: the chart's `crds/`
  come first, then the manifests in Helm's install order (releaseutil/kind_sorter.go);
- yaml/v2 decodes the manifest (sigs.k8s.io/yaml: YAML 1.1 as go-yaml v2 reads it), expands
  lists, writes `core/v1` as `v1`, gives every namespaced object without a namespace the release's
  (the scope from provider/pkg/kinds/kinds.go `Kind.Namespaced`, or from a CRD), and with
  `skipAwait` annotates every object `pulumi.com/skipAwait: "true"`.
This module does the same from the chart's source in ../shared/charts/<chart>, at the version the
program pins, and refuses a chart with no source of that version, naming the folder to add.

Where it cannot be the same: the engine is Helm 4.2.3 (helm-python-sdk) while the provider builds
on Helm 3.20 (provider/go.mod), so test_charts.py refuses templates that use Helm 4's new functions;
`lookup` finds nothing (a first install: charts that reuse a Secret's value generate a new one);
custom API groups are not among the Capabilities (a first `pulumi up` renders before the CRDs the
stack installs exist); the EKS patch version is taken as 0.

Rendering is pure, so it is cached per release (chart, version, values, name, namespace, CRDs,
skipAwait, Kubernetes version): every stack and every switched-off variant renders each distinct
release once. Each render loads the chart afresh: rendering drops disabled subcharts from a loaded
chart, so a loaded chart is never rendered twice.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import posixpath
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate  # type: ignore[import-untyped]  # ships no type hints (no py.typed, no stubs)
import yaml
from helm_python import _native

from tests.crds import reference_crds
from tests.harness import ROOT, Graph, Registered

CHART_TYPE = "kubernetes:helm.sh/v4:Chart"
CLUSTER_TYPE = "eks:index:Cluster"
SOURCES = ROOT.parent / "shared" / "charts"
HOOK = "helm.sh/hook"
SKIP_AWAIT = "pulumi.com/skipAwait"
EKS_BUILD = "eks-0000000"  # what EKS appends to its version, e.g. v1.34.2-eks-ba74326

# provider/pkg/kinds/kinds.go `Kind.Namespaced`: the built-in kinds' scope, as the provider knows it.
NAMESPACED_KINDS = frozenset(
    {
        "Binding",
        "ConfigMap",
        "ControllerRevision",
        "CronJob",
        "CSIStorageCapacity",
        "DaemonSet",
        "Deployment",
        "Endpoints",
        "EndpointSlice",
        "Event",
        "HorizontalPodAutoscaler",
        "Ingress",
        "Job",
        "Lease",
        "LimitRange",
        "NetworkPolicy",
        "PersistentVolumeClaim",
        "Pod",
        "PodDisruptionBudget",
        "PodTemplate",
        "ReplicaSet",
        "ReplicationController",
        "ResourceQuota",
        "Role",
        "RoleBinding",
        "Secret",
        "Service",
        "ServiceAccount",
        "StatefulSet",
    }
)
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "APIService",
        "CertificateSigningRequest",
        "ClusterRole",
        "ClusterRoleBinding",
        "CSIDriver",
        "CSINode",
        "CustomResourceDefinition",
        "FlowSchema",
        "IngressClass",
        "MutatingWebhookConfiguration",
        "Namespace",
        "Node",
        "PersistentVolume",
        "PodSecurityPolicy",
        "PriorityClass",
        "PriorityLevelConfiguration",
        "RuntimeClass",
        "StorageClass",
        "ValidatingWebhookConfiguration",
        "VolumeAttachment",
    }
)
# Helm 3.20.2 pkg/releaseutil/kind_sorter.go `InstallOrder`; other kinds after them, by kind.
INSTALL_ORDER = (
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
)


class ChartSourceMissing(AssertionError):
    """A chart in the graph whose source, at the pinned version, is not in ../shared/charts."""


class UnresolvedScope(AssertionError):
    """A rendered object of a kind whose scope neither the provider nor a CRD tells: it would land in `default`."""


class InstallRefused(AssertionError):
    """What Helm's install action refuses before it renders: the Kubernetes version, the release name,
    the chart type."""


@dataclass(frozen=True)
class Release:
    """One `helm.v4.Chart` as the program registered it."""

    resource: str  # the Pulumi resource name
    chart: str  # the chart's name (the last part of a repository or OCI reference)
    version: str
    name: str  # the Helm release name
    namespace: str
    values_json: str  # canonical JSON: hashable, and the cache key
    skip_crds: bool
    kube_version: str  # the cluster's, as its API server reports it ("v1.34.0-eks-0000000")
    skip_await: bool = False

    @property
    def values(self) -> dict[str, Any]:
        return json.loads(self.values_json)

    @property
    def label(self) -> str:
        return f"chart {self.chart} {self.version} (release {self.namespace}/{self.name})"


def cluster_version(graph: Graph) -> str:
    """The cluster's version as EKS reports it (GitVersion), from the eks.Cluster's `version`."""
    (cluster,) = graph.of_type(CLUSTER_TYPE)
    major, minor = str(cluster.inputs["version"]).split(".")[:2]
    return f"v{major}.{minor}.0-{EKS_BUILD}"


def release_of(r: Registered, kube_version: str) -> Release:
    inputs = r.inputs
    return Release(
        resource=r.name,
        chart=inputs["chart"].rstrip("/").rsplit("/", 1)[-1],
        version=inputs["version"],
        name=inputs.get("name") or r.name,
        namespace=inputs.get("namespace") or "default",
        values_json=json.dumps(inputs.get("values") or {}, sort_keys=True),
        skip_crds=bool(inputs.get("skipCrds")),
        kube_version=kube_version,
        skip_await=bool(inputs.get("skipAwait")),
    )


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
            + f": add the source of {chart} {version} there (its README lists repository, tag and commit)"
        )
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


@contextlib.contextmanager
def opened(chart: str, version: str) -> Iterator[helm_python.Chart]:
    """The chart freshly loaded by Helm, its dependencies present (Helm's CheckDependencies)."""
    with helm_python.Chart.load(source_dir(chart, version)) as loaded:
        declared = {d["name"] for d in loaded.metadata.get("dependencies") or []}
        missing = sorted(declared - {d["name"] for d in loaded.dependencies})
        if missing:
            raise ChartSourceMissing(
                f"../shared/charts/{chart}: {', '.join(missing)} found in Chart.yaml, but missing "
                "in charts/ (Helm refuses to install it): add the subcharts the published chart carries"
            )
        yield loaded


@functools.cache
def _defaults(chart: str, version: str) -> str:
    with opened(chart, version) as loaded:
        return json.dumps(loaded.values)


def default_values(chart: str, version: str) -> dict[str, Any]:
    """The chart's own defaults, as the engine loads them."""
    return json.loads(_defaults(chart, version))


@functools.cache
def _merged(release: Release) -> str:
    with opened(release.chart, release.version) as loaded:
        return json.dumps(loaded.merge_values(release.values))


def merged_values(release: Release) -> dict[str, Any]:
    """The values the release uses: the chart's defaults coalesced with the program's (Helm's merge)."""
    return json.loads(_merged(release))


def has_values_schema(release: Release) -> bool:
    with opened(release.chart, release.version) as loaded:
        return loaded.schema is not None


def validate_values(release: Release) -> None:
    """Helm's check of the values against the chart's values.schema.json (HelmValuesError names the key)."""
    with opened(release.chart, release.version) as loaded:
        loaded.validate_schema(release.values)


# --- what Helm's install action checks first ------------------------------------------------------

_VERSION = re.compile(r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?$")


def _semver(text: str) -> tuple[tuple[int, int, int], str]:
    m = _VERSION.match(text.strip())
    if not m:
        raise InstallRefused(f"{text!r} is not a version")
    return (int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0)), m.group(4) or ""


def meets(constraint: str, version: str) -> bool:
    """A Masterminds/semver constraint (`>=1.28.0-0`, `>= 1.19, < 2`, `a || b`) as Helm's
    chartutil.IsCompatibleRange reads it: a pre-release version (EKS's) only meets comparisons
    that carry a pre-release themselves."""
    (number, pre) = _semver(version)
    for alternative in constraint.split("||"):
        parts = re.findall(r"(>=|<=|!=|>|<|=)?\s*(v?\d+(?:\.\d+){0,2}(?:-[0-9A-Za-z.-]+)?)", alternative)
        if not parts:
            raise InstallRefused(f"kubeVersion {constraint!r} is not a constraint this harness reads")
        ok = True
        for op, bound_text in parts:
            bound, bound_pre = _semver(bound_text)
            if pre and not bound_pre:
                ok = False
                break
            compare = (number > bound) - (number < bound) or (
                (pre > bound_pre) - (pre < bound_pre) if pre and bound_pre else 0
            )
            ok = (
                ok
                and {
                    "": compare == 0,
                    "=": compare == 0,
                    "!=": compare != 0,
                    ">": compare > 0,
                    ">=": compare >= 0,
                    "<": compare < 0,
                    "<=": compare <= 0,
                }[op]
            )
        if ok:
            return True
    return False


def _check_installable(release: Release, metadata: dict[str, Any]) -> None:
    if metadata.get("type") == "library":
        raise InstallRefused(f"{release.label}: a library chart cannot be installed")
    try:
        helm_python.validate_release_name(release.name)
    except helm_python.HelmInvalidArgError as e:
        raise InstallRefused(f"{release.label}: {e}") from e
    wanted = metadata.get("kubeVersion")
    if wanted and not meets(wanted, release.kube_version):
        raise InstallRefused(
            f"{release.label}: chart requires kubeVersion: {wanted} which is incompatible with "
            f"Kubernetes {release.kube_version}"
        )


@functools.cache
def api_versions(kube_version: str) -> tuple[str, ...]:
    """What discovery lists on a cluster of that version: the GA built-in group/versions and their
    kinds (`apps/v1`, `apps/v1/Deployment`), from the Kubernetes OpenAPI kubernetes-validate ships."""
    major_minor = ".".join(kube_version.lstrip("v").split("-")[0].split(".")[:2])
    path = (
        Path(kubernetes_validate.__file__).parent
        / "kubernetes-json-schema"
        / f"v{major_minor}.0-local"
        / "_definitions.json"
    )
    found = set()
    for definition in json.loads(path.read_text())["$defs"].values():
        for gvk in definition.get("x-kubernetes-group-version-kind") or []:
            if re.fullmatch(r"v\d+", gvk["version"]) and gvk["kind"] not in ("Status", "WatchEvent", "DeleteOptions"):
                group_version = f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"]
                found |= {group_version, f"{group_version}/{gvk['kind']}"}
    return tuple(sorted(found))


# --- decoding as the provider does ---------------------------------------------------------------


class _GoYamlLoader(yaml.SafeLoader):
    """Scalars as go-yaml v2 resolves them into plain values (sigs.k8s.io/yaml, under yaml/v2 Parse):
    `y`/`n` are booleans, `1e3` is a number, `12:30` and dates stay strings, `=` is a string."""

    bool_values = {**yaml.SafeLoader.bool_values, "y": True, "n": False}


_GoYamlLoader.yaml_implicit_resolvers = {
    first: [
        (tag, rx)
        for tag, rx in resolvers
        if tag
        not in (
            "tag:yaml.org,2002:timestamp",
            "tag:yaml.org,2002:value",
            "tag:yaml.org,2002:int",
            "tag:yaml.org,2002:float",
        )
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_GoYamlLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:y|Y|n|N)$"), list("yYnN"))
_GoYamlLoader.add_implicit_resolver(  # yaml.v2 resolve.go: decimal, 0b, 0o/0 octal, 0x; no sexagesimal
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)
_GoYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def _documents(text: str, origin: str) -> list[dict[str, Any]]:
    try:
        return [d for d in yaml.load_all(text, Loader=_GoYamlLoader) if d]
    except yaml.YAMLError as e:
        raise AssertionError(f"{origin} is not YAML: {e}") from e


def _expand(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """yaml/v2 `expand`: a list (any object with `items`) stands for its items, recursively."""
    found = []
    for o in objects:
        found += _expand(o["items"]) if isinstance(o.get("items"), list) else [o]
    return found


def _scopes(crds: Iterable[dict[str, Any]]) -> dict[tuple[str, str], str]:
    return {(c["spec"]["group"], c["spec"]["names"]["kind"]): c["spec"]["scope"] for c in crds}


def _normalize(objects: list[dict[str, Any]], release: Release) -> list[dict[str, Any]]:
    objects = _expand(objects)
    # The reference CRDs stand for those a cluster already has (the provider's CRD cache), then the chart's own.
    scopes = {**_scopes(reference_crds()), **_scopes(o for o in objects if o.get("kind") == "CustomResourceDefinition")}
    for o in objects:
        if o.get("apiVersion", "").startswith("core/"):
            o["apiVersion"] = o["apiVersion"][len("core/") :]
        meta = o.setdefault("metadata", {})
        if release.skip_await:
            meta["annotations"] = {**(meta.get("annotations") or {}), SKIP_AWAIT: "true"}
        if meta.get("namespace"):
            continue
        kind, group = o["kind"], o["apiVersion"].rpartition("/")[0]
        if "." not in group or group.endswith(".k8s.io"):  # a built-in group (kinds.KnownGroupVersions)
            if kind in NAMESPACED_KINDS:
                meta["namespace"] = release.namespace
                continue
            if kind in CLUSTER_SCOPED_KINDS:
                continue
        scope = scopes.get((group, kind))
        if scope is None:
            raise UnresolvedScope(
                f"{release.label}: {kind} {meta.get('name')} ({o['apiVersion']}): the provider cannot "
                "tell its scope offline, so it would be applied without a namespace"
            )
        if scope == "Namespaced":
            meta["namespace"] = release.namespace
    return objects


def _install_order(o: dict[str, Any]) -> tuple[int, str]:
    kind = o.get("kind", "")
    return (INSTALL_ORDER.index(kind), "") if kind in INSTALL_ORDER else (len(INSTALL_ORDER), kind)


# --- rendering ----------------------------------------------------------------------------------


def _is_manifest(path: str) -> bool:
    # Helm's releaseutil.SortManifests skips partials; the install action takes NOTES.txt out as notes.
    return not path.endswith("NOTES.txt") and not posixpath.basename(path).startswith("_")


def _rendered_files(release: Release, loaded: helm_python.Chart) -> dict[str, str]:
    _check_installable(release, loaded.metadata)
    options = {
        "name": release.name,
        "namespace": release.namespace,
        "kube_version": release.kube_version,
        "api_versions": list(api_versions(release.kube_version)),
        "is_install": True,
        "revision": 1,
    }
    # helm_python's Chart.render takes neither the Kubernetes version nor API versions; its native call does.
    return json.loads(_native.call_string("helm_render", loaded._raw(), release.values_json, json.dumps(options)))


@functools.cache
def _render(release: Release) -> str:
    """{"applied": what Pulumi applies, "hooks": what Helm would run as hooks}, as JSON."""
    with opened(release.chart, release.version) as loaded:
        files = _rendered_files(release, loaded)
        # After the render: rendering drops the subcharts their conditions turn off, and their CRDs with them.
        crds = [] if release.skip_crds else [d for crd in loaded.crds for d in _documents(crd["data"], crd["filename"])]
    documents = [d for path in sorted(files) if _is_manifest(path) for d in _documents(files[path], path)]
    is_hook = lambda d: HOOK in (d.get("metadata", {}).get("annotations") or {})  # noqa: E731
    manifests = sorted((d for d in documents if not is_hook(d)), key=_install_order)
    return json.dumps({"applied": _normalize(crds + manifests, release), "hooks": [d for d in documents if is_hook(d)]})


def render(release: Release) -> list[dict[str, Any]]:
    """The objects pulumi-kubernetes applies for the release (a fresh copy: callers may change it).

    Raises ChartSourceMissing, InstallRefused, UnresolvedScope, or Helm's own HelmRenderError /
    HelmValuesError.
    """
    return json.loads(_render(release))["applied"]


def rendered_hooks(release: Release) -> list[dict[str, Any]]:
    """What the chart renders as hooks: Helm would run them, Pulumi never applies them."""
    return json.loads(_render(release))["hooks"]
