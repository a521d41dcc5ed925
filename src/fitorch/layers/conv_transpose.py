"""Keras's transposed convolutions, channels-first: `Conv1DTranspose` on `(N, C, L)`,
`Conv2DTranspose` on `(N, C, H, W)`, `Conv3DTranspose` on `(N, C, D, H, W)`.

The weight is kept in PyTorch's `ConvTranspose` layout `(in_channels, filters,
*kernel_size)` (Keras's kernel is `(*kernel_size, filters, in_channels)`).
Output sizes and the placement of the result follow Keras (and TensorFlow /
JAX): with `padding="same"` and no `output_padding` each axis grows by exactly
`strides`; `output_padding` adds positions at the end. torch's own padding is
symmetric, so the full transposed convolution is computed and then cropped (or
zero-extended) on each side as Keras's window prescribes.

Example:
    >>> import torch
    >>> from fitorch.layers import Conv2DTranspose
    >>> Conv2DTranspose(8, 4, strides=2, padding="same")(torch.zeros(2, 3, 7, 7)).shape
    torch.Size([2, 8, 14, 14])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.parameter import UninitializedParameter

from fitorch import initializers
from fitorch.layers.activation_layers import keras_fans
from fitorch.layers.conv import _Conv
from fitorch.layers.core import _assign, _check_keras_weights, _first_shape, _require_built
from fitorch.layers.layout import warn_if_channels_last

__all__ = ["Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose", "transpose_crops"]

_CONV_T_FNS: dict[int, Callable[..., Tensor]] = {
    1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def transpose_crops(kernel: int, stride: int, dilation: int, padding: str,
                    output_padding: int | None) -> tuple[int, int]:
    """`(left, right)` to cut off the full transposed convolution of one axis for Keras's
    output window (negative: zeros to add).

    The full result has `(n - 1) * stride + effective_kernel` positions; Keras's
    (TensorFlow's) window starts `effective_kernel - 1 - left_pad` into it.

    Example:
        >>> transpose_crops(3, 2, 1, "same", None)  # n=4 -> full 9 -> 8 = 4 * 2
        (1, 0)
    """
    effective = (kernel - 1) * dilation + 1
    if padding == "valid":
        extra = max(effective, stride) - effective if output_padding is None else output_padding
        left_pad, right_pad = effective - 1, effective - 1 + extra
    else:
        if output_padding is None:
            total = stride + effective - 2
        else:
            total = effective + effective % 2 - 2 + output_padding
        left_pad = min(total // 2 + total % 2, effective - 1)
        right_pad = total - left_pad
    return effective - 1 - left_pad, effective - 1 - right_pad


def _output_padding(value: Any, rank: int, strides: tuple[int, ...]) -> tuple[int, ...] | None:
    if value is None:
        return None
    values = (value,) * rank if isinstance(value, int) and not isinstance(value, bool) else value
    if (
        not isinstance(values, Sequence) or isinstance(values, str) or len(values) != rank
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values)
    ):
        raise ValueError(
            f"The `output_padding` argument must be None, a non-negative int or a tuple of "
            f"{rank} non-negative ints. Received: output_padding={value!r} "
            f"(of type {type(value).__name__})"
        )
    if any(op >= s for op, s in zip(values, strides)):
        raise ValueError(
            "`output_padding` must be strictly less than `strides` for all dimensions. "
            f"Received: output_padding={tuple(values)}, strides={strides} (of type tuple)"
        )
    return tuple(values)


class _ConvTranspose(_Conv):
    """Shared body of the transposed convolutions (`rank` spatial axes)."""

    def __init__(
        self,
        filters: int,
        kernel_size: int | Sequence[int],
        strides: int | Sequence[int] = 1,
        padding: str = "valid",
        output_padding: int | Sequence[int] | None = None,
        data_format: str | None = None,
        dilation_rate: int | Sequence[int] = 1,
        activation: str | Callable[..., Any] | None = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        name: str | None = None,
    ) -> None:
        if isinstance(padding, str) and padding.lower() == "causal":
            raise ValueError(
                "The `padding` argument of a transposed convolution must be 'valid' or "
                f"'same'. Received: padding={padding!r} (of type str)"
            )
        super().__init__(
            filters, kernel_size, strides, padding, data_format, dilation_rate, 1, activation,
            use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
            bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint, name,
        )
        self.output_padding = _output_padding(output_padding, self.rank, self.strides)
        self._crops = [
            transpose_crops(k, s, d, self.padding, None if self.output_padding is None else op)
            for k, s, d, op in zip(self.kernel_size, self.strides, self.dilation_rate,
                                   self.output_padding or (0,) * self.rank)
        ]

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Create and initialise the weight `(in_channels, filters, *kernel_size)` and bias.

        Example:
            >>> layer = Conv2DTranspose(4, 3)
            >>> layer.build((None, 6, 8, 8))
            >>> layer.weight.shape
            torch.Size([6, 4, 3, 3])
        """
        if not self.has_uninitialized_params():
            return
        channels = input_shape[1] if len(input_shape) == self.rank + 2 else None
        if not isinstance(channels, int) or channels <= 0:
            super().build(input_shape)  # raises its rank / channels error
            return
        warn_if_channels_last(self.name, input_shape)
        fan_in, fan_out = keras_fans(self._keras_kernel_shape(channels))
        with torch.inference_mode(False), torch.no_grad():
            self.in_channels = channels
            cast(UninitializedParameter, self.weight).materialize(
                (channels, self.filters, *self.kernel_size))
            initializers.apply_initializer(
                self.kernel_initializer, self.weight, fan_in=fan_in, fan_out=fan_out)
            if self.bias is not None:
                cast(UninitializedParameter, self.bias).materialize((self.filters,))
                initializers.apply_initializer(
                    self.bias_initializer, self.bias, fan_in=self.filters, fan_out=self.filters)

    def initialize_parameters(self, inputs: Tensor, *args: Any, **kwargs: Any) -> None:
        """Lazy-module hook: build from the first input's shape."""
        if self.has_uninitialized_params():
            self.build(tuple(inputs.shape))
        else:  # materialised by load_state_dict before any call
            self.in_channels = self.weight.shape[0]

    def _check_input(self, inputs: Tensor) -> None:
        if inputs.ndim != self.rank + 2 or inputs.shape[1] != self.in_channels:
            raise ValueError(
                f'Input of layer "{self.name}" is incompatible with the layer: expected '
                f"rank {self.rank + 2} (channels first) with {self.in_channels} channels on "
                f"axis 1. Received: inputs.shape={tuple(inputs.shape)} "
                f"(of type {type(inputs).__name__})"
            )

    def _convolve(self, inputs: Tensor, weight: Tensor, bias: Tensor | None,
                  groups: int) -> Tensor:
        index: list[slice] = [slice(None), slice(None)]
        extend: list[int] = []
        for left, right in self._crops:
            index.append(slice(max(left, 0), -right if right > 0 else None))
            extend = [max(-left, 0), max(-right, 0), *extend]  # F.pad: last axis first
        if not any(extend):
            outputs = _CONV_T_FNS[self.rank](
                inputs, weight, bias, self.strides, 0, 0, groups, self.dilation_rate)
            return outputs[tuple(index)]
        # Keras's window reaches past the full result: zeros there, then the bias.
        outputs = _CONV_T_FNS[self.rank](
            inputs, weight, None, self.strides, 0, 0, groups, self.dilation_rate)
        outputs = F.pad(outputs[tuple(index)], extend)
        if bias is not None:
            outputs = outputs + bias.reshape((1, -1) + (1,) * self.rank)
        return outputs

    def output_length(self, size: int, axis: int = 0) -> int:
        """The output size of spatial axis `axis` for an input of `size` (Keras's rule).

        Example:
            >>> Conv1DTranspose(2, 3, strides=2, padding="same").output_length(5)
            10
        """
        k, s, d = self.kernel_size[axis], self.strides[axis], self.dilation_rate[axis]
        left, right = self._crops[axis]
        return (size - 1) * s + (k - 1) * d + 1 - left - right

    def _keras_kernel_shape(self, channels: int | None = None) -> tuple[int, ...]:
        return (*self.kernel_size, self.filters, channels or self.in_channels)

    def get_keras_weights(self) -> list[np.ndarray]:
        """`[kernel (*kernel_size, filters, in_channels), bias (filters,)]`, as Keras holds them.

        Example:
            >>> layer = Conv1DTranspose(4, 3)
            >>> layer.build((None, 2, 8))
            >>> [w.shape for w in layer.get_keras_weights()]
            [(3, 4, 2), (4,)]
        """
        _require_built(self, self.built, "get_keras_weights()")
        from fitorch.layers.core import _to_numpy

        # PyTorch (in, out, *k) -> Keras (*k, out, in).
        order = (*range(2, self.rank + 2), 1, 0)
        weights = [np.ascontiguousarray(_to_numpy(self.weight).transpose(order))]
        if self.bias is not None:
            weights.append(_to_numpy(self.bias))
        return weights

    def set_keras_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Load `[kernel, bias]` in Keras's layout (builds an unbuilt layer from the kernel)."""
        first = _first_shape(self.name, weights)
        if not self.built and first is not None and len(first) == self.rank + 2:
            self.build((None, first[-1], *self.kernel_size))
        _require_built(self, self.built, "set_keras_weights()")
        expected = [("kernel", self._keras_kernel_shape())]
        if self.bias is not None:
            expected.append(("bias", (self.filters,)))
        arrays = _check_keras_weights(self.name, weights, expected)
        # Keras (*k, out, in) -> PyTorch (in, out, *k).
        _assign(self.weight, arrays[0].transpose(self.rank + 1, self.rank, *range(self.rank)))
        if self.bias is not None:
            _assign(self.bias, arrays[1])

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments (built-ins JSON-able, custom callables as is)."""
        config = super().get_config()
        del config["groups"]
        op = self.output_padding
        config["output_padding"] = None if op is None else list(op)
        return config


class Conv1DTranspose(_ConvTranspose):
    """Keras's 1D transposed convolution on `(batch, channels, length)` inputs.

    Example:
        >>> Conv1DTranspose(4, 3, strides=2)(torch.zeros(2, 3, 5)).shape
        torch.Size([2, 4, 11])
    """

    rank = 1


class Conv2DTranspose(_ConvTranspose):
    """Keras's 2D transposed convolution on `(batch, channels, height, width)` inputs.

    Example:
        >>> layer = Conv2DTranspose(16, 5, strides=2, padding="same", output_padding=1)
        >>> layer(torch.zeros(1, 8, 7, 7)).shape
        torch.Size([1, 16, 14, 14])
    """

    rank = 2


class Conv3DTranspose(_ConvTranspose):
    """Keras's 3D transposed convolution on `(batch, channels, depth, height, width)` inputs.

    Example:
        >>> Conv3DTranspose(2, 2, strides=2)(torch.zeros(1, 3, 2, 2, 2)).shape
        torch.Size([1, 2, 4, 4, 4])
    """

    rank = 3


