"""`ConfigError`, and how a pydantic `ValidationError` becomes one: the full key path, the value
(never a secret's), what is allowed, and for an unknown key the nearest known spelling."""

from __future__ import annotations

import difflib
import json
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from stack_config.base import NO_VALUE


class ConfigError(ValueError):
    """A stack config value that the program cannot use."""

    def __init__(self, key: str, value: Any, allowed: str):
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"config key '{key}': {_show(value)} is not valid; allowed: {allowed}")


def _show(value: Any) -> str:
    return "no value" if value is NO_VALUE else f"value {json.dumps(value, default=str)}"


def key_path(loc: Sequence[str | int]) -> str:
    """('genai-eks:workspaces', 1, 'finetune', 'loraR') -> genai-eks:workspaces[1].finetune.loraR"""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path


def _inner_types(annotation: Any) -> list[Any]:
    """The types a field's annotation holds: Optional and tuple unwrapped."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _inner_types(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for a in typing.get_args(annotation) if a is not type(None) for t in _inner_types(a)]
    if origin in (tuple, list):
        return [t for a in typing.get_args(annotation) if a is not Ellipsis for t in _inner_types(a)]
    return [annotation]


def _field_by_alias(model: type[BaseModel], alias: str) -> tuple[str, Any] | None:
    for name, info in model.model_fields.items():
        if (info.alias or name) == alias:
            return name, info.annotation
    return None


def model_at(root: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The section model found at `loc` under `root`, or None (a scalar, a list)."""
    current: Any = root
    for part in loc:
        if isinstance(part, int):
            continue  # a list's item: the field's element type already stands for it
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        found = _field_by_alias(current, part)
        if found is None:
            return None
        models = [t for t in _inner_types(found[1]) if isinstance(t, type) and issubclass(t, BaseModel)]
        current = models[0] if models else None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def known_keys(model: type[BaseModel]) -> list[str]:
    return sorted(info.alias or name for name, info in model.model_fields.items())


def _nearest(name: str, candidates: Sequence[str]) -> str | None:
    near = difflib.get_close_matches(name, list(candidates), n=1)
    return near[0] if near else None


def to_config_error(error: ValidationError, root: type[BaseModel], secret_keys: Sequence[str] = ()) -> ConfigError:
    """The first error pydantic found, in our words (keys are checked in the order they are declared)."""
    detail: ErrorDetails = error.errors(include_url=False)[0]
    loc = list(detail["loc"])
    kind, ctx, value = detail["type"], detail.get("ctx") or {}, detail.get("input", NO_VALUE)
    if kind == "config":
        loc += list(ctx.get("at") or ())
        key = ctx.get("key") or key_path(loc)
        value = ctx.get("value", NO_VALUE)
        allowed = ctx["allowed"]
    elif kind == "missing":
        key, value = key_path(loc), NO_VALUE
        given = detail.get("input")
        model = model_at(root, loc[:-1])
        near = None
        if isinstance(given, Mapping) and model is not None:
            near = _nearest(str(loc[-1]), [k for k in given if k not in known_keys(model)])
        allowed = "a value is required" + (f" (the section has '{near}': a misspelling?)" if near else "")
    elif kind == "extra_forbidden":
        parent = key_path(loc[:-1])
        model = model_at(root, loc[:-1])
        names = known_keys(model) if model is not None else []
        near = _nearest(str(loc[-1]), names)
        key = key_path(loc)
        allowed = f"the known keys of '{parent}': {', '.join(names)}" + (f" (the nearest: {near})" if near else "")
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        key, allowed = key_path(loc), "an object (a YAML mapping)"
    else:  # a type pydantic checks itself, e.g. a key holding a list where a section was expected
        key, allowed = key_path(loc), detail["msg"]
    if key in secret_keys and value is not NO_VALUE:
        value = "[secret]"
    return ConfigError(key, value, allowed)
