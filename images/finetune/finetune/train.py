"""One fine-tuning run, from the settings to the published adapter.

1. If OUTPUT_URI already has the manifest of this RUN_ID, the run is done: exit 0 at once.
2. Check that OUTPUT_URI can be written (a probe object written and deleted: exit 2 if not), then
   read and check both datasets (their sha256 goes into checkpoints and the manifest).
3. Find the newest complete checkpoint under CHECKPOINT_URI; resume from it if there is one
   (it must come from the same data and configuration).
4. Train with trl's SFTTrainer: progress lines, evaluation and a checkpoint (uploaded) every
   CHECKPOINT_EVERY_STEPS steps and at the end. SIGTERM (a spot reclaim) saves and uploads a
   checkpoint after the current step and exits 143, so the next pod resumes there.
5. Publish to OUTPUT_URI in this order: the old manifest.json is deleted (if another run's),
   adapter weights and tokenizer files, then `adapter_config.json` (what the inference side
   takes as "published"), then `manifest.json` LAST: a manifest means the whole adapter of its
   run is there.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from finetune import checkpoints, data
from finetune.errors import ConfigurationChanged, NotFound, OutputNotWritable, StorageError
from finetune.settings import Settings
from finetune.storage import LocalLocation, Location, location

log = logging.getLogger("finetune")

MANIFEST = "manifest.json"
ADAPTER_CONFIG = "adapter_config.json"
WRITE_PROBE = ".finetune-write-probe"
# S3 answers that a retry cannot change (a bucket policy, the role, the keys): exit 2, not 1.
NOT_ALLOWED = {
    "AccessDenied",
    "AllAccessDisabled",
    "AccountProblem",
    "InvalidAccessKeyId",
    "NoSuchBucket",
    "SignatureDoesNotMatch",
}
SEED = 42
STOPPED_BY_SIGTERM = 128 + signal.SIGTERM  # 143, what a process killed by SIGTERM reports


def default_work_root() -> Path:
    # Not /tmp: the Job gives it 1 GiB, and a 7B adapter checkpoint with optimizer state is ~1 GB.
    return Path(os.environ.get("FINETUNE_WORK_DIR") or Path.home() / "finetune-work")


def read_manifest(output: Location) -> dict | None:
    try:
        return json.loads(output.child(MANIFEST).read_bytes())
    except NotFound:
        return None
    except ValueError:
        return {}  # unreadable: not this run's


def check_writable(output: Location) -> None:
    """Writes and deletes a probe under OUTPUT_URI through the storage code the publishing uses, so that
    an output that cannot be written stops the run before training (exit 2) and not after it. An S3
    failure a retry may not see again (throttling, 5xx, the network) stays a StorageError (exit 1)."""
    probe = output.child(WRITE_PROBE)
    created = []  # local folders the probe makes: removed again, so a run that stops later leaves none
    if isinstance(output, LocalLocation):
        folder = output.path.absolute()
        while not folder.exists() and folder != folder.parent:
            created.append(folder)
            folder = folder.parent
    try:
        probe.write_bytes(b"")
        probe.delete()
    except OSError as error:  # a local folder: LocalLocation passes the OSError on
        reason = f"{error.strerror}: {error.filename}" if error.strerror and error.filename else str(error)
        raise OutputNotWritable(
            f"OUTPUT_URI {output.uri} is not writable (checked before training): {reason}"
        ) from None
    except StorageError as error:
        if error.code not in NOT_ALLOWED:
            raise
        raise OutputNotWritable(f"OUTPUT_URI {output.uri} is not writable (checked before training): {error}") from None
    finally:
        for folder in created:  # innermost first
            with contextlib.suppress(OSError):
                folder.rmdir()


def fingerprint(settings: Settings, train: data.Dataset, validation: data.Dataset) -> dict:
    """What a checkpoint must share with this run to be resumed (CHECKPOINT_EVERY_STEPS may change)."""
    hp = asdict(settings.hyperparameters)
    hp.pop("checkpoint_every_steps")
    return {
        "run_id": settings.run_id,
        "base_model": settings.base_model,
        "finetune_method": settings.finetune_method,
        "train_sha256": train.sha256,
        "validation_sha256": validation.sha256,
        "hyperparameters": hp,
    }


_DATA = {"train_sha256": "train data", "validation_sha256": "validation data"}


def check_resumable(checkpoint: checkpoints.RemoteCheckpoint, expected: dict) -> None:
    """Refuses a checkpoint of other data or configuration, naming each difference (checkpoint's and this run's)."""
    found = checkpoint.info.get("fingerprint", {})
    changed, differences = [], []
    for key, now in expected.items():
        then = found.get(key)
        if then == now:
            continue
        changed.append(_DATA.get(key, key))
        if key == "hyperparameters" and isinstance(then, dict):
            differences += [
                f"{name}: {_shown(then.get(name))} in the checkpoint, {_shown(value)} now"
                for name, value in now.items()
                if then.get(name) != value
            ]
        elif key == "hyperparameters":
            differences.append(f"hyperparameters: {_shown(then)} in the checkpoint")  # an older marker
        elif key in _DATA:
            differences.append(f"{_DATA[key]}: sha256 {_shown(then, 12)} in the checkpoint, {_shown(now, 12)} now")
        else:
            differences.append(f"{key}: {_shown(then)} in the checkpoint, {_shown(now)} now")
    if changed:
        raise ConfigurationChanged(
            f"CHECKPOINT_URI {checkpoint.location.uri} was written with other {', '.join(changed)} than this run "
            f"has ({'; '.join(differences)}); use a new RUN_ID (or empty CHECKPOINT_URI)"
        )


def _shown(value, digits: int = 0) -> str:
    if value is None:
        return "none"
    if digits and isinstance(value, str):
        return value[:digits] + "..."
    return repr(value) if isinstance(value, str) else str(value)


def run(settings: Settings, work_root: Path | None = None) -> int:
    """Runs (or resumes, or skips) the fine-tuning; returns the process exit code."""
    log.info("settings: %s", settings.describe())
    output, checkpoint_root = location(settings.output_uri), location(settings.checkpoint_uri)
    manifest = read_manifest(output)
    if manifest and manifest.get("run_id") == settings.run_id:
        log.info(
            "already done: %s has the adapter of run %s (finished %s, %s steps); nothing to do",
            output.uri,
            settings.run_id,
            manifest.get("finished_at"),
            manifest.get("steps"),
        )
        return 0

    check_writable(output)
    train, validation = data.load(settings.train_data), data.load(settings.validation_data)
    for name, dataset in (("train", train), ("validation", validation)):
        log.info("%s data: %d examples from %s (sha256 %s)", name, len(dataset.examples), dataset.uri, dataset.sha256)
    expected = fingerprint(settings, train, validation)
    resume = checkpoints.newest(checkpoint_root)
    if resume:
        check_resumable(resume, expected)

    work_root = work_root or default_work_root()
    work_root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"run-{settings.run_id}-", dir=work_root))
    try:
        return _train_and_publish(settings, train, validation, resume, expected, output, checkpoint_root, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _train_and_publish(settings, train, validation, resume, expected, output, checkpoint_root, work: Path) -> int:
    import datasets
    import transformers

    from finetune import model as models
    from finetune.progress import ProgressLog
    from finetune.signals import StopOnSignal

    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_warning()
    hp = settings.hyperparameters
    resume_path = None
    if resume:
        started = time.monotonic()
        resume_path = checkpoints.download(resume, work / "resume" / f"checkpoint-{resume.step}")
        log.info(
            "resuming from checkpoint %d at %s (downloaded in %.1f s)",
            resume.step,
            resume.location.uri,
            time.monotonic() - started,
        )
    else:
        log.info("no checkpoint under %s: starting from step 0", checkpoint_root.uri)

    device = models.pick_device()
    started = time.monotonic()
    tokenizer = models.load_tokenizer(settings)
    base = models.load_base_model(settings, device)
    log.info("base model %s loaded in %.1f s", settings.base_model, time.monotonic() - started)
    peft_model = models.with_adapter(base, settings, device)

    stop = StopOnSignal()
    callbacks = [ProgressLog(), checkpoints.uploader_callback(checkpoint_root, {"fingerprint": expected}), stop]
    trainer = build_trainer(settings, peft_model, tokenizer, device, train, validation, work / "trainer", callbacks)

    if resume and resume.step >= hp.max_steps:
        # The last checkpoint is there, only the publishing did not happen (the trainer would run
        # one step too many if resumed at its end): take the adapter and state from the checkpoint.
        log.info("checkpoint %d is the last step: publishing it without training", resume.step)
        assert resume_path is not None  # downloaded above, as every resume is
        load_checkpoint_adapter(trainer, resume_path)
    else:
        with stop.installed():
            trainer.train(resume_from_checkpoint=str(resume_path) if resume_path else None)
    state = trainer.state
    if stop.received:
        log.info(
            "stopped by SIGTERM at step %d: the checkpoint is uploaded; exiting %d so the next pod resumes",
            state.global_step,
            STOPPED_BY_SIGTERM,
        )
        return STOPPED_BY_SIGTERM

    eval_losses = [e["eval_loss"] for e in state.log_history if "eval_loss" in e and e.get("step") == state.global_step]
    final_eval_loss = eval_losses[-1] if eval_losses else trainer.evaluate()["eval_loss"]
    train_losses = [e["loss"] for e in state.log_history if "loss" in e]

    adapter_dir = work / "adapter"
    trainer.model.save_pretrained(adapter_dir)
    tokenizer.save_pretrained(adapter_dir)
    lora = trainer.model.peft_config["default"]
    manifest = {
        "run_id": settings.run_id,
        "base_model": settings.base_model,
        "finetune_method": settings.finetune_method,
        "steps": state.global_step,
        "resumed_from_step": resume.step if resume else None,
        "final_eval_loss": final_eval_loss,
        "final_train_loss": train_losses[-1] if train_losses else None,
        "train_data": {"uri": train.uri, "sha256": train.sha256, "examples": len(train.examples)},
        "validation_data": {"uri": validation.uri, "sha256": validation.sha256, "examples": len(validation.examples)},
        "hyperparameters": asdict(hp),
        "target_modules": sorted(lora.target_modules),
        "device": f"{device.name} ({str(device.dtype).replace('torch.', '')})",
        "versions": _versions(),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    }
    publish(adapter_dir, output, manifest)
    log.info(
        "done: run %s, %d steps, final eval_loss %.4f; adapter published to %s",
        settings.run_id,
        state.global_step,
        final_eval_loss,
        output.uri,
    )
    return 0


def build_trainer(
    settings: Settings,
    peft_model,
    tokenizer,
    device,
    train: data.Dataset,
    validation: data.Dataset,
    output_dir: Path,
    callbacks: list,
):
    """trl's SFTTrainer for this run: chats rendered with the tokenizer's chat template, loss on the
    completion, evaluation and a checkpoint every CHECKPOINT_EVERY_STEPS steps and at the end."""
    import datasets
    from transformers import PrinterCallback
    from trl import SFTConfig, SFTTrainer

    from finetune import model as models

    hp = settings.hyperparameters
    config = SFTConfig(
        output_dir=str(output_dir),
        max_steps=hp.max_steps,
        per_device_train_batch_size=hp.batch_size,
        per_device_eval_batch_size=hp.batch_size,
        gradient_accumulation_steps=hp.gradient_accumulation_steps,
        learning_rate=hp.learning_rate,
        lr_scheduler_type="linear",
        max_length=hp.max_seq_length,
        packing=False,
        completion_only_loss=True,
        logging_steps=max(1, min(10, hp.max_steps // 100)),
        eval_strategy="steps",
        eval_steps=hp.checkpoint_every_steps,
        save_strategy="steps",
        save_steps=hp.checkpoint_every_steps,
        bf16=device.bf16,
        fp16=device.fp16,
        activation_checkpointing=device.checkpoint_activations,
        activation_checkpointing_kwargs={"use_reentrant": False} if device.checkpoint_activations else None,
        dataloader_pin_memory=device.name == "cuda",
        report_to="none",
        disable_tqdm=True,
        seed=SEED,
    )
    trainer = SFTTrainer(
        model=peft_model,
        args=config,
        processing_class=tokenizer,
        train_dataset=datasets.Dataset.from_list(train.examples),
        eval_dataset=datasets.Dataset.from_list(validation.examples),
        callbacks=callbacks,
    )
    trainer.remove_callback(PrinterCallback)  # ProgressLog prints the lines instead of raw dicts
    models.keep_adapter_float32(trainer.model)
    return trainer


def publish(adapter_dir: Path, output: Location, manifest: dict) -> None:
    """Uploads the adapter folder; adapter_config.json next to last, manifest.json last."""
    old = read_manifest(output)
    if old is not None:
        log.info("replacing the adapter of run %s at %s", old.get("run_id"), output.uri)
        output.child(MANIFEST).delete()
    files = sorted(p for p in adapter_dir.rglob("*") if p.is_file())
    names = [p.relative_to(adapter_dir).as_posix() for p in files]
    order = sorted(zip(names, files, strict=True), key=lambda item: (item[0] == ADAPTER_CONFIG, item[0]))
    for name, path in order:
        output.child(name).upload_file(path)
    manifest = {**manifest, "files": [name for name, _ in order]}
    output.child(MANIFEST).write_bytes(json.dumps(manifest, indent=2).encode())


def load_checkpoint_adapter(trainer, checkpoint: Path) -> None:
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file
    from transformers import TrainerState

    result = set_peft_model_state_dict(trainer.model, load_file(checkpoint / "adapter_model.safetensors"))
    unexpected = getattr(result, "unexpected_keys", None)  # torch's _IncompatibleKeys (peft annotates namedtuple)
    if unexpected:
        raise RuntimeError(f"checkpoint {checkpoint.name} does not fit the adapter: {unexpected[:3]}")
    trainer.state = TrainerState.load_from_json(str(checkpoint / "trainer_state.json"))


def _versions() -> dict:
    from importlib.metadata import version

    return {name: version(name) for name in ("torch", "transformers", "peft", "trl", "bitsandbytes")}
