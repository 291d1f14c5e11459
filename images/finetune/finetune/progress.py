"""Progress as plain lines, one per logging step, for `kubectl logs -f`:

    step 40/200 (20%)  loss 1.8342  lr 2.00e-05  eval_loss 1.9120  0.41 steps/s  eta 6m31s
    step 50/200 (25%)  eval_loss 1.8876  (eval 12.4 s)

Speed and ETA count only the steps this process has run (a resumed run does not look fast).
"""

from __future__ import annotations

import logging
import time

from transformers import TrainerCallback

log = logging.getLogger("finetune")


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


class ProgressLog(TrainerCallback):
    def __init__(self):
        self.started = self.first_step = None
        self.eval_loss: float | None = None
        self.eval_started: float | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.started, self.first_step = time.monotonic(), state.global_step
        evaluated = [entry["eval_loss"] for entry in state.log_history if "eval_loss" in entry]
        self.eval_loss = evaluated[-1] if evaluated else None  # from the checkpoint when resuming
        where = f"resuming at step {state.global_step}" if state.global_step else "starting at step 0"
        log.info(
            "training: %s of %d (batch %d x %d accumulation)",
            where,
            state.max_steps,
            args.per_device_train_batch_size,
            args.gradient_accumulation_steps,
        )

    def on_prediction_step(self, args, state, control, **kwargs):
        if self.eval_started is None:
            self.eval_started = time.monotonic()

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if metrics and "eval_loss" in metrics:
            self.eval_loss = metrics["eval_loss"]
            took = f"  (eval {time.monotonic() - self.eval_started:.1f} s)" if self.eval_started else ""
            log.info(
                "step %d/%d (%s)  eval_loss %.4f%s",
                state.global_step,
                state.max_steps,
                _percent(state),
                self.eval_loss,
                took,
            )
        self.eval_started = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or "loss" not in logs:
            return
        parts = [f"step {state.global_step}/{state.max_steps} ({_percent(state)})", f"loss {logs['loss']:.4f}"]
        if "learning_rate" in logs:
            parts.append(f"lr {logs['learning_rate']:.2e}")
        if self.eval_loss is not None:
            parts.append(f"eval_loss {self.eval_loss:.4f}")
        done = state.global_step - (self.first_step or 0)
        elapsed = time.monotonic() - (self.started or time.monotonic())
        if done > 0 and elapsed > 0:
            rate = done / elapsed
            parts += [f"{rate:.2f} steps/s", f"eta {duration((state.max_steps - state.global_step) / rate)}"]
        log.info("  ".join(parts))

    def on_train_end(self, args, state, control, **kwargs):
        if self.started is not None:
            done = state.global_step - (self.first_step or 0)
            elapsed = time.monotonic() - self.started
            log.info(
                "training: %d steps in %s (%.2f steps/s), now at step %d",
                done,
                duration(elapsed),
                done / elapsed if elapsed > 0 else 0.0,
                state.global_step,
            )


def _percent(state) -> str:
    return f"{100 * state.global_step // max(state.max_steps, 1)}%"
