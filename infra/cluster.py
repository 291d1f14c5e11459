"""The EKS control plane: pinned version, OIDC for IRSA, access entries, KMS, logs, private nodes."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks
import pulumi_kubernetes as k8s

from infra.addons import KUBE_PROXY_ADDON, VPC_CNI_ADDON, addon_version
from infra.identity import ClusterOidc
from stack_config import ClusterConfig

CLUSTER_ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"


def check_admins_exclude_deployer(config: ClusterConfig) -> None:
    """EKS already makes the deployer admin; a second access entry for it fails `pulumi up` midway.

    Asks AWS who is deploying (role sessions resolve to their role) before anything is created.
    """
    if not config.admin_role_arns:
        return

    def account_and_role(role_arn: str) -> tuple[str, str]:
        # EKS access entries ignore role paths, so a role is its account and its last name segment.
        return role_arn.split(":")[4], role_arn.rsplit("/", 1)[-1]

    caller = aws.get_caller_identity().arn
    deployer = aws.iam.get_session_context(arn=caller).issuer_arn
    if ":role/" not in deployer:
        return  # an IAM user deploys; adminRoleArns holds roles only
    for i, arn in enumerate(config.admin_role_arns):
        if account_and_role(arn) == account_and_role(deployer):
            raise ValueError(
                f"config key 'genai-eks:cluster.adminRoleArns[{i}]': {arn} is the role deploying this stack "
                f"({caller}); EKS makes the deployer cluster admin already, so remove it from the list"
            )


def control_plane_log_group(cluster_name: str) -> str:
    return f"/aws/eks/{cluster_name}/cluster"


def log_group_exists(name: str) -> bool:
    """Whether the account holds the group already: EKS re-creates it after a destroy, flushing its
    last logs (terraform-aws-modules/terraform-aws-eks #920, #2486, #2763). get_log_groups answers
    empty lists when none matches (terraform-provider-aws internal/service/logs/groups_data_source.go);
    get_log_group would fail. The prefix also matches longer names: only the exact one counts."""
    found = aws.cloudwatch.get_log_groups(log_group_name_prefix=name)
    return name in (found.log_group_names or [])


@dataclass(frozen=True)
class ClusterArgs:
    config: ClusterConfig
    vpc_id: pulumi.Input[str]
    private_subnet_ids: pulumi.Input[list[str]]
    public_subnet_ids: pulumi.Input[list[str]]


class Cluster(pulumi.ComponentResource):
    """The control plane with no nodes of its own, and a Kubernetes provider bound to it."""

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("genai:infra:Cluster", name, None, opts)
        cfg = args.config
        child = pulumi.ResourceOptions(parent=self)

        self.secrets_key = aws.kms.Key(
            f"{name}-secrets",
            description=f"EKS {cfg.name}: envelope encryption of Kubernetes Secrets",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            opts=child,
        )
        aws.kms.Alias(
            f"{name}-secrets", name=f"alias/eks/{cfg.name}/secrets", target_key_id=self.secrets_key.key_id, opts=child
        )

        # EKS writes to this group; made first so its retention is ours and not "never expire".
        # One left from an earlier stack is imported: since pulumi 3.174 an import whose inputs differ
        # is followed by an update (pkg/resource/deploy/step_generator.go, "New eventual state import
        # system", pulumi#19339), so its retention becomes ours again. Kept on destroy: deleting it
        # only makes EKS re-create it without retention; kept, it expires with ours and the next up adopts it.
        group_name = control_plane_log_group(cfg.name)
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-control-plane",
            name=group_name,
            retention_in_days=cfg.log_retention_days,
            opts=pulumi.ResourceOptions(
                parent=self, retain_on_delete=True, import_=group_name if log_group_exists(group_name) else None
            ),
        )

        access_entries = {
            f"admin-{i}": eks.AccessEntryArgs(
                principal_arn=arn,
                access_policies={
                    "cluster-admin": eks.AccessPolicyAssociationArgs(
                        policy_arn=CLUSTER_ADMIN_POLICY,
                        access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                    )
                },
            )
            for i, arn in enumerate(cfg.admin_role_arns)
        }
        self.eks = eks.Cluster(
            name,
            name=cfg.name,
            version=cfg.kubernetes_version,
            vpc_id=args.vpc_id,
            private_subnet_ids=args.private_subnet_ids,
            public_subnet_ids=args.public_subnet_ids,
            endpoint_private_access=True,
            endpoint_public_access=cfg.endpoint_public_access,
            public_access_cidrs=list(cfg.endpoint_public_access_cidrs) or None,
            # API mode: access entries only, no aws-auth ConfigMap. The deployer is admin through
            # EKS's cluster-creator bootstrap (pulumi-eks always turns it on); more admins come from config.
            authentication_mode=eks.AuthenticationMode.API,
            access_entries=access_entries or None,
            create_oidc_provider=True,
            encryption_config_key_arn=self.secrets_key.arn,
            enabled_cluster_log_types=list(cfg.log_types),
            skip_default_node_group=True,
            # STANDARD: EKS upgrades the cluster when standard support ends rather than bill extended support
            # (pulumi-eks leaves EKS's default, EXTENDED).
            upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(support_type=cfg.upgrade_support_type),
            # The VPC CNI add-on's network-policy agent: without it EKS accepts NetworkPolicies but enforces none.
            # It and kube-proxy are DaemonSets, ACTIVE with no node yet, so pulumi-eks makes them with the cluster.
            vpc_cni_options=eks.VpcCniOptionsArgs(
                enable_network_policy=True,
                addon_version=addon_version(VPC_CNI_ADDON, cfg.kubernetes_version, cfg.vpc_cni_addon_version),
            ),
            kube_proxy_addon_options=eks.KubeProxyAddonOptionsArgs(
                version=addon_version(KUBE_PROXY_ADDON, cfg.kubernetes_version, cfg.kube_proxy_addon_version)
            ),
            # CoreDNS needs nodes: infra/addons.py makes it after the system group, not as the cluster's child.
            coredns_addon_options=eks.CoreDnsAddonOptionsArgs(enabled=False),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_group]),
        )
        self.name = self.eks.eks_cluster.name
        self.oidc = ClusterOidc(provider_arn=self.eks.oidc_provider_arn, issuer=self.eks.oidc_issuer)
        self.kubeconfig: pulumi.Output[str] = pulumi.Output.secret(self.eks.kubeconfig_json)
        # An explicit provider object: a provider passed as an Output is silently ignored.
        self.provider = k8s.Provider(
            f"{name}-k8s", kubeconfig=self.eks.kubeconfig_json, enable_server_side_apply=True, opts=child
        )
        self.register_outputs({"name": self.name})
