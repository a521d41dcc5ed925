"""`print_summary`: Keras 3's `model.summary()` table for any fitorch model.

The text mirrors what Keras 3.15 prints when stdout is not a terminal (rich's
heavy-head box, one line between rows, the same column widths, wrapping and
"…" truncation, and the same totals), so logs from both read alike. It is
drawn here by hand rather than with `rich`, which fitorch does not depend on;
the width arithmetic follows rich's `Table` (fixed-width columns shrunk with
`ratio_reduce`) so that the columns land where Keras puts them.

Output shapes come from one forward pass of a sample with forward hooks: the
`Input` of a `Sequential`, or the shape given to `model.build(...)`; without
either the shapes show "?" (as Keras does for an unbuilt model).

Example:
    >>> model = ft.Sequential([ft.Input(shape=(784,)), ft.layers.Dense(10)])
    >>> model.summary()
"""

from __future__ import annotations

import itertools
import re
import shutil
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from fitorch.modes import eval_mode, example_run

# rich's HEAVY_HEAD box, as Keras's summary draws it.
_TOP = ("┏", "━", "┳", "┓")
_HEAD_SEP = ("┡", "━", "╇", "┩")
_ROW_SEP = ("├", "─", "┼", "┤")
_BOTTOM = ("└", "─", "┴", "┘")
_HEAD_BAR = "┃"
_BODY_BAR = "│"
_ELLIPSIS = "…"
_WORD = re.compile(r"\s*\S+\s*")


# ------------------------------------------------------------------ counting
def _weights_of(module: nn.Module) -> list[torch.Tensor]:
    """A module's weights as Keras counts them: parameters and floating-point buffers.

    Integer buffers (BatchNorm's `num_batches_tracked`) are counters, not weights;
    Keras has no such variable, so they are left out of the counts.
    """
    seen: dict[int, torch.Tensor] = {}
    for p in module.parameters():
        seen.setdefault(id(p), p)
    for b in module.buffers():
        if b.is_floating_point() or b.is_complex():
            seen.setdefault(id(b), b)
    return list(seen.values())


def _is_unbuilt(module: nn.Module) -> bool:
    return any(isinstance(p, nn.parameter.UninitializedParameter) for p in module.parameters())


def _numel(tensors: Iterable[torch.Tensor]) -> int:
    return sum(0 if isinstance(t, nn.parameter.UninitializedParameter) else t.numel()
               for t in tensors)


def _nbytes(tensors: Iterable[torch.Tensor]) -> int:
    return sum(0 if isinstance(t, nn.parameter.UninitializedParameter)
               else t.numel() * t.element_size() for t in tensors)


def readable_memory_size(num_bytes: float) -> str:
    """Keras's size format: `1,290 float32 weights` -> `"5.04 KB"`.

    Example:
        >>> readable_memory_size(5160)
        '5.04 KB'
    """
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if num_bytes / 1024 < 1:
            return f"{num_bytes:.2f} {unit}"
        num_bytes /= 1024
    return f"{num_bytes:.2f} PB"


def layer_row(label: str, layer: Any, shape: Any, show_trainable: bool,
              type_name: str | None = None) -> list[str]:
    """`[name (type), output shape, params(, trainable)]` for one layer (or function)."""
    weights = _weights_of(layer) if isinstance(layer, nn.Module) else []
    if not isinstance(layer, nn.Module):
        params = "0"
    elif _is_unbuilt(layer):
        params = "0 (unbuilt)"
    else:
        params = f"{_numel(weights):,}"
    row = [f"{label} ({type_name or type(layer).__name__})", format_shape(shape), params]
    if show_trainable:
        trainable = [p for p in layer.parameters() if p.requires_grad] if weights else []
        row.append("-" if not weights else "Y" if trainable else "N")
    return row


def _functional_graph(model: Any) -> Any:
    """The summary view of a functional model (its recorded graph), or None."""
    graph = model.__dict__.get("_graph") if isinstance(model, nn.Module) else None
    if graph is None:
        return None
    from fitorch.functional.summary_view import GraphSummary

    return GraphSummary(model, graph)


# ------------------------------------------------------------------- layers
def top_level_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The rows of the summary: `(name, module)` for each layer, in call order.

    A `Sequential` lists its layers; `Model(module)` lists the children of the
    wrapped module (or the module itself when it has none); a subclassed model
    lists its direct children, like Keras's `model.layers`.
    """
    from fitorch.model import Model

    # `Model.layers` itself comes from here; a Sequential or functional model lists its own.
    own = not (isinstance(model, Model) and type(model).layers is Model.layers)
    layers = getattr(model, "layers", None) if own else None
    if isinstance(layers, list) and all(isinstance(m, nn.Module) for m in layers):
        return [(_name_of(m, str(i)), m) for i, m in enumerate(layers)]
    wrapped = getattr(model, "module", None)
    if isinstance(wrapped, nn.Module):
        children = list(wrapped.named_children())
        if not children:
            return [(_name_of(wrapped, type(wrapped).__name__.lower()), wrapped)]
        return [(_name_of(m, n), m) for n, m in children]
    return [(_name_of(m, n), m) for n, m in model.named_children()]


def _name_of(module: nn.Module, fallback: str) -> str:
    name = getattr(module, "name", None)
    return name if isinstance(name, str) and name else fallback


def _children(module: nn.Module) -> list[tuple[str, nn.Module]]:
    layers = getattr(module, "layers", None)
    if isinstance(layers, list) and all(isinstance(m, nn.Module) for m in layers):
        return [(_name_of(m, str(i)), m) for i, m in enumerate(layers)]
    return [(_name_of(m, n), m) for n, m in module.named_children()]


# ------------------------------------------------------------------- shapes
def _sample_input(model: nn.Module) -> Any:
    """A zero batch to trace shapes with, or None when the input shape is unknown."""
    input_layer = getattr(model, "input_layer", None)
    if input_layer is not None and hasattr(input_layer, "example"):
        return input_layer.example()
    spec = getattr(model, "_build_input_spec", None)
    if spec is None:
        return None
    return _zeros_like_spec(spec)


def _zeros_like_spec(spec: Any) -> Any:
    """Zeros for an input spec: `(shape, dtype)` leaves (None sizes as 1) in lists/tuples/dicts."""
    if isinstance(spec, dict):
        return {k: _zeros_like_spec(v) for k, v in spec.items()}
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], torch.dtype):
        shape, dtype = spec
        return torch.zeros(tuple(1 if d is None else d for d in shape), dtype=dtype)
    items = [_zeros_like_spec(v) for v in spec]
    return tuple(items) if isinstance(spec, tuple) else items


def _batch_of(sample: Any) -> int | None:
    if isinstance(sample, (torch.Tensor, np.ndarray)):
        return int(sample.shape[0]) if sample.ndim else None
    values = sample.values() if isinstance(sample, dict) else sample
    for v in values:
        b = _batch_of(v)
        if b is not None:
            return b
    return None


def trace_output_shapes(model: nn.Module, modules: Sequence[nn.Module]) -> dict[int, Any]:
    """Output structure of each of `modules` (by id) from one eval-mode, no-grad forward pass.

    Example:
        >>> shapes = trace_output_shapes(model, [layer for _, layer in top_level_layers(model)])
    """
    sample = _sample_input(model)
    if sample is None:
        return {}
    device = next((p.device for p in model.parameters()
                   if not isinstance(p, nn.parameter.UninitializedParameter)), None)
    if device is not None and device.type != "cpu":
        sample = _to(sample, device)
    static_batch = getattr(getattr(model, "input_layer", None), "batch_size", None)
    batch = None if static_batch else _batch_of(sample)
    recorded: dict[int, Any] = {}

    def hook(module: nn.Module, args: Any, output: Any) -> None:
        recorded[id(module)] = _shape_structure(output, batch)

    handles = [m.register_forward_hook(hook) for m in {id(m): m for m in modules}.values()]
    try:
        with eval_mode(model), torch.no_grad(), example_run():
            from fitorch.step import call_model  # local: step imports model, model imports us

            call_model(model, sample, False, compiled=False)
    finally:
        for h in handles:
            h.remove()
    return recorded


def _to(sample: Any, device: torch.device) -> Any:
    if isinstance(sample, torch.Tensor):
        return sample.to(device)
    if isinstance(sample, np.ndarray):  # strings (a string `Input`) stay on the host
        return sample
    if isinstance(sample, dict):
        return {k: _to(v, device) for k, v in sample.items()}
    return [_to(v, device) for v in sample]


def _shape_structure(output: Any, batch: int | None) -> Any:
    if isinstance(output, torch.Tensor):
        dims: list[int | None] = list(output.shape)
        if dims and batch is not None and dims[0] == batch:
            dims[0] = None  # the batch axis: variable, as Keras shows it
        return tuple(dims)
    if isinstance(output, (list, tuple)):
        items = [_shape_structure(o, batch) for o in output]
        return tuple(items) if isinstance(output, tuple) else items
    if isinstance(output, dict):
        return {k: _shape_structure(v, batch) for k, v in output.items()}
    return None


def format_shape(structure: Any) -> str:
    """Keras's text for an output shape: `(None, 10)`, or the structure of several.

    Example:
        >>> format_shape((None, 4, 7, 7))
        '(None, 4, 7, 7)'
    """
    if structure is None:
        return "?"
    if isinstance(structure, tuple) and all(d is None or isinstance(d, int) for d in structure):
        return "(" + ", ".join(str(d) for d in structure) + ")"
    if isinstance(structure, dict):
        return "{" + ", ".join(f"{k}: {format_shape(v)}" for k, v in structure.items()) + "}"
    inner = ", ".join(format_shape(s) for s in structure)
    return f"[{inner}]" if isinstance(structure, list) else f"({inner})"


# ------------------------------------------------------------------- layout
def _ratio_reduce(total: int, ratios: list[int], maximums: list[int], values: list[int]
                  ) -> list[int]:
    """rich's `ratio_reduce`: take `total` off `values` in proportion to `ratios`."""
    ratios = [r if m else 0 for r, m in zip(ratios, maximums)]
    total_ratio = sum(ratios)
    if not total_ratio:
        return values[:]
    remaining = total
    out: list[int] = []
    for ratio, maximum, value in zip(ratios, maximums, values):
        if ratio and total_ratio > 0:
            taken = min(maximum, round(ratio * remaining / total_ratio))
            out.append(value - taken)
            remaining -= taken
            total_ratio -= ratio
        else:
            out.append(value)
    return out


def _cell_widths(line_length: int, positions: Sequence[float]) -> list[int]:
    """Outer width of each column (content plus one space each side), as rich sizes them."""
    if positions[-1] <= 1:
        positions = [p * line_length for p in positions]
    widths: list[int] = []
    current = 0
    for pos in positions:
        width = int(pos) - current
        if width < 4:
            raise ValueError(
                "Insufficient console width to print summary: every column needs at least 4 "
                f"characters. Received: line_length={line_length}, positions={list(positions)}"
            )
        widths.append(width)
        current += width
    cells = [w + 2 for w in widths]  # rich adds one space of padding on each side
    available = line_length - (len(cells) + 1)  # minus the vertical borders
    excess = sum(cells) - available
    if excess > 0:
        cells = _ratio_reduce(excess, [1] * len(cells), cells, cells)
    return [max(c, 2) for c in cells]


def _cell_lines(text: str, width: int, how: str) -> list[str]:
    """rich's word wrap, overflow="ellipsis" and justification of one cell's text.

    A word longer than the line gets a line of its own, cut with "…"; left-justified
    lines keep their leading spaces (the "└" prefix of nested rows).
    """
    if width <= 0:
        return [""]
    breaks: list[int] = []
    offset = 0
    for match in _WORD.finditer(text):
        start, word = match.start(), match.group(0)
        length = len(word.rstrip())
        if width - offset >= length:
            offset += len(word)
        elif length > width:
            if start:
                breaks.append(start)
            offset = len(word)
        elif offset and start:
            breaks.append(start)
            offset = len(word)
    bounds = [0, *breaks, len(text)]
    out = []
    for a, b in itertools.pairwise(bounds):
        line = text[a:b]
        if len(line) > width:  # trailing spaces beyond the width go first
            trailing = len(line) - len(line.rstrip())
            line = line[: len(line) - min(trailing, len(line) - width)]
        if how != "left":
            line = line.rstrip()
        if len(line) > width:
            line = line[: max(width - 1, 0)] + _ELLIPSIS
        if how == "right":
            line = line.rjust(width)
        elif how == "center":
            left = (width - len(line)) // 2
            line = (" " * left + line).ljust(width)
        else:
            line = line.ljust(width)
        out.append(line[:width])
    return out


def _render_row(cells: Sequence[str], widths: Sequence[int], aligns: Sequence[str],
                bar: str, bottom: bool = False) -> list[str]:
    wrapped = [_cell_lines(text, w - 2, align) for text, w, align in zip(cells, widths, aligns)]
    height = max(len(w) for w in wrapped)
    for lines, w in zip(wrapped, widths):
        blank = [" " * (w - 2)] * (height - len(lines))
        # rich aligns header cells to the bottom of the row, body cells to the top.
        lines[:] = blank + lines if bottom else lines + blank
    out = []
    for i in range(height):
        parts = [" " + lines[i] + " " for lines in wrapped]
        out.append(bar + bar.join(parts) + bar)
    return out


def _rule(widths: Sequence[int], chars: tuple[str, str, str, str]) -> str:
    left, fill, cross, right = chars
    return left + cross.join(fill * w for w in widths) + right


def render_table(header: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[int],
                 aligns: Sequence[str]) -> list[str]:
    """The table's lines: heavy header box, then rows separated by rules."""
    lines = [_rule(widths, _TOP), *_render_row(header, widths, aligns, _HEAD_BAR, bottom=True),
             _rule(widths, _HEAD_SEP)]
    for i, row in enumerate(rows):
        if i:
            lines.append(_rule(widths, _ROW_SEP))
        lines.extend(_render_row(row, widths, aligns, _BODY_BAR))
    lines.append(_rule(widths, _BOTTOM))
    return lines


# ------------------------------------------------------------------ summary
def _layer_rows(layers: Sequence[tuple[str, nn.Module]], shapes: dict[int, Any],
                expand_nested: bool, show_trainable: bool, level: int = 0) -> list[list[str]]:
    rows: list[list[str]] = []
    for name, layer in layers:
        prefix = "   " * level + "└ " if level else ""
        rows.append(layer_row(f"{prefix}{name}", layer, shapes.get(id(layer)), show_trainable))
        if expand_nested:
            children = _children(layer)
            if children:
                rows.extend(_layer_rows(children, shapes, expand_nested, show_trainable,
                                        level + 1))
    return rows


def _all_listed(layers: Sequence[tuple[str, nn.Module]], expand_nested: bool
                ) -> list[nn.Module]:
    out: list[nn.Module] = []
    for _, layer in layers:
        out.append(layer)
        if expand_nested:
            out.extend(_all_listed(_children(layer), True))
    return out


def summary_text(
    model: nn.Module,
    line_length: int | None = None,
    positions: Sequence[float] | None = None,
    expand_nested: bool = False,
    show_trainable: bool = False,
) -> str:
    """The summary as one string (what `print_summary` prints), ending with a newline.

    Example:
        >>> text = summary_text(model)
        >>> "Total params" in text
        True
    """
    if line_length is not None and (isinstance(line_length, bool)
                                    or not isinstance(line_length, int) or line_length <= 0):
        raise ValueError(
            "`line_length` must be a positive int or None. "
            f"Received: line_length={line_length!r} (of type {type(line_length).__name__})"
        )
    if positions is not None and (
        isinstance(positions, (str, bytes)) or not isinstance(positions, Sequence)
        or not positions or not all(isinstance(p, (int, float)) and p > 0 for p in positions)
    ):
        raise ValueError(
            "`positions` must be a non-empty list of increasing positive numbers (fractions "
            f"of the line, or absolute columns). Received: positions={positions!r} "
            f"(of type {type(positions).__name__})"
        )
    graph = _functional_graph(model)
    connected = graph is not None and not graph.sequential_like
    header = ["Layer (type)", "Output Shape", "Param #"]
    aligns = ["left", "left", "right"]
    default_length = 88
    default_positions = [0.45, 0.80, 1.0]
    if connected:  # Keras adds "Connected to" for graphs that are not a plain chain
        header.append("Connected to")
        aligns.append("left")
        default_length = 108
        default_positions = [0.3, 0.56, 0.74, 1.0]
    positions = list(positions) if positions is not None else default_positions
    if show_trainable:
        default_length += 12
        positions = [p * 0.90 for p in positions] + [1.0]
        header.append("Trainable")
        aligns.append("center")
    if len(positions) != len(header):
        raise ValueError(
            f"`positions` needs one entry per column ({len(header)}: {header}). "
            f"Received: positions={positions!r} (of type list)"
        )
    # Keras fits the table to the terminal (80 columns when not a terminal).
    line_length = line_length or min(default_length, shutil.get_terminal_size().columns - 4)
    widths = _cell_widths(line_length, positions)

    if graph is not None:
        rows = graph.rows(expand_nested, show_trainable, connected)
    else:
        layers = top_level_layers(model)
        shapes = trace_output_shapes(model, _all_listed(layers, expand_nested))
        rows = _layer_rows(layers, shapes, expand_nested, show_trainable)

    all_weights = _weights_of(model)
    trainable = [w for w in all_weights if isinstance(w, nn.Parameter) and w.requires_grad]
    trainable_ids = {id(w) for w in trainable}
    frozen = [w for w in all_weights if id(w) not in trainable_ids]
    optimizer_state = _optimizer_tensors(getattr(model, "optimizer", None))

    lines = [f'Model: "{getattr(model, "name", type(model).__name__.lower())}"',
             *render_table(header, rows, widths, aligns)]
    n_train, n_frozen, n_opt = _numel(trainable), _numel(frozen), _numel(optimizer_state)
    b_train, b_frozen, b_opt = _nbytes(trainable), _nbytes(frozen), _nbytes(optimizer_state)
    lines.append(f" Total params: {n_train + n_frozen + n_opt:,} "
                 f"({readable_memory_size(b_train + b_frozen + b_opt)})")
    lines.append(f" Trainable params: {n_train:,} ({readable_memory_size(b_train)})")
    lines.append(f" Non-trainable params: {n_frozen:,} ({readable_memory_size(b_frozen)})")
    if n_opt:
        lines.append(f" Optimizer params: {n_opt:,} ({readable_memory_size(b_opt)})")
    return "\n".join(lines) + "\n"


def _optimizer_tensors(optimizer: Any) -> list[torch.Tensor]:
    """The optimizer's slot tensors (moments, ...): Keras's "Optimizer params"."""
    state = getattr(optimizer, "state", None)
    if not isinstance(optimizer, torch.optim.Optimizer) or not state:
        return []
    out: dict[int, torch.Tensor] = {}
    for slots in state.values():
        for value in slots.values():
            if isinstance(value, torch.Tensor) and value.is_floating_point() and value.ndim:
                out.setdefault(id(value), value)
    return list(out.values())


def print_summary(
    model: nn.Module,
    line_length: int | None = None,
    positions: Sequence[float] | None = None,
    print_fn: Callable[..., Any] | None = None,
    expand_nested: bool = False,
    show_trainable: bool = False,
) -> None:
    """Print Keras 3's summary table of `model` (to stdout, or through `print_fn`).

    `print_fn` receives the whole text at once, as in Keras 3.

    Example:
        >>> lines = []
        >>> print_summary(model, print_fn=lines.append)
    """
    if print_fn is not None and not callable(print_fn):
        raise TypeError(
            "`print_fn` must be callable (e.g. `print`) or None. "
            f"Received: print_fn={print_fn!r} (of type {type(print_fn).__name__})"
        )
    text = summary_text(model, line_length, positions, expand_nested, show_trainable)
    if print_fn is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        print_fn(text)


def count_params(model: nn.Module) -> int:
    """Every weight of `model` (parameters and floating-point buffers), as Keras counts them.

    Example:
        >>> count_params(ft.Sequential([ft.Input(shape=(4,)), ft.layers.Dense(2)]))
        10
    """
    return _numel(_weights_of(model))


__all__ = ["count_params", "eval_mode", "format_shape", "print_summary", "readable_memory_size",
           "summary_text", "top_level_layers", "trace_output_shapes"]

