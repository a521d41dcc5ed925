"""Reading `.pt` / `.pth` / `.bin` files with `torch.load(weights_only=True)` only.

A pickle can run any code while it loads; torch's weights-only unpickler
accepts tensors and plain containers and refuses everything else, which is
what makes loading someone else's checkpoint safe.

Example:
    >>> tensors = load_torch_state("model.pt")
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from fitorch.saving.torch_file_check import check_torch_file

__all__ = ["load_torch_state", "save_torch_state", "torch_file_budget"]

# Keys under which training scripts commonly nest the model's state_dict.
_NESTED_KEYS = ("state_dict", "model_state_dict", "model")


def load_torch_state(filepath: str, budget: int | None = None) -> dict[str, torch.Tensor]:
    """A flat `{name: tensor}` state dict from a torch file, never executing code from it.

    The storages the file declares are checked first (`check_torch_file`): against what
    the file holds and, with `budget`, against the bytes a loader may allocate for it.
    """
    check_torch_file(filepath, budget)
    try:
        # A file object, not the path: torch.load reads a path ending in .safetensors with
        # safetensors, whatever the file holds.
        with open(filepath, "rb") as f:
            obj: Any = torch.load(f, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise ValueError(
            f"Refusing to load {filepath!r}: it holds Python objects other than tensors and "
            "plain containers, and unpickling them could run code from the file. Only "
            "weights-only torch files (a state_dict) can be loaded. "
            f"Received: filepath={filepath!r} ({_reason(e)})"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise ValueError(
            f"Could not read {filepath!r} as a torch file: it is truncated or corrupted. "
            f"Received: filepath={filepath!r} ({type(e).__name__}: {str(e).splitlines()[0]})"
        ) from None
    if isinstance(obj, Mapping):
        for key in _NESTED_KEYS:
            inner = obj.get(key)
            if isinstance(inner, Mapping) and inner and all(
                    isinstance(v, torch.Tensor) for v in inner.values()):
                obj = inner
                break
    if not isinstance(obj, Mapping) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        raise ValueError(
            f"{filepath!r} does not hold a state_dict (a mapping of names to tensors). "
            f"Received: an object of type {type(obj).__name__}"
        )
    return dict(obj)


def torch_file_budget(model: nn.Module) -> int:
    """The most storage bytes a torch file for `model` may declare: four times the model's
    weights (a checkpoint that also holds an optimizer's moments, or float64 copies) plus
    16 MiB."""
    from fitorch.saving.keras_h5 import weight_budget

    return 2 * weight_budget(model) + (14 << 20)


def _reason(error: Exception) -> str:
    """The line of torch's message that names what was refused (not its advice to retry
    with `weights_only=False`, which is exactly what must not be done with such a file)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    named = [line for line in lines if "GLOBAL" in line or "Unsupported" in line]
    return (named or lines or [type(error).__name__])[0]


def save_torch_state(tensors: Mapping[str, torch.Tensor], filepath: str | os.PathLike[str]
                     ) -> None:
    """`torch.save` of plain CPU tensors: readable with `weights_only=True`."""
    torch.save({k: v.detach().cpu() for k, v in tensors.items()}, filepath)
