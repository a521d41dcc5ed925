"""`layer.input` / `layer.output`: the symbolic tensors of a layer's first call (Keras 3).

Keras 3 keeps, for every layer called on symbolic tensors, the tensors of each call
(its "nodes"); `layer.input` and `layer.output` are those of the *first* call, whatever
calls followed (Keras 3 has no `get_output_at`), and a layer never called on symbolic
tensors has neither (`AttributeError`). That is what feature extraction is built from:

    >>> extractor = ft.Model(inputs=model.inputs, outputs=model.get_layer("conv3").output)

The tensor the user still holds for a value is returned as it is (`layer.output is x`);
for one that was freed, a new symbolic tensor is made, its example values computed by
running the recorded graph up to it on zero inputs.

A `Sequential` that starts with an `Input` records its layer calls the first time one
of its layers (or the model) is asked for them, as Keras builds such a model's graph.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch

from fitorch.functional.symbolic import (
    Node,
    SymbolicTensor,
    Value,
    _ExampleRun,
    device_of,
    first_node,
    graph_example_inputs,
    live_tensor,
    wrap,
)

__all__ = ["layer_input", "layer_output", "sequential_io", "symbolic_tensors", "watch_sequential"]

# Sequential models with an `Input` whose graph is not recorded yet: asked for the
# output of one of their layers, they record it first.
_unrecorded: weakref.WeakSet[Any] = weakref.WeakSet()
# A recorded Sequential's graph: (ids of its layers then, input value, output value). Held
# here, not on the model, so copies and pickles of the model do not carry the graph.
_recorded: weakref.WeakKeyDictionary[Any, tuple[tuple[int, ...], Value, Value]] = \
    weakref.WeakKeyDictionary()


def watch_sequential(model: Any) -> None:
    """Let `layer.output` find `model`'s layers (a `Sequential` with an `Input`)."""
    _unrecorded.add(model)


def sequential_io(model: Any, what: str) -> tuple[Value, Value]:
    """The input and output values of a `Sequential`'s graph, recorded on first use (the
    layers called on its `Input`, as Keras builds a Sequential that has one)."""
    if model.input_layer is None:
        raise AttributeError(f"Sequential model '{model.name}' has no defined {what} yet: "
                             "it does not start with an `ft.Input`.")
    key = tuple(id(layer) for layer in model.stack)
    cached = _recorded.get(model)
    if cached is not None and cached[0] == key:
        return cached[1], cached[2]
    from fitorch.functional.symbolic import input_tensor

    node = first_node(model.input_layer)
    x_in = symbolic_tensors([node.outputs])[0] if node is not None else \
        input_tensor(model.input_layer)
    x = x_in
    for layer in model.stack:
        x = layer(x)
    _recorded[model] = (key, x_in.value, x.value)
    _unrecorded.discard(model)
    return x_in.value, x.value


def _node_of(layer: Any, what: str) -> Node:
    node = first_node(layer)
    if node is None:
        for model in list(_unrecorded):
            if any(sub is layer for sub in model.stack):
                sequential_io(model, what)  # records the calls of its layers
        node = first_node(layer)
    if node is None:
        name = getattr(layer, "name", None) or type(layer).__name__
        raise AttributeError(
            f"The layer {name} has never been called on symbolic tensors (from `ft.Input`) "
            f"and thus has no defined {what}. Received: {type(layer).__name__} named {name!r}")
    return node


def _single_or_list(values: list[Value]) -> Any:
    tensors = symbolic_tensors(values)
    return tensors[0] if len(tensors) == 1 else tensors


def layer_input(layer: Any) -> Any:
    """The input tensor(s) of `layer`'s first symbolic call: one tensor, or a list."""
    node = _node_of(layer, "input")
    return _single_or_list([] if node.kind == "input" else node.input_values)


def layer_output(layer: Any) -> Any:
    """The output tensor(s) of `layer`'s first symbolic call: one tensor, or a list."""
    return _single_or_list(_node_of(layer, "output").output_values)


def symbolic_tensors(values: list[Value]) -> list[SymbolicTensor]:
    """A symbolic tensor per graph value: the live one, else a new one with examples."""
    found = [live_tensor(v) for v in values]
    missing = [v for v, t in zip(values, found) if t is None]
    if missing:
        examples = _examples(missing)
        found = [t if t is not None else wrap(v, examples[id(v)]) for v, t in zip(values, found)]
    return found  # type: ignore[return-value]


def _upstream_inputs(values: list[Value]) -> list[Value]:
    """The values of the `Input`s that `values` are computed from, in discovery order."""
    seen: set[int] = set()
    inputs: list[Value] = []
    stack = list(reversed(values))
    while stack:
        value = stack.pop()
        node = value.node
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.kind == "input":
            inputs.append(value)
        else:
            stack.extend(reversed(node.input_values))
    return inputs


def _examples(values: list[Value]) -> dict[int, Any]:
    """Example tensors of `values` (both runs), from the graph run on zero inputs."""
    from fitorch.functional.graph import build_graph_module, map_graph

    inputs = _upstream_inputs(values)
    order = map_graph(inputs, values)
    names = [f"input_{i}" for i in range(len(inputs))]
    module, _ = build_graph_module(order, inputs, names, list(values))
    device = device_of(module)
    runs: dict[int, list[Any]] = {id(v): [] for v in values}
    for run in (0, 1):
        xs = graph_example_inputs(order, inputs, run)
        with _ExampleRun(module):
            outs = module(*(x.to(device) if device is not None and isinstance(x, torch.Tensor)
                            else x for x in xs))
        for v, y in zip(values, outs):
            runs[id(v)].append(y.detach().cpu())
    return {k: (v[0], v[1]) for k, v in runs.items()}
