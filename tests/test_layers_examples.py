"""The Keras site's text-classification model, channels-first: the same weights file and
the same predictions as Keras, and it trains."""

from __future__ import annotations

import keras
import numpy as np
import torch

import fitorch as ft
from fitorch import layers
from layer_checks import assert_close


def test_text_classification_from_scratch(tmp_path):
    """keras.io/examples/nlp/text_classification_from_scratch, smaller; a Permute puts the
    embedding's features on the channel axis that fitorch's Conv1D reads."""
    tokens = np.random.default_rng(0).integers(1, 100, size=(8, 40))
    labels = np.array([0, 1] * 4)
    kmodel = keras.Sequential([
        keras.Input((None,), dtype="int64"), keras.layers.Embedding(100, 8),
        keras.layers.Dropout(0.5),
        keras.layers.Conv1D(8, 7, padding="valid", activation="relu", strides=3),
        keras.layers.Conv1D(8, 3, padding="valid", activation="relu", strides=2),
        keras.layers.GlobalMaxPooling1D(), keras.layers.Dense(8, activation="relu"),
        keras.layers.Dropout(0.5), keras.layers.Dense(1, activation="sigmoid"),
    ])
    kmodel.save_weights(str(tmp_path / "k.weights.h5"))
    model = ft.Sequential([
        ft.Input((40,), dtype=torch.int64), layers.Embedding(100, 8), layers.Dropout(0.5),
        layers.Permute((2, 1)),  # (batch, steps, features) -> (batch, channels, steps)
        layers.Conv1D(8, 7, padding="valid", activation="relu", strides=3),
        layers.Conv1D(8, 3, padding="valid", activation="relu", strides=2),
        layers.GlobalMaxPooling1D(), layers.Dense(8, activation="relu"),
        layers.Dropout(0.5), layers.Dense(1, activation="sigmoid"),
    ])
    model.load_weights(tmp_path / "k.weights.h5")
    expected = kmodel.predict(tokens, verbose=0)
    assert_close(model.predict(tokens, verbose=0), expected)
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    history = model.fit(tokens, labels, epochs=2, batch_size=4, verbose=0)
    assert len(history.history["accuracy"]) == 2
