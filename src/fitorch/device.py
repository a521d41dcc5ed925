"""Where the model lives, and how to wait for it: the only device logic of the engine."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU for a model without any)."""
    for p in model.parameters():
        if not isinstance(p, nn.parameter.UninitializedParameter):
            return p.device
    for b in model.buffers():
        if not isinstance(b, nn.parameter.UninitializedBuffer):
            return b.device
    return torch.device("cpu")


def sync_fn(device: torch.device) -> Callable[[], None] | None:
    """A function that waits for queued work on `device`, or None where work is synchronous."""
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return None
