"""UnitNormalization, GroupNormalization, Masking, Rescaling and Normalization against Keras 3."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import torch

import fitorch as ft
from fitorch.layers import (
    LSTM,
    GroupNormalization,
    Masking,
    Normalization,
    Rescaling,
    UnitNormalization,
)
from layer_checks import (
    assert_close,
    assert_round_trips,
    assert_same_params,
    channels_last,
    data,
    keras_weights,
)


@pytest.mark.parametrize("axis", [-1, 1, [1, 2]])
def test_unit_normalization_matches_keras(axis):
    x = data(3, 4, 5)
    x[0, 0] = 0.0
    assert_close(UnitNormalization(axis)(torch.from_numpy(x)),
                 keras.layers.UnitNormalization(axis)(x))


@pytest.mark.parametrize("groups", [1, 2, -1])
@pytest.mark.parametrize("shape", [(2, 4, 3, 3), (2, 4, 5), (3, 4)])
def test_group_normalization_matches_keras_channels_last(groups, shape):
    x = data(*shape) * 3 + 1
    ref = keras.layers.GroupNormalization(groups=groups, gamma_initializer="random_normal",
                                          beta_initializer="random_normal")
    x_cl = channels_last(x) if x.ndim > 2 else x
    expected = keras.ops.convert_to_numpy(ref(x_cl))
    ours = GroupNormalization(groups=groups)
    ours.set_keras_weights(keras_weights(ref))
    out = ours(torch.from_numpy(x)).detach().numpy()
    assert_close(channels_last(out) if x.ndim > 2 else out, expected, atol=1e-4)
    assert_same_params(ours, ref)


def test_group_normalization_other_axis_center_scale_and_errors():
    x = data(2, 3, 6)
    ref = keras.layers.GroupNormalization(groups=3, axis=-1, center=False,
                                          gamma_initializer="random_normal")
    expected = ref(x)
    ours = GroupNormalization(groups=3, axis=-1, center=False)
    ours.set_keras_weights(keras_weights(ref))
    assert_close(ours(torch.from_numpy(x)), expected, atol=1e-4)
    with pytest.raises(ValueError, match="multiple of `groups`"):
        GroupNormalization(groups=4)(torch.zeros(2, 6, 3))
    with pytest.raises(ValueError, match="groups"):
        GroupNormalization(groups=0)
    plain = GroupNormalization(groups=2, center=False, scale=False)
    assert plain(torch.randn(2, 4, 3)).shape == (2, 4, 3) and plain.built


def test_masking_matches_keras_and_feeds_the_lstm():
    x = data(2, 5, 3)
    x[0, 3:] = 0.0
    x[1, 1] = 0.0
    expected = keras.layers.Masking()(x)
    out = Masking()(torch.from_numpy(x))
    assert_close(out, expected)
    assert out._keras_mask.tolist() == [[True, True, True, False, False],
                                         [True, False, True, True, True]]
    kmodel = keras.Sequential([keras.Input((5, 3)), keras.layers.Masking(),
                               keras.layers.LSTM(4, bias_initializer="random_normal")])
    lstm = LSTM(4)
    lstm.set_keras_weights(keras_weights(kmodel.layers[-1]))
    assert_close(torch.nn.Sequential(Masking(), lstm)(torch.from_numpy(x)), kmodel(x))


@pytest.mark.parametrize("scale, offset", [(1 / 255, 0.0), (2.0, -1.0), ([1.0, 2.0, 3.0], 0.5)])
def test_rescaling_matches_keras(scale, offset):
    x = np.random.default_rng(0).integers(0, 255, size=(2, 4, 3)).astype("uint8")
    expected = keras.layers.Rescaling(scale, offset)(x)
    assert_close(Rescaling(scale, offset)(torch.from_numpy(x)), expected)


@pytest.mark.parametrize("axis", [-1, None, (1, 2), 1])
def test_normalization_adapt_matches_keras(axis):
    x = data(20, 3, 4) * 5 + 2
    ref = keras.layers.Normalization(axis=axis)
    ref.adapt(x)
    ours = Normalization(axis=axis)
    ours.adapt([torch.from_numpy(x[:7]), x[7:]])  # batches, tensors and arrays
    assert_close(ours(torch.from_numpy(x)), ref(x), atol=1e-4)
    mean, variance, count = ours.get_keras_weights()
    k_mean, k_variance, k_count = keras_weights(ref)  # Keras leaves its count at 0
    np.testing.assert_allclose(mean, k_mean, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(variance, k_variance, rtol=1e-5, atol=1e-5)
    assert count.shape == k_count.shape and count.dtype == k_count.dtype and count == 20 * 12 // (
        mean.size or 1)
    assert_same_params(ours, ref)


def test_normalization_given_statistics_and_invert_match_keras():
    x = data(4, 3)
    for kwargs in (dict(mean=[1.0, 2.0, 3.0], variance=[1.0, 4.0, 9.0]),
                   dict(mean=2.0, variance=4.0, invert=True)):
        assert_close(Normalization(**kwargs)(torch.from_numpy(x)),
                     keras.layers.Normalization(**kwargs)(x))


def test_normalization_errors():
    fresh = Normalization()
    assert not fresh.adapted and torch.equal(fresh(torch.ones(2, 3)), torch.ones(2, 3))
    with pytest.raises(ValueError, match="both `mean` and `variance`"):
        Normalization(mean=1.0)
    with pytest.raises(ValueError, match="batch axis"):
        Normalization(axis=0)
    with pytest.raises(ValueError, match="no data"):
        Normalization().adapt([])
    with pytest.raises(ValueError, match="sizes"):
        Normalization().adapt([np.zeros((2, 3)), np.zeros((2, 4))])


def test_normalization_weights_h5_from_keras(tmp_path):
    x = data(10, 3) * 4 + 1
    layer = keras.layers.Normalization()
    layer.adapt(x)
    kmodel = keras.Sequential([keras.Input((3,)), layer, keras.layers.Dense(2)])
    kmodel.save_weights(str(tmp_path / "k.weights.h5"))
    ours = ft.Sequential([ft.Input((3,)), Normalization(), ft.layers.Dense(2)])
    ours.load_weights(tmp_path / "k.weights.h5")
    assert_close(ours(torch.from_numpy(x)), kmodel(x), atol=1e-4)


def test_layers_round_trip(tmp_path):
    norm = Normalization(axis=1)
    norm.adapt(data(8, 4, 3))
    layers = [Rescaling(0.5, 1.0), norm, GroupNormalization(groups=2), UnitNormalization(),
              Masking(0.5)]
    assert_round_trips(layers, torch.from_numpy(data(2, 4, 3)), tmp_path)
