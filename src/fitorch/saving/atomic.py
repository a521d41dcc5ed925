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
import errno
import os
import re
import secrets
from collections.abc import Iterator

from fitorch.saving.errors import write_error

__all__ = ["atomic_path", "check_overwrite", "remove_stale_temporaries"]

_TOKEN_HEX = 12  # characters of the random part of a temporary name


def _temporary_pattern(target: str) -> re.Pattern[str]:
    """The names `atomic_path` gives temporaries for `target`: `.<name>.<12 hex>.tmp`."""
    return re.compile(rf"\.{re.escape(os.path.basename(target))}\.[0-9a-f]{{{_TOKEN_HEX}}}\.tmp")


def remove_stale_temporaries(filepath: str | os.PathLike[str]) -> list[str]:
    """Remove the temporaries that earlier, interrupted saves to `filepath` left behind.

    Only names of `atomic_path`'s own pattern for this target are touched. Returns the
    paths removed.

    Example:
        >>> remove_stale_temporaries("model.fitorch")  # after a save was killed
        ['/work/.model.fitorch.3f2a9c1b7d4e.tmp']
    """
    target = os.path.abspath(os.fspath(filepath))
    directory = os.path.dirname(target)
    pattern = _temporary_pattern(target)
    removed: list[str] = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        if pattern.fullmatch(name):
            path = os.path.join(directory, name)
            with contextlib.suppress(OSError):  # another process's clean-up got there first
                os.remove(path)
                removed.append(path)
    return removed


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

    If the body raises, the temporary file is removed and `filepath` is untouched. After a
    successful save, temporaries that killed saves to the same `filepath` left behind are
    removed too (`remove_stale_temporaries`); a save still running elsewhere to the same
    path races with this one whatever happens, so its temporary is not protected.

    Example:
        >>> with atomic_path("weights.safetensors") as tmp:
        ...     safetensors.torch.save_file(tensors, tmp)
    """
    target = os.path.abspath(os.fspath(filepath))
    directory = os.path.dirname(target)
    if os.path.isdir(target):
        raise IsADirectoryError(
            errno.EISDIR,
            f"Cannot save to {os.fspath(filepath)!r}: it is a directory. Pass a file path "
            f"inside it, e.g. {os.path.join(os.fspath(filepath), 'model.weights.safetensors')!r}."
            f" Received: filepath={os.fspath(filepath)!r}", os.fspath(filepath))
    if not os.path.isdir(directory):
        raise ValueError(
            f"Cannot save to {os.fspath(filepath)!r}: the directory {directory!r} does not exist. "
            f"Received: filepath={os.fspath(filepath)!r}"
        )
    # Not tempfile.mkstemp: it creates the file 0600; os.open with 0666 lets the umask decide,
    # so the saved file gets the permissions of any other file the user writes.
    token = secrets.token_hex(_TOKEN_HEX // 2)
    tmp = os.path.join(directory, f".{os.path.basename(target)}.{token}.tmp")
    try:
        os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    except OSError as e:
        raise (write_error(e, target) or e) from e
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, target)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        # A full disk reaches here in each writer's words (safetensors, torch's zip
        # writer, h5py): one OSError naming the path and the free space instead.
        clearer = write_error(e, target) if isinstance(e, Exception) else None
        if clearer is not None and clearer is not e:
            raise clearer from e
        raise
    _fsync_dir(directory)
    remove_stale_temporaries(target)
