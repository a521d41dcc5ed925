"""Symbolic tensors: what `ft.Input(...)` returns, and how calls on them are recorded.

Design. Keras's functional API needs every call of a layer on a symbolic tensor
to be recorded (layer, arguments) and its output shape inferred without data.
fitorch's layers are plain `nn.Module`s with no common base class, and any
other torch module must work too, so the recording cannot live in the layers.
It lives in `nn.Module.__call__`: while at least one `SymbolicTensor` is alive,
`nn.Module.__call__` is a thin wrapper that checks the arguments for symbolic
tensors (and otherwise calls torch's own `__call__`, so real calls behave
exactly as before); when the last symbolic tensor is freed, torch's
`__call__` is put back. Torch's global forward hooks were the alternative:
they cannot see keyword arguments, cannot skip the forward pass and, while
registered, move every module call of the process off torch's hook-free fast
path (2.3x the time of an empty module call on a 2-vCPU VM, against 1.2-1.5x
for the wrapper; on a fit step of a 784-128-10 MLP, batch 32, the wrapper's cost
is below the noise: 929 against 938 us of CPU per step).

A recorded call runs the module twice on small zero "example" tensors, with
every submodule in inference mode and gradients off (no batch-norm statistics
move, no dropout draws): the first run creates lazily-sized weights (`Dense`
learns its input size) and gives the output shapes, the second run uses other
sizes for the unknown (`None`) axes, and an output axis whose size differs
between the runs is unknown too (Keras's torch backend infers shapes the same
way, on sizes 83 and 89). Arithmetic, slicing and `torch` functions applied to
symbolic tensors outside any module (`a + b`, `x[:, 0]`, `torch.cat([a, b], 1)`)
are recorded as function nodes through `__torch_function__`.

A string input (`ft.Input(dtype="string")`) is a symbolic tensor whose dtype is
`"string"` and whose examples are NumPy string arrays, as its data will be: torch has
no string tensors. It can only be passed to layers that take strings (their class sets
`accepts_strings`); their example runs get a token of the layer's own vocabulary
(a layer without OOV indices rejects others), repeated in the second run for a layer
that splits text, so that an axis whose size follows the text (a `TextVectorization`
without `output_sequence_length`) comes out unknown. What they return is tensors again.

A symbolic tensor holds a `Value` (a place in the graph: the node that made it
and where in that node's output it sits) plus its two examples. Graph nodes
refer to `Value`s, never to `SymbolicTensor`s, so a built model does not keep
the recording switched on.

Example:
    >>> x = ft.Input(shape=(4,))
    >>> y = ft.layers.Dense(3)(x) * 2
    >>> y.shape
    (None, 3)
"""

from __future__ import annotations

import inspect
import operator
import re
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from fitorch import nest
from fitorch.layers.input_layer import STRING, is_string_dtype
from fitorch.modes import example_run

__all__ = ["Node", "SymbolicTensor", "Value", "input_tensor", "is_symbolic", "recording"]

# Sizes given to unknown axes in the two example runs: the batch axis, then any other.
BATCH_SIZES = (2, 3)
OTHER_SIZES = (83, 89)


@dataclass(eq=False)
class Node:
    """One recorded call: an input, a module call, a function or a tensor method.

    `args` / `kwargs` hold `Value`s where symbolic tensors were passed; `outputs` is
    the call's output structure with `Value`s at the tensor leaves.
    """

    kind: str  # "input" | "module" | "function" | "method"
    target: Any  # the InputLayer / module / function / method name
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    outputs: Any = None
    mode: bool | None = None  # an explicit `training=` for a module that does not take it
    call_index: int = 0  # the how-many-th call of this target (Keras's node index)
    name: str = ""  # a function node's own name (`add`, `add_1`, ...), unique like Keras's

    @property
    def input_values(self) -> list[Value]:
        return [v for v in nest.flatten((list(self.args), self.kwargs)) if isinstance(v, Value)]

    @property
    def output_values(self) -> list[Value]:
        return [v for v in nest.flatten(self.outputs) if isinstance(v, Value)]


@dataclass(eq=False)
class Value:
    """A tensor in the graph: made by `node`, at `path` in its output, of `shape` / `dtype`."""

    node: Node
    path: tuple[Any, ...]
    shape: tuple[int | None, ...]
    dtype: torch.dtype | str  # `STRING` for NumPy string arrays
    index: int = 0  # position among the node's flat outputs (Keras's tensor index)


# ---------------------------------------------------------------- recording switch
_lock = threading.Lock()
_live = 0
_torch_call = nn.Module.__call__
_state = threading.local()


def _recording_call(self: nn.Module, *args: Any, **kwargs: Any) -> Any:
    # Kept to a few type checks: every module call of the process passes here while armed.
    for a in args:
        if isinstance(a, _MAYBE_SYMBOLIC):
            break
    else:
        if not kwargs:
            return _torch_call(self, *args)
    if _has_symbolic(args, kwargs) and not getattr(_state, "running", False):
        return _record_module_call(self, args, kwargs)
    return _torch_call(self, *args, **kwargs)


def _retain() -> None:
    global _live
    with _lock:
        _live += 1
        if _live == 1:
            nn.Module.__call__ = _recording_call  # type: ignore[method-assign]


def _release() -> None:
    global _live
    with _lock:
        _live -= 1
        if _live == 0 and nn.Module.__call__ is _recording_call:
            nn.Module.__call__ = _torch_call  # type: ignore[method-assign]


def recording() -> bool:
    """Whether module calls are being checked for symbolic tensors (some are alive)."""
    return _live > 0


def _has_symbolic(args: Any, kwargs: Any) -> bool:
    for a in args:
        if isinstance(a, SymbolicTensor) or (isinstance(a, (list, tuple, dict)) and any(
                isinstance(v, SymbolicTensor) for v in nest.flatten(a))):
            return True
    return any(isinstance(v, SymbolicTensor) for v in nest.flatten(kwargs)) if kwargs else False


def is_symbolic(x: Any) -> bool:
    """Whether `x` is a symbolic tensor (from `ft.Input` or a call on one)."""
    return isinstance(x, SymbolicTensor)


# ---------------------------------------------------------------- the tensor
class SymbolicTensor:
    """A placeholder tensor for building functional models, as Keras's `KerasTensor`.

    `shape` has `None` for unknown axes (the batch axis unless `batch_size` was
    given). Calling a module on it records the call; arithmetic, slicing, tensor
    methods and `torch` functions are recorded too.

    Example:
        >>> x = ft.Input(shape=(8,), name="features")
        >>> x.shape, x.name
        ((None, 8), 'features')
    """

    __slots__ = ("__weakref__", "_examples", "value")

    def __init__(self, value: Value, examples: tuple[Any, Any]) -> None:
        self.value = value
        self._examples = examples
        _live_tensors[id(value)] = self
        _retain()
        weakref.finalize(self, _release)

    # -- what Keras's KerasTensor exposes
    @property
    def shape(self) -> tuple[int | None, ...]:
        return self.value.shape

    @property
    def dtype(self) -> torch.dtype | str:
        """A torch dtype, or `"string"` for raw text (Keras's name)."""
        return self.value.dtype

    @property
    def ndim(self) -> int:
        return len(self.value.shape)

    def dim(self) -> int:
        return len(self.value.shape)

    @property
    def name(self) -> str:
        node = self.value.node
        base = _node_name(node)
        return base if node.kind == "input" else f"{base}/output_{self.value.index}"

    def __repr__(self) -> str:
        dtype = str(self.dtype).replace("torch.", "")
        return f"<SymbolicTensor shape={self.shape}, dtype={dtype}, name={self.name}>"

    def __hash__(self) -> int:
        return id(self)

    def __bool__(self) -> bool:
        raise TypeError(
            "A symbolic tensor has no value, so it cannot be used as a condition (`if x:`, "
            f"`and`/`or`). Received: {self!r}"
        )

    def __iter__(self) -> Any:
        raise TypeError(
            "A symbolic tensor cannot be iterated over: index it instead (`x[:, 0]`). "
            f"Received: {self!r}"
        )

    def __len__(self) -> int:
        if self.shape and self.shape[0] is not None:
            return int(self.shape[0])
        raise TypeError(f"The first axis of this symbolic tensor has no fixed size. "
                        f"Received: {self!r}")

    # -- recording of torch functions and tensor methods
    @classmethod
    def __torch_function__(cls, func: Callable[..., Any], types: Any, args: Any = (),
                           kwargs: Any = None) -> Any:
        return record_function(func, tuple(args), dict(kwargs or {}))

    def __getattr__(self, name: str) -> Any:
        attr = getattr(torch.Tensor, name, None)
        if name.startswith("_") or not callable(attr):
            raise AttributeError(
                f"A symbolic tensor has no attribute {name!r} (it records tensor methods "
                f"and operators). Received: {self!r}"
            )

        def method(*args: Any, **kwargs: Any) -> Any:
            return record_method(name, self, args, kwargs)

        return method

    def __getitem__(self, index: Any) -> Any:
        return record_function(operator.getitem, (self, index), {})


def _binary(op: Callable[[Any, Any], Any], reflected: bool = False) -> Callable[..., Any]:
    def method(self: SymbolicTensor, other: Any) -> Any:
        args = (other, self) if reflected else (self, other)
        return record_function(op, args, {})

    return method


def _unary(op: Callable[[Any], Any]) -> Callable[..., Any]:
    def method(self: SymbolicTensor) -> Any:
        return record_function(op, (self,), {})

    return method


for _name, _op in {"add": operator.add, "sub": operator.sub, "mul": operator.mul,
                   "truediv": operator.truediv, "floordiv": operator.floordiv,
                   "mod": operator.mod, "pow": operator.pow, "matmul": operator.matmul,
                   "and": operator.and_, "or": operator.or_, "xor": operator.xor}.items():
    setattr(SymbolicTensor, f"__{_name}__", _binary(_op))
    setattr(SymbolicTensor, f"__r{_name}__", _binary(_op, reflected=True))
for _name, _op in {"lt": operator.lt, "le": operator.le, "gt": operator.gt,
                   "ge": operator.ge, "eq": operator.eq, "ne": operator.ne}.items():
    setattr(SymbolicTensor, f"__{_name}__", _binary(_op))
_UNARY: dict[str, Callable[[Any], Any]] = {
    "neg": operator.neg, "pos": operator.pos, "abs": operator.abs, "invert": operator.invert}
for _name, _op1 in _UNARY.items():
    setattr(SymbolicTensor, f"__{_name}__", _unary(_op1))


_MAYBE_SYMBOLIC = (SymbolicTensor, list, tuple, dict)

# The symbolic tensor the user holds for a graph value (by `id(value)`), while it lives: a
# layer's `output` is then that very tensor, as in Keras (`layer.output is x`).
_live_tensors: weakref.WeakValueDictionary[int, SymbolicTensor] = weakref.WeakValueDictionary()
# Each layer's first recorded call (Keras's node 0, behind `layer.input` / `layer.output`).
# Weak both ways: the node lives as long as a model or a tensor of its graph does.
_first_nodes: weakref.WeakKeyDictionary[Any, weakref.ref[Node]] = weakref.WeakKeyDictionary()


def live_tensor(value: Value) -> SymbolicTensor | None:
    """The user's symbolic tensor of `value`, if it is still alive."""
    tensor = _live_tensors.get(id(value))
    return tensor if tensor is not None and tensor.value is value else None


def first_node(layer: Any) -> Node | None:
    """The node of `layer`'s first symbolic call that is still part of a live graph."""
    ref = _first_nodes.get(layer)
    return ref() if ref is not None else None


def _note_call(layer: Any, node: Node) -> None:
    if first_node(layer) is None:
        _first_nodes[layer] = weakref.ref(node)


# ---------------------------------------------------------------- making tensors
def input_tensor(layer: Any) -> SymbolicTensor:
    """The symbolic tensor of an `InputLayer` (what `ft.Input(...)` returns)."""
    node = Node("input", layer)
    shape = (layer.batch_size, *layer.shape)
    value = Value(node, (), shape, layer.dtype)
    node.outputs = value
    layer.__dict__["_input_value"] = value
    _note_call(layer, node)
    return SymbolicTensor(value, example_inputs(shape, layer.dtype))


def input_layer_of(x: Any) -> Any:
    """The `InputLayer` behind `x` when `x` is what `ft.Input(...)` returned, else `x`
    (a `Sequential` takes `ft.Input(...)` as its first element, as in Keras)."""
    if isinstance(x, SymbolicTensor) and x.value.node.kind == "input":
        return x.value.node.target
    return x


def example_inputs(shape: tuple[int | None, ...], dtype: torch.dtype | str
                   ) -> tuple[Any, Any]:
    """Zero tensors of `shape`, the unknown axes filled with the two example sizes (for
    the string dtype, NumPy arrays of empty strings)."""
    def fill(run: int) -> Any:
        sizes = [(BATCH_SIZES if i == 0 else OTHER_SIZES)[run] if d is None else d
                 for i, d in enumerate(shape)]
        if is_string_dtype(dtype):
            return np.full(sizes, "", dtype=object)
        return torch.zeros(sizes, dtype=dtype)  # type: ignore[arg-type]

    return fill(0), fill(1)


def graph_example_inputs(order: Any, inputs: list[Value], run: int) -> list[Any]:
    """Example data for `inputs` of the graph `order` (a `GraphOrder`) in example run
    `run`: zeros, or for a string input the text its first consuming layer reads."""
    xs = []
    for value in inputs:
        x = example_inputs(value.shape, value.dtype)[run]
        if isinstance(x, np.ndarray):
            consumer = next((n.target for n in order.nodes if n.kind == "module" and any(
                v is value for v in n.input_values)), None)
            x = text_examples(x, consumer, run)
        xs.append(x)
    return xs


def example_text(module: Any, run: int) -> str:
    """The text a string layer's example run reads: a token of its vocabulary where it has
    one (a lookup without OOV indices rejects any other); for a layer that splits text
    (`TextVectorization`), once in the first run and three times in the second, so a
    sequence axis that follows the text differs between them."""
    token = "x"
    get_vocabulary = getattr(module, "get_vocabulary", None)
    if callable(get_vocabulary):
        try:
            vocabulary = [t for t in get_vocabulary() if isinstance(t, str) and t]
        except Exception:  # a layer without a vocabulary yet reads the default token
            vocabulary = []
        token = vocabulary[-1] if vocabulary else token
    get_config = getattr(module, "get_config", None)
    splits = callable(get_config) and get_config().get("split") is not None
    return " ".join([token] * (3 if splits and run == 1 else 1))


def text_examples(x: np.ndarray, module: Any, run: int) -> np.ndarray:
    """`x`'s shape filled with `example_text(module, run)`."""
    return np.full(x.shape, example_text(module, run), dtype=object)


def is_text(x: Any) -> bool:
    """Whether `x` is a NumPy array of strings (what a string value holds)."""
    from fitorch.data.arrays import is_text_array

    return isinstance(x, np.ndarray) and is_text_array(x)


def wrap(value: Value, examples: tuple[Any, Any]) -> SymbolicTensor:
    return SymbolicTensor(value, examples)


def _examples_of(structure: Any, run: int, device: torch.device | None = None,
                 module: Any = None) -> Any:
    def leaf(x: Any) -> Any:
        if isinstance(x, SymbolicTensor):
            t = x._examples[run]
            if isinstance(t, np.ndarray):  # strings stay on the host
                return text_examples(t, module, run) if module is not None else t.copy()
            # A clone: the call may work in place (`relu_`) on what it is given.
            return t.to(device).clone() if device is not None else t.clone()
        return x

    return _map(leaf, structure)


def _check_string_consumer(target: str, takes_strings: bool, args: Any, kwargs: Any) -> None:
    """A TypeError when a string symbolic tensor reaches what cannot read strings."""
    text = [x for x in nest.flatten((list(args), kwargs))
            if isinstance(x, SymbolicTensor) and is_string_dtype(x.dtype)]
    if text and not takes_strings:
        raise TypeError(
            f"{target} cannot take a string tensor: torch has no string tensors, so a "
            "string `Input` holds NumPy string arrays and can only be passed to layers that "
            "take strings (`TextVectorization`, `StringLookup`, `Hashing`, ...), whose "
            f"outputs are tensors. Received: {text[0]!r}"
        )


def _map(fn: Callable[[Any], Any], x: Any) -> Any:
    """`nest.map_structure` that also walks named tuples and keeps their type."""
    if isinstance(x, dict):
        return type(x)((k, _map(fn, v)) for k, v in x.items()) if type(x) is not dict \
            else {k: _map(fn, v) for k, v in x.items()}
    if isinstance(x, tuple):
        items = [_map(fn, v) for v in x]
        return type(x)(*items) if hasattr(x, "_fields") else type(x)(items)
    if isinstance(x, list):
        return [_map(fn, v) for v in x]
    return fn(x)


def _to_values(structure: Any) -> Any:
    return _map(lambda x: x.value if isinstance(x, SymbolicTensor) else x, structure)


def _merged_shape(a: torch.Tensor, b: torch.Tensor) -> tuple[int | None, ...]:
    if a.ndim != b.ndim:
        return tuple(None for _ in range(a.ndim))
    return tuple(int(x) if x == y else None for x, y in zip(a.shape, b.shape))


def _outputs(node: Node, out_a: Any, out_b: Any) -> Any:
    """Wrap the example outputs of both runs into symbolic tensors; set `node.outputs`."""
    flat_a, flat_b = nest.flatten(out_a), nest.flatten(out_b)
    if len(flat_a) != len(flat_b):
        raise ValueError(
            f"{_describe_target(node)} returned differently structured outputs for inputs of "
            "two sizes, so its output cannot be described symbolically. "
            f"Received: {len(flat_a)} and {len(flat_b)} outputs"
        )
    index = 0
    values: list[Any] = []
    wrapped: list[Any] = []
    for path, a, b in zip(_leaf_paths(out_a), flat_a, flat_b):
        if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
            value = Value(node, path, _merged_shape(a, b), a.dtype, index)
            index += 1
            values.append(value)
            # Examples live on the CPU: the next layer may not be on this call's device yet.
            wrapped.append(wrap(value, (a.detach().cpu(), b.detach().cpu())))
        elif is_text(a) and is_text(b):  # strings out (`StringLookup(invert=True)`)
            shape = tuple(int(x) if x == y else None for x, y in zip(a.shape, b.shape)) \
                if a.ndim == b.ndim else tuple(None for _ in a.shape)
            value = Value(node, path, shape, STRING, index)
            index += 1
            values.append(value)
            wrapped.append(wrap(value, (np.full(a.shape, "", dtype=object),
                                        np.full(b.shape, "", dtype=object))))
        else:
            if _differs(a, b):
                raise ValueError(
                    f"{_describe_target(node)} returned {a!r}, a value that depends on the "
                    "unknown (None) sizes of its symbolic inputs, which a graph cannot fix in "
                    "advance. Compute it inside a layer (e.g. `ft.layers.Lambda`) instead. "
                    f"Received: {a!r} and {b!r} for two input sizes"
                )
            values.append(a)
            wrapped.append(a)
    node.outputs = _pack(out_a, values)
    return _pack(out_a, wrapped)


def _differs(a: Any, b: Any) -> bool:
    try:
        return bool(a != b)
    except Exception:  # values that do not compare (arrays, objects) are kept as they are
        return False


def _leaf_paths(x: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(x, dict):
        return [p for k, v in x.items() for p in _leaf_paths(v, (*prefix, k))]
    if isinstance(x, (list, tuple)):
        return [p for i, v in enumerate(x) for p in _leaf_paths(v, (*prefix, i))]
    return [prefix]


def _pack(structure: Any, flat: list[Any]) -> Any:
    it = iter(flat)
    return _map(lambda _: next(it), structure)


# ---------------------------------------------------------------- module calls
_call_counts: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()


def takes_training(module: nn.Module) -> bool:
    """Whether `module.forward` has a `training` parameter (Keras passes it on)."""
    try:
        params = inspect.signature(module.forward).parameters
    except (TypeError, ValueError):
        return False
    return "training" in params


def device_of(module: nn.Module) -> torch.device | None:
    """Where the module's (created) weights are; None for a module with none yet."""
    for t in [*module.parameters(), *module.buffers()]:
        if not isinstance(t, (nn.parameter.UninitializedParameter,
                              nn.parameter.UninitializedBuffer)):
            return t.device
    return None


class _ExampleRun:
    """Inference mode, no gradients, no recording of nested calls; flags restored after."""

    def __init__(self, module: nn.Module | None) -> None:
        self.module = module

    def __enter__(self) -> None:
        self.flags = [(m, m.training) for m in self.module.modules()] if self.module else []
        for m, _ in self.flags:
            m.training = False
        self.grad = torch.is_grad_enabled()
        torch.set_grad_enabled(False)
        self.running = getattr(_state, "running", False)
        _state.running = True
        self.example = example_run()  # stateful layers keep their state out of this run
        self.example.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self.example.__exit__(*exc)
        _state.running = self.running
        torch.set_grad_enabled(self.grad)
        for m, flag in self.flags:
            m.training = flag


def _record_module_call(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]
                        ) -> Any:
    mode: bool | None = None
    if "training" in kwargs and not takes_training(module):
        # Keras lets any layer call force its mode (`Dropout(.5)(x, training=True)`).
        mode = kwargs.pop("training")
        if mode is not None and not isinstance(mode, bool):
            raise ValueError(f"`training` must be True, False or None. Received: training={mode!r}")
    node = Node("module", module, _to_values(args), _to_values(kwargs), mode=mode)
    _check_string_consumer(_describe_target(node), getattr(module, "accepts_strings", False),
                           args, kwargs)
    node.call_index = _call_counts.get(module, 0)
    device = device_of(module)
    runs = []
    for run in (0, 1):
        ex_args = _examples_of(args, run, device, module)
        ex_kwargs = _examples_of(kwargs, run, device, module)
        if takes_training(module) and "training" not in ex_kwargs:
            ex_kwargs["training"] = False
        with _ExampleRun(module):
            try:
                runs.append(_torch_call(module, *ex_args, **ex_kwargs))
            except Exception as e:
                if run == 1:  # one size of the unknown axes worked, another did not
                    raise ValueError(
                        f"{_describe_target(node)} takes its symbolic inputs (shapes "
                        f"{_shapes_of(args, kwargs)}) at one size of their unknown (None) "
                        "axes but not at another: it fixes a size (of its weights, say) from "
                        "an axis whose size is unknown. Give that axis a size in "
                        f"`ft.Input(shape=...)`. Received: {type(e).__name__}: {e}"
                    ) from e
                e.add_note(f"(while calling {_describe_target(node)} on symbolic inputs with "
                           f"shapes {_shapes_of(args, kwargs)}, to record it in a functional "
                           "model)")
                raise
    _call_counts[module] = node.call_index + 1
    outputs = _outputs(node, runs[0], runs[1])
    _note_call(module, node)
    return outputs


def _shapes_of(args: Any, kwargs: Any) -> str:
    shapes = [x.shape for x in nest.flatten((list(args), kwargs)) if isinstance(x, SymbolicTensor)]
    return ", ".join(str(s) for s in shapes)


# ---------------------------------------------------------------- functions
def record_function(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
                    ) -> Any:
    """Record `func(*args, **kwargs)` on symbolic tensors as a graph node; return its outputs."""
    return _record_call(Node("function", func, _to_values(args), _to_values(kwargs)),
                        lambda a, k: func(*a, **k), args, kwargs)


def record_method(name: str, self: SymbolicTensor, args: tuple[Any, ...],
                  kwargs: dict[str, Any]) -> Any:
    """Record `self.<name>(*args, **kwargs)` as a graph node."""
    full = (self, *args)
    return _record_call(Node("method", name, _to_values(full), _to_values(kwargs)),
                        lambda a, k: getattr(a[0], name)(*a[1:], **k), full, kwargs)


def _record_call(node: Node, call: Callable[[Any, Any], Any], args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> Any:
    from fitorch.layers.core import auto_name

    _check_string_consumer(_describe_target(node), False, args, kwargs)
    runs = []
    for run in (0, 1):
        with _ExampleRun(None):
            try:
                runs.append(call(_examples_of(args, run), _examples_of(kwargs, run)))
            except Exception as e:
                e.add_note(f"(while applying {_describe_target(node)} to symbolic inputs with "
                           f"shapes {_shapes_of(args, kwargs)})")
                raise
    # Named when made, from the process-wide counters layers use too (Keras: `add_2`).
    node.name = auto_name(function_name(node))
    return _outputs(node, runs[0], runs[1])


# ---------------------------------------------------------------- names
def _node_name(node: Node) -> str:
    if node.kind in ("input", "module"):
        name = getattr(node.target, "name", None)
        if isinstance(name, str) and name:
            return name
        return _snake(type(node.target).__name__)
    return function_name(node)


def function_name(node: Node) -> str:
    """Keras's operation name for a function node: `add`, `get_item`, `cat`, ..."""
    if node.kind == "method":
        return str(node.target)
    target = node.target
    name = getattr(target, "__name__", None) or type(target).__name__
    name = name.strip("_")
    return {"getitem": "get_item", "truediv": "true_divide", "sub": "subtract",
            "mul": "multiply", "floordiv": "floor_divide", "neg": "negative"}.get(name, name)


def _snake(name: str) -> str:
    """Keras's `to_snake_case`: `GlobalAveragePooling2D` -> `global_average_pooling2d`."""
    name = re.sub(r"\W+", "", name)
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _describe_target(node: Node) -> str:
    if node.kind == "module":
        return f'layer "{_node_name(node)}" ({type(node.target).__name__})'
    return f"`{function_name(node)}`"
