"""Pulls the published archive of every chart the stacks deploy into a folder laid out as
../shared/charts, for checkouts that lack it (GitHub Actions):

    python scripts/fetch_charts.py [target-dir]     (default: ../shared/charts)

The charts and their versions are read from the program itself (each stack run under the test
mocks), and each is pulled as pulumi-kubernetes pulls it: `helm pull <chart> --repo <repo>
--version <version> --untar`, by Helm's own engine.
"""

from __future__ import annotations

import sys
from pathlib import Path

import helm_python
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.charts import CHART_TYPE  # noqa: E402
from tests.harness import run_program, stack_names  # noqa: E402


def deployed_charts() -> set[tuple[str, str, str]]:
    """(chart, version, repository) for every helm.v4.Chart any stack registers."""
    found = set()
    for stack in stack_names():
        for r in run_program(stack).of_type(CHART_TYPE):
            found.add((r.inputs["chart"], r.inputs["version"], (r.inputs.get("repositoryOpts") or {}).get("repo", "")))
    return found


def pull(charts: set[tuple[str, str, str]], target: Path) -> list[str]:
    """Pulls what `target` lacks; returns the folders it wrote."""
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for chart, version, repo in sorted(charts):
        name = chart.rstrip("/").rsplit("/", 1)[-1]
        meta = target / name / "Chart.yaml"
        if meta.is_file() and yaml.safe_load(meta.read_text()).get("version") == version:
            continue
        if repo:
            helm_python.pull(name, repo_url=repo, version=version, untar=True, untar_dir=target)
        else:  # an oci:// reference
            helm_python.pull(chart, version=version, untar=True, untar_dir=target)
        written.append(name)
    return written


if __name__ == "__main__":
    destination = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "charts"
    for folder in pull(deployed_charts(), destination):
        print(f"pulled {destination / folder}")
