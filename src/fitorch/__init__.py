"""fitorch: Keras's training engine (compile, fit, evaluate, predict, callbacks) for PyTorch.

Example:
    >>> import fitorch as ft
    >>> model = ft.Sequential([ft.Input(shape=(64,)), ft.layers.Dense(10, activation="softmax")])
    >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
    ...               metrics=["accuracy"])
    >>> history = model.fit(x, y, epochs=5, validation_split=0.1)
"""

from fitorch import (
    activations,
    callbacks,
    constraints,
    distributed,
    distribution,
    initializers,
    layers,
    losses,
    metrics,
    mixed_precision,
    models,
    optimizers,
    regularizers,
)
from fitorch.layers.input_layer import Input
from fitorch.model import Model
from fitorch.saving import load_model
from fitorch.sequential import Sequential

__version__ = "0.1.0"

__all__ = [
    "Input",
    "Model",
    "Sequential",
    "activations",
    "callbacks",
    "constraints",
    "distributed",
    "distribution",
    "initializers",
    "layers",
    "load_model",
    "losses",
    "metrics",
    "mixed_precision",
    "models",
    "optimizers",
    "regularizers",
]
