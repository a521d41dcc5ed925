"""Twin models for differential tests: a Keras 3 model and the fitorch model with its weights.

A Keras model (torch backend) is built first; the fitorch twin gets a copy of its
initial weights (Dense kernels transposed: fitorch keeps PyTorch's `(out, in)`).
Helpers compare what the two frameworks return.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras

import fitorch as ft

RTOL = 1e-4
ATOL = 1e-6
N_FEATURES = 8
HIDDEN = 16


# --- data -------------------------------------------------------------------------


def make_data(n: int = 103, classes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`x` float32 (n, 8) and integer labels in [0, classes) that depend on `x`."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, N_FEATURES)).astype("float32")
    w = rng.normal(size=(N_FEATURES, classes))
    y = np.argmax(x @ w + 0.5 * rng.normal(size=(n, classes)), axis=1).astype("int64")
    return x, y


def make_regression(n: int = 103, outputs: int = 1, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, N_FEATURES)).astype("float32")
    w = rng.normal(size=(N_FEATURES, outputs)).astype("float32")
    y = (np.tanh(x @ w) + 0.1 * rng.normal(size=(n, outputs))).astype("float32")
    return x, y


def positive_weights(n: int, seed: int = 2) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.2, 2.0, size=(n,)).astype("float32")


# --- twin models --------------------------------------------------------------------


def keras_mlp(units: int, activation: str | None, seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((N_FEATURES,)),
        keras.layers.Dense(HIDDEN, activation="relu"),
        keras.layers.Dense(units, activation=activation),
    ])


def fitorch_mlp(units: int, activation: str | None) -> ft.Sequential:
    return ft.Sequential([
        ft.Input(shape=(N_FEATURES,)),
        ft.layers.Dense(HIDDEN, activation="relu"),
        ft.layers.Dense(units, activation=activation),
    ])


def keras_dense_weights(model: keras.Model) -> list[tuple[np.ndarray, np.ndarray]]:
    """(kernel, bias) of every Keras Dense layer, in layer order, as NumPy."""
    return [
        (keras.ops.convert_to_numpy(layer.kernel), keras.ops.convert_to_numpy(layer.bias))
        for layer in model.layers if isinstance(layer, keras.layers.Dense)
    ]


def fitorch_dense_layers(model: torch.nn.Module) -> list[Any]:
    return [m for m in model.modules() if isinstance(m, ft.layers.Dense)]


def copy_weights(kmodel: keras.Model, fmodel: torch.nn.Module) -> None:
    """Copy Keras's Dense weights into fitorch's Dense layers (kernels transposed)."""
    pairs = keras_dense_weights(kmodel)
    layers = fitorch_dense_layers(fmodel)
    assert len(pairs) == len(layers), (len(pairs), len(layers))
    with torch.no_grad():
        for (kernel, bias), layer in zip(pairs, layers):
            assert tuple(layer.weight.shape) == kernel.T.shape
            layer.weight.copy_(torch.from_numpy(kernel.T.copy()))
            layer.bias.copy_(torch.from_numpy(bias.copy()))


def mlp_twins(units: int, activation: str | None, seed: int = 0
              ) -> tuple[keras.Model, ft.Sequential]:
    kmodel = keras_mlp(units, activation, seed)
    fmodel = fitorch_mlp(units, activation)
    copy_weights(kmodel, fmodel)
    return kmodel, fmodel


class TwoHeads(ft.Model):
    """fitorch twin of `keras_two_heads`: a shared hidden layer and two heads."""

    def __init__(self, units_a: int, act_a: str | None, units_b: int, act_b: str | None,
                 as_dict: bool = False) -> None:
        super().__init__(output_names=None if as_dict else ["a", "b"])
        self.hidden = ft.layers.Dense(HIDDEN, activation="relu", input_dim=N_FEATURES)
        self.head_a = ft.layers.Dense(units_a, activation=act_a, input_dim=HIDDEN)
        self.head_b = ft.layers.Dense(units_b, activation=act_b, input_dim=HIDDEN)
        self.as_dict = as_dict

    def forward(self, x: torch.Tensor) -> Any:
        h = self.hidden(x)
        a, b = self.head_a(h), self.head_b(h)
        return {"a": a, "b": b} if self.as_dict else (a, b)


def keras_two_heads(units_a: int, act_a: str | None, units_b: int, act_b: str | None,
                    seed: int = 0, as_dict: bool = False) -> keras.Model:
    """A functional model with outputs named "a" and "b" (a tuple, or a dict when `as_dict`)."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((N_FEATURES,))
    h = keras.layers.Dense(HIDDEN, activation="relu", name="hidden")(inputs)
    a = keras.layers.Dense(units_a, activation=act_a, name="a")(h)
    b = keras.layers.Dense(units_b, activation=act_b, name="b")(h)
    outputs: Any = {"a": a, "b": b} if as_dict else (a, b)
    return keras.Model(inputs, outputs)


def two_head_twins(units_a: int = 3, act_a: str | None = "softmax", units_b: int = 1,
                   act_b: str | None = None, seed: int = 0, as_dict: bool = False
                   ) -> tuple[keras.Model, TwoHeads]:
    kmodel = keras_two_heads(units_a, act_a, units_b, act_b, seed, as_dict)
    fmodel = TwoHeads(units_a, act_a, units_b, act_b, as_dict)
    copy_weights(kmodel, fmodel)
    return kmodel, fmodel


# --- comparisons --------------------------------------------------------------------


def assert_close(actual: Any, expected: Any, what: str = "") -> None:
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64),
                               np.asarray(expected, dtype=np.float64),
                               rtol=RTOL, atol=ATOL, err_msg=what)


def assert_history_equal(fitorch_history: Mapping[str, list[Any]],
                         keras_history: Mapping[str, list[Any]]) -> None:
    """Same keys, same number of values per key, values close; then the same key order.

    Keras 3 sorts every logs dict it hands to callbacks (`val_` keys included), so
    the History's keys come in sorted order.
    """
    assert sorted(fitorch_history) == sorted(keras_history), (
        f"fitorch keys {list(fitorch_history)} != keras keys {list(keras_history)}")
    for key, expected in keras_history.items():
        got = fitorch_history[key]
        assert len(got) == len(expected), f"{key}: fitorch {got} vs keras {expected}"
        assert all(isinstance(v, float) for v in got), f"{key}: {got} are not floats"
        assert_close(got, expected, key)
    assert list(fitorch_history) == list(keras_history), (
        f"key order: fitorch {list(fitorch_history)} != keras {list(keras_history)}")


def assert_weights_equal(fmodel: torch.nn.Module, kmodel: keras.Model) -> None:
    pairs = keras_dense_weights(kmodel)
    layers = fitorch_dense_layers(fmodel)
    assert len(pairs) == len(layers)
    for i, ((kernel, bias), layer) in enumerate(zip(pairs, layers)):
        assert_close(layer.weight.detach().numpy().T, kernel, f"layer {i} kernel")
        assert_close(layer.bias.detach().numpy(), bias, f"layer {i} bias")


def assert_results_equal(fitorch_value: Any, keras_value: Any) -> None:
    """An evaluate / *_on_batch result: float, list of floats or dict, structure included."""
    if isinstance(keras_value, Mapping):
        assert isinstance(fitorch_value, Mapping), fitorch_value
        assert sorted(fitorch_value) == sorted(keras_value), (fitorch_value, keras_value)
        for key in keras_value:
            assert isinstance(fitorch_value[key], float), (key, fitorch_value[key])
            assert_close(fitorch_value[key], keras_value[key], key)
    elif isinstance(keras_value, Sequence):
        assert isinstance(fitorch_value, list), fitorch_value
        assert len(fitorch_value) == len(keras_value), (fitorch_value, keras_value)
        assert all(isinstance(v, float) for v in fitorch_value), fitorch_value
        assert_close(fitorch_value, keras_value)
    else:
        assert isinstance(fitorch_value, float), fitorch_value
        assert_close(fitorch_value, float(keras_value))


__all__ = [
    "ATOL",
    "RTOL",
    "TwoHeads",
    "assert_close",
    "assert_history_equal",
    "assert_results_equal",
    "assert_weights_equal",
    "copy_weights",
    "keras",
    "make_data",
    "make_regression",
    "mlp_twins",
    "positive_weights",
    "two_head_twins",
]
