"""Regression metrics: MSE, MAE, MAPE, MSLE, RMSE and cosine similarity."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from fitorch import losses
from fitorch.metrics._utils import _EPSILON, _prepare, _squeeze_or_expand
from fitorch.metrics.base import Mean, MeanMetricWrapper


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


def _cosine_similarity(y_true: Tensor, y_pred: Tensor, axis: int = -1) -> Tensor:
    # The loss is the negative similarity; the metric reports the similarity itself.
    return -losses.cosine_similarity(y_true.to(y_pred.dtype), y_pred, axis=axis)


class CosineSimilarity(MeanMetricWrapper):
    """Mean cosine similarity along `axis`: `sum(l2_norm(y_true) * l2_norm(y_pred), axis)`.

    Example:
        >>> m = CosineSimilarity()
        >>> m.update_state(torch.tensor([[0.0, 1.0], [1.0, 1.0]]),
        ...                torch.tensor([[1.0, 0.0], [1.0, 1.0]]))
        >>> m.result()
        tensor(0.5000)
    """

    def __init__(self, name: str = "cosine_similarity", dtype: torch.dtype | str | None = None,
                 axis: int = -1) -> None:
        super().__init__(_cosine_similarity, name=name, dtype=dtype, axis=axis)
        self.axis = axis
