"""Keras's layer API on fitorch's layers and models: `trainable` and the weight lists.

`trainable` and `requires_grad` are one switch (SPEC.md): setting
`layer.trainable = False` freezes every parameter of the layer and of its
sublayers (`requires_grad_(False)`), `True` unfreezes them; `fit` follows the
change at its next start (`fitorch.optimizers.trainable_params`). As in Keras 3,
a `BatchNormalization` whose `trainable` is False, or that sits inside a layer or
model whose `trainable` is False, runs in inference mode during `fit`
(`fitorch.modes`), which is what fine-tuning needs.

A plain torch module cannot carry the property; for one, `trainable` set as an
attribute is honoured by `fit` all the same (`apply_trainable_attributes`).

Example:
    >>> base = ft.Sequential([...])
    >>> base.trainable = False          # freeze the pretrained part
    >>> len(base.trainable_weights)
    0
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn


def _check_bool(value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(
            f"`trainable` must be True or False. Received: trainable={value!r} "
            f"(of type {type(value).__name__})"
        )
    return bool(value)


def _mask_of(inputs: Any) -> torch.Tensor | None:
    """The Keras mask of a layer's input; for a merge layer's list of inputs, the steps
    every masked input keeps (Keras ANDs the masks)."""
    if not isinstance(inputs, (list, tuple)):
        return getattr(inputs, "_keras_mask", None)
    masks = [m for m in (getattr(t, "_keras_mask", None) for t in inputs) if m is not None]
    if not masks or any(m.shape != masks[0].shape for m in masks):
        return None
    combined = masks[0]
    for m in masks[1:]:
        combined = combined & m
    return combined


def _carrying_mask(forward: Callable[..., Any]) -> Callable[..., Any]:
    """`forward` that hands its input's Keras mask (`_keras_mask`, e.g. from
    `Embedding(mask_zero=True)`) on to its output, as Keras's layers that support masking
    do; the loss and the metrics then skip the masked time steps."""

    @functools.wraps(forward)
    def with_mask(self: Any, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        outputs = forward(self, inputs, *args, **kwargs)
        mask = _mask_of(inputs)
        if mask is not None and isinstance(outputs, torch.Tensor) \
                and getattr(outputs, "_keras_mask", None) is None \
                and tuple(outputs.shape[:mask.dim()]) == tuple(mask.shape):
            outputs._keras_mask = mask  # type: ignore[attr-defined]
        return outputs

    return with_mask


class LayerAPI:
    """Mixin for `nn.Module`s: Keras's `trainable`, `weights`, `trainable_weights`,
    `non_trainable_weights`, `get_weights()` / `set_weights()` and `count_params()`.

    A layer class that sets `supports_masking = True` (Keras's attribute) passes the
    mask of its input on to its output.

    Example:
        >>> dense = ft.layers.Dense(3); dense.build((None, 4))
        >>> [tuple(w.shape) for w in dense.weights]
        [(3, 4), (3,)]
    """

    supports_masking = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        forward = cls.__dict__.get("forward")
        if cls.supports_masking and forward is not None \
                and not getattr(forward, "__wrapped__", None):
            cls.forward = _carrying_mask(forward)  # type: ignore[attr-defined]

    @property
    def trainable(self) -> bool:
        """Whether the layer trains (Keras). Setting it applies to every sublayer."""
        return bool(self.__dict__.get("_trainable", True))

    @trainable.setter
    def trainable(self, value: bool) -> None:
        value = _check_bool(value)
        module = self._as_module()
        for sub in module.modules():
            if isinstance(sub, LayerAPI):
                sub.__dict__["_trainable"] = value
            elif "trainable" in sub.__dict__:  # a torch module's plain attribute
                sub.__dict__["trainable"] = value
        for p in module.parameters():
            p.requires_grad_(value)

    @property
    def input(self) -> Any:
        """The symbolic input tensor(s) of this layer's first call on symbolic tensors
        (Keras 3: one tensor, or a list); AttributeError if it was never called so.

        Example:
            >>> hidden = model.get_layer("hidden")
            >>> extractor = ft.Model(model.inputs, hidden.output)
        """
        from fitorch.functional.layer_io import layer_input

        return layer_input(self)

    @property
    def output(self) -> Any:
        """The symbolic output tensor(s) of this layer's first call on symbolic tensors
        (Keras 3: one tensor, or a list); AttributeError if it was never called so.

        Example:
            >>> features = ft.Model(inputs=model.inputs, outputs=model.get_layer("x").output)
        """
        from fitorch.functional.layer_io import layer_output

        return layer_output(self)

    def _as_module(self) -> nn.Module:
        assert isinstance(self, nn.Module)
        return self

    @property
    def weights(self) -> list[torch.Tensor]:
        """Parameters (in `parameters()` order) then buffers: the order of `get_weights()`."""
        module = self._as_module()
        return [*module.parameters(), *module.buffers()]

    @property
    def trainable_weights(self) -> list[torch.Tensor]:
        """The parameters that train (`requires_grad`)."""
        return [p for p in self._as_module().parameters() if p.requires_grad]

    @property
    def non_trainable_weights(self) -> list[torch.Tensor]:
        """Frozen parameters, then buffers (batch norm's moving statistics)."""
        module = self._as_module()
        return [*(p for p in module.parameters() if not p.requires_grad), *module.buffers()]

    def _weight_tensors(self) -> list[torch.Tensor]:
        module = self._as_module()
        if any(isinstance(p, nn.parameter.UninitializedParameter) for p in module.parameters()):
            raise ValueError(
                "The weights are not created yet (their sizes come from the first batch). "
                "Call the model or layer on data (e.g. `predict`), `build()` it, or start "
                "the model with an `Input` first."
            )
        return self.weights

    def get_weights(self) -> list[np.ndarray]:
        """NumPy copies of the parameters (in `parameters()` order) followed by the buffers.

        Example:
            >>> arrays = layer.get_weights()
        """
        return [t.detach().cpu().numpy().copy() for t in self._weight_tensors()]

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Load values produced by `get_weights()` (same count, same shapes).

        Example:
            >>> other.set_weights(layer.get_weights())
        """
        targets = self._weight_tensors()
        if len(weights) != len(targets):
            raise ValueError(
                f"`set_weights` expects {len(targets)} arrays (parameters then buffers), "
                f"received {len(weights)}."
            )
        for i, (t, w) in enumerate(zip(targets, weights)):
            if tuple(np.shape(w)) != tuple(t.shape):
                raise ValueError(
                    f"Weight {i} has shape {tuple(t.shape)} but the array given for it has "
                    f"shape {tuple(np.shape(w))}."
                )
        with torch.no_grad():
            for t, w in zip(targets, weights):
                t.copy_(torch.as_tensor(np.asarray(w), dtype=t.dtype))

    def count_params(self) -> int:
        """The number of weights, as Keras counts them (parameters and float buffers).

        Example:
            >>> model.count_params()
        """
        from fitorch.summary import count_params

        self._weight_tensors()  # a clear error before the weights exist
        return count_params(self._as_module())


def apply_trainable_attributes(model: nn.Module) -> None:
    """Honour `trainable` set as a plain attribute on torch modules (which have no such
    property): `module.trainable = False` freezes its parameters, as for fitorch layers."""
    for module in model.modules():
        value = module.__dict__.get("trainable")
        if isinstance(value, (bool, np.bool_)) and not isinstance(module, LayerAPI):
            for p in module.parameters():
                p.requires_grad_(bool(value))


def is_frozen(module: nn.Module) -> bool:
    """Whether `module` itself was set `trainable = False` (property or plain attribute)."""
    if isinstance(module, LayerAPI):
        return not module.trainable
    return module.__dict__.get("trainable", True) is False


__all__ = ["LayerAPI", "apply_trainable_attributes", "is_frozen"]
