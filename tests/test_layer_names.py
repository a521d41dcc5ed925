"""Layers are auto-named as Keras names them: `dense`, `conv2d`, `max_pooling2d`, `lstm`, ...

The check runs over every class `fitorch.layers` exports, so a layer added later is
covered without touching this file (a new required constructor argument needs a sample
value in `SAMPLE_ARGUMENTS`).
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import pytest

from fitorch import layers
from fitorch.layers.core import auto_name

# A valid value for every required constructor argument of a fitorch or Keras layer; a
# function of the framework's `layers` module where the value is a layer of that framework.
SAMPLE_ARGUMENTS: dict[str, Any] = {
    "layer": lambda framework_layers: framework_layers.LSTM(2),
    "units": 2, "filters": 2, "kernel_size": 3, "rate": 0.5, "activation": "relu",
    "target_shape": (2, 3), "input_dim": 5, "output_dim": 3, "shape": (3,), "pool_size": 2,
    "size": 2, "n": 2, "dims": (2, 1), "function": abs, "cropping": 1, "axes": -1,
    "padding": 1, "mean": 0.0, "variance": 1.0, "stddev": 0.1, "axis": -1, "factor": 0.1,
    "num_tokens": 4, "max_tokens": 4, "mask_value": 0.0, "units_or_cell": 2,
    "cell": lambda framework_layers: framework_layers.LSTMCell(2),
    "cells": lambda framework_layers: [framework_layers.GRUCell(2)],
    "height": 4, "width": 4, "num_heads": 2, "key_dim": 2, "scale": 0.5, "num_bins": 4,
    "height_factor": 0.1, "width_factor": 0.1,
}
# Arguments that are optional one by one but of which a layer needs one.
ONE_OF_ARGUMENTS: dict[str, dict[str, Any]] = {"Discretization": {"num_bins": 4}}
# fitorch classes whose Keras counterpart has another name (keras.Input is a function).
KERAS_CLASS = {"Input": "InputLayer"}


def _required(cls: type) -> dict[str, Any]:
    return {
        p.name: SAMPLE_ARGUMENTS[p.name]
        for p in inspect.signature(cls.__init__).parameters.values()
        if p.name != "self" and p.default is inspect.Parameter.empty
        and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }


def _build(cls: type, framework_layers: Any, like: type | None = None) -> Any:
    """`cls` built with its required arguments (and those `like` requires, when it takes them)."""
    kwargs = _required(cls)
    if like is not None:
        accepted = inspect.signature(cls.__init__).parameters
        kwargs.update({k: v for k, v in _required(like).items() if k in accepted})
    kwargs = {k: v(framework_layers) if k in ("layer", "cell", "cells") else v
              for k, v in kwargs.items()}
    kwargs.update(ONE_OF_ARGUMENTS.get(cls.__name__, {}))
    return cls(**kwargs)


def _prefix(name: str) -> str:
    return re.sub(r"_\d+$", "", name)  # auto-names are numbered: dense, dense_1, ...


def _exported_layer_classes() -> list[str]:
    return [name for name in layers.__all__ if isinstance(getattr(layers, name), type)]


@pytest.mark.parametrize("name", _exported_layer_classes())
def test_default_layer_names_are_keras_names(name: str) -> None:
    import keras

    keras_cls = getattr(keras.layers, KERAS_CLASS.get(name, name))
    theirs = _prefix(_build(keras_cls, keras.layers, like=getattr(layers, name)).name)
    ours = _build(getattr(layers, name), layers)
    assert _prefix(ours.name) == theirs
    assert _build(getattr(layers, name), layers).name != ours.name  # numbered: dense, dense_1


@pytest.mark.parametrize("class_name, expected", [
    ("Conv2D", "conv2d"), ("MaxPooling2D", "max_pooling2d"),
    ("GlobalMaxPooling1D", "global_max_pooling1d"), ("Conv1DTranspose", "conv1d_transpose"),
    ("BatchNormalization", "batch_normalization"), ("LSTM", "lstm"), ("GRU", "gru"),
    ("ReLU", "re_lu"), ("PReLU", "p_re_lu"), ("UpSampling2D", "up_sampling2d"),
    ("My Block!", "my_block"),
])
def test_auto_name_snake_cases_as_keras(class_name: str, expected: str) -> None:
    from keras.src.utils.naming import to_snake_case

    assert to_snake_case(class_name) == expected  # the expectation is Keras's own
    first = auto_name(class_name)
    assert _prefix(first) == expected
    second = auto_name(class_name)
    assert second == f"{expected}_{int(first.rsplit('_', 1)[1]) + 1 if first != expected else 1}"
