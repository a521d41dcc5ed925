"""BatchNormalization and LayerNormalization, checked against Keras 3 (torch backend)."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np
import pytest
import torch

from fitorch import regularizers
from fitorch.layers import BatchNormalization, LayerNormalization

RTOL, ATOL = 1e-5, 1e-6


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _keras_weights(layer) -> list[np.ndarray]:
    return [_np(w) for w in layer.weights]


def _data(*shape, seed=0, loc=0.0, scale=1.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(loc, scale, size=shape).astype("float32")


def _random_init(ref) -> None:
    """Give a built Keras layer non-trivial weights (moving stats too)."""
    rng = np.random.default_rng(42)
    for w in ref.weights:
        value = rng.uniform(0.5, 1.5, size=w.shape) if "variance" in w.path else rng.normal(
            size=w.shape)
        w.assign(value.astype("float32"))


# --- BatchNormalization ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "axis", "kwargs"),
    [
        ((8, 3, 5, 4), 1, {}),
        ((8, 3, 5, 4), 1, dict(momentum=0.9, epsilon=1e-5)),
        ((16, 6), 1, dict(center=False)),
        ((16, 6), -1, dict(scale=False)),
        ((4, 7, 5), -1, dict(momentum=0.5)),  # features last: normalised over batch and time
        ((4, 7, 5), 2, dict(center=False, scale=False)),
    ],
)
def test_batch_norm_training_matches_keras_over_several_batches(shape, axis, kwargs):
    ref = keras.layers.BatchNormalization(axis=axis, **kwargs)
    ref.build(shape)
    _random_init(ref)
    ours = BatchNormalization(axis=axis, **kwargs)
    ours.set_keras_weights(_keras_weights(ref))
    ours.train()
    for step in range(3):
        x = _data(*shape, seed=step, loc=step - 1.0, scale=1.0 + step)
        expected = _np(ref(x, training=True))
        out = ours(torch.from_numpy(x)).detach().numpy()
        np.testing.assert_allclose(out, expected, rtol=RTOL, atol=1e-5)
    # The moving statistics moved the Keras way (biased batch variance).
    for mine, theirs in zip(ours.get_keras_weights(), _keras_weights(ref), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=RTOL, atol=ATOL)
    ours.eval()
    x = _data(*shape, seed=9)
    np.testing.assert_allclose(ours(torch.from_numpy(x)).detach().numpy(),
                               _np(ref(x, training=False)), rtol=RTOL, atol=ATOL)


def test_batch_norm_moving_variance_uses_the_biased_batch_variance():
    bn = BatchNormalization(momentum=0.0, axis=-1)  # moving stats = last batch's
    x = torch.tensor([[1.0], [3.0]])
    bn(x)
    assert bn.running_mean.item() == pytest.approx(2.0)
    assert bn.running_var.item() == pytest.approx(1.0)  # torch's unbiased value would be 2


def test_batch_norm_single_value_per_channel_gives_beta():
    ref = keras.layers.BatchNormalization(axis=1, momentum=0.5, beta_initializer="ones")
    x = _data(1, 3)
    expected = _np(ref(x, training=True))
    bn = BatchNormalization(momentum=0.5, beta_initializer="ones")
    out = bn(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(out, expected, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(bn.running_var.numpy(), _np(ref.moving_variance), rtol=RTOL)


def test_batch_norm_gradients_flow_through_the_batch_statistics():
    x = torch.randn(6, 2, 3, requires_grad=True)
    bn = BatchNormalization()
    bn(x).sum().backward()
    # Normalised outputs sum to beta * count whatever x is: d(sum)/dx is ~0.
    assert x.grad is not None and x.grad.abs().max().item() < 1e-4
    assert bn.weight.grad is not None and bn.bias.grad is not None
    torch.testing.assert_close(bn.bias.grad, torch.full((2,), 18.0))


def test_batch_norm_eval_mode_does_not_update_statistics():
    bn = BatchNormalization()
    bn(torch.randn(4, 3))
    before = bn.running_mean.clone()
    bn.eval()
    bn(torch.randn(4, 3) + 5)
    torch.testing.assert_close(bn.running_mean, before)


def test_batch_norm_param_counts_and_keras_names():
    ref = keras.layers.BatchNormalization(axis=1)
    ref.build((None, 5, 4, 4))
    ours = BatchNormalization()
    ours.build((None, 5, 4, 4))
    assert sum(ours.keras_param_counts()) == ref.count_params() == 20
    assert ours.keras_param_counts() == (10, 10)
    assert ours.gamma is ours.weight and ours.moving_variance is ours.running_var
    assert [n for n, _ in ours.named_buffers()] == ["running_mean", "running_var"]
    nt = BatchNormalization(center=False, scale=False)
    nt.build((None, 5))
    assert nt.keras_param_counts() == (0, 10) and len(nt.get_keras_weights()) == 2
    ours.weight.requires_grad_(False)
    assert ours.keras_param_counts() == (5, 15)


def test_batch_norm_regularizers_match_keras_losses():
    ref = keras.layers.BatchNormalization(axis=1, gamma_regularizer=keras.regularizers.L2(0.1),
                                          beta_regularizer=keras.regularizers.L1(0.2))
    ref.build((None, 4))
    _random_init(ref)
    ours = BatchNormalization(gamma_regularizer=regularizers.L2(0.1),
                              beta_regularizer=regularizers.L1(0.2))
    ours.set_keras_weights(_keras_weights(ref))
    mine = [t.item() for t in ours.regularization_losses()]
    np.testing.assert_allclose(mine, [float(_np(t)) for t in ref.losses], rtol=1e-5)


def test_batch_norm_errors():
    with pytest.raises(ValueError, match="momentum=1.5"):
        BatchNormalization(momentum=1.5)
    with pytest.raises(TypeError, match=r"axis=\[1\]"):
        BatchNormalization(axis=[1])
    with pytest.raises(ValueError, match="synchronized=True"):
        BatchNormalization(synchronized=True)
    bn = BatchNormalization(name="bn_x")
    bn(torch.randn(4, 3, 2))
    with pytest.raises(ValueError, match=r'"bn_x".*axis 1 of size 3.*\(4, 5, 2\)'):
        bn(torch.randn(4, 5, 2))
    with pytest.raises(ValueError, match=r'"bn_x" weight "gamma" has shape \(3,\).*\(4,\)'):
        bn.set_keras_weights([np.ones(4)] * 4)
    with pytest.raises(ValueError, match='Axis 5 of layer "bn_y"'):
        BatchNormalization(axis=5, name="bn_y")(torch.randn(2, 3))


def test_batch_norm_config_round_trip_and_lazy_state_dict():
    bn = BatchNormalization(momentum=0.8, center=False, name="b")
    assert BatchNormalization.from_config(bn.get_config()).get_config() == bn.get_config()
    source = BatchNormalization()
    source(torch.randn(5, 2, 3))
    lazy = BatchNormalization().eval()
    lazy.load_state_dict(source.state_dict())
    source.eval()
    x = torch.randn(3, 2, 3)
    torch.testing.assert_close(lazy(x), source(x))


# --- LayerNormalization ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("axis", "kwargs"),
    [(-1, {}), ([1, 2], {}), ([-2, -1], dict(epsilon=1e-5)), (-1, dict(center=False)),
     (-1, dict(scale=False))],
)
def test_layer_norm_matches_keras(axis, kwargs):
    x = _data(4, 5, 6, loc=3.0, scale=2.0)
    ref = keras.layers.LayerNormalization(axis=axis, **kwargs)
    ref.build(x.shape)
    _random_init(ref)
    expected = _np(ref(x))
    ours = LayerNormalization(axis=axis, **kwargs)
    ours.build(x.shape)
    ours.set_keras_weights(_keras_weights(ref))
    np.testing.assert_allclose(ours(torch.from_numpy(x)).detach().numpy(), expected,
                               rtol=RTOL, atol=1e-5)
    assert sum(ours.keras_param_counts()) == ref.count_params()


def test_layer_norm_on_a_middle_axis_matches_numpy():
    # Keras's torch backend fails on a non-trailing axis (it calls F.layer_norm on
    # the wrong axes); its other backends compute this.
    x = _data(4, 5, 6)
    ln = LayerNormalization(axis=1, epsilon=1e-3)
    ln.build(x.shape)
    with torch.no_grad():
        ln.weight.copy_(torch.arange(5.0))
        ln.bias.fill_(0.5)
    mean = x.mean(axis=1, keepdims=True)
    var = x.var(axis=1, keepdims=True)
    expected = (x - mean) / np.sqrt(var + 1e-3) * np.arange(5.0)[None, :, None] + 0.5
    np.testing.assert_allclose(ln(torch.from_numpy(x)).detach().numpy(), expected,
                               rtol=RTOL, atol=1e-5)


def test_layer_norm_set_keras_weights_builds_and_checks():
    ln = LayerNormalization(name="ln")
    ln.set_keras_weights([np.full(3, 2.0), np.ones(3)])
    out = ln(torch.tensor([[1.0, 2.0, 3.0]]))
    assert out.mean().item() == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError, match=r'"ln" weight "beta" has shape \(3,\)'):
        ln.set_keras_weights([np.ones(3), np.ones(4)])
    with pytest.raises(ValueError, match=r'"ln".*sizes \(3,\).*\(1, 4\)'):
        ln(torch.zeros(1, 4))
    with pytest.raises(TypeError, match="axis='x'"):
        LayerNormalization(axis="x")
    with pytest.raises(ValueError, match="Axis 3"):
        LayerNormalization(axis=3)(torch.zeros(2, 3))


def test_layer_norm_constraint_and_config():
    ln = LayerNormalization(gamma_constraint="non_neg", name="l")
    ln(torch.randn(2, 4))
    with torch.no_grad():
        ln.weight.fill_(-1.0)
    ln.apply_constraints()
    assert (ln.weight == 0).all()
    assert LayerNormalization.from_config(ln.get_config()).get_config() == ln.get_config()
