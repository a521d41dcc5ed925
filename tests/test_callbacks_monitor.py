"""EarlyStopping and ReduceLROnPlateau: differential against Keras 3, state round trips, errors.

Two kinds of differential tests: hook level (the same sequence of epoch logs fed
to the Keras callback and to fitorch's, every counter compared after every
epoch; fast, so many sequences) and fit level (twin models, same data, the
stopped epoch, learning rates, History and final weights compared).
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np
import pytest
import torch

import fitorch as ft
from keras_twins import (
    assert_close,
    assert_history_equal,
    assert_weights_equal,
    keras,
    make_data,
    mlp_twins,
)

SCCE = "sparse_categorical_crossentropy"
X, Y = make_data(103)


# --- helpers ----------------------------------------------------------------------


class KerasStub:
    """What Keras's callbacks need of a model at hook level."""

    def __init__(self, lr: float = 0.1) -> None:
        self.stop_training = False
        self.metrics: list[Any] = []
        self.optimizer = type("Opt", (), {"learning_rate": lr})()

    def get_weights(self) -> list[Any]:
        return []


class TorchStub(torch.nn.Module):
    """A model with a torch optimizer of two param groups, for fitorch's callbacks."""

    def __init__(self, lr: float = 0.1) -> None:
        super().__init__()
        self.a = torch.nn.Parameter(torch.zeros(2))
        self.b = torch.nn.Parameter(torch.zeros(2))
        self.stop_training = False
        self.optimizer = torch.optim.SGD([{"params": [self.a]}, {"params": [self.b]}], lr=lr)


def random_walk(seed: int, n: int = 14) -> list[float]:
    rng = np.random.default_rng(seed)
    return [float(v) for v in 1.0 + np.cumsum(rng.normal(-0.02, 0.06, size=n))]


def twins_compiled(lr: float = 0.05) -> tuple[Any, Any]:
    kmodel, fmodel = mlp_twins(3, "softmax")
    kmodel.compile(optimizer=keras.optimizers.Adam(lr), loss=SCCE, metrics=["accuracy"])
    fmodel.compile(optimizer=ft.optimizers.Adam(lr), loss=SCCE, metrics=["accuracy"])
    return kmodel, fmodel


def fit(model: Any, callbacks: list[Any], epochs: int = 10, **kwargs: Any) -> Any:
    return model.fit(X, Y, epochs=epochs, shuffle=False, verbose=0, validation_split=0.2,
                     callbacks=callbacks, **kwargs)


# --- EarlyStopping: hook level ------------------------------------------------------

ES_CONFIGS = [
    {"patience": 0},
    {"patience": 2},
    {"patience": 1, "min_delta": 0.05},
    {"patience": 2, "baseline": 0.9},
    {"patience": 1, "start_from_epoch": 3},
    {"patience": 3, "mode": "max", "min_delta": 0.01},
    {"patience": 2, "mode": "max", "baseline": 1.05, "start_from_epoch": 2},
]


@pytest.mark.parametrize("config", ES_CONFIGS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_early_stopping_counters_match_keras_epoch_by_epoch(config: dict, seed: int) -> None:
    config = {"monitor": "loss", "mode": "min", **config}
    kcb, fcb = keras.callbacks.EarlyStopping(**config), ft.callbacks.EarlyStopping(**config)
    kmodel, fmodel = KerasStub(), TorchStub()
    kcb.set_model(kmodel)
    fcb.set_model(fmodel)
    kcb.on_train_begin()
    fcb.on_train_begin()
    stops = 0
    for epoch, value in enumerate(random_walk(seed)):
        kcb.on_epoch_end(epoch, {"loss": value})
        fcb.on_epoch_end(epoch, {"loss": value})
        assert (fcb.wait, fcb.best, fcb.stopped_epoch, fmodel.stop_training) == (
            kcb.wait, kcb.best, kcb.stopped_epoch, kmodel.stop_training), (epoch, value)
        stops += fmodel.stop_training
    assert fcb.best_epoch == kcb.best_epoch
    assert stops or config["patience"] >= 2  # the sequences do stop the impatient configs


# --- EarlyStopping: fit level --------------------------------------------------------


@pytest.mark.parametrize("config, stopped, best", [
    ({"monitor": "val_loss", "patience": 2, "min_delta": 0.01}, 5, 3),
    ({"monitor": "val_accuracy", "patience": 2}, 4, 2),  # mode "auto": accuracy goes up
])
def test_early_stopping_fit_matches_keras(config: dict, stopped: int, best: int) -> None:
    kmodel, fmodel = twins_compiled()
    kcb = keras.callbacks.EarlyStopping(restore_best_weights=True, **config)
    fcb = ft.callbacks.EarlyStopping(restore_best_weights=True, **config)
    keras_history = fit(kmodel, [kcb])
    fitorch_history = fit(fmodel, [fcb])
    assert (fcb.stopped_epoch, fcb.best_epoch) == (kcb.stopped_epoch, kcb.best_epoch)
    assert (fcb.stopped_epoch, fcb.best_epoch) == (stopped, best)
    assert len(fitorch_history.history["loss"]) == stopped + 1
    assert_history_equal(fitorch_history.history, keras_history.history)
    assert_weights_equal(fmodel, kmodel)  # the best epoch's weights, restored by both


def test_early_stopping_verbose_messages(capsys: pytest.CaptureFixture[str]) -> None:
    model = ft.Sequential([ft.Input(shape=(8,)), ft.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=ft.optimizers.SGD(0.1), loss=SCCE)
    # The loss goes down: "max" sees no improvement after the first epoch.
    stop = ft.callbacks.EarlyStopping(monitor="loss", mode="max", patience=1, verbose=1,
                                      restore_best_weights=True)
    model.fit(X, Y, epochs=5, verbose=0, callbacks=[stop])
    assert capsys.readouterr().out == (
        "Epoch 2: early stopping\nRestoring model weights from the end of the best epoch: 1.\n")


def test_restore_best_weights_copies_state_dict_tensors_including_buffers() -> None:
    model = ft.Sequential([ft.Input(shape=(8,)), ft.layers.Dense(4),
                           ft.layers.BatchNormalization(), ft.layers.Dense(3)])
    model.compile(optimizer=ft.optimizers.SGD(0.1), loss=SCCE)
    stop = ft.callbacks.EarlyStopping(monitor="loss", mode="max", patience=2,
                                      restore_best_weights=True)
    snapshots: list[dict[str, torch.Tensor]] = []
    record = ft.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: snapshots.append(
        {k: v.clone() for k, v in model.state_dict().items()}))
    model.fit(X, Y, epochs=6, verbose=0, shuffle=False, callbacks=[stop, record])
    assert stop.stopped_epoch == 2  # the loss goes down: "max" sees no improvement
    assert stop.best_weights is not None
    assert all(t.data_ptr() != p.data_ptr()
               for t, p in zip(stop.best_weights.values(), model.state_dict().values()))
    for name, value in model.state_dict().items():  # epoch 0's weights and BN statistics
        torch.testing.assert_close(value, snapshots[0][name], rtol=0, atol=0)


# --- ReduceLROnPlateau: hook level ---------------------------------------------------

RLR_CONFIGS = [
    {"patience": 0, "factor": 0.5},
    {"patience": 1, "factor": 0.5, "cooldown": 2},
    {"patience": 2, "factor": 0.1, "min_lr": 0.002, "min_delta": 0.01},
    {"patience": 1, "factor": 0.2, "mode": "max", "cooldown": 1},
]


@pytest.mark.parametrize("config", RLR_CONFIGS)
@pytest.mark.parametrize("seed", [0, 3])
def test_reduce_lr_counters_and_rates_match_keras(config: dict, seed: int) -> None:
    config = {"monitor": "val_loss", "mode": "min", **config}
    kcb, fcb = keras.callbacks.ReduceLROnPlateau(**config), ft.callbacks.ReduceLROnPlateau(**config)
    kmodel, fmodel = KerasStub(), TorchStub()
    kcb.set_model(kmodel)
    fcb.set_model(fmodel)
    kcb.on_train_begin()
    fcb.on_train_begin()
    rates = []
    for epoch, value in enumerate(random_walk(seed)):
        klogs, flogs = {"val_loss": value}, {"val_loss": value}
        kcb.on_epoch_end(epoch, klogs)
        fcb.on_epoch_end(epoch, flogs)
        assert flogs == klogs  # the rate of this epoch logged as `learning_rate`
        assert (fcb.wait, fcb.cooldown_counter, fcb.best) == (
            kcb.wait, kcb.cooldown_counter, kcb.best), (epoch, value)
        lr = kmodel.optimizer.learning_rate
        assert [g["lr"] for g in fmodel.optimizer.param_groups] == [lr, lr]  # every group
        rates.append(lr)
    assert len(set(rates)) > 1  # the rate was reduced


def test_reduce_lr_keeps_group_ratios_and_floor() -> None:
    model = TorchStub()
    model.optimizer.param_groups[1]["lr"] = 0.01
    cb = ft.callbacks.ReduceLROnPlateau(monitor="loss", patience=0, factor=0.5, min_lr=0.004)
    cb.set_model(model)
    cb.on_train_begin()
    for epoch in range(4):
        cb.on_epoch_end(epoch, {"loss": 1.0})
    assert [g["lr"] for g in model.optimizer.param_groups] == [0.1 * 0.5 ** 3, 0.004]


def test_reduce_lr_updates_tensor_learning_rates_in_place() -> None:
    p = torch.nn.Parameter(torch.zeros(2))
    model = TorchStub()
    model.optimizer = torch.optim.Adam([p], lr=torch.tensor(0.1))
    lr_tensor = model.optimizer.param_groups[0]["lr"]
    cb = ft.callbacks.ReduceLROnPlateau(monitor="loss", patience=0, factor=0.5)
    cb.set_model(model)
    cb.on_train_begin()
    cb.on_epoch_end(0, {"loss": 1.0})
    cb.on_epoch_end(1, {"loss": 1.0})
    assert model.optimizer.param_groups[0]["lr"] is lr_tensor
    assert float(lr_tensor) == pytest.approx(0.05)


# --- ReduceLROnPlateau: fit level ----------------------------------------------------


def test_reduce_lr_fit_matches_keras_rates_history_and_weights() -> None:
    kmodel, fmodel = twins_compiled()
    config = {"monitor": "val_loss", "factor": 0.5, "patience": 1, "cooldown": 1,
              "min_delta": 0.01, "min_lr": 0.01}
    keras_history = fit(kmodel, [keras.callbacks.ReduceLROnPlateau(**config)], epochs=8)
    fitorch_history = fit(fmodel, [ft.callbacks.ReduceLROnPlateau(**config)], epochs=8)
    rates = fitorch_history.history["learning_rate"]
    assert list(fitorch_history.history)[-1] == "learning_rate"  # appended, as by Keras
    assert len(set(rates)) >= 3 and rates[-1] >= 0.01  # reduced twice, floored at min_lr
    assert_history_equal(fitorch_history.history, keras_history.history)
    assert_weights_equal(fmodel, kmodel)


# --- the monitored quantity ------------------------------------------------------------


@pytest.mark.parametrize("make, start", [
    (lambda: ft.callbacks.EarlyStopping(monitor="val_loss"),
     "Early stopping conditioned on metric `val_loss` which is not available. "
     "Available metrics are: accuracy,loss"),
    (lambda: ft.callbacks.ReduceLROnPlateau(monitor="val_loss"),
     "Learning rate reduction conditioned on metric `val_loss` which is not available. "
     "Available metrics are: accuracy,loss,learning_rate."),
])
def test_missing_monitor_warns_once_naming_the_keys(make: Any, start: str) -> None:
    model = ft.Sequential([ft.Input(shape=(8,)), ft.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss=SCCE, metrics=["accuracy"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, Y, epochs=3, verbose=0, callbacks=[make()])
    messages = [str(w.message) for w in caught if "conditioned on" in str(w.message)]
    assert messages == [start]


@pytest.mark.parametrize("monitor, metrics, direction", [
    ("val_loss", [], "min"),
    ("accuracy", ["accuracy"], "max"),
    ("val_auc", [ft.metrics.AUC()], "max"),
    ("val_mae", ["mae"], "min"),
    ("val_precision", [ft.metrics.Precision()], "max"),
])
def test_auto_mode_direction_from_the_compiled_metric(monitor: str, metrics: list,
                                                      direction: str) -> None:
    model = ft.Sequential([ft.Input(shape=(8,)), ft.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=metrics)
    y = (Y > 0).astype("float32")[:, None]
    cb = ft.callbacks.EarlyStopping(monitor=monitor, patience=100)
    model.fit(X, y, epochs=1, verbose=0, validation_split=0.2, callbacks=[cb])
    assert cb._direction == direction


def test_auto_mode_unknown_metric_is_a_value_error() -> None:
    model = ft.Sequential([ft.Input(shape=(8,)), ft.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss=SCCE)
    with pytest.raises(ValueError, match="isn't able to automatically determine"):
        model.fit(X, Y, epochs=1, verbose=0,
                  callbacks=[ft.callbacks.EarlyStopping(monitor="val_something")])


@pytest.mark.parametrize("make, match", [
    (lambda: ft.callbacks.EarlyStopping(mode="maximum"), "mode='maximum'"),
    (lambda: ft.callbacks.ReduceLROnPlateau(mode=None), "mode=None"),
    (lambda: ft.callbacks.EarlyStopping(patience=-1), "patience=-1"),
    (lambda: ft.callbacks.EarlyStopping(min_delta="0.1"), "min_delta='0.1'"),
    (lambda: ft.callbacks.EarlyStopping(baseline=float("nan")), "baseline=nan"),
    (lambda: ft.callbacks.EarlyStopping(start_from_epoch=1.5), "start_from_epoch=1.5"),
    (lambda: ft.callbacks.EarlyStopping(restore_best_weights="yes"), "restore_best_weights"),
    (lambda: ft.callbacks.EarlyStopping(monitor=""), "monitor=''"),
    (lambda: ft.callbacks.ReduceLROnPlateau(factor=1.0), "factor >= 1.0"),
    (lambda: ft.callbacks.ReduceLROnPlateau(factor=-0.5), "factor=-0.5"),
    (lambda: ft.callbacks.ReduceLROnPlateau(min_lr=-1), "min_lr=-1"),
    (lambda: ft.callbacks.ReduceLROnPlateau(cooldown=-2), "cooldown=-2"),
    (lambda: ft.callbacks.ReduceLROnPlateau(verbose=-1), "verbose=-1"),
])
def test_bad_arguments_are_value_errors(make: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match.replace("(", r"\(").replace(")", r"\)")):
        make()


def test_reduce_lr_without_an_optimizer_is_a_value_error() -> None:
    cb = ft.callbacks.ReduceLROnPlateau(monitor="loss", mode="min")
    cb.set_model(type("M", (), {"optimizer": None})())
    with pytest.raises(ValueError, match="Received: optimizer=None"):
        cb.on_epoch_end(0, {"loss": 1.0})


# --- state round trips ------------------------------------------------------------------


def fitorch_twin() -> Any:
    return twins_compiled()[1]


def test_state_dict_defaults_and_json() -> None:
    assert ft.callbacks.Callback().state_dict() == {}
    es = ft.callbacks.EarlyStopping()
    assert json.loads(json.dumps(es.state_dict())) == {
        "wait": 0, "stopped_epoch": 0, "best": None, "best_epoch": 0, "best_weights": None}
    with pytest.raises(TypeError, match="Received: state=3"):
        es.load_state_dict(3)  # type: ignore[arg-type]


@pytest.mark.parametrize("load_from", ["before_fit", "earlier_callback", "later_callback"])
def test_early_stopping_resumes_with_the_same_decisions(load_from: str) -> None:
    config = {"monitor": "val_loss", "patience": 2, "min_delta": 0.01,
              "restore_best_weights": True}
    whole_model = fitorch_twin()
    whole = ft.callbacks.EarlyStopping(**config)
    whole_history = fit(whole_model, [whole])
    assert (whole.stopped_epoch, whole.best_epoch) == (5, 3)

    model = fitorch_twin()
    first = ft.callbacks.EarlyStopping(**config)
    first_history = fit(model, [first], epochs=4)  # epochs 0-3: the best epoch is 3
    state = first.state_dict()
    assert state["best_epoch"] == 3 and state["best_weights"] is not None
    second = ft.callbacks.EarlyStopping(**config)
    loader = ft.callbacks.LambdaCallback(on_train_begin=lambda logs: second.load_state_dict(state))
    callbacks = {"before_fit": [second], "earlier_callback": [loader, second],
                 "later_callback": [second, loader]}[load_from]
    if load_from == "before_fit":
        second.load_state_dict(state)
    second_history = fit(model, callbacks, initial_epoch=4)
    assert (second.stopped_epoch, second.best_epoch, second.wait) == (
        whole.stopped_epoch, whole.best_epoch, whole.wait)
    joined = {k: first_history.history[k] + second_history.history[k]
              for k in whole_history.history}
    for key, values in whole_history.history.items():
        assert_close(joined[key], values, key)
    for name, value in whole_model.state_dict().items():  # epoch 3's weights, restored
        torch.testing.assert_close(model.state_dict()[name], value)


def test_reduce_lr_resumes_with_the_same_rates() -> None:
    config = {"monitor": "val_loss", "factor": 0.5, "patience": 1, "cooldown": 1,
              "min_delta": 0.01}
    whole = fit(fitorch_twin(), [ft.callbacks.ReduceLROnPlateau(**config)], epochs=8)
    model = fitorch_twin()
    first_cb = ft.callbacks.ReduceLROnPlateau(**config)
    first = fit(model, [first_cb], epochs=4)
    second_cb = ft.callbacks.ReduceLROnPlateau(**config)
    second_cb.load_state_dict(json.loads(json.dumps(first_cb.state_dict())))
    second = fit(model, [second_cb], epochs=8, initial_epoch=4)
    rates = first.history["learning_rate"] + second.history["learning_rate"]
    assert rates == whole.history["learning_rate"]
    assert len(set(rates)) >= 2
    # Without the state, the resumed run decides differently.
    fresh = fitorch_twin()
    fit(fresh, [ft.callbacks.ReduceLROnPlateau(**config)], epochs=4)
    other = fit(fresh, [ft.callbacks.ReduceLROnPlateau(**config)], epochs=8, initial_epoch=4)
    assert first.history["learning_rate"] + other.history["learning_rate"] != rates
