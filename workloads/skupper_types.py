"""The Skupper 2.x kinds this program registers or hands to the private site, as typed values.

Each kind is a frozen dataclass whose fields are the CRD's `spec` fields in snake_case;
`manifest()` renders the object as the API server receives it (camelCase, fields left at None
omitted). A misspelt field is a TypeError when the dataclass is built, and the tests validate
every rendered object against the CRD schemas of Skupper 2.2.1 (`config/crd/bases/` of
skupperproject/skupper) with unknown fields refused.

`SkupperResource` registers one of them as a Kubernetes custom resource whose `status` is an
output: pulumi-kubernetes' Python `CustomResource` does not expose it (pulumi-kubernetes#1836).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import pulumi
import pulumi_kubernetes as k8s

API_GROUP = "skupper.io"
API_VERSION = f"{API_GROUP}/v2alpha1"


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _render(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            camel(f.name): _render(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if getattr(value, f.name) is not None
        }
    if isinstance(value, (list, tuple)):
        return [_render(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _render(v) for k, v in value.items()}
    return value


@dataclass(frozen=True, kw_only=True)
class _Kind:
    """Common to every kind: the object's name and namespace (None: the namespace it is applied in)."""

    KIND: ClassVar[str] = ""

    name: str
    namespace: str | None = None

    def spec(self) -> dict[str, Any]:
        return {
            camel(f.name): _render(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if f.name not in ("name", "namespace") and getattr(self, f.name) is not None
        }

    def metadata(
        self, labels: Mapping[str, str] | None = None, annotations: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": self.name}
        if self.namespace is not None:
            meta["namespace"] = self.namespace
        if labels:
            meta["labels"] = dict(labels)
        if annotations:
            meta["annotations"] = dict(annotations)
        return meta

    def manifest(
        self, labels: Mapping[str, str] | None = None, annotations: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        return {
            "apiVersion": API_VERSION,
            "kind": self.KIND,
            "metadata": self.metadata(labels, annotations),
            "spec": self.spec(),
        }


@dataclass(frozen=True, kw_only=True)
class Site(_Kind):
    """A Skupper site: the router Deployment in its namespace. `link_access: default` makes the
    controller expose the router's inter-router and edge ports (a LoadBalancer Service on EKS)."""

    KIND: ClassVar[str] = "Site"

    link_access: str | None = None  # none | default | route | loadbalancer | ingress | ingress-nginx
    default_issuer: str | None = None  # the signing CA Secret; Skupper's default is skupper-site-ca
    service_account: str | None = None
    ha: bool | None = None
    edge: bool | None = None
    settings: Mapping[str, str] | None = None


@dataclass(frozen=True, kw_only=True)
class Listener(_Kind):
    """A local endpoint for a remote service: the controller makes a Service `host` with `port`,
    backed by the router on a pod port it allocates, routed to Connectors with the same key."""

    KIND: ClassVar[str] = "Listener"

    routing_key: str
    host: str
    port: int
    type: str | None = None  # tcp only
    tls_credentials: str | None = None
    observer: str | None = None  # auto | none | http1 | http2
    expose_pods_by_name: bool | None = None
    settings: Mapping[str, str] | None = None


@dataclass(frozen=True, kw_only=True)
class Connector(_Kind):
    """Where a site sends a routing key's connections: a host (or pods by selector) and port."""

    KIND: ClassVar[str] = "Connector"

    routing_key: str
    port: int
    host: str | None = None
    selector: str | None = None
    type: str | None = None
    tls_credentials: str | None = None
    use_client_cert: bool | None = None
    verify_hostname: bool | None = None
    include_not_ready_pods: bool | None = None
    expose_pods_by_name: bool | None = None
    settings: Mapping[str, str] | None = None


@dataclass(frozen=True)
class LinkEndpoint:
    """One address of a site's link access, as the Site's `status.endpoints` lists it (port is a string)."""

    name: str  # inter-router | edge
    host: str
    port: str
    group: str | None = None  # the router group, e.g. skupper-router

    @classmethod
    def from_status(cls, endpoint: Mapping[str, Any]) -> LinkEndpoint:
        return cls(
            name=endpoint["name"], host=endpoint["host"], port=str(endpoint["port"]), group=endpoint.get("group")
        )


@dataclass(frozen=True, kw_only=True)
class Link(_Kind):
    """A static link to a remote site's endpoints, authenticated by the client certificate in the
    Secret `tls_credentials` (keys ca.crt, tls.crt, tls.key)."""

    KIND: ClassVar[str] = "Link"

    endpoints: tuple[LinkEndpoint, ...] = ()
    tls_credentials: str | None = None
    cost: int | None = None
    settings: Mapping[str, str] | None = None


@dataclass(frozen=True, kw_only=True)
class AccessGrant(_Kind):
    """Permission to redeem access tokens for links (not used by this program: it issues a static Link)."""

    KIND: ClassVar[str] = "AccessGrant"

    redemptions_allowed: int | None = None
    expiration_window: str | None = None  # a duration, e.g. 15m
    code: str | None = None
    issuer: str | None = None
    settings: Mapping[str, str] | None = None


@dataclass(frozen=True, kw_only=True)
class Certificate(_Kind):
    """A certificate the controller issues into a Secret of the same name (ca.crt, tls.crt, tls.key),
    signed by the CA Secret `ca` of the same namespace."""

    KIND: ClassVar[str] = "Certificate"

    ca: str
    subject: str
    hosts: tuple[str, ...] | None = None
    client: bool | None = None
    server: bool | None = None
    signing: bool | None = None
    settings: Mapping[str, str] | None = None


KINDS: tuple[type[_Kind], ...] = (Site, Listener, Connector, Link, AccessGrant, Certificate)

# pulumi-kubernetes waits for a custom resource only when told what "ready" means.
WAIT_FOR_READY = {"pulumi.com/waitFor": "condition=Ready"}

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


class SkupperResource(pulumi.CustomResource):
    """A Skupper custom resource, registered like `kubernetes.apiextensions.CustomResource`, whose
    `status` is an output (the engine resolves only the properties a resource declares)."""

    kind: pulumi.Output[str]
    metadata: pulumi.Output[dict[str, Any]]
    spec: pulumi.Output[dict[str, Any]]
    status: pulumi.Output[dict[str, Any]]

    def __init__(
        self,
        resource_name: str,
        obj: _Kind,
        *,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        if not _DNS_SUBDOMAIN.fullmatch(obj.name) or obj.namespace is None:
            raise ValueError(f"a {obj.KIND} needs a DNS name and a namespace, not {obj.name!r} in {obj.namespace!r}")
        manifest = obj.manifest(labels, annotations)
        props = {
            "apiVersion": manifest["apiVersion"],
            "kind": manifest["kind"],
            "metadata": manifest["metadata"],
            "spec": manifest["spec"],
            "status": None,
        }
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(version=k8s._utilities.get_version()))
        super().__init__(f"kubernetes:{API_VERSION}:{obj.KIND}", resource_name, props, opts)
