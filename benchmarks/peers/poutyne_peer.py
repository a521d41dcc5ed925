"""poutyne: `poutyne.Model(network, optimizer, loss, batch_metrics=...)`, `fit` on arrays.

As poutyne's docs show: NumPy arrays straight into `fit()` / `predict()` (poutyne
builds the DataLoader and shuffles), `torch.optim.Adam`, built-in loss and
`"accuracy"` batch metric, `verbose=False`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import poutyne
import torch

from .workloads import LEARNING_RATE, Timer, Workload, torch_module


def run(w: Workload, x: np.ndarray, y: np.ndarray, epochs: int) -> dict[str, list[float]]:
    network = torch_module(w)
    optimizer = torch.optim.Adam(network.parameters(), lr=LEARNING_RATE)
    if w.classifies:
        model = poutyne.Model(network, optimizer, "cross_entropy", batch_metrics=["accuracy"])
    else:
        model = poutyne.Model(network, optimizer, "mse")
    timer = Timer()
    if w.task == "predict":
        for _ in range(epochs):
            timer.begin()
            model.predict(x, batch_size=w.batch_size, verbose=False)
            timer.end()
        return timer.result()

    class EpochTimer(poutyne.Callback):
        def on_epoch_begin(self, epoch_number: int, logs: Any) -> None:
            timer.begin()

        def on_epoch_end(self, epoch_number: int, logs: Any) -> None:
            timer.end()

    model.fit(x, y, batch_size=w.batch_size, epochs=epochs, verbose=False,
              callbacks=[EpochTimer()])
    return timer.result()
