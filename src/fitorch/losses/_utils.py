"""Input conversion and validation helpers shared by the loss modules."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, TypeAlias

import numpy as np
import torch

TensorLike: TypeAlias = "torch.Tensor | np.ndarray | float | int | Sequence[Any]"

# Keras's `backend.epsilon()`; every clip/guard in the losses uses it so numbers match Keras.
EPSILON = 1e-7


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


def _check_axis(axis: object) -> None:
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise TypeError(
            f"`axis` must be of type `int`. Received: axis={axis!r} (of type {_type_name(axis)})"
        )


def _same_shape(y_true: torch.Tensor, y_pred: torch.Tensor) -> bool:
    return y_true.shape == y_pred.shape and y_pred.dim() > 0
