"""Prints the resource graph each stack file would create, under the test mocks, as stable JSON.

For refactors that must not change behaviour: dump before and after, then diff. Each resource
is one entry keyed by URN: its inputs (secrets marked), parent, provider, dependencies and
options. Usage: `PYTHONHASHSEED=0 python -m scripts.dump_graph OUT_DIR` (the mocks derive ids
from `hash`) writes OUT_DIR/<stack>.json.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from tests.harness import Graph, ResourceRef, Secret, run_program, stack_names


def _plain(value: Any) -> Any:
    if isinstance(value, Secret):
        return {"<secret>": _plain(value.value)}
    if isinstance(value, ResourceRef):
        return {"<ref>": value.urn}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if is_dataclass(value) and not isinstance(value, type):
        return _plain(asdict(value))
    if value.__class__.__name__ == "_Unknown":
        return "<unknown>"
    return value


def dump(graph: Graph) -> dict[str, Any]:
    resources = {}
    for r in graph.resources:
        resources[r.urn] = _plain(
            {
                "parent": r.parent,
                "provider": r.provider_urn,
                "custom": r.custom,
                "dependencies": sorted(r.dependencies),
                "propertyDependencies": {k: sorted(v) for k, v in r.property_dependencies.items()},
                "inputs": r.raw_inputs,
                "deleteBeforeReplace": r.delete_before_replace,
                "importId": r.import_id,
                "retainOnDelete": r.retain_on_delete,
                "customTimeouts": r.custom_timeouts,
            }
        )
    return {
        "resources": dict(sorted(resources.items())),
        "exports": _plain(graph.exports),
        "invokes": sorted(json.dumps(_plain([t, a]), sort_keys=True) for t, a in graph.invokes),
    }


def main(out: str) -> None:
    Path(out).mkdir(parents=True, exist_ok=True)
    for stack in stack_names():
        path = Path(out) / f"{stack}.json"
        path.write_text(json.dumps(dump(run_program(stack)), indent=1, sort_keys=True, default=str) + "\n")
        print(path)


if __name__ == "__main__":
    main(sys.argv[1])
