"""Weighted TP/FP/TN/FN counts at thresholds, and the parsing of those thresholds."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any, cast

import torch
from torch import Tensor

from fitorch.metrics._utils import _EPSILON, _as_tensor, _broadcast_weight, _squeeze_or_expand

# Keras's stand-in for -inf when filtering predictions to their top k.
_NEG_INF = -1e10


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
