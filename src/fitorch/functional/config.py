"""A functional model's architecture as JSON data, and the model rebuilt from it.

The config lists the layers (class name and constructor config, in Keras's layer
order) and the recorded calls in graph order: which layer or function, and the
arguments, where a tensor argument is a reference `[call, output]` to an earlier
call. Rebuilding replays the calls on fresh symbolic tensors. As for `Sequential`
configs, only names fitorch itself resolves are turned back into objects: layers
of `fitorch.layers` (and nested `Sequential` / functional models), `operator`'s
arithmetic, and the `torch` / `torch.nn.functional` functions that take part in
torch's function overrides (tensor operations, nothing that reads or writes files);
recorded tensor methods must be methods of `torch.Tensor`.

Example:
    >>> config = functional_config(model)
    >>> clone = functional_from_config(config)
"""

from __future__ import annotations

import functools
import operator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from fitorch import nest
from fitorch.functional.symbolic import Value

__all__ = ["functional_config", "functional_from_config"]

_NAMESPACES: dict[str, Any] = {"operator": operator, "torch": torch,
                               "torch.nn.functional": F}


@functools.cache
def _overridable() -> frozenset[int]:
    funcs: set[int] = set()
    for namespace_funcs in torch.overrides.get_overridable_functions().values():
        funcs.update(id(f) for f in namespace_funcs)
    return frozenset(funcs)


def _function_ref(func: Any) -> dict[str, str]:
    from fitorch.saving.serialization import NotSerializable

    name = getattr(func, "__name__", None)
    for module_name, module in _NAMESPACES.items():
        if isinstance(name, str) and getattr(module, name, None) is func:
            return {"module": module_name, "name": name}
    raise NotSerializable(f"function {func!r} is not an `operator`, `torch` or "
                          "`torch.nn.functional` function")


def _resolve_function(ref: Any) -> Any:
    module_name = ref.get("module") if isinstance(ref, dict) else None
    name = ref.get("name") if isinstance(ref, dict) else None
    module = _NAMESPACES.get(module_name) if isinstance(module_name, str) else None
    func = None
    if module is not None and isinstance(name, str) and not name.startswith("_"):
        func = getattr(module, name, None)
    if func is None or not (module is operator or id(func) in _overridable()):
        raise ValueError(
            "The saved functional model names a function fitorch does not rebuild (only "
            "`operator` arithmetic and torch tensor functions). Received: function="
            f"{ref!r}"
        )
    return func


# ------------------------------------------------------------------- writing
def functional_config(model: Any) -> dict[str, Any]:
    """`{"name", "layers", "calls", "inputs", "outputs"}` of a functional model."""
    from fitorch.saving.serialization import layer_config, to_json_value

    graph = model._graph
    layers = []
    for layer in model.layers:
        entry = _layer_entry(layer, layer_config)
        entry["name"] = graph.names[layer]
        layers.append(entry)
    position: dict[int, int] = {}
    calls = []
    for i, node in enumerate(graph.nodes):
        position[id(node)] = i
        call: dict[str, Any] = {}
        if node.kind in ("input", "module"):
            call["layer"] = graph.names[node.target]
        elif node.kind == "method":
            call["method"] = node.target
        else:
            call["function"] = _function_ref(node.target)
        if node.kind != "input":
            call["args"] = _encode(list(node.args), position)
            call["kwargs"] = _encode(node.kwargs, position)
        if node.mode is not None:
            call["training"] = node.mode
        calls.append(call)

    def ref(value: Value) -> list[int]:
        return [position[id(value.node)], value.index]

    config = {
        "name": model.name,
        "layers": layers,
        "calls": calls,
        "inputs": _encode_refs(model._input_struct, ref),
        "outputs": _encode_refs(model._output_struct, ref),
    }
    return to_json_value(config, "the functional model's config")


def _layer_entry(layer: nn.Module, layer_config: Any) -> dict[str, Any]:
    from fitorch.functional.functional_model import Functional
    from fitorch.layers.input_layer import InputLayer
    from fitorch.sequential import Sequential

    if type(layer) is InputLayer:
        return {"class_name": "InputLayer", "config": layer.get_config()}
    if type(layer) is Functional:
        return {"class_name": "Functional", "config": functional_config(layer)}
    if type(layer) is Sequential:
        return {"class_name": "Sequential", "config": layer.get_config()}
    return dict(layer_config(layer))


def _encode(x: Any, position: dict[int, int]) -> Any:
    from fitorch.saving.serialization import NotSerializable

    if isinstance(x, Value):
        return {"__tensor__": [position[id(x.node)], x.index]}
    if isinstance(x, dict):
        return {"__dict__": {str(k): _encode(v, position) for k, v in x.items()}}
    if isinstance(x, tuple):
        return {"__tuple__": [_encode(v, position) for v in x]}
    if isinstance(x, list):
        return [_encode(v, position) for v in x]
    if isinstance(x, slice):
        return {"__slice__": [_encode(x.start, position), _encode(x.stop, position),
                              _encode(x.step, position)]}
    if x is Ellipsis:
        return {"__ellipsis__": True}
    if isinstance(x, torch.dtype):
        return {"__dtype__": str(x).replace("torch.", "")}
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    raise NotSerializable(f"argument {x!r} of a recorded call is not JSON data")


def _encode_refs(structure: Any, ref: Any) -> Any:
    if isinstance(structure, dict):
        return {"__dict__": {k: _encode_refs(v, ref) for k, v in structure.items()}}
    if isinstance(structure, tuple):
        return {"__tuple__": [_encode_refs(v, ref) for v in structure]}
    if isinstance(structure, list):
        return [_encode_refs(v, ref) for v in structure]
    return {"__tensor__": ref(structure)}


# ------------------------------------------------------------------- reading
def _bad(config: Any, what: str) -> ValueError:
    return ValueError(
        f"A functional model config is a dict with 'layers', 'calls', 'inputs' and "
        f"'outputs' (from `get_config()`); {what}. "
        f"Received: config of type {type(config).__name__}"
    )


def functional_from_config(config: Any) -> Any:
    """A new, freshly initialised functional model from `functional_config`'s output."""
    from fitorch.functional.symbolic import input_tensor, record_function, record_method
    from fitorch.layers.input_layer import InputLayer
    if not isinstance(config, dict) or not all(
            isinstance(config.get(k), list) for k in ("layers", "calls")):
        raise _bad(config, "'layers' or 'calls' is missing")
    layers: dict[str, Any] = {}
    for entry in config["layers"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise _bad(config, f"a layer entry is {entry!r}")
        layers[entry["name"]] = _make_layer(entry)
    results: list[Any] = []
    for call in config["calls"]:
        if not isinstance(call, dict):
            raise _bad(config, f"a call is {call!r}")
        if "layer" in call:
            layer = layers.get(call["layer"])
            if layer is None:
                raise _bad(config, f"a call names the unknown layer {call['layer']!r}")
            if isinstance(layer, InputLayer):
                results.append(input_tensor(layer))
                continue
            args = _decode(call.get("args", []), results)
            kwargs = _decode(call.get("kwargs", {"__dict__": {}}), results)
            if "training" in call:
                kwargs["training"] = bool(call["training"])
            results.append(layer(*args, **kwargs))
        elif "method" in call:
            name = call["method"]
            if not isinstance(name, str) or name.startswith("_") or not callable(
                    getattr(torch.Tensor, name, None)):
                raise _bad(config, f"a call names the unknown tensor method {name!r}")
            args = _decode(call.get("args", []), results)
            kwargs = _decode(call.get("kwargs", {"__dict__": {}}), results)
            results.append(record_method(name, args[0], tuple(args[1:]), kwargs))
        else:
            func = _resolve_function(call.get("function"))
            args = _decode(call.get("args", []), results)
            kwargs = _decode(call.get("kwargs", {"__dict__": {}}), results)
            results.append(record_function(func, tuple(args), kwargs))
    inputs = _decode(config.get("inputs"), results)
    outputs = _decode(config.get("outputs"), results)
    from fitorch.functional.functional_model import Functional

    name = config.get("name")
    return Functional(inputs, outputs, name=name if isinstance(name, str) else None)


def _make_layer(entry: dict[str, Any]) -> Any:
    from fitorch.saving.serialization import layer_class
    from fitorch.sequential import Sequential

    class_name = entry.get("class_name")
    layer_conf = entry.get("config", {})
    if class_name == "Functional":
        return functional_from_config(layer_conf)
    if class_name == "Sequential":
        return Sequential.from_config(layer_conf)
    if not isinstance(layer_conf, dict):
        raise ValueError(f"A layer config must be a dict. Received: {entry!r}")
    cls = layer_class(class_name)
    from_config = getattr(cls, "from_config", None)
    return from_config(dict(layer_conf)) if callable(from_config) else cls(**layer_conf)


def _decode(x: Any, results: list[Any]) -> Any:
    if isinstance(x, list):
        return [_decode(v, results) for v in x]
    if not isinstance(x, dict):
        return x
    if "__tensor__" in x:
        call, index = x["__tensor__"]
        if not (isinstance(call, int) and 0 <= call < len(results)):
            raise ValueError(f"A call refers to a call that does not precede it. Received: {x!r}")
        flat = [t for t in nest.flatten(results[call]) if hasattr(t, "value")]
        return flat[index]
    if "__dict__" in x:
        return {k: _decode(v, results) for k, v in x["__dict__"].items()}
    if "__tuple__" in x:
        return tuple(_decode(v, results) for v in x["__tuple__"])
    if "__slice__" in x:
        return slice(*(_decode(v, results) for v in x["__slice__"]))
    if "__ellipsis__" in x:
        return Ellipsis
    if "__dtype__" in x:
        dtype = getattr(torch, str(x["__dtype__"]), None)
        if not isinstance(dtype, torch.dtype):
            raise ValueError(f"Unknown dtype in a functional config. Received: {x!r}")
        return dtype
    raise ValueError(f"Unknown value in a functional config. Received: {x!r}")

