"""LearningRateScheduler: schedule functions against Keras 3, torch LR schedulers per epoch
and per batch, plateau schedulers fed the monitored value, state round trips, errors."""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest
import torch

import fitorch as ft
from keras_twins import assert_history_equal, assert_weights_equal, keras, make_data, mlp_twins

# Per-batch hooks on tiny models can trip the engine's slow-callback warning on a busy
# machine; it is not what these tests are about.
pytestmark = pytest.mark.filterwarnings("ignore:Callback method .* is slow")

SCCE = "sparse_categorical_crossentropy"
X, Y = make_data(96)


def fit(model: Any, callbacks: list[Any], epochs: int = 5, **kwargs: Any) -> Any:
    kwargs = {"batch_size": 32, "shuffle": False, "verbose": 0, **kwargs}
    return model.fit(X, Y, epochs=epochs, callbacks=callbacks, **kwargs)


def torch_model(lr: float = 0.1) -> tuple[ft.Model, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = ft.Model(torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(),
                                         torch.nn.Linear(16, 3)))
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    model.compile(optimizer=optimizer,
                  loss=ft.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model, optimizer


# --- schedule functions, against Keras ------------------------------------------------


@pytest.mark.parametrize("schedule", [
    lambda epoch, lr: lr if epoch < 2 else lr * 0.5,   # (epoch, lr)
    lambda epoch: 0.02 * (epoch + 1),                   # Keras's old API: (epoch)
])
def test_schedule_matches_keras_rates_history_and_weights(schedule: Any) -> None:
    kmodel, fmodel = mlp_twins(3, "softmax")
    kmodel.compile(optimizer=keras.optimizers.SGD(0.05), loss=SCCE, metrics=["accuracy"])
    fmodel.compile(optimizer=ft.optimizers.SGD(0.05), loss=SCCE, metrics=["accuracy"])
    keras_history = fit(kmodel, [keras.callbacks.LearningRateScheduler(schedule)],
                        validation_split=0.25)
    fitorch_history = fit(fmodel, [ft.callbacks.LearningRateScheduler(schedule)],
                          validation_split=0.25)
    assert_history_equal(fitorch_history.history, keras_history.history)
    assert len(set(fitorch_history.history["learning_rate"])) >= 3
    assert_weights_equal(fmodel, kmodel)
    assert fmodel.optimizer.learning_rate == pytest.approx(
        float(keras.ops.convert_to_numpy(kmodel.optimizer.learning_rate)))


def test_schedule_verbose_message(capsys: pytest.CaptureFixture[str]) -> None:
    model, _ = torch_model()
    fit(model, [ft.callbacks.LearningRateScheduler(lambda epoch, lr: 0.5 / (epoch + 1),
                                                   verbose=1)], epochs=2)
    assert capsys.readouterr().out == (
        "\nEpoch 1: LearningRateScheduler setting learning rate to 0.5.\n"
        "\nEpoch 2: LearningRateScheduler setting learning rate to 0.25.\n")


def test_schedule_scales_param_groups_keeping_their_ratios() -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    optimizer = torch.optim.Adam([{"params": net[0].parameters(), "lr": 0.01},
                                  {"params": net[2].parameters(), "lr": 0.001}])
    model = ft.Model(net)
    model.compile(optimizer=optimizer, loss=ft.losses.SparseCategoricalCrossentropy(
        from_logits=True))
    history = fit(model, [ft.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5)],
                  epochs=3)
    assert history.history["learning_rate"] == [0.005, 0.0025, 0.00125]
    assert optimizer.param_groups[1]["lr"] == pytest.approx(0.000125)


# --- torch LR schedulers -----------------------------------------------------------------


def test_torch_scheduler_steps_once_per_epoch_by_default() -> None:
    model, optimizer = torch_model()
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    history = fit(model, [ft.callbacks.LearningRateScheduler(scheduler)])
    assert history.history["learning_rate"] == [0.1, 0.1, 0.05, 0.05, 0.025]  # rate used
    assert scheduler.last_epoch == 5


def test_torch_scheduler_steps_per_batch() -> None:
    model, optimizer = torch_model()
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 / (step + 1))
    used: list[float] = []
    record = ft.callbacks.LambdaCallback(
        on_train_batch_begin=lambda batch, logs: used.append(optimizer.param_groups[0]["lr"]))
    history = fit(model, [ft.callbacks.LearningRateScheduler(scheduler, step_per="batch"),
                          record], epochs=2)
    assert used == pytest.approx([0.1 / (step + 1) for step in range(6)])  # 3 batches x 2
    assert history.history["learning_rate"] == pytest.approx([0.1 / 4, 0.1 / 7])
    assert scheduler.last_epoch == 6


def test_torch_plateau_scheduler_receives_the_monitored_value() -> None:
    model, optimizer = torch_model()
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=0.5,
                                                           patience=0)
    seen: list[float] = []
    original_step = scheduler.step
    scheduler.step = lambda metrics, *a: (seen.append(metrics), original_step(metrics))[1]
    history = fit(model, [ft.callbacks.LearningRateScheduler(scheduler, monitor="loss")],
                  epochs=4)
    assert seen == history.history["loss"]
    # The loss goes down: in "max" mode every epoch after the first is a plateau.
    assert history.history["learning_rate"] == [0.1, 0.1, 0.05, 0.025]


def test_torch_plateau_scheduler_missing_monitor_warns_once() -> None:
    model, optimizer = torch_model()
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit(model, [ft.callbacks.LearningRateScheduler(scheduler)], epochs=3)
    messages = [str(w.message) for w in caught if "conditioned on" in str(w.message)]
    assert messages == ["Learning rate reduction is conditioned on metric `val_loss` which is "
                        "not available. Available metrics are: loss,learning_rate."]


def test_torch_scheduler_state_round_trip_resumes_the_same_rates() -> None:
    model, optimizer = torch_model()
    whole = fit(model, [ft.callbacks.LearningRateScheduler(
        torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.7))], epochs=5)

    model, optimizer = torch_model()
    first_cb = ft.callbacks.LearningRateScheduler(
        torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.7))
    first = fit(model, [first_cb], epochs=2)
    state = json.loads(json.dumps(first_cb.state_dict()))
    # A fresh optimizer and scheduler, as after a restart; the optimizer's own state
    # (its rate included) comes back first, as BackupAndRestore restores it.
    optimizer_state = optimizer.state_dict()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    optimizer.load_state_dict(optimizer_state)
    model.compile(optimizer=optimizer,
                  loss=ft.losses.SparseCategoricalCrossentropy(from_logits=True))
    second_cb = ft.callbacks.LearningRateScheduler(
        torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.7))
    second_cb.load_state_dict(state)
    second = fit(model, [second_cb], epochs=5, initial_epoch=2)
    rates = first.history["learning_rate"] + second.history["learning_rate"]
    assert rates == pytest.approx(whole.history["learning_rate"])
    assert rates == pytest.approx([0.1 * 0.7 ** e for e in range(5)])


def test_schedule_function_has_no_state() -> None:
    cb = ft.callbacks.LearningRateScheduler(lambda epoch, lr: lr)
    assert cb.state_dict() == {}
    cb.load_state_dict({})
    with pytest.raises(TypeError, match="Received: state=None"):
        cb.load_state_dict(None)  # type: ignore[arg-type]


# --- errors -------------------------------------------------------------------------------


def test_scheduler_on_another_optimizer_is_a_value_error() -> None:
    model, _ = torch_model()
    other = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(other, step_size=1)
    with pytest.raises(ValueError, match="must be built on the model's optimizer"):
        fit(model, [ft.callbacks.LearningRateScheduler(scheduler)], epochs=1)


@pytest.mark.parametrize("output", ["0.1", None, float("nan"), -0.1, True])
def test_schedule_output_must_be_a_float(output: Any) -> None:
    model, _ = torch_model()
    with pytest.raises(ValueError, match="The output of the `schedule` function should be"):
        fit(model, [ft.callbacks.LearningRateScheduler(lambda epoch, lr: output)], epochs=1)


def test_schedule_output_may_be_a_numpy_or_tensor_scalar() -> None:
    import numpy as np

    model, optimizer = torch_model()
    fit(model, [ft.callbacks.LearningRateScheduler(
        lambda epoch, lr: np.float32(0.5) if epoch == 0 else torch.tensor(0.25))], epochs=2)
    assert optimizer.param_groups[0]["lr"] == 0.25


@pytest.mark.parametrize("kwargs, error, match", [
    ({"schedule": 0.1}, TypeError, "schedule=0.1"),
    ({"schedule": lambda e, lr: lr, "step_per": "step"}, ValueError, "step_per='step'"),
    ({"schedule": lambda e, lr: lr, "step_per": "batch"}, ValueError, "step_per='batch'"),
    ({"schedule": lambda e, lr: lr, "verbose": "loud"}, ValueError, "verbose='loud'"),
])
def test_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        ft.callbacks.LearningRateScheduler(**kwargs)


def test_model_without_optimizer_is_a_value_error() -> None:
    cb = ft.callbacks.LearningRateScheduler(lambda epoch, lr: lr)
    cb.set_model(type("M", (), {"optimizer": "adam"})())
    with pytest.raises(ValueError, match="Received: optimizer='adam'"):
        cb.on_epoch_begin(0)
