"""Structure and noise layers and TimeDistributed against Keras 3 (torch backend)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import torch

import fitorch as ft
from fitorch.layers import (
    ActivityRegularization,
    AlphaDropout,
    BatchNormalization,
    Conv2D,
    Cropping1D,
    Cropping2D,
    Dense,
    GaussianDropout,
    GaussianNoise,
    Identity,
    Lambda,
    Permute,
    RepeatVector,
    SpatialDropout1D,
    SpatialDropout2D,
    TimeDistributed,
    UpSampling1D,
    UpSampling2D,
    ZeroPadding1D,
    ZeroPadding2D,
)
from layer_checks import (
    assert_close,
    assert_round_trips,
    assert_same_params,
    channels_last,
    data,
    keras_weights,
    to_np,
)

CF = "channels_first"


def _t(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(x)


# --- shape layers -------------------------------------------------------------------


@pytest.mark.parametrize("dims", [(2, 1), (1, 3, 2), (3, 1, 2)])
def test_permute_matches_keras(dims):
    x = data(2, 3, 4) if len(dims) == 2 else data(2, 3, 4, 5)
    assert_close(Permute(dims)(_t(x)), keras.layers.Permute(dims)(x))


def test_repeat_vector_and_identity_match_keras():
    x = data(3, 4)
    assert_close(RepeatVector(5)(_t(x)), keras.layers.RepeatVector(5)(x))
    assert_close(Identity()(_t(x)), keras.layers.Identity()(x))


@pytest.mark.parametrize("arg", [1, (2, 0), (0, 3)])
def test_cropping1d_and_zero_padding1d_match_keras_channels_last(arg):
    x = data(2, 3, 8)  # (batch, channels, steps)
    expected = keras.layers.Cropping1D(arg)(channels_last(x))
    assert_close(channels_last(to_np(Cropping1D(arg)(_t(x)))), expected)
    expected = keras.layers.ZeroPadding1D(arg)(channels_last(x))
    assert_close(channels_last(to_np(ZeroPadding1D(arg)(_t(x)))), expected)


@pytest.mark.parametrize("arg", [1, (2, 1), ((1, 0), (0, 2))])
def test_cropping2d_and_zero_padding2d_match_keras(arg):
    x = data(2, 3, 6, 7)
    assert_close(Cropping2D(arg)(_t(x)), keras.layers.Cropping2D(arg, data_format=CF)(x))
    assert_close(ZeroPadding2D(arg)(_t(x)), keras.layers.ZeroPadding2D(arg, data_format=CF)(x))


@pytest.mark.parametrize("size", [2, 3])
def test_upsampling1d_matches_keras_channels_last(size):
    x = data(2, 3, 5)
    expected = keras.layers.UpSampling1D(size)(channels_last(x))
    assert_close(channels_last(to_np(UpSampling1D(size)(_t(x)))), expected)


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear", "bicubic"])
@pytest.mark.parametrize("size", [2, (2, 3)])
def test_upsampling2d_matches_keras(interpolation, size):
    x = data(2, 3, 4, 5)
    ref = keras.layers.UpSampling2D(size, data_format=CF, interpolation=interpolation)
    assert_close(UpSampling2D(size, interpolation=interpolation)(_t(x)), ref(x))


@pytest.mark.parametrize(
    "factory, match",
    [
        (lambda: Permute((1, 3)), "consecutive"),
        (lambda: RepeatVector(0), "`n`"),
        (lambda: Cropping1D((1, 2, 3)), "cropping"),
        (lambda: Cropping2D(((1, 2), 3)), "cropping"),
        (lambda: ZeroPadding2D(-1), "padding"),
        (lambda: ZeroPadding2D(1, data_format="channels_last"), "channels-first"),
        (lambda: UpSampling1D(0), "size"),
        (lambda: UpSampling2D(interpolation="lanczos3"), "interpolation"),
        (lambda: Lambda(3), "callable"),
        (lambda: GaussianNoise(-1.0), "stddev"),
        (lambda: GaussianDropout(1.0), "rate"),
        (lambda: AlphaDropout(0.1, seed=1.5), "seed"),
        (lambda: ActivityRegularization(l1=-1), "l1"),
        (lambda: TimeDistributed("dense"), "Module"),
    ],
)
def test_bad_arguments(factory, match):
    with pytest.raises((ValueError, TypeError), match=match):
        factory()


@pytest.mark.parametrize(
    "layer, shape, match",
    [
        (Permute((2, 1)), (2, 3), "rank 3"),
        (RepeatVector(2), (2, 3, 4), "rank 2"),
        (Cropping1D((2, 2)), (1, 2, 4), "nothing would be left"),
        (ZeroPadding2D(1), (2, 3, 4), "rank 4"),
        (UpSampling2D(), (2, 3, 4), "channels first"),
        (SpatialDropout2D(0.5), (2, 3, 4), "rank 4"),
        (TimeDistributed(Dense(2)), (2, 3), "rank >= 3"),
    ],
)
def test_bad_inputs(layer, shape, match):
    with pytest.raises(ValueError, match=match):
        layer.train()(torch.zeros(shape))


def test_lambda_passes_arguments_and_training():
    seen = []

    def fn(x, scale, training):
        seen.append(training)
        return x * scale

    layer = Lambda(fn, arguments={"scale": 3.0})
    assert torch.equal(layer.train()(torch.ones(2)), torch.full((2,), 3.0))
    layer.eval()(torch.ones(2))
    assert seen == [True, False]


# --- noise and regularization -------------------------------------------------------


@pytest.mark.parametrize(
    "ours, ref",
    [
        (SpatialDropout1D(0.4), keras.layers.SpatialDropout1D(0.4)),
        (SpatialDropout2D(0.4), keras.layers.SpatialDropout2D(0.4, data_format=CF)),
        (GaussianNoise(0.5), keras.layers.GaussianNoise(0.5)),
        (GaussianDropout(0.3), keras.layers.GaussianDropout(0.3)),
        (AlphaDropout(0.2), keras.layers.AlphaDropout(0.2)),
    ],
)
def test_noise_layers_are_identity_in_inference(ours, ref):
    x = data(2, 3, 4) if "1D" in type(ours).__name__ else data(2, 3, 4, 5)
    assert_close(ours.eval()(_t(x)), ref(x, training=False), rtol=0, atol=0)


def test_spatial_dropout_drops_whole_channels():
    out = SpatialDropout2D(0.5, seed=3).train()(torch.ones(64, 16, 3, 3))
    per_channel = out.flatten(2)
    assert torch.all((per_channel == 0).all(-1) | (per_channel == 2).all(-1))
    assert 0.4 < (per_channel[..., 0] == 0).float().mean().item() < 0.6
    out1d = SpatialDropout1D(0.5).train()(torch.ones(32, 16, 5))
    assert torch.all((out1d == 0).all(-1) | (out1d == 2).all(-1))


@pytest.mark.parametrize(
    "ours, ref",
    [
        (GaussianNoise(0.5), keras.layers.GaussianNoise(0.5, seed=1)),
        (GaussianDropout(0.3), keras.layers.GaussianDropout(0.3, seed=1)),
        (AlphaDropout(0.2), keras.layers.AlphaDropout(0.2, seed=1)),
    ],
)
def test_noise_layers_training_statistics_match_keras(ours, ref):
    x = np.abs(data(200, 500)) + 0.5
    out = to_np(ours.train()(_t(x)))
    expected = to_np(ref(x, training=True))
    assert abs(out.mean() - expected.mean()) < 0.01
    assert abs(out.std() - expected.std()) < 0.01
    assert not np.allclose(out, x)


def test_seeded_noise_is_reproducible():
    a = GaussianNoise(1.0, seed=7).train()
    b = GaussianNoise(1.0, seed=7).train()
    x = torch.zeros(4, 5)
    assert torch.equal(a(x), b(x)) and torch.equal(a(x), b(x))
    assert not torch.equal(a(x), GaussianNoise(1.0, seed=8).train()(x))


def test_activity_regularization_matches_keras_losses():
    x = data(4, 6)
    ref = keras.layers.ActivityRegularization(l1=0.01, l2=0.05)
    ref(x)
    ours = ActivityRegularization(l1=0.01, l2=0.05)
    assert torch.equal(ours(_t(x)), _t(x))
    (penalty,) = ours.regularization_losses()
    assert_close(penalty, ref.losses[0])


def test_activity_regularization_is_added_to_the_loss():
    x, y = data(16, 3), data(16, 2, seed=1)
    kmodel = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2),
                               keras.layers.ActivityRegularization(l1=0.1, l2=0.2)])
    kmodel.compile(loss="mse")
    dense = Dense(2)
    dense.set_keras_weights(keras_weights(kmodel.layers[0]))
    model = ft.Sequential([ft.Input((3,)), dense, ActivityRegularization(l1=0.1, l2=0.2)])
    model.compile(loss="mse")
    expected = kmodel.evaluate(x, y, batch_size=16, verbose=0)
    assert model.evaluate(x, y, batch_size=16, verbose=0) == pytest.approx(expected, rel=1e-5)
    plain = ft.Sequential([ft.Input((3,)), dense])
    plain.compile(loss="mse")
    assert plain.evaluate(x, y, batch_size=16, verbose=0) < expected - 0.1


# --- TimeDistributed ----------------------------------------------------------------


def test_time_distributed_dense_matches_keras():
    x = data(2, 5, 3)
    ref = keras.layers.TimeDistributed(keras.layers.Dense(4, bias_initializer="random_normal"))
    expected = ref(x)
    ours = TimeDistributed(Dense(4))
    ours.set_keras_weights(keras_weights(ref))
    assert_close(ours(_t(x)), expected)
    assert_same_params(ours, ref)


def test_time_distributed_conv2d_matches_keras():
    x = data(2, 3, 2, 6, 6)  # (batch, time, channels, h, w)
    ref = keras.layers.TimeDistributed(keras.layers.Conv2D(4, 3, data_format=CF))
    expected = ref(x)
    ours = TimeDistributed(Conv2D(4, 3))
    ours.set_keras_weights(keras_weights(ref))
    assert_close(ours(_t(x)), expected)


def test_time_distributed_batch_norm_uses_per_step_statistics_in_training():
    x = data(4, 3, 5) + np.arange(3, dtype="float32")[None, :, None]
    ref = keras.layers.TimeDistributed(keras.layers.BatchNormalization())
    expected = ref(x, training=True)
    ours = TimeDistributed(BatchNormalization()).train()
    ours(_t(x))  # build
    gamma, beta = keras_weights(ref.layer)[:2]
    ours.set_keras_weights([gamma, beta, np.zeros(5, "float32"), np.ones(5, "float32")])
    assert_close(ours(_t(x)), expected, atol=1e-4)


def test_time_distributed_weights_h5_from_keras(tmp_path):
    x = data(2, 4, 3)
    kmodel = keras.Sequential([keras.Input((4, 3)), keras.layers.TimeDistributed(
        keras.layers.Dense(2, bias_initializer="random_normal"))])
    kmodel.save_weights(str(tmp_path / "k.weights.h5"))
    ours = ft.Sequential([TimeDistributed(Dense(2))])
    ours(_t(x))
    ours.load_weights(tmp_path / "k.weights.h5")
    assert_close(ours(_t(x)), kmodel(x))
    ours.save_weights(tmp_path / "f.weights.h5")
    kmodel.load_weights(str(tmp_path / "f.weights.h5"))  # and back into Keras


# --- save / load --------------------------------------------------------------------


def test_structure_layers_round_trip(tmp_path):
    layers = [Cropping2D(((1, 0), (0, 1))), ZeroPadding2D((1, 2)),
              UpSampling2D((2, 1), interpolation="bilinear"), SpatialDropout2D(0.3, seed=1),
              GaussianNoise(0.2), GaussianDropout(0.1, seed=2), AlphaDropout(0.1),
              ActivityRegularization(l2=0.1), Identity(), Permute((1, 3, 2)),
              TimeDistributed(Dense(3))]
    assert_round_trips(layers, _t(data(2, 3, 4, 4)), tmp_path)


def test_sequence_layers_round_trip(tmp_path):
    layers = [Cropping1D((1, 0)), ZeroPadding1D(2), UpSampling1D(2), SpatialDropout1D(0.2),
              ft.layers.Flatten(), RepeatVector(2)]
    assert_round_trips(layers, _t(data(2, 3, 4)), tmp_path)
