"""The run's settings, read from the environment (the contract with `workloads/finetune.py`).

Every value is checked before anything heavy is imported or downloaded: bad values stop the
program at once with exit code 2 and one line for each, naming the variable, the value and what is
allowed. `HF_TOKEN` is never printed, not even when something else is wrong.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TypeVar, cast

FINETUNE_METHODS = ("lora", "qlora")
RUN_ID = re.compile(r"^[a-z0-9]([a-z0-9-]{0,14}[a-z0-9])?$")
S3_URI = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(/(?P<key>.*))?$")
# huggingface_hub's rule for a repo id (validate_repo_id), without importing it: `name` or
# `namespace/name`, ASCII letters, digits, `_ . -`, starting and ending with a letter, digit or `_`.
_HF_NAME = r"\w(?:[\w.-]{0,94}\w)?"
HF_REPO_ID = re.compile(rf"(?:{_HF_NAME}/)?{_HF_NAME}", re.ASCII)

T = TypeVar("T")


class SettingsError(ValueError):
    """An environment variable the program cannot use."""

    def __init__(self, name: str, value: str | None, allowed: str, problem: str = "is not valid"):
        self.name, self.value, self.allowed = name, value, allowed
        shown = "not set" if value is None else f"{value!r} {problem}"
        super().__init__(f"{name}: {shown}; allowed: {allowed}")


class SettingsErrors(SettingsError):
    """Every variable the program cannot use, found in one pass: `errors` has one SettingsError each,
    and the message one line each (name, value and allowed are the first one's)."""

    def __init__(self, errors: list[SettingsError]):
        self.errors = errors
        self.name, self.value, self.allowed = errors[0].name, errors[0].value, errors[0].allowed
        ValueError.__init__(self, "\n".join(str(error) for error in errors))


class _Invalid(ValueError):
    """Raised by a parser that can say what is wrong better than "is not valid"."""

    def __init__(self, problem: str):
        super().__init__(problem)
        self.problem = problem


@dataclass(frozen=True)
class Hyperparameters:
    lora_r: int = 32
    lora_alpha: int = 64
    lora_dropout: float = 0.05
    learning_rate: float = 2.5e-5
    max_steps: int = 200
    batch_size: int = 4
    gradient_accumulation_steps: int = 4
    max_seq_length: int = 1024
    checkpoint_every_steps: int = 50


@dataclass(frozen=True)
class Settings:
    base_model: str  # a Hugging Face id or a local folder in the Hugging Face layout
    finetune_method: str  # "lora" or "qlora"
    train_data: str  # s3://bucket/key.jsonl or a local file
    validation_data: str
    output_uri: str  # s3://bucket/prefix/ or a local folder: the published adapter
    checkpoint_uri: str  # s3://bucket/prefix/ or a local folder: checkpoints of this run
    run_id: str
    hyperparameters: Hyperparameters = field(default_factory=Hyperparameters)
    hf_token: str | None = field(default=None, repr=False)

    def describe(self) -> str:
        """One line for the log, without the token."""
        hp = ", ".join(f"{k}={v}" for k, v in asdict(self.hyperparameters).items())
        return (
            f"run {self.run_id}: {self.finetune_method} on {self.base_model}; train {self.train_data}, "
            f"validation {self.validation_data}; output {self.output_uri}; checkpoints {self.checkpoint_uri}; "
            f"{hp}; HF_TOKEN {'set' if self.hf_token else 'not set'}"
        )


def _integer(low: int, high: int) -> tuple[Callable[[str], int], str]:
    def parse(raw: str) -> int:
        value = int(raw.strip())
        if not low <= value <= high:
            raise ValueError
        return value

    return parse, f"an integer from {low} to {high}"


def _number(low: float, high: float, low_open: bool = False) -> tuple[Callable[[str], float], str]:
    def parse(raw: str) -> float:
        value = float(raw.strip())
        if not ((low < value if low_open else low <= value) and value <= high):  # NaN fails both
            raise ValueError
        return value

    return parse, f"a number {'above' if low_open else 'from'} {low:g} {'and at most' if low_open else 'to'} {high:g}"


def _choice(choices: tuple[str, ...]) -> tuple[Callable[[str], str], str]:
    def parse(raw: str) -> str:
        if raw not in choices:
            raise ValueError
        return raw

    return parse, " or ".join(choices)


def _pattern(regex: re.Pattern, describe: str) -> tuple[Callable[[str], str], str]:
    def parse(raw: str) -> str:
        if not regex.match(raw):
            raise ValueError
        return raw

    return parse, describe


def _location(kind: str) -> tuple[Callable[[str], str], str]:
    """s3://bucket/key (kind 'file') or s3://bucket/prefix/ (kind 'folder'), or a local path."""

    def parse(raw: str) -> str:
        raw = raw.strip()
        if not raw:
            raise ValueError
        if "://" in raw:
            match = S3_URI.match(raw)
            if not match or ".." in match["bucket"]:
                raise ValueError
            key = match["key"] or ""
            if kind == "file" and (not key or key.endswith("/")):
                raise ValueError
            if kind == "folder" and key and not key.endswith("/"):
                raw += "/"
        return raw

    what = "an object" if kind == "file" else "a prefix"
    return parse, f"s3://<bucket>/<key> ({what}) or a local path"


MODEL_ALLOWED = "a Hugging Face model id (org/name) or a local model folder (config.json, weights, tokenizer)"


def _model(raw: str) -> str:
    """A local folder (as transformers takes it: any path that is a directory) must hold a model; anything
    else must be a Hugging Face id, downloaded at run time (it is not looked up here)."""
    raw = raw.strip()
    if not raw or raw.startswith(("s3://", "http://", "https://")):
        raise ValueError
    if os.path.isdir(raw):
        try:
            names = set(os.listdir(raw))
        except OSError as error:
            raise _Invalid(f"is a folder that cannot be read ({error.strerror})") from None
        if not names:
            raise _Invalid("is an empty folder")
        missing = [
            what
            for what, present in (
                ("config.json", "config.json" in names),
                ("weights (*.safetensors or *.bin)", any(n.endswith((".safetensors", ".bin")) for n in names)),
                (
                    "tokenizer (tokenizer.json or tokenizer_config.json)",
                    bool(names & {"tokenizer.json", "tokenizer_config.json"}),
                ),
            )
            if not present
        ]
        if missing:
            raise _Invalid(f"is a folder without {', '.join(missing)}")
        return raw
    if os.path.exists(raw):
        raise _Invalid("is a file, not a model folder")
    if not HF_REPO_ID.fullmatch(raw) or "--" in raw or ".." in raw or raw.endswith(".git"):
        raise _Invalid("does not exist (and is not a Hugging Face id)")
    return raw


def _read(env: Mapping[str, str], name: str, parser: tuple[Callable[[str], T], str], default: T | None = None) -> T:
    parse, allowed = parser
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        if default is None:
            raise SettingsError(name, None, allowed)
        return default
    try:
        return parse(raw)
    except _Invalid as invalid:
        raise SettingsError(name, raw, allowed, invalid.problem) from None
    except ValueError:
        raise SettingsError(name, raw, allowed) from None


class _Reader:
    """`_read` for each variable in turn, keeping every error instead of stopping at the first."""

    def __init__(self, env: Mapping[str, str]):
        self.env = env
        self.errors: list[SettingsError] = []

    def __call__(self, name: str, parser: tuple[Callable[[str], T], str], default: T | None = None) -> T:
        try:
            return _read(self.env, name, parser, default)
        except SettingsError as error:
            self.errors.append(error)
            return cast(T, default)  # never used: from_env raises before building the settings


def from_env(env: Mapping[str, str]) -> Settings:
    """Parses and checks the settings; raises SettingsErrors naming every bad or missing one."""
    defaults = Hyperparameters()
    read = _Reader(env)
    # In the order of the README's table, so that the lines of several errors come in that order.
    base_model = read("BASE_MODEL", (_model, MODEL_ALLOWED))
    finetune_method = read("FINETUNE_METHOD", _choice(FINETUNE_METHODS), "qlora")
    train_data = read("TRAIN_DATA", _location("file"))
    validation_data = read("VALIDATION_DATA", _location("file"))
    output_uri = read("OUTPUT_URI", _location("folder"))
    checkpoint_uri = read("CHECKPOINT_URI", _location("folder"))
    run_id = read("RUN_ID", _pattern(RUN_ID, "1 to 16 lower-case letters, digits or '-'"))
    hp = Hyperparameters(
        lora_r=read("LORA_R", _integer(1, 256), defaults.lora_r),
        lora_alpha=read("LORA_ALPHA", _integer(1, 1024), defaults.lora_alpha),
        lora_dropout=read("LORA_DROPOUT", _number(0.0, 0.5), defaults.lora_dropout),
        learning_rate=read("LEARNING_RATE", _number(0.0, 0.01, low_open=True), defaults.learning_rate),
        max_steps=read("MAX_STEPS", _integer(1, 1_000_000), defaults.max_steps),
        batch_size=read("BATCH_SIZE", _integer(1, 512), defaults.batch_size),
        gradient_accumulation_steps=read(
            "GRADIENT_ACCUMULATION_STEPS", _integer(1, 1024), defaults.gradient_accumulation_steps
        ),
        max_seq_length=read("MAX_SEQ_LENGTH", _integer(64, 131072), defaults.max_seq_length),
        checkpoint_every_steps=read("CHECKPOINT_EVERY_STEPS", _integer(1, 1_000_000), defaults.checkpoint_every_steps),
    )
    if read.errors:
        raise SettingsErrors(read.errors)
    token = env.get("HF_TOKEN", "").strip() or None
    return Settings(
        base_model=base_model,
        finetune_method=finetune_method,
        train_data=train_data,
        validation_data=validation_data,
        output_uri=output_uri,
        checkpoint_uri=checkpoint_uri,
        run_id=run_id,
        hyperparameters=hp,
        hf_token=token,
    )
