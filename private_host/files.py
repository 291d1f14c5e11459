"""Writes the bundle folder without ever exposing the key: the folder is 0700 before the first
byte is written, files holding secrets are created 0600 (never wider, not even for a moment) and
every file appears whole (written to a temporary name, then renamed)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

MARKER = ".private-host-bundle"  # marks a folder this tool wrote: --force only replaces such folders
DIR_MODE = 0o700
SECRET_MODE = 0o600
PUBLIC_MODE = 0o644


class OutDirError(ValueError):
    """The output folder cannot be used as asked (exists and is not empty, is a file, ...)."""


@dataclass(frozen=True)
class BundleFile:
    path: str  # relative to the bundle folder, '/'-separated
    content: bytes
    secret: bool

    @property
    def mode(self) -> int:
        return SECRET_MODE if self.secret else PUBLIC_MODE


def prepare_dir(out: Path, *, force: bool, subdirs: tuple[str, ...] = ()) -> None:
    """Creates `out` (and `subdirs` in it) 0700, or checks and narrows an existing one.

    An existing non-empty folder is refused unless `force`, and even then unless it is a bundle
    this tool wrote (it holds MARKER): --force must not chmod or empty a folder of other things.
    With `force`, the files a previous bundle left in the subfolders are removed (they may name
    other resources).
    """
    if out.is_symlink():
        raise OutDirError(f"{out} is a symbolic link; give the real folder")
    if out.exists():
        if not out.is_dir():
            raise OutDirError(f"{out} exists and is not a folder")
        if any(out.iterdir()):
            if not force:
                raise OutDirError(f"{out} is not empty; pass --force to overwrite the bundle in it")
            if not (out / MARKER).is_file():
                raise OutDirError(
                    f"{out} is not empty and holds no bundle of this tool ({MARKER} is "
                    "missing); --force only replaces a bundle: choose a new or empty folder"
                )
        os.chmod(out, DIR_MODE)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        os.mkdir(out, DIR_MODE)  # umask can narrow this mode, never widen it
        os.chmod(out, DIR_MODE)
    for name in subdirs:
        sub = out / name
        if sub.is_symlink() or (sub.exists() and not sub.is_dir()):
            raise OutDirError(f"{sub} exists and is not a folder")
        if sub.exists():
            os.chmod(sub, DIR_MODE)
            for stale in sub.iterdir():
                if stale.is_file() or stale.is_symlink():
                    stale.unlink()
        else:
            os.mkdir(sub, DIR_MODE)
            os.chmod(sub, DIR_MODE)


def write_file(out: Path, file: BundleFile) -> Path:
    """Writes one file atomically with exactly `file.mode`."""
    target = out / file.path
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(temporary, flags, file.mode)
    try:
        os.fchmod(fd, file.mode)  # exact: a umask may have narrowed the public files
        with os.fdopen(fd, "wb") as handle:
            fd = -1
            handle.write(file.content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        temporary.unlink(missing_ok=True)
        raise
    return target
