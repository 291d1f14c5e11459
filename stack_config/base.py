"""What every config section is built from: a frozen pydantic model that refuses unknown keys,
and the checks its keys use, each carrying the text an error shows as "allowed".

A check runs before pydantic's own type validation (a `before` validator), so a bad value is
refused with our words and never coerced ("2" is no whole number, 1 is no boolean). Each check
also puts its bounds in the JSON Schema, so the schema and the reference say what the check does.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, GetCoreSchemaHandler, GetJsonSchemaHandler, model_validator
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

PROJECT = "genai-eks"


class _NoValue:
    def __repr__(self) -> str:
        return "NO_VALUE"


NO_VALUE: Any = _NoValue()  # a key with no value, where an error names it


def refuse(allowed: str, value: Any = NO_VALUE, *, at: Sequence[str | int] = (), key: str | None = None) -> None:
    """Stops validation: `value` is not valid, `allowed` says what is. `at`: the key under the
    model being validated that the error names (a model rule about one of its keys); `key`: a
    full key elsewhere (a top-level secret)."""
    raise PydanticCustomError("config", "{allowed}", {"allowed": allowed, "value": value, "at": tuple(at), "key": key})


class ConfigModel(BaseModel):
    """A config section: keys in camelCase, unknown keys refused, values frozen once parsed."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        regex_engine="python-re",
        hide_input_in_errors=False,
    )

    # A key written with no value (`key:` in YAML) means its default, as Pulumi's own config does.
    @model_validator(mode="before")
    @classmethod
    def _drop_empty_keys(cls, data: Any) -> Any:
        return {k: v for k, v in data.items() if v is not None} if isinstance(data, Mapping) else data


@dataclass(frozen=True)
class Check:
    """A test on a key's raw value with the text saying what is allowed."""

    allowed: str

    def test(self, value: Any) -> bool:
        raise NotImplementedError

    def schema(self) -> dict[str, Any]:
        return {}

    def validate(self, value: Any) -> Any:
        if not self.test(value):
            refuse(self.allowed, value)
        return value

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(self.validate, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {**handler(schema), **self.schema()}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True, init=False)
class Whole(Check):
    """A whole number in [low, high]; with `choices`, also one of them (what AWS or vLLM accept)."""

    low: int
    high: int
    choices: tuple[int, ...]
    choices_say: str

    def __init__(self, low: int, high: int, *, choices: tuple[int, ...] = (), choices_say: str = ""):
        object.__setattr__(self, "allowed", f"a whole number from {low} to {high}")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)
        object.__setattr__(self, "choices", choices)
        object.__setattr__(self, "choices_say", choices_say)

    def test(self, value: Any) -> bool:
        return _is_int(value) and self.low <= value <= self.high

    def validate(self, value: Any) -> Any:
        super().validate(value)
        if self.choices and value not in self.choices:
            refuse(f"one of {', '.join(map(str, self.choices))}{self.choices_say}", value)
        return value

    def schema(self) -> dict[str, Any]:
        return {
            "type": "integer",
            "minimum": self.low,
            "maximum": self.high,
            **({"enum": list(self.choices)} if self.choices else {}),
        }


@dataclass(frozen=True, init=False)
class Number(Check):
    low: float
    high: float
    low_open: bool

    def __init__(self, low: float, high: float, *, low_open: bool = False):
        object.__setattr__(
            self,
            "allowed",
            f"a number {'above' if low_open else 'from'} {low} {'and at most' if low_open else 'to'} {high}",
        )
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)
        object.__setattr__(self, "low_open", low_open)

    def test(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return (self.low < value if self.low_open else self.low <= value) and value <= self.high

    def schema(self) -> dict[str, Any]:
        return {"type": "number", "exclusiveMinimum" if self.low_open else "minimum": self.low, "maximum": self.high}


@dataclass(frozen=True)
class Flag(Check):
    allowed: str = "true or false"

    def test(self, value: Any) -> bool:
        return isinstance(value, bool)


@dataclass(frozen=True)
class Text(Check):
    """A string matching `pattern` whole (Python's re: some patterns look ahead)."""

    pattern: str = ""

    def test(self, value: Any) -> bool:
        return isinstance(value, str) and (not self.pattern or re.fullmatch(self.pattern, value) is not None)

    def schema(self) -> dict[str, Any]:
        return {"type": "string", **({"pattern": self.pattern} if self.pattern else {})}


def text(pattern: str, allowed: str) -> Text:
    return Text(allowed, pattern)


@dataclass(frozen=True, init=False)
class OneOf(Check):
    choices: tuple[Any, ...]

    def __init__(self, *choices: Any):
        object.__setattr__(self, "allowed", f"one of {', '.join(map(str, choices))}")
        object.__setattr__(self, "choices", choices)

    def test(self, value: Any) -> bool:
        return any(value == c and type(value) is type(c) for c in self.choices)

    def schema(self) -> dict[str, Any]:
        return {"enum": list(self.choices)}


CIDR_ALLOWED = "an IPv4 CIDR block in prefix notation with no host bits set, e.g. 203.0.113.0/24"


@dataclass(frozen=True)
class Cidr(Check):
    allowed: str = CIDR_ALLOWED

    def test(self, value: Any) -> bool:
        if not isinstance(value, str) or not re.fullmatch(r"[0-9.]+/\d{1,2}", value):
            return False
        try:
            ipaddress.IPv4Network(value)
        except ValueError:
            return False
        return True

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "format": "ipv4-cidr", "pattern": r"^[0-9.]+/\d{1,2}$"}


@dataclass(frozen=True)
class Items(Check):
    """A YAML list (of what the item type checks), optionally non-empty; never with duplicates."""

    allowed: str = "a list"
    non_empty: bool = False
    unique: bool = True

    def test(self, value: Any) -> bool:
        return isinstance(value, (list, tuple)) and not (self.non_empty and not value)

    def validate(self, value: Any) -> Any:
        super().validate(value)
        shown = [json.dumps(v, sort_keys=True, default=str) for v in value]
        if self.unique and len(set(shown)) != len(shown):
            refuse("a list without duplicates", list(value))
        return value

    def schema(self) -> dict[str, Any]:
        return {
            "type": "array",
            **({"minItems": 1} if self.non_empty else {}),
            **({"uniqueItems": True} if self.unique else {}),
        }


# A DNS label of at most 32 characters: names of workspaces, adapters, IngressClasses, Secrets.
DNS_LABEL = r"^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$"


def project_key(name: str) -> str:
    """A top-level key of the project, e.g. genai-eks:rag."""
    return f"{PROJECT}:{name}"


def addon_version(example: str) -> Text:
    """An EKS managed add-on's version string."""
    return text(r"^v\d+\.\d+\.\d+-eksbuild\.\d+$", f"an EKS add-on version, e.g. {example}")


def non_empty_list() -> Items:
    return Items("a non-empty list", non_empty=True)


@dataclass(frozen=True)
class Secret(Check):
    """A value set with `pulumi config set --secret`: a non-empty string, never shown."""

    allowed: str = "a non-empty string"

    def test(self, value: Any) -> bool:
        return isinstance(value, str) and bool(value.strip())

    def validate(self, value: Any) -> Any:
        if not self.test(value):
            refuse(self.allowed, "[secret]")
        return value.strip()
