"""Probabilistic metrics: binary, categorical and sparse categorical crossentropy."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from fitorch.metrics._utils import _EPSILON, _as_tensor, _prepare, _squeeze_or_expand, _upcast
from fitorch.metrics.base import Mean, MeanMetricWrapper


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
