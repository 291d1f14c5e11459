"""Custom resources against their CustomResourceDefinitions: the reference CRDs in ../shared/schemas,
and any CRD a chart in the graph renders or ships in its `crds/`.

The API server prunes fields a CRD's structural schema does not declare, silently; the tests refuse
them instead (`closed`), so a misspelt field fails here rather than vanishing on the cluster.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import jsonschema
import yaml

from tests.harness import SCHEMAS


def closed(schema: Any) -> Any:
    """The schema with unknown properties refused wherever it lists properties (and does not
    preserve unknown fields)."""
    if isinstance(schema, dict):
        schema = {k: closed(v) for k, v in schema.items()}
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [closed(v) for v in schema]
    return schema


@functools.cache
def reference_crds() -> tuple[dict[str, Any], ...]:
    """Every CustomResourceDefinition in ../shared/schemas."""
    found = []
    for path in sorted(SCHEMAS.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                found.append(doc)
    return tuple(found)


def key(api_version: str, kind: str) -> tuple[str, str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version, kind


def index(crds: Iterable[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """(group, version, kind) -> that version's openAPIV3Schema, for every served version."""
    found = {}
    for crd in crds:
        spec = crd["spec"]
        for v in spec["versions"]:
            if v.get("served", True):
                found[(spec["group"], v["name"], spec["names"]["kind"])] = v["schema"]["openAPIV3Schema"]
    return found


def validator(schema: dict[str, Any], api_version: str, kind: str) -> jsonschema.Draft7Validator:
    schema = closed(schema)
    # The API server's own fields, which the CRD does not describe.
    schema.setdefault("properties", {}).update(
        apiVersion={"const": api_version}, kind={"const": kind}, metadata={"type": "object"}
    )
    return jsonschema.Draft7Validator(schema)


def errors(manifest: dict[str, Any], schemas: dict[tuple[str, str, str], dict[str, Any]]) -> list[str]:
    """Why the custom resource is invalid ([] when valid); refuses one whose CRD is unknown."""
    api_version, kind = manifest["apiVersion"], manifest["kind"]
    schema = schemas.get(key(api_version, kind))
    if schema is None:
        return [f"no CRD serves {api_version} {kind}: add it to ../shared/schemas or render the chart that ships it"]
    return [
        f"{'.'.join(map(str, e.path)) or '<root>'}: {e.message}"
        for e in validator(schema, api_version, kind).iter_errors(manifest)
    ]
