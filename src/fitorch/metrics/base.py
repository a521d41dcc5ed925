"""The metric base class and the reductions every other metric is built on.

`Metric` defines the stateful API (`update_state`, `result`, `reset_state`,
`state_dict`); `Sum` and `Mean` reduce (weighted) values; `MeanMetricWrapper`
averages a per-sample function of `(y_true, y_pred)`.
"""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Callable
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor

from fitorch.metrics._utils import (
    _as_tensor,
    _broadcast_weight,
    _divide_no_nan,
    _object_name,
    _prepare,
    _squeeze_or_expand,
    _to_snake_case,
    _upcast,
    _zero_result,
)


def _constructor_arguments(cls: type, args: tuple[Any, ...], kwargs: dict[str, Any]
                           ) -> dict[str, Any]:
    """The arguments of `cls(*args, **kwargs)` by parameter name, defaults included."""
    try:
        init = cls.__init__  # type: ignore[misc]
        bound = inspect.signature(init).bind_partial(None, *args, **kwargs)
    except (TypeError, ValueError):  # no usable signature (or a call that will fail anyway)
        return {}
    bound.apply_defaults()
    arguments: dict[str, Any] = {}
    params = list(bound.signature.parameters.values())[1:]  # without `self`
    for param in params:
        if param.name not in bound.arguments:
            continue
        value = bound.arguments[param.name]
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            arguments.update(value)
        elif param.kind is not inspect.Parameter.VAR_POSITIONAL:
            arguments[param.name] = value
    return arguments


def _config_value(value: Any) -> Any:
    """A constructor argument as plain data (dtypes by name, arrays and tuples as lists)."""
    if isinstance(value, torch.dtype):
        return str(value).removeprefix("torch.")
    if isinstance(value, (Tensor, np.ndarray)):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_config_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _config_value(v) for k, v in value.items()}
    return value


def _resolve_dtype(dtype: torch.dtype | str | None) -> torch.dtype | None:
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    if isinstance(dtype, str):
        resolved = getattr(torch, dtype, None)
        if isinstance(resolved, torch.dtype) and resolved.is_floating_point:
            return resolved
    raise ValueError(
        "Expected `dtype` to be a floating torch.dtype or its name (e.g. 'float32'). "
        f"Received: dtype={dtype!r} (of type {type(dtype).__name__})"
    )


# ------------------------------------------------------------------------------ base


class Metric:
    """Base class of stateful metrics: `update_state`, `result`, `reset_state`.

    Subclasses list their state attributes in `_state_attrs`: tensors (created on
    the first update, on the device of `y_pred`), Python numbers, or None before
    the first update. `reset_state` zeroes tensors in place; `state_dict` and
    `load_state_dict` save and restore them for an exact resume.

    Example:
        >>> class Count(Metric):
        ...     _state_attrs = ("n",)
        ...     def __init__(self, name=None):
        ...         super().__init__(name)
        ...         self.n = 0
        ...     def update_state(self, y_true, y_pred, sample_weight=None):
        ...         self.n += len(y_pred)
        ...     def result(self):
        ...         return torch.tensor(float(self.n))
    """

    _state_attrs: tuple[str, ...] = ()
    _init_args: dict[str, Any]
    # Whether `update_state` may run inside a compiled train step (`jit_compile=True`):
    # tensor state updated in place, no Python numbers that change per batch. fitorch's
    # own metrics are; a subclass defined elsewhere opts in by setting it to True, and
    # is otherwise updated right after the compiled graph, eagerly.
    traceable: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "traceable" not in cls.__dict__:
            cls.traceable = cls.__module__.startswith("fitorch.metrics.")

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        metric = super().__new__(cls)
        # What `get_config` returns: the arguments the metric was built with.
        metric._init_args = _constructor_arguments(cls, args, kwargs)
        return metric

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this metric (its current `name` included).

        Example:
            >>> AUC(num_thresholds=50).get_config()["num_thresholds"]
            50
            >>> m = Mean(name="avg"); type(m).from_config(m.get_config()).name
            'avg'
        """
        config = {k: _config_value(v) for k, v in self.__dict__.get("_init_args", {}).items()}
        if "name" in config:
            config["name"] = self.name
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Metric:
        """A new metric built from `get_config()`'s output."""
        return cls(**config)

    def __init__(self, name: str | None = None, dtype: torch.dtype | str | None = None) -> None:
        if name is not None and not isinstance(name, str):
            raise TypeError(
                f"Expected `name` to be a string or None. "
                f"Received: name={name!r} (of type {type(name).__name__})"
            )
        self.name: str = name if name is not None else _to_snake_case(type(self).__name__)
        self._dtype = _resolve_dtype(dtype)

    def _state_dtype(self, ref: Tensor) -> torch.dtype:
        """float32 as Keras's floatx, float64 for float64 inputs, or the `dtype` asked for."""
        if self._dtype is not None:
            return self._dtype
        return torch.float64 if ref.dtype == torch.float64 else torch.float32

    def _move_state(self, device: torch.device) -> None:
        # Only after `load_state_dict` from another device: the per-step check is a
        # Python device comparison, never a sync.
        for attr in self._state_attrs:
            value = getattr(self, attr)
            if isinstance(value, Tensor) and value.device != device:
                setattr(self, attr, value.to(device))

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Accumulate statistics from one batch."""
        raise NotImplementedError

    def result(self) -> Tensor:
        """The metric's value from the accumulated state, as a tensor (no sync)."""
        raise NotImplementedError

    def prepare_for_tracing(self) -> None:
        """Create any state a compiled train step must find in place (`jit_compile=True`)."""

    def reset_state(self) -> None:
        """Zero the accumulated state, in place."""
        for attr in self._state_attrs:
            value = getattr(self, attr)
            if isinstance(value, Tensor):
                value.zero_()
            elif isinstance(value, (int, float)):
                setattr(self, attr, 0)

    def state_dict(self) -> dict[str, Any]:
        """A copy of the accumulated state (tensors cloned, None before the first update)."""
        return {
            attr: value.detach().clone() if isinstance(value, Tensor) else value
            for attr in self._state_attrs
            for value in (getattr(self, attr),)
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore state saved by `state_dict` (in place where the shapes agree)."""
        expected = set(self._state_attrs)
        if not isinstance(state_dict, dict) or set(state_dict) != expected:
            keys = sorted(state_dict) if isinstance(state_dict, dict) else state_dict
            raise ValueError(
                f"Expected a state dict of {type(self).__name__} with keys {sorted(expected)}. "
                f"Received: state_dict={keys!r} (of type {type(state_dict).__name__})"
            )
        for attr in self._state_attrs:
            new, current = state_dict[attr], getattr(self, attr)
            if isinstance(new, Tensor):
                if (
                    isinstance(current, Tensor)
                    and current.shape == new.shape
                    and current.dtype == new.dtype
                ):
                    current.copy_(new)
                else:
                    setattr(self, attr, new.detach().clone())
            else:
                setattr(self, attr, new)

    def __call__(self, *args: Any, **kwargs: Any) -> Tensor:
        """Update the state with one batch and return the new result."""
        self.update_state(*args, **kwargs)
        return self.result()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


# ------------------------------------------------------------------------ reductions


def _reduce_samplewise(
    values: Tensor, weight: Tensor, reduce: Callable[..., Tensor]
) -> tuple[Tensor, Tensor]:
    """Keras's per-sample reduction with tensor weights: values -> (weighted values, weights).

    Values are reduced to the rank of the weights, weighted, and both are then
    reduced to one entry per sample (axis 0).
    """
    values, weight = _squeeze_or_expand(values, weight)
    weight_ndim = weight.ndim
    if values.ndim > weight_ndim:
        values = reduce(values, dim=tuple(range(weight_ndim, values.ndim)))
    weight = _broadcast_weight(weight, values.shape, "values")
    values = values * weight
    if weight_ndim > 1:
        weight = reduce(weight, dim=tuple(range(1, weight_ndim)))
    if values.ndim > 1:
        values = reduce(values, dim=tuple(range(1, values.ndim)))
    return values, weight


class Sum(Metric):
    """The (weighted) sum of the given values.

    Example:
        >>> m = Sum()
        >>> m.update_state(torch.tensor([1.0, 3.0, 5.0, 7.0]), sample_weight=[1, 1, 0, 0])
        >>> m.result()
        tensor(4.)
    """

    _state_attrs = ("total",)

    def __init__(self, name: str = "sum", dtype: torch.dtype | str | None = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self.total: Tensor | None = None

    def update_state(self, values: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        values = _as_tensor(values)
        total = self.total
        if total is None:
            total = self.total = torch.zeros(
                (), dtype=self._state_dtype(values), device=values.device
            )
        elif total.device != values.device:
            self._move_state(values.device)
            total = cast(Tensor, self.total)
        values = values.to(total.dtype)
        if sample_weight is None:
            total.add_(values.sum())
        elif isinstance(sample_weight, numbers.Real):
            total.add_(values.sum(), alpha=float(sample_weight))
        else:
            weight = _as_tensor(sample_weight, values.device).to(total.dtype)
            weighted, _ = _reduce_samplewise(values, weight, torch.sum)
            total.add_(weighted.sum())

    def result(self) -> Tensor:
        if self.total is None:
            return _zero_result()
        return self.total.clone()


class Mean(Metric):
    """The (weighted) mean of the given values: `sum(values * w) / sum(w)`.

    `sample_weight` may be a Python number (e.g. the batch size, to weight a
    batch's loss by its sample count): the count then stays a Python number, so
    an update costs a single fused tensor op and the result no extra sync.

    Example:
        >>> m = Mean()
        >>> m.update_state(torch.tensor(2.0), sample_weight=32)
        >>> m.update_state(torch.tensor(4.0), sample_weight=16)
        >>> m.result()
        tensor(2.6667)
    """

    _state_attrs = ("total", "count", "weight_count")

    def __init__(self, name: str = "mean", dtype: torch.dtype | str | None = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self.total: Tensor | None = None
        # Counts known on the host (batch sizes, Python weights) stay on the host;
        # only tensor sample weights make a device-side count.
        self.count: float = 0
        self.weight_count: Tensor | None = None

    def _total_for(self, values: Tensor) -> Tensor:
        total = self.total
        if total is None:
            total = self.total = torch.zeros(
                (), dtype=self._state_dtype(values), device=values.device
            )
        elif total.device != values.device:
            self._move_state(values.device)
            total = cast(Tensor, self.total)
        return total

    def prepare_for_tracing(self) -> None:
        """Create the device-side count before a graph is traced (no recompile for it)."""
        if self.total is not None and self.weight_count is None:
            self.weight_count = torch.zeros_like(self.total)

    def _add_count(self, n: float, like: Tensor) -> None:
        """Count `n` samples: on the host, or on the device inside a compiled graph.

        Traced, a Python counter would be a constant that Dynamo guards on: every step
        would recompile. Under `torch.compile` the count goes to `weight_count` instead.
        """
        if torch.compiler.is_compiling():
            if self.weight_count is None:
                self.weight_count = torch.zeros((), dtype=like.dtype, device=like.device)
            self.weight_count.add_(n)
        else:
            self.count += n

    def update_state(self, values: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        values = _as_tensor(values)
        total = self._total_for(values)
        if values.dtype != total.dtype:
            values = values.to(total.dtype)
        if sample_weight is None:
            if values.ndim == 0:
                total.add_(values)
                self._add_count(1, total)
                return
            if values.ndim > 1:
                values = values.mean(dim=tuple(range(1, values.ndim)))
            total.add_(values.sum())
            self._add_count(values.shape[0], total)
        elif type(sample_weight) is int or isinstance(sample_weight, numbers.Real):
            # A scalar weight makes the whole batch one sample of that weight (Keras).
            scale = float(sample_weight)
            total.add_(values if values.ndim == 0 else values.mean(), alpha=scale)
            self._add_count(scale, total)
        else:
            weight = _as_tensor(sample_weight, values.device).to(total.dtype)
            weighted, weight = _reduce_samplewise(values, weight, torch.mean)
            total.add_(weighted.sum())
            if self.weight_count is None:
                self.weight_count = weight.sum()
            else:
                self.weight_count.add_(weight.sum())

    def result(self) -> Tensor:
        total = self.total
        if total is None:
            return _zero_result()
        if self.weight_count is None:
            if self.count == 0:
                return torch.zeros_like(total)
            return total / self.count
        count = self.weight_count + self.count if self.count else self.weight_count
        return _divide_no_nan(total, count)


class MeanMetricWrapper(Mean):
    """The mean of `fn(y_true, y_pred, **kwargs)`, a function returning per-sample values.

    Example:
        >>> def abs_error(y_true, y_pred):
        ...     return (y_true - y_pred).abs()
        >>> m = MeanMetricWrapper(abs_error)
        >>> m.update_state(torch.tensor([1.0, 2.0]), torch.tensor([1.5, 2.0]))
        >>> m.name, m.result()
        ('abs_error', tensor(0.2500))
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        name: str | None = None,
        dtype: torch.dtype | str | None = None,
        **kwargs: Any,
    ) -> None:
        if not callable(fn):
            raise TypeError(
                "Expected `fn` to be a callable fn(y_true, y_pred) returning per-sample "
                f"values. Received: fn={fn!r} (of type {type(fn).__name__})"
            )
        super().__init__(name=name if name is not None else _object_name(fn), dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        keras_mask = getattr(y_pred, "_keras_mask", None)
        y_true, y_pred = _prepare(y_true, y_pred)
        values = self._fn(y_true, _upcast(y_pred), **self._fn_kwargs)
        if keras_mask is not None and isinstance(values, Tensor) \
                and tuple(keras_mask.shape) == tuple(values.shape[:keras_mask.dim()]):
            # Masked time steps do not count (Keras weighs them 0).
            weight = keras_mask.to(torch.float32)
            if sample_weight is not None:
                given = _as_tensor(sample_weight, weight.device).to(weight.dtype)
                if given.dim() == 1 and weight.dim() > 1:  # one weight per sample
                    given = given.reshape(-1, *([1] * (weight.dim() - 1)))
                weight = given * weight
            sample_weight = weight
        super().update_state(values, sample_weight=sample_weight)
