"""Keras's `TimeDistributed` wrapper: one layer applied to every step of a sequence.

Inputs are batch-first sequences, `(batch, time, *sample)` (the layout of the
recurrent layers); each `(batch, *sample)` slice goes through the wrapped layer.
The wrapped layer's weights are the wrapper's: `get_keras_weights()`, parameter
counts and `.weights.h5` files (Keras's `<wrapper>/layer/vars`) pass through.

Example:
    >>> import torch
    >>> from fitorch.layers import Dense, TimeDistributed
    >>> TimeDistributed(Dense(4))(torch.zeros(2, 5, 3)).shape
    torch.Size([2, 5, 4])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from fitorch.layers.core import _check_keras_weights, _resolve_name
from fitorch.layers.layer_api import LayerAPI

__all__ = ["TimeDistributed"]


def _takes_cross_sample_statistics(layer: nn.Module) -> bool:
    """Whether a batch of N * T samples would differ from T batches of N (batch norm)."""
    from fitorch.layers.normalization import BatchNormalization

    return any(isinstance(m, (BatchNormalization, _BatchNorm)) for m in layer.modules())


class TimeDistributed(LayerAPI, nn.Module):
    """Apply `layer` to every time step of `(batch, time, *sample)` inputs.

    The steps are folded into the batch (one call of `layer` on `(batch * time,
    *sample)`), except for a layer holding batch normalization in training
    mode, which (as in Keras) sees each step as a batch of its own.

    Example:
        >>> from fitorch.layers import Conv2D
        >>> TimeDistributed(Conv2D(8, 3))(torch.zeros(2, 4, 3, 9, 9)).shape
        torch.Size([2, 4, 8, 7, 7])
    """

    def __init__(self, layer: nn.Module, name: str | None = None) -> None:
        if not isinstance(layer, nn.Module):
            raise ValueError(
                "Please initialize `TimeDistributed` layer with a `torch.nn.Module` (a "
                f"layer). Received: layer={layer!r} (of type {type(layer).__name__})"
            )
        super().__init__()
        self.name = _resolve_name(name, type(self))
        self.layer = layer
        self._per_step = _takes_cross_sample_statistics(layer)

    def forward(self, inputs: Tensor) -> Any:
        if inputs.ndim < 3:
            raise ValueError(
                f'`TimeDistributed` layer "{self.name}" needs inputs of rank >= 3 '
                "(batch, time, ...). "
                f"Received: inputs.shape={tuple(inputs.shape)} (of type {type(inputs).__name__})"
            )
        batch, steps = inputs.shape[:2]
        if self._per_step and self.training:
            return torch.stack([self.layer(inputs[:, t]) for t in range(steps)], dim=1)
        outputs = self.layer(inputs.reshape(batch * steps, *inputs.shape[2:]))
        if not isinstance(outputs, Tensor):
            raise ValueError(
                f'`TimeDistributed` layer "{self.name}" needs a layer that returns one tensor. '
                f"Received: {type(outputs).__name__} from layer {type(self.layer).__name__}"
            )
        return outputs.reshape(batch, steps, *outputs.shape[1:])

    # --- Keras weights: the wrapped layer's -------------------------------------------

    @property
    def keras_vars_path(self) -> str:
        """Where Keras keeps the variables, relative to this layer: `layer[/cell]`."""
        from fitorch.saving.keras_h5 import _vars_path  # local: saving imports the layers

        return _vars_path("layer", self.layer)[: -len("/vars")]

    def get_keras_weights(self) -> list[np.ndarray]:
        """The wrapped layer's weights in Keras's order and layout."""
        getter = getattr(self.layer, "get_keras_weights", None)
        if callable(getter):
            return list(getter())
        return self._no_keras_layout("get_keras_weights()")

    def set_keras_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Load the wrapped layer's weights, given in Keras's order and layout."""
        setter = getattr(self.layer, "set_keras_weights", None)
        if callable(setter):
            setter(weights)
        else:
            self._no_keras_layout("set_keras_weights()")
            _check_keras_weights(self.name, weights, [])  # a weightless layer takes []

    def keras_param_counts(self) -> tuple[int, int]:
        """The wrapped layer's `(trainable, non_trainable)` counts."""
        counts = getattr(self.layer, "keras_param_counts", None)
        if callable(counts):
            return tuple(counts())
        return self._no_keras_layout("keras_param_counts()")

    def _no_keras_layout(self, what: str) -> Any:
        if not any(True for _ in self.layer.parameters()) and not any(
            True for _ in self.layer.buffers()
        ):
            return [] if what.startswith("get") else (0, 0)
        raise TypeError(
            f'`TimeDistributed` layer "{self.name}" wraps a {type(self.layer).__name__}, which '
            f"has weights but no Keras layout, so `{what}` cannot give them in Keras's order. "
            f"Received: layer={type(self.layer).__name__}"
        )

    def get_config(self) -> dict[str, Any]:
        """The name and the wrapped layer's `{"class_name", "config"}`."""
        from fitorch.saving.serialization import layer_config

        return {"name": self.name, "layer": layer_config(self.layer)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TimeDistributed:
        """Create the wrapper and its layer from `get_config()`'s output."""
        from fitorch.saving.serialization import layer_class

        config = dict(config)
        entry = config.pop("layer")
        inner_cls: Any = layer_class(entry.get("class_name"))
        return cls(inner_cls.from_config(dict(entry.get("config", {}))), **config)

    def extra_repr(self) -> str:
        return f"name={self.name!r}"
