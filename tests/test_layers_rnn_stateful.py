"""`stateful=True` recurrent layers against Keras 3 (torch backend): states carried across
batches, calls, fit epochs, validation and predict; `reset_state()`; the fixed batch size."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import torch

import fitorch as ft
from fitorch.layers import GRU, LSTM, RNN, GRUCell, LSTMCell, SimpleRNN, SimpleRNNCell
from layer_checks import assert_close, data, keras_weights, to_np

PAIRS = [
    (lambda k: k.LSTM(3, stateful=True, bias_initializer="random_normal"),
     lambda: LSTM(3, stateful=True)),
    (lambda k: k.GRU(3, stateful=True, return_sequences=True, go_backwards=True),
     lambda: GRU(3, stateful=True, return_sequences=True, go_backwards=True)),
    (lambda k: k.SimpleRNN(3, stateful=True, return_state=True),
     lambda: SimpleRNN(3, stateful=True, return_state=True)),
    (lambda k: k.RNN([k.LSTMCell(3), k.GRUCell(2)], stateful=True),
     lambda: RNN([LSTMCell(3), GRUCell(2)], stateful=True)),
]


def _flat(x):
    if isinstance(x, (list, tuple)):
        return [leaf for item in x for leaf in _flat(item)]
    return [x]


@pytest.mark.parametrize(("make_ref", "make_ours"), PAIRS)
def test_states_carry_across_calls_like_keras(make_ref, make_ours):
    ref, ours = make_ref(keras.layers), make_ours()
    batches = [data(4, 5, 2, seed=s) for s in range(3)]
    ref.build((4, 5, 2))  # zero states of batch 4
    ours.set_keras_weights(keras_weights(ref))
    assert ours.states is None
    for x in batches:
        for a, b in zip(_flat(ours(torch.from_numpy(x))), _flat(ref(x)), strict=True):
            assert_close(a, b)
        for a, b in zip(_flat(ours.states), _flat(ref.states), strict=True):
            assert_close(a, b)
    ours.reset_states()  # Keras 2's name
    assert all(float(s.abs().sum()) == 0 for s in _flat(ours.states))
    if not isinstance(ref.cell, keras.layers.StackedRNNCells):  # Keras cannot reset those
        ref.reset_state()
        for a, b in zip(_flat(ours(torch.from_numpy(batches[1]))), _flat(ref(batches[1])),
                        strict=True):
            assert_close(a, b)
    # The states are no weights (Keras keeps them out of `layer.weights`).
    assert len(ours.get_weights()) == len(ref.weights)


def test_initial_state_given_to_a_stateful_layer_is_used_then_kept_like_keras():
    ref = keras.layers.LSTM(2, stateful=True)
    ours = LSTM(2, stateful=True)
    x = data(3, 4, 2)
    ref(x)
    ours.set_keras_weights(keras_weights(ref))
    init = [data(3, 2, seed=5), data(3, 2, seed=6)]
    assert_close(ours(torch.from_numpy(x), initial_state=[torch.from_numpy(s) for s in init]),
                 ref(x, initial_state=init))
    for a, b in zip(ours.states, ref.states, strict=True):
        assert_close(a, b)


def test_a_changed_batch_size_is_a_clear_error():
    layer = GRU(2, stateful=True, name="stateful_gru")
    layer(torch.zeros(4, 3, 2))
    with pytest.raises(ValueError, match=r'"stateful_gru" is stateful.*\(4\).*\(3, 3, 2\)'):
        layer(torch.zeros(3, 3, 2))
    layer.reset_state()
    with pytest.raises(ValueError, match="batch size of the first"):
        layer(torch.zeros(3, 3, 2))


def test_gradients_stop_at_the_batch_boundary():
    layer = SimpleRNN(2, stateful=True)
    layer(torch.randn(2, 3, 1)).sum().backward()
    assert not layer.states[0].requires_grad
    out = layer(torch.randn(2, 3, 1))
    out.sum().backward()  # no "backward through the graph a second time"


def _twin_models(tmp_path, keras_rnn, ours_rnn, batch_size):
    keras.utils.set_random_seed(3)
    ref = keras.Sequential([keras.Input((4, 2), batch_size=batch_size), keras_rnn,
                            keras.layers.Dense(1)])
    ref.save_weights(tmp_path / "k.weights.h5")
    ours = ft.Sequential([ft.Input((4, 2), batch_size=batch_size), ours_rnn,
                          ft.layers.Dense(1)])
    ours.load_weights(tmp_path / "k.weights.h5")
    return ref, ours


# Keras 3.15.1's own stateful LSTM/GRU fail in fit on its fused path (an in-place update of
# the state variable that autograd still needs), so Keras runs its step loop here.
@pytest.mark.parametrize(("keras_rnn", "ours_rnn"), [
    (lambda: keras.layers.LSTM(3, stateful=True, use_cudnn=False),
     lambda: LSTM(3, stateful=True)),
    (lambda: keras.layers.RNN(keras.layers.GRUCell(3), stateful=True),
     lambda: RNN(GRUCell(3), stateful=True)),
    (lambda: keras.layers.RNN(keras.layers.SimpleRNNCell(3), stateful=True),
     lambda: RNN(SimpleRNNCell(3), stateful=True)),
])
def test_fit_carries_the_states_across_batches_epochs_and_validation_like_keras(
        tmp_path, keras_rnn, ours_rnn):
    ref, ours = _twin_models(tmp_path, keras_rnn(), ours_rnn(), batch_size=4)
    x, y = data(12, 4, 2, seed=1), data(12, 1, seed=2)
    vx, vy = data(8, 4, 2, seed=3), data(8, 1, seed=4)
    seen: dict[str, list[np.ndarray]] = {"keras": [], "ours": []}

    def spy(key, layer):
        return ft.callbacks.LambdaCallback(
            on_epoch_begin=lambda epoch, logs: seen[key].append(to_np(layer.states[0]).copy()
                                                               if epoch else np.zeros(1)))

    ref.compile(keras.optimizers.SGD(0.1), "mse")
    ours.compile(ft.optimizers.SGD(0.1), "mse")
    ref_spy = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: seen["keras"].append(
            to_np(ref.layers[0].states[0]).copy() if epoch else np.zeros(1)))
    h_ref = ref.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0,
                    validation_data=(vx, vy), callbacks=[ref_spy])
    h_ours = ours.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0,
                      validation_data=(vx, vy), callbacks=[spy("ours", ours.layers[0])])
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(h_ours.history[key], h_ref.history[key], rtol=1e-5)
    for a, b in zip(seen["ours"], seen["keras"], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)  # no reset at epoch starts
    assert_close(ours.layers[0].states[0], ref.layers[0].states[0])
    assert_close(ours.predict(vx, batch_size=4, verbose=0), ref.predict(vx, batch_size=4,
                                                                        verbose=0))
    assert_close(ours.layers[0].states[0], ref.layers[0].states[0])  # predict moved them too
    with pytest.raises(ValueError, match="stateful"):
        ours.fit(x[:6], y[:6], batch_size=4, epochs=1, verbose=0)  # a partial last batch


def test_building_and_recording_do_not_touch_the_states():
    inputs = ft.Input((5, 2))  # no static batch size: fixed by the first real batch
    layer = LSTM(3, stateful=True)
    model = ft.Model(inputs, ft.layers.Dense(1)(layer(inputs)))
    assert layer.states is None
    model.summary(print_fn=lambda *a, **k: None)
    assert layer.states is None
    model.compile("sgd", "mse")
    model.fit(np.zeros((6, 5, 2), "float32"), np.zeros((6, 1), "float32"), batch_size=3,
              epochs=1, verbose=0)
    assert layer.states[0].shape == (3, 3)
    sequential = ft.Sequential([ft.Input((5, 2), batch_size=2), GRU(2, stateful=True)])
    assert sequential.layers[0].states is None  # built on a zero batch, states untouched


def test_predict_then_fit_uses_the_kept_states():
    # States kept under inference mode (predict) feed a training step afterwards.
    model = ft.Sequential([ft.Input((3, 2), batch_size=2), SimpleRNN(2, stateful=True),
                           ft.layers.Dense(1)])
    model.compile("sgd", "mse")
    x, y = np.ones((2, 3, 2), "float32"), np.ones((2, 1), "float32")
    model.predict(x, verbose=0)
    model.fit(x, y, epochs=1, verbose=0)
    model.train_on_batch(x, y)


def test_working_with_rnns_guide_stateful_snippets():
    """Keras's "Working with RNNs" guide, "Cross-batch statefulness" and "RNN State Reuse",
    with only the imports changed (and Keras's results alongside)."""
    from fitorch import layers

    paragraph1 = np.random.random((20, 10, 50)).astype(np.float32)
    paragraph2 = np.random.random((20, 10, 50)).astype(np.float32)
    paragraph3 = np.random.random((20, 10, 50)).astype(np.float32)

    lstm_layer = layers.LSTM(64, stateful=True)
    output = lstm_layer(paragraph1)
    output = lstm_layer(paragraph2)
    output = lstm_layer(paragraph3)

    # reset_states() will reset the cached state to the original initial_state.
    # If no initial_state was provided, zero-states will be used by default.
    lstm_layer.reset_states()

    lstm_layer = layers.LSTM(64, stateful=True)
    output = lstm_layer(paragraph1)
    output = lstm_layer(paragraph2)

    existing_state = lstm_layer.states

    new_lstm_layer = layers.LSTM(64)
    new_output = new_lstm_layer(paragraph3, initial_state=existing_state)

    assert output.shape == new_output.shape == (20, 64)
    ref = keras.layers.LSTM(64, stateful=True)
    ref(paragraph1)
    ref.set_weights(lstm_layer.get_keras_weights())
    ref.reset_state()
    ref(paragraph1)
    assert_close(ref(paragraph2), output)
    ref_new = keras.layers.LSTM(64)
    ref_new(paragraph3)
    ref_new.set_weights(new_lstm_layer.get_keras_weights())
    assert_close(ref_new(paragraph3, initial_state=ref.states), new_output)
