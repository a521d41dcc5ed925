"""`fitorch.models`: Keras's `models` names; `clone_model` (same architecture, fresh weights)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import fitorch as ft
from fitorch.models import Model, Sequential, clone_model, load_model


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype("float32")
    return x, (x.sum(axis=1, keepdims=True) > 0).astype("float32")


def _differ(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(x.shape == y.shape for x, y in zip(a, b, strict=True)) \
        and any(not np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_tf_keras_models_imports_port(tmp_path) -> None:
    assert (Sequential, Model, load_model) == (ft.Sequential, ft.Model, ft.load_model)
    assert ft.models.clone_model is clone_model
    x, y = _data()
    model = ft.models.Sequential()
    model.add(ft.layers.Dense(8, activation="relu"))
    model.add(ft.layers.Dense(1, activation="sigmoid"))
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=1, verbose=0)
    model.save(str(tmp_path / "m.fitorch"))
    loaded = ft.models.load_model(str(tmp_path / "m.fitorch"))
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_clone_of_a_sequential_keeps_names_and_has_fresh_weights_like_keras() -> None:
    import keras

    kmodel = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, name="hidden"),
                               keras.layers.Dense(1, name="out")], name="net")
    kclone = keras.models.clone_model(kmodel)
    model = ft.Sequential([ft.Input(shape=(4,)), ft.layers.Dense(8, name="hidden"),
                           ft.layers.Dense(1, name="out")], name="net")
    model.compile(optimizer="sgd", loss="mse")
    x, y = _data()
    model.fit(x, y, epochs=1, verbose=0)
    clone = clone_model(model)
    assert type(clone) is Sequential and clone.name == kclone.name == "net"
    assert [layer.name for layer in clone.layers] == [layer.name for layer in kclone.layers]
    assert _differ(model.get_weights(), clone.get_weights())
    assert not clone.compiled and not getattr(kclone, "compiled", False)
    with pytest.raises(RuntimeError, match="compile"):
        clone.fit(x, y, verbose=0)
    before = model.get_weights()
    clone.compile(optimizer="sgd", loss="mse")
    clone.fit(x, y, epochs=1, verbose=0)
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # the original is untouched


def test_clone_of_a_sequential_without_input_builds_on_first_call() -> None:
    model = ft.Sequential([ft.layers.Dense(3), ft.layers.Dense(1)])
    x, _ = _data()
    model(torch.tensor(x))
    clone = clone_model(model)
    assert not clone.stack[0].built
    clone(torch.tensor(x))
    assert _differ(model.get_weights(), clone.get_weights())


def test_clone_function_replaces_each_layer_of_a_sequential() -> None:
    model = ft.Sequential([ft.Input(shape=(4,)), ft.layers.Dense(8), ft.layers.Dropout(0.5),
                           ft.layers.Dense(1)])

    def no_dropout(layer: nn.Module) -> nn.Module:
        if isinstance(layer, ft.layers.Dropout):
            return ft.layers.Dropout(0.0, name=layer.name)
        return type(layer).from_config(layer.get_config())

    clone = clone_model(model, clone_function=no_dropout)
    assert clone.stack[1].rate == 0.0 and model.stack[1].rate == 0.5
    assert clone.input_layer is not model.input_layer and clone(torch.zeros(2, 4)).shape == (2, 1)
    with pytest.raises(TypeError, match="must return a layer"):
        clone_model(model, clone_function=lambda layer: "dense")
    with pytest.raises(ValueError, match="`clone_function` applies to the layers of a Sequential"):
        clone_model(ft.Model(nn.Linear(2, 1)), clone_function=lambda layer: layer)


def test_clone_of_a_wrapped_torch_module_resets_every_parameter() -> None:
    body = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 1))
    model = ft.Model(body, output_names=["score"])
    model.compile(optimizer="adam", loss="mse")
    x, y = _data()
    model.fit(x, y, epochs=2, verbose=0)
    optimizer_state = {k: v.clone() for k, v in model.optimizer.state_dict()["state"][0].items()}
    clone = clone_model(model)
    assert type(clone) is ft.Model and clone.output_names == ["score"]
    assert not clone.compiled and clone.optimizer is None and clone.history is None
    assert _differ(model.get_weights(), clone.get_weights())
    bn = clone.module[1]
    assert torch.equal(bn.running_mean, torch.zeros(8)) and int(bn.num_batches_tracked) == 0
    assert all(p is not q for p, q in zip(clone.parameters(), model.parameters(), strict=True))
    clone.compile(optimizer="adam", loss="mse")
    clone.fit(x, y, epochs=1, verbose=0)
    for key, value in model.optimizer.state_dict()["state"][0].items():
        assert torch.equal(value, optimizer_state[key])  # the original's optimizer untouched


class _Scaled(nn.Module):
    """A module with a parameter of its own and no `reset_parameters()`."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.full((1,), 3.0))
        self.linear = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) * self.scale


def test_parameters_without_reset_are_copied_with_a_warning() -> None:
    model = ft.Model(_Scaled())
    with pytest.warns(UserWarning, match=r"clone_model: 'module' has parameters but no "
                                         r"`reset_parameters\(\)`"):
        clone = clone_model(model)
    assert torch.equal(clone.module.scale, model.module.scale)
    assert clone.module.scale is not model.module.scale
    assert not torch.equal(clone.module.linear.weight, model.module.linear.weight)


class _Net(ft.Model):
    def __init__(self, units: int) -> None:
        super().__init__()
        self.shared = ft.layers.Dense(units, name="shared")
        self.head = nn.Linear(units, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.shared(self.shared(x)))  # one layer called twice: shared weights


def test_clone_of_a_subclass_gets_fresh_fitorch_layers_built_on_first_call() -> None:
    model = _Net(4)
    model.also = model.shared  # the same layer under two names stays one layer
    x, y = _data()
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, epochs=1, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clone = clone_model(model)
    assert type(clone) is _Net and clone.shared is clone.also and clone.shared is not model.shared
    assert clone.shared.name == "shared" and not clone.shared.built
    clone(torch.tensor(x))
    assert _differ(model.get_weights(), clone.get_weights())


class _Configurable(ft.Model):
    """A subclass that defines Keras's get_config/from_config pair."""

    def __init__(self, units: int = 2, name: str | None = None) -> None:
        super().__init__(name=name)
        self.units = units
        self.dense = nn.Linear(4, units)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(x)

    def get_config(self) -> dict[str, Any]:
        return {"units": self.units, "name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> _Configurable:
        return cls(**config)


def test_a_subclass_with_a_config_is_rebuilt_from_it() -> None:
    model = _Configurable(units=3, name="conf")
    clone = clone_model(model)
    assert type(clone) is _Configurable and clone.units == 3 and clone.name == "conf"
    assert _differ(model.get_weights(), clone.get_weights())


def test_a_sequential_with_torch_modules_is_copied_and_reset() -> None:
    model = ft.Sequential([nn.Linear(4, 3), ft.layers.Dense(1)])
    model(torch.zeros(2, 4))
    clone = clone_model(model)
    assert not torch.equal(clone.stack[0].weight, model.stack[0].weight)
    assert not clone.stack[1].built and clone(torch.zeros(2, 4)).shape == (2, 1)


def test_clone_model_needs_a_module() -> None:
    with pytest.raises(TypeError, match=r"Received: model='net' \(of type str\)"):
        clone_model("net")  # type: ignore[arg-type]


def test_clone_of_a_functional_model_is_rebuilt_with_fresh_weights() -> None:
    inputs = ft.Input(shape=(4,))
    hidden = ft.layers.Dense(8, activation="relu", name="hidden")(inputs)
    model = ft.Model(inputs, ft.layers.Dense(1, name="out")(hidden), name="fn")
    clone = clone_model(model)
    assert type(clone) is type(model) and clone.name == "fn"
    assert [layer.name for layer in clone.layers] == [layer.name for layer in model.layers]
    assert _differ(model.get_weights(), clone.get_weights())
    assert clone(torch.zeros(3, 4)).shape == (3, 1)
