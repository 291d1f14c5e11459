"""From the stack outputs to the files of the bundle (nothing is written here: see files.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from private_host import resources, texts
from private_host.files import MARKER, BundleFile
from private_host.outputs import ROLE_EDGE, ROLE_INTER_ROUTER, OutputError, StackOutputs, is_host, is_name, is_port

PLATFORMS = ("podman", "docker", "linux")
DEFAULT_NAMESPACE = "private-model"
DEFAULT_SITE_NAME = "private-model-host"
# The router of a Podman or Docker system site runs with host networking (internal/nonkube/client/
# compat/container.go: NetworkMode "host"), and a Linux site runs skrouterd on the host itself:
# either way the router reaches a model server that listens on the host's loopback.
DEFAULT_MODEL_HOST = "127.0.0.1"
RESOURCES_DIR = "resources"


class OptionError(ValueError):
    """A command-line option that cannot work (bad name, port, platform ...)."""


@dataclass(frozen=True)
class Options:
    namespace: str = DEFAULT_NAMESPACE
    site_name: str = DEFAULT_SITE_NAME
    model_host: str = DEFAULT_MODEL_HOST
    model_port: int | None = None  # None: the port of the cluster's Listener
    platform: str = "podman"
    edge: bool = False

    def check(self) -> None:
        if not is_name(self.namespace):
            raise OptionError(
                f"--namespace {self.namespace!r} must be a lowercase RFC 1123 name "
                "(Skupper's rule for system-site namespaces)"
            )
        if not is_name(self.site_name):
            raise OptionError(f"--site-name {self.site_name!r} must be a lowercase RFC 1123 name")
        if not is_host(self.model_host):
            raise OptionError(f"--model-host {self.model_host!r} must be an IP address or a host name")
        if self.model_port is not None and not is_port(self.model_port):
            raise OptionError(f"--model-port {self.model_port} must be a port number (1-65535)")
        if self.platform not in PLATFORMS:
            raise OptionError(f"--platform must be one of {', '.join(PLATFORMS)}")


@dataclass(frozen=True)
class Bundle:
    outputs: StackOutputs
    options: Options
    site: dict[str, Any]
    connector: dict[str, Any]
    link: dict[str, Any]
    secret: dict[str, Any]
    endpoint: dict[str, Any]  # the Link endpoint this site's router dials
    files: list[BundleFile] = field(default_factory=list)

    @property
    def role(self) -> str:
        return ROLE_EDGE if self.options.edge else ROLE_INTER_ROUTER

    @property
    def public_resources(self) -> list[dict[str, Any]]:
        return [self.site, self.connector, self.link]

    def file_name(self, resource: dict[str, Any]) -> str:
        return resources.file_name(resource)


def build(outputs: StackOutputs, options: Options) -> Bundle:
    options.check()
    model, credentials = outputs.model, outputs.credentials
    role = ROLE_EDGE if options.edge else ROLE_INTER_ROUTER
    endpoint = credentials.endpoint(role)
    if endpoint is None:
        other = ROLE_INTER_ROUTER if options.edge else ROLE_EDGE
        hint = f" (it has {other!r}: {'drop' if options.edge else 'add'} --edge)" if credentials.endpoint(other) else ""
        site_kind = "an edge site" if options.edge else "a non-edge site"
        raise OutputError(
            f"privateModelLink.link.spec.endpoints has no {role!r} endpoint, the one {site_kind} dials{hint}"
        )
    connector_name = model.routing_key if is_name(model.routing_key) else "private-model"
    bundle = Bundle(
        outputs=outputs,
        options=options,
        site=resources.site(options.site_name, options.namespace, edge=options.edge),
        connector=resources.connector(
            connector_name,
            options.namespace,
            routing_key=model.routing_key,
            host=options.model_host,
            port=options.model_port or model.port,
        ),
        link=resources.link(credentials, options.namespace),
        secret=resources.link_secret(credentials, options.namespace),
        endpoint=endpoint,
    )
    files = [
        BundleFile(f"{RESOURCES_DIR}/{resources.file_name(r)}", dump_yaml(r), secret=False)
        for r in bundle.public_resources
    ]
    files.append(
        BundleFile(f"{RESOURCES_DIR}/{resources.file_name(bundle.secret)}", dump_yaml(bundle.secret), secret=True)
    )
    files.append(BundleFile("install.sh", texts.install_sh(bundle).encode(), secret=False))
    files.append(BundleFile("README.txt", texts.readme(bundle).encode(), secret=False))
    files.append(BundleFile(MARKER, texts.MARKER_TEXT.encode(), secret=False))
    bundle.files.extend(files)
    return bundle


def dump_yaml(resource: dict[str, Any]) -> bytes:
    return yaml.safe_dump(resource, sort_keys=False, default_flow_style=False).encode()
