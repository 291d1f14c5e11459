"""What `pulumi up` waits for, and how long it takes: a model of the engines over a recorded graph.

Two worlds are modelled for each stack:
- `FIRST_DEPLOY`: nothing exists; the VPC, the control plane, the node groups and the add-ons are
  created in this update, and Kubernetes objects meet a cluster whose nodes are still joining.
- `RUNNING_CLUSTER`: the AWS layer is already up (nodes joined, GPU nodes at their desired size
  with the NVIDIA device plugin advertising their GPUs, the EBS CSI driver running) and the
  images pushed; the Kubernetes objects are (re)applied: a workload switched on
  later, or an update that touches an awaited object. A rule that holds only because the nodes
  happen to be late on a first deploy fails here.

Each resource starts when everything it depends on (dependencies, property dependencies, its
provider; a component: all its children) has finished, as Pulumi's step executor schedules it.
Its own duration:

- AWS resources and remote components: `AWS_SECONDS` (estimates from AWS's documentation and typical
  runs; nothing here can measure AWS). Images built in the update: `BUILD_SECONDS`.
- Kubernetes objects, by pulumi-kubernetes' await rules (pulumi/pulumi-kubernetes as
  read at commit 94977969d, 2026-07; the pinned 4.34.2 is later and keeps these files):
  - `provider/pkg/await/await.go` (Creation): the timeout is the resource's customTimeouts, else the
    `pulumi.com/timeoutSeconds` annotation (`metadata.TimeoutDuration`), else 10 minutes.
  - `provider/pkg/metadata/overrides.go` (ReadyCondition): `pulumi.com/skipAwait: "true"` is ready at
    once; `pulumi.com/waitFor` replaces the built-in await; kinds without a built-in awaiter (custom
    resources, ConfigMaps, RBAC, ...) are ready at once.
  - `awaiters.go`: Deployments, StatefulSets and DaemonSets until their pods are ready; Jobs until
    they complete; PersistentVolumeClaims until Bound, or Pending when their class binds on first
    consumer; Pods until ready; Services by `service.go`; Ingresses by `ingress.go`.
  - `service.go`: a Service with a selector (not headless, not ExternalName) succeeds once its
    Endpoints have settled (10 s after the last change) with no not-ready address, so a selected pod
    that has an IP but is not Ready (image pull back-off, a model loading) holds it, and a pod still
    Pending (no IP) does not; a LoadBalancer Service also needs `status.loadBalancer.ingress`.
  - `ingress.go`: an Ingress until its controller writes `status.loadBalancer.ingress`.
  - a Helm chart (`helm.v4.Chart`) or a manifest (`yaml.v2.ConfigFile`) is done when every object it
    renders is: each is awaited by the rules above unless the chart sets `skipAwait`.
- Pods: scheduled when a node that fits is up (CPU pods: the system node group; GPU pods: a GPU node
  group of an instance type their affinity allows, with a desired size above zero, once the NVIDIA
  device plugin advertises `nvidia.com/gpu` there) and their volumes can be provisioned (the EBS CSI
  add-on); the pod has an IP from then on (the sandbox comes before the image pull); then each image
  is pulled (`IMAGE_GB` at `PULL_SECONDS_PER_GB`) once it exists (our images: built in this update,
  or checked in ECR by `aws.ecr.get_image`; else never), init containers run, and the server starts
  (`STARTUP_SECONDS`; vLLM: the model's download and load, by its preset's size), and no pod is
  Ready before CoreDNS (its managed add-on) answers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from presets.catalog import model_presets
from tests import charts as helm
from tests import workload_model as wm
from tests.harness import ACCOUNT, Graph, Registered, ResourceRef, pushed_digest, walk
from tests.network_policy import selects
from workloads.kube import INSTANCE_TYPE_LABEL

FIRST_DEPLOY = "first deploy"
RUNNING_CLUSTER = "running cluster"
WORLDS = (FIRST_DEPLOY, RUNNING_CLUSTER)

DEFAULT_TIMEOUT = 600.0  # await.go: 10 minutes unless customTimeouts or pulumi.com/timeoutSeconds
ENDPOINTS_SETTLE = 10.0  # service.go: endpoints are "settled" 10 s after their last change
WAIT_FOR = "pulumi.com/waitFor"
TIMEOUT_SECONDS = "pulumi.com/timeoutSeconds"
NEVER = math.inf

CLUSTER = "eks:index:Cluster"
NODE_GROUP = "eks:index:ManagedNodeGroup"
ADDON = "aws:eks/addon:Addon"
IMAGE_BUILD = "docker-build:index:Image"
EBS_CSI = "aws-ebs-csi-driver"
COREDNS = "coredns"
DEVICE_PLUGIN_CHART = "nvidia-device-plugin"

# Seconds a resource takes to create (estimates; AWS publishes ranges, not figures).
AWS_SECONDS: dict[str, float] = {
    CLUSTER: 660,  # the control plane (~10 min) and pulumi-eks's OIDC provider, vpc-cni, security groups
    NODE_GROUP: 240,  # the launch, the bootstrap and the nodes joining: ACTIVE once they are Ready
    ADDON: 90,  # ACTIVE once its controller pods run
    "aws:ec2/natGateway:NatGateway": 110,
    "aws:ec2/vpcEndpoint:VpcEndpoint": 30,
    "aws:ec2/vpc:Vpc": 5,
    "aws:kms/key:Key": 5,
    "aws:iam/role:Role": 5,
    "aws:ecr/repository:Repository": 3,
    "aws:s3/bucket:Bucket": 5,
}
AWS_DEFAULT_SECONDS = 3.0
KUBERNETES_OBJECT_SECONDS = 1.0  # an object with nothing to wait for: one API call

# Building an image in the update (BuildKit, cold cache, then the push), by the folder under images/.
BUILD_SECONDS: dict[str, float] = {"finetune": 720, "rag": 420, "chatbot": 180}
BUILD_DEFAULT_SECONDS = 300.0

# Compressed image sizes (GB) by repository, and how fast a node pulls and unpacks them.
IMAGE_GB: dict[str, float] = {
    "vllm/vllm-openai": 10.0,
    "amazon/aws-cli": 0.15,
    "finetune": 7.0,
    "rag": 1.7,  # python-slim, torch CPU, the bundled MiniLM (~90 MB)
    "chatbot": 0.5,  # ours, by repository name
    "quay.io/jupyter/scipy-notebook": 1.6,
    "quay.io/jupyter/pytorch-notebook": 5.5,
    "qdrant/qdrant": 0.08,
    "nvcr.io/nvidia/k8s-device-plugin": 0.2,
}
IMAGE_DEFAULT_GB = 0.2
PULL_SECONDS_PER_GB = 25.0  # ~40 MB/s with unpacking, from ECR or a public registry
POD_SANDBOX_SECONDS = 5.0
VOLUME_SECONDS = 30.0  # an EBS volume provisioned and attached
DEVICE_PLUGIN_SECONDS = 20.0  # the plugin registers with the kubelet and nvidia.com/gpu is allocatable
LOAD_BALANCER_SECONDS = 90.0  # the cloud controller creates an NLB/ELB and writes its hostname
# Karpenter, from a pending pod to a Ready node: it batches pending pods for 1 s of quiet, at most 10 s
# (chart settings batchIdleDuration, batchMaxDuration), launches with one CreateFleet call (~5 s), and
# the instance boots the AL2023 NVIDIA AMI and its kubelet registers and turns Ready (~75 s, an estimate:
# EC2 publishes no figure). Then the device plugin's pod starts there and advertises nvidia.com/gpu.
KARPENTER_BATCH_SECONDS = 10.0
KARPENTER_LAUNCH_SECONDS = 5.0
NODE_BOOT_SECONDS = 75.0
KARPENTER_NODE_SECONDS = KARPENTER_BATCH_SECONDS + KARPENTER_LAUNCH_SECONDS + NODE_BOOT_SECONDS
NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"

# What a container does before its readiness probe passes (seconds), by repository.
STARTUP_SECONDS: dict[str, float] = {"rag": 60, "chatbot": 20, "qdrant/qdrant": 5}
STARTUP_DEFAULT_SECONDS = 15.0
# vLLM: weights from Hugging Face, then into GPU memory, then the engine's profiling and CUDA graphs.
MODEL_DOWNLOAD_BYTES_PER_SECOND = 100e6
MODEL_LOAD_BYTES_PER_SECOND = 1.5e9
VLLM_ENGINE_SECONDS = 120.0
TRAINING_SECONDS = NEVER  # a finetune run takes hours: no update can wait for it


def repository(image: str) -> str:
    """An image reference without tag or digest; our ECR images by their repository's last part."""
    ref = image.split("@")[0]
    if ":" in ref.rsplit("/", 1)[-1]:
        ref = ref.rsplit(":", 1)[0]
    if ref.startswith(f"{ACCOUNT}.dkr.ecr."):
        return ref.rsplit("/", 1)[-1]
    return ref


def is_ours(image: str) -> bool:
    return image.startswith(f"{ACCOUNT}.dkr.ecr.")


@dataclass(frozen=True)
class Step:
    """One resource of the update, or one object a chart renders."""

    ident: str
    start: float
    finish: float  # NEVER: it would not be ready within any time
    awaited: bool
    timeout: float = DEFAULT_TIMEOUT
    waits_for: str = ""

    @property
    def times_out(self) -> bool:
        return self.awaited and self.finish - self.start > self.timeout

    @property
    def ends(self) -> float:
        """When `pulumi up` is done with it: ready, or failed at its timeout."""
        return self.start + self.timeout if self.times_out else self.finish


@dataclass
class Timeline:
    stack: str
    world: str
    steps: list[Step]
    critical_path: list[tuple[str, float]] = field(default_factory=list)

    @property
    def failures(self) -> list[Step]:
        return [s for s in self.steps if s.times_out]

    @property
    def duration(self) -> float:
        return max(s.ends for s in self.steps)

    @property
    def awaited(self) -> list[Step]:
        return [s for s in self.steps if s.awaited]

    def step(self, ident: str) -> Step:
        (found,) = [s for s in self.steps if s.ident == ident]
        return found


def _timeout(registered: Registered | None, manifest: dict[str, Any]) -> float:
    """await.go's order: customTimeouts (create), then the timeoutSeconds annotation, then 10 minutes."""
    create = (registered.custom_timeouts.get("create") if registered else None) or ""
    if create:
        return _go_duration(create)
    annotation = (manifest.get("metadata", {}).get("annotations") or {}).get(TIMEOUT_SECONDS)
    if annotation and str(annotation).isdigit():
        return float(annotation)
    return DEFAULT_TIMEOUT


def _go_duration(text: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1}
    parts = re.findall(r"(\d+(?:\.\d+)?)([hms])", text)
    assert parts and "".join(n + u for n, u in parts) == text, f"unsupported duration {text!r}"
    return sum(float(n) * units[u] for n, u in parts)


class Model:
    """The timeline of one update of a graph in one world."""

    def __init__(self, graph: Graph, world: str = FIRST_DEPLOY):
        assert world in WORLDS, world
        self.graph, self.world = graph, world
        self.by_urn = {r.urn: r for r in graph.resources}
        self.children: dict[str, list[Registered]] = {}
        for r in graph.resources:
            self.children.setdefault(r.parent, []).append(r)
        self._finish: dict[str, float] = {}
        self._start: dict[str, float] = {}
        self.steps: list[Step] = []
        self._pod_cache: dict[tuple, tuple[float, float]] = {}
        self.blocker: dict[str, str | None] = {}  # what a resource waited for last

    # --- the schedule --------------------------------------------------------------------------
    def start(self, r: Registered) -> float:
        if r.urn not in self._start:
            deps = set(r.dependencies) | {u for urns in r.property_dependencies.values() for u in urns}
            if r.provider_urn:
                deps.add(r.provider_urn)
            # A resource passed as an input (a node group's `cluster`) is a reference, not a dependency
            # the SDK records (pulumi/runtime/rpc.py: exclude_resource_refs_from_deps), but the remote
            # component reads its outputs, so its children wait for it.
            deps |= {v.urn for _, v in walk(r.raw_inputs) if isinstance(v, ResourceRef)}
            finished = {u: self.finish_urn(u) for u in deps}
            # Ties: by URN, so reports are stable.
            latest = max(sorted(finished), key=finished.__getitem__, default=None)
            self.blocker[r.urn] = latest
            self._start[r.urn] = finished[latest] if latest else 0.0
        return self._start[r.urn]

    def finish_urn(self, urn: str) -> float:
        r = self.by_urn.get(urn)
        return self.finish(r) if r is not None else 0.0

    def critical_path(self) -> list[tuple[str, float]]:
        """(resource, when it finished) back from the last resource to finish to the first."""
        last = max(self.graph.resources, key=self.finish)
        path: list[tuple[str, float]] = []
        urn: str | None = last.urn
        while urn:
            r = self.by_urn[urn]
            path.append((f"{r.type.split(':')[-1]} {r.name}", self.finish(r)))
            urn = self.blocker.get(urn)
            if not r.custom and not self._is_remote(r) and urn is None:
                children = self.children.get(r.urn, [])
                urn = max(sorted(children, key=lambda c: c.urn), key=self.finish).urn if children else None
        return path[::-1]

    def finish(self, r: Registered) -> float:
        if r.urn in self._finish:
            return self._finish[r.urn]
        self._finish[r.urn] = NEVER  # a cycle would read as never
        if not r.custom and not self._is_remote(r):
            # A component: done when its children are (what depending on it waits for).
            done = max((self.finish(c) for c in self.children.get(r.urn, [])), default=self.start(r))
        else:
            done = self._create(r)
        self._finish[r.urn] = done
        return done

    @staticmethod
    def _is_remote(r: Registered) -> bool:
        return r.type in (CLUSTER, NODE_GROUP, helm.CHART_TYPE, wm.RELEASE_MANIFEST)

    def _existing(self, r: Registered) -> bool:
        """In the running-cluster world, the AWS layer is there already."""
        # Images too: their content is unchanged, so the provider neither builds nor pushes them again.
        return self.world == RUNNING_CLUSTER and not r.type.startswith("kubernetes:")

    def _create(self, r: Registered) -> float:
        start = self.start(r)
        if self._existing(r):
            self.steps.append(Step(r.type + " " + r.name, 0.0, 0.0, awaited=False, waits_for="exists"))
            return 0.0
        if r.type.startswith("kubernetes:") and r.type != "pulumi:providers:kubernetes":
            return self._kubernetes(r, start)
        if r.type == IMAGE_BUILD:
            name = _image_folder(r)
            seconds = BUILD_SECONDS.get(name, BUILD_DEFAULT_SECONDS)
            self.steps.append(
                Step(
                    f"{r.type} {r.name}",
                    start,
                    start + seconds,
                    awaited=True,
                    timeout=NEVER,
                    waits_for=f"build and push of images/{name}",
                )
            )
            return start + seconds
        seconds = (
            0.0 if r.type.startswith(("random:", "pulumi:providers:")) else AWS_SECONDS.get(r.type, AWS_DEFAULT_SECONDS)
        )
        self.steps.append(
            Step(
                f"{r.type} {r.name}",
                start,
                start + seconds,
                awaited=True,
                timeout=NEVER,
                waits_for="AWS" if r.type.startswith(("aws:", "eks:")) else "",
            )
        )
        return start + seconds

    # --- the world the pods meet ---------------------------------------------------------------
    def node_kinds(self) -> list[NodeKind]:
        """The nodes each managed node group brings: one kind per instance type, labelled and tainted
        as the group's inputs say (EKS adds the instance-type label; `NO_SCHEDULE` is `NoSchedule`);
        and those each Karpenter NodePool may launch, labelled from its template, launched on demand."""
        found = []
        for g in self.graph.of_type(NODE_GROUP):
            taints = tuple(
                (t["key"], t.get("value"), _TAINT_EFFECTS[t["effect"]]) for t in g.inputs.get("taints") or []
            )
            for instance_type in g.inputs.get("instanceTypes") or ():
                # The kubelet labels every node with its OS and architecture (kubernetes.io/os, /arch).
                labels = {
                    **(g.inputs.get("labels") or {}),
                    INSTANCE_TYPE_LABEL: instance_type,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "arm64" if g.inputs.get("amiType", "").endswith("ARM_64") else "amd64",
                }
                found.append(NodeKind(g, labels, taints, int(g.inputs["scalingConfig"]["desiredSize"])))
        for pool in self.graph.of_type(NODE_POOL):
            template = pool.inputs["spec"]["template"]
            taints = tuple((t["key"], t.get("value"), t["effect"]) for t in template["spec"].get("taints") or [])
            (types,) = [r["values"] for r in template["spec"]["requirements"] if r["key"] == INSTANCE_TYPE_LABEL]
            for instance_type in types:
                labels = {
                    **template["metadata"]["labels"],
                    INSTANCE_TYPE_LABEL: instance_type,
                    "karpenter.sh/nodepool": pool.inputs["metadata"]["name"],
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                }
                found.append(NodeKind(pool, labels, taints, 0, on_demand=True))
        return found

    def node_ready(self, spec: dict[str, Any], gpus: bool, created: float = 0.0) -> float:
        """When the first node the pod fits is Ready (NEVER: none joins in this update). A pod that
        requests GPUs also waits for the NVIDIA device plugin to advertise them on that node. A
        NodePool's node is launched for the pod once it is pending and Karpenter runs with the pool."""
        times = []
        for kind in self.node_kinds():
            if not kind.fits(spec):
                continue
            if kind.on_demand:
                karpenter = 0.0 if self.world == RUNNING_CLUSTER else self.finish(kind.group)
                up = max(created, karpenter) + KARPENTER_NODE_SECONDS
                times.append(self._gpus_advertised(kind, up) if gpus else up)
                continue
            if kind.desired == 0:
                continue
            up = 0.0 if self.world == RUNNING_CLUSTER else self.finish(kind.group)
            if gpus and self.world == FIRST_DEPLOY:  # on a running cluster the plugin runs on its nodes already
                up = self._gpus_advertised(kind, up)
            times.append(up)
        return min(times, default=NEVER)

    def _gpus_advertised(self, kind: NodeKind, node_up: float) -> float:
        plugins = [c for c in self.graph.of_type(helm.CHART_TYPE) if c.inputs.get("chart") == DEVICE_PLUGIN_CHART]
        plugin_pods = [
            p
            for p in wm.pods(self.graph)
            if p.namespace == DEVICE_PLUGIN_CHART and p.kind == "DaemonSet" and kind.fits(p.spec)
        ]
        if not plugins or not plugin_pods:
            return NEVER  # nothing advertises nvidia.com/gpu there: a GPU pod stays Pending
        started = node_up if self.world == RUNNING_CLUSTER else max(node_up, self.start(plugins[0]))
        return (
            started
            + POD_SANDBOX_SECONDS
            + self.pull_seconds("nvcr.io/nvidia/k8s-device-plugin")
            + DEVICE_PLUGIN_SECONDS
        )

    def dns_ready(self) -> float:
        """When CoreDNS answers: its managed add-on is ACTIVE (its pods run on the system nodes). Until
        then a pod that resolves a name (S3, Hugging Face, another Service) cannot get Ready."""
        if self.world == RUNNING_CLUSTER:
            return 0.0
        addons = [a for a in self.graph.of_type(ADDON) if a.inputs.get("addonName") == COREDNS]
        return self.finish(addons[0]) if addons else self.nodes_or_never()

    def nodes_or_never(self) -> float:
        # EKS's bootstrap CoreDNS Deployment: Ready once a node can run it.
        return min((self.finish(k.group) for k in self.node_kinds() if k.desired and not k.taints), default=NEVER)

    def volumes_ready(self) -> float:
        addons = [a for a in self.graph.of_type(ADDON) if a.inputs.get("addonName") == EBS_CSI]
        return self.finish(addons[0]) + VOLUME_SECONDS if addons else NEVER

    @staticmethod
    def pull_seconds(image: str) -> float:
        return IMAGE_GB.get(repository(image), IMAGE_DEFAULT_GB) * PULL_SECONDS_PER_GB

    def image_exists(self, image: str, owner: Registered | None) -> float:
        """When an image can be pulled: public ones now; ours once built here, or now if checked in ECR."""
        if not image or not is_ours(image):
            return 0.0
        name, registry = repository(image), image.split("/")[0]
        # Only what was pushed exists: a build's tags and their digest, or the tag ECR was asked for.
        for build in self.graph.of_type(IMAGE_BUILD):
            if _image_folder(build) == name and owner is not None and self.graph.depends_on(owner, build):
                tags = build.inputs.get("tags") or []
                if image in {*tags, *(f"{t.rsplit(':', 1)[0]}@{pushed_digest(t)}" for t in tags)}:
                    return self.finish(build)
        checked: set[str] = set()
        for token, args in self.graph.invokes:
            if token == "aws:ecr/getImage:getImage":
                asked = f"{args.get('repositoryName')}:{args.get('imageTag')}"
                checked |= {f"{registry}/{asked}", f"{registry}/{asked.rsplit(':', 1)[0]}@{pushed_digest(asked)}"}
        return 0.0 if image in checked else NEVER

    def _pulled(self, container: dict[str, Any], after: float, owner: Registered | None) -> float:
        """When a container's image is on the node: it exists, and then it is pulled."""
        image = container.get("image", "")
        return max(after, self.image_exists(image, owner)) + self.pull_seconds(image)

    def startup_seconds(self, pod: wm.Pod, container: dict[str, Any]) -> float:
        image = container.get("image") or ""
        if repository(image) == "vllm/vllm-openai":
            env = wm.env_of(container)
            served = (env.get("MODEL") or env.get("BASE_MODEL") or {}).get("value")
            weights = _weight_bytes(served)
            return (
                weights / MODEL_DOWNLOAD_BYTES_PER_SECOND + weights / MODEL_LOAD_BYTES_PER_SECOND + VLLM_ENGINE_SECONDS
            )
        if pod.kind == "Job":
            return TRAINING_SECONDS
        return STARTUP_SECONDS.get(repository(image), STARTUP_DEFAULT_SECONDS)

    def pod_times(self, pod: wm.Pod, created: float, owner: Registered | None) -> tuple[float, float]:
        """(when the pod has an IP, when it is Ready) for a pod created at `created`."""
        key = (pod.owner, pod.source, created)
        if key in self._pod_cache:
            return self._pod_cache[key]
        spec = pod.spec
        scheduled = max(created, self.node_ready(spec, pod.requests_gpu, created))
        if _claims_volumes(pod, spec):
            scheduled = max(scheduled, VOLUME_SECONDS if self.world == RUNNING_CLUSTER else self.volumes_ready())
        ip = scheduled + POD_SANDBOX_SECONDS
        t = ip
        for c in spec.get("initContainers") or []:  # one after another
            t = self._pulled(c, t, owner) + STARTUP_DEFAULT_SECONDS
        ready = max(
            (self._pulled(c, t, owner) + self.startup_seconds(pod, c) for c in spec.get("containers") or []), default=t
        )
        ready = max(ready, self.dns_ready())
        period = max(
            (((c.get("readinessProbe") or {}).get("periodSeconds") or 10) for c in spec.get("containers") or []),
            default=0,
        )
        result = (ip, ready + period)  # NEVER stays NEVER
        self._pod_cache[key] = result
        return result

    # --- Kubernetes objects --------------------------------------------------------------------
    def _kubernetes(self, r: Registered, start: float) -> float:
        if r.type == helm.CHART_TYPE:
            releases = [rel for rel in helm.releases(self.graph) if rel.resource == r.name]
            label = releases[0].label if releases else r.name
            objects = [a for a in wm.applied(self.graph) if a.source == label]
            return self._objects(r, start, objects, label)
        if r.type == wm.RELEASE_MANIFEST:
            # Skupper's release manifest: its controller Deployment is the one object that waits.
            pods = [p for p in wm.pods(self.graph) if p.source == wm.SKUPPER_MANIFEST]
            done = start
            for pod in pods:
                _, ready = self.pod_times(pod, start, r)
                done = max(done, ready)
                self.steps.append(
                    Step(
                        f"{pod.owner} ({wm.SKUPPER_MANIFEST})",
                        start,
                        ready,
                        awaited=not r.inputs.get("skipAwait"),
                        waits_for="rollout",
                    )
                )
            return done
        kind = r.type.split(":")[-1]
        if kind.endswith("Patch"):
            self.steps.append(Step(f"{r.type} {r.name}", start, start + KUBERNETES_OBJECT_SECONDS, awaited=False))
            return start + KUBERNETES_OBJECT_SECONDS
        manifest = {"kind": kind, **r.inputs}
        return self._objects(r, start, [wm.Applied(manifest, wm.PROGRAM)], None)

    def _objects(self, r: Registered, start: float, objects: list[wm.Applied], label: str | None) -> float:
        done = start + KUBERNETES_OBJECT_SECONDS
        for a in objects:
            finish, awaited, why = self._object_ready(a, r, start)
            timeout = _timeout(r if label is None else None, a.manifest)
            ident = f"{a.ident}" + (f" ({label})" if label else "")
            self.steps.append(
                Step(
                    ident,
                    start,
                    finish if awaited else start + KUBERNETES_OBJECT_SECONDS,
                    awaited=awaited,
                    timeout=timeout,
                    waits_for=why,
                )
            )
            if awaited:
                done = max(done, min(finish, start + timeout))
        return done

    def _object_ready(self, a: wm.Applied, owner: Registered, created: float) -> tuple[float, bool, str]:
        """(when the awaited condition holds, whether it is awaited, what it waits for)."""
        meta = a.manifest.get("metadata") or {}
        annotations = meta.get("annotations") or {}
        if str(annotations.get(helm.SKIP_AWAIT, "")).lower() == "true":
            return created, False, "skipAwait"
        if annotations.get(WAIT_FOR):
            return self._custom_ready(a, owner, created), True, annotations[WAIT_FOR]
        kind, spec = a.kind, a.manifest.get("spec") or {}
        if kind in ("Deployment", "StatefulSet"):
            if spec.get("replicas", 1) == 0:
                return created, True, "rollout of 0 replicas"
            pod = self._pod_of(a)
            return self.pod_times(pod, created, owner)[1], True, "rollout: pods Ready"
        if kind == "DaemonSet":
            return self._daemonset_ready(a, owner, created), True, "a Ready pod on every node it fits"
        if kind == "Job":
            return NEVER, True, "completion"
        if kind == "Pod":
            return self.pod_times(self._pod_of(a), created, owner)[1], True, "Ready"
        if kind == "PersistentVolumeClaim":
            return created, True, "Pending (the class binds on first consumer)"
        if kind == "Service":
            return self._service_ready(a, owner, created), True, "endpoints with no not-ready address"
        if kind == "Ingress":
            return NEVER, True, "an address from the ingress controller"
        return created + KUBERNETES_OBJECT_SECONDS, False, ""

    def _pod_of(self, a: wm.Applied) -> wm.Pod:
        (pod,) = [
            p
            for p in wm.pods(self.graph)
            if (p.kind, p.namespace, p.name, p.source) == (a.kind, a.namespace, a.name, a.source)
        ]
        return pod

    def _daemonset_ready(self, a: wm.Applied, owner: Registered, created: float) -> float:
        """daemonset.go: ready once every node it fits (desiredNumberScheduled) runs a Ready pod; nodes
        that join while it waits count too. No node fits: ready at once."""
        pod = self._pod_of(a)
        done = created
        for kind in self.node_kinds():
            if kind.desired == 0 or not kind.fits(pod.spec):
                continue
            up = 0.0 if self.world == RUNNING_CLUSTER else self.finish(kind.group)
            if up <= created + DEFAULT_TIMEOUT:
                done = max(done, self.pod_times(pod, max(created, up), owner)[1])
        return done

    def _service_ready(self, a: wm.Applied, owner: Registered, created: float) -> float:
        spec = a.manifest.get("spec") or {}
        address = created + (LOAD_BALANCER_SECONDS if spec.get("type") == "LoadBalancer" else 0.0)
        selector = spec.get("selector") or {}
        if spec.get("type") == "ExternalName" or spec.get("clusterIP") == "None" or not selector:
            return address
        # Each selected pod is not-ready from its IP until Ready; the Service is done at the first
        # moment past the settling time with no pod in that state.
        busy = []
        for pod in wm.pods(self.graph):
            if pod.namespace == a.namespace and wm.matches(selector, pod.labels) and pod.source != wm.KUBESPAWNER:
                pod_owner, pod_created = self._owner_of(pod, owner, created)
                ip, ready = self.pod_times(pod, pod_created, pod_owner)
                if ip < NEVER:
                    busy.append((ip, ready))
        candidates = sorted(
            {created + ENDPOINTS_SETTLE} | {ready + ENDPOINTS_SETTLE for _, ready in busy if ready < NEVER}
        )
        for t in candidates:
            if all(not (ip <= t < ready) for ip, ready in busy):
                return max(t, address)
        return NEVER

    def _owner_of(self, pod: wm.Pod, fallback: Registered, created: float) -> tuple[Registered | None, float]:
        """The resource whose creation makes the pod, and when it is created."""
        if pod.source == wm.PROGRAM:
            for r in self.graph.resources:
                if (
                    r.type.endswith(":" + pod.kind)
                    and (r.inputs.get("metadata") or {}).get("name") == pod.name
                    and (r.inputs.get("metadata") or {}).get("namespace") == pod.namespace
                ):
                    return r, self.start(r)
        if pod.source == wm.SKUPPER_CONTROLLER:
            sites = [r for r in self.graph.resources if r.type.endswith(":Site")]
            if sites:
                return sites[0], self.start(sites[0])
        if pod.source == wm.SKUPPER_MANIFEST:
            (manifest,) = self.graph.of_type(wm.RELEASE_MANIFEST)
            return manifest, self.start(manifest)
        for chart in self.graph.of_type(helm.CHART_TYPE):
            if any(rel.label == pod.source and rel.resource == chart.name for rel in helm.releases(self.graph)):
                return chart, self.start(chart)
        return fallback, created

    def _custom_ready(self, a: wm.Applied, owner: Registered, created: float) -> float:
        """Skupper's resources with `pulumi.com/waitFor` (what the controller makes them wait for)."""
        if a.kind == "Site":
            router = [
                p for p in wm.pods(self.graph) if p.source == wm.SKUPPER_CONTROLLER and p.namespace == a.namespace
            ]
            ready = max((self.pod_times(p, created, owner)[1] for p in router), default=created)
            link_access = (a.manifest.get("spec") or {}).get("linkAccess") not in (None, "none")
            return max(ready, created + (LOAD_BALANCER_SECONDS if link_access else 0.0))
        return created + 5.0  # a Certificate: issued by the controller from the Site's CA


def _image_folder(build: Registered) -> str:
    context = (build.inputs.get("context") or {}).get("location") or ""
    return context.rstrip("/").rsplit("/", 1)[-1]


def _weight_bytes(hugging_face_id: str | None) -> float:
    for spec in model_presets().values():
        if spec.hugging_face_id == hugging_face_id:
            return float(spec.weight_bytes)
    return 16e9  # an unknown model: a 7-8B model at bf16


_TAINT_EFFECTS = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}


@dataclass(frozen=True)
class NodeKind:
    """The nodes of one node group and instance type, as the scheduler sees them."""

    group: Registered
    labels: dict[str, str]
    taints: tuple[tuple[str, str | None, str], ...]  # (key, value, effect)
    desired: int
    on_demand: bool = False  # a Karpenter NodePool's: launched for a pending pod that fits

    def fits(self, spec: dict[str, Any]) -> bool:
        """The scheduler's NodeAffinity (nodeSelector and required terms) and TaintToleration filters."""
        if any(self.labels.get(k) != v for k, v in (spec.get("nodeSelector") or {}).items()):
            return False
        terms = (
            ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
                "requiredDuringSchedulingIgnoredDuringExecution"
            )
            or {}
        ).get("nodeSelectorTerms") or []
        # A NodeSelectorTerm's In/NotIn/Exists/DoesNotExist read as a label selector's (no Gt/Lt here).
        if terms and not any(
            selects({"matchExpressions": t.get("matchExpressions") or []}, self.labels) for t in terms
        ):
            return False
        tolerations = spec.get("tolerations") or []
        return all(
            any(_tolerates(t, taint) for t in tolerations) for taint in self.taints if taint[2] != "PreferNoSchedule"
        )


def _tolerates(toleration: dict[str, Any], taint: tuple[str, str | None, str]) -> bool:
    key, value, effect = taint
    if toleration.get("effect") and toleration["effect"] != effect:
        return False
    if toleration.get("operator") == "Exists":
        return not toleration.get("key") or toleration["key"] == key
    return toleration.get("key") == key and toleration.get("value") == value


def _claims_volumes(pod: wm.Pod, spec: dict[str, Any]) -> bool:
    return pod.kind == "StatefulSet" or any("persistentVolumeClaim" in v for v in spec.get("volumes") or [])


def timeline(graph: Graph, world: str = FIRST_DEPLOY) -> Timeline:
    key = f"timeline:{world}"
    if key not in graph.cache:
        model = Model(graph, world)
        for r in graph.resources:
            model.finish(r)
        graph.cache[key] = Timeline(graph.stack, world, model.steps, model.critical_path())
    return graph.cache[key]


def minutes(seconds: float) -> str:
    return "never" if seconds == NEVER else f"{seconds / 60:.1f} min"


def report(t: Timeline, out: Callable[[str], None] = print) -> None:
    """The predicted update, the awaited Kubernetes objects and their timeouts, and what would time out."""
    out(
        f"{t.stack}, {t.world}: `pulumi up` takes about {minutes(t.duration)}"
        + (f" and FAILS: {len(t.failures)} resource(s) time out" if t.failures else "")
    )
    out("  critical path: " + " -> ".join(f"{name} ({minutes(done)})" for name, done in t.critical_path if done > 0))
    for s in sorted(t.awaited, key=lambda s: s.start):
        if s.timeout < NEVER:
            verdict = "TIMES OUT" if s.times_out else f"ready after {minutes(s.finish - s.start)}"
            out(f"  awaited {s.ident}: {s.waits_for}; timeout {minutes(s.timeout)}; {verdict}")


def readme_table(graphs: Iterable[Graph]) -> str:
    """docs/architecture.md's timeline table: per stack, the predicted update in each world, and its longest wait."""
    rows = [
        "| stack | first deploy | on a running cluster | the first deploy's critical path |",
        "| --- | --- | --- | --- |",
    ]
    for graph in graphs:
        first, running = timeline(graph, FIRST_DEPLOY), timeline(graph, RUNNING_CLUSTER)
        path = " → ".join(
            name for name, done in first.critical_path if done > 0 and not name.startswith(("Subnet", "Vpc "))
        )
        rows.append(
            f"| {graph.stack} | ~{round(first.duration / 60)} min | ~{round(running.duration / 60)} min | {path} |"
        )
    return "\n".join(rows)
