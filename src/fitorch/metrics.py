"""Keras 3's stateful metrics, in torch, with their state kept in tensors.

A metric accumulates statistics with `update_state(y_true, y_pred, sample_weight=None)`
and reports them with `result()`. Both run inside every training step, so neither
ever waits for the device: state lives in tensors created on the first update, on
the device of `y_pred`, and `result()` is computed from them with tensor ops. The
numbers are Keras 3's (keras/src/metrics/), including its sample-weight and
shape handling.

Example:
    >>> m = MeanAbsoluteError()
    >>> m.update_state(torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 1.0]]))
    >>> m.result()
    tensor(0.5000)
"""

from __future__ import annotations

import inspect
import numbers
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "AUC",
    "Accuracy",
    "BinaryAccuracy",
    "BinaryCrossentropy",
    "CategoricalAccuracy",
    "CategoricalCrossentropy",
    "FalseNegatives",
    "FalsePositives",
    "InferredAccuracy",
    "Mean",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanMetricWrapper",
    "MeanSquaredError",
    "MeanSquaredLogarithmicError",
    "Metric",
    "Precision",
    "Recall",
    "RootMeanSquaredError",
    "SparseCategoricalAccuracy",
    "SparseCategoricalCrossentropy",
    "SparseTopKCategoricalAccuracy",
    "Sum",
    "TopKCategoricalAccuracy",
    "TorchMetricsWrapper",
    "TrueNegatives",
    "TruePositives",
    "accuracy",
    "binary_accuracy",
    "categorical_accuracy",
    "get",
    "sparse_categorical_accuracy",
    "sparse_top_k_categorical_accuracy",
    "top_k_categorical_accuracy",
]

# Keras's `backend.epsilon()`: clips probabilities and guards divisions.
_EPSILON = 1e-7
# Keras's stand-in for -inf when filtering predictions to their top k.
_NEG_INF = -1e10


# --------------------------------------------------------------------------- helpers


_NON_WORD = re.compile(r"\W+")
# An underscore goes before every capitalised word but the first ("TopK|Categorical")...
_BEFORE_WORD = re.compile(r"(?<=.)(?=[A-Z][a-z]+)")
# ...and between a lower-case letter and a capital ("Top|K").
_LOWER_UPPER = re.compile(r"(?<=[a-z])(?=[A-Z])")


def _to_snake_case(name: str) -> str:
    """`"TopKCategoricalAccuracy"` -> `"top_k_categorical_accuracy"`, as Keras names things."""
    name = _BEFORE_WORD.sub("_", _NON_WORD.sub("", name))
    return _LOWER_UPPER.sub("_", name).lower()


def _object_name(obj: Any) -> str:
    """The log key Keras gives a metric object or function (its `name`, else its name)."""
    name = getattr(obj, "name", None)
    if isinstance(name, str):
        return name
    if hasattr(obj, "__name__"):
        return _to_snake_case(obj.__name__)
    return _to_snake_case(type(obj).__name__)


def _as_tensor(x: Any, device: torch.device | None = None) -> Tensor:
    """`x` as a tensor outside autograd (metrics never need gradients), on `device` if given."""
    if isinstance(x, Tensor):
        if x.requires_grad:
            x = x.detach()
        if device is not None and x.device != device:
            x = x.to(device, non_blocking=True)
        return x
    return torch.as_tensor(x, device=device)


def _prepare(y_true: Any, y_pred: Any) -> tuple[Tensor, Tensor]:
    """Both targets as detached tensors on the device of `y_pred`."""
    y_pred = _as_tensor(y_pred)
    return _as_tensor(y_true, y_pred.device), y_pred


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


def _squeeze_or_expand(x1: Tensor, x2: Tensor, expand_rank_1: bool = True) -> tuple[Tensor, Tensor]:
    """Reconcile ranks that differ by one trailing unit dimension, exactly as Keras does.

    A rank-1 partner is expanded (`(N,)` -> `(N, 1)`) unless `expand_rank_1` is False,
    otherwise the unit dimension is squeezed away.
    """
    r1, r2 = x1.ndim, x2.ndim
    if r1 == r2 + 1 and x1.shape[-1] == 1:
        if r2 == 1 and expand_rank_1:
            x2 = x2.unsqueeze(-1)
        else:
            x1 = x1.squeeze(-1)
    elif r2 == r1 + 1 and x2.shape[-1] == 1:
        if r1 == 1 and expand_rank_1:
            x1 = x1.unsqueeze(-1)
        else:
            x2 = x2.squeeze(-1)
    return x1, x2


def _divide_no_nan(x: Tensor, y: Tensor) -> Tensor:
    """`x / y`, with 0 where `y == 0` (Keras's `ops.divide_no_nan`)."""
    zero = y == 0
    return torch.where(zero, 0.0, x / torch.where(zero, 1.0, y))


def _broadcast_weight(weight: Tensor, shape: torch.Size, what: str) -> Tensor:
    try:
        return weight.broadcast_to(shape)
    except RuntimeError:
        raise ValueError(
            f"`sample_weight` must broadcast to the shape of the {what}, {tuple(shape)}. "
            f"Received: sample_weight.shape={tuple(weight.shape)}"
        ) from None


def _upcast(y_pred: Tensor) -> Tensor:
    """Half-precision predictions are scored in float32: fp16/bf16 sums lose whole counts."""
    if y_pred.is_floating_point() and y_pred.element_size() < 4:
        return y_pred.float()
    return y_pred


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


def _zero_result() -> Tensor:
    """What Keras reports before any update: 0.0."""
    return torch.zeros((), dtype=torch.float32)


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

    def update_state(self, values: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        values = _as_tensor(values)
        total = self._total_for(values)
        values = values.to(total.dtype)
        if sample_weight is None:
            if values.ndim == 0:
                total.add_(values)
                self.count += 1
                return
            if values.ndim > 1:
                values = values.mean(dim=tuple(range(1, values.ndim)))
            total.add_(values.sum())
            self.count += values.shape[0]
        elif isinstance(sample_weight, numbers.Real):
            # A scalar weight makes the whole batch one sample of that weight (Keras).
            scale = float(sample_weight)
            total.add_(values if values.ndim == 0 else values.mean(), alpha=scale)
            self.count += scale
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
        y_true, y_pred = _prepare(y_true, y_pred)
        values = self._fn(y_true, _upcast(y_pred), **self._fn_kwargs)
        super().update_state(values, sample_weight=sample_weight)


# ------------------------------------------------------------------ accuracy metrics


def _float_dtype() -> torch.dtype:
    """Keras returns matches in floatx; torch's default float dtype is its equivalent."""
    return torch.get_default_dtype()


def accuracy(y_true: Any, y_pred: Any) -> Tensor:
    """Per-element 1.0 where `y_pred == y_true`, else 0.0."""
    y_true, y_pred = _prepare(y_true, y_pred)
    y_true, y_pred = _squeeze_or_expand(y_true.to(y_pred.dtype), y_pred)
    return (y_true == y_pred).to(_float_dtype())


def binary_accuracy(y_true: Any, y_pred: Any, threshold: float = 0.5) -> Tensor:
    """Per-element 1.0 where `(y_pred > threshold)` equals the binary label `y_true`.

    Example:
        >>> binary_accuracy(torch.tensor([[1.0], [0.0]]), torch.tensor([[0.9], [0.7]]))
        tensor([[1.],
                [0.]])
    """
    y_true, y_pred = _prepare(y_true, y_pred)
    y_true, y_pred = _squeeze_or_expand(y_true, y_pred)
    return ((y_pred > threshold).to(y_true.dtype) == y_true).to(_float_dtype())


def categorical_accuracy(y_true: Any, y_pred: Any) -> Tensor:
    """Per-sample 1.0 where the argmax of `y_pred` is the argmax of the one-hot `y_true`.

    Example:
        >>> categorical_accuracy(torch.tensor([[0, 1], [1, 0]]), torch.tensor([[0.2, 0.8]] * 2))
        tensor([1., 0.])
    """
    y_true, y_pred = _prepare(y_true, y_pred)
    labels = y_true.argmax(dim=-1)
    shape = labels.shape
    if labels.ndim == y_pred.ndim:  # y_true had a trailing unit axis: (N, C, 1)
        labels = labels.squeeze(-1)
    matches = (labels == y_pred.argmax(dim=-1)).to(_float_dtype())
    return matches.reshape(shape) if matches.shape != shape else matches


def sparse_categorical_accuracy(y_true: Any, y_pred: Any) -> Tensor:
    """Per-sample 1.0 where the argmax of `y_pred` is the integer label `y_true`.

    Labels may be `(N,)` or `(N, 1)`; the result is `(N,)`.

    Example:
        >>> sparse_categorical_accuracy(torch.tensor([1, 0]), torch.tensor([[0.2, 0.8]] * 2))
        tensor([1., 0.])
    """
    y_true, y_pred = _prepare(y_true, y_pred)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true.squeeze(-1)
    # Comparing the labels (any dtype) with the int64 argmax promotes both exactly.
    matches = (y_true == y_pred.argmax(dim=-1)).to(_float_dtype())
    if matches.ndim > 1 and matches.shape[-1] == 1:
        matches = matches.squeeze(-1)
    return matches


def _in_top_k(labels: Tensor, scores: Tensor, k: int) -> Tensor:
    """Whether each label's score is among the `k` largest of its row (ties count in)."""
    k = min(k, scores.shape[-1])  # Keras errors for k > num_classes; every label is in then
    kth_largest = torch.topk(scores, k, dim=-1, sorted=False).values.amin(dim=-1)
    label_scores = scores.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    return label_scores >= kth_largest


def top_k_categorical_accuracy(y_true: Any, y_pred: Any, k: int = 5) -> Tensor:
    """Per-sample 1.0 where the one-hot target is among the `k` top predictions."""
    y_true, y_pred = _prepare(y_true, y_pred)
    labels = y_true.argmax(dim=-1)
    shape = labels.shape
    if y_pred.ndim > 2:
        y_pred = y_pred.reshape(-1, y_pred.shape[-1])
    matches = _in_top_k(labels.reshape(-1), y_pred, k).to(_float_dtype())
    return matches.reshape(shape)


def sparse_top_k_categorical_accuracy(
    y_true: Any, y_pred: Any, k: int = 5, from_sorted_ids: bool = False
) -> Tensor:
    """Per-sample 1.0 where the integer target is among the `k` top predictions.

    With `from_sorted_ids=True`, `y_pred` holds class ids sorted by decreasing score.

    Example:
        >>> y_pred = torch.tensor([[0.1, 0.9, 0.8], [0.05, 0.95, 0.0]])
        >>> sparse_top_k_categorical_accuracy(torch.tensor([2, 1]), y_pred, k=1)
        tensor([0., 1.])
    """
    y_true, y_pred = _prepare(y_true, y_pred)
    shape = y_true.shape
    if y_pred.ndim > 2:
        y_pred = y_pred.reshape(-1, y_pred.shape[-1])
    if from_sorted_ids:
        labels = y_true.reshape(-1).to(y_pred.dtype)
        matches = (y_pred[:, :k] == labels.unsqueeze(-1)).any(dim=-1)
    else:
        matches = _in_top_k(y_true.reshape(-1).long(), y_pred, k)
    return matches.to(_float_dtype()).reshape(shape)


class Accuracy(MeanMetricWrapper):
    """How often predictions equal labels exactly.

    Example:
        >>> m = Accuracy()
        >>> m.update_state(torch.tensor([[1], [2], [3], [4]]), torch.tensor([[0], [2], [3], [4]]))
        >>> m.result()
        tensor(0.7500)
    """

    def __init__(self, name: str = "accuracy", dtype: torch.dtype | str | None = None) -> None:
        super().__init__(accuracy, name=name, dtype=dtype)


class BinaryAccuracy(MeanMetricWrapper):
    """How often `(y_pred > threshold)` matches binary labels.

    Example:
        >>> m = BinaryAccuracy()
        >>> m.update_state(torch.tensor([[1.0], [0.0]]), torch.tensor([[0.9], [0.7]]))
        >>> m.result()
        tensor(0.5000)
    """

    def __init__(
        self,
        name: str = "binary_accuracy",
        dtype: torch.dtype | str | None = None,
        threshold: float = 0.5,
    ) -> None:
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=threshold)
        self.threshold = threshold


class CategoricalAccuracy(MeanMetricWrapper):
    """How often the argmax of predictions matches the argmax of one-hot labels.

    Example:
        >>> m = CategoricalAccuracy()
        >>> m.update_state(torch.tensor([[0, 0, 1], [0, 1, 0]]),
        ...                torch.tensor([[0.1, 0.9, 0.8], [0.05, 0.95, 0.0]]))
        >>> m.result()
        tensor(0.5000)
    """

    def __init__(
        self, name: str = "categorical_accuracy", dtype: torch.dtype | str | None = None
    ) -> None:
        super().__init__(categorical_accuracy, name=name, dtype=dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often the argmax of predictions matches integer labels.

    Example:
        >>> m = SparseCategoricalAccuracy()
        >>> m.update_state(torch.tensor([[2], [1]]),
        ...                torch.tensor([[0.1, 0.6, 0.3], [0.05, 0.95, 0.0]]))
        >>> m.result()
        tensor(0.5000)
    """

    def __init__(
        self, name: str = "sparse_categorical_accuracy", dtype: torch.dtype | str | None = None
    ) -> None:
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often one-hot targets are among the `k` top predictions.

    Example:
        >>> m = TopKCategoricalAccuracy(k=1)
        >>> m.update_state(torch.tensor([[0, 0, 1], [0, 1, 0]]),
        ...                torch.tensor([[0.1, 0.9, 0.8], [0.05, 0.95, 0.0]]))
        >>> m.result()
        tensor(0.5000)
    """

    def __init__(
        self,
        k: int = 5,
        name: str = "top_k_categorical_accuracy",
        dtype: torch.dtype | str | None = None,
    ) -> None:
        super().__init__(top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self.k = k


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often integer targets are among the `k` top predictions.

    Example:
        >>> m = SparseTopKCategoricalAccuracy(k=1)
        >>> m.update_state(torch.tensor([2, 1]), torch.tensor([[0.1, 0.9, 0.8], [0.05, 0.95, 0.0]]))
        >>> m.result()
        tensor(0.5000)
    """

    def __init__(
        self,
        k: int = 5,
        name: str = "sparse_top_k_categorical_accuracy",
        dtype: torch.dtype | str | None = None,
        from_sorted_ids: bool = False,
    ) -> None:
        super().__init__(
            sparse_top_k_categorical_accuracy,
            name=name,
            dtype=dtype,
            k=k,
            from_sorted_ids=from_sorted_ids,
        )
        self.k = k
        self.from_sorted_ids = from_sorted_ids


# ---------------------------------------------------------------- regression metrics


def _regression_pair(y_true: Tensor, y_pred: Tensor) -> tuple[Tensor, Tensor]:
    return _squeeze_or_expand(y_true.to(y_pred.dtype), y_pred)


def _mean_squared_error(y_true: Tensor, y_pred: Tensor) -> Tensor:
    y_true, y_pred = _regression_pair(y_true, y_pred)
    return (y_true - y_pred).square().mean(dim=-1)


def _mean_absolute_error(y_true: Tensor, y_pred: Tensor) -> Tensor:
    y_true, y_pred = _regression_pair(y_true, y_pred)
    return (y_true - y_pred).abs().mean(dim=-1)


def _mean_absolute_percentage_error(y_true: Tensor, y_pred: Tensor) -> Tensor:
    y_true, y_pred = _regression_pair(y_true, y_pred)
    diff = ((y_true - y_pred) / y_true.abs().clamp(min=_EPSILON)).abs()
    return 100.0 * diff.mean(dim=-1)


def _mean_squared_logarithmic_error(y_true: Tensor, y_pred: Tensor) -> Tensor:
    y_true, y_pred = _regression_pair(y_true, y_pred)
    log_pred = torch.log1p(y_pred.clamp(min=_EPSILON))
    log_true = torch.log1p(y_true.clamp(min=_EPSILON))
    return (log_pred - log_true).square().mean(dim=-1)


class MeanSquaredError(MeanMetricWrapper):
    """Mean of `mean(square(y_true - y_pred), axis=-1)` over samples.

    Example:
        >>> m = MeanSquaredError()
        >>> m.update_state(torch.tensor([[0.0, 1.0], [0.0, 0.0]]),
        ...                torch.tensor([[1.0, 1.0], [0.0, 0.0]]))
        >>> m.result()
        tensor(0.2500)
    """

    def __init__(
        self, name: str = "mean_squared_error", dtype: torch.dtype | str | None = None
    ) -> None:
        super().__init__(_mean_squared_error, name=name, dtype=dtype)


class MeanAbsoluteError(MeanMetricWrapper):
    """Mean of `mean(abs(y_true - y_pred), axis=-1)` over samples.

    Example:
        >>> m = MeanAbsoluteError()
        >>> m.update_state(torch.tensor([[0.0, 1.0], [0.0, 0.0]]),
        ...                torch.tensor([[1.0, 1.0], [0.0, 0.0]]), sample_weight=[1, 0])
        >>> m.result()
        tensor(0.5000)
    """

    def __init__(
        self, name: str = "mean_absolute_error", dtype: torch.dtype | str | None = None
    ) -> None:
        super().__init__(_mean_absolute_error, name=name, dtype=dtype)


class MeanAbsolutePercentageError(MeanMetricWrapper):
    """Mean of `100 * mean(abs((y_true - y_pred) / max(abs(y_true), eps)), axis=-1)`.

    Example:
        >>> m = MeanAbsolutePercentageError()
        >>> m.update_state(torch.tensor([[2.0]]), torch.tensor([[1.0]]))
        >>> m.result()
        tensor(50.)
    """

    def __init__(
        self, name: str = "mean_absolute_percentage_error", dtype: torch.dtype | str | None = None
    ) -> None:
        super().__init__(_mean_absolute_percentage_error, name=name, dtype=dtype)


class MeanSquaredLogarithmicError(MeanMetricWrapper):
    """Mean of `mean(square(log(1 + y_pred) - log(1 + y_true)), axis=-1)` (values >= eps).

    Example:
        >>> m = MeanSquaredLogarithmicError()
        >>> m.update_state(torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 1.0]]))
        >>> m.result()
        tensor(0.2402)
    """

    def __init__(
        self, name: str = "mean_squared_logarithmic_error", dtype: torch.dtype | str | None = None
    ) -> None:
        super().__init__(_mean_squared_logarithmic_error, name=name, dtype=dtype)


class RootMeanSquaredError(Mean):
    """`sqrt` of the (weighted) mean of `square(y_pred - y_true)` over all elements.

    Example:
        >>> m = RootMeanSquaredError()
        >>> m.update_state(torch.tensor([[0.0, 1.0], [0.0, 0.0]]),
        ...                torch.tensor([[1.0, 1.0], [0.0, 0.0]]))
        >>> m.result()
        tensor(0.5000)
    """

    def __init__(
        self, name: str = "root_mean_squared_error", dtype: torch.dtype | str | None = None
    ) -> None:
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        y_true, y_pred = _prepare(y_true, y_pred)
        dtype = self._state_dtype(y_pred)
        y_true, y_pred = _squeeze_or_expand(y_true.to(dtype), y_pred.to(dtype))
        super().update_state((y_pred - y_true).square(), sample_weight=sample_weight)

    def result(self) -> Tensor:
        return super().result().sqrt()


# ------------------------------------------------------------- probabilistic metrics


def _binary_crossentropy(
    y_true: Tensor,
    y_pred: Tensor,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Tensor:
    y_true = y_true.to(y_pred.dtype)
    # Keras errors on (N,) vs (N, 1) here; reconciling the ranks scores the obvious pairs.
    y_true, y_pred = _squeeze_or_expand(y_true, y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            "Expected `y_true` and `y_pred` of the same shape for binary crossentropy. "
            f"Received: y_true.shape={tuple(y_true.shape)}, y_pred.shape={tuple(y_pred.shape)}"
        )
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        losses = F.binary_cross_entropy_with_logits(y_pred, y_true, reduction="none")
    else:
        # F.binary_cross_entropy's formula (logs floored at -100), written out because
        # that op refuses to run under autocast.
        # With p clipped to [eps, 1 - eps] the floor never applies.
        p = y_pred.clamp(_EPSILON, 1.0 - _EPSILON)
        losses = (y_true - 1.0) * torch.log1p(-p) - y_true * torch.log(p)
    return losses.mean(dim=axis)


def _categorical_crossentropy(
    y_true: Tensor,
    y_pred: Tensor,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Tensor:
    y_true = y_true.to(y_pred.dtype)
    if y_true.shape != y_pred.shape or y_pred.ndim < 1:
        raise ValueError(
            "Expected one-hot `y_true` of the same shape as `y_pred` for categorical "
            "crossentropy (use SparseCategoricalCrossentropy for integer labels). "
            f"Received: y_true.shape={tuple(y_true.shape)}, y_pred.shape={tuple(y_pred.shape)}"
        )
    if label_smoothing:
        num_classes = y_true.shape[axis]
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / num_classes
    if from_logits:
        log_prob = torch.log_softmax(y_pred, dim=axis)
    else:
        probs = y_pred / y_pred.sum(dim=axis, keepdim=True)
        log_prob = probs.clamp(_EPSILON, 1.0 - _EPSILON).log()
    return -(y_true * log_prob).sum(dim=axis)


def _sparse_categorical_crossentropy(
    y_true: Tensor, y_pred: Tensor, from_logits: bool = False, axis: int = -1
) -> Tensor:
    if y_true.ndim == y_pred.ndim and y_true.shape[axis] == 1:
        y_true = y_true.squeeze(axis)
    labels = y_true.long()
    expected = list(y_pred.shape)
    if y_pred.ndim < 1:
        raise ValueError(
            "Expected `y_pred` of rank >= 1 for sparse categorical crossentropy. "
            f"Received: y_pred.shape={tuple(y_pred.shape)}"
        )
    del expected[axis]
    if list(labels.shape) != expected:
        raise ValueError(
            "Expected integer `y_true` with the shape of `y_pred` minus its class axis "
            f"for sparse categorical crossentropy, {tuple(expected)}. "
            f"Received: y_true.shape={tuple(y_true.shape)}, y_pred.shape={tuple(y_pred.shape)}"
        )
    squeeze = y_pred.ndim == 1
    if squeeze:
        y_pred, labels = y_pred.unsqueeze(0), labels.unsqueeze(0)
    elif axis % y_pred.ndim != 1:
        y_pred = y_pred.movedim(axis, 1)  # torch's losses want classes on axis 1
    if from_logits:
        losses = F.cross_entropy(y_pred, labels, reduction="none")
    else:
        probs = y_pred / y_pred.sum(dim=1, keepdim=True)
        losses = F.nll_loss(probs.clamp(_EPSILON, 1.0 - _EPSILON).log(), labels, reduction="none")
    return losses.squeeze(0) if squeeze else losses


class BinaryCrossentropy(MeanMetricWrapper):
    """Mean binary crossentropy between binary labels and predicted probabilities/logits.

    Example:
        >>> m = BinaryCrossentropy()
        >>> m.update_state(torch.tensor([[0.0, 1.0], [0.0, 0.0]]),
        ...                torch.tensor([[0.6, 0.4], [0.4, 0.6]]))
        >>> m.result()
        tensor(0.8149)
    """

    def __init__(
        self,
        name: str = "binary_crossentropy",
        dtype: torch.dtype | str | None = None,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(
            _binary_crossentropy,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
        )
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing


class CategoricalCrossentropy(MeanMetricWrapper):
    """Mean crossentropy between one-hot labels and predicted probabilities/logits.

    Example:
        >>> m = CategoricalCrossentropy()
        >>> m.update_state(torch.tensor([[0, 1, 0], [0, 0, 1]]),
        ...                torch.tensor([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]]))
        >>> m.result()
        tensor(1.1769)
    """

    def __init__(
        self,
        name: str = "categorical_crossentropy",
        dtype: torch.dtype | str | None = None,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
    ) -> None:
        super().__init__(
            _categorical_crossentropy,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing
        self.axis = axis


class SparseCategoricalCrossentropy(MeanMetricWrapper):
    """Mean crossentropy between integer labels and predicted probabilities/logits.

    Entries whose label is `ignore_class` count for nothing (not even in the mean).

    Example:
        >>> m = SparseCategoricalCrossentropy()
        >>> m.update_state(torch.tensor([1, 2]), torch.tensor([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]]))
        >>> m.result()
        tensor(1.1769)
    """

    def __init__(
        self,
        name: str = "sparse_categorical_crossentropy",
        dtype: torch.dtype | str | None = None,
        from_logits: bool = False,
        ignore_class: int | None = None,
        axis: int = -1,
    ) -> None:
        super().__init__(
            _sparse_categorical_crossentropy,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            axis=axis,
        )
        self.from_logits = from_logits
        self.ignore_class = ignore_class
        self.axis = axis

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        if self.ignore_class is None:
            super().update_state(y_true, y_pred, sample_weight=sample_weight)
            return
        y_true, y_pred = _prepare(y_true, y_pred)
        y_pred = _upcast(y_pred)
        if y_true.ndim == y_pred.ndim and y_true.shape[self.axis] == 1:
            y_true = y_true.squeeze(self.axis)
        valid = y_true != self.ignore_class
        values = _sparse_categorical_crossentropy(
            torch.where(valid, y_true, 0), y_pred, from_logits=self.from_logits, axis=self.axis
        )
        values = torch.where(valid, values, 0.0)
        # Ignored entries get weight 0, as Keras's mask does (reduction "sum").
        mask = valid.to(values.dtype)
        if sample_weight is None:
            weight = mask
        else:
            sw = _as_tensor(sample_weight, y_pred.device).to(values.dtype)
            mask, sw = _squeeze_or_expand(mask, sw)
            weight = sw * mask
        Mean.update_state(self, values, sample_weight=weight)


# ----------------------------------------------------------------- confusion metrics


def _check_thresholds(thresholds: Sequence[float]) -> None:
    invalid = [t for t in thresholds if t is None or not 0 <= t <= 1]
    if invalid:
        raise ValueError(
            f"Expected every threshold in [0, 1]. Received: thresholds={list(thresholds)!r} "
            f"(invalid: {invalid!r})"
        )


def _parse_thresholds(thresholds: float | Sequence[float] | None, default: float) -> list[float]:
    if thresholds is None:
        return [default]
    if isinstance(thresholds, numbers.Real):  # also NumPy scalars
        values = [cast(float, thresholds)]
    else:
        values = list(cast(Sequence[float], thresholds))
    _check_thresholds(values)
    return [float(t) for t in values]


def _is_evenly_distributed(thresholds: Sequence[float]) -> bool:
    """Whether thresholds are `i / (n - 1)` for `i` in `range(n)` (n >= 3), within eps.

    Such thresholds let the confusion counts be bucketed in O(N + T) instead of O(N * T).
    """
    n = len(thresholds)
    if n < 3:
        return False
    # np.allclose(thresholds, linspace, atol=eps) with its default rtol of 1e-5.
    return all(
        abs(t - i / (n - 1)) <= _EPSILON + 1e-5 * abs(i / (n - 1)) for i, t in enumerate(thresholds)
    )


def _filter_top_k(x: Tensor, k: int) -> Tensor:
    """Keep the top `k` values of the last axis, set the rest to a large negative."""
    k = min(k, x.shape[-1])
    keep = torch.zeros_like(x, dtype=torch.bool).scatter_(
        -1, torch.topk(x, k, dim=-1).indices, True
    )
    return torch.where(keep, x, _NEG_INF)


def _update_confusion(
    counts: dict[str, Tensor],
    y_true: Tensor,
    y_pred: Tensor,
    thresholds: Tensor,
    *,
    evenly: bool,
    with_epsilon: bool,
    top_k: int | None = None,
    class_id: int | None = None,
    sample_weight: Any = None,
    multi_label: bool = False,
    label_weights: Tensor | None = None,
) -> None:
    """Add this batch's weighted TP/FP/TN/FN counts (keys "tp", "fp", "tn", "fn") in place.

    A prediction is positive at threshold t when `y_pred > t`; a label is positive
    when non-zero. Counts are `(T,)`, or `(T, L)` with `multi_label`.
    """
    dtype = next(iter(counts.values())).dtype
    y_true, y_pred = y_true.to(dtype), y_pred.to(dtype)
    y_pred, y_true = _squeeze_or_expand(y_pred, y_true)
    weight = None
    if sample_weight is not None:
        weight = _as_tensor(sample_weight, y_pred.device).to(dtype).unsqueeze(-1)
        _, weight = _squeeze_or_expand(y_true, weight, expand_rank_1=False)
    if top_k is not None:
        y_pred = _filter_top_k(y_pred, top_k)
    if class_id is not None:
        if y_pred.ndim == 1:
            raise ValueError(
                "When `class_id` is given, `y_pred` must be (num_samples, num_classes). "
                f"Received: y_pred.shape={tuple(y_pred.shape)}"
            )
        y_true = y_true[..., class_id : class_id + 1]
        y_pred = y_pred[..., class_id : class_id + 1]
    if y_true.shape != y_pred.shape:
        raise ValueError(
            "Expected `y_true` of the same shape as `y_pred` (up to a trailing unit axis). "
            f"Received: y_true.shape={tuple(y_true.shape)}, y_pred.shape={tuple(y_pred.shape)}"
        )
    if weight is not None:
        weight = _broadcast_weight(weight, y_pred.shape, "predictions")
    if label_weights is not None:
        lw = label_weights.to(dtype).broadcast_to(y_pred.shape)
        weight = lw if weight is None else weight * lw
    if multi_label:
        num_labels = next(iter(counts.values())).shape[-1]
        if y_pred.ndim != 2 or y_pred.shape[1] != num_labels:
            raise ValueError(
                f"`y_pred` must be (num_samples, {num_labels}) when `multi_label=True` "
                f"(rank 2, one column per label). Received: y_pred.shape={tuple(y_pred.shape)}"
            )
    if not multi_label:
        y_true, y_pred = y_true.reshape(-1), y_pred.reshape(-1)
        weight = None if weight is None else weight.reshape(-1)
    if evenly:
        _confusion_bucketed(counts, y_true, y_pred, weight, thresholds.shape[0], with_epsilon)
    else:
        _confusion_compared(counts, y_true, y_pred, weight, thresholds)


def _confusion_bucketed(
    counts: dict[str, Tensor],
    y_true: Tensor,
    y_pred: Tensor,
    weight: Tensor | None,
    num_thresholds: int,
    with_epsilon: bool,
) -> None:
    """Counts for evenly spaced thresholds: one scatter-add into buckets, then a cumsum.

    Prediction p falls in bucket `ceil(p * (T - 1)) - 1`: it exceeds every threshold up
    to that bucket's. With epsilon end thresholds (-eps, ..., 1 + eps) bucket -1 joins
    bucket 0 (p >= 0 > -eps); without, it is dropped (p = 0 exceeds no threshold).
    Here everything is shifted by one so that slot 0 is the dropped bucket.
    """
    y_pred = y_pred.clamp(0.0, 1.0)
    positive = (y_true != 0).to(y_pred.dtype)
    true_w, false_w = positive, 1.0 - positive
    if weight is not None:
        true_w, false_w = true_w * weight, false_w * weight
    slots = torch.ceil(y_pred * (num_thresholds - 1)).long()
    slots.clamp_(min=1 if with_epsilon else 0, max=num_thresholds - 1)
    data = torch.stack([true_w, false_w])  # (2, N) or (2, N, L)
    if y_pred.ndim == 2:  # multi-label: bucket each label separately
        data, slots = data.transpose(1, 2), slots.t()
    buckets = data.new_zeros((*data.shape[:-1], num_thresholds + 1))
    buckets.scatter_add_(-1, slots.expand_as(data), data)
    # Count above threshold i = sum of buckets >= i: a reversed cumulative sum.
    above = buckets[..., 1:].flip(-1).cumsum(-1).flip(-1)
    if y_pred.ndim == 2:
        above = above.transpose(1, 2)  # (2, T, L)
    tp, fp = above[0], above[1]
    if "tp" in counts:
        counts["tp"].add_(tp)
    if "fp" in counts:
        counts["fp"].add_(fp)
    if "fn" in counts:
        counts["fn"].add_(true_w.sum(dim=0) - tp)
    if "tn" in counts:
        counts["tn"].add_(false_w.sum(dim=0) - fp)


def _confusion_compared(
    counts: dict[str, Tensor],
    y_true: Tensor,
    y_pred: Tensor,
    weight: Tensor | None,
    thresholds: Tensor,
) -> None:
    """Counts for arbitrary thresholds: compare every prediction with every threshold."""
    view = (-1,) + (1,) * y_pred.ndim
    pred_pos = y_pred.unsqueeze(0) > thresholds.reshape(view)  # (T, N) or (T, N, L)
    label_pos = (y_true != 0).unsqueeze(0)
    dtype = y_pred.dtype

    def add(key: str, cond: Tensor) -> None:
        if weight is None:
            counts[key].add_(cond.sum(dim=1, dtype=dtype))
        else:
            counts[key].add_(torch.where(cond, weight.unsqueeze(0), 0.0).sum(dim=1))

    if "tp" in counts:
        add("tp", label_pos & pred_pos)
    if "fp" in counts:
        add("fp", ~label_pos & pred_pos)
    if "fn" in counts:
        add("fn", label_pos & ~pred_pos)
    if "tn" in counts:
        add("tn", ~label_pos & ~pred_pos)


# State attribute -> key of `_update_confusion`.
_COUNT_KEYS = {
    "true_positives": "tp",
    "false_positives": "fp",
    "true_negatives": "tn",
    "false_negatives": "fn",
}


class _ConfusionMetric(Metric):
    """Shared state handling of metrics built on confusion counts at thresholds."""

    _counts: tuple[str, ...] = ()

    def __init__(self, name: str | None, dtype: torch.dtype | str | None) -> None:
        super().__init__(name=name, dtype=dtype)
        self._state_attrs = self._counts
        for key in self._counts:
            setattr(self, key, None)
        self._thresholds_list: list[float] = []
        self._thresholds_t: Tensor | None = None

    def _num_labels_for(self, y_pred: Tensor) -> int | None:
        return None

    def _counters(self, y_pred: Tensor) -> dict[str, Tensor]:
        """The count tensors, created on `y_pred`'s device at the first update."""
        first = getattr(self, self._counts[0])
        if first is None:
            dtype = self._state_dtype(y_pred)
            labels = self._num_labels_for(y_pred)
            shape = (len(self._thresholds_list),) + (() if labels is None else (labels,))
            for key in self._counts:
                setattr(self, key, torch.zeros(shape, dtype=dtype, device=y_pred.device))
        elif first.device != y_pred.device:
            self._move_state(y_pred.device)
        return {self._count_key(key): getattr(self, key) for key in self._counts}

    def _count_key(self, attr: str) -> str:
        return _COUNT_KEYS[attr]

    def _thresholds_on(self, like: Tensor) -> Tensor:
        t = self._thresholds_t
        if t is None or t.device != like.device or t.dtype != like.dtype:
            t = self._thresholds_t = torch.tensor(
                self._thresholds_list, dtype=like.dtype, device=like.device
            )
        return t

    def _count(self, key: str) -> Tensor:
        value = getattr(self, key)
        if value is None:
            return torch.zeros(len(self._thresholds_list))
        return value


class _ConditionCount(_ConfusionMetric):
    _counts = ("accumulator",)
    _condition = "tp"

    def __init__(
        self,
        thresholds: float | Sequence[float] | None = None,
        name: str | None = None,
        dtype: torch.dtype | str | None = None,
    ) -> None:
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds = thresholds
        self._thresholds_list = _parse_thresholds(thresholds, 0.5)
        self._evenly = _is_evenly_distributed(self._thresholds_list)

    @property
    def thresholds(self) -> list[float]:
        return list(self._thresholds_list)

    def _count_key(self, attr: str) -> str:
        return self._condition

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true, y_pred = _prepare(y_true, y_pred)
        counts = self._counters(y_pred)
        _update_confusion(
            counts,
            y_true,
            y_pred,
            self._thresholds_on(counts[self._condition]),
            evenly=self._evenly,
            with_epsilon=False,
            sample_weight=sample_weight,
        )

    def result(self) -> Tensor:
        value = self._count("accumulator")
        return value[0].clone() if value.shape[0] == 1 else value.clone()


class TruePositives(_ConditionCount):
    """The (weighted) number of true positives at each threshold (default 0.5).

    Example:
        >>> m = TruePositives()
        >>> m.update_state(torch.tensor([0, 1, 1, 1]), torch.tensor([1.0, 0.0, 1.0, 1.0]))
        >>> m.result()
        tensor(2.)
    """

    _condition = "tp"


class FalsePositives(_ConditionCount):
    """The (weighted) number of false positives at each threshold (default 0.5)."""

    _condition = "fp"


class TrueNegatives(_ConditionCount):
    """The (weighted) number of true negatives at each threshold (default 0.5)."""

    _condition = "tn"


class FalseNegatives(_ConditionCount):
    """The (weighted) number of false negatives at each threshold (default 0.5)."""

    _condition = "fn"


class _PrecisionRecall(_ConfusionMetric):
    def __init__(
        self,
        thresholds: float | Sequence[float] | None = None,
        top_k: int | None = None,
        class_id: int | None = None,
        name: str | None = None,
        dtype: torch.dtype | str | None = None,
    ) -> None:
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds = thresholds
        self.top_k = top_k
        self.class_id = class_id
        # With top_k, everything kept counts as predicted positive.
        default = 0.5 if top_k is None else _NEG_INF
        self._thresholds_list = _parse_thresholds(thresholds, default)
        self._evenly = _is_evenly_distributed(self._thresholds_list)

    @property
    def thresholds(self) -> list[float]:
        return list(self._thresholds_list)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true, y_pred = _prepare(y_true, y_pred)
        counts = self._counters(y_pred)
        _update_confusion(
            counts,
            y_true,
            y_pred,
            self._thresholds_on(counts["tp"]),
            evenly=self._evenly,
            with_epsilon=False,
            top_k=self.top_k,
            class_id=self.class_id,
            sample_weight=sample_weight,
        )

    def result(self) -> Tensor:
        tp = self._count("true_positives")
        other = self._count(self._counts[1])
        value = _divide_no_nan(tp, tp + other)
        return value[0] if value.shape[0] == 1 else value


class Precision(_PrecisionRecall):
    """Precision `tp / (tp + fp)` at each threshold (default 0.5), or within the top k.

    Returns a scalar for one threshold, else one value per threshold.

    Example:
        >>> m = Precision()
        >>> m.update_state(torch.tensor([0, 1, 1, 1]), torch.tensor([1.0, 0.0, 1.0, 1.0]))
        >>> m.result()
        tensor(0.6667)
    """

    _counts = ("true_positives", "false_positives")


class Recall(_PrecisionRecall):
    """Recall `tp / (tp + fn)` at each threshold (default 0.5), or within the top k.

    Returns a scalar for one threshold, else one value per threshold.

    Example:
        >>> m = Recall()
        >>> m.update_state(torch.tensor([0, 1, 1, 1]), torch.tensor([1.0, 0.0, 1.0, 1.0]))
        >>> m.result()
        tensor(0.6667)
    """

    _counts = ("true_positives", "false_negatives")


_AUC_CURVES = {"roc": "ROC", "pr": "PR", "prgain": "PRGAIN"}
_AUC_SUMMATIONS = ("interpolation", "majoring", "minoring")


class AUC(_ConfusionMetric):
    """Area under the ROC, PR or PR-gain curve, from confusion counts at thresholds.

    With `multi_label=True`, `y_pred` is `(N, L)` and the AUC is computed per label
    and averaged (weighted by `label_weights` if given); otherwise all entries are
    pooled (weighted by `label_weights` along the last axis if given).

    Example:
        >>> m = AUC(num_thresholds=3)
        >>> m.update_state(torch.tensor([0, 0, 1, 1]), torch.tensor([0.0, 0.5, 0.3, 0.9]))
        >>> m.result()
        tensor(0.7500)
    """

    _counts = ("true_positives", "false_positives", "true_negatives", "false_negatives")

    def __init__(
        self,
        num_thresholds: int = 200,
        curve: str = "ROC",
        summation_method: str = "interpolation",
        name: str | None = None,
        dtype: torch.dtype | str | None = None,
        thresholds: Sequence[float] | None = None,
        multi_label: bool = False,
        num_labels: int | None = None,
        label_weights: Any = None,
        from_logits: bool = False,
    ) -> None:
        super().__init__(name=name, dtype=dtype)
        curve_key = curve.lower() if isinstance(curve, str) else curve
        if curve_key not in _AUC_CURVES:
            raise ValueError(
                f"Unknown AUC curve. Expected one of {list(_AUC_CURVES.values())}. "
                f"Received: curve={curve!r} (of type {type(curve).__name__})"
            )
        method = summation_method.lower() if isinstance(summation_method, str) else None
        if method not in _AUC_SUMMATIONS:
            raise ValueError(
                f"Unknown AUC summation method. Expected one of {list(_AUC_SUMMATIONS)}. "
                f"Received: summation_method={summation_method!r} "
                f"(of type {type(summation_method).__name__})"
            )
        if thresholds is not None:
            given = sorted(float(t) for t in thresholds)
            _check_thresholds(given)
            self.num_thresholds = len(given) + 2
            self._evenly = _is_evenly_distributed([0.0, *given, 1.0])
        else:
            if not isinstance(num_thresholds, int) or num_thresholds <= 1:
                raise ValueError(
                    "Expected `num_thresholds` to be an integer > 1. "
                    f"Received: num_thresholds={num_thresholds!r} "
                    f"(of type {type(num_thresholds).__name__})"
                )
            self.num_thresholds = num_thresholds
            given = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._evenly = True
        self._init_from_thresholds = thresholds is not None
        # End points just outside [0, 1] so that predictions of exactly 0 or 1 are
        # placed consistently despite floating point error.
        self._thresholds_list = [0.0 - _EPSILON, *given, 1.0 + _EPSILON]
        self.curve = _AUC_CURVES[curve_key]
        self.summation_method = method
        if num_labels is not None and not multi_label:
            raise ValueError(
                "`num_labels` is needed only when `multi_label` is True. "
                f"Received: num_labels={num_labels!r}, multi_label={multi_label!r}"
            )
        self.multi_label = multi_label
        self.num_labels = num_labels
        self.label_weights: Tensor | None = (
            None if label_weights is None else torch.as_tensor(label_weights, dtype=torch.float32)
        )
        self.from_logits = from_logits

    @property
    def thresholds(self) -> list[float]:
        """The thresholds at which the confusion counts are taken."""
        return list(self._thresholds_list)

    def _num_labels_for(self, y_pred: Tensor) -> int | None:
        if not self.multi_label:
            return None
        if y_pred.ndim != 2:
            raise ValueError(
                "`y_pred` must have rank 2 when `multi_label=True`. "
                f"Received: y_pred.shape={tuple(y_pred.shape)}"
            )
        return self.num_labels if self.num_labels else y_pred.shape[1]

    def _label_weights_on(self, like: Tensor) -> Tensor | None:
        lw = self.label_weights
        if lw is not None and (lw.device != like.device or lw.dtype != like.dtype):
            lw = self.label_weights = lw.to(device=like.device, dtype=like.dtype)
        return lw

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true, y_pred = _prepare(y_true, y_pred)
        counts = self._counters(y_pred)
        if self.from_logits:
            y_pred = torch.sigmoid(y_pred)
        # Label weights weigh the pooled counts; with multi_label they weigh the
        # per-label AUCs in `result` instead.
        _update_confusion(
            counts,
            y_true,
            y_pred,
            self._thresholds_on(counts["tp"]),
            evenly=self._evenly,
            with_epsilon=True,
            sample_weight=sample_weight,
            multi_label=self.multi_label,
            label_weights=None if self.multi_label else self._label_weights_on(counts["tp"]),
        )

    def _average_labels(self, by_threshold: Tensor) -> Tensor:
        """Sum over thresholds; with multi_label, then average over labels."""
        if not self.multi_label:
            return by_threshold.sum()
        by_label = by_threshold.sum(dim=0)
        lw = self._label_weights_on(by_label)
        if lw is None:
            return by_label.mean()
        return _divide_no_nan((by_label * lw).sum(), lw.sum())

    def _interpolate_pr_auc(self, tp: Tensor, fp: Tensor, fn: Tensor) -> Tensor:
        """PR AUC interpolating TP and FP linearly between thresholds (Davis & Goadrich 2006).

        Between thresholds A and B precision is `(TP_A + slope * (P - P_A)) / P` with
        P = TP + FP; integrating over P gives
        `slope * (dTP + intercept * log(P_A / P_B)) / (TP_B + FN_B)` per interval.
        """
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = _divide_no_nan(dtp, dp.clamp(min=0))
        intercept = tp[1:] - slope * p[1:]
        both_positive = (p[:-1] > 0) & (p[1:] > 0)
        ratio = torch.where(
            both_positive, _divide_no_nan(p[:-1], p[1:].clamp(min=0)), torch.ones_like(p[1:])
        )
        increments = _divide_no_nan(
            slope * (dtp + intercept * ratio.log()), (tp[1:] + fn[1:]).clamp(min=0)
        )
        return self._average_labels(increments)

    def result(self) -> Tensor:
        if getattr(self, self._counts[0]) is None:
            return _zero_result()
        tp, fp, tn, fn = (cast(Tensor, getattr(self, attr)) for attr in self._counts)
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolate_pr_auc(tp, fp, fn)
        recall = _divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _divide_no_nan(fp, fp + tn), recall
        elif self.curve == "PR":
            x, y = recall, _divide_no_nan(tp, tp + fp)
        else:  # PRGAIN, with Keras's fixes: no TP -> recall gain 0, precision gain 1
            scale = _divide_no_nan(tp + fn, tn + fp)
            no_tp = tp == 0
            recall_gain = 1.0 - scale * _divide_no_nan(fn, tp)
            precision_gain = 1.0 - scale * _divide_no_nan(fp, tp)
            x = torch.where(no_tp, 0.0, recall_gain).clamp(min=0.0)
            y = torch.where(no_tp, 1.0, precision_gain)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = torch.minimum(y[:-1], y[1:])
        else:
            heights = torch.maximum(y[:-1], y[1:])
        return self._average_labels((x[:-1] - x[1:]) * heights)


# ------------------------------------------------------------ accuracy by inference

_BINARY_LOSSES = {"binarycrossentropy", "binaryfocalcrossentropy", "bceloss", "bce"}
_BINARY_LOGIT_LOSSES = {"bcewithlogitsloss"}
_SPARSE_LOSSES = {"sparsecategoricalcrossentropy", "nllloss"}
_CATEGORICAL_LOSSES = {"categoricalcrossentropy", "categoricalfocalcrossentropy"}


def _accuracy_kind_from_loss(loss: Any) -> tuple[str, bool] | None:
    """("binary" | "sparse_categorical" | "categorical", from_logits) for crossentropy losses."""
    if loss is None:
        return None
    names = set()
    for candidate in (
        loss if isinstance(loss, str) else None,
        getattr(loss, "name", None),
        getattr(loss, "__name__", None),
        type(loss).__name__,
    ):
        if isinstance(candidate, str):
            names.add(candidate.replace("_", "").lower())
    from_logits = bool(getattr(loss, "from_logits", False))
    if names & _BINARY_LOGIT_LOSSES:
        return "binary", True
    if names & _BINARY_LOSSES:
        return "binary", from_logits
    if names & _SPARSE_LOSSES:
        return "sparse_categorical", from_logits
    if names & _CATEGORICAL_LOSSES:
        return "categorical", from_logits
    return None


def _accuracy_kind_from_shapes(y_true: Tensor, y_pred: Tensor) -> str:
    """Keras 3's rule (compile_utils.is_binary_or_sparse_categorical)."""
    true_last = y_true.shape[-1] if y_true.ndim else 1
    pred_last = y_pred.shape[-1] if y_pred.ndim else 1
    if pred_last == 1:
        return "binary"
    if y_true.ndim < y_pred.ndim or (true_last == 1 and pred_last > 1):
        return "sparse_categorical"
    return "categorical"


class InferredAccuracy(Metric):
    """The accuracy that fits the task, chosen on the first update ("accuracy"/"acc").

    The loss decides when it is a crossentropy: binary crossentropy -> binary
    accuracy (threshold 0 on logits), sparse categorical -> sparse categorical
    accuracy, categorical -> categorical accuracy. Otherwise the shapes decide,
    by Keras 3's rule: `y_pred` with a last axis of 1 -> binary; labels of lower
    rank, or a last axis of 1 against several classes -> sparse; else categorical.

    Example:
        >>> m = InferredAccuracy("acc")
        >>> m.update_state(torch.tensor([1, 0]), torch.tensor([[0.2, 0.8], [0.3, 0.7]]))
        >>> m.kind, m.result()
        ('sparse_categorical', tensor(0.5000))
    """

    def __init__(self, name: str = "accuracy", loss: Any = None) -> None:
        super().__init__(name=name)
        self.loss = loss
        self.kind: str | None = None
        self.metric: MeanMetricWrapper | None = None

    def _build(self, kind: str, from_logits: bool = False) -> MeanMetricWrapper:
        metric: MeanMetricWrapper
        if kind == "binary":
            metric = BinaryAccuracy(name=self.name, threshold=0.0 if from_logits else 0.5)
        elif kind == "sparse_categorical":
            metric = SparseCategoricalAccuracy(name=self.name)
        elif kind == "categorical":
            metric = CategoricalAccuracy(name=self.name)
        else:
            raise ValueError(
                "Unknown accuracy kind. Expected one of "
                "['binary', 'sparse_categorical', 'categorical']. "
                f"Received: kind={kind!r} (of type {type(kind).__name__})"
            )
        self.kind, self.metric = kind, metric
        return metric

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        metric = self.metric
        if metric is None:
            y_true, y_pred = _prepare(y_true, y_pred)
            hint = _accuracy_kind_from_loss(self.loss)
            if hint is not None:
                metric = self._build(*hint)
            else:
                metric = self._build(_accuracy_kind_from_shapes(y_true, y_pred))
        metric.update_state(y_true, y_pred, sample_weight=sample_weight)

    def result(self) -> Tensor:
        return _zero_result() if self.metric is None else self.metric.result()

    def reset_state(self) -> None:
        if self.metric is not None:
            self.metric.reset_state()

    def state_dict(self) -> dict[str, Any]:
        if self.metric is None:
            return {"kind": None, "threshold": None, "state": None}
        threshold = getattr(self.metric, "threshold", None)
        return {"kind": self.kind, "threshold": threshold, "state": self.metric.state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not isinstance(state_dict, dict) or set(state_dict) != {"kind", "threshold", "state"}:
            raise ValueError(
                "Expected a state dict of InferredAccuracy with keys "
                "['kind', 'state', 'threshold']. "
                f"Received: state_dict={state_dict!r} (of type {type(state_dict).__name__})"
            )
        if state_dict["kind"] is None:
            self.kind, self.metric = None, None
            return
        metric = self._build(state_dict["kind"], from_logits=state_dict["threshold"] == 0.0)
        metric.load_state_dict(state_dict["state"])


# ----------------------------------------------------------------- torchmetrics bridge


class TorchMetricsWrapper(Metric):
    """Adapts a `torchmetrics.Metric` (which takes predictions first) to this API.

    It is moved to the device of `y_pred` on the first update. Sample weights are
    not supported: torchmetrics has no notion of them.

    Example:
        >>> from torchmetrics.classification import MulticlassAccuracy
        >>> m = TorchMetricsWrapper(MulticlassAccuracy(num_classes=3, average="micro"))
        >>> m.update_state(torch.tensor([0, 2]), torch.tensor([[0.9, 0.1, 0.0], [0.8, 0.1, 0.1]]))
        >>> m.name, m.result()
        ('multiclass_accuracy', tensor(0.5000))
    """

    def __init__(self, metric: Any, name: str | None = None) -> None:
        if not _is_torchmetrics_metric(metric):
            raise TypeError(
                "Expected a torchmetrics.Metric instance. "
                f"Received: metric={metric!r} (of type {type(metric).__name__})"
            )
        super().__init__(name=name if name is not None else _to_snake_case(type(metric).__name__))
        self.metric = metric
        self._device: torch.device | None = None
        self._updated = False

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        if sample_weight is not None:
            raise ValueError(
                f"Metric {self.name!r} wraps a torchmetrics metric, which does not support "
                "sample weights; use it in `metrics`, not `weighted_metrics`. "
                f"Received: sample_weight of type {type(sample_weight).__name__}"
            )
        y_true, y_pred = _prepare(y_true, y_pred)
        if self._device != y_pred.device:
            self.metric.to(y_pred.device)
            self._device = y_pred.device
        self.metric.update(y_pred, y_true)
        self._updated = True

    def result(self) -> Tensor:
        if not self._updated:
            return _zero_result()
        value = self.metric.compute()
        return value if isinstance(value, Tensor) else torch.as_tensor(value)

    def reset_state(self) -> None:
        self.metric.reset()
        self._updated = False

    def state_dict(self) -> dict[str, Any]:
        states = {
            key: value.detach().clone()
            if isinstance(value, Tensor)
            else [v.detach().clone() for v in value]
            for key, value in ((k, getattr(self.metric, k)) for k in self.metric._defaults)
        }
        return {"updated": self._updated, "states": states}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not isinstance(state_dict, dict) or set(state_dict) != {"updated", "states"}:
            raise ValueError(
                "Expected a state dict of TorchMetricsWrapper with keys ['states', 'updated']. "
                f"Received: state_dict={state_dict!r} (of type {type(state_dict).__name__})"
            )
        for key, value in state_dict["states"].items():
            setattr(self.metric, key, value)
        self._device = None  # the restored states may live elsewhere: move on next update
        self._updated = bool(state_dict["updated"])
        # torchmetrics caches compute() and warns when compute precedes update.
        self.metric._computed = None
        self.metric._update_count = int(self._updated)


def _is_torchmetrics_metric(obj: Any) -> bool:
    # torchmetrics is optional: only a module already imported can own `obj`.
    module = sys.modules.get("torchmetrics")
    return module is not None and isinstance(obj, module.Metric)


# -------------------------------------------------------------------------- lookup

_BUILTIN_CLASSES: tuple[type[Metric], ...] = (
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    SparseCategoricalAccuracy,
    TopKCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
    MeanSquaredError,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError,
    RootMeanSquaredError,
    BinaryCrossentropy,
    CategoricalCrossentropy,
    SparseCategoricalCrossentropy,
    AUC,
    Precision,
    Recall,
    TruePositives,
    FalsePositives,
    TrueNegatives,
    FalseNegatives,
)

_BY_NAME: dict[str, type[Metric]] = {cls.__name__: cls for cls in _BUILTIN_CLASSES}
_BY_NAME.update({_to_snake_case(cls.__name__): cls for cls in _BUILTIN_CLASSES})
_BY_NAME.update(
    {
        "bce": BinaryCrossentropy,
        "BCE": BinaryCrossentropy,
        "mse": MeanSquaredError,
        "MSE": MeanSquaredError,
        "mae": MeanAbsoluteError,
        "MAE": MeanAbsoluteError,
        "mape": MeanAbsolutePercentageError,
        "MAPE": MeanAbsolutePercentageError,
        "msle": MeanSquaredLogarithmicError,
        "MSLE": MeanSquaredLogarithmicError,
        # Not in Keras 3 (which rejects "rmse"), but the obvious spelling.
        "rmse": RootMeanSquaredError,
        "RMSE": RootMeanSquaredError,
    }
)


def get(identifier: Any, loss: Any = None) -> Metric:
    """A metric object from a name, a metric, a function or a torchmetrics metric.

    Strings resolve as Keras 3's `compile(metrics=[...])` does, and the metric is
    named by the string (its log key): "mae" logs "mae", "MeanAbsoluteError" logs
    "MeanAbsoluteError". "accuracy"/"acc" give an `InferredAccuracy` that picks its
    kind from `loss` or from the shapes. Metric instances are returned as they are,
    `Metric` subclasses are instantiated, functions `fn(y_true, y_pred)` are wrapped
    in `MeanMetricWrapper` named after them, and torchmetrics metrics in
    `TorchMetricsWrapper`.

    Example:
        >>> get("mae").name
        'mae'
        >>> type(get("acc", loss="sparse_categorical_crossentropy")).__name__
        'InferredAccuracy'
    """
    if identifier is None:
        raise ValueError(
            "Expected a metric (a name, a Metric, or a function). Received: identifier=None"
        )
    if isinstance(identifier, str):
        if identifier.lower() in ("accuracy", "acc"):
            return InferredAccuracy(name=identifier, loss=loss)
        cls = _BY_NAME.get(identifier)
        if cls is None:
            valid = ["accuracy", "acc", *sorted(_BY_NAME, key=str.lower)]
            raise ValueError(
                f"Unknown metric name. Expected one of {valid}. "
                f"Received: identifier={identifier!r} (of type str)"
            )
        return cls(name=identifier)
    if isinstance(identifier, Metric):
        return identifier
    if inspect.isclass(identifier) and issubclass(identifier, Metric):
        return identifier()
    if _is_torchmetrics_metric(identifier):
        return TorchMetricsWrapper(identifier)
    if callable(identifier) and not inspect.isclass(identifier):
        return MeanMetricWrapper(identifier, name=_object_name(identifier))
    raise TypeError(
        "Expected a metric name, a Metric, a function fn(y_true, y_pred) or a "
        f"torchmetrics.Metric. Received: identifier={identifier!r} "
        f"(of type {type(identifier).__name__})"
    )
