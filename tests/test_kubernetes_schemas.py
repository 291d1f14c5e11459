"""Every Kubernetes object the program registers is valid for the Kubernetes versions we support
(custom resources: against their CRDs, in test_skupper.py)."""

import kubernetes_validate
import pytest

from tests.harness import Graph, is_custom, kubernetes_objects

KUBERNETES_VERSIONS = ("1.32", "1.33", "1.34")


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_objects_validate_strictly(graph: Graph, version: str):
    objects = kubernetes_objects(graph)
    assert {manifest["kind"] for _, manifest in objects} >= {"StorageClass", "Namespace"}
    for resource, manifest in objects:
        if is_custom(manifest):
            continue  # test_skupper.py validates them against their CRDs
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{resource.type} {resource.name} is invalid for Kubernetes {version}: {e.message}")


def test_strict_validation_catches_a_misspelt_field(dev: Graph):
    _, manifest = next((r, m) for r, m in kubernetes_objects(dev) if m["kind"] == "StorageClass")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate({**manifest, "volumeBindingMod": "Immediate"}, "1.33", strict=True)
