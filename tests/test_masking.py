"""Keras masks: Embedding(mask_zero=True) -> LSTM -> Dense per step; the loss and the metrics
skip the padded steps (differential against Keras)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras

import fitorch as ft


def _data():
    rng = np.random.default_rng(0)
    x = rng.integers(1, 20, size=(32, 10))
    x[:, 6:] = 0
    x[::2, 4:] = 0  # padding of two lengths
    y = rng.integers(0, 5, size=(32, 10))
    return x, y


def _twins(middle: str = "none"):
    keras.utils.set_random_seed(0)
    extra_k = {"none": [], "dropout": [keras.layers.Dropout(0.0)],
               "activation": [keras.layers.Activation("tanh")]}[middle]
    extra_f = {"none": [], "dropout": [ft.layers.Dropout(0.0)],
               "activation": [ft.layers.Activation("tanh")]}[middle]
    kmodel = keras.Sequential([keras.Input((10,), dtype="int32"),
                               keras.layers.Embedding(20, 8, mask_zero=True),
                               keras.layers.LSTM(6, return_sequences=True), *extra_k,
                               keras.layers.Dense(5)])
    fmodel = ft.Sequential([ft.Input(shape=(10,), dtype="int64"),
                            ft.layers.Embedding(20, 8, mask_zero=True),
                            ft.layers.LSTM(6, return_sequences=True), *extra_f,
                            ft.layers.Dense(5)])
    for klayer, flayer in zip(kmodel.layers, fmodel.layers):
        if klayer.get_weights():
            flayer.set_keras_weights(klayer.get_weights())
    return kmodel, fmodel


@pytest.mark.parametrize("middle", ["none", "dropout", "activation"])
@pytest.mark.parametrize("weighted", [False, True])
def test_per_step_loss_and_metrics_skip_padding_like_keras(middle, weighted):
    x, y = _data()
    kmodel, fmodel = _twins(middle)
    kmodel.compile(optimizer="sgd", metrics=["accuracy"],
                   loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    fmodel.compile(optimizer="sgd", metrics=["accuracy"],
                   loss=ft.losses.SparseCategoricalCrossentropy(from_logits=True))
    # Per-time-step weights (rank 2), as Keras takes them.
    weights = np.random.default_rng(1).uniform(0.5, 2.0, size=y.shape).astype("float32") \
        if weighted else None
    kh = kmodel.fit(x, y, sample_weight=weights, epochs=2, batch_size=8, shuffle=False,
                    verbose=0)
    fh = fmodel.fit(x, y, sample_weight=weights, epochs=2, batch_size=8, shuffle=False,
                    verbose=0)
    for key in ("loss", "accuracy"):
        np.testing.assert_allclose(fh.history[key], kh.history[key], rtol=1e-5)
    np.testing.assert_allclose(fmodel.evaluate(x, y, verbose=0),
                               kmodel.evaluate(x, y, verbose=0), rtol=1e-5)


def test_the_mask_reaches_the_loss_through_dense():
    x, _ = _data()
    _, fmodel = _twins()
    out = fmodel(torch.from_numpy(x))
    assert torch.equal(out._keras_mask, torch.from_numpy(x != 0))


def test_merge_layers_combine_the_masks():
    a = ft.layers.Embedding(20, 4, mask_zero=True)
    b = ft.layers.Embedding(20, 4, mask_zero=True)
    x1 = torch.tensor([[1, 2, 0, 0]])
    x2 = torch.tensor([[3, 0, 0, 0]])
    added = ft.layers.Add()([a(x1), b(x2)])
    assert added._keras_mask.tolist() == [[True, False, False, False]]
    joined = ft.layers.Concatenate(axis=1)([a(x1), b(x2)])  # along time: not one mask
    assert getattr(joined, "_keras_mask", None) is None
