"""Keras's array helpers: `to_categorical` (one-hot labels) and `normalize` (unit norm rows).

NumPy in, NumPy out (as Keras); a torch tensor in gives a torch tensor on the
same device, so either can go straight to `fit`.

Example:
    >>> to_categorical([0, 2, 1])
    array([[1., 0., 0.],
           [0., 0., 1.],
           [0., 1., 0.]])
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["normalize", "to_categorical"]

_EPSILON = 1e-7  # Keras's backend.epsilon(), the floor of a tensor's norm


def _check_num_classes(num_classes: Any) -> int | None:
    if num_classes is None:
        return None
    if isinstance(num_classes, (bool, np.bool_)) or not isinstance(
        num_classes, (int, np.integer)
    ) or num_classes <= 0:
        raise ValueError(
            "Argument `num_classes` must be a positive integer or None (inferred as "
            f"max(x) + 1). Received: num_classes={num_classes!r} "
            f"(of type {type(num_classes).__name__})"
        )
    return int(num_classes)


def _out_of_range(low: int, high: int, num_classes: int, x: Any) -> ValueError:
    return ValueError(
        f"`to_categorical` needs class indices in [0, {num_classes}), but the labels span "
        f"[{low}, {high}]. Pass a larger `num_classes`, or map the labels to 0..n-1 first. "
        f"Received: x with values in [{low}, {high}] (of type {type(x).__name__}), "
        f"num_classes={num_classes}"
    )


def to_categorical(x: Any, num_classes: int | None = None) -> Any:
    """One-hot encode integer class labels; the class axis goes last.

    As Keras: a trailing axis of size 1 is dropped first (`(n, 1)` labels give
    `(n, num_classes)`), `num_classes=None` means `max(x) + 1`, NumPy input gives
    a float64 NumPy array. A torch tensor gives a float32 tensor on its device.
    Labels outside `[0, num_classes)` are an error (Keras's NumPy path would wrap
    negative labels around silently).

    Example:
        >>> to_categorical(np.array([[1], [0]]), num_classes=3)
        array([[0., 1., 0.],
               [1., 0., 0.]])
        >>> to_categorical(torch.tensor([1, 0]), num_classes=2)
        tensor([[0., 1.],
                [1., 0.]])
    """
    classes = _check_num_classes(num_classes)
    if isinstance(x, torch.Tensor):
        return _to_categorical_tensor(x, classes)
    labels = np.asarray(x)
    if labels.dtype.kind == "f" and not np.array_equal(labels, np.round(labels)):
        raise ValueError(
            "`to_categorical` takes integer class labels; the input holds non-integral "
            f"values. Received: x of dtype {labels.dtype} (of type {type(x).__name__})"
        )
    labels = labels.astype("int64")
    shape = labels.shape
    if shape and shape[-1] == 1 and len(shape) > 1:
        shape = shape[:-1]
    flat = labels.reshape(-1)
    if classes is None:
        if flat.size == 0:
            raise ValueError(
                "`to_categorical` cannot infer `num_classes` from an empty input. Pass "
                f"`num_classes`. Received: x of shape {labels.shape} (of type {type(x).__name__})"
            )
        classes = int(flat.max()) + 1
    if flat.size and (flat.min() < 0 or flat.max() >= classes):
        raise _out_of_range(int(flat.min()), int(flat.max()), classes, x)
    categorical = np.zeros((flat.shape[0], classes))
    categorical[np.arange(flat.shape[0]), flat] = 1
    return categorical.reshape((*shape, classes))


def _to_categorical_tensor(x: torch.Tensor, classes: int | None) -> torch.Tensor:
    if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
        raise ValueError(
            "`to_categorical` takes a tensor of integer class labels. "
            f"Received: x of dtype {x.dtype} (of type Tensor)"
        )
    if x.ndim > 1 and x.shape[-1] == 1:
        x = x.squeeze(-1)
    if x.numel():
        low, high = (int(v) for v in torch.aminmax(x))  # sync: labels checked on the host
        if classes is None:
            classes = high + 1
        if low < 0 or high >= classes:
            raise _out_of_range(low, high, classes, x)
    elif classes is None:
        raise ValueError(
            "`to_categorical` cannot infer `num_classes` from an empty input. Pass "
            f"`num_classes`. Received: x of shape {tuple(x.shape)} (of type Tensor)"
        )
    return F.one_hot(x.long(), classes).to(torch.get_default_dtype())


def normalize(x: Any, axis: int = -1, order: int = 2) -> Any:
    """Scale `x` to unit `order`-norm along `axis` (zero vectors stay zero).

    NumPy input is divided by its norm (a zero norm counts as 1), as Keras's
    NumPy path does; a torch tensor is divided by `max(norm, 1e-7)`, as Keras's
    `ops.normalize` does on tensors.

    Example:
        >>> normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))
        array([[0.6, 0.8],
               [0. , 0. ]])
    """
    if isinstance(order, bool) or not isinstance(order, int) or order < 1:
        raise ValueError(
            "Argument `order` must be an int >= 1. "
            f"Received: order={order!r} (of type {type(order).__name__})"
        )
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise TypeError(
            f"Argument `axis` must be an int. Received: axis={axis!r} (of type "
            f"{type(axis).__name__})"
        )
    if isinstance(x, torch.Tensor):
        if x.ndim == 0:
            x = x.unsqueeze(0)
        norm = torch.linalg.vector_norm(x, ord=order, dim=axis, keepdim=True)
        return x / norm.clamp_min(_EPSILON)
    array = np.asarray(x)
    norm = np.atleast_1d(np.linalg.norm(array, order, axis))
    norm[norm == 0] = 1
    # Keras expands along `axis or -1`, which misplaces axis=0's norms; `axis` is right.
    return array / np.expand_dims(norm, axis)
