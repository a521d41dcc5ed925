"""Keras's HDF5 weight files, written and read with h5py.

Two layouts, both produced by Keras 3 (see keras/src/saving/saving_lib.py and
keras/src/legacy/saving/legacy_h5_format.py):

* `.weights.h5` (Keras 3): `layers/<class>[_k]/vars/<i>`. A layer is found by
  the path Keras itself would use: inside a `Sequential` (or any list of
  layers) by the snake-cased class name, numbered `_1`, `_2`, ... per class in
  order; inside a subclassed model by attribute name, walked as Keras walks them
  (sorted, private names last, lists and dicts numbered by class, a layer reachable
  twice saved once; a `Model` subclass's layers whose attribute sorts after "layers"
  under `layers/`, Keras's `Model.layers` property). Recurrent layers keep
  their variables in `<layer>/cell/vars`. The class name in the path is the
  type check, the shapes are checked per variable.
* `.keras` archives (Keras 3's model files): the `.weights.h5` layout inside a zip.
* `.h5` (legacy, what `keras.Model.load_weights("x.h5")` reads): root attribute
  `layer_names`, a group per layer with `weight_names`; matched by order among
  the layers that have weights, as Keras does.

Every fitorch layer gives its variables in Keras's order and layout through
`get_keras_weights()` / `set_keras_weights()`, so files move between Keras
and fitorch both ways. A load checks every layer first (on a copy), then
assigns; a failure leaves the model as it was.

Example:
    >>> save_keras_h5(model, "model.weights.h5")
    >>> load_keras_h5(model, "model.weights.h5")
"""

from __future__ import annotations

import copy
import io
import math
import re
import warnings
import zipfile
from collections.abc import Sequence
from typing import Any

import h5py
import numpy as np
import torch
from torch import nn

from fitorch.saving.errors import FileFormatError
from fitorch.saving.formats import read_member
from fitorch.saving.keras_layout import (
    check_data_format,
    dense_after_flatten,
    recorded_data_format,
    rows_to_channels_first,
    rows_to_channels_last,
)

__all__ = ["keras_entries", "load_keras_h5", "save_keras_h5"]

# Keras's recurrent layers hold their variables in a nested `cell` object.
_VARS_SUBPATH = {"LSTM": "cell", "GRU": "cell", "SimpleRNN": "cell"}
_ATTR_LIMIT = 64512  # HDF5's object header limit, as Keras's legacy writer chunks for
_BOMB_FLOOR = 1 << 32  # Keras's guard against datasets that declare far more than they store
_BOMB_RATIO = 1000

Entry = tuple[str, nn.Module]


# ---------------------------------------------------------------- structure
def _snake(name: str) -> str:
    """keras.src.utils.naming.to_snake_case."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _join(*parts: str) -> str:
    return "/".join(p for p in parts if p)


def _name_key(name: str) -> str:
    return f"~{name}" if name.startswith("_") else name  # Keras visits private names last


def _has_tensors(module: nn.Module) -> bool:
    return any(True for _ in module.parameters()) or any(True for _ in module.buffers())


def _layer_name(module: nn.Module, fallback: str) -> str:
    name = getattr(module, "name", None)
    return name if isinstance(name, str) and name else fallback


def _sequence_layers(module: nn.Module) -> list[nn.Module] | None:
    from fitorch.functional.functional_model import Functional
    from fitorch.sequential import Sequential

    if isinstance(module, (Sequential, Functional)):
        # A functional model's layers start with its `InputLayer`s, as in Keras's files.
        return module.layers
    if isinstance(module, nn.Sequential):
        return list(module)
    return None


def keras_entries(model: nn.Module, sort_attrs: bool = True) -> list[Entry]:
    """`(path, layer)` for every Keras-style layer of `model`, with Keras 3's paths.

    Example:
        >>> [p for p, _ in keras_entries(ft.Sequential([ft.layers.Dense(2), ft.layers.Dense(1)]))]
        ['layers/dense', 'layers/dense_1']
    """
    out: list[Entry] = []
    _walk(model, "", out, sort_attrs, set())
    return out


def _walk(module: nn.Module, prefix: str, out: list[Entry], sort_attrs: bool,
          visited: set[int]) -> None:
    from fitorch.model import Model

    # Keras saves a layer reachable by several paths once, at the first it walks.
    if id(module) in visited:
        return
    visited.add(id(module))
    if callable(getattr(module, "get_keras_weights", None)) and not getattr(
            module, "keras_sublayers", False):  # Bidirectional: one group per direction
        out.append((prefix, module))
        return
    layers = _sequence_layers(module)
    if layers is not None:
        _container(layers, _join(prefix, "layers"), out, sort_attrs, visited)
        return
    wrapped = getattr(module, "module", None)
    if isinstance(module, Model) and isinstance(wrapped, nn.Module):
        visited.discard(id(module))
        _walk(wrapped, prefix, out, sort_attrs, visited)  # Model(module) adds no level
        return
    if isinstance(module, (nn.ModuleList, nn.ModuleDict)):
        _container(_items(module), prefix, out, sort_attrs, visited)
        return
    # Every attribute name of a child, aliases included (`named_children` drops them).
    children = [(n, m) for n, m in module._modules.items() if m is not None]
    if not children and not _has_tensors(module):
        out.append((prefix, module))  # a weightless layer (Flatten, ReLU): Keras writes its group
        return
    own = [*module.parameters(recurse=False), *module.buffers(recurse=False)]
    if own:
        raise TypeError(
            f"Layer {_layer_name(module, prefix or type(module).__name__)!r} "
            f"({type(module).__name__}) has weights but no Keras layout (no "
            "`get_keras_weights()`): Keras's HDF5 files can only hold fitorch layers. Save to "
            "`.safetensors` or `.fitorch` instead. "
            f"Received: a {type(module).__name__} module at {prefix or 'the top level'!r}"
        )
    entries: list[tuple[str, Any]] = list(children)
    if sort_attrs:
        if isinstance(module, Model):
            # A subclassed Keras Model also has the property `layers` (its directly tracked
            # layers, lists and dicts flattened, in assignment order), which Keras walks at
            # its place among the sorted attribute names: a layer whose attribute sorts after
            # "layers" (`zeta`, `_private`) is saved as `layers/<class>_<k>`.
            entries.append(("layers", _tracked_layers(children)))
        entries.sort(key=lambda item: _name_key(item[0]))
    for name, child in entries:
        if isinstance(child, list):
            _container(child, _join(prefix, name), out, sort_attrs, visited)
        elif isinstance(child, (nn.ModuleList, nn.ModuleDict)):
            if id(child) not in visited:
                visited.add(id(child))
                _container(_items(child), _join(prefix, name), out, sort_attrs, visited)
        else:
            _walk(child, _join(prefix, name), out, sort_attrs, visited)


def _items(container: nn.ModuleList | nn.ModuleDict) -> list[nn.Module]:
    """A ModuleList's items, a ModuleDict's values in insertion order (Keras's lists, dicts)."""
    return list(container.values()) if isinstance(container, nn.ModuleDict) else list(container)


def _tracked_layers(children: list[tuple[str, nn.Module]]) -> list[nn.Module]:
    """Keras's `Model.layers` of a subclass: the layers assigned as attributes, with those in
    lists and dicts flattened, each once, in assignment order."""
    layers: list[nn.Module] = []
    seen: set[int] = set()
    for _, child in children:
        items = _items(child) if isinstance(child, (nn.ModuleList, nn.ModuleDict)) else [child]
        for item in items:
            if id(item) not in seen:
                seen.add(id(item))
                layers.append(item)
    return layers


def _container(items: Sequence[nn.Module], prefix: str, out: list[Entry],
               sort_attrs: bool, visited: set[int]) -> None:
    used: dict[str, int] = {}
    for item in items:
        # Keras numbers every item of a container by class, also those saved elsewhere.
        base = _snake(type(item).__name__)
        if base in used:
            used[base] += 1
            name = f"{base}_{used[base]}"
        else:
            used[base] = 0
            name = base
        _walk(item, _join(prefix, name), out, sort_attrs, visited)


def _vars_path(path: str, layer: nn.Module) -> str:
    sub = getattr(layer, "keras_vars_path", None)
    if not isinstance(sub, str):
        sub = _VARS_SUBPATH.get(type(layer).__name__, "")
    return _join(path, sub, "vars")


def _describe(layer: nn.Module, path: str) -> str:
    return f'"{_layer_name(layer, path)}" ({type(layer).__name__})'


def _shapes(arrays: Sequence[np.ndarray]) -> str:
    return "[" + ", ".join(str(tuple(a.shape)) for a in arrays) + "]"


# ------------------------------------------------------------------- writing
def save_keras_h5(model: nn.Module, filepath: str, legacy: bool = False,
                  data_format: str = "channels_last") -> None:
    """Write `model`'s weights in Keras 3's `.weights.h5` layout (or the legacy `.h5` one),
    for a Keras model of `data_format` (a Dense after a Flatten is permuted to match)."""
    entries = keras_entries(model, sort_attrs=not legacy)
    flattened = (dense_after_flatten(model)
                 if check_data_format(data_format) == "channels_last" else {})
    weights = {}
    for path, layer in entries:
        arrays = layer.get_keras_weights() if _has_tensors(layer) else []  # type: ignore[operator]
        shape = flattened.get(id(layer))
        if shape is not None and arrays and arrays[0].shape[0] == math.prod(shape):
            arrays = [rows_to_channels_last(arrays[0], shape), *arrays[1:]]
        weights[path] = arrays
    with h5py.File(filepath, "w") as f:
        if legacy:
            _write_legacy(f, entries, weights)
        else:
            _write_v3(f, model, entries, weights)


def _write_v3(f: h5py.File, model: nn.Module, entries: list[Entry],
              weights: dict[str, list[np.ndarray]]) -> None:
    root_vars = f.require_group("vars")
    root_vars.attrs["name"] = getattr(model, "name", type(model).__name__.lower())
    for path, layer in entries:
        group = f.require_group(path) if path else f
        own = group.require_group("vars")
        own.attrs["name"] = _layer_name(layer, path)
        target_path = _vars_path(path, layer)
        target = f.require_group(target_path)
        if target.name != own.name:
            target.attrs["name"] = f"{_snake(type(layer).__name__)}_cell"
        for i, array in enumerate(weights[path]):
            target.create_dataset(str(i), data=np.asarray(array))


def _write_legacy(f: h5py.File, entries: list[Entry],
                  weights: dict[str, list[np.ndarray]]) -> None:
    names = [_layer_name(layer, path.replace("/", "_")) for path, layer in entries]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(
            "Keras's legacy `.h5` layout names each layer's group after the layer, so layer "
            f"names must be unique. Received: duplicate layer names {duplicates}"
        )
    _write_string_attr(f, "layer_names", names)
    f.attrs["backend"] = b"torch"
    f.attrs["keras_version"] = b"3"
    for name, (path, _) in sorted(zip(names, entries), key=lambda item: item[0]):
        group = f.create_group(name)
        arrays = weights[path]
        weight_names = [f"{name}/{i}" for i in range(len(arrays))]
        _write_string_attr(group, "weight_names", weight_names)
        for weight_name, array in zip(weight_names, arrays):
            group.create_dataset(weight_name, data=np.asarray(array))
    top = f.create_group("top_level_model_weights")
    _write_string_attr(top, "weight_names", [])


def _write_string_attr(group: h5py.Group, name: str, values: list[str]) -> None:
    """Keras's `save_attributes_to_hdf5_group`: split when over HDF5's header limit."""
    data = np.asarray([v.encode("utf8") for v in values])
    chunks = 1
    parts = [data]
    while any(p.nbytes > _ATTR_LIMIT for p in parts):
        chunks += 1
        parts = np.array_split(data, chunks)
    if chunks == 1:
        group.attrs[name] = data
    else:
        for i, part in enumerate(parts):
            group.attrs[f"{name}{i}"] = part


# ------------------------------------------------------------------- reading
class _Reader:
    """Safe access to an HDF5 file: no links, no external or virtual data, no size bombs."""

    def __init__(self, f: h5py.File, source: str, budget: int | None = None) -> None:
        self.f = f
        self.source = source
        # Bytes of array data still allowed (see `weight_budget`): arrays are read only
        # within it, so a small file declaring huge datasets allocates nothing.
        self.budget = budget

    def get(self, path: str) -> Any:
        node: Any = self.f
        for part in (p for p in path.split("/") if p):
            if not isinstance(node, h5py.Group) or part not in node:
                return None
            link = node.get(part, getlink=True)
            if isinstance(link, (h5py.SoftLink, h5py.ExternalLink)):
                raise ValueError(
                    f"Refusing to read {self.source!r}: it contains a link "
                    f"({type(link).__name__} at {path!r}), which could point outside the "
                    f"file. Received: filepath={self.source!r}"
                )
            node = node[part]
        return node

    def array(self, ds: Any, where: str) -> np.ndarray:
        if not isinstance(ds, h5py.Dataset):
            raise ValueError(
                f"{self.source!r} is not a valid weights file: expected an array at {where!r}. "
                f"Received: {type(ds).__name__}"
            )
        if ds.external or ds.is_virtual:
            raise ValueError(
                f"Refusing to read {self.source!r}: the array at {where!r} keeps its data "
                f"outside the file. Received: filepath={self.source!r}"
            )
        if ds.dtype.kind not in "fiub":
            raise ValueError(
                f"{self.source!r}: the array at {where!r} is not numeric. "
                f"Received: dtype={ds.dtype}"
            )
        declared = math.prod(ds.shape) * ds.dtype.itemsize
        if declared > _BOMB_FLOOR and declared > _BOMB_RATIO * ds.id.get_storage_size():
            raise ValueError(
                f"Refusing to read {self.source!r}: the array at {where!r} declares {declared} "
                "bytes but stores almost nothing (a decompression bomb)."
            )
        if self.budget is not None:
            self.budget -= declared
            if self.budget < 0:
                raise FileFormatError(self.source, (
                    f"Refusing to read {self.source!r}: its arrays declare more data than the "
                    f"model's weights could use (the array at {where!r} has shape "
                    f"{tuple(ds.shape)}, {declared} bytes). The file was saved from a "
                    f"different model, or is damaged. Received: filepath={self.source!r}"))
        return np.asarray(ds[()])

    def shapes(self, group: h5py.Group) -> str:
        """The shapes of a `vars` group's arrays, without reading them (for messages)."""
        return "[" + ", ".join(str(tuple(getattr(group[k], "shape", ()))) for k in group) + "]"

    def vars_arrays(self, group: h5py.Group, where: str) -> list[np.ndarray]:
        keys = list(group.keys())
        if sorted(keys, key=lambda k: int(k) if k.isdigit() else -1) != [
                str(i) for i in range(len(keys))]:
            raise ValueError(
                f"{self.source!r} is not a Keras 3 weights file: {where!r} should hold arrays "
                f"named 0..{len(keys) - 1}. Received: {sorted(keys)}"
            )
        return [self.array(self.get(_join(where, str(i))), _join(where, str(i)))
                for i in range(len(keys))]

    def weighted_groups(self) -> list[str]:
        """Paths of every `vars` group holding arrays (layers; not the optimizer)."""
        found: list[str] = []

        def visit(group: h5py.Group, path: str) -> None:
            for name in group:
                child_path = _join(path, name)
                child = self.get(child_path)
                if not isinstance(child, h5py.Group):
                    continue
                if name == "vars" and len(child) and child_path != "vars":
                    found.append(child_path)
                visit(child, child_path)

        visit(self.f, "")
        return [p for p in found if not p.startswith(("optimizer/", "metrics/"))]

    def strings(self, group: h5py.Group, name: str) -> list[str]:
        """Keras's `load_attributes_from_hdf5_group` (chunked attributes included)."""
        if name in group.attrs:
            values = list(group.attrs[name])
        else:
            values, i = [], 0
            while f"{name}{i}" in group.attrs:
                values.extend(group.attrs[f"{name}{i}"])
                i += 1
        return [v.decode("utf8") if hasattr(v, "decode") else str(v) for v in values]


def weight_budget(model: nn.Module) -> int:
    """The most array bytes a weights file for `model` may make a loader read: twice the
    model's own (a float64 file for a float32 model) plus 1 MiB."""
    total = sum(t.numel() * t.element_size() for t in model.state_dict().values()
                if not isinstance(t, (nn.parameter.UninitializedParameter,
                                      nn.parameter.UninitializedBuffer)))
    return 2 * total + (1 << 20)


def load_keras_h5(model: nn.Module, filepath: str, member: str | None = None,
                  data_format: str | None = None) -> None:
    """Load a Keras HDF5 weights file (either layout) into `model`, all or nothing.

    With `member`, `filepath` is a `.keras` zip archive and `member` its HDF5 entry.
    `data_format` is that of the Keras model that wrote the file (None: what the file
    records, else Keras's default, channels-last): the kernel of a Dense after a Flatten
    is permuted to fitorch's channels-first order (`keras_layout`).
    """
    budget = weight_budget(model)
    recorded = None
    try:
        if member is not None:
            with zipfile.ZipFile(filepath) as archive:
                f = h5py.File(io.BytesIO(read_member(archive, member, filepath,
                                                     limit=budget + (16 << 20))), "r")
                if "config.json" in archive.namelist():
                    recorded = recorded_data_format(
                        read_member(archive, "config.json", filepath))
        else:
            f = h5py.File(filepath, "r")
            config = f.attrs.get("model_config")
            recorded = recorded_data_format(config if isinstance(config, (str, bytes))
                                            else None)
    except FileFormatError:
        raise
    except (OSError, zipfile.BadZipFile, KeyError) as e:
        raise FileFormatError(filepath, (
            f"Could not read {filepath!r} as HDF5: the file is truncated or corrupted. "
            f"Received: filepath={filepath!r} ({e})")) from None
    with f:
        _warn_if_optimizer_state_left(model, f, filepath)
        reader = _Reader(f, filepath, budget)
        try:
            if "layer_names" in f.attrs or "layer_names0" in f.attrs or (
                    "model_weights" in f and "layers" not in f):
                plan = _plan_legacy(model, reader)
            else:
                plan = _plan_v3(model, reader)
        except FileFormatError:
            raise
        except (OSError, KeyError, RuntimeError) as e:
            raise FileFormatError(filepath, (
                f"Could not read {filepath!r}: the file is truncated or corrupted. "
                f"Received: filepath={filepath!r} ({type(e).__name__}: {e})")) from None
    flattened = (dense_after_flatten(model)
                 if check_data_format(data_format, recorded) == "channels_last" else {})
    for i, (path, layer, where, arrays) in enumerate(plan):
        shape = flattened.get(id(layer))
        if shape is not None and arrays and arrays[0].shape[0] == math.prod(shape):
            plan[i] = (path, layer, where,
                       [rows_to_channels_first(arrays[0], shape), *arrays[1:]])
    _apply(model, plan, filepath)


def _warn_if_optimizer_state_left(model: nn.Module, f: h5py.File, filepath: str) -> None:
    """A compiled Keras model writes its optimizer's variables (learning rate, iterations,
    moments) into its weights file, and Keras's `load_weights` restores them into a
    compiled model; fitorch loads the weights only, so say that the optimizer keeps its own."""
    if not getattr(model, "compiled", False):
        return
    group = f.get("optimizer/vars") or f.get("optimizer_weights")
    if isinstance(group, h5py.Group) and len(group):
        warnings.warn(
            f"{filepath!r} also holds a Keras optimizer's state ({len(group)} variables: "
            "its learning rate, iteration count and moments), which Keras's `load_weights` "
            "would restore into a compiled model. fitorch loads the model's weights only; "
            f"the optimizer {type(getattr(model, 'optimizer', None)).__name__} keeps its own "
            "state and learning rate.",
            UserWarning,
            stacklevel=5,  # the user's `model.load_weights(...)`
        )


Plan = list[tuple[str, nn.Module, str, list[np.ndarray]]]  # (path, layer, file place, arrays)


def _plan_v3(model: nn.Module, reader: _Reader) -> Plan:
    entries = keras_entries(model, sort_attrs=True)
    plan: Plan = []
    missing: list[str] = []
    used: set[str] = set()
    for path, layer in entries:
        where = _vars_path(path, layer)
        group = reader.get(where)
        arrays = reader.vars_arrays(group, where) if isinstance(group, h5py.Group) else []
        if not _has_tensors(layer):
            if arrays:
                raise ValueError(
                    f"Layer {_describe(layer, path)} has no weights but {reader.source!r} holds "
                    f"{len(arrays)} at {where!r} (shapes {_shapes(arrays)}): the file was "
                    f"saved from a different model. Received: filepath={reader.source!r}"
                )
            continue
        if not arrays:
            missing.append(f"{_describe(layer, path)} at {where!r}")
            continue
        used.add(where)
        plan.append((path, layer, where, arrays))
    extra = [p for p in reader.weighted_groups() if p not in used]
    if missing or extra:
        parts = []
        if missing:
            parts.append("the model's layers with no weights in the file: " + ", ".join(missing))
        if extra:
            described = []
            for p in extra:
                group = reader.get(p)
                saved = group.attrs.get("name", "?")
                saved = saved.decode() if hasattr(saved, "decode") else saved
                described.append(f"{p!r} (saved from layer {saved!r}, shapes "
                                 f"{reader.shapes(group)})")
            parts.append("weights in the file that no layer of the model takes: "
                         + ", ".join(described))
        raise ValueError(
            f"The layers in {reader.source!r} do not match the model "
            f"({type(model).__name__}); Keras finds a layer by its class and position, so "
            "the model must have the same layers in the same order. " + "; ".join(parts)
            + f". Received: filepath={reader.source!r}"
        )
    return plan


def _plan_legacy(model: nn.Module, reader: _Reader) -> Plan:
    group: Any = reader.f
    if "layer_names" not in group.attrs and "layer_names0" not in group.attrs:
        group = reader.get("model_weights")
        if not isinstance(group, h5py.Group):
            raise ValueError(f"{reader.source!r} is not a Keras weights file: it has no "
                             f"`layer_names`. Received: filepath={reader.source!r}")
    saved: list[tuple[str, list[str]]] = []
    for name in reader.strings(group, "layer_names"):
        layer_group = reader.get(_join(group.name.strip("/"), name))
        if not isinstance(layer_group, h5py.Group):
            raise ValueError(f"{reader.source!r} lists layer {name!r} but has no group for "
                             f"it. Received: filepath={reader.source!r}")
        weight_names = reader.strings(layer_group, "weight_names")
        if weight_names:
            saved.append((name, weight_names))
    layers = [(p, layer) for p, layer in keras_entries(model, sort_attrs=False)
              if _has_tensors(layer)]
    if len(saved) != len(layers):
        ours = ", ".join(_describe(layer, p) for p, layer in layers)
        theirs = ", ".join(repr(n) for n, _ in saved)
        raise ValueError(
            f"Layer count mismatch: the model ({type(model).__name__}) has {len(layers)} "
            f"layers with weights ({ours}) but {reader.source!r} holds weights for "
            f"{len(saved)} layers ({theirs}). Received: filepath={reader.source!r}"
        )
    plan: Plan = []
    base = group.name.strip("/")
    for (name, weight_names), (path, layer) in zip(saved, layers):
        arrays = [reader.array(reader.get(_join(base, name, w)), _join(base, name, w))
                  for w in weight_names]
        plan.append((path, layer, f"layer {name!r}", arrays))
    return plan


def _apply(model: nn.Module, plan: Plan, source: str) -> None:
    # Check every layer on a copy first, so that a mismatch anywhere changes nothing.
    for path, layer, where, arrays in plan:
        trial = copy.deepcopy(layer)
        try:
            trial.set_keras_weights(arrays)  # type: ignore[operator]
        except (ValueError, TypeError) as e:
            raise ValueError(
                f"Cannot load {source!r}: layer {_describe(layer, path)} of the model does not "
                f"match {where} in the file, which holds shapes {_shapes(arrays)}: {e}"
            ) from None
    snapshot = {k: v.detach().clone() for k, v in model.state_dict().items()
                if not isinstance(v, (nn.parameter.UninitializedParameter,
                                      nn.parameter.UninitializedBuffer))}
    try:
        for _, layer, _, arrays in plan:
            layer.set_keras_weights(arrays)  # type: ignore[operator]
    except BaseException:
        with torch.no_grad():
            current = model.state_dict()
            for key, value in snapshot.items():
                current[key].copy_(value)
        raise
