"""Activation layers (ReLU, LeakyReLU, PReLU, ELU, Softmax) against Keras 3 (torch backend)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import torch

import fitorch as ft
from fitorch.layers import ELU, LeakyReLU, PReLU, ReLU, Softmax
from layer_checks import (
    assert_close,
    assert_round_trips,
    assert_same_params,
    channels_first,
    channels_last,
    data,
    keras_weights,
)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        dict(max_value=6.0),
        dict(max_value=0.5),
        dict(negative_slope=0.1),
        dict(threshold=0.3),
        dict(negative_slope=0.2, threshold=0.5),
        dict(max_value=1.0, negative_slope=0.1, threshold=0.2),
    ],
)
def test_relu_matches_keras(kwargs):
    x = data(4, 7) * 2
    assert_close(ReLU(**kwargs)(torch.from_numpy(x)), keras.layers.ReLU(**kwargs)(x))


@pytest.mark.parametrize(
    "ours, ref",
    [
        (LeakyReLU(), keras.layers.LeakyReLU()),
        (LeakyReLU(negative_slope=0.01), keras.layers.LeakyReLU(negative_slope=0.01)),
        (ELU(), keras.layers.ELU()),
        (ELU(alpha=0.5), keras.layers.ELU(alpha=0.5)),
        (Softmax(), keras.layers.Softmax()),
        (Softmax(axis=1), keras.layers.Softmax(axis=1)),
        (Softmax(axis=(1, 2)), keras.layers.Softmax(axis=(1, 2))),
    ],
)
def test_elementwise_layers_match_keras(ours, ref):
    x = data(2, 3, 5)
    assert_close(ours(torch.from_numpy(x)), ref(x))
    assert ours.keras_param_counts() == (0, 0) and ours.get_keras_weights() == []


def test_softmax_mask_matches_keras():
    x = data(2, 3, 4)
    mask = np.random.default_rng(1).random((2, 1, 4)) > 0.4
    mask[0, 0] = False  # a fully masked row: zeros, as Keras gives
    expected = keras.layers.Softmax()(x, mask=mask)
    assert_close(Softmax()(torch.from_numpy(x), mask=torch.from_numpy(mask)), expected)
    with pytest.raises(ValueError, match="broadcastable"):
        Softmax()(torch.from_numpy(x), mask=torch.ones(2, 3, 5, dtype=torch.bool))


@pytest.mark.parametrize(
    "cf_shape, keras_shared, ours_shared",
    [
        ((2, 5), None, None),
        ((2, 3, 6), [1], [2]),  # (N, C, L): one slope per channel
        ((2, 3, 4, 5), [1, 2], [2, 3]),  # (N, C, H, W): one slope per channel
        ((2, 3, 4, 5), None, None),  # one slope per position and channel
    ],
)
def test_prelu_matches_keras_channels_last(cf_shape, keras_shared, ours_shared):
    x = data(*cf_shape)
    x_cl = channels_last(x) if x.ndim > 2 else x
    ref = keras.layers.PReLU(alpha_initializer="random_normal", shared_axes=keras_shared)
    expected = keras.ops.convert_to_numpy(ref(x_cl))
    ours = PReLU(shared_axes=ours_shared)
    ours.set_keras_weights(keras_weights(ref))
    out = ours(torch.from_numpy(x)).detach().numpy()
    assert_close(channels_last(out) if x.ndim > 2 else out, expected)
    assert_same_params(ours, ref)
    for a, b in zip(ours.get_keras_weights(), keras_weights(ref)):
        np.testing.assert_array_equal(a, b)


def test_prelu_lazy_build_regularizer_constraint_and_errors():
    layer = PReLU(alpha_initializer="ones", alpha_regularizer="l2", alpha_constraint="non_neg",
                  shared_axes=2)
    out = layer(torch.tensor([[[-2.0], [1.0]]]))
    assert layer.alpha.shape == (2, 1)
    assert torch.equal(out, torch.tensor([[[-2.0], [1.0]]]))
    (penalty,) = layer.regularization_losses()
    assert penalty.item() == pytest.approx(0.02)
    with torch.no_grad():
        layer.alpha.fill_(-1.0)
    layer.apply_constraints()
    assert layer.alpha.min().item() == 0.0
    with pytest.raises(ValueError, match="alpha has shape"):
        layer(torch.zeros(1, 3, 2))
    with pytest.raises(ValueError, match="shared_axes"):
        PReLU(shared_axes=[0])
    with pytest.raises(ValueError, match="rank"):
        PReLU(shared_axes=3)(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="no weights yet"):
        PReLU().get_keras_weights()


@pytest.mark.parametrize(
    "factory, match",
    [
        (lambda: ReLU(max_value=-1.0), "max_value"),
        (lambda: ReLU(negative_slope=-0.1), "negative_slope"),
        (lambda: ReLU(threshold=None), "threshold"),
        (lambda: LeakyReLU(negative_slope=-1), "negative_slope"),
        (lambda: ELU(alpha="1"), "alpha"),
        (lambda: Softmax(axis=()), "axis"),
        (lambda: Softmax(axis=1.0), "axis"),
    ],
)
def test_bad_arguments(factory, match):
    with pytest.raises(ValueError, match=match):
        factory()


def test_activation_layers_round_trip(tmp_path):
    layers = [ReLU(max_value=2.0, negative_slope=0.1, threshold=0.1), LeakyReLU(0.2),
              PReLU(alpha_initializer="random_uniform", shared_axes=[2]), ELU(0.7),
              Softmax(axis=1)]
    assert_round_trips(layers, torch.from_numpy(data(3, 4, 5)), tmp_path)


def test_prelu_weights_h5_from_keras(tmp_path):
    x = data(2, 3, 4, 4)
    kmodel = keras.Sequential([keras.Input((4, 4, 3)),
                               keras.layers.PReLU(alpha_initializer="random_normal",
                                                  shared_axes=[1, 2])])
    kmodel.save_weights(str(tmp_path / "k.weights.h5"))
    ours = ft.Sequential([PReLU(shared_axes=[2, 3])])
    ours(torch.from_numpy(x))
    ours.load_weights(tmp_path / "k.weights.h5")
    out = ours(torch.from_numpy(x)).detach().numpy()
    assert_close(out, channels_first(keras.ops.convert_to_numpy(kmodel(channels_last(x)))))
