"""`layer.input` / `layer.output` (the tensors of a layer's first symbolic call, Keras 3),
`model.inputs` / `outputs` / `input_shape` / `output_shape` of Sequential and functional
models, and the feature-extraction models built from them, compared with Keras 3."""

from __future__ import annotations

import copy
import gc
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras

import fitorch as ft


def test_layer_input_and_output_are_the_first_call_tensors() -> None:
    inputs = ft.Input(shape=(4,), name="pixels")
    dense = ft.layers.Dense(3, name="dense_a")
    hidden = dense(inputs)
    model = ft.Model(inputs, ft.layers.Dense(2, name="head")(hidden))
    assert dense.input is inputs and dense.output is hidden
    assert model.get_layer("pixels").output is inputs
    assert model.get_layer("pixels").input == []  # an InputLayer has no inputs (Keras)
    dense(ft.Input(shape=(4,)))  # a second call: Keras 3 still answers with the first
    assert dense.output is hidden
    merge = ft.layers.Concatenate()
    a, b = ft.Input(shape=(2,)), ft.Input(shape=(3,))
    joined = merge([a, b])
    assert merge.input == [a, b] and merge.output is joined
    with pytest.raises(AttributeError):
        _ = ft.layers.Dense(2).output  # never called on symbolic tensors
    with pytest.raises(AttributeError):
        _ = ft.layers.Dense(2).input


def test_tensors_freed_by_the_user_are_made_again_from_the_graph() -> None:
    inputs = ft.Input(shape=(4,))
    hidden = ft.layers.Dense(3, name="mid", activation="relu")(inputs)
    model = ft.Model(inputs, ft.layers.Dense(2, name="top")(hidden))
    del inputs, hidden
    gc.collect()
    mid = model.get_layer("mid").output
    assert mid.shape == (None, 3)
    extractor = ft.Model(inputs=model.inputs, outputs=[mid, model.get_layer("top").output])
    assert extractor.output_shape == [(None, 3), (None, 2)] and extractor.input_shape == (None, 4)
    x = torch.randn(5, 4)
    features, out = extractor(x)
    torch.testing.assert_close(features, model.get_layer("mid")(x))
    torch.testing.assert_close(out, model(x))


def _keras_stack() -> Any:
    layers = keras.layers
    return keras.Sequential([keras.Input(shape=(6,)), layers.Dense(8, activation="relu",
                             name="my_intermediate_layer"), layers.Dense(5, activation="tanh"),
                             layers.Dense(3)])


def _fitorch_stack() -> Any:
    layers = ft.layers
    return ft.Sequential([ft.Input(shape=(6,)), layers.Dense(8, activation="relu",
                          name="my_intermediate_layer"), layers.Dense(5, activation="tanh"),
                          layers.Dense(3)])


def test_feature_extraction_from_a_sequential_gives_keras_features(tmp_path: Path) -> None:
    """The Sequential guide's "Feature extraction with a Sequential model", as written."""
    kmodel, fmodel = _keras_stack(), _fitorch_stack()
    kmodel.save_weights(tmp_path / "k.weights.h5")
    fmodel.load_weights(tmp_path / "k.weights.h5")
    x = np.random.default_rng(0).normal(size=(7, 6)).astype("float32")
    assert fmodel.input_shape == kmodel.input_shape == (None, 6)
    assert fmodel.output_shape == kmodel.output_shape == (None, 3)
    for lib, initial_model in ((keras, kmodel), (ft, fmodel)):
        feature_extractor = lib.Model(
            inputs=initial_model.inputs,
            outputs=[layer.output for layer in initial_model.layers],
        )
        one = lib.Model(
            inputs=initial_model.inputs,
            outputs=initial_model.get_layer(name="my_intermediate_layer").output,
        )
        initial_model.all = (feature_extractor.predict(x, verbose=0),
                             one.predict(x, verbose=0))
    (k_all, k_one), (f_all, f_one) = kmodel.all, fmodel.all
    assert len(f_all) == len(k_all) == 3
    for ours, theirs in zip([*f_all, f_one], [*k_all, k_one]):
        np.testing.assert_allclose(ours, keras.ops.convert_to_numpy(theirs), rtol=1e-5,
                                   atol=1e-6)


def test_feature_extraction_in_any_order_and_from_copies() -> None:
    model = _fitorch_stack()
    # The layer's output asked for before the model's inputs: the graph is recorded then.
    extractor = ft.Model(outputs=model.layers[1].output, inputs=model.inputs)
    x = torch.randn(3, 6)
    torch.testing.assert_close(extractor(x), model.layers[1](model.layers[0](x)))
    clone = copy.deepcopy(_fitorch_stack())
    assert clone.layers[0].output.shape == (None, 8)
    assert clone.outputs[0].shape == (None, 3)
    with pytest.raises(AttributeError):
        _ = ft.Sequential([ft.layers.Dense(2)]).inputs  # no Input: no graph (Keras)
    with pytest.raises(AttributeError):
        _ = ft.Sequential([ft.layers.Dense(2)]).input_shape
