"""SwapEMAWeights with fitorch's EMA optimizers, against Keras 3's callback and optimizer."""

from __future__ import annotations

from typing import Any

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


def ema_twins() -> tuple[Any, Any]:
    kmodel, fmodel = mlp_twins(3, "softmax")
    kmodel.compile(optimizer=keras.optimizers.Adam(0.01, use_ema=True, ema_momentum=0.9),
                   loss=SCCE, metrics=["accuracy"])
    fmodel.compile(optimizer=ft.optimizers.Adam(0.01, use_ema=True, ema_momentum=0.9),
                   loss=SCCE, metrics=["accuracy"])
    return kmodel, fmodel


def weights(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("swap_on_epoch", [False, True])
def test_validation_uses_ema_weights_like_keras(swap_on_epoch: bool) -> None:
    kmodel, fmodel = ema_twins()
    seen: list[list[torch.Tensor]] = []
    after = ft.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(
        weights(fmodel)))
    keras_history = kmodel.fit(X, Y, epochs=3, shuffle=False, verbose=0, validation_split=0.2,
                               callbacks=[keras.callbacks.SwapEMAWeights(swap_on_epoch)])
    fitorch_history = fmodel.fit(X, Y, epochs=3, shuffle=False, verbose=0,
                                 validation_split=0.2,
                                 callbacks=[ft.callbacks.SwapEMAWeights(swap_on_epoch), after])
    assert_history_equal(fitorch_history.history, keras_history.history)
    # Keras ends `fit` with the EMA weights (finalize_variable_values); idempotent here.
    fmodel.optimizer.finalize_variable_values()
    assert_weights_equal(fmodel, kmodel)
    # With swap_on_epoch, callbacks after it see the EMA weights (the final ones) at the
    # last epoch's end; without, they see the trained weights.
    final = weights(fmodel)
    assert all(torch.equal(a, b) for a, b in zip(seen[-1], final)) == swap_on_epoch


def test_validation_differs_without_the_callback() -> None:
    _, with_swap = ema_twins()
    _, without = ema_twins()
    a = with_swap.fit(X, Y, epochs=2, shuffle=False, verbose=0, validation_split=0.2,
                      callbacks=[ft.callbacks.SwapEMAWeights()])
    b = without.fit(X, Y, epochs=2, shuffle=False, verbose=0, validation_split=0.2)
    assert a.history["loss"] == b.history["loss"]  # training is untouched
    assert a.history["val_loss"] != b.history["val_loss"]  # validation saw other weights


def test_evaluate_and_predict_swap_in_and_back() -> None:
    _, model = ema_twins()
    model.fit(X, Y, epochs=2, shuffle=False, verbose=0)
    trained = weights(model)
    model.optimizer.swap_ema_weights()
    expected_loss = model.evaluate(X, Y, verbose=0)[0]
    expected_pred = model.predict(X, verbose=0)
    model.optimizer.swap_ema_weights()

    cb = ft.callbacks.SwapEMAWeights()
    assert model.evaluate(X, Y, verbose=0, callbacks=[cb])[0] == expected_loss
    assert all(torch.equal(a, b) for a, b in zip(weights(model), trained))
    assert_close(model.predict(X, verbose=0, callbacks=[cb]), expected_pred)
    # Keras 3 leaves the EMA weights in the model after predict; fitorch swaps back.
    assert all(torch.equal(a, b) for a, b in zip(weights(model), trained))


def test_state_round_trip_and_errors() -> None:
    cb = ft.callbacks.SwapEMAWeights(swap_on_epoch=True)
    cb.load_state_dict({"ema_weights_in_model": True})
    assert cb.state_dict() == {"ema_weights_in_model": True}
    with pytest.raises(TypeError, match="Received: state=1"):
        cb.load_state_dict(1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="swap_on_epoch='yes'"):
        ft.callbacks.SwapEMAWeights(swap_on_epoch="yes")  # type: ignore[arg-type]


@pytest.mark.parametrize("optimizer", ["fitorch-adam", "torch-sgd"])
def test_optimizer_without_ema_is_a_value_error(optimizer: str) -> None:
    _, model = mlp_twins(3, "softmax")
    model.compile(optimizer=ft.optimizers.Adam() if optimizer == "fitorch-adam"
                  else torch.optim.SGD(model.parameters(), lr=0.1), loss=SCCE)
    with pytest.raises(ValueError, match="SwapEMAWeights must be used when `use_ema=True`"):
        model.fit(X, Y, epochs=1, verbose=0, validation_split=0.2,
                  callbacks=[ft.callbacks.SwapEMAWeights()])
