"""Reshape, Embedding, Dense's Keras weights, and whole models built from the new layers."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np
import pytest
import torch

import fitorch as ft
from fitorch import regularizers
from fitorch.layers import (
    GRU,
    LSTM,
    BatchNormalization,
    Conv2D,
    Dense,
    Embedding,
    Flatten,
    GlobalAveragePooling2D,
    LayerNormalization,
    MaxPooling2D,
    Reshape,
)

RTOL, ATOL = 1e-5, 1e-6
CF = "channels_first"


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _data(*shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


# --- Reshape ------------------------------------------------------------------------


@pytest.mark.parametrize("target", [(3, 10), (-1, 5), (2, -1, 3), (30,)])
def test_reshape_matches_keras(target):
    x = _data(4, 5, 6)
    expected = _np(keras.layers.Reshape(target)(x))
    out = Reshape(target)(torch.from_numpy(x)).numpy()
    assert out.shape == expected.shape
    np.testing.assert_array_equal(out, expected)


def test_reshape_empty_batch_and_errors():
    assert Reshape((-1, 2))(torch.zeros(0, 3, 4)).shape == (0, 6, 2)
    with pytest.raises(ValueError, match=r'"rs" cannot reshape samples of shape \(5,\)'):
        Reshape((2, 2), name="rs")(torch.zeros(3, 5))
    with pytest.raises(ValueError, match=r'"rs2".*target_shape=\(-1, 3\)'):
        Reshape((-1, 3), name="rs2")(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="single unknown"):
        Reshape((-1, -1))
    with pytest.raises(ValueError, match="target_shape"):
        Reshape((2, -4))
    with pytest.raises(TypeError, match="target_shape=3"):
        Reshape(3)  # type: ignore[arg-type]
    layer = Reshape([2, -1])
    assert Reshape.from_config(layer.get_config()).target_shape == (2, -1)
    assert layer.get_keras_weights() == [] and layer.keras_param_counts() == (0, 0)


# --- Embedding ----------------------------------------------------------------------


def test_embedding_matches_keras_and_counts():
    ref = keras.layers.Embedding(12, 5)
    ids = np.random.default_rng(0).integers(0, 12, size=(3, 7))
    expected = _np(ref(ids))
    layer = Embedding(12, 5)
    layer.set_keras_weights([_np(w) for w in ref.weights])
    np.testing.assert_array_equal(layer(torch.from_numpy(ids)).detach().numpy(), expected)
    np.testing.assert_array_equal(layer(torch.from_numpy(ids).float()).detach().numpy(),
                                  expected)  # float indices are truncated, as Keras casts
    assert sum(layer.keras_param_counts()) == ref.count_params() == 60
    np.testing.assert_array_equal(layer.get_keras_weights()[0], _np(ref.embeddings))


def test_embedding_default_initializer_is_keras_uniform():
    layer = Embedding(200, 50)
    assert layer.weight.shape == (200, 50)
    assert layer.weight.abs().max().item() <= 0.05
    assert layer.weight.std().item() == pytest.approx(0.1 / 12**0.5, rel=0.05)
    assert Embedding(3, 2, embeddings_initializer="ones").weight.sum().item() == 6.0


def test_embedding_mask_and_weights_argument():
    table = np.arange(6, dtype="float32").reshape(3, 2)
    layer = Embedding(3, 2, mask_zero=True, weights=table)
    x = torch.tensor([[2, 0, 1]])
    out = layer(x)
    np.testing.assert_array_equal(out.detach().numpy()[0], table[[2, 0, 1]])
    assert out._keras_mask.tolist() == [[True, False, True]]
    assert layer.compute_mask(x).tolist() == [[True, False, True]]
    assert Embedding(3, 2).compute_mask(x) is None
    assert not hasattr(Embedding(3, 2)(x), "_keras_mask")
    with pytest.warns(UserWarning, match="input_length"):
        Embedding(3, 2, input_length=5)


def test_embedding_regularizer_and_constraint_match_keras():
    ref = keras.layers.Embedding(6, 3, embeddings_regularizer=keras.regularizers.L2(0.1),
                                 embeddings_constraint=keras.constraints.MaxNorm(0.1),
                                 embeddings_initializer="random_normal")
    ref.build()
    layer = Embedding(6, 3, embeddings_regularizer=regularizers.L2(0.1),
                      embeddings_constraint="max_norm")
    layer.embeddings_constraint.max_value = 0.1
    layer.set_keras_weights([_np(ref.embeddings)])
    np.testing.assert_allclose(layer.regularization_losses()[0].item(), float(_np(ref.losses[0])),
                               rtol=1e-5)
    layer.apply_constraints()
    expected = _np(ref.embeddings_constraint(ref.embeddings))
    np.testing.assert_allclose(layer.get_keras_weights()[0], expected, rtol=RTOL, atol=ATOL)


def test_embedding_errors():
    with pytest.raises(ValueError, match="input_dim=-1"):
        Embedding(-1, 2)
    with pytest.raises(ValueError, match="output_dim=0"):
        Embedding(3, 0)
    with pytest.raises(ValueError, match=r'"emb" weight "embeddings" has shape \(3, 2\)'):
        Embedding(3, 2, name="emb").set_keras_weights([np.zeros((2, 3))])
    layer = Embedding(4, 2, mask_zero=True, name="e")
    assert Embedding.from_config(layer.get_config()).get_config() == layer.get_config()


# --- Dense's Keras weights ----------------------------------------------------------


def test_dense_keras_weights_round_trip_and_lazy_build():
    ref = keras.layers.Dense(3, bias_initializer="random_normal")
    ref.build((None, 4))
    layer = Dense(3)
    layer.set_keras_weights([_np(w) for w in ref.weights])
    assert layer.built and layer.weight.shape == (3, 4)
    x = _data(2, 4)
    np.testing.assert_allclose(layer(torch.from_numpy(x)).detach().numpy(), _np(ref(x)),
                               rtol=RTOL, atol=ATOL)
    kernel, bias = layer.get_keras_weights()
    np.testing.assert_array_equal(kernel, _np(ref.kernel))
    np.testing.assert_array_equal(bias, _np(ref.bias))
    kernel[0, 0] = 123.0  # a copy, not a view of the parameter
    assert layer.weight[0, 0].item() != 123.0
    assert layer.keras_param_counts() == (15, 0) == (ref.count_params(), 0)
    no_bias = Dense(2, use_bias=False, input_dim=3, name="nb")
    assert [w.shape for w in no_bias.get_keras_weights()] == [(3, 2)]
    with pytest.raises(ValueError, match=r'"nb" expects 1 weights \(kernel\)'):
        no_bias.set_keras_weights([np.zeros((3, 2)), np.zeros(2)])
    with pytest.raises(TypeError, match='"nb" expects its weights as a list'):
        no_bias.set_keras_weights(np.zeros((3, 2)))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match='"d0" has no weights yet'):
        Dense(2, name="d0").get_keras_weights()
    with pytest.raises(TypeError, match='"d1" expects its weights as a list'):
        Dense(2, name="d1").set_keras_weights(np.zeros((3, 2)))  # type: ignore[arg-type]


# --- whole models -------------------------------------------------------------------


def _keras_cnn() -> keras.Model:
    keras.utils.set_random_seed(1)
    return keras.Sequential([
        keras.Input((3, 12, 12)),
        keras.layers.Conv2D(8, 3, padding="same", activation="relu", data_format=CF),
        keras.layers.BatchNormalization(axis=1),
        keras.layers.MaxPooling2D(2, data_format=CF),
        keras.layers.Conv2D(6, 4, strides=2, padding="same", data_format=CF),
        keras.layers.LayerNormalization(axis=[1, 2, 3]),
        keras.layers.GlobalAveragePooling2D(data_format=CF),
        keras.layers.Dense(4),
    ])


def _fitorch_cnn() -> ft.Sequential:
    return ft.Sequential([
        ft.Input(shape=(3, 12, 12)),
        Conv2D(8, 3, padding="same", activation="relu"),
        BatchNormalization(),
        MaxPooling2D(2),
        Conv2D(6, 4, strides=2, padding="same"),
        LayerNormalization(axis=[1, 2, 3]),
        GlobalAveragePooling2D(),
        Dense(4),
    ])


def test_keras_cnn_weights_load_layer_by_layer_and_predict_the_same():
    ref = _keras_cnn()
    bn = ref.layers[1]
    bn.moving_mean.assign(np.linspace(-1, 1, 8).astype("float32"))
    bn.moving_variance.assign(np.linspace(0.5, 2, 8).astype("float32"))
    model = _fitorch_cnn()
    for theirs, ours in zip(ref.layers, model.layers, strict=True):
        ours.set_keras_weights([_np(w) for w in theirs.weights])
    x = _data(5, 3, 12, 12)
    np.testing.assert_allclose(model.predict(x, verbose=0), _np(ref(x, training=False)),
                               rtol=1e-5, atol=1e-5)
    counts = [layer.keras_param_counts() for layer in model.layers]
    assert sum(t for t, _ in counts) == sum(int(np.prod(w.shape)) for w in ref.trainable_weights)
    assert sum(n for _, n in counts) == 16  # BatchNormalization's moving statistics
    assert sum(map(sum, counts)) == ref.count_params()


def test_cnn_with_batch_norm_trains_with_fit():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3, 12, 12)).astype("float32")
    y = (x[:, 0].mean(axis=(1, 2)) > 0).astype("int64")
    model = _fitorch_cnn()
    model.compile(optimizer="adam",
                  loss=ft.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    bn = model.layers[1]
    start = bn.running_mean.clone()
    history = model.fit(x, y, batch_size=16, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert not torch.equal(bn.running_mean, start)  # updated in the train step
    first = model.predict(x[:8], verbose=0)
    np.testing.assert_array_equal(first, model.predict(x[:8], verbose=0))  # eval mode: no update


def test_text_model_with_embedding_and_recurrent_layers_fits():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 20, size=(48, 6))
    x[:, 4:] = 0  # padding, masked by the embedding
    y = (x[:, 0] > 9).astype("float32")[:, None]
    model = ft.Sequential([
        Embedding(20, 8, mask_zero=True),
        GRU(8, return_sequences=True),
        LSTM(4),
        Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    history = model.fit(x, y, batch_size=16, epochs=4, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    # The padding is masked: padded sequences predict what their unpadded start does.
    np.testing.assert_allclose(model.predict(x[:4], verbose=0),
                               model.predict(x[:4, :4], verbose=0), rtol=1e-5, atol=1e-6)


def test_flatten_reshape_dense_stack_builds_from_input():
    model = ft.Sequential([ft.Input(shape=(2, 6)), Reshape((3, 4)), Flatten(), Dense(2)])
    assert model.predict(np.zeros((3, 2, 6), dtype="float32"), verbose=0).shape == (3, 2)
