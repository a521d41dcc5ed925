"""Weights whose layout depends on the data format: a Dense after a Flatten.

Keras 3's Flatten emits height-width-channel order (a channels-last model's
`(H, W, C)` as it is; with `data_format="channels_first"` it transposes first), so
the rows of the next Dense kernel are ordered height-width-channel. fitorch is
channels-first: its Flatten gives channel-height-width. (The one Keras model
whose Flatten emits channel-height-width has channels-first convolutions and its
Flatten left at "channels_last"; `data_format="channels_first"` says so.)
Conv kernels themselves convert exactly (each layer's `set_keras_weights`), but
a Dense kernel after a Flatten of a spatial tensor must have its rows permuted
too, or predictions are silently wrong (Keras's own legacy loader permutes them
when data formats differ).

The Flatten -> Dense pairs and the shape flattened are found by tracing the
model once on a zero batch (the model's `Input`, or the input it was built
with); a model whose input shape is unknown cannot be permuted, which is an
error rather than a silent load.

Example:
    >>> pairs = dense_after_flatten(model)        # {id(dense): (C, H, W)}
    >>> kernel = rows_to_channels_first(keras_kernel, pairs[id(dense)])
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import torch
from torch import nn

DATA_FORMATS = ("channels_last", "channels_first")


def check_data_format(data_format: Any, recorded: str | None = None) -> str:
    """`data_format` checked; None means the one the file records, else Keras's default."""
    if data_format is None:
        return recorded or "channels_last"
    if data_format not in DATA_FORMATS:
        raise ValueError(
            "`data_format` is the data format of the Keras model that wrote (or will read) "
            f"the file: one of {list(DATA_FORMATS)}. Received: data_format={data_format!r}"
        )
    return str(data_format)


def recorded_data_format(config_text: str | bytes | None) -> str | None:
    """The feature order of the Keras model's Flatten, from the model config a file records
    (a `.keras` archive's `config.json`, a full-model `.h5` file's `model_config`), or None.

    Keras 3's Flatten emits height-width-channel order whatever its input's layout (with
    `data_format="channels_first"` it transposes first); only a Flatten left at
    `"channels_last"` behind channels-first layers emits channel-height-width.
    """
    if not config_text:
        return None
    try:
        config = json.loads(config_text)
    except (ValueError, RecursionError):
        return None
    flatten_formats: set[str] = set()
    layer_formats: set[str] = set()
    stack = [config]
    while stack:  # iterative: a deeply nested file cannot exhaust the recursion limit
        item = stack.pop()
        if isinstance(item, dict):
            inner = item.get("config")
            value = inner.get("data_format") if isinstance(inner, dict) else None
            if value in DATA_FORMATS:
                (flatten_formats if item.get("class_name") == "Flatten"
                 else layer_formats).add(value)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    if len(flatten_formats) != 1:
        return None
    if flatten_formats == {"channels_last"} and layer_formats == {"channels_first"}:
        return "channels_first"
    return "channels_last"


def _is_flatten(module: nn.Module) -> bool:
    from fitorch.layers import Flatten

    return isinstance(module, (Flatten, nn.Flatten))


def _is_dense(module: nn.Module) -> bool:
    from fitorch.layers import Dense

    return isinstance(module, Dense)


def dense_after_flatten(model: nn.Module) -> dict[int, tuple[int, ...]]:
    """`{id(dense): flattened shape without the batch axis}` for every Dense fed by a
    Flatten of a tensor of rank >= 3 (a spatial one). Raises when the model has a Flatten
    and a Dense but its input shape is unknown (nothing to trace with)."""
    from fitorch.summary import _sample_input

    flattens = [m for m in model.modules() if _is_flatten(m)]
    denses = [m for m in model.modules() if _is_dense(m)]
    if not flattens or not denses:
        return {}
    sample = _sample_input(model)
    if sample is None:
        raise ValueError(
            "This model has a Flatten followed by Dense layers, whose Keras weights depend on "
            "the data format (Keras flattens height-width-channel, fitorch channel-height-"
            "width). fitorch needs the model's input shape to convert them: start the model "
            "with `ft.Input(shape=...)`, or call `model.build(input_shape)` first. "
            "Received: a model whose input shape is unknown"
        )
    flattened: dict[int, tuple[int, ...]] = {}  # id(Flatten output) -> its input shape
    pairs: dict[int, tuple[int, ...]] = {}

    def after_flatten(module: nn.Module, args: Any, output: Any) -> None:
        if args and isinstance(args[0], torch.Tensor) and args[0].dim() >= 3:
            flattened[id(output)] = tuple(args[0].shape[1:])

    def before_dense(module: nn.Module, args: Any) -> None:
        if args and id(args[0]) in flattened:
            pairs[id(module)] = flattened[id(args[0])]

    handles = [m.register_forward_hook(after_flatten) for m in flattens]
    handles += [m.register_forward_pre_hook(before_dense) for m in denses]
    try:
        from fitorch.modes import eval_mode

        with eval_mode(model), torch.no_grad():
            call = getattr(model, "_forward_takes_training", None)
            if call is not None:
                from fitorch.step import call_model

                call_model(model, sample, False, compiled=False)
            else:
                model(sample)
    finally:
        for handle in handles:
            handle.remove()
    return pairs


def rows_to_channels_first(kernel: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A Keras Dense kernel `(C*H*W, units)` with rows in `(H, W, C)` order, reordered to
    `(C, H, W)`; `shape` is the channels-first `(C, H, W)`."""
    channels, spatial = shape[0], shape[1:]
    units = kernel.shape[-1]
    arranged = kernel.reshape(*spatial, channels, units)
    return np.ascontiguousarray(np.moveaxis(arranged, len(spatial), 0).reshape(-1, units))


def rows_to_channels_last(kernel: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The inverse of `rows_to_channels_first`."""
    channels, spatial = shape[0], shape[1:]
    units = kernel.shape[-1]
    arranged = kernel.reshape(channels, *spatial, units)
    return np.ascontiguousarray(np.moveaxis(arranged, 0, len(spatial)).reshape(-1, units))


__all__ = ["DATA_FORMATS", "check_data_format", "dense_after_flatten", "recorded_data_format",
           "rows_to_channels_first", "rows_to_channels_last"]
