"""fitorch's own single-file format (`.fitorch`, or any unknown suffix): a zip of

* `fitorch.json`: format version, the model's class, its architecture (for a
  `Sequential` of fitorch layers), the `compile()` arguments, and the
  optimizer's state without its tensors;
* `model.safetensors`: the model's `state_dict`;
* `optimizer.safetensors`: the optimizer's state tensors (moments, ...).

Nothing in it is pickled: JSON and safetensors hold data only, so reading a
file never runs code from it. Members are stored uncompressed (float weights
barely compress) so writing and reading cost one copy.

Example:
    >>> write_fitorch_file(model, "model.fitorch", kind="model")
    >>> doc, weights, optimizer_tensors = read_fitorch_file("model.fitorch")
"""

from __future__ import annotations

import json
import warnings
import zipfile
import zlib
from typing import Any

import torch
from torch import nn

from fitorch.saving.codec import NotEncodable, encode
from fitorch.saving.errors import FileFormatError
from fitorch.saving.formats import FITORCH_MEMBER, read_member
from fitorch.saving.safetensors_io import read_safetensors_bytes, safetensors_bytes
from fitorch.saving.serialization import NotSerializable, compile_config, model_config
from fitorch.saving.state import state_tensors

__all__ = ["FORMAT_VERSION", "read_fitorch_file", "write_fitorch_file"]

FORMAT_VERSION = 1
WEIGHTS_MEMBER = "model.safetensors"
OPTIMIZER_MEMBER = "optimizer.safetensors"


def _write_member(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    zf.writestr(name, data)


def _optimizer_state(model: Any) -> tuple[Any, dict[str, torch.Tensor]]:
    optimizer = getattr(model, "optimizer", None)
    if not isinstance(optimizer, torch.optim.Optimizer) or not optimizer.param_groups:
        return None, {}
    tensors: dict[str, torch.Tensor] = {}
    try:
        return encode(optimizer.state_dict(), tensors, "optimizer"), tensors
    except NotEncodable as e:
        warnings.warn(
            f"The optimizer's state ({type(optimizer).__name__}) holds {e}, which fitorch "
            "files do not store; the model is saved without it (a loaded model starts with "
            "fresh optimizer state).", stacklevel=4)
        return None, {}


def write_fitorch_file(model: nn.Module, filepath: str, kind: str = "model") -> None:
    """Write `model` to `filepath`: everything (`kind="model"`) or its weights only."""
    doc: dict[str, Any] = {
        "format": "fitorch",
        "format_version": FORMAT_VERSION,
        "fitorch_version": _version(),
        "kind": kind,
        "model_class": type(model).__name__,
        "model_name": getattr(model, "name", None),
        "config": None,
        "compile_config": None,
        "optimizer_state": None,
    }
    weights = state_tensors(model)
    optimizer_tensors: dict[str, torch.Tensor] = {}
    if kind == "model":
        doc["config"] = model_config(model)
        try:
            doc["compile_config"] = compile_config(model)
        except NotSerializable as e:
            warnings.warn(
                f"The compile() arguments of this model cannot be stored ({e}); the model is "
                "saved without them, and `ft.load_model` returns it uncompiled. To continue "
                "training, compile it again as before, then `model.load_weights(path)` "
                "restores the weights and the optimizer state.", stacklevel=3)
        if getattr(model, "compiled", False):
            doc["optimizer_state"], optimizer_tensors = _optimizer_state(model)
            if doc["optimizer_state"] is not None:  # the loss scaler of "16-mixed"
                from fitorch.step import step_state

                doc["step_state"] = encode(step_state(model), optimizer_tensors, "step")
    with zipfile.ZipFile(filepath, "w", compression=zipfile.ZIP_STORED) as zf:
        _write_member(zf, FITORCH_MEMBER, json.dumps(doc, indent=1).encode("utf8"))
        _write_member(zf, WEIGHTS_MEMBER, safetensors_bytes(weights, {"format": "pt"}))
        if optimizer_tensors:
            _write_member(zf, OPTIMIZER_MEMBER, safetensors_bytes(optimizer_tensors))


def read_fitorch_file(filepath: str
                      ) -> tuple[dict[str, Any], dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """`(document, model tensors, optimizer tensors)` from a fitorch file, checked."""
    try:
        with zipfile.ZipFile(filepath) as zf:
            names = set(zf.namelist())
            if FITORCH_MEMBER not in names or WEIGHTS_MEMBER not in names:
                raise ValueError(
                    f"{filepath!r} is not a fitorch file: it lacks {FITORCH_MEMBER!r} or "
                    f"{WEIGHTS_MEMBER!r}. Received: members {sorted(names)[:6]}"
                )
            doc = json.loads(read_member(zf, FITORCH_MEMBER, filepath).decode("utf8"))
            weights_data = read_member(zf, WEIGHTS_MEMBER, filepath)
            optimizer_data = (read_member(zf, OPTIMIZER_MEMBER, filepath)
                              if OPTIMIZER_MEMBER in names else None)
    except FileFormatError:
        raise
    except RecursionError:
        raise FileFormatError(filepath, (
            f"Could not read {filepath!r}: its {FITORCH_MEMBER} nests lists or objects deeper "
            "than any fitorch file does (a damaged or crafted file). "
            f"Received: filepath={filepath!r}")) from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, UnicodeDecodeError,
            json.JSONDecodeError) as e:
        raise FileFormatError(filepath, (
            f"Could not read {filepath!r}: the file is truncated or corrupted. "
            f"Received: filepath={filepath!r} ({type(e).__name__}: {e})")) from None
    if not isinstance(doc, dict) or doc.get("format") != "fitorch":
        raise ValueError(f"{filepath!r} is not a fitorch file. Received: {FITORCH_MEMBER} "
                         f"without format='fitorch'")
    version = doc.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(
            f"{filepath!r} was written by a newer fitorch (format version {version!r}); this "
            f"one reads up to version {FORMAT_VERSION}. Received: format_version={version!r}"
        )
    weights = read_safetensors_bytes(weights_data, filepath)
    optimizer_tensors = (read_safetensors_bytes(optimizer_data, filepath)
                         if optimizer_data is not None else {})
    return doc, weights, optimizer_tensors


def _version() -> str:
    from fitorch import __version__

    return __version__
