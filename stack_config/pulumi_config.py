"""Reads the running stack's config from the Pulumi runtime: the one place that talks to Pulumi."""

from __future__ import annotations

import json
from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config

from stack_config.base import PROJECT
from stack_config.stack import SECRET_KEYS, StackConfig, parse_stack_config


def _decode(value: Any) -> Any:
    """Pulumi hands structured config to the program as JSON text; scalars stay strings."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def load_stack_config() -> StackConfig:
    """The stack's config, parsed: every key Pulumi holds (to refuse unknown ones), and which are secret."""
    raw = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    plain_strings = {"aws:region", *(f"{PROJECT}:{k}" for k in SECRET_KEYS)}
    decoded = {k: (v if k in plain_strings else _decode(v)) for k, v in raw.items()}
    # Secret-ness through the SDK's public function, not its private state.
    secret_keys = {k for k in raw if runtime_config.is_config_secret(k)} | set(
        runtime_config.get_config_secret_keys_env()
    )
    return parse_stack_config(decoded, pulumi.get_stack(), secret_keys)
