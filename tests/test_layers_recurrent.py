"""LSTM and GRU, checked against Keras 3 (torch backend) on the same weights and data."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np
import pytest
import torch

from fitorch import regularizers
from fitorch.layers import GRU, LSTM, Embedding

RTOL, ATOL = 1e-5, 1e-5
KERAS = {LSTM: keras.layers.LSTM, GRU: keras.layers.GRU}


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _data(*shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _outputs(result) -> list[np.ndarray]:
    items = result if isinstance(result, (list, tuple)) else [result]
    return [t.detach().numpy() if isinstance(t, torch.Tensor) else _np(t) for t in items]


def _twins(cls, units=5, **kwargs):
    """A Keras layer (random bias) and ours with its weights, built for 4 features."""
    use_bias = kwargs.get("use_bias", True)
    ref = KERAS[cls](units, **({"bias_initializer": "random_normal"} if use_bias else {}),
                     **kwargs)
    ref.build((None, None, 4))
    ours = cls(units, **kwargs)
    ours.set_keras_weights([_np(w) for w in ref.weights])
    return ref, ours


CASES = [
    (LSTM, {}),
    (LSTM, dict(return_sequences=True, return_state=True)),
    (LSTM, dict(go_backwards=True, return_sequences=True)),
    (LSTM, dict(use_bias=False, return_state=True)),
    (LSTM, dict(activation="relu", recurrent_activation="hard_sigmoid", return_sequences=True)),
    (LSTM, dict(unit_forget_bias=False)),
    (GRU, {}),
    (GRU, dict(return_sequences=True, return_state=True)),
    (GRU, dict(go_backwards=True, return_state=True)),
    (GRU, dict(use_bias=False)),
    (GRU, dict(reset_after=False, return_sequences=True)),
    (GRU, dict(reset_after=False, go_backwards=True, return_state=True)),
    (GRU, dict(activation="relu", return_sequences=True)),
]


@pytest.mark.parametrize(("cls", "kwargs"), CASES)
def test_recurrent_matches_keras(cls, kwargs):
    ref, ours = _twins(cls, **kwargs)
    x = _data(3, 7, 4)
    expected = _outputs(ref(x))
    out = _outputs(ours(torch.from_numpy(x)))
    assert len(out) == len(expected) == (1 + ours._n_states if ours.return_state else 1)
    for mine, theirs in zip(out, expected, strict=True):
        assert mine.shape == theirs.shape
        np.testing.assert_allclose(mine, theirs, rtol=RTOL, atol=ATOL)
    assert sum(ours.keras_param_counts()) == ref.count_params()
    for mine, theirs in zip(ours.get_keras_weights(), ref.weights, strict=True):
        np.testing.assert_array_equal(mine, _np(theirs))


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_recurrent_initial_state_matches_keras(cls):
    ref, ours = _twins(cls, return_state=True)
    x = _data(2, 5, 4)
    states = [_data(2, 5, seed=s) for s in range(ours._n_states)]
    expected = _outputs(ref(x, initial_state=states))
    out = _outputs(ours(torch.from_numpy(x), initial_state=[torch.from_numpy(s) for s in states]))
    for mine, theirs in zip(out, expected, strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize(
    ("cls", "kwargs"),
    [(LSTM, dict(return_sequences=True)), (LSTM, dict(return_state=True)),
     (GRU, dict(return_sequences=True, go_backwards=True)), (GRU, dict(reset_after=False))],
)
def test_embedding_mask_zero_feeds_the_recurrent_mask_like_keras(cls, kwargs):
    ids = np.array([[3, 4, 0, 0, 0], [1, 2, 3, 4, 5], [0, 0, 6, 7, 0]])
    keras.utils.set_random_seed(0)
    emb = keras.layers.Embedding(10, 4, mask_zero=True)
    rnn = KERAS[cls](3, bias_initializer="random_normal", **kwargs)
    inputs = keras.Input((5,), dtype="int32")
    model = keras.Model(inputs, rnn(emb(inputs)))
    expected = _outputs(model(ids))
    ours_emb = Embedding(10, 4, mask_zero=True)
    ours_emb.set_keras_weights([_np(w) for w in emb.weights])
    ours = cls(3, **kwargs)
    ours.set_keras_weights([_np(w) for w in rnn.weights])
    out = _outputs(ours(ours_emb(torch.from_numpy(ids))))
    for mine, theirs in zip(out, expected, strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=RTOL, atol=ATOL)


def test_explicit_mask_and_propagation_to_the_next_layer():
    x = torch.randn(2, 4, 3)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    first = LSTM(5, return_sequences=True)
    seq = first(x, mask=mask)
    # Masked steps repeat the previous output, as Keras's (zero_output_for_mask=False).
    torch.testing.assert_close(seq[0, 2], seq[0, 1])
    assert torch.equal(seq._keras_mask, mask.bool())
    second = GRU(2)
    torch.testing.assert_close(second(seq), second(seq.detach().clone(), mask=mask))


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_fused_kernel_and_step_loop_agree_with_gradients(cls):
    torch.manual_seed(0)
    fused = cls(6, return_sequences=True, bias_initializer="random_normal")
    x = torch.randn(3, 5, 4)
    fused(x)
    loop = cls(6, return_sequences=True, use_cudnn=False)
    loop.load_state_dict(fused.state_dict())
    out_f, out_l = fused(x), loop(x)
    torch.testing.assert_close(out_f, out_l, rtol=1e-5, atol=1e-6)
    out_f.square().sum().backward()
    out_l.square().sum().backward()
    for (name, pf), pl in zip(fused.named_parameters(), loop.parameters(), strict=True):
        torch.testing.assert_close(pf.grad, pl.grad, rtol=1e-4, atol=1e-5, msg=name)


def test_lstm_bias_initialisation_and_layout():
    layer = LSTM(3, bias_initializer="zeros")
    layer.build((None, None, 2))
    assert layer.weight_ih.shape == (12, 2) and layer.weight_hh.shape == (12, 3)
    torch.testing.assert_close(layer.bias, torch.tensor([0.0] * 3 + [1.0] * 3 + [0.0] * 6))
    # orthogonal recurrent kernel: Keras's (units, 4 units) kernel has orthonormal rows.
    kernel = torch.from_numpy(layer.get_keras_weights()[1])
    torch.testing.assert_close(kernel @ kernel.T, torch.eye(3), atol=1e-5, rtol=0)
    gru = GRU(3)
    gru.build((None, None, 2))
    assert gru.bias.shape == (2, 9)
    assert GRU(3, reset_after=False, use_bias=True).cell._bias_shape() == (9,)


def test_gru_gate_order_is_converted():
    ref, ours = _twins(GRU, units=2)
    kernel = _np(ref.weights[0])  # columns: z | r | h
    torch.testing.assert_close(ours.weight_ih[:2], torch.from_numpy(kernel[:, 2:4].T))  # r
    torch.testing.assert_close(ours.weight_ih[2:4], torch.from_numpy(kernel[:, :2].T))  # z


def test_dropout_is_off_in_eval_and_seeded_in_training():
    x = torch.randn(4, 6, 3)
    layer = LSTM(5, dropout=0.5, recurrent_dropout=0.3, seed=1)
    plain = LSTM(5)
    layer(x)
    plain(x)
    plain.load_state_dict(layer.state_dict())
    layer.eval()
    torch.testing.assert_close(layer(x), plain(x))
    layer.train()
    a = layer(x)
    assert not torch.allclose(a, plain(x))
    again = LSTM(5, dropout=0.5, recurrent_dropout=0.3, seed=1)
    again(x)
    again.load_state_dict(layer.state_dict())
    torch.testing.assert_close(again(x), a)  # same seed, same masks
    a.sum().backward()
    assert layer.weight_hh.grad is not None


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_input_dropout_keeps_one_mask_per_sequence(cls):
    # With one input feature and zero weights elsewhere, a dropped feature is
    # dropped at every step: the output equals the run on an all-zero input.
    layer = cls(2, dropout=0.5, seed=3, return_sequences=True)
    x = torch.ones(64, 5, 1)
    layer(x)
    out = layer(x)
    zeros = layer.eval()(torch.zeros(1, 5, 1))[0]
    dropped = [torch.allclose(out[i], zeros) for i in range(64)]
    assert 10 < sum(dropped) < 54


def test_recurrent_regularizers_match_keras_losses():
    ref = keras.layers.LSTM(3, kernel_regularizer=keras.regularizers.L2(0.1),
                            recurrent_regularizer=keras.regularizers.L1(0.05),
                            bias_regularizer=keras.regularizers.L2(0.2),
                            bias_initializer="random_normal")
    ref.build((None, None, 4))
    ours = LSTM(3, kernel_regularizer=regularizers.L2(0.1),
                recurrent_regularizer=regularizers.L1(0.05), bias_regularizer=regularizers.L2(0.2))
    ours.set_keras_weights([_np(w) for w in ref.weights])
    mine = [t.item() for t in ours.losses]  # Keras's layer.losses: the cell's penalties
    np.testing.assert_allclose(mine, [float(_np(t)) for t in ref.losses], rtol=1e-5)


def test_recurrent_activity_regularizer_counts_every_output():
    layer = GRU(2, activity_regularizer="l2", return_state=True)
    out, h = layer(torch.randn(4, 3, 2))
    losses = layer.regularization_losses()  # the layer's own; the cell reports its weights'
    assert len(losses) == 2
    torch.testing.assert_close(losses[0], 0.01 * out.square().sum() / 4)
    torch.testing.assert_close(losses[1], 0.01 * h.square().sum() / 4)


def test_recurrent_config_round_trip():
    for layer in (LSTM(4, return_sequences=True, unit_forget_bias=False, name="l"),
                  GRU(4, reset_after=False, dropout=0.1, name="g")):
        assert type(layer).from_config(layer.get_config()).get_config() == layer.get_config()


def test_recurrent_errors():
    with pytest.raises(ValueError, match="units=-3"):
        LSTM(-3)
    with pytest.raises(ValueError, match="units=0"):
        GRU(0)
    with pytest.raises(ValueError, match="use_cudnn='yes'"):
        GRU(2, use_cudnn="yes")
    with pytest.raises(ValueError, match="dropout='a'"):
        LSTM(2, dropout="a")
    layer = LSTM(3, name="rnn")
    layer(torch.zeros(2, 4, 5))
    with pytest.raises(ValueError, match=r'"rnn".*5 features.*\(2, 4, 6\)'):
        layer(torch.zeros(2, 4, 6))
    with pytest.raises(ValueError, match=r'"rnn".*rank 3'):
        layer(torch.zeros(2, 5))
    with pytest.raises(ValueError, match=r'"rnn".*initial_state.*\(2, 3\)'):
        layer(torch.zeros(2, 4, 5), initial_state=[torch.zeros(2, 3)])
    with pytest.raises(ValueError, match=r'mask of layer "rnn"'):
        layer(torch.zeros(2, 4, 5), mask=torch.ones(2, 3))
    with pytest.raises(ValueError, match=r'"rnn" weight "recurrent_kernel" has shape \(3, 12\)'):
        layer.set_keras_weights([np.zeros((5, 12)), np.zeros((4, 12)), np.zeros(12)])
    forced = LSTM(3, activation="relu", use_cudnn=True, name="forced")
    with pytest.raises(ValueError, match='"forced" was given use_cudnn=True'):
        forced(torch.zeros(1, 2, 3))
