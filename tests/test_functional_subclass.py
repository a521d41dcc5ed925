"""Keras's "subclass a functional model": a Model subclass whose own `__init__` builds a
graph and calls `super().__init__(inputs, outputs)`, with attributes, `call`/`forward`
and `train_step` of its own on top. Compared with Keras 3 (torch backend)."""

from __future__ import annotations

import copy
import io
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras

import fitorch as ft
from fitorch.functional import Functional


def scaled_model_class(lib: Any) -> type:
    """The same subclass written against Keras or fitorch (only the import differs)."""

    class ScaledMLP(lib.Model):
        def __init__(self, units: int = 2, scale: float = 2.0, **kwargs: Any) -> None:
            inputs = lib.Input(shape=(4,), name="features")
            x = lib.layers.Dense(8, activation="relu", name="hidden")(inputs)
            outputs = lib.layers.Dense(units, name="head")(x)
            super().__init__(inputs, outputs, **kwargs)
            self.scale = scale  # an attribute of its own, set after the graph

        def call(self, inputs, training=None):  # type: ignore[no-untyped-def]
            return super().call(inputs, training=training) * self.scale

    return ScaledMLP


def data(n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, (x[:, :2] * 0.5).astype("float32")


def test_subclass_building_its_own_graph_is_a_functional_model() -> None:
    model = scaled_model_class(ft)()
    assert isinstance(model, Functional) and type(model).__name__ == "ScaledMLP"
    assert [layer.name for layer in model.layers] == ["features", "hidden", "head"]
    assert model.name.startswith("scaled_mlp")  # Keras names it after the class
    assert scaled_model_class(ft)(name="mine").name == "mine"
    assert model.scale == 2.0
    x = torch.ones(3, 4)
    graph_only = model.module(x)
    torch.testing.assert_close(model(x), 2.0 * graph_only)  # its own `call` runs
    assert model.input_shape == (None, 4) and model.output_shape == (None, 2)


def test_subclass_of_functional_model_trains_like_keras(tmp_path: Path) -> None:
    kmodel = scaled_model_class(keras)()
    fmodel = scaled_model_class(ft)()
    kmodel.save_weights(tmp_path / "k.weights.h5")
    fmodel.load_weights(tmp_path / "k.weights.h5")
    x, y = data()
    np.testing.assert_allclose(fmodel.predict(x, verbose=0),
                               keras.ops.convert_to_numpy(kmodel.predict(x, verbose=0)),
                               rtol=1e-5, atol=1e-6)
    histories = []
    for model in (kmodel, fmodel):
        model.compile(optimizer="adam", loss="mse", metrics=["mae"])
        histories.append(model.fit(x, y, batch_size=8, epochs=2, shuffle=False,
                                   verbose=0).history)
    for key in histories[0]:
        np.testing.assert_allclose(histories[1][key], histories[0][key], rtol=1e-5,
                                   err_msg=key)


def test_subclass_keyword_form_with_own_train_step_and_forward() -> None:
    class Counted(ft.Model):
        def __init__(self) -> None:
            inputs = ft.Input(shape=(3,))
            outputs = ft.layers.Dense(1, name="out")(ft.layers.Dropout(0.0)(inputs))
            super().__init__(inputs=inputs, outputs=outputs)
            self.steps_seen = 0

        def forward(self, x, training=None):  # type: ignore[no-untyped-def]
            return super().forward(x, training=training) + 1.0

        def train_step(self, data):  # type: ignore[no-untyped-def]
            self.steps_seen += 1
            return super().train_step(data)

    model = Counted()
    assert isinstance(model, Functional)
    torch.testing.assert_close(model(torch.zeros(2, 3)), model.module(torch.zeros(2, 3)) + 1)
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((8, 3), "float32")
    model.fit(x, np.ones((8, 1), "float32"), batch_size=4, epochs=2, verbose=0)
    assert model.steps_seen == 4
    np.testing.assert_allclose(model.predict(x, verbose=0),
                               model.module(torch.from_numpy(x)).detach().numpy() + 1,
                               rtol=1e-6)


class Picklable(ft.Model):
    """Defined at module level: pickle finds a class by its qualified name."""

    def __init__(self, scale: float) -> None:
        inputs = ft.Input(shape=(4,))
        super().__init__(inputs, ft.layers.Dense(2)(inputs))
        self.scale = scale

    def call(self, inputs, training=None, **kwargs):  # type: ignore[no-untyped-def]
        return super().call(inputs, training=training, **kwargs) * self.scale


def test_subclass_of_functional_model_copies_and_pickles() -> None:
    model = Picklable(scale=3.0)
    x = torch.randn(2, 4)
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    for other in (copy.deepcopy(model), torch.load(buffer, weights_only=False)):
        assert type(other) is type(model) and other.scale == 3.0
        torch.testing.assert_close(other(x), model(x))


def test_model_init_refuses_other_arguments_clearly() -> None:
    class Bad(ft.Model):
        def __init__(self) -> None:
            super().__init__(torch.nn.Linear(2, 2), "extra")

    with pytest.raises(TypeError, match="symbolic inputs and outputs"):
        Bad()
    with pytest.raises(ValueError, match="no `mask` argument"):
        Picklable(1.0).call(torch.ones(1, 4), mask=torch.ones(1, 4))
