"""File errors: `OSError` subclasses that name the path.

`FileFormatError` is also a `ValueError` (as `io.UnsupportedOperation` is), so code that
caught the ValueError fitorch raised for a damaged file keeps working.

Example:
    >>> raise FileFormatError("w.safetensors", "'w.safetensors' is not a safetensors file")
"""

from __future__ import annotations

import errno
import os
import shutil

__all__ = ["FileFormatError", "write_error"]


class FileFormatError(OSError, ValueError):
    """A file that is not what it must be: truncated, damaged, of another format, or
    declaring sizes it cannot hold. `filename` is the path."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.filename = path

    def __str__(self) -> str:
        return str(self.args[0])  # the message names the path already (no "[Errno None]")


def _free_bytes(directory: str) -> int | None:
    try:
        return shutil.disk_usage(directory).free
    except OSError:
        return None


def _says_no_space(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc)
    # safetensors (Rust) and torch's zip writer report a full disk in their own words.
    return any(s in text for s in ("No space left", "StorageFull", "code: 28",
                                   "Disk quota exceeded"))


_LOW_SPACE = 1 << 20  # below this, a write that failed without saying why ran out of space


def write_error(exc: BaseException, target: str) -> OSError | None:
    """The OSError to raise for `exc`, raised while writing `target`; None when `exc` is not
    an I/O failure (a bug or a bad argument: re-raised as it is)."""
    text = str(exc)
    io_failure = isinstance(exc, OSError) or _says_no_space(exc) or any(
        s in text for s in ("file write failed", "IoError", "inline_container"))
    if not io_failure:
        return None
    directory = os.path.dirname(os.path.abspath(target))
    free = _free_bytes(directory)
    no_space = _says_no_space(exc) or (free is not None and free < _LOW_SPACE)
    shown_free = "unknown" if free is None else f"{free} bytes ({free / 2**20:.1f} MiB)"
    if no_space:
        return OSError(
            errno.ENOSPC,
            f"Could not save {target!r}: the disk is full ({shown_free} free on the file system "
            f"of {directory!r}). The previous file, if any, is unchanged. Free some space or "
            f"save elsewhere. Received: filepath={target!r}", target)
    code = exc.errno if isinstance(exc, OSError) and exc.errno else errno.EIO
    return OSError(
        code,
        f"Could not save {target!r}: writing failed ({type(exc).__name__}: "
        f"{text.splitlines()[0] if text else ''}; {shown_free} free). The previous file, "
        f"if any, is unchanged. Received: filepath={target!r}", target)
