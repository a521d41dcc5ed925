"""Keras (channels-last) weights of a Conv -> Flatten -> Dense model, in both directions."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras

import fitorch as ft


def _keras_convnet():
    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input((8, 6, 2)),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(5, activation="softmax"),
    ])


def _fitorch_convnet(with_input: bool = True):
    layers = [ft.layers.Conv2D(4, 3, activation="relu"), ft.layers.MaxPooling2D(2),
              ft.layers.Flatten(), ft.layers.Dropout(0.5),
              ft.layers.Dense(5, activation="softmax")]
    return ft.Sequential(([ft.Input(shape=(2, 8, 6))] if with_input else []) + layers)


@pytest.mark.parametrize("suffix", [".weights.h5", ".h5"])
def test_keras_channels_last_weights_load_with_the_dense_rows_permuted(tmp_path, suffix):
    kmodel = _keras_convnet()
    path = str(tmp_path / f"k{suffix}")
    if suffix == ".h5":
        kmodel.save(path)  # Keras's legacy HDF5 model file
    else:
        kmodel.save_weights(path)
    x = np.random.default_rng(0).normal(size=(7, 8, 6, 2)).astype("float32")
    expected = kmodel.predict(x, verbose=0)
    model = _fitorch_convnet()
    model.load_weights(path)
    got = model.predict(x.transpose(0, 3, 1, 2), verbose=0)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    # Without the permutation the predictions differ: the test can fail.
    unpermuted = _fitorch_convnet()
    unpermuted.load_weights(path, data_format="channels_first")
    assert np.abs(unpermuted.predict(x.transpose(0, 3, 1, 2), verbose=0) - expected).max() > 1e-3


def test_fitorch_weights_load_into_the_keras_channels_last_model(tmp_path):
    model = _fitorch_convnet()
    path = str(tmp_path / "f.weights.h5")
    model.save_weights(path)
    kmodel = _keras_convnet()
    kmodel.load_weights(path)
    x = np.random.default_rng(1).normal(size=(5, 8, 6, 2)).astype("float32")
    np.testing.assert_allclose(kmodel.predict(x, verbose=0),
                               model.predict(x.transpose(0, 3, 1, 2), verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_unknown_input_shape_with_flatten_dense_is_an_error_not_a_silent_load(tmp_path):
    kmodel = _keras_convnet()
    path = str(tmp_path / "k.weights.h5")
    kmodel.save_weights(path)
    with pytest.raises(ValueError, match="input shape"):
        _fitorch_convnet(with_input=False).load_weights(path)
    with pytest.raises(ValueError, match="data_format"):
        _fitorch_convnet().load_weights(path, data_format="NHWC")
