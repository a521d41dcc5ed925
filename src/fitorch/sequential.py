"""`Sequential`: a plain stack of layers, built at once when it starts with an `Input`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from fitorch.layers.input_layer import Input
from fitorch.model import Model


class Sequential(Model):
    """A linear stack of layers (any `nn.Module`s), Keras style.

    Example:
        >>> model = Sequential([Input(shape=(784,)), layers.Dense(128, activation="relu"),
        ...                     layers.Dense(10, activation="softmax")])
        >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    """

    def __init__(self, layers: Iterable[nn.Module] | None = None, name: str | None = None,
                 ) -> None:
        super().__init__(name=name or "sequential")
        self.input_layer: Input | None = None
        self.stack = nn.ModuleList()
        for layer in layers or []:
            self.add(layer)

    def add(self, layer: nn.Module) -> None:
        """Append a layer (an `Input` only as the first element)."""
        if isinstance(layer, Input):
            if self.input_layer is not None or len(self.stack):
                raise ValueError(
                    "An `Input` can only be the first element of a Sequential model. "
                    f"Received: {layer!r} after {len(self.stack)} layer(s)"
                )
            self.input_layer = layer
            return
        if not isinstance(layer, nn.Module):
            raise TypeError(
                "Sequential layers must be torch.nn.Module instances. "
                f"Received: {layer!r} (of type {type(layer).__name__})"
            )
        self.stack.append(layer)
        self._regularized = self._constrained = None
        self._maybe_build()

    def pop(self) -> nn.Module:
        """Remove and return the last layer."""
        if not len(self.stack):
            raise ValueError("There are no layers to pop from this Sequential model.")
        layer = self.stack[-1]
        del self.stack[-1]
        self._regularized = self._constrained = None
        return layer

    @property
    def layers(self) -> list[nn.Module]:
        """The layers, without the `Input` (Keras)."""
        return list(self.stack)

    def forward(self, x: Any) -> Any:
        for layer in self.stack:
            x = layer(x)
        return x

    def _input_batch_size(self) -> int | None:
        return self.input_layer.batch_size if self.input_layer is not None else None

    def _maybe_build(self) -> None:
        """With an `Input`, create every parameter now from a zero batch (no RNG, no BN update)."""
        if self.input_layer is None or not self._needs_build():
            return
        was_training = self.training
        self.eval()
        with torch.no_grad():
            self(self.input_layer.example().to(self._device()))
        self.train(was_training)
