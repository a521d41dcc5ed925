"""Keras's `timeseries_dataset_from_array`: sliding windows over an array, as batches
that `fit` takes (a `fitorch.utils.Sequence`), with Keras's windows and order.

Example:
    >>> data = np.arange(10)
    >>> ds = timeseries_dataset_from_array(data[:-3], data[3:], sequence_length=3,
    ...                                    batch_size=2)
    >>> x, y = ds[0]
    >>> x.tolist(), y.tolist()
    ([[0, 1, 2], [1, 2, 3]], [3, 4])
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fitorch.data.sequence import Sequence

__all__ = ["timeseries_dataset_from_array"]


def _check_int(value: Any, arg: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(
            f"`{arg}` must be an integer >= {minimum}. "
            f"Received: {arg}={value!r} (of type {type(value).__name__})"
        )
    return int(value)


class TimeseriesDataset(Sequence):
    """Windows of `data` (and their targets), batch by batch; made by
    `timeseries_dataset_from_array`. `len()` is the number of batches; with
    `batch_size=None` each item is one window."""

    def __init__(self, data: np.ndarray, targets: np.ndarray | None, starts: np.ndarray,
                 sequence_length: int, sampling_rate: int, batch_size: int | None,
                 shuffle: bool, seed: int | None) -> None:
        super().__init__()
        self.data, self.targets, self.starts = data, targets, starts
        self.sequence_length, self.sampling_rate = sequence_length, sampling_rate
        self.batch_size, self.shuffle = batch_size, shuffle
        self._rng = np.random.RandomState(seed)
        self._order = np.arange(len(starts))

    def __len__(self) -> int:
        if self.batch_size is None:
            return len(self.starts)
        return math.ceil(len(self.starts) / self.batch_size)

    def __getitem__(self, index: int) -> Any:
        if not 0 <= index < len(self):
            raise IndexError(f"Batch index {index} out of range for {len(self)} batches.")
        single = self.batch_size is None
        size = 1 if self.batch_size is None else self.batch_size
        rows = self._order[index * size:(index + 1) * size]
        starts = self.starts[rows]
        offsets = np.arange(self.sequence_length) * self.sampling_rate
        x = self.data[starts[:, None] + offsets]
        if self.targets is None:
            return x[0] if single else x
        y = self.targets[starts]
        return (x[0], y[0]) if single else (x, y)

    def on_epoch_end(self) -> None:
        """A new window order for the next epoch when shuffling (seeded)."""
        if self.shuffle:
            self._rng.shuffle(self._order)


def timeseries_dataset_from_array(
    data: Any,
    targets: Any,
    sequence_length: int,
    sequence_stride: int = 1,
    sampling_rate: int = 1,
    batch_size: int | None = 128,
    shuffle: bool = False,
    seed: int | None = None,
    start_index: int | None = None,
    end_index: int | None = None,
) -> TimeseriesDataset:
    """Windows of `sequence_length` time steps (every `sampling_rate`-th step), one
    starting every `sequence_stride` steps, within `data[start_index:end_index]`;
    the target of the window starting at step i is `targets[start_index + i]`
    (`targets=None`: windows only). Keras's arguments, checks and windows.

    Returns a `fitorch.utils.Sequence` of `(x, y)` NumPy batches for `fit`,
    `evaluate` and `predict`. With `shuffle=True` the window order is Keras's
    (a `RandomState(seed)` shuffle of the start positions), and is reshuffled
    after every epoch (Keras's tf.data buffer shuffle has no NumPy equivalent).

    Example:
        >>> ds = timeseries_dataset_from_array(np.arange(100), None, sequence_length=10,
        ...                                    sequence_stride=10, batch_size=None)
        >>> ds[1].tolist()[:3]
        [10, 11, 12]
    """
    data = np.asarray(data)
    if data.ndim == 0:
        raise ValueError(
            "`data` must be an array with a time axis first. "
            f"Received: data of shape {data.shape} (of type {type(data).__name__})"
        )
    n = len(data)
    sequence_length = _check_int(sequence_length, "sequence_length", 1)
    if start_index:
        if start_index < 0:
            raise ValueError(
                f"`start_index` must be 0 or greater. Received: start_index={start_index}")
        if start_index >= n:
            raise ValueError(
                "`start_index` must be lower than the length of the data. "
                f"Received: start_index={start_index}, for data of length {n}")
    if end_index:
        if start_index and end_index <= start_index:
            raise ValueError(
                "`end_index` must be higher than `start_index`. "
                f"Received: start_index={start_index}, and end_index={end_index}")
        if end_index >= n:
            raise ValueError(
                "`end_index` must be lower than the length of the data. "
                f"Received: end_index={end_index}, for data of length {n}")
        if end_index <= 0:
            raise ValueError(f"`end_index` must be higher than 0. Received: end_index={end_index}")
    for arg, value in (("sampling_rate", sampling_rate), ("sequence_stride", sequence_stride)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
            raise ValueError(
                f"`{arg}` must be higher than 0. Received: {arg}={value!r} "
                f"(of type {type(value).__name__})")
        if value >= n:
            raise ValueError(
                f"`{arg}` must be lower than the length of the data. "
                f"Received: {arg}={value}, for data of length {n}")
    if batch_size is not None:
        batch_size = _check_int(batch_size, "batch_size", 1)
    start = start_index or 0
    end = end_index if end_index is not None else n
    window = data[start:end]
    target_window = None
    num_seqs = end - start - (sequence_length - 1) * sampling_rate
    if targets is not None:
        targets = np.asarray(targets)
        target_window = targets[start:end]
        num_seqs = min(num_seqs, len(targets))
    starts = np.arange(0, max(num_seqs, 0), sequence_stride, dtype=np.int64)
    if shuffle:
        if seed is None:
            seed = int(np.random.randint(1_000_000))
        np.random.RandomState(seed).shuffle(starts)
    return TimeseriesDataset(window, target_window, starts, sequence_length, int(sampling_rate),
                             batch_size, bool(shuffle), seed)
