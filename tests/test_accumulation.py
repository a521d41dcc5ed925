"""Gradient accumulation: N micro-batches of B train exactly like one batch of N*B (the
sample-weighted mean loss), per-micro-batch logs, per-update iterations, exact resume."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

import fitorch as ft
from conftest import mlp
from test_backup_and_restore import kill_points, outcome, run

SCCE = ft.losses.SparseCategoricalCrossentropy(from_logits=True)


class CountBatches(ft.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.batches = 0
        self.iterations = []

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1
        self.iterations.append(self.model.optimizer.iterations)


def train_pair(x, y, sample_weight=None, make_opt=None, compile_kwargs=None, fit_kwargs=None,
               micro=8, steps=4):
    """One run with batches of micro*steps, one with `steps` accumulated micro-batches."""
    make_opt = make_opt or (lambda: ft.optimizers.SGD(0.1, momentum=0.9))
    torch.manual_seed(0)
    big = ft.Model(mlp())
    small = copy.deepcopy(big)
    big.compile(optimizer=make_opt(), loss=SCCE, metrics=["accuracy"],
                **(compile_kwargs or {}))
    small.compile(optimizer=make_opt(), loss=SCCE, metrics=["accuracy"],
                  gradient_accumulation_steps=steps, **(compile_kwargs or {}))
    kwargs = {"epochs": 2, "shuffle": False, "verbose": 0, "sample_weight": sample_weight,
              **(fit_kwargs or {})}
    counter = CountBatches()
    h_big = big.fit(x, y, batch_size=micro * steps, **kwargs)
    h_small = small.fit(x, y, batch_size=micro, callbacks=[counter], **kwargs)
    return big, small, h_big.history, h_small.history, counter


def assert_same_weights(a, b, atol=1e-6):
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(q, p, rtol=0, atol=atol)


@pytest.mark.parametrize("samples", [96, 103, 88, 84],
                         ids=["whole", "partial-micro", "partial-group", "partial-both"])
def test_four_micro_batches_of_8_equal_one_batch_of_32(classification_data, samples):
    x, y = classification_data
    x, y = x[:samples], y[:samples]
    big, small, h_big, h_small, counter = train_pair(x, y)
    assert_same_weights(big, small)
    updates_per_epoch = -(-samples // 32)
    assert small.optimizer.iterations == big.optimizer.iterations == 2 * updates_per_epoch
    assert counter.batches == 2 * -(-samples // 8)  # batch hooks run per micro-batch
    # The epoch's loss: the same sample-weighted mean of the per-sample losses.
    np.testing.assert_allclose(h_small["loss"], h_big["loss"], rtol=1e-6)
    np.testing.assert_allclose(h_small["accuracy"], h_big["accuracy"], rtol=1e-6)


def test_accumulation_with_sample_weights_and_adam(classification_data):
    x, y = classification_data
    w = np.linspace(0.2, 2.0, len(x)).astype(np.float32)
    big, small, h_big, h_small, _ = train_pair(
        x, y, sample_weight=w, make_opt=lambda: ft.optimizers.Adam(0.01))
    assert_same_weights(big, small)
    np.testing.assert_allclose(h_small["loss"], h_big["loss"], rtol=1e-6)


def test_accumulation_on_a_torch_optimizer_matches_a_hand_written_loop(classification_data):
    x_np, y_np = classification_data
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
    torch.manual_seed(0)
    reference = mlp()
    ours = copy.deepcopy(reference)
    opt = torch.optim.AdamW(reference.parameters(), lr=0.01)
    for start in range(0, len(x), 24):  # a hand loop: one batch of 24 per update
        opt.zero_grad()
        torch.nn.functional.cross_entropy(reference(x[start:start + 24]),
                                          y[start:start + 24]).backward()
        opt.step()
    model = ft.Model(ours)
    model.compile(optimizer=torch.optim.AdamW(ours.parameters(), lr=0.01), loss=SCCE,
                  gradient_accumulation_steps=3)
    model.fit(x_np, y_np, batch_size=8, epochs=1, shuffle=False, verbose=0)
    assert_same_weights(reference, ours)


def test_the_optimizers_keras_argument_is_the_same_mechanism(classification_data):
    x, y = classification_data
    torch.manual_seed(0)
    a = ft.Model(mlp())
    b = copy.deepcopy(a)
    a.compile(optimizer=ft.optimizers.Adam(0.01), loss=SCCE, gradient_accumulation_steps=4)
    b.compile(optimizer=ft.optimizers.Adam(0.01, gradient_accumulation_steps=4), loss=SCCE)
    for model in (a, b):
        model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    assert_same_weights(a, b, atol=0)
    assert b.optimizer.iterations == 4
    assert b.optimizer.get_config()["gradient_accumulation_steps"] == 4


def test_accumulation_with_jit_compile_steps_per_execution_clipping_and_precision(
        classification_data):
    x, y = classification_data
    big, small, _, _, _ = train_pair(x, y, compile_kwargs={"jit_compile": True})
    assert small._compiled_train_step().calls > 0
    assert_same_weights(big, small, atol=1e-5)
    big, small, _, _, _ = train_pair(x, y, compile_kwargs={"steps_per_execution": 3,
                                                           "global_clipnorm": 0.5})
    assert_same_weights(big, small)
    big, small, _, _, _ = train_pair(x, y, compile_kwargs={"precision": "16-mixed"})
    assert_same_weights(big, small, atol=1e-4)


def test_iterations_advance_per_update_and_per_batch_lr_schedules_follow(classification_data):
    x, y = classification_data
    model = ft.Model(mlp())
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    model.compile(optimizer=ft.optimizers.SGD(0.1), loss=SCCE, gradient_accumulation_steps=4)
    counter = CountBatches()
    model.fit(x[:64], y[:64], batch_size=8, epochs=1, verbose=0, callbacks=[counter])
    assert counter.iterations == [0, 0, 0, 1, 1, 1, 1, 2]
    torch_model = ft.Model(mlp())
    optimizer = torch.optim.SGD(torch_model.parameters(), lr=1.0)
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    torch_model.compile(optimizer=optimizer, loss=SCCE, gradient_accumulation_steps=4)
    torch_model.fit(x[:64], y[:64], batch_size=8, epochs=1, verbose=0, callbacks=[
        ft.callbacks.LearningRateScheduler(schedule, step_per="batch")])
    assert optimizer.param_groups[0]["lr"] == 0.25  # two updates, not eight batches


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "2"])
def test_bad_accumulation_steps(value):
    model = ft.Model(mlp())
    with pytest.raises(ValueError, match="gradient_accumulation_steps"):
        model.compile(optimizer="sgd", loss=SCCE, gradient_accumulation_steps=value)
    with pytest.raises(ValueError, match="gradient_accumulation_steps"):
        ft.optimizers.SGD(gradient_accumulation_steps=value)


def test_two_different_accumulation_settings_are_an_error():
    model = ft.Model(mlp())
    with pytest.raises(ValueError, match=r"set twice.*compile\(gradient_accumulation_steps=2\)"
                                         r".*SGD\(gradient_accumulation_steps=4\)"):
        model.compile(optimizer=ft.optimizers.SGD(gradient_accumulation_steps=4), loss=SCCE,
                      gradient_accumulation_steps=2)


# arrays: 6 batches/epoch x 3 epochs, backups every 7 batches (see resume_script.py).
@pytest.mark.parametrize("compile_kwargs", [{"gradient_accumulation_steps": 4},
                                            {"precision": "16-mixed"}],
                         ids=["accumulation", "grad-scaler"])
def test_a_killed_run_resumes_bit_exact(tmp_path, compile_kwargs):
    env = {"RESUME_COMPILE": json.dumps(compile_kwargs)}
    reference = run("arrays", "-", str(tmp_path / "reference.out"), env=env)
    assert reference.returncode == 0, reference.stderr[-3000:]
    ref_tensors, ref_meta = outcome(tmp_path / "reference.out")
    # Batch 9 (epoch 2, batch 3) is killed after the backup at batch 7: mid-group.
    for kill_at in [9, *kill_points([3], 18)]:
        backup = tmp_path / f"backup-{kill_at}"
        killed = run("arrays", str(backup), str(tmp_path / "never.out"), str(kill_at), env=env)
        assert killed.returncode == -9, killed.stderr[-3000:]
        resumed = run("arrays", str(backup), str(tmp_path / f"resumed-{kill_at}.out"), env=env)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        tensors, meta = outcome(tmp_path / f"resumed-{kill_at}.out")
        assert meta == ref_meta
        for key in ref_tensors:
            assert torch.equal(tensors[key], ref_tensors[key]), key
