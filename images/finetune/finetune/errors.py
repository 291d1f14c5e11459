"""The errors the entry point turns into exit codes (importable without torch)."""


class BadInput(Exception):
    """Input that cannot work however often the pod is retried: exit code 2."""


class DataError(BadInput, ValueError):
    """A dataset that cannot be used; the message names the file (and the line)."""


class ModelError(BadInput, RuntimeError):
    """A base model this program cannot fine-tune (e.g. no chat template)."""


class ConfigurationChanged(BadInput, ValueError):
    """The checkpoints under CHECKPOINT_URI were made from other data or settings."""


class OutputNotWritable(BadInput):
    """OUTPUT_URI refuses the probe written before training (no access, a read-only disk, ...)."""


class StorageError(RuntimeError):
    """A read or write that failed (missing object, no access, ...); the message names the URI."""

    def __init__(self, message: str, code: str = ""):
        super().__init__(message)
        self.code = code  # S3's error code (AccessDenied, InternalError, ...) where there is one


class NotFound(StorageError):
    pass
