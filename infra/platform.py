"""What the Kubernetes layer receives from the AWS layer: explicit, typed values, never infra internals."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.buckets import BucketRef
from infra.identity import ClusterOidc
from infra.node_groups import GpuScheduling


@dataclass(frozen=True)
class Platform:
    provider: k8s.Provider  # every Kubernetes resource names it explicitly
    oidc: ClusterOidc  # for IrsaRole(...) of each workload's service account
    datasets_bucket: BucketRef
    model_assets_bucket: BucketRef
    images: Mapping[str, pulumi.Output[str]]  # image name -> <ECR repository URL>@sha256:<digest> (infra/images.py)
    gpu_scheduling: GpuScheduling  # node selector and tolerations of GPU pods
    storage_class: str  # the default (encrypted gp3) class
    # What must exist before a workload that is awaited can bind a volume (the class, the CSI driver).
    volumes_ready: Sequence[pulumi.Resource] = ()
