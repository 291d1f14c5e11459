"""The Skupper resources of the private model host's system site.

A Skupper 2.x system site (Podman, Docker or Linux) is built from the YAML files in
`<data home>/skupper/namespaces/<namespace>/input/resources/`: one Site, and Listeners, Connectors,
Links with their Secrets, AccessTokens, RouterAccesses, Certificates in the same namespace.
`skupper system start` / `reload` render the router from them (internal/nonkube/common/
site_state_loader.go). Every resource here carries the namespace explicitly: a system site refuses
sources whose namespace differs from the one being started (internal/nonkube/bootstrap/bootstrap.go).
"""

from __future__ import annotations

import copy
from typing import Any

from private_host.outputs import SKUPPER_API_VERSION, LinkCredentials


def site(name: str, namespace: str, *, edge: bool) -> dict[str, Any]:
    """The private site. No linkAccess: it only dials out to the cluster, nothing dials in."""
    spec: dict[str, Any] = {"edge": True} if edge else {}
    resource: dict[str, Any] = {
        "apiVersion": SKUPPER_API_VERSION,
        "kind": "Site",
        "metadata": {"name": name, "namespace": namespace},
    }
    if spec:
        resource["spec"] = spec
    return resource


def connector(name: str, namespace: str, *, routing_key: str, host: str, port: int) -> dict[str, Any]:
    """Binds the local model server to the cluster's Listener (same routing key).

    On a system site a Connector needs host and port (no selector): the router dials host:port.
    """
    return {
        "apiVersion": SKUPPER_API_VERSION,
        "kind": "Connector",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"routingKey": routing_key, "host": host, "port": port},
    }


def link(credentials: LinkCredentials, namespace: str) -> dict[str, Any]:
    """The exported Link, moved into this site's namespace; its endpoints stay as exported."""
    resource = copy.deepcopy(credentials.link)
    resource["metadata"]["namespace"] = namespace
    return resource


def link_secret(credentials: LinkCredentials, namespace: str) -> dict[str, Any]:
    """The Link's TLS Secret (ca.crt, tls.crt, tls.key as base64 `data`, as the loader reads it)."""
    resource = copy.deepcopy(credentials.secret)
    resource["metadata"]["namespace"] = namespace
    return resource


def file_name(resource: dict[str, Any]) -> str:
    """`<Kind>-<name>.yaml`: the names `skupper system apply` gives the files it writes, so that
    `skupper system delete` and `skupper link delete` find ours too."""
    return f"{resource['kind']}-{resource['metadata']['name']}.yaml"
