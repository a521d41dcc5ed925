"""Data input: `get_adapter` is the one place that dispatches on the type of user data.

Every adapter follows `DataAdapter`: the epoch iterator asks it for one pass of
batches at a time; the model asks it for a sample of `x` (to size lazy layers)
and, where the data holds them in memory, the targets (checked once up front).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from torch.utils.data import IterableDataset

from fitorch import nest
from fitorch.data.arrays import (
    ArrayDataAdapter,
    is_array_structure,
    pack_x_y_sample_weight,
    unpack_x_y_sample_weight,
)
from fitorch.data.epoch_iterator import EpochIterator
from fitorch.data.generators import GeneratorAdapter, is_iterator
from fitorch.data.sequence import Sequence, SequenceAdapter, is_sequence
from fitorch.data.shard import Shard, StandIn
from fitorch.data.torch_data import (
    DataLoaderAdapter,
    DatasetAdapter,
    dataloader_adapter,
    is_dataloader,
    is_torch_dataset,
    iterable_dataset_adapter,
)
from fitorch.data.workers import WorkerConfig, merge_worker_args

__all__ = [
    "ArrayDataAdapter",
    "DataAdapter",
    "DataLoaderAdapter",
    "DatasetAdapter",
    "EpochIterator",
    "GeneratorAdapter",
    "Sequence",
    "SequenceAdapter",
    "Shard",
    "StandIn",
    "get_adapter",
    "is_batch_source",
    "makes_own_batches",
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


def makes_own_batches(x: Any) -> bool:
    """Whether `x` yields whole batches (generator, callable, `Sequence`, DataLoader).

    `batch_size` is an error with such data; arrays and torch Datasets are batched
    by fitorch. The same kinds are accepted as `validation_data`.
    """
    if x is None or is_array_structure(x) or is_torch_dataset(x):
        return False
    return is_sequence(x) or is_dataloader(x) or is_iterator(x) or callable(x)


def is_batch_source(x: Any) -> bool:
    """Whether `x` is data on its own (not arrays): what `validation_data` may be besides tuples.

    Example:
        >>> is_batch_source(my_generator)  # True; `(x_val, y_val)` -> False
    """
    return makes_own_batches(x) or is_torch_dataset(x)


def get_adapter(
    x: Any,
    y: Any = None,
    sample_weight: Any = None,
    *,
    batch_size: int | None = None,
    steps: int | None = None,
    shuffle: bool | str = False,
    class_weight: Mapping[Any, Any] | None = None,
    workers: int | None = None,
    use_multiprocessing: bool | None = None,
    max_queue_size: int | None = None,
    shard: Shard | None = None,
) -> DataAdapter:
    """Pick the adapter for the user's data; a clear error for anything unsupported.

    `workers`, `use_multiprocessing`, `max_queue_size`: None (or fit's defaults 1,
    False, 10) leaves a `Sequence`'s own settings in place; other values override them.

    `shard`: in a data-parallel run, this rank's part of arrays, Datasets and
    Sequences (`fitorch.data.shard`); generators and DataLoaders are read whole by
    each rank (a DistributedSampler splits a DataLoader).

    Example:
        >>> adapter = get_adapter(my_sequence, shuffle=True, workers=4, use_multiprocessing=True)
    """
    if x is None:
        raise ValueError("No input data: `x` is required. Received: x=None")
    parallel_asked = (workers or 1) > 1 or bool(use_multiprocessing)
    if is_array_structure(x):
        for name, part in (("y", y), ("sample_weight", sample_weight)):
            if part is not None and not is_array_structure(part):
                raise ValueError(
                    f"`{name}` must be array-like (NumPy, torch, pandas; or a list/tuple/dict "
                    f"of them) when `x` is. Received: {name}={nest.describe(part)}"
                )
        if parallel_asked:
            warnings.warn(
                "`workers` and `use_multiprocessing` apply to `Sequence`, generator and "
                "Dataset inputs; in-memory arrays are sliced in the training process and "
                "ignore them.", UserWarning, stacklevel=3,
            )
        return ArrayDataAdapter(
            x, y, sample_weight, batch_size=batch_size, steps=steps, shuffle=shuffle,
            class_weight=class_weight, shard=shard,
        )
    kind = _kind_of(x)
    if kind is None:
        raise ValueError(
            "Unrecognized data type for `x`: expected a NumPy array, a torch tensor, a pandas "
            "DataFrame/Series, or a list/tuple/dict of them; a Python generator or iterator, "
            "a callable returning one, a `fitorch.utils.Sequence`, a torch `Dataset` or "
            f"`DataLoader`. Received: x={nest.describe(x)} (of type {type(x).__name__})"
        )
    for name, part in (("y", y), ("sample_weight", sample_weight)):
        if part is not None:
            raise ValueError(
                f"`{name}` cannot be given when `x` is a {kind}: the {kind} yields it in its "
                "batches, `(x, y)` or `(x, y, sample_weight)`. "
                f"Received: {name}={nest.describe(part)} with x of type {type(x).__name__}"
            )
    if batch_size is not None and kind != "torch Dataset":
        raise ValueError(
            f"`batch_size` cannot be given when `x` is a {kind}, which makes its own batches. "
            f"Remove `batch_size`. Received: batch_size={batch_size!r} with x of type "
            f"{type(x).__name__}"
        )
    config = merge_worker_args(WorkerConfig(), workers, use_multiprocessing, max_queue_size)
    if kind == "Sequence":
        return SequenceAdapter(x, shuffle=shuffle, class_weight=class_weight, workers=workers,
                               use_multiprocessing=use_multiprocessing,
                               max_queue_size=max_queue_size, shard=shard)
    if kind == "DataLoader":
        queue_asked = max_queue_size is not None and max_queue_size != WorkerConfig().max_queue_size
        return dataloader_adapter(x, class_weight=class_weight,
                                  worker_args_given=parallel_asked or queue_asked)
    if kind == "torch Dataset":
        if isinstance(x, IterableDataset):
            return iterable_dataset_adapter(x, batch_size=batch_size, class_weight=class_weight,
                                            config=config)
        return DatasetAdapter(x, batch_size=batch_size, steps=steps, shuffle=shuffle,
                              class_weight=class_weight, config=config, shard=shard)
    return GeneratorAdapter(x, class_weight=class_weight, workers=config.workers,
                            use_multiprocessing=config.use_multiprocessing,
                            max_queue_size=config.max_queue_size)


def _kind_of(x: Any) -> str | None:
    """The name of the kind of non-array data `x` is, for dispatch and error messages."""
    if is_sequence(x):
        return "Sequence"
    if is_dataloader(x):
        return "DataLoader"
    if is_torch_dataset(x):
        return "torch Dataset"
    if is_iterator(x):
        return "generator"
    if callable(x):
        return "generator"  # a callable returning a fresh generator each pass
    return None
