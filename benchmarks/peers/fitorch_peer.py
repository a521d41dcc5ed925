"""fitorch: `ft.Model(module)`, `compile()`, `fit()` / `predict()`, as the README shows.

Three variants: eager (`jit_compile=False`), `jit_compile=True` and
`steps_per_execution=8`. They take the same `torch.optim.Adam` as the reference
loop so that the ratio measures the engine, not the optimizer kernel; `"adam"`
(fitorch's Keras-rule Adam on torch's fused kernel) gives the extra `fitorch-adam`
and `fitorch-jit-adam` variants: what `compile(optimizer="adam")` gives, the
like-for-like comparison with Keras (which runs its own Adam).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

import fitorch as ft

from .workloads import LEARNING_RATE, Timer, Workload, torch_module


def run(w: Workload, x: np.ndarray, y: np.ndarray, epochs: int, *, jit_compile: bool = False,
        steps_per_execution: int = 1, keras_adam: bool = False) -> dict[str, list[float]]:
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    module = torch_module(w)
    model = ft.Model(module)
    optimizer: Any = ("adam" if keras_adam
                      else torch.optim.Adam(module.parameters(), lr=LEARNING_RATE))
    loss: Any = (ft.losses.SparseCategoricalCrossentropy(from_logits=True) if w.classifies
                 else "mse")
    model.compile(optimizer=optimizer, loss=loss,
                  metrics=["accuracy"] if w.classifies else None,
                  jit_compile=jit_compile, steps_per_execution=steps_per_execution)
    timer = Timer()
    if w.task == "predict":
        for _ in range(epochs):
            timer.begin()
            model.predict(xt, batch_size=w.batch_size, verbose=0)
            timer.end()
        return timer.result()

    class EpochTimer(ft.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            timer.begin()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            timer.end()

    model.fit(xt, yt, batch_size=w.batch_size, epochs=epochs, shuffle=True, verbose=0,
              callbacks=[EpochTimer()])
    return timer.result()
