"""Keras's `Masking`: mark the time steps whose features all equal `mask_value` as padding.

Example:
    >>> import torch
    >>> from fitorch.layers import Masking
    >>> out = Masking()(torch.tensor([[[1.0], [0.0]]]))
    >>> out._keras_mask
    tensor([[ True, False]])
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from fitorch.layers.core import _NoWeights, _resolve_name
from fitorch.layers.layer_api import LayerAPI

__all__ = ["Masking"]


class Masking(LayerAPI, _NoWeights, nn.Module):
    """Zero the steps of `(batch, time, features)` inputs whose features all equal
    `mask_value`, and attach the mask `(batch, time)` (True = keep) to the output as its
    `_keras_mask`, which the recurrent layers after it read, as in Keras.

    Example:
        >>> x = torch.tensor([[[5.0, 5.0], [1.0, 5.0]]])
        >>> Masking(mask_value=5.0)(x)
        tensor([[[0., 0.],
                 [1., 5.]]])
    """

    def __init__(self, mask_value: float = 0.0, name: str | None = None) -> None:
        if isinstance(mask_value, bool) or not isinstance(mask_value, (int, float)):
            raise TypeError(
                "Argument `mask_value` must be a number. "
                f"Received: mask_value={mask_value!r} (of type {type(mask_value).__name__})"
            )
        super().__init__()
        self.name = _resolve_name(name, type(self))
        self.mask_value = float(mask_value)

    def forward(self, inputs: Tensor) -> Tensor:
        if inputs.ndim < 2:
            raise ValueError(
                f'Input of layer "{self.name}" needs rank >= 2 (batch, ..., features). '
                f"Received: inputs.shape={tuple(inputs.shape)} (of type {type(inputs).__name__})"
            )
        keep = (inputs != self.mask_value).any(dim=-1, keepdim=True)
        outputs = torch.where(keep, inputs, torch.zeros((), dtype=inputs.dtype,
                                                        device=inputs.device))
        outputs._keras_mask = keep.squeeze(-1)  # type: ignore[attr-defined]
        return outputs

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {"name": self.name, "mask_value": self.mask_value}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Masking:
        """Create a layer from `get_config()`'s output."""
        return cls(**config)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, mask_value={self.mask_value}"
