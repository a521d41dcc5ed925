"""Keras's `Reshape`: a new shape for every sample, the batch axis untouched.

Example:
    >>> import torch
    >>> from fitorch.layers import Reshape
    >>> Reshape((4, -1))(torch.zeros(2, 3, 4)).shape
    torch.Size([2, 4, 3])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from fitorch.layers.core import _NoWeights, _resolve_name
from fitorch.layers.layer_api import LayerAPI

__all__ = ["Reshape"]


class Reshape(LayerAPI, _NoWeights, nn.Module):
    """Reshape `(batch, *in_shape)` inputs to `(batch, *target_shape)`.

    `target_shape` leaves out the batch axis and may hold one `-1`, inferred
    from the sample size. The element order is PyTorch's (row-major on the
    channels-first layout), the same as Keras's on the same array.

    Example:
        >>> import torch
        >>> Reshape((3, 4))(torch.zeros(5, 12)).shape
        torch.Size([5, 3, 4])
    """

    def __init__(self, target_shape: Sequence[int], name: str | None = None) -> None:
        if isinstance(target_shape, (str, bytes)) or not isinstance(target_shape, Sequence):
            raise TypeError(
                "Argument `target_shape` must be a tuple or list of integers. "
                f"Received: target_shape={target_shape!r} (of type {type(target_shape).__name__})"
            )
        shape = tuple(target_shape)
        if not all(isinstance(d, int) and not isinstance(d, bool) and d >= -1 for d in shape) or (
            shape.count(-1) > 1
        ):
            raise ValueError(
                "Each dimension in `target_shape` must be a non-negative integer, or -1 "
                f"for a single unknown dimension. Received: target_shape={target_shape!r} "
                f"(of type {type(target_shape).__name__})"
            )
        super().__init__()
        self.name = _resolve_name(name, type(self))
        self.target_shape = shape
        self._known = math.prod(d for d in shape if d != -1)

    def _output_shape(self, inputs: Tensor) -> tuple[int, ...]:
        size = math.prod(inputs.shape[1:])
        shape = self.target_shape
        if -1 in shape:
            # Resolved here rather than by torch: `reshape(0, -1)` fails on an empty batch.
            if self._known == 0 or size % self._known:
                self._incompatible(inputs)
            shape = tuple(size // self._known if d == -1 else d for d in shape)
        elif self._known != size:
            self._incompatible(inputs)
        return shape

    def _incompatible(self, inputs: Tensor) -> None:
        raise ValueError(
            f'Layer "{self.name}" cannot reshape samples of shape {tuple(inputs.shape[1:])} '
            f"({math.prod(inputs.shape[1:])} values) to target_shape={self.target_shape}: "
            "the total size must be unchanged. "
            f"Received: inputs.shape={tuple(inputs.shape)} (of type {type(inputs).__name__})"
        )

    def forward(self, inputs: Tensor) -> Tensor:
        if inputs.ndim < 1:
            self._incompatible(inputs)
        return inputs.reshape(inputs.shape[0], *self._output_shape(inputs))

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {"name": self.name, "target_shape": list(self.target_shape)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Reshape:
        """Create a layer from `get_config()`'s output."""
        return cls(**config)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, target_shape={self.target_shape}"
