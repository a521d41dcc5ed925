"""Keras's loss reductions: mask and sample-weight handling, then the reduction."""

from __future__ import annotations

import torch

from fitorch.losses._utils import TensorLike, _as_tensor, _type_name

REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)
_MEAN_REDUCTIONS = frozenset({"sum_over_batch_size", "mean", "mean_with_sample_weight"})


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
