"""Helpers shared by the host-side preprocessing layers (lookup, hashing, text):
reading string and integer inputs into NumPy, iterating `adapt()` data, and
Keras's categorical encodings (`int`, `one_hot`, `multi_hot`, `count`).

Example:
    >>> encode_categorical(torch.tensor([[0, 2]]), "multi_hot", 3)
    tensor([[1., 0., 1.]])
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor

OUTPUT_MODES = ("int", "one_hot", "multi_hot", "count")


def _decode(value: Any) -> Any:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def to_strings(inputs: Any, layer: str) -> np.ndarray:
    """`inputs` (a str, nested lists, or a NumPy array of str/bytes/objects) as a NumPy
    object array of Python `str` (bytes decoded as UTF-8)."""
    if isinstance(inputs, Tensor):
        raise TypeError(
            f'Layer "{layer}" takes strings (a str, a list of str, or a NumPy array of '
            "strings); torch has no string tensors. "
            f"Received: inputs of dtype {inputs.dtype} (of type {type(inputs).__name__})"
        )
    array = np.asarray(inputs, dtype=object) if not isinstance(inputs, np.ndarray) else inputs
    if array.dtype.kind == "U":
        return array.astype(object)
    if array.dtype.kind in "SO":
        flat = [_decode(v) for v in array.reshape(-1)]
        if not all(isinstance(v, str) for v in flat):
            bad = next(v for v in flat if not isinstance(v, str))
            raise TypeError(
                f'Layer "{layer}" takes strings. Received: an element {bad!r} '
                f"(of type {type(bad).__name__})"
            )
        out = np.empty(len(flat), dtype=object)
        out[:] = flat
        return out.reshape(array.shape)
    raise TypeError(
        f'Layer "{layer}" takes strings. Received: inputs of dtype {array.dtype} '
        f"(of type {type(inputs).__name__})"
    )


def is_string_input(inputs: Any) -> bool:
    """Whether `inputs` holds strings (checked on the first element of nested lists)."""
    if isinstance(inputs, (str, bytes)):
        return True
    if isinstance(inputs, Tensor):
        return False
    if isinstance(inputs, np.ndarray):
        if inputs.dtype.kind in "US":
            return True
        return inputs.dtype.kind == "O" and inputs.size > 0 and isinstance(
            inputs.reshape(-1)[0], (str, bytes))
    while isinstance(inputs, (list, tuple)) and inputs:
        inputs = inputs[0]
    return isinstance(inputs, (str, bytes, np.str_, np.bytes_))


def adapt_batches(data: Any) -> Iterator[Any]:
    """Keras's `adapt()` reading: an array, tensor, list or tuple is one batch (flagged
    `True`); any other iterable yields batches (flagged `False`)."""
    if isinstance(data, (list, tuple, np.ndarray, Tensor, str, bytes)):
        yield True, data
        return
    if not hasattr(data, "__iter__"):
        raise TypeError(
            "`adapt()` takes a NumPy array, a list, a tensor, or an iterable of batches. "
            f"Received: data={data!r} (of type {type(data).__name__})"
        )
    for batch in data:
        if isinstance(batch, tuple) and len(batch) in (2, 3) and not is_scalar_like(batch[0]):
            batch = batch[0]  # (x, y) pairs: x only
        yield False, batch


def is_scalar_like(value: Any) -> bool:
    return isinstance(value, (str, bytes, int, float, np.generic))


def encode_categorical(indices: Tensor, output_mode: str, depth: int,
                       dtype: torch.dtype | None = None) -> Tensor:
    """Keras's `encode_categorical_inputs`: `indices` (int64) unchanged for `"int"`, else
    one-hot vectors of `depth` (a trailing axis of 1 dropped first), or their maximum /
    sum over axis 1 (axis 0 for rank 1) for `"multi_hot"` / `"count"`. Indices outside
    `[0, depth)` (the masked ones) encode as zeros, as Keras's bincount drops them."""
    if output_mode == "int":
        return indices
    dtype = dtype or torch.get_default_dtype()
    if indices.ndim == 0:
        indices = indices.unsqueeze(-1)
    if output_mode == "one_hot" and indices.ndim > 1 and indices.shape[-1] == 1:
        indices = indices.squeeze(-1)
    valid = (indices >= 0) & (indices < depth)
    one_hot = torch.nn.functional.one_hot(torch.where(valid, indices, 0).long(), depth)
    one_hot = (one_hot * valid.unsqueeze(-1)).to(dtype)
    if output_mode == "one_hot":
        return one_hot
    axis = 1 if indices.ndim > 1 else 0
    if output_mode == "multi_hot":
        return one_hot.amax(dim=axis)
    return one_hot.sum(dim=axis)


class HostDevice:
    """Mixin for layers that compute on the host (strings): they remember the device
    `.to()` moved them to, so their outputs follow the model to its device (they hold
    no tensor that could say so)."""

    _device = torch.device("cpu")
    accepts_strings = True  # `fit` hands NumPy string arrays to a model holding one

    def _apply(self, fn: Any, recurse: bool = True) -> Any:
        moved = fn(torch.empty(0))
        if isinstance(moved, Tensor):
            self._device = moved.device
        return super()._apply(fn, recurse)  # type: ignore[misc]

    def _on_device(self, tensor: Tensor) -> Tensor:
        return tensor if tensor.device == self._device else tensor.to(self._device)
