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


def _sample_weighted_custom_model(keras, grad_of):
    """The guide's "Supporting sample_weight & class_weight" section, as written there
    (the gradient read is `v.value.grad` in Keras, `v.grad` in fitorch)."""

    class CustomModel(keras.Model):
        def train_step(self, data):
            # Unpack the data. Its structure depends on your model and
            # on what you pass to `fit()`.
            if len(data) == 3:
                x, y, sample_weight = data
            else:
                sample_weight = None
                x, y = data

            # Call torch.nn.Module.zero_grad() to clear the leftover gradients
            # for the weights from the previous train step.
            self.zero_grad()

            # Compute loss
            y_pred = self(x, training=True)  # Forward pass
            loss = self.compute_loss(
                y=y,
                y_pred=y_pred,
                sample_weight=sample_weight,
            )

            # Call torch.Tensor.backward() on the loss to compute gradients
            # for the weights.
            loss.backward()

            trainable_weights = [v for v in self.trainable_weights]
            gradients = [grad_of(v) for v in trainable_weights]

            # Update weights
            with torch.no_grad():
                self.optimizer.apply(gradients, trainable_weights)

            # Update metrics (includes the metric that tracks the loss)
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
                else:
                    metric.update_state(y, y_pred, sample_weight=sample_weight)

            # Return a dict mapping metric names to current value
            # Note that it will include the loss (tracked in self.metrics).
            return {m.name: m.result() for m in self.metrics}

    # Construct and compile an instance of CustomModel
    inputs = keras.Input(shape=(32,))
    outputs = keras.layers.Dense(1)(inputs)
    return CustomModel(inputs, outputs)


@pytest.mark.parametrize("metrics", [{"metrics": ["mae"]},
                                     {"metrics": ["mae"], "weighted_metrics": ["mse"]}])
def test_sample_weighted_custom_train_step_gives_keras_history(metrics):
    import os

    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    rng = np.random.default_rng(0)
    x = rng.random((1000, 32))  # float64, as in the guide
    y = rng.random((1000, 1))
    sw = rng.random((1000, 1))
    kernel = (0.1 * rng.normal(size=(32, 1))).astype("float32")
    histories = []
    for lib, grad_of, weights in ((keras, lambda v: v.value.grad, [kernel, np.zeros(1)]),
                                  (ft, lambda v: v.grad, [kernel.T, np.zeros(1)])):
        model = _sample_weighted_custom_model(lib, grad_of)
        model.compile(optimizer="adam", loss="mse", **metrics)
        model.layers[-1].set_weights(weights)
        assert [m.name for m in model.metrics] == ["loss", "compile_metrics"]
        # You can now use sample_weight argument
        history = model.fit(x, y, sample_weight=sw, epochs=3, shuffle=False, verbose=0)
        assert [m.name for m in model.metrics] == ["loss", "compile_metrics"]
        histories.append(history.history)
    expected, got = histories
    assert sorted(got) == sorted(expected)
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-5, err_msg=key)
