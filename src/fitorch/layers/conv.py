"""Keras's convolution layers, channels-first: `Conv1D` on `(N, C, L)`, `Conv2D` on `(N, C, H, W)`.

Parameters are kept in PyTorch's layout, `weight` `(filters, in / groups, *kernel_size)`,
and initialised with the fans of Keras's kernel `(*kernel_size, in / groups, filters)`.
`padding="same"` pads exactly as Keras (and TensorFlow) do: when the total padding
is odd, the extra row/column goes at the end, which torch's own `padding="same"`
cannot express with strides > 1, so those cases pad explicitly with `F.pad`.

Example:
    >>> import torch
    >>> from fitorch.layers import Conv2D
    >>> Conv2D(8, 3, strides=2, padding="same")(torch.zeros(2, 3, 9, 9)).shape
    torch.Size([2, 8, 5, 5])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules.lazy import LazyModuleMixin
from torch.nn.parameter import UninitializedParameter

from fitorch import activations, constraints, initializers, regularizers
from fitorch.layers.core import (
    _assign,
    _check_keras_weights,
    _first_shape,
    _keras_param_counts,
    _KernelOptions,
    _penalties,
    _project,
    _require_built,
    _resolve_name,
    _to_numpy,
)
from fitorch.layers.layer_api import LayerAPI
from fitorch.layers.layout import channels_last_hint, warn_if_channels_last

__all__ = ["Conv1D", "Conv2D", "Conv3D", "same_padding", "standardize_tuple"]

_CONV_FNS: dict[int, Callable[..., Tensor]] = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_SPATIAL_NAMES = {1: "length", 2: "height, width", 3: "depth, height, width"}


def _layout_hint(shape: Sequence[int], channels: int) -> str:
    """The channels-last hint when the last axis holds the layer's channel count."""
    if len(shape) >= 3 and shape[-1] == channels and shape[1] != channels:
        return channels_last_hint(shape)
    if len(shape) == 3:  # most often a sequence from Embedding or a recurrent layer
        return (" fitorch layers are channels-first: inputs are (batch, channels, steps). "
                "Sequences from Embedding or the recurrent layers are (batch, steps, "
                "features): put a `Permute((2, 1))` layer before this one.")
    return ""


def standardize_tuple(value: Any, n: int, name: str) -> tuple[int, ...]:
    """An int or a sequence of `n` positive ints as a tuple of `n` ints (Keras's helper).

    Example:
        >>> standardize_tuple(3, 2, "kernel_size")
        (3, 3)
    """
    if isinstance(value, int) and not isinstance(value, bool):
        values: tuple[Any, ...] = (value,) * n
    elif isinstance(value, Sequence) and not isinstance(value, str):
        values = tuple(value)
    else:
        values = ()
    if len(values) != n or not all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values
    ):
        raise ValueError(
            f"The `{name}` argument must be a positive int or a tuple of {n} positive "
            f"integers. Received: {name}={value!r} (of type {type(value).__name__})"
        )
    return values


def standardize_padding(value: Any, allow_causal: bool = False) -> str:
    allowed = ("valid", "same", "causal") if allow_causal else ("valid", "same")
    padding = value.lower() if isinstance(value, str) else value
    if padding not in allowed:
        raise ValueError(
            f"The `padding` argument must be one of {list(allowed)}. "
            f"Received: padding={value!r} (of type {type(value).__name__})"
        )
    return cast(str, padding)


def standardize_data_format(value: Any) -> None:
    # fitorch layers follow PyTorch's layout; accepting "channels_first" lets Keras
    # code that spells it out run unchanged.
    if value not in (None, "channels_first"):
        raise ValueError(
            "fitorch layers are channels-first (PyTorch's layout): inputs are "
            "(batch, channels, *spatial). Transpose channels-last data first, e.g. "
            "`x.permute(0, 3, 1, 2)`. "
            f"Received: data_format={value!r} (of type {type(value).__name__})"
        )


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """`(before, after)` padding of one axis for Keras/TensorFlow's `"same"`.

    The output has `ceil(size / stride)` positions; an odd total padding puts the
    extra element at the end.

    Example:
        >>> same_padding(10, kernel=4, stride=2)  # 5 outputs need 2 + 4 = 12 inputs
        (1, 1)
        >>> same_padding(9, kernel=4, stride=1)
        (1, 2)
    """
    effective = (kernel - 1) * dilation + 1
    out = -(-size // stride)
    total = max(0, (out - 1) * stride + effective - size)
    return total // 2, total - total // 2


def _torch_pad(pads: Sequence[tuple[int, int]]) -> tuple[int, ...]:
    """`[(before, after)] * spatial axes` as `F.pad`'s argument (last axis first)."""
    return tuple(p for before_after in reversed(pads) for p in before_after)


class _Conv(LayerAPI, _KernelOptions, LazyModuleMixin, nn.Module):
    """Shared body of `Conv1D` / `Conv2D` (`rank` spatial axes)."""

    rank = 0
    weight: nn.Parameter
    bias: nn.Parameter | None

    def __init__(
        self,
        filters: int,
        kernel_size: int | Sequence[int],
        strides: int | Sequence[int] = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: int | Sequence[int] = 1,
        groups: int = 1,
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
        rank = self.rank
        if isinstance(filters, bool) or not isinstance(filters, int) or filters <= 0:
            raise ValueError(
                "Invalid value for argument `filters`: expected a positive integer. "
                f"Received: filters={filters!r} (of type {type(filters).__name__})"
            )
        if isinstance(groups, bool) or not isinstance(groups, int) or groups <= 0:
            raise ValueError(
                "The number of groups must be a positive integer. "
                f"Received: groups={groups!r} (of type {type(groups).__name__})"
            )
        if filters % groups:
            raise ValueError(
                "The number of filters must be evenly divisible by the number of groups. "
                f"Received: groups={groups}, filters={filters} (of type int)"
            )
        self_kernel = standardize_tuple(kernel_size, rank, "kernel_size")
        self_strides = standardize_tuple(strides, rank, "strides")
        self_dilation = standardize_tuple(dilation_rate, rank, "dilation_rate")
        if max(self_strides) > 1 and max(self_dilation) > 1:
            raise ValueError(
                "`strides > 1` not supported in conjunction with `dilation_rate > 1` "
                f"(as in Keras). Received: strides={self_strides} and "
                f"dilation_rate={self_dilation} (of type tuple)"
            )
        self_padding = standardize_padding(padding, allow_causal=rank == 1)
        standardize_data_format(data_format)
        super().__init__()
        self.name = _resolve_name(name, type(self))
        self.filters = filters
        self.kernel_size = self_kernel
        self.strides = self_strides
        self.padding = self_padding
        self.dilation_rate = self_dilation
        self.groups = groups
        self._set_kernel_options(
            activation, use_bias, kernel_initializer, bias_initializer,
            kernel_regularizer, bias_regularizer, activity_regularizer, kernel_constraint,
            bias_constraint,
        )
        self._activity_loss: Tensor | None = None
        self._static_padding, self._static_pad = self._padding_plan()

        self.in_channels = 0
        self.weight = cast(nn.Parameter, UninitializedParameter())
        if self.use_bias:
            self.bias = cast(nn.Parameter, UninitializedParameter())
        else:
            self.register_parameter("bias", None)

    def _padding_plan(self) -> tuple[tuple[int, ...] | None, tuple[int, ...] | None]:
        """Padding fixed at construction: `(conv_padding, F.pad argument)`, or `(None, None)`
        when it depends on the input size ("same" with strides > 1)."""
        if self.padding == "valid":
            return (0,) * self.rank, None
        if self.padding == "causal":  # Conv1D: all the padding before the sequence
            return (0,), ((self.kernel_size[0] - 1) * self.dilation_rate[0], 0)
        if max(self.strides) > 1:
            return None, None
        # Stride 1: the padding is the same for every input size.
        pads = [
            same_padding(1, k, 1, d) for k, d in zip(self.kernel_size, self.dilation_rate)
        ]
        if all(before == after for before, after in pads):
            return tuple(before for before, _ in pads), None
        return (0,) * self.rank, _torch_pad(pads)

    @property
    def built(self) -> bool:
        """Whether the parameters exist (after `build` or the first call)."""
        return not self.has_uninitialized_params()

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Create and initialise the parameters for inputs of `input_shape` (`(N, C, *spatial)`).

        Example:
            >>> layer = Conv2D(4, 3)
            >>> layer.build((None, 6, 8, 8))
            >>> layer.weight.shape
            torch.Size([4, 6, 3, 3])
        """
        if not self.has_uninitialized_params():
            return
        channels = input_shape[1] if len(input_shape) == self.rank + 2 else None
        if not isinstance(channels, int) or channels <= 0:
            raise ValueError(
                f'Layer "{self.name}" needs inputs of rank {self.rank + 2} (batch, channels, '
                f"{_SPATIAL_NAMES[self.rank]}) with a known number of "
                f"channels. Received: input_shape={tuple(input_shape)} "
                f"(of type {type(input_shape).__name__})"
            )
        if channels % self.groups:
            raise ValueError(
                "The number of input channels must be evenly divisible by the number of "
                f'groups. Layer "{self.name}" has groups={self.groups}. '
                f"Received: input_shape={tuple(input_shape)} (of type "
                f"{type(input_shape).__name__})"
            )
        warn_if_channels_last(self.name, input_shape)
        receptive = math.prod(self.kernel_size)
        fan_in = channels // self.groups * receptive
        fan_out = self.filters * receptive
        with torch.inference_mode(False), torch.no_grad():
            self.in_channels = channels
            shape = (self.filters, channels // self.groups, *self.kernel_size)
            cast(UninitializedParameter, self.weight).materialize(shape)
            initializers.apply_initializer(
                self.kernel_initializer, self.weight, fan_in=fan_in, fan_out=fan_out
            )
            if self.bias is not None:
                cast(UninitializedParameter, self.bias).materialize((self.filters,))
                initializers.apply_initializer(
                    self.bias_initializer, self.bias, fan_in=self.filters, fan_out=self.filters
                )

    def initialize_parameters(self, inputs: Tensor, *args: Any, **kwargs: Any) -> None:
        """Lazy-module hook: build from the first input's shape."""
        if self.has_uninitialized_params():
            self.build(tuple(inputs.shape))
        else:  # materialised by load_state_dict before any call
            self.in_channels = self.weight.shape[1] * self.groups

    def _check_input(self, inputs: Tensor) -> None:
        if inputs.ndim != self.rank + 2 or inputs.shape[1] != self.in_channels:
            raise ValueError(
                f'Input of layer "{self.name}" is incompatible with the layer: expected '
                f"rank {self.rank + 2} (channels first) with {self.in_channels} channels on "
                f"axis 1.{_layout_hint(inputs.shape, self.in_channels)} "
                f"Received: inputs.shape={tuple(inputs.shape)} "
                f"(of type {type(inputs).__name__})"
            )
        if self.padding == "valid":
            spatial = inputs.shape[2:]
            for size, k, d in zip(spatial, self.kernel_size, self.dilation_rate):
                if size < (k - 1) * d + 1:
                    raise ValueError(
                        f'Input of layer "{self.name}" is smaller than its kernel '
                        f"{self.kernel_size} (dilation {self.dilation_rate}) with "
                        f'padding="valid": the output would be empty.'
                        f"{channels_last_hint(inputs.shape)} "
                        f"Received: inputs.shape={tuple(inputs.shape)} "
                        f"(of type {type(inputs).__name__})"
                    )

    def forward(self, inputs: Tensor) -> Tensor:
        self._check_input(inputs)
        outputs = self._convolve(inputs, self.weight, self.bias, self.groups)
        if self._activation_fn is not None:
            outputs = self._activation_fn(outputs)
        if self.activity_regularizer is not None:
            penalty = self.activity_regularizer(outputs)
            batch = outputs.shape[0]
            self._activity_loss = penalty / batch if batch else penalty * 0
        return outputs

    def _convolve(self, inputs: Tensor, weight: Tensor, bias: Tensor | None,
                  groups: int) -> Tensor:
        """The convolution with Keras's padding (no activation)."""
        padding, pad = self._static_padding, self._static_pad
        if padding is None:  # "same" with strides > 1: depends on the input size
            pads = [
                same_padding(size, k, s, d)
                for size, k, s, d in zip(
                    inputs.shape[2:], self.kernel_size, self.strides, self.dilation_rate
                )
            ]
            if all(before == after for before, after in pads):
                padding, pad = tuple(before for before, _ in pads), None
            else:
                padding, pad = (0,) * self.rank, _torch_pad(pads)
        if pad is not None:
            inputs = F.pad(inputs, pad)
        return _CONV_FNS[self.rank](
            inputs, weight, bias, self.strides, padding, self.dilation_rate, groups
        )

    # --- Keras weights, regularization, constraints ----------------------------------

    def _keras_kernel_shape(self) -> tuple[int, ...]:
        return (*self.kernel_size, self.in_channels // self.groups, self.filters)

    def get_keras_weights(self) -> list[np.ndarray]:
        """`[kernel (*kernel_size, in / groups, filters), bias (filters,)]`, as Keras holds them.

        Example:
            >>> layer = Conv2D(4, 3)
            >>> layer.build((None, 2, 8, 8))
            >>> [w.shape for w in layer.get_keras_weights()]
            [(3, 3, 2, 4), (4,)]
        """
        _require_built(self, self.built, "get_keras_weights()")
        # PyTorch (out, in, *k) -> Keras (*k, in, out).
        order = (*range(2, self.rank + 2), 1, 0)
        weights = [np.ascontiguousarray(_to_numpy(self.weight).transpose(order))]
        if self.bias is not None:
            weights.append(_to_numpy(self.bias))
        return weights

    def set_keras_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Load `[kernel, bias]` in Keras's layout (builds an unbuilt layer from the kernel).

        Example:
            >>> layer = Conv1D(4, 3)
            >>> layer.set_keras_weights([np.zeros((3, 2, 4)), np.zeros(4)])
            >>> layer.weight.shape
            torch.Size([4, 2, 3])
        """
        first = _first_shape(self.name, weights)
        if not self.built and first is not None and len(first) == self.rank + 2:
            self.build((None, first[-2] * self.groups, *self.kernel_size))
        _require_built(self, self.built, "set_keras_weights()")
        expected = [("kernel", self._keras_kernel_shape())]
        if self.bias is not None:
            expected.append(("bias", (self.filters,)))
        arrays = _check_keras_weights(self.name, weights, expected)
        # Keras (*k, in, out) -> PyTorch (out, in, *k).
        _assign(self.weight, arrays[0].transpose(self.rank + 1, self.rank, *range(self.rank)))
        if self.bias is not None:
            _assign(self.bias, arrays[1])

    def keras_param_counts(self) -> tuple[int, int]:
        """`(trainable, non_trainable)` parameter counts, as Keras's `count_params` splits them."""
        return _keras_param_counts(self)

    def regularization_losses(self) -> list[Tensor]:
        """Penalties in Keras's `layer.losses` order: activity (last call), kernel, bias.

        Example:
            >>> layer = Conv1D(2, 3, kernel_regularizer="l2")
            >>> layer.build((None, 1, 5))
            >>> len(layer.regularization_losses())
            1
        """
        losses = [] if self._activity_loss is None else [self._activity_loss]
        if self.built:
            losses += _penalties(
                [(self.kernel_regularizer, self.weight), (self.bias_regularizer, self.bias)]
            )
        return losses

    def apply_constraints(self) -> None:
        """Project the parameters with their constraints (call after each optimizer step)."""
        if self.built:
            _project([(self.kernel_constraint, self.weight), (self.bias_constraint, self.bias)])

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments (built-ins JSON-able, custom callables as is)."""
        return {
            "name": self.name,
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "data_format": "channels_first",
            "dilation_rate": list(self.dilation_rate),
            "groups": self.groups,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> _Conv:
        """Create a layer from `get_config()`'s output."""
        return cls(**config)

    def extra_repr(self) -> str:
        return (
            f"name={self.name!r}, filters={self.filters}, kernel_size={self.kernel_size}, "
            f"strides={self.strides}, padding={self.padding!r}, "
            f"in_channels={self.in_channels or None}"
        )


class Conv1D(_Conv):
    """Keras's 1D convolution on channels-first `(batch, channels, length)` inputs.

    `padding` is `"valid"`, `"same"` (Keras/TensorFlow's, extra padding at the
    end) or `"causal"` (all the padding before the sequence).

    Example:
        >>> Conv1D(4, 3, padding="causal", dilation_rate=2)(torch.zeros(2, 3, 10)).shape
        torch.Size([2, 4, 10])
    """

    rank = 1


class Conv2D(_Conv):
    """Keras's 2D convolution on channels-first `(batch, channels, height, width)` inputs.

    Example:
        >>> layer = Conv2D(16, (3, 3), activation="relu", padding="same")
        >>> layer(torch.zeros(2, 3, 28, 28)).shape
        torch.Size([2, 16, 28, 28])
        >>> layer.get_keras_weights()[0].shape  # Keras's kernel layout
        (3, 3, 3, 16)
    """

    rank = 2


class Conv3D(_Conv):
    """Keras's 3D convolution on channels-first `(batch, channels, depth, height, width)` inputs.

    Example:
        >>> Conv3D(4, 3, padding="same")(torch.zeros(2, 3, 5, 6, 6)).shape
        torch.Size([2, 4, 5, 6, 6])
    """

    rank = 3
