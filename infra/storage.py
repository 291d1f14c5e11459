"""Block storage: the EBS CSI driver add-on with its own IRSA role, and gp3 as the default class."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.addons import addon_version
from infra.identity import ClusterOidc, IrsaRole, IrsaRoleArgs

EBS_CSI_ADDON = "aws-ebs-csi-driver"
EBS_CSI_NAMESPACE = "kube-system"
EBS_CSI_SERVICE_ACCOUNT = "ebs-csi-controller-sa"
EBS_CSI_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
DEFAULT_STORAGE_CLASS = "gp3"


@dataclass(frozen=True)
class StorageArgs:
    cluster_name: pulumi.Input[str]
    kubernetes_version: str
    oidc: ClusterOidc
    provider: k8s.Provider
    # The add-on's controller runs on these nodes: EKS reports it ACTIVE only once they exist.
    controller_nodes: pulumi.Resource
    addon_version: str | None = None


def ebs_csi_configuration() -> dict[str, Any]:
    # The node plugin runs on every node, tainted GPU ones included, or pods there cannot mount EBS
    # volumes; and it stays through any NoExecute taint of a node being drained or reclaimed (spot), to
    # unmount what the evicted pods leave. tolerateAllTaints gives it `operator: Exists`; while it is
    # true the chart ignores node.tolerations (charts/aws-ebs-csi-driver/templates/_node.tpl), so none
    # is listed. Set, not left to the default, so a change of default cannot drop the GPU nodes.
    return {"node": {"tolerateAllTaints": True}}


class Storage(pulumi.ComponentResource):
    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("genai:infra:Storage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.csi_role = IrsaRole(
            f"{name}-ebs-csi",
            IrsaRoleArgs(
                oidc=args.oidc,
                namespace=EBS_CSI_NAMESPACE,
                service_account=EBS_CSI_SERVICE_ACCOUNT,
                managed_policy_arns=(EBS_CSI_POLICY,),
            ),
            opts=child,
        )
        version = addon_version(EBS_CSI_ADDON, args.kubernetes_version, args.addon_version)
        self.addon = aws.eks.Addon(
            f"{name}-ebs-csi",
            cluster_name=args.cluster_name,
            addon_name=EBS_CSI_ADDON,
            addon_version=version,
            service_account_role_arn=self.csi_role.arn,
            configuration_values=json.dumps(ebs_csi_configuration()),
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.controller_nodes, self.csi_role]),
        )

        k8s_child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        # Creating a class needs only the API server; volumes are provisioned when a pod claims one.
        self.default_class = k8s.storage.v1.StorageClass(
            f"{name}-gp3",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=DEFAULT_STORAGE_CLASS, annotations={DEFAULT_CLASS_ANNOTATION: "true"}
            ),
            provisioner="ebs.csi.aws.com",
            parameters={"type": "gp3", "encrypted": "true", "csi.storage.k8s.io/fstype": "ext4"},
            reclaim_policy="Delete",
            volume_binding_mode="WaitForFirstConsumer",
            allow_volume_expansion=True,
            opts=k8s_child,
        )
        # EKS still ships the in-tree gp2 class; two defaults would make PVCs ambiguous. Forced, because
        # on older clusters another field manager owns that annotation.
        k8s.storage.v1.StorageClassPatch(
            f"{name}-gp2-not-default",
            metadata=k8s.meta.v1.ObjectMetaPatchArgs(
                name="gp2", annotations={DEFAULT_CLASS_ANNOTATION: "false", "pulumi.com/patchForce": "true"}
            ),
            opts=k8s_child,
        )
        self.register_outputs({"default_class": self.default_class.metadata.name})
