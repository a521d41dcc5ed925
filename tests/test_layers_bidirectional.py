"""SimpleRNN and Bidirectional against Keras 3 (torch backend)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import torch

import fitorch as ft
from fitorch.layers import GRU, LSTM, Bidirectional, SimpleRNN
from layer_checks import assert_close, assert_round_trips, assert_same_params, data, keras_weights


def _twin(ref, ours, x, **call):
    expected = ref(x, **call)
    ours.set_keras_weights(keras_weights(ref))
    torch_call = {k: torch.from_numpy(np.asarray(v)) for k, v in call.items()
                  if k not in ("training",)}
    out = ours(torch.from_numpy(x), **torch_call)
    if isinstance(expected, (list, tuple)):
        assert len(out) == len(expected)
        for a, b in zip(out, expected):
            assert_close(a, b)
    else:
        assert_close(out, expected)
    assert_same_params(ours, ref)
    for a, b in zip(ours.get_keras_weights(), keras_weights(ref)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "kwargs",
    [dict(), dict(return_sequences=True), dict(return_state=True, go_backwards=True),
     dict(activation="relu", return_sequences=True), dict(activation="sigmoid"),
     dict(use_bias=False, return_sequences=True, return_state=True)],
)
def test_simple_rnn_matches_keras(kwargs):
    ref = keras.layers.SimpleRNN(4, bias_initializer="random_normal", **kwargs)
    _twin(ref, SimpleRNN(4, **kwargs), data(3, 6, 5))


def test_simple_rnn_with_mask_matches_keras():
    x = data(3, 6, 5)
    mask = np.ones((3, 6), dtype=bool)
    mask[0, 4:] = False
    mask[2, 2:] = False
    ref = keras.layers.SimpleRNN(4, return_sequences=True, bias_initializer="random_normal")
    _twin(ref, SimpleRNN(4, return_sequences=True), x, mask=mask)


def _rnn(kind, **kwargs):
    ours = {"lstm": LSTM, "gru": GRU, "simple": SimpleRNN}[kind](3, **kwargs)
    keras_cls = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU,
                 "simple": keras.layers.SimpleRNN}[kind]
    return ours, keras_cls(3, bias_initializer="random_normal", **kwargs)


@pytest.mark.parametrize("kind", ["lstm", "gru", "simple"])
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional_matches_keras(kind, merge_mode, return_sequences):
    inner, keras_inner = _rnn(kind, return_sequences=return_sequences)
    ref = keras.layers.Bidirectional(keras_inner, merge_mode=merge_mode)
    _twin(ref, Bidirectional(inner, merge_mode=merge_mode), data(2, 5, 4))


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_bidirectional_return_state_mask_and_initial_state_match_keras(kind):
    x = data(2, 5, 4)
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=bool)
    inner, keras_inner = _rnn(kind, return_sequences=True, return_state=True)
    ref = keras.layers.Bidirectional(keras_inner)
    _twin(ref, Bidirectional(inner), x, mask=mask)
    n = 4 if kind == "lstm" else 2
    states = [data(2, 3, seed=i) for i in range(n)]
    expected = ref(x, initial_state=states)
    out = Bidirectional(inner)
    out.set_keras_weights(keras_weights(ref))
    got = out(torch.from_numpy(x), initial_state=[torch.from_numpy(s) for s in states])
    for a, b in zip(got, expected):
        assert_close(a, b)


def test_bidirectional_go_backwards_inner_and_custom_backward_layer():
    flipped = Bidirectional(GRU(3, go_backwards=True))
    assert flipped.forward_layer.go_backwards and not flipped.backward_layer.go_backwards
    layer = Bidirectional(LSTM(2), backward_layer=LSTM(3, go_backwards=True))
    assert layer(torch.zeros(1, 4, 2)).shape == (1, 5)
    assert layer.forward_layer.name.startswith("forward_")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(layer=ft.layers.Dense(2)), "recurrent layer"),
        (dict(layer=LSTM(2), merge_mode="max"), "merge mode"),
        (dict(layer=LSTM(2), backward_layer=LSTM(2)), "opposite `go_backwards`"),
    ],
)
def test_bidirectional_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Bidirectional(**kwargs)


def test_bidirectional_bad_initial_state_and_weights():
    layer = Bidirectional(GRU(2))
    with pytest.raises(ValueError, match="even count"):
        layer(torch.zeros(1, 3, 2), initial_state=[torch.zeros(1, 2)])
    with pytest.raises(ValueError, match="even count"):
        layer.set_keras_weights([np.zeros((2, 6))])


def test_imdb_bidirectional_lstm_weights_h5_both_ways(tmp_path):
    """The Keras site's IMDB model (smaller), with its weights file moving both ways."""
    x = np.random.default_rng(0).integers(1, 50, size=(4, 7))
    kmodel = keras.Sequential([
        keras.Input((None,), dtype="int32"), keras.layers.Embedding(50, 8),
        keras.layers.Bidirectional(keras.layers.LSTM(6, return_sequences=True)),
        keras.layers.Bidirectional(keras.layers.LSTM(6)),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    kmodel.save_weights(str(tmp_path / "k.weights.h5"))
    model = ft.Sequential([
        ft.layers.Embedding(50, 8),
        Bidirectional(LSTM(6, return_sequences=True)),
        Bidirectional(LSTM(6)),
        ft.layers.Dense(1, activation="sigmoid"),
    ])
    model(torch.from_numpy(x))
    model.load_weights(tmp_path / "k.weights.h5")
    expected = kmodel(x)
    assert_close(model(torch.from_numpy(x)), expected)
    model.save_weights(tmp_path / "f.weights.h5")
    kclone = keras.models.clone_model(kmodel)
    kclone.load_weights(str(tmp_path / "f.weights.h5"))
    assert_close(kclone(x), expected)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, np.array([0, 1, 0, 1]), epochs=2, batch_size=2, verbose=0)
    assert len(history.history["loss"]) == 2


def test_recurrent_layers_round_trip(tmp_path):
    layers = [Bidirectional(GRU(3, return_sequences=True), merge_mode="sum"),
              SimpleRNN(2, return_sequences=True, activation="relu"),
              Bidirectional(SimpleRNN(2), merge_mode="ave")]
    assert_round_trips(layers, torch.from_numpy(data(2, 5, 4)), tmp_path)
