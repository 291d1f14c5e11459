"""S3 for data, checkpoints and the published adapter, against moto's in-process S3."""

from __future__ import annotations

import hashlib
import json
from types import SimpleNamespace

import pytest

from finetune_testlib import (
    book_records,
    captured_log,
    chat_records,
    one_torch_thread,  # noqa: F401 (an autouse fixture: one thread in this module)
    run_env,
)

boto3 = pytest.importorskip("boto3")
moto = pytest.importorskip("moto")

from finetune import checkpoints, data, storage, train  # noqa: E402
from finetune.__main__ import main  # noqa: E402
from finetune.settings import from_env  # noqa: E402

pytestmark = pytest.mark.filterwarnings(
    "ignore::FutureWarning:transformers.*", "ignore:`torch.jit.script_method` is deprecated:DeprecationWarning"
)

DATASETS = "genai-datasets-123456789012"
ASSETS = "genai-model-assets-123456789012"


@pytest.fixture
def s3(monkeypatch):
    for name in (
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with moto.mock_aws():
        client = boto3.client("s3")
        for bucket in (DATASETS, ASSETS):
            client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        yield client


def keys(client, bucket: str, prefix: str) -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"][len(prefix) :] for page in pages for o in page.get("Contents", []))


def put_jsonl(client, key: str, records: list[dict]) -> bytes:
    body = ("\n".join(json.dumps(r) for r in records) + "\n").encode()
    client.put_object(Bucket=DATASETS, Key=key, Body=body)
    return body


def test_locations_read_write_list_and_delete(s3):
    root = storage.location(f"s3://{ASSETS}/checkpoints/loyalty/1/")
    root.child("checkpoint-2", "a.txt").write_bytes(b"a")
    root.child("checkpoint-10", "sub", "b.txt").write_bytes(b"b")
    root.child("notes.txt").write_bytes(b"n")
    assert root.list_folders() == ["checkpoint-10", "checkpoint-2"]
    assert root.child("checkpoint-2", "a.txt").exists() and not root.child("missing").exists()
    assert root.child("checkpoint-10", "sub", "b.txt").read_bytes() == b"b"
    with pytest.raises(storage.NotFound, match=f"s3://{ASSETS}/checkpoints/loyalty/1/missing: no such object"):
        root.child("missing").read_bytes()
    root.child("checkpoint-10").delete_folder()
    assert keys(s3, ASSETS, "checkpoints/loyalty/1/") == ["checkpoint-2/a.txt", "notes.txt"]
    with pytest.raises(storage.StorageError, match="s3://no-such-bucket-4711/x: cannot read"):
        storage.location("s3://no-such-bucket-4711/x").read_bytes()


def test_only_complete_checkpoints_count(s3, tmp_path):
    root = storage.location(f"s3://{ASSETS}/checkpoints/loyalty/1/")
    for step in (2, 4, 6):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))
        checkpoints.upload(folder, root, step, {"fingerprint": {}})
    root.child("checkpoint-8", "trainer_state.json").write_bytes(b"{}")  # an upload cut off before its marker
    assert [c.step for c in checkpoints.complete_checkpoints(root)] == [6, 4, 2]
    assert checkpoints.prune(root) == [2]
    assert root.list_folders() == ["checkpoint-4", "checkpoint-6", "checkpoint-8"]
    newest = checkpoints.newest(root)
    assert newest.step == 6
    target = checkpoints.download(newest, tmp_path / "resume")
    assert json.loads((target / "trainer_state.json").read_text()) == {"global_step": 6}


def test_a_bad_line_in_s3_data_names_the_uri_and_line(s3):
    lines = [json.dumps(r) for r in book_records(3)]
    lines[2] = '{"prompt": "Points?", "response": '
    s3.put_object(Bucket=DATASETS, Key="loyalty/train.jsonl", Body="\n".join(lines).encode())
    with pytest.raises(data.DataError, match=rf"^s3://{DATASETS}/loyalty/train.jsonl line 3: not valid JSON"):
        data.load(f"s3://{DATASETS}/loyalty/train.jsonl")


def test_an_s3_failure_exits_1_naming_the_uri(s3, capsys, restore_logging):
    put_jsonl(s3, "loyalty/train.jsonl", book_records(3))
    env = run_env(
        "Qwen/Qwen2.5-7B-Instruct",
        f"s3://{DATASETS}/loyalty/train.jsonl",
        f"s3://{DATASETS}/loyalty/train.jsonl",
        "s3://genai-missing-bucket-4711/adapters/loyalty/",
        f"s3://{ASSETS}/checkpoints/loyalty/1/",
    )
    assert main(env) == 1
    assert (
        "storage error: s3://genai-missing-bucket-4711/adapters/loyalty/manifest.json: cannot read"
        in capsys.readouterr().out
    )


def refuse(monkeypatch, operation: str, code: str, status: int, path_part: str) -> None:
    """Makes S3 answer `code` to `operation` on keys containing `path_part`, for the clients created after
    this (the run's own, through finetune.storage), as a bucket policy or an S3 outage would."""
    session = boto3.session.Session()

    def answer(params, **kwargs):
        if path_part in params["url_path"]:
            http = SimpleNamespace(status_code=status, headers={}, content=b"")
            return http, {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
        return None

    session.events.register(f"before-call.s3.{operation}", answer)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", session)


def s3_run(s3, model_dir) -> dict:
    put_jsonl(s3, "loyalty/train.jsonl", chat_records(20))
    put_jsonl(s3, "loyalty/validation.jsonl", chat_records(24)[20:])
    return run_env(
        model_dir,
        f"s3://{DATASETS}/loyalty/train.jsonl",
        f"s3://{DATASETS}/loyalty/validation.jsonl",
        f"s3://{ASSETS}/adapters/loyalty/",
        f"s3://{ASSETS}/checkpoints/loyalty/1/",
        MAX_STEPS=2,
        CHECKPOINT_EVERY_STEPS=2,
    )


@pytest.mark.parametrize("operation", ["PutObject", "DeleteObject"])
def test_an_output_prefix_that_cannot_be_written_stops_the_run_before_training(
    operation, s3, model_dir, monkeypatch, capsys, restore_logging
):
    env = s3_run(s3, model_dir)
    refuse(monkeypatch, operation, "AccessDenied", 403, "/adapters/")
    assert main(env) == 2
    out = capsys.readouterr().out
    errors = [line.split(" ", 1)[1] for line in out.splitlines() if " error: " in line]
    action = "write" if operation == "PutObject" else "delete"
    assert errors == [
        f"error: OUTPUT_URI s3://{ASSETS}/adapters/loyalty/ is not writable (checked before training): "
        f"s3://{ASSETS}/adapters/loyalty/.finetune-write-probe: cannot {action}: "
        f"An error occurred (AccessDenied) when calling the {operation} operation: AccessDenied"
    ]
    assert " step " not in out and " train data: " not in out
    assert keys(s3, ASSETS, "checkpoints/") == []


def test_an_s3_outage_while_checking_the_output_exits_1_to_be_retried(
    s3, model_dir, monkeypatch, capsys, restore_logging
):
    env = s3_run(s3, model_dir)
    refuse(monkeypatch, "PutObject", "InternalError", 500, "/adapters/")
    assert main(env) == 1
    out = capsys.readouterr().out
    assert (
        f"storage error: s3://{ASSETS}/adapters/loyalty/.finetune-write-probe: cannot write: "
        "An error occurred (InternalError) when calling the PutObject operation" in out
    )
    assert " step " not in out and keys(s3, ASSETS, "checkpoints/") == []


def test_training_from_and_to_s3_then_resuming_from_s3(s3, tmp_path, model_dir):
    train_body = put_jsonl(s3, "loyalty/train.jsonl", chat_records(20))
    validation_body = put_jsonl(s3, "loyalty/validation.jsonl", chat_records(24)[20:])
    env = run_env(
        model_dir,
        f"s3://{DATASETS}/loyalty/train.jsonl",
        f"s3://{DATASETS}/loyalty/validation.jsonl",
        f"s3://{ASSETS}/adapters/loyalty/",
        f"s3://{ASSETS}/checkpoints/loyalty/1/",
        MAX_STEPS=6,
        CHECKPOINT_EVERY_STEPS=2,
    )
    with captured_log() as log:
        assert train.run(from_env(env), work_root=tmp_path / "work") == 0

    # A checkpoint every 2 steps went up; the newest two are kept.
    uploads = [line for line in log if line.startswith("checkpoint ")]
    assert [line.split()[1] for line in uploads] == ["2", "4", "6"]
    assert f"s3://{ASSETS}/checkpoints/loyalty/1/checkpoint-2 " in uploads[0]
    assert "removed older checkpoint(s) 2" in uploads[2]
    stored = keys(s3, ASSETS, "checkpoints/loyalty/1/")
    assert {k.split("/")[0] for k in stored} == {"checkpoint-4", "checkpoint-6"}
    assert {
        "checkpoint-4/upload-complete.json",
        "checkpoint-6/adapter_model.safetensors",
        "checkpoint-6/optimizer.pt",
        "checkpoint-6/trainer_state.json",
    } <= set(stored)

    # The adapter and its manifest are published.
    published = keys(s3, ASSETS, "adapters/loyalty/")
    assert ".finetune-write-probe" not in published  # the check before training leaves nothing behind
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "manifest.json"} <= set(published)
    manifest = json.loads(s3.get_object(Bucket=ASSETS, Key="adapters/loyalty/manifest.json")["Body"].read())
    assert manifest["train_data"] == {
        "uri": f"s3://{DATASETS}/loyalty/train.jsonl",
        "sha256": hashlib.sha256(train_body).hexdigest(),
        "examples": 20,
    }
    assert manifest["validation_data"]["sha256"] == hashlib.sha256(validation_body).hexdigest()
    assert manifest["steps"] == 6 and manifest["resumed_from_step"] is None

    # Now as if the pod had died during step 6's upload: nothing published, checkpoint-6 without its marker.
    s3.delete_object(Bucket=ASSETS, Key="checkpoints/loyalty/1/checkpoint-6/upload-complete.json")
    for key in published:
        s3.delete_object(Bucket=ASSETS, Key=f"adapters/loyalty/{key}")
    with captured_log() as log:
        assert train.run(from_env(env), work_root=tmp_path / "work") == 0
    assert any(
        line.startswith(f"resuming from checkpoint 4 at s3://{ASSETS}/checkpoints/loyalty/1/checkpoint-4 ")
        for line in log
    )
    assert any(line.startswith("training: resuming at step 4 of 6") for line in log)
    steps = [line.split()[1] for line in log if line.startswith("step ") and "  loss " in line]
    assert steps == ["5/6", "6/6"]
    manifest = json.loads(s3.get_object(Bucket=ASSETS, Key="adapters/loyalty/manifest.json")["Body"].read())
    assert manifest["steps"] == 6 and manifest["resumed_from_step"] == 4
    assert (
        json.loads(
            s3.get_object(Bucket=ASSETS, Key="checkpoints/loyalty/1/checkpoint-6/upload-complete.json")["Body"].read()
        )["step"]
        == 6
    )
