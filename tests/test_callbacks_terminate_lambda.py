"""TerminateOnNaN and LambdaCallback, against Keras 3 where they meet a fit."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import fitorch as ft
from fitorch.callbacks.callback import HOOK_NAMES, overrides
from fitorch.logs import Logs, MetricResults
from keras_twins import assert_history_equal, keras, make_data, mlp_twins

# Per-batch hooks on tiny models can trip the engine's slow-callback warning on a busy
# machine; it is not what these tests are about.
pytestmark = pytest.mark.filterwarnings("ignore:Callback method .* is slow")

SCCE = "sparse_categorical_crossentropy"
X, Y = make_data(96)


def compiled_twins() -> tuple[Any, Any]:
    kmodel, fmodel = mlp_twins(3, "softmax")
    for model in (kmodel, fmodel):
        model.compile(optimizer="sgd", loss=SCCE, metrics=["accuracy"])
    return kmodel, fmodel


# --- TerminateOnNaN ----------------------------------------------------------------------


def poison_keras(model: Any, value: float) -> None:
    kernel = model.layers[0].kernel
    kernel.assign(np.full(tuple(kernel.shape), value, dtype="float32"))


def poison_fitorch(model: Any, value: float) -> None:
    with torch.no_grad():
        ft_dense = next(m for m in model.modules() if isinstance(m, ft.layers.Dense))
        ft_dense.weight.fill_(value)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_terminate_on_nan_stops_after_the_epoch_like_keras(
        value: float, capsys: pytest.CaptureFixture[str]) -> None:
    kmodel, fmodel = compiled_twins()
    histories = []
    for model, module, poison in ((kmodel, keras.callbacks, poison_keras),
                                  (fmodel, ft.callbacks, poison_fitorch)):
        at_epoch_2 = module.LambdaCallback(
            on_epoch_begin=lambda epoch, logs, m=model, p=poison: p(m, value) if epoch == 2
            else None)
        histories.append(model.fit(X, Y, epochs=6, batch_size=32, shuffle=False, verbose=0,
                                   validation_split=0.25,
                                   callbacks=[at_epoch_2, module.TerminateOnNaN()]))
    keras_history, fitorch_history = histories
    assert len(fitorch_history.history["loss"]) == len(keras_history.history["loss"]) == 3
    assert np.isnan(fitorch_history.history["loss"][2])
    assert_history_equal(fitorch_history.history, keras_history.history)
    out = capsys.readouterr().out.splitlines()
    assert out == ["Batch 0: Invalid loss, terminating training"] * 2  # Keras's, then ours


def test_terminate_on_nan_raise_error() -> None:
    _, model = compiled_twins()
    ended: list[bool] = []
    poison = ft.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: poison_fitorch(model, float("nan")) if epoch == 1
        else None,
        on_train_end=lambda logs: ended.append(True))
    with pytest.raises(RuntimeError, match=r"^NaN or Inf loss encountered at batch 0\. "
                       r"Loss value: nan\. Terminating training immediately\.$"):
        model.fit(X, Y, epochs=3, verbose=0, callbacks=[poison,
                                                        ft.callbacks.TerminateOnNaN(True)])
    assert ended == [True]  # fitorch's on_train_end always fires


def test_terminate_on_nan_reads_only_the_loss() -> None:
    loss = torch.tensor(float("nan"))
    other_reads: list[str] = []
    logs = Logs(MetricResults({"loss": lambda: loss,
                               "accuracy": lambda: other_reads.append("accuracy")}))
    model = type("M", (), {"stop_training": False})()
    cb = ft.callbacks.TerminateOnNaN()
    cb.set_model(model)
    cb.on_train_batch_end(0, logs)
    assert model.stop_training is True
    assert other_reads == [] and not logs.is_read  # nothing else computed or converted
    cb.on_train_batch_end(1, {"accuracy": 0.5})  # no loss: nothing to check
    cb.on_train_batch_end(2, None)


def test_terminate_on_nan_bad_argument() -> None:
    with pytest.raises(ValueError, match="raise_error=1"):
        ft.callbacks.TerminateOnNaN(raise_error=1)  # type: ignore[arg-type]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_terminate_on_nan_on_cuda_stops_in_the_same_epoch() -> None:
    _, model = compiled_twins()
    model.to("cuda")
    poison = ft.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: poison_fitorch(model, float("nan")) if epoch == 1
        else None)
    history = model.fit(X, Y, epochs=4, batch_size=8, verbose=0,
                        callbacks=[poison, ft.callbacks.TerminateOnNaN()])
    assert len(history.history["loss"]) == 2


# --- LambdaCallback ------------------------------------------------------------------------


def recorder(module: Any, calls: list[tuple[Any, ...]]) -> Any:
    """A LambdaCallback recording (hook, index, sorted log keys) for every hook."""
    def hook(name: str) -> Any:
        if "batch" in name or "epoch" in name:
            def record(index: int, logs: Any = None) -> None:
                calls.append((name, index, tuple(sorted(logs or ()))))
        else:
            def record(logs: Any = None) -> None:  # type: ignore[misc]
                calls.append((name, None, tuple(sorted(logs or ()))))
        return record

    return module.LambdaCallback(**{name: hook(name) for name in HOOK_NAMES})


def test_lambda_callback_every_hook_like_keras() -> None:
    kmodel, fmodel = compiled_twins()
    recorded = []
    for model, module in ((kmodel, keras.callbacks), (fmodel, ft.callbacks)):
        calls: list[tuple[Any, ...]] = []
        cb = recorder(module, calls)
        model.fit(X[:40], Y[:40], batch_size=16, epochs=2, shuffle=False, verbose=0,
                  validation_data=(X[40:60], Y[40:60]), callbacks=[cb])
        model.evaluate(X[:20], Y[:20], batch_size=16, verbose=0, callbacks=[cb])
        model.predict(X[:20], batch_size=16, verbose=0, callbacks=[cb])
        recorded.append(calls)
    keras_calls, fitorch_calls = recorded
    assert {c[0] for c in fitorch_calls} == set(HOOK_NAMES)
    assert fitorch_calls == keras_calls


def test_lambda_callback_keras2_aliases_and_unused_hooks() -> None:
    _, model = compiled_twins()
    batches: list[int] = []
    cb = ft.callbacks.LambdaCallback(on_batch_begin=lambda batch, logs: batches.append(batch),
                                     on_batch_end=lambda batch, logs: batches.append(-batch))
    model.fit(X[:40], Y[:40], batch_size=20, epochs=1, verbose=0, callbacks=[cb])
    assert batches == [0, 0, 1, -1]
    assert [h for h in HOOK_NAMES if overrides(cb, h)] == [
        "on_train_batch_begin", "on_train_batch_end"]  # the others are never dispatched


@pytest.mark.parametrize("kwargs, error, match", [
    ({"on_epoch_ends": print}, ValueError, "no hook named 'on_epoch_ends'"),
    ({"on_train_begin": 3}, TypeError, "on_train_begin=3"),
    ({"on_batch_end": print, "on_train_batch_end": print}, ValueError, "not both"),
])
def test_lambda_callback_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        ft.callbacks.LambdaCallback(**kwargs)
