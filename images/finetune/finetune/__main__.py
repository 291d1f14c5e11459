"""`python -m finetune`: reads the settings from the environment and runs the fine-tuning.

Exit codes: 0 done (or already done for this RUN_ID); 2 a setting, dataset or base model that
cannot work (retrying will not help); 1 any other failure (S3, out of memory, ...: a retry
resumes from the newest checkpoint); 143 stopped by SIGTERM after saving a checkpoint.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import warnings

from finetune.settings import SettingsError, SettingsErrors, from_env

log = logging.getLogger("finetune")

BAD_INPUT = 2


class _NoHubKernelWarning(logging.Filter):
    """Drops bitsandbytes' "Failed to load CPU gemm_4bit_forward from kernels-community: ...", logged
    at every import of bitsandbytes on a host CPU with AVX512-BF16 (GPU nodes have them) when the
    optional `kernels` package is not installed (it is not in this image) or cannot reach the hub.
    It is harmless: that kernel only speeds up 4-bit inference on the CPU, bitsandbytes falls back
    to its own CPU code without it, and training runs on the GPU. No setting turns it off (see
    bitsandbytes-foundation/bitsandbytes#2064)."""

    MESSAGE = "Failed to load CPU gemm_4bit_forward from kernels-community"

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.MESSAGE)


_NO_HUB_KERNEL_WARNING = _NoHubKernelWarning()  # one instance: addFilter does not add it twice


class _StdoutHandler(logging.StreamHandler):
    """The handler configure_logging adds, marked so that a second call replaces it."""

    finetune_stdout = True


def configure_logging() -> None:
    for old in [h for h in log.handlers if getattr(h, "finetune_stdout", False)]:
        log.removeHandler(old)  # main() may run more than once in one process (tests)
    handler = _StdoutHandler(sys.stdout)
    formatter = logging.Formatter("%(asctime)s %(message)s", datefmt="%Y-%m-%dT%H:%M:%SZ")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    # Progress bars are carriage-return noise in `kubectl logs`: ProgressLog prints lines instead.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.getLogger("bitsandbytes.backends.cpu.ops").addFilter(_NO_HUB_KERNEL_WARNING)
    # A deprecation inside peft's prepare_model_for_kbit_training, printed on every QLoRA run.
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)


def main(env=None) -> int:
    env = os.environ if env is None else env
    try:
        settings = from_env(env)
    except SettingsError as error:
        for each in error.errors if isinstance(error, SettingsErrors) else [error]:
            print(f"finetune: {each}", file=sys.stderr, flush=True)
        return BAD_INPUT
    configure_logging()

    # torch and the rest are imported only when there is training to do: a bad setting or a run
    # that is already done takes a fraction of a second.
    from finetune.errors import BadInput, StorageError
    from finetune.train import run

    try:
        return run(settings)
    except BadInput as error:
        log.error("error: %s", error)
        return BAD_INPUT
    except StorageError as error:
        log.error("storage error: %s", error)
        return 1


if __name__ == "__main__":
    sys.exit(main())
