"""Keras's "Customizing what happens in fit()" guide (torch backend), ported by changing imports.

The guide's code runs as written, except that a Keras variable's `.value` is the
torch parameter itself in fitorch (`v.value.grad` -> `v.grad`).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import fitorch as ft


class CustomModel(ft.Model):
    """The guide's first example: the default loss and metrics through `self.metrics`."""

    def train_step(self, data):
        x, y = data
        self.zero_grad()
        y_pred = self(x, training=True)
        loss = self.compute_loss(y=y, y_pred=y_pred)
        loss.backward()
        trainable_weights = [v for v in self.trainable_weights]
        gradients = [v.grad for v in trainable_weights]
        with torch.no_grad():
            self.optimizer.apply(gradients, trainable_weights)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


def _functional(cls):
    inputs = ft.Input(shape=(32,))
    outputs = ft.layers.Dense(1)(inputs)
    return cls(inputs, outputs)


def test_custom_train_step_fills_the_compiled_metrics_like_the_default_step():
    torch.manual_seed(0)
    x = np.random.random((64, 32)).astype("float32")
    y = np.random.random((64, 1)).astype("float32")
    custom = _functional(CustomModel)
    default = _functional(ft.Model)
    default.set_weights(custom.get_weights())
    assert [m.name for m in custom.metrics] == []  # before compile
    for model in (custom, default):
        model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    assert [m.name for m in custom.metrics] == ["loss", "compile_metrics"]
    h_custom = custom.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0)
    h_default = default.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0)
    assert sorted(h_custom.history) == ["loss", "mae"]
    for key in ("loss", "mae"):
        np.testing.assert_allclose(h_custom.history[key], h_default.history[key], rtol=1e-6)
    for a, b in zip(custom.parameters(), default.parameters()):
        torch.testing.assert_close(a, b)


def test_optimizer_apply_gradients_and_errors():
    layer = torch.nn.Linear(3, 1)
    optimizer = ft.optimizers.SGD(learning_rate=0.5)
    grads = [torch.ones_like(p) for p in layer.parameters()]
    before = [p.detach().clone() for p in layer.parameters()]
    optimizer.apply_gradients(zip(grads, layer.parameters()))  # builds on first use
    for p, b in zip(layer.parameters(), before):
        torch.testing.assert_close(p.detach(), b - 0.5)
    assert optimizer.iterations == 1
    with pytest.raises(ValueError, match="one gradient per variable"):
        optimizer.apply(grads[:1], list(layer.parameters()))
    with pytest.raises(ValueError, match="not built with"):
        optimizer.apply([torch.ones(2)], [torch.nn.Parameter(torch.zeros(2))])
