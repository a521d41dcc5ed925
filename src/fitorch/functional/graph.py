"""From recorded calls to a model: Keras's layer order, and a `torch.fx.GraphModule`.

`map_graph` orders the calls between some inputs and outputs exactly as Keras 3's
`keras.src.ops.function.map_graph` does (depth from the outputs, then traversal
order), which gives `model.layers`, the summary's rows and the order of layers in
`.weights.h5` files. `build_graph_module` writes the same calls as an fx graph: the
forward pass is generated straight-line Python (`print(model.module.code)`), and
`torch.compile`, `torch.export` and `print(model)` see an ordinary module.

Example:
    >>> order = map_graph(input_values, output_values)
    >>> [op_name(op) for op in order.operations]
    ['input_layer', 'dense', 'dense_1']
"""

from __future__ import annotations

import collections
import keyword
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import fx, nn

from fitorch import nest
from fitorch.functional.symbolic import (
    Node,
    Value,
    _node_name,
    _snake,
    function_name,
    takes_training,
)

__all__ = ["GraphOrder", "as_input_dtype", "build_graph_module", "call_in_mode", "map_graph",
           "op_name"]


def _op(node: Node) -> Any:
    """Keras's "operation" of a node: the layer (shared by all its calls) or the node itself."""
    return node.target if node.kind in ("input", "module") else node


@dataclass
class GraphOrder:
    nodes: list[Node]  # topological, inputs first
    nodes_by_depth: dict[int, list[Node]]
    operations: list[Any]  # Keras's `_operations`: layers and function nodes
    names: dict[Any, str]  # operation (layer or function node) -> its unique name here


def map_graph(inputs: Sequence[Value], outputs: Sequence[Value]) -> GraphOrder:
    """Keras's `map_graph`: the nodes between `inputs` and `outputs`, ordered by depth."""
    finished: set[int] = set()
    in_progress: set[int] = set()
    ordered: list[Node] = []
    op_index: dict[int, int] = {}
    input_ids = {id(v) for v in inputs}

    def visit(value: Value) -> None:
        node = value.node
        if id(node) in finished:
            return
        if node.kind != "input" and id(value) in input_ids:
            finished.add(id(node))
            return
        if id(node) in in_progress:
            raise ValueError(f"The graph has a cycle at {_node_name(node)!r}.")
        op_index.setdefault(id(_op(node)), len(op_index))
        in_progress.add(id(node))
        if node.kind != "input":
            for v in node.input_values:
                visit(v)
        finished.add(id(node))
        in_progress.discard(id(node))
        ordered.append(node)

    for out in outputs:
        visit(out)

    in_graph = {id(n) for n in ordered}
    node_depth: dict[int, int] = {}
    op_depth: dict[int, int] = {}
    ops: dict[int, Any] = {}
    by_id = {id(n): n for n in ordered}
    for node in reversed(ordered):
        depth = node_depth.setdefault(id(node), 0)
        op = _op(node)
        depth = max(depth, op_depth.get(id(op), 0))
        op_depth[id(op)] = depth
        ops[id(op)] = op
        node_depth[id(node)] = depth
        for v in node.input_values if node.kind != "input" else []:
            parent = v.node
            if id(parent) in in_graph:
                node_depth[id(parent)] = max(depth + 1, node_depth.get(id(parent), 0))
    for value in inputs:  # inputs that no output depends on still belong to the model
        node = value.node
        if node.kind == "input" and id(node.target) not in op_depth:
            op_depth[id(node.target)] = 0
            ops[id(node.target)] = node.target
            op_index[id(node.target)] = -1
            node_depth[id(node)] = 0
            by_id[id(node)] = node
            ordered.insert(0, node)

    nodes_by_depth: dict[int, list[Node]] = collections.defaultdict(list)
    for node_id, depth in node_depth.items():
        nodes_by_depth[depth].append(by_id[node_id])
    ops_by_depth: dict[int, list[Any]] = collections.defaultdict(list)
    for op_id, depth in op_depth.items():
        ops_by_depth[depth].append(ops[op_id])
    operations: list[Any] = []
    for depth in sorted(ops_by_depth, reverse=True):
        operations.extend(sorted(ops_by_depth[depth], key=lambda o: op_index[id(o)]))

    computable = {id(v) for v in inputs}
    for node in ordered:
        if node.kind == "input":
            continue
        for v in node.input_values:
            if id(v) not in computable:
                raise ValueError(
                    f"Graph disconnected: {_describe(node)} needs a tensor made by "
                    f"{_node_name(v.node)!r}, which does not come from the model's inputs. "
                    "Pass every `Input` the outputs depend on in `inputs`. "
                    f"Received: inputs={[_node_name(i.node) for i in inputs]}"
                )
        computable.update(id(v) for v in node.output_values)
    return GraphOrder(ordered, dict(nodes_by_depth), operations, _unique_names(operations))


def _describe(node: Node) -> str:
    return f"{_node_name(node)!r}"


def _unique_names(operations: list[Any]) -> dict[Any, str]:
    """Layer names must be unique (they name the weights); functions get Keras-style ones."""
    names: dict[Any, str] = {}
    used: dict[str, int] = {}
    for op in operations:
        if isinstance(op, Node):
            continue
        name = getattr(op, "name", None)
        if not isinstance(name, str) or not name:
            name = _snake(type(op).__name__)
        if name in used:
            raise ValueError(
                f'The name "{name}" is used by two layers of the model. All layer names '
                f"should be unique. Received: {type(op).__name__} named {name!r}"
            )
        used[name] = 0
        names[op] = name
    for op in operations:
        if not isinstance(op, Node):
            continue
        base = op.name or function_name(op)
        name, i = base, 0
        while name in used:  # only when a layer took the name a function had
            i += 1
            name = f"{base}_{i}"
        used[name] = 0
        names[op] = name
    return names


def op_name(order: GraphOrder, op: Any) -> str:
    return order.names[op]


def identifier(name: str, taken: set[str]) -> str:
    """A Python identifier for `name` (placeholder or attribute), unique within `taken`."""
    ident = re.sub(r"\W", "_", name) or "x"
    if ident[0].isdigit() or keyword.iskeyword(ident):
        ident = f"_{ident}"
    base, i = ident, 1
    while ident in taken or hasattr(fx.GraphModule, ident):
        ident = f"{base}_{i}"
        i += 1
    taken.add(ident)
    return ident


def call_in_mode(module: nn.Module, training: bool, *args: Any, **kwargs: Any) -> Any:
    """Call `module` in training (True) or inference (False) mode whatever the model's mode:
    Keras's `layer(x, training=True)` for a layer whose forward has no `training`."""
    from fitorch.modes import call_mode

    with call_mode(module, training):
        return module(*args, **kwargs)


def as_input_dtype(x: Any, dtype: torch.dtype) -> Any:
    """Integer data given to a float `Input` is converted to its dtype, as Keras converts
    it (torch would fail at the first layer with a dtype mismatch); float data is kept."""
    if isinstance(x, torch.Tensor) and not x.is_floating_point() and not x.is_complex():
        return x.to(dtype)
    return x


def build_graph_module(order: GraphOrder, inputs: Any, input_names: Sequence[str],
                       outputs: Any) -> tuple[fx.GraphModule, list[str]]:
    """The fx module running the graph; also the placeholder name of each flat input.

    `inputs` / `outputs` are structures of `Value`s; `input_names` name the flat inputs.
    """
    graph = fx.Graph()
    taken: set[str] = {"training"}
    env: dict[int, fx.Node] = {}
    placeholders: list[str] = []
    for value, name in zip(nest.flatten(inputs), input_names):
        ident = identifier(name, taken)
        placeholders.append(ident)
        env[id(value)] = graph.placeholder(ident)
        if value.node.kind == "input" and isinstance(value.dtype, torch.dtype) \
                and value.dtype.is_floating_point:
            env[id(value)] = graph.create_node("call_function", as_input_dtype,
                                               (env[id(value)], value.dtype), name=f"{ident}_in")
    needs_training = any(
        n.kind == "module" and n.mode is None and "training" not in n.kwargs
        and takes_training(n.target) for n in order.nodes)
    training = graph.placeholder("training", default_value=None) if needs_training else None

    root: dict[str, Any] = {}
    attr_of: dict[int, str] = {}
    constants: dict[str, torch.Tensor] = {}

    def attr(module: nn.Module) -> str:
        if id(module) not in attr_of:
            attr_of[id(module)] = identifier(op_name(order, module), taken)
            root[attr_of[id(module)]] = module
        return attr_of[id(module)]

    def arg(x: Any) -> Any:
        if isinstance(x, Value):
            return env[id(x)]
        if isinstance(x, torch.Tensor):  # a constant passed along symbolic tensors
            name = identifier(f"_constant_{len(constants)}", taken)
            constants[name] = x.detach()
            root[name] = x.detach()
            return graph.get_attr(name)
        if isinstance(x, nn.Module):
            return graph.get_attr(attr(x))
        if isinstance(x, (list, tuple)):
            items = [arg(v) for v in x]
            return type(x)(*items) if hasattr(x, "_fields") else type(x)(items)
        if isinstance(x, dict):
            return {k: arg(v) for k, v in x.items()}
        return x

    for node in order.nodes:
        if node.kind == "input":
            continue
        args = tuple(arg(a) for a in node.args)
        kwargs = {k: arg(v) for k, v in node.kwargs.items()}
        if node.kind == "module":
            name = attr(node.target)
            if node.mode is not None:
                out = graph.call_function(call_in_mode,
                                          (graph.get_attr(name), node.mode, *args), kwargs)
            else:
                if training is not None and "training" not in kwargs and takes_training(
                        node.target):
                    kwargs["training"] = training
                out = graph.call_module(name, args, kwargs)
        elif node.kind == "method":
            out = graph.call_method(node.target, args, kwargs)
        else:
            out = graph.call_function(node.target, args, kwargs)
        for value in node.output_values:
            current = out
            for key in value.path:
                current = graph.call_function(operator.getitem, (current, key))
            env[id(value)] = current
    graph.output(nest.map_structure(lambda v: env[id(v)], outputs))
    module = fx.GraphModule(root, graph, class_name="FunctionalGraph")
    for name, tensor in constants.items():
        delattr(module, name)
        module.register_buffer(name, tensor, persistent=False)
    return module, placeholders
