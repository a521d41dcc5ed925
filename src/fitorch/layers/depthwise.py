"""Keras's depthwise and separable convolutions, channels-first.

`DepthwiseConv1D/2D` convolve each input channel with `depth_multiplier` filters
of its own (torch's grouped convolution with `groups = channels`); output
channel `c * depth_multiplier + m` is filter `m` of channel `c`, as in Keras.
`SeparableConv1D/2D` follow the depthwise step with a 1x1 ("pointwise")
convolution to `filters` channels. Padding, strides and dilation are Keras's
(see `fitorch.layers.conv`).

Parameters, PyTorch layout: `weight` is the depthwise kernel
`(channels * depth_multiplier, 1, *kernel_size)`; a separable layer adds
`pointwise_weight` `(filters, channels * depth_multiplier, 1, ...)`. Keras's
layouts are `(*kernel_size, channels, depth_multiplier)` and
`(1, ..., channels * depth_multiplier, filters)`.

Example:
    >>> import torch
    >>> from fitorch.layers import DepthwiseConv2D, SeparableConv2D
    >>> DepthwiseConv2D(3, depth_multiplier=2)(torch.zeros(1, 4, 8, 8)).shape
    torch.Size([1, 8, 6, 6])
    >>> SeparableConv2D(16, 3, padding="same")(torch.zeros(1, 4, 8, 8)).shape
    torch.Size([1, 16, 8, 8])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.parameter import UninitializedParameter

from fitorch import activations, constraints, initializers, regularizers
from fitorch.layers.activation_layers import keras_fans
from fitorch.layers.conv import _CONV_FNS, _Conv
from fitorch.layers.core import (
    _assign,
    _check_keras_weights,
    _first_shape,
    _get_initializer,
    _penalties,
    _project,
    _require_built,
    _to_numpy,
)
from fitorch.layers.layout import warn_if_channels_last

__all__ = ["DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D"]


def _check_multiplier(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(
            "Invalid value for argument `depth_multiplier`. Expected a strictly positive "
            f"integer. Received: depth_multiplier={value!r} (of type {type(value).__name__})"
        )
    return value


class _Depthwise(_Conv):
    """The depthwise kernel (`weight`) shared by DepthwiseConv and SeparableConv."""

    depth_multiplier: int

    def _channels_of(self, input_shape: Sequence[int | None]) -> int:
        channels = input_shape[1] if len(input_shape) == self.rank + 2 else None
        if not isinstance(channels, int) or channels <= 0:
            raise ValueError(
                f'Layer "{self.name}" needs inputs of rank {self.rank + 2} (batch, channels, '
                "*spatial; channels first) with a known number of channels. "
                f"Received: input_shape={tuple(input_shape)} (of type "
                f"{type(input_shape).__name__})"
            )
        warn_if_channels_last(self.name, input_shape)
        return channels

    def _depthwise_keras_shape(self) -> tuple[int, ...]:
        return (*self.kernel_size, self.in_channels, self.depth_multiplier)

    def _materialize_depthwise(self, channels: int) -> None:
        self.in_channels = channels
        self.groups = channels
        fan_in, fan_out = keras_fans((*self.kernel_size, channels, self.depth_multiplier))
        cast(UninitializedParameter, self.weight).materialize(
            (channels * self.depth_multiplier, 1, *self.kernel_size))
        initializers.apply_initializer(
            self.kernel_initializer, self.weight, fan_in=fan_in, fan_out=fan_out)

    def _depthwise_to_keras(self) -> np.ndarray:
        # (C * m, 1, *k) -> (C, m, *k) -> (*k, C, m)
        w = _to_numpy(self.weight).reshape(
            self.in_channels, self.depth_multiplier, *self.kernel_size)
        return np.ascontiguousarray(w.transpose(*range(2, self.rank + 2), 0, 1))

    def _depthwise_from_keras(self, kernel: np.ndarray) -> None:
        w = kernel.transpose(self.rank, self.rank + 1, *range(self.rank))
        _assign(self.weight, w.reshape(-1, 1, *self.kernel_size))

    def _spatial_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "data_format": "channels_first",
            "dilation_rate": list(self.dilation_rate),
            "depth_multiplier": self.depth_multiplier,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
        }


class _DepthwiseConv(_Depthwise):
    def __init__(
        self,
        kernel_size: int | Sequence[int],
        strides: int | Sequence[int] = 1,
        padding: str = "valid",
        depth_multiplier: int = 1,
        data_format: str | None = None,
        dilation_rate: int | Sequence[int] = 1,
        activation: str | Callable[..., Any] | None = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        depthwise_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        depthwise_constraint: Any = None,
        bias_constraint: Any = None,
        name: str | None = None,
    ) -> None:
        multiplier = _check_multiplier(depth_multiplier)
        super().__init__(
            multiplier, kernel_size, strides, padding, data_format, dilation_rate, 1,
            activation, use_bias, depthwise_initializer, bias_initializer,
            depthwise_regularizer, bias_regularizer, activity_regularizer,
            depthwise_constraint, bias_constraint, name,
        )
        self.depth_multiplier = multiplier

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Create and initialise the depthwise kernel and the bias `(channels * m,)`."""
        if not self.has_uninitialized_params():
            return
        channels = self._channels_of(input_shape)
        out = channels * self.depth_multiplier
        with torch.inference_mode(False), torch.no_grad():
            self._materialize_depthwise(channels)
            self.filters = out
            if self.bias is not None:
                cast(UninitializedParameter, self.bias).materialize((out,))
                initializers.apply_initializer(
                    self.bias_initializer, self.bias, fan_in=out, fan_out=out)

    def initialize_parameters(self, inputs: Tensor, *args: Any, **kwargs: Any) -> None:
        """Lazy-module hook: build from the first input's shape."""
        if self.has_uninitialized_params():
            self.build(tuple(inputs.shape))
        else:  # materialised by load_state_dict before any call
            self.in_channels = self.groups = self.weight.shape[0] // self.depth_multiplier
            self.filters = self.weight.shape[0]

    def get_keras_weights(self) -> list[np.ndarray]:
        """`[depthwise_kernel (*kernel_size, channels, m), bias (channels * m,)]`."""
        _require_built(self, self.built, "get_keras_weights()")
        weights = [self._depthwise_to_keras()]
        if self.bias is not None:
            weights.append(_to_numpy(self.bias))
        return weights

    def set_keras_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Load `[depthwise_kernel, bias]` in Keras's layout (builds an unbuilt layer)."""
        first = _first_shape(self.name, weights)
        if not self.built and first is not None and len(first) == self.rank + 2:
            self.build((None, first[-2], *self.kernel_size))
        _require_built(self, self.built, "set_keras_weights()")
        expected = [("depthwise_kernel", self._depthwise_keras_shape())]
        if self.bias is not None:
            expected.append(("bias", (self.filters,)))
        arrays = _check_keras_weights(self.name, weights, expected)
        self._depthwise_from_keras(arrays[0])
        if self.bias is not None:
            _assign(self.bias, arrays[1])

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments (Keras's names)."""
        return {
            **self._spatial_config(),
            "depthwise_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "depthwise_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "depthwise_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
        }


class DepthwiseConv1D(_DepthwiseConv):
    """Keras's depthwise 1D convolution on `(batch, channels, length)` inputs.

    Example:
        >>> DepthwiseConv1D(3, depth_multiplier=2)(torch.zeros(2, 3, 10)).shape
        torch.Size([2, 6, 8])
    """

    rank = 1


class DepthwiseConv2D(_DepthwiseConv):
    """Keras's depthwise 2D convolution on `(batch, channels, height, width)` inputs.

    Example:
        >>> layer = DepthwiseConv2D(3, padding="same")
        >>> layer(torch.zeros(2, 5, 8, 8)).shape
        torch.Size([2, 5, 8, 8])
        >>> layer.get_keras_weights()[0].shape  # Keras's (*kernel, channels, multiplier)
        (3, 3, 5, 1)
    """

    rank = 2


class _SeparableConv(_Depthwise):
    pointwise_weight: nn.Parameter

    def __init__(
        self,
        filters: int,
        kernel_size: int | Sequence[int],
        strides: int | Sequence[int] = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: int | Sequence[int] = 1,
        depth_multiplier: int = 1,
        activation: str | Callable[..., Any] | None = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "glorot_uniform",
        pointwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        depthwise_regularizer: Any = None,
        pointwise_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        depthwise_constraint: Any = None,
        pointwise_constraint: Any = None,
        bias_constraint: Any = None,
        name: str | None = None,
    ) -> None:
        multiplier = _check_multiplier(depth_multiplier)
        super().__init__(
            filters, kernel_size, strides, padding, data_format, dilation_rate, 1,
            activation, use_bias, depthwise_initializer, bias_initializer,
            depthwise_regularizer, bias_regularizer, activity_regularizer,
            depthwise_constraint, bias_constraint, name,
        )
        self.depth_multiplier = multiplier
        self.pointwise_initializer = _get_initializer(pointwise_initializer)
        self.pointwise_regularizer = regularizers.get(
            pointwise_regularizer, arg_name="pointwise_regularizer")
        self.pointwise_constraint = constraints.get(
            pointwise_constraint, arg_name="pointwise_constraint")
        self.pointwise_weight = cast(nn.Parameter, UninitializedParameter())

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Create and initialise the depthwise kernel, the pointwise kernel and the bias."""
        if not self.has_uninitialized_params():
            return
        channels = self._channels_of(input_shape)
        middle = channels * self.depth_multiplier
        with torch.inference_mode(False), torch.no_grad():
            self._materialize_depthwise(channels)
            cast(UninitializedParameter, self.pointwise_weight).materialize(
                (self.filters, middle, *(1,) * self.rank))
            initializers.apply_initializer(
                self.pointwise_initializer, self.pointwise_weight, fan_in=middle,
                fan_out=self.filters)
            if self.bias is not None:
                cast(UninitializedParameter, self.bias).materialize((self.filters,))
                initializers.apply_initializer(
                    self.bias_initializer, self.bias, fan_in=self.filters, fan_out=self.filters)

    def initialize_parameters(self, inputs: Tensor, *args: Any, **kwargs: Any) -> None:
        """Lazy-module hook: build from the first input's shape."""
        if self.has_uninitialized_params():
            self.build(tuple(inputs.shape))
        else:  # materialised by load_state_dict before any call
            self.in_channels = self.groups = self.weight.shape[0] // self.depth_multiplier

    def forward(self, inputs: Tensor) -> Tensor:
        self._check_input(inputs)
        depthwise = self._convolve(inputs, self.weight, None, self.in_channels)
        outputs = _CONV_FNS[self.rank](depthwise, self.pointwise_weight, self.bias)
        if self._activation_fn is not None:
            outputs = self._activation_fn(outputs)
        if self.activity_regularizer is not None:
            penalty = self.activity_regularizer(outputs)
            batch = outputs.shape[0]
            self._activity_loss = penalty / batch if batch else penalty * 0
        return outputs

    def _pointwise_keras_shape(self) -> tuple[int, ...]:
        return (*(1,) * self.rank, self.in_channels * self.depth_multiplier, self.filters)

    def get_keras_weights(self) -> list[np.ndarray]:
        """`[depthwise_kernel, pointwise_kernel, bias]` in Keras's order and layout."""
        _require_built(self, self.built, "get_keras_weights()")
        pointwise = _to_numpy(self.pointwise_weight).reshape(self.filters, -1).T
        weights = [self._depthwise_to_keras(),
                   np.ascontiguousarray(pointwise).reshape(self._pointwise_keras_shape())]
        if self.bias is not None:
            weights.append(_to_numpy(self.bias))
        return weights

    def set_keras_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Load `[depthwise_kernel, pointwise_kernel, bias]` in Keras's layout."""
        first = _first_shape(self.name, weights)
        if not self.built and first is not None and len(first) == self.rank + 2:
            self.build((None, first[-2], *self.kernel_size))
        _require_built(self, self.built, "set_keras_weights()")
        expected = [("depthwise_kernel", self._depthwise_keras_shape()),
                    ("pointwise_kernel", self._pointwise_keras_shape())]
        if self.bias is not None:
            expected.append(("bias", (self.filters,)))
        arrays = _check_keras_weights(self.name, weights, expected)
        self._depthwise_from_keras(arrays[0])
        pointwise = arrays[1].reshape(-1, self.filters).T
        _assign(self.pointwise_weight, pointwise.reshape(self.pointwise_weight.shape))
        if self.bias is not None:
            _assign(self.bias, arrays[2])

    def regularization_losses(self) -> list[Tensor]:
        """Penalties in Keras's order: activity (last call), depthwise, pointwise, bias."""
        losses = [] if self._activity_loss is None else [self._activity_loss]
        if self.built:
            losses += _penalties([
                (self.kernel_regularizer, self.weight),
                (self.pointwise_regularizer, self.pointwise_weight),
                (self.bias_regularizer, self.bias),
            ])
        return losses

    def apply_constraints(self) -> None:
        """Project the kernels and bias with their constraints (after each optimizer step)."""
        if self.built:
            _project([(self.kernel_constraint, self.weight),
                      (self.pointwise_constraint, self.pointwise_weight),
                      (self.bias_constraint, self.bias)])

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments (Keras's names)."""
        return {
            **self._spatial_config(),
            "filters": self.filters,
            "depthwise_initializer": initializers.serialize(self.kernel_initializer),
            "pointwise_initializer": initializers.serialize(self.pointwise_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "depthwise_regularizer": regularizers.serialize(self.kernel_regularizer),
            "pointwise_regularizer": regularizers.serialize(self.pointwise_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "depthwise_constraint": constraints.serialize(self.kernel_constraint),
            "pointwise_constraint": constraints.serialize(self.pointwise_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
        }


class SeparableConv1D(_SeparableConv):
    """Keras's separable 1D convolution (depthwise, then 1x1) on `(batch, channels, length)`.

    Example:
        >>> SeparableConv1D(8, 3, depth_multiplier=2)(torch.zeros(2, 3, 10)).shape
        torch.Size([2, 8, 8])
    """

    rank = 1


class SeparableConv2D(_SeparableConv):
    """Keras's separable 2D convolution (depthwise, then 1x1) on `(batch, channels, h, w)`.

    Example:
        >>> SeparableConv2D(8, 3, strides=2, padding="same")(torch.zeros(2, 3, 9, 9)).shape
        torch.Size([2, 8, 5, 5])
    """

    rank = 2
