"""Probabilistic metrics: the crossentropies, KL divergence and Poisson."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from fitorch import losses
from fitorch.metrics._utils import _as_tensor, _prepare, _squeeze_or_expand, _upcast
from fitorch.metrics.base import Mean, MeanMetricWrapper


# The per-sample values are the losses' own functions: one definition of each formula.
def _binary_crossentropy(y_true: Tensor, y_pred: Tensor, **kwargs: Any) -> Tensor:
    # Keras errors on (N,) labels against (N, 1) predictions; reconciling the ranks
    # scores the obvious pairs.
    y_true, y_pred = _squeeze_or_expand(_as_tensor(y_true).to(y_pred.dtype), y_pred)
    return losses.binary_crossentropy(y_true, y_pred, **kwargs)


_categorical_crossentropy = losses.categorical_crossentropy
_sparse_categorical_crossentropy = losses.sparse_categorical_crossentropy


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


class KLDivergence(MeanMetricWrapper):
    """Mean of `sum(y_true * log(y_true / y_pred), axis=-1)`, both clipped to `[1e-7, 1]`.

    Example:
        >>> m = KLDivergence()
        >>> m.update_state(torch.tensor([[0.0, 1.0]]), torch.tensor([[0.5, 0.5]]))
        >>> m.result()
        tensor(0.6931)
    """

    def __init__(self, name: str = "kl_divergence", dtype: torch.dtype | str | None = None
                 ) -> None:
        super().__init__(losses.kl_divergence, name=name, dtype=dtype)


class Poisson(MeanMetricWrapper):
    """Mean of `mean(y_pred - y_true * log(y_pred + 1e-7), axis=-1)`.

    Example:
        >>> m = Poisson()
        >>> m.update_state(torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, 3.0]]))
        >>> m.result()
        tensor(2.)
    """

    def __init__(self, name: str = "poisson", dtype: torch.dtype | str | None = None) -> None:
        super().__init__(losses.poisson, name=name, dtype=dtype)
