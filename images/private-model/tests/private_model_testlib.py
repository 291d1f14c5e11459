"""Test support for images/private-model: where its files are, a reader for systemd/Quadlet units,
the converter's source (the llama-cpp-python sdist) and the real llama.cpp server in a subprocess."""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
PRIVATE_MODEL = HERE.parent  # images/private-model
UNIT_FILE = PRIVATE_MODEL / "private-model.container"
CONVERT = PRIVATE_MODEL / "convert.sh"
INSTALL = PRIVATE_MODEL / "install.sh"
SERVED_NAME = "deepseek-r1-distill-qwen-1.5b"


def pinned_version(package: str, requirements: str = "requirements-server.txt") -> str:
    text = (PRIVATE_MODEL / requirements).read_text()
    match = re.search(rf"^{re.escape(package)}(\[[^\]]*\])?==(\S+)", text, re.M)
    assert match, f"{package} is not pinned in {requirements}"
    return match.group(2)


LLAMA_CPP_PYTHON_VERSION = pinned_version("llama-cpp-python")
SDIST_NAME = f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}.tar.gz"


# --- systemd unit files (Quadlet's .container is one) ---------------------------------------------


def parse_unit(text: str) -> dict[str, list[tuple[str, str]]]:
    """Sections of a systemd unit file, each a list of (key, value) in order: unlike configparser,
    a key may repeat (Environment=, Volume=...). Comments (# ;), blank lines and backslash
    continuations as systemd reads them; anything else is an error."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    lines = iter(enumerate(text.splitlines(), 1))
    for number, line in lines:
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        while stripped.endswith("\\"):
            _, following = next(lines, (number, ""))
            stripped = stripped[:-1] + " " + following.strip()
        if stripped.startswith("["):
            assert stripped.endswith("]"), f"line {number}: bad section header {stripped!r}"
            name = stripped[1:-1]
            assert name not in sections, f"line {number}: section [{name}] twice"
            current = sections[name] = []
            continue
        assert current is not None, f"line {number}: a setting outside any section"
        key, sep, value = stripped.partition("=")
        assert sep and re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", key.strip()), f"line {number}: not key=value: {line!r}"
        current.append((key.strip(), value.strip()))
    return sections


def values(unit: dict[str, list[tuple[str, str]]], section: str, key: str) -> list[str]:
    return [v for k, v in unit.get(section, []) if k == key]


def environment(unit: dict[str, list[tuple[str, str]]]) -> dict[str, str]:
    """The container's environment from its Environment= lines (one KEY=VALUE each, unquoted)."""
    env = {}
    for line in values(unit, "Container", "Environment"):
        assert '"' not in line and "'" not in line and " " not in line, f"keep Environment= simple: {line!r}"
        key, _, value = line.partition("=")
        env[key] = value
    return env


# The [Container] keys Quadlet knows (podman 5.x); a key outside it makes the generator drop the unit.
QUADLET_CONTAINER_KEYS = {
    "AddCapability",
    "AddDevice",
    "AddHost",
    "Annotation",
    "AutoUpdate",
    "CgroupsMode",
    "ContainerName",
    "ContainersConfModule",
    "DNS",
    "DNSOption",
    "DNSSearch",
    "DropCapability",
    "Entrypoint",
    "Environment",
    "EnvironmentFile",
    "EnvironmentHost",
    "Exec",
    "ExposeHostPort",
    "GIDMap",
    "GlobalArgs",
    "Group",
    "GroupAdd",
    "HealthCmd",
    "HealthInterval",
    "HealthLogDestination",
    "HealthMaxLogCount",
    "HealthMaxLogSize",
    "HealthOnFailure",
    "HealthRetries",
    "HealthStartPeriod",
    "HealthStartupCmd",
    "HealthStartupInterval",
    "HealthStartupRetries",
    "HealthStartupSuccess",
    "HealthStartupTimeout",
    "HealthTimeout",
    "HostName",
    "IP",
    "IP6",
    "Image",
    "Label",
    "LogDriver",
    "LogOpt",
    "Mask",
    "Memory",
    "Mount",
    "Network",
    "NetworkAlias",
    "NoNewPrivileges",
    "Notify",
    "PidsLimit",
    "Pod",
    "PodmanArgs",
    "PublishPort",
    "Pull",
    "ReadOnly",
    "ReadOnlyTmpfs",
    "ReloadCmd",
    "ReloadSignal",
    "Retry",
    "RetryDelay",
    "Rootfs",
    "RunInit",
    "SeccompProfile",
    "Secret",
    "SecurityLabelDisable",
    "SecurityLabelFileType",
    "SecurityLabelLevel",
    "SecurityLabelNested",
    "SecurityLabelType",
    "ServiceName",
    "ShmSize",
    "StartWithPod",
    "StopSignal",
    "StopTimeout",
    "SubGIDMap",
    "SubUIDMap",
    "Sysctl",
    "Timezone",
    "Tmpfs",
    "UIDMap",
    "Ulimit",
    "Unmask",
    "User",
    "UserNS",
    "Volume",
    "WorkingDir",
}


def check_unit(text: str, model_dir: str, model_file: str, host_port: int = 8000) -> dict:
    """What the platform relies on, in the template and in any unit install.sh writes."""
    unit = parse_unit(text)
    assert set(unit) == {"Unit", "Container", "Service", "Install"}
    unknown = {key for key, _ in unit["Container"]} - QUADLET_CONTAINER_KEYS
    assert not unknown, f"Quadlet does not know {unknown}"

    # Published on the loopback address only, and only that port; not the host's network.
    assert values(unit, "Container", "PublishPort") == [f"127.0.0.1:{host_port}:8000"]
    assert values(unit, "Container", "Network") in ([], ["bridge"], ["pasta"], ["slirp4netns"])
    assert not values(unit, "Container", "ExposeHostPort")
    assert not any(re.search(r"--(network|net|publish|p)\b|-p\s", v) for v in values(unit, "Container", "PodmanArgs"))

    # The model folder, read-only, and nothing else mounted.
    (volume,) = values(unit, "Container", "Volume")
    source, target, options = volume.split(":")
    assert (source, target) == (model_dir, "/models") and "ro" in options.split(",")
    assert not values(unit, "Container", "Mount")
    env = environment(unit)
    assert env["MODEL"] == f"/models/{model_file}"
    assert int(env["PORT"]) == 8000 and env["HOST"] == "0.0.0.0"  # inside its own network namespace
    assert int(env["N_CTX"]) >= 2048 and int(env["N_THREADS"]) >= 1

    # Hardened, and checked: the health probe asks the port the server listens on.
    assert values(unit, "Container", "ReadOnly") == ["true"]
    assert values(unit, "Container", "NoNewPrivileges") == ["true"]
    assert values(unit, "Container", "DropCapability") == ["ALL"]
    (health,) = values(unit, "Container", "HealthCmd")
    assert f"http://127.0.0.1:{env['PORT']}/v1/models" in health

    # Restarted whenever it stops; started with the user's systemd, which lingering starts at boot.
    assert values(unit, "Service", "Restart") == ["always"]
    assert values(unit, "Install", "WantedBy") == ["default.target"]
    assert not values(unit, "Unit", "After") or "default.target" not in " ".join(values(unit, "Unit", "After"))
    return unit


# --- the converter and the server -------------------------------------------------------------


def llama_cpp_server_missing() -> str | None:
    """Why the real server cannot run here, or None."""
    if importlib.util.find_spec("llama_cpp") is None:
        return (
            f"llama-cpp-python[server]=={LLAMA_CPP_PYTHON_VERSION} is not installed (source only on PyPI: "
            f'CMAKE_ARGS="-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_OPENMP=OFF" pip install '
            f"'llama-cpp-python[server]=={LLAMA_CPP_PYTHON_VERSION}', about 6 minutes on 2 cores)"
        )
    for module in ("llama_cpp.server.app", "sse_starlette", "starlette_context", "pydantic_settings"):
        if importlib.util.find_spec(module.split(".")[0]) is None:
            return f"llama-cpp-python's server extra is missing {module}: install 'llama-cpp-python[server]'"
    return None


def find_sdist() -> Path | None:
    """The llama-cpp-python sdist, whose vendor/llama.cpp holds the converter: LLAMA_CPP_PYTHON_SDIST,
    or where `convert.sh --fetch` leaves it."""
    explicit = os.environ.get("LLAMA_CPP_PYTHON_SDIST")
    if explicit:
        return Path(explicit) if Path(explicit).is_file() else None
    cache = Path(
        os.environ.get("PRIVATE_MODEL_CACHE")
        or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "private-model"
    )
    candidate = cache / SDIST_NAME
    return candidate if candidate.is_file() else None


SDIST_MISSING = (
    f"the converter's source, {SDIST_NAME}, is not here: fetch it once with "
    f"`CONVERTER_PYTHON=python images/private-model/convert.sh --fetch` "
    f"(or set LLAMA_CPP_PYTHON_SDIST to the file)"
)

# llama.cpp's converter names the pre-tokenizer of a BPE tokenizer by hashing how it splits a test
# text; a tokenizer trained locally (the tiny model's) is in no list and it raises
# NotImplementedError. The tests fall back to "gpt-2" (the tiny tokenizer is GPT-2 style byte
# level BPE) in this wrapper, which runs the real converter unchanged otherwise.
CONVERTER_WRAPPER = """\
import logging, runpy, sys
from pathlib import Path

converter = Path(sys.argv[1]).resolve()
sys.argv = [str(converter), *sys.argv[2:]]
sys.path[:0] = [str(converter.parent), str(converter.parent / "gguf-py")]
from conversion import base

recognised = base.TextModel.get_vocab_base_pre


def get_vocab_base_pre(self, tokenizer):
    try:
        return recognised(self, tokenizer)
    except NotImplementedError:
        logging.getLogger("test-wrapper").warning("unknown BPE pre-tokenizer: using gpt-2 (a test model)")
        return "gpt-2"


base.TextModel.get_vocab_base_pre = get_vocab_base_pre
runpy.run_path(str(converter), run_name="__main__")
"""


def converter_python(folder: Path) -> Path:
    """An executable that convert.sh runs as its CONVERTER_PYTHON: this interpreter, through the
    wrapper above."""
    folder.mkdir(parents=True, exist_ok=True)
    wrapper = folder / "pre_tokenizer_fallback.py"
    wrapper.write_text(CONVERTER_WRAPPER)
    shim = folder / "python"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{wrapper}" "$@"\n')
    shim.chmod(0o755)
    return shim


def free_port() -> int:
    from testing.local_server import free_port as free

    return free()


class LlamaCppServer:
    """`python -m llama_cpp.server` in a subprocess, configured by environment as the unit configures
    the container (MODEL, MODEL_ALIAS, N_CTX, N_THREADS, HOST, PORT)."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.env, self.log_path = env, log_path
        self.port = int(env["PORT"])
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.process: subprocess.Popen | None = None
        self.startup_s: float | None = None

    def start(self, timeout: float = 120) -> LlamaCppServer:
        started = time.monotonic()
        env = {k: v for k, v in os.environ.items() if k not in ("HOST", "PORT", "MODEL", "CONFIG_FILE")}
        env.update(self.env)
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server"],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        while True:
            if self.process.poll() is not None:
                log = self.log()
                self.stop()
                raise RuntimeError(f"the server exited with {self.process.returncode}:\n{log}")
            try:
                if httpx.get(f"{self.base_url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() - started > timeout:
                log = self.log()
                self.stop()
                raise RuntimeError(f"the server did not answer within {timeout} s:\n{log}")
            time.sleep(0.05)
        self.startup_s = time.monotonic() - started
        return self

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        if self.process is not None:
            self._log.close()
        self.process = None

    def __enter__(self) -> LlamaCppServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
