"""Keras 3 losses implemented in torch, numerically identical to ``keras.losses``.

Every loss has two forms, exactly as in Keras:

* a function ``fn(y_true, y_pred, ...)`` returning per-sample values (already reduced
  over the last axis where Keras does so), e.g. :func:`mean_squared_error`;
* a :class:`Loss` object whose ``__call__(y_true, y_pred, sample_weight=None)`` applies
  sample weights and the reduction, e.g. :class:`MeanSquaredError`.

Example:
    >>> loss = get("sparse_categorical_crossentropy")
    >>> loss(torch.tensor([1, 2]), torch.tensor([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]]))
    tensor(1.1769)
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "CosineSimilarity",
    "Hinge",
    "Huber",
    "KLDivergence",
    "LogCosh",
    "Loss",
    "LossFunctionWrapper",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanSquaredError",
    "MeanSquaredLogarithmicError",
    "Poisson",
    "SparseCategoricalCrossentropy",
    "SquaredHinge",
    "binary_crossentropy",
    "categorical_crossentropy",
    "cosine_similarity",
    "get",
    "hinge",
    "huber",
    "kl_divergence",
    "log_cosh",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_error",
    "mean_squared_logarithmic_error",
    "poisson",
    "reduce_values",
    "reduce_weighted_values",
    "sparse_categorical_crossentropy",
    "squared_hinge",
    "squeeze_or_expand_to_same_rank",
]

TensorLike: TypeAlias = "torch.Tensor | np.ndarray | float | int | Sequence[Any]"

# Keras's `backend.epsilon()`; every clip/guard below uses it so numbers match Keras.
EPSILON = 1e-7

REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)
_MEAN_REDUCTIONS = frozenset({"sum_over_batch_size", "mean", "mean_with_sample_weight"})

# Keras computes losses in float32 (its default loss dtype) even under mixed precision;
# half-precision predictions are upcast for the same numerical safety.
_LOW_PRECISION = (torch.float16, torch.bfloat16)

# torch's default `ignore_index=-100` would silently drop a label of -100; no real label
# can equal this value, so out-of-range labels always surface as errors.
_NO_IGNORE_INDEX = -(2**63)

_LOG2 = math.log(2.0)


# --------------------------------------------------------------------------- helpers


def _type_name(x: object) -> str:
    return type(x).__name__


def _to_snake_case(name: str) -> str:
    name = re.sub(r"\W+", "", name)
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _as_tensor(x: TensorLike, device: torch.device | None = None) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        if device is not None and x.device != device:
            return x.to(device)
        return x
    try:
        return torch.as_tensor(x, device=device)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(
            "Expected a torch.Tensor, NumPy array, number or nested sequence of numbers. "
            f"Received: x={x!r} (of type {_type_name(x)})"
        ) from err


def _as_pred(y_pred: TensorLike) -> torch.Tensor:
    y_pred = _as_tensor(y_pred)
    if not y_pred.is_floating_point():
        y_pred = y_pred.to(torch.get_default_dtype())
    return y_pred


def _prepare(y_true: TensorLike, y_pred: TensorLike) -> tuple[torch.Tensor, torch.Tensor]:
    """Tensors for a loss function: float `y_pred`, `y_true` cast to its dtype/device."""
    pred = _as_pred(y_pred)
    true = _as_tensor(y_true)
    if true.dtype != pred.dtype or true.device != pred.device:
        true = true.to(device=pred.device, dtype=pred.dtype)
    return true, pred


def squeeze_or_expand_to_same_rank(
    x1: torch.Tensor, x2: torch.Tensor, expand_rank_1: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Squeeze or expand the trailing size-1 axis when the ranks differ by exactly one.

    This is what keeps `y_true` of shape `(N,)` from broadcasting against `y_pred` of
    shape `(N, 1)` into `(N, N)`: rank-1 inputs are expanded, others squeezed.

    Example:
        >>> a, b = squeeze_or_expand_to_same_rank(torch.zeros(4), torch.zeros(4, 1))
        >>> a.shape, b.shape
        (torch.Size([4, 1]), torch.Size([4, 1]))
    """
    rank1, rank2 = x1.dim(), x2.dim()
    if rank1 == rank2 + 1 and x1.shape[-1] == 1:
        if rank2 == 1 and expand_rank_1:
            x2 = x2.unsqueeze(-1)
        else:
            x1 = x1.squeeze(-1)
    elif rank2 == rank1 + 1 and x2.shape[-1] == 1:
        if rank1 == 1 and expand_rank_1:
            x1 = x1.unsqueeze(-1)
        else:
            x2 = x2.squeeze(-1)
    return x1, x2


def standardize_reduction(reduction: str | None) -> str | None:
    """Validate a reduction name (see :data:`REDUCTIONS`) and return it unchanged."""
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"Invalid value for argument `reduction`. Expected one of {list(REDUCTIONS)}. "
            f"Received: reduction={reduction!r} (of type {_type_name(reduction)})"
        )
    return reduction


def _divide_no_nan(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    # The safe denominator keeps the gradient of the unused branch finite.
    is_zero = denominator == 0
    safe = torch.where(is_zero, torch.ones_like(denominator), denominator)
    return torch.where(is_zero, torch.zeros_like(numerator), numerator / safe)


def reduce_values(
    values: torch.Tensor,
    sample_weight: torch.Tensor | None = None,
    reduction: str | None = "sum_over_batch_size",
) -> torch.Tensor:
    """Reduce (already weighted) per-sample `values` as Keras's `reduce_values` does.

    Scalars and shape-`(0,)` values are returned unchanged; `"sum_over_batch_size"` and
    `"mean"` divide the sum by the number of values; `"mean_with_sample_weight"` divides
    by `sample_weight.sum()` (or the count when there are no weights); a zero
    denominator gives 0.

    Example:
        >>> reduce_values(torch.tensor([1.0, 2.0, 3.0]), reduction="sum")
        tensor(6.)
    """
    if reduction is None or reduction == "none" or values.dim() == 0:
        return values
    if values.dim() == 1 and values.shape[0] == 0:
        return values
    total = values.sum()
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        return _divide_no_nan(total, sample_weight.sum().to(total.dtype))
    count = values.numel()
    return total / count if count else torch.zeros_like(total)


def _mask_to_weight(mask: torch.Tensor, dtype: torch.dtype, reduction: str | None) -> torch.Tensor:
    mask = mask.to(torch.bool)
    if reduction in ("mean", "sum_over_batch_size"):
        # Valid entries get weight total/valid so that sum(...)/total == mean over valid;
        # no valid entry at all gives weight 0 (Keras's divide_no_nan).
        valid = mask.sum(dtype=dtype)
        none_valid = valid == 0
        weight = float(mask.numel()) / torch.where(none_valid, 1.0, valid)
        return torch.where(mask, torch.where(none_valid, 0.0, weight), 0.0)
    return mask.to(dtype)


def _weighted(values: torch.Tensor, sample_weight: torch.Tensor) -> torch.Tensor:
    try:
        torch.broadcast_shapes(values.shape, sample_weight.shape)
    except RuntimeError as err:
        raise ValueError(
            "`sample_weight` cannot be broadcast to the per-sample loss values. Expected a "
            f"shape compatible with {tuple(values.shape)}. Received: "
            f"sample_weight.shape={tuple(sample_weight.shape)} (of type "
            f"{_type_name(sample_weight)})"
        ) from err
    return values * sample_weight


def reduce_weighted_values(
    values: torch.Tensor,
    sample_weight: TensorLike | None = None,
    mask: torch.Tensor | None = None,
    reduction: str | None = "sum_over_batch_size",
) -> torch.Tensor:
    """Apply `mask` and `sample_weight` to per-sample `values`, then reduce (as Keras).

    `sample_weight` is squeezed/expanded to the rank of `values`
    (:func:`squeeze_or_expand_to_same_rank`) and multiplied in; `mask` (bool, shaped
    like `values`) makes masked entries count as absent.

    Example:
        >>> reduce_weighted_values(torch.tensor([1.0, 3.0]), torch.tensor([[1.0], [0.0]]))
        tensor(0.5000)
    """
    reduction = standardize_reduction(reduction)
    weight: torch.Tensor | None = None
    if sample_weight is not None:
        weight = _as_tensor(sample_weight, device=values.device)
        if weight.dtype != values.dtype:
            weight = weight.to(values.dtype)
    if mask is not None:
        float_mask = _mask_to_weight(mask, values.dtype, reduction)
        if weight is None:
            weight = float_mask
        else:
            float_mask, weight = squeeze_or_expand_to_same_rank(float_mask, weight)
            weight = _weighted(weight, float_mask)
    if weight is not None:
        values, weight = squeeze_or_expand_to_same_rank(values, weight)
        values = _weighted(values, weight)
    return reduce_values(values, weight, reduction)


# ------------------------------------------------------------------------ base classes


class Loss:
    """Base class of all losses: `call` gives per-sample values, `__call__` reduces them.

    Args:
        name: Name logged for this loss; defaults to the snake-cased class name.
        reduction: One of `"sum_over_batch_size"` (default), `"sum"`, `"mean"`,
            `"mean_with_sample_weight"`, `"none"` or `None`.

    Example:
        >>> class MyMSE(Loss):
        ...     def call(self, y_true, y_pred):
        ...         return (y_pred - y_true).square().mean(dim=-1)
        >>> MyMSE()(torch.ones(2, 3), torch.zeros(2, 3))
        tensor(1.)
    """

    # Keras casts y_true to the loss dtype before `call`; sparse labels opt out.
    _cast_y_true: bool = True

    def __init__(self, name: str | None = None, reduction: str | None = "sum_over_batch_size"):
        if name is not None and not isinstance(name, str):
            raise TypeError(
                f"Expected `name` to be a string or None. Received: name={name!r} "
                f"(of type {_type_name(name)})"
            )
        self.name: str = name or _to_snake_case(type(self).__name__)
        self.reduction: str | None = standardize_reduction(reduction)

    def __call__(
        self, y_true: TensorLike, y_pred: TensorLike, sample_weight: TensorLike | None = None
    ) -> torch.Tensor:
        """Return the loss reduced with `self.reduction` (per-sample values for "none")."""
        pred = _as_pred(y_pred)
        if pred.dtype in _LOW_PRECISION:
            pred = pred.float()
        true = _as_tensor(y_true)
        if self._cast_y_true and true.dtype != pred.dtype:
            true = true.to(device=pred.device, dtype=pred.dtype)
        elif true.device != pred.device:
            true = true.to(pred.device)

        if sample_weight is None and self.reduction in _MEAN_REDUCTIONS and pred.numel():
            fast = self._fast_mean(true, pred)
            if fast is not None:
                return fast
        values, mask = self._values_and_mask(true, pred)
        return reduce_weighted_values(values, sample_weight, mask, self.reduction)

    def call(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        """Per-sample loss values; to be implemented by subclasses."""
        raise NotImplementedError(f"{type(self).__name__} must implement `call()`.")

    def _values_and_mask(
        self, y_true: torch.Tensor, y_pred: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        values = self.call(y_true, y_pred)
        if not isinstance(values, torch.Tensor):
            values = _as_tensor(values, device=y_pred.device).to(y_pred.dtype)
        return values, None

    def _fast_mean(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor | None:
        """Fused mean-reduced loss for the unweighted default case, or None to fall back."""
        return None

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, so that `type(loss).from_config(config)` rebuilds it."""
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Loss:
        """Rebuild a loss from :meth:`get_config`'s output."""
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} reduction={self.reduction!r}>"


class LossFunctionWrapper(Loss):
    """Wrap a function `fn(y_true, y_pred, **kwargs)` into a :class:`Loss`.

    `fn` may return per-sample values or a scalar; inputs are squeezed/expanded to the
    same rank first, as Keras does. The name defaults to the snake-cased `fn.__name__`.

    Example:
        >>> loss = LossFunctionWrapper(lambda t, p: (t - p).abs().max(dim=-1).values)
        >>> loss(torch.zeros(2, 3), torch.ones(2, 3)), loss.name
        (tensor(1.), 'lambda')
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        reduction: str | None = "sum_over_batch_size",
        name: str | None = None,
        **kwargs: Any,
    ):
        if not callable(fn):
            raise TypeError(
                f"Expected `fn` to be a callable (y_true, y_pred) -> Tensor. "
                f"Received: fn={fn!r} (of type {_type_name(fn)})"
            )
        super().__init__(name=name or _object_name(fn), reduction=reduction)
        self.fn = fn
        self._fn_kwargs = kwargs
        try:
            self._fast = _FAST_MEAN.get(fn)
        except TypeError:  # an unhashable callable object has no fast path
            self._fast = None

    def call(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def _values_and_mask(
        self, y_true: torch.Tensor, y_pred: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        values, _ = super()._values_and_mask(y_true, y_pred)
        ignore_class = self._fn_kwargs.get("ignore_class")
        if self.fn is not sparse_categorical_crossentropy or ignore_class is None:
            return values, None
        # Keras attaches this mask to the result so ignored entries count as absent.
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        labels = _sparse_labels(y_true, y_pred, self._fn_kwargs.get("axis", -1))
        return values, labels != int(ignore_class)

    def _fast_mean(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor | None:
        if self._fast is None:
            return None
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return self._fast(y_true, y_pred, **self._fn_kwargs)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["fn"] = self.fn
        config.update(self._fn_kwargs)
        return config

    def __repr__(self) -> str:
        return f"<LossFunctionWrapper({self.fn!r}, kwargs={self._fn_kwargs})>"


def _object_name(obj: object) -> str:
    """The name Keras's `compile` logs for a loss object or function."""
    name = getattr(obj, "name", None)
    if isinstance(name, str):
        return name
    fn_name = getattr(obj, "__name__", None)
    if isinstance(fn_name, str):
        return _to_snake_case(fn_name)
    return _to_snake_case(type(obj).__name__)


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


def _hinge_labels(y_true: torch.Tensor) -> torch.Tensor:
    # Keras maps {0, 1} labels to {-1, 1} only when *all* labels are binary; a 0-d
    # `where` condition makes that decision on device, without a host sync.
    is_binary = ((y_true == 0) | (y_true == 1)).all()
    return torch.where(is_binary, 2.0 * y_true - 1.0, y_true)


def hinge(y_true: TensorLike, y_pred: TensorLike) -> torch.Tensor:
    """`mean(maximum(1 - y_true * y_pred, 0), axis=-1)`; {0, 1} labels become {-1, 1}.

    Example:
        >>> hinge(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.5, -2.0]]))
        tensor([0.2500])
    """
    y_true, y_pred = _prepare(y_true, y_pred)
    y_true = _hinge_labels(y_true)
    return torch.relu(1.0 - y_true * y_pred).mean(dim=-1)


def squared_hinge(y_true: TensorLike, y_pred: TensorLike) -> torch.Tensor:
    """`mean(square(maximum(1 - y_true * y_pred, 0)), axis=-1)`; {0, 1} labels become {-1, 1}.

    Example:
        >>> squared_hinge(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.5, -2.0]]))
        tensor([0.1250])
    """
    y_true, y_pred = _prepare(y_true, y_pred)
    y_true = _hinge_labels(y_true)
    return torch.square(torch.relu(1.0 - y_true * y_pred)).mean(dim=-1)


def _check_same_shape(y_true: torch.Tensor, y_pred: torch.Tensor, loss: str) -> None:
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"In loss {loss}, arguments `y_true` and `y_pred` must have the same shape. "
            f"Received: y_true.shape={tuple(y_true.shape)}, "
            f"y_pred.shape={tuple(y_pred.shape)}"
        )


def _bce_elementwise(
    y_true: torch.Tensor,
    y_pred: torch.Tensor,
    from_logits: bool,
    label_smoothing: float,
    reduction: str,
) -> torch.Tensor:
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    _check_same_shape(y_true, y_pred, "binary_crossentropy")
    if from_logits:
        return F.binary_cross_entropy_with_logits(y_pred, y_true, reduction=reduction)
    y_pred = y_pred.clamp(EPSILON, 1.0 - EPSILON)
    return F.binary_cross_entropy(y_pred, y_true, reduction=reduction)


def binary_crossentropy(
    y_true: TensorLike,
    y_pred: TensorLike,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> torch.Tensor:
    """Binary crossentropy, mean over `axis`; probabilities are clipped to `[1e-7, 1 - 1e-7]`.

    `label_smoothing` squeezes labels towards 0.5: `y * (1 - ls) + 0.5 * ls`.

    Example:
        >>> binary_crossentropy(torch.tensor([[0.0, 1.0]]), torch.tensor([[0.4, 0.6]]))
        tensor([0.5108])
    """
    y_true, y_pred = _prepare(y_true, y_pred)
    values = _bce_elementwise(y_true, y_pred, from_logits, label_smoothing, "none")
    return values.mean(dim=axis)


def _check_axis(axis: object) -> None:
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise TypeError(
            f"`axis` must be of type `int`. Received: axis={axis!r} (of type {_type_name(axis)})"
        )


def _cce_targets(
    y_true: torch.Tensor, y_pred: torch.Tensor, label_smoothing: float
) -> torch.Tensor:
    if y_pred.dim() and y_pred.shape[-1] == 1:
        warnings.warn(
            "In loss categorical_crossentropy, expected y_pred.shape to be "
            "(batch_size, num_classes) with num_classes > 1. Received: "
            f"y_pred.shape={tuple(y_pred.shape)}. Consider using 'binary_crossentropy' if "
            "you only have 2 classes.",
            SyntaxWarning,
            stacklevel=4,
        )
    if label_smoothing:
        # Keras smooths with the size of the *last* axis, whatever `axis` is.
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_true.shape[-1]
    _check_same_shape(y_true, y_pred, "categorical_crossentropy")
    if y_pred.dim() < 1:
        raise ValueError(
            "Arguments `y_true` and `y_pred` must be at least rank 1. Received: "
            f"y_true.shape={tuple(y_true.shape)}, y_pred.shape={tuple(y_pred.shape)}"
        )
    return y_true


def categorical_crossentropy(
    y_true: TensorLike,
    y_pred: TensorLike,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> torch.Tensor:
    """Categorical crossentropy over `axis` for one-hot (or soft) `y_true`.

    Probabilities are renormalised to sum to 1 and clipped to `[1e-7, 1 - 1e-7]`;
    `label_smoothing` uses `y * (1 - ls) + ls / num_classes`.

    Example:
        >>> categorical_crossentropy(torch.tensor([[0.0, 1.0]]), torch.tensor([[0.5, 0.5]]))
        tensor([0.6931])
    """
    _check_axis(axis)
    y_true, y_pred = _prepare(y_true, y_pred)
    y_true = _cce_targets(y_true, y_pred, label_smoothing)
    if from_logits:
        log_prob = F.log_softmax(y_pred, dim=axis)
    else:
        probs = y_pred / y_pred.sum(dim=axis, keepdim=True)
        log_prob = probs.clamp(EPSILON, 1.0 - EPSILON).log()
    return -(y_true * log_prob).sum(dim=axis)


def _sparse_labels(y_true: torch.Tensor, y_pred: torch.Tensor, axis: int) -> torch.Tensor:
    """Integer labels shaped like `y_pred` without its class axis (validated)."""
    if y_pred.dim() < 1:
        raise ValueError(
            "Argument `y_pred` must be at least rank 1. Received: "
            f"y_pred.shape={tuple(y_pred.shape)}"
        )
    if y_true.dim() == y_pred.dim() and y_true.shape[axis] == 1:
        y_true = y_true.squeeze(axis)
    expected = list(y_pred.shape)
    del expected[axis]
    if list(y_true.shape) != expected:
        raise ValueError(
            "Arguments `y_true` and `y_pred` must have the same shape up until the class "
            f"axis. Expected y_true.shape={tuple(expected)} (or with a trailing 1). "
            f"Received: y_true.shape={tuple(y_true.shape)}, "
            f"y_pred.shape={tuple(y_pred.shape)}"
        )
    return y_true if y_true.dtype == torch.long else y_true.long()


def _bad_label_message(
    labels: torch.Tensor, num_classes: int, ignore_class: int | None, y_pred_shape: torch.Size
) -> str | None:
    """Describe out-of-range labels, or None if all are valid (error path only: syncs)."""
    invalid = (labels < 0) | (labels >= num_classes)
    if ignore_class is not None:
        invalid &= labels != ignore_class
    bad = labels[invalid].unique().tolist()
    if not bad:
        return None
    shown = bad if len(bad) <= 10 else [*bad[:10], "..."]
    if len(bad) == 1:
        what = f"a label value of {bad[0]} which is"
    else:
        what = f"label values of {shown} which are"
    return (
        f"Received {what} outside the valid range of [0, {num_classes}) for "
        f"{num_classes} classes in sparse_categorical_crossentropy. Labels must be integer "
        "class indices (or `ignore_class`). Received: y_true with out-of-range values "
        f"{shown} (of type {_type_name(labels)}) for y_pred.shape={tuple(y_pred_shape)}"
    )


def _sparse_ce(
    labels: torch.Tensor,
    y_pred: torch.Tensor,
    from_logits: bool,
    ignore_class: int | None,
    axis: int,
    reduction: str,
) -> torch.Tensor:
    num_classes = y_pred.shape[axis]
    scores, class_dim = y_pred, 0
    if y_pred.dim() > 1:
        class_dim = 1
        class_axis = axis % y_pred.dim()
        if class_axis != 1:
            scores = y_pred.movedim(class_axis, 1)
    ignore_index = _NO_IGNORE_INDEX if ignore_class is None else int(ignore_class)
    try:
        if from_logits:
            return F.cross_entropy(scores, labels, ignore_index=ignore_index, reduction=reduction)
        probs = scores / scores.sum(dim=class_dim, keepdim=True)
        log_prob = probs.clamp(EPSILON, 1.0 - EPSILON).log()
        return F.nll_loss(log_prob, labels, ignore_index=ignore_index, reduction=reduction)
    except (IndexError, RuntimeError) as err:
        # The fused kernels report bad labels as IndexError/RuntimeError; only now do we
        # look at the label values (a sync) to raise a message that names them.
        message = _bad_label_message(labels, num_classes, ignore_class, y_pred.shape)
        if message is None:
            raise
        raise ValueError(message) from err


def sparse_categorical_crossentropy(
    y_true: TensorLike,
    y_pred: TensorLike,
    from_logits: bool = False,
    ignore_class: int | None = None,
    axis: int = -1,
) -> torch.Tensor:
    """Categorical crossentropy with integer labels of shape `(N, ...)` or `(N, ..., 1)`.

    Entries whose label equals `ignore_class` get a loss of 0 (and count as absent
    when reduced by :class:`SparseCategoricalCrossentropy`).

    Example:
        >>> sparse_categorical_crossentropy(torch.tensor([1]), torch.tensor([[0.5, 0.5]]))
        tensor([0.6931])
    """
    _check_axis(axis)
    pred = _as_pred(y_pred)
    labels = _sparse_labels(_as_tensor(y_true, device=pred.device), pred, axis)
    return _sparse_ce(labels, pred, from_logits, ignore_class, axis, "none")


# --------------------------------------------------------------------------- fast paths
# Each returns the "sum_over_batch_size" reduction of the unweighted per-sample values
# with one fused kernel where possible, or None when its preconditions do not hold.


def _same_shape(y_true: torch.Tensor, y_pred: torch.Tensor) -> bool:
    return y_true.shape == y_pred.shape and y_pred.dim() > 0


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


def _fast_bce(
    y_true: torch.Tensor,
    y_pred: torch.Tensor,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> torch.Tensor | None:
    if not _same_shape(y_true, y_pred):
        return None
    return _bce_elementwise(y_true, y_pred, from_logits, label_smoothing, "mean")


def _fast_cce(
    y_true: torch.Tensor,
    y_pred: torch.Tensor,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> torch.Tensor | None:
    if not from_logits or not _same_shape(y_true, y_pred):
        return None
    _check_axis(axis)
    class_axis = axis % y_pred.dim()
    if label_smoothing and class_axis != y_pred.dim() - 1:
        return None  # torch smooths along the class axis, Keras along the last one
    _cce_targets(y_true, y_pred, 0.0)  # shape checks and warning only
    if y_pred.dim() > 1 and class_axis != 1:
        y_pred, y_true = y_pred.movedim(class_axis, 1), y_true.movedim(class_axis, 1)
    return F.cross_entropy(y_pred, y_true, label_smoothing=label_smoothing)


def _fast_sparse(
    y_true: torch.Tensor,
    y_pred: torch.Tensor,
    from_logits: bool = False,
    ignore_class: int | None = None,
    axis: int = -1,
) -> torch.Tensor | None:
    if ignore_class is not None:
        return None
    _check_axis(axis)
    labels = _sparse_labels(y_true, y_pred, axis)
    if labels.dim() == 0:
        return None  # a scalar result is returned unreduced; use the general path
    return _sparse_ce(labels, y_pred, from_logits, None, axis, "mean")


_FAST_MEAN: dict[Callable[..., torch.Tensor], Callable[..., torch.Tensor | None]] = {
    mean_squared_error: _fast_mse,
    mean_absolute_error: _fast_mae,
    huber: _fast_huber,
    poisson: _fast_poisson,
    binary_crossentropy: _fast_bce,
    categorical_crossentropy: _fast_cce,
    sparse_categorical_crossentropy: _fast_sparse,
}


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


class Hinge(LossFunctionWrapper):
    """Hinge loss for labels in {-1, 1} (or {0, 1}), see :func:`hinge`.

    Example:
        >>> Hinge()(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.5, -2.0]]))
        tensor(0.2500)
    """

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str = "hinge"):
        super().__init__(hinge, reduction=reduction, name=name)

    def get_config(self) -> dict[str, Any]:
        return Loss.get_config(self)


class SquaredHinge(LossFunctionWrapper):
    """Squared hinge loss for labels in {-1, 1} (or {0, 1}), see :func:`squared_hinge`.

    Example:
        >>> SquaredHinge()(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.5, -2.0]]))
        tensor(0.1250)
    """

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str = "squared_hinge"):
        super().__init__(squared_hinge, reduction=reduction, name=name)

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


class BinaryCrossentropy(LossFunctionWrapper):
    """Binary crossentropy on probabilities or logits, see :func:`binary_crossentropy`.

    Example:
        >>> bce = BinaryCrossentropy(from_logits=True)
        >>> bce(torch.tensor([0.0, 1.0, 0.0, 0.0]), torch.tensor([-18.6, 0.51, 2.94, -12.8]))
        tensor(0.8655)
    """

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str = "binary_crossentropy",
    ):
        _check_axis(axis)
        super().__init__(
            binary_crossentropy,
            reduction=reduction,
            name=name,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing
        self.axis = axis

    def get_config(self) -> dict[str, Any]:
        return {
            **Loss.get_config(self),
            "from_logits": self.from_logits,
            "label_smoothing": self.label_smoothing,
            "axis": self.axis,
        }


class CategoricalCrossentropy(LossFunctionWrapper):
    """Crossentropy for one-hot labels, see :func:`categorical_crossentropy`.

    Example:
        >>> cce = CategoricalCrossentropy()
        >>> cce(torch.tensor([[0, 1, 0], [0, 0, 1]]),
        ...     torch.tensor([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]]))
        tensor(1.1769)
    """

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str = "categorical_crossentropy",
    ):
        _check_axis(axis)
        super().__init__(
            categorical_crossentropy,
            reduction=reduction,
            name=name,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing
        self.axis = axis

    def get_config(self) -> dict[str, Any]:
        return {
            **Loss.get_config(self),
            "from_logits": self.from_logits,
            "label_smoothing": self.label_smoothing,
            "axis": self.axis,
        }


class SparseCategoricalCrossentropy(LossFunctionWrapper):
    """Crossentropy for integer labels, see :func:`sparse_categorical_crossentropy`.

    Entries labelled `ignore_class` are left out of the loss and of its denominator.

    Example:
        >>> scce = SparseCategoricalCrossentropy(from_logits=True)
        >>> scce(torch.tensor([1, 0]), torch.tensor([[0.0, 2.0], [1.0, 1.0]]))
        tensor(0.4100)
    """

    _cast_y_true = False  # labels stay integers: no float round trip, exact indices

    def __init__(
        self,
        from_logits: bool = False,
        ignore_class: int | None = None,
        reduction: str | None = "sum_over_batch_size",
        axis: int = -1,
        name: str = "sparse_categorical_crossentropy",
    ):
        _check_axis(axis)
        if ignore_class is not None:
            if isinstance(ignore_class, bool) or not isinstance(ignore_class, int | np.integer):
                raise TypeError(
                    "`ignore_class` must be an integer class id or None. Received: "
                    f"ignore_class={ignore_class!r} (of type {_type_name(ignore_class)})"
                )
            ignore_class = int(ignore_class)
        super().__init__(
            sparse_categorical_crossentropy,
            reduction=reduction,
            name=name,
            from_logits=from_logits,
            ignore_class=ignore_class,
            axis=axis,
        )
        self.from_logits = from_logits
        self.ignore_class = ignore_class
        self.axis = axis

    def get_config(self) -> dict[str, Any]:
        return {
            **Loss.get_config(self),
            "from_logits": self.from_logits,
            "ignore_class": self.ignore_class,
            "axis": self.axis,
        }


# ------------------------------------------------------------------------------- get

_CLASSES: dict[str, type[Loss]] = {
    cls.__name__: cls
    for cls in (
        MeanSquaredError,
        MeanAbsoluteError,
        MeanAbsolutePercentageError,
        MeanSquaredLogarithmicError,
        CosineSimilarity,
        Huber,
        LogCosh,
        Hinge,
        SquaredHinge,
        KLDivergence,
        Poisson,
        BinaryCrossentropy,
        CategoricalCrossentropy,
        SparseCategoricalCrossentropy,
    )
}

_FUNCTIONS: dict[str, Callable[..., torch.Tensor]] = {
    fn.__name__: fn
    for fn in (
        mean_squared_error,
        mean_absolute_error,
        mean_absolute_percentage_error,
        mean_squared_logarithmic_error,
        cosine_similarity,
        huber,
        log_cosh,
        hinge,
        squared_hinge,
        kl_divergence,
        poisson,
        binary_crossentropy,
        categorical_crossentropy,
        sparse_categorical_crossentropy,
    )
}
_FUNCTIONS.update(
    {
        # Keras 3's aliases.
        "bce": binary_crossentropy,
        "BCE": binary_crossentropy,
        "kld": kl_divergence,
        "KLD": kl_divergence,
        "mae": mean_absolute_error,
        "MAE": mean_absolute_error,
        "mse": mean_squared_error,
        "MSE": mean_squared_error,
        "mape": mean_absolute_percentage_error,
        "MAPE": mean_absolute_percentage_error,
        "msle": mean_squared_logarithmic_error,
        "MSLE": mean_squared_logarithmic_error,
        # Keras 2 (tf.keras) aliases, kept so old code keeps working.
        "logcosh": log_cosh,
        "kullback_leibler_divergence": kl_divergence,
    }
)


def _valid_names() -> list[str]:
    return sorted([*_FUNCTIONS, *_CLASSES], key=str.lower)


class _TorchLossWrapper(LossFunctionWrapper):
    """A `torch.nn` loss module as a Loss: called as `module(y_pred, y_true)`."""

    # Class-index targets (e.g. for nn.CrossEntropyLoss) must stay integers.
    _cast_y_true = False

    def __init__(
        self,
        fn: torch.nn.Module,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = None,
    ):
        super().__init__(fn, reduction=reduction, name=name or _to_snake_case(type(fn).__name__))

    def call(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        # Integer targets shaped like y_pred are values (MSELoss, BCEWithLogitsLoss, ...),
        # not class indices, so they get y_pred's dtype like every Keras loss.
        if y_true.is_floating_point() or y_true.shape == y_pred.shape:
            y_true = y_true.to(y_pred.dtype)
        # torch.nn losses take (input, target); Keras losses take (y_true, y_pred).
        return self.fn(y_pred, y_true)


def get(identifier: str | dict[str, Any] | Loss | Callable[..., Any]) -> Loss:
    """Resolve a loss identifier to a :class:`Loss`, as `keras.losses.get` + `compile` do.

    * a string: a Keras function name or alias (`"mse"`, `"bce"`, `"kld"`, ...) gives a
      :class:`LossFunctionWrapper` named after the string; a class name
      (`"MeanSquaredError"`) gives that class with its default name;
    * a dict `{"class_name": ..., "config": {...}}` builds that class from its config;
    * a :class:`Loss` is returned as is, a :class:`Loss` subclass is instantiated;
    * a `torch.nn` loss module (or class) is wrapped, calling it as `module(y_pred, y_true)`;
    * any other callable `fn(y_true, y_pred)` is wrapped in :class:`LossFunctionWrapper`.

    Example:
        >>> get("mse").name, get("MeanSquaredError").name
        ('mse', 'mean_squared_error')
    """
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        cls = _CLASSES.get(identifier)
        if cls is not None:
            return cls()
        fn = _FUNCTIONS.get(identifier)
        if fn is not None:
            return LossFunctionWrapper(fn, name=identifier)
        raise ValueError(
            f"Unknown loss identifier {identifier!r}. Expected one of {_valid_names()}, a "
            "Loss instance or a callable fn(y_true, y_pred). Received: "
            f"identifier={identifier!r} (of type str)"
        )
    if isinstance(identifier, dict):
        return _from_dict(identifier)
    if isinstance(identifier, type):
        if issubclass(identifier, Loss):
            return identifier()
        if issubclass(identifier, torch.nn.modules.loss._Loss):
            return _TorchLossWrapper(identifier())
    elif isinstance(identifier, torch.nn.modules.loss._Loss):
        return _TorchLossWrapper(identifier)
    elif callable(identifier):
        return LossFunctionWrapper(identifier)
    raise TypeError(
        "Could not interpret loss identifier. Expected a loss name (one of "
        f"{_valid_names()}), a config dict, a Loss instance or a callable "
        f"fn(y_true, y_pred). Received: identifier={identifier!r} "
        f"(of type {_type_name(identifier)})"
    )


def _from_dict(identifier: dict[str, Any]) -> Loss:
    class_name = identifier.get("class_name")
    config = identifier.get("config", {})
    cls = _CLASSES.get(class_name) if isinstance(class_name, str) else None
    if class_name == "LossFunctionWrapper":
        cls = LossFunctionWrapper
    if cls is None or not isinstance(config, dict):
        raise ValueError(
            "A loss config dict needs 'class_name' (one of "
            f"{sorted(_CLASSES)}) and a 'config' dict. Received: identifier={identifier!r} "
            "(of type dict)"
        )
    return cls.from_config(config)
