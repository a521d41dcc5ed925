"""`Input` and `InputLayer`: the shape (and optionally the static batch size) a model expects.

`Input(...)` returns a symbolic tensor (see `fitorch.functional`): the start of a
functional model, or, as the first element of a `Sequential`, its input layer.
`InputLayer` is the layer behind it (Keras's names for both).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from fitorch.layers.core import auto_name
from fitorch.layers.layer_api import LayerAPI

# The dtype of a string `Input` (Keras's name): torch has no string tensors, so such an
# input carries NumPy string arrays on the host to the layers that take strings.
STRING = "string"


def is_string_dtype(dtype: Any) -> bool:
    """Whether `dtype` is the string dtype of an `Input` (`"string"`), not a torch dtype."""
    return isinstance(dtype, str) and dtype == STRING


class InputLayer(LayerAPI, nn.Module):
    """Declares the input shape (without the batch axis), as Keras's `InputLayer`.

    As the first element of a `Sequential`, it lets the model create its
    parameters at once; `batch_size=N` fixes the batch size that `fit`,
    `evaluate` and `predict` use. Usually made by `Input(...)`.

    Example:
        >>> model = fitorch.Sequential([fitorch.layers.InputLayer(shape=(784,)),
        ...                             fitorch.layers.Dense(10)])
    """

    def __init__(self, shape: Sequence[int | None] | int, batch_size: int | None = None,
                 dtype: torch.dtype | str | None = None, name: str | None = None) -> None:
        super().__init__()
        if isinstance(shape, int):
            shape = (shape,)
        if not isinstance(shape, (tuple, list)) or not all(
            s is None or (isinstance(s, int) and not isinstance(s, bool) and s > 0) for s in shape
        ):
            raise ValueError(
                "`shape` must be a tuple of positive ints (None for a variable size), without "
                f"the batch axis. Received: shape={shape!r}"
            )
        if batch_size is not None and (
            not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0
        ):
            raise ValueError(
                f"`batch_size` must be a positive int or None. Received: batch_size={batch_size!r}"
            )
        self.shape = tuple(shape)
        self.batch_size = batch_size
        self.dtype: torch.dtype | str = _input_dtype(dtype)
        if name is not None and not isinstance(name, str):
            raise ValueError(
                f"`name` must be a string or None. Received: name={name!r} "
                f"(of type {type(name).__name__})"
            )
        self.name = name or auto_name("input_layer")

    def forward(self, x: Any) -> Any:
        return x

    def example(self) -> Any:
        """A zero batch of this shape (variable sizes as 1), used to build the layers after it:
        a tensor, or for a string input a NumPy array of empty strings."""
        shape = (self.batch_size or 1, *(s or 1 for s in self.shape))
        if not isinstance(self.dtype, torch.dtype):  # the string dtype
            return np.full(shape, "", dtype=object)
        return torch.zeros(shape, dtype=self.dtype)

    def get_config(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "batch_size": self.batch_size,
                "dtype": str(self.dtype).replace("torch.", ""), "name": self.name}


def Input(shape: Sequence[int | None] | int, batch_size: int | None = None,
          dtype: torch.dtype | str | None = None, name: str | None = None) -> Any:
    """A symbolic tensor of `shape` (without the batch axis), as Keras's `Input`.

    Call layers (any `nn.Module`) on it to build a functional model with
    `ft.Model(inputs, outputs)`; or put it first in a `Sequential`, where it is the
    model's `InputLayer`. `batch_size=N` fixes the batch size of `fit`, `evaluate` and
    `predict`. `name` is the key of this input when data is passed as a dict.
    `dtype="string"` makes an input of raw text: it takes NumPy string arrays or lists
    of `str` (torch has no string tensors) and must feed layers that take strings
    (`TextVectorization`, `StringLookup`, `Hashing`), whose outputs are tensors.

    Example:
        >>> inputs = ft.Input(shape=(784,))
        >>> outputs = ft.layers.Dense(10)(ft.layers.Dense(64, activation="relu")(inputs))
        >>> model = ft.Model(inputs, outputs)
        >>> text = ft.Input(shape=(1,), dtype="string")
        >>> end_to_end = ft.Model(text, model(vectorize_layer(text)))
    """
    from fitorch.functional.symbolic import input_tensor

    return input_tensor(InputLayer(shape, batch_size=batch_size, dtype=dtype, name=name))


def _input_dtype(dtype: torch.dtype | str | type | None) -> torch.dtype | str:
    """An `Input`'s dtype: a torch dtype, or `STRING` for `dtype="string"` (or `str`)."""
    if dtype is str or (isinstance(dtype, str) and dtype in (STRING, "str")):
        return STRING
    return _dtype(dtype)  # type: ignore[arg-type]


def _dtype(dtype: torch.dtype | str | None) -> torch.dtype:
    """A torch dtype from a torch dtype or its name (float32 for None)."""
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    if str(dtype) in (STRING, "str", "object"):
        raise ValueError(
            "torch has no string tensors, so only an `Input` can be of dtype string "
            "(`ft.Input(shape=(1,), dtype=\"string\")`, feeding a layer that takes strings "
            f"such as `TextVectorization`). Received: dtype={dtype!r}"
        )
    resolved = getattr(torch, str(dtype), None)
    if not isinstance(resolved, torch.dtype):
        raise ValueError(f"Unknown dtype. Received: dtype={dtype!r}")
    return resolved
