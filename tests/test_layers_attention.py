"""MultiHeadAttention against Keras 3 (torch backend)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import torch

import fitorch as ft
from fitorch.layers import MultiHeadAttention
from layer_checks import assert_close, assert_same_params, data, keras_weights


def _pair(**kwargs):
    ref = keras.layers.MultiHeadAttention(bias_initializer="random_normal", **kwargs)
    return ref, MultiHeadAttention(**kwargs)


def _t(x):
    return None if x is None else torch.from_numpy(np.asarray(x))


@pytest.mark.parametrize(
    "kwargs",
    [dict(num_heads=2, key_dim=4), dict(num_heads=3, key_dim=2, value_dim=5, output_shape=7),
     dict(num_heads=1, key_dim=6, use_bias=False)],
)
def test_mha_matches_keras(kwargs):
    q, v = data(2, 5, 6), data(2, 7, 3, seed=1)
    ref, ours = _pair(**kwargs)
    expected, expected_scores = ref(q, v, return_attention_scores=True)
    ours.set_keras_weights(keras_weights(ref))
    out = ours(_t(q), _t(v))
    assert_close(out, expected)
    out2, scores = ours(_t(q), _t(v), return_attention_scores=True)
    assert_close(out2, expected)
    assert_close(scores, expected_scores)
    assert_same_params(ours, ref)
    for a, b in zip(ours.get_keras_weights(), keras_weights(ref)):
        np.testing.assert_array_equal(a, b)


def test_mha_masks_match_keras():
    q, v, k = data(2, 4, 6), data(2, 5, 6, seed=1), data(2, 5, 6, seed=2)
    ref, ours = _pair(num_heads=2, key_dim=3)
    attention_mask = np.random.default_rng(3).random((2, 4, 5)) > 0.3
    attention_mask[:, :, 0] = True  # every query attends to something
    value_mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=bool)
    query_mask = np.array([[1, 1, 1, 1], [1, 1, 0, 1]], dtype=bool)
    expected = ref(q, v, k, attention_mask=attention_mask, value_mask=value_mask,
                   query_mask=query_mask)
    ours.set_keras_weights(keras_weights(ref))
    out = ours(_t(q), _t(v), _t(k), attention_mask=_t(attention_mask),
               value_mask=_t(value_mask), query_mask=_t(query_mask))
    keep = query_mask[..., None]  # Keras leaves fully masked query rows to the kernel
    expected = keras.ops.convert_to_numpy(expected)
    assert_close(np.where(keep, out.detach().numpy(), 0), np.where(keep, expected, 0))
    causal = ref(q, q, use_causal_mask=True)
    assert_close(ours(_t(q), _t(q), use_causal_mask=True), causal)
    _, scores = ours(_t(q), _t(q), use_causal_mask=True, return_attention_scores=True)
    assert torch.equal(scores[0, 0] > 0, torch.ones(4, 4, dtype=torch.bool).tril())


def test_fully_masked_rows_give_zeros_not_nans():
    layer = MultiHeadAttention(2, 3, use_bias=False)
    x = torch.randn(1, 3, 4)
    mask = torch.tensor([[[True, True, True], [False, False, False], [True, False, False]]])
    out = layer(x, x, attention_mask=mask)
    assert torch.isfinite(out).all() and torch.equal(out[0, 1], torch.zeros(4))
    out2, scores = layer(x, x, attention_mask=mask, return_attention_scores=True)
    assert_close(out2, out)
    assert torch.equal(scores[0, :, 1], torch.zeros(2, 3))


def test_mha_dropout_training_only_and_seeded():
    x = torch.randn(2, 6, 8)
    layer = MultiHeadAttention(2, 4, dropout=0.5, seed=1)
    layer.eval()
    assert torch.equal(layer(x, x), layer(x, x))
    layer.train()
    a = layer(x, x)
    twin = MultiHeadAttention(2, 4, dropout=0.5, seed=1)
    twin.load_state_dict(layer.state_dict())
    twin.train()
    assert torch.equal(a, twin(x, x)) and not torch.equal(a, layer.eval()(x, x))
    unseeded = MultiHeadAttention(2, 4, dropout=0.5).train()
    assert not torch.equal(unseeded(x, x), unseeded.eval()(x, x))


@pytest.mark.parametrize(
    "kwargs, match",
    [(dict(num_heads=0, key_dim=2), "num_heads"), (dict(num_heads=2, key_dim=2, dropout=1.0),
                                                   "dropout"),
     (dict(num_heads=2, key_dim=2, attention_axes=(1, 2)), "attention_axes"),
     (dict(num_heads=2, key_dim=2, output_shape=(3, 4)), "output_shape")],
)
def test_mha_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MultiHeadAttention(**kwargs)


def test_mha_bad_inputs():
    layer = MultiHeadAttention(2, 2)
    with pytest.raises(ValueError, match="query"):
        layer(torch.zeros(2, 3), torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match="broadcast"):
        layer(torch.zeros(2, 3, 4), torch.zeros(2, 5, 4), attention_mask=torch.ones(2, 3, 4))


# Self-attention as a one-input layer for a Sequential; the class keeps Keras's name, which
# is how `.weights.h5` finds a layer in a list of layers.
_SelfAttention = type("MultiHeadAttention", (MultiHeadAttention,), {
    "forward": lambda self, x: MultiHeadAttention.forward(self, x, x)})


def test_mha_weights_h5_both_ways_and_training(tmp_path):
    x = data(4, 5, 6)
    inp = keras.Input((5, 6))
    kmodel = keras.Model(inp, keras.layers.MultiHeadAttention(
        2, 4, bias_initializer="random_normal")(inp, inp))
    expected = kmodel(x)
    kmodel.save_weights(str(tmp_path / "k.weights.h5"))
    model = ft.Sequential([_SelfAttention(2, 4)])
    model(torch.from_numpy(x))
    model.load_weights(tmp_path / "k.weights.h5")
    assert_close(model(torch.from_numpy(x)), expected)
    model.save_weights(tmp_path / "f.weights.h5")
    kclone = keras.models.clone_model(kmodel)
    kclone.load_weights(str(tmp_path / "f.weights.h5"))
    assert_close(kclone(x), expected)
    model.compile(optimizer="adam", loss="mse")
    before = model.layers[0].query_dense.weight.detach().clone()
    model.fit(x, np.zeros((4, 5, 6), "float32"), epochs=1, batch_size=2, verbose=0)
    assert not torch.equal(before, model.layers[0].query_dense.weight)


def test_mha_config_round_trip():
    layer = MultiHeadAttention(3, 2, value_dim=4, dropout=0.1, output_shape=5, seed=3)
    clone = MultiHeadAttention.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
