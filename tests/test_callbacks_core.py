"""Callback dispatch, lazy logs, the slow-callback warning, and on_train_end on errors."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest
import torch

import fitorch as ft
from conftest import mlp
from fitorch.callbacks.callback import overrides


def compiled(**kwargs) -> ft.Model:
    model = ft.Model(mlp())
    model.compile(optimizer="sgd", loss=ft.losses.SparseCategoricalCrossentropy(from_logits=True),
                  **kwargs)
    return model


class Recording(ft.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple] = []

    def _record(self, name, index=None, logs=None):
        assert type(logs) is dict, (name, type(logs))  # Keras: a plain dict, never None
        self.calls.append((name, index, tuple(logs)))

    def on_train_begin(self, logs=None): self._record("train_begin", logs=logs)
    def on_train_end(self, logs=None): self._record("train_end", logs=logs)
    def on_epoch_begin(self, epoch, logs=None): self._record("epoch_begin", epoch, logs)
    def on_epoch_end(self, epoch, logs=None): self._record("epoch_end", epoch, logs)
    def on_train_batch_begin(self, batch, logs=None): self._record("batch_begin", batch, logs)
    def on_train_batch_end(self, batch, logs=None): self._record("batch_end", batch, logs)
    def on_test_begin(self, logs=None): self._record("test_begin", logs=logs)
    def on_test_end(self, logs=None): self._record("test_end", logs=logs)
    def on_test_batch_begin(self, batch, logs=None): self._record("test_batch_begin", batch, logs)
    def on_test_batch_end(self, batch, logs=None): self._record("test_batch_end", batch, logs)


def test_hook_order_for_fit_with_validation(classification_data):
    x, y = classification_data
    rec = Recording()
    compiled(metrics=["accuracy"]).fit(x[:20], y[:20], batch_size=10, epochs=2,
                                       validation_data=(x[:5], y[:5]), callbacks=[rec], verbose=0)
    keys = ("accuracy", "loss")
    epoch = [
        ("batch_begin", 0, ()), ("batch_end", 0, keys),
        ("batch_begin", 1, ()), ("batch_end", 1, keys),
        ("test_begin", None, ()), ("test_batch_begin", 0, ()), ("test_batch_end", 0, keys),
        ("test_end", None, keys),
    ]
    end_keys = ("accuracy", "loss", "val_accuracy", "val_loss")
    assert rec.calls == [
        ("train_begin", None, ()),
        ("epoch_begin", 0, ()), *epoch, ("epoch_end", 0, end_keys),
        ("epoch_begin", 1, ()), *epoch, ("epoch_end", 1, end_keys),
        ("train_end", None, end_keys),
    ]


def test_keras2_batch_aliases_are_called(classification_data):
    x, y = classification_data
    seen = []

    class Old(ft.callbacks.Callback):
        def on_batch_end(self, batch, logs=None):
            seen.append((batch, round(logs["loss"], 6)))

    compiled().fit(x, y, batch_size=52, epochs=1, callbacks=[Old()], verbose=0)
    assert [b for b, _ in seen] == [0, 1] and all(v > 0 for _, v in seen)


def test_hooks_nobody_overrides_are_not_dispatched():
    class OnlyEpochs(ft.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            pass

    cb = OnlyEpochs()
    assert overrides(cb, "on_epoch_end")
    assert not overrides(cb, "on_train_batch_end")
    cbs = ft.callbacks.CallbackList([cb])
    assert cbs._hooks["on_train_batch_end"] == []
    assert len(cbs._hooks["on_epoch_end"]) == 1


def test_user_batch_hooks_get_their_batch_values_as_floats(classification_data):
    x, y = classification_data
    kept: list[dict] = []

    class Keeper(ft.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            kept.append(logs)

    compiled().fit(x, y, batch_size=10, epochs=1, shuffle=False, callbacks=[Keeper()], verbose=0)
    assert all(type(logs) is dict and type(logs["loss"]) is float for logs in kept)
    values = [logs["loss"] for logs in kept]
    assert len(set(values)) == len(values)  # each kept dict has its own batch's value


def test_lazy_logs_not_materialised_without_readers(classification_data, monkeypatch):
    x, y = classification_data
    conversions = []
    import fitorch.logs as logs_module

    original = logs_module.to_float
    monkeypatch.setattr(logs_module, "to_float", lambda v: (
        isinstance(v, torch.Tensor) and conversions.append(1)) or original(v))
    compiled(metrics=["accuracy"]).fit(x, y, batch_size=10, epochs=2, verbose=0)
    # one tensor conversion per log key per epoch (the epoch logs), none per batch
    assert len(conversions) == 2 * 2


def test_slow_callback_warns_once(classification_data):
    x, y = classification_data

    class Slow(ft.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            time.sleep(0.15)  # far slower than a step of this tiny model, even on a busy machine

    with pytest.warns(UserWarning, match="on_train_batch_end` is slow compared to the batch time"
                      ) as record:
        compiled().fit(x[:60], y[:60], batch_size=10, epochs=2, callbacks=[Slow()], verbose=0)
    assert sum("is slow" in str(w.message) for w in record) == 1


def test_fast_callback_does_not_warn(classification_data):
    x, y = classification_data

    class Fast(ft.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            pass

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compiled().fit(x, y, batch_size=4, epochs=1, callbacks=[Fast()], verbose=0)


def test_on_train_end_fires_when_a_step_raises(classification_data):
    x, y = classification_data
    events = []

    class Boom(ft.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                raise KeyError("user bug")

        def on_train_end(self, logs=None):
            events.append("train_end")

    with pytest.raises(KeyError, match="user bug"):
        compiled().fit(x, y, batch_size=10, epochs=1, callbacks=[Boom()], verbose=0)
    assert events == ["train_end"]


def test_history_is_model_history_and_params(classification_data):
    x, y = classification_data
    model = compiled()
    history = model.fit(x, y, epochs=2, verbose=0)
    assert model.history is history
    assert history.params == {"verbose": 0, "epochs": 2, "steps": 4}
    assert history.epoch == [0, 1]


def test_verbose_2_prints_one_line_per_epoch(classification_data, capsys):
    x, y = classification_data
    compiled(metrics=["accuracy"]).fit(x, y, epochs=2, validation_split=0.2, verbose=2)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    assert lines[1].startswith("3/3 - ")
    assert " - accuracy: " in lines[1] and lines[1].index("accuracy") < lines[1].index("loss")
    assert "val_accuracy" in lines[1] and "val_loss" in lines[1]


def test_verbose_auto_without_terminal_is_one_line_per_epoch(classification_data, capsys):
    x, y = classification_data
    compiled().fit(x, y, epochs=2)
    out = capsys.readouterr().out
    assert "\r" not in out and "\b" not in out
    assert out.count("4/4") == 2


def test_stop_training_from_epoch_end(classification_data):
    x, y = classification_data

    class StopAfterOne(ft.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.model.stop_training = True

    history = compiled().fit(x, y, epochs=10, callbacks=[StopAfterOne()], verbose=0)
    assert history.epoch == [0]


def test_callback_list_rejects_non_callbacks():
    with pytest.raises(TypeError, match="must be an instance of fitorch.callbacks.Callback"):
        ft.callbacks.CallbackList([object()])


def test_predict_hooks_receive_outputs(classification_data):
    x, _ = classification_data
    shapes = []

    class Outputs(ft.callbacks.Callback):
        def on_predict_batch_end(self, batch, logs=None):
            shapes.append(tuple(logs["outputs"].shape))

    ft.Model(mlp()).predict(x, batch_size=50, callbacks=[Outputs()], verbose=0)
    assert shapes == [(50, 3), (50, 3), (3, 3)]


def test_evaluate_calls_test_hooks_with_logs(classification_data):
    x, y = classification_data
    rec = Recording()
    result = compiled().evaluate(x, y, batch_size=60, callbacks=[rec], verbose=0)
    assert [c[0] for c in rec.calls] == ["test_begin", "test_batch_begin", "test_batch_end",
                                          "test_batch_begin", "test_batch_end", "test_end"]
    assert isinstance(result, float)


def test_logs_values_are_python_floats(classification_data):
    x, y = classification_data
    types = set()

    class Types(ft.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            types.update(type(v) for v in logs.values())

        def on_epoch_end(self, epoch, logs=None):
            types.update(type(v) for v in logs.values())

    compiled(metrics=["accuracy"]).fit(x, y, epochs=1, callbacks=[Types()], verbose=0)
    assert types == {float}
    assert isinstance(np.float32(1), np.floating)  # sanity for the float check above
    assert torch.is_tensor(torch.zeros(()))
