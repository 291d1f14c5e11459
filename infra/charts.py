"""Every Helm chart the program deploys, pinned in one list, and the one way a component deploys one.

Tests render each pin from its source in ../shared/charts; scripts/fetch_charts.py pulls them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s


@dataclass(frozen=True)
class ChartPin:
    name: str
    repository: str  # an https chart repository, or an OCI registry path (oci://...)
    version: str

    @property
    def is_oci(self) -> bool:
        return self.repository.startswith("oci://")

    @property
    def reference(self) -> str:
        """What helm.v4.Chart's `chart` takes: the name in a repository, or the full OCI reference
        (pulumi-kubernetes reads `oci://` charts from `chart`, not from `repositoryOpts.repo`)."""
        return f"{self.repository}/{self.name}" if self.is_oci else self.name


JUPYTERHUB = ChartPin("jupyterhub", "https://hub.jupyter.org/helm-chart/", "4.4.0")
QDRANT = ChartPin("qdrant", "https://qdrant.github.io/qdrant-helm", "1.19.0")
NVIDIA_DEVICE_PLUGIN = ChartPin("nvidia-device-plugin", "https://nvidia.github.io/k8s-device-plugin", "0.20.0")
KARPENTER = ChartPin("karpenter", "oci://public.ecr.aws/karpenter", "1.14.1")
DEPLOYED_CHARTS = (JUPYTERHUB, QDRANT, NVIDIA_DEVICE_PLUGIN, KARPENTER)


def helm_chart(
    resource_name: str,
    pin: ChartPin,
    *,
    namespace: pulumi.Input[str],
    values: pulumi.Input[dict[str, Any]],
    opts: pulumi.ResourceOptions,
    release: str | None = None,
) -> k8s.helm.v4.Chart:
    """A pinned chart, rendered by the provider (helm.v4: each object applied and awaited by its own rules)."""
    return k8s.helm.v4.Chart(
        resource_name,
        name=release,  # None: the resource name (the provider leaves an unset input out)
        chart=pin.reference,
        version=pin.version,
        repository_opts=None if pin.is_oci else k8s.helm.v4.RepositoryOptsArgs(repo=pin.repository),
        namespace=namespace,
        values=values,
        opts=opts,
    )
