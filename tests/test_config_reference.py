"""docs/configuration.md and docs/stack-config.schema.json are what scripts/config_reference.py
writes from the models now; every key of every stack file is in the reference; the schema takes
both stack files, refuses what the program refuses, and the stack files name it for editors."""

from __future__ import annotations

import copy
import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from scripts import config_reference
from scripts.config_reference import (
    COMMAND,
    REFERENCE,
    SCHEMA,
    SCHEMA_COMMENT,
    docstring,
    stack_name,
)
from stack_config import ConfigError, NodeGroupConfig, parse_stack_config
from tests.harness import PROJECT, ROOT, STACK_FILES, stack_config

TODAY = date(2026, 6, 1)  # a day 1.35 (the stack files' version) is in standard support


def stack_file(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    return document


def documented_keys() -> set[str]:
    """The key column of every table in the reference, as a reader sees it."""
    return set(re.findall(r"^\| `([^`]+)` \|", REFERENCE.read_text(), re.MULTILINE))


def undocumented(config: dict[str, Any], documented: set[str]) -> list[str]:
    """The key paths a stack's `config:` map writes that the reference has no row for. A mapping
    is walked into only where the reference has keys below it (aws:defaultTags.tags is a free map);
    a list's entries stand as `[]`."""
    missing: list[str] = []

    def walk(value: Any, path: str) -> None:
        if path not in documented:
            missing.append(path)
            return
        if isinstance(value, dict) and any(k.startswith(f"{path}.") for k in documented):
            for key, child in value.items():
                walk(child, f"{path}.{key}")
        if isinstance(value, list) and any(k.startswith(f"{path}[].") for k in documented):
            for entry in value:
                for key, child in entry.items() if isinstance(entry, dict) else ():
                    walk(child, f"{path}[].{key}")

    for key, value in config.items():
        walk(value, key.removeprefix(f"{PROJECT}:"))
    return missing


def validator() -> Draft202012Validator:
    return Draft202012Validator(json.loads(SCHEMA.read_text()))


def errors(document: dict[str, Any]) -> list[str]:
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator().iter_errors(document)]


def dev() -> dict[str, Any]:
    return copy.deepcopy(stack_file(ROOT / "Pulumi.dev.yaml"))


# --- (a) the generated files are current ----------------------------------------------------


def test_the_generated_files_are_what_the_script_writes_now() -> None:
    report = config_reference.staleness()
    assert not report, f"docs/ is stale: regenerate with `{COMMAND}` and commit it\n{report}"
    assert config_reference.main(["--check"]) == 0


def test_a_stale_file_is_reported_with_the_command() -> None:
    def edited() -> dict[Path, str]:
        return {path: text.replace("\n", "\nan edited line\n", 1) for path, text in config_reference.outputs().items()}

    report = config_reference.staleness(edited)
    assert report.count("\n+an edited line\n") == 2
    assert (
        "--- docs/configuration.md (as it is)" in report
        and "+++ docs/stack-config.schema.json (from the models)" in report
    )
    assert report.rstrip().endswith(f"run `{COMMAND}` to regenerate")


def _sets(node: Any, parts: list[str]) -> bool:
    """Whether a stack's config map writes the key path (`name[]`: any entry of the list)."""
    name, entries = parts[0].removesuffix("[]"), parts[0].endswith("[]")
    if not isinstance(node, dict) or name not in node:
        return False
    if len(parts) == 1:
        return True
    if entries:
        return any(_sets(entry, parts[1:]) for entry in node[name] if isinstance(entry, dict))
    return _sets(node[name], parts[1:])


def test_the_reference_has_a_table_per_section_with_what_the_models_say() -> None:
    text = REFERENCE.read_text()
    for heading in (
        "`genai-eks:network`",
        "`genai-eks:gpuNodeGroups`",
        "`genai-eks:workspaces`",
        "Secrets",
        "The AWS provider's keys",
    ):
        assert f"\n## {heading}\n" in text
    rows = {
        m[0]: m[1:] for m in re.findall(r"^\| `([^`]+)` \| (.*?) \| (.*?) \| (.*?) \| (.*?) \|$", text, re.MULTILINE)
    }
    assert rows["cluster.name"][1] == r"genai-\<stack>"  # an x-default, in words
    assert rows["gpuNodeGroups[].name"][1] == r"gpu-\<index>"
    assert rows["cluster.endpointPublicAccessCidrs"][:2] == ("list of CIDR", "required")
    assert rows["workspaces[].inference.gpuMemoryUtilization"][:2] == ("number 0.1–0.98", "`0.9`")
    assert rows["network.natGateways"][:2] == ("one of single, perAz", "`single`")
    assert rows["aws:region"][1] == "required"
    assert (docstring(NodeGroupConfig) or "no docstring") in text  # a section model's docstring, under its table
    # The stacks column, against the stack files read here.
    configs = {
        stack_name(p): {k.removeprefix(f"{PROJECT}:"): v for k, v in stack_file(p)["config"].items()}
        for p in STACK_FILES
    }
    for key, (_, _, _, stacks) in rows.items():
        assert stacks == ", ".join(name for name, c in configs.items() if _sets(c, key.split("."))), key


# --- (b) every key of every stack file is documented ------------------------------------------------


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.name)
def test_every_key_of_the_stack_file_is_documented(path: Path) -> None:
    assert undocumented(stack_file(path)["config"], documented_keys()) == []


def test_the_key_walk_sees_every_level() -> None:
    documented = documented_keys()
    config = dev()["config"]
    assert undocumented(config, documented) == []
    config[f"{PROJECT}:workspaces"][1]["finetune"]["hyperparameters"]["loraRank"] = 16
    config[f"{PROJECT}:cluster"]["kubernetesVersoin"] = "1.35"
    config["qdrnt"] = {"storageGiB": 20}
    config["aws:defaultTags"]["tags"]["team"] = "ml"  # a free map: any tag is fine
    assert undocumented(config, documented) == [
        "cluster.kubernetesVersoin",
        "workspaces[].finetune.hyperparameters.loraRank",
        "qdrnt",
    ]


# --- (c) the JSON Schema ------------------------------------------------------------------------------


def test_the_schema_is_a_draft_2020_12_schema() -> None:
    schema = json.loads(SCHEMA.read_text())
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["config"]["additionalProperties"] is False


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.name)
def test_the_stack_file_is_valid_against_the_schema(path: Path) -> None:
    assert errors(stack_file(path)) == []


def _set(document: dict[str, Any], path: list[str | int], value: Any) -> dict[str, Any]:
    node: Any = document["config"]
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return document


# Edits of Pulumi.dev.yaml that the schema and the program both refuse.
REFUSED = {
    "misspelt key in a section": ([f"{PROJECT}:cluster", "kubernetesVersoin"], "1.35"),
    "string for a whole number": ([f"{PROJECT}:qdrant", "storageGiB"], "20Gi"),
    "number out of range": ([f"{PROJECT}:workspaces", 0, "inference", "gpuMemoryUtilization"], 0.99),
    "value not among the choices": ([f"{PROJECT}:network", "natGateways"], "double"),
    "bad CIDR in a list": ([f"{PROJECT}:chatbot", "sourceRanges"], ["0.0.0.0"]),
    "unknown project key": ([f"{PROJECT}:qdrnt"], {"storageGiB": 20}),
    "unknown bare key": (["qdrnt"], {"storageGiB": 20}),
    "plain-text secret": ([f"{PROJECT}:huggingFaceToken"], "hf_plain"),
}


@pytest.mark.parametrize("edit", REFUSED.values(), ids=REFUSED.keys())
def test_the_schema_refuses_what_the_program_refuses(edit: tuple[list[str | int], Any]) -> None:
    path, value = edit
    assert errors(_set(dev(), path, value)), "the schema takes it"
    raw = {(k if ":" in k else f"{PROJECT}:{k}"): v for k, v in _set(dev(), path, value)["config"].items()}
    with pytest.raises(ConfigError):
        parse_stack_config(raw, "dev", today=TODAY)


def test_the_schema_names_the_misspelt_key_and_the_wrong_type() -> None:
    misspelt = errors(_set(dev(), [f"{PROJECT}:cluster", "kubernetesVersoin"], "1.35"))
    assert misspelt == [
        f"config.{PROJECT}:cluster: Additional properties are not allowed ('kubernetesVersoin' was unexpected)"
    ]
    wrong_type = errors(_set(dev(), [f"{PROJECT}:qdrant", "storageGiB"], "20Gi"))
    assert wrong_type == [f"config.{PROJECT}:qdrant.storageGiB: '20Gi' is not of type 'integer'"]


def test_the_schema_takes_an_encrypted_secret_and_keys_without_the_namespace() -> None:
    document = dev()
    config = document["config"]
    config[f"{PROJECT}:huggingFaceToken"] = {"secure": "v1:bm9uY2U=:Y2lwaGVydGV4dA=="}
    config["network"] = config.pop(f"{PROJECT}:network")  # bare: the project's key all the same
    config["aws:profile"] = "platform"  # another provider's key is its own business
    del config[f"{PROJECT}:cluster"]["name"]  # filled in by the program (genai-<stack>)
    assert errors(document) == []
    assert errors(_set(dev(), [f"{PROJECT}:huggingFaceToken"], {"secure": ""}))
    assert errors(_set(dev(), [f"{PROJECT}:huggingFaceToken"], {"secure": "x", "plain": "y"}))


def test_a_required_section_is_required_namespaced_or_bare() -> None:
    document = dev()
    config = document["config"]
    config["systemNodeGroup"] = config.pop(f"{PROJECT}:systemNodeGroup")
    assert errors(document) == []
    del config["systemNodeGroup"]
    assert errors(document)
    del document["config"]["aws:region"]
    assert any("'aws:region' is a required property" in e for e in errors(document))


# --- (d) the stack files name the schema ---------------------------------------------------------------


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.name)
def test_the_stack_file_names_the_schema_on_its_first_line(path: Path) -> None:
    assert path.read_text().splitlines()[0] == SCHEMA_COMMENT
    # yaml-language-server resolves a relative $schema against the YAML file's folder.
    target = SCHEMA_COMMENT.split("$schema=", 1)[1]
    assert (path.parent / target).resolve() == SCHEMA.resolve()
    assert stack_config(stack_name(path))  # still a stack file with its config map


def test_the_readme_points_to_the_reference() -> None:
    """The README links the reference and docs/config-rules.md, whose prose (the rules that span keys) names
    both generated files and the line that points editors at the schema."""
    readme = (ROOT / "README.md").read_text()
    assert "](docs/configuration.md)" in readme and "](docs/config-rules.md)" in readme
    section = (ROOT / "docs" / "config-rules.md").read_text().split("\n## ", 1)[0]
    assert "docs/configuration.md" in section and "docs/stack-config.schema.json" in section
    assert "](configuration.md)" in section and "](stack-config.schema.json)" in section
    assert SCHEMA_COMMENT.lstrip("# ") in section
