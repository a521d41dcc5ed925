"""Conv1D / Conv2D and the pooling layers, checked against Keras 3 (torch, channels_first)."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np
import pytest
import torch
from torch.nn.parameter import UninitializedParameter

from fitorch import regularizers
from fitorch.layers import (
    AveragePooling1D,
    AveragePooling2D,
    Conv1D,
    Conv2D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalMaxPooling2D,
    MaxPooling1D,
    MaxPooling2D,
)
from fitorch.layers.conv import same_padding

RTOL, ATOL = 1e-5, 1e-6
CF = "channels_first"


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _keras_weights(layer) -> list[np.ndarray]:
    return [_np(w) for w in layer.weights]


def _data(*shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _twin(keras_layer, ours, x):
    """Keras's output and ours on `x`, after copying Keras's weights into ours."""
    expected = _np(keras_layer(x))
    if keras_layer.weights:
        ours.set_keras_weights(_keras_weights(keras_layer))
    return ours(torch.from_numpy(x)).detach().numpy(), expected


# --- Conv2D / Conv1D against Keras ------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(kernel_size=3),
        dict(kernel_size=3, padding="same"),
        dict(kernel_size=4, padding="same"),  # even kernel: one extra pad at the end
        dict(kernel_size=4, strides=2, padding="same"),
        dict(kernel_size=3, strides=2, padding="same"),
        dict(kernel_size=(2, 3), strides=(2, 1), padding="same"),
        dict(kernel_size=3, strides=3, padding="valid"),
        dict(kernel_size=3, dilation_rate=2, padding="same"),
        dict(kernel_size=(3, 2), dilation_rate=(1, 3)),
        dict(kernel_size=2, groups=2, padding="same", strides=2),
        dict(kernel_size=3, groups=4, activation="relu", use_bias=False),
    ],
)
def test_conv2d_matches_keras(kwargs):
    x = _data(2, 4, 9, 10)
    ref = keras.layers.Conv2D(8, data_format=CF, bias_initializer="random_normal", **kwargs)
    ours = Conv2D(8, **kwargs)
    out, expected = _twin(ref, ours, x)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=RTOL, atol=ATOL)
    assert sum(ours.keras_param_counts()) == ref.count_params()
    assert ours.keras_param_counts() == (ref.count_params(), 0)
    for mine, theirs in zip(ours.get_keras_weights(), _keras_weights(ref), strict=True):
        np.testing.assert_array_equal(mine, theirs)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(kernel_size=3, padding="same"),
        dict(kernel_size=4, strides=2, padding="same"),
        dict(kernel_size=2, strides=3, padding="same"),
        dict(kernel_size=3, padding="causal", dilation_rate=2),
        dict(kernel_size=5, groups=3),
    ],
)
def test_conv1d_matches_keras(kwargs):
    x = _data(3, 6, 11, seed=1)
    ref = keras.layers.Conv1D(6, data_format=CF, bias_initializer="random_normal", **kwargs)
    out, expected = _twin(ref, Conv1D(6, **kwargs), x)
    np.testing.assert_allclose(out, expected, rtol=RTOL, atol=ATOL)


def test_same_padding_puts_the_odd_element_at_the_end():
    assert same_padding(9, kernel=4, stride=1) == (1, 2)
    assert same_padding(10, kernel=4, stride=2) == (1, 1)
    assert same_padding(9, kernel=4, stride=2) == (1, 2)
    assert same_padding(7, kernel=3, stride=1, dilation=2) == (2, 2)
    assert same_padding(4, kernel=1, stride=3) == (0, 0)


def test_conv2d_same_stride2_output_size_is_ceil():
    layer = Conv2D(2, 4, strides=2, padding="same")
    assert layer(torch.zeros(1, 1, 7, 9)).shape == (1, 2, 4, 5)


def test_conv_kernel_layout_and_keras_fans():
    layer = Conv2D(64, (5, 3), groups=2)
    layer.build((None, 6, 16, 16))
    assert layer.weight.shape == (64, 3, 5, 3)
    assert [w.shape for w in layer.get_keras_weights()] == [(5, 3, 3, 64), (64,)]
    # glorot_uniform with Keras's fans: in = 3 * 15, out = 64 * 15.
    limit = (6 / (3 * 15 + 64 * 15)) ** 0.5
    assert layer.weight.abs().max().item() <= limit
    assert layer.weight.abs().max().item() > 0.9 * limit


def test_conv_set_keras_weights_builds_a_lazy_layer():
    ref = keras.layers.Conv2D(4, 3, groups=2, data_format=CF)
    ref.build((None, 6, 5, 5))
    layer = Conv2D(4, 3, groups=2)
    assert isinstance(layer.weight, UninitializedParameter)
    layer.set_keras_weights(_keras_weights(ref))
    assert layer.built and layer.in_channels == 6 and layer.weight.shape == (4, 3, 3, 3)
    x = _data(2, 6, 5, 5)
    np.testing.assert_allclose(layer(torch.from_numpy(x)).detach().numpy(), _np(ref(x)),
                               rtol=RTOL, atol=ATOL)


def test_conv_lazy_layer_loads_a_state_dict():
    source = Conv1D(3, 2)
    source(torch.zeros(1, 4, 6))
    lazy = Conv1D(3, 2)
    lazy.load_state_dict(source.state_dict())
    x = torch.randn(2, 4, 6)
    torch.testing.assert_close(lazy(x), source(x))
    assert lazy.in_channels == 4


def test_conv2d_regularization_matches_keras_losses():
    x = _data(2, 3, 6, 6)
    kwargs = dict(kernel_regularizer=keras.regularizers.L2(0.03),
                  bias_regularizer=keras.regularizers.L1(0.2),
                  activity_regularizer=keras.regularizers.L1L2(0.01, 0.02))
    ref = keras.layers.Conv2D(4, 3, data_format=CF, bias_initializer="random_normal", **kwargs)
    ours = Conv2D(4, 3, kernel_regularizer={"class_name": "L2", "config": {"l2": 0.03}},
                  bias_regularizer=regularizers.L1(0.2),
                  activity_regularizer=regularizers.L1L2(0.01, 0.02))
    out, expected = _twin(ref, ours, x)
    np.testing.assert_allclose(out, expected, rtol=RTOL, atol=ATOL)
    mine = [t.item() for t in ours.regularization_losses()]
    theirs = [float(_np(t)) for t in ref.losses]
    assert len(mine) == len(theirs) == 3
    np.testing.assert_allclose(sorted(mine), sorted(theirs), rtol=1e-5)
    np.testing.assert_allclose(mine[0], float(_np(ref.losses[0])), rtol=1e-5)  # activity first


def test_conv_constraints_project_like_keras():
    layer = Conv2D(3, 2, kernel_constraint="non_neg", bias_constraint="non_neg")
    layer.build((None, 2, 4, 4))
    with torch.no_grad():
        layer.bias.fill_(-1.0)
    layer.apply_constraints()
    assert (layer.weight >= 0).all() and (layer.bias == 0).all()


def test_conv_get_config_round_trip():
    layer = Conv2D(5, (3, 1), strides=2, padding="same", activation="relu",
                   kernel_regularizer="l2", name="c")
    config = layer.get_config()
    clone = Conv2D.from_config(config)
    assert clone.get_config() == config
    assert config["kernel_size"] == [3, 1] and config["data_format"] == CF


# --- errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(filters=-2, kernel_size=3), "filters=-2"),
        (dict(filters=0, kernel_size=3), "filters=0"),
        (dict(filters=4, kernel_size=3, padding="full"), "padding='full'"),
        (dict(filters=4, kernel_size=3, padding="causal"), "padding='causal'"),  # 1D only
        (dict(filters=4, kernel_size=0), "kernel_size=0"),
        (dict(filters=4, kernel_size=(3, 3, 3)), "kernel_size"),
        (dict(filters=5, kernel_size=3, groups=2), "divisible"),
        (dict(filters=4, kernel_size=3, strides=2, dilation_rate=2), "dilation_rate"),
        (dict(filters=4, kernel_size=3, data_format="channels_last"), "channels-first"),
    ],
)
def test_conv2d_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match) as info:
        Conv2D(**kwargs)
    assert "Received" in str(info.value)


def test_conv_input_errors_name_the_layer():
    layer = Conv2D(4, 3, name="my_conv")
    layer(torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match=r'"my_conv".*3 channels.*\(1, 5, 8, 8\)'):
        layer(torch.zeros(1, 5, 8, 8))
    with pytest.raises(ValueError, match='"my_conv".*rank 4'):
        layer(torch.zeros(3, 8, 8))
    with pytest.raises(ValueError, match='"my_conv".*smaller than its kernel'):
        layer(torch.zeros(1, 3, 2, 8))
    grouped = Conv2D(4, 3, groups=4, name="grouped")
    with pytest.raises(ValueError, match="groups=4"):
        grouped(torch.zeros(1, 6, 8, 8))


def test_conv_set_keras_weights_errors_name_layer_and_shapes():
    layer = Conv2D(4, 3, name="cv")
    layer.build((None, 2, 8, 8))
    with pytest.raises(ValueError, match=r'"cv" weight "kernel" has shape \(3, 3, 2, 4\).*'
                                         r"\(4, 2, 3, 3\)"):
        layer.set_keras_weights([np.zeros((4, 2, 3, 3)), np.zeros(4)])
    with pytest.raises(ValueError, match='"cv" expects 2 weights'):
        layer.set_keras_weights([np.zeros((3, 3, 2, 4))])
    with pytest.raises(ValueError, match='"cv" has no weights yet'):
        Conv2D(4, 3, name="cv").get_keras_weights()


# --- pooling ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pool_size", "strides", "padding"),
    [(2, None, "valid"), (3, 2, "valid"), (2, 2, "same"), (2, 1, "same"), (3, 1, "same"),
     (3, 2, "same"), ((2, 3), (1, 2), "same")],
)
def test_max_pooling2d_matches_keras(pool_size, strides, padding):
    x = _data(2, 3, 7, 8)
    ref = keras.layers.MaxPooling2D(pool_size, strides, padding, data_format=CF)
    out, expected = _twin(ref, MaxPooling2D(pool_size, strides, padding), x)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize(
    ("pool_size", "strides", "padding"),
    [(2, None, "valid"), (3, 2, "valid"), (2, 2, "same"), (2, 1, "same"), (3, 1, "same")],
)
def test_average_pooling2d_matches_keras(pool_size, strides, padding):
    # Cases where every backend of Keras agrees (symmetric "same" padding or none).
    x = _data(2, 3, 8, 8)
    ref = keras.layers.AveragePooling2D(pool_size, strides, padding, data_format=CF)
    out, expected = _twin(ref, AveragePooling2D(pool_size, strides, padding), x)
    np.testing.assert_allclose(out, expected, rtol=RTOL, atol=ATOL)


def _reference_pool(x: np.ndarray, pool, strides, mode: str) -> np.ndarray:
    """TensorFlow's "same" pooling written out: windows clipped to the input."""
    n, c, h, w = x.shape
    oh, ow = -(-h // strides[0]), -(-w // strides[1])
    top = same_padding(h, pool[0], strides[0])[0]
    left = same_padding(w, pool[1], strides[1])[0]
    out = np.zeros((n, c, oh, ow), dtype=np.float64)
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * strides[0] - top, j * strides[1] - left
            win = x[:, :, max(r0, 0):r0 + pool[0], max(c0, 0):c0 + pool[1]]
            out[:, :, i, j] = win.mean(axis=(2, 3)) if mode == "avg" else win.max(axis=(2, 3))
    return out


@pytest.mark.parametrize(("pool_size", "strides"), [(3, 2), (3, 3), (2, 1), ((2, 3), (2, 2))])
def test_same_pooling_with_uneven_padding_leaves_the_padding_out(pool_size, strides):
    x = _data(2, 2, 7, 8)
    pool = (pool_size,) * 2 if isinstance(pool_size, int) else pool_size
    stride = (strides,) * 2 if isinstance(strides, int) else strides
    avg = AveragePooling2D(pool_size, strides, "same")(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(avg, _reference_pool(x, pool, stride, "avg"), rtol=RTOL, atol=ATOL)
    mx = MaxPooling2D(pool_size, strides, "same")(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(mx, _reference_pool(x, pool, stride, "max"), rtol=RTOL, atol=ATOL)


def test_pooling1d_and_global_pooling_match_keras():
    x = _data(2, 3, 9)
    for ours, ref in [
        (MaxPooling1D(2, padding="same"), keras.layers.MaxPooling1D(2, padding="same",
                                                                    data_format=CF)),
        (AveragePooling1D(3, 2), keras.layers.AveragePooling1D(3, 2, data_format=CF)),
        (GlobalAveragePooling1D(), keras.layers.GlobalAveragePooling1D(data_format=CF)),
    ]:
        out, expected = _twin(ref, ours, x)
        np.testing.assert_allclose(out, expected, rtol=RTOL, atol=ATOL)
    x2 = _data(2, 3, 5, 4)
    for keepdims in (False, True):
        ref = keras.layers.GlobalAveragePooling2D(data_format=CF, keepdims=keepdims)
        out, expected = _twin(ref, GlobalAveragePooling2D(keepdims=keepdims), x2)
        assert out.shape == expected.shape
        np.testing.assert_allclose(out, expected, rtol=RTOL, atol=ATOL)
    ref = keras.layers.GlobalMaxPooling2D(data_format=CF)
    out, expected = _twin(ref, GlobalMaxPooling2D(), x2)
    np.testing.assert_array_equal(out, expected)


def test_pooling_layers_have_no_keras_weights():
    layer = MaxPooling2D()
    assert layer.get_keras_weights() == [] and layer.keras_param_counts() == (0, 0)
    layer.set_keras_weights([])
    with pytest.raises(ValueError, match="expects 0 weights"):
        layer.set_keras_weights([np.zeros(1)])
    assert MaxPooling2D.from_config(layer.get_config()).get_config() == layer.get_config()


def test_pooling_errors():
    with pytest.raises(ValueError, match="padding='full'"):
        MaxPooling2D(padding="full")
    with pytest.raises(ValueError, match="pool_size=-1"):
        AveragePooling2D(pool_size=-1)
    layer = MaxPooling2D(3, name="pool")
    with pytest.raises(ValueError, match='"pool".*rank 4'):
        layer(torch.zeros(2, 3, 8))
    with pytest.raises(ValueError, match='"pool".*smaller than its pool size'):
        layer(torch.zeros(2, 3, 2, 8))
    with pytest.raises(ValueError, match='"global.*rank 4'):
        GlobalAveragePooling2D(name="global")(torch.zeros(2, 3))
