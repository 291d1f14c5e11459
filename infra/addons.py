"""EKS-managed add-ons: their versions, and CoreDNS, which needs nodes to become ACTIVE."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

COREDNS_ADDON = "coredns"
KUBE_PROXY_ADDON = "kube-proxy"
VPC_CNI_ADDON = "vpc-cni"


def addon_version(addon: str, kubernetes_version: str, pinned: str | None) -> pulumi.Input[str]:
    """The pinned version, or EKS's default for the Kubernetes version: most_recent=False, where
    pulumi-eks's own lookups ask for the newest build (nodejs/eks/cluster/cluster.ts, addons/cni-addon.ts)."""
    if pinned:
        return pinned
    return aws.eks.get_addon_version_output(
        addon_name=addon, kubernetes_version=kubernetes_version, most_recent=False
    ).version


@dataclass(frozen=True)
class CoreDnsArgs:
    cluster_name: pulumi.Input[str]
    kubernetes_version: str
    # Its pods run here: EKS reports the add-on ACTIVE only once they do, so it waits for these nodes.
    nodes: pulumi.Resource
    version: str | None = None


class CoreDns(pulumi.ComponentResource):
    """CoreDNS as a managed add-on, so EKS upgrades it with the control plane.

    Not pulumi-eks's `corednsAddonOptions`: that add-on is a child of the eks.Cluster component,
    whose construct returns only once every child is created (pulumi sdk/nodejs/provider/server.ts,
    `construct` awaits `waitForRPCs`); the add-on waits for pods, the pods for nodes, and the node
    groups for the cluster. So it is created here, after the system nodes.
    """

    def __init__(self, name: str, args: CoreDnsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("genai:infra:CoreDns", name, None, opts)
        self.addon = aws.eks.Addon(
            name,
            cluster_name=args.cluster_name,
            addon_name=COREDNS_ADDON,
            addon_version=addon_version(COREDNS_ADDON, args.kubernetes_version, args.version),
            # Takes over the copy EKS bootstraps; preserved on delete, as pulumi-eks does, so removing
            # the add-on never takes DNS away from a running cluster.
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            preserve=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.nodes]),
        )
        self.register_outputs({})
