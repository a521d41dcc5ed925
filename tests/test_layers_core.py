"""fitorch.layers.core: Dense, Dropout, Flatten, Activation, checked against Keras 3 (torch)."""

from __future__ import annotations

import json
import os
import re

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np
import pytest
import torch
from torch.nn.parameter import UninitializedParameter

from fitorch import activations
from fitorch.layers import Activation, Dense, Dropout, Flatten


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _keras_dense_like(layer: Dense, input_shape, **kwargs):
    """A Keras Dense holding `layer`'s weights (kernel = weight.T)."""
    ref = keras.layers.Dense(layer.units, **kwargs)
    ref.build(input_shape)
    ref.kernel.assign(layer.weight.detach().T.numpy())
    if layer.bias is not None:
        ref.bias.assign(layer.bias.detach().numpy())
    return ref


# --- Dense: building ------------------------------------------------------------


def test_dense_lazy_build_from_rank2_input():
    layer = Dense(4)
    assert isinstance(layer.weight, UninitializedParameter) and not layer.built
    torch.manual_seed(0)
    out = layer(torch.randn(5, 7))
    assert out.shape == (5, 4)
    assert layer.built and layer.in_features == 7
    assert type(layer.weight) is torch.nn.Parameter and type(layer.bias) is torch.nn.Parameter
    assert layer.weight.shape == (4, 7) and layer.bias.shape == (4,)
    # Keras's glorot_uniform with the (in=7, out=4) fans, zero bias.
    assert layer.weight.abs().max().item() <= (6 / (7 + 4)) ** 0.5
    assert torch.equal(layer.bias, torch.zeros(4))
    assert not hasattr(layer, "_initialize_hook")  # no per-call hook after materialisation


def test_dense_lazy_build_from_rank3_input_applies_to_last_axis():
    layer = Dense(4, activation="relu")
    x = torch.randn(2, 3, 7)
    out = layer(x)
    assert out.shape == (2, 3, 4) and layer.weight.shape == (4, 7)
    expected = torch.relu(x @ layer.weight.T + layer.bias)
    torch.testing.assert_close(out, expected)


def test_dense_input_dim_builds_at_construction():
    layer = Dense(3, input_dim=5, use_bias=False)
    assert layer.built and type(layer.weight) is torch.nn.Parameter
    assert layer.weight.shape == (3, 5) and layer.bias is None
    assert [n for n, _ in layer.named_parameters()] == ["weight"]
    assert layer(torch.randn(2, 5)).shape == (2, 3)


def test_dense_build_method_and_state_dict_into_lazy_layer():
    layer = Dense(3)
    layer.build((None, 6))
    assert layer.weight.shape == (3, 6)
    source = Dense(2, input_dim=4)
    lazy = Dense(2)
    lazy.load_state_dict(source.state_dict())
    x = torch.randn(3, 4)
    torch.testing.assert_close(lazy(x), source(x))


def test_dense_first_call_under_inference_mode_gives_trainable_parameters():
    layer = Dense(2)
    with torch.inference_mode():
        layer(torch.randn(3, 5))
    assert not layer.weight.is_inference() and layer.weight.requires_grad
    layer(torch.randn(3, 5)).sum().backward()
    assert layer.weight.grad is not None and layer.weight.grad.shape == (2, 5)


def test_dense_lazily_built_trains_with_torch_optim():
    torch.manual_seed(0)
    model = torch.nn.Sequential(Dense(8, activation="tanh"), Dense(1))
    x = torch.randn(64, 3)
    y = x.sum(dim=1, keepdim=True)
    model(x)  # dry run materialises the parameters
    params = list(model.parameters())
    assert len(params) == 4 and all(type(p) is torch.nn.Parameter for p in params)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    before = model[0].weight.detach().clone()
    first = None
    for _ in range(30):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    assert not torch.equal(before, model[0].weight)
    assert loss.item() < 0.5 * first


# --- Dense: numbers vs Keras ----------------------------------------------------------


@pytest.mark.parametrize("activation", [None, "relu", "softmax", "gelu", "selu"])
def test_dense_output_matches_keras(activation):
    torch.manual_seed(0)
    x = torch.randn(6, 3, 7)
    layer = Dense(5, activation=activation)
    out = layer(x)
    ref = _keras_dense_like(layer, (None, 3, 7), activation=activation)
    np.testing.assert_allclose(out.detach().numpy(), _np(ref(x)), rtol=1e-5, atol=1e-6)


def test_regularization_losses_match_keras_layer_losses():
    torch.manual_seed(0)
    x = torch.randn(5, 3, 7)
    layer = Dense(4, kernel_regularizer="l2", activity_regularizer="l1")
    layer(x)
    ref = _keras_dense_like(layer, (None, 3, 7), kernel_regularizer="l2", activity_regularizer="l1")
    ref(x)
    ours = [v.item() for v in layer.regularization_losses()]
    theirs = [float(_np(v)) for v in ref.losses]
    assert len(ours) == 2  # activity first, then kernel, as in Keras
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)


def test_l1_l2_and_bias_regularizers_match_keras():
    torch.manual_seed(1)
    x = torch.randn(8, 7)
    layer = Dense(
        3,
        kernel_regularizer="l1_l2",
        bias_regularizer="l1",
        bias_initializer="random_normal",
        activity_regularizer="l2",
    )
    layer(x)
    ref = _keras_dense_like(
        layer,
        (None, 7),
        kernel_regularizer=keras.regularizers.L1L2(l1=0.01, l2=0.01),
        bias_regularizer="l1",
        activity_regularizer="l2",
    )
    ref(x)
    ours = [v.item() for v in layer.regularization_losses()]
    theirs = [float(_np(v)) for v in ref.losses]
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)


def test_regularization_losses_are_differentiable_and_empty_without_regularizers():
    layer = Dense(2, kernel_regularizer="l2", input_dim=3)
    (penalty,) = layer.regularization_losses()
    penalty.backward()
    torch.testing.assert_close(layer.weight.grad, 2 * 0.01 * layer.weight.detach())
    plain = Dense(2)
    assert plain.regularization_losses() == []
    plain(torch.randn(4, 3))
    assert plain.regularization_losses() == [] and plain._activity_loss is None
    frozen = Dense(2, kernel_regularizer="l2", input_dim=3).requires_grad_(False)
    assert frozen.regularization_losses() == []  # Keras: trainable weights only
    assert Dense(2, kernel_regularizer="l1").regularization_losses() == []  # unbuilt


def test_custom_callable_regularizer_and_activation():
    layer = Dense(2, activation=torch.nn.ReLU(), kernel_regularizer=lambda w: w.sum(), input_dim=3)
    out = layer(-torch.ones(1, 3).abs() * 100)
    assert (out >= 0).all()
    torch.testing.assert_close(layer.regularization_losses()[0], layer.weight.sum())


def test_constraints_match_keras():
    torch.manual_seed(0)
    layer = Dense(
        4,
        kernel_constraint="max_norm",
        bias_constraint="non_neg",
        input_dim=6,
        bias_initializer="random_normal",
    )
    with torch.no_grad():
        layer.weight.mul_(10)
    kernel = layer.weight.detach().T.clone()
    bias = layer.bias.detach().clone()
    layer.apply_constraints()
    np.testing.assert_allclose(
        layer.weight.detach().T.numpy(), _np(keras.constraints.MaxNorm()(kernel)), rtol=1e-5
    )
    np.testing.assert_allclose(
        layer.bias.detach().numpy(), _np(keras.constraints.NonNeg()(bias)), rtol=1e-5
    )
    unit = Dense(3, kernel_constraint="unit_norm", input_dim=5)
    kernel = unit.weight.detach().T.clone()
    unit.apply_constraints()
    np.testing.assert_allclose(
        unit.weight.detach().T.numpy(), _np(keras.constraints.UnitNorm()(kernel)), rtol=1e-5
    )


def test_dense_kernel_initializer_variants():
    layer = Dense(3, kernel_initializer="ones", bias_initializer="ones", input_dim=2)
    assert torch.equal(layer.weight, torch.ones(3, 2)) and torch.equal(layer.bias, torch.ones(3))
    seeded = [
        Dense(3, kernel_initializer=keras_name, input_dim=4).weight
        for keras_name in ({"class_name": "HeNormal", "config": {"seed": 4}},) * 2
    ]
    assert torch.equal(seeded[0], seeded[1])
    torch_style = Dense(3, kernel_initializer=torch.nn.init.zeros_, input_dim=4)
    assert torch.equal(torch_style.weight, torch.zeros(3, 4))


# --- Dense: config, names, errors -------------------------------------------------------


def test_dense_get_config_is_json_and_roundtrips():
    layer = Dense(
        3,
        activation="swish",
        kernel_regularizer="l1",
        activity_regularizer="l2",
        kernel_constraint="max_norm",
        name="head",
        input_dim=4,
    )
    config = layer.get_config()
    assert json.loads(json.dumps(config)) == config
    assert config["activation"] == "silu" and config["name"] == "head"
    assert config["kernel_initializer"] == {"class_name": "GlorotUniform", "config": {"seed": None}}
    assert config["kernel_regularizer"] == {"class_name": "L1", "config": {"l1": 0.01}}
    clone = Dense.from_config(config)
    assert clone.get_config() == config and clone.weight.shape == (3, 4)
    keras_config = keras.layers.Dense(3, activation="swish").get_config()
    assert {"units", "activation", "use_bias", "kernel_initializer"} <= set(keras_config)
    assert keras_config["activation"] == config["activation"]


def test_auto_names_are_unique_per_class_like_keras():
    a, b = Dense(1), Dense(1)
    assert re.fullmatch(r"dense(_\d+)?", a.name) and re.fullmatch(r"dense_\d+", b.name)
    assert a.name != b.name
    assert (
        int(b.name.rsplit("_", 1)[1]) == (int(a.name.rsplit("_", 1)[1]) if "_" in a.name else 0) + 1
    )
    assert re.fullmatch(r"dropout(_\d+)?", Dropout(0.1).name)
    assert re.fullmatch(r"flatten(_\d+)?", Flatten().name)
    assert re.fullmatch(r"activation(_\d+)?", Activation("relu").name)
    assert Dense(1, name="out").name == "out"


def test_dense_errors():
    for units in (0, -3, 2.5, True, "4"):
        with pytest.raises(
            ValueError,
            match=re.escape(
                f"expected a positive integer. Received: units={units!r} "
                f"(of type {type(units).__name__})"
            ),
        ):
            Dense(units)
    with pytest.raises(ValueError, match=r"Received: input_dim=0 \(of type int\)"):
        Dense(2, input_dim=0)
    with pytest.raises(ValueError, match=r"'relu'.*Received: identifier='rlu'"):
        Dense(2, activation="rlu")
    with pytest.raises(ValueError, match=r"'l2'.*Received: kernel_regularizer='l3'"):
        Dense(2, kernel_regularizer="l3")
    with pytest.raises(TypeError, match=r"Received: bias_regularizer=0.1 \(of type float\)"):
        Dense(2, bias_regularizer=0.1)
    with pytest.raises(ValueError, match=r"'non_neg'.*Received: kernel_constraint='positive'"):
        Dense(2, kernel_constraint="positive")
    with pytest.raises(ValueError, match=r"Received: name='a/b' \(of type str\)"):
        Dense(2, name="a/b")
    layer = Dense(2, input_dim=3)
    with pytest.raises(ValueError, match=r'layer "dense.*size 3\. Received: inputs.shape=\(4, 5\)'):
        layer(torch.randn(4, 5))
    with pytest.raises(ValueError, match=r"rank >= 2"):
        Dense(2)(torch.randn(3))


# --- Dropout -----------------------------------------------------------------------


def test_dropout_train_vs_eval():
    torch.manual_seed(0)
    layer = Dropout(0.3)
    x = torch.ones(200, 100)
    out = layer(x)  # modules start in training mode
    dropped = (out == 0).float().mean().item()
    assert 0.27 < dropped < 0.33
    kept = out[out != 0]
    torch.testing.assert_close(kept, torch.full_like(kept, 1 / 0.7))
    layer.eval()
    assert layer(x) is x
    assert Dropout(0.0)(x) is x


def test_dropout_matches_keras_statistics():
    x = torch.ones(100, 100)
    keras_out = _np(keras.layers.Dropout(0.4)(x, training=True))
    ours = Dropout(0.4)(x).numpy()
    assert set(np.unique(keras_out)) == set(np.unique(ours))
    assert abs((ours == 0).mean() - (keras_out == 0).mean()) < 0.04


def test_dropout_noise_shape_and_seed():
    layer = Dropout(0.5, noise_shape=(None, 4, 1, 1), seed=3)
    x = torch.ones(8, 4, 5, 5)
    out = layer(x)
    per_channel = out.reshape(8, 4, 25)
    assert torch.equal(per_channel.amin(-1), per_channel.amax(-1))  # whole channels dropped
    assert set(out.unique().tolist()) <= {0.0, 2.0} and (out == 0).any() and (out != 0).any()
    again = Dropout(0.5, noise_shape=(None, 4, 1, 1), seed=3)
    assert torch.equal(again(x), out)  # same seed, same sequence of masks
    assert not torch.equal(layer(x), out)  # the sequence advances between calls
    with pytest.raises(ValueError, match="one entry per input axis"):
        layer(torch.ones(2, 4))


def test_dropout_errors_and_config():
    for rate in (1, 1.0, -0.1, "0.5"):
        with pytest.raises(ValueError, match=re.escape(f"Received: rate={rate!r}")):
            Dropout(rate)
    with pytest.raises(ValueError, match=r"Received: noise_shape='ab' \(of type str\)"):
        Dropout(0.5, noise_shape="ab")
    with pytest.raises(ValueError, match=r"Received: seed=1.5 \(of type float\)"):
        Dropout(0.5, seed=1.5)
    config = Dropout(0.25, noise_shape=(None, 1), seed=2, name="drop").get_config()
    assert config == {"name": "drop", "rate": 0.25, "noise_shape": [None, 1], "seed": 2}
    assert Dropout.from_config(config).noise_shape == (None, 1)


# --- Flatten / Activation -------------------------------------------------------------


def test_flatten_matches_reshape_and_keras():
    x = torch.randn(3, 2, 4, 5)
    out = Flatten()(x)
    assert out.shape == (3, 40) and torch.equal(out, x.reshape(3, -1))
    np.testing.assert_array_equal(out.numpy(), _np(keras.layers.Flatten()(x)))
    assert Flatten()(torch.arange(4.0)).shape == (4, 1)
    assert Flatten()(torch.empty(0, 2, 3)).shape == (0, 6)
    assert Flatten(name="f").get_config() == {"name": "f"}


@pytest.mark.parametrize("name", ["relu", "softmax", "hard_sigmoid", "mish", None])
def test_activation_layer_matches_keras(name):
    torch.manual_seed(0)
    x = torch.randn(4, 6) * 3
    out = Activation(name)(x)
    np.testing.assert_allclose(
        out.numpy(), _np(keras.layers.Activation(name)(x)), rtol=1e-5, atol=1e-6
    )
    layer = Activation(name, name="act")
    assert layer.get_config() == {"name": "act", "activation": name or "linear"}
    assert Activation.from_config(layer.get_config()).activation is activations.get(name)
