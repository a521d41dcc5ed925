"""Hinge losses for labels in {-1, 1} (or {0, 1}): :class:`Hinge`, :class:`SquaredHinge`.

Named `hinges` so that `fitorch.losses.hinge` stays the loss function.
"""

from __future__ import annotations

from typing import Any

import torch

from fitorch.losses._utils import TensorLike, _prepare
from fitorch.losses.base import Loss, LossFunctionWrapper

# ------------------------------------------------------------------ per-sample functions


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


# ----------------------------------------------------------------------------- classes


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
