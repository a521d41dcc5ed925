"""Crossentropy losses: binary, categorical (one-hot) and sparse (integer labels)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from fitorch.losses._utils import (
    EPSILON,
    TensorLike,
    _as_pred,
    _as_tensor,
    _check_axis,
    _prepare,
    _same_shape,
    _type_name,
)
from fitorch.losses.base import _FAST_MEAN, _MASKS, Loss, LossFunctionWrapper
from fitorch.losses.reduction import squeeze_or_expand_to_same_rank

# torch's default `ignore_index=-100` would silently drop a label of -100; no real label
# can equal this value, so out-of-range labels always surface as errors.
_NO_IGNORE_INDEX = -(2**63)


# ------------------------------------------------------------------ per-sample functions


def _check_same_shape(y_true: torch.Tensor, y_pred: torch.Tensor, loss: str) -> None:
    if y_true.shape != y_pred.shape:
        hint = ""
        if loss == "categorical_crossentropy" and y_true.dim() == y_pred.dim() - 1:
            hint = (" For integer class labels use SparseCategoricalCrossentropy "
                    "(loss='sparse_categorical_crossentropy').")
        raise ValueError(
            f"In loss {loss}, arguments `y_true` and `y_pred` must have the same shape.{hint} "
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


def _ignore_class_mask(
    y_true: torch.Tensor, y_pred: torch.Tensor, fn_kwargs: dict[str, Any]
) -> torch.Tensor | None:
    """The entries not labelled `ignore_class` (None when nothing is ignored)."""
    ignore_class = fn_kwargs.get("ignore_class")
    if ignore_class is None:
        return None
    # Keras attaches this mask to the result so ignored entries count as absent.
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    labels = _sparse_labels(y_true, y_pred, fn_kwargs.get("axis", -1))
    return labels != int(ignore_class)


# --------------------------------------------------------------------------- fast paths
# Each returns the "sum_over_batch_size" reduction of the unweighted per-sample values
# with one fused kernel where possible, or None when its preconditions do not hold.


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


_FAST_MEAN.update(
    {
        binary_crossentropy: _fast_bce,
        categorical_crossentropy: _fast_cce,
        sparse_categorical_crossentropy: _fast_sparse,
    }
)
_MASKS[sparse_categorical_crossentropy] = _ignore_class_mask


def warn_if_logits(loss: Any, y_pred: Any) -> None:
    """Warn once when a probability crossentropy (`from_logits=False`) is given outputs that
    are clearly logits (values outside [0, 1]): it would train to chance without a word.

    Example:
        >>> warn_if_logits(SparseCategoricalCrossentropy(), torch.tensor([[2.0, -1.0]]))
        ... # UserWarning: ... pass `from_logits=True` ...
    """
    if not isinstance(loss, LossFunctionWrapper) or not isinstance(y_pred, torch.Tensor):
        return
    fn = getattr(loss, "fn", None)
    if fn not in _PROBABILITY_LOSSES or loss._fn_kwargs.get("from_logits", False):
        return
    if not y_pred.is_floating_point() or not y_pred.numel():
        return
    with torch.no_grad():
        low, high = torch.aminmax(y_pred.detach())
    low_value, high_value = float(low), float(high)  # sync: once, on the first batch
    if low_value >= 0.0 and high_value <= 1.0:
        return
    cls = _PROBABILITY_LOSSES[fn]
    warnings.warn(
        f"The loss {loss.name!r} expects probabilities (from_logits=False), but the model's "
        f"outputs look like logits: they range over [{low_value:.3g}, {high_value:.3g}], "
        f"outside [0, 1]. Training this way does not learn. Use "
        f"`loss=fitorch.losses.{cls}(from_logits=True)`, or end the model with a "
        f"{'sigmoid' if cls == 'BinaryCrossentropy' else 'softmax'} activation.",
        stacklevel=2,
    )


_PROBABILITY_LOSSES = {
    binary_crossentropy: "BinaryCrossentropy",
    categorical_crossentropy: "CategoricalCrossentropy",
    sparse_categorical_crossentropy: "SparseCategoricalCrossentropy",
}


# ----------------------------------------------------------------------------- classes


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
