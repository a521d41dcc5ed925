"""Callback logs as Keras passes them: a `dict` in every hook, floats for user code, lazy for ours.

The guide scenario follows keras-io's "Writing your own callbacks" (a callback
printing the log keys of every hook, one printing losses, early stopping at the
minimum loss, a learning-rate schedule set through `optimizer.learning_rate`)
and runs the same code once with `keras` and once with `fitorch` in its place.
"""

from __future__ import annotations

import copy
import json
import pickle
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import fitorch as ft
from fitorch.callbacks.callback import reads_logs_lazily
from fitorch.logs import Logs, MetricResults, pythonify

HOOKS_WITH_BATCH = (
    "on_train_batch_begin", "on_train_batch_end", "on_test_batch_begin", "on_test_batch_end",
    "on_predict_batch_begin", "on_predict_batch_end",
)
HOOKS_WITH_EPOCH = ("on_epoch_begin", "on_epoch_end")
HOOKS_PLAIN = ("on_train_begin", "on_train_end", "on_test_begin", "on_test_end",
               "on_predict_begin", "on_predict_end")


def guide_data() -> tuple[np.ndarray, ...]:
    """MNIST-shaped data (the guide's 1000 samples of 784 pixels in [0, 1], digit labels)."""
    rng = np.random.default_rng(0)
    x_train = rng.integers(0, 256, size=(1000, 784)).astype("float32") / 255.0
    x_test = rng.integers(0, 256, size=(1000, 784)).astype("float32") / 255.0
    y_train = rng.integers(0, 10, size=(1000,)).astype("uint8")
    y_test = rng.integers(0, 10, size=(1000,)).astype("uint8")
    return x_train, y_train, x_test, y_test


def run_guide(keras: Any) -> list[str]:
    """The guide's program with `keras` bound to a module; returns what it prints."""
    lines: list[str] = []
    out = lines.append
    x_train, y_train, x_test, y_test = guide_data()

    def get_model() -> Any:
        model = keras.Sequential()
        model.add(keras.layers.Dense(1))
        model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=0.1),
                      loss="mean_squared_error", metrics=["mean_absolute_error"])
        return model

    def printing(name: str, with_index: bool) -> Callable[..., None]:
        if with_index:
            return lambda self, index, logs=None: out(f"{name} {index}: {list(logs.keys())}")
        return lambda self, logs=None: out(f"{name}: {list(logs.keys())}")

    # Every hook prints the keys of its logs (the guide's CustomCallback).
    custom_callback = type("CustomCallback", (keras.callbacks.Callback,), {
        **{h: printing(h, True) for h in (*HOOKS_WITH_BATCH, *HOOKS_WITH_EPOCH)},
        **{h: printing(h, False) for h in HOOKS_PLAIN},
    })
    model = get_model()
    model.fit(x_train, y_train, batch_size=128, epochs=1, verbose=0, validation_split=0.5,
              callbacks=[custom_callback()])
    model.evaluate(x_test, y_test, batch_size=128, verbose=0, callbacks=[custom_callback()])
    model.predict(x_test, batch_size=128, verbose=0, callbacks=[custom_callback()])

    class LossAndErrorPrintingCallback(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            out(f"Up to batch {batch}, the average loss is {logs['loss']:7.2f}.")

        def on_test_batch_end(self, batch, logs=None):
            out(f"Up to batch {batch}, the average loss is {logs['loss']:7.2f}.")

        def on_epoch_end(self, epoch, logs=None):
            out(f"The average loss for epoch {epoch} is {logs['loss']:7.2f} and mean "
                f"absolute error is {logs['mean_absolute_error']:7.2f}.")

    model = get_model()
    model.fit(x_train, y_train, batch_size=128, epochs=2, verbose=0,
              callbacks=[LossAndErrorPrintingCallback()])
    model.evaluate(x_test, y_test, batch_size=128, verbose=0,
                   callbacks=[LossAndErrorPrintingCallback()])

    class EarlyStoppingAtMinLoss(keras.callbacks.Callback):
        def __init__(self, patience=0):
            super().__init__()
            self.patience = patience
            self.best_weights = None

        def on_train_begin(self, logs=None):
            self.wait, self.stopped_epoch, self.best = 0, 0, np.inf

        def on_epoch_end(self, epoch, logs=None):
            current = logs.get("loss")
            if np.less(current, self.best):
                self.best, self.wait = current, 0
                self.best_weights = self.model.get_weights()
            else:
                self.wait += 1
                if self.wait >= self.patience:
                    self.stopped_epoch = epoch
                    self.model.stop_training = True
                    out("Restoring model weights from the end of the best epoch.")
                    self.model.set_weights(self.best_weights)

        def on_train_end(self, logs=None):
            if self.stopped_epoch > 0:
                out(f"Epoch {self.stopped_epoch + 1}: early stopping")

    out("## early stopping")
    model = get_model()
    model.fit(x_train, y_train, batch_size=64, epochs=30, verbose=0,
              callbacks=[LossAndErrorPrintingCallback(), EarlyStoppingAtMinLoss()])

    class CustomLearningRateScheduler(keras.callbacks.Callback):
        def __init__(self, schedule):
            super().__init__()
            self.schedule = schedule

        def on_epoch_begin(self, epoch, logs=None):
            if not hasattr(self.model.optimizer, "learning_rate"):
                raise ValueError('Optimizer must have a "learning_rate" attribute.')
            lr = self.model.optimizer.learning_rate
            scheduled_lr = self.schedule(epoch, lr)
            self.model.optimizer.learning_rate = scheduled_lr
            out(f"Epoch {epoch}: Learning rate is {float(np.array(scheduled_lr))}.")

    schedule = [(3, 0.05), (6, 0.01), (9, 0.005), (12, 0.001)]

    def lr_schedule(epoch, lr):
        return dict(schedule).get(epoch, lr)

    out("## learning rate scheduling")
    model = get_model()
    model.fit(x_train, y_train, batch_size=64, epochs=15, verbose=0,
              callbacks=[LossAndErrorPrintingCallback(), CustomLearningRateScheduler(lr_schedule)])
    return lines


def _without_numbers(lines: list[str]) -> list[str]:
    return [re.sub(r" *(-?\d+\.\d+|nan|inf)", " <num>", line) for line in lines]


def test_guide_writing_your_own_callbacks_prints_what_keras_prints() -> None:
    import keras

    theirs, ours = run_guide(keras), run_guide(ft)
    key_lines = [line for line in theirs if "[" in line]
    assert [line for line in ours if "[" in line] == key_lines
    assert "on_train_batch_end 0: ['loss', 'mean_absolute_error']" in key_lines
    assert "on_predict_batch_end 0: ['outputs']" in key_lines
    # The numbers come from different initial weights; the rest of every line is the same
    # up to the early stop (its epoch depends on those numbers).
    stop = theirs.index("## early stopping")
    assert _without_numbers(ours[:stop]) == _without_numbers(theirs[:stop])
    early = ours[ours.index("## early stopping"):ours.index("## learning rate scheduling")]
    assert early[-2] == "Restoring model weights from the end of the best epoch."
    assert re.fullmatch(r"Epoch \d+: early stopping", early[-1])

    def rates(lines: list[str]) -> list[float]:
        return [float(line.rsplit(" ", 1)[1][:-1]) for line in lines if "Learning rate" in line]

    # Keras keeps the rate in a float32 variable: 0.10000000149011612 for 0.1.
    np.testing.assert_allclose(rates(ours), rates(theirs), rtol=1e-7)
    assert len(rates(ours)) == 15


# --- the hook sequence and the logs' keys and types, against Keras 3 ----------------------


def _recorder(keras: Any, calls: list[tuple[Any, ...]]) -> Any:
    def hook(name: str, with_index: bool) -> Callable[..., None]:
        def record(self: Any, *index: Any, logs: Any = "missing") -> None:
            if logs == "missing":  # fitorch passes logs by position
                *index, logs = index
            calls.append((name, *index, type(logs).__name__,
                          tuple((k, type(v).__name__) for k, v in logs.items())))
        return record

    return type("Recorder", (keras.callbacks.Callback,), {
        **{h: hook(h, True) for h in (*HOOKS_WITH_BATCH, *HOOKS_WITH_EPOCH)},
        **{h: hook(h, False) for h in HOOKS_PLAIN},
    })()


def _scenario(keras: Any) -> list[tuple[Any, ...]]:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 4)).astype("float32")
    y = rng.integers(0, 3, size=(40,))
    model = keras.Sequential([keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    calls: list[tuple[Any, ...]] = []
    cb = _recorder(keras, calls)
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, validation_split=0.25, callbacks=[cb])
    model.evaluate(x, y, batch_size=32, verbose=0, callbacks=[cb])
    model.predict(x, batch_size=32, verbose=0, callbacks=[cb])
    return calls


def test_hook_sequence_and_log_types_match_keras() -> None:
    import keras

    theirs, ours = _scenario(keras), _scenario(ft)
    assert ours == theirs
    assert ("on_train_batch_begin", 0, "dict", ()) in ours
    assert ("on_train_batch_end", 0, "dict", (("accuracy", "float"), ("loss", "float"))) in ours
    assert ("on_predict_batch_end", 0, "dict", (("outputs", "ndarray"),)) in ours


# --- dict semantics -------------------------------------------------------------------------


def _fit(callbacks: list[ft.callbacks.Callback], **kwargs: Any) -> Any:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 4)).astype("float32")
    y = rng.normal(size=(30, 1)).astype("float32")
    model = ft.Sequential([ft.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    return model.fit(x, y, batch_size=10, verbose=0, callbacks=callbacks, **kwargs)


def test_a_key_added_by_one_callback_reaches_the_next_and_history() -> None:
    seen: list[tuple[str, Any]] = []

    class Adds(ft.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            logs["doubled"] = 2 * logs["loss"]

        def on_epoch_end(self, epoch, logs=None):
            logs["custom"] = float(epoch)

    class Reads(ft.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(("batch", logs["doubled"] / logs["loss"]))

        def on_epoch_end(self, epoch, logs=None):
            seen.append(("epoch", logs["custom"]))
            json.dumps(logs)

    history = _fit([Adds(), Reads()], epochs=2)
    assert seen.count(("batch", 2.0)) == 6
    assert [v for k, v in seen if k == "epoch"] == [0.0, 1.0]
    assert history.history["custom"] == [0.0, 1.0]  # History comes after user callbacks


def test_every_hook_gets_a_json_serialisable_dict() -> None:
    seen: list[str] = []

    def check(name: str) -> Callable[..., None]:
        def hook(*args: Any) -> None:
            logs = args[-1]
            assert isinstance(logs, dict), name
            json.dumps({k: v for k, v in logs.items() if k != "outputs"})
            seen.append(name)
        return hook

    cb = ft.callbacks.LambdaCallback(**{h: check(h) for h in
                                        (*HOOKS_WITH_BATCH, *HOOKS_WITH_EPOCH, *HOOKS_PLAIN)})
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 4)).astype("float32")
    model = ft.Sequential([ft.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, x[:, :1], batch_size=10, epochs=1, verbose=0, validation_split=0.5,
              callbacks=[cb])
    model.evaluate(x, x[:, :1], verbose=0, callbacks=[cb])
    model.predict(x, verbose=0, callbacks=[cb])
    assert set(seen) == {*HOOKS_WITH_BATCH, *HOOKS_WITH_EPOCH, *HOOKS_PLAIN}


def test_builtin_callbacks_alone_never_convert_batch_logs(monkeypatch) -> None:
    import fitorch.logs as logs_module

    converted: list[int] = []
    original = logs_module.to_float
    monkeypatch.setattr(logs_module, "to_float", lambda v: (
        isinstance(v, torch.Tensor) and converted.append(1)) or original(v))
    # EarlyStopping, CSV-free built-ins with batch hooks: none reads a batch value.
    callbacks = [ft.callbacks.EarlyStopping(monitor="loss"), ft.callbacks.TerminateOnNaN()]
    _fit(callbacks, epochs=2)
    # TerminateOnNaN reads the raw loss tensor (no conversion); only the epoch logs convert.
    assert len(converted) == 2 * 2  # 2 epochs x (loss, mae)


def test_a_user_batch_hook_costs_one_conversion_per_batch(monkeypatch) -> None:
    import fitorch.logs as logs_module

    converted: list[int] = []
    original = logs_module.to_float
    monkeypatch.setattr(logs_module, "to_float", lambda v: (
        isinstance(v, torch.Tensor) and converted.append(1)) or original(v))

    class Silent(ft.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            pass

    _fit([Silent()], epochs=1)
    # 3 batches x 2 keys; the epoch logs reuse the last batch's floats
    assert len(converted) == 3 * 2


def test_subclass_of_a_builtin_overriding_a_batch_hook_is_user_code() -> None:
    class Mine(ft.callbacks.History):
        def on_train_batch_end(self, batch, logs=None):
            pass

    class Old(ft.callbacks.Callback):
        def on_batch_end(self, batch, logs=None):
            pass

    assert reads_logs_lazily(ft.callbacks.TerminateOnNaN(), "on_train_batch_end")
    assert reads_logs_lazily(ft.callbacks.ProgbarLogger(), "on_train_batch_end")
    assert not reads_logs_lazily(Mine(), "on_train_batch_end")
    assert not reads_logs_lazily(Old(), "on_train_batch_end")
    assert not reads_logs_lazily(
        ft.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: None), "on_train_batch_end")


# --- the lazy dict ---------------------------------------------------------------------------


def _lazy(reads: list[str] | None = None) -> Logs:
    def getter(name: str, value: float) -> Callable[[], torch.Tensor]:
        def get() -> torch.Tensor:
            if reads is not None:
                reads.append(name)
            return torch.tensor(value)
        return get

    return Logs(MetricResults({"loss": getter("loss", 0.5), "acc": getter("acc", 0.25)}))


@pytest.mark.parametrize("read", [
    lambda logs: logs["loss"],
    lambda logs: logs.get("loss"),
    lambda logs: list(logs.values()),
    lambda logs: list(logs.items()),
    lambda logs: dict(logs),
    lambda logs: {**logs},
    lambda logs: json.dumps(logs),
    lambda logs: repr(logs),
    lambda logs: logs.copy(),
    lambda logs: copy.deepcopy(logs),
    lambda logs: pickle.loads(pickle.dumps(logs)),
    lambda logs: logs == {"acc": 0.25, "loss": 0.5},
    lambda logs: logs | {},
    lambda logs: {}.update(logs),
], ids=["getitem", "get", "values", "items", "dict", "unpack", "json", "repr", "copy",
        "deepcopy", "pickle", "eq", "or", "update"])
def test_every_read_of_a_lazy_dict_gives_floats(read: Callable[[Logs], Any]) -> None:
    logs = _lazy()
    assert isinstance(logs, dict) and not logs.is_read
    read(logs)
    assert logs.is_read
    assert dict(logs) == {"acc": 0.25, "loss": 0.5}
    assert all(type(v) is float for v in logs.values())
    assert json.dumps(logs) == '{"acc": 0.25, "loss": 0.5}'


def test_lazy_dict_keys_cost_nothing() -> None:
    reads: list[str] = []
    logs = _lazy(reads)
    assert list(logs) == ["acc", "loss"] and len(logs) == 2 and "loss" in logs
    assert list(logs.keys()) == ["acc", "loss"] and bool(logs)
    assert logs.raw("loss").item() == 0.5 and reads == ["loss"]
    assert not logs.is_read
    with pytest.raises(KeyError):
        logs.raw("missing")


def test_lazy_dict_changes_convert_first() -> None:
    logs = _lazy()
    logs["extra"] = 1.0
    assert logs.is_read and logs == {"acc": 0.25, "loss": 0.5, "extra": 1.0}
    logs = _lazy()
    assert logs.pop("acc") == 0.25 and dict(logs) == {"loss": 0.5}
    logs = _lazy()
    logs.update(acc=1.0)
    assert logs == {"acc": 1.0, "loss": 0.5}


def test_pythonify_is_keras_pythonify_logs() -> None:
    from keras.src.utils.python_utils import pythonify_logs

    cases = [
        None,
        {},
        {"b": torch.tensor(2.0), "a": np.float32(1.5), "n": 3, "flag": True},
        {"outputs": torch.ones(2, 3)},
        {"nested": {"x": torch.tensor(1.0)}, "y": 2.0},
    ]
    for logs in cases:
        ours, theirs = pythonify(logs), pythonify_logs(logs)
        assert list(ours) == list(theirs)
        for key in theirs:
            assert type(ours[key]) is type(theirs[key]), (key, ours[key], theirs[key])
            np.testing.assert_array_equal(ours[key], theirs[key])
