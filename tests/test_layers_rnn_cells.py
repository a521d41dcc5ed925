"""The RNN cell API (SimpleRNNCell, LSTMCell, GRUCell, RNN(cell), StackedRNNCells and
user-written cells) against Keras 3 (torch backend), on the same weights and data."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import torch
from torch import nn

import fitorch as ft
from fitorch.layers import (
    GRU,
    LSTM,
    RNN,
    Bidirectional,
    GRUCell,
    LSTMCell,
    SimpleRNN,
    SimpleRNNCell,
    StackedRNNCells,
)
from layer_checks import assert_close, assert_same_params, data, keras_weights, to_np

CELLS = {SimpleRNNCell: keras.layers.SimpleRNNCell, LSTMCell: keras.layers.LSTMCell,
         GRUCell: keras.layers.GRUCell}
CELL_CASES = [
    (SimpleRNNCell, {}), (SimpleRNNCell, dict(activation="relu")),
    (SimpleRNNCell, dict(activation=None, use_bias=False)),
    (LSTMCell, {}), (LSTMCell, dict(unit_forget_bias=False, recurrent_activation="hard_sigmoid")),
    (LSTMCell, dict(use_bias=False)),
    (GRUCell, {}), (GRUCell, dict(reset_after=False)), (GRUCell, dict(use_bias=False)),
    (GRUCell, dict(activation="relu", reset_after=False)),
]


def _cells(cls, units=5, features=4, **kwargs):
    """A Keras cell (random bias) and ours with its weights."""
    extra = {"bias_initializer": "random_normal"} if kwargs.get("use_bias", True) else {}
    ref = CELLS[cls](units, **extra, **kwargs)
    ref.build((None, features))
    ours = cls(units, **kwargs)
    ours.set_keras_weights(keras_weights(ref))
    return ref, ours


def _flat(x):
    if isinstance(x, (list, tuple)):
        return [leaf for item in x for leaf in _flat(item)]
    return [x]


def _assert_all_close(ours, expected):
    ours, expected = _flat(ours), _flat(expected)
    assert len(ours) == len(expected)
    for a, b in zip(ours, expected, strict=True):
        assert_close(a, b)


@pytest.mark.parametrize(("cls", "kwargs"), CELL_CASES)
@pytest.mark.parametrize("training", [False, True])
def test_cell_step_matches_keras(cls, kwargs, training):
    ref, ours = _cells(cls, **kwargs)
    x = data(3, 4)
    states = [data(3, 5, seed=s + 1) for s in range(len(_flat(ours.state_size)))]
    expected = ref(x, states, training=training)
    got = ours(torch.from_numpy(x), [torch.from_numpy(s) for s in states], training=training)
    _assert_all_close(got, expected)
    assert ours.state_size == ref.state_size and ours.output_size == ref.output_size
    assert_same_params(ours, ref)
    for mine, theirs in zip(ours.get_keras_weights(), keras_weights(ref), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    # One state given as a tensor comes back as a tensor (SimpleRNN, GRU), as in Keras.
    if isinstance(ours.state_size, int):
        _, h = ours(torch.from_numpy(x), torch.from_numpy(states[0]))
        assert isinstance(h, torch.Tensor)
        assert_close(h, _flat(expected)[-1])


@pytest.mark.parametrize("cls", list(CELLS))
def test_cell_initial_state_and_config(cls):
    ours = cls(3, dropout=0.25, name="c")
    ref = CELLS[cls](3, dropout=0.25)
    mine = ours.get_initial_state(batch_size=2)
    theirs = ref.get_initial_state(batch_size=2)
    assert [tuple(t.shape) for t in mine] == [tuple(t.shape) for t in theirs]
    assert all(float(t.abs().sum()) == 0 for t in mine)
    config = ours.get_config()
    assert set(config) - {"name"} == set(ref.get_config()) - {"name", "trainable", "dtype"}
    assert cls.from_config(config).get_config() == config


RNN_CASES = [
    dict(),
    dict(return_sequences=True, return_state=True),
    dict(go_backwards=True, return_sequences=True),
    dict(go_backwards=True, return_state=True),
]


@pytest.mark.parametrize(("cls", "cell_kwargs"), CELL_CASES[::2] + CELL_CASES[7:8])
@pytest.mark.parametrize("rnn_kwargs", RNN_CASES)
def test_rnn_of_cell_matches_keras(cls, cell_kwargs, rnn_kwargs):
    ref_cell, ours_cell = _cells(cls, **cell_kwargs)
    ref = keras.layers.RNN(ref_cell, **rnn_kwargs)
    ours = RNN(ours_cell, **rnn_kwargs)
    x = data(3, 6, 4)
    for training in (False, True):  # dropout 0: both modes give the same numbers
        ours.train(training)
        _assert_all_close(ours(torch.from_numpy(x)), ref(x, training=training))
    assert_same_params(ours, ref)
    assert sum(ours.keras_param_counts()) == ref.count_params()


@pytest.mark.parametrize("zero_output", [False, True])
@pytest.mark.parametrize("cls", list(CELLS))
def test_rnn_of_cell_masks_and_initial_state_like_keras(cls, zero_output):
    ref_cell, ours_cell = _cells(cls)
    kwargs = dict(return_sequences=True, return_state=True, zero_output_for_mask=zero_output)
    ref, ours = keras.layers.RNN(ref_cell, **kwargs), RNN(ours_cell, **kwargs)
    x = data(3, 5, 4)
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 1, 1, 0, 1]], dtype=bool)
    states = [data(3, 5, seed=7 + s) for s in range(len(_flat(ours_cell.state_size)))]
    expected = ref(x, initial_state=states, mask=mask)
    got = ours(torch.from_numpy(x), initial_state=[torch.from_numpy(s) for s in states],
               mask=torch.from_numpy(mask))
    _assert_all_close(got, expected)
    assert torch.equal(got[0]._keras_mask, torch.from_numpy(mask))


@pytest.mark.parametrize("return_state", [False, True])
def test_stacked_cells_match_keras_and_weights_h5_moves_both_ways(tmp_path, return_state):
    keras.utils.set_random_seed(1)
    ref = keras.Sequential([
        keras.Input((6, 4)),
        keras.layers.RNN([keras.layers.LSTMCell(5, bias_initializer="random_normal"),
                          keras.layers.GRUCell(3, bias_initializer="random_normal"),
                          keras.layers.SimpleRNNCell(2)], return_sequences=True),
        keras.layers.RNN(keras.layers.GRUCell(3, reset_after=False)),
        keras.layers.Dense(1),
    ])
    ref.save_weights(tmp_path / "k.weights.h5")
    ours = ft.Sequential([
        ft.Input((6, 4)),
        RNN([LSTMCell(5), GRUCell(3), SimpleRNNCell(2)], return_sequences=True),
        RNN(GRUCell(3, reset_after=False)),
        ft.layers.Dense(1),
    ])
    ours.load_weights(tmp_path / "k.weights.h5")
    x = data(3, 6, 4)
    assert_close(ours.predict(x, verbose=0), ref.predict(x, verbose=0))
    assert ours.count_params() == ref.count_params()
    stacked = ours.layers[0]
    assert isinstance(stacked.cell, StackedRNNCells)
    assert stacked.cell.state_size == ref.layers[0].cell.state_size == [[5, 5], 3, 2]
    assert_same_params(stacked, ref.layers[0])

    # and back: fitorch's file loads into Keras
    for p in ours.parameters():
        torch.nn.init.normal_(p.data, std=0.3)
    ours.save_weights(tmp_path / "f.weights.h5")
    ref.load_weights(tmp_path / "f.weights.h5")
    assert_close(ours.predict(x, verbose=0), ref.predict(x, verbose=0))

    layer_kwargs = dict(return_state=return_state, go_backwards=True)
    ref_layer = keras.layers.RNN(ref.layers[0].cell, **layer_kwargs)
    ours_layer = RNN(stacked.cell, **layer_kwargs)
    expected = ref_layer(x)
    got = ours_layer(torch.from_numpy(x))
    _assert_all_close(got, expected)
    if return_state:  # nested like Keras's: output, [h, c], [h], [h]
        assert [len(s) if isinstance(s, list) else 0 for s in got[1:]] == [2, 1, 1]


def test_stacked_cells_under_a_mask_match_keras():
    ref_cells = [keras.layers.GRUCell(4, bias_initializer="random_normal"),
                 keras.layers.LSTMCell(3, bias_initializer="random_normal")]
    ref = keras.layers.RNN(ref_cells, return_sequences=True)
    x = data(2, 5, 4)
    mask = np.array([[1, 1, 0, 1, 0], [1, 1, 1, 1, 1]], dtype=bool)
    expected = ref(x, mask=mask)
    ours = RNN([GRUCell(4), LSTMCell(3)], return_sequences=True)
    ours.set_keras_weights(keras_weights(ref))
    assert_close(ours(torch.from_numpy(x), mask=torch.from_numpy(mask)), expected)


# --- a user-written cell, as in Keras's RNN documentation --------------------------------


class KerasMinimalRNNCell(keras.layers.Layer):
    """Keras's `MinimalRNNCell` (the RNN layer's docstring)."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units),
                                      initializer="uniform", name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(self.units, self.units),
                                                initializer="uniform", name="recurrent_kernel")

    def call(self, inputs, states):
        prev_output = states[0]
        h = keras.ops.matmul(inputs, self.kernel)
        output = h + keras.ops.matmul(prev_output, self.recurrent_kernel)
        return output, [output]


class MinimalRNNCell(nn.Module):
    """The same cell, in PyTorch: `state_size` and `forward(inputs, states)`."""

    def __init__(self, units, input_dim):
        super().__init__()
        self.units = units
        self.state_size = units
        self.kernel = nn.Parameter(torch.empty(input_dim, units).uniform_(-0.05, 0.05))
        self.recurrent_kernel = nn.Parameter(torch.empty(units, units).uniform_(-0.05, 0.05))

    def forward(self, inputs, states):
        prev_output = states[0]
        h = inputs @ self.kernel
        output = h + prev_output @ self.recurrent_kernel
        return output, [output]


class KerasStyleCell(nn.Module):
    """A cell written the Keras way in torch: `build(input_shape)` and `call(inputs, states)`,
    two states, and `training` (which RNN passes)."""

    def __init__(self, units):
        super().__init__()
        self.units = units
        self.state_size = [units, units]
        self.output_size = units
        self.seen_training: list[bool] = []

    def build(self, input_shape):
        self.kernel = nn.Parameter(torch.randn(input_shape[-1], self.units) * 0.3)

    def call(self, inputs, states, training=False):
        self.seen_training.append(training)
        h, total = states
        h = torch.tanh(inputs @ self.kernel + h)
        return h, (h, total + h)


@pytest.mark.parametrize("kwargs", [dict(), dict(return_sequences=True, return_state=True),
                                    dict(go_backwards=True, return_state=True)])
def test_user_written_cell_matches_keras(kwargs):
    ref_cell = KerasMinimalRNNCell(3)
    ref = keras.layers.RNN(ref_cell, **kwargs)
    x = data(2, 5, 4)
    mask = np.array([[1, 1, 1, 0, 0], [1, 0, 1, 1, 1]], dtype=bool)
    expected, masked = ref(x), ref(x, mask=mask)
    cell = MinimalRNNCell(3, 4)
    with torch.no_grad():
        cell.kernel.copy_(torch.from_numpy(to_np(ref_cell.kernel)))
        cell.recurrent_kernel.copy_(torch.from_numpy(to_np(ref_cell.recurrent_kernel)))
    ours = RNN(cell, **kwargs)
    _assert_all_close(ours(torch.from_numpy(x)), expected)
    _assert_all_close(ours(torch.from_numpy(x), mask=torch.from_numpy(mask)), masked)
    with pytest.raises(TypeError, match="no Keras layout"):
        ours.get_keras_weights()


def test_keras_style_cell_is_built_once_and_trains():
    cell = KerasStyleCell(3)
    layer = RNN(cell, return_state=True)
    x = torch.randn(4, 6, 2)
    out, h, total = layer(x)
    assert cell.kernel.shape == (2, 3) and out.shape == h.shape == total.shape == (4, 3)
    kernel = cell.kernel
    layer(x)
    assert cell.kernel is kernel  # `build` ran once
    assert set(cell.seen_training) == {True}  # a fresh module trains
    layer.eval()
    layer(x)
    assert cell.seen_training[-1] is False
    model = ft.Sequential([RNN(KerasStyleCell(3)), ft.layers.Dense(1)])
    model.compile("adam", "mse")
    history = model.fit(np.random.rand(16, 6, 2).astype("float32"),
                        np.random.rand(16, 1).astype("float32"), epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_cells_train_in_fit_like_the_layers():
    torch.manual_seed(0)
    x = np.random.rand(32, 5, 3).astype("float32")
    y = np.random.rand(32, 1).astype("float32")
    layer_model = ft.Sequential([ft.Input((5, 3)), LSTM(4), ft.layers.Dense(1)])
    cell_model = ft.Sequential([ft.Input((5, 3)), RNN(LSTMCell(4)), ft.layers.Dense(1)])
    cell_model.set_weights(layer_model.get_weights())  # the same parameters, in the same order
    for model in (layer_model, cell_model):
        model.compile(ft.optimizers.SGD(0.1), "mse")
        model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(layer_model.get_weights(), cell_model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_bidirectional_over_rnn_of_cell_matches_keras():
    ref = keras.layers.Bidirectional(
        keras.layers.RNN(keras.layers.GRUCell(3, bias_initializer="random_normal"),
                         return_sequences=True))
    x = data(2, 5, 4)
    expected = ref(x)
    ours = Bidirectional(RNN(GRUCell(3), return_sequences=True))
    ours.set_keras_weights(keras_weights(ref))
    assert_close(ours(torch.from_numpy(x)), expected)
    assert_same_params(ours, ref)


def test_dropout_masks_follow_keras_rules():
    cell = LSTMCell(4, dropout=0.5, recurrent_dropout=0.5, seed=2)
    x = torch.ones(8, 3)
    states = cell.get_initial_state(batch_size=8)
    assert cell.get_dropout_mask(x) is not None
    first = cell.get_dropout_mask(x)
    assert len(first) == 4  # one per gate with recurrent dropout (Keras's implementation 1)
    assert cell.get_dropout_mask(x) is first  # reused until reset
    cell.reset_dropout_mask()
    assert cell.get_dropout_mask(x) is not first
    layer = RNN(cell)
    layer(torch.ones(8, 5, 3))
    assert cell._dropout_mask is None and cell._recurrent_dropout_mask is None  # RNN resets
    layer.eval()
    plain = RNN(LSTMCell(4))
    plain(torch.ones(1, 5, 3))
    plain.cell.load_state_dict(cell.state_dict())
    torch.testing.assert_close(layer(torch.ones(8, 5, 3)), plain(torch.ones(8, 5, 3)))
    assert GRUCell(2).get_dropout_mask(x) is None
    del states


def test_rnn_config_round_trip_and_save(tmp_path):
    model = ft.Sequential([ft.Input((5, 3)),
                           RNN([LSTMCell(4), GRUCell(2, reset_after=False)], return_sequences=True,
                               go_backwards=True),
                           RNN(SimpleRNNCell(3, activation="relu"), name="last")])
    x = torch.randn(2, 5, 3)
    model.eval()
    expected = model(x)
    model.save(tmp_path / "m.fitorch")
    loaded = ft.load_model(tmp_path / "m.fitorch").eval()
    assert loaded.get_config() == model.get_config()
    torch.testing.assert_close(loaded(x), expected, rtol=0, atol=0)


def test_rnn_errors():
    with pytest.raises(ValueError, match="state_size"):
        RNN(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="non-empty list"):
        StackedRNNCells([])
    layer = RNN(LSTMCell(3), name="r")
    with pytest.raises(ValueError, match=r'"r".*rank 3.*\(2, 5\)'):
        layer(torch.zeros(2, 5))
    layer(torch.zeros(2, 4, 5))
    with pytest.raises(ValueError, match=r'"r".*5 features.*\(2, 4, 6\)'):
        layer(torch.zeros(2, 4, 6))
    with pytest.raises(ValueError, match=r'"r".*initial_state'):
        layer(torch.zeros(2, 4, 5), initial_state=[torch.zeros(2, 3)])
    with pytest.raises(ValueError, match=r'mask of layer "r"'):
        layer(torch.zeros(2, 4, 5), mask=torch.ones(2, 3))
    with pytest.raises(ValueError, match="use_cudnn=True"):
        GRU(2, reset_after=False, use_cudnn=True)(torch.zeros(1, 2, 3))
    with pytest.raises(ValueError, match=r"\(batch, 5\)"):
        layer.cell(torch.zeros(2, 6), layer.cell.get_initial_state(2))
    with pytest.raises(ValueError, match="must return"):
        RNN(_BadCell())(torch.zeros(1, 2, 3))


class _BadCell(nn.Module):
    state_size = 2

    def forward(self, inputs, states):
        return inputs


def test_layers_are_rnn_over_their_cell():
    for layer, cell_cls in ((LSTM(3), LSTMCell), (GRU(3), GRUCell), (SimpleRNN(3), SimpleRNNCell)):
        assert isinstance(layer, RNN) and isinstance(layer.cell, cell_cls)
        layer(torch.zeros(1, 2, 4))
        assert layer.weight_ih is layer.cell.weight_ih
        assert layer.units == 3 and layer.in_features == 4


def test_working_with_rnns_guide_cell_snippet():
    """Keras's "Working with RNNs" guide, "Using CuDNN kernels when available": `LSTM(units)`
    and `RNN(LSTMCell(units))` are the same model. Ported with the imports changed, an
    `Input` for Keras's `input_shape=` and random digits-shaped data for MNIST."""
    keras_ns = ft  # the guide's `keras.` prefix
    batch_size = 64
    input_dim = 28
    units = 64
    output_size = 10  # labels are from 0 to 9

    def build_model(allow_cudnn_kernel=True):
        if allow_cudnn_kernel:
            lstm_layer = keras_ns.layers.LSTM(units)
        else:
            lstm_layer = keras_ns.layers.RNN(keras_ns.layers.LSTMCell(units))
        model = keras_ns.Sequential(
            [
                keras_ns.Input(shape=(None, input_dim)),
                lstm_layer,
                keras_ns.layers.BatchNormalization(),
                keras_ns.layers.Dense(output_size),
            ]
        )
        return model

    rng = np.random.default_rng(0)
    x_train = rng.random((128, 28, 28)).astype("float32")
    y_train = rng.integers(0, 10, 128)
    x_test, y_test = x_train[:64], y_train[:64]

    model = build_model(allow_cudnn_kernel=True)
    model.compile(
        loss=keras_ns.losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer="sgd",
        metrics=["accuracy"],
    )
    noncudnn_model = build_model(allow_cudnn_kernel=False)
    noncudnn_model.set_weights(model.get_weights())
    noncudnn_model.compile(
        loss=keras_ns.losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer="sgd",
        metrics=["accuracy"],
    )
    histories = [
        m.fit(x_train, y_train, validation_data=(x_test, y_test), batch_size=batch_size,
              epochs=1, shuffle=False, verbose=0)
        for m in (model, noncudnn_model)
    ]
    np.testing.assert_allclose(histories[0].history["loss"], histories[1].history["loss"],
                               rtol=1e-5)
    assert_close(model.predict_on_batch(x_test[:1]), noncudnn_model.predict_on_batch(x_test[:1]))


def test_sequences_reaching_conv1d_without_permute_get_a_channels_first_error():
    """(batch, steps, features) from Embedding into Conv1D: when the built layer's channel
    count differs from axis 1 the error names channels-first and the `Permute((2, 1))` fix.
    When the step count happens to equal the channel count no check can tell the axes apart."""
    model = ft.Sequential([ft.layers.Embedding(50, 8), ft.layers.Permute((2, 1)),
                           ft.layers.Conv1D(4, 3), ft.layers.GlobalMaxPooling1D()])
    assert model(torch.randint(0, 50, (2, 12))).shape == (2, 4)
    conv = ft.layers.Conv1D(4, 3)
    conv(torch.zeros(2, 8, 12))  # built for 8 channels
    sequences = ft.layers.Embedding(50, 16)(torch.randint(0, 50, (2, 12)))
    with pytest.raises(ValueError, match=r"channels-first.*Permute\(\(2, 1\)\).*\(2, 12, 16\)"):
        conv(sequences)
    with pytest.raises(ValueError, match=r"channels-first.*Permute\(\(2, 1\)\)"):
        conv(torch.zeros(2, 12, 8))  # the features are the channels: the channels-last hint


def test_weights_saved_before_the_cell_api_still_load() -> None:
    """State dicts of recurrent layers written as `<layer>.weight_ih` (before the cells
    held the weights) load into `<layer>.cell.weight_ih`."""
    import torch

    import fitorch as ft

    model = ft.Sequential([ft.Input(shape=(5, 3)), ft.layers.LSTM(4), ft.layers.Dense(1)])
    current = model.state_dict()
    older = {k.replace("cell.", ""): v + 1 for k, v in current.items()}
    assert "stack.0.weight_ih" in older
    model.load_state_dict(older)
    for key, value in model.state_dict().items():
        assert torch.equal(value, older[key.replace("cell.", "")])


def test_bidirectional_over_a_user_written_cell() -> None:
    """A cell without a config (Keras's guide's MinimalRNNCell) is copied for the
    backward direction, with its own weights."""
    import torch

    import fitorch as ft

    class MinimalRNNCell(torch.nn.Module):
        def __init__(self, units: int) -> None:
            super().__init__()
            self.units = units
            self.state_size = units

        def build(self, input_shape):  # type: ignore[no-untyped-def]
            self.kernel = torch.nn.Parameter(torch.randn(input_shape[-1], self.units) * 0.1)
            self.recurrent_kernel = torch.nn.Parameter(torch.randn(self.units, self.units) * 0.1)

        def forward(self, inputs, states):  # type: ignore[no-untyped-def]
            out = inputs @ self.kernel + states[0] @ self.recurrent_kernel
            return out, [out]

    layer = ft.layers.Bidirectional(ft.layers.RNN(MinimalRNNCell(4)))
    x = torch.randn(2, 5, 3)
    y = layer(x)
    assert y.shape == (2, 8)
    assert layer.backward_layer.go_backwards and not layer.forward_layer.go_backwards
    assert not torch.equal(layer.forward_layer.cell.kernel, layer.backward_layer.cell.kernel)
    backward = layer.backward_layer(x)
    torch.testing.assert_close(y[:, 4:], backward)
