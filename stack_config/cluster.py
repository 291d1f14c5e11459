"""`genai-eks:cluster`: the EKS control plane, against EKS's support calendar."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import Field, ValidationInfo, model_validator

from stack_config.base import PROJECT, Cidr, ConfigModel, Flag, Items, OneOf, Whole, addon_version, refuse, text

# EKS's release calendar: the day each version's standard support ends, UTC
# (docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html). From that day on EKS bills
# extended support, for 12 more months, then upgrades the control plane itself.
EKS_STANDARD_SUPPORT_ENDS = {
    "1.32": date(2026, 3, 23),
    "1.33": date(2026, 7, 29),
    "1.34": date(2026, 12, 2),
    "1.35": date(2027, 3, 27),
    "1.36": date(2027, 8, 1),  # approximate (14 months from EKS's release): replace with the published day
}
SUPPORTED_KUBERNETES_VERSIONS = tuple(EKS_STANDARD_SUPPORT_ENDS)
DEFAULT_KUBERNETES_VERSION = "1.35"
# The control plane's price per hour (us-west-2 list), in standard and in extended support.
EKS_STANDARD_HOURLY, EKS_EXTENDED_HOURLY = 0.10, 0.60
HOURS_A_MONTH = 730
CONTROL_PLANE_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
# The values CloudWatch Logs accepts for a log group's retention.
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)

_CIDRS = Annotated[tuple[Annotated[str, Cidr()], ...], Items()]
_ROLE_ARN = text(
    r"^arn:aws(-cn|-us-gov)?:iam::\d{12}:role/[\w+=,.@/-]{1,512}$",
    "an IAM role ARN, e.g. arn:aws:iam::123456789012:role/platform-admin",
)


class ClusterConfig(ConfigModel):
    """The EKS control plane: API authentication mode, KMS-encrypted Secrets, control-plane logs, managed add-ons."""

    name: Annotated[
        str,
        text(
            r"^[a-z][a-z0-9-]{0,38}$",
            "1 to 39 lower-case letters, digits or '-', starting with a letter (it also prefixes bucket and ECR names)",
        ),
    ] = Field(
        description="the EKS cluster's name; also prefixes bucket and ECR names",
        json_schema_extra={"x-default": "genai-<stack>"},
    )
    endpoint_public_access_cidrs: _CIDRS = Field(
        description="who reaches the public API endpoint (still behind IAM auth); `[]` makes it private"
    )
    kubernetes_version: Annotated[str, OneOf(*SUPPORTED_KUBERNETES_VERSIONS)] = Field(
        DEFAULT_KUBERNETES_VERSION,
        description=(
            "control plane, node and add-on version; one past EKS standard support on the day of `pulumi up` is "
            "refused "
            "unless allowExtendedSupport"
        ),
    )
    allow_extended_support: Annotated[bool, Flag()] = Field(
        False,
        description=(
            "accept a version past standard support, billed as extended support ($0.60/h instead of $0.10/h); sets the "
            "upgrade policy to EXTENDED (else STANDARD: EKS upgrades the cluster when standard support ends)"
        ),
    )
    admin_role_arns: Annotated[tuple[Annotated[str, _ROLE_ARN], ...], Items()] = Field(
        (),
        description=(
            "cluster-admin access entries besides the deployer (the deployer's own role is refused: EKS makes it "
            "admin already)"
        ),
    )
    log_types: Annotated[tuple[Annotated[str, OneOf(*CONTROL_PLANE_LOG_TYPES)], ...], Items()] = Field(
        ("api", "audit", "authenticator"), description="control-plane log types sent to CloudWatch"
    )
    log_retention_days: Annotated[int, Whole(1, 3653, choices=LOG_RETENTION_DAYS)] = Field(
        30,
        description=(
            "retention of the control-plane log group, a value CloudWatch accepts (the group is kept on destroy, "
            "adopted by the next up)"
        ),
    )
    coredns_addon_version: Annotated[str, addon_version("v1.12.4-eksbuild.1")] | None = Field(
        None, description="pin the managed CoreDNS add-on; none: EKS's default for the Kubernetes version"
    )
    kube_proxy_addon_version: Annotated[str, addon_version("v1.35.0-eksbuild.2")] | None = Field(
        None, description="pin the managed kube-proxy add-on; none: EKS's default"
    )
    vpc_cni_addon_version: Annotated[str, addon_version("v1.20.4-eksbuild.1")] | None = Field(
        None, description="pin the managed VPC CNI add-on; none: EKS's default"
    )

    @model_validator(mode="before")
    @classmethod
    def _name_after_the_stack(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, dict) and data.get("name") is None and info.context:
            return {**data, "name": f"genai-{info.context['stack']}"}
        return data

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> ClusterConfig:
        if info.context and info.context.get("today"):
            self._check_support(info.context["today"])
        return self

    def _check_support(self, today: date) -> None:
        """A version past standard support costs six times as much; past extended support EKS refuses it."""
        version = self.kubernetes_version
        standard_ends = EKS_STANDARD_SUPPORT_ENDS[version]
        extended_ends = standard_ends.replace(year=standard_ends.year + 1)
        current = ", ".join(v for v, ends in EKS_STANDARD_SUPPORT_ENDS.items() if today < ends)
        if today >= extended_ends:
            refuse(
                f"a version EKS still runs on {today.isoformat()}: {current} ({version}'s extended support "
                f"ends {extended_ends.isoformat()}, then EKS upgrades the control plane itself)",
                version,
                at=["kubernetesVersion"],
            )
        if today >= standard_ends and not self.allow_extended_support:
            refuse(
                f"a version in EKS standard support on {today.isoformat()}: {current} ({version}'s standard "
                f"support ended {standard_ends.isoformat()}; EKS bills extended support for it, "
                f"${EKS_EXTENDED_HOURLY:.2f}/h for the control plane instead of ${EKS_STANDARD_HOURLY:.2f}/h, "
                f"~${EKS_EXTENDED_HOURLY * HOURS_A_MONTH:.0f} a month instead of "
                f"~${EKS_STANDARD_HOURLY * HOURS_A_MONTH:.0f}: "
                f"set {PROJECT}:cluster.allowExtendedSupport: true to pay that)",
                version,
                at=["kubernetesVersion"],
            )

    @property
    def upgrade_support_type(self) -> str:
        """The cluster's upgrade policy: STANDARD makes EKS upgrade it when standard support ends
        instead of billing extended support; EXTENDED is what a version past it needs."""
        return "EXTENDED" if self.allow_extended_support else "STANDARD"

    @property
    def endpoint_public_access(self) -> bool:
        return bool(self.endpoint_public_access_cidrs)
