"""Keras's numeric preprocessing layers that run in torch: `Rescaling` and `Normalization`.

`Normalization` learns a mean and variance from data with `adapt()` (or takes
them as arguments) and standardises inputs with them; they are buffers, saved
with the model and moved with it. `axis` names the axes that keep their own
statistics, indexing the tensors as given: -1 (the default) is the feature axis
of `(batch, features)` data; for channels-first images pass `axis=1`.

Example:
    >>> import numpy as np
    >>> from fitorch.layers import Normalization
    >>> layer = Normalization()
    >>> layer.adapt(np.array([[0.0, 10.0], [2.0, 30.0]]))
    >>> layer(torch.tensor([[1.0, 20.0]]))
    tensor([[0., 0.]])
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.modules.lazy import LazyModuleMixin
from torch.nn.parameter import UninitializedBuffer

from fitorch.layers.core import (
    _assign,
    _check_keras_weights,
    _NoWeights,
    _require_built,
    _resolve_name,
    _to_numpy,
)
from fitorch.layers.layer_api import LayerAPI

__all__ = ["Normalization", "Rescaling"]

_EPSILON = 1e-7  # Keras's backend.epsilon(): the floor of the standard deviation


def _number_or_numbers(value: Any, arg: str) -> float | list[float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    try:
        array = np.asarray(value, dtype="float64")
    except (TypeError, ValueError):
        array = None
    if array is None or array.ndim == 0 or array.size == 0:
        raise ValueError(
            f"Argument `{arg}` must be a number or a list of numbers. "
            f"Received: {arg}={value!r} (of type {type(value).__name__})"
        )
    return array.tolist()


class Rescaling(LayerAPI, _NoWeights, nn.Module):
    """`inputs * scale + offset`, in the default float dtype for integer inputs (images).

    `scale` and `offset` are numbers or lists broadcast against the trailing axes
    of the inputs as given (a per-channel list on `(N, C, H, W)` images needs the
    shape `[[[a]], [[b]], [[c]]]`).

    Example:
        >>> Rescaling(1 / 255)(torch.tensor([0, 255], dtype=torch.uint8))
        tensor([0., 1.])
    """

    def __init__(self, scale: float | Sequence[Any], offset: float | Sequence[Any] = 0.0,
                 name: str | None = None) -> None:
        self.scale = _number_or_numbers(scale, "scale")
        self.offset = _number_or_numbers(offset, "offset")
        super().__init__()
        self.name = _resolve_name(name, type(self))

    def forward(self, inputs: Tensor) -> Tensor:
        if not inputs.is_floating_point():
            inputs = inputs.to(torch.get_default_dtype())
        scale = self.scale if isinstance(self.scale, float) else inputs.new_tensor(self.scale)
        offset = self.offset if isinstance(self.offset, float) else inputs.new_tensor(self.offset)
        return inputs * scale + offset

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {"name": self.name, "scale": self.scale, "offset": self.offset}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Rescaling:
        """Create a layer from `get_config()`'s output."""
        return cls(**config)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, scale={self.scale}, offset={self.offset}"


def _batches(data: Any) -> Iterable[np.ndarray]:
    if isinstance(data, (np.ndarray, Tensor)):
        yield _as_array(data)
        return
    if isinstance(data, (str, bytes)) or not hasattr(data, "__iter__"):
        raise TypeError(
            "`adapt()` takes a NumPy array, a tensor, or an iterable of batches (arrays or "
            f"tensors, or (x, y) tuples). Received: data={data!r} (of type {type(data).__name__})"
        )
    for batch in data:
        if isinstance(batch, (tuple, list)) and batch and not isinstance(batch[0], (int, float)):
            batch = batch[0]  # (x, y) pairs: x only, as Keras does
        yield _as_array(batch)


def _as_array(batch: Any) -> np.ndarray:
    if isinstance(batch, Tensor):
        return batch.detach().to("cpu", torch.float64).numpy()
    return np.asarray(batch, dtype="float64")


class Normalization(LayerAPI, LazyModuleMixin, nn.Module):
    """Standardise inputs: `(x - mean) / max(sqrt(variance), 1e-7)`, or the inverse with
    `invert=True`.

    `axis` (an int, a tuple, or None for one mean and variance over everything)
    names the axes that keep their own statistics; the others are reduced by
    `adapt(data)` (data: an array, a tensor, or an iterable of batches). `mean` and
    `variance` can be given instead of adapting. Before either, the statistics are
    Keras's initial ones (mean 0, variance 1: the layer passes inputs through), which
    lets a model be built, and adapted weights be loaded, before adapting.

    Example:
        >>> layer = Normalization(mean=2.0, variance=4.0)
        >>> layer(torch.tensor([[4.0]]))
        tensor([[1.]])
    """

    mean: Tensor
    variance: Tensor
    count: Tensor

    def __init__(
        self,
        axis: int | Sequence[int] | None = -1,
        mean: Any = None,
        variance: Any = None,
        invert: bool = False,
        name: str | None = None,
    ) -> None:
        if axis is None:
            axes: tuple[int, ...] = ()
        elif isinstance(axis, int) and not isinstance(axis, bool):
            axes = (axis,)
        elif isinstance(axis, Sequence) and not isinstance(axis, str) and all(
                isinstance(a, int) and not isinstance(a, bool) for a in axis):
            axes = tuple(axis)
        else:
            raise TypeError(
                "Expected an int, a tuple of ints or None for the argument `axis`. "
                f"Received: axis={axis!r} (of type {type(axis).__name__})"
            )
        if 0 in axes:
            raise ValueError(
                "The batch axis (0) cannot keep statistics of its own in Normalization. "
                f"Received: axis={axis!r} (of type {type(axis).__name__})"
            )
        if (mean is None) != (variance is None):
            raise ValueError(
                "When setting values directly, both `mean` and `variance` must be set. "
                f"Received: mean={mean!r} and variance={variance!r} (of type "
                f"{type(mean).__name__}, {type(variance).__name__})"
            )
        super().__init__()
        self.name = _resolve_name(name, type(self))
        self.axis = axis if axis is None or isinstance(axis, int) else list(axes)
        self._axes = axes
        self.invert = bool(invert)
        self.input_mean = None if mean is None else _number_or_numbers(mean, "mean")
        self.input_variance = None if variance is None else _number_or_numbers(
            variance, "variance")
        # Buffers: saved with the model, moved by `.to()`; shaped by adapt() or, as Keras
        # builds them (zeros and ones), by the first call.
        self.register_buffer("mean", UninitializedBuffer())
        self.register_buffer("variance", UninitializedBuffer())
        self.register_buffer("count", torch.zeros((), dtype=torch.int64))
        self._has_stats = self.input_mean is not None
        if self.input_mean is not None:
            self.mean = torch.as_tensor(self.input_mean, dtype=torch.get_default_dtype())
            self.variance = torch.as_tensor(self.input_variance,
                                            dtype=torch.get_default_dtype())

    @property
    def adapted(self) -> bool:
        """Whether statistics exist (given as arguments, adapted, or loaded)."""
        return self._has_stats

    def _keep_axes(self, rank: int) -> tuple[int, ...]:
        keep = tuple(sorted(a + rank if a < 0 else a for a in self._axes))
        if any(not 0 < a < rank for a in keep):
            raise ValueError(
                f'Layer "{self.name}" keeps axis {self.axis}, which inputs of rank {rank} do not '
                f"have (or it is the batch axis). Received: axis={self.axis!r} "
                f"(of type {type(self.axis).__name__})"
            )
        return keep

    def adapt(self, data: Any) -> None:
        """Compute the mean and variance of `data` (an array, tensor or iterable of batches).

        Statistics are accumulated in float64 over all batches (Welford's merge), so
        batching does not change them.
        """
        total = 0
        mean = m2 = None
        keep: tuple[int, ...] = ()
        for batch in _batches(data):
            if mean is None:
                keep = self._keep_axes(batch.ndim)
                kept_shape = tuple(batch.shape[a] for a in keep)
            reduce = tuple(a for a in range(batch.ndim) if a not in keep)
            if tuple(batch.shape[a] for a in keep) != kept_shape:
                raise ValueError(
                    f'Every batch given to "{self.name}".adapt() must have the sizes '
                    f"{kept_shape} on axes {keep}. Received: a batch of shape {batch.shape}"
                )
            n = int(np.prod([batch.shape[a] for a in reduce]))
            if n == 0:
                continue
            b_mean = batch.mean(axis=reduce)
            b_m2 = ((batch - batch.mean(axis=reduce, keepdims=True)) ** 2).sum(axis=reduce)
            if mean is None or m2 is None:
                mean, m2, total = b_mean, b_m2, n
                continue
            delta = b_mean - mean
            new_total = total + n
            mean = mean + delta * n / new_total
            m2 = m2 + b_m2 + delta**2 * total * n / new_total
            total = new_total
        if mean is None or m2 is None:
            raise ValueError(
                f'`adapt()` of layer "{self.name}" received no data. '
                f"Received: data of type {type(data).__name__}"
            )
        dtype = torch.get_default_dtype()
        device = self.count.device
        self.mean = torch.as_tensor(mean, dtype=dtype, device=device)
        self.variance = torch.as_tensor(m2 / total, dtype=dtype, device=device)
        self.count = torch.tensor(total, dtype=torch.int64, device=device)
        self.input_mean = self.input_variance = None
        self._has_stats = True

    def _broadcast(self, stat: Tensor, inputs: Tensor) -> Tensor:
        keep = self._keep_axes(inputs.ndim)
        shape = [1] * inputs.ndim
        if stat.ndim:
            sizes = list(stat.shape)
            for a, size in zip(keep[-len(sizes):], sizes):
                shape[a] = size
        return stat.to(inputs.dtype).reshape(shape)

    def _build(self, inputs: Tensor) -> None:
        keep = self._keep_axes(inputs.ndim)
        shape = tuple(inputs.shape[a] for a in keep)
        dtype = torch.get_default_dtype()
        self.mean = torch.zeros(shape, dtype=dtype, device=inputs.device)
        self.variance = torch.ones(shape, dtype=dtype, device=inputs.device)

    def initialize_parameters(self, inputs: Tensor, *args: Any, **kwargs: Any) -> None:
        """Lazy-module hook: Keras's initial statistics (zeros and ones) from the first input."""
        if isinstance(self.mean, UninitializedBuffer):
            self._build(inputs)

    def forward(self, inputs: Tensor) -> Tensor:
        if not inputs.is_floating_point():
            inputs = inputs.to(torch.get_default_dtype())
        mean = self._broadcast(self.mean, inputs)
        std = self._broadcast(self.variance, inputs).sqrt().clamp_min(_EPSILON)
        if self.invert:
            return mean + inputs * std
        return (inputs - mean) / std

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any,
                              **kwargs: Any) -> None:
        # The statistics' shape comes from the data: take the saved one.
        for key in ("mean", "variance"):
            saved = state_dict.get(prefix + key)
            if isinstance(saved, Tensor) and not isinstance(getattr(self, key),
                                                            UninitializedBuffer):
                setattr(self, key, torch.empty_like(saved, device=self.count.device))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        count = state_dict.get(prefix + "count")
        if isinstance(count, Tensor) and self.input_mean is None:
            self._has_stats = int(count) > 0  # sync: once, at load

    def get_keras_weights(self) -> list[np.ndarray]:
        """Keras's `[mean, variance, count]` after `adapt()`; `[]` with given statistics."""
        if self.input_mean is not None:
            return []
        _require_built(self, not isinstance(self.mean, UninitializedBuffer),
                       "get_keras_weights()")
        # Keras's count is an int32 scalar (Keras itself leaves it at 0; fitorch stores
        # the number of values each statistic was computed from).
        return [_to_numpy(self.mean), _to_numpy(self.variance),
                _to_numpy(self.count).astype("int32")]

    def set_keras_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Load Keras's `[mean, variance, count]` (the statistics of an adapted layer)."""
        if self.input_mean is not None:
            _check_keras_weights(self.name, weights, [])
            return
        if isinstance(self.mean, UninitializedBuffer) or len(weights) == 3:
            shape = tuple(np.shape(weights[0])) if len(weights) == 3 else ()
        else:
            shape = tuple(self.mean.shape)
        arrays = _check_keras_weights(
            self.name, weights, [("mean", shape), ("variance", shape), ("count", ())])
        self.mean = torch.empty(shape, dtype=torch.get_default_dtype(), device=self.count.device)
        self.variance = torch.empty_like(self.mean)
        _assign(self.mean, arrays[0])
        _assign(self.variance, arrays[1])
        self.count = torch.tensor(int(arrays[2]), dtype=torch.int64, device=self.count.device)
        self._has_stats = True

    def keras_param_counts(self) -> tuple[int, int]:
        """`(0, mean + variance + count)` after `adapt()`, as Keras counts them."""
        if self.input_mean is not None or isinstance(self.mean, UninitializedBuffer):
            return 0, 0
        return 0, self.mean.numel() + self.variance.numel() + 1

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments (given statistics included)."""
        return {"name": self.name, "axis": self.axis, "mean": self.input_mean,
                "variance": self.input_variance, "invert": self.invert}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Normalization:
        """Create a layer from `get_config()`'s output (adapted statistics come with weights)."""
        return cls(**config)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, axis={self.axis}, invert={self.invert}"
