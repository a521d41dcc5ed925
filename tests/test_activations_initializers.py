"""fitorch.activations and fitorch.initializers, checked against Keras 3 (torch backend)."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np
import pytest
import torch
from keras.src.initializers.random_initializers import compute_fans as keras_compute_fans

from fitorch import activations, initializers

ACTIVATION_NAMES = sorted(activations._ACTIVATIONS)


def _np(x):
    return keras.ops.convert_to_numpy(x)


# --- activations ----------------------------------------------------------------


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_activation_matches_keras(name):
    torch.manual_seed(0)
    x = torch.randn(4, 5, 6) * 4
    expected = _np(keras.activations.get(name)(x.clone()))
    got = activations.get(name)(x).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("gelu", {"approximate": True}),
        ("leaky_relu", {"negative_slope": 0.05}),
        ("elu", {"alpha": 0.5}),
        ("softmax", {"axis": 1}),
        ("log_softmax", {"axis": 0}),
    ],
)
def test_activation_arguments_match_keras(name, kwargs):
    torch.manual_seed(1)
    x = torch.randn(3, 4, 5) * 3
    expected = _np(getattr(keras.activations, name)(x.clone(), **kwargs))
    got = getattr(activations, name)(x, **kwargs).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_gelu_default_is_exact_like_keras():
    x = torch.linspace(-3, 3, 50)
    exact = 0.5 * x * (1 + torch.erf(x / 2**0.5))
    torch.testing.assert_close(activations.gelu(x), exact)
    assert not torch.allclose(activations.gelu(x, approximate=True), exact, atol=1e-6, rtol=0)


def test_hard_sigmoid_is_keras3_definition():
    x = torch.tensor([-4.0, -3.0, -1.5, 0.0, 1.5, 3.0, 4.0])
    expected = torch.clamp(x / 6 + 0.5, 0, 1)
    torch.testing.assert_close(activations.get("hard_sigmoid")(x), expected)


def test_activation_get_none_callable_and_aliases():
    assert activations.get(None) is activations.linear
    assert activations.get("linear") is activations.linear
    assert activations.get("swish") is activations.get("silu")
    relu_module = torch.nn.ReLU()
    assert activations.get(relu_module) is relu_module
    assert activations.get(torch.tanh) is torch.tanh
    assert activations.serialize(activations.get("swish")) == "silu"
    assert activations.serialize(activations.relu) == "relu"
    assert activations.serialize(torch.tanh) is torch.tanh


def test_activation_get_errors():
    with pytest.raises(ValueError, match=r"'relu'.*Received: identifier='rleu' \(of type str\)"):
        activations.get("rleu")
    with pytest.raises(TypeError, match=r"Received: identifier=3 \(of type int\)"):
        activations.get(3)


# --- fans -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keras_shape", "torch_shape"),
    [
        ((7, 4), (4, 7)),  # Dense kernel (in, out) <-> Linear weight (out, in)
        ((3, 5, 8), (8, 5, 3)),  # Conv1D (k, in, out) <-> Conv1d (out, in, k)
        ((3, 2, 6, 16), (16, 6, 3, 2)),  # Conv2D
        ((3, 3, 2, 4, 10), (10, 4, 3, 3, 2)),  # Conv3D
        ((5, 5, 2, 12), (12, 2, 5, 5)),  # grouped Conv2D: in / groups = 2
        ((9,), (9,)),  # bias
        ((), ()),
    ],
)
def test_fans_match_keras(keras_shape, torch_shape):
    assert initializers.compute_fans(torch_shape) == keras_compute_fans(keras_shape)


# --- initializer statistics -------------------------------------------------------

# (name, expected std as a function of fan_in, fan_out, uniform limit or None)
VARIANCE_CASES = [
    ("glorot_uniform", lambda i, o: (2 / (i + o)) ** 0.5, lambda i, o: (6 / (i + o)) ** 0.5),
    ("glorot_normal", lambda i, o: (2 / (i + o)) ** 0.5, None),
    ("he_uniform", lambda i, o: (2 / i) ** 0.5, lambda i, o: (6 / i) ** 0.5),
    ("he_normal", lambda i, o: (2 / i) ** 0.5, None),
    ("lecun_uniform", lambda i, o: (1 / i) ** 0.5, lambda i, o: (3 / i) ** 0.5),
    ("lecun_normal", lambda i, o: (1 / i) ** 0.5, None),
]


@pytest.mark.parametrize(("name", "std_fn", "limit_fn"), VARIANCE_CASES)
def test_variance_scaling_statistics_match_keras(name, std_fn, limit_fn):
    torch.manual_seed(0)
    fan_out, fan_in = 200, 150
    w = initializers.get(name)(torch.empty(fan_out, fan_in))
    kernel = _np(keras.initializers.get(name)((fan_in, fan_out)))
    std = std_fn(fan_in, fan_out)
    assert abs(w.std().item() - std) < 0.02 * std
    assert abs(kernel.std() - std) < 0.02 * std  # the reference agrees with the formula
    assert abs(w.mean().item()) < 0.02 * std
    if limit_fn is None:  # truncated at two (pre-truncation) standard deviations
        bound = 2 * std / 0.87962566103423978
        # Exact truncation here; Keras's torch backend redraws only 4 times, so
        # its samples may (rarely) exceed the bound: no bound check on `kernel`.
        assert w.abs().max().item() <= bound
    else:
        limit = limit_fn(fan_in, fan_out)
        assert w.abs().max().item() <= limit
        assert w.abs().max().item() > 0.99 * limit


def test_explicit_fans_override_shape():
    w = initializers.GlorotUniform(seed=1)(torch.empty(50, 50), fan_in=1, fan_out=1)
    assert w.abs().max().item() > (6 / 100) ** 0.5  # wider than the shape's own limit
    assert w.abs().max().item() <= 3**0.5


def test_conv_weight_uses_keras_fans():
    torch.manual_seed(0)
    w = initializers.HeNormal()(torch.empty(64, 16, 3, 3))
    std = (2 / (16 * 9)) ** 0.5
    assert abs(w.std().item() - std) < 0.03 * std


def test_random_and_truncated_normal_match_keras_statistics():
    torch.manual_seed(0)
    ours = initializers.RandomNormal(mean=1.0, stddev=0.5)(torch.empty(200, 200))
    # Keras seeded too: unseeded, its draw changes per run and the test would be flaky.
    ref = _np(keras.initializers.RandomNormal(mean=1.0, stddev=0.5, seed=0)((200, 200)))
    assert abs(ours.mean().item() - ref.mean()) < 0.01
    assert abs(ours.std().item() - ref.std()) < 0.01
    trunc = initializers.get("truncated_normal")(torch.empty(200, 200))
    ref_t = _np(keras.initializers.TruncatedNormal(seed=0)((200, 200)))
    assert trunc.abs().max().item() <= 0.1
    assert abs(trunc.std().item() - ref_t.std()) < 0.002
    uni = initializers.RandomUniform(minval=2.0, maxval=3.0)(torch.empty(1000))
    assert uni.min().item() >= 2.0 and uni.max().item() < 3.0


def test_constant_initializers():
    assert torch.equal(initializers.get("zeros")(torch.full((3, 2), 5.0)), torch.zeros(3, 2))
    assert torch.equal(initializers.get("ones")(torch.empty(3)), torch.ones(3))
    assert torch.equal(initializers.Constant(2.5)(torch.empty(2, 2)), torch.full((2, 2), 2.5))
    assert torch.equal(
        initializers.Constant(torch.tensor([1.0, 2.0]))(torch.empty(3, 2)),
        torch.tensor([[1.0, 2.0]] * 3),
    )
    eye = initializers.Identity(gain=2.0)(torch.empty(3, 4))
    keras_eye = _np(keras.initializers.Identity(gain=2.0)((4, 3)))
    np.testing.assert_array_equal(eye.numpy(), keras_eye.T)


@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (8, 2, 3, 3)])
def test_orthogonal(shape):
    w = initializers.get("orthogonal")(torch.empty(shape)).reshape(shape[0], -1)
    rows, cols = w.shape
    gram = w @ w.T if rows <= cols else w.T @ w
    torch.testing.assert_close(gram, torch.eye(min(rows, cols)), atol=1e-5, rtol=0)
    scaled = initializers.Orthogonal(gain=3.0, seed=0)(torch.empty(4, 4))
    torch.testing.assert_close(scaled @ scaled.T, 9 * torch.eye(4), atol=1e-4, rtol=0)


def test_seeding():
    init = initializers.GlorotUniform(seed=7)
    a, b = init(torch.empty(5, 4)), init(torch.empty(5, 4))
    assert torch.equal(a, b)  # an int seed repeats, as in Keras
    assert not torch.equal(a, initializers.GlorotUniform(seed=8)(torch.empty(5, 4)))
    torch.manual_seed(3)
    c = initializers.HeNormal()(torch.empty(5, 4))
    d = initializers.HeNormal()(torch.empty(5, 4))
    torch.manual_seed(3)
    assert torch.equal(c, initializers.HeNormal()(torch.empty(5, 4)))
    assert not torch.equal(c, d)


def test_initializer_fills_parameters_in_place():
    p = torch.nn.Parameter(torch.empty(3, 2))
    out = initializers.get("he_uniform")(p)
    assert out is p and p.requires_grad and p.grad_fn is None


# --- get / serialize ------------------------------------------------------------


def test_get_identifiers():
    assert isinstance(initializers.get("GlorotUniform"), initializers.GlorotUniform)
    assert isinstance(initializers.get("glorot_uniform"), initializers.GlorotUniform)
    assert isinstance(initializers.get("normal"), initializers.RandomNormal)
    assert isinstance(initializers.get("uniform"), initializers.RandomUniform)
    assert isinstance(initializers.get(initializers.Ones), initializers.Ones)
    assert initializers.get(None) is None
    inst = initializers.HeNormal(seed=1)
    assert initializers.get(inst) is inst
    assert initializers.get(torch.nn.init.zeros_) is torch.nn.init.zeros_
    vs = initializers.get(
        {"class_name": "VarianceScaling", "config": {"scale": 2.0, "mode": "fan_out"}}
    )
    assert (vs.scale, vs.mode, vs.distribution) == (2.0, "fan_out", "truncated_normal")


@pytest.mark.parametrize(
    "init",
    [
        initializers.GlorotUniform(seed=3),
        initializers.RandomUniform(-1.0, 2.0, seed=1),
        initializers.VarianceScaling(0.5, "fan_avg", "uniform"),
        initializers.Constant(1.5),
        initializers.Orthogonal(gain=2.0),
        initializers.TruncatedNormal(0.1, 0.2),
    ],
)
def test_serialize_roundtrip_matches_keras_config(init):
    config = initializers.serialize(init)
    again = initializers.get(config)
    assert type(again) is type(init) and again.get_config() == init.get_config()
    keras_config = keras.initializers.get(config).get_config()
    # Keras 3.15 adds `input_axes`/`output_axes` (Keras-layout axes, not supported here).
    assert {k: v for k, v in keras_config.items() if not k.endswith("_axes")} == init.get_config()


def test_get_errors():
    with pytest.raises(ValueError, match=r"'glorot_uniform'.*Received: identifier='glorot'"):
        initializers.get("glorot")
    with pytest.raises(TypeError, match=r"Received: identifier=1.5 \(of type float\)"):
        initializers.get(1.5)
    with pytest.raises(ValueError, match="class_name"):
        initializers.get({"class_name": "Nope", "config": {}})


def test_argument_errors():
    with pytest.raises(ValueError, match=r"Received: scale=0 \(of type int\)"):
        initializers.VarianceScaling(scale=0)
    with pytest.raises(ValueError, match=r"'fan_avg'.*Received: mode='fan'"):
        initializers.VarianceScaling(mode="fan")
    with pytest.raises(ValueError, match=r"Received: distribution='gamma'"):
        initializers.VarianceScaling(distribution="gamma")
    assert initializers.VarianceScaling(distribution="normal").distribution == "truncated_normal"
    with pytest.raises(ValueError, match=r"Received: seed='1' \(of type str\)"):
        initializers.HeNormal(seed="1")
    with pytest.raises(ValueError, match="at least two-dimensional"):
        initializers.Orthogonal()(torch.empty(3))
    with pytest.raises(ValueError, match=r"Received: fan_in=3, fan_out=None"):
        initializers.GlorotUniform()(torch.empty(3, 3), fan_in=3)
    with pytest.raises(TypeError, match=r"\(of type list\)"):
        initializers.Zeros()([1.0, 2.0])


def test_apply_initializer():
    w = torch.empty(4, 3)
    initializers.apply_initializer(initializers.GlorotUniform(), w, fan_in=3, fan_out=4)
    assert w.abs().max().item() <= (6 / 7) ** 0.5
    initializers.apply_initializer(torch.nn.init.ones_, w, fan_in=3, fan_out=4)
    assert torch.equal(w, torch.ones(4, 3))
    initializers.apply_initializer(lambda t: torch.full_like(t, 2.0), w, fan_in=3, fan_out=4)
    assert torch.equal(w, torch.full((4, 3), 2.0))
