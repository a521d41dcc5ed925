"""Differential tests: the same scenario in Keras 3 (torch backend) and in fitorch.

Every test builds twin models (the fitorch one starts from a copy of the Keras
one's weights), runs the same calls on the same data in the same order
(`shuffle=False`) and compares what comes back: `History.history`, the final
weights, `evaluate` / `predict` / `*_on_batch` results, the sequence of
callback hooks and the verbose=2 text.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras

import fitorch as ft
from keras_twins import (
    assert_close,
    assert_history_equal,
    assert_results_equal,
    assert_weights_equal,
    make_data,
    make_regression,
    mlp_twins,
    positive_weights,
    two_head_twins,
)

SCCE = "sparse_categorical_crossentropy"


def compile_both(models: tuple[Any, Any], **kwargs: Any) -> None:
    for model in models:
        model.compile(**kwargs)


def fit_both(models: tuple[Any, Any], *args: Any, **kwargs: Any) -> tuple[Any, Any]:
    """Fit the Keras model then the fitorch one; returns (fitorch History, Keras History)."""
    kmodel, fmodel = models
    kwargs = {"shuffle": False, "verbose": 0, **kwargs}
    keras_history = kmodel.fit(*args, **kwargs)
    fitorch_history = fmodel.fit(*args, **kwargs)
    return fitorch_history, keras_history


def check_fit(models: tuple[Any, Any], *args: Any, **kwargs: Any) -> dict[str, list[float]]:
    """Fit both, compare histories and final weights; returns the fitorch history dict."""
    fitorch_history, keras_history = fit_both(models, *args, **kwargs)
    assert_history_equal(fitorch_history.history, keras_history.history)
    assert_weights_equal(models[1], models[0])
    return dict(fitorch_history.history)


# --- 1. default batch size, partial last batch -------------------------------------


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "rmsprop"])
def test_default_batch_size_with_partial_last_batch(optimizer: str) -> None:
    x, y = make_data(103)  # 32 + 32 + 32 + 7
    models = mlp_twins(3, "softmax")
    compile_both(models, optimizer=optimizer, loss=SCCE, metrics=["accuracy"])
    history = check_fit(models, x, y, epochs=3)
    assert list(history) == ["accuracy", "loss"]
    assert len(history["loss"]) == 3


# --- 2. validation_split -------------------------------------------------------------


def test_validation_split_takes_the_last_fraction() -> None:
    x, y = make_data(103)
    models = mlp_twins(3, "softmax")
    compile_both(models, optimizer="adam", loss=SCCE, metrics=["accuracy"])
    history = check_fit(models, x, y, epochs=3, validation_split=0.2)
    assert list(history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    # The validation set is the last 21 samples: evaluating on them gives the last val_loss.
    loss, _ = models[1].evaluate(x[82:], y[82:], verbose=0)
    assert_close(loss, history["val_loss"][-1])


# --- 3. validation_data of 2 and 3 items ------------------------------------------------


@pytest.mark.parametrize("with_weights", [False, True], ids=["2-items", "3-items"])
def test_validation_data(with_weights: bool) -> None:
    x, y = make_data(103)
    xv, yv = make_data(37, seed=5)
    val: tuple[Any, ...] = (xv, yv, positive_weights(37, seed=6)) if with_weights else (xv, yv)
    models = mlp_twins(3, "softmax")
    compile_both(models, optimizer="sgd", loss=SCCE, metrics=["accuracy"],
                 weighted_metrics=["accuracy"])
    history = check_fit(models, x, y, epochs=2, batch_size=16, validation_data=val)
    assert {"val_loss", "val_accuracy", "val_weighted_accuracy"} <= set(history)
    if with_weights:  # the weighted metric differs from the plain one only with weights
        assert history["val_accuracy"] != history["val_weighted_accuracy"]


# --- 4. validation_freq ---------------------------------------------------------------


@pytest.mark.parametrize("freq, epochs, expected_val", [(2, 4, 2), ([1, 3], 4, 2), (3, 3, 1)])
def test_validation_freq(freq: Any, epochs: int, expected_val: int) -> None:
    x, y = make_data(103)
    models = mlp_twins(3, "softmax")
    compile_both(models, optimizer="sgd", loss=SCCE, metrics=["accuracy"])
    history = check_fit(models, x, y, epochs=epochs, validation_split=0.2,
                        validation_freq=freq)
    assert len(history["loss"]) == epochs
    assert len(history["val_loss"]) == expected_val


# --- 5. sample_weight on a regression model ---------------------------------------------


def test_sample_weight_regression_with_weighted_metrics() -> None:
    x, y = make_regression(103)
    sw = positive_weights(103)
    models = mlp_twins(1, None)
    compile_both(models, optimizer="adam", loss="mse", metrics=["mae"],
                 weighted_metrics=["mae"])
    history = check_fit(models, x, y, epochs=3, sample_weight=sw, validation_split=0.2)
    assert {"mae", "weighted_mae", "val_mae", "val_weighted_mae"} <= set(history)
    assert history["mae"] != history["weighted_mae"]


# --- 6. class_weight ------------------------------------------------------------------


def test_class_weight() -> None:
    x, y = make_data(103)
    models = mlp_twins(3, "softmax")
    compile_both(models, optimizer="rmsprop", loss=SCCE, metrics=["accuracy"],
                 weighted_metrics=["accuracy"])
    history = check_fit(models, x, y, epochs=3, class_weight={0: 1.0, 1: 3.0, 2: 0.5})
    assert history["accuracy"] != history["weighted_accuracy"]


# --- 7. initial_epoch -----------------------------------------------------------------


def test_initial_epoch_resumes_like_keras_and_like_one_fit() -> None:
    x, y = make_data(103)
    models = mlp_twins(3, "softmax")
    compile_both(models, optimizer="adam", loss=SCCE, metrics=["accuracy"])
    first = check_fit(models, x, y, epochs=2, validation_split=0.2)
    second = check_fit(models, x, y, epochs=4, initial_epoch=2, validation_split=0.2)
    assert len(second["loss"]) == 2
    assert models[1].history.epoch == [2, 3]

    # fitorch: the two calls equal one straight fit(epochs=4) from the same start.
    _, straight = mlp_twins(3, "softmax")
    straight.compile(optimizer="adam", loss=SCCE, metrics=["accuracy"])
    whole = straight.fit(x, y, epochs=4, validation_split=0.2, shuffle=False, verbose=0)
    assert list(whole.history) == list(first)
    for key, values in whole.history.items():
        assert_close(values, first[key] + second[key], key)
    for a, b in zip(straight.get_weights(), models[1].get_weights()):
        assert_close(a, b)


# --- 8. evaluate ----------------------------------------------------------------------


def test_evaluate_list_float_and_dict() -> None:
    x, y = make_data(103)
    sw = positive_weights(103)
    kmodel, fmodel = mlp_twins(3, "softmax")
    compile_both((kmodel, fmodel), optimizer="sgd", loss=SCCE, metrics=["accuracy", SCCE])
    fit_both((kmodel, fmodel), x, y, epochs=1)
    for kwargs in ({}, {"batch_size": 10}, {"batch_size": 10, "sample_weight": sw}):
        expected = kmodel.evaluate(x, y, verbose=0, **kwargs)
        got = fmodel.evaluate(x, y, verbose=0, **kwargs)
        assert len(got) == 3
        assert_results_equal(got, expected)
        expected = kmodel.evaluate(x, y, verbose=0, return_dict=True, **kwargs)
        got = fmodel.evaluate(x, y, verbose=0, return_dict=True, **kwargs)
        assert set(got) == {"loss", "accuracy", SCCE}
        assert_results_equal(got, expected)
    # SPEC (Decisions): metrics_names is ["loss", <metric names>] as in tf_keras.
    assert fmodel.metrics_names == ["loss", "accuracy", SCCE]

    # No metrics: a float.
    kmodel, fmodel = mlp_twins(3, "softmax", seed=3)
    compile_both((kmodel, fmodel), optimizer="sgd", loss=SCCE)
    for kwargs in ({}, {"batch_size": 7, "sample_weight": sw}):
        expected = kmodel.evaluate(x, y, verbose=0, **kwargs)
        got = fmodel.evaluate(x, y, verbose=0, **kwargs)
        assert isinstance(got, float)
        assert_results_equal(got, expected)
        got = fmodel.evaluate(x, y, verbose=0, return_dict=True, **kwargs)
        assert_results_equal(got, kmodel.evaluate(x, y, verbose=0, return_dict=True, **kwargs))


def test_evaluate_with_weighted_metric_of_the_same_name() -> None:
    x, y = make_data(103)
    sw = positive_weights(103)
    kmodel, fmodel = mlp_twins(3, "softmax")
    compile_both((kmodel, fmodel), optimizer="sgd", loss=SCCE, metrics=["accuracy"],
                 weighted_metrics=["accuracy"])
    expected = kmodel.evaluate(x, y, batch_size=10, sample_weight=sw, verbose=0,
                               return_dict=True)
    got = fmodel.evaluate(x, y, batch_size=10, sample_weight=sw, verbose=0, return_dict=True)
    assert set(got) == {"loss", "accuracy", "weighted_accuracy"}
    assert got["accuracy"] != got["weighted_accuracy"]
    assert_results_equal(got, expected)
    # Keras 3's list repeats "accuracy" here (it looks its metrics up by their
    # unprefixed names): fitorch follows SPEC instead, the list in `metrics_names`
    # order with tf_keras's names.
    assert fmodel.metrics_names == ["loss", "accuracy", "weighted_accuracy"]
    as_list = fmodel.evaluate(x, y, batch_size=10, sample_weight=sw, verbose=0)
    assert_results_equal(as_list, [got[name] for name in fmodel.metrics_names])


# --- 9. predict -----------------------------------------------------------------------


def test_predict_values_with_partial_batch() -> None:
    x, _ = make_data(103)
    kmodel, fmodel = mlp_twins(3, "softmax")
    for batch_size in (None, 10):
        expected = kmodel.predict(x, batch_size=batch_size, verbose=0)
        got = fmodel.predict(x, batch_size=batch_size, verbose=0)
        assert isinstance(got, np.ndarray)
        assert got.shape == expected.shape == (103, 3)
        assert got.dtype == expected.dtype
        assert_close(got, expected)


@pytest.mark.parametrize("as_dict", [False, True], ids=["tuple", "dict"])
def test_predict_two_outputs_keeps_structure(as_dict: bool) -> None:
    x, _ = make_data(103)
    kmodel, fmodel = two_head_twins(as_dict=as_dict)
    expected = kmodel.predict(x, batch_size=10, verbose=0)
    got = fmodel.predict(x, batch_size=10, verbose=0)
    assert type(got) is type(expected)
    if as_dict:
        assert sorted(got) == sorted(expected) == ["a", "b"]
        pairs = [(got[k], expected[k]) for k in ("a", "b")]
    else:
        assert len(got) == len(expected) == 2
        pairs = list(zip(got, expected))
    for g, e in pairs:
        assert isinstance(g, np.ndarray)
        assert g.shape == e.shape
        assert_close(g, e)


# --- 10. train_on_batch / test_on_batch --------------------------------------------------


def test_train_and_test_on_batch_sequence() -> None:
    x, y = make_data(103)
    sw = positive_weights(103)
    kmodel, fmodel = mlp_twins(3, "softmax")
    compile_both((kmodel, fmodel), optimizer="adam", loss=SCCE, metrics=["accuracy"])
    calls: list[tuple[str, slice, dict[str, Any]]] = [
        ("train_on_batch", slice(0, 32), {}),
        ("test_on_batch", slice(32, 64), {}),
        ("train_on_batch", slice(32, 64), {"return_dict": True}),
        ("test_on_batch", slice(64, 103), {"return_dict": True}),
        ("train_on_batch", slice(64, 103), {"class_weight": {0: 1.0, 1: 3.0, 2: 0.5}}),
        ("test_on_batch", slice(0, 40), {"sample_weight": sw[:40]}),
        ("train_on_batch", slice(0, 40), {"sample_weight": sw[:40], "return_dict": True}),
    ]
    for method, sl, kwargs in calls:
        expected = getattr(kmodel, method)(x[sl], y[sl], **kwargs)
        got = getattr(fmodel, method)(x[sl], y[sl], **kwargs)
        if kwargs.get("return_dict"):
            assert list(got) == sorted(expected)
        else:
            assert len(got) == 2
        assert_results_equal(got, expected)
    assert_weights_equal(fmodel, kmodel)

    # No metrics: a single float from both.
    kmodel, fmodel = mlp_twins(3, "softmax", seed=4)
    compile_both((kmodel, fmodel), optimizer="sgd", loss=SCCE)
    for method in ("train_on_batch", "test_on_batch", "train_on_batch", "test_on_batch"):
        got = getattr(fmodel, method)(x[:20], y[:20])
        assert isinstance(got, float)
        assert_results_equal(got, getattr(kmodel, method)(x[:20], y[:20]))


# --- 11. order of callback hooks ----------------------------------------------------------

HOOKS = (
    "on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
    "on_train_batch_begin", "on_train_batch_end",
    "on_test_begin", "on_test_end", "on_test_batch_begin", "on_test_batch_end",
    "on_predict_begin", "on_predict_end", "on_predict_batch_begin", "on_predict_batch_end",
)
ORDERED_KEY_HOOKS = ("on_epoch_end", "on_train_end", "on_test_end")

Call = tuple[str, Any, tuple[str, ...]]


def _keys(logs: Mapping[str, Any] | None) -> tuple[str, ...]:
    return tuple(logs) if logs else ()  # None and {} compare equal


def make_recorder(base: type) -> Any:
    """A callback of class `base` recording (hook, index, logs keys) for every hook.

    `values` keeps the logs' values of every hook but the predict ones (whose
    logs hold the batch's outputs).
    """

    def record(self: Any, hook: str, index: Any, logs: Any) -> None:
        self.calls.append((hook, index, _keys(logs)))
        if "predict" not in hook:
            self.values.append({k: float(v) for k, v in (logs or {}).items()})

    def hook_fn(hook: str) -> Callable[..., None]:
        if "epoch" in hook or "batch" in hook:
            def with_index(self: Any, index: int, logs: Any = None) -> None:
                record(self, hook, index, logs)
            return with_index

        def without_index(self: Any, logs: Any = None) -> None:
            record(self, hook, None, logs)
        return without_index

    namespace: dict[str, Any] = {hook: hook_fn(hook) for hook in HOOKS}
    recorder = type(f"Recorder_{base.__module__.split('.')[0]}", (base,), namespace)()
    recorder.calls = []
    recorder.values = []
    return recorder


def assert_same_log_values(fitorch_values: list[dict[str, float]],
                           keras_values: list[dict[str, float]]) -> None:
    assert len(fitorch_values) == len(keras_values)
    for i, (got, expected) in enumerate(zip(fitorch_values, keras_values)):
        assert sorted(got) == sorted(expected), (i, got, expected)
        for key in expected:
            assert_close(got[key], expected[key], f"call {i}: {key}")


def comparable(calls: list[Call]) -> list[Call]:
    """Batch logs compare as key sets (sorted); epoch/end logs keep their key order."""
    return [(h, i, keys if h in ORDERED_KEY_HOOKS else tuple(sorted(keys)))
            for h, i, keys in calls]


def test_callback_hook_order_and_logs_keys() -> None:
    x, y = make_data(50)  # 3 train batches of 20, 20, 10
    xv, yv = make_data(30, seed=5)  # 2 validation batches of 20, 10
    kmodel, fmodel = mlp_twins(3, "softmax")
    compile_both((kmodel, fmodel), optimizer="sgd", loss=SCCE, metrics=["accuracy"])
    krec, frec = make_recorder(keras.callbacks.Callback), make_recorder(ft.callbacks.Callback)
    kwargs = {"epochs": 2, "batch_size": 20, "validation_data": (xv, yv), "shuffle": False,
              "verbose": 0}
    kmodel.fit(x, y, callbacks=[krec], **kwargs)
    fmodel.fit(x, y, callbacks=[frec], **kwargs)
    assert len(frec.calls) == 2 + 2 * (2 + 2 * 3 + 2 + 2 * 2)
    assert comparable(frec.calls) == comparable(krec.calls)
    epoch_end = [keys for h, _, keys in frec.calls if h == "on_epoch_end"]
    assert epoch_end == [("accuracy", "loss", "val_accuracy", "val_loss")] * 2
    # Batch logs hold the running (sample-weighted) averages of the epoch so far.
    assert_same_log_values(frec.values, krec.values)

    # evaluate and predict
    for rec in (krec, frec):
        rec.calls.clear()
        rec.values.clear()
    kmodel.evaluate(x, y, batch_size=20, callbacks=[krec], verbose=0)
    fmodel.evaluate(x, y, batch_size=20, callbacks=[frec], verbose=0)
    kmodel.predict(x, batch_size=20, callbacks=[krec], verbose=0)
    fmodel.predict(x, batch_size=20, callbacks=[frec], verbose=0)
    assert len(frec.calls) == 2 * (2 + 2 * 3)
    assert comparable(frec.calls) == comparable(krec.calls)
    assert_same_log_values(frec.values, krec.values)


# --- 12. multi-output ----------------------------------------------------------------


@pytest.mark.parametrize("form", ["dict", "list"])
def test_two_outputs_losses_loss_weights_and_metrics(form: str) -> None:
    x, y = make_data(103)
    _, yb = make_regression(103)
    kmodel, fmodel = two_head_twins()
    if form == "dict":
        spec: dict[str, Any] = {
            "loss": {"a": SCCE, "b": "mse"},
            "loss_weights": {"a": 1.0, "b": 0.5},
            "metrics": {"a": ["accuracy"], "b": ["mae"]},
        }
        targets: Any = {"a": y, "b": yb}
    else:
        spec = {"loss": [SCCE, "mse"], "loss_weights": [1.0, 0.5],
                "metrics": [["accuracy"], ["mae"]]}
        targets = [y, yb]
    compile_both((kmodel, fmodel), optimizer="adam", **spec)
    history = check_fit((kmodel, fmodel), x, targets, epochs=3, validation_split=0.2)
    assert set(history) == {
        "loss", "a_loss", "b_loss", "a_accuracy", "b_mae",
        "val_loss", "val_a_loss", "val_b_loss", "val_a_accuracy", "val_b_mae",
    }
    # The total loss weighs the per-output ones.
    assert_close(np.array(history["val_loss"]),
                 np.array(history["val_a_loss"]) + 0.5 * np.array(history["val_b_loss"]))
    assert_results_equal(fmodel.evaluate(x, targets, verbose=0, return_dict=True),
                         kmodel.evaluate(x, targets, verbose=0, return_dict=True))
    # The list: total loss, per-output losses, then metrics, in both Keras 3 (what
    # `evaluate` returns) and tf_keras (`metrics_names`, which SPEC follows).
    assert_results_equal(fmodel.evaluate(x, targets, verbose=0),
                         kmodel.evaluate(x, targets, verbose=0))
    assert fmodel.metrics_names == ["loss", "a_loss", "b_loss", "a_accuracy", "b_mae"]


# --- 13. binary and categorical accuracy ------------------------------------------------


def test_binary_classifier_accuracy_is_binary_accuracy() -> None:
    x, y3 = make_data(103)
    y = (y3 == 0).astype("float32").reshape(-1, 1)
    models = mlp_twins(1, "sigmoid")
    compile_both(models, optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    history = check_fit(models, x, y, epochs=3, validation_split=0.2)
    assert list(history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    # binary accuracy of a threshold at 0.5: fractions of 82 samples
    assert all(abs(v * 82 - round(v * 82)) < 1e-3 for v in history["accuracy"])


def test_categorical_crossentropy_on_one_hot_labels() -> None:
    x, y = make_data(103)
    one_hot = np.eye(3, dtype="float32")[y]
    models = mlp_twins(3, "softmax")
    compile_both(models, optimizer="rmsprop", loss="categorical_crossentropy",
                 metrics=["accuracy"])
    history = check_fit(models, x, one_hot, epochs=3, validation_split=0.2)
    assert list(history) == ["accuracy", "loss", "val_accuracy", "val_loss"]


# --- 14. steps_per_epoch smaller than the data ----------------------------------------------


def test_steps_per_epoch_continues_the_unfinished_pass() -> None:
    x, y = make_data(103)  # batches of 26: 26, 26, 26, 25
    models = mlp_twins(3, "softmax")
    compile_both(models, optimizer="sgd", loss=SCCE, metrics=["accuracy"])
    history = check_fit(models, x, y, epochs=3, batch_size=26, steps_per_epoch=2)
    assert len(history["loss"]) == 3

    # Not the same as restarting from the first batch every epoch.
    _, restarted = mlp_twins(3, "softmax")
    restarted.compile(optimizer="sgd", loss=SCCE, metrics=["accuracy"])
    for _ in range(3):
        restarted.fit(x[:52], y[:52], batch_size=26, shuffle=False, verbose=0)
    assert not np.allclose(restarted.get_weights()[0], models[1].get_weights()[0])


# --- verbose=2 text ------------------------------------------------------------------------

_TIMING = re.compile(r" - \d+s - \d+(?:\.\d+)?(?:s|ms|us)/step")


def _normalise(text: str) -> str:
    return _TIMING.sub(" - <T>s - <T>/step", text)


def test_verbose_2_prints_what_keras_prints(capsys: pytest.CaptureFixture[str]) -> None:
    x, y = make_data(103)
    kmodel, fmodel = mlp_twins(3, "softmax")
    compile_both((kmodel, fmodel), optimizer="adam", loss=SCCE, metrics=["accuracy"])
    capsys.readouterr()
    kmodel.fit(x, y, epochs=2, validation_split=0.2, shuffle=False, verbose=2)
    keras_text = capsys.readouterr().out
    fmodel.fit(x, y, epochs=2, validation_split=0.2, shuffle=False, verbose=2)
    fitorch_text = capsys.readouterr().out
    assert _normalise(keras_text).count("<T>/step") == 2
    assert _normalise(fitorch_text) == _normalise(keras_text)
