"""Every place an object the cluster gets may break a cross-object rule, and why: the one list.

A rule that finds a violation fails unless the violating pod and the rule are listed here; a listed
exception that no stack needs any more fails too (test_workloads.py), so the list stays exact. The
docs/security.md ("Security choices, and the exceptions") names each one (test_readme.py checks it).

Rules: `pss:<check>` is a Pod Security "restricted" check (pod-security-admission's IDs) that a pod
fails even where its namespace enforces less; `probes`, `resources` and `api-token` are the
workload rules of test_workloads.py.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Waiver:
    owner: str  # "<Kind> <namespace>/<name>", as tests/workload_model.py names a pod's owner
    rules: frozenset[str]
    reason: str


def _w(owner: str, rules: str, reason: str) -> Waiver:
    return Waiver(owner, frozenset(rules.split()), reason)


DEVICE_PLUGIN = "DaemonSet nvidia-device-plugin/nvidia-device-plugin"
MPS_DAEMON = "DaemonSet nvidia-device-plugin/nvidia-device-plugin-mps-control-daemon"
SKUPPER_ROUTER = "Deployment private-model/skupper-router"
SKUPPER_CONTROLLER = "Deployment skupper/skupper-controller"

WAIVERS: tuple[Waiver, ...] = (
    _w(
        DEVICE_PLUGIN,
        "pss:restrictedVolumes pss:runAsNonRoot pss:seccompProfile_restricted probes api-token",
        "NVIDIA's device plugin creates its socket in the kubelet's root-owned device-plugins directory (a hostPath) "
        "and reads its node from the API; the chart defines no probes (the node's nvidia.com/gpu capacity shows it "
        "works)",
    ),
    _w(
        MPS_DAEMON,
        "pss:hostNamespaces pss:privileged pss:restrictedVolumes pss:allowPrivilegeEscalation pss:runAsNonRoot "
        "pss:seccompProfile_restricted pss:capabilities_restricted probes api-token",
        "the device plugin chart renders its MPS control daemon with every release (privileged, host PID); it runs "
        "only "
        "on nodes labelled nvidia.com/mps.capable=true, which the plugin sets only when MPS sharing is configured "
        "(it is not), so it never has a pod",
    ),
    _w(
        "Deployment jupyterhub/hub",
        "api-token",
        "the hub starts, watches and deletes notebook pods and their volume claims through the Kubernetes API",
    ),
    _w(
        "StatefulSet vector-db/qdrant",
        "api-token",
        "the Qdrant chart has no setting to stop mounting the token; Qdrant has no role to use it with and no egress",
    ),
    _w(
        "Deployment karpenter/karpenter",
        "api-token",
        "Karpenter watches pending pods and nodes and creates NodeClaims and Nodes through the Kubernetes API",
    ),
    _w("Pod jupyterhub/notebook-cpu", "probes", "KubeSpawner gives notebook pods no probes; the hub polls each server"),
    _w("Pod jupyterhub/notebook-gpu", "probes", "KubeSpawner gives notebook pods no probes; the hub polls each server"),
    _w(
        SKUPPER_ROUTER,
        "pss:seccompProfile_restricted resources probes api-token",
        "Skupper 2.2.1's controller makes the router Deployment from the Site: no seccomp profile, no resources, no "
        "liveness probe on its kube-adaptor sidecar, which reads its configuration and certificates from the API",
    ),
    _w(
        SKUPPER_CONTROLLER,
        "resources probes api-token",
        "the controller runs as Skupper's release manifest publishes it, and reconciles Skupper resources through "
        "the API",
    ),
)


def waived(owner: str, rule: str) -> bool:
    return any(w.owner == owner and rule in w.rules for w in WAIVERS)


# Namespaces that cannot enforce Pod Security "restricted", the level they enforce, and why.
NAMESPACE_LEVELS: dict[str, tuple[str, str]] = {
    "nvidia-device-plugin": ("privileged", "the device plugin mounts the kubelet's device-plugin socket from the host"),
    "private-model": ("baseline", "Skupper 2.2.1's router Deployment sets no seccomp profile"),
}
