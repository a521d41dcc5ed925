"""Sequence workers: batches/s when each batch costs ~10 ms of NumPy work.

The same dataset of batches is trained on (a tiny linear model, so data loading
is what is measured) by:

- fitorch `fit(Sequence)` with workers=1 (the training thread), 2 threads, 2 processes;
- a hand-written PyTorch loop over `DataLoader(num_workers=2)`;
- Keras 3 `fit(PyDataset(workers=2, use_multiprocessing=True))` (torch backend).

The NumPy work is a fixed number of operations, calibrated once to take about
10 ms on one core here (a fixed amount of work, not a timed wait, so that
workers only help when there are cores for them). Each variant runs in its own
subprocess, several times, interleaved so that drifts in machine load hit every
variant alike. The first epoch of every run is excluded (warm-up); the figure is
the median over the remaining epochs of all runs.

    .venv/bin/python benchmarks/bench_sequence_workers.py
    .venv/bin/python benchmarks/bench_sequence_workers.py --repeats 5 --epochs 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

BATCHES, BATCH, FEATURES, CLASSES = 64, 32, 8, 3
VARIANTS = ["fitorch_w1", "fitorch_w2_threads", "fitorch_w2_processes", "torch_dataloader_w2",
            "keras_pydataset_w2_processes"]


def busy_batch(index: int, rounds: int):
    """`rounds` rounds of elementwise NumPy work on a 64x64 array, then one batch."""
    import numpy as np

    rng = np.random.default_rng(index)
    a = rng.normal(size=(64, 64))
    for _ in range(rounds):
        a = np.tanh(a) + 0.5
    x = np.resize(a, (BATCH, FEATURES)).astype(np.float32)
    return x, rng.integers(0, CLASSES, size=(BATCH,)).astype(np.int64)


def calibrate(ms: float) -> int:
    """Rounds of `busy_batch` work taking about `ms` milliseconds on one core."""
    busy_batch(0, 10)  # warm-up: imports, first-call costs
    rounds = 1000
    took = statistics.median(_time_ms(rounds) for _ in range(5))
    return max(1, round(rounds * ms / took))


def _time_ms(rounds: int) -> float:
    start = time.perf_counter()
    busy_batch(0, rounds)
    return (time.perf_counter() - start) * 1000


def epoch_times_fitorch(rounds: int, epochs: int, workers: int, processes: bool) -> list[float]:
    import torch

    import fitorch as ft

    class Busy(ft.utils.Sequence):
        def __len__(self) -> int:
            return BATCHES

        def __getitem__(self, index: int):
            return busy_batch(index, rounds)

    class Timer(ft.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.times: list[float] = []

        def on_epoch_begin(self, epoch, logs=None) -> None:
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None) -> None:
            self.times.append(time.perf_counter() - self.start)

    torch.manual_seed(0)
    model = ft.Model(torch.nn.Linear(FEATURES, CLASSES))
    model.compile(optimizer="sgd",
                  loss=ft.losses.SparseCategoricalCrossentropy(from_logits=True))
    timer = Timer()
    model.fit(Busy(workers=workers, use_multiprocessing=processes), epochs=epochs, verbose=0,
              shuffle=False, callbacks=[timer])
    return timer.times


def epoch_times_torch(rounds: int, epochs: int) -> list[float]:
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, Dataset

    class Busy(Dataset):
        def __len__(self) -> int:
            return BATCHES

        def __getitem__(self, index: int):
            return busy_batch(index, rounds)

    torch.manual_seed(0)
    model = torch.nn.Linear(FEATURES, CLASSES)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    loader = DataLoader(Busy(), batch_size=None, num_workers=2)
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        for x, y in loader:
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
    return times


def epoch_times_keras(rounds: int, epochs: int) -> list[float]:
    os.environ["KERAS_BACKEND"] = "torch"
    import keras

    class Busy(keras.utils.PyDataset):
        def __len__(self) -> int:
            return BATCHES

        def __getitem__(self, index: int):
            return busy_batch(index, rounds)

    class Timer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.times: list[float] = []

        def on_epoch_begin(self, epoch, logs=None) -> None:
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None) -> None:
            self.times.append(time.perf_counter() - self.start)

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((FEATURES,)), keras.layers.Dense(CLASSES)])
    model.compile(optimizer="sgd",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    timer = Timer()
    model.fit(Busy(workers=2, use_multiprocessing=True), epochs=epochs, verbose=0,
              shuffle=False, callbacks=[timer])
    return timer.times


def run_variant(name: str, rounds: int, epochs: int) -> list[float]:
    import torch

    torch.set_num_threads(1)  # the model is tiny; keep the cores for the workers
    if name == "fitorch_w1":
        return epoch_times_fitorch(rounds, epochs, 1, False)
    if name == "fitorch_w2_threads":
        return epoch_times_fitorch(rounds, epochs, 2, False)
    if name == "fitorch_w2_processes":
        return epoch_times_fitorch(rounds, epochs, 2, True)
    if name == "torch_dataloader_w2":
        return epoch_times_torch(rounds, epochs)
    if name == "keras_pydataset_w2_processes":
        return epoch_times_keras(rounds, epochs)
    raise ValueError(f"Unknown variant. Received: {name!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--ms", type=float, default=10.0, help="work per batch, milliseconds")
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.variant:  # child process: print the epoch times as JSON
        print(json.dumps(run_variant(args.variant, args.rounds, args.epochs)))
        return

    rounds = calibrate(args.ms)
    per_batch_ms = statistics.median(_time_ms(rounds) for _ in range(5))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    rates: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for _ in range(args.repeats):
        for variant in VARIANTS:
            out = subprocess.run(
                [sys.executable, __file__, "--variant", variant, "--rounds", str(rounds),
                 "--epochs", str(args.epochs)],
                capture_output=True, text=True, env=env, check=True,
            )
            times = json.loads(out.stdout.strip().splitlines()[-1])
            rates[variant] += [BATCHES / t for t in times[1:]]  # epoch 1 is warm-up

    median = {v: statistics.median(r) for v, r in rates.items()}
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}; {BATCHES} batches/epoch, "
          f"{per_batch_ms:.1f} ms of NumPy work per batch ({rounds} rounds), "
          f"{args.repeats} runs x {args.epochs - 1} timed epochs")
    print(f"{'variant':32s} {'batches/s':>10s} {'vs fitorch w1':>14s}")
    for v in VARIANTS:
        print(f"{v:32s} {median[v]:10.1f} {median[v] / median['fitorch_w1']:13.2f}x")
    ours = median["fitorch_w2_processes"]
    vs_torch = ours / median["torch_dataloader_w2"]
    vs_keras = ours / median["keras_pydataset_w2_processes"]
    print(f"fitorch w2 processes vs torch DataLoader w2: {vs_torch:.2f}x; "
          f"vs Keras PyDataset w2: {vs_keras:.2f}x")


if __name__ == "__main__":
    main()
