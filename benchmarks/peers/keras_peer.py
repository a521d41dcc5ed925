"""Keras 3 (torch or JAX backend, chosen by KERAS_BACKEND before import): Sequential, fit, predict.

The code is what keras.io shows: `keras.Sequential` with an `Input`, `compile()` with
`keras.optimizers.Adam(1e-3)`, `fit()` on NumPy arrays. `jit_compile` keeps Keras's
default "auto" (XLA on JAX; eager on torch, where Keras 3 does not compile by default).
Images are given channels-last (NHWC), Keras's default layout, from the same data.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from .workloads import CLASSES, LEARNING_RATE, Timer, Workload


def keras_model(w: Workload) -> Any:
    layers = keras.layers
    if w.model == "mlp":
        body = [layers.Dense(256, activation="relu"), layers.Dense(256, activation="relu"),
                layers.Dense(CLASSES)]
        shape: tuple[int, ...] = (784,)
    elif w.model == "linear":
        body, shape = [layers.Dense(1)], (32,)
    else:
        body = [layers.Conv2D(16, 3, activation="relu"), layers.MaxPooling2D(2),
                layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
                layers.Flatten(), layers.Dense(CLASSES)]
        shape = (28, 28, 1)
    return keras.Sequential([keras.Input(shape=shape), *body])


def run(w: Workload, x: np.ndarray, y: np.ndarray, epochs: int, seed: int = 0
        ) -> dict[str, list[float]]:
    keras.utils.set_random_seed(seed)
    if w.model == "cnn":
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))  # NCHW -> NHWC
    model = keras_model(w)
    timer = Timer()
    if w.task == "predict":
        for _ in range(epochs):
            timer.begin()
            model.predict(x, batch_size=w.batch_size, verbose=0)
            timer.end()
        return timer.result()

    if w.classifies:
        model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
    else:
        model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), loss="mse")

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            timer.begin()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            timer.end()

    model.fit(x, y, batch_size=w.batch_size, epochs=epochs, shuffle=True, verbose=0,
              callbacks=[EpochTimer()])
    return timer.result()
