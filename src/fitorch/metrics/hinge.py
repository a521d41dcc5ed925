"""Hinge metrics: the mean hinge, squared hinge and categorical hinge over samples (Keras 3).

Example:
    >>> m = Hinge()
    >>> m.update_state(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.5, -2.0]]))
    >>> m.result()
    tensor(0.2500)
"""

from __future__ import annotations

import torch
from torch import Tensor

from fitorch import losses
from fitorch.metrics.base import MeanMetricWrapper


def _categorical_hinge(y_true: Tensor, y_pred: Tensor) -> Tensor:
    # Keras's `categorical_hinge`: max(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0).
    y_true = y_true.to(y_pred.dtype)
    positive = (y_true * y_pred).sum(dim=-1)
    negative = ((1.0 - y_true) * y_pred).amax(dim=-1)
    return torch.relu(negative - positive + 1.0)


class Hinge(MeanMetricWrapper):
    """Mean of `mean(maximum(1 - y_true * y_pred, 0), axis=-1)`; {0, 1} labels become {-1, 1}.

    Example:
        >>> m = Hinge()
        >>> m.update_state(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.5, -2.0]]))
        >>> m.result()
        tensor(0.2500)
    """

    def __init__(self, name: str = "hinge", dtype: torch.dtype | str | None = None) -> None:
        super().__init__(losses.hinge, name=name, dtype=dtype)


class SquaredHinge(MeanMetricWrapper):
    """Mean of `mean(square(maximum(1 - y_true * y_pred, 0)), axis=-1)`.

    Example:
        >>> m = SquaredHinge()
        >>> m.update_state(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.5, -2.0]]))
        >>> m.result()
        tensor(0.1250)
    """

    def __init__(self, name: str = "squared_hinge", dtype: torch.dtype | str | None = None
                 ) -> None:
        super().__init__(losses.squared_hinge, name=name, dtype=dtype)


class CategoricalHinge(MeanMetricWrapper):
    """Mean of `maximum(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0)`.

    Example:
        >>> m = CategoricalHinge()
        >>> m.update_state(torch.tensor([[0.0, 1.0]]), torch.tensor([[0.6, 0.4]]))
        >>> m.result()
        tensor(1.2000)
    """

    def __init__(self, name: str = "categorical_hinge", dtype: torch.dtype | str | None = None
                 ) -> None:
        super().__init__(_categorical_hinge, name=name, dtype=dtype)
