"""The train step owns the batch: routing, training=, backward, the update, zero_grad,
constraints, the eager/compiled choice, clipping and the hook between backward and step."""

from __future__ import annotations

import ast
import copy
import inspect
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import fitorch as ft
from conftest import mlp
from fitorch import step

SRC = Path(ft.__file__).parent
SCCE = ft.losses.SparseCategoricalCrossentropy(from_logits=True)


def test_only_the_step_calls_backward_or_optimizer_step():
    callers = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                receiver = ast.unparse(node.func.value)
                if node.func.attr == "backward" or (
                        node.func.attr == "step" and "optim" in receiver.lower()):
                    callers.add(path.relative_to(SRC).as_posix())
    assert callers == {"step.py", "compiled_step.py"}


class RecordingSGD(torch.optim.SGD):
    """Records the frames between `fit` and the update, the first time it steps."""

    frames: list[str] | None = None

    def step(self, closure=None):
        if RecordingSGD.frames is None:
            names = []
            for info in inspect.stack()[0:]:
                in_torch = f"{Path(torch.__file__).parent}" in info.filename
                if not in_torch:  # torch's own decorator frames are not the engine's
                    names.append(info.function)
                if info.function == "fit":
                    break
            RecordingSGD.frames = names
        return super().step(closure)


def test_fit_reaches_the_optimizer_update_in_at_most_five_frames(classification_data):
    x, y = classification_data
    module = mlp()
    model = ft.Model(module)
    RecordingSGD.frames = None
    model.compile(optimizer=RecordingSGD(module.parameters(), lr=0.1), loss=SCCE)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    frames = RecordingSGD.frames
    assert frames is not None and frames[0] == "step" and frames[-1] == "fit"
    assert len(frames) <= 5, frames


def test_make_train_function_returns_the_step_object_built_once(classification_data):
    x, y = classification_data
    model = ft.Model(mlp())
    model.compile(optimizer="sgd", loss=SCCE)
    model.fit(x, y, epochs=1, verbose=0)
    train = model.make_train_function()
    assert isinstance(train, step.TrainStep)
    model.fit(x, y, epochs=1, verbose=0)
    assert model.make_train_function() is train  # nothing changed: the same step
    model.module[0].weight.requires_grad_(False)
    assert model.make_train_function() is not train  # trainable parameters changed


def test_model_train_step_delegates_to_the_step_and_leaves_no_gradients(classification_data):
    x, y = classification_data
    torch.manual_seed(0)
    reference = mlp()
    module = copy.deepcopy(reference)
    model = ft.Model(module)
    model.compile(optimizer=torch.optim.SGD(module.parameters(), lr=0.1), loss=SCCE)
    model.fit(x[:8], y[:8], batch_size=8, epochs=1, verbose=0, shuffle=False)
    ref_opt = torch.optim.SGD(reference.parameters(), lr=0.1)
    F.cross_entropy(reference(torch.from_numpy(x[:8])), torch.from_numpy(y[:8])).backward()
    ref_opt.step()
    logs = model.train_step((torch.from_numpy(x[8:16]), torch.from_numpy(y[8:16])))
    ref_opt.zero_grad()
    F.cross_entropy(reference(torch.from_numpy(x[8:16])), torch.from_numpy(y[8:16])).backward()
    ref_opt.step()
    assert "loss" in logs
    for a, b in zip(reference.parameters(), module.parameters(), strict=True):
        assert torch.equal(a, b)
    # zero_grad(set_to_none=True) after every update
    assert all(p.grad is None for p in module.parameters())


class TakesTraining(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(5, 1)
        self.seen: list[bool] = []

    def forward(self, x, training=None):
        self.seen.append(training)
        return self.linear(x)


def test_training_argument_is_passed_when_the_forward_declares_it(regression_data):
    x, y = regression_data
    inner = TakesTraining()
    model = ft.Model(inner)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert inner.seen[-2:] == [True, True]
    inner.seen.clear()
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)
    assert set(inner.seen) == {False}


def test_a_wrapped_module_is_called_directly_and_hooks_route_through_the_model(regression_data):
    x, y = regression_data
    model = ft.Model(torch.nn.Linear(5, 1))
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, epochs=1, verbose=0)
    assert model.make_train_function().target is model.module
    calls = []
    model.register_forward_hook(lambda *args: calls.append(1))
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert len(calls) == 2  # a new step object, which calls the model (its hooks run)


def test_constraints_are_applied_after_every_update(regression_data):
    x, y = regression_data
    model = ft.Sequential([ft.Input((5,)), ft.layers.Dense(1, kernel_constraint="non_neg")])
    model.compile(optimizer=ft.optimizers.SGD(1.0), loss="mse")
    model.fit(x, -np.abs(y) * 10, batch_size=8, epochs=1, verbose=0)
    assert float(model.layers[0].weight.detach().min()) >= 0.0


# ------------------------------------------------------------------------ clipping
@pytest.mark.parametrize("arg, value", [("clipnorm", 0.05), ("clipvalue", 0.01),
                                        ("global_clipnorm", 0.05)])
def test_compile_clipping_on_a_torch_optimizer_equals_fitorch_optimizer_clipping(
        classification_data, arg, value):
    x, y = classification_data
    torch.manual_seed(0)
    reference = mlp()
    ours = copy.deepcopy(reference)
    keras_model = ft.Model(reference)
    keras_model.compile(optimizer=ft.optimizers.SGD(0.5, **{arg: value}), loss=SCCE)
    keras_model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    model = ft.Model(ours)
    model.compile(optimizer=torch.optim.SGD(ours.parameters(), lr=0.5), loss=SCCE,
                  **{arg: value})
    model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(reference.parameters(), ours.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    assert model._clip_options == {arg: value}


def test_compile_clipping_and_an_optimizer_that_clips_is_an_error():
    model = ft.Model(mlp())
    with pytest.raises(ValueError, match=r"set twice.*SGD\(clipnorm=1.0\).*clipvalue=0.5"):
        model.compile(optimizer=ft.optimizers.SGD(clipnorm=1.0), loss=SCCE, clipvalue=0.5)
    with pytest.raises(ValueError, match="Only one of"):
        model.compile(optimizer="sgd", loss=SCCE, clipvalue=0.5, clipnorm=1.0)
    with pytest.raises(ValueError, match="clipnorm"):
        model.compile(optimizer="sgd", loss=SCCE, clipnorm=-1.0)


# ---------------------------------------------------------------- the user's hook
def test_on_after_backward_sees_the_final_gradients_before_clipping_and_step(
        classification_data):
    x, y = classification_data

    class Inspected(ft.Model):
        def on_after_backward(self):
            grads = [p.grad for p in self.parameters()]
            self.norms.append(float(torch.nn.utils.get_total_norm(grads)))
            for g in grads:  # a custom rule: zero the gradients, so nothing changes
                g.zero_()

    model = Inspected(mlp())
    model.norms = []
    before = [p.detach().clone() for p in model.parameters()]
    model.compile(optimizer=torch.optim.SGD(model.parameters(), lr=0.5), loss=SCCE,
                  global_clipnorm=1e-3)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert len(model.norms) == 4 and all(n > 1e-3 for n in model.norms)  # unclipped
    for a, b in zip(before, model.parameters(), strict=True):
        assert torch.equal(a, b)
