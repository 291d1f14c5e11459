"""`SkupperController`: the Skupper controller, installed the way the Skupper project publishes it.

The release's `skupper-cluster-scope.yaml` (the CRDs, the `skupper` namespace, RBAC and the
controller Deployment) is fetched by the Kubernetes provider at deploy time from the GitHub
release of the pinned version; nothing of it is copied into this repository. The program adds
what the manifest leaves out: Pod Security labels on the `skupper` namespace and the same
default-deny NetworkPolicies every workload namespace has, opened only for the controller's calls
to the Kubernetes API.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from workloads import kube

NAMESPACE = "skupper"  # where skupper-cluster-scope.yaml installs the controller
RELEASES = "https://github.com/skupperproject/skupper/releases/download"
# The controller Deployment's pod labels in skupper-cluster-scope.yaml
# (config/manifests/cluster-scope/bases/manager.yaml.in of skupperproject/skupper).
CONTROLLER_POD_LABELS = {
    "app.kubernetes.io/part-of": "skupper",
    "application": "skupper-controller",
    "app.kubernetes.io/name": "skupper-controller",
    "skupper.io/component": "controller",
}
CONTROLLER_POLICY_SELECTOR = {"app.kubernetes.io/name": "skupper-controller", "skupper.io/component": "controller"}


def manifest_url(version: str) -> str:
    """The cluster-scoped install manifest of a Skupper release (controller and CRDs)."""
    return f"{RELEASES}/{version}/skupper-cluster-scope.yaml"


@dataclass(frozen=True)
class SkupperControllerArgs:
    provider: k8s.Provider
    version: str


class SkupperController(pulumi.ComponentResource):
    """The cluster-scoped Skupper controller; Sites may then be created in any namespace."""

    def __init__(self, name: str, args: SkupperControllerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("genai:workloads:SkupperController", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        self.version = args.version
        # Awaited (no skipAwait): `pulumi up` goes on once the CRDs exist and the controller is ready,
        # so the Site and its peers that come next are reconciled at once.
        self.install = k8s.yaml.v2.ConfigFile(f"{name}-install", file=manifest_url(args.version), opts=child)
        after = pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=[self.install])
        # The controller pod meets "restricted" as published (non-root, RuntimeDefault seccomp, all
        # capabilities dropped, no privilege escalation); the manifest's namespace has no labels.
        k8s.core.v1.NamespacePatch(
            f"{name}-pod-security",
            metadata=k8s.meta.v1.ObjectMetaPatchArgs(
                name=NAMESPACE,
                labels={
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/enforce-version": "latest",
                    "pod-security.kubernetes.io/warn": "restricted",
                    "pod-security.kubernetes.io/audit": "restricted",
                },
            ),
            opts=after,
        )
        kube.isolate(name, NAMESPACE, opts=after)
        # The controller only talks to the Kubernetes API (TCP 443 on the EKS control plane's
        # addresses, which the program does not know in advance). Nothing may reach it: it runs a
        # token-redemption (AccessGrant) server that this platform does not use (links are static).
        k8s.networking.v1.NetworkPolicy(
            f"{name}-controller-traffic",
            metadata=kube.object_meta("allow-skupper-controller", NAMESPACE),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=CONTROLLER_POLICY_SELECTOR),
                policy_types=["Egress"],
                egress=[kube.https_to_internet()],
            ),
            opts=after,
        )
        self.register_outputs({})
