"""Data input: `get_adapter` is the one place that dispatches on the type of user data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fitorch import nest
from fitorch.data.arrays import (
    ArrayDataAdapter,
    is_array_structure,
    pack_x_y_sample_weight,
    unpack_x_y_sample_weight,
)
from fitorch.data.epoch_iterator import EpochIterator

__all__ = [
    "ArrayDataAdapter",
    "EpochIterator",
    "get_adapter",
    "pack_x_y_sample_weight",
    "unpack_x_y_sample_weight",
]


def get_adapter(
    x: Any,
    y: Any = None,
    sample_weight: Any = None,
    *,
    batch_size: int | None = None,
    steps: int | None = None,
    shuffle: bool | str = False,
    class_weight: Mapping[Any, Any] | None = None,
) -> ArrayDataAdapter:
    """Pick the adapter for the user's data; a clear error for anything unsupported."""
    if x is None:
        raise ValueError("No input data: `x` is required. Received: x=None")
    if is_array_structure(x):
        for name, part in (("y", y), ("sample_weight", sample_weight)):
            if part is not None and not is_array_structure(part):
                raise ValueError(
                    f"`{name}` must be array-like (NumPy, torch, pandas; or a list/tuple/dict "
                    f"of them) when `x` is. Received: {name}={nest.describe(part)}"
                )
        return ArrayDataAdapter(
            x, y, sample_weight, batch_size=batch_size, steps=steps, shuffle=shuffle,
            class_weight=class_weight,
        )
    raise ValueError(
        "Unrecognized data type for `x`: expected a NumPy array, a torch tensor, a pandas "
        "DataFrame/Series, or a list/tuple/dict of them. "
        f"Received: x={nest.describe(x)} (of type {type(x).__name__})"
    )
