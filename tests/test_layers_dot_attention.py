"""Attention and AdditiveAttention against Keras 3 (torch backend)."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import torch

from fitorch.layers import AdditiveAttention, Attention
from fitorch.saving.serialization import layer_class, layer_config
from layer_checks import assert_close, assert_same_params, data, keras_weights


def _t(x):
    return torch.from_numpy(np.asarray(x))


def _twin(ref, ours, inputs, **call):
    ref(inputs, **call)  # builds Keras's layer
    scaled = [w * 1.5 for w in keras_weights(ref)]  # weights other than Keras's ones
    ref.set_weights(scaled)
    ours.set_keras_weights(scaled)
    expected = ref(inputs, **call)
    torch_call = dict(call)
    if "mask" in call:
        torch_call["mask"] = [None if m is None else _t(m) for m in call["mask"]]
    out = ours([_t(x) for x in inputs], **torch_call)
    if isinstance(expected, tuple):
        for a, b in zip(out, expected):
            assert_close(a, b)
    else:
        assert_close(out, expected)
    assert_same_params(ours, ref)


@pytest.mark.parametrize(
    "kwargs", [{}, dict(use_scale=True), dict(score_mode="concat"),
               dict(use_scale=True, score_mode="concat")])
@pytest.mark.parametrize("with_key", [False, True])
def test_attention_matches_keras(kwargs, with_key):
    inputs = [data(2, 3, 4), data(2, 5, 4, seed=1)] + ([data(2, 5, 4, seed=2)] if with_key
                                                         else [])
    _twin(keras.layers.Attention(**kwargs), Attention(**kwargs), inputs,
          return_attention_scores=True)


@pytest.mark.parametrize("use_scale", [True, False])
def test_additive_attention_matches_keras(use_scale):
    inputs = [data(2, 3, 4), data(2, 5, 4, seed=1)]
    ref = keras.layers.AdditiveAttention(use_scale=use_scale)
    ref(inputs)
    _twin(ref, AdditiveAttention(use_scale=use_scale), inputs)


@pytest.mark.parametrize("cls", ["Attention", "AdditiveAttention"])
def test_masks_match_keras(cls):
    inputs = [data(2, 4, 3), data(2, 5, 3, seed=1)]
    mask = [np.array([[1, 1, 0, 1], [1, 1, 1, 1]], bool),
            np.array([[1, 1, 1, 0, 0], [1, 0, 1, 1, 1]], bool)]
    ours_cls = {"Attention": Attention, "AdditiveAttention": AdditiveAttention}[cls]
    ref = getattr(keras.layers, cls)()
    ref(inputs)
    _twin(ref, ours_cls(), inputs, mask=mask, return_attention_scores=True)
    square = [data(2, 4, 3), data(2, 4, 3, seed=1)]
    _twin(ref, ours_cls(), square, use_causal_mask=True)


def test_dropout_training_only_and_seeded():
    q = torch.randn(2, 4, 3)
    a = Attention(dropout=0.5, seed=2).train()
    b = Attention(dropout=0.5, seed=2).train()
    assert torch.equal(a([q, q]), b([q, q]))
    assert torch.equal(a.eval()([q, q]), Attention()([q, q]))


@pytest.mark.parametrize(
    "call, match",
    [(lambda: Attention()(torch.zeros(2, 3, 4)), "list"),
     (lambda: Attention()([torch.zeros(2, 3, 4)]), "list"),
     (lambda: Attention()([torch.zeros(2, 3, 4)] * 2, mask=torch.ones(2, 3)), "mask"),
     (lambda: Attention(score_mode="add"), "score_mode"),
     (lambda: AdditiveAttention(dropout=1.0), "dropout")],
)
def test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("layer", [Attention(use_scale=True, score_mode="concat", seed=1),
                                   AdditiveAttention(use_scale=False, dropout=0.1)])
def test_configs_round_trip(layer):
    entry = json.loads(json.dumps(layer_config(layer)))
    clone = layer_class(entry["class_name"]).from_config(entry["config"])
    assert clone.get_config() == layer.get_config()
