"""Regression losses: squared, absolute, percentage and logarithmic errors, cosine
similarity, Huber, log-cosh, Kullback-Leibler divergence and Poisson."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from fitorch.losses._utils import EPSILON, TensorLike, _check_axis, _prepare, _same_shape
from fitorch.losses.base import _FAST_MEAN, Loss, LossFunctionWrapper
from fitorch.losses.reduction import squeeze_or_expand_to_same_rank

_LOG2 = math.log(2.0)


# ------------------------------------------------------------------ per-sample functions


def mean_squared_error(y_true: TensorLike, y_pred: TensorLike) -> torch.Tensor:
    """`mean(square(y_true - y_pred), axis=-1)`.

    Example:
        >>> mean_squared_error(torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 1.0]]))
        tensor([0.5000])
    """
    y_true, y_pred = _prepare(y_true, y_pred)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    return torch.square(y_true - y_pred).mean(dim=-1)


def mean_absolute_error(y_true: TensorLike, y_pred: TensorLike) -> torch.Tensor:
    """`mean(abs(y_true - y_pred), axis=-1)`.

    Example:
        >>> mean_absolute_error(torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 1.0]]))
        tensor([0.5000])
    """
    y_true, y_pred = _prepare(y_true, y_pred)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    return torch.abs(y_true - y_pred).mean(dim=-1)


def mean_absolute_percentage_error(y_true: TensorLike, y_pred: TensorLike) -> torch.Tensor:
    """`100 * mean(abs((y_true - y_pred) / max(abs(y_true), 1e-7)), axis=-1)`.

    Example:
        >>> mean_absolute_percentage_error(torch.tensor([[2.0, 4.0]]), torch.tensor([[1.0, 4.0]]))
        tensor([25.])
    """
    y_true, y_pred = _prepare(y_true, y_pred)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    diff = torch.abs((y_true - y_pred) / y_true.abs().clamp_min(EPSILON))
    return 100.0 * diff.mean(dim=-1)


def mean_squared_logarithmic_error(y_true: TensorLike, y_pred: TensorLike) -> torch.Tensor:
    """`mean(square(log(max(y_pred, 1e-7) + 1) - log(max(y_true, 1e-7) + 1)), axis=-1)`.

    Example:
        >>> mean_squared_logarithmic_error(torch.tensor([[0.0]]), torch.tensor([[math.e - 1]]))
        tensor([1.0000])
    """
    y_true, y_pred = _prepare(y_true, y_pred)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    # log(x + 1) rather than log1p: Keras's exact rounding, not the more accurate one.
    first_log = torch.log(y_pred.clamp_min(EPSILON) + 1.0)
    second_log = torch.log(y_true.clamp_min(EPSILON) + 1.0)
    return torch.square(first_log - second_log).mean(dim=-1)


def _l2_normalize(x: torch.Tensor, axis: int) -> torch.Tensor:
    if x.dim() == 0:
        x = x.unsqueeze(0)
    # Keras caps the inverse norm at 1/epsilon, so zero vectors stay zero.
    inv_norm = torch.rsqrt(torch.square(x).sum(dim=axis, keepdim=True))
    return x * inv_norm.clamp_max(1.0 / EPSILON)


def cosine_similarity(y_true: TensorLike, y_pred: TensorLike, axis: int = -1) -> torch.Tensor:
    """Negative cosine similarity along `axis`: `-sum(l2_norm(y_true) * l2_norm(y_pred))`.

    Example:
        >>> cosine_similarity(torch.tensor([[1.0, 0.0]]), torch.tensor([[2.0, 0.0]]))
        tensor([-1.])
    """
    y_true, y_pred = _prepare(y_true, y_pred)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    return -(_l2_normalize(y_true, axis) * _l2_normalize(y_pred, axis)).sum(dim=axis)


def huber(y_true: TensorLike, y_pred: TensorLike, delta: float = 1.0) -> torch.Tensor:
    """Huber loss, mean over the last axis: quadratic within `delta`, linear beyond.

    Example:
        >>> huber(torch.tensor([[0.0, 0.0]]), torch.tensor([[0.5, 3.0]]))
        tensor([1.3125])
    """
    y_true, y_pred = _prepare(y_true, y_pred)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    error = y_pred - y_true
    abs_error = error.abs()
    quadratic = 0.5 * torch.square(error)
    linear = delta * abs_error - 0.5 * delta * delta
    return torch.where(abs_error <= delta, quadratic, linear).mean(dim=-1)


def log_cosh(y_true: TensorLike, y_pred: TensorLike) -> torch.Tensor:
    """`mean(log(cosh(y_pred - y_true)), axis=-1)`, computed without overflow.

    Example:
        >>> log_cosh(torch.tensor([[0.0]]), torch.tensor([[0.0]]))
        tensor([0.])
    """
    y_true, y_pred = _prepare(y_true, y_pred)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    x = y_pred - y_true
    # log(cosh(x)) = x + softplus(-2x) - log(2), stable for large |x|.
    return (x + F.softplus(-2.0 * x) - _LOG2).mean(dim=-1)


def kl_divergence(y_true: TensorLike, y_pred: TensorLike) -> torch.Tensor:
    """`sum(y_true * log(y_true / y_pred), axis=-1)` with both clipped to `[1e-7, 1]`.

    Example:
        >>> kl_divergence(torch.tensor([[0.5, 0.5]]), torch.tensor([[0.5, 0.5]]))
        tensor([0.])
    """
    y_true, y_pred = _prepare(y_true, y_pred)
    y_true = y_true.clamp(EPSILON, 1.0)
    y_pred = y_pred.clamp(EPSILON, 1.0)
    return (y_true * torch.log(y_true / y_pred)).sum(dim=-1)


def poisson(y_true: TensorLike, y_pred: TensorLike) -> torch.Tensor:
    """`mean(y_pred - y_true * log(y_pred + 1e-7), axis=-1)`.

    Example:
        >>> poisson(torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, 3.0]]))
        tensor([2.])
    """
    y_true, y_pred = _prepare(y_true, y_pred)
    return (y_pred - y_true * torch.log(y_pred + EPSILON)).mean(dim=-1)


# --------------------------------------------------------------------------- fast paths
# Each returns the "sum_over_batch_size" reduction of the unweighted per-sample values
# with one fused kernel where possible, or None when its preconditions do not hold.


def _fast_mse(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor | None:
    return F.mse_loss(y_pred, y_true) if _same_shape(y_true, y_pred) else None


def _fast_mae(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor | None:
    return F.l1_loss(y_pred, y_true) if _same_shape(y_true, y_pred) else None


def _fast_huber(
    y_true: torch.Tensor, y_pred: torch.Tensor, delta: float = 1.0
) -> torch.Tensor | None:
    if not _same_shape(y_true, y_pred) or not isinstance(delta, int | float) or delta <= 0:
        return None
    return F.huber_loss(y_pred, y_true, delta=delta)


def _fast_poisson(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor | None:
    if not _same_shape(y_true, y_pred):
        return None
    return F.poisson_nll_loss(y_pred, y_true, log_input=False, full=False, eps=EPSILON)


_FAST_MEAN.update(
    {
        mean_squared_error: _fast_mse,
        mean_absolute_error: _fast_mae,
        huber: _fast_huber,
        poisson: _fast_poisson,
    }
)


# ----------------------------------------------------------------------------- classes


class MeanSquaredError(LossFunctionWrapper):
    """Mean of squared errors, see :func:`mean_squared_error`.

    Example:
        >>> MeanSquaredError()(torch.tensor([1.0, 0.0, 1.0]), torch.tensor([0.9, 0.1, 0.8]))
        tensor(0.0200)
    """

    def __init__(
        self, reduction: str | None = "sum_over_batch_size", name: str = "mean_squared_error"
    ):
        super().__init__(mean_squared_error, reduction=reduction, name=name)

    def get_config(self) -> dict[str, Any]:
        return Loss.get_config(self)


class MeanAbsoluteError(LossFunctionWrapper):
    """Mean of absolute errors, see :func:`mean_absolute_error`.

    Example:
        >>> MeanAbsoluteError()(torch.tensor([1.0, 0.0]), torch.tensor([0.5, 0.5]))
        tensor(0.5000)
    """

    def __init__(
        self, reduction: str | None = "sum_over_batch_size", name: str = "mean_absolute_error"
    ):
        super().__init__(mean_absolute_error, reduction=reduction, name=name)

    def get_config(self) -> dict[str, Any]:
        return Loss.get_config(self)


class MeanAbsolutePercentageError(LossFunctionWrapper):
    """Mean absolute percentage error, see :func:`mean_absolute_percentage_error`.

    Example:
        >>> MeanAbsolutePercentageError()(torch.tensor([[2.0, 4.0]]), torch.tensor([[1.0, 4.0]]))
        tensor(25.)
    """

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str = "mean_absolute_percentage_error",
    ):
        super().__init__(mean_absolute_percentage_error, reduction=reduction, name=name)

    def get_config(self) -> dict[str, Any]:
        return Loss.get_config(self)


class MeanSquaredLogarithmicError(LossFunctionWrapper):
    """Mean squared logarithmic error, see :func:`mean_squared_logarithmic_error`.

    Example:
        >>> MeanSquaredLogarithmicError()(torch.tensor([[0.0]]), torch.tensor([[math.e - 1]]))
        tensor(1.0000)
    """

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str = "mean_squared_logarithmic_error",
    ):
        super().__init__(mean_squared_logarithmic_error, reduction=reduction, name=name)

    def get_config(self) -> dict[str, Any]:
        return Loss.get_config(self)


class CosineSimilarity(LossFunctionWrapper):
    """Negative cosine similarity along `axis`, see :func:`cosine_similarity`.

    Example:
        >>> CosineSimilarity()(torch.tensor([[0.0, 1.0]]), torch.tensor([[0.0, 3.0]]))
        tensor(-1.)
    """

    def __init__(
        self,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str = "cosine_similarity",
    ):
        _check_axis(axis)
        super().__init__(cosine_similarity, reduction=reduction, name=name, axis=axis)
        self.axis = axis

    def get_config(self) -> dict[str, Any]:
        return {**Loss.get_config(self), "axis": self.axis}


class Huber(LossFunctionWrapper):
    """Huber loss with threshold `delta`, see :func:`huber`.

    Example:
        >>> Huber(delta=1.0)(torch.tensor([[0.0, 0.0]]), torch.tensor([[0.5, 3.0]]))
        tensor(1.3125)
    """

    def __init__(
        self,
        delta: float = 1.0,
        reduction: str | None = "sum_over_batch_size",
        name: str = "huber_loss",
    ):
        super().__init__(huber, reduction=reduction, name=name, delta=delta)
        self.delta = delta

    def get_config(self) -> dict[str, Any]:
        return {**Loss.get_config(self), "delta": self.delta}


class LogCosh(LossFunctionWrapper):
    """Logarithm of the hyperbolic cosine of the error, see :func:`log_cosh`.

    Example:
        >>> LogCosh()(torch.tensor([[0.0]]), torch.tensor([[0.0]]))
        tensor(0.)
    """

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str = "log_cosh"):
        super().__init__(log_cosh, reduction=reduction, name=name)

    def get_config(self) -> dict[str, Any]:
        return Loss.get_config(self)


class KLDivergence(LossFunctionWrapper):
    """Kullback-Leibler divergence, see :func:`kl_divergence`.

    Example:
        >>> KLDivergence()(torch.tensor([[0.5, 0.5]]), torch.tensor([[0.5, 0.5]]))
        tensor(0.)
    """

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str = "kl_divergence"):
        super().__init__(kl_divergence, reduction=reduction, name=name)

    def get_config(self) -> dict[str, Any]:
        return Loss.get_config(self)


class Poisson(LossFunctionWrapper):
    """Poisson loss, see :func:`poisson`.

    Example:
        >>> Poisson()(torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, 3.0]]))
        tensor(2.)
    """

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str = "poisson"):
        super().__init__(poisson, reduction=reduction, name=name)

    def get_config(self) -> dict[str, Any]:
        return Loss.get_config(self)
