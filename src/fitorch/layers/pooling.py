"""Keras's pooling layers, channels-first: max/average pooling (1D, 2D) and global pooling.

`padding="same"` follows Keras/TensorFlow: the output has `ceil(size / stride)`
positions, an odd total padding goes at the end, max pooling ignores the padding
and average pooling does not count it (each window averages its real inputs only).

Example:
    >>> import torch
    >>> from fitorch.layers import MaxPooling2D, GlobalAveragePooling2D
    >>> MaxPooling2D()(torch.zeros(2, 3, 8, 8)).shape
    torch.Size([2, 3, 4, 4])
    >>> GlobalAveragePooling2D()(torch.zeros(2, 3, 8, 8)).shape
    torch.Size([2, 3])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fitorch.layers.conv import (
    _torch_pad,
    same_padding,
    standardize_data_format,
    standardize_padding,
    standardize_tuple,
)
from fitorch.layers.core import _NoWeights, _resolve_name
from fitorch.layers.layer_api import LayerAPI
from fitorch.layers.layout import channels_last_hint, warn_if_channels_last

__all__ = [
    "AveragePooling1D",
    "AveragePooling2D",
    "AveragePooling3D",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalAveragePooling3D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "GlobalMaxPooling3D",
    "MaxPooling1D",
    "MaxPooling2D",
    "MaxPooling3D",
]

_MAX_POOL: dict[int, Callable[..., Tensor]] = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVG_POOL: dict[int, Callable[..., Tensor]] = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


class _Pooling(LayerAPI, _NoWeights, nn.Module):
    """Shared body of the max / average pooling layers (`rank` spatial axes)."""

    rank = 0
    mode = ""  # "max" or "average"

    def __init__(
        self,
        pool_size: int | Sequence[int] = 2,
        strides: int | Sequence[int] | None = None,
        padding: str = "valid",
        data_format: str | None = None,
        name: str | None = None,
    ) -> None:
        pool = standardize_tuple(pool_size, self.rank, "pool_size")
        stride = pool if strides is None else standardize_tuple(strides, self.rank, "strides")
        pad_mode = standardize_padding(padding)
        standardize_data_format(data_format)
        super().__init__()
        self.name = _resolve_name(name, type(self))
        self.pool_size = pool
        self.strides = stride
        self.padding = pad_mode
        self._layout_checked = False

    def _pads(self, spatial: Sequence[int]) -> list[tuple[int, int]]:
        return [same_padding(n, k, s) for n, k, s in zip(spatial, self.pool_size, self.strides)]

    def forward(self, inputs: Tensor) -> Tensor:
        if inputs.ndim != self.rank + 2:
            raise ValueError(
                f'Input of layer "{self.name}" is incompatible with the layer: expected rank '
                f"{self.rank + 2} (batch, channels, *spatial). "
                f"Received: inputs.shape={tuple(inputs.shape)} (of type {type(inputs).__name__})"
            )
        if not self._layout_checked:  # once: a check per batch would cost every step
            self._layout_checked = True
            warn_if_channels_last(self.name, tuple(inputs.shape))
        spatial = tuple(inputs.shape[2:])
        if self.padding == "valid":
            if any(n < k for n, k in zip(spatial, self.pool_size)):
                raise ValueError(
                    f'Input of layer "{self.name}" is smaller than its pool size '
                    f'{self.pool_size} with padding="valid": the output would be empty.'
                    f"{channels_last_hint(inputs.shape)} "
                    f"Received: inputs.shape={tuple(inputs.shape)} "
                    f"(of type {type(inputs).__name__})"
                )
            return self._pool(inputs, (0,) * self.rank)
        pads = self._pads(spatial)
        if all(before == after for before, after in pads):
            # torch's own symmetric padding: ignored by max, not counted by average.
            return self._pool(inputs, tuple(before for before, _ in pads))
        return self._pool_asymmetric(inputs, _torch_pad(pads))

    def _pool(self, inputs: Tensor, padding: tuple[int, ...]) -> Tensor:
        if self.mode == "max":
            return _MAX_POOL[self.rank](inputs, self.pool_size, self.strides, padding)
        return _AVG_POOL[self.rank](
            inputs, self.pool_size, self.strides, padding, count_include_pad=False
        )

    def _pool_asymmetric(self, inputs: Tensor, pad: tuple[int, ...]) -> Tensor:
        zeros = (0,) * self.rank
        if self.mode == "max":
            # -inf padding never wins a max, as TensorFlow's padding is ignored.
            return self._pool(F.pad(inputs, pad, value=float("-inf")), zeros)
        # torch cannot pad asymmetrically inside avg_pool, and zero-padding first
        # would count the padding. Sum of real values / number of real values:
        # avg over zero-padded inputs divided by avg over a zero-padded ones mask.
        # (Keras's torch backend replicates edge values here instead; its other
        # backends, and this layer, leave the padding out of the average.)
        summed = _AVG_POOL[self.rank](F.pad(inputs, pad), self.pool_size, self.strides, zeros)
        ones = torch.ones((1, 1, *inputs.shape[2:]), dtype=inputs.dtype, device=inputs.device)
        counts = _AVG_POOL[self.rank](F.pad(ones, pad), self.pool_size, self.strides, zeros)
        return summed / counts

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {
            "name": self.name,
            "pool_size": list(self.pool_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "data_format": "channels_first",
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> _Pooling:
        """Create a layer from `get_config()`'s output."""
        return cls(**config)

    def extra_repr(self) -> str:
        return (
            f"name={self.name!r}, pool_size={self.pool_size}, strides={self.strides}, "
            f"padding={self.padding!r}"
        )


class MaxPooling1D(_Pooling):
    """Max over windows of `pool_size` steps of `(batch, channels, length)` inputs.

    Example:
        >>> MaxPooling1D(2)(torch.arange(4.0).reshape(1, 1, 4))
        tensor([[[1., 3.]]])
    """

    rank, mode = 1, "max"


class MaxPooling2D(_Pooling):
    """Max over `pool_size` windows of `(batch, channels, height, width)` inputs.

    Example:
        >>> MaxPooling2D((2, 2), padding="same")(torch.zeros(1, 3, 5, 5)).shape
        torch.Size([1, 3, 3, 3])
    """

    rank, mode = 2, "max"


class AveragePooling1D(_Pooling):
    """Mean over windows of `pool_size` steps of `(batch, channels, length)` inputs.

    Example:
        >>> AveragePooling1D(2)(torch.arange(4.0).reshape(1, 1, 4))
        tensor([[[0.5000, 2.5000]]])
    """

    rank, mode = 1, "average"


class AveragePooling2D(_Pooling):
    """Mean over `pool_size` windows of `(batch, channels, height, width)` inputs.

    With `padding="same"` each window averages only its real (unpadded) inputs.

    Example:
        >>> AveragePooling2D(2, padding="same")(torch.ones(1, 1, 3, 3))
        tensor([[[[1., 1.],
                  [1., 1.]]]])
    """

    rank, mode = 2, "average"


class _GlobalPooling(LayerAPI, _NoWeights, nn.Module):
    rank = 0
    mode = ""

    def __init__(
        self, data_format: str | None = None, keepdims: bool = False, name: str | None = None
    ) -> None:
        standardize_data_format(data_format)
        super().__init__()
        self.name = _resolve_name(name, type(self))
        self.keepdims = bool(keepdims)
        self._dims = tuple(range(2, self.rank + 2))
        self._layout_checked = False

    def forward(self, inputs: Tensor) -> Tensor:
        if inputs.ndim != self.rank + 2:
            raise ValueError(
                f'Input of layer "{self.name}" is incompatible with the layer: expected rank '
                f"{self.rank + 2} (batch, channels, *spatial). "
                f"Received: inputs.shape={tuple(inputs.shape)} (of type {type(inputs).__name__})"
            )
        if not self._layout_checked:  # once: a check per batch would cost every step
            self._layout_checked = True
            warn_if_channels_last(self.name, tuple(inputs.shape))
        if self.mode == "max":
            return inputs.amax(dim=self._dims, keepdim=self.keepdims)
        return inputs.mean(dim=self._dims, keepdim=self.keepdims)

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {"name": self.name, "data_format": "channels_first", "keepdims": self.keepdims}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> _GlobalPooling:
        """Create a layer from `get_config()`'s output."""
        return cls(**config)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, keepdims={self.keepdims}"


class GlobalAveragePooling1D(_GlobalPooling):
    """Mean over the steps: `(batch, channels, length)` -> `(batch, channels)`.

    Example:
        >>> GlobalAveragePooling1D(keepdims=True)(torch.zeros(2, 3, 7)).shape
        torch.Size([2, 3, 1])
    """

    rank, mode = 1, "average"


class GlobalAveragePooling2D(_GlobalPooling):
    """Mean over height and width: `(batch, channels, h, w)` -> `(batch, channels)`.

    Example:
        >>> GlobalAveragePooling2D()(torch.ones(2, 3, 4, 4))
        tensor([[1., 1., 1.],
                [1., 1., 1.]])
    """

    rank, mode = 2, "average"


class GlobalMaxPooling1D(_GlobalPooling):
    """Max over the steps: `(batch, channels, length)` -> `(batch, channels)`.

    Example:
        >>> GlobalMaxPooling1D()(torch.arange(4.0).reshape(1, 1, 4))
        tensor([[3.]])
    """

    rank, mode = 1, "max"


class GlobalMaxPooling2D(_GlobalPooling):
    """Max over height and width: `(batch, channels, h, w)` -> `(batch, channels)`.

    Example:
        >>> GlobalMaxPooling2D()(torch.zeros(2, 3, 4, 4)).shape
        torch.Size([2, 3])
    """

    rank, mode = 2, "max"


class MaxPooling3D(_Pooling):
    """Max over `pool_size` windows of `(batch, channels, depth, height, width)` inputs.

    Example:
        >>> MaxPooling3D()(torch.zeros(1, 2, 4, 4, 4)).shape
        torch.Size([1, 2, 2, 2, 2])
    """

    rank, mode = 3, "max"


class AveragePooling3D(_Pooling):
    """Mean over `pool_size` windows of `(batch, channels, depth, height, width)` inputs.

    Example:
        >>> AveragePooling3D(2, padding="same")(torch.ones(1, 1, 3, 3, 3)).shape
        torch.Size([1, 1, 2, 2, 2])
    """

    rank, mode = 3, "average"


class GlobalAveragePooling3D(_GlobalPooling):
    """Mean over depth, height and width: `(batch, channels, d, h, w)` -> `(batch, channels)`.

    Example:
        >>> GlobalAveragePooling3D(keepdims=True)(torch.zeros(2, 3, 4, 4, 4)).shape
        torch.Size([2, 3, 1, 1, 1])
    """

    rank, mode = 3, "average"


class GlobalMaxPooling3D(_GlobalPooling):
    """Max over depth, height and width: `(batch, channels, d, h, w)` -> `(batch, channels)`.

    Example:
        >>> GlobalMaxPooling3D()(torch.zeros(2, 3, 4, 4, 4)).shape
        torch.Size([2, 3])
    """

    rank, mode = 3, "max"
