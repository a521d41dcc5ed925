"""The rows of `summary()` for a functional model, as Keras 3 prints them.

Keras lists the model's operations (input layers, layers and recorded functions)
in graph order, with the output shape each one produced; graphs that are not a
plain chain (several inputs, merges, shared layers) get a "Connected to" column
naming each input as `layer[node_index][tensor_index]`.

Example:
    >>> rows = GraphSummary(model, model._graph).rows(False, False, connected=True)
"""

from __future__ import annotations

from typing import Any

from torch import nn

from fitorch import nest
from fitorch.functional.graph import GraphOrder
from fitorch.functional.symbolic import Node, Value


class GraphSummary:
    """What the summary needs from a functional model's graph."""

    def __init__(self, model: nn.Module, graph: GraphOrder) -> None:
        self.model = model
        self.graph = graph
        self.nodes = [n for nodes in graph.nodes_by_depth.values() for n in nodes]
        self.node_ids = {id(n) for n in self.nodes}

    @property
    def sequential_like(self) -> bool:
        """Keras's rule: one node per depth, each with one input, and no shared layer."""
        for nodes in self.graph.nodes_by_depth.values():
            if len(nodes) > 1 or (len(nodes) == 1 and len(nodes[0].input_values) > 1):
                return False
        calls: dict[int, int] = {}
        for node in self.nodes:
            op = node.target if node.kind in ("input", "module") else node
            calls[id(op)] = calls.get(id(op), 0) + 1
        return all(count <= 1 for count in calls.values())

    def _nodes_of(self, op: Any) -> list[Node]:
        if isinstance(op, Node):
            return [op]
        return sorted((n for n in self.graph.nodes if n.target is op),
                      key=lambda n: n.call_index)

    def _shape(self, op: Any) -> Any:
        nodes = self._nodes_of(op)
        if not nodes:
            return None
        outputs = nodes[-1].outputs
        shapes = nest.map_structure(
            lambda v: v.shape if isinstance(v, Value) else None, outputs)
        flat = nest.flatten(shapes)
        return flat[0] if len(flat) == 1 else shapes

    def _name(self, value: Value) -> str:
        node = value.node
        op = node.target if node.kind in ("input", "module") else node
        return self.graph.names.get(op) or _fallback_name(op)

    def _connections(self, op: Any) -> str:
        parts = []
        for node in self._nodes_of(op):
            if id(node) not in self.node_ids or node.kind == "input":
                continue
            for value in node.input_values:
                parts.append(f"{self._name(value)}[{value.node.call_index}][{value.index}]")
        return ", ".join(parts) or "-"

    def rows(self, expand_nested: bool, show_trainable: bool, connected: bool,
             level: int = 0) -> list[list[str]]:
        from fitorch.summary import layer_row

        out: list[list[str]] = []
        prefix = "   " * level + "└ " if level else ""
        for op in self.graph.operations:
            name = self.graph.names[op]
            type_name = None
            if isinstance(op, Node):
                type_name = "".join(p.capitalize() for p in _base(name).split("_"))
            row = layer_row(prefix + name, op, self._shape(op), show_trainable, type_name)
            if connected:
                row.insert(3, self._connections(op) if not level else "-")
            out.append(row)
            if expand_nested and isinstance(op, nn.Module):
                out.extend(_nested_rows(op, expand_nested, show_trainable, connected,
                                        level + 1))
        return out


def _nested_rows(layer: nn.Module, expand_nested: bool, show_trainable: bool,
                 connected: bool, level: int) -> list[list[str]]:
    from fitorch.summary import _children, layer_row

    graph = layer.__dict__.get("_graph")
    if graph is not None:
        return GraphSummary(layer, graph).rows(expand_nested, show_trainable, connected, level)
    rows = []
    prefix = "   " * level + "└ "
    for name, child in _children(layer):
        row = layer_row(prefix + name, child, None, show_trainable)
        if connected:
            row.insert(3, "-")
        rows.append(row)
        rows.extend(_nested_rows(child, expand_nested, show_trainable, connected, level + 1))
    return rows


def _base(name: str) -> str:
    head, _, tail = name.rpartition("_")
    return head if head and tail.isdigit() else name


def _fallback_name(op: Any) -> str:
    return getattr(op, "name", None) or type(op).__name__.lower()
