"""`Functional`: the model `ft.Model(inputs, outputs)` returns, as Keras's functional model.

It is an ordinary `fitorch.Model` wrapping the `torch.fx.GraphModule` that runs the
recorded graph (`model.module`), so compile/fit/evaluate/predict, saving and
`torch.compile` treat it like any other model. Keras's graph API sits on top:
`inputs`, `outputs`, `layers` (Keras's order), `get_layer`, `input_names`.

Example:
    >>> a, b = ft.Input(shape=(4,), name="a"), ft.Input(shape=(3,), name="b")
    >>> merged = torch.cat([ft.layers.Dense(8)(a), ft.layers.Dense(8)(b)], dim=1)
    >>> model = ft.Model({"a": a, "b": b}, ft.layers.Dense(1, name="score")(merged))
    >>> model.compile(optimizer="adam", loss="mse")
    >>> model.fit({"a": xa, "b": xb}, y, epochs=2)
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Mapping
from typing import Any, cast

import torch
from torch import nn

from fitorch import nest
from fitorch.functional.graph import GraphOrder, build_graph_module, map_graph, op_name
from fitorch.functional.symbolic import (
    Node,
    SymbolicTensor,
    Value,
    _ExampleRun,
    _examples_of,
    device_of,
    graph_example_inputs,
    wrap,
)
from fitorch.layers.input_layer import InputLayer
from fitorch.model import Model

__all__ = ["Functional", "init_as_functional", "is_functional_call"]


def is_functional_call(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> bool:
    """Whether `Model(...)` was given symbolic `inputs` and `outputs` (Keras's functional form)."""
    inputs = args[0] if args else kwargs.get("inputs")
    outputs = args[1] if len(args) > 1 else kwargs.get("outputs")
    return inputs is not None and outputs is not None and any(
        isinstance(t, SymbolicTensor) for t in nest.flatten(inputs))


def _sorted_flatten(structure: Any) -> list[Any]:
    """Leaves of `structure` as Keras's `tree.flatten` gives them: dict keys sorted."""
    if isinstance(structure, Mapping):
        return [leaf for key in sorted(structure) for leaf in _sorted_flatten(structure[key])]
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in _sorted_flatten(item)]
    return [structure]


def _check_structure(structure: Any, what: str) -> None:
    leaves = nest.flatten(structure)
    bad = [t for t in leaves if not isinstance(t, SymbolicTensor)]
    if not leaves or bad:
        raise TypeError(
            f"`{what}` must be a symbolic tensor (from `ft.Input` or a layer called on one), "
            f"or a list/tuple/dict of them. Received: {what}={structure!r} "
            f"(of type {type(bad[0] if bad else structure).__name__})"
        )


class Functional(Model):
    """A model defined by a graph of layer calls on symbolic tensors (Keras's functional API).

    Made by `ft.Model(inputs, outputs, name=...)`; `inputs` and `outputs` are a
    symbolic tensor, or a list/tuple/dict of them. Data for several inputs is passed
    as a list (in `inputs` order) or a dict keyed by the `Input` names (or by the keys
    of a dict `inputs`); list outputs are named after the layers that make them, so
    `compile(loss={"head_a": ..., "head_b": ...})` works as in Keras.

    Example:
        >>> inputs = ft.Input(shape=(784,))
        >>> x = ft.layers.Dense(64, activation="relu")(inputs)
        >>> model = ft.Model(inputs, ft.layers.Dense(10)(x), name="mlp")
        >>> model.summary()
    """

    _graph: GraphOrder
    _input_struct: Any
    _output_struct: Any
    _input_keys: list[str]
    _placeholders: list[str]
    _tensor_refs: dict[int, Any]
    _graph_takes_training: bool

    def __init__(self, inputs: Any, outputs: Any, name: str | None = None,
                 **kwargs: Any) -> None:
        if kwargs:
            raise TypeError(
                "`Model(inputs, outputs, name=...)` takes no other arguments. "
                f"Received: {sorted(kwargs)}"
            )
        _check_structure(inputs, "inputs")
        _check_structure(outputs, "outputs")
        if name is not None and not isinstance(name, str):
            raise ValueError(f"`name` must be a string. Received: name={name!r} "
                             f"(of type {type(name).__name__})")
        from fitorch.layers.core import auto_name

        in_values = nest.map_structure(lambda t: t.value, inputs)
        out_values = nest.map_structure(lambda t: t.value, outputs)
        flat_in: list[Value] = nest.flatten(in_values)
        flat_out: list[Value] = nest.flatten(out_values)
        # Keras walks the graph from its flattened structures, where dicts come in sorted
        # key order: the same walk gives Keras's layer order, so Keras weights load by it.
        order = map_graph(_sorted_flatten(in_values), _sorted_flatten(out_values))
        if isinstance(in_values, dict):
            names = [str(k) for k in in_values]
        else:
            names = [_value_name(order, v) for v in flat_in]
        module, placeholders = build_graph_module(order, in_values, names, out_values)
        output_names = None
        if isinstance(out_values, (list, tuple)) and not isinstance(out_values, dict):
            output_names = [_value_name(order, v) for v in flat_out]
            if len(set(output_names)) != len(output_names):  # one layer, several outputs
                output_names = None
        # Keras names a functional model "functional"; a subclass after its class (`m`).
        default = "functional" if type(self).__name__ == "Functional" else type(self).__name__
        super().__init__(module, name=name or auto_name(default), output_names=output_names)
        self.__dict__["_graph"] = order
        self.__dict__["_input_struct"] = in_values
        self.__dict__["_output_struct"] = out_values
        self.__dict__["_input_keys"] = names
        self.__dict__["_placeholders"] = placeholders
        # The user's own symbolic tensors, so `model.inputs[0] is inputs` holds while they live.
        self.__dict__["_tensor_refs"] = {id(t.value): weakref.ref(t) for t in
                                         nest.flatten((inputs, outputs))}
        self.__dict__["_graph_takes_training"] = _takes_training_arg(module.forward)
        own_forward = _own_forward(type(self))
        if own_forward is not None:
            # A subclass's own forward/call is what the steps call: whether they pass
            # `training=` follows its signature, not the graph's (`step.forward_takes_training`).
            self.__dict__["_step_takes_training"] = _takes_training_arg(own_forward)

    def __getstate__(self) -> dict[str, Any]:
        # Weak references do not pickle; a restored model makes new symbolic tensors.
        state = dict(super().__getstate__())
        state["_tensor_refs"] = {}
        return state

    def __reduce_ex__(self, protocol: Any) -> Any:
        from fitorch.model import _FUNCTIONAL_SUBCLASSES

        cls = type(self)
        user_classes = [user for user, made in _FUNCTIONAL_SUBCLASSES.items() if made is cls]
        if not user_classes:
            return super().__reduce_ex__(protocol)
        # A subclass made functional is a class made at run time, which pickle cannot
        # name: it is rebuilt from the user's class.
        return _restore_functional_subclass, (user_classes[0],), self.__getstate__()

    # ------------------------------------------------------------- forward
    def forward(self, *args: Any, training: bool | None = None, **kwargs: Any) -> Any:
        call = type(self).call
        if call is Functional.call:
            return self._run_graph(args, kwargs, training)
        # A subclass overriding Keras's `call` (which runs the graph through `super().call`).
        if _takes_training_arg(call):
            kwargs["training"] = self.training if training is None else training
        elif training is not None and bool(training) != self.training:
            from fitorch.modes import call_mode

            with call_mode(self, bool(training)):
                return self.call(*args, **kwargs)
        return self.call(*args, **kwargs)

    def call(self, *args: Any, training: bool | None = None, mask: Any = None,
             **kwargs: Any) -> Any:
        """Run the graph on the inputs (Keras's `Functional.call`): a subclass that overrides
        `call` (or `forward`) reaches the graph through `super().call(inputs)`.

        Example:
            >>> class Scaled(ft.Model):
            ...     def call(self, inputs, training=None):
            ...         return super().call(inputs, training=training) * 2
        """
        if mask is not None:
            raise ValueError(
                "A functional model takes no `mask` argument: masks made inside the graph "
                "(`Embedding(mask_zero=True)`, `Masking`) flow on by themselves. "
                f"Received: mask={mask!r} (of type {type(mask).__name__})")
        return self._run_graph(args, kwargs, training)

    def _run_graph(self, args: tuple[Any, ...], kwargs: dict[str, Any],
                   training: bool | None) -> Any:
        flat = self._flat_inputs(args, kwargs)
        if self._graph_takes_training:  # some layer takes `training`: the graph passes it
            return self.module(*flat, training=training)  # type: ignore[misc]
        if training is not None and bool(training) != self.training:
            # Keras's `model(x, training=False)`: this one call runs in that mode.
            from fitorch.modes import call_mode

            with call_mode(self, bool(training)):
                return self.module(*flat)  # type: ignore[misc]
        return self.module(*flat)  # type: ignore[misc]

    def _eager_call_target(self) -> Any:
        # The default steps call with positional inputs or a dict keyed by placeholder
        # names: the graph module takes those directly, one module call fewer.
        if (self._forward_hooks or self._forward_pre_hooks or self._backward_hooks
                or self._backward_pre_hooks or self._placeholders != self._input_keys
                or _own_forward(type(self)) is not None):
            return self
        return self.module

    def _flat_inputs(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
        keys: list[str] = self._input_keys
        if len(args) == 1 and not kwargs and len(keys) > 1 and isinstance(
                args[0], (list, tuple, dict)):
            args, kwargs = ((), dict(args[0])) if isinstance(args[0], dict) else (
                tuple(args[0]), {})
        if len(args) == 1 and not kwargs and len(keys) == 1 and isinstance(
                args[0], (list, tuple)) and len(args[0]) == 1 and not isinstance(
                args[0][0], (str, bytes)):  # `model(["some text"])` is one batch of text
            args = tuple(args[0])
        if len(args) == 1 and not kwargs and len(keys) == 1 and isinstance(args[0], dict):
            kwargs, args = dict(args[0]), ()
        if kwargs:
            placeholders = dict(zip(self._placeholders, keys))
            kwargs = {placeholders.get(k, k): v for k, v in kwargs.items()}
            missing = [k for k in keys if k not in kwargs]
            unknown = [k for k in kwargs if k not in keys]
            if args or missing or unknown:
                raise ValueError(
                    f"Model {self.name!r} expects its inputs {keys} by position or by name. "
                    f"Received: {len(args)} positional input(s) and keys {sorted(kwargs)}"
                )
            return [kwargs[k] for k in keys]
        if len(args) != len(keys):
            raise ValueError(
                f"Model {self.name!r} expects {len(keys)} input(s) {keys}. "
                f"Received: {len(args)} input(s)"
            )
        return list(args)

    # ------------------------------------------------------------- Keras's graph API
    @property
    def layers(self) -> list[nn.Module]:
        """The layers in Keras's order: `InputLayer`s first, then by depth (Keras 3)."""
        return [op for op in self._graph.operations if not isinstance(op, Node)]

    @property
    def operations(self) -> list[Any]:
        """Layers and recorded functions (`+`, slicing, ...), in Keras's order."""
        return list(self._graph.operations)

    def get_layer(self, name: str | None = None, index: int | None = None) -> nn.Module:
        """A layer by name or by index in `model.layers` (Keras).

        Example:
            >>> model.get_layer("head_a").weight.shape
        """
        layers = self.layers
        if index is not None and name is not None:
            raise ValueError(f"Provide only a layer name or a layer index, not both. "
                             f"Received: index={index}, name={name!r}")
        if index is not None:
            if isinstance(index, bool) or not isinstance(index, int) or not (
                    -len(layers) <= index < len(layers)):
                raise ValueError(
                    f"Was asked to retrieve layer at index {index} but model only has "
                    f"{len(layers)} layers. Received: index={index!r}")
            return layers[index]
        if name is not None:
            for layer in layers:
                if self._graph.names.get(layer) == name:
                    return layer
            raise ValueError(
                f"No such layer: {name}. Existing layers are: "
                f"{[self._graph.names[layer] for layer in layers]}. Received: name={name!r}")
        raise ValueError("Provide either a layer name or layer index at `get_layer`. "
                         "Received: name=None, index=None")

    @property
    def input_names(self) -> list[str]:
        """The names data for each input is keyed by (dict keys, else the `Input` names)."""
        return list(self._input_keys)

    @property
    def inputs(self) -> list[SymbolicTensor]:
        """The model's symbolic inputs, as a flat list (Keras)."""
        return self._symbolic(nest.flatten(self._input_struct))

    @property
    def outputs(self) -> list[SymbolicTensor]:
        """The model's symbolic outputs, as a flat list (Keras)."""
        return self._symbolic(nest.flatten(self._output_struct))

    @property
    def input(self) -> Any:
        """The inputs in the structure given to `Model` (one tensor for a single input)."""
        return nest.pack_as(self._input_struct, self.inputs)

    @property
    def output(self) -> Any:
        """The outputs in the structure given to `Model` (one tensor for a single output)."""
        return nest.pack_as(self._output_struct, self.outputs)

    @property
    def input_shape(self) -> Any:
        """The inputs' shapes (with the batch axis): one tuple for one input (Keras)."""
        shapes = [v.shape for v in nest.flatten(self._input_struct)]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self) -> Any:
        """The outputs' shapes (with the batch axis): one tuple for one output (Keras)."""
        shapes = [v.shape for v in nest.flatten(self._output_struct)]
        return shapes[0] if len(shapes) == 1 else shapes

    def _symbolic(self, values: list[Value]) -> list[SymbolicTensor]:
        refs: dict[int, Any] = self._tensor_refs
        out: list[SymbolicTensor | None] = []
        for v in values:
            tensor = refs[id(v)]() if id(v) in refs else None
            out.append(tensor if tensor is not None and tensor.value is v else None)
        missing = [v for v, t in zip(values, out) if t is None]
        if missing:
            examples = self._examples()
            for i, v in enumerate(values):
                if out[i] is None:
                    tensor = wrap(v, examples[id(v)])
                    out[i] = tensor
                    self._tensor_refs[id(v)] = weakref.ref(tensor)
        return out  # type: ignore[return-value]

    def _examples(self) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
        """Example tensors of the inputs and outputs (the model run on zero inputs)."""
        ins: list[Value] = nest.flatten(self._input_struct)
        result: dict[int, list[torch.Tensor]] = {id(v): [] for v in
                                                 [*ins, *nest.flatten(self._output_struct)]}
        for run in (0, 1):
            xs = graph_example_inputs(self._graph, ins, run)
            for v, x in zip(ins, xs):
                result[id(v)].append(x)
            with _ExampleRun(self):
                ys = self.module(*_examples_of(xs, run, device_of(self)))  # type: ignore[misc]
            for v, y in zip(nest.flatten(self._output_struct), nest.flatten(ys)):
                result[id(v)].append(y.detach().cpu())
        return {k: (v[0], v[1]) for k, v in result.items()}

    def _input_batch_size(self) -> int | None:
        sizes = {v.node.target.batch_size for v in nest.flatten(self._input_struct)
                 if v.node.kind == "input"}
        sizes.discard(None)
        return sizes.pop() if len(sizes) == 1 else None

    # ------------------------------------------------------------- config
    def get_config(self) -> dict[str, Any]:
        """The graph as JSON data (Keras's functional config: layers, inbound nodes).

        Only fitorch layers can be described this way (any other module raises TypeError).

        Example:
            >>> clone = ft.Model.from_config(model.get_config())
        """
        from fitorch.functional.config import functional_config

        return functional_config(self)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Functional:
        """A new, freshly initialised model from `get_config()`'s output.

        Example:
            >>> clone = Functional.from_config(model.get_config())
        """
        from fitorch.functional.config import functional_from_config

        return functional_from_config(config)


def init_as_functional(model: Model, first: Any, args: tuple[Any, ...], name: str | None,
                       output_names: Any, kwargs: dict[str, Any]) -> None:
    """`Model.__init__(inputs, outputs, ...)` called from a subclass's own `__init__` (Keras's
    "subclass a functional model"): turn `model` into a functional model of that subclass,
    as Keras does (it injects `Functional` into the class's bases)."""
    call_args = (first, *args) if first is not None else args
    if output_names is not None:
        kwargs = {**kwargs, "output_names": output_names}
    if not is_functional_call(call_args, kwargs):
        raise TypeError(
            "`Model.__init__` takes a torch module (`Model(module)`) or symbolic inputs and "
            "outputs (`Model(inputs, outputs)`, from `ft.Input` and layer calls). Received: "
            f"args={call_args!r}, kwargs={sorted(kwargs)} (of type "
            f"{type(call_args[0] if call_args else None).__name__})")
    if not isinstance(model, Functional):
        from fitorch.model import _functional_of

        model.__class__ = _functional_of(type(model))
    Functional.__init__(cast(Functional, model), *call_args, **{**kwargs, "name": name})


def _restore_functional_subclass(cls: type) -> Any:
    """An empty instance of `cls` mixed with `Functional` (unpickling; state follows)."""
    from fitorch.model import _functional_of

    return nn.Module.__new__(_functional_of(cls))


def _own_forward(cls: type[Functional]) -> Any:
    """The forward pass a subclass of a functional model defines itself (`forward`, or
    Keras's `call`), or None when the graph is the whole forward pass."""
    if cls.forward is not Functional.forward:
        return cls.forward
    if cls.call is not Functional.call:
        return cls.call
    return None


def _takes_training_arg(fn: Any) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "training" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD
                                       for p in params.values())


def _value_name(order: GraphOrder, value: Value) -> str:
    node = value.node
    if node.kind == "input" and isinstance(node.target, InputLayer):
        return op_name(order, node.target)
    if node.kind == "module":
        return op_name(order, node.target)
    return op_name(order, node)
