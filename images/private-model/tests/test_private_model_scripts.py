"""convert.sh and install.sh as the private host runs them, with the host's tools replaced by
stand-ins that record their calls (podman, systemctl, loginctl, curl) and a stand-in converter:
which model folder is converted to which file, the unit install.sh writes, the order of the steps,
and the refusals. The real conversion and the real server are in test_private_model_serving.py."""

from __future__ import annotations

import getpass
import os
import subprocess
from pathlib import Path

import pytest

from private_model_testlib import CONVERT, INSTALL, LLAMA_CPP_PYTHON_VERSION, UNIT_FILE, check_unit, parse_unit

# --- convert.sh -----------------------------------------------------------------------------------

FAKE_CONVERTER_PYTHON = """#!/bin/sh
# Stands in for the converter's Python: records its arguments, writes a GGUF to --outfile.
printf '%s\\n' "$@" > "$CALLS"
[ -n "$FAIL" ] && { echo "conversion broke" >&2; exit 3; }
while [ $# -gt 0 ]; do [ "$1" = --outfile ] && { printf 'GGUFfake' > "$2"; }; shift; done
"""


@pytest.fixture
def convert_env(tmp_path: Path) -> dict[str, str]:
    cache = tmp_path / "cache"
    converter = cache / f"llama.cpp-from-llama-cpp-python-{LLAMA_CPP_PYTHON_VERSION}" / "convert_hf_to_gguf.py"
    converter.parent.mkdir(parents=True)
    converter.write_text("# already fetched\n")
    python = tmp_path / "python"
    python.write_text(FAKE_CONVERTER_PYTHON)
    python.chmod(0o755)
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path / "home"),
        "PRIVATE_MODEL_CACHE": str(cache),
        "CONVERTER_PYTHON": str(python),
        "MODELS_DIR": str(tmp_path / "models"),
        "CALLS": str(tmp_path / "calls"),
        "HF_HOME": str(tmp_path / "hf"),
    }


def convert(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(CONVERT), *args], env=env, capture_output=True, text=True, timeout=60)


def checkpoint(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"architectures": ["Qwen2ForCausalLM"]}')
    return folder


def test_convert_finds_what_hf_download_left_in_the_hub_cache(convert_env, tmp_path):
    repo = tmp_path / "hf" / "hub" / "models--deepseek-ai--DeepSeek-R1-Distill-Qwen-1.5B"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0123abcd")
    snapshot = checkpoint(repo / "snapshots" / "0123abcd")
    checkpoint(repo / "snapshots" / "older")

    result = convert(convert_env)  # the default model
    assert result.returncode == 0, result.stderr
    output = tmp_path / "models" / "deepseek-r1-distill-qwen-1.5b-f16.gguf"  # what the unit serves
    assert result.stdout.strip() == str(output) and output.read_bytes() == b"GGUFfake"
    assert oct(output.stat().st_mode & 0o777) == "0o644"
    assert not list(output.parent.glob("*.partial"))
    argv = Path(convert_env["CALLS"]).read_text().splitlines()
    assert argv == [
        str(
            tmp_path / "cache" / f"llama.cpp-from-llama-cpp-python-{LLAMA_CPP_PYTHON_VERSION}" / "convert_hf_to_gguf.py"
        ),
        str(snapshot),
        "--outtype",
        "f16",
        "--outfile",
        f"{output}.partial",
    ]


def test_convert_takes_a_folder_in_models_dir_an_output_and_converter_options(convert_env, tmp_path):
    checkpoint(tmp_path / "models" / "DeepSeek-R1-Distill-Qwen-1.5B")  # hf download --local-dir ~/models/...
    result = convert(
        {**convert_env, "OUTTYPE": "q8_0"},
        "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B",
        str(tmp_path / "out" / "r1.gguf"),
        "--",
        "--verbose",
    )
    assert result.returncode == 0, result.stderr
    argv = Path(convert_env["CALLS"]).read_text().splitlines()
    assert argv[1:] == [
        str(tmp_path / "models" / "DeepSeek-R1-Distill-Qwen-1.5B"),
        "--outtype",
        "q8_0",
        "--outfile",
        str(tmp_path / "out" / "r1.gguf.partial"),
        "--verbose",
    ]
    assert (tmp_path / "out" / "r1.gguf").is_file()


def test_convert_keeps_an_existing_gguf_unless_forced(convert_env, tmp_path):
    model = checkpoint(tmp_path / "My-Model")
    output = tmp_path / "models" / "my-model-f16.gguf"
    output.parent.mkdir()
    output.write_bytes(b"GGUFold")
    assert convert(convert_env, str(model)).returncode == 0
    assert output.read_bytes() == b"GGUFold" and not Path(convert_env["CALLS"]).exists()
    assert convert(convert_env, "--force", str(model)).returncode == 0
    assert output.read_bytes() == b"GGUFfake"


def test_a_failed_conversion_leaves_nothing_behind(convert_env, tmp_path):
    model = checkpoint(tmp_path / "My-Model")
    result = convert({**convert_env, "FAIL": "1"}, str(model))
    assert result.returncode != 0 and "the conversion failed" in result.stderr
    assert list((tmp_path / "models").iterdir()) == []


@pytest.mark.parametrize(
    "args, env, message",
    [
        (["deepseek-ai/Missing-Model"], {}, "run `hf download deepseek-ai/Missing-Model` first"),
        (["/no/such/folder"], {}, "is not a folder"),
        (["{empty}"], {}, "has no config.json"),
        (["{model}", "out.bin"], {}, "must end in .gguf"),
        (["{model}"], {"OUTTYPE": "q4_k_m"}, "OUTTYPE must be"),
        (["--frobnicate"], {}, "unknown option"),
    ],
)
def test_convert_refuses_bad_input(convert_env, tmp_path, args, env, message):
    model, empty = checkpoint(tmp_path / "m"), tmp_path / "empty"
    empty.mkdir()
    args = [a.format(model=model, empty=empty) for a in args]
    result = convert({**convert_env, **env}, *args)
    assert result.returncode != 0 and message in result.stderr, result.stderr


def test_convert_help_is_its_header():
    result = subprocess.run([str(CONVERT), "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and "Usage: convert.sh" in result.stdout and "set -euo" not in result.stdout


def test_convert_unpacks_the_converter_from_the_sdist(tmp_path, convert_env):
    """An sdist laid out as llama-cpp-python's: vendor/llama.cpp's converter, its packages and
    templates are unpacked, nothing else."""
    import tarfile

    top = tmp_path / "src" / f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}"
    vendor = top / "vendor" / "llama.cpp"
    for relative in (
        "convert_hf_to_gguf.py",
        "conversion/__init__.py",
        "gguf-py/gguf/__init__.py",
        "models/templates/x.jinja",
        "LICENSE",
        "src/llama.cpp",
        "CMakeLists.txt",
    ):
        (vendor / relative).parent.mkdir(parents=True, exist_ok=True)
        (vendor / relative).write_text(relative)
    (top / "pyproject.toml").write_text("")
    sdist = tmp_path / f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        tar.add(top, arcname=top.name)
    cache = tmp_path / "fresh-cache"
    result = convert(
        {**convert_env, "PRIVATE_MODEL_CACHE": str(cache), "LLAMA_CPP_PYTHON_SDIST": str(sdist)}, "--fetch"
    )
    assert result.returncode == 0, result.stderr
    unpacked = cache / f"llama.cpp-from-llama-cpp-python-{LLAMA_CPP_PYTHON_VERSION}"
    assert sorted(str(p.relative_to(unpacked)) for p in unpacked.rglob("*") if p.is_file()) == [
        "LICENSE",
        "conversion/__init__.py",
        "convert_hf_to_gguf.py",
        "gguf-py/gguf/__init__.py",
        "models/templates/x.jinja",
    ]
    assert not list(cache.glob(".unpack.*"))


# --- install.sh -----------------------------------------------------------------------------------

STUB = """#!/bin/sh
# Stands in for {name}: records the call; answers what install.sh asks.
echo "{name} $*" >> "$CALLS"
case "{name} $*" in
  "podman version"*) echo "${{PODMAN_VERSION:-5.2.3}}" ;;
  "podman image exists"*) [ -n "$IMAGE_EXISTS" ] ;;
  "podman build"*) exit 0 ;;
  "curl"*) [ -z "$SERVER_DOWN" ] ;;
  "systemctl --user is-active"*) exit 0 ;;
esac
"""


@pytest.fixture
def host(tmp_path: Path) -> dict:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("podman", "systemctl", "loginctl", "curl"):
        (bin_dir / name).write_text(STUB.format(name=name))
        (bin_dir / name).chmod(0o755)
    models = tmp_path / "home" / "models"
    models.mkdir(parents=True)
    model = models / "deepseek-r1-distill-qwen-1.5b-f16.gguf"
    model.write_bytes(b"GGUF\x03\x00\x00\x00")
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "HOME": str(tmp_path / "home"),
        "CALLS": str(tmp_path / "calls"),
        "USER": getpass.getuser(),
    }
    return {
        "env": env,
        "model": model,
        "calls": tmp_path / "calls",
        "unit": tmp_path / "home" / ".config" / "containers" / "systemd" / "private-model.container",
    }


def install(host: dict, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(INSTALL), *args], env={**host["env"], **env}, capture_output=True, text=True, timeout=60)


def calls(host: dict) -> list[str]:
    return host["calls"].read_text().splitlines() if host["calls"].exists() else []


def test_install_builds_the_image_writes_the_unit_lingers_and_starts(host):
    result = install(host, "--wait", "5")
    assert result.returncode == 0, result.stderr
    user = getpass.getuser()
    image = f"localhost/private-model:{LLAMA_CPP_PYTHON_VERSION}"
    assert calls(host) == [
        "podman version --format {{.Client.Version}}",
        f"podman image exists {image}",
        f"podman build --tag {image} {INSTALL.parent}",
        f"loginctl enable-linger {user}",
        "systemctl --user daemon-reload",
        "systemctl --user restart private-model",
        "curl --fail --silent --max-time 5 http://127.0.0.1:8000/v1/models",
    ]
    # The default model lives in ~/models: the unit installed is the template with its absolute path.
    unit = check_unit(host["unit"].read_text(), str(host["model"].parent), host["model"].name)
    template = parse_unit(UNIT_FILE.read_text())
    assert [k for k, _ in unit["Container"]] == [k for k, _ in template["Container"]]
    assert "servedModelName (the chatbot's PRIVATE_MODEL) is deepseek-r1-distill-qwen-1.5b" in result.stderr


def test_install_writes_the_settings_given_and_keeps_a_built_image(host, tmp_path):
    other = tmp_path / "data" / "llama-3.2-1b-q8_0.gguf"
    other.parent.mkdir()
    other.write_bytes(host["model"].read_bytes())
    result = install(
        host,
        "--model",
        str(other),
        "--name",
        "llama-3.2-1b",
        "--ctx",
        "4096",
        "--threads",
        "3",
        "--port",
        "18000",
        "--no-start",
        IMAGE_EXISTS="1",
    )
    assert result.returncode == 0, result.stderr
    assert not any(c.startswith("podman build") or "restart" in c or c.startswith("curl") for c in calls(host))
    assert "systemctl --user daemon-reload" in calls(host)
    unit = check_unit(host["unit"].read_text(), str(other.parent), other.name, host_port=18000)
    env = dict(v.split("=", 1) for k, v in unit["Container"] if k == "Environment")
    assert (env["MODEL_ALIAS"], env["N_CTX"], env["N_THREADS"]) == ("llama-3.2-1b", "4096", "3")
    assert oct(host["unit"].stat().st_mode & 0o777) == "0o644"
    assert [p.name for p in host["unit"].parent.iterdir()] == ["private-model.container"]  # no temporary left


def test_install_gives_up_when_the_server_never_answers(host):
    result = install(host, "--wait", "1", IMAGE_EXISTS="1", SERVER_DOWN="1")
    assert result.returncode != 0
    assert "no answer from http://127.0.0.1:8000/v1/models" in result.stderr
    assert "journalctl --user -u private-model" in result.stderr


@pytest.mark.parametrize(
    "args, env, message",
    [
        (["--model", "{missing}"], {}, "no model at"),
        (["--model", "{not_gguf}"], {}, "is not a GGUF file"),
        (["--model", "{spaced}"], {}, "the model's path may hold"),
        (["--port", "70000"], {}, "--port must be between"),
        (["--ctx", "lots"], {}, "--ctx must be a whole number"),
        (["--port", "08000"], {}, "--port must be a whole number"),
        (["--name", "bad name"], {}, "--name may hold"),
        (["--threads"], {}, "--threads needs a value"),
        (["--no-build"], {}, "the image localhost/private-model"),
        ([], {"PODMAN_VERSION": "4.4.1"}, "podman 4.4.1 is too old"),
        (["--bogus"], {}, "unknown argument"),
    ],
)
def test_install_refuses_bad_input_and_old_podman_before_touching_systemd(host, tmp_path, args, env, message):
    not_gguf, spaced = tmp_path / "model.gguf", tmp_path / "my models" / "m.gguf"
    not_gguf.write_bytes(b"PK\x03\x04")
    spaced.parent.mkdir()
    spaced.write_bytes(b"GGUF")
    args = [a.format(missing=tmp_path / "none.gguf", not_gguf=not_gguf, spaced=spaced) for a in args]
    result = install(host, *args, **env)
    assert result.returncode != 0 and message in result.stderr, result.stderr
    assert not host["unit"].exists()
    assert not any(c.startswith(("systemctl", "loginctl")) for c in calls(host))


QUADLET = """#!/bin/sh
# Stands in for podman's Quadlet generator: checks the one unit it is given.
echo "quadlet $* $(ls "$QUADLET_UNIT_DIRS")" >> "$CALLS"
grep -q '^Bogus=' "$QUADLET_UNIT_DIRS"/*.container && { echo "unsupported key 'Bogus' in group 'Container'" >&2; exit 1; }
exit 0
"""  # noqa: E501 (a shell script)


def test_install_asks_quadlet_first_and_installs_nothing_it_refuses(host, tmp_path):
    (tmp_path / "bin" / "quadlet").write_text(QUADLET)
    (tmp_path / "bin" / "quadlet").chmod(0o755)
    assert install(host, "--no-start", IMAGE_EXISTS="1").returncode == 0
    assert "quadlet -dryrun -user private-model.container" in calls(host)
    host["unit"].unlink()

    # The same unit with a key Quadlet does not know: refused before systemd hears of it.
    bogus = tmp_path / "bogus"
    bogus.mkdir()
    for name in ("install.sh", "Dockerfile", "requirements-server.txt"):
        (bogus / name).symlink_to(INSTALL.parent / name)
    (bogus / "private-model.container").write_text(UNIT_FILE.read_text().replace("[Service]", "Bogus=1\n[Service]"))
    host["calls"].unlink()
    result = subprocess.run(
        [str(bogus / "install.sh"), "--no-start"],
        env={**host["env"], "IMAGE_EXISTS": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "unsupported key 'Bogus'" in result.stderr
    assert "Quadlet cannot use the unit" in result.stderr
    assert not host["unit"].exists() and not list(host["unit"].parent.iterdir())
    assert not any(c.startswith(("systemctl", "loginctl")) for c in calls(host))


def test_install_help_is_its_header():
    result = subprocess.run([str(INSTALL), "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and "Usage: install.sh" in result.stdout and "--no-build" in result.stdout
