"""SIGTERM handling: the kubelet's notice before a spot node goes (60 s of grace, then SIGKILL).

While training runs, SIGTERM ends it after the current optimizer step with a checkpoint (which
the upload callback sends to CHECKPOINT_URI); the run then exits 143 and the Job's next pod
resumes from that step. Outside training (loading, publishing) SIGTERM keeps its default action:
the newest uploaded checkpoint is still there for the next pod.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading

from transformers import TrainerCallback

log = logging.getLogger("finetune")


class StopOnSignal(TrainerCallback):
    def __init__(self):
        self.received: int | None = None

    def handle(self, signum, frame):
        if self.received is None:
            log.info("SIGTERM received: saving a checkpoint after the current step, then stopping")
        self.received = signum

    @contextlib.contextmanager
    def installed(self):
        """Handles SIGTERM inside the block (signals can only be handled in the main thread)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.signal(signal.SIGTERM, self.handle)
        try:
            yield
        finally:
            signal.signal(signal.SIGTERM, previous)

    def on_step_end(self, args, state, control, **kwargs):
        if self.received is not None:
            control.should_save = True
            control.should_training_stop = True
        return control
