"""Spot interruptions, for real: `python -m finetune` in a subprocess is SIGKILLed after a
checkpoint, started again (resumes), stopped with SIGTERM (saves a checkpoint, exits 143), and
started a third time: it resumes there and finishes at MAX_STEPS with one continuous history."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from finetune_testlib import PYTHON, book_records, run_env, subprocess_env, write_jsonl

MAX_STEPS = 60
MARKER = "upload-complete.json"


def complete_steps(checkpoints: Path) -> list[int]:
    return sorted(int(p.parent.name.split("-")[1]) for p in checkpoints.glob(f"checkpoint-*/{MARKER}"))


def start(env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen([PYTHON, "-m", "finetune"], env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def wait_for(condition, proc: subprocess.Popen, log: Path, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        if proc.poll() is not None:
            pytest.fail(f"finetune exited {proc.returncode} before {what}:\n{log.read_text()}")
        time.sleep(0.01)
    proc.kill()
    pytest.fail(f"no {what} after {timeout} s:\n{log.read_text()}")


def test_killed_and_stopped_runs_resume_from_their_checkpoints(tmp_path, model_dir):
    adapter, checkpoints = tmp_path / "adapter", tmp_path / "checkpoints"
    contract = run_env(
        model_dir,
        write_jsonl(tmp_path / "train.jsonl", book_records(20)),
        write_jsonl(tmp_path / "validation.jsonl", book_records(24)[20:]),
        adapter,
        checkpoints,
        MAX_STEPS=MAX_STEPS,
        CHECKPOINT_EVERY_STEPS=4,
        BATCH_SIZE=2,
    )
    env = subprocess_env(tmp_path, contract)

    # 1. SIGKILL (what a node that is gone amounts to) as soon as a checkpoint is complete.
    log1 = tmp_path / "run1.log"
    proc = start(env, log1)
    wait_for(lambda: complete_steps(checkpoints), proc, log1, "a complete checkpoint")
    proc.kill()
    assert proc.wait(timeout=30) == -signal.SIGKILL
    killed_at = max(complete_steps(checkpoints))
    assert 4 <= killed_at < MAX_STEPS, log1.read_text()
    assert not (adapter / "manifest.json").exists()

    # 2. Started again, it resumes from that checkpoint; SIGTERM (the spot notice) makes it save and exit 143.
    log2 = tmp_path / "run2.log"
    proc = start(env, log2)
    wait_for(
        lambda: f"training: resuming at step {killed_at} of {MAX_STEPS}" in log2.read_text(),
        proc,
        log2,
        "the resumed training",
    )
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 143, log2.read_text()
    text2 = log2.read_text()
    assert f"resuming from checkpoint {killed_at} at {checkpoints}/checkpoint-{killed_at} " in text2
    assert "SIGTERM received: saving a checkpoint after the current step, then stopping" in text2
    stopped_at = int(re.search(r"stopped by SIGTERM at step (\d+): the checkpoint is uploaded; exiting 143", text2)[1])
    assert killed_at < stopped_at < MAX_STEPS
    assert max(complete_steps(checkpoints)) == stopped_at
    assert re.search(rf"^\S+ step {killed_at + 1}/{MAX_STEPS} ", text2, re.M)  # not from step 1
    assert not re.search(rf"^\S+ step 1/{MAX_STEPS} ", text2, re.M)
    assert not (adapter / "manifest.json").exists()

    # 3. The third pod resumes where SIGTERM stopped the second and finishes.
    log3 = tmp_path / "run3.log"
    proc = start(env, log3)
    assert proc.wait(timeout=120) == 0, log3.read_text()
    text3 = log3.read_text()
    assert f"training: resuming at step {stopped_at} of {MAX_STEPS}" in text3
    assert f"training: {MAX_STEPS - stopped_at} steps in " in text3
    first_step = int(re.search(rf"^\S+ step (\d+)/{MAX_STEPS} ", text3, re.M)[1])
    assert first_step == stopped_at + 1
    manifest = json.loads((adapter / "manifest.json").read_text())
    assert manifest["steps"] == MAX_STEPS and manifest["resumed_from_step"] == stopped_at

    # The trainer state went through all three pods: one loss per step, 1..MAX_STEPS, none twice.
    state = json.loads((checkpoints / f"checkpoint-{MAX_STEPS}" / "trainer_state.json").read_text())
    assert state["global_step"] == MAX_STEPS
    assert [e["step"] for e in state["log_history"] if "loss" in e] == list(range(1, MAX_STEPS + 1))

    # 4. A fourth start (a retried pod after success) sees the manifest and stops at once.
    result = subprocess.run(
        [PYTHON, "-X", "importtime", "-m", "finetune"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0
    assert f"already done: {adapter} has the adapter of run 1" in result.stdout
    assert not re.search(r"\|\s*torch$", result.stderr, re.M)  # it did not even import torch
