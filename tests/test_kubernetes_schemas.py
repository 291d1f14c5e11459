"""Every object the cluster gets, the program's and each chart's, is valid for the Kubernetes versions we
support; custom resources against their CRDs (../shared/schemas, or the CRDs the charts ship)."""

import functools

import kubernetes_validate
import pytest

from stack_config import SUPPORTED_KUBERNETES_VERSIONS
from tests import crds
from tests import workload_model as wm
from tests.harness import Graph

KUBERNETES_VERSIONS = SUPPORTED_KUBERNETES_VERSIONS  # every version the config accepts (EKS's calendar)


def custom_resource_schemas(graph: Graph):
    return crds.index(
        [*crds.reference_crds(), *(a.manifest for a in wm.cluster_objects(graph, "CustomResourceDefinition"))]
    )


@functools.cache
def is_built_in(api_version: str, kind: str, version: str) -> bool:
    try:
        kubernetes_validate.validate({"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}}, version)
    except kubernetes_validate.SchemaNotFoundError:
        return False
    except kubernetes_validate.ValidationError:
        pass
    return True


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_objects_validate_strictly(graph: Graph, version: str):
    objects = wm.applied(graph)
    assert {a.kind for a in objects} >= {"StorageClass", "Namespace", "StatefulSet", "DaemonSet"}  # charts' included
    schemas = custom_resource_schemas(graph)
    for a in objects:
        m = a.manifest
        if is_built_in(m["apiVersion"], m["kind"], version):
            try:
                kubernetes_validate.validate(m, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                pytest.fail(f"{a.ident} ({a.source}) is invalid for Kubernetes {version}: {e.message}")
        else:
            assert crds.errors(m, schemas) == [], f"{a.ident} ({a.source})"


def test_custom_resources_are_checked_against_their_crds(dev: Graph):
    custom = [a for a in wm.applied(dev) if not is_built_in(a.manifest["apiVersion"], a.kind, "1.34")]
    assert {a.kind for a in custom} >= {"Site", "Listener", "Certificate"}
    schemas = custom_resource_schemas(dev)
    listener = next(a.manifest for a in custom if a.kind == "Listener")
    assert crds.errors({**listener, "spec": {**listener["spec"], "hostName": "x"}}, schemas)  # an unknown field
    assert crds.errors({**listener, "kind": "Listner"}, schemas) == [
        "no CRD serves skupper.io/v2alpha1 Listner: add it to ../shared/schemas or render the chart that ships it"
    ]


def test_strict_validation_catches_a_misspelt_field(dev: Graph):
    _, manifest = next((r, m) for r, m in wm.objects(dev, "StorageClass"))
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate({**manifest, "volumeBindingMod": "Immediate"}, "1.33", strict=True)


def test_strict_validation_reads_rendered_objects(dev: Graph):
    (hub,) = [a.manifest for a in wm.cluster_objects(dev, "Deployment") if a.name == "hub"]
    broken = {**hub, "spec": {**hub["spec"], "replica": 1}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.34", strict=True)
