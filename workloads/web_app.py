"""The Deployment and Service shape our own web images share (the RAG service and the chatbot)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from workloads import kube
from workloads.kube import core

APP_UID = 1000  # the images' non-root user (images/*/Dockerfile)


@dataclass(frozen=True)
class WebAppSpec:
    app: str  # names the Deployment, the Service and the pod label
    namespace: str
    image: pulumi.Input[str]
    port: int
    service_port: int
    replicas: int
    health_path: str
    environment: Mapping[str, pulumi.Input[str]]
    secret_environment: Sequence[core.EnvVarArgs] = ()
    service_account: str | None = None
    cpu: str = "250m"
    memory: str = "512Mi"
    cpu_limit: str = "1"
    memory_limit: str = "1Gi"
    cache_size: str = "2Gi"  # /cache: model downloads and Python caches (the root is read-only)
    startup_seconds: int = 300  # first start downloads an embedding model or builds the UI


def web_app(
    name: str,
    spec: WebAppSpec,
    *,
    service_type: str = "ClusterIP",
    load_balancer_source_ranges: Sequence[str] = (),
    service_annotations: Mapping[str, str] | None = None,
    session_affinity: str | None = None,
    opts: pulumi.ResourceOptions,
) -> tuple[k8s.apps.v1.Deployment, core.Service]:
    labels = kube.app_labels(spec.app)
    container = core.ContainerArgs(
        name=spec.app,
        image=spec.image,
        env=[
            *kube.env({**spec.environment, "HOME": "/cache/home", "XDG_CACHE_HOME": "/cache", "TMPDIR": "/tmp"}),
            *spec.secret_environment,
        ],
        ports=[core.ContainerPortArgs(name="http", container_port=spec.port, protocol="TCP")],
        resources=kube.resources(spec.cpu, spec.memory, spec.cpu_limit, spec.memory_limit),
        startup_probe=kube.http_probe(spec.health_path, "http", period=5, failures=spec.startup_seconds // 5),
        readiness_probe=kube.http_probe(spec.health_path, "http", period=10, failures=3),
        liveness_probe=kube.http_probe(spec.health_path, "http", period=20, failures=3),
        security_context=kube.container_security_context(),
        volume_mounts=[
            core.VolumeMountArgs(name="cache", mount_path="/cache"),
            core.VolumeMountArgs(name="tmp", mount_path="/tmp"),
        ],
    )
    deployment = k8s.apps.v1.Deployment(
        name,
        # Awaited: the image exists before the Deployment does (built in this update, or checked in
        # ECR at preview), the pods are CPU pods that start in about a minute, and a broken image or
        # config fails the update instead of passing unnoticed (tests/deploy_model.py).
        metadata=kube.object_meta(spec.app, spec.namespace, labels),
        spec=k8s.apps.v1.DeploymentSpecArgs(
            replicas=spec.replicas,
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
            template=core.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                spec=core.PodSpecArgs(
                    service_account_name=spec.service_account,
                    automount_service_account_token=False if spec.service_account is None else None,
                    security_context=kube.pod_security_context(APP_UID),
                    containers=[container],
                    volumes=[kube.scratch_volume("cache", spec.cache_size), kube.scratch_volume("tmp", "256Mi")],
                ),
            ),
        ),
        opts=opts,
    )
    svc = core.Service(
        f"{name}-svc",
        metadata=kube.object_meta(spec.app, spec.namespace, labels, service_annotations),
        spec=core.ServiceSpecArgs(
            type=service_type,
            selector=labels,
            session_affinity=session_affinity,
            load_balancer_source_ranges=list(load_balancer_source_ranges) or None,
            ports=[core.ServicePortArgs(name="http", port=spec.service_port, target_port="http", protocol="TCP")],
        ),
        opts=opts,
    )
    return deployment, svc
