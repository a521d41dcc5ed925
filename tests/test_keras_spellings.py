"""Spellings of Keras programs that must run as written: integral float counts, tf_keras's
positional `compile`, `learning_rate=0.0`, loss names as metrics."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch

import fitorch as ft


def _data(n: int = 30) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, (x @ np.ones((4, 1))).astype("float32")


def _model() -> ft.Model:
    model = ft.Sequential([ft.Input(shape=(4,)), ft.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


class StepCounter(ft.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.train: list[int] = []
        self.test = 0
        self.predict = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.train.append(0)

    def on_train_batch_end(self, batch, logs=None):
        self.train[-1] += 1

    def on_test_batch_end(self, batch, logs=None):
        self.test += 1

    def on_predict_batch_end(self, batch, logs=None):
        self.predict += 1


def _endless(x: np.ndarray, y: np.ndarray, batch_size: int) -> Iterator[tuple[np.ndarray, ...]]:
    while True:
        for i in range(0, len(x), batch_size):
            yield x[i:i + batch_size], y[i:i + batch_size]


@pytest.mark.parametrize("count", [np.ceil(30 / 8), np.float64(4.0), 4.0, np.float32(4.0)],
                         ids=["np.ceil", "float64", "float", "float32"])
def test_integral_float_counts_are_accepted_everywhere(count: Any) -> None:
    x, y = _data()
    model = _model()
    counter = StepCounter()
    history = model.fit(_endless(x, y, 8), steps_per_epoch=count, epochs=count / 2,
                        validation_data=_endless(x, y, 8), validation_steps=count / 4,
                        callbacks=[counter], verbose=0)
    assert len(history.history["loss"]) == 2 and counter.train == [4, 4] and counter.test == 2
    model.evaluate(_endless(x, y, 8), steps=count, callbacks=[counter], verbose=0)
    assert counter.test == 2 + 4
    out = model.predict(_endless(x, y, 8), steps=count / 2, callbacks=[counter], verbose=0)
    assert out.shape == (16, 1) and counter.predict == 2
    history = model.fit(x, y, batch_size=np.float64(10.0), epochs=np.float64(2.0),
                        initial_epoch=1.0, verbose=0)
    assert history.epoch == [1]


def test_the_seeds_fit_generator_spelling_runs() -> None:
    x, y = _data()
    batch_size = 8
    model = _model()
    counter = StepCounter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        model.fit_generator(_endless(x, y, batch_size), callbacks=[counter], verbose=0,
                            steps_per_epoch=np.ceil(len(x) / batch_size), epochs=2)
        model.evaluate_generator(_endless(x, y, batch_size), steps=np.ceil(len(x) / batch_size))
        out = model.predict_generator(_endless(x, y, batch_size), steps=np.float64(2.0))
    assert counter.train == [4, 4] and out.shape == (16, 1)


@pytest.mark.parametrize("kwargs", [
    {"steps_per_epoch": 2.5}, {"epochs": np.float64(1.5)}, {"validation_steps": 0.5},
    {"batch_size": 7.9}, {"initial_epoch": 0.1},
])
def test_non_integral_float_counts_are_errors(kwargs: dict[str, Any]) -> None:
    x, y = _data()
    name, value = next(iter(kwargs.items()))
    with pytest.raises(ValueError, match=rf"`{name}` must be .*integral value, such as 15.0\). "
                                         rf"Received: {name}={re.escape(repr(value))} "):
        _model().fit(x, y, validation_data=(x, y), verbose=0, **kwargs)


@pytest.mark.parametrize("call", ["evaluate", "predict"])
def test_non_integral_steps_are_errors(call: str) -> None:
    x, y = _data()
    with pytest.raises(ValueError, match=r"`steps` must be a positive integer or None \(a float "
                                         r".*\)\. Received: steps=2.5 \(of type float\)"):
        getattr(_model(), call)(_endless(x, y, 8), steps=2.5, verbose=0)


# --- compile's third positional argument -----------------------------------------------------


@pytest.mark.parametrize("third", [["accuracy"], ["mae", "mse"], [ft.metrics.MeanAbsoluteError()],
                                   "accuracy"])
def test_tf_keras_positional_metrics_fail_at_compile_naming_loss_weights(third: Any) -> None:
    model = ft.Sequential([ft.Input(shape=(4,)), ft.layers.Dense(1)])
    with pytest.raises(ValueError, match=r"`loss_weights` must be a number.*It holds metrics.*"
                                         r"metrics=") as info:
        model.compile("adam", "mse", third)
    assert f"Received: loss_weights={third!r}" in str(info.value)


@pytest.mark.parametrize("weights", [0.5, 2, [1.0], (1,), {"output_1": 0.3}, None])
def test_numeric_loss_weights_still_compile(weights: Any) -> None:
    x, y = _data()
    model = ft.Sequential([ft.Input(shape=(4,)), ft.layers.Dense(1)])
    model.compile("adam", "mse", weights)
    assert np.isfinite(model.evaluate(x, y, verbose=0))


def test_loss_weights_of_the_wrong_kind_name_the_argument() -> None:
    model = ft.Sequential([ft.Input(shape=(4,)), ft.layers.Dense(1)])
    with pytest.raises(ValueError, match=r"Received: loss_weights=\[True\] \(of type list\)"):
        model.compile("adam", "mse", [True])
    assert torch.is_tensor(model.stack[0].weight)  # nothing else happened to the model


# --- learning_rate=0.0 -------------------------------------------------------------------------


def _optimizer_classes() -> list[type]:
    return [cls for name in ft.optimizers.__all__
            if isinstance(cls := getattr(ft.optimizers, name), type)
            and issubclass(cls, ft.optimizers.KerasOptimizer) and cls is not
            ft.optimizers.KerasOptimizer]


@pytest.mark.parametrize("cls", _optimizer_classes(), ids=lambda c: c.__name__)
def test_learning_rate_zero_is_accepted_and_matches_keras(cls: type) -> None:
    import keras

    rng = np.random.default_rng(0)
    init = rng.normal(size=(3, 2)).astype("float32")
    kvar = keras.Variable(init)
    kopt = getattr(keras.optimizers, cls.__name__)(learning_rate=0.0)
    param = torch.nn.Parameter(torch.tensor(init))
    opt = cls([param], learning_rate=0.0)
    assert opt.learning_rate == 0.0
    for _ in range(3):
        grad = rng.normal(size=init.shape).astype("float32")
        kopt.apply_gradients([(keras.ops.convert_to_tensor(grad), kvar)])
        param.grad = torch.tensor(grad)
        opt.step()
    np.testing.assert_allclose(param.detach().numpy(), kvar.numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(param.detach().numpy(), init)  # nothing moved
    opt.learning_rate = 0.0  # through the property too
    opt.add_param_group({"params": [torch.nn.Parameter(torch.zeros(1))], "learning_rate": 0.0})
    with pytest.raises(ValueError, match=r"`learning_rate` must be in \[0.0, inf\]. "
                                         r"Received: learning_rate=-0.1"):
        cls(learning_rate=-0.1)


def test_compile_with_a_zero_learning_rate_trains_nothing() -> None:
    x, y = _data()
    model = ft.Sequential([ft.Input(shape=(4,)), ft.layers.Dense(1)])
    model.compile(optimizer=ft.optimizers.Adam(learning_rate=0.0), loss="mse")
    before = model.get_weights()
    model.fit(x, y, epochs=2, verbose=0)
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
