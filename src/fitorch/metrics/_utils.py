"""Helpers shared by the metrics: Keras's naming, and tensor shape/weight handling."""

from __future__ import annotations

import re
from typing import Any

import torch
from torch import Tensor

# Keras's `backend.epsilon()`: clips probabilities and guards divisions.
_EPSILON = 1e-7


_NON_WORD = re.compile(r"\W+")
# An underscore goes before every capitalised word but the first ("TopK|Categorical")...
_BEFORE_WORD = re.compile(r"(?<=.)(?=[A-Z][a-z]+)")
# ...and between a lower-case letter and a capital ("Top|K").
_LOWER_UPPER = re.compile(r"(?<=[a-z])(?=[A-Z])")


def _to_snake_case(name: str) -> str:
    """`"TopKCategoricalAccuracy"` -> `"top_k_categorical_accuracy"`, as Keras names things."""
    name = _BEFORE_WORD.sub("_", _NON_WORD.sub("", name))
    return _LOWER_UPPER.sub("_", name).lower()


def _object_name(obj: Any) -> str:
    """The log key Keras gives a metric object or function (its `name`, else its name)."""
    name = getattr(obj, "name", None)
    if isinstance(name, str):
        return name
    if hasattr(obj, "__name__"):
        return _to_snake_case(obj.__name__)
    return _to_snake_case(type(obj).__name__)


def _as_tensor(x: Any, device: torch.device | None = None) -> Tensor:
    """`x` as a tensor outside autograd (metrics never need gradients), on `device` if given."""
    if isinstance(x, Tensor):
        if x.requires_grad:
            x = x.detach()
        if device is not None and x.device != device:
            x = x.to(device, non_blocking=True)
        return x
    return torch.as_tensor(x, device=device)


def _prepare(y_true: Any, y_pred: Any) -> tuple[Tensor, Tensor]:
    """Both targets as detached tensors on the device of `y_pred`."""
    y_pred = _as_tensor(y_pred)
    return _as_tensor(y_true, y_pred.device), y_pred


def _squeeze_or_expand(x1: Tensor, x2: Tensor, expand_rank_1: bool = True) -> tuple[Tensor, Tensor]:
    """Reconcile ranks that differ by one trailing unit dimension, exactly as Keras does.

    A rank-1 partner is expanded (`(N,)` -> `(N, 1)`) unless `expand_rank_1` is False,
    otherwise the unit dimension is squeezed away.
    """
    r1, r2 = x1.ndim, x2.ndim
    if r1 == r2 + 1 and x1.shape[-1] == 1:
        if r2 == 1 and expand_rank_1:
            x2 = x2.unsqueeze(-1)
        else:
            x1 = x1.squeeze(-1)
    elif r2 == r1 + 1 and x2.shape[-1] == 1:
        if r1 == 1 and expand_rank_1:
            x1 = x1.unsqueeze(-1)
        else:
            x2 = x2.squeeze(-1)
    return x1, x2


def _divide_no_nan(x: Tensor, y: Tensor) -> Tensor:
    """`x / y`, with 0 where `y == 0` (Keras's `ops.divide_no_nan`)."""
    zero = y == 0
    return torch.where(zero, 0.0, x / torch.where(zero, 1.0, y))


def _broadcast_weight(weight: Tensor, shape: torch.Size, what: str) -> Tensor:
    try:
        return weight.broadcast_to(shape)
    except RuntimeError:
        raise ValueError(
            f"`sample_weight` must broadcast to the shape of the {what}, {tuple(shape)}. "
            f"Received: sample_weight.shape={tuple(weight.shape)}"
        ) from None


def _upcast(y_pred: Tensor) -> Tensor:
    """Half-precision predictions are scored in float32: fp16/bf16 sums lose whole counts."""
    if y_pred.is_floating_point() and y_pred.element_size() < 4:
        return y_pred.float()
    return y_pred


def _zero_result() -> Tensor:
    """What Keras reports before any update: 0.0."""
    return torch.zeros((), dtype=torch.float32)
