"""`Sequential`: a plain stack of layers, built at once when it starts with an `Input`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from fitorch.layers.input_layer import InputLayer
from fitorch.model import Model
from fitorch.modes import call_mode, eval_mode, example_run


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
        self.input_layer: InputLayer | None = None
        self.stack = nn.ModuleList()
        for layer in layers or []:
            self.add(layer)

    def add(self, layer: nn.Module) -> None:
        """Append a layer (an `Input` only as the first element)."""
        from fitorch.functional.symbolic import input_layer_of

        layer = input_layer_of(layer)
        if isinstance(layer, InputLayer):
            if self.input_layer is not None or len(self.stack):
                raise ValueError(
                    "An `Input` can only be the first element of a Sequential model. "
                    f"Received: {layer!r} after {len(self.stack)} layer(s)"
                )
            self.input_layer = layer
            from fitorch.functional.layer_io import watch_sequential

            watch_sequential(self)  # `layer.output` of its layers records its graph
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

    def forward(self, x: Any, training: bool | None = None) -> Any:
        """Run the stack; `training=True/False` runs this one call in that mode (Keras's
        `model(x, training=False)`); None (the default) uses the modules' own modes."""
        if training is not None and bool(training) != self.training:
            with call_mode(self, bool(training)):
                return self.forward(x)
        declared = self.input_layer.dtype if self.input_layer is not None else None
        if isinstance(declared, torch.dtype) and declared.is_floating_point \
                and isinstance(x, torch.Tensor) and not x.is_floating_point():
            x = x.to(declared)  # integer data into a float Input, as Keras converts it
        for layer in self.stack:
            x = layer(x)
        return x

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        if getattr(self, "input_layer", None) is not None:  # a copy, or an unpickled model
            from fitorch.functional.layer_io import watch_sequential

            watch_sequential(self)

    # ------------------------------------------------------------- Keras's graph API
    @property
    def inputs(self) -> list[Any]:
        """The symbolic input, in a list (Keras), for a model that starts with an `Input`.

        Example:
            >>> extractor = ft.Model(inputs=model.inputs,
            ...                      outputs=[layer.output for layer in model.layers])
        """
        from fitorch.functional.layer_io import sequential_io, symbolic_tensors

        return symbolic_tensors([sequential_io(self, "inputs")[0]])

    @property
    def outputs(self) -> list[Any]:
        """The symbolic output, in a list (Keras), for a model that starts with an `Input`."""
        from fitorch.functional.layer_io import sequential_io, symbolic_tensors

        return symbolic_tensors([sequential_io(self, "outputs")[1]])

    @property
    def input_shape(self) -> tuple[int | None, ...]:
        """The input's shape with the batch axis, e.g. `(None, 784)` (Keras)."""
        from fitorch.functional.layer_io import sequential_io

        return sequential_io(self, "input shape")[0].shape

    @property
    def output_shape(self) -> tuple[int | None, ...]:
        """The output's shape with the batch axis, e.g. `(None, 10)` (Keras)."""
        from fitorch.functional.layer_io import sequential_io

        return sequential_io(self, "output shape")[1].shape

    def _input_batch_size(self) -> int | None:
        return self.input_layer.batch_size if self.input_layer is not None else None

    def _maybe_build(self) -> None:
        """With an `Input`, create every parameter now from a zero batch (no RNG, no BN update)."""
        if self.input_layer is None or not self._needs_build():
            return
        with eval_mode(self), torch.no_grad(), example_run():
            example = self.input_layer.example()  # a NumPy array for a string `Input`
            self(example.to(self._device()) if isinstance(example, torch.Tensor) else example)

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict[str, Any]:
        """The architecture as JSON data: the name and each layer's class and config.

        Only fitorch layers (`fitorch.layers`) can be described this way; any other
        module raises `TypeError` (save such models with their weights and pass the
        model to `ft.load_model(path, model=...)`).

        Example:
            >>> config = model.get_config()
            >>> clone = Sequential.from_config(config)
        """
        from fitorch.saving.serialization import layer_config

        layers = [layer_config(layer) for layer in self.stack]
        if self.input_layer is not None:
            layers.insert(0, {"class_name": "Input", "config": self.input_layer.get_config()})
        return {"name": self.name, "layers": layers}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Sequential:
        """A new, freshly initialised model from `get_config()`'s output.

        Example:
            >>> clone = Sequential.from_config(model.get_config())
        """
        from fitorch.saving.serialization import layer_class

        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            raise ValueError(
                "A Sequential config is a dict with a 'layers' list (from `get_config()`). "
                f"Received: config={config!r} (of type {type(config).__name__})"
            )
        layers: list[nn.Module] = []
        for entry in config["layers"]:
            if not isinstance(entry, dict) or not isinstance(entry.get("config", {}), dict):
                raise ValueError(
                    "Each layer of a Sequential config is {'class_name': ..., 'config': {...}}. "
                    f"Received: {entry!r} (of type {type(entry).__name__})"
                )
            layer_cls = layer_class(entry.get("class_name"))
            layer_conf = dict(entry.get("config", {}))
            from_config = getattr(layer_cls, "from_config", None)
            layers.append(from_config(layer_conf) if callable(from_config)
                          else layer_cls(**layer_conf))
        return cls(layers, name=config.get("name"))
