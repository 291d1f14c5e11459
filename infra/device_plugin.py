"""The NVIDIA device plugin: advertises `nvidia.com/gpu` on GPU nodes so pods can request GPUs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra import charts
from infra.node_groups import GPU_SCHEDULING
from workloads import kube

NAMESPACE = "nvidia-device-plugin"
# A label the chart gives the plugin's pods and its MPS control daemon's (templates/_helpers.tpl selectorLabels).
POD_LABELS = {kube.APP_LABEL: charts.NVIDIA_DEVICE_PLUGIN.name}


@dataclass(frozen=True)
class DevicePluginArgs:
    provider: k8s.Provider


def device_plugin_values() -> dict[str, Any]:
    return {
        "nodeSelector": dict(GPU_SCHEDULING.node_selector),
        "tolerations": [*GPU_SCHEDULING.tolerations, {"key": "CriticalAddonsOnly", "operator": "Exists"}],
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}},
    }


class NvidiaDevicePlugin(pulumi.ComponentResource):
    def __init__(self, name: str, args: DevicePluginArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("genai:infra:NvidiaDevicePlugin", name, None, opts)
        k8s_child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        # The plugin mounts the kubelet's device-plugin socket directory from the host: privileged by nature.
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-ns",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=NAMESPACE,
                labels={
                    "pod-security.kubernetes.io/enforce": "privileged",
                    "pod-security.kubernetes.io/warn": "privileged",
                },
            ),
            opts=k8s_child,
        )
        # Like every namespace of the platform: nothing in, DNS out, and for the plugin (which reads its
        # node) the Kubernetes API on TCP 443; without policies its pods could reach any pod that admits
        # traffic from anywhere.
        in_namespace = pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=[self.namespace])
        kube.isolate(name, NAMESPACE, opts=in_namespace)
        kube.allow_traffic(
            f"{name}-traffic",
            namespace=NAMESPACE,
            pod_labels=POD_LABELS,
            egress=kube.Egress(https_to_internet=True),
            opts=in_namespace,
        )
        # Needs only the API server and its namespace: the DaemonSet lands on GPU nodes whenever they join,
        # so it does not wait for the GPU node groups (which may sit at zero).
        self.chart = charts.helm_chart(
            name,
            charts.NVIDIA_DEVICE_PLUGIN,
            namespace=self.namespace.metadata.name,
            values=device_plugin_values(),
            opts=k8s_child,
        )
        self.register_outputs({})
