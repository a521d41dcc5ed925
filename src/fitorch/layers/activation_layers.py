"""Keras's activation layers: ReLU, LeakyReLU, PReLU, ELU and Softmax.

All work on tensors of any rank. PReLU has one weight, `alpha`, shaped like a
sample (`input.shape[1:]`) with size 1 on its `shared_axes`; those axes index
the channels-first input as given (axis 1 holds the channels).

Example:
    >>> import torch
    >>> from fitorch.layers import ReLU
    >>> ReLU(max_value=1.0)(torch.tensor([-1.0, 0.5, 3.0]))
    tensor([0.0000, 0.5000, 1.0000])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules.lazy import LazyModuleMixin
from torch.nn.parameter import UninitializedParameter

from fitorch import constraints, initializers, regularizers
from fitorch.layers.core import (
    _assign,
    _check_keras_weights,
    _first_shape,
    _get_initializer,
    _keras_param_counts,
    _NoWeights,
    _penalties,
    _project,
    _require_built,
    _resolve_name,
    _to_numpy,
)
from fitorch.layers.layer_api import LayerAPI

__all__ = ["ELU", "LeakyReLU", "PReLU", "ReLU", "Softmax", "keras_fans"]


def keras_fans(shape: Sequence[int]) -> tuple[int, int]:
    """`(fan_in, fan_out)` of a weight in Keras's layout (`(*receptive, in, out)`).

    Example:
        >>> keras_fans((3, 3, 4, 8))
        (36, 72)
    """
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def _non_negative(value: Any, arg: str, layer: str, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(
            f"`{arg}` of a {layer} layer must be a non-negative number"
            f"{' or None' if allow_none else ''}. "
            f"Received: {arg}={value!r} (of type {type(value).__name__})"
        )
    return float(value)


class _Elementwise(LayerAPI, _NoWeights, nn.Module):
    """A weightless activation layer: name, config round trip, repr."""

    supports_masking = True  # the input's Keras mask is handed on (Keras)

    def _config(self) -> dict[str, Any]:
        return {}

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {"name": self.name, **self._config()}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Any:
        """Create a layer from `get_config()`'s output."""
        return cls(**config)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())


class ReLU(_Elementwise):
    """Keras's ReLU layer: `x` above `threshold` (capped at `max_value`), else
    `negative_slope * (x - threshold)`.

    Example:
        >>> ReLU(negative_slope=0.1, threshold=1.0)(torch.tensor([0.0, 2.0]))
        tensor([-0.1000,  2.0000])
    """

    def __init__(
        self,
        max_value: float | None = None,
        negative_slope: float = 0.0,
        threshold: float = 0.0,
        name: str | None = None,
    ) -> None:
        self.max_value = _non_negative(max_value, "max_value", "ReLU", allow_none=True)
        self.negative_slope = cast(float, _non_negative(negative_slope, "negative_slope", "ReLU"))
        self.threshold = cast(float, _non_negative(threshold, "threshold", "ReLU"))
        super().__init__()
        self.name = _resolve_name(name, type(self))

    def forward(self, inputs: Tensor) -> Tensor:
        slope, cap, threshold = self.negative_slope, self.max_value, self.threshold
        if threshold == 0.0:
            if cap is None:
                return F.leaky_relu(inputs, slope) if slope else F.relu(inputs)
            if slope == 0.0:
                return F.hardtanh(inputs, 0.0, cap)
        # Keras's general form: x where x > threshold (else 0), clipped to
        # [0, max_value], minus slope * relu(threshold - x).
        positive = torch.where(inputs > threshold, inputs, torch.zeros_like(inputs))
        if cap is not None:
            positive = positive.clamp(0.0, cap)
        if slope:
            positive = positive - slope * F.relu(threshold - inputs)
        return positive

    def _config(self) -> dict[str, Any]:
        return {
            "max_value": self.max_value,
            "negative_slope": self.negative_slope,
            "threshold": self.threshold,
        }


class LeakyReLU(_Elementwise):
    """`x` if `x >= 0` else `negative_slope * x` (Keras's layer default slope is 0.3).

    Example:
        >>> LeakyReLU()(torch.tensor([-1.0, 2.0]))
        tensor([-0.3000,  2.0000])
    """

    def __init__(self, negative_slope: float = 0.3, name: str | None = None) -> None:
        self.negative_slope = cast(
            float, _non_negative(negative_slope, "negative_slope", "LeakyReLU")
        )
        super().__init__()
        self.name = _resolve_name(name, type(self))

    def forward(self, inputs: Tensor) -> Tensor:
        return F.leaky_relu(inputs, self.negative_slope)

    def _config(self) -> dict[str, Any]:
        return {"negative_slope": self.negative_slope}


class ELU(_Elementwise):
    """`x` if `x > 0` else `alpha * (exp(x) - 1)`.

    Example:
        >>> ELU()(torch.tensor([0.0, 1.0]))
        tensor([0., 1.])
    """

    def __init__(self, alpha: float = 1.0, name: str | None = None) -> None:
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
            raise ValueError(
                f"`alpha` of an ELU layer must be a number. "
                f"Received: alpha={alpha!r} (of type {type(alpha).__name__})"
            )
        self.alpha = float(alpha)
        super().__init__()
        self.name = _resolve_name(name, type(self))

    def forward(self, inputs: Tensor) -> Tensor:
        return F.elu(inputs, self.alpha)

    def _config(self) -> dict[str, Any]:
        return {"alpha": self.alpha}


class Softmax(_Elementwise):
    """Softmax along `axis` (an int or a tuple of ints; axes of the tensor as given).

    `mask` (broadcastable to the inputs; True or > 0.5 keeps a position) leaves
    masked positions out and gives them 0, as Keras's layer does.

    Example:
        >>> Softmax()(torch.zeros(1, 4))
        tensor([[0.2500, 0.2500, 0.2500, 0.2500]])
        >>> Softmax()(torch.zeros(1, 4), mask=torch.tensor([[1, 1, 0, 0]]))
        tensor([[0.5000, 0.5000, 0.0000, 0.0000]])
    """

    def __init__(self, axis: int | Sequence[int] = -1, name: str | None = None) -> None:
        axes = (axis,) if isinstance(axis, int) else axis
        if (
            isinstance(axes, (str, bytes))
            or not isinstance(axes, Sequence)
            or not axes
            or not all(isinstance(a, int) and not isinstance(a, bool) for a in axes)
        ):
            raise ValueError(
                "`axis` of a Softmax layer must be an int or a non-empty tuple of ints. "
                f"Received: axis={axis!r} (of type {type(axis).__name__})"
            )
        self.axis: int | tuple[int, ...] = axis if isinstance(axis, int) else tuple(axes)
        super().__init__()
        self.name = _resolve_name(name, type(self))

    def forward(self, inputs: Tensor, mask: Tensor | None = None) -> Tensor:
        if mask is not None:
            if mask.ndim > inputs.ndim or any(
                m != 1 and m != i for m, i in zip(reversed(mask.shape), reversed(inputs.shape))
            ):
                raise ValueError(
                    "The `mask` must be broadcastable to `inputs`. "
                    f"Received: inputs.shape={tuple(inputs.shape)}, "
                    f"mask.shape={tuple(mask.shape)} (of type {type(mask).__name__})"
                )
            if mask.dtype != torch.bool:
                mask = mask > 0.5
            # Keras's large negative number: -1e9, or the dtype's lowest for half types.
            fill = -1e9 if inputs.dtype not in (torch.float16, torch.bfloat16) else (
                torch.finfo(inputs.dtype).min)
            inputs = inputs.masked_fill(~mask, fill)
        if isinstance(self.axis, int):
            outputs = torch.softmax(inputs, dim=self.axis)
        else:
            outputs = torch.exp(inputs - torch.logsumexp(inputs, dim=self.axis, keepdim=True))
        if mask is not None:
            outputs = outputs.masked_fill(~mask, 0.0)
        return outputs

    def _config(self) -> dict[str, Any]:
        return {"axis": self.axis if isinstance(self.axis, int) else list(self.axis)}


class PReLU(LayerAPI, LazyModuleMixin, nn.Module):
    """Parametric ReLU: `x` if `x >= 0` else `alpha * x`, with a learned `alpha`.

    `alpha` is shaped like one sample (channels-first, `input.shape[1:]`), with
    size 1 on each of `shared_axes` (axes of the input, 1 = channels). For images
    `(N, C, H, W)`, `shared_axes=[2, 3]` learns one slope per channel, which
    Keras writes `shared_axes=[1, 2]` on channels-last images. In Keras's layout
    (`get_keras_weights`, `.weights.h5`) alpha is channels-last: `(*rest, C)`.

    Example:
        >>> layer = PReLU(shared_axes=[2, 3])
        >>> layer(torch.zeros(2, 3, 5, 5)).shape
        torch.Size([2, 3, 5, 5])
        >>> layer.alpha.shape, layer.get_keras_weights()[0].shape
        (torch.Size([3, 1, 1]), (1, 1, 3))
    """

    alpha: nn.Parameter

    def __init__(
        self,
        alpha_initializer: Any = "Zeros",
        alpha_regularizer: Any = None,
        alpha_constraint: Any = None,
        shared_axes: int | Sequence[int] | None = None,
        name: str | None = None,
    ) -> None:
        if shared_axes is None:
            axes: list[int] | None = None
        else:
            axes = [shared_axes] if isinstance(shared_axes, int) else list(shared_axes)
            if isinstance(shared_axes, (str, bytes)) or not all(
                isinstance(a, int) and not isinstance(a, bool) and a >= 1 for a in axes
            ):
                raise ValueError(
                    "`shared_axes` must be an int or a list of ints >= 1 (axis 0 is the batch). "
                    f"Received: shared_axes={shared_axes!r} (of type {type(shared_axes).__name__})"
                )
        super().__init__()
        self.name = _resolve_name(name, type(self))
        self.alpha_initializer = _get_initializer(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer, arg_name="alpha_regularizer")
        self.alpha_constraint = constraints.get(alpha_constraint, arg_name="alpha_constraint")
        self.shared_axes = axes
        self.alpha = cast(nn.Parameter, UninitializedParameter())

    @property
    def built(self) -> bool:
        """Whether `alpha` exists (after `build` or the first call)."""
        return not self.has_uninitialized_params()

    def _alpha_shape(self, input_shape: Sequence[int | None]) -> tuple[int, ...]:
        shape = list(input_shape[1:])
        for axis in self.shared_axes or ():
            if axis >= len(input_shape):
                raise ValueError(
                    f'Layer "{self.name}" shares axis {axis}, but its inputs have rank '
                    f"{len(input_shape)}. Received: input_shape={tuple(input_shape)} "
                    f"(of type {type(input_shape).__name__})"
                )
            shape[axis - 1] = 1
        if not all(isinstance(d, int) and d > 0 for d in shape):
            raise ValueError(
                f'Layer "{self.name}" needs the size of every axis it does not share. '
                f"Received: input_shape={tuple(input_shape)} (of type "
                f"{type(input_shape).__name__})"
            )
        return tuple(cast(int, d) for d in shape)

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Create and initialise `alpha` for inputs of `input_shape` (batch axis first).

        Example:
            >>> layer = PReLU()
            >>> layer.build((None, 4))
            >>> layer.alpha.shape
            torch.Size([4])
        """
        if self.built:
            return
        self._materialize(self._alpha_shape(input_shape))

    def _materialize(self, shape: tuple[int, ...]) -> None:
        keras_shape = self._keras_shape(shape)
        fan_in, fan_out = keras_fans(keras_shape)
        with torch.inference_mode(False), torch.no_grad():
            cast(UninitializedParameter, self.alpha).materialize(shape)
            initializers.apply_initializer(
                self.alpha_initializer, self.alpha, fan_in=fan_in, fan_out=fan_out
            )

    @staticmethod
    def _keras_shape(shape: Sequence[int]) -> tuple[int, ...]:
        # Channels-first sample (C, *rest) <-> Keras's channels-last (*rest, C).
        return (*shape[1:], shape[0]) if len(shape) >= 2 else tuple(shape)

    def initialize_parameters(self, inputs: Tensor, *args: Any, **kwargs: Any) -> None:
        """Lazy-module hook: build from the first input's shape."""
        if not self.built:
            self.build(tuple(inputs.shape))

    def forward(self, inputs: Tensor) -> Tensor:
        alpha = self.alpha
        if inputs.ndim != alpha.ndim + 1 or any(
            a != 1 and a != s for a, s in zip(alpha.shape, inputs.shape[1:])
        ):
            raise ValueError(
                f'Input of layer "{self.name}" is incompatible with the layer: its alpha has '
                f"shape {tuple(alpha.shape)} (one sample, channels first). "
                f"Received: inputs.shape={tuple(inputs.shape)} (of type {type(inputs).__name__})"
            )
        return torch.where(inputs >= 0, inputs, alpha * inputs)

    def regularization_losses(self) -> list[Tensor]:
        """The alpha penalty (for a trainable alpha), as Keras's `layer.losses`."""
        return _penalties([(self.alpha_regularizer, self.alpha)]) if self.built else []

    def apply_constraints(self) -> None:
        """Project alpha with its constraint (call after each optimizer step)."""
        if self.built:
            _project([(self.alpha_constraint, self.alpha)])

    def get_keras_weights(self) -> list[np.ndarray]:
        """`[alpha]` in Keras's channels-last layout, `(*rest, C)`."""
        _require_built(self, self.built, "get_keras_weights()")
        alpha = _to_numpy(self.alpha)
        return [np.ascontiguousarray(np.moveaxis(alpha, 0, -1)) if alpha.ndim >= 2 else alpha]

    def set_keras_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Load `[alpha]` in Keras's channels-last layout (builds an unbuilt layer from it)."""
        first = _first_shape(self.name, weights)
        if not self.built and first is not None:
            shape = (first[-1], *first[:-1]) if len(first) >= 2 else first
            self._materialize(tuple(shape))
        _require_built(self, self.built, "set_keras_weights()")
        (alpha,) = _check_keras_weights(
            self.name, weights, [("alpha", self._keras_shape(tuple(self.alpha.shape)))]
        )
        _assign(self.alpha, np.moveaxis(alpha, -1, 0) if alpha.ndim >= 2 else alpha)

    def keras_param_counts(self) -> tuple[int, int]:
        """`(trainable, non_trainable)` parameter counts, as Keras's `count_params` splits them."""
        return _keras_param_counts(self)

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments (built-ins JSON-able)."""
        return {
            "name": self.name,
            "alpha_initializer": initializers.serialize(self.alpha_initializer),
            "alpha_regularizer": regularizers.serialize(self.alpha_regularizer),
            "alpha_constraint": constraints.serialize(self.alpha_constraint),
            "shared_axes": self.shared_axes,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> PReLU:
        """Create a layer from `get_config()`'s output."""
        return cls(**config)

    def extra_repr(self) -> str:
        shape = None if not self.built else tuple(self.alpha.shape)
        return f"name={self.name!r}, shared_axes={self.shared_axes}, alpha_shape={shape}"


