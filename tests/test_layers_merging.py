"""Merging layers (Concatenate, Add, ..., Dot) against Keras 3 (torch backend)."""

from __future__ import annotations

import json

import keras
import pytest
import torch

from fitorch.layers import (
    Add,
    Average,
    Concatenate,
    Dot,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
)
from fitorch.saving.serialization import layer_class, layer_config
from layer_checks import assert_close, data

ELEMENTWISE = [Add, Subtract, Multiply, Average, Maximum, Minimum]


def _pair(*shapes):
    return [data(*s, seed=i) for i, s in enumerate(shapes)]


@pytest.mark.parametrize("cls", ELEMENTWISE)
@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((2, 3, 4), (2, 1, 4)), ((2, 3, 4), (2, 4))])
def test_elementwise_merges_match_keras(cls, shapes):
    xs = _pair(*shapes)
    expected = getattr(keras.layers, cls.__name__)()(xs)
    assert_close(cls()([torch.from_numpy(x) for x in xs]), expected)


@pytest.mark.parametrize("cls", [Add, Multiply, Average, Maximum, Minimum])
def test_three_inputs(cls):
    xs = _pair((2, 5), (2, 5), (2, 5))
    expected = getattr(keras.layers, cls.__name__)()(xs)
    assert_close(cls()(tuple(torch.from_numpy(x) for x in xs)), expected)


@pytest.mark.parametrize(
    "axis, shapes",
    [(-1, ((2, 3), (2, 4))), (1, ((2, 3, 5), (2, 4, 5))), (-1, ((2, 3, 4, 5), (2, 3, 4, 1))),
     (2, ((2, 3, 4, 5), (2, 3, 2, 5)))],
)
def test_concatenate_matches_keras(axis, shapes):
    xs = _pair(*shapes)
    expected = keras.layers.Concatenate(axis=axis)(xs)
    assert_close(Concatenate(axis=axis)([torch.from_numpy(x) for x in xs]), expected)


@pytest.mark.parametrize(
    "axes, shapes",
    [(1, ((4, 5), (4, 5))), (-1, ((4, 5), (4, 5))), ((2, 1), ((2, 3, 5), (2, 5, 4))),
     ((1, 1), ((2, 3, 5), (2, 3, 4))), (2, ((2, 3, 4), (2, 5, 4))), ((1, 2), ((2, 3), (2, 4, 3))),
     ((2, 1), ((2, 3, 4, 5), (2, 4)))],
)
@pytest.mark.parametrize("normalize", [False, True])
def test_dot_matches_keras(axes, shapes, normalize):
    xs = _pair(*shapes)
    expected = keras.layers.Dot(axes=axes, normalize=normalize)(xs)
    assert_close(Dot(axes=axes, normalize=normalize)([torch.from_numpy(x) for x in xs]), expected)


def test_merge_layers_train_through_gradients():
    a = torch.randn(2, 3, requires_grad=True)
    Dot(axes=1, normalize=True)([a, a * 2]).sum().backward()
    assert a.grad is not None and torch.isfinite(a.grad).all()


@pytest.mark.parametrize(
    "layer, inputs, match",
    [
        (Add(), torch.zeros(2, 3), "list of tensors"),
        (Add(), [torch.zeros(2, 3), "x"], "list of tensors"),
        (Subtract(), [torch.zeros(2, 3)] * 3, "exactly 2"),
        (Add(), [], "at least 1"),
        (Add(), [torch.zeros(2, 3), torch.zeros(2, 4)], "broadcastable"),
        (Add(), [torch.zeros(2, 3), torch.zeros(3, 3)], "different batch sizes"),
        (Concatenate(), [torch.zeros(2, 3), torch.zeros(2, 3, 1)], "one rank"),
        (Concatenate(axis=1), [torch.zeros(2, 3, 4), torch.zeros(2, 3, 5)], "agree"),
        (Concatenate(axis=0), [torch.zeros(2, 3), torch.zeros(2, 3)], "batch"),
        (Dot(axes=1), [torch.zeros(2, 3), torch.zeros(2, 4)], "equal sizes"),
        (Dot(axes=0), [torch.zeros(2, 3), torch.zeros(2, 3)], "batch axis"),
        (Dot(axes=1), [torch.zeros(2), torch.zeros(2)], "rank >= 2"),
    ],
)
def test_merge_errors(layer, inputs, match):
    with pytest.raises(ValueError, match=match):
        layer(inputs)


def test_bad_constructor_arguments():
    with pytest.raises(TypeError, match="axis"):
        Concatenate(axis="1")
    with pytest.raises(ValueError, match="axes"):
        Dot(axes=(1, 2, 3))


@pytest.mark.parametrize(
    "layer", [Add(), Subtract(name="sub"), Multiply(), Average(), Maximum(), Minimum(),
              Concatenate(axis=1), Dot(axes=(1, 2), normalize=True), Dot(axes=-1)],
)
def test_merge_configs_round_trip(layer):
    entry = json.loads(json.dumps(layer_config(layer)))
    clone = layer_class(entry["class_name"]).from_config(entry["config"])
    assert type(clone) is type(layer) and clone.get_config() == layer.get_config()
    assert layer.get_keras_weights() == [] and layer.keras_param_counts() == (0, 0)
