"""Keras's `BatchNormalization` and `LayerNormalization` as `torch.nn.Module`s.

Both take Keras's arguments and defaults (`epsilon=1e-3`; batch norm's
`momentum=0.99` is Keras's: `moving = moving * momentum + batch * (1 - momentum)`,
the reverse of torch's convention). `BatchNormalization` normalises channels-first
data (`axis=1`) by default. Parameters use PyTorch's names (`weight` is Keras's
`gamma`, `bias` is `beta`, `running_mean` / `running_var` are the moving
statistics, kept as buffers); `gamma`, `beta`, `moving_mean` and
`moving_variance` are read-only aliases.

Example:
    >>> import torch
    >>> from fitorch.layers import BatchNormalization
    >>> bn = BatchNormalization()
    >>> bn(torch.randn(8, 3, 4, 4)).shape
    torch.Size([8, 3, 4, 4])
    >>> bn.running_mean.shape
    torch.Size([3])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules.lazy import LazyModuleMixin
from torch.nn.parameter import UninitializedBuffer, UninitializedParameter

from fitorch import constraints, initializers, regularizers
from fitorch.layers.core import (
    _assign,
    _check_keras_weights,
    _first_shape,
    _keras_param_counts,
    _penalties,
    _project,
    _require_built,
    _resolve_name,
    _to_numpy,
)
from fitorch.layers.layer_api import LayerAPI

__all__ = ["BatchNormalization", "LayerNormalization"]


def _initializer(identifier: Any, default: str) -> Any:
    init = initializers.get(identifier)
    return init if init is not None else initializers.get(default)


def _fill(init: Any, tensor: Tensor) -> None:
    # Keras's fans for a vector of n are (n, n); for an (a, b) matrix (a, b).
    shape = tuple(tensor.shape)
    fan_in, fan_out = (shape[0], shape[0]) if len(shape) == 1 else (shape[-2], shape[-1])
    initializers.apply_initializer(init, tensor, fan_in=fan_in, fan_out=fan_out)


def _check_float(value: Any, name: str, low: float, high: float | None = None) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok and (value < low or (high is not None and value > high)):
        ok = False
    if not ok:
        bounds = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(
            f"Argument `{name}` must be a number {bounds}. "
            f"Received: {name}={value!r} (of type {type(value).__name__})"
        )
    return float(value)


class BatchNormalization(LayerAPI, LazyModuleMixin, nn.Module):
    """Keras's batch normalization, over `axis` (default 1: channels-first).

    In training mode (`module.train()`, i.e. inside `fit`'s train step) the batch
    is normalised with its own mean and biased variance, and the moving
    statistics move towards them as Keras does (with the *biased* variance, where
    torch's BatchNorm uses the unbiased one); in eval mode the moving statistics
    normalise. The size of `axis` comes from the first input.

    Example:
        >>> bn = BatchNormalization(momentum=0.9)
        >>> _ = bn(torch.ones(4, 2) * torch.tensor([1.0, 3.0]))
        >>> bn.running_mean  # 0 * 0.9 + batch mean * 0.1
        tensor([0.1000, 0.3000])
    """

    supports_masking = True  # the input's Keras mask is handed on (Keras)

    weight: nn.Parameter | None
    bias: nn.Parameter | None
    running_mean: Tensor
    running_var: Tensor

    def __init__(
        self,
        axis: int = 1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        moving_mean_initializer: Any = "zeros",
        moving_variance_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        beta_constraint: Any = None,
        gamma_constraint: Any = None,
        synchronized: bool = False,
        renorm: bool = False,
        name: str | None = None,
    ) -> None:
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise TypeError(
                f"Argument `axis` must be an int. Received: axis={axis!r} "
                f"(of type {type(axis).__name__})"
            )
        if synchronized or renorm:
            raise ValueError(
                "fitorch's BatchNormalization supports neither `synchronized=True` (Keras "
                "supports it with TensorFlow only) nor `renorm=True`. "
                f"Received: synchronized={synchronized!r}, renorm={renorm!r} (of type bool)"
            )
        super().__init__()
        self.name = _resolve_name(name, type(self))
        self.axis = axis
        self.momentum = _check_float(momentum, "momentum", 0.0, 1.0)
        self.epsilon = _check_float(epsilon, "epsilon", 0.0)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = _initializer(beta_initializer, "zeros")
        self.gamma_initializer = _initializer(gamma_initializer, "ones")
        self.moving_mean_initializer = _initializer(moving_mean_initializer, "zeros")
        self.moving_variance_initializer = _initializer(moving_variance_initializer, "ones")
        self.beta_regularizer = regularizers.get(beta_regularizer, arg_name="beta_regularizer")
        self.gamma_regularizer = regularizers.get(gamma_regularizer, arg_name="gamma_regularizer")
        self.beta_constraint = constraints.get(beta_constraint, arg_name="beta_constraint")
        self.gamma_constraint = constraints.get(gamma_constraint, arg_name="gamma_constraint")

        self.num_features = 0
        self.weight = cast(nn.Parameter, UninitializedParameter()) if self.scale else None
        self.bias = cast(nn.Parameter, UninitializedParameter()) if self.center else None
        self.register_buffer("running_mean", UninitializedBuffer())
        self.register_buffer("running_var", UninitializedBuffer())

    # Keras's names for the same tensors.
    @property
    def gamma(self) -> Tensor | None:
        return self.weight

    @property
    def beta(self) -> Tensor | None:
        return self.bias

    @property
    def moving_mean(self) -> Tensor:
        return self.running_mean

    @property
    def moving_variance(self) -> Tensor:
        return self.running_var

    @property
    def built(self) -> bool:
        """Whether the parameters and moving statistics exist."""
        return not self.has_uninitialized_params()

    def _resolve_axis(self, ndim: int) -> int:
        axis = self.axis + ndim if self.axis < 0 else self.axis
        if not 0 <= axis < ndim:
            raise ValueError(
                f'Axis {self.axis} of layer "{self.name}" is out of bounds for inputs of rank '
                f"{ndim}. Received: axis={self.axis} (of type int)"
            )
        return axis

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Create the parameters and moving statistics for inputs of `input_shape`.

        Example:
            >>> bn = BatchNormalization()
            >>> bn.build((None, 5, 7))
            >>> bn.running_var.shape
            torch.Size([5])
        """
        if not self.has_uninitialized_params():
            return
        size = input_shape[self._resolve_axis(len(input_shape))]
        if not isinstance(size, int) or size <= 0:
            raise ValueError(
                f'Layer "{self.name}" needs a known, positive size on axis {self.axis}. '
                f"Received: input_shape={tuple(input_shape)} (of type "
                f"{type(input_shape).__name__})"
            )
        with torch.inference_mode(False), torch.no_grad():
            self.num_features = size
            for tensor, init in (
                (self.weight, self.gamma_initializer),
                (self.bias, self.beta_initializer),
                (self.running_mean, self.moving_mean_initializer),
                (self.running_var, self.moving_variance_initializer),
            ):
                if tensor is not None:
                    cast(UninitializedParameter, tensor).materialize((size,))
                    _fill(init, tensor)

    def initialize_parameters(self, inputs: Tensor, *args: Any, **kwargs: Any) -> None:
        """Lazy-module hook: build from the first input's shape."""
        if self.has_uninitialized_params():
            self.build(tuple(inputs.shape))
        else:  # materialised by load_state_dict before any call
            self.num_features = self.running_mean.shape[0]

    def forward(self, inputs: Tensor) -> Tensor:
        axis = self._resolve_axis(inputs.ndim)
        if inputs.shape[axis] != self.num_features:
            raise ValueError(
                f'Input of layer "{self.name}" is incompatible with the layer: expected axis '
                f"{self.axis} of size {self.num_features}. "
                f"Received: inputs.shape={tuple(inputs.shape)} (of type {type(inputs).__name__})"
            )
        # torch's fused kernels normalise axis 1; other axes move there (a view).
        x = inputs if axis == 1 else inputs.movedim(axis, 1)
        if self.training:
            outputs = self._train_forward(x)
        else:
            outputs = F.batch_norm(
                x, self.running_mean, self.running_var, self.weight, self.bias,
                False, 0.0, self.epsilon,
            )
        return outputs if axis == 1 else outputs.movedim(1, axis)

    def _train_forward(self, x: Tensor) -> Tensor:
        synced = self.__dict__.get("_sync_statistics")
        if synced is not None:
            return self._synced_train_forward(x, synced)
        count = x.numel() // max(1, x.shape[1])  # values per channel (Python ints: no sync)
        if count == 0:  # an empty batch has no statistics to learn from
            return x.clone()
        if count > 1:
            # With fresh statistics and momentum 1, torch's fused kernel writes the
            # batch mean and the *unbiased* batch variance into them; Keras moves
            # its statistics with the biased one.
            mean = torch.zeros_like(self.running_mean)
            var = torch.ones_like(self.running_var)
            outputs = F.batch_norm(x, mean, var, self.weight, self.bias, True, 1.0, self.epsilon)
            var_factor = (count - 1) / count
        else:  # one value per channel: torch's kernel refuses it, Keras gives beta
            dims = [d for d in range(x.ndim) if d != 1]
            var_k, mean_k = torch.var_mean(x, dim=dims, correction=0, keepdim=True)
            shape = [1] * x.ndim
            shape[1] = self.num_features
            outputs = (x - mean_k) * torch.rsqrt(var_k + self.epsilon)
            if self.weight is not None:
                outputs = outputs * self.weight.view(shape)
            if self.bias is not None:
                outputs = outputs + self.bias.view(shape)
            mean, var = mean_k.detach().flatten(), var_k.detach().flatten()
            var_factor = 1.0
        m = self.momentum
        with torch.no_grad():
            self.running_mean.mul_(m).add_(mean.to(self.running_mean.dtype), alpha=1.0 - m)
            self.running_var.mul_(m).add_(
                var.to(self.running_var.dtype), alpha=(1.0 - m) * var_factor
            )
        return outputs

    def _synced_train_forward(self, x: Tensor, all_reduce: Any) -> Tensor:
        """Training-mode normalization with the statistics of the global batch
        (`DataParallel(sync_batchnorm=True)`): per-channel sums, sums of squares and
        counts summed over the ranks (differentiably), then Keras's formula."""
        c = self.num_features
        dims = [d for d in range(x.ndim) if d != 1]
        count = x.numel() // max(1, c)
        stats = torch.cat([x.sum(dims), (x * x).sum(dims),
                           x.new_full((1,), float(count))]).float()
        stats = all_reduce(stats)
        n = stats[-1].clamp_min(1.0)
        mean = stats[:c] / n
        var = (stats[c : 2 * c] / n - mean * mean).clamp_min(0.0)
        shape = [1] * x.ndim
        shape[1] = c
        outputs = (x - mean.view(shape).to(x.dtype)) * torch.rsqrt(
            var.view(shape) + self.epsilon).to(x.dtype)
        if self.weight is not None:
            outputs = outputs * self.weight.view(shape)
        if self.bias is not None:
            outputs = outputs + self.bias.view(shape)
        m = self.momentum
        with torch.no_grad():
            self.running_mean.mul_(m).add_(mean.detach().to(self.running_mean.dtype),
                                           alpha=1.0 - m)
            self.running_var.mul_(m).add_(var.detach().to(self.running_var.dtype),
                                          alpha=1.0 - m)
        return outputs

    # --- Keras weights, regularization, constraints ----------------------------------

    def _keras_tensors(self) -> list[tuple[str, Tensor]]:
        named = [("gamma", self.weight), ("beta", self.bias),
                 ("moving_mean", self.running_mean), ("moving_variance", self.running_var)]
        return [(n, t) for n, t in named if t is not None]

    def get_keras_weights(self) -> list[np.ndarray]:
        """`[gamma, beta, moving_mean, moving_variance]` (those that exist), as in Keras.

        Example:
            >>> bn = BatchNormalization(center=False)
            >>> bn.build((None, 3))
            >>> len(bn.get_keras_weights())  # gamma, moving_mean, moving_variance
            3
        """
        _require_built(self, self.built, "get_keras_weights()")
        return [_to_numpy(t) for _, t in self._keras_tensors()]

    def set_keras_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Load `[gamma, beta, moving_mean, moving_variance]` (builds an unbuilt layer).

        Example:
            >>> bn = BatchNormalization()
            >>> bn.set_keras_weights([np.ones(2), np.zeros(2), np.zeros(2), np.ones(2)])
            >>> bn.num_features
            2
        """
        first = _first_shape(self.name, weights)
        if not self.built and first is not None and len(first) == 1:
            # Any input shape with the weights' size on `axis` builds the layer.
            shape = [1] * max(2, self.axis + 1 if self.axis >= 0 else -self.axis)
            shape[self.axis] = first[0]
            self.build(tuple(shape))
        _require_built(self, self.built, "set_keras_weights()")
        named = self._keras_tensors()
        expected = [(n, (self.num_features,)) for n, _ in named]
        arrays = _check_keras_weights(self.name, weights, expected)
        for (_, tensor), array in zip(named, arrays):
            _assign(tensor, array)

    def keras_param_counts(self) -> tuple[int, int]:
        """`(trainable, non_trainable)`: gamma/beta, then the moving statistics (Keras's split).

        Example:
            >>> bn = BatchNormalization()
            >>> bn.build((None, 4))
            >>> bn.keras_param_counts()
            (8, 8)
        """
        buffers = [self.running_mean, self.running_var] if self.built else []
        return _keras_param_counts(self, buffers)

    def regularization_losses(self) -> list[Tensor]:
        """Penalties in Keras's order: gamma, beta."""
        if not self.built:
            return []
        return _penalties(
            [(self.gamma_regularizer, self.weight), (self.beta_regularizer, self.bias)]
        )

    def apply_constraints(self) -> None:
        """Project gamma and beta with their constraints (after each optimizer step)."""
        if self.built:
            _project([(self.gamma_constraint, self.weight), (self.beta_constraint, self.bias)])

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {
            "name": self.name,
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": initializers.serialize(
                self.moving_variance_initializer
            ),
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
            "beta_constraint": constraints.serialize(self.beta_constraint),
            "gamma_constraint": constraints.serialize(self.gamma_constraint),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BatchNormalization:
        """Create a layer from `get_config()`'s output."""
        return cls(**config)

    def extra_repr(self) -> str:
        return (
            f"name={self.name!r}, axis={self.axis}, num_features={self.num_features or None}, "
            f"momentum={self.momentum}, epsilon={self.epsilon}"
        )


class LayerNormalization(LayerAPI, LazyModuleMixin, nn.Module):
    """Keras's layer normalization over `axis` (an int or a list of ints; default -1).

    Each sample is normalised over the given axes with its mean and biased
    variance, then scaled by `gamma` (`weight`) and shifted by `beta` (`bias`),
    whose shape is the input's size on those axes.

    Example:
        >>> ln = LayerNormalization()
        >>> out = ln(torch.tensor([[1.0, 2.0, 3.0]]))
        >>> torch.allclose(out.mean(), torch.tensor(0.0), atol=1e-6)
        True
    """

    supports_masking = True  # the input's Keras mask is handed on (Keras)

    weight: nn.Parameter | None
    bias: nn.Parameter | None

    def __init__(
        self,
        axis: int | Sequence[int] = -1,
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
        if isinstance(axis, int) and not isinstance(axis, bool):
            axes: tuple[int, ...] = (axis,)
        elif isinstance(axis, Sequence) and not isinstance(axis, str) and len(axis) and all(
            isinstance(a, int) and not isinstance(a, bool) for a in axis
        ):
            axes = tuple(axis)
        else:
            raise TypeError(
                "Expected an int or a list/tuple of ints for the argument `axis`. "
                f"Received: axis={axis!r} (of type {type(axis).__name__})"
            )
        super().__init__()
        self.name = _resolve_name(name, type(self))
        self.axis = axis if isinstance(axis, int) else list(axes)
        self._axes = axes
        self.epsilon = _check_float(epsilon, "epsilon", 0.0)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = _initializer(beta_initializer, "zeros")
        self.gamma_initializer = _initializer(gamma_initializer, "ones")
        self.beta_regularizer = regularizers.get(beta_regularizer, arg_name="beta_regularizer")
        self.gamma_regularizer = regularizers.get(gamma_regularizer, arg_name="gamma_regularizer")
        self.beta_constraint = constraints.get(beta_constraint, arg_name="beta_constraint")
        self.gamma_constraint = constraints.get(gamma_constraint, arg_name="gamma_constraint")

        self.normalized_shape: tuple[int, ...] = ()
        self.weight = cast(nn.Parameter, UninitializedParameter()) if self.scale else None
        self.bias = cast(nn.Parameter, UninitializedParameter()) if self.center else None
        if not (self.scale or self.center):
            self.normalized_shape = (-1,)  # nothing to size: "built" from the start

    @property
    def gamma(self) -> Tensor | None:
        return self.weight

    @property
    def beta(self) -> Tensor | None:
        return self.bias

    @property
    def built(self) -> bool:
        """Whether the parameters exist."""
        return not self.has_uninitialized_params()

    def _resolve_axes(self, ndim: int) -> list[int]:
        axes = sorted(a + ndim if a < 0 else a for a in self._axes)
        if any(not 0 <= a < ndim for a in axes) or len(set(axes)) != len(axes):
            raise ValueError(
                f'Axis {self.axis} of layer "{self.name}" is out of bounds (or repeated) for '
                f"inputs of rank {ndim}. Received: axis={self.axis} "
                f"(of type {type(self.axis).__name__})"
            )
        return axes

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Create gamma and beta for inputs of `input_shape`.

        Example:
            >>> ln = LayerNormalization(axis=[1, 2])
            >>> ln.build((None, 3, 4))
            >>> ln.weight.shape
            torch.Size([3, 4])
        """
        if not self.has_uninitialized_params():
            return
        shape = tuple(input_shape[a] for a in self._resolve_axes(len(input_shape)))
        if not all(isinstance(s, int) and s > 0 for s in shape):
            raise ValueError(
                f'Layer "{self.name}" needs known, positive sizes on axis {self.axis}. '
                f"Received: input_shape={tuple(input_shape)} (of type "
                f"{type(input_shape).__name__})"
            )
        sizes = cast(tuple[int, ...], shape)
        with torch.inference_mode(False), torch.no_grad():
            self.normalized_shape = sizes
            for tensor, init in ((self.weight, self.gamma_initializer),
                                 (self.bias, self.beta_initializer)):
                if tensor is not None:
                    cast(UninitializedParameter, tensor).materialize(sizes)
                    _fill(init, tensor)

    def initialize_parameters(self, inputs: Tensor, *args: Any, **kwargs: Any) -> None:
        """Lazy-module hook: build from the first input's shape."""
        if self.has_uninitialized_params():
            self.build(tuple(inputs.shape))
        else:  # materialised by load_state_dict before any call
            param = self.weight if self.weight is not None else self.bias
            self.normalized_shape = tuple(param.shape) if param is not None else (-1,)

    def forward(self, inputs: Tensor) -> Tensor:
        axes = self._resolve_axes(inputs.ndim)
        shape = tuple(inputs.shape[a] for a in axes)
        if self.normalized_shape != (-1,) and shape != self.normalized_shape:
            raise ValueError(
                f'Input of layer "{self.name}" is incompatible with the layer: expected sizes '
                f"{self.normalized_shape} on axis {self.axis}. "
                f"Received: inputs.shape={tuple(inputs.shape)} (of type {type(inputs).__name__})"
            )
        if axes == list(range(inputs.ndim - len(axes), inputs.ndim)):
            # Trailing axes: torch's fused kernel (computed in float32 under autocast).
            return F.layer_norm(inputs, shape, self.weight, self.bias, self.epsilon)
        var, mean = torch.var_mean(inputs, dim=axes, correction=0, keepdim=True)
        outputs = (inputs - mean) * torch.rsqrt(var + self.epsilon)
        broadcast = [1] * inputs.ndim
        for a in axes:
            broadcast[a] = inputs.shape[a]
        if self.weight is not None:
            outputs = outputs * self.weight.view(broadcast)
        if self.bias is not None:
            outputs = outputs + self.bias.view(broadcast)
        return outputs

    def get_keras_weights(self) -> list[np.ndarray]:
        """`[gamma, beta]` (those that exist), as in Keras."""
        _require_built(self, self.built, "get_keras_weights()")
        return [_to_numpy(t) for t in (self.weight, self.bias) if t is not None]

    def set_keras_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Load `[gamma, beta]` (builds an unbuilt layer whose axis is -1 from them).

        Example:
            >>> ln = LayerNormalization()
            >>> ln.set_keras_weights([np.ones(3), np.zeros(3)])
            >>> ln.normalized_shape
            (3,)
        """
        first = _first_shape(self.name, weights)
        if not self.built and first is not None and self._axes == (-1,) and len(first) == 1:
            self.build((1, first[0]))
        _require_built(self, self.built, "set_keras_weights()")
        named = [(n, t) for n, t in (("gamma", self.weight), ("beta", self.bias)) if t is not None]
        expected = [(n, tuple(t.shape)) for n, t in named]
        arrays = _check_keras_weights(self.name, weights, expected)
        for (_, tensor), array in zip(named, arrays):
            _assign(tensor, array)

    def keras_param_counts(self) -> tuple[int, int]:
        """`(trainable, non_trainable)` parameter counts, as Keras's `count_params` splits them."""
        return _keras_param_counts(self)

    def regularization_losses(self) -> list[Tensor]:
        """Penalties in Keras's order: gamma, beta."""
        if not self.built:
            return []
        return _penalties(
            [(self.gamma_regularizer, self.weight), (self.beta_regularizer, self.bias)]
        )

    def apply_constraints(self) -> None:
        """Project gamma and beta with their constraints (after each optimizer step)."""
        if self.built:
            _project(
                [(self.gamma_constraint, self.weight), (self.beta_constraint, self.bias)],
                keras_layout=True,  # multi-axis gamma/beta have Keras's shape
            )

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {
            "name": self.name,
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
            "beta_constraint": constraints.serialize(self.beta_constraint),
            "gamma_constraint": constraints.serialize(self.gamma_constraint),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LayerNormalization:
        """Create a layer from `get_config()`'s output."""
        return cls(**config)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, axis={self.axis}, epsilon={self.epsilon}"
