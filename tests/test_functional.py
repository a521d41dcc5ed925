"""The functional API (`ft.Input`, layer calls on symbolic tensors, `ft.Model(inputs, outputs)`)
against Keras 3 (torch backend): the same graphs with the same weights give the same
predictions, History, weights, layer order, summary text and `.weights.h5` files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")

import h5py
import keras
import numpy as np
import pytest
import torch

import fitorch as ft
from fitorch.functional import Functional, SymbolicTensor, symbolic

RTOL = 1e-5
ATOL = 1e-6


# ------------------------------------------------------------------ helpers
def h5_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of a `.weights.h5` file under `layers/`, by path."""
    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()])
                     if isinstance(obj, h5py.Dataset) and name.startswith("layers/") else None)
    return out


def share_weights(kmodel: keras.Model, fmodel: ft.Model, tmp_path: Path) -> None:
    """Load the Keras model's `.weights.h5` into the fitorch twin (Keras's layer order)."""
    kmodel.save_weights(tmp_path / "keras.weights.h5")
    fmodel.load_weights(tmp_path / "keras.weights.h5")


def assert_same_weights(fmodel: ft.Model, kmodel: keras.Model, tmp_path: Path) -> None:
    fmodel.save_weights(tmp_path / "fitorch.weights.h5")
    kmodel.save_weights(tmp_path / "keras_now.weights.h5")
    ours, theirs = h5_arrays(tmp_path / "fitorch.weights.h5"), h5_arrays(
        tmp_path / "keras_now.weights.h5")
    assert sorted(ours) == sorted(theirs)
    for key in theirs:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=RTOL, atol=ATOL, err_msg=key)


def assert_same_history(ours: dict[str, list[float]], theirs: dict[str, list[float]]) -> None:
    assert sorted(ours) == sorted(theirs)
    for key in theirs:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=RTOL, atol=ATOL, err_msg=key)


def to_numpy(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: to_numpy(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_numpy(v) for v in x]
    return keras.ops.convert_to_numpy(x) if not isinstance(x, np.ndarray) else x


def assert_same_predictions(fmodel: ft.Model, kmodel: keras.Model, x: Any) -> None:
    ours = fmodel.predict(x, verbose=0)
    theirs = to_numpy(kmodel.predict(x, verbose=0))
    if isinstance(theirs, dict):
        assert sorted(ours) == sorted(theirs)
        for k in theirs:
            np.testing.assert_allclose(ours[k], theirs[k], rtol=RTOL, atol=ATOL)
    elif isinstance(theirs, list):
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)
    else:
        np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL)


def summary_of(model: Any) -> str:
    captured: list[str] = []
    model.summary(print_fn=lambda text, **_: captured.append(text))
    return captured[0]


@pytest.fixture
def fresh_names() -> None:
    """Auto-names (`add`, `input_layer_3`) count what the process made before: start both
    libraries' counters afresh so that the two summaries name alike."""
    from fitorch.layers import core

    keras.backend.clear_session()
    core._name_counts.clear()


def data(n: int = 48, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    xa = rng.normal(size=(n, 6)).astype("float32")
    xb = rng.normal(size=(n, 4)).astype("float32")
    ya = (xa[:, :1] - xb[:, 1:2]).astype("float32")
    yb = (xa.sum(axis=1) > 0).astype("int64")
    return xa, xb, ya, yb


# ------------------------------------------------------------------ symbolic tensors
def test_input_is_symbolic_and_sequential_still_takes_it() -> None:
    x = ft.Input(shape=(6,), name="features")
    assert isinstance(x, SymbolicTensor)
    assert x.shape == (None, 6) and x.dtype == torch.float32 and x.name == "features"
    assert ft.Input(shape=(3,), batch_size=5).shape == (5, 3)
    model = ft.Sequential([ft.Input(shape=(6,), batch_size=4), ft.layers.Dense(2)])
    assert isinstance(model.input_layer, ft.layers.InputLayer)
    assert model.input_layer.batch_size == 4
    assert model.count_params() if hasattr(model, "count_params") else True
    assert model.layers[0].weight.shape == (2, 6)  # built from the Input at once


def test_layer_calls_infer_shapes_without_data() -> None:
    x = ft.Input(shape=(None, 4))  # variable sequence length
    h = ft.layers.Dense(8)(x)
    assert h.shape == (None, None, 8)
    pooled = h.mean(dim=1)
    assert pooled.shape == (None, 8)
    sliced = pooled[:, :3] * 2 - 1
    assert sliced.shape == (None, 3)
    merged = torch.cat([sliced, torch.nn.Linear(8, 5)(pooled)], dim=1)  # a plain torch module
    assert merged.shape == (None, 8)
    images = ft.Input(shape=(3, 16, 16))
    conv = ft.layers.Conv2D(4, 3, padding="same")(images)
    assert conv.shape == (None, 4, 16, 16)
    assert ft.layers.Flatten()(conv).shape == (None, 1024)


def test_lazy_layers_have_weights_right_after_model() -> None:
    inputs = ft.Input(shape=(6,))
    dense = ft.layers.Dense(3)
    model = ft.Model(inputs, dense(inputs))
    assert dense.weight.shape == (3, 6)
    assert sum(p.numel() for p in model.parameters()) == 21
    assert "Total params: 21" in summary_of(model)


def test_recording_switch_follows_live_symbolic_tensors() -> None:
    import gc

    gc.collect()
    before = symbolic._live  # symbolic tensors other code still holds
    x = ft.Input(shape=(2,))
    assert symbolic.recording() and symbolic._live == before + 1
    assert torch.nn.Module.__call__ is symbolic._recording_call
    model = ft.Model(x, ft.layers.Dense(1)(x))
    del x
    gc.collect()
    assert symbolic._live == before  # the model keeps no symbolic tensor alive
    if before == 0:
        assert not symbolic.recording()
        assert torch.nn.Module.__call__ is symbolic._torch_call  # torch's own, no overhead
    assert model(torch.ones(3, 2)).shape == (3, 1)


def test_graph_construction_leaves_layers_untouched() -> None:
    bn = ft.layers.BatchNormalization()
    dense = ft.layers.Dense(4)
    x = ft.Input(shape=(3,))
    state = torch.get_rng_state()
    ft.Model(x, bn(ft.layers.Dropout(0.5)(dense(x))))
    before = torch.get_rng_state()
    assert bn.training and dense.training  # modes as they were
    assert torch.equal(bn.moving_mean, torch.zeros(4))
    assert torch.equal(bn.moving_variance, torch.ones(4))
    # Only the Dense initializer drew random numbers (Dropout drew none).
    torch.set_rng_state(state)
    ft.layers.Dense(4).build((None, 3))
    assert torch.equal(torch.get_rng_state(), before)


def test_forward_is_an_fx_graph_module() -> None:
    a, b = ft.Input(shape=(4,), name="a"), ft.Input(shape=(4,), name="b")
    out = ft.layers.Dense(2, name="head")(a + b)
    model = ft.Model([a, b], out)
    assert isinstance(model.module, torch.fx.GraphModule)
    code = model.module.code
    assert "self.head(add)" in code and "a_in + b_in" in code
    assert "as_input_dtype(a, torch.float32)" in code  # integer data becomes float (Keras)
    x = torch.ones(2, 4)
    assert torch.equal(model(x, x), model([x, x]))
    assert torch.equal(model(x, x), model({"a": x, "b": x}))
    assert "head" in repr(model)


# ------------------------------------------------------------------ differential tests
def _keras_mlp() -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(6,))
    x = keras.layers.Dense(16, activation="relu")(inputs)
    x = keras.layers.Dropout(0.3)(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))


def _fitorch_mlp() -> ft.Model:
    inputs = ft.Input(shape=(6,))
    x = ft.layers.Dense(16, activation="relu")(inputs)
    x = ft.layers.Dropout(0.3)(x)
    return ft.Model(inputs, ft.layers.Dense(3, activation="softmax")(x))


def test_functional_mlp_matches_keras(tmp_path: Path, fresh_names: None) -> None:
    kmodel, fmodel = _keras_mlp(), _fitorch_mlp()
    assert isinstance(fmodel, Functional)
    assert summary_of(fmodel) == summary_of(kmodel)
    assert [type(layer).__name__ for layer in fmodel.layers] == [
        "InputLayer", "Dense", "Dropout", "Dense"]
    share_weights(kmodel, fmodel, tmp_path)
    xa, _, _, yb = data()
    assert_same_predictions(fmodel, kmodel, xa)
    # Dropout is active in fit: compare a fit without it (rate 0) for exact numbers.
    kmodel.layers[2].rate = 0.0
    fmodel.layers[2].rate = 0.0
    for model in (kmodel, fmodel):
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
    kh = kmodel.fit(xa, yb, batch_size=16, epochs=2, shuffle=False, verbose=0,
                    validation_split=0.25)
    fh = fmodel.fit(xa, yb, batch_size=16, epochs=2, shuffle=False, verbose=0,
                    validation_split=0.25)
    assert_same_history(fh.history, kh.history)
    assert_same_weights(fmodel, kmodel, tmp_path)


def _two_in_two_out(lib: Any) -> Any:
    layers = lib.layers
    a = lib.Input(shape=(6,), name="a")
    b = lib.Input(shape=(4,), name="b")
    x = layers.Dense(8, activation="relu", name="branch_a")(a)
    y = layers.Dense(8, activation="relu", name="branch_b")(b)
    merged = x + y
    head_a = layers.Dense(1, name="head_a")(layers.Concatenate(name="concat")([x, y]))
    head_b = layers.Dense(2, activation="softmax", name="head_b")(merged)
    return lib.Model({"a": a, "b": b}, [head_a, head_b], name="two_heads")


def test_two_inputs_two_outputs_dict_inputs_and_per_output_losses(tmp_path: Path) -> None:
    keras.utils.set_random_seed(1)
    kmodel, fmodel = _two_in_two_out(keras), _two_in_two_out(ft)
    assert fmodel.output_names == ["head_a", "head_b"] == kmodel.output_names
    assert fmodel.input_names == ["a", "b"]
    assert [layer.name for layer in fmodel.layers] == [layer.name for layer in kmodel.layers]
    share_weights(kmodel, fmodel, tmp_path)
    xa, xb, ya, yb = data()
    x = {"a": xa, "b": xb}
    y = {"head_a": ya, "head_b": yb}
    assert_same_predictions(fmodel, kmodel, x)
    for model in (kmodel, fmodel):
        model.compile(optimizer="adam",
                      loss={"head_a": "mse", "head_b": "sparse_categorical_crossentropy"},
                      loss_weights={"head_a": 1.0, "head_b": 0.5},
                      metrics={"head_b": ["accuracy"]})
    kh = kmodel.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    fh = fmodel.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    assert_same_history(fh.history, kh.history)
    assert_same_weights(fmodel, kmodel, tmp_path)
    # The same data by position (inputs in `Model` order) gives the same outputs.
    by_name = fmodel.predict(x, verbose=0)
    by_position = fmodel.predict([xa, xb], verbose=0)
    for p, q in zip(by_name, by_position):
        np.testing.assert_array_equal(p, q)


def _siamese(lib: Any) -> Any:
    layers = lib.layers
    left, right = lib.Input(shape=(6,), name="left"), lib.Input(shape=(6,), name="right")
    encoder = layers.Dense(5, activation="tanh", name="encoder")
    distance = encoder(left) - encoder(right)
    return lib.Model([left, right], layers.Dense(1, activation="sigmoid", name="score")(
        distance * distance), name="siamese")


def test_shared_layer_siamese_matches_keras(tmp_path: Path, fresh_names: None) -> None:
    keras.utils.set_random_seed(2)
    kmodel, fmodel = _siamese(keras), _siamese(ft)
    encoder = fmodel.get_layer("encoder")
    assert sum(p.numel() for p in fmodel.parameters()) == 5 * 6 + 5 + 5 + 1  # shared once
    assert [layer.name for layer in fmodel.layers] == [layer.name for layer in kmodel.layers]
    assert summary_of(fmodel) == summary_of(kmodel)  # "Connected to" lists both calls
    share_weights(kmodel, fmodel, tmp_path)
    xa, _, _, yb = data()
    xb = xa[::-1].copy()
    assert_same_predictions(fmodel, kmodel, [xa, xb])
    for model in (kmodel, fmodel):
        model.compile(optimizer="sgd", loss="binary_crossentropy")
    kh = kmodel.fit([xa, xb], yb.astype("float32"), batch_size=8, epochs=2, shuffle=False,
                    verbose=0)
    fh = fmodel.fit([xa, xb], yb.astype("float32"), batch_size=8, epochs=2, shuffle=False,
                    verbose=0)
    assert_same_history(fh.history, kh.history)
    assert_same_weights(fmodel, kmodel, tmp_path)
    assert fmodel.get_layer(index=2) is encoder


def _nested(lib: Any) -> Any:
    layers = lib.layers
    inner_in = lib.Input(shape=(6,))
    inner = lib.Model(inner_in, layers.Dense(4, activation="relu")(inner_in), name="encoder")
    outer_in = lib.Input(shape=(6,))
    features = inner(outer_in)
    return lib.Model(outer_in, layers.Dense(1)(layers.Dense(3)(features)), name="outer")


def test_nested_model_matches_keras(tmp_path: Path, fresh_names: None) -> None:
    keras.utils.set_random_seed(3)
    kmodel, fmodel = _nested(keras), _nested(ft)
    assert isinstance(fmodel.layers[1], Functional)
    assert summary_of(fmodel) == summary_of(kmodel)
    share_weights(kmodel, fmodel, tmp_path)
    xa, _, ya, _ = data()
    assert_same_predictions(fmodel, kmodel, xa)
    for model in (kmodel, fmodel):
        model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    kh = kmodel.fit(xa, ya, batch_size=16, epochs=2, shuffle=False, verbose=0)
    fh = fmodel.fit(xa, ya, batch_size=16, epochs=2, shuffle=False, verbose=0)
    assert_same_history(fh.history, kh.history)
    assert_same_weights(fmodel, kmodel, tmp_path)


def _residual(lib: Any) -> Any:
    layers = lib.layers
    cf = {"data_format": "channels_first"} if lib is keras else {}
    inputs = lib.Input(shape=(4, 8, 8))
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv_a", **cf)(inputs)
    x = layers.Add(name="residual_add")([layers.Conv2D(4, 3, padding="same", name="conv_b",
                                                       **cf)(x), inputs])
    x = x + inputs  # the same merge as an operator
    x = layers.GlobalAveragePooling2D(name="pool", **cf)(x)
    return lib.Model(inputs, layers.Dense(2, activation="softmax", name="probs")(x),
                     name="residual")


def test_residual_cnn_matches_keras(tmp_path: Path, fresh_names: None) -> None:
    keras.utils.set_random_seed(4)
    kmodel, fmodel = _residual(keras), _residual(ft)
    assert summary_of(fmodel) == summary_of(kmodel)
    share_weights(kmodel, fmodel, tmp_path)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(24, 4, 8, 8)).astype("float32")
    y = rng.integers(0, 2, size=(24,))
    assert_same_predictions(fmodel, kmodel, x)
    for model in (kmodel, fmodel):
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    kh = kmodel.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    fh = fmodel.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert_same_history(fh.history, kh.history)
    assert_same_weights(fmodel, kmodel, tmp_path)


def test_summary_of_two_input_model_equals_keras(fresh_names: None) -> None:
    assert summary_of(_two_in_two_out(ft)) == summary_of(_two_in_two_out(keras))
    assert summary_of(_two_in_two_out(ft)).count("Connected to") == 1


def test_chain_summary_equals_keras_without_connected_column() -> None:
    def chain(lib: Any) -> Any:
        inputs = lib.Input(shape=(5,), name="inputs")
        return lib.Model(inputs, lib.layers.Dense(2, name="out")(
            lib.layers.Dense(3, name="hidden")(inputs)), name="chain")

    text = summary_of(chain(ft))
    assert text == summary_of(chain(keras))
    assert "Connected to" not in text


# ------------------------------------------------------------------ saving
def test_fitorch_weights_h5_loads_into_keras(tmp_path: Path) -> None:
    keras.utils.set_random_seed(6)
    kmodel, fmodel = _two_in_two_out(keras), _two_in_two_out(ft)
    fmodel.save_weights(tmp_path / "f.weights.h5")
    kmodel.load_weights(tmp_path / "f.weights.h5")
    xa, xb, _, _ = data()
    assert_same_predictions(fmodel, kmodel, {"a": xa, "b": xb})


def test_legacy_h5_both_ways(tmp_path: Path) -> None:
    keras.utils.set_random_seed(7)
    kmodel, fmodel = _two_in_two_out(keras), _two_in_two_out(ft)
    xa, xb, _, _ = data()
    fmodel.save_weights(tmp_path / "f.h5")  # Keras's legacy layout, matched by layer order
    kmodel.load_weights(tmp_path / "f.h5")
    assert_same_predictions(fmodel, kmodel, {"a": xa, "b": xb})
    other = _two_in_two_out(keras)
    other.save(tmp_path / "k.h5")
    fmodel.load_weights(tmp_path / "k.h5")
    assert_same_predictions(fmodel, other, {"a": xa, "b": xb})


def test_config_round_trip_through_fitorch_file(tmp_path: Path) -> None:
    inputs = ft.Input(shape=(6,), name="x")
    h = ft.layers.Dense(8, activation="relu")(inputs)
    h = torch.cat([h, h[:, :2] * 2.0], dim=1).sum(dim=1, keepdim=True)
    nested_in = ft.Input(shape=(1,))
    nested = ft.Model(nested_in, ft.layers.Dense(2)(nested_in))
    model = ft.Model(inputs, [nested(h), ft.layers.Dense(1, name="last")(h)], name="round")
    model.compile(optimizer="adam", loss=["mse", "mae"])
    xa, _, ya, _ = data()
    model.fit(xa, [np.concatenate([ya, ya], 1), ya], epochs=1, verbose=0)
    model.save(tmp_path / "m.fitorch")
    loaded = ft.load_model(tmp_path / "m.fitorch")
    assert isinstance(loaded, Functional) and loaded.name == "round"
    assert [type(layer).__name__ for layer in loaded.layers] == [
        type(layer).__name__ for layer in model.layers]
    for p, q in zip(loaded.predict(xa, verbose=0), model.predict(xa, verbose=0)):
        np.testing.assert_allclose(p, q, rtol=1e-6)
    assert loaded.compiled and loaded.optimizer is not None
    clone = Functional.from_config(model.get_config())
    assert clone.get_config()["calls"] == model.get_config()["calls"]


def test_config_refuses_unknown_functions() -> None:
    config = {"name": "m", "layers": [], "calls": [
        {"function": {"module": "torch", "name": "save"}, "args": [], "kwargs": {}}],
        "inputs": [], "outputs": []}
    with pytest.raises(ValueError, match="does not rebuild"):
        Functional.from_config(config)


# ------------------------------------------------------------------ modes and errors
def test_training_argument_forces_a_layer_mode() -> None:
    inputs = ft.Input(shape=(200,))
    always = ft.layers.Dropout(0.5)(inputs, training=True)
    model = ft.Model(inputs, always)
    model.eval()
    out = model(torch.ones(4, 200))
    assert (out == 0).any() and not model.layers[1].training


def test_dropout_and_batch_norm_follow_the_model_mode() -> None:
    inputs = ft.Input(shape=(50,))
    x = ft.layers.BatchNormalization()(ft.layers.Dropout(0.5)(inputs))
    model = ft.Model(inputs, x)
    batch = torch.randn(8, 50)
    model.eval()
    assert torch.equal(model(batch), model(batch))
    model.train()
    assert not torch.equal(model(batch), model(batch))


def test_inputs_outputs_and_get_layer() -> None:
    a = ft.Input(shape=(3,), name="a")
    out = ft.layers.Dense(2, name="d")(a)
    model = ft.Model(a, out)
    assert model.inputs[0] is a and model.outputs[0] is out and model.input is a
    assert model.get_layer("d") is model.layers[1]
    with pytest.raises(ValueError, match="No such layer: nope"):
        model.get_layer("nope")
    with pytest.raises(ValueError, match="only has 2 layers"):
        model.get_layer(index=5)
    del a, out
    again = model.outputs[0]  # rebuilt from the graph
    assert again.shape == (None, 2)
    reuse = ft.Model(inputs=model.inputs[0], outputs=ft.layers.Dense(1)(again), name="reuse")
    assert isinstance(reuse, Functional) and reuse.name == "reuse"
    assert reuse(torch.ones(1, 3)).shape == (1, 1)


def test_errors_are_clear() -> None:
    a, b = ft.Input(shape=(3,), name="a"), ft.Input(shape=(3,), name="b")
    with pytest.raises(ValueError, match="Graph disconnected"):
        ft.Model(a, ft.layers.Dense(1)(a + b))
    with pytest.raises(TypeError, match="must be a symbolic tensor"):
        ft.Model(a, torch.ones(1))
    with pytest.raises(ValueError, match="used by two layers"):
        ft.Model(a, ft.layers.Dense(1, name="same")(ft.layers.Dense(1, name="same")(a)))
    model = ft.Model([a, b], a * b)
    with pytest.raises(ValueError, match="expects 2 input"):
        model(torch.ones(1, 3))
    with pytest.raises(ValueError, match="Dense"):  # the layer's own error, with context
        ft.layers.Dense(2)(ft.Input(shape=()))
    with pytest.raises(TypeError, match="no value"):
        bool(a)


def test_list_inputs_take_a_dict_keyed_by_input_names() -> None:
    a, b = ft.Input(shape=(3,), name="left"), ft.Input(shape=(3,), name="right")
    model = ft.Model([a, b], ft.layers.Dense(1)(a * 2 - b))
    xa, xb = np.ones((4, 3), "float32"), np.zeros((4, 3), "float32")
    np.testing.assert_array_equal(model.predict({"left": xa, "right": xb}, verbose=0),
                                  model.predict([xa, xb], verbose=0))
    with pytest.raises(ValueError, match="by position or by name"):
        model({"left": torch.ones(1, 3), "middle": torch.ones(1, 3)})


def test_copies_and_pickles_keep_the_graph() -> None:
    import copy
    import io

    inputs = ft.Input(shape=(4,))
    model = ft.Model(inputs, ft.layers.Dense(2, name="out")(ft.layers.Dense(3)(inputs)))
    x = torch.randn(5, 4)
    clone = copy.deepcopy(model)
    assert torch.equal(clone(x), model(x))
    assert clone.get_layer("out") is clone.module.out is not model.module.out
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    restored = torch.load(buffer, weights_only=False)
    assert torch.equal(restored(x), model(x))
    assert [layer.name for layer in restored.layers] == [layer.name for layer in model.layers]


def test_values_that_depend_on_unknown_sizes_are_refused() -> None:
    x = ft.Input(shape=(4,))
    assert x.size(1) == 4  # a known size is a constant of the graph
    with pytest.raises(ValueError, match="depends on the unknown"):
        x.size(0)


@pytest.mark.parametrize("kwargs", [{}, {"expand_nested": True},
                                    {"expand_nested": True, "show_trainable": True}])
def test_nested_summary_equals_keras(kwargs: dict[str, bool]) -> None:
    def two(lib: Any) -> Any:
        layers = lib.layers
        a, b = lib.Input(shape=(6,), name="a"), lib.Input(shape=(4,), name="b")
        inner_in = lib.Input(shape=(6,), name="inner_in")
        inner = lib.Model(inner_in, layers.Dense(4, name="d_in")(inner_in), name="encoder")
        merged = layers.Concatenate(name="cc")([inner(a), layers.Dense(4, name="db")(b)])
        return lib.Model([a, b], merged, name="two")

    def text(model: Any) -> str:
        captured: list[str] = []
        model.summary(print_fn=lambda t, **_: captured.append(t), **kwargs)
        return captured[0]

    assert text(two(ft)) == text(two(keras))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_functional_model_on_cuda() -> None:
    inputs = ft.Input(shape=(6,))
    base = ft.Model(inputs, ft.layers.Dense(4, activation="relu")(inputs)).to("cuda")
    # A model already on the GPU is recorded with examples on its device.
    outer_in = ft.Input(shape=(6,))
    model = ft.Model(outer_in, ft.layers.Dense(1)(base(outer_in))).to("cuda")
    xa, _, ya, _ = data()
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(xa, ya, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    on_gpu = model.predict(xa, verbose=0)
    np.testing.assert_allclose(on_gpu, model.to("cpu").predict(xa, verbose=0), rtol=1e-4,
                               atol=1e-5)


# Layers added to `fitorch.layers` as plain modules work with no code of their own: the
# symbolic shape equals the eager output's, and the model computes what the layer does.
_ANY_LAYER_CASES = [
    ("Add", lambda L: L.Add(), [(5,), (5,)]),
    ("Subtract", lambda L: L.Subtract(), [(5,), (5,)]),
    ("Multiply", lambda L: L.Multiply(), [(5,), (5,)]),
    ("Average", lambda L: L.Average(), [(5,), (5,), (5,)]),
    ("Maximum", lambda L: L.Maximum(), [(5,), (5,)]),
    ("Concatenate", lambda L: L.Concatenate(axis=1), [(2, 3), (4, 3)]),
    ("Dot", lambda L: L.Dot(axes=1), [(5,), (5,)]),
    ("LeakyReLU", lambda L: L.LeakyReLU(), [(5,)]),
    ("PReLU", lambda L: L.PReLU(), [(5,)]),
    ("Softmax", lambda L: L.Softmax(), [(5,)]),
    ("GaussianNoise", lambda L: L.GaussianNoise(0.1), [(5,)]),
    ("SpatialDropout1D", lambda L: L.SpatialDropout1D(0.5), [(4, 7)]),
    ("Reshape", lambda L: L.Reshape((2, 6)), [(3, 4)]),
    ("Permute", lambda L: L.Permute((2, 1)), [(3, 4)]),
    ("RepeatVector", lambda L: L.RepeatVector(3), [(5,)]),
    ("Conv2DTranspose", lambda L: L.Conv2DTranspose(2, 3, strides=2), [(3, 5, 5)]),
    ("SeparableConv1D", lambda L: L.SeparableConv1D(4, 3), [(2, 9)]),
    ("Lambda", lambda L: L.Lambda(lambda t: t.flip(1)), [(5,)]),
]


@pytest.mark.parametrize("factory,shapes", [c[1:] for c in _ANY_LAYER_CASES],
                         ids=[c[0] for c in _ANY_LAYER_CASES])
def test_any_layer_is_recorded(factory: Any, shapes: list[tuple[int, ...]]) -> None:
    layer = factory(ft.layers)
    inputs = [ft.Input(shape=s) for s in shapes]
    args = inputs if len(inputs) > 1 else inputs[0]
    out = layer(args)
    model = ft.Model(inputs, out)
    xs = [torch.randn(3, *s) for s in shapes]
    model.eval()
    expected = layer(xs if len(xs) > 1 else xs[0])
    actual = model(*xs)
    assert out.shape == (None, *expected.shape[1:])
    torch.testing.assert_close(actual, expected)


def test_layers_taking_training_get_the_step_mode() -> None:
    seen: list[Any] = []

    class Noisy(torch.nn.Module):
        def forward(self, x: torch.Tensor, training: bool | None = None) -> torch.Tensor:
            seen.append(training)
            return x * 2

    inputs = ft.Input(shape=(2,))
    model = ft.Model(inputs, ft.layers.Dense(1)(Noisy()(inputs)))
    seen.clear()
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.ones((4, 2), "float32"), np.ones((4, 1), "float32")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert seen == [True]
    model.predict(x, verbose=0)
    assert seen[-1] is False
    model(torch.ones(1, 2), training=True)
    assert seen[-1] is True
    assert "training" in model.module.code


@pytest.mark.slow
def test_compiled_step_equals_eager_step_on_a_functional_model() -> None:
    def build() -> ft.Model:
        torch.manual_seed(0)
        inputs = ft.Input(shape=(6,))
        x = ft.layers.Dense(8, activation="relu")(inputs)
        return ft.Model(inputs, ft.layers.Dense(1)(x + ft.layers.Dense(8)(inputs)))

    xa, _, ya, _ = data(64)
    results = []
    for jit in (False, True):
        model = build()
        model.compile(optimizer="adam", loss="mse", jit_compile=jit)
        results.append(model.fit(xa, ya, batch_size=16, epochs=2, shuffle=False,
                                 verbose=0).history["loss"])
    np.testing.assert_allclose(results[1], results[0], rtol=1e-5)


def test_keyword_arguments_are_recorded() -> None:
    x = ft.Input(shape=(None, 16))
    attention = ft.layers.MultiHeadAttention(num_heads=2, key_dim=8)
    by_name = attention(query=x, value=x)
    by_position = attention(x, x)
    model = ft.Model(x, by_name + by_position)
    assert by_name.shape == (None, None, 16)
    batch = torch.randn(2, 5, 16)
    model.eval()
    torch.testing.assert_close(model(batch), 2 * attention(batch, batch))
    features = ft.Input(shape=(16,))
    bn = ft.layers.BatchNormalization()
    ft.Model(features, bn(inputs=features))  # a keyword call runs in inference mode too
    assert torch.equal(bn.moving_mean, torch.zeros(16))
    with pytest.raises(ValueError, match="unknown"):  # channels-first: axis 1 must be known
        ft.layers.BatchNormalization()(x)


def test_masks_flow_through_a_functional_model_as_through_a_sequential() -> None:
    def layers() -> list[torch.nn.Module]:
        torch.manual_seed(0)
        return [ft.layers.Embedding(20, 4, mask_zero=True),
                ft.layers.LSTM(3, return_sequences=True), ft.layers.Dense(1)]

    sequential = ft.Sequential([ft.Input(shape=(6,), dtype="int64"), *layers()])
    tokens = ft.Input(shape=(6,), dtype="int64")
    x = tokens
    for layer in layers():
        x = layer(x)
    functional = ft.Model(tokens, x)
    functional.set_weights(sequential.get_weights())
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 20, size=(8, 6))
    ids[:, 4:] = 0  # padding
    y = rng.normal(size=(8, 6, 1)).astype("float32")
    results = []
    for model in (sequential, functional):
        model.compile(optimizer="sgd", loss="mse")
        results.append(model.evaluate(ids, y, verbose=0))
    assert results[0] == pytest.approx(results[1], rel=1e-6)
    squared = (functional.predict(ids, verbose=0) - y) ** 2
    assert results[1] == pytest.approx(float(squared[:, :4].mean()), rel=1e-5)  # padding skipped


def test_integer_data_into_float_inputs_is_converted_as_keras_does() -> None:
    """Keras converts integer data to a float `Input`'s dtype; so does a functional model
    (torch alone would fail at the first layer with a dtype mismatch)."""
    histories, predictions = [], []
    x = np.arange(48).reshape(12, 4) % 5
    y = (x.sum(axis=1, keepdims=True) / 10).astype("float32")
    for data in (x.astype("int64"), x.astype("float32")):
        torch.manual_seed(0)
        a, b = ft.Input(shape=(4,), name="a"), ft.Input(shape=(4,), name="b")
        model = ft.Model({"a": a, "b": b}, ft.layers.Dense(1)(a + b))
        model.compile(optimizer="sgd", loss="mse")
        histories.append(model.fit({"a": data, "b": data}, y, batch_size=4, epochs=2,
                                   shuffle=False, verbose=0).history["loss"])
        predictions.append(model.predict({"a": data, "b": data}, verbose=0))
    np.testing.assert_allclose(histories[0], histories[1], rtol=1e-6)
    np.testing.assert_allclose(predictions[0], predictions[1], rtol=1e-6)
