"""Runs the real program under Pulumi mocks with a real stack file's config, and records the graph.

Every RegisterResource request is kept whole: type, name, inputs (decoded without re-hydrating
resource references, which is what makes the stock monitor flaky), parent, provider,
dependencies and property dependencies. Secret and unknown values are kept visible as
markers, so tests can assert what is secret and that no mock gap leaks into inputs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import runpy
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc, settings
from pulumi.runtime.config import set_all_config
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT.parent / "shared" / "schemas"  # upstream reference files (scripts/fetch-schemas.sh)
PROJECT = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["name"]
ACCOUNT = "123456789012"
DEPLOYER_ROLE = "deployer"  # the role the mocked `pulumi up` runs as
SECRET_MARK = "MOCKSECRET"  # every generated password starts with it
STACK_FILES = sorted(ROOT.glob("Pulumi.*.yaml"))
# What the mocked Skupper controller reports: the router's load balancer, and the client
# certificate it issues (recognisable, so tests can prove it reaches only the secret output).
LINK_HOST = "a0123456789abcdef0123456789abcd-1234567890.us-west-2.elb.amazonaws.com"
LINK_CREDENTIAL_MARK = SECRET_MARK + "LINKKEY"
# What `aws.eks.get_addon_version` answers: EKS's default version of each add-on for the cluster's
# Kubernetes version (most_recent=False), and a newer build when asked for the most recent one.
DEFAULT_ADDON_VERSIONS = {
    "aws-ebs-csi-driver": "v1.50.1-eksbuild.1",
    "coredns": "v1.12.4-eksbuild.1",
    "kube-proxy": "v1.35.0-eksbuild.2",
    "vpc-cni": "v1.20.4-eksbuild.1",
}
MOST_RECENT_BUILD = "eksbuild.99"


def parsed_config(graph: Graph):
    """The typed config of the stack a graph was recorded from (its stack file)."""
    from stack_config import parse_stack_config

    return parse_stack_config(graph.config or stack_config(graph.stack), graph.stack)


def planned_workspaces(graph: Graph):
    """The workspaces of the stack a graph was recorded from, planned as the program plans them."""
    from presets.plan import plan_workspaces

    return plan_workspaces(parsed_config(graph))


def stack_names() -> list[str]:
    return [p.name[len("Pulumi.") : -len(".yaml")] for p in STACK_FILES]


def stack_config(stack: str) -> dict[str, Any]:
    """The decoded config map of a stack file, as the program sees it (`namespace:key` -> value)."""
    raw = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text()).get("config", {})
    return {(k if ":" in k else f"{PROJECT}:{k}"): v for k, v in raw.items()}


# A managed GPU node group as an account that wants fixed GPU capacity configures it.
MANAGED_GPU_GROUP = {
    "name": "gpu-l4",
    "instanceTypes": ["g6.xlarge", "g6.2xlarge", "g6.4xlarge"],
    "capacityType": "SPOT",
    "minSize": 0,
    "desiredSize": 2,
    "maxSize": 3,
    "diskSizeGiB": 100,
}


def managed_gpu_config() -> dict[str, Any]:
    """The dev stack's config with its GPU pools replaced by one managed GPU node group."""
    config = {k: v for k, v in stack_config("dev").items() if k != f"{PROJECT}:gpuNodePools"}
    return {**config, f"{PROJECT}:gpuNodeGroups": [dict(MANAGED_GPU_GROUP)]}


def without_workspaces(config: dict[str, Any], job: str) -> dict[str, Any]:
    """The config with its `inference` or `finetune` workspaces removed (that workload switched off)."""
    key = f"{PROJECT}:workspaces"
    return {**config, key: [w for w in config.get(key, []) if job not in w]}


# --- markers for what the raw request carries --------------------------------------------------


class _Unknown:
    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN = _Unknown()


@dataclass(frozen=True)
class ResourceRef:
    urn: str
    id: str | None


@dataclass(frozen=True)
class Secret:
    value: Any


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        sig = value.get(rpc._special_sig_key)
        if sig == rpc._special_secret_sig:
            return Secret(_decode(value.get("value")))
        if sig == rpc._special_resource_sig:
            return ResourceRef(value["urn"], value.get("id"))
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if value == rpc.UNKNOWN:
        return UNKNOWN
    if isinstance(value, float) and value.is_integer():
        return int(value)  # protobuf Struct numbers are doubles
    return value


def reveal(value: Any) -> Any:
    """The value with secret markers removed (for asserting on contents)."""
    if isinstance(value, Secret):
        return reveal(value.value)
    if isinstance(value, dict):
        return {k: reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(v) for v in value]
    return value


def walk(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    yield path, value
    if isinstance(value, Secret):
        yield from walk(value.value, path)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from walk(v, f"{path}.{k}" if path else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from walk(v, f"{path}[{i}]")


# --- what gets recorded ------------------------------------------------------------------------


@dataclass
class Registered:
    type: str
    name: str
    urn: str
    custom: bool
    parent: str
    provider: str  # "<provider urn>::<id>" or ""
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    raw_inputs: dict[str, Any]  # with Secret / ResourceRef / UNKNOWN markers
    id: str = ""  # what the mocks answered
    delete_before_replace: bool = False
    import_id: str = ""  # ResourceOptions(import_=...): adopt an existing object instead of creating it
    retain_on_delete: bool = False  # ResourceOptions(retain_on_delete=True): `pulumi destroy` leaves it
    # CustomTimeouts as the engine receives them (Go duration strings, "" when unset).
    custom_timeouts: dict[str, str] = field(default_factory=dict)

    @property
    def inputs(self) -> dict[str, Any]:
        return reveal(self.raw_inputs)

    @property
    def provider_urn(self) -> str:
        return self.provider.rsplit("::", 1)[0] if self.provider else ""


@dataclass
class Graph:
    stack: str
    resources: list[Registered]
    exports: dict[str, Any]
    seconds: float
    reads: list[Registered] = field(default_factory=list)  # Resource.get(...): existing objects the program reads
    invokes: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # data-source calls, in order
    # What tests derive from the graph (rendered charts, pods): computed once; a changed copy starts empty.
    cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    config: dict[str, Any] | None = field(default=None, repr=False)  # the config run, when not the stack file's

    def of_type(self, type_: str) -> list[Registered]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: str | None = None) -> Registered:
        found = [r for r in self.of_type(type_) if name is None or r.name == name]
        assert len(found) == 1, f"expected one {type_} {name or ''}, found {[r.name for r in found]}"
        return found[0]

    def by_urn(self, urn: str) -> Registered:
        return next(r for r in self.resources if r.urn == urn)

    def ancestors(self, r: Registered) -> Iterable[Registered]:
        while r.parent:
            parents = [p for p in self.resources if p.urn == r.parent]
            if not parents:
                return
            r = parents[0]
            yield r

    def depends_on(self, r: Registered, target: Registered) -> bool:
        """Whether r waits for target, directly or through the resources it depends on."""
        seen, todo = set(), list(r.dependencies)
        while todo:
            urn = todo.pop()
            if urn == target.urn:
                return True
            if urn in seen:
                continue
            seen.add(urn)
            todo.extend(d for other in self.resources if other.urn == urn for d in other.dependencies)
        return False


# --- the mocks ---------------------------------------------------------------------------------


def _arn(service: str, resource: str, region: str = "us-west-2") -> str:
    return f"arn:aws:{service}:{region}:{ACCOUNT}:{resource}"


# The ECR password the mocks hand out (not SECRET_MARK: it lands in the builds' inputs, as a secret).
ECR_TOKEN_MARK = "MOCKECRTOKEN"


def pushed_digest(reference: str) -> str:
    """The manifest digest the mocks give what was pushed under `reference`: a built Image's tag
    (`<repository URL>:<tag>`), or CI's `<repository name>:<tag>` as `aws.ecr.get_image` is asked."""
    return "sha256:" + hashlib.sha256(reference.encode()).hexdigest()


class PlatformMocks(pulumi.runtime.Mocks):
    """Plausible provider outputs: what AWS and the remote components would compute."""

    # ECR as `aws.ecr.get_image` finds it: every repository and tag exists unless a test names it
    # here (monkeypatch): repository names, and "<repository name>:<tag>".
    missing_repositories: frozenset[str] = frozenset()
    missing_images: frozenset[str] = frozenset()

    def __init__(self, region: str, log_groups: Iterable[str] = ()):
        self.region = region
        self.log_groups = tuple(log_groups)  # CloudWatch log groups that exist before the run
        self.monitor: RecordingMonitor | None = None
        self.calls: list[str] = []
        self.invokes: list[tuple[str, dict[str, Any]]] = []  # (token, arguments): what the program asked AWS

    def call(self, args: pulumi.runtime.MockCallArgs):
        self.calls.append(args.token)
        self.invokes.append((args.token, dict(args.args)))
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            names = [f"{self.region}{z}" for z in "abcd"]
            return {"names": names, "zoneIds": [f"usw2-az{i}" for i in range(1, 5)], "id": self.region}
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": ACCOUNT,
                "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{DEPLOYER_ROLE}/ci-session",
                "userId": "AROAEXAMPLE:ci-session",
                "id": ACCOUNT,
            }
        if args.token == "aws:iam/getSessionContext:getSessionContext":
            return {
                "arn": args.args["arn"],
                "issuerArn": f"arn:aws:iam::{ACCOUNT}:role/{DEPLOYER_ROLE}",
                "issuerName": DEPLOYER_ROLE,
                "issuerId": "AROAEXAMPLE",
                "sessionName": "ci-session",
                "id": args.args["arn"],
            }
        if args.token == "aws:eks/getAddonVersion:getAddonVersion":
            version = DEFAULT_ADDON_VERSIONS[args.args["addonName"]]
            if args.args.get("mostRecent"):
                version = version.rsplit("-", 1)[0] + "-" + MOST_RECENT_BUILD
            return {
                "addonName": args.args["addonName"],
                "kubernetesVersion": args.args["kubernetesVersion"],
                "version": version,
                "id": args.args["addonName"],
            }
        if args.token == "aws:cloudwatch/getLogGroups:getLogGroups":
            # DescribeLogGroups by prefix: every group whose name starts with it; empty lists when none
            # (terraform-provider-aws internal/service/logs/groups_data_source.go, dataSourceGroupsRead).
            prefix = args.args.get("logGroupNamePrefix") or ""
            names = [n for n in self.log_groups if n.startswith(prefix)]
            return {
                "logGroupNames": names,
                "arns": [_arn("logs", f"log-group:{n}", self.region) for n in names],
                "logGroupNamePrefix": prefix,
                "region": self.region,
                "id": self.region,
            }
        if args.token.startswith("aws:ecr/"):
            return self._ecr(args.token, args.args)
        raise NotImplementedError(f"mock gap: no mock for invoke {args.token}")

    def _ecr(self, token: str, args: dict[str, Any]):
        """The ECR data sources (terraform-provider-aws internal/service/ecr: a missing repository or
        image is an error of the invoke)."""
        registry = f"{ACCOUNT}.dkr.ecr.{self.region}.amazonaws.com"
        if token == "aws:ecr/getAuthorizationToken:getAuthorizationToken":
            password = ECR_TOKEN_MARK + "x" * 32
            return {
                "authorizationToken": base64.b64encode(f"AWS:{password}".encode()).decode(),
                "password": password,
                "userName": "AWS",
                "proxyEndpoint": f"https://{registry}",
                "expiresAt": "2026-12-04T03:00:00Z",
                "region": self.region,
                "id": self.region,
            }
        repository = args.get("name") or args.get("repositoryName")
        if repository in self.missing_repositories:
            return {}, [
                (
                    "repositoryName",
                    f"RepositoryNotFoundException: The repository with name '{repository}' "
                    f"does not exist in the registry with id '{ACCOUNT}'",
                )
            ]
        if token == "aws:ecr/getRepository:getRepository":
            return {
                "name": repository,
                "repositoryUrl": f"{registry}/{repository}",
                "registryId": ACCOUNT,
                "arn": _arn("ecr", f"repository/{repository}", self.region),
                "id": repository,
            }
        if token == "aws:ecr/getImage:getImage":
            reference = f"{repository}:{args['imageTag']}"
            if reference in self.missing_images:
                return {}, [
                    (
                        "imageTag",
                        f"ImageNotFoundException: The image with imageId {{imageTag:'{args['imageTag']}'}} "
                        f"does not exist within the repository with name '{repository}'",
                    )
                ]
            digest = pushed_digest(reference)
            return {
                "repositoryName": repository,
                "imageTag": args["imageTag"],
                "imageTags": [args["imageTag"]],
                "imageDigest": digest,
                "imageUri": f"{registry}/{repository}@{digest}",
                "registryId": ACCOUNT,
                "imagePushedAt": 1764720000,
                "imageSizeInBytes": 512 * 2**20,
                "id": digest,
            }
        raise NotImplementedError(f"mock gap: no mock for invoke {token}")

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        t, name, inputs = args.typ, args.name, dict(args.inputs)
        rid = f"{name}-id"
        state: dict[str, Any] = dict(inputs)
        if t.startswith("aws:"):
            service = t.split(":")[1].split("/")[0]
            state.setdefault("arn", _arn(service, f"{name}"))
        if t == "aws:iam/role:Role":
            state.update(name=name, arn=f"arn:aws:iam::{ACCOUNT}:role/{name}")
        elif t == "aws:kms/key:Key":
            rid = f"key-{abs(hash(name)) % 10**8:08d}"
            state.update(keyId=rid, arn=_arn("kms", f"key/{rid}", self.region))
        elif t == "aws:s3/bucket:Bucket":
            rid = inputs["bucket"]
            state.update(arn=f"arn:aws:s3:::{rid}", bucket=rid)
        elif t == "aws:ecr/repository:Repository":
            rid = inputs["name"]
            state.update(
                repositoryUrl=f"{ACCOUNT}.dkr.ecr.{self.region}.amazonaws.com/{rid}",
                arn=_arn("ecr", f"repository/{rid}", self.region),
            )
        elif t == "docker-build:index:Image":
            # After a push (pulumi-docker-build provider/internal/image.go, Create): the id and `digest`
            # are the pushed manifest's digest; `ref` is the first tag with the digest added.
            tag = inputs["tags"][0]
            rid = pushed_digest(tag)
            state.update(
                digest=rid,
                ref=f"{tag}@{rid}",
                contextHash=hashlib.sha256(json.dumps(inputs["context"]).encode()).hexdigest(),
            )
        elif t == "aws:cloudwatch/eventRule:EventRule":
            state.setdefault("name", name)  # auto-named after the resource (a random suffix in real runs)
        elif t == "aws:sqs/queue:Queue":
            # SQS: the queue URL is https://sqs.<region>.amazonaws.com/<account>/<name>.
            state.update(url=f"https://sqs.{self.region}.amazonaws.com/{ACCOUNT}/{inputs['name']}")
            state.update(arn=_arn("sqs", inputs["name"], self.region))
        elif t == "aws:ec2/launchTemplate:LaunchTemplate":
            rid = f"lt-{abs(hash(name)) % 10**17:017d}"
            state.update(latestVersion=1)
        elif t.startswith("aws:ec2/"):
            kind = t.split(":")[-1].lower()
            rid = f"{kind[:6]}-{abs(hash(name)) % 10**17:017x}"
        elif t == "random:index/randomPassword:RandomPassword":
            # Recognisable, so tests can prove no generated secret lands in a plain value.
            state.update(result=(SECRET_MARK + name + "x" * 64)[: inputs["length"]])
        elif t == "random:index/randomId:RandomId":
            state.update(hex="1a2b3c4d", b64Std="Gis8TQ==", b64Url="Gis8TQ", dec="439041101")
        elif t == "eks:index:Cluster":
            state.update(self._cluster_outputs(inputs))
        elif t == "pulumi:providers:kubernetes":
            rid = "k8s-provider-id"
        elif t.startswith("kubernetes:skupper.io/"):
            meta = inputs.get("metadata") or {}
            rid = f"{meta.get('namespace')}/{meta.get('name')}"  # the provider's id: <namespace>/<name>
            state["status"] = self._skupper_status(t.split(":")[-1])
        elif t == "kubernetes:core/v1:Secret" and args.resource_id:
            # A Secret read by id: the one the Skupper controller issued for a Certificate.
            namespace, secret = args.resource_id.split("/")
            pem = lambda kind: base64.b64encode(
                f"-----BEGIN {kind}-----\n{LINK_CREDENTIAL_MARK}{kind}\n-----END {kind}-----\n".encode()
            ).decode()
            rid, state = (
                args.resource_id,
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "type": "kubernetes.io/tls",
                    "metadata": {"name": secret, "namespace": namespace},
                    "data": {
                        "ca.crt": pem("CERTIFICATE"),
                        "tls.crt": pem("CERTIFICATE"),
                        "tls.key": pem("PRIVATE KEY"),
                    },
                },
            )
        return rid, state

    @staticmethod
    def _skupper_status(kind: str) -> dict[str, Any]:
        ready = {"status": "Ready", "message": "OK"}
        if kind == "Site":
            return {
                **ready,
                "defaultIssuer": "skupper-site-ca",
                "sitesInNetwork": 1,
                "endpoints": [
                    {"name": "inter-router", "host": LINK_HOST, "port": "55671", "group": "skupper-router"},
                    {"name": "edge", "host": LINK_HOST, "port": "45671", "group": "skupper-router"},
                ],
            }
        return ready

    def _cluster_outputs(self, inputs: dict[str, Any]) -> dict[str, Any]:
        cluster_name = inputs["name"]
        issuer = f"oidc.eks.{self.region}.amazonaws.com/id/0123456789ABCDEF0123456789ABCDEF"
        assert self.monitor is not None  # RecordingMonitor attaches itself before any resource is registered
        eks_cluster = self.monitor.register_state(
            "aws:eks/cluster:Cluster",
            f"{cluster_name}-eksCluster",
            cluster_name,
            {
                "name": cluster_name,
                "arn": _arn("eks", f"cluster/{cluster_name}", self.region),
                "version": inputs.get("version"),
                "endpoint": "https://EXAMPLE.gr7.us-west-2.eks.amazonaws.com",
                # EKS's own cluster security group (managed nodes without launch-template groups join it).
                "vpcConfig": {"clusterSecurityGroupId": "sg-0e5c1a57e0c1a5700"},
            },
        )
        kubeconfig = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": cluster_name,
                    "cluster": {
                        "server": "https://EXAMPLE.gr7.us-west-2.eks.amazonaws.com",
                        "certificate-authority-data": "Q0E=",
                    },
                }
            ],
            "contexts": [{"name": "aws", "context": {"cluster": cluster_name, "user": "aws"}}],
            "current-context": "aws",
            "users": [
                {
                    "name": "aws",
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": "aws",
                            "args": ["eks", "get-token", "--cluster-name", cluster_name],
                        }
                    },
                }
            ],
        }
        return {
            "kubeconfig": kubeconfig,
            "kubeconfigJson": json.dumps(kubeconfig),
            "oidcProviderArn": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{issuer}",
            "oidcProviderUrl": f"https://{issuer}",
            "oidcIssuer": issuer,
            "eksCluster": eks_cluster,
            "clusterSecurityGroupId": "sg-0123456789abcdef0",
            "nodeSecurityGroupId": "sg-0fedcba9876543210",
        }


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """Records each request whole; never re-hydrates resource references it receives."""

    mocks: PlatformMocks

    def __init__(self, mocks: PlatformMocks):
        super().__init__(mocks)
        mocks.monitor = self
        self.registered: list[Registered] = []
        self.reads: list[Registered] = []

    def register_state(self, type_: str, name: str, id_: str, state: dict[str, Any]) -> dict[str, Any]:
        """Registers state that a remote component created, and returns a reference to it."""
        urn = self.make_urn("", type_, name)
        self.resources[urn] = pulumi_mocks.MockMonitor.ResourceRegistration(urn, id_, state)
        return {rpc._special_sig_key: rpc._special_resource_sig, "urn": urn, "id": id_}

    def RegisterResource(self, request):
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == "pulumi:pulumi:Stack":
            return resource_pb2.RegisterResourceResponse(urn=urn)
        inputs = _decode(json_format.MessageToDict(request.object))
        record = Registered(
            type=request.type,
            name=request.name,
            urn=urn,
            custom=bool(request.custom),
            parent=request.parent,
            provider=request.provider,
            dependencies=list(request.dependencies),
            property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
            raw_inputs=inputs,
            delete_before_replace=request.deleteBeforeReplace,
            import_id=request.importId,
            retain_on_delete=bool(request.retainOnDelete),
            custom_timeouts={
                k: getattr(request.customTimeouts, k)
                for k in ("create", "update", "delete")
                if getattr(request.customTimeouts, k)
            },
        )
        self.registered.append(record)
        id_, state = self.mocks.new_resource(
            pulumi.runtime.MockResourceArgs(
                typ=request.type,
                name=request.name,
                inputs=reveal(inputs),
                provider=request.provider,
                resource_id=request.importId,
                custom=request.custom or False,
            )
        )
        record.id = id_ or ""
        self.resources[urn] = pulumi_mocks.MockMonitor.ResourceRegistration(urn, id_, state)
        obj = _sync_await(rpc.serialize_properties(_plain(state), {}))
        return resource_pb2.RegisterResourceResponse(urn=urn, id=id_ or "", object=obj)

    def ReadResource(self, request):
        """Records the read (type, name, id as `id`, provider, parent), then answers as the stock monitor."""
        self.reads.append(
            Registered(
                type=request.type,
                name=request.name,
                urn=self.make_urn(request.parent, request.type, request.name),
                custom=True,
                parent=request.parent,
                provider=request.provider,
                dependencies=list(request.dependencies),
                property_dependencies={},
                raw_inputs=_decode(json_format.MessageToDict(request.properties)),
                id=request.id,
            )
        )
        return super().ReadResource(request)


def _plain(value: Any) -> Any:
    """Turns the decoder's markers back into wire form for the response."""
    if isinstance(value, ResourceRef):
        return {rpc._special_sig_key: rpc._special_resource_sig, "urn": value.urn, "id": value.id}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _config_strings(config: dict[str, Any]) -> dict[str, str]:
    # The engine hands config to the program as strings; structured values as JSON text.
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


last_monitor: RecordingMonitor | None = None  # the latest run's, also when the program raised


def run_program(
    stack: str, config: dict[str, Any] | None = None, secret_keys: Iterable[str] = (), log_groups: Iterable[str] = ()
) -> Graph:
    """Runs __main__.py for a stack (its file's config, or the config given) and returns the graph.

    `secret_keys` are the config keys the engine would mark secret (set with `--secret`);
    `log_groups` the CloudWatch log groups the account already holds (e.g. left by a destroy).
    """
    config = stack_config(stack) if config is None else config
    region = config.get("aws:region", "us-west-2")
    settings.ROOT.set(None)  # a fresh root stack, or exports leak from the previous run
    mocks = PlatformMocks(region if isinstance(region, str) else "us-west-2", log_groups)
    monitor = RecordingMonitor(mocks)
    global last_monitor
    last_monitor = monitor
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    set_all_config(_config_strings(config), list(secret_keys))

    def program() -> None:
        runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")

    started = time.perf_counter()
    _sync_await(run_pulumi_func(program))
    seconds = time.perf_counter() - started

    root = settings.get_root_resource()
    exports = {}
    for key, value in (getattr(root, "outputs", None) or {}).items():
        output = pulumi.Output.from_input(value)
        exports[key] = (_sync_await(output.future()), _sync_await(output.is_secret()))
    return Graph(
        stack=stack,
        resources=list(monitor.registered),
        exports=exports,
        seconds=seconds,
        reads=list(monitor.reads),
        invokes=list(mocks.invokes),
        config=config,
    )


# Custom resources: validated against their CRDs, not Kubernetes' schemas.
CUSTOM_API_GROUPS = ("skupper.io", "karpenter.sh", "karpenter.k8s.aws")


def is_custom(manifest: dict[str, Any]) -> bool:
    return manifest["apiVersion"].split("/")[0] in CUSTOM_API_GROUPS


def kubernetes_objects(graph: Graph) -> list[tuple[Registered, dict[str, Any]]]:
    """Each plain Kubernetes object the program registers, as the manifest the API server receives.

    Patches, Helm charts and YAML files are left out: a patch is partial by design, and a chart
    or a release manifest is rendered by the engine (a chart's values are checked against the
    chart's own schema instead). Custom resources are in: `CUSTOM_API_GROUPS` tells them apart.
    """
    objects = []
    for r in graph.resources:
        if (
            not r.type.startswith("kubernetes:")
            or r.type.endswith("Patch")
            or "helm.sh" in r.type
            or r.type.startswith("kubernetes:yaml/")
        ):
            continue
        group_version, kind = r.type[len("kubernetes:") :].split(":")
        api_version = group_version[len("core/") :] if group_version.startswith("core/") else group_version
        objects.append((r, {"apiVersion": api_version, "kind": kind, **r.inputs}))
    return objects
