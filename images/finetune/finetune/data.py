"""Training and validation data: JSONL, one example a line, from S3 or a local file.

Two formats are accepted, also mixed in one file:

* the book's:  {"prompt": "...", "response": "..."}  (optionally "system": "...")
* chat:        {"messages": [{"role": "system"|"user"|"assistant", "content": "..."}, ...]}
  ending with an assistant message.

Both become a conversational prompt-completion example: `prompt` is the chat up to the last
assistant message, `completion` that message. SFTTrainer renders them with the tokenizer's chat
template and computes the loss on the completion only (earlier assistant turns are context).
Blank lines are skipped; anything else that is not a valid example stops the run with an error
naming the file and the line.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from finetune.errors import DataError, NotFound
from finetune.storage import location

ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Dataset:
    uri: str
    sha256: str
    examples: list[dict]  # {"prompt": [messages], "completion": [one assistant message]}


def load(uri: str) -> Dataset:
    try:
        raw = location(uri).read_bytes()
    except NotFound as error:
        raise DataError(str(error)) from None
    return Dataset(uri=uri, sha256=hashlib.sha256(raw).hexdigest(), examples=parse(raw, uri))


def parse(raw: bytes, uri: str) -> list[dict]:
    examples = []
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as error:
            raise DataError(f"{uri} line {number}: not UTF-8 ({error.reason} at byte {error.start})") from None
        try:
            record = json.loads(text)
        except json.JSONDecodeError as error:
            raise DataError(f"{uri} line {number}: not valid JSON ({error.msg} at column {error.colno})") from None
        try:
            examples.append(to_example(record))
        except ValueError as error:
            raise DataError(f"{uri} line {number}: {error}") from None
    if not examples:
        raise DataError(f"{uri}: no examples (the file is empty)")
    return examples


def to_example(record) -> dict:
    """One JSON value as a prompt-completion chat example; ValueError says what is wrong."""
    expected = 'expected {"prompt": "...", "response": "..."} or {"messages": [...]}'
    if not isinstance(record, dict):
        raise ValueError(f"{expected}, got {type(record).__name__}")
    if "messages" in record:
        messages = _messages(record["messages"])
    elif "prompt" in record and "response" in record:
        messages = []
        if record.get("system") is not None:
            messages.append({"role": "system", "content": _text(record["system"], "system")})
        messages.append({"role": "user", "content": _text(record["prompt"], "prompt")})
        messages.append({"role": "assistant", "content": _text(record["response"], "response")})
    else:
        raise ValueError(f"{expected}; keys found: {', '.join(sorted(record)) or 'none'}")
    return {"prompt": messages[:-1], "completion": messages[-1:]}


def _messages(value) -> list[dict]:
    if not isinstance(value, list) or len(value) < 2:
        raise ValueError('"messages" must be a list of at least two messages')
    messages = []
    for index, message in enumerate(value):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise ValueError(f'messages[{index}] must be {{"role": {" | ".join(ROLES)}, "content": "..."}}')
        messages.append(
            {"role": message["role"], "content": _text(message.get("content"), f"messages[{index}].content")}
        )
    if messages[-1]["role"] != "assistant":
        raise ValueError("the last message must be the assistant's (it is what the model learns to answer)")
    if not any(m["role"] == "user" for m in messages[:-1]):
        raise ValueError("no user message before the assistant's answer")
    return messages


def _text(value, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f'"{name}" must be a non-empty string')
    return value
