"""Every mistake a user can make with the core API: the right exception, a clear message, early."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import fitorch as ft
from conftest import mlp

SPARSE = ft.losses.SparseCategoricalCrossentropy(from_logits=True)


@pytest.fixture
def data(classification_data):
    return classification_data


@pytest.fixture
def model():
    m = ft.Model(mlp())
    m.compile(optimizer="sgd", loss=SPARSE, metrics=["accuracy"])
    return m


def weights_of(model: ft.Model) -> list[np.ndarray]:
    return [w.copy() for w in model.get_weights()]


@pytest.mark.parametrize("call", [
    lambda m, x, y: m.fit(x, y, verbose=0),
    lambda m, x, y: m.evaluate(x, y, verbose=0),
    lambda m, x, y: m.train_on_batch(x, y),
    lambda m, x, y: m.test_on_batch(x, y),
], ids=["fit", "evaluate", "train_on_batch", "test_on_batch"])
def test_using_the_model_before_compile(data, call):
    x, y = data
    with pytest.raises(RuntimeError, match=r"You must compile your model before using it\."):
        call(ft.Model(mlp()), x, y)


def test_compile_without_loss_then_fit(data):
    x, y = data
    m = ft.Model(mlp())
    m.compile(optimizer="adam")
    before = weights_of(m)
    with pytest.raises(ValueError, match="No loss to compute.*`loss` argument in `compile\\(\\)`"):
        m.fit(x, y, verbose=0)
    with pytest.raises(ValueError, match="No loss to compute"):
        m.evaluate(x, y, verbose=0)
    for a, b in zip(before, m.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_missing_targets(model, data):
    x, _ = data
    with pytest.raises(ValueError, match="Target data is missing.*Received: y=None"):
        model.fit(x, verbose=0)


@pytest.mark.parametrize("items", [1, 4])
def test_validation_data_with_a_wrong_number_of_items(model, data, items):
    x, y = data
    value = (x, y, np.ones(len(y)), np.ones(len(y)))[:items]
    with pytest.raises(ValueError, match=f"however it contains {items} items"):
        model.fit(x, y, validation_data=value, verbose=0)


def test_validation_data_of_the_wrong_type(model, data):
    x, y = data
    with pytest.raises(ValueError, match="must be a tuple.*Received: validation_data of type"):
        model.fit(x, y, validation_data=x, verbose=0)


@pytest.mark.parametrize("value", [-0.1, 1.0, 1.5, "0.2", True])
def test_bad_validation_split(model, data, value):
    x, y = data
    with pytest.raises(ValueError, match="`validation_split` must be a float in \\[0, 1\\)"):
        model.fit(x, y, validation_split=value, verbose=0)


def test_validation_split_too_small_for_the_data(model, data):
    x, y = data
    with pytest.raises(ValueError, match="Training data contains 1 samples"):
        model.fit(x[:1], y[:1], validation_split=0.5, verbose=0)


@pytest.mark.parametrize("value", [0, -2, "2", [0, 1], 1.5])
def test_bad_validation_freq(model, data, value):
    x, y = data
    with pytest.raises(ValueError, match="`validation_freq`"):
        model.fit(x, y, validation_data=(x, y), validation_freq=value, verbose=0)


@pytest.mark.parametrize("kwargs,match", [
    ({"batch_size": 0}, "`batch_size` must be a positive integer"),
    ({"batch_size": 2.5}, "`batch_size` must be a positive integer"),
    ({"epochs": -1}, "`epochs` must be a non-negative integer"),
    ({"initial_epoch": -1}, "`initial_epoch` must be a non-negative integer"),
    ({"steps_per_epoch": 0}, "`steps_per_epoch` must be a positive integer"),
    ({"validation_steps": -3}, "`validation_steps` must be a positive integer"),
    ({"shuffle": "yes"}, "`shuffle` must be True, False or 'batch'"),
    ({"verbose": 3}, "`verbose` must be one of 0, 1, 2 or 'auto'"),
    ({"class_weight": [1, 2]}, "`class_weight` must be a dict"),
    ({"class_weight": {"a": 1.0}}, "`class_weight` keys must be integer class indices"),
    ({"workers": 0}, "`workers` must be a positive integer"),
    ({"use_multiprocessing": "no"}, "`use_multiprocessing` must be True or False"),
    ({"callbacks": "history"}, "`callbacks` must be a list"),
])
def test_bad_fit_arguments(model, data, kwargs, match):
    x, y = data
    before = weights_of(model)
    with pytest.raises(ValueError, match=match):
        model.fit(x, y, **{"verbose": 0, **kwargs})
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_callback_of_the_wrong_type(model, data):
    x, y = data
    with pytest.raises(TypeError, match="must be an instance of fitorch.callbacks.Callback"):
        model.fit(x, y, callbacks=[lambda logs: None], verbose=0)


def test_class_weight_with_sample_weight(model, data):
    x, y = data
    with pytest.raises(ValueError, match="`class_weight` and `sample_weight` cannot be given"):
        model.fit(x, y, class_weight={0: 1.0}, sample_weight=np.ones(len(y)), verbose=0)


def test_class_weight_for_several_outputs(data):
    x, y = data
    m = ft.Model(mlp())
    m.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="only supported for models with a single output"):
        m.fit(x, [y, y], class_weight={0: 1.0}, verbose=0)


def test_mismatched_lengths_name_every_size(model, data):
    x, y = data
    with pytest.raises(ValueError, match=r"(?s)Data cardinality is ambiguous.*'x' sizes: 103.*"
                                         r"'y' sizes: 100"):
        model.fit(x, y[:100], verbose=0)


def test_empty_arrays(model):
    with pytest.raises(ValueError, match="Expected at least one sample"):
        model.fit(np.zeros((0, 8), np.float32), np.zeros(0, np.int64), verbose=0)


def test_unrecognised_input_type(model):
    with pytest.raises(ValueError, match="Unrecognized data type for `x`.*Received: x=str"):
        model.fit("not data", verbose=0)
    with pytest.raises(ValueError, match="No input data"):
        model.fit(None, verbose=0)


def test_string_arrays(model):
    with pytest.raises(TypeError, match="must hold numbers.*dtype <U1"):
        model.fit(np.array([["a"] * 8] * 4), np.zeros(4, np.int64), verbose=0)


def test_y_of_another_kind_than_x(model, data):
    x, _ = data
    with pytest.raises(ValueError, match="`y` must be array-like"):
        model.fit(x, "labels", verbose=0)


def test_scalar_input(model):
    with pytest.raises(ValueError, match="must be an array with a batch dimension"):
        model.predict(np.float32(3.0), verbose=0)


def test_label_out_of_range_names_the_label_and_the_classes(model, data):
    x, y = data
    bad = y.copy()
    bad[5] = 7
    before = weights_of(model)
    with pytest.raises(ValueError, match=r"label value of 7.*3 classes|7.*\[0, 3\)"):
        model.fit(x, bad, verbose=0)
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind,value,match", [
    ("optimizer", "adamm", "Unknown optimizer.*adam"),
    ("loss", "mse2", "mean_squared_error|mse"),
    ("metrics", ["acuracy"], "accuracy"),
])
def test_unknown_names_list_the_valid_ones(kind, value, match):
    m = ft.Model(mlp())
    with pytest.raises(ValueError, match=match):
        m.compile(**{"loss": "mse", kind: value})


@pytest.mark.parametrize("kwargs,exc", [
    ({"optimizer": 3}, TypeError),
    ({"loss": 3}, TypeError),
    ({"metrics": "accuracy"}, ValueError),
    ({"loss_weights": "heavy"}, ValueError),
    ({"steps_per_execution": 0}, ValueError),
    ({"jit_compile": "yes"}, ValueError),
])
def test_bad_compile_arguments(kwargs, exc):
    m = ft.Model(mlp())
    with pytest.raises(exc):
        m.compile(**{"loss": "mse", **kwargs})


def test_multi_output_target_count_mismatch():
    class Two(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = torch.nn.Linear(4, 1), torch.nn.Linear(4, 1)

        def forward(self, x):
            return self.a(x), self.b(x)

    m = ft.Model(Two())
    m.compile(optimizer="sgd", loss="mse")
    x = np.zeros((6, 4), np.float32)
    y = np.zeros((6, 1), np.float32)
    with pytest.raises(ValueError, match="has 2 outputs.*holds 3 items"):
        m.fit(x, [y, y, y], verbose=0)
    with pytest.raises(ValueError, match="has 2 outputs.*single array"):
        m.fit(x, y, verbose=0)
    with pytest.raises(ValueError, match="one entry per output"):
        m.compile(optimizer="sgd", loss=["mse", "mse", "mae"])
        m.fit(x, [y, y], verbose=0)


def test_set_weights_count_and_shape(model):
    weights = model.get_weights()
    with pytest.raises(ValueError, match="expects 4 arrays"):
        model.set_weights(weights[:3])
    weights[0] = np.zeros((2, 2))
    with pytest.raises(ValueError, match="Weight 0 has shape \\(16, 8\\)"):
        model.set_weights(weights)


def test_wrapping_something_that_is_not_a_module():
    with pytest.raises(TypeError, match="wraps a torch.nn.Module"):
        ft.Model(lambda x: x)


def test_model_without_forward():
    with pytest.raises(NotImplementedError, match="define `forward\\(\\)`"):
        ft.Model().predict(np.zeros((2, 2), np.float32), verbose=0)


def test_input_only_first_in_sequential():
    with pytest.raises(ValueError, match="`Input` can only be the first element"):
        ft.Sequential([ft.layers.Dense(2), ft.Input(shape=(3,))])
    with pytest.raises(ValueError, match="`shape` must be a tuple of positive ints"):
        ft.Input(shape=(0, 3))
    with pytest.raises(ValueError, match="no layers to pop"):
        ft.Sequential().pop()


def test_no_optimizer_for_the_default_step(data):
    x, y = data
    m = ft.Model(mlp())
    m.compile(optimizer=None, loss=SPARSE)
    with pytest.raises(ValueError, match="has no optimizer"):
        m.fit(x, y, verbose=0)


def test_workers_with_arrays_warn(model, data):
    x, y = data
    with pytest.warns(UserWarning, match="`workers` and `use_multiprocessing` apply to"):
        model.fit(x, y, workers=2, verbose=0)


def test_sample_weight_for_several_outputs_must_be_per_sample():
    m = ft.Model(torch.nn.Linear(4, 2))
    m.compile(optimizer="sgd", loss="mse")
    x = np.zeros((6, 4), np.float32)
    y = [np.zeros((6, 1), np.float32)] * 2
    with pytest.raises(ValueError, match="one weight per sample"):
        m.fit(x, y, sample_weight=np.ones((6, 3)), verbose=0)


def test_label_out_of_range_in_a_later_batch_fails_before_the_first_step(model, data):
    x, y = data
    bad = y.copy()
    bad[-1] = 3
    before = weights_of(model)
    with pytest.raises(ValueError, match=r"label value of 3 which is outside the valid range"):
        model.fit(x, bad, batch_size=10, verbose=0)
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_crossentropy_alias_resolves_from_shapes(data):
    x, y = data
    m = ft.Model(torch.nn.Sequential(torch.nn.Linear(8, 3), torch.nn.Softmax(-1)))
    m.compile(optimizer="sgd", loss="crossentropy")
    value = m.evaluate(x, y, verbose=0)
    ref = ft.losses.SparseCategoricalCrossentropy()(torch.from_numpy(y),
                                                   torch.from_numpy(m.predict(x, verbose=0)))
    np.testing.assert_allclose(value, float(ref), rtol=1e-5)
