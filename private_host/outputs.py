"""Reads and checks the stack outputs the cluster side exports for the private model link.

The contract (the cluster side's `workloads/private_model.py` writes it):

- `privateModel`, a plain object: `routingKey` and `port` of the cluster's Listener (required), and
  `namespace`, `siteName`, `linkName` (the name of the Link and of its Secret, `link-<siteName>`),
  `listenerHost`, `url`, `servedModelName` and `skupperVersion` (optional here, checked when
  present; they go into the README and install.sh).
- `privateModelLink`, a secret object `{"link": <Link>, "secret": <Secret>}`: a static Link and
  its TLS Secret, as `skupper link generate` prints them. A static Link, not an AccessToken: a
  system site re-redeems every AccessToken in its input resources on each `skupper system start`
  or `reload`, and a redeemed (single-use) token then fails the whole start.

Every error names the key it is about (`privateModelLink.secret.data["tls.key"]`) and never a
value: half of these values are private keys.
"""

from __future__ import annotations

import base64
import binascii
import copy
import ipaddress
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

OUTPUT_PRIVATE_MODEL = "privateModel"
OUTPUT_PRIVATE_MODEL_LINK = "privateModelLink"
SECRET_PLACEHOLDER = "[secret]"  # what `pulumi stack output --json` prints without --show-secrets

SKUPPER_API_VERSION = "skupper.io/v2alpha1"
LINK_SECRET_KEYS = ("ca.crt", "tls.crt", "tls.key")
ROLE_INTER_ROUTER = "inter-router"
ROLE_EDGE = "edge"

# Skupper's own checks for system sites (internal/nonkube/common/site_state_validator.go).
RFC1123_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$")
VERSION = re.compile(r"^v?[0-9]+(\.[0-9]+)*([-+][0-9A-Za-z.-]+)?$")
ROUTING_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")


class OutputError(ValueError):
    """A missing or invalid stack output. The message names the key, never its value."""


def is_name(value: str) -> bool:
    return len(value) <= 63 and bool(RFC1123_NAME.match(value))


def is_host(value: str) -> bool:
    """An IP address or a DNS name (what a Skupper system site accepts as a Connector host)."""
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return len(value) <= 253 and bool(HOSTNAME.match(value))


def is_port(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 65536


@dataclass(frozen=True)
class PrivateModel:
    """The cluster side of the service: its Listener and what the chatbot asks for."""

    routing_key: str
    port: int
    namespace: str | None = None
    site_name: str | None = None
    link_name: str | None = None
    listener_host: str | None = None
    url: str | None = None
    served_model_name: str | None = None
    skupper_version: str | None = None


@dataclass(frozen=True)
class LinkCredentials:
    """The static Link and its Secret, as exported (copies: safe to modify)."""

    link: dict[str, Any]
    secret: dict[str, Any]

    @property
    def link_name(self) -> str:
        return str(self.link["metadata"]["name"])

    @property
    def secret_name(self) -> str:
        return str(self.secret["metadata"]["name"])

    def endpoint(self, role: str) -> dict[str, Any] | None:
        return next((e for e in self.link["spec"]["endpoints"] if e.get("name") == role), None)


@dataclass(frozen=True)
class StackOutputs:
    model: PrivateModel
    credentials: LinkCredentials


def parse_stack_outputs(text: str) -> StackOutputs:
    """Parses `pulumi stack output --json --show-secrets` and checks the private model contract."""
    if not text.strip():
        raise OutputError("the stack outputs are empty: pipe in `pulumi stack output --json --show-secrets`")
    try:
        outputs = json.loads(text)
    except json.JSONDecodeError as error:  # its message has a position, never the text
        raise OutputError(
            f"the stack outputs are not JSON (line {error.lineno}, column {error.colno}: {error.msg})"
        ) from None
    if not isinstance(outputs, dict):
        raise OutputError("the stack outputs must be a JSON object (`pulumi stack output --json` prints one)")
    model, credentials = _private_model(outputs), _link_credentials(outputs)
    if model.link_name is not None and model.link_name != credentials.link_name:
        raise OutputError(
            f"{OUTPUT_PRIVATE_MODEL}.linkName must name the exported Link "
            f"({OUTPUT_PRIVATE_MODEL_LINK}.link.metadata.name); they differ"
        )
    return StackOutputs(model=model, credentials=credentials)


# --- privateModel -------------------------------------------------------------------------------


def _private_model(outputs: dict[str, Any]) -> PrivateModel:
    key = OUTPUT_PRIVATE_MODEL
    if outputs.get(key) is None:
        raise OutputError(
            f"stack output {key!r} is missing: set genai-eks:privateModel.enabled to true, "
            "run `pulumi up`, and read the outputs of that stack"
        )
    model = outputs[key]
    if not isinstance(model, dict):
        raise OutputError(f"stack output {key!r} must be an object, not {_type(model)}")

    routing_key = _required(model, "routingKey", f"{key}.routingKey")
    if not isinstance(routing_key, str) or not ROUTING_KEY.match(routing_key) or len(routing_key) > 253:
        raise OutputError(
            f"{key}.routingKey must be a routing key (letters, digits, '.', '_', ':', '/', '-'), "
            f"not {_type(routing_key)}"
        )
    port = _required(model, "port", f"{key}.port")
    if not is_port(port):
        got = "a number out of range" if isinstance(port, (int, float)) and not isinstance(port, bool) else _type(port)
        raise OutputError(f"{key}.port must be an integer port (1-65535), not {got}")

    def optional(name: str, check: Callable[[str], object], what: str) -> str | None:
        value = model.get(name)
        if value is None:
            return None
        if not isinstance(value, str) or not check(value):
            raise OutputError(f"{key}.{name} must be {what}, not {_type(value)}")
        return value

    return PrivateModel(
        routing_key=routing_key,
        port=port,
        namespace=optional("namespace", is_name, "a Kubernetes namespace name"),
        site_name=optional("siteName", is_name, "a Skupper site name"),
        link_name=optional("linkName", is_name, "a lowercase RFC 1123 name"),
        listener_host=optional("listenerHost", is_host, "a host name"),
        url=optional("url", lambda v: bool(re.match(r"^https?://[^\s'\"\\`$]+$", v)), "an http(s) URL"),
        served_model_name=optional(
            "servedModelName", lambda v: bool(re.match(r"^[^\s'\"\\`$]+$", v)), "a model id without spaces or quotes"
        ),
        skupper_version=optional("skupperVersion", lambda v: bool(VERSION.match(v)), "a version like 2.2.1"),
    )


# --- privateModelLink ---------------------------------------------------------------------------


def _link_credentials(outputs: dict[str, Any]) -> LinkCredentials:
    key = OUTPUT_PRIVATE_MODEL_LINK
    if outputs.get(key) is None:  # absent, or still unknown (null) until the cluster's Site is Ready
        raise OutputError(
            f"stack output {key!r} is missing: it appears once the cluster's Skupper site is "
            "ready; run `pulumi up` again, then read the outputs with --show-secrets"
        )
    value = outputs[key]
    if value == SECRET_PLACEHOLDER:
        raise OutputError(
            f"stack output {key!r} is masked as {SECRET_PLACEHOLDER!r}: read the outputs with "
            "`pulumi stack output --json --show-secrets`"
        )
    if isinstance(value, str):  # tolerate an object exported as a JSON string
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise OutputError(
                f"stack output {key!r} must be an object with 'link' and 'secret', not a string"
            ) from None
    if not isinstance(value, dict):
        raise OutputError(f"stack output {key!r} must be an object with 'link' and 'secret', not {_type(value)}")
    link = _link(_required(value, "link", f"{key}.link"), f"{key}.link")
    secret = _secret(_required(value, "secret", f"{key}.secret"), f"{key}.secret")
    if link["spec"]["tlsCredentials"] != secret["metadata"]["name"]:
        raise OutputError(
            f"{key}.link.spec.tlsCredentials must name the Secret ({key}.secret.metadata.name); they differ"
        )
    return LinkCredentials(link=link, secret=secret)


def _link(link: Any, path: str) -> dict[str, Any]:
    _kind(link, path, SKUPPER_API_VERSION, "Link")
    name = _metadata_name(link, path)
    spec = _required(link, "spec", f"{path}.spec")
    if not isinstance(spec, dict):
        raise OutputError(f"{path}.spec must be an object, not {_type(spec)}")
    endpoints = _required(spec, "endpoints", f"{path}.spec.endpoints")
    if not isinstance(endpoints, list) or not endpoints:
        raise OutputError(f"{path}.spec.endpoints must be a non-empty list")
    clean = []
    for i, endpoint in enumerate(endpoints):
        where = f"{path}.spec.endpoints[{i}]"
        if not isinstance(endpoint, dict):
            raise OutputError(f"{where} must be an object, not {_type(endpoint)}")
        for field in ("name", "host", "port"):
            _required(endpoint, field, f"{where}.{field}")
        if not isinstance(endpoint["name"], str) or not endpoint["name"]:
            raise OutputError(f"{where}.name must be a non-empty string")
        if not isinstance(endpoint["host"], str) or not is_host(endpoint["host"]):
            raise OutputError(f"{where}.host must be a host name or IP address")
        port = endpoint["port"]
        # The CRD types endpoint ports as strings; an integer is taken as its decimal string.
        port = str(port) if is_port(port) else port
        if not isinstance(port, str) or not port.isdigit() or not is_port(int(port)):
            raise OutputError(f"{where}.port must be a port number (as a string), not {_type(endpoint['port'])}")
        if "group" in endpoint and not isinstance(endpoint["group"], str):
            raise OutputError(f"{where}.group must be a string")
        clean.append({**endpoint, "port": port})
    credentials = _required(spec, "tlsCredentials", f"{path}.spec.tlsCredentials")
    if not isinstance(credentials, str) or not is_name(credentials):
        raise OutputError(f"{path}.spec.tlsCredentials must be a lowercase RFC 1123 name")
    cost = spec.get("cost")
    if cost is not None and (not isinstance(cost, int) or isinstance(cost, bool) or cost < 1):
        raise OutputError(f"{path}.spec.cost must be a positive integer")
    out_spec = {k: copy.deepcopy(v) for k, v in spec.items() if k != "endpoints"}
    return {
        "apiVersion": link["apiVersion"],
        "kind": "Link",
        "metadata": _metadata(link, name),
        "spec": {"endpoints": clean, **out_spec},
    }


def _secret(secret: Any, path: str) -> dict[str, Any]:
    _kind(secret, path, "v1", "Secret")
    name = _metadata_name(secret, path)
    data = _required(secret, "data", f"{path}.data")
    if not isinstance(data, dict):
        raise OutputError(f"{path}.data must be an object of base64 strings, not {_type(data)}")
    for item in LINK_SECRET_KEYS:
        where = f'{path}.data["{item}"]'
        value = _required(data, item, where)
        if not isinstance(value, str):
            raise OutputError(f"{where} must be a base64 string, not {_type(value)}")
        try:
            pem = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise OutputError(f"{where} is not valid base64") from None
        expected = b"PRIVATE KEY-----" if item == "tls.key" else b"CERTIFICATE-----"
        if not pem.lstrip().startswith(b"-----BEGIN ") or expected not in pem:
            raise OutputError(
                f"{where} must be base64 of a PEM {'private key' if item == 'tls.key' else 'certificate'}"
            )
    for item, value in data.items():
        if not isinstance(value, str):
            raise OutputError(f'{path}.data["{item}"] must be a base64 string, not {_type(value)}')
    kind = secret.get("type", "kubernetes.io/tls")
    if not isinstance(kind, str):
        raise OutputError(f"{path}.type must be a string")
    return {"apiVersion": "v1", "kind": "Secret", "type": kind, "metadata": _metadata(secret, name), "data": dict(data)}


# --- helpers ------------------------------------------------------------------------------------


def _required(obj: dict[str, Any], key: str, path: str) -> Any:
    if key not in obj or obj[key] is None:
        raise OutputError(f"{path} is missing")
    return obj[key]


def _kind(obj: Any, path: str, api_version: str, kind: str) -> None:
    if not isinstance(obj, dict):
        raise OutputError(f"{path} must be a {kind} object, not {_type(obj)}")
    if obj.get("kind") != kind:
        raise OutputError(f"{path}.kind must be {kind!r}")
    if obj.get("apiVersion") != api_version:
        raise OutputError(f"{path}.apiVersion must be {api_version!r}")


def _metadata_name(obj: dict[str, Any], path: str) -> str:
    metadata = _required(obj, "metadata", f"{path}.metadata")
    if not isinstance(metadata, dict):
        raise OutputError(f"{path}.metadata must be an object")
    name = _required(metadata, "name", f"{path}.metadata.name")
    if not isinstance(name, str) or not is_name(name):
        raise OutputError(f"{path}.metadata.name must be a lowercase RFC 1123 name (Skupper requires it)")
    return name


def _metadata(obj: dict[str, Any], name: str) -> dict[str, Any]:
    """Name, labels and annotations; the server-side fields (uid, resourceVersion, ...) are dropped."""
    metadata: dict[str, Any] = {"name": name}
    for field in ("labels", "annotations"):
        value = obj["metadata"].get(field)
        if isinstance(value, dict) and value:
            metadata[field] = {str(k): str(v) for k, v in value.items()}
    return metadata


def _type(value: Any) -> str:
    """A value's JSON type, for error messages that must not echo the value."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return "an empty string" if not value else "a string of another form"
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)
