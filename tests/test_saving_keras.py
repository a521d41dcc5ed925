"""Keras's HDF5 files, both ways: weights saved by Keras 3 load into fitorch and back."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
import torch

import fitorch as ft
from fitorch.saving.keras_h5 import keras_entries

ATOL = 1e-5
CF = "channels_first"


def _keras_mlp() -> keras.Model:
    return keras.Sequential([
        keras.Input(shape=(8,)),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(3, activation="softmax"),
    ])


def _fitorch_mlp() -> ft.Sequential:
    return ft.Sequential([
        ft.Input(shape=(8,)),
        ft.layers.Dense(16, activation="relu"),
        ft.layers.Dropout(0.2),
        ft.layers.Dense(3, activation="softmax"),
    ])


def _keras_cnn() -> keras.Model:
    return keras.Sequential([
        keras.Input(shape=(3, 12, 12)),
        keras.layers.Conv2D(4, 3, activation="relu", data_format=CF),
        keras.layers.BatchNormalization(axis=1),
        keras.layers.MaxPooling2D(data_format=CF),
        keras.layers.Conv2D(6, 3, padding="same", data_format=CF),
        keras.layers.Flatten(),
        keras.layers.Dense(5, activation="softmax"),
    ])


def _fitorch_cnn() -> ft.Sequential:
    return ft.Sequential([
        ft.Input(shape=(3, 12, 12)),
        ft.layers.Conv2D(4, 3, activation="relu"),
        ft.layers.BatchNormalization(),
        ft.layers.MaxPooling2D(),
        ft.layers.Conv2D(6, 3, padding="same"),
        ft.layers.Flatten(),
        ft.layers.Dense(5, activation="softmax"),
    ])


def _random(rng: np.random.Generator, shape: tuple[int, ...], variance: bool) -> np.ndarray:
    # Every weight non-trivial (batch norm's statistics too); variances stay positive.
    low, high = (0.5, 1.5) if variance else (-0.5, 0.5)
    return rng.uniform(low, high, size=shape).astype("float32")


def _randomize_keras(model: keras.Model, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for v in model.weights:
        v.assign(_random(rng, tuple(v.shape), "variance" in v.path))


def _randomize_fitorch(model: ft.Model, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.is_floating_point():
                t.copy_(torch.from_numpy(_random(rng, tuple(t.shape), "running_var" in name)))


def _inputs(shape: tuple[int, ...], seed: int = 2) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(10, *shape)).astype("float32")


def _same_predictions(kmodel: keras.Model, fmodel: ft.Model, x: np.ndarray) -> None:
    expected = np.asarray(kmodel.predict(x, verbose=0))
    np.testing.assert_allclose(fmodel.predict(x, verbose=0), expected, rtol=0, atol=ATOL)


CASES = [(_keras_mlp, _fitorch_mlp, (8,)), (_keras_cnn, _fitorch_cnn, (3, 12, 12))]
IDS = ["mlp", "cnn_channels_first"]


def _data_format(make_keras) -> str:
    return CF if make_keras is _keras_cnn else "channels_last"


@pytest.mark.parametrize(("make_keras", "make_fitorch", "shape"), CASES, ids=IDS)
def test_keras_weights_h5_loads_into_fitorch(tmp_path: Path, make_keras, make_fitorch,
                                             shape) -> None:
    kmodel = make_keras()
    _randomize_keras(kmodel)
    kmodel.save_weights(str(tmp_path / "k.weights.h5"))
    fmodel = make_fitorch()
    # A `.weights.h5` file does not record the Keras model's data format: say it.
    fmodel.load_weights(tmp_path / "k.weights.h5", data_format=_data_format(make_keras))
    _same_predictions(kmodel, fmodel, _inputs(shape))


@pytest.mark.parametrize(("make_keras", "make_fitorch", "shape"), CASES, ids=IDS)
def test_fitorch_weights_h5_loads_into_keras(tmp_path: Path, make_keras, make_fitorch,
                                             shape) -> None:
    fmodel = make_fitorch()
    _randomize_fitorch(fmodel)
    fmodel.save_weights(tmp_path / "f.weights.h5", data_format=_data_format(make_keras))
    kmodel = make_keras()
    kmodel.load_weights(str(tmp_path / "f.weights.h5"))
    _same_predictions(kmodel, fmodel, _inputs(shape))


@pytest.mark.parametrize(("make_keras", "make_fitorch", "shape"), CASES, ids=IDS)
def test_legacy_h5_both_ways(tmp_path: Path, make_keras, make_fitorch, shape) -> None:
    fmodel = make_fitorch()
    _randomize_fitorch(fmodel)
    fmodel.save_weights(tmp_path / "f.h5", data_format=_data_format(make_keras))
    kmodel = make_keras()
    kmodel.load_weights(str(tmp_path / "f.h5"))  # Keras reads `.h5` with its legacy loader
    _same_predictions(kmodel, fmodel, _inputs(shape))
    _randomize_keras(kmodel, seed=5)
    kmodel.save(str(tmp_path / "k_full.h5"))  # legacy full-model file: weights in model_weights/
    fmodel.load_weights(tmp_path / "k_full.h5")
    _same_predictions(kmodel, fmodel, _inputs(shape))


def test_recurrent_layers_both_ways(tmp_path: Path) -> None:
    # Keras keeps an RNN's variables in `layers/<rnn>/cell/vars`.
    kmodel = keras.Sequential([
        keras.Input(shape=(5,), dtype="int32"), keras.layers.Embedding(10, 4),
        keras.layers.LSTM(3, return_sequences=True), keras.layers.GRU(2),
        keras.layers.LayerNormalization(), keras.layers.Dense(1),
    ])
    fmodel = ft.Sequential([
        ft.Input(shape=(5,), dtype="int64"), ft.layers.Embedding(10, 4),
        ft.layers.LSTM(3, return_sequences=True), ft.layers.GRU(2),
        ft.layers.LayerNormalization(), ft.layers.Dense(1),
    ])
    x = np.random.default_rng(4).integers(0, 10, size=(6, 5))
    _randomize_keras(kmodel)
    kmodel.save_weights(str(tmp_path / "k.weights.h5"))
    fmodel.load_weights(tmp_path / "k.weights.h5")
    _same_predictions(kmodel, fmodel, x)
    _randomize_fitorch(fmodel)
    fmodel.save_weights(tmp_path / "f.weights.h5")
    kmodel.load_weights(str(tmp_path / "f.weights.h5"))
    _same_predictions(kmodel, fmodel, x)
    with h5py.File(tmp_path / "f.weights.h5") as f:
        assert f["layers/lstm/cell/vars/1"].shape == (3, 12)


def test_keras_archive_weights_load(tmp_path: Path) -> None:
    kmodel = _keras_cnn()
    _randomize_keras(kmodel, seed=3)
    kmodel.save(str(tmp_path / "model.keras"))
    fmodel = ft.load_model(tmp_path / "model.keras", model=_fitorch_cnn())
    _same_predictions(kmodel, fmodel, _inputs((3, 12, 12)))


def test_written_layout_matches_keras(tmp_path: Path) -> None:
    kmodel = _keras_cnn()
    kmodel.save_weights(str(tmp_path / "k.weights.h5"))
    _fitorch_cnn().save_weights(tmp_path / "f.weights.h5")

    def layout(path: Path) -> dict[str, tuple[int, ...] | None]:
        found: dict[str, tuple[int, ...] | None] = {}
        with h5py.File(path) as f:
            f.visititems(lambda name, obj: found.__setitem__(
                name, obj.shape if isinstance(obj, h5py.Dataset) else None))
        return found

    assert layout(tmp_path / "f.weights.h5") == layout(tmp_path / "k.weights.h5")


class _KerasNet(keras.Model):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = keras.layers.Dense(5, activation="tanh")
        self.head = keras.layers.Dense(2)

    def call(self, x):  # type: ignore[no-untyped-def]
        return self.head(self.encoder(x))


class _FitorchNet(ft.Model):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = ft.layers.Dense(5, activation="tanh")
        self.head = ft.layers.Dense(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))


def test_subclassed_models_match_by_attribute_name(tmp_path: Path) -> None:
    x = _inputs((4,))
    kmodel = _KerasNet()
    kmodel(x[:1])
    _randomize_keras(kmodel)
    kmodel.save_weights(str(tmp_path / "k.weights.h5"))
    fmodel = _FitorchNet()
    fmodel.build((None, 4))
    assert [p for p, _ in keras_entries(fmodel)] == ["encoder", "head"]
    fmodel.load_weights(tmp_path / "k.weights.h5")
    _same_predictions(kmodel, fmodel, x)


def _keras_block_net() -> keras.Model:
    class Block(keras.layers.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.proj = keras.layers.Dense(4)
            self.norm = keras.layers.LayerNormalization()

        def call(self, x):  # type: ignore[no-untyped-def]
            return self.norm(self.proj(x))

    class BlockNet(keras.Model):
        def __init__(self) -> None:
            super().__init__()
            self.zeta = keras.layers.Dense(4)  # sorts after Keras's own `layers` property
            self.blocks = [Block(), Block()]
            self.heads = {"b": keras.layers.Dense(2), "a": keras.layers.Dense(3)}
            self._private = keras.layers.Dense(4)
            self.alias = self.zeta  # one layer under two names: saved once, at "alias"
            self.alpha = keras.layers.Dense(4)

        def call(self, x):  # type: ignore[no-untyped-def]
            x = self._private(self.alpha(x))
            for block in self.blocks:
                x = block(x)
            x = self.zeta(x)
            return self.heads["a"](x) + keras.ops.sum(self.heads["b"](x), -1, keepdims=True)

    return BlockNet()


def _fitorch_block_net() -> ft.Model:
    class Block(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = ft.layers.Dense(4)
            self.norm = ft.layers.LayerNormalization()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.norm(self.proj(x))

    class BlockNet(ft.Model):
        def __init__(self) -> None:
            super().__init__()
            self.zeta = ft.layers.Dense(4)
            self.blocks = torch.nn.ModuleList([Block(), Block()])
            self.heads = torch.nn.ModuleDict({"b": ft.layers.Dense(2), "a": ft.layers.Dense(3)})
            self._private = ft.layers.Dense(4)
            self.alias = self.zeta
            self.alpha = ft.layers.Dense(4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self._private(self.alpha(x))
            for block in self.blocks:
                x = block(x)
            x = self.zeta(x)
            return self.heads["a"](x) + self.heads["b"](x).sum(-1, keepdim=True)

    return BlockNet()


def test_subclassed_model_paths_follow_keras_walk_both_ways(tmp_path: Path) -> None:
    """Keras walks a subclassed model's attributes sorted (private ones last), with its
    `layers` property among them: layers in lists and dicts are numbered by class, and
    a layer whose attribute sorts after "layers" is saved under `layers/`."""
    x = _inputs((6,))
    kmodel = _keras_block_net()
    kmodel(x[:1])
    _randomize_keras(kmodel)
    kmodel.save_weights(str(tmp_path / "k.weights.h5"))
    fmodel = _fitorch_block_net()
    fmodel.build((None, 6))
    assert [p for p, _ in keras_entries(fmodel)] == [
        "alias", "alpha", "blocks/block/norm", "blocks/block/proj", "blocks/block_1/norm",
        "blocks/block_1/proj", "heads/dense", "heads/dense_1", "layers/dense_3"]
    fmodel.load_weights(tmp_path / "k.weights.h5")
    _same_predictions(kmodel, fmodel, x)
    # And back: fitorch's file, with new values, loads into a fresh Keras twin.
    with torch.no_grad():
        for p in fmodel.parameters():
            p.add_(0.1)
    fmodel.save_weights(str(tmp_path / "f.weights.h5"))
    ktwin = _keras_block_net()
    ktwin(x[:1])
    ktwin.load_weights(str(tmp_path / "f.weights.h5"))
    _same_predictions(ktwin, fmodel, x)


# ---------------------------------------------------------------- errors
def test_layer_mismatch_names_both_sides(tmp_path: Path) -> None:
    kmodel = _keras_cnn()
    kmodel.save_weights(str(tmp_path / "k.weights.h5"))
    fmodel = _fitorch_mlp()
    before = [w.copy() for w in fmodel.get_weights()]
    with pytest.raises(ValueError) as info:
        fmodel.load_weights(tmp_path / "k.weights.h5")
    message = str(info.value)
    assert "layers/dense_1/vars" in message  # the model's second Dense has no group
    assert "layers/conv2d/vars" in message and "(3, 3, 3, 4)" in message  # unused in file
    assert "k.weights.h5" in message
    for old, new in zip(before, fmodel.get_weights()):
        np.testing.assert_array_equal(old, new)


def test_shape_mismatch_in_h5_changes_nothing(tmp_path: Path) -> None:
    kmodel = _keras_mlp()
    kmodel.save_weights(str(tmp_path / "k.weights.h5"))
    fmodel = ft.Sequential([ft.Input(shape=(8,)), ft.layers.Dense(16, activation="relu"),
                            ft.layers.Dropout(0.2), ft.layers.Dense(4, name="out")])
    before = [w.copy() for w in fmodel.get_weights()]
    with pytest.raises(ValueError, match=r'layer "out" \(Dense\).*\(16, 4\).*\(16, 3\)'):
        fmodel.load_weights(tmp_path / "k.weights.h5")
    for old, new in zip(before, fmodel.get_weights()):
        np.testing.assert_array_equal(old, new)


def test_legacy_layer_count_mismatch(tmp_path: Path) -> None:
    _fitorch_cnn().save_weights(tmp_path / "f.h5")
    with pytest.raises(ValueError, match=r"has 2 layers with weights .* for 4 layers"):
        _fitorch_mlp().load_weights(tmp_path / "f.h5")


def test_module_without_keras_layout_is_refused(tmp_path: Path) -> None:
    model = ft.Model(torch.nn.Sequential(torch.nn.Linear(3, 2)))
    with pytest.raises(TypeError, match=r"'layers/linear' \(Linear\) has weights but no Keras"):
        model.save_weights(tmp_path / "w.weights.h5")
    assert not list(tmp_path.iterdir())


def test_non_numeric_dataset_is_refused(tmp_path: Path) -> None:
    model = _fitorch_mlp()
    path = tmp_path / "w.weights.h5"
    model.save_weights(path)
    with h5py.File(path, "a") as f:
        del f["layers/dense_1/vars/1"]
        f["layers/dense_1/vars/1"] = np.array([b"x", b"y", b"z"])
    with pytest.raises(ValueError, match="not numeric"):
        _fitorch_mlp().load_weights(path)
