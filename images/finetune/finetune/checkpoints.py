"""Checkpoints under CHECKPOINT_URI, so that a run that was stopped (spot reclaim, pod retry)
resumes where it was instead of starting again.

Layout: `<CHECKPOINT_URI>/checkpoint-<step>/...` holds the trainer's checkpoint folder as it is
(adapter weights, optimizer, scheduler, RNG and trainer state). `upload-complete.json` in it is
written last and lists the files: a checkpoint without it (the upload was cut off) is ignored.
The newest two complete checkpoints are kept; older ones are deleted (marker first).
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from finetune.storage import Location, NotFound

log = logging.getLogger("finetune")

MARKER = "upload-complete.json"
FOLDER = re.compile(r"^checkpoint-(\d+)$")
KEEP = 2


@dataclass(frozen=True)
class RemoteCheckpoint:
    step: int
    location: Location  # the checkpoint-<step> folder
    info: dict  # the marker's content


def complete_checkpoints(root: Location) -> list[RemoteCheckpoint]:
    """Complete checkpoints under `root`, newest first."""
    found = []
    steps = sorted((int(m[1]) for m in map(FOLDER.match, root.list_folders()) if m), reverse=True)
    for step in steps:
        folder = root.child(f"checkpoint-{step}")
        try:
            info = json.loads(folder.child(MARKER).read_bytes())
        except NotFound:
            continue  # an upload that did not finish
        found.append(RemoteCheckpoint(step, folder, info))
    return found


def newest(root: Location) -> RemoteCheckpoint | None:
    checkpoints = complete_checkpoints(root)
    return checkpoints[0] if checkpoints else None


def download(checkpoint: RemoteCheckpoint, target: Path) -> Path:
    for name in checkpoint.info["files"]:
        checkpoint.location.child(name).download_file(target / name)
    return target


def upload(folder: Path, root: Location, step: int, extra: dict) -> tuple[int, int]:
    """Uploads a trainer checkpoint folder as `<root>/checkpoint-<step>/`; returns (files, bytes)."""
    target = root.child(f"checkpoint-{step}")
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    names = [p.relative_to(folder).as_posix() for p in files]
    target.child(MARKER).delete()  # an older copy of this step is incomplete until the end
    for path, name in zip(files, names, strict=True):
        target.child(name).upload_file(path)
    info = {"step": step, "files": names, **extra}
    target.child(MARKER).write_bytes(json.dumps(info, indent=2).encode())
    return len(files), sum(p.stat().st_size for p in files)


def prune(root: Location, keep: int = KEEP) -> list[int]:
    removed = []
    for old in complete_checkpoints(root)[keep:]:
        old.location.child(MARKER).delete()  # first: a half-deleted checkpoint is never "complete"
        old.location.delete_folder()
        removed.append(old.step)
    return removed


def uploader_callback(root: Location, extra: dict):
    """A TrainerCallback that uploads each checkpoint the trainer saves."""
    from transformers import TrainerCallback

    class UploadCheckpoints(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            step = state.global_step
            started = time.monotonic()
            count, size = upload(Path(args.output_dir) / f"checkpoint-{step}", root, step, extra)
            removed = prune(root)
            for old in Path(args.output_dir).glob("checkpoint-*"):  # the uploaded copies are the ones that count
                if old.name != f"checkpoint-{step}":
                    shutil.rmtree(old, ignore_errors=True)
            log.info(
                "checkpoint %d uploaded to %s (%d files, %.1f MB, %.1f s)%s",
                step,
                root.child(f"checkpoint-{step}").uri,
                count,
                size / 1e6,
                time.monotonic() - started,
                f"; removed older checkpoint(s) {', '.join(map(str, removed))}" if removed else "",
            )

    return UploadCheckpoints()
