"""Saving and loading models and weights: every file format fitorch reads or writes.

The suffix picks the format when writing (SPEC): `.safetensors` (weights),
`.weights.h5` (Keras 3's HDF5 layout), `.h5` / `.hdf5` (Keras's legacy HDF5
layout), `.pt` / `.pth` / `.bin` (a torch state_dict), anything else (`.fitorch`):
fitorch's own file with the architecture, weights, `compile()` arguments and
optimizer state. Reading looks at the content (and also takes the weights out of
Keras 3's `.keras` archives).

Guarantees: writes are atomic (a crash mid-save leaves the previous file
intact); loading never runs code from the file (safetensors, JSON, HDF5 arrays,
`torch.load(weights_only=True)`); a file that does not fit the model changes
nothing in it.

Layout: `atomic` (temp file, fsync, rename), `formats` (suffixes, sniffing),
`state` (checked state_dict loading), `safetensors_io`, `safe_torch`,
`keras_h5`, `serialization` (configs as JSON), `codec` (nested state as JSON
plus tensors), `fitorch_file`.

Example:
    >>> model.save("model.fitorch")
    >>> restored = ft.load_model("model.fitorch")
    >>> model.save_weights("model.weights.h5")      # keras_model.load_weights(...) reads it
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from fitorch import distributed
from fitorch.saving import formats
from fitorch.saving.atomic import atomic_path, check_overwrite
from fitorch.saving.budget import check_config_sizes, materialize_budget
from fitorch.saving.codec import decode
from fitorch.saving.fitorch_file import read_fitorch_file, write_fitorch_file
from fitorch.saving.keras_h5 import load_keras_h5, save_keras_h5
from fitorch.saving.safe_torch import load_torch_state, save_torch_state, torch_file_budget
from fitorch.saving.safetensors_io import read_safetensors, write_safetensors
from fitorch.saving.serialization import compile_kwargs
from fitorch.saving.state import load_state, portable_state

__all__ = ["load_model", "load_weights", "save_model", "save_weights"]


def _path(filepath: Any) -> str:
    if isinstance(filepath, (str, os.PathLike)):
        path = os.fspath(filepath)
        if isinstance(path, str) and path:
            return path
    raise TypeError(
        "`filepath` must be a path (a non-empty str or os.PathLike). "
        f"Received: filepath={filepath!r} (of type {type(filepath).__name__})"
    )


def save_weights(model: nn.Module, filepath: str | os.PathLike[str], overwrite: bool = True,
                 data_format: str = "channels_last") -> None:
    """Write the model's weights in the format the suffix names (atomically).

    Example:
        >>> save_weights(model, "w.safetensors")
        >>> save_weights(model, "w.weights.h5")   # for keras_model.load_weights
    """
    path = _path(filepath)
    with gathered(model):  # a sharded model's whole weights, on rank 0 (a collective)
        if not distributed.is_writer():
            return  # a data-parallel run: rank 0 writes the file (the same weights)
        _write_weights(model, path, overwrite, data_format)


def _write_weights(model: nn.Module, path: str, overwrite: bool, data_format: str) -> None:
    check_overwrite(path, overwrite)
    fmt = formats.format_for_suffix(path)
    # Collect (and check) everything before the temporary file exists.
    if fmt == formats.SAFETENSORS:
        tensors = portable_state(model)
        with atomic_path(path) as tmp:
            write_safetensors(tensors, tmp, {"format": "pt"})
    elif fmt in (formats.KERAS_H5, formats.LEGACY_H5):
        with atomic_path(path) as tmp:
            save_keras_h5(model, tmp, legacy=fmt == formats.LEGACY_H5, data_format=data_format)
    elif fmt == formats.TORCH:
        tensors = portable_state(model)
        with atomic_path(path) as tmp:
            save_torch_state(tensors, tmp)
    else:
        with atomic_path(path) as tmp:
            write_fitorch_file(model, tmp, kind="weights")


@contextlib.contextmanager
def gathered(model: nn.Module) -> Iterator[None]:
    """While saving a model sharded with FSDP2: its whole state gathered on rank 0, read
    by `state_tensors` (every rank must save: the gathering is a collective)."""
    if not distributed.is_sharded(model):
        yield
        return
    parallel = distributed.context()
    assert parallel is not None
    model.__dict__["_gathered_state"] = parallel.full_state(model)
    try:
        yield
    finally:
        model.__dict__.pop("_gathered_state", None)


def save_model(model: nn.Module, filepath: str | os.PathLike[str], overwrite: bool = True
               ) -> None:
    """Write the whole model (`.fitorch` or any other suffix) or its weights (weights suffixes).

    Example:
        >>> save_model(model, "model.fitorch")
    """
    path = _path(filepath)
    if formats.format_for_suffix(path) != formats.FITORCH:
        save_weights(model, path, overwrite)
        return
    with gathered(model):  # a sharded model's whole weights, on rank 0 (a collective)
        if not distributed.is_writer():
            return  # a data-parallel run: rank 0 writes the file (the same weights)
        check_overwrite(path, overwrite)
        with atomic_path(path) as tmp:
            write_fitorch_file(model, tmp, kind="model")


def load_weights(model: nn.Module, filepath: str | os.PathLike[str],
                 data_format: str | None = None) -> None:
    """Load weights from any format fitorch writes (and Keras's HDF5, torch state_dicts).

    Example:
        >>> load_weights(model, "keras_model.weights.h5")
    """
    path = _path(filepath)
    fmt = formats.sniff_format(path)
    if fmt == formats.SAFETENSORS:
        load_state(model, read_safetensors(path), path)
    elif fmt == formats.TORCH:
        load_state(model, load_torch_state(path, torch_file_budget(model)), path)
    elif fmt == formats.KERAS_H5:
        load_keras_h5(model, path, data_format=data_format)
    elif fmt == formats.KERAS_ARCHIVE:
        load_keras_h5(model, path, member=formats.KERAS_WEIGHTS_MEMBER, data_format=data_format)
    else:
        doc, weights, optimizer_tensors = read_fitorch_file(path)
        load_state(model, weights, path)
        # A compiled model also gets the optimizer state a `.fitorch` file holds (for models
        # whose compile() arguments could not be stored: compile again, then load_weights).
        state = doc.get("optimizer_state")
        if state is not None and getattr(model, "compiled", False) \
                and getattr(model, "_optimizer_spec", None) is not None:
            _restore_optimizer(model, decode(state, optimizer_tensors), path)


def _rebuild(doc: dict[str, Any], path: str) -> nn.Module:
    if doc.get("kind") == "weights":
        raise ValueError(
            f"{path!r} holds weights only (written by `save_weights`); pass the model to load "
            f"them into: `ft.load_model({path!r}, model=...)`. Received: model=None"
        )
    config = doc.get("config")
    if not isinstance(config, dict) or config.get("class_name") not in ("Sequential",
                                                                        "Functional"):
        raise ValueError(
            f"{path!r} holds the weights of a {doc.get('model_class', 'model')!r} model but not "
            "its architecture (only Sequential and functional models of fitorch layers can be "
            "rebuilt from a file). Create the model in code and pass it: "
            f"`ft.load_model({path!r}, model=MyModel(...))`. Received: model=None"
        )
    from fitorch.saving.serialization import model_from_config

    return model_from_config(config)


def load_model(filepath: str | os.PathLike[str], model: nn.Module | None = None,
               compile: bool = True) -> Any:
    """Rebuild (or fill `model`), load the weights, recompile and restore the optimizer state.

    A `Sequential` of fitorch layers is rebuilt from the file; for any other model
    pass an instance with the same structure as `model=`. Weights-only files
    (`.safetensors`, `.h5`, `.pt`) need `model=` too.

    Example:
        >>> model = ft.load_model("model.fitorch")
        >>> model.fit(x, y, epochs=4, initial_epoch=2)   # continues where it stopped
    """
    path = _path(filepath)
    if model is not None and not isinstance(model, nn.Module):
        raise TypeError(
            "`model` must be a torch.nn.Module (a fitorch model) or None. "
            f"Received: model={model!r} (of type {type(model).__name__})"
        )
    fmt = formats.sniff_format(path)
    if fmt != formats.FITORCH:
        if model is None:
            raise ValueError(
                f"{path!r} holds weights only ({fmt}); pass the model to load them into: "
                f"`ft.load_model({path!r}, model=...)` or `model.load_weights(...)`. "
                "Received: model=None"
            )
        load_weights(model, path)
        return model
    doc, weights, optimizer_tensors = read_fitorch_file(path)
    optimizer_state = doc.get("optimizer_state")
    decoded = decode(optimizer_state, optimizer_tensors) if optimizer_state is not None else None
    if model is None:
        check_config_sizes(doc.get("config"), weights, path)  # before allocating anything
        with materialize_budget(weights, path):
            model = _rebuild(doc, path)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()
              if not isinstance(v, (nn.parameter.UninitializedParameter,
                                    nn.parameter.UninitializedBuffer))}
    load_state(model, weights, path)
    config = doc.get("compile_config")
    if compile and isinstance(config, dict) and callable(getattr(model, "compile", None)):
        try:
            model.compile(**compile_kwargs(config, model))
            if decoded is not None:
                _restore_optimizer(model, decoded, path)
            if doc.get("step_state"):
                from fitorch.step import load_step_state

                load_step_state(model, decode(doc["step_state"], optimizer_tensors))
        except BaseException:
            with torch.no_grad():  # leave a caller's model as it was
                current = model.state_dict()
                for key, value in before.items():
                    current[key].copy_(value)
            raise
    return model


def _restore_optimizer(model: Any, state: Any, path: str) -> None:
    model._build_optimizer()
    optimizer = model.optimizer
    if not isinstance(optimizer, torch.optim.Optimizer):
        return
    try:
        optimizer.load_state_dict(state)
    except (ValueError, KeyError, TypeError, IndexError) as e:
        raise ValueError(
            f"The optimizer state in {path!r} does not fit the model's optimizer "
            f"({type(optimizer).__name__}): {e}. Received: filepath={path!r}"
        ) from None
