"""`trainable` with Keras's semantics: freezing, unfreezing after compile, frozen batch norm."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from torch import nn

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras

import fitorch as ft


def _data(n: int = 48, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32") * 2 + 1
    y = (x @ rng.normal(size=(4, 1)) + 0.1).astype("float32")
    return x, y


def _twins(seed: int = 0):
    """A Keras model and the fitorch model with the same initial weights."""
    keras.utils.set_random_seed(seed)
    kmodel = keras.Sequential([
        keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
        keras.layers.BatchNormalization(), keras.layers.Dense(1)])
    fmodel = ft.Sequential([
        ft.Input(shape=(4,)), ft.layers.Dense(8, activation="relu"),
        ft.layers.BatchNormalization(), ft.layers.Dense(1)])
    for klayer, flayer in zip(kmodel.layers, fmodel.layers):
        flayer.set_keras_weights(klayer.get_weights())
    return kmodel, fmodel


def _assert_same_weights(kmodel, fmodel):
    for klayer, flayer in zip(kmodel.layers, fmodel.layers):
        for a, b in zip(flayer.get_keras_weights(), klayer.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("frozen", [0, 1, 2])
def test_frozen_layer_matches_keras(frozen):
    """A frozen Dense keeps its weights; a frozen BatchNormalization runs in inference mode
    (Keras 3's fine-tuning rule): weights, moving statistics and History equal Keras's."""
    x, y = _data()
    kmodel, fmodel = _twins()
    kmodel.layers[frozen].trainable = False
    fmodel.layers[frozen].trainable = False
    kmodel.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    fmodel.compile(optimizer=ft.optimizers.SGD(0.05), loss="mse")
    kh = kmodel.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    fh = fmodel.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(fh.history["loss"], kh.history["loss"], rtol=1e-4)
    _assert_same_weights(kmodel, fmodel)
    assert fmodel.count_params() == kmodel.count_params()
    assert len(fmodel.trainable_weights) == len(kmodel.trainable_weights)
    assert len(fmodel.non_trainable_weights) == len(kmodel.non_trainable_weights)


def test_trainable_changed_after_compile_takes_effect_at_the_next_fit():
    x, y = _data()
    _, model = _twins()
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=1, verbose=0)
    first = model.layers[0]
    first.trainable = False
    before = [w.detach().clone() for w in first.weights]
    model.fit(x, y, epochs=1, verbose=0)
    assert all(torch.equal(a, b) for a, b in zip(first.weights, before))
    first.trainable = True
    model.fit(x, y, epochs=1, verbose=0)
    assert not torch.equal(first.weights[0], before[0])


def test_model_trainable_freezes_everything_and_shows_in_summary():
    _, model = _twins()
    model.trainable = False
    assert model.trainable is False and all(not layer.trainable for layer in model.layers)
    assert model.trainable_weights == []
    lines = []
    model.summary(show_trainable=True, print_fn=lines.append)
    rows = [line for line in "\n".join(lines).splitlines() if "dense" in line]
    assert rows and all(row.rstrip("│ ").endswith("N") for row in rows)
    model.trainable = True
    assert len(model.trainable_weights) == 6


def test_nested_model_frozen_like_keras_transfer_learning():
    """The transfer-learning guide: a frozen base model inside a new model."""
    x, y = _data()
    base = ft.Sequential([ft.Input(shape=(4,)), ft.layers.Dense(8, activation="relu"),
                          ft.layers.BatchNormalization()])
    base.trainable = False
    model = ft.Sequential([ft.Input(shape=(4,)), base, ft.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    frozen = [w.detach().clone() for w in base.weights]  # includes the moving statistics
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert all(torch.equal(a, b) for a, b in zip(base.weights, frozen))
    base.trainable = True  # fine-tune: batch norm statistics move again
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert not torch.equal(base.weights[0], frozen[0])


def test_trainable_attribute_on_a_torch_module_is_honoured():
    x, y = _data()
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    model = ft.Model(net)
    model.compile(optimizer="adam", loss="mse")
    net[0].trainable = False
    before = net[0].weight.detach().clone()
    model.fit(x, y, epochs=1, verbose=0)
    assert torch.equal(net[0].weight, before)
    assert not net[0].weight.requires_grad


def test_trainable_must_be_a_bool():
    layer = ft.layers.Dense(2)
    with pytest.raises(TypeError, match="trainable"):
        layer.trainable = "no"


def test_layer_weight_api_and_get_layer():
    _, model = _twins()
    dense = model.get_layer(index=0)
    assert model.get_layer(dense.name) is dense
    assert [tuple(w.shape) for w in dense.weights] == [(8, 4), (8,)]
    values = dense.get_weights()
    dense.set_weights([v * 0 for v in values])
    assert all(float(w.detach().abs().sum()) == 0 for w in dense.weights)
    with pytest.raises(ValueError, match="No such layer"):
        model.get_layer("nope")
    with pytest.raises(ValueError, match="exactly one"):
        model.get_layer()


def test_sequential_call_with_training_argument():
    model = ft.Sequential([ft.Input(shape=(4,)), ft.layers.Dropout(0.5)])
    x = torch.ones(64, 4)
    assert torch.equal(model(x, training=False), x)  # a training model, one inference call
    assert model.training
    model.eval()
    assert not torch.equal(model(x, training=True), x)
    assert not model.training
    wrapped = ft.Model(nn.Sequential(nn.Dropout(0.5)))
    assert torch.equal(wrapped(x, training=False), x)


def test_every_layer_class_has_keras_layer_api():
    """New layers get `trainable` and the weight lists too (they inherit LayerAPI)."""
    from fitorch.layers.layer_api import LayerAPI

    classes = [getattr(ft.layers, name) for name in ft.layers.__all__]
    missing = [c.__name__ for c in classes if isinstance(c, type) and issubclass(c, nn.Module)
               and c is not ft.layers.Input and not issubclass(c, LayerAPI)]
    assert missing == []


def test_subclass_without_training_argument_takes_training_keyword():
    class Net(ft.Model):
        def __init__(self):
            super().__init__()
            self.drop = nn.Dropout(0.5)

        def forward(self, x):
            return self.drop(x)

    net = Net()
    x = torch.ones(64, 4)
    assert torch.equal(net(x, training=False), x)  # one inference call on a training model
    assert net.training and net.drop.training
    net.eval()
    assert not torch.equal(net(x, training=True), x)
    assert not net.training
