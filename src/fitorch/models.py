"""`fitorch.models`: Keras's `keras.models` names (`Sequential`, `Model`, `load_model`,
`clone_model`), so `from tensorflow.keras.models import Sequential` ports by its import.

Example:
    >>> from fitorch.models import Sequential, clone_model
    >>> from fitorch.layers import Dense
    >>> model = Sequential([Dense(4, activation="relu"), Dense(1)])
    >>> twin = clone_model(model)      # same architecture, fresh weights, not compiled
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from typing import Any

from torch import nn

from fitorch import layers as layers_module
from fitorch.metrics import Mean
from fitorch.model import Model
from fitorch.saving import load_model
from fitorch.saving.serialization import NotSerializable
from fitorch.sequential import Sequential

__all__ = ["Model", "Sequential", "clone_model", "load_model"]

# What `compile` and `fit` attach to a model, as an uncompiled model has it. A clone starts
# uncompiled (as in Keras) and never copies an optimizer, its state or a compiled graph.
_UNCOMPILED: dict[str, Callable[[], Any]] = {
    "compiled": lambda: False,
    "optimizer": lambda: None,
    "_optimizer_spec": lambda: None,
    "_compiled_loss": lambda: None,
    "_compiled_metrics": lambda: None,
    "_loss_tracker": lambda: Mean(name="loss"),
    "history": lambda: None,
    "stop_training": lambda: False,
    "_steps_per_execution": lambda: 1,
    "_jit_compile": lambda: False,
    "_jit_auto": lambda: False,
    "_results_view": lambda: None,
    "_compiled_call": lambda: None,
    "_compiled_step": lambda: None,
}
_DROPPED = ("_fit_state", "_pending_metric_states", "_jit_auto_on")
# Compile state not worth copying, or not copyable (optimizer state, compiled graphs).
_HEAVY = ("optimizer", "_optimizer_spec", "_compiled_loss", "_compiled_metrics", "history",
          "_compiled_call", "_compiled_step", "_fit_state", "_results_view")


def clone_model(model: nn.Module, clone_function: Callable[[nn.Module], nn.Module] | None = None
                ) -> nn.Module:
    """A new model with the architecture of `model` and freshly initialised weights (Keras).

    The clone is not compiled and shares nothing with `model`. How it is made:

    - A `Sequential`, or any model whose class has `get_config()` / `from_config()`
      (a subclass that defines them, as Keras asks of subclassed models), is rebuilt
      from its config: `type(model).from_config(model.get_config())`. Layers keep their
      names; the weights come from each layer's initializers (built at once when the
      model starts with an `Input`, else on the first call, as for a new model).
      `clone_function(layer) -> layer` replaces the default per-layer rebuild of a
      `Sequential` (Keras's argument).
    - Any other model (`ft.Model(torch_module)`, a subclass, a `Sequential` holding
      torch modules) is copied with `copy.deepcopy`; then every fitorch layer in it is
      replaced by a fresh, unbuilt layer from its config (built on the first call) and
      every other submodule with a `reset_parameters()` method (all torch layers) is
      re-initialised with it. A submodule with parameters of its own but no
      `reset_parameters()` keeps copies of its current values, with a warning naming it.

    Example:
        >>> model = ft.Sequential([ft.Input(shape=(8,)), ft.layers.Dense(2)])
        >>> twin = clone_model(model)
        >>> twin.stack[0].name == model.stack[0].name, twin.compiled
        (True, False)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(
            "`clone_model` expects a model (a torch.nn.Module). "
            f"Received: model={model!r} (of type {type(model).__name__})"
        )
    if clone_function is not None:
        if not isinstance(model, Sequential):
            raise ValueError(
                "`clone_function` applies to the layers of a Sequential model; other models "
                "are cloned whole. Received: model of type "
                f"{type(model).__name__}, clone_function={clone_function!r}"
            )
        return _clone_sequential_layers(model, clone_function)
    clone = _clone_from_config(model)
    if clone is None:
        clone = _clone_by_copy(model)
    return clone


def _clone_from_config(model: nn.Module) -> nn.Module | None:
    get_config = getattr(model, "get_config", None)
    from_config = getattr(type(model), "from_config", None)
    if not (callable(get_config) and callable(from_config)):
        return None
    try:
        config = get_config()
    except (NotSerializable, TypeError, NotImplementedError):  # a layer without a config
        return None
    clone = from_config(config)
    if not isinstance(clone, nn.Module):
        raise TypeError(
            f"{type(model).__name__}.from_config must return a model. "
            f"Received: {clone!r} (of type {type(clone).__name__})"
        )
    return clone


def _clone_sequential_layers(model: Sequential, clone_function: Callable[[nn.Module], nn.Module]
                             ) -> Sequential:
    layers: list[nn.Module] = [] if model.input_layer is None else [
        copy.deepcopy(model.input_layer)]
    for layer in model.stack:
        new = clone_function(layer)
        if not isinstance(new, nn.Module):
            raise TypeError(
                "`clone_function` must return a layer (a torch.nn.Module). "
                f"Received: {new!r} (of type {type(new).__name__}) for layer {layer!r}"
            )
        layers.append(new)
    return Sequential(layers, name=model.name)


def _is_fitorch_layer(module: nn.Module) -> bool:
    cls = type(module)
    return getattr(layers_module, cls.__name__, None) is cls and callable(
        getattr(module, "get_config", None)) and callable(getattr(cls, "from_config", None))


def _clone_by_copy(model: nn.Module) -> nn.Module:
    # Compile and fit state is left out of the copy (a clone is uncompiled): the memo makes
    # deepcopy answer None for those objects. Only for instances of non-atomic types: a
    # memo entry for `1` or `False` would replace every 1 or False in the model.
    memo: dict[int, Any] = {
        id(value): None for key, value in vars(model).items()
        if key in _HEAVY and not isinstance(value, (type, bool, int, float, str, type(None)))
    }
    clone = copy.deepcopy(model, memo)
    if isinstance(clone, Model):
        for key, default in _UNCOMPILED.items():
            if key in vars(clone):
                clone.__dict__[key] = default()
        for key in _DROPPED:
            clone.__dict__.pop(key, None)
    kept = _reinitialise(clone)
    if kept:
        warnings.warn(
            f"clone_model: {', '.join(kept)} has parameters but no `reset_parameters()`, so "
            "the clone holds copies of their current values, not freshly initialised ones. "
            "Give the module a `reset_parameters()` method to get fresh values.",
            UserWarning, stacklevel=3,
        )
    return clone


def _reinitialise(root: nn.Module) -> list[str]:
    """Fresh weights for every submodule; the names of those that could not get them."""
    fresh: dict[int, nn.Module] = {}  # a layer used twice stays one (shared) layer
    kept: list[str] = []

    def visit(module: nn.Module, path: str) -> None:
        reset = getattr(module, "reset_parameters", None)
        if callable(reset):
            reset()
        elif any(p is not None for p in module._parameters.values()):
            kept.append(repr(path) if path else type(module).__name__)
        for key, child in list(module._modules.items()):
            if child is None:
                continue
            if _is_fitorch_layer(child):
                if id(child) not in fresh:
                    fresh[id(child)] = type(child).from_config(  # type: ignore[attr-defined]
                        child.get_config())  # type: ignore[operator]
                module._modules[key] = fresh[id(child)]
            elif id(child) not in fresh:
                fresh[id(child)] = child  # visited once, also when shared
                visit(child, f"{path}.{key}" if path else key)

    visit(root, "")
    return kept
