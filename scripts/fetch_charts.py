"""Pulls the published archive of every chart the stacks deploy into a folder laid out as
../shared/charts, for checkouts that lack it (GitHub Actions):

    python -m scripts.fetch_charts [target-dir]     (default: ../shared/charts)

The charts and their versions are the pins in infra/charts.py (DEPLOYED_CHARTS, the list the
components deploy from), each pulled as pulumi-kubernetes pulls it: `helm pull <chart> --repo
<repo> --version <version> --untar`, by Helm's own engine.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

import helm_python
import yaml

from infra.charts import DEPLOYED_CHARTS, ChartPin

ROOT = Path(__file__).resolve().parent.parent


def pull(charts: Iterable[ChartPin], target: Path) -> list[str]:
    """Pulls what `target` lacks; returns the folders it wrote."""
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for pin in sorted(charts, key=lambda p: p.name):
        meta = target / pin.name / "Chart.yaml"
        if meta.is_file() and yaml.safe_load(meta.read_text()).get("version") == pin.version:
            continue
        if pin.is_oci:
            helm_python.pull(pin.reference, version=pin.version, untar=True, untar_dir=target)
        else:
            helm_python.pull(pin.name, repo_url=pin.repository, version=pin.version, untar=True, untar_dir=target)
        written.append(pin.name)
    return written


if __name__ == "__main__":
    destination = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "charts"
    for folder in pull(DEPLOYED_CHARTS, destination):
        print(f"pulled {destination / folder}")
