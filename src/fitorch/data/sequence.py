"""`Sequence` (alias `PyDataset`): batches by index, fetched by worker threads or processes.

A `Sequence` defines an epoch by `len()`; `fit` fetches every index exactly once
per epoch and delivers the batches in index order (or in a new random order per
epoch with `shuffle=True`), then calls `on_epoch_end` in the main process.
"""

from __future__ import annotations

import contextlib
import itertools
import numbers
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch.utils.data import Dataset

from fitorch.data.passes import PassAdapter
from fitorch.data.shard import Shard, mark_stand_ins
from fitorch.data.standardize import standardize_batch
from fitorch.data.workers import WorkerConfig, derive_seed, merge_worker_args, ordered_map


def checked_len(sequence: Any) -> int:
    """`len(sequence)`, with a clear error when `__len__` returns no count of batches."""
    n = type(sequence).__len__(sequence)
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
        raise ValueError(
            f"`{type(sequence).__name__}.__len__` must return the number of batches per epoch, "
            f"a non-negative int. Received: __len__() returned {n!r} (of type "
            f"{type(n).__name__})"
        )
    return int(n)


class Sequence:
    """Base class for datasets that return whole batches by index (Keras's `PyDataset`).

    Implement `__len__` (the number of batches) and `__getitem__(index)` (one batch:
    `x`, `(x, y)` or `(x, y, sample_weight)`); optionally `on_epoch_end` (called in
    the main process after every epoch) and `on_epoch_begin`.

    Args:
        workers: threads or processes fetching batches ahead (1: the training thread).
        use_multiprocessing: processes instead of threads (the dataset is pickled, or
            forked, into each worker; pick the start method with
            `multiprocessing.set_start_method`).
        max_queue_size: the most batches fetched ahead of training.

    `fit(workers=..., use_multiprocessing=..., max_queue_size=...)` values other than
    the defaults override these.

    Example:
        >>> class Batches(ft.utils.Sequence):
        ...     def __init__(self, x, y, batch_size, **kwargs):
        ...         super().__init__(**kwargs)
        ...         self.x, self.y, self.batch_size = x, y, batch_size
        ...     def __len__(self):
        ...         return math.ceil(len(self.x) / self.batch_size)
        ...     def __getitem__(self, idx):
        ...         sl = slice(idx * self.batch_size, (idx + 1) * self.batch_size)
        ...         return self.x[sl], self.y[sl]
        >>> model.fit(Batches(x, y, 32, workers=4, use_multiprocessing=True), epochs=3)
    """

    def __init__(self, workers: int = 1, use_multiprocessing: bool = False,
                 max_queue_size: int = 10) -> None:
        self.workers = workers
        self.use_multiprocessing = use_multiprocessing
        self.max_queue_size = max_queue_size

    # A subclass that never calls `super().__init__()` (as tf_keras allowed) gets the
    # defaults, read through these properties.
    @property
    def workers(self) -> int:
        return self.__dict__.get("_workers", 1)

    @workers.setter
    def workers(self, value: int) -> None:
        self._workers = _count("workers", value, minimum=0)

    @property
    def use_multiprocessing(self) -> bool:
        return self.__dict__.get("_use_multiprocessing", False)

    @use_multiprocessing.setter
    def use_multiprocessing(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise ValueError(
                "`use_multiprocessing` must be True or False. "
                f"Received: use_multiprocessing={value!r} (of type {type(value).__name__})"
            )
        self._use_multiprocessing = value

    @property
    def max_queue_size(self) -> int:
        return self.__dict__.get("_max_queue_size", 10)

    @max_queue_size.setter
    def max_queue_size(self, value: int) -> None:
        self._max_queue_size = _count("max_queue_size", value, minimum=1)

    def __getitem__(self, index: int) -> Any:
        """The batch at position `index`."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement `__getitem__(index)`, returning one batch."
        )

    @property
    def num_batches(self) -> int | None:
        """Batches per epoch: `len(self)`; None for an endless Sequence (Keras 3)."""
        if hasattr(self, "__len__"):
            return checked_len(self)
        return None

    def __iter__(self) -> Iterator[Any]:
        n = self.num_batches
        for index in range(n) if n is not None else itertools.count():
            yield self[index]

    def on_epoch_begin(self) -> None:
        """Called before each pass over the batches."""

    def on_epoch_end(self) -> None:
        """Called in the main process after every epoch (and every validation run)."""


PyDataset = Sequence


def _count(name: str, value: Any, minimum: int) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
        raise ValueError(
            f"`{name}` must be an integer >= {minimum}. "
            f"Received: {name}={value!r} (of type {type(value).__name__})"
        )
    return int(value)


def is_sequence(x: Any) -> bool:
    """A fitorch `Sequence`, or a Keras `PyDataset` / `Sequence` (so Keras code moves over)."""
    if isinstance(x, Sequence):
        return True
    return any(
        cls.__name__ in ("PyDataset", "Sequence")
        and cls.__module__.split(".")[0] in ("keras", "tf_keras", "tensorflow")
        for cls in type(x).__mro__
    )


class SequenceBatches(Dataset):
    """The Sequence as a map-style dataset of standardized batches (what workers call)."""

    def __init__(self, sequence: Any, in_processes: bool = False) -> None:
        self.sequence = sequence
        self.in_processes = in_processes

    def __getitem__(self, index: int) -> Any:
        return standardize_batch(self.sequence[index], "Sequence",
                                 keep_small_numpy=self.in_processes)


class SequenceAdapter(PassAdapter):
    """Batches of a `Sequence`, in index order or shuffled per epoch, on worker threads/processes.

    Example:
        >>> adapter = SequenceAdapter(seq, shuffle=True, workers=4, use_multiprocessing=True)
    """

    source_name = "Sequence"
    resumable = True
    shard_kind = "batches"  # data-parallel: rank r takes batches r::W

    def __init__(self, sequence: Any, *, shuffle: bool | str = False,
                 class_weight: Mapping[Any, Any] | None = None,
                 workers: int | None = None, use_multiprocessing: bool | None = None,
                 max_queue_size: int | None = None, shard: Shard | None = None) -> None:
        super().__init__(class_weight)
        self.sequence = sequence
        self.shard = shard  # data-parallel: rank r takes batches r::W of each pass
        own = WorkerConfig(
            int(getattr(sequence, "workers", 1)),
            bool(getattr(sequence, "use_multiprocessing", False)),
            int(getattr(sequence, "max_queue_size", 10)),
        )
        self.config = merge_worker_args(own, workers, use_multiprocessing, max_queue_size)
        n = getattr(sequence, "num_batches", None)
        if n is None and hasattr(sequence, "__len__"):
            n = checked_len(sequence)
        if n is not None and n <= 0:
            raise ValueError(
                "The Sequence has no batches: `len()` must be positive. "
                f"Received: a {type(sequence).__name__} with len() = {n}"
            )
        self.sequence_batches = n
        self.num_batches = shard.steps(n) if shard is not None and n is not None else n
        # shuffle="batch" is shuffle=True here: a Sequence's batches already are the chunks.
        self.shuffle = bool(shuffle)
        self._source = SequenceBatches(sequence, in_processes=self.config.mode == "processes")
        self._passes = 0

    def _begin_pass(self) -> None:
        begin = getattr(self.sequence, "on_epoch_begin", None)
        if begin is not None:
            begin()

    def on_epoch_end(self) -> None:
        end = getattr(self.sequence, "on_epoch_end", None)
        if end is not None:
            end()

    def _open_pass(self, skip: int = 0) -> Iterator[Any]:
        n, shard = self.sequence_batches, self.shard
        keys: Any
        stand_ins: list[bool] = []
        if n is None:
            keys = (itertools.count(skip) if shard is None
                    else itertools.count(skip * shard.world + shard.rank, shard.world))
        else:
            with shard.shared_order() if shard is not None else contextlib.nullcontext():
                # torch's global RNG: manual_seed reproduces it
                order = torch.randperm(n).tolist() if self.shuffle else list(range(n))
            if shard is None:
                keys = order[skip:]
            else:
                # Step k takes batch k * W + rank; past the end, a stand-in (batch k * W).
                steps = range(skip, shard.steps(n))
                stand_ins = [k * shard.world + shard.rank >= n for k in steps]
                keys = [order[k * shard.world] if empty else order[k * shard.world + shard.rank]
                        for k, empty in zip(steps, stand_ins)]
        seed = derive_seed(self._passes) if self.config.mode == "processes" else 0
        self._passes += 1
        batches = ordered_map(self._source, keys, self.config, seed=seed)
        return mark_stand_ins(batches, stand_ins) if any(stand_ins) else batches

