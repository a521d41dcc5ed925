"""Keras's `UnitNormalization` and `GroupNormalization`.

`GroupNormalization` normalises groups of channels on channels-first data
(`axis=1`, the channels, by default: Keras's `axis=-1` on channels-last data),
through torch's fused `group_norm`. Its weights are `weight` (Keras's `gamma`)
and `bias` (`beta`), both `(channels,)`.

Example:
    >>> import torch
    >>> from fitorch.layers import GroupNormalization, UnitNormalization
    >>> GroupNormalization(groups=2)(torch.randn(4, 6, 5, 5)).shape
    torch.Size([4, 6, 5, 5])
    >>> UnitNormalization()(torch.tensor([[3.0, 4.0]]))
    tensor([[0.6000, 0.8000]])
"""

from __future__ import annotations

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
from fitorch.layers.normalization import _check_float

__all__ = ["GroupNormalization", "UnitNormalization"]


def _axes(axis: Any, arg: str = "axis") -> tuple[int, ...]:
    axes = (axis,) if isinstance(axis, int) and not isinstance(axis, bool) else axis
    if (
        isinstance(axes, (str, bytes)) or not isinstance(axes, Sequence) or not axes
        or not all(isinstance(a, int) and not isinstance(a, bool) for a in axes)
    ):
        raise TypeError(
            f"Invalid value for `{arg}` argument: expected an int or a list/tuple of ints. "
            f"Received: {arg}={axis!r} (of type {type(axis).__name__})"
        )
    return tuple(axes)


class UnitNormalization(LayerAPI, _NoWeights, nn.Module):
    """Scale each vector along `axis` (an int or a list) to unit L2 norm.

    Example:
        >>> UnitNormalization(axis=1)(torch.tensor([[3.0], [4.0]]).T)
        tensor([[0.6000, 0.8000]])
    """

    supports_masking = True  # the input's Keras mask is handed on (Keras)

    def __init__(self, axis: int | Sequence[int] = -1, name: str | None = None) -> None:
        axes = _axes(axis)
        super().__init__()
        self.name = _resolve_name(name, type(self))
        self.axis: int | list[int] = axis if isinstance(axis, int) else list(axes)
        self._dims = axes

    def forward(self, inputs: Tensor) -> Tensor:
        squares = inputs.square().sum(dim=self._dims, keepdim=True)
        # Keras: x * min(rsqrt(sum x^2), 1 / 1e-12), i.e. a norm floored at 1e-12.
        return inputs * torch.rsqrt(squares).clamp_max(1e12)

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {"name": self.name, "axis": self.axis}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> UnitNormalization:
        """Create a layer from `get_config()`'s output."""
        return cls(**config)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, axis={self.axis}"


class GroupNormalization(LayerAPI, LazyModuleMixin, nn.Module):
    """Normalise `groups` groups of channels (axis 1 by default) per sample.

    `groups=-1` gives one group per channel (instance normalization), `groups=1`
    one for all (layer normalization over channels and space). The channel count
    must be a multiple of `groups`.

    Example:
        >>> layer = GroupNormalization(groups=4)
        >>> layer(torch.randn(2, 8, 3, 3)).shape, layer.weight.shape
        (torch.Size([2, 8, 3, 3]), torch.Size([8]))
    """

    weight: nn.Parameter | None
    bias: nn.Parameter | None

    def __init__(
        self,
        groups: int = 32,
        axis: int = 1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        beta_constraint: Any = None,
        gamma_constraint: Any = None,
        name: str | None = None,
    ) -> None:
        if isinstance(groups, bool) or not isinstance(groups, int) or groups == 0 or groups < -1:
            raise ValueError(
                "Argument `groups` must be a positive integer or -1 (one group per channel). "
                f"Received: groups={groups!r} (of type {type(groups).__name__})"
            )
        (axis,) = _axes(axis) if isinstance(axis, int) else (None,)
        if axis is None:
            raise TypeError(f"Argument `axis` must be an int. Received: axis={axis!r}")
        super().__init__()
        self.name = _resolve_name(name, type(self))
        self.groups = groups
        self.axis = axis
        self.epsilon = _check_float(epsilon, "epsilon", 0.0)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = _get_initializer(beta_initializer)
        self.gamma_initializer = _get_initializer(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer, arg_name="beta_regularizer")
        self.gamma_regularizer = regularizers.get(gamma_regularizer, arg_name="gamma_regularizer")
        self.beta_constraint = constraints.get(beta_constraint, arg_name="beta_constraint")
        self.gamma_constraint = constraints.get(gamma_constraint, arg_name="gamma_constraint")
        self.channels = 0
        for attr, wanted in (("weight", self.scale), ("bias", self.center)):
            if wanted:
                setattr(self, attr, cast(nn.Parameter, UninitializedParameter()))
            else:
                self.register_parameter(attr, None)

    @property
    def built(self) -> bool:
        """Whether the layer knows its channels (after `build` or the first call)."""
        if self.weight is None and self.bias is None:
            return self.channels > 0
        return not self.has_uninitialized_params()

    def _built_channels(self) -> int:
        param = self.weight if self.weight is not None else self.bias
        if param is not None and not isinstance(param, UninitializedParameter):
            return int(param.shape[0])  # also after load_state_dict into a fresh layer
        return self.channels

    def _channels_of(self, input_shape: Sequence[int | None]) -> int:
        rank = len(input_shape)
        axis = self.axis + rank if self.axis < 0 else self.axis
        channels = input_shape[axis] if 0 < axis < rank else None
        groups = channels if self.groups == -1 else self.groups
        if not isinstance(channels, int) or channels % cast(int, groups):
            raise ValueError(
                f'Layer "{self.name}" normalises axis {self.axis} in {self.groups} groups: the '
                "axis must exist (not the batch axis) and its size be a multiple of `groups`. "
                f"Received: input_shape={tuple(input_shape)} (of type "
                f"{type(input_shape).__name__})"
            )
        return channels

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Create `weight` (gamma) and `bias` (beta) for the channels of `input_shape`."""
        self._materialize(self._channels_of(input_shape))

    def _materialize(self, channels: int) -> None:
        self.channels = channels
        if not self.has_uninitialized_params():
            return
        with torch.inference_mode(False), torch.no_grad():
            for param, init in ((self.weight, self.gamma_initializer),
                                (self.bias, self.beta_initializer)):
                if param is not None:
                    cast(UninitializedParameter, param).materialize((channels,))
                    initializers.apply_initializer(init, param, fan_in=channels,
                                                   fan_out=channels)

    def initialize_parameters(self, inputs: Tensor, *args: Any, **kwargs: Any) -> None:
        """Lazy-module hook: build from the first input's shape."""
        self.build(tuple(inputs.shape))

    def forward(self, inputs: Tensor) -> Tensor:
        channels = self._channels_of(tuple(inputs.shape))
        self.channels = self._built_channels()
        if self.channels and channels != self.channels:
            raise ValueError(
                f'Input of layer "{self.name}" has {channels} channels on axis {self.axis}, '
                f"but the layer was built for {self.channels}. "
                f"Received: inputs.shape={tuple(inputs.shape)} (of type {type(inputs).__name__})"
            )
        groups = channels if self.groups == -1 else self.groups
        x = inputs if self.axis in (1, 1 - inputs.ndim) else inputs.movedim(self.axis, 1)
        if x.ndim == 2:
            x = x.unsqueeze(-1)  # group_norm needs a spatial axis; one position changes nothing
        compute = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
        out = F.group_norm(compute, groups, self.weight, self.bias, self.epsilon).to(x.dtype)
        if inputs.ndim == 2:
            out = out.squeeze(-1)
        return out if self.axis in (1, 1 - inputs.ndim) else out.movedim(1, self.axis)

    def regularization_losses(self) -> list[Tensor]:
        """Penalties in Keras's order: gamma, beta."""
        if not self.built:
            return []
        return _penalties([(self.gamma_regularizer, self.weight),
                           (self.beta_regularizer, self.bias)])

    def apply_constraints(self) -> None:
        """Project gamma and beta with their constraints (after each optimizer step)."""
        if self.built:
            _project([(self.gamma_constraint, self.weight), (self.beta_constraint, self.bias)])

    def get_keras_weights(self) -> list[np.ndarray]:
        """`[gamma, beta]` (those that exist), as Keras orders them."""
        _require_built(self, self.built, "get_keras_weights()")
        return [_to_numpy(p) for p in (self.weight, self.bias) if p is not None]

    def set_keras_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Load `[gamma, beta]` (builds an unbuilt layer from their size)."""
        first = _first_shape(self.name, weights)
        if not self.built and first is not None and len(first) == 1:
            self._materialize(first[0])
        _require_built(self, self.built, "set_keras_weights()")
        self.channels = self._built_channels()
        params = [(n, p) for n, p in (("gamma", self.weight), ("beta", self.bias)) if p is not None]
        expected = [(n, (self.channels,)) for n, _ in params]
        arrays = _check_keras_weights(self.name, weights, expected)
        for (_, param), array in zip(params, arrays):
            _assign(cast(Tensor, param), array)

    def keras_param_counts(self) -> tuple[int, int]:
        """`(trainable, non_trainable)` parameter counts, as Keras's `count_params` splits them."""
        return _keras_param_counts(self)

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments (built-ins JSON-able)."""
        return {
            "name": self.name, "groups": self.groups, "axis": self.axis,
            "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
            "beta_constraint": constraints.serialize(self.beta_constraint),
            "gamma_constraint": constraints.serialize(self.gamma_constraint),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> GroupNormalization:
        """Create a layer from `get_config()`'s output."""
        return cls(**config)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, groups={self.groups}, axis={self.axis}"
