"""Datasets: both formats become chat prompt-completion examples; a bad line is named."""

from __future__ import annotations

import hashlib
import json

import pytest

from finetune import data
from finetune.__main__ import main
from finetune_testlib import book_records, chat_records, write_jsonl


def test_book_format_becomes_a_chat(tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", book_records(20))
    dataset = data.load(str(path))
    assert len(dataset.examples) == 20
    assert dataset.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    first = dataset.examples[0]
    assert first == {
        "prompt": [{"role": "user", "content": "I am a bronze member. How many points do I earn on walking shoes?"}],
        "completion": [
            {"role": "assistant", "content": "As a bronze member you earn 10 points per euro on walking shoes."}
        ],
    }


def test_book_format_with_a_system_prompt():
    example = data.to_example({"system": "Be brief.", "prompt": "Points?", "response": "Ten."})
    assert [m["role"] for m in example["prompt"]] == ["system", "user"]


def test_chat_format_trains_on_the_last_assistant_message(tmp_path):
    dataset = data.load(str(write_jsonl(tmp_path / "chat.jsonl", chat_records(20))))
    multi_turn = dataset.examples[0]
    assert [m["role"] for m in multi_turn["prompt"]] == ["system", "user", "assistant", "user"]
    assert multi_turn["completion"][0]["role"] == "assistant"
    assert multi_turn["completion"][0]["content"].startswith("Free shipping starts at gold")


def test_formats_mix_and_blank_lines_are_skipped(tmp_path):
    records = book_records(3) + chat_records(3)
    dataset = data.load(str(write_jsonl(tmp_path / "mixed.jsonl", records, blank_lines=True)))
    assert len(dataset.examples) == 6


def test_extra_message_fields_are_dropped():
    example = data.to_example(
        {
            "messages": [
                {"role": "user", "content": "Hi", "name": "ann"},
                {"role": "assistant", "content": "Hello", "weight": 1},
            ]
        }
    )
    assert example["completion"] == [{"role": "assistant", "content": "Hello"}]


BAD_LINES = [
    ('{"prompt": "How many points?", "response": "Ten"', "not valid JSON"),
    ('["prompt", "response"]', 'expected {"prompt"'),
    ('{"prompt": "How many points?"}', "keys found: prompt"),
    ('{"prompt": "", "response": "Ten."}', '"prompt" must be a non-empty string'),
    ('{"prompt": "Points?", "response": 10}', '"response" must be a non-empty string'),
    ('{"messages": []}', "at least two messages"),
    ('{"messages": [{"role": "user", "content": "Hi"}, {"role": "robot", "content": "Beep"}]}', "messages[1] must be"),
    (
        '{"messages": [{"role": "assistant", "content": "Hi"}, {"role": "user", "content": "Points?"}]}',
        "the last message must be the assistant's",
    ),
    (
        '{"messages": [{"role": "system", "content": "Be kind."}, {"role": "assistant", "content": "Hi"}]}',
        "no user message",
    ),
    (
        '{"messages": [{"role": "user", "content": null}, {"role": "assistant", "content": "Hi"}]}',
        '"messages[0].content" must be',
    ),
]


@pytest.mark.parametrize("line,reason", BAD_LINES)
def test_a_bad_line_is_named_by_file_and_number(tmp_path, line, reason):
    good = [json.dumps(r) for r in book_records(4)]
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(good[:2] + [""] + [line] + good[2:]) + "\n")  # the bad line is line 4
    with pytest.raises(data.DataError) as caught:
        data.load(str(path))
    message = str(caught.value)
    assert message.startswith(f"{path} line 4: "), message
    assert reason in message


def test_invalid_utf8_is_named(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_bytes(b'{"prompt": "a", "response": "b"}\n{"prompt": "\xff", "response": "b"}\n')
    with pytest.raises(data.DataError, match=r"line 2: not UTF-8"):
        data.load(str(path))


def test_an_empty_or_missing_file_is_an_error(tmp_path):
    (tmp_path / "empty.jsonl").write_text("\n\n")
    with pytest.raises(data.DataError, match="no examples"):
        data.load(str(tmp_path / "empty.jsonl"))
    with pytest.raises(data.DataError, match="no such file"):
        data.load(str(tmp_path / "missing.jsonl"))


def test_the_entry_point_exits_2_naming_the_bad_line(tmp_path, capsys, restore_logging):
    lines = [json.dumps(r) for r in book_records(3)]
    lines[1] = '{"prompt": "How many points?", "answer": "Ten."}'
    (tmp_path / "train.jsonl").write_text("\n".join(lines) + "\n")
    env = {
        "BASE_MODEL": "Qwen/Qwen2.5-7B-Instruct",
        "FINETUNE_METHOD": "lora",
        "RUN_ID": "7",
        "TRAIN_DATA": str(tmp_path / "train.jsonl"),
        "VALIDATION_DATA": str(tmp_path / "train.jsonl"),
        "OUTPUT_URI": str(tmp_path / "adapter"),
        "CHECKPOINT_URI": str(tmp_path / "checkpoints"),
    }
    assert main(env) == 2
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.endswith(
        f'error: {tmp_path}/train.jsonl line 2: expected {{"prompt": "...", "response": "..."}} '
        'or {"messages": [...]}; keys found: answer, prompt'
    )
    assert not (tmp_path / "adapter").exists()
