"""Building blocks every workload shares: namespaces with default-deny, peers, security contexts.

Everything here returns typed pulumi-kubernetes Args, so a misspelt field fails when the program
runs under the test mocks, not on the cluster.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.identity import ClusterOidc, IrsaRole, IrsaRoleArgs
from infra.node_groups import POOL_LABEL
from presets.fit import Placement, PodShape

meta = k8s.meta.v1
core = k8s.core.v1
net = k8s.networking.v1

APP_LABEL = "app.kubernetes.io/name"
PART_OF_LABEL = "app.kubernetes.io/part-of"
PART_OF = "genai-platform"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # set by the API server on every namespace

# pulumi-kubernetes waits for Deployments to be ready and Jobs to complete unless told not to:
# a training run or a model load must not hold `pulumi up` (watch them with kubectl instead).
SKIP_AWAIT = {"pulumi.com/skipAwait": "true"}
# The instance metadata service: pods use IRSA, never the node's role.
INSTANCE_METADATA = "169.254.169.254/32"

# The in-tree AWS load balancer (no controller needed) makes an NLB from these annotations.
NLB_ANNOTATIONS: Mapping[str, str] = {
    "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
    "service.beta.kubernetes.io/aws-load-balancer-internal": "false",
}

NON_ROOT_UID = 1000


@dataclass(frozen=True)
class Peer:
    """A set of pods, for NetworkPolicy rules: a namespace and a pod label selector."""

    namespace: str
    pod_labels: Mapping[str, str]

    def as_policy_peer(self) -> net.NetworkPolicyPeerArgs:
        return net.NetworkPolicyPeerArgs(
            namespace_selector=meta.LabelSelectorArgs(match_labels={NAMESPACE_NAME_LABEL: self.namespace}),
            pod_selector=meta.LabelSelectorArgs(match_labels=dict(self.pod_labels)),
        )


@dataclass(frozen=True)
class PortRange:
    """TCP ports `start` to `end` (inclusive) for a NetworkPolicy; `end` None: the one port."""

    start: int
    end: int | None = None

    def as_policy_port(self) -> net.NetworkPolicyPortArgs:
        return net.NetworkPolicyPortArgs(protocol="TCP", port=self.start, end_port=self.end)


@dataclass(frozen=True)
class ServiceEndpoint:
    """A Service a workload calls: who serves it (for egress rules) and the URL clients are given.

    The VPC CNI checks egress before kube-proxy's DNAT, to the ClusterIP: its controller admits the
    ClusterIP for a rule only if the Service's selector holds every label of `pod_labels`, and
    translates only a rule port equal to the Service's targetPort (tests/vpc_cni.py, C3 and C4)."""

    namespace: str
    service: str
    port: int
    pod_labels: Mapping[str, str]  # the Service's selector, or a part of it
    target_port: int  # the Service's targetPort: NetworkPolicies match pod ports, not Service ports
    path: str = ""

    @property
    def url(self) -> str:
        return f"http://{self.service}.{self.namespace}.svc.cluster.local:{self.port}{self.path}"

    @property
    def peer(self) -> Peer:
        return Peer(self.namespace, self.pod_labels)


@dataclass(frozen=True)
class Egress:
    """Egress a workload needs beyond DNS and in-cluster Services."""

    https_to_internet: bool = False  # AWS APIs (S3, STS), Hugging Face, pip: TCP 443, never the metadata service


def app_labels(app: str) -> dict[str, str]:
    return {APP_LABEL: app, PART_OF_LABEL: PART_OF}


def pod_security_context(uid: int = NON_ROOT_UID, gid: int | None = None) -> core.PodSecurityContextArgs:
    """Pod Security "restricted": non-root, the runtime's seccomp profile; the group defaults to the UID."""
    gid = uid if gid is None else gid
    return core.PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=uid,
        run_as_group=gid,
        fs_group=gid,
        seccomp_profile=core.SeccompProfileArgs(type="RuntimeDefault"),
    )


def container_security_context(read_only_root: bool = True) -> core.SecurityContextArgs:
    return core.SecurityContextArgs(
        allow_privilege_escalation=False,
        capabilities=core.CapabilitiesArgs(drop=["ALL"]),
        read_only_root_filesystem=read_only_root,
        run_as_non_root=True,
        seccomp_profile=core.SeccompProfileArgs(type="RuntimeDefault"),
    )


def resources(
    cpu: str, memory: str, cpu_limit: str, memory_limit: str, gpus: int = 0, ephemeral_storage: str | None = None
) -> core.ResourceRequirementsArgs:
    requests = {"cpu": cpu, "memory": memory}
    limits = {"cpu": cpu_limit, "memory": memory_limit}
    if ephemeral_storage:
        requests["ephemeral-storage"] = ephemeral_storage
        limits["ephemeral-storage"] = ephemeral_storage
    if gpus:
        # Extended resources: the request must equal the limit.
        requests["nvidia.com/gpu"] = limits["nvidia.com/gpu"] = str(gpus)
    return core.ResourceRequirementsArgs(requests=requests, limits=limits)


def pod_resources(pod: PodShape) -> core.ResourceRequirementsArgs:
    """A GPU pod's requests and limits, as its workspace's placement derived them (presets/fit.py)."""
    return resources(
        str(pod.cpu),
        f"{pod.memory_gib}Gi",
        str(pod.cpu),
        f"{pod.memory_limit_gib}Gi",
        gpus=pod.gpus,
        ephemeral_storage=f"{pod.scratch_gib}Gi",
    )


INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
# On a pod: Karpenter never drains its node voluntarily (consolidation, drift, expiry wait for it).
DO_NOT_DISRUPT = "karpenter.sh/do-not-disrupt"


def placement_affinity(placement: Placement) -> core.AffinityArgs:
    """Only the pools the fit chose and the instance types it fits there (a node's GPU count, memory and
    disk vary by type): Karpenter provisions from exactly those pools, the scheduler binds only there."""
    return core.AffinityArgs(
        node_affinity=core.NodeAffinityArgs(
            required_during_scheduling_ignored_during_execution=core.NodeSelectorArgs(
                node_selector_terms=[core.NodeSelectorTermArgs(match_expressions=placement_requirements(placement))]
            )
        )
    )


def placement_requirements(placement: Placement) -> list[core.NodeSelectorRequirementArgs]:
    return [
        core.NodeSelectorRequirementArgs(key=POOL_LABEL, operator="In", values=list(placement.pools)),
        core.NodeSelectorRequirementArgs(key=INSTANCE_TYPE_LABEL, operator="In", values=list(placement.instance_types)),
    ]


def memory_volume(name: str, size_gib: int) -> core.VolumeArgs:
    """A RAM-backed emptyDir, e.g. for /dev/shm (NCCL and data loaders need far more than 64 MiB)."""
    return core.VolumeArgs(
        name=name, empty_dir=core.EmptyDirVolumeSourceArgs(medium="Memory", size_limit=f"{size_gib}Gi")
    )


def scratch_volume(name: str, size: str) -> core.VolumeArgs:
    return core.VolumeArgs(name=name, empty_dir=core.EmptyDirVolumeSourceArgs(size_limit=size))


def secret_env(name: str, secret: str, key: str) -> core.EnvVarArgs:
    return core.EnvVarArgs(
        name=name, value_from=core.EnvVarSourceArgs(secret_key_ref=core.SecretKeySelectorArgs(name=secret, key=key))
    )


def env(values: Mapping[str, pulumi.Input[str]]) -> list[core.EnvVarArgs]:
    return [core.EnvVarArgs(name=k, value=v) for k, v in values.items()]


def http_probe(
    path: str, port: str, *, period: int, failures: int, timeout: int = 5, initial_delay: int = 0
) -> core.ProbeArgs:
    return core.ProbeArgs(
        http_get=core.HTTPGetActionArgs(path=path, port=port),
        period_seconds=period,
        failure_threshold=failures,
        timeout_seconds=timeout,
        initial_delay_seconds=initial_delay,
    )


def object_meta(
    name: str, namespace: str, labels: Mapping[str, str] | None = None, annotations: Mapping[str, str] | None = None
) -> meta.ObjectMetaArgs:
    return meta.ObjectMetaArgs(
        name=name,
        namespace=namespace,
        labels=dict(labels or {}),
        annotations=dict(annotations) if annotations else None,
    )


@dataclass(frozen=True)
class NamespaceArgs:
    name: str
    provider: k8s.Provider
    # "restricted" unless a workload in it cannot run so (docs/security.md names each exception).
    pod_security: str = "restricted"
    # For namespaces whose pods claim EBS volumes: on destroy, the namespace (and the volumes its
    # claims provisioned) goes before the CSI driver that must delete them, or the volumes are orphaned.
    volumes_ready: Sequence[pulumi.Resource] = ()


class WorkloadNamespace(pulumi.ComponentResource):
    """A namespace labelled for Pod Security, where all traffic is denied except DNS until allowed."""

    def __init__(self, name: str, args: NamespaceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("genai:workloads:Namespace", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        self.name = args.name
        self.namespace = core.Namespace(
            name,
            metadata=meta.ObjectMetaArgs(
                name=args.name,
                labels={
                    "pod-security.kubernetes.io/enforce": args.pod_security,
                    "pod-security.kubernetes.io/enforce-version": "latest",
                    "pod-security.kubernetes.io/warn": "restricted",
                    "pod-security.kubernetes.io/audit": "restricted",
                    PART_OF_LABEL: PART_OF,
                },
            ),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=list(args.volumes_ready))),
        )
        isolate(
            name,
            args.name,
            opts=pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=[self.namespace]),
        )
        self.register_outputs({})

    def child_opts(self, component: pulumi.Resource, provider: k8s.Provider) -> pulumi.ResourceOptions:
        """Options for an object in this namespace: it needs the namespace to exist first."""
        return pulumi.ResourceOptions(parent=component, provider=provider, depends_on=[self.namespace])


def isolate(name: str, namespace: str, *, opts: pulumi.ResourceOptions) -> None:
    """A namespace's `default-deny` (all ingress and egress) and `allow-dns` (to CoreDNS) policies."""
    net.NetworkPolicy(
        f"{name}-default-deny",
        metadata=object_meta("default-deny", namespace),
        spec=net.NetworkPolicySpecArgs(pod_selector=meta.LabelSelectorArgs(), policy_types=["Ingress", "Egress"]),
        opts=opts,
    )
    net.NetworkPolicy(
        f"{name}-allow-dns",
        metadata=object_meta("allow-dns", namespace),
        spec=net.NetworkPolicySpecArgs(
            pod_selector=meta.LabelSelectorArgs(),
            policy_types=["Egress"],
            egress=[
                net.NetworkPolicyEgressRuleArgs(
                    to=[
                        net.NetworkPolicyPeerArgs(
                            namespace_selector=meta.LabelSelectorArgs(
                                match_labels={NAMESPACE_NAME_LABEL: "kube-system"}
                            ),
                            pod_selector=meta.LabelSelectorArgs(match_labels={"k8s-app": "kube-dns"}),
                        )
                    ],
                    ports=[
                        net.NetworkPolicyPortArgs(protocol="UDP", port=53),
                        net.NetworkPolicyPortArgs(protocol="TCP", port=53),
                    ],
                )
            ],
        ),
        opts=opts,
    )


def allow_traffic(
    name: str,
    *,
    namespace: str,
    pod_labels: Mapping[str, str],
    ingress_from: Sequence[Peer] = (),
    ingress_port: int | None = None,
    ingress_from_anywhere: bool = False,
    egress_to: Sequence[ServiceEndpoint] = (),
    egress: Egress = Egress(),
    policy_name: str | None = None,
    opts: pulumi.ResourceOptions,
) -> net.NetworkPolicy | None:
    """One NetworkPolicy that opens exactly a workload's flows on top of its namespace's default deny."""
    ingress_rules, egress_rules = [], []
    if ingress_port is not None and (ingress_from or ingress_from_anywhere):
        ingress_rules.append(
            net.NetworkPolicyIngressRuleArgs(
                from_=None if ingress_from_anywhere else [p.as_policy_peer() for p in ingress_from],
                ports=[net.NetworkPolicyPortArgs(protocol="TCP", port=ingress_port)],
            )
        )
    for target in egress_to:
        egress_rules.append(
            net.NetworkPolicyEgressRuleArgs(
                to=[target.peer.as_policy_peer()], ports=[PortRange(target.target_port).as_policy_port()]
            )
        )
    if egress.https_to_internet:
        egress_rules.append(https_to_internet())
    if not ingress_rules and not egress_rules:
        return None
    policy_types = (["Ingress"] if ingress_rules else []) + (["Egress"] if egress_rules else [])
    return net.NetworkPolicy(
        name,
        metadata=object_meta(policy_name or f"allow-{pod_labels[APP_LABEL]}", namespace),
        spec=net.NetworkPolicySpecArgs(
            pod_selector=meta.LabelSelectorArgs(match_labels=dict(pod_labels)),
            policy_types=policy_types,
            ingress=ingress_rules or None,
            egress=egress_rules or None,
        ),
        opts=opts,
    )


def https_to_internet() -> net.NetworkPolicyEgressRuleArgs:
    """TCP 443 to any address except the instance metadata service."""
    return net.NetworkPolicyEgressRuleArgs(
        to=[net.NetworkPolicyPeerArgs(ip_block=net.IPBlockArgs(cidr="0.0.0.0/0", except_=[INSTANCE_METADATA]))],
        ports=[net.NetworkPolicyPortArgs(protocol="TCP", port=443)],
    )


def https_to_internet_values() -> dict[str, Any]:
    """`https_to_internet` as a chart's values take an egress rule (plain data)."""
    return {
        "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": [INSTANCE_METADATA]}}],
        "ports": [{"protocol": "TCP", "port": 443}],
    }


def opaque_secret(
    name: str, *, secret_name: str, namespace: str, data: Mapping[str, pulumi.Input[str]], opts: pulumi.ResourceOptions
) -> core.Secret:
    """A Kubernetes Secret from Pulumi secrets: encrypted in the state, only ever referenced by pods."""
    return core.Secret(
        name,
        metadata=object_meta(secret_name, namespace),
        type="Opaque",
        string_data={k: pulumi.Output.secret(v) for k, v in data.items()},
        opts=opts,
    )


def workload_identity(
    name: str,
    *,
    oidc: ClusterOidc,
    namespace: str,
    account: str,
    policy_json: pulumi.Input[str],
    labels: Mapping[str, str],
    parent: pulumi.Resource,
    k8s_opts: pulumi.ResourceOptions,
) -> tuple[IrsaRole, core.ServiceAccount]:
    """An IAM role only this service account may assume, and the account, annotated for IRSA
    (the EKS webhook injects the web-identity token into its pods)."""
    role = IrsaRole(
        f"{name}-role",
        IrsaRoleArgs(oidc=oidc, namespace=namespace, service_account=account, policy_json=policy_json),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    service_account = core.ServiceAccount(
        f"{name}-sa",
        metadata=meta.ObjectMetaArgs(
            name=account,
            namespace=namespace,
            labels=dict(labels),
            annotations={"eks.amazonaws.com/role-arn": role.arn, "eks.amazonaws.com/sts-regional-endpoints": "true"},
        ),
        automount_service_account_token=False,
        opts=k8s_opts,
    )
    return role, service_account
