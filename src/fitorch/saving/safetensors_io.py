"""Tensors to and from safetensors: a format that holds data only, so loading runs no code.

Example:
    >>> write_safetensors({"w": torch.zeros(2)}, "w.safetensors")
    >>> read_safetensors("w.safetensors")["w"]
    tensor([0., 0.])
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import safetensors
import safetensors.torch
import torch

from fitorch.saving.errors import FileFormatError

__all__ = ["check_safetensors_header", "read_safetensors", "read_safetensors_bytes",
           "safetensors_bytes", "write_safetensors"]


def _plain(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Contiguous CPU tensors that share no memory (safetensors refuses shared storage)."""
    out: dict[str, torch.Tensor] = {}
    seen: set[tuple[int, object]] = set()
    for name, tensor in tensors.items():
        t = tensor.detach()
        if t.device.type != "cpu":
            t = t.cpu()
        t = t.contiguous()
        key = (t.untyped_storage().data_ptr(), t.storage_offset())
        if t.numel() and key in seen:  # tied weights: store each name's own copy
            t = t.clone()
        elif t.numel():
            seen.add(key)
        if t.numel() and t.untyped_storage().nbytes() != t.numel() * t.element_size():
            t = t.clone()  # a view into a larger storage
        out[name] = t
    return out


def write_safetensors(tensors: Mapping[str, torch.Tensor], filepath: str | os.PathLike[str],
                      metadata: Mapping[str, str] | None = None) -> None:
    """Write `tensors` (any device) to a safetensors file."""
    safetensors.torch.save_file(_plain(tensors), os.fspath(filepath),
                                metadata=dict(metadata) if metadata else None)


def safetensors_bytes(tensors: Mapping[str, torch.Tensor],
                      metadata: Mapping[str, str] | None = None) -> bytes:
    """`tensors` serialized to safetensors bytes (for a member of a zip file)."""
    return safetensors.torch.save(_plain(tensors), metadata=dict(metadata) if metadata else None)


# safetensors' own limit on the JSON header; a bigger declared header is not safetensors.
MAX_HEADER_BYTES = 100_000_000


def check_safetensors_header(head: bytes, size: int, source: str) -> None:
    """Refuse what is not a safetensors file before any allocation: `head` is the file's
    first bytes (at least 9), `size` its length. The tensors' offsets are checked against
    `size` by safetensors itself, which maps the file instead of reading it."""
    declared = int.from_bytes(head[:8], "little") if len(head) >= 8 else -1
    if 2 <= declared <= min(MAX_HEADER_BYTES, size - 8) and head[8:9] == b"{":
        return
    if head.startswith(b"PK\x03\x04") or head[:1] == b"\x80":
        kind = "a zip archive (torch.save's format)" if head[:1] == b"P" else "a pickle"
        raise FileFormatError(source, (
            f"{source!r} is named like a safetensors file but holds {kind}. Rename it "
            f"to .pt to load it as a torch state_dict. Received: filepath={source!r}"))
    raise FileFormatError(source, (
        f"Could not read {source!r} as safetensors: the file is truncated or corrupted "
        f"(it declares a {declared}-byte header in a file of {size} bytes). "
        f"Received: filepath={source!r}"))


def read_safetensors(filepath: str) -> dict[str, torch.Tensor]:
    """Every tensor of a safetensors file, on the CPU, in memory of their own (no map of the
    file); a clear error (`FileFormatError`, an OSError naming the path) for a damaged file."""
    try:
        with open(filepath, "rb") as f:
            head = f.read(9)
            size = os.fstat(f.fileno()).st_size
    except IsADirectoryError:
        raise FileFormatError(filepath, f"{filepath!r} is a directory, not a safetensors "
                              f"file. Received: filepath={filepath!r}") from None
    check_safetensors_header(head, size, filepath)
    try:
        mapped = safetensors.torch.load_file(filepath, device="cpu")
    except (safetensors.SafetensorError, OSError, ValueError) as e:
        raise FileFormatError(filepath, (
            f"Could not read {filepath!r} as safetensors: the file is truncated or corrupted. "
            f"Received: filepath={filepath!r} ({type(e).__name__}: {e})")) from None
    # load_file's tensors live in a memory map of the file: a replaced or deleted file
    # would keep its disk space while they live. Copies own their memory.
    return {name: tensor.clone() for name, tensor in mapped.items()}


def read_safetensors_bytes(data: bytes, source: str) -> dict[str, torch.Tensor]:
    """Tensors from safetensors bytes; `source` names the file in errors."""
    check_safetensors_header(data[:9], len(data), source)
    try:
        return safetensors.torch.load(data)
    except (safetensors.SafetensorError, OSError, ValueError) as e:
        raise FileFormatError(source, (
            f"Could not read the weights in {source!r}: the file is truncated or corrupted. "
            f"Received: filepath={source!r} ({type(e).__name__}: {e})")) from None
