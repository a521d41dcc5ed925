"""Keras's `plot_model` and `model_to_dot`: a model's layers as a Graphviz graph.

`model_to_dot` needs `pydot`; `plot_model` also needs Graphviz's `dot` program to
render an image (a `.dot` file needs only pydot). A functional model is drawn
from its recorded graph (branches and merges as they are); any other model as the
chain of its layers, which is what a `Sequential` is.

Example:
    >>> ft.utils.plot_model(model, "model.png", show_shapes=True)
"""

from __future__ import annotations

import itertools
import os
import shutil
from typing import Any

from torch import nn

__all__ = ["model_to_dot", "plot_model"]


def _pydot() -> Any:
    try:
        import pydot
    except ImportError as error:
        raise ImportError(
            "You must install pydot (`pip install pydot`) for `plot_model` and "
            "`model_to_dot` to work, and Graphviz (https://graphviz.org, e.g. "
            "`apt-get install graphviz`) to render images."
        ) from error
    return pydot


def _label(name: str, layer: Any, shape: Any, show_shapes: bool, show_dtype: bool,
           show_layer_names: bool, show_layer_activations: bool,
           show_trainable: bool) -> str:
    from fitorch.summary import format_shape

    kind = type(layer).__name__ if isinstance(layer, nn.Module) else name.split("_")[0]
    lines = [f"{name} ({kind})" if show_layer_names else kind]
    if show_layer_activations:
        activation = getattr(layer, "activation", None)
        if activation is not None:
            lines.append(f"Activation: {getattr(activation, '__name__', activation)}")
    if show_dtype and isinstance(layer, nn.Module):
        dtypes = {str(p.dtype).replace("torch.", "") for p in layer.parameters()}
        lines.append(f"Dtype: {', '.join(sorted(dtypes)) or '-'}")
    if show_shapes:
        lines.append(f"Output shape: {format_shape(shape) if shape is not None else '?'}")
    if show_trainable and isinstance(layer, nn.Module):
        trainable = any(p.requires_grad for p in layer.parameters())
        lines.append(f"Trainable: {'Yes' if trainable else 'No'}")
    return "\n".join(line.replace(":", "\\:") if line.count(":") > 1 else line
                     for line in lines)


def _graph_parts(model: nn.Module) -> tuple[list[tuple[str, Any, Any]], list[tuple[str, str]]]:
    """Nodes `(name, layer, output shape)` and edges `(from, to)` of `model`."""
    from fitorch.summary import _functional_graph, top_level_layers, trace_output_shapes

    graph = _functional_graph(model)
    if graph is not None:
        names = graph.graph.names
        nodes = [(names[op], op, graph._shape(op)) for op in graph.graph.operations]
        edges = []
        for node in graph.nodes:
            if node.kind == "input":
                continue
            op = node.target if node.kind == "module" else node
            for value in node.input_values:
                edges.append((graph._name(value), names.get(op) or str(id(op))))
        return nodes, list(dict.fromkeys(edges))
    layers = top_level_layers(model)
    shapes = trace_output_shapes(model, [m for _, m in layers])
    nodes = [(name, layer, shapes.get(id(layer))) for name, layer in layers]
    edges = [(a[0], b[0]) for a, b in itertools.pairwise(nodes)]
    return nodes, edges


def model_to_dot(model: nn.Module, show_shapes: bool = False, show_dtype: bool = False,
                 show_layer_names: bool = True, rankdir: str = "TB",
                 expand_nested: bool = False, dpi: int = 200,
                 show_layer_activations: bool = False, show_trainable: bool = False,
                 **kwargs: Any) -> Any:
    """A `pydot.Dot` graph of `model`'s layers (Keras's arguments); with
    `expand_nested=True` a layer that holds layers is drawn as a cluster of them."""
    if rankdir not in ("TB", "LR"):
        raise ValueError(
            "`rankdir` must be 'TB' (vertical) or 'LR' (horizontal). "
            f"Received: rankdir={rankdir!r} (of type {type(rankdir).__name__})"
        )
    if kwargs:
        raise TypeError(f"Unrecognized keyword arguments: {list(kwargs)}")
    pydot = _pydot()
    dot = pydot.Dot(graph_type="digraph", rankdir=rankdir, dpi=str(dpi), concentrate="true")
    dot.set_node_defaults(shape="record")
    options = (show_shapes, show_dtype, show_layer_names, show_layer_activations,
               show_trainable)

    def add(graph: Any, model: nn.Module, prefix: str) -> list[str]:
        nodes, edges = _graph_parts(model)
        ids = {}
        for name, layer, shape in nodes:
            node_id = f"{prefix}{name}"
            ids[name] = node_id
            inner = list(_graph_parts(layer)[0]) if (
                expand_nested and isinstance(layer, nn.Module) and any(layer.children())) else []
            if inner:
                cluster = pydot.Cluster(node_id.replace(".", "_"), label=f"{name}",
                                        style="dashed")
                add(cluster, layer, node_id + "/")
                graph.add_subgraph(cluster)
                first = f"{node_id}/{inner[0][0]}"
                ids[name] = first
            else:
                graph.add_node(pydot.Node(node_id, label=_label(name, layer, shape, *options)))
        for a, b in edges:
            if a in ids and b in ids:
                graph.add_edge(pydot.Edge(ids[a], ids[b]))
        return list(ids.values())

    add(dot, model, "")
    return dot


def plot_model(model: nn.Module, to_file: str | os.PathLike[str] = "model.png",
               show_shapes: bool = False, show_dtype: bool = False,
               show_layer_names: bool = True, rankdir: str = "TB",
               expand_nested: bool = False, dpi: int = 200,
               show_layer_activations: bool = False, show_trainable: bool = False,
               **kwargs: Any) -> Any:
    """Write `model`'s graph to `to_file` (the extension picks the format: png, svg, pdf,
    dot, ...) and return it (an IPython image for png/jpg inside IPython, else None).

    Example:
        >>> plot_model(model, "model.dot", show_shapes=True)
    """
    dot = model_to_dot(model, show_shapes=show_shapes, show_dtype=show_dtype,
                       show_layer_names=show_layer_names, rankdir=rankdir,
                       expand_nested=expand_nested, dpi=dpi,
                       show_layer_activations=show_layer_activations,
                       show_trainable=show_trainable, **kwargs)
    path = os.fspath(to_file)
    extension = os.path.splitext(path)[1][1:].lower() or "png"
    if extension == "dot":
        with open(path, "w", encoding="utf-8") as f:
            f.write(dot.to_string())
        return None
    if shutil.which("dot") is None:
        raise ImportError(
            "`plot_model` renders images with Graphviz's `dot` program, which was not found. "
            "Install Graphviz (https://graphviz.org, e.g. `apt-get install graphviz`), or "
            f"write a `.dot` file instead. Received: to_file={path!r}"
        )
    dot.write(path, format=extension)
    if extension in ("png", "jpg", "jpeg"):
        try:
            from IPython import display, get_ipython

            if get_ipython() is not None:
                return display.Image(filename=path)
        except ImportError:
            pass
    return None
