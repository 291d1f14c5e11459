"""The GitHub workflows: actions pinned to commits, least permissions, and the preview wired up."""

import re

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


def test_test_workflow_runs_the_readme_test_command():
    workflow = load("test.yml")
    assert set(workflow["on"]) == {"push", "pull_request"}
    assert workflow["permissions"] == {"contents": "read"}
    runs = " ".join(step.get("run", "") for step in steps(workflow))
    assert "requirements-dev.txt" in runs and "python -m pytest -q tests" in runs
    assert "python -m pytest -q tests" in (ROOT / "README.md").read_text()


def test_ci_and_the_workflow_lint_format_check_and_type_check_before_the_tests():
    checks = ["ruff check .", "ruff format --check .", "mypy"]
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    workflow = [line.strip() for step in steps(load("test.yml")) for line in step.get("run", "").splitlines()]
    for lines in (ci, workflow):
        tests = next(i for i, line in enumerate(lines) if line.startswith("python -m pytest"))
        for check in checks:
            assert check in lines[:tests], f"{check!r} does not run before the tests"


def test_preview_workflow_uses_pulumi_actions_with_oidc():
    workflow = load("preview.yml")
    assert set(workflow["on"]) == {"pull_request"}
    assert workflow["permissions"]["id-token"] == "write"
    by_action = {step["uses"].split("@")[0]: step for step in steps(workflow) if "uses" in step}
    preview = by_action["pulumi/actions"]["with"]
    assert preview["command"] == "preview" and preview["comment-on-pr"] is True
    credentials = by_action["aws-actions/configure-aws-credentials"]["with"]
    assert "role-to-assume" in credentials and "aws-access-key-id" not in credentials
