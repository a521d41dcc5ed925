"""Keras's wrappers: `TimeDistributed` (one layer applied to every step of a sequence)
and `Bidirectional` (a recurrent layer run forwards and backwards).

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

import copy
import warnings
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from fitorch.layers.core import _check_keras_weights, _resolve_name
from fitorch.layers.layer_api import LayerAPI
from fitorch.layers.rnn import RNN

__all__ = ["Bidirectional", "TimeDistributed"]


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


_MERGE_MODES = ("sum", "mul", "concat", "ave", None)


def _fresh_copy(layer: RNN, **changes: Any) -> RNN:
    """A new layer like `layer` (Keras rebuilds it from its config: fresh weights). A
    user-written cell has no config: the layer is copied instead, and weights it has
    already made are drawn anew where its modules can (`reset_parameters`)."""
    from fitorch.saving.serialization import NotSerializable

    try:
        return type(layer).from_config({**layer.get_config(), **changes})
    except NotSerializable:
        pass
    duplicate = cast(RNN, copy.deepcopy(layer))
    for key, value in changes.items():
        setattr(duplicate, key, value)
    built = [p for p in duplicate.parameters()
             if not isinstance(p, nn.parameter.UninitializedParameter)]
    if built:
        resettable = [reset for m in duplicate.modules()
                      if callable(reset := getattr(m, "reset_parameters", None))]
        for reset in resettable:
            reset()
        if not resettable:
            warnings.warn(
                f"Bidirectional: the cell of {layer.name!r} has no config and no "
                "`reset_parameters()`, and its weights exist already, so the copy starts "
                "from the same weights (Keras draws new ones). Wrap the layer before its "
                "first call to get fresh weights.", UserWarning, stacklevel=3)
    return duplicate


class Bidirectional(LayerAPI, nn.Module):
    """Run a recurrent layer (LSTM, GRU, SimpleRNN) over the sequence in both directions.

    The forward and backward layers are fresh copies of `layer`'s configuration
    (`forward_<name>` and `backward_<name>`, the latter with `go_backwards`
    flipped), or `backward_layer` when given. `merge_mode` combines their outputs:
    `"concat"` (on the last axis), `"sum"`, `"mul"`, `"ave"`, or None for the list
    `[forward, backward]`. With `return_sequences=True` the backward outputs are
    put back in time order, and masked steps give zeros (as in Keras). With
    `return_state=True` the result is `(output(s), *forward_states, *backward_states)`.
    Keras's weight order: the forward layer's, then the backward layer's.

    Example:
        >>> from fitorch.layers import LSTM
        >>> layer = Bidirectional(LSTM(8, return_sequences=True))
        >>> layer(torch.zeros(2, 5, 3)).shape
        torch.Size([2, 5, 16])
    """

    # `.weights.h5` keeps the two layers' variables in groups of their own
    # (`forward_layer/cell/vars`, `backward_layer/cell/vars`), found by attribute name.
    keras_sublayers = True
    forward_layer: RNN
    backward_layer: RNN

    def __init__(
        self,
        layer: nn.Module,
        merge_mode: str | None = "concat",
        weights: Sequence[np.ndarray] | None = None,
        backward_layer: nn.Module | None = None,
        name: str | None = None,
    ) -> None:
        if not isinstance(layer, RNN):
            raise ValueError(
                "Please initialize `Bidirectional` layer with a fitorch recurrent layer "
                f"(RNN, LSTM, GRU or SimpleRNN). Received: layer={layer!r} "
                f"(of type {type(layer).__name__})"
            )
        if merge_mode not in _MERGE_MODES:
            raise ValueError(
                f"Invalid merge mode. Merge mode should be one of {list(_MERGE_MODES)}. "
                f"Received: merge_mode={merge_mode!r} (of type {type(merge_mode).__name__})"
            )
        super().__init__()
        self.name = _resolve_name(name, type(self))
        self.merge_mode = merge_mode
        self.forward_layer = _fresh_copy(layer, name="forward_" + layer.name)
        if backward_layer is None:
            backward_layer = _fresh_copy(layer, name="backward_" + layer.name,
                                         go_backwards=not layer.go_backwards)
        elif not isinstance(backward_layer, RNN) or (
            backward_layer.go_backwards == layer.go_backwards
            or backward_layer.return_sequences != layer.return_sequences
            or backward_layer.return_state != layer.return_state
        ):
            raise ValueError(
                "`backward_layer` must be a recurrent layer with the opposite `go_backwards` "
                "and the same `return_sequences` and `return_state` as `layer`. "
                f"Received: backward_layer={backward_layer!r} "
                f"(of type {type(backward_layer).__name__})"
            )
        self.backward_layer = cast(RNN, backward_layer)
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        if weights is not None:
            self.set_keras_weights(weights)

    def forward(
        self,
        inputs: Tensor,
        initial_state: Sequence[Tensor] | None = None,
        mask: Tensor | None = None,
    ) -> Any:
        fw_state = bw_state = None
        if initial_state is not None:
            states = list(initial_state)
            if len(states) % 2:
                raise ValueError(
                    f'Layer "{self.name}" takes `initial_state` as the forward states followed '
                    "by the backward states (an even count). "
                    f"Received: initial_state=<{len(states)} tensors> "
                    f"(of type {type(initial_state).__name__})"
                )
            half = len(states) // 2
            fw_state, bw_state = states[:half], states[half:]
        if mask is None:
            mask = getattr(inputs, "_keras_mask", None)
        y = self.forward_layer(inputs, initial_state=fw_state, mask=mask)
        y_rev = self.backward_layer(inputs, initial_state=bw_state, mask=mask)
        fw_states: list[Tensor] = []
        bw_states: list[Tensor] = []
        if self.return_state:
            y, *fw_states = y
            y_rev, *bw_states = y_rev
        if self.return_sequences:
            y_rev = y_rev.flip(1)
            if mask is not None:
                # Keras's Bidirectional forces zero outputs at masked steps.
                keep = mask.to(device=y.device, dtype=torch.bool).unsqueeze(-1)
                y = y.masked_fill(~keep, 0.0)
                y_rev = y_rev.masked_fill(~keep, 0.0)
        if self.merge_mode is None:
            output: Any = [y, y_rev]
        elif self.merge_mode == "concat":
            output = torch.cat([y, y_rev], dim=-1)
        elif self.merge_mode == "sum":
            output = y + y_rev
        elif self.merge_mode == "ave":
            output = (y + y_rev) / 2
        else:  # "mul"
            output = y * y_rev
        if self.return_sequences and mask is not None and isinstance(output, Tensor):
            output._keras_mask = mask  # type: ignore[attr-defined]
        if self.return_state:
            head = list(output) if self.merge_mode is None else [output]
            return (*head, *fw_states, *bw_states)
        return output

    def get_keras_weights(self) -> list[np.ndarray]:
        """The forward layer's weights, then the backward layer's (Keras's order and layout)."""
        return [*self.forward_layer.get_keras_weights(), *self.backward_layer.get_keras_weights()]

    def set_keras_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Load the forward layer's weights, then the backward layer's."""
        if isinstance(weights, (str, bytes)) or not isinstance(weights, Sequence) or len(
                weights) % 2:
            raise ValueError(
                f'Layer "{self.name}" expects the forward layer\'s weights followed by the '
                "backward layer's (an even count). "
                f"Received: weights={type(weights).__name__} of length "
                f"{len(weights) if isinstance(weights, Sequence) else '?'}"
            )
        half = len(weights) // 2
        self.forward_layer.set_keras_weights(weights[:half])
        self.backward_layer.set_keras_weights(weights[half:])

    def keras_param_counts(self) -> tuple[int, int]:
        """`(trainable, non_trainable)`, both directions together."""
        fw = self.forward_layer.keras_param_counts()
        bw = self.backward_layer.keras_param_counts()
        return fw[0] + bw[0], fw[1] + bw[1]

    def get_config(self) -> dict[str, Any]:
        """The name, merge mode, and both layers' `{"class_name", "config"}`."""
        from fitorch.saving.serialization import layer_config

        forward = layer_config(self.forward_layer)
        forward["config"] = {**forward["config"],
                             "name": self.forward_layer.name.removeprefix("forward_")}
        return {"name": self.name, "merge_mode": self.merge_mode, "layer": forward,
                "backward_layer": layer_config(self.backward_layer)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Bidirectional:
        """Create the wrapper and its layers from `get_config()`'s output."""
        from fitorch.saving.serialization import layer_class

        config = dict(config)
        built: list[Any] = []
        for key in ("layer", "backward_layer"):
            entry = config.pop(key, None)
            if entry is None:
                built.append(None)
                continue
            inner_cls: Any = layer_class(entry.get("class_name"))
            built.append(inner_cls.from_config(dict(entry.get("config", {}))))
        return cls(built[0], backward_layer=built[1], **config)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, merge_mode={self.merge_mode!r}"
