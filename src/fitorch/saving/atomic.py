"""Atomic file writes: a crash (or SIGKILL) mid-save never damages the previous file.

The payload goes to a temporary file in the destination's directory (same file
system, so the final rename is atomic), is flushed and fsync'ed, then
`os.replace`s the destination; the directory is fsync'ed too so that the rename
itself survives a power cut. Until the rename, readers see the old file whole.

Example:
    >>> with atomic_path("model.fitorch") as tmp:
    ...     write_somehow(tmp)          # any writer that takes a path
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator

__all__ = ["atomic_path", "check_overwrite"]


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: str) -> None:
    # Directories cannot be opened on Windows; the rename is durable enough there.
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_overwrite(filepath: str, overwrite: bool) -> None:
    """Refuse to replace an existing file when `overwrite=False`."""
    if not isinstance(overwrite, bool):
        raise TypeError(
            f"`overwrite` must be True or False. Received: overwrite={overwrite!r} "
            f"(of type {type(overwrite).__name__})"
        )
    if not overwrite and os.path.exists(filepath):
        raise ValueError(
            f"The file {filepath!r} already exists and `overwrite=False`. Pass "
            f"`overwrite=True` to replace it. Received: filepath={filepath!r}, overwrite=False"
        )


@contextlib.contextmanager
def atomic_path(filepath: str | os.PathLike[str]) -> Iterator[str]:
    """Yield a temporary path next to `filepath`; on success it atomically becomes `filepath`.

    If the body raises, the temporary file is removed and `filepath` is untouched.

    Example:
        >>> with atomic_path("weights.safetensors") as tmp:
        ...     safetensors.torch.save_file(tensors, tmp)
    """
    target = os.path.abspath(os.fspath(filepath))
    directory = os.path.dirname(target)
    if not os.path.isdir(directory):
        raise ValueError(
            f"Cannot save to {os.fspath(filepath)!r}: the directory {directory!r} does not exist. "
            f"Received: filepath={os.fspath(filepath)!r}"
        )
    # Not tempfile.mkstemp: it creates the file 0600; os.open with 0666 lets the umask decide,
    # so the saved file gets the permissions of any other file the user writes.
    tmp = os.path.join(directory, f".{os.path.basename(target)}.{secrets.token_hex(6)}.tmp")
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    _fsync_dir(directory)
