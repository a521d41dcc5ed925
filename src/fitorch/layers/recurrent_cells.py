"""Keras's RNN cells, `SimpleRNNCell`, `LSTMCell` and `GRUCell`: one time step of
the recurrent layers, and the math and weights those layers run on.

A cell computes one step, `cell(inputs (batch, features), states) -> (output,
new_states)`; `RNN(cell)` runs it over `(batch, time, features)`, and `LSTM`,
`GRU` and `SimpleRNN` are `RNN` with their cell. Parameters are kept in
PyTorch's layout so that torch's fused RNN kernels (cuDNN on GPU) can run a
whole sequence: `weight_ih` `(gates * units, features)`, `weight_hh` `(gates *
units, units)`, in PyTorch's gate order (LSTM `i, f, g, o`, the same as Keras's;
GRU `r, z, n`, where Keras has `z, r, h`). Keras's single LSTM bias is one `(4 *
units,)` parameter (torch's second bias is fed zeros), and the GRU bias is
Keras's `(2, 3 * units)` input/recurrent pair (`reset_after=True`, exactly
torch's GRU) or `(3 * units,)`. `get_keras_weights()` / `set_keras_weights()`
convert to and from Keras's `kernel`, `recurrent_kernel` and `bias`.

Dropout follows Keras's `DropoutRNNCell`: a mask is drawn at the first step of
a sequence and reused for every step (`get_dropout_mask()`); `RNN` clears it
after the sequence (`reset_dropout_mask()`). With `recurrent_dropout`, LSTM and
GRU draw one mask per gate (Keras's `implementation=1`).

Example:
    >>> import torch
    >>> from fitorch.layers import LSTMCell
    >>> cell = LSTMCell(4)
    >>> out, (h, c) = cell(torch.zeros(2, 3), cell.get_initial_state(batch_size=2))
    >>> out.shape, cell.state_size
    (torch.Size([2, 4]), [4, 4])
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

__all__ = ["GRUCell", "LSTMCell", "SimpleRNNCell"]

States = list[Tensor]


def check_rate(value: Any, name: str) -> float:
    """A dropout rate as Keras takes it: a number, clipped to [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(
            f"Argument `{name}` must be a float in [0, 1]. "
            f"Received: {name}={value!r} (of type {type(value).__name__})"
        )
    return min(1.0, max(0.0, float(value)))


def check_units(units: Any) -> int:
    if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
        raise ValueError(
            "Received an invalid value for argument `units`, expected a positive integer. "
            f"Received: units={units!r} (of type {type(units).__name__})"
        )
    return units


class _Cell(LayerAPI, LazyModuleMixin, nn.Module):
    """Shared body of the three cells: weights, dropout masks, one step, a whole sequence."""

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
        kernel_constraint: Any,
        recurrent_constraint: Any,
        bias_constraint: Any,
        dropout: float,
        recurrent_dropout: float,
        seed: int | None,
        name: str | None,
    ) -> None:
        check_units(units)
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
        self.kernel_constraint = constraints.get(kernel_constraint, arg_name="kernel_constraint")
        self.recurrent_constraint = constraints.get(
            recurrent_constraint, arg_name="recurrent_constraint"
        )
        self.bias_constraint = constraints.get(bias_constraint, arg_name="bias_constraint")
        self.dropout = check_rate(dropout, "dropout")
        self.recurrent_dropout = check_rate(recurrent_dropout, "recurrent_dropout")
        self.seed = seed
        self._generators: dict[torch.device, torch.Generator] = {}
        self._dropout_mask: list[Tensor] | None = None
        self._recurrent_dropout_mask: list[Tensor] | None = None

        self.in_features = 0
        self.weight_ih = cast(nn.Parameter, UninitializedParameter())
        self.weight_hh = cast(nn.Parameter, UninitializedParameter())
        if self.use_bias:
            self.bias = cast(nn.Parameter, UninitializedParameter())
        else:
            self.register_parameter("bias", None)

    # --- Keras's cell attributes ----------------------------------------------------

    @property
    def state_size(self) -> int | list[int]:
        """The size of each state: `units` (SimpleRNN, GRU) or `[units, units]` (LSTM)."""
        return self.units if self._n_states == 1 else [self.units] * self._n_states

    @property
    def output_size(self) -> int:
        """The size of each step's output, `units`."""
        return self.units

    def get_initial_state(self, batch_size: int | None = None) -> list[Tensor]:
        """Zero states, `[(batch_size, units)] * n_states`, on the cell's device and dtype.

        Example:
            >>> [s.shape for s in LSTMCell(3).get_initial_state(batch_size=2)]
            [torch.Size([2, 3]), torch.Size([2, 3])]
        """
        like = self.weight_hh if self.built else torch.empty(0)
        return [like.new_zeros((batch_size or 1, self.units)) for _ in range(self._n_states)]

    # --- building --------------------------------------------------------------------

    @property
    def built(self) -> bool:
        """Whether the parameters exist (after `build` or the first call)."""
        return not self.has_uninitialized_params()

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Create and initialise the parameters for step inputs `(batch, features)`.

        Example:
            >>> cell = LSTMCell(4)
            >>> cell.build((None, 3))
            >>> cell.weight_ih.shape, cell.weight_hh.shape, cell.bias.shape
            (torch.Size([16, 3]), torch.Size([16, 4]), torch.Size([16]))
        """
        if not self.has_uninitialized_params():
            return
        features = input_shape[-1] if len(input_shape) >= 2 else None
        if not isinstance(features, int) or features <= 0:
            raise ValueError(
                f'Cell "{self.name}" needs step inputs (batch, features) with a known number of '
                f"features. Received: input_shape={tuple(input_shape)} "
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
        else:  # materialised by load_state_dict, or built by its RNN
            self.in_features = self.weight_ih.shape[1]

    def ensure_built(self, features: int) -> int:
        """Build for `features` input features if needed; returns the built input size."""
        if not self.built:
            self.build((None, features))
        elif not self.in_features:
            self.in_features = self.weight_ih.shape[1]
        return self.in_features

    # --- dropout masks (Keras's DropoutRNNCell) ------------------------------------

    def _mask_count(self) -> int:
        # Keras's implementation 1 (one mask per gate) whenever recurrent dropout is set.
        return self._gates if self.recurrent_dropout != 0.0 and self._gates > 1 else 1

    def _draw(self, like: Tensor, rate: float) -> list[Tensor]:
        generator = None
        if self.seed is not None:
            generator = self._generators.get(like.device)
            if generator is None:
                generator = torch.Generator(device=like.device).manual_seed(self.seed)
                self._generators[like.device] = generator
        keep = 1.0 - rate
        masks = []
        for _ in range(self._mask_count()):
            mask = torch.empty(like.shape, dtype=like.dtype, device=like.device)
            masks.append(mask.bernoulli_(keep, generator=generator).div_(keep))
        return masks

    def _input_masks(self, step_input: Tensor) -> list[Tensor]:
        if self._dropout_mask is None:
            self._dropout_mask = self._draw(step_input, self.dropout)
        return self._dropout_mask

    def _state_masks(self, state: Tensor) -> list[Tensor]:
        if self._recurrent_dropout_mask is None:
            self._recurrent_dropout_mask = self._draw(state, self.recurrent_dropout)
        return self._recurrent_dropout_mask

    def get_dropout_mask(self, step_input: Tensor) -> Tensor | list[Tensor] | None:
        """The input dropout mask of this sequence (drawn at the first call, then reused)."""
        if self.dropout <= 0:
            return None
        masks = self._input_masks(step_input)
        return masks if self._mask_count() > 1 else masks[0]

    def get_recurrent_dropout_mask(self, state: Tensor) -> Tensor | list[Tensor] | None:
        """The recurrent dropout mask of this sequence (drawn at the first call, then reused)."""
        if self.recurrent_dropout <= 0:
            return None
        masks = self._state_masks(state)
        return masks if self._mask_count() > 1 else masks[0]

    def reset_dropout_mask(self) -> None:
        """Forget the input dropout mask (`RNN` does after each sequence)."""
        self._dropout_mask = None

    def reset_recurrent_dropout_mask(self) -> None:
        """Forget the recurrent dropout mask (`RNN` does after each sequence)."""
        self._recurrent_dropout_mask = None

    def _masks(self, first_input: Tensor, state: Tensor, training: bool
               ) -> tuple[list[Tensor] | None, list[Tensor] | None]:
        """(input masks, recurrent masks) for a step in `training` mode, Keras's rules."""
        if not training:
            return None, None
        in_masks = self._input_masks(first_input) if 0.0 < self.dropout < 1.0 else None
        rec_masks = (self._state_masks(state)
                     if 0.0 < self.recurrent_dropout < 1.0 else None)
        return in_masks, rec_masks

    # --- one step ----------------------------------------------------------------------

    def forward(
        self,
        inputs: Tensor,
        states: Tensor | Sequence[Tensor],
        training: bool | None = None,
    ) -> tuple[Tensor, Any]:
        """One step: `inputs` `(batch, features)` and the states -> `(output, new_states)`.

        `states` is a list (as `get_initial_state()` gives) or, for one state, a tensor;
        the new states come back in the same form (LSTM: always a list).
        """
        as_list = not isinstance(states, Tensor)
        state_list = list(states) if as_list else [cast(Tensor, states)]
        if inputs.ndim != 2 or len(state_list) != self._n_states:
            raise ValueError(
                f'Cell "{self.name}" takes inputs (batch, features) and {self._n_states} '
                f"state tensor(s) (batch, units). Received: inputs.shape="
                f"{tuple(inputs.shape)}, {len(state_list)} states (of type "
                f"{type(states).__name__})"
            )
        if self.ensure_built(inputs.shape[-1]) != inputs.shape[-1]:
            raise ValueError(
                f'Input of cell "{self.name}" is incompatible with the cell: expected '
                f"(batch, {self.in_features}). "
                f"Received: inputs.shape={tuple(inputs.shape)} (of type {type(inputs).__name__})"
            )
        training = self.training if training is None else bool(training)
        in_masks, rec_masks = self._masks(inputs, state_list[0], training)
        xw = self._project_inputs(inputs, in_masks)
        out, new_states = self._step(xw, state_list, rec_masks)
        return out, (new_states if as_list or self._n_states > 1 else new_states[0])

    def _project_inputs(self, x: Tensor, in_masks: list[Tensor] | None) -> Tensor:
        """`x @ kernel + input bias`, for one step or (batch, time, features) at once;
        with one dropout mask per gate when given so (Keras's implementation 1)."""
        input_bias = self._input_bias()
        if in_masks is None or len(in_masks) == 1:
            xin = x if in_masks is None else x * _along(in_masks[0], x)
            return F.linear(xin, self.weight_ih, input_bias)
        u = self.units
        blocks = []
        for g, m in enumerate(in_masks):
            sl = slice(g * u, (g + 1) * u)
            b = None if input_bias is None else input_bias[sl]
            blocks.append(F.linear(x * _along(m, x), self.weight_ih[sl], b))
        return torch.cat(blocks, dim=-1)

    def _input_bias(self) -> Tensor | None:
        return self.bias

    def _step(
        self, xw: Tensor, states: States, rec_masks: list[Tensor] | None
    ) -> tuple[Tensor, States]:
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
            m = rec_masks[g] if len(rec_masks) > 1 else rec_masks[0]
            blocks.append(F.linear(h * m, self.weight_hh[sl],
                                   None if bias is None else bias[sl]))
        return torch.cat(blocks, dim=-1)

    # --- a whole sequence (what RNN runs) ----------------------------------------------

    def _default_activations(self) -> bool:
        return (
            self.activation is activations.tanh
            and self.recurrent_activation is activations.sigmoid
        )

    def fusable(self) -> bool:
        """Whether torch's fused kernel computes this cell (activations, GRU reset_after)."""
        return self._default_activations()

    def _fused(self, x: Tensor, states: States) -> tuple[Tensor, States]:
        raise NotImplementedError

    def run_sequence(
        self, x: Tensor, states: States, mask: Tensor | None, return_sequences: bool,
        use_fused: bool | str,
    ) -> tuple[Tensor, Tensor, States]:
        """Run `x` `(batch, time, features)` (already in processing order) from `states`;
        returns (every output or the last, the last output, the final states).

        `mask` `(batch, time)`: a masked step keeps the states and repeats the previous
        output (Keras). `use_fused`: "auto" uses torch's fused kernel whenever it
        computes Keras's function, True requires it, False never uses it.
        """
        training = self.training
        in_masks, rec_masks = self._masks(x[:, 0], states[0], training)
        try:
            if (self.fusable() and mask is None and rec_masks is None
                    and use_fused is not False):
                if in_masks is not None:
                    x = x * in_masks[0].unsqueeze(1)  # the same mask at every step, as Keras
                outputs, final = self._fused(x, states)
                return (outputs if return_sequences else final[0]), final[0], final
            return self._loop(x, states, mask, in_masks, rec_masks, return_sequences)
        finally:
            self.reset_dropout_mask()
            self.reset_recurrent_dropout_mask()

    def _loop(
        self,
        x: Tensor,
        states: States,
        mask: Tensor | None,
        in_masks: list[Tensor] | None,
        rec_masks: list[Tensor] | None,
        return_sequences: bool,
    ) -> tuple[Tensor, Tensor, States]:
        """Keras's step-by-step recurrence; returns (outputs or last, last, final states)."""
        projected = self._project_inputs(x, in_masks)  # every step at once
        prev = x.new_zeros((x.shape[0], self.units))  # Keras's output before the first step
        outputs: list[Tensor] = []
        for t in range(x.shape[1]):
            out, new_states = self._step(projected[:, t], states, rec_masks)
            if mask is not None:
                keep = mask[:, t].unsqueeze(1)
                out = torch.where(keep, out, prev)
                new_states = [torch.where(keep, n, s) for n, s in zip(new_states, states)]
            states, prev = new_states, out
            if return_sequences:
                outputs.append(out)
        seq = torch.stack(outputs, dim=1) if return_sequences else prev
        return seq, prev, states

    # --- Keras weights, regularization, constraints ----------------------------------

    def _to_keras_gates(self, a: np.ndarray, axis: int) -> np.ndarray:
        return a

    def get_keras_weights(self) -> list[np.ndarray]:
        """`[kernel (features, gates*units), recurrent_kernel (units, gates*units), bias]`.

        Example:
            >>> cell = GRUCell(4)
            >>> cell.build((None, 3))
            >>> [w.shape for w in cell.get_keras_weights()]
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
        """Load Keras's `[kernel, recurrent_kernel, bias]` (builds an unbuilt cell from them).

        Example:
            >>> cell = LSTMCell(2)
            >>> cell.set_keras_weights([np.zeros((3, 8)), np.zeros((2, 8)), np.zeros(8)])
            >>> cell.weight_ih.shape
            torch.Size([8, 3])
        """
        label = self.__dict__.get("_layer_name", self.name)  # LSTM's errors name the LSTM
        first = _first_shape(label, weights)
        if not self.built and first is not None and len(first) == 2:
            self.build((None, first[0]))
        _require_built(self, self.built, "set_keras_weights()")
        self.in_features = self.weight_ih.shape[1]
        gu = self._gates * self.units
        expected: list[tuple[str, tuple[int, ...]]] = [
            ("kernel", (self.in_features, gu)),
            ("recurrent_kernel", (self.units, gu)),
        ]
        if self.bias is not None:
            expected.append(("bias", self._bias_shape()))
        arrays = _check_keras_weights(label, weights, expected)
        # The gate permutation (GRU) is its own inverse.
        _assign(self.weight_ih, self._to_keras_gates(arrays[0].T, 0))
        _assign(self.weight_hh, self._to_keras_gates(arrays[1].T, 0))
        if self.bias is not None:
            _assign(self.bias, self._to_keras_gates(arrays[2], -1))

    def keras_param_counts(self) -> tuple[int, int]:
        """`(trainable, non_trainable)` parameter counts, as Keras's `count_params` splits them."""
        return _keras_param_counts(self)

    def regularization_losses(self) -> list[Tensor]:
        """Penalties in Keras's order: kernel, recurrent kernel, bias."""
        if not self.built:
            return []
        return _penalties([
            (self.kernel_regularizer, self.weight_ih),
            (self.recurrent_regularizer, self.weight_hh),
            (self.bias_regularizer, self.bias),
        ])

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
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": constraints.serialize(self.recurrent_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Any:
        """Create a cell from `get_config()`'s output."""
        return cls(**config)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, units={self.units}, in_features={self.in_features or None}"


def _along(mask: Tensor, x: Tensor) -> Tensor:
    """A `(batch, features)` mask shaped to multiply `x` (one step, or every step)."""
    return mask.unsqueeze(1) if x.ndim == 3 else mask


class LSTMCell(_Cell):
    """Keras's LSTM cell: one step of `LSTM`, for `RNN(LSTMCell(units))`.

    Keras's arguments and defaults; `unit_forget_bias=True` starts the forget
    gate's bias at 1. States `[h, c]`; the output is `h`.

    Example:
        >>> cell = LSTMCell(4)
        >>> h, (h2, c) = cell(torch.zeros(2, 3), [torch.zeros(2, 4), torch.zeros(2, 4)])
        >>> [w.shape for w in cell.get_keras_weights()]
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
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        name: str | None = None,
    ) -> None:
        self.unit_forget_bias = bool(unit_forget_bias)
        super().__init__(
            units, activation, recurrent_activation, use_bias, kernel_initializer,
            recurrent_initializer, bias_initializer, kernel_regularizer, recurrent_regularizer,
            bias_regularizer, kernel_constraint, recurrent_constraint, bias_constraint,
            dropout, recurrent_dropout, seed, name,
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

    def _fused(self, x: Tensor, states: States) -> tuple[Tensor, States]:
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
        self, xw: Tensor, states: States, rec_masks: list[Tensor] | None
    ) -> tuple[Tensor, States]:
        h, c = states
        z = xw + self._recurrent(h, slice(None), rec_masks, range(4))
        i, f, g, o = z.chunk(4, dim=1)
        act, rec = self.activation, self.recurrent_activation
        c = rec(f) * c + rec(i) * act(g)
        h = rec(o) * act(c)
        return h, [h, c]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


class GRUCell(_Cell):
    """Keras's GRU cell: one step of `GRU`, for `RNN(GRUCell(units))`.

    Keras 3's defaults, including `reset_after=True` (the reset gate applies
    after the recurrent matmul, with a separate recurrent bias: PyTorch's GRU);
    `reset_after=False` is Keras 2's original GRU.

    Example:
        >>> cell = GRUCell(4)
        >>> out, h = cell(torch.zeros(2, 3), torch.zeros(2, 4))
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
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        reset_after: bool = True,
        seed: int | None = None,
        name: str | None = None,
    ) -> None:
        self.reset_after = bool(reset_after)
        super().__init__(
            units, activation, recurrent_activation, use_bias, kernel_initializer,
            recurrent_initializer, bias_initializer, kernel_regularizer, recurrent_regularizer,
            bias_regularizer, kernel_constraint, recurrent_constraint, bias_constraint,
            dropout, recurrent_dropout, seed, name,
        )

    def _bias_shape(self) -> tuple[int, ...]:
        # reset_after: Keras's (input bias, recurrent bias) pair, torch's b_ih and b_hh.
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _init_bias(self, bias: Tensor) -> None:
        fan_in, fan_out = (bias.shape[0], bias.shape[-1])
        if bias.ndim == 1:
            fan_in = fan_out
        initializers.apply_initializer(self.bias_initializer, bias, fan_in=fan_in, fan_out=fan_out)

    def fusable(self) -> bool:
        return self.reset_after and self._default_activations()

    def _input_bias(self) -> Tensor | None:
        if self.bias is None:
            return None
        return self.bias[0] if self.reset_after else self.bias

    def _fused(self, x: Tensor, states: States) -> tuple[Tensor, States]:
        weights: list[Tensor] = [self.weight_ih, self.weight_hh]
        if self.bias is not None:
            weights += [self.bias[0], self.bias[1]]
        outputs, h = _VF.gru(x, states[0].unsqueeze(0), weights, self.bias is not None, 1, 0.0,
                             self.training, False, True)
        return outputs, [h[0]]

    def _step(
        self, xw: Tensor, states: States, rec_masks: list[Tensor] | None
    ) -> tuple[Tensor, States]:
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


class SimpleRNNCell(_Cell):
    """Keras's fully-connected RNN cell, `h = activation(x @ kernel + h @ recurrent_kernel
    + bias)`: one step of `SimpleRNN`, for `RNN(SimpleRNNCell(units))`.

    Example:
        >>> cell = SimpleRNNCell(4)
        >>> out, [h] = cell(torch.zeros(2, 3), cell.get_initial_state(batch_size=2))
        >>> [w.shape for w in cell.get_keras_weights()]
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
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(
            units, activation, None, use_bias, kernel_initializer,
            recurrent_initializer, bias_initializer, kernel_regularizer, recurrent_regularizer,
            bias_regularizer, kernel_constraint, recurrent_constraint, bias_constraint,
            dropout, recurrent_dropout, seed, name,
        )

    def fusable(self) -> bool:
        return self.activation in (activations.tanh, activations.relu)

    def _fused(self, x: Tensor, states: States) -> tuple[Tensor, States]:
        weights: list[Tensor] = [self.weight_ih, self.weight_hh]
        if self.bias is not None:
            weights += [self.bias, torch.zeros_like(self.bias)]  # Keras has one bias
        kernel = _VF.rnn_tanh if self.activation is activations.tanh else _VF.rnn_relu
        outputs, h = kernel(x, states[0].unsqueeze(0), weights, self.bias is not None, 1, 0.0,
                            self.training, False, True)
        return outputs, [h[0]]

    def _step(
        self, xw: Tensor, states: States, rec_masks: list[Tensor] | None
    ) -> tuple[Tensor, States]:
        (h,) = states
        h = self.activation(xw + self._recurrent(h, slice(None), rec_masks, range(1)))
        return h, [h]

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["recurrent_activation"]
        return config
