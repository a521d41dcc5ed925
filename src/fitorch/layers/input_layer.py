"""`Input`: the shape (and optionally the static batch size) a model expects."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn


class Input(nn.Module):
    """Declares the input shape (without the batch axis), as Keras's `Input`.

    As the first element of a `Sequential`, it lets the model create its
    parameters at once; `batch_size=N` fixes the batch size that `fit`,
    `evaluate` and `predict` use.

    Example:
        >>> model = fitorch.Sequential([fitorch.Input(shape=(784,)), fitorch.layers.Dense(10)])
    """

    def __init__(self, shape: Sequence[int | None] | int, batch_size: int | None = None,
                 dtype: torch.dtype | str | None = None, name: str | None = None) -> None:
        super().__init__()
        if isinstance(shape, int):
            shape = (shape,)
        if not isinstance(shape, (tuple, list)) or not all(
            s is None or (isinstance(s, int) and not isinstance(s, bool) and s > 0) for s in shape
        ):
            raise ValueError(
                "`shape` must be a tuple of positive ints (None for a variable size), without "
                f"the batch axis. Received: shape={shape!r}"
            )
        if batch_size is not None and (
            not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0
        ):
            raise ValueError(
                f"`batch_size` must be a positive int or None. Received: batch_size={batch_size!r}"
            )
        self.shape = tuple(shape)
        self.batch_size = batch_size
        self.dtype = _dtype(dtype)
        self.name = name or "input_layer"

    def forward(self, x: Any) -> Any:
        return x

    def example(self) -> torch.Tensor:
        """A zero batch of this shape (variable sizes as 1), used to build the layers after it."""
        shape = (self.batch_size or 1, *(s or 1 for s in self.shape))
        return torch.zeros(shape, dtype=self.dtype)

    def get_config(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "batch_size": self.batch_size,
                "dtype": str(self.dtype).replace("torch.", ""), "name": self.name}


def _dtype(dtype: torch.dtype | str | None) -> torch.dtype:
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    resolved = getattr(torch, str(dtype), None)
    if not isinstance(resolved, torch.dtype):
        raise ValueError(f"Unknown dtype. Received: dtype={dtype!r}")
    return resolved
