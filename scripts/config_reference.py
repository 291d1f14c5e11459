"""Writes the stack config's reference from its models: docs/configuration.md (one table per
section) and docs/stack-config.schema.json (the JSON Schema of a whole stack file, which the
stack files name on their first line for editors that run yaml-language-server).

Both come from `stack_config/` (each key's type, checks, default and description) and from the
stack files (which of them set a key). Usage: `python -m scripts.config_reference` writes both;
`--check` writes nothing and exits 1, with a diff, when either file is not what it would write.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import inspect
import json
import re
import sys
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from stack_config.base import (
    CIDR_ALLOWED,
    PROJECT,
    Check,
    Cidr,
    Flag,
    Items,
    Number,
    OneOf,
    Secret,
    Text,
    Whole,
)
from stack_config.stack import StackConfig

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "configuration.md"
SCHEMA = ROOT / "docs" / "stack-config.schema.json"
COMMAND = "python -m scripts.config_reference"
SCHEMA_COMMENT = f"# yaml-language-server: $schema={SCHEMA.relative_to(ROOT).as_posix()}"
_NAMESPACE = f"{PROJECT}:"


def stack_files() -> list[Path]:
    return sorted(ROOT.glob("Pulumi.*.yaml"))


def stack_name(path: Path) -> str:
    return path.name[len("Pulumi.") : -len(".yaml")]


# --- a field's type, unwrapped ----------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """A field's annotation unwrapped: the innermost type, the checks on it (from `Annotated`, the
    field's own metadata included), and for a list its item's shape. `X | None` only makes it
    optional: None means "unset", which the default column says."""

    base: Any
    checks: tuple[Check, ...] = ()
    item: Shape | None = None
    optional: bool = False

    def check(self, kind: type[Check]) -> Check | None:
        return next((c for c in self.checks if isinstance(c, kind)), None)

    @property
    def model(self) -> type[BaseModel] | None:
        """The section model this field holds, itself or as a list's items."""
        base = self.item.base if self.item is not None else self.base
        return base if isinstance(base, type) and issubclass(base, BaseModel) else None


def shape(annotation: Any, metadata: Sequence[Any] = ()) -> Shape:
    checks = tuple(m for m in metadata if isinstance(m, Check))
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        inner, *extra = typing.get_args(annotation)
        found = shape(inner, extra)
        return dataclasses.replace(found, checks=(*checks, *found.checks))
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"a union of more than one type and None: {annotation}")
        found = shape(args[0])
        return dataclasses.replace(found, checks=(*checks, *found.checks), optional=True)
    if origin in (tuple, list):
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        if len(args) != 1:
            raise TypeError(f"a list of one item type was expected: {annotation}")
        return Shape(tuple, checks, item=shape(args[0]))
    return Shape(annotation, checks)


def field_shape(info: FieldInfo) -> Shape:
    return shape(info.annotation, info.metadata)


# --- the type column ---------------------------------------------------------------------------


def _number(value: float) -> str:
    return f"{value:g}"


def _scalar_type(s: Shape) -> str:
    """What a single value may be, in words: the check's where it has one."""
    if s.check(Flag) is not None:
        return "bool"
    if isinstance(whole := s.check(Whole), Whole):
        return f"int {whole.low}–{whole.high}"
    if isinstance(number := s.check(Number), Number):
        if number.low_open:
            return f"number > {_number(number.low)}, ≤ {_number(number.high)}"
        return f"number {_number(number.low)}–{_number(number.high)}"
    if isinstance(one_of := s.check(OneOf), OneOf):
        return one_of.allowed
    if s.check(Cidr) is not None:
        return "CIDR"
    if isinstance(secret := s.check(Secret), Secret):
        return f"secret, {secret.allowed}"
    if isinstance(text := s.check(Text), Text):
        return f"string: {text.allowed}" if text.allowed else "string"
    if s.model is not None:
        return "object"
    if typing.get_origin(s.base) is dict:
        key, value = (_scalar_type(shape(a)) for a in typing.get_args(s.base))
        return f"map of {key} to {value}"
    plain = {bool: "bool", int: "int", float: "number", str: "string", SecretStr: "secret string"}
    if s.base in plain:
        return plain[s.base]
    raise TypeError(f"no words for the type {s.base!r}: teach scripts/config_reference.py")


def type_text(s: Shape) -> str:
    if s.item is None:
        return _scalar_type(s)
    items = s.check(Items)
    kind = "non-empty list" if isinstance(items, Items) and items.non_empty else "list"
    item = s.item
    if item.model is not None:
        return f"{kind} of objects"
    if item.check(Cidr) is not None:
        return f"{kind} of CIDR"
    if item.check(Text) is not None or item.check(OneOf) is not None:
        return f"{kind}, each {_scalar_type(item).removeprefix('string: ')}"
    if item.checks:
        return f"{kind} of {_scalar_type(item)}"
    return f"{kind} of {_scalar_type(item)}s"


# --- the default column ------------------------------------------------------------------------


def yaml_value(value: Any) -> str:
    """A value as it would be written in a stack file (flow style)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        plain = value and not re.search(r"[\s:#,\[\]{}'\"]", value) and yaml.safe_load(value) == value
        return value if plain else json.dumps(value)
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(map(yaml_value, value)) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{yaml_value(k)}: {yaml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, BaseModel):
        return "{}"  # a section with every key at its default
    raise TypeError(f"no YAML for the default {value!r}")


def x_default(info: FieldInfo) -> str | None:
    """The words for a default the program computes from other values (json_schema_extra x-default)."""
    extra = info.json_schema_extra
    value = extra.get("x-default") if isinstance(extra, dict) else None
    return str(value) if value is not None else None


def default_text(info: FieldInfo) -> str:
    computed = x_default(info)
    if computed is not None:
        return escape(computed)
    if info.is_required():
        return "required"
    value = info.get_default(call_default_factory=True, validated_data={})
    return "none" if value is None else f"`{yaml_value(value)}`"


# --- Markdown ----------------------------------------------------------------------------------


def escape(text: str) -> str:
    """Text for a table cell: one line; outside code spans `<` and `*` escaped (no HTML, no
    emphasis), and `|` everywhere (GFM splits cells before it reads code spans)."""
    parts = re.split(r"(`[^`]*`)", " ".join(text.split()))
    return "".join(p if p.startswith("`") else re.sub(r"([<*])", r"\\\1", p) for p in parts).replace("|", r"\|")


def docstring(model: type[BaseModel]) -> str | None:
    """The model's own docstring (not one it inherits), as one paragraph."""
    doc = model.__dict__.get("__doc__")
    return " ".join(inspect.cleandoc(doc).split()) if doc else None


# --- which stack sets which key ------------------------------------------------------------------


def reference_key(config_key: str) -> str:
    """A stack file's top-level key as the reference writes it: the project's without its
    namespace (`genai-eks:network` and bare `network` alike), another provider's as it is."""
    return config_key.removeprefix(_NAMESPACE)


def set_keys(config: Mapping[str, Any]) -> set[str]:
    """Every key path a stack's `config:` map writes, in the reference's form (`[]`: any entry)."""
    paths: set[str] = set()

    def walk(value: Any, path: str) -> None:
        paths.add(path)
        entries = [value] if isinstance(value, Mapping) else []
        if isinstance(value, list):
            entries, path = [v for v in value if isinstance(v, Mapping)], f"{path}[]"
        for entry in entries:
            for key, child in entry.items():
                walk(child, f"{path}.{key}")

    for key, value in config.items():
        walk(value, reference_key(str(key)))
    return paths


def stacks_setting() -> dict[str, set[str]]:
    """Each stack file's name and the key paths it sets."""
    return {
        stack_name(path): set_keys((yaml.safe_load(path.read_text()) or {}).get("config") or {})
        for path in stack_files()
    }


# --- the tables ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    key: str
    type: str
    default: str
    description: str
    stacks: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    title: str
    rows: tuple[Row, ...]
    notes: tuple[str, ...]  # the docstrings of the models in it


def _rows(key: str, info: FieldInfo, stacks: Mapping[str, set[str]], notes: list[str], section: bool) -> Iterator[Row]:
    """The field's row, then (for a section, or a list of them) a row per key inside it. The
    docstrings of the models met go to `notes`, the section's own one unprefixed."""
    s = field_shape(info)
    yield Row(
        key,
        type_text(s),
        default_text(info),
        info.description or "",
        tuple(name for name, keys in stacks.items() if key in keys),
    )
    model = s.model
    if model is None:
        return
    doc = docstring(model)
    if doc:
        notes.append(doc if section else f"`{key}`: {doc}")
    prefix = f"{key}[]." if s.item is not None else f"{key}."
    for name, child in model.model_fields.items():
        yield from _rows(prefix + (child.alias or name), child, stacks, notes, False)


def _table(title: str, fields: Sequence[tuple[str, FieldInfo]], stacks: Mapping[str, set[str]]) -> Table:
    notes: list[str] = []
    section = len(fields) == 1
    rows = [row for key, info in fields for row in _rows(key, info, stacks, notes, section)]
    return Table(title, tuple(rows), tuple(notes))


def tables(stacks: Mapping[str, set[str]] | None = None) -> list[Table]:
    """One table per section of the project's, in the root model's order; then the project's
    top-level values (the secrets), then the AWS provider's keys."""
    stacks = stacks_setting() if stacks is None else stacks
    sections: list[Table] = []
    top_level: list[tuple[str, FieldInfo]] = []
    provider: list[tuple[str, FieldInfo]] = []
    for name, info in StackConfig.model_fields.items():
        alias = info.alias or name
        if not alias.startswith(_NAMESPACE):
            provider.append((alias, info))
        elif field_shape(info).model is not None:
            sections.append(_table(f"`{alias}`", [(reference_key(alias), info)], stacks))
        else:
            top_level.append((reference_key(alias), info))
    if top_level:
        secret = all(field_shape(info).check(Secret) is not None for _, info in top_level)
        sections.append(_table("Secrets" if secret else "Top-level keys", top_level, stacks))
    if provider:
        sections.append(_table("The AWS provider's keys", provider, stacks))
    return sections


def _cell_list(names: Sequence[str]) -> str:
    return ", ".join(names)


def render_reference(stacks: Mapping[str, set[str]] | None = None) -> str:
    stacks = stacks_setting() if stacks is None else stacks
    all_tables = tables(stacks)
    stack_list = ", ".join(f"`Pulumi.{name}.yaml`" for name in stacks)
    list_keys = [row.key for table in all_tables for row in table.rows if "[]" in row.key]
    example = max(list_keys, key=lambda k: k.count("."), default=None)
    secrets = [row.key for table in all_tables for row in table.rows if row.type.startswith("secret")]
    lines = [
        "# Stack configuration reference",
        "",
        f"<!-- Generated by `{COMMAND}` from stack_config/ and the stack files: do not edit by hand. -->",
        "",
        (
            f"The program's keys live under the project namespace `{_NAMESPACE}` in the `config:` map of "
            f"`Pulumi.<stack>.yaml` (a key written without a namespace, e.g. `network`, is the project's too); "
            f"the AWS provider's `aws:region` and `aws:defaultTags` sit beside them. Every key is validated "
            "before any resource is registered: a bad value stops the program with "
            "`config key '<key>': value <v> is not valid; allowed: <what is>`, and an unknown (misspelt) key "
            "is refused the same way, with the nearest known key."
        ),
        "",
    ]
    if secrets:
        lines += [
            (
                f"The secrets ({', '.join(f'`{k}`' for k in secrets)}) must be set encrypted, with "
                f"`pulumi config set --secret {_NAMESPACE}<key> <value>` (the stack file then holds "
                "`{secure: <ciphertext>}`); a plain-text one is refused, and an error never shows a secret's value."
            ),
            "",
        ]
    lines += [
        "Columns: **key** is the path inside the section"
        + (
            f", `[]` standing for any entry of a list (an error names the entry, e.g. `{_NAMESPACE}"
            f"{example.replace('[]', '[1]')}` is `{example}` here)"
            if example
            else ""
        )
        + "; **default** is `required`, the value, `none` (unset), or in words what the program "
        "computes; `required` inside an optional object applies when that object is given; "
        f"**stacks** names this repository's stack files that set the key ({stack_list}). "
        f"CIDR: {CIDR_ALLOWED}.",
        "",
        (
            f"`{SCHEMA.relative_to(ROOT).as_posix()}` says the same as a JSON Schema of a whole stack file; "
            f"the stack files name it on their first line, `{SCHEMA_COMMENT}`, so an editor running "
            "yaml-language-server (e.g. VS Code's YAML extension) completes and checks the keys as you type. "
            "It cannot check the rules that span keys (docs/config-rules.md); the program does."
        ),
        "",
    ]
    for table in all_tables:
        lines += [
            f"## {table.title}",
            "",
            "| key | type | default | description | stacks |",
            "| --- | --- | --- | --- | --- |",
        ]
        for row in table.rows:
            lines.append(
                f"| `{row.key}` | {escape(row.type)} | {row.default} | {escape(row.description)} | "
                f"{_cell_list(row.stacks)} |"
            )
        lines.append("")
        for note in table.notes:
            lines += [escape(note).replace(r"\|", "|"), ""]
    return "\n".join(lines).rstrip("\n") + "\n"


# --- the JSON Schema -----------------------------------------------------------------------------


def _walk_objects(schema: Any) -> Iterator[dict[str, Any]]:
    """Every object schema (one with `properties`) in a JSON Schema, nested ones included."""
    if isinstance(schema, dict):
        if isinstance(schema.get("properties"), dict):
            yield schema
        for value in schema.values():
            yield from _walk_objects(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _walk_objects(value)


def _tidy(schema: dict[str, Any]) -> None:
    """Drops pydantic's generated property titles ("Vpccidr"), and from `required` each key the
    program fills in itself (an `x-default`)."""
    for obj in list(_walk_objects(schema)):
        properties: dict[str, Any] = obj["properties"]
        for prop in properties.values():
            prop.pop("title", None)
        if "required" in obj:
            obj["required"] = [k for k in obj["required"] if "x-default" not in properties.get(k, {})]
            if not obj["required"]:
                del obj["required"]


def _encrypted(prop: dict[str, Any]) -> dict[str, Any]:
    """A secret as a stack file holds it: only `{secure: <ciphertext>}` (plain text is refused)."""
    return {
        "description": f"{prop.get('description', '')} (set it with pulumi config set --secret; "
        "a plain-text value is refused)".lstrip(),
        "type": "object",
        "properties": {"secure": {"type": "string", "minLength": 1, "description": "the ciphertext Pulumi wrote"}},
        "required": ["secure"],
        "additionalProperties": False,
    }


def stack_file_schema() -> dict[str, Any]:
    if not re.fullmatch(r"[a-z0-9-]+", PROJECT):
        raise ValueError(f"the project name {PROJECT!r} goes into a regex unescaped")
    root = StackConfig.model_json_schema(by_alias=True, mode="validation")
    defs: dict[str, Any] = root.pop("$defs", {})
    for definition in defs.values():
        _tidy(definition)
    _tidy(root)
    fields = {info.alias or name: info for name, info in StackConfig.model_fields.items()}
    properties: dict[str, Any] = {}
    required: list[str] = []
    either: list[dict[str, Any]] = []
    for alias, prop in root["properties"].items():
        if field_shape(fields[alias]).check(Secret) is not None:
            prop = _encrypted(prop)
        properties[alias] = prop
        if alias.startswith(_NAMESPACE):
            bare = reference_key(alias)
            properties[bare] = {
                **prop,
                "description": f"{alias} written without the namespace: {prop.get('description', '')}",
            }
            if alias in root.get("required", []):
                either.append({"anyOf": [{"required": [alias]}, {"required": [bare]}]})
        elif alias in root.get("required", []):
            required.append(alias)
    config: dict[str, Any] = {
        "description": root.get("description", ""),
        "type": "object",
        "properties": properties,
        # Other providers' namespaced keys (aws:profile, pulumi:...) are theirs to check. (No
        # re.escape: an escaped '-' is an error in the JavaScript regexes editors compile.)
        "patternProperties": {rf"^(?!{PROJECT}:)[^:\s]+:\S+$": {}},
        # The project's unknown keys, namespaced or bare, are refused, as the program refuses them.
        "additionalProperties": False,
    }
    if required:
        config["required"] = required
    if either:
        config["allOf"] = either
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$comment": f"Generated by `{COMMAND}` from stack_config/: do not edit by hand.",
        "title": f"{PROJECT} stack file (Pulumi.<stack>.yaml)",
        "description": "A Pulumi stack file of the project; docs/configuration.md describes every key.",
        "type": "object",
        "properties": {"config": config},
        "$defs": defs,
    }


def render_schema() -> str:
    return json.dumps(stack_file_schema(), indent=2, ensure_ascii=False) + "\n"


# --- writing and checking --------------------------------------------------------------------------


def outputs() -> dict[Path, str]:
    return {REFERENCE: render_reference(), SCHEMA: render_schema()}


def staleness(render: Callable[[], dict[Path, str]] = outputs) -> str:
    """A diff of each generated file that is not what the script would write now; "" when none."""
    report: list[str] = []
    for path, wanted in render().items():
        name = path.relative_to(ROOT).as_posix()
        current = path.read_text() if path.is_file() else ""
        if current != wanted:
            report += difflib.unified_diff(
                current.splitlines(keepends=True),
                wanted.splitlines(keepends=True),
                fromfile=f"{name} (as it is)",
                tofile=f"{name} (from the models)",
                n=1,
            )
            if report and not report[-1].endswith("\n"):
                report[-1] += "\n"
    if report:
        report.append(f"stale: run `{COMMAND}` to regenerate\n")
    return "".join(report)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 with a diff when a file is stale")
    args = parser.parse_args(argv)
    if args.check:
        report = staleness()
        sys.stdout.write(report)
        return 1 if report else 0
    for path, text in outputs().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(path.relative_to(ROOT).as_posix())
    return 0


if __name__ == "__main__":
    sys.exit(main())
