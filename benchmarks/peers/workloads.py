"""The benchmark workloads (issue 6): their shapes, their synthetic data and a per-epoch timer.

Every variant builds its data here from the same seed, so each subprocess trains on
the same arrays. Data are made with NumPy (float32 inputs, int64 labels or float32
targets); torch-based variants convert them once with `torch.from_numpy` (no copy).

    >>> w = WORKLOADS["W1"]
    >>> x, y = make_data(w, scale=1.0, seed=0)
    >>> x.shape, y.shape
    ((60000, 784), (60000,))
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Workload:
    """One benchmark case: a model kind, a data shape and a batch size."""

    name: str
    model: str  # "mlp", "linear" or "cnn"
    samples: int
    batch_size: int
    task: str  # "classify", "regress" or "predict"
    description: str

    @property
    def input_shape(self) -> tuple[int, ...]:
        return {"mlp": (784,), "linear": (32,), "cnn": (1, 28, 28)}[self.model]

    @property
    def classifies(self) -> bool:
        return self.task in ("classify", "predict")


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload("W1", "mlp", 60_000, 128, "classify", "MLP 784-256-256-10, batch 128"),
        Workload("W2", "mlp", 60_000, 32, "classify", "MLP 784-256-256-10, batch 32"),
        Workload("W3", "linear", 100_000, 64, "regress", "Linear 32->1, MSE, batch 64"),
        Workload("W4", "cnn", 10_000, 64, "classify", "CNN 1x28x28 (conv16-conv32-dense10), "
                 "batch 64"),
        Workload("P1", "mlp", 60_000, 1024, "predict", "predict() of W1's MLP, batch 1024"),
    )
}

CLASSES = 10
LEARNING_RATE = 1e-3


def make_data(w: Workload, scale: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic `(x, y)` for `w`, `scale` times its sample count, identical for a given seed."""
    n = max(w.batch_size, int(w.samples * scale))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, *w.input_shape), dtype=np.float32)
    if w.classifies:
        y = rng.integers(0, CLASSES, size=n, dtype=np.int64)
    else:
        # A learnable target (a fixed linear map plus noise), shaped (n, 1) like the output.
        coef = rng.standard_normal((x.shape[1], 1), dtype=np.float32)
        y = x @ coef + 0.1 * rng.standard_normal((n, 1), dtype=np.float32)
    return x, y


def torch_module(w: Workload) -> Any:
    """The workload's model as a plain `torch.nn.Module` (shared by every torch-based variant)."""
    from torch import nn

    if w.model == "mlp":
        return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                             nn.Linear(256, CLASSES))
    if w.model == "linear":
        return nn.Linear(32, 1)
    # 28 -> conv3 26 -> pool 13 -> conv3 11 -> pool 5: 32 * 5 * 5 features.
    return nn.Sequential(nn.Conv2d(1, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(32 * 5 * 5, CLASSES))


@dataclass
class Timer:
    """CPU (all threads of the process) and wall seconds of each epoch or predict pass."""

    cpu: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)
    _start: tuple[float, float] = (0.0, 0.0)

    def begin(self) -> None:
        self._start = (time.process_time(), time.perf_counter())

    def end(self) -> None:
        self.cpu.append(time.process_time() - self._start[0])
        self.wall.append(time.perf_counter() - self._start[1])

    def result(self) -> dict[str, list[float]]:
        return {"cpu": self.cpu, "wall": self.wall}
