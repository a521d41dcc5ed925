"""Eager fit step time of one tree, for an A/B between two commits (one thread, CPU time).

    PYTHONPATH=<tree>/src taskset -c 0 python benchmarks/ab_eager_step.py w3|w1

Prints CPU microseconds per step. w3: Linear(16, 4), batch 32; w1: MLP
784-256-256-10, batch 128; torch Adam, a torch loss and the accuracy metric. Run two
trees alternately and compare medians (figures in RESULTS.md).
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch

import fitorch as ft


def main(kind: str) -> float:
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    if kind == "w3":
        x = rng.normal(size=(32000, 16)).astype("float32")
        y = rng.integers(0, 4, 32000)
        net = torch.nn.Sequential(torch.nn.Linear(16, 4))
        batch = 32
    else:
        x = rng.normal(size=(12800, 784)).astype("float32")
        y = rng.integers(0, 10, 12800)
        net = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(),
                                  torch.nn.Linear(256, 256), torch.nn.ReLU(),
                                  torch.nn.Linear(256, 10))
        batch = 128
    model = ft.Model(net)
    model.compile(optimizer=torch.optim.Adam(net.parameters()),
                  loss=torch.nn.CrossEntropyLoss(), metrics=["accuracy"])
    model.fit(x[:batch * 20], y[:batch * 20], batch_size=batch, epochs=1, verbose=0)  # warm-up
    start = time.process_time()
    model.fit(x, y, batch_size=batch, epochs=2, verbose=0, shuffle=False)
    return (time.process_time() - start) / (2 * len(x) / batch) * 1e6


if __name__ == "__main__":
    print(f"{main(sys.argv[1] if len(sys.argv) > 1 else 'w3'):.1f}")
