"""fitorch.regularizers and fitorch.constraints, checked against Keras 3 (torch backend)."""

from __future__ import annotations

import json
import math
import os
import re

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np
import pytest
import torch

from fitorch import constraints, regularizers
from fitorch.layers import Dense


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _rand(*shape: int, scale: float = 3.0) -> torch.Tensor:
    return torch.randn(shape) * scale


# --- regularizers: values -----------------------------------------------------------


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (regularizers.L1(), keras.regularizers.L1()),
        (regularizers.L1(0.3), keras.regularizers.L1(0.3)),
        (regularizers.L2(), keras.regularizers.L2()),
        (regularizers.L2(1.5), keras.regularizers.L2(1.5)),
        (regularizers.L1L2(), keras.regularizers.L1L2()),
        (regularizers.L1L2(l1=0.1), keras.regularizers.L1L2(l1=0.1)),
        (regularizers.L1L2(l2=0.2), keras.regularizers.L1L2(l2=0.2)),
        (regularizers.L1L2(0.1, 0.2), keras.regularizers.L1L2(0.1, 0.2)),
        (regularizers.L1L2(None, None), keras.regularizers.L1L2(None, None)),
        (regularizers.L1(None), keras.regularizers.L1(None)),
        (regularizers.L2(0), keras.regularizers.L2(0)),
    ],
)
@pytest.mark.parametrize("shape", [(7,), (4, 5), (6, 3, 2, 2), ()])
def test_regularizer_values_match_keras(ours, theirs, shape):
    x = _rand(*shape)
    got = ours(x)
    expected = _np(theirs(x.clone()))
    assert got.shape == () and got.dtype == x.dtype
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-7)
    assert ours.get_config() == pytest.approx(theirs.get_config())
    assert set(ours.get_config()) == set(theirs.get_config())


def test_regularizers_are_differentiable_and_keep_dtype():
    w = torch.tensor([[1.0, -2.0], [0.5, 0.0]], dtype=torch.float64, requires_grad=True)
    penalty = regularizers.L1L2(l1=0.1, l2=0.2)(w)
    assert penalty.dtype == torch.float64
    penalty.backward()
    expected = 0.1 * torch.sign(w.detach()) + 0.4 * w.detach()
    torch.testing.assert_close(w.grad, expected)
    assert regularizers.L1L2()(w).item() == 0.0  # no penalty: a zero of the same dtype
    assert regularizers.L1L2()(w).dtype == torch.float64


def test_aliases_are_the_classes_as_in_keras():
    assert regularizers.l1 is regularizers.L1 and keras.regularizers.l1 is keras.regularizers.L1
    assert regularizers.l2 is regularizers.L2
    assert regularizers.l1_l2 is regularizers.L1L2
    assert keras.regularizers.l1_l2 is keras.regularizers.L1L2
    assert regularizers.l1_l2(l1=0.1).get_config() == {"l1": 0.1, "l2": 0.0}


def test_regularizer_base_class_and_custom_subclass():
    base = regularizers.Regularizer()
    assert base(torch.ones(3)).item() == 0.0
    with pytest.raises(NotImplementedError):
        base.get_config()

    class Sum(regularizers.Regularizer):
        def __init__(self, factor: float = 1.0) -> None:
            self.factor = factor

        def __call__(self, weight):
            return self.factor * weight.sum()

        def get_config(self):
            return {"factor": self.factor}

    reg = Sum(2.0)
    assert regularizers.get(reg) is reg
    assert regularizers.serialize(reg) == {"class_name": "Sum", "config": {"factor": 2.0}}
    assert Sum.from_config(reg.get_config())(torch.ones(3)).item() == 6.0
    assert regularizers.get(Sum)(torch.ones(2)).item() == 2.0  # a class is instantiated


# --- regularizers: get / serialize ---------------------------------------------------


@pytest.mark.parametrize("name", ["l1", "l2", "L1", "L2"])
def test_get_string_matches_keras(name):
    ours, theirs = regularizers.get(name), keras.regularizers.get(name)
    assert type(ours).__name__ == type(theirs).__name__
    assert ours.get_config() == pytest.approx(theirs.get_config())


@pytest.mark.parametrize("name", ["l1_l2", "l1l2", "L1L2"])
def test_get_l1_l2_string_uses_keras_documented_defaults(name):
    # Keras documents l1=l2=0.01 for the string (Keras 3.15 itself rejects
    # "l1_l2" and builds a zero penalty from "l1l2"/"L1L2").
    reg = regularizers.get(name)
    assert isinstance(reg, regularizers.L1L2)
    assert reg.get_config() == {"l1": 0.01, "l2": 0.01}


def test_get_passes_through_none_instances_and_callables():
    assert regularizers.get(None) is None
    reg = regularizers.L2(0.5)
    assert regularizers.get(reg) is reg

    def fn(w):
        return w.abs().max()

    assert regularizers.get(fn) is fn
    assert isinstance(regularizers.get(regularizers.L1), regularizers.L1)


@pytest.mark.parametrize(
    "reg",
    [
        regularizers.L1(0.25),
        regularizers.L2(0.125),
        regularizers.L1L2(0.5, 0.75),
        regularizers.L1L2(l2=0.3),
    ],
)
def test_serialize_get_round_trip_through_json(reg):
    config = regularizers.serialize(reg)
    assert config["class_name"] == type(reg).__name__
    assert json.loads(json.dumps(config)) == config
    clone = regularizers.get(json.loads(json.dumps(config)))
    assert type(clone) is type(reg) and clone.get_config() == reg.get_config()
    assert regularizers.deserialize(config).get_config() == reg.get_config()
    assert type(reg).from_config(reg.get_config()).get_config() == reg.get_config()
    x = _rand(3, 4)
    torch.testing.assert_close(clone(x), reg(x))


@pytest.mark.parametrize(
    "theirs",
    [keras.regularizers.L1(0.5), keras.regularizers.L2(0.25), keras.regularizers.L1L2(0.5, 0.25)],
)
def test_get_reads_keras_serialized_configs(theirs):
    config = keras.regularizers.serialize(theirs)  # has "module" / "registered_name" keys
    ours = regularizers.get(config)
    assert type(ours).__name__ == type(theirs).__name__
    x = _rand(5, 2)
    np.testing.assert_allclose(ours(x).numpy(), _np(theirs(x.clone())), rtol=1e-6)


def test_serialize_leaves_callables_and_none_as_is():
    def fn(w):
        return w.sum()

    assert regularizers.serialize(fn) is fn
    assert regularizers.serialize(None) is None


def test_config_dict_follows_keras_constructors():
    # A config without l2 means l2=0 (as in Keras), not the string's 0.01.
    assert regularizers.get({"class_name": "L1L2", "config": {"l1": 0.1}}).get_config() == {
        "l1": 0.1,
        "l2": 0.0,
    }
    assert regularizers.get({"class_name": "L1L2", "config": {"l1": None, "l2": 0.2}}).l1 == 0.0
    assert regularizers.get({"class_name": "l2"}).get_config() == {"l2": 0.01}


def test_regularizer_errors():
    with pytest.raises(ValueError, match=r"Expected one of \['L1', 'L1L2', 'L2', 'l1', "):
        regularizers.get("l3")
    with pytest.raises(ValueError, match=r"Received: identifier='l3' \(of type str\)"):
        regularizers.get("l3")
    with pytest.raises(ValueError, match=r"Received: kernel_regularizer='x'"):
        regularizers.get("x", arg_name="kernel_regularizer")
    with pytest.raises(ValueError, match=r"'class_name' among \['L1', .*\(of type dict\)"):
        regularizers.get({"class_name": "Orthogonal", "config": {}})
    with pytest.raises(ValueError, match=r"'class_name' among"):
        regularizers.get({"config": {"l1": 0.1}})
    with pytest.raises(TypeError, match=r"Received: identifier=0.1 \(of type float\)"):
        regularizers.get(0.1)
    for bad in (-0.1, math.nan, math.inf, "0.1", True):
        with pytest.raises(ValueError, match=re.escape(f"Received: l1={bad!r}")):
            regularizers.L1(bad)
    with pytest.raises(ValueError, match=r"Received: l2=-1"):
        regularizers.L1L2(l2=-1)
    with pytest.raises(TypeError):
        regularizers.get({"class_name": "L1", "config": {"l2": 0.1}})  # not an L1 argument


# --- constraints: values ---------------------------------------------------------------

CONSTRAINT_PAIRS = [
    (constraints.MaxNorm, keras.constraints.MaxNorm, {}),
    (constraints.MaxNorm, keras.constraints.MaxNorm, {"max_value": 0.5}),
    (constraints.UnitNorm, keras.constraints.UnitNorm, {}),
    (constraints.MinMaxNorm, keras.constraints.MinMaxNorm, {}),
    (
        constraints.MinMaxNorm,
        keras.constraints.MinMaxNorm,
        {"min_value": 2.0, "max_value": 4.0, "rate": 0.3},
    ),
]


def _keras_kernel(w: torch.Tensor) -> torch.Tensor:
    """Keras's layout `(*kernel_size, in, out)` of a PyTorch `(out, in, *kernel_size)` weight."""
    return w.permute(*range(2, w.ndim), 1, 0).contiguous()


def _check_against_keras(ours, theirs, w: torch.Tensor) -> None:
    got = ours(w)
    assert got.shape == w.shape
    expected = _np(theirs(_keras_kernel(w)))
    np.testing.assert_allclose(_keras_kernel(got).numpy(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("ours", "theirs", "kwargs"), CONSTRAINT_PAIRS)
@pytest.mark.parametrize("axis", [0, 1, -1, -2, [0, 1], [1]])
def test_norm_constraints_match_keras_on_a_dense_kernel(ours, theirs, kwargs, axis):
    w = _rand(4, 6, scale=1.5)  # a Linear weight: 4 units, 6 inputs
    _check_against_keras(ours(**kwargs, axis=axis), theirs(**kwargs, axis=axis), w)


@pytest.mark.parametrize(("ours", "theirs", "kwargs"), CONSTRAINT_PAIRS)
@pytest.mark.parametrize("axis", [[0, 1, 2], 1, 2, -1, [0, 1], [0, 3], [2]])
def test_norm_constraints_match_keras_on_a_conv_kernel(ours, theirs, kwargs, axis):
    w = _rand(5, 3, 2, 4, scale=0.5)  # Conv2d weight (out, in, kh, kw)
    _check_against_keras(ours(**kwargs, axis=axis), theirs(**kwargs, axis=axis), w)


@pytest.mark.parametrize(("ours", "theirs", "kwargs"), CONSTRAINT_PAIRS)
def test_default_axis_is_one_norm_per_output_unit(ours, theirs, kwargs):
    # axis=0 is Keras's axis=0 for a Dense kernel, and Keras's recommended
    # [0, 1, 2] (all but the output axis) for a conv kernel: one norm per filter.
    conv = _rand(5, 3, 2, 4, scale=0.5)
    _check_against_keras(ours(**kwargs), theirs(**kwargs, axis=[0, 1, 2]), conv)
    conv1d = _rand(5, 3, 4, scale=0.5)
    _check_against_keras(ours(**kwargs), theirs(**kwargs, axis=[0, 1]), conv1d)
    dense = _rand(4, 6, scale=1.5)
    _check_against_keras(ours(**kwargs), theirs(**kwargs), dense)


@pytest.mark.parametrize(("ours", "theirs", "kwargs"), CONSTRAINT_PAIRS)
@pytest.mark.parametrize("axis", [0, -1, [0]])
def test_norm_constraints_match_keras_on_a_bias(ours, theirs, kwargs, axis):
    b = _rand(7, scale=1.0)
    got = ours(**kwargs, axis=axis)(b)
    expected = _np(theirs(**kwargs, axis=axis)(b.clone()))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_constraint_results_have_the_requested_norms():
    w = _rand(6, 10)
    row_norms = constraints.UnitNorm()(w).norm(dim=1)
    torch.testing.assert_close(row_norms, torch.ones(6))
    clipped = constraints.MinMaxNorm(min_value=0.5, max_value=0.8)(w).norm(dim=1)
    assert bool((clipped >= 0.5 - 1e-5).all() and (clipped <= 0.8 + 1e-5).all())
    assert bool((constraints.MaxNorm(1.0)(w).norm(dim=1) <= 1 + 1e-5).all())
    per_input = constraints.UnitNorm(axis=1)(w).norm(dim=0)  # Keras axis 1 = out axis
    torch.testing.assert_close(per_input, torch.ones(10))


def test_non_neg_matches_keras():
    w = _rand(3, 4, 2)
    np.testing.assert_array_equal(
        constraints.NonNeg()(w).numpy(), _np(keras.constraints.NonNeg()(w.clone()))
    )


def test_constraint_base_class_is_identity():
    w = _rand(2, 3)
    assert constraints.Constraint()(w) is w
    assert constraints.Constraint().get_config() == keras.constraints.Constraint().get_config()
    assert isinstance(constraints.Constraint.from_config({}), constraints.Constraint)


def test_constraint_aliases_are_the_classes_as_in_keras():
    for name in ("max_norm", "min_max_norm", "non_neg", "unit_norm"):
        ours, theirs = getattr(constraints, name), getattr(keras.constraints, name)
        assert ours.__name__ == theirs.__name__
        assert ours is getattr(constraints, ours.__name__)


# --- constraints: get / serialize ----------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "max_norm",
        "MaxNorm",
        "min_max_norm",
        "MinMaxNorm",
        "non_neg",
        "NonNeg",
        "unit_norm",
        "UnitNorm",
    ],
)
def test_constraint_get_string_matches_keras(name):
    ours, theirs = constraints.get(name), keras.constraints.get(name)
    assert type(ours).__name__ == type(theirs).__name__
    assert ours.get_config() == theirs.get_config()
    _check_against_keras(ours, theirs, _rand(3, 5))


@pytest.mark.parametrize(
    "con",
    [
        constraints.MaxNorm(3, axis=1),
        constraints.MinMaxNorm(0.5, 2.0, rate=0.7, axis=[0, 1, 2]),
        constraints.UnitNorm(axis=(0, 1)),
        constraints.NonNeg(),
    ],
)
def test_constraint_serialize_get_round_trip_through_json(con):
    config = constraints.serialize(con)
    assert config["class_name"] == type(con).__name__
    assert json.loads(json.dumps(config)) == config
    clone = constraints.get(json.loads(json.dumps(config)))
    assert type(clone) is type(con) and clone.get_config() == con.get_config()
    assert constraints.deserialize(config).get_config() == con.get_config()
    assert type(con).from_config(con.get_config()).get_config() == con.get_config()
    w = _rand(4, 3, 2, 2)
    torch.testing.assert_close(clone(w), con(w))


@pytest.mark.parametrize(
    "theirs",
    [
        keras.constraints.MaxNorm(3, axis=1),
        keras.constraints.MinMaxNorm(0.5, 2.0, rate=0.7, axis=[0, 1]),
        keras.constraints.UnitNorm(axis=-1),
        keras.constraints.NonNeg(),
    ],
)
def test_constraint_get_reads_keras_serialized_configs(theirs):
    config = json.loads(json.dumps(keras.constraints.serialize(theirs)))
    ours = constraints.get(config)
    assert ours.get_config() == theirs.get_config() or type(ours).__name__ == "NonNeg"
    _check_against_keras(ours, theirs, _rand(4, 6))


def test_constraint_get_passes_through_and_instantiates():
    assert constraints.get(None) is None
    con = constraints.UnitNorm()
    assert constraints.get(con) is con

    def fn(w):
        return w.clamp(-1, 1)

    assert constraints.get(fn) is fn
    assert constraints.serialize(fn) is fn
    assert isinstance(constraints.get(constraints.MaxNorm), constraints.MaxNorm)
    assert constraints.serialize(None) is None


def test_constraint_errors():
    with pytest.raises(ValueError, match=r"Expected one of \['MaxNorm', 'MinMaxNorm', "):
        constraints.get("positive")
    with pytest.raises(ValueError, match=r"Received: identifier='positive' \(of type str\)"):
        constraints.get("positive")
    with pytest.raises(ValueError, match=r"Received: bias_constraint='x'"):
        constraints.get("x", arg_name="bias_constraint")
    with pytest.raises(ValueError, match=r"'class_name' among .*\(of type dict\)"):
        constraints.get({"class_name": "Clip", "config": {}})
    with pytest.raises(TypeError, match=r"Received: identifier=2 \(of type int\)"):
        constraints.get(2)
    for axis in (1.0, [], [0, "1"], True, None):
        with pytest.raises(ValueError, match=re.escape(f"Received: axis={axis!r}")):
            constraints.MaxNorm(axis=axis)
    with pytest.raises(ValueError, match=r"Received: max_value='2'"):
        constraints.MaxNorm("2")
    with pytest.raises(ValueError, match=r"Received: rate=None"):
        constraints.MinMaxNorm(rate=None)
    with pytest.raises(ValueError, match=r"out of range for a parameter of rank 2"):
        constraints.UnitNorm(axis=2)(torch.ones(2, 3))
    with pytest.raises(ValueError, match=r"out of range for a parameter of rank 1"):
        constraints.UnitNorm(axis=1)(torch.ones(3))


# --- use in layers ---------------------------------------------------------------------


def test_dense_uses_the_public_classes():
    layer = Dense(
        3,
        kernel_regularizer="l1_l2",
        bias_regularizer=regularizers.L2(0.5),
        kernel_constraint="max_norm",
        bias_constraint=constraints.NonNeg(),
        input_dim=4,
    )
    assert isinstance(layer.kernel_regularizer, regularizers.L1L2)
    assert isinstance(layer.kernel_constraint, constraints.MaxNorm)
    config = layer.get_config()
    assert config["bias_regularizer"] == {"class_name": "L2", "config": {"l2": 0.5}}
    assert config["kernel_constraint"] == {
        "class_name": "MaxNorm",
        "config": {"max_value": 2, "axis": 0},
    }
    clone = Dense.from_config(json.loads(json.dumps(config)))
    assert clone.get_config() == config


def test_dense_honours_a_constraint_axis_from_a_config():
    layer = Dense(
        3,
        kernel_constraint={"class_name": "UnitNorm", "config": {"axis": 1}},
        input_dim=5,
    )
    layer.apply_constraints()
    # Keras axis 1 of the (in, out) kernel: one norm per input feature.
    torch.testing.assert_close(layer.weight.norm(dim=0), torch.ones(5))
