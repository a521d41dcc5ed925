"""Sequences, datasets and generators shared by the data tests.

They live in an importable module (not in a test file) so that worker processes
started with "spawn" or "forkserver" can unpickle them.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
import torch

import fitorch as ft

N_FEATURES = 8
BATCH = 4


def batch_for(index: int, batch: int = BATCH, classes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """A deterministic batch for `index`: x float32 (batch, 8), integer labels."""
    rng = np.random.default_rng(1000 + index)
    x = rng.normal(size=(batch, N_FEATURES)).astype("float32")
    y = rng.integers(0, classes, size=(batch,)).astype("int64")
    return x, y


def arrays_for(num_batches: int, batch: int = BATCH) -> tuple[np.ndarray, np.ndarray]:
    """The same data as `num_batches` batches of `batch_for`, as two arrays."""
    parts = [batch_for(i, batch) for i in range(num_batches)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


class DataSequence(ft.utils.Sequence):
    """`num_batches` batches of `batch_for`; counts `on_epoch_end` calls."""

    def __init__(self, num_batches: int = 5, batch: int = BATCH, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.n = num_batches
        self.batch = batch
        self.epoch_ends = 0
        self.epoch_begins = 0

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> Any:
        if not 0 <= index < self.n:
            raise IndexError(index)
        return batch_for(index, self.batch)

    def on_epoch_begin(self) -> None:
        self.epoch_begins += 1

    def on_epoch_end(self) -> None:
        self.epoch_ends += 1

    # What on_epoch_begin/end change, for BackupAndRestore's exact resume.
    def state_dict(self) -> dict[str, int]:
        return {"epoch_ends": self.epoch_ends, "epoch_begins": self.epoch_begins}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch_ends, self.epoch_begins = state["epoch_ends"], state["epoch_begins"]


class CountingSequence(ft.utils.Sequence):
    """Records every fetch in shared memory: `counts[epoch * n + index]`, and the process.

    Its batches carry the index and the epoch the worker saw: x[:, 0] = index,
    x[:, 1] = epoch (advanced by `on_epoch_end` in the main process).
    """

    def __init__(self, n: int, epochs: int, counts: Any, pids: Any = None, delay: float = 0.0,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.n, self.epochs, self.counts, self.pids = n, epochs, counts, pids
        self.delay = delay
        self.epoch = 0

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> Any:
        with self.counts.get_lock():
            self.counts[self.epoch * self.n + index] += 1
        if self.pids is not None:
            self.pids[self.epoch * self.n + index] = os.getpid()
        if self.delay:
            time.sleep(self.delay)
        x = np.zeros((2, N_FEATURES), np.float32)
        x[:, 0] = index
        x[:, 1] = self.epoch
        return x, np.zeros((2,), np.int64)

    def on_epoch_end(self) -> None:
        self.epoch += 1


class BadBatchError(ValueError):
    """A user's own exception type: it must come out of fit as itself."""


class FailingSequence(ft.utils.Sequence):
    """Batch `fail_at` raises `BadBatchError("bad batch <i>")` from `load_batch`."""

    def __init__(self, n: int = 6, fail_at: int = 3, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.n, self.fail_at = n, fail_at

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> Any:
        return self.load_batch(index)

    def load_batch(self, index: int) -> Any:
        if index == self.fail_at:
            raise BadBatchError(f"bad batch {index}")  # the line the tests look for
        return batch_for(index)


class SlowSequence(DataSequence):
    """Each batch takes `delay` seconds (time to kill a worker or press Ctrl-C)."""

    def __init__(self, num_batches: int = 40, delay: float = 0.05, **kwargs: Any) -> None:
        super().__init__(num_batches, **kwargs)
        self.delay = delay

    def __getitem__(self, index: int) -> Any:
        time.sleep(self.delay)
        return super().__getitem__(index)


class RandomSequence(ft.utils.Sequence):
    """Batches made of NumPy's, Python's and torch's global RNGs, plus the worker's pid."""

    def __init__(self, n: int = 8, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> Any:
        import random

        x = np.array([[np.random.rand(), random.random(), float(torch.rand(())),
                       float(os.getpid())]], np.float32)
        return (x,)


class MixedSizes(ft.utils.Sequence):
    """Batches with a small float64 leaf and a large (1 MB) float32 leaf."""

    def __len__(self) -> int:
        return 3

    def __getitem__(self, index: int) -> Any:
        small = np.full((4, 2), float(index))  # float64
        large = np.full((4, 65536), float(index), np.float32)
        return {"small": small, "large": large}, np.arange(4)

class SampleDataset(torch.utils.data.Dataset):
    """A map-style dataset of single samples (the rows of `arrays_for`)."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> Any:
        return self.x[i], self.y[i]


class SampleStream(torch.utils.data.IterableDataset):
    """An iterable-style dataset of the same samples, in order."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x, self.y = x, y

    def __iter__(self) -> Any:
        for i in range(len(self.x)):
            yield self.x[i], self.y[i]


# --- models -------------------------------------------------------------------------


def small_model(dropout: float = 0.0, seed: int = 0) -> ft.Model:
    """Linear 8 -> 16 -> 3 (logits), SGD, sparse crossentropy and accuracy."""
    torch.manual_seed(seed)
    layers: list[torch.nn.Module] = [torch.nn.Linear(N_FEATURES, 16), torch.nn.ReLU()]
    if dropout:
        layers.append(torch.nn.Dropout(dropout))
    layers.append(torch.nn.Linear(16, 3))
    model = ft.Model(torch.nn.Sequential(*layers))
    model.compile(optimizer="sgd",
                  loss=ft.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


class Recorder(ft.Model):
    """Records (x[0, 0], x[0, 1]) of every training batch; trains nothing."""

    def __init__(self) -> None:
        super().__init__(torch.nn.Linear(N_FEATURES, 3))
        self.seen: list[tuple[int, int]] = []
        self.compile(optimizer="sgd", loss="mse")

    def train_step(self, data: Any) -> Any:
        x = data[0] if isinstance(data, tuple) else data
        self.seen.append((int(x[0, 0]), int(x[0, 1])))
        return {"loss": torch.zeros(())}


# --- what is running ----------------------------------------------------------------


def child_pids() -> set[int]:
    """Processes whose parent is this one (read from /proc, zombies included)."""
    me = os.getpid()
    out = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == me:
            out.add(int(entry))
    return out


def data_threads() -> list[Any]:
    """fitorch's worker and prefetch threads still alive."""
    import threading

    return [t for t in threading.enumerate() if t.name.startswith("fitorch-data")]



# Behaviour that needs the model.py / trainer.py change handed over with this work
# (`validation_data` accepting generators, Sequences, Datasets and DataLoaders; training
# stopping when a one-shot generator runs out). Strict: once the change lands these tests
# pass, the xfail becomes a failure, and this marker is to be removed.

