"""Keras's `LSTM`, `GRU` and `SimpleRNN` on batch-first `(batch, time, features)` inputs.

Parameters are kept in PyTorch's layout so that torch's fused RNN kernels
(cuDNN on GPU) run them: `weight_ih` `(gates * units, features)`, `weight_hh`
`(gates * units, units)`, in PyTorch's gate order (LSTM `i, f, g, o`, the same
as Keras's; GRU `r, z, n`, where Keras has `z, r, h`). Keras's single LSTM bias
is one `(4 * units,)` parameter (torch's second bias is fed zeros), and the GRU
bias is Keras's `(2, 3 * units)` input/recurrent pair (`reset_after=True`,
which is exactly torch's GRU) or `(3 * units,)`. `get_keras_weights()` /
`set_keras_weights()` convert to and from Keras's `kernel`, `recurrent_kernel`
and `bias`.

The fused kernel runs whenever it computes Keras's function: default
activations, no mask, no recurrent dropout in training, and for GRU
`reset_after=True`. Otherwise a per-step loop computes Keras's cell (its
`implementation=1` when `recurrent_dropout` is set). Input `dropout` uses one
mask per sequence, as Keras does, and keeps the fused kernel.

Example:
    >>> import torch
    >>> from fitorch.layers import LSTM
    >>> out, h, c = LSTM(8, return_sequences=True, return_state=True)(torch.zeros(2, 5, 3))
    >>> out.shape, h.shape, c.shape
    (torch.Size([2, 5, 8]), torch.Size([2, 8]), torch.Size([2, 8]))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import _VF, Tensor, nn
from torch.nn.modules.lazy import LazyModuleMixin
from torch.nn.parameter import UninitializedParameter

from fitorch import activations, constraints, initializers, regularizers
from fitorch.layers.core import (
    _assign,
    _check_keras_weights,
    _first_shape,
    _get_initializer,
    _keras_param_counts,
    _penalties,
    _project,
    _require_built,
    _resolve_name,
    _to_numpy,
)
from fitorch.layers.layer_api import LayerAPI

__all__ = ["GRU", "LSTM", "SimpleRNN"]

_States = list[Tensor]


def _rate(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(
            f"Argument `{name}` must be a float in [0, 1]. "
            f"Received: {name}={value!r} (of type {type(value).__name__})"
        )
    return min(1.0, max(0.0, float(value)))  # Keras clips it


class _RNN(LayerAPI, LazyModuleMixin, nn.Module):
    """Shared body of `LSTM` and `GRU`: building, masks, dropout, the two code paths."""

    _gates = 0
    _n_states = 1
    weight_ih: nn.Parameter
    weight_hh: nn.Parameter
    bias: nn.Parameter | None

    def __init__(
        self,
        units: int,
        activation: str | Callable[..., Any] | None,
        recurrent_activation: str | Callable[..., Any] | None,
        use_bias: bool,
        kernel_initializer: Any,
        recurrent_initializer: Any,
        bias_initializer: Any,
        kernel_regularizer: Any,
        recurrent_regularizer: Any,
        bias_regularizer: Any,
        activity_regularizer: Any,
        kernel_constraint: Any,
        recurrent_constraint: Any,
        bias_constraint: Any,
        dropout: float,
        recurrent_dropout: float,
        seed: int | None,
        return_sequences: bool,
        return_state: bool,
        go_backwards: bool,
        stateful: bool,
        unroll: bool,
        use_cudnn: bool | str,
        name: str | None,
    ) -> None:
        if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
            raise ValueError(
                "Received an invalid value for argument `units`, expected a positive integer. "
                f"Received: units={units!r} (of type {type(units).__name__})"
            )
        if stateful:
            raise ValueError(
                "fitorch's recurrent layers are not stateful: pass the states explicitly "
                "with `initial_state=` and `return_state=True`. "
                f"Received: stateful={stateful!r} (of type {type(stateful).__name__})"
            )
        if use_cudnn not in ("auto", True, False):
            raise ValueError(
                "Invalid value for argument `use_cudnn`: expected 'auto', True or False. "
                f"Received: use_cudnn={use_cudnn!r} (of type {type(use_cudnn).__name__})"
            )
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(
                f"Argument `seed` must be an int or None. "
                f"Received: seed={seed!r} (of type {type(seed).__name__})"
            )
        super().__init__()
        self.name = _resolve_name(name, type(self))
        self.units = units
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = _get_initializer(kernel_initializer)
        self.recurrent_initializer = _get_initializer(recurrent_initializer)
        self.bias_initializer = _get_initializer(bias_initializer)
        self.kernel_regularizer = regularizers.get(
            kernel_regularizer, arg_name="kernel_regularizer"
        )
        self.recurrent_regularizer = regularizers.get(
            recurrent_regularizer, arg_name="recurrent_regularizer"
        )
        self.bias_regularizer = regularizers.get(bias_regularizer, arg_name="bias_regularizer")
        self.activity_regularizer = regularizers.get(
            activity_regularizer, arg_name="activity_regularizer"
        )
        self.kernel_constraint = constraints.get(kernel_constraint, arg_name="kernel_constraint")
        self.recurrent_constraint = constraints.get(
            recurrent_constraint, arg_name="recurrent_constraint"
        )
        self.bias_constraint = constraints.get(bias_constraint, arg_name="bias_constraint")
        self.dropout = _rate(dropout, "dropout")
        self.recurrent_dropout = _rate(recurrent_dropout, "recurrent_dropout")
        self.seed = seed
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.unroll = bool(unroll)  # accepted for Keras code; the loop is never unrolled
        self.use_cudnn = use_cudnn
        self._generators: dict[torch.device, torch.Generator] = {}
        self._activity_losses: list[Tensor] = []

        self.in_features = 0
        self.weight_ih = cast(nn.Parameter, UninitializedParameter())
        self.weight_hh = cast(nn.Parameter, UninitializedParameter())
        if self.use_bias:
            self.bias = cast(nn.Parameter, UninitializedParameter())
        else:
            self.register_parameter("bias", None)

    # --- building --------------------------------------------------------------------

    @property
    def built(self) -> bool:
        """Whether the parameters exist (after `build` or the first call)."""
        return not self.has_uninitialized_params()

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Create and initialise the parameters for inputs `(batch, time, features)`.

        Example:
            >>> layer = LSTM(4)
            >>> layer.build((None, 10, 3))
            >>> layer.weight_ih.shape, layer.weight_hh.shape, layer.bias.shape
            (torch.Size([16, 3]), torch.Size([16, 4]), torch.Size([16]))
        """
        if not self.has_uninitialized_params():
            return
        features = input_shape[-1] if len(input_shape) == 3 else None
        if not isinstance(features, int) or features <= 0:
            raise ValueError(
                f'Layer "{self.name}" needs inputs of rank 3 (batch, time, features) with a '
                f"known number of features. Received: input_shape={tuple(input_shape)} "
                f"(of type {type(input_shape).__name__})"
            )
        gu = self._gates * self.units
        with torch.inference_mode(False), torch.no_grad():
            self.in_features = features
            cast(UninitializedParameter, self.weight_ih).materialize((gu, features))
            cast(UninitializedParameter, self.weight_hh).materialize((gu, self.units))
            # Fans of Keras's kernel (features, gates * units) and recurrent kernel
            # (units, gates * units); the PyTorch layout is their transpose.
            initializers.apply_initializer(
                self.kernel_initializer, self.weight_ih, fan_in=features, fan_out=gu
            )
            initializers.apply_initializer(
                self.recurrent_initializer, self.weight_hh, fan_in=self.units, fan_out=gu
            )
            if self.bias is not None:
                cast(UninitializedParameter, self.bias).materialize(self._bias_shape())
                self._init_bias(self.bias)

    def _bias_shape(self) -> tuple[int, ...]:
        return (self._gates * self.units,)

    def _init_bias(self, bias: Tensor) -> None:
        n = bias.shape[0]
        initializers.apply_initializer(self.bias_initializer, bias, fan_in=n, fan_out=n)

    def initialize_parameters(self, inputs: Tensor, *args: Any, **kwargs: Any) -> None:
        """Lazy-module hook: build from the first input's shape."""
        if self.has_uninitialized_params():
            self.build(tuple(inputs.shape))
        else:  # materialised by load_state_dict before any call
            self.in_features = self.weight_ih.shape[1]

    # --- forward ---------------------------------------------------------------------

    def forward(
        self,
        inputs: Tensor,
        initial_state: Tensor | Sequence[Tensor] | None = None,
        mask: Tensor | None = None,
    ) -> Tensor | tuple[Tensor, ...]:
        """Run the layer; `mask` `(batch, time)` marks the steps to use (Keras's masking).

        Without `mask`, a mask left on `inputs` by `Embedding(mask_zero=True)` is used.
        Returns the last output `(batch, units)`, or every output `(batch, time,
        units)` with `return_sequences=True`; with `return_state=True` a tuple
        `(output, *final_states)`.
        """
        if inputs.ndim != 3 or inputs.shape[-1] != self.in_features:
            raise ValueError(
                f'Input of layer "{self.name}" is incompatible with the layer: expected rank 3 '
                f"(batch, time, features) with {self.in_features} features. "
                f"Received: inputs.shape={tuple(inputs.shape)} (of type {type(inputs).__name__})"
            )
        if mask is None:
            mask = getattr(inputs, "_keras_mask", None)
        if mask is not None:
            mask = self._check_mask(mask, inputs)
        states = self._initial_states(inputs, initial_state)
        training = self.training
        in_masks = rec_masks = None
        if training and 0.0 < self.recurrent_dropout < 1.0:
            # Keras's implementation 1: one mask per gate, for inputs and states.
            rec_masks = self._dropout_masks(states[0], self.recurrent_dropout, self._gates)
            if 0.0 < self.dropout < 1.0:
                in_masks = self._dropout_masks(inputs[:, 0], self.dropout, self._gates)
        elif training and 0.0 < self.dropout < 1.0:
            in_masks = self._dropout_masks(inputs[:, 0], self.dropout, 1)

        x, step_mask = inputs, mask
        if self.go_backwards:
            x = x.flip(1)
            step_mask = None if mask is None else mask.flip(1)
        fusable = self._fusable() and step_mask is None and rec_masks is None
        if self.use_cudnn is True and not fusable:
            raise ValueError(
                f'Layer "{self.name}" was given use_cudnn=True, but its configuration needs '
                "the step-by-step loop (non-default activations, a mask, recurrent dropout "
                "or GRU reset_after=False). Use use_cudnn='auto'. "
                f"Received: use_cudnn={self.use_cudnn!r} (of type bool)"
            )
        if fusable and self.use_cudnn is not False:
            if in_masks is not None:
                x = x * in_masks[0].unsqueeze(1)  # the same mask at every step, as Keras
            outputs, final = self._fused(x, states)
            last = final[0]
        else:
            outputs, last, final = self._loop(x, states, step_mask, in_masks, rec_masks)

        output = outputs if self.return_sequences else last
        if self.return_sequences and mask is not None:
            output._keras_mask = mask  # type: ignore[attr-defined]
        results = (output, *final) if self.return_state else (output,)
        if self.activity_regularizer is not None:
            # Keras regularizes every output, each divided by its batch size.
            batch = output.shape[0]
            self._activity_losses = [
                self.activity_regularizer(t) / batch if batch else self.activity_regularizer(t) * 0
                for t in results
            ]
        return results if self.return_state else output

    def _check_mask(self, mask: Tensor, inputs: Tensor) -> Tensor:
        if not isinstance(mask, Tensor) or tuple(mask.shape) != tuple(inputs.shape[:2]):
            shape = tuple(mask.shape) if isinstance(mask, Tensor) else None
            raise ValueError(
                f'The mask of layer "{self.name}" must be a (batch, time) = '
                f"{tuple(inputs.shape[:2])} tensor. Received: mask.shape={shape} "
                f"(of type {type(mask).__name__})"
            )
        return mask.to(device=inputs.device, dtype=torch.bool)

    def _initial_states(
        self, inputs: Tensor, initial_state: Tensor | Sequence[Tensor] | None
    ) -> _States:
        batch = inputs.shape[0]
        if initial_state is None:
            zeros = inputs.new_zeros((batch, self.units))
            return [zeros] * self._n_states
        given = [initial_state] if isinstance(initial_state, Tensor) else list(initial_state)
        if len(given) != self._n_states or not all(
            isinstance(s, Tensor) and tuple(s.shape) == (batch, self.units) for s in given
        ):
            shapes = [tuple(s.shape) if isinstance(s, Tensor) else type(s).__name__ for s in given]
            raise ValueError(
                f'Layer "{self.name}" expects `initial_state` as {self._n_states} tensor(s) of '
                f"shape (batch, units) = {(batch, self.units)}. "
                f"Received: initial_state shapes={shapes} (of type {type(initial_state).__name__})"
            )
        return [s.to(inputs.dtype) for s in given]

    def _dropout_masks(self, like: Tensor, rate: float, count: int) -> list[Tensor]:
        generator = None
        if self.seed is not None:
            generator = self._generators.get(like.device)
            if generator is None:
                generator = torch.Generator(device=like.device).manual_seed(self.seed)
                self._generators[like.device] = generator
        keep = 1.0 - rate
        masks = []
        for _ in range(count):
            mask = torch.empty(like.shape, dtype=like.dtype, device=like.device)
            masks.append(mask.bernoulli_(keep, generator=generator).div_(keep))
        return masks

    def _default_activations(self) -> bool:
        return (
            self.activation is activations.tanh
            and self.recurrent_activation is activations.sigmoid
        )

    def _fusable(self) -> bool:
        return self._default_activations()

    def _fused(self, x: Tensor, states: _States) -> tuple[Tensor, _States]:
        raise NotImplementedError

    def _loop(
        self,
        x: Tensor,
        states: _States,
        mask: Tensor | None,
        in_masks: list[Tensor] | None,
        rec_masks: list[Tensor] | None,
    ) -> tuple[Tensor, Tensor, _States]:
        """Keras's step-by-step recurrence; returns (outputs or last, last, final states)."""
        u = self.units
        input_bias = self._input_bias()
        if in_masks is None or len(in_masks) == 1:
            xin = x if in_masks is None else x * in_masks[0].unsqueeze(1)
            projected = F.linear(xin, self.weight_ih, input_bias)  # every step at once
        else:  # one input mask per gate (Keras's implementation 1)
            blocks = []
            for g, m in enumerate(in_masks):
                sl = slice(g * u, (g + 1) * u)
                b = None if input_bias is None else input_bias[sl]
                blocks.append(F.linear(x * m.unsqueeze(1), self.weight_ih[sl], b))
            projected = torch.cat(blocks, dim=-1)
        prev = x.new_zeros((x.shape[0], u))  # Keras's output before the first unmasked step
        outputs: list[Tensor] = []
        for t in range(x.shape[1]):
            out, new_states = self._step(projected[:, t], states, rec_masks)
            if mask is not None:
                keep = mask[:, t].unsqueeze(1)
                out = torch.where(keep, out, prev)
                new_states = [torch.where(keep, n, s) for n, s in zip(new_states, states)]
            states, prev = new_states, out
            if self.return_sequences:
                outputs.append(out)
        seq = torch.stack(outputs, dim=1) if self.return_sequences else prev
        return seq, prev, states

    def _input_bias(self) -> Tensor | None:
        return self.bias

    def _step(
        self, xw: Tensor, states: _States, rec_masks: list[Tensor] | None
    ) -> tuple[Tensor, _States]:
        raise NotImplementedError

    def _recurrent(self, h: Tensor, rows: slice, rec_masks: list[Tensor] | None,
                   gates: range, bias: Tensor | None = None) -> Tensor:
        """`h @ weight_hh[rows].T (+ bias)`, with a recurrent-dropout mask per gate if given."""
        if rec_masks is None:
            return F.linear(h, self.weight_hh[rows], None if bias is None else bias[rows])
        u = self.units
        blocks = []
        for g in gates:
            sl = slice(g * u, (g + 1) * u)
            blocks.append(F.linear(h * rec_masks[g], self.weight_hh[sl],
                                   None if bias is None else bias[sl]))
        return torch.cat(blocks, dim=-1)

    # --- Keras weights, regularization, constraints ----------------------------------

    def _to_keras_gates(self, a: np.ndarray, axis: int) -> np.ndarray:
        return a

    def _keras_bias_shape(self) -> tuple[int, ...]:
        return self._bias_shape()

    def get_keras_weights(self) -> list[np.ndarray]:
        """`[kernel (features, gates*units), recurrent_kernel (units, gates*units), bias]`.

        Example:
            >>> layer = GRU(4)
            >>> layer.build((None, 5, 3))
            >>> [w.shape for w in layer.get_keras_weights()]
            [(3, 12), (4, 12), (2, 12)]
        """
        _require_built(self, self.built, "get_keras_weights()")
        weights = [
            np.ascontiguousarray(self._to_keras_gates(_to_numpy(self.weight_ih), 0).T),
            np.ascontiguousarray(self._to_keras_gates(_to_numpy(self.weight_hh), 0).T),
        ]
        if self.bias is not None:
            weights.append(self._to_keras_gates(_to_numpy(self.bias), -1))
        return weights

    def set_keras_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Load Keras's `[kernel, recurrent_kernel, bias]` (builds an unbuilt layer from them).

        Example:
            >>> layer = LSTM(2)
            >>> layer.set_keras_weights([np.zeros((3, 8)), np.zeros((2, 8)), np.zeros(8)])
            >>> layer.weight_ih.shape
            torch.Size([8, 3])
        """
        first = _first_shape(self.name, weights)
        if not self.built and first is not None and len(first) == 2:
            self.build((None, None, first[0]))
        _require_built(self, self.built, "set_keras_weights()")
        gu = self._gates * self.units
        expected: list[tuple[str, tuple[int, ...]]] = [
            ("kernel", (self.in_features, gu)),
            ("recurrent_kernel", (self.units, gu)),
        ]
        if self.bias is not None:
            expected.append(("bias", self._keras_bias_shape()))
        arrays = _check_keras_weights(self.name, weights, expected)
        # The gate permutation (GRU) is its own inverse.
        _assign(self.weight_ih, self._to_keras_gates(arrays[0].T, 0))
        _assign(self.weight_hh, self._to_keras_gates(arrays[1].T, 0))
        if self.bias is not None:
            _assign(self.bias, self._to_keras_gates(arrays[2], -1))

    def keras_param_counts(self) -> tuple[int, int]:
        """`(trainable, non_trainable)` parameter counts, as Keras's `count_params` splits them."""
        return _keras_param_counts(self)

    def regularization_losses(self) -> list[Tensor]:
        """Penalties in Keras's order: activity (last call), kernel, recurrent kernel, bias."""
        losses = list(self._activity_losses)
        if self.built:
            losses += _penalties([
                (self.kernel_regularizer, self.weight_ih),
                (self.recurrent_regularizer, self.weight_hh),
                (self.bias_regularizer, self.bias),
            ])
        return losses

    def apply_constraints(self) -> None:
        """Project the parameters with their constraints (after each optimizer step)."""
        if self.built:
            _project([(self.kernel_constraint, self.weight_ih),
                      (self.recurrent_constraint, self.weight_hh)])
            # A 2-D GRU bias has Keras's (2, 3 * units) layout.
            _project([(self.bias_constraint, self.bias)], keras_layout=True)

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments (built-ins JSON-able, custom callables as is)."""
        return {
            "name": self.name,
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": constraints.serialize(self.recurrent_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "unroll": self.unroll,
            "use_cudnn": self.use_cudnn,
        }

    def extra_repr(self) -> str:
        return (
            f"name={self.name!r}, units={self.units}, in_features={self.in_features or None}, "
            f"return_sequences={self.return_sequences}, return_state={self.return_state}"
        )


class LSTM(_RNN):
    """Keras's Long Short-Term Memory layer on `(batch, time, features)` inputs.

    Keras's arguments and defaults; `unit_forget_bias=True` starts the forget
    gate's bias at 1. `stateful=True` is not supported (pass `initial_state`).
    Call with `initial_state=[h, c]` and/or `mask=` `(batch, time)`.

    Example:
        >>> layer = LSTM(4)
        >>> layer(torch.zeros(2, 7, 3)).shape
        torch.Size([2, 4])
        >>> [w.shape for w in layer.get_keras_weights()]  # kernel, recurrent_kernel, bias
        [(3, 16), (4, 16), (16,)]
    """

    _gates = 4
    _n_states = 2

    def __init__(
        self,
        units: int,
        activation: str | Callable[..., Any] | None = "tanh",
        recurrent_activation: str | Callable[..., Any] | None = "sigmoid",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        unit_forget_bias: bool = True,
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        use_cudnn: bool | str = "auto",
        name: str | None = None,
    ) -> None:
        self.unit_forget_bias = bool(unit_forget_bias)
        super().__init__(
            units, activation, recurrent_activation, use_bias, kernel_initializer,
            recurrent_initializer, bias_initializer, kernel_regularizer, recurrent_regularizer,
            bias_regularizer, activity_regularizer, kernel_constraint, recurrent_constraint,
            bias_constraint, dropout, recurrent_dropout, seed, return_sequences, return_state,
            go_backwards, stateful, unroll, use_cudnn, name,
        )

    def _init_bias(self, bias: Tensor) -> None:
        if not self.unit_forget_bias:
            super()._init_bias(bias)
            return
        # Keras: bias_initializer((u,)), ones((u,)), bias_initializer((2u,)).
        u = self.units
        initializers.apply_initializer(self.bias_initializer, bias[:u], fan_in=u, fan_out=u)
        bias[u : 2 * u].fill_(1.0)
        initializers.apply_initializer(
            self.bias_initializer, bias[2 * u :], fan_in=2 * u, fan_out=2 * u
        )

    def _fused(self, x: Tensor, states: _States) -> tuple[Tensor, _States]:
        hx = (states[0].unsqueeze(0), states[1].unsqueeze(0))
        if self.bias is not None:
            # torch adds two biases; Keras has one, so the second is zero.
            weights: list[Tensor] = [
                self.weight_ih, self.weight_hh, self.bias, torch.zeros_like(self.bias)
            ]
        else:
            weights = [self.weight_ih, self.weight_hh]
        outputs, h, c = _VF.lstm(x, hx, weights, self.bias is not None, 1, 0.0,
                                 self.training, False, True)
        return outputs, [h[0], c[0]]

    def _step(
        self, xw: Tensor, states: _States, rec_masks: list[Tensor] | None
    ) -> tuple[Tensor, _States]:
        h, c = states
        z = xw + self._recurrent(h, slice(None), rec_masks, range(4))
        i, f, g, o = z.chunk(4, dim=1)
        act, rec = self.activation, self.recurrent_activation
        c = rec(f) * c + rec(i) * act(g)
        h = rec(o) * act(c)
        return h, [h, c]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LSTM:
        """Create a layer from `get_config()`'s output."""
        return cls(**config)


class GRU(_RNN):
    """Keras's Gated Recurrent Unit layer on `(batch, time, features)` inputs.

    Keras 3's defaults, including `reset_after=True` (the reset gate applies
    after the recurrent matmul, with a separate recurrent bias: PyTorch's GRU);
    `reset_after=False` (Keras 2's original GRU) runs the step loop. Call with
    `initial_state=h` and/or `mask=` `(batch, time)`.

    Example:
        >>> layer = GRU(4, return_state=True)
        >>> out, h = layer(torch.zeros(2, 7, 3))
        >>> torch.equal(out, h)
        True
    """

    _gates = 3
    _n_states = 1

    def __init__(
        self,
        units: int,
        activation: str | Callable[..., Any] | None = "tanh",
        recurrent_activation: str | Callable[..., Any] | None = "sigmoid",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        reset_after: bool = True,
        use_cudnn: bool | str = "auto",
        name: str | None = None,
    ) -> None:
        self.reset_after = bool(reset_after)
        super().__init__(
            units, activation, recurrent_activation, use_bias, kernel_initializer,
            recurrent_initializer, bias_initializer, kernel_regularizer, recurrent_regularizer,
            bias_regularizer, activity_regularizer, kernel_constraint, recurrent_constraint,
            bias_constraint, dropout, recurrent_dropout, seed, return_sequences, return_state,
            go_backwards, stateful, unroll, use_cudnn, name,
        )

    def _bias_shape(self) -> tuple[int, ...]:
        # reset_after: Keras's (input bias, recurrent bias) pair, torch's b_ih and b_hh.
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _init_bias(self, bias: Tensor) -> None:
        fan_in, fan_out = (bias.shape[0], bias.shape[-1])
        if bias.ndim == 1:
            fan_in = fan_out
        initializers.apply_initializer(self.bias_initializer, bias, fan_in=fan_in, fan_out=fan_out)

    def _fusable(self) -> bool:
        return self.reset_after and self._default_activations()

    def _input_bias(self) -> Tensor | None:
        if self.bias is None:
            return None
        return self.bias[0] if self.reset_after else self.bias

    def _fused(self, x: Tensor, states: _States) -> tuple[Tensor, _States]:
        weights: list[Tensor] = [self.weight_ih, self.weight_hh]
        if self.bias is not None:
            weights += [self.bias[0], self.bias[1]]
        outputs, h = _VF.gru(x, states[0].unsqueeze(0), weights, self.bias is not None, 1, 0.0,
                             self.training, False, True)
        return outputs, [h[0]]

    def _step(
        self, xw: Tensor, states: _States, rec_masks: list[Tensor] | None
    ) -> tuple[Tensor, _States]:
        (h,) = states
        u = self.units
        act, rec = self.activation, self.recurrent_activation
        x_r, x_z, x_n = xw.chunk(3, dim=1)
        if self.reset_after:
            rec_bias = None if self.bias is None else self.bias[1]
            hw = self._recurrent(h, slice(None), rec_masks, range(3), rec_bias)
            h_r, h_z, h_n = hw.chunk(3, dim=1)
            r = rec(x_r + h_r)
            z = rec(x_z + h_z)
            candidate = act(x_n + r * h_n)
        else:
            h_r, h_z = self._recurrent(h, slice(0, 2 * u), rec_masks, range(2)).chunk(2, dim=1)
            r = rec(x_r + h_r)
            z = rec(x_z + h_z)
            h_for_n = h if rec_masks is None else h * rec_masks[2]
            candidate = act(x_n + F.linear(r * h_for_n, self.weight_hh[2 * u :]))
        h = z * h + (1 - z) * candidate
        return h, [h]

    def _to_keras_gates(self, a: np.ndarray, axis: int) -> np.ndarray:
        # torch's (r, z, n) blocks <-> Keras's (z, r, h): swapping the first two.
        r, z, n = np.split(a, 3, axis=axis)
        return np.concatenate([z, r, n], axis=axis)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "reset_after": self.reset_after}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> GRU:
        """Create a layer from `get_config()`'s output."""
        return cls(**config)


class SimpleRNN(_RNN):
    """Keras's fully-connected RNN, `h = activation(x @ kernel + h @ recurrent_kernel + bias)`,
    on `(batch, time, features)` inputs.

    The fused kernel (torch's `RNN`, cuDNN on GPU) runs for `activation="tanh"` or
    `"relu"` without a mask or recurrent dropout; otherwise the step loop. Call with
    `initial_state=h` and/or `mask=` `(batch, time)`.

    Example:
        >>> layer = SimpleRNN(4, return_sequences=True)
        >>> layer(torch.zeros(2, 7, 3)).shape
        torch.Size([2, 7, 4])
        >>> [w.shape for w in layer.get_keras_weights()]
        [(3, 4), (4, 4), (4,)]
    """

    _gates = 1
    _n_states = 1

    def __init__(
        self,
        units: int,
        activation: str | Callable[..., Any] | None = "tanh",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        seed: int | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(
            units, activation, None, use_bias, kernel_initializer,
            recurrent_initializer, bias_initializer, kernel_regularizer, recurrent_regularizer,
            bias_regularizer, activity_regularizer, kernel_constraint, recurrent_constraint,
            bias_constraint, dropout, recurrent_dropout, seed, return_sequences, return_state,
            go_backwards, stateful, unroll, "auto", name,
        )

    def _fusable(self) -> bool:
        return self.activation in (activations.tanh, activations.relu)

    def _fused(self, x: Tensor, states: _States) -> tuple[Tensor, _States]:
        weights: list[Tensor] = [self.weight_ih, self.weight_hh]
        if self.bias is not None:
            weights += [self.bias, torch.zeros_like(self.bias)]  # Keras has one bias
        kernel = _VF.rnn_tanh if self.activation is activations.tanh else _VF.rnn_relu
        outputs, h = kernel(x, states[0].unsqueeze(0), weights, self.bias is not None, 1, 0.0,
                            self.training, False, True)
        return outputs, [h[0]]

    def _step(
        self, xw: Tensor, states: _States, rec_masks: list[Tensor] | None
    ) -> tuple[Tensor, _States]:
        (h,) = states
        h = self.activation(xw + self._recurrent(h, slice(None), rec_masks, range(1)))
        return h, [h]

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["recurrent_activation"], config["use_cudnn"]
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SimpleRNN:
        """Create a layer from `get_config()`'s output."""
        return cls(**config)
