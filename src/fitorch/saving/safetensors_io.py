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

__all__ = ["read_safetensors", "read_safetensors_bytes", "safetensors_bytes",
           "write_safetensors"]


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


def read_safetensors(filepath: str) -> dict[str, torch.Tensor]:
    """Every tensor of a safetensors file, on the CPU, in memory of their own (no map of the
    file); a clear error for a damaged file."""
    try:
        mapped = safetensors.torch.load_file(filepath, device="cpu")
    except (safetensors.SafetensorError, OSError, ValueError) as e:
        raise ValueError(
            f"Could not read {filepath!r} as safetensors: the file is truncated or corrupted. "
            f"Received: filepath={filepath!r} ({type(e).__name__}: {e})"
        ) from None
    # load_file's tensors live in a memory map of the file: a replaced or deleted file
    # would keep its disk space while they live. Copies own their memory.
    return {name: tensor.clone() for name, tensor in mapped.items()}


def read_safetensors_bytes(data: bytes, source: str) -> dict[str, torch.Tensor]:
    """Tensors from safetensors bytes; `source` names the file in errors."""
    try:
        return safetensors.torch.load(data)
    except (safetensors.SafetensorError, OSError, ValueError) as e:
        raise ValueError(
            f"Could not read the weights in {source!r}: the file is truncated or corrupted. "
            f"Received: filepath={source!r} ({type(e).__name__}: {e})"
        ) from None
