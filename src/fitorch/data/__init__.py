"""Data input: `get_adapter` is the one place that dispatches on the type of user data.

Every adapter follows `DataAdapter`: the epoch iterator asks it for one pass of
batches at a time; the model asks it for a sample of `x` (to size lazy layers)
and, where the data holds them in memory, the targets (checked once up front).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

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
    "DataAdapter",
    "EpochIterator",
    "get_adapter",
    "pack_x_y_sample_weight",
    "unpack_x_y_sample_weight",
]


class DataAdapter(Protocol):
    """What the engine needs from user data of any kind."""

    @property
    def num_batches(self) -> int | None:
        """Batches in one full pass, or None when unknown until the data runs out."""
        ...

    @property
    def reiterable(self) -> bool:
        """Whether a new pass can start at any time (arrays, Sequences) or not (generators)."""
        ...

    def batches(self) -> Iterator[Any]:
        """One pass: Keras-packed batches `x`, `(x,)`, `(x, y)` or `(x, y, sw)` on the CPU."""
        ...

    def on_epoch_begin(self) -> None: ...

    def on_epoch_end(self) -> None:
        """After each epoch's batches (a `Sequence`'s `on_epoch_end` runs here)."""
        ...

    def close(self) -> None:
        """Stop and reap workers; called when fit/evaluate/predict end, also on errors."""
        ...

    def sample_x(self) -> Any:
        """`x` of (part of) the first batch, without consuming data, to build lazy layers."""
        ...

    def targets(self) -> Any:
        """All targets when held in memory (checked once before training), else None."""
        ...

    @property
    def has_targets(self) -> bool | None:
        """Whether batches carry `y`; None when unknown before the data is read."""
        ...


def get_adapter(
    x: Any,
    y: Any = None,
    sample_weight: Any = None,
    *,
    batch_size: int | None = None,
    steps: int | None = None,
    shuffle: bool | str = False,
    class_weight: Mapping[Any, Any] | None = None,
    workers: int = 1,
    use_multiprocessing: bool = False,
    max_queue_size: int = 10,
) -> DataAdapter:
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
        if workers > 1 or use_multiprocessing:
            warnings.warn(
                "`workers` and `use_multiprocessing` apply to `Sequence`, generator and "
                "Dataset inputs; in-memory arrays are sliced in the training process and "
                "ignore them.", UserWarning, stacklevel=3,
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
