"""Conv3D, transposed, depthwise and separable convolutions and 3D pooling against Keras 3
(torch backend, channels_first)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import torch

import fitorch as ft
from fitorch.layers import (
    AveragePooling3D,
    Conv1DTranspose,
    Conv2DTranspose,
    Conv3D,
    Conv3DTranspose,
    DepthwiseConv1D,
    DepthwiseConv2D,
    GlobalAveragePooling3D,
    GlobalMaxPooling3D,
    MaxPooling3D,
    SeparableConv1D,
    SeparableConv2D,
)
from layer_checks import assert_close, assert_round_trips, assert_same_params, data, keras_weights

CF = "channels_first"


def _twin(ref, ours, x, **call):
    expected = ref(x, **call)
    ours.set_keras_weights(keras_weights(ref))
    out = ours(torch.from_numpy(x))
    assert_close(out, expected)
    assert_same_params(ours, ref)
    for a, b in zip(ours.get_keras_weights(), keras_weights(ref)):
        np.testing.assert_array_equal(a, b)
    return out


TRANSPOSE_CASES = [
    dict(kernel_size=3),
    dict(kernel_size=3, strides=2),
    dict(kernel_size=2, strides=3),  # stride > kernel: Keras pads the output
    dict(kernel_size=3, strides=2, padding="same"),
    dict(kernel_size=4, strides=2, padding="same"),
    dict(kernel_size=5, strides=2, padding="same", output_padding=1),
    dict(kernel_size=3, strides=2, padding="valid", output_padding=1),
    dict(kernel_size=3, strides=3, padding="same", output_padding=0),
    dict(kernel_size=1, strides=3, padding="same", output_padding=2),  # window past the result
    dict(kernel_size=3, dilation_rate=2, padding="same"),
]


@pytest.mark.parametrize("kwargs", TRANSPOSE_CASES)
def test_conv2d_transpose_matches_keras(kwargs):
    ref = keras.layers.Conv2DTranspose(4, data_format=CF, bias_initializer="random_normal",
                                       **kwargs)
    ours = Conv2DTranspose(4, **kwargs)
    out = _twin(ref, ours, data(2, 3, 5, 6))
    assert out.shape[2] == ours.output_length(5, 0) and out.shape[3] == ours.output_length(6, 1)


@pytest.mark.parametrize("kwargs", TRANSPOSE_CASES[:6])
def test_conv1d_transpose_matches_keras(kwargs):
    ref = keras.layers.Conv1DTranspose(3, data_format=CF, bias_initializer="random_normal",
                                       activation="relu", **kwargs)
    _twin(ref, Conv1DTranspose(3, activation="relu", **kwargs), data(2, 4, 7))


def test_conv3d_and_transpose_match_keras():
    x = data(2, 2, 4, 5, 5)
    _twin(keras.layers.Conv3D(3, 2, strides=(1, 2, 2), padding="same", data_format=CF,
                              bias_initializer="random_normal"),
          Conv3D(3, 2, strides=(1, 2, 2), padding="same"), x)
    _twin(keras.layers.Conv3DTranspose(3, 3, strides=2, padding="same", data_format=CF,
                                       bias_initializer="random_normal"),
          Conv3DTranspose(3, 3, strides=2, padding="same"), x)


@pytest.mark.parametrize(
    "kwargs",
    [dict(kernel_size=3), dict(kernel_size=3, depth_multiplier=2, padding="same"),
     dict(kernel_size=(2, 3), strides=2, padding="same", depth_multiplier=3),
     dict(kernel_size=3, dilation_rate=2, activation="relu")],
)
def test_depthwise_conv2d_matches_keras(kwargs):
    ref = keras.layers.DepthwiseConv2D(data_format=CF, bias_initializer="random_normal", **kwargs)
    _twin(ref, DepthwiseConv2D(**kwargs), data(2, 3, 7, 8))


@pytest.mark.parametrize(
    "kwargs",
    [dict(kernel_size=3), dict(kernel_size=3, depth_multiplier=2, padding="same", strides=2)],
)
def test_depthwise_conv1d_matches_keras(kwargs):
    ref = keras.layers.DepthwiseConv1D(data_format=CF, bias_initializer="random_normal", **kwargs)
    _twin(ref, DepthwiseConv1D(**kwargs), data(2, 3, 9))


@pytest.mark.parametrize(
    "kwargs",
    [dict(kernel_size=3), dict(kernel_size=3, depth_multiplier=2, padding="same", strides=2),
     dict(kernel_size=2, use_bias=False, dilation_rate=2)],
)
def test_separable_convs_match_keras(kwargs):
    ref = keras.layers.SeparableConv2D(5, data_format=CF, bias_initializer="random_normal",
                                       **kwargs)
    _twin(ref, SeparableConv2D(5, **kwargs), data(2, 3, 7, 8))
    ref1 = keras.layers.SeparableConv1D(5, data_format=CF, bias_initializer="random_normal",
                                        **kwargs)
    _twin(ref1, SeparableConv1D(5, **kwargs), data(2, 3, 9))


@pytest.mark.parametrize(
    "ours, ref",
    [
        (MaxPooling3D(), keras.layers.MaxPooling3D(data_format=CF)),
        (MaxPooling3D(3, strides=2, padding="same"),
         keras.layers.MaxPooling3D(3, strides=2, padding="same", data_format=CF)),
        (AveragePooling3D((2, 2, 1)), keras.layers.AveragePooling3D((2, 2, 1), data_format=CF)),
        (GlobalMaxPooling3D(), keras.layers.GlobalMaxPooling3D(data_format=CF)),
        (GlobalAveragePooling3D(keepdims=True),
         keras.layers.GlobalAveragePooling3D(data_format=CF, keepdims=True)),
    ],
)
def test_3d_pooling_matches_keras(ours, ref):
    x = data(2, 3, 4, 5, 6)
    assert_close(ours(torch.from_numpy(x)), ref(x))


def test_transpose_initializer_fans_follow_keras_kernel():
    # Keras's kernel (*k, filters, in): fan_in = filters * k, so the limit depends on filters.
    layer = Conv1DTranspose(64, 3, kernel_initializer="he_uniform")
    layer.build((None, 2, 5))
    limit = np.sqrt(6 / (64 * 3))
    assert layer.weight.abs().max().item() <= limit
    assert layer.weight.abs().max().item() > 0.8 * limit


@pytest.mark.parametrize(
    "factory, match",
    [
        (lambda: Conv2DTranspose(2, 3, strides=2, output_padding=2), "strictly less"),
        (lambda: Conv2DTranspose(2, 3, output_padding=(1,)), "output_padding"),
        (lambda: Conv1DTranspose(2, 3, padding="causal"), "'valid' or"),
        (lambda: Conv2DTranspose(2, 3, strides=2, dilation_rate=2), "dilation_rate"),
        (lambda: DepthwiseConv2D(3, depth_multiplier=0), "depth_multiplier"),
        (lambda: SeparableConv2D(4, 3, depth_multiplier=1.5), "depth_multiplier"),
    ],
)
def test_bad_arguments(factory, match):
    with pytest.raises(ValueError, match=match):
        factory()


def test_wrong_channel_count_is_an_error():
    layer = SeparableConv2D(4, 3)
    layer(torch.zeros(1, 3, 6, 6))
    with pytest.raises(ValueError, match="3 channels on axis 1"):
        layer(torch.zeros(1, 6, 6, 3))
    transposed = Conv2DTranspose(4, 3)
    transposed(torch.zeros(1, 3, 6, 6))
    with pytest.raises(ValueError, match="3 channels on axis 1"):
        transposed(torch.zeros(1, 4, 6, 6))


def test_separable_regularizers_and_constraints():
    layer = SeparableConv1D(2, 3, depthwise_regularizer="l2", pointwise_regularizer="l1",
                            pointwise_constraint="non_neg")
    layer(torch.zeros(1, 2, 5))
    assert len(layer.regularization_losses()) == 2
    layer.apply_constraints()
    assert layer.pointwise_weight.min().item() >= 0


def test_conv_layers_round_trip(tmp_path):
    layers = [Conv2DTranspose(3, 3, strides=2, padding="same", output_padding=1),
              DepthwiseConv2D(3, depth_multiplier=2, padding="same"),
              SeparableConv2D(4, 3, padding="same", bias_initializer="ones")]
    assert_round_trips(layers, torch.from_numpy(data(2, 2, 5, 5)), tmp_path)
    layers3d = [Conv3D(2, 2), Conv3DTranspose(2, 2, strides=2), MaxPooling3D(),
                AveragePooling3D(padding="same"), GlobalMaxPooling3D(keepdims=True),
                GlobalAveragePooling3D()]
    assert_round_trips(layers3d, torch.from_numpy(data(2, 2, 4, 4, 4)), tmp_path)


def test_dcgan_generator_weights_h5_from_keras(tmp_path):
    """The DCGAN generator's upsampling stack, channels-first, with Keras's weights file."""
    z = data(2, 8)
    kgen = keras.Sequential([
        keras.Input((8,)), keras.layers.Dense(4 * 4 * 6), keras.layers.Reshape((6, 4, 4)),
        keras.layers.Conv2DTranspose(4, 4, strides=2, padding="same", data_format=CF),
        keras.layers.LeakyReLU(0.2),
        keras.layers.Conv2DTranspose(2, 4, strides=2, padding="same", data_format=CF),
        keras.layers.Conv2D(1, 5, padding="same", activation="sigmoid", data_format=CF),
    ])
    kgen.save_weights(str(tmp_path / "g.weights.h5"))
    gen = ft.Sequential([
        ft.Input((8,)), ft.layers.Dense(4 * 4 * 6), ft.layers.Reshape((6, 4, 4)),
        Conv2DTranspose(4, 4, strides=2, padding="same"), ft.layers.LeakyReLU(0.2),
        Conv2DTranspose(2, 4, strides=2, padding="same"),
        ft.layers.Conv2D(1, 5, padding="same", activation="sigmoid"),
    ])
    gen.load_weights(tmp_path / "g.weights.h5")
    assert_close(gen(torch.from_numpy(z)), kgen(z))
