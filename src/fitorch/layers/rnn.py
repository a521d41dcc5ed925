"""Keras's `RNN(cell)` layer and `StackedRNNCells`: a cell run over `(batch, time, ...)`.

`RNN` is the loop of every recurrent layer (`LSTM`, `GRU` and `SimpleRNN` are
`RNN` with their cell). The cell is one of fitorch's (`LSTMCell`, `GRUCell`,
`SimpleRNNCell`), a list or `StackedRNNCells` of cells, or any `nn.Module`
written as Keras's guide writes one: a `state_size` attribute (an int, or a
list with one int or shape per state), optionally `output_size` and
`get_initial_state(batch_size)`, and `forward(inputs, states)` (or Keras's
`call(inputs, states)`) returning `(output, new_states)`; a Keras-style
`build(input_shape)` is called once with the step's input shape.

fitorch's own cells run a whole sequence at once: the input projection for
every step in one matmul, and torch's fused kernel (cuDNN on GPU) whenever it
computes Keras's function; stacked fitorch cells run one after the other over
the whole sequence, which gives Keras's stacked step exactly (masked steps
included). Other cells run step by step, with Keras's masking rules: a masked
step keeps the states and repeats the previous output (zeros with
`zero_output_for_mask=True`).

`stateful=True` keeps the final states of each call as the next call's
initial states (`layer.states`, detached: gradients stop at the batch boundary,
as Keras's state variables stop them); nothing resets them between batches or
epochs, as in Keras 3, until `reset_state()` / `reset_states()`. The batch size
of the first call is then fixed, and a call with another batch size is an
error. Shape-finding runs on example inputs (functional models, `Input` in a
`Sequential`, `summary()`) neither read nor move the states.

`unroll` is accepted for Keras code and changes nothing: PyTorch runs the loop
eagerly, one step after the other, which is what unrolling produces (and
`torch.compile` traces it unrolled).

Example:
    >>> import torch
    >>> from fitorch.layers import RNN, GRUCell, LSTMCell
    >>> RNN(LSTMCell(8))(torch.zeros(2, 5, 3)).shape
    torch.Size([2, 8])
    >>> out, [h1, c1], [h2] = RNN([LSTMCell(8), GRUCell(4)], return_state=True)(
    ...     torch.zeros(2, 5, 3))
    >>> out.shape, h2.shape
    (torch.Size([2, 4]), torch.Size([2, 4]))
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor, nn

from fitorch import nest, regularizers
from fitorch.layers.core import _check_keras_weights, _keras_param_counts, _resolve_name
from fitorch.layers.layer_api import LayerAPI
from fitorch.layers.recurrent_cells import _Cell
from fitorch.modes import in_example_run

__all__ = ["RNN", "StackedRNNCells"]


def _check_cell(cell: Any, what: str) -> None:
    if not isinstance(cell, nn.Module) or getattr(cell, "state_size", None) is None or (
            type(cell).forward is nn.Module.forward and not callable(getattr(cell, "call", None))):
        raise ValueError(
            f"{what} must be a torch.nn.Module with a `state_size` attribute and a "
            "`forward(inputs, states)` (or Keras's `call(inputs, states)`) method returning "
            f"`(output, new_states)`. Received: cell={cell!r} (of type {type(cell).__name__})"
        )


def _takes_training(fn: Callable[..., Any]) -> bool:
    try:
        return "training" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _call_cell(cell: nn.Module, inputs: Any, states: Any, training: bool) -> tuple[Any, Any]:
    """`cell(inputs, states)` through `forward` (hooks included) or Keras's `call`."""
    own_forward = type(cell).forward is not nn.Module.forward
    fn: Callable[..., Any] = cell.forward if own_forward else getattr(cell, "call")  # noqa: B009
    kwargs = {"training": training} if _takes_training(fn) else {}
    result = cell(inputs, states, **kwargs) if own_forward else fn(inputs, states, **kwargs)
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise ValueError(
            f"The cell {type(cell).__name__} must return `(output, new_states)`. "
            f"Received: {nest.describe(result)} (of type {type(result).__name__})"
        )
    return result[0], result[1]


def _output_size(cell: Any) -> Any:
    size = getattr(cell, "output_size", None)
    if size is not None:
        return size
    state_size = cell.state_size
    return state_size[0] if isinstance(state_size, (list, tuple)) else state_size


def _build_cell(cell: nn.Module, step_shape: tuple[int | None, ...]) -> None:
    """Keras's `cell.build(step_input_shape)`, once, for cells that define `build`."""
    if isinstance(cell, (_Cell, StackedRNNCells)):
        cell.build(step_shape)
        return
    build = getattr(cell, "build", None)
    if callable(build) and not cell.__dict__.get("_fitorch_rnn_built", False):
        build(step_shape)
        cell.__dict__["_fitorch_rnn_built"] = True


def _zeros(size: Any, batch: int, like: Tensor) -> Tensor:
    dims = (size,) if isinstance(size, int) else tuple(size)
    return like.new_zeros((batch, *dims))


def _initial_state_of(cell: Any, batch: int, like: Tensor) -> Any:
    """The cell's `get_initial_state(batch_size)`, or zeros of its `state_size`."""
    getter = getattr(cell, "get_initial_state", None)
    if callable(getter):
        state = getter(batch_size=batch)
        return nest.map_structure(lambda t: t.to(device=like.device, dtype=like.dtype), state)
    size = cell.state_size
    if isinstance(size, (list, tuple)) and not _is_shape(size):
        return [_zeros(s, batch, like) for s in size]
    return _zeros(size, batch, like)


def _first_parameter(module: nn.Module) -> Tensor:
    """A materialised parameter (for the states' device and dtype), or an empty CPU tensor."""
    first = next((p for p in module.parameters()
                  if not isinstance(p, nn.parameter.UninitializedParameter)), None)
    return first if first is not None else torch.empty(0)


def _is_shape(size: Any) -> bool:
    return isinstance(size, torch.Size)


def _as_list(states: Any) -> list[Any]:
    return list(states) if isinstance(states, (list, tuple)) else [states]


class StackedRNNCells(LayerAPI, nn.Module):
    """Cells applied one after the other at each step (`RNN([cell_1, cell_2])` makes one).

    The states are one entry per cell; the output is the last cell's.

    Example:
        >>> from fitorch.layers import GRUCell, LSTMCell
        >>> cells = StackedRNNCells([LSTMCell(8), GRUCell(4)])
        >>> cells.state_size, cells.output_size
        ([[8, 8], 4], 4)
    """

    # `.weights.h5` keeps each cell's variables in a group of its own (`cells/<cell>`).
    keras_sublayers = True

    def __init__(self, cells: Sequence[nn.Module], name: str | None = None) -> None:
        if isinstance(cells, nn.Module) or not isinstance(cells, (list, tuple)) or not cells:
            raise ValueError(
                "StackedRNNCells takes a non-empty list of cells. "
                f"Received: cells={cells!r} (of type {type(cells).__name__})"
            )
        for cell in cells:
            _check_cell(cell, "Every cell of StackedRNNCells")
        super().__init__()
        self.name = _resolve_name(name, type(self))
        self.cells = nn.ModuleList(cells)

    @property
    def state_size(self) -> list[Any]:
        """Each cell's `state_size`, in order."""
        return [c.state_size for c in self.cells]

    @property
    def output_size(self) -> Any:
        """The last cell's output size."""
        return _output_size(self.cells[-1])

    @property
    def built(self) -> bool:
        """Whether every fitorch cell has its parameters."""
        return all(not isinstance(c, _Cell) or c.built for c in self.cells)

    def get_initial_state(self, batch_size: int | None = None) -> list[Any]:
        """Each cell's initial states."""
        like = _first_parameter(self)
        return [_initial_state_of(c, batch_size or 1, like) for c in self.cells]

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Build each cell on the previous one's output size (Keras)."""
        shape = tuple(input_shape)
        for cell in self.cells:
            _build_cell(cell, shape)
            size = _output_size(cell)
            shape = (shape[0], *((size,) if isinstance(size, int) else tuple(size)))

    def forward(self, inputs: Any, states: Sequence[Any], training: bool | None = None
                ) -> tuple[Any, list[Any]]:
        """One step of every cell: `(output of the last cell, [new states of each cell])`."""
        training = self.training if training is None else bool(training)
        states = _as_list(states)
        if len(states) != len(self.cells):
            raise ValueError(
                f'StackedRNNCells "{self.name}" takes one state entry per cell '
                f"({len(self.cells)}). Received: {len(states)} entries "
                f"(of type {type(states).__name__})"
            )
        new_states = []
        for cell, cell_states in zip(self.cells, states):
            inputs, new = _call_cell(cell, inputs, cell_states, training)
            if isinstance(cell_states, Tensor) and isinstance(new, (list, tuple)) \
                    and len(new) == 1:
                new = new[0]  # a single state given as a tensor comes back as one
            new_states.append(new)
        return inputs, new_states

    def run_sequence(self, x: Tensor, states: list[Any], mask: Tensor | None,
                     return_sequences: bool) -> tuple[Tensor, Tensor, list[Any]]:
        """fitorch cells only: each cell over the whole sequence, then the next."""
        finals: list[Any] = []
        last = x
        for i, cell in enumerate(cast(Sequence[_Cell], self.cells)):
            keep_all = return_sequences or i < len(self.cells) - 1
            given = states[i]
            x, last, final = cell.run_sequence(x, _as_list(given), mask, keep_all, "auto")
            finals.append(final[0] if isinstance(given, Tensor) else final)
        return x, last, finals

    def get_keras_weights(self) -> list[np.ndarray]:
        """Every cell's weights in Keras's order and layout."""
        return [w for c in self.cells for w in getattr(c, "get_keras_weights")()]  # noqa: B009

    def set_keras_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Load every cell's weights, given in Keras's order and layout."""
        if isinstance(weights, (str, bytes)) or not isinstance(weights, Sequence):
            raise TypeError(
                f'StackedRNNCells "{self.name}" expects a list of NumPy arrays. '
                f"Received: weights={weights!r} (of type {type(weights).__name__})"
            )
        weights = list(weights)
        start = 0
        for cell in self.cells:
            count = len(getattr(cell, "get_keras_weights")()) if getattr(  # noqa: B009
                cell, "built", False) else (3 if getattr(cell, "use_bias", True) else 2)
            getattr(cell, "set_keras_weights")(weights[start:start + count])  # noqa: B009
            start += count
        if start != len(weights):
            raise ValueError(
                f'StackedRNNCells "{self.name}" holds {start} weights. '
                f"Received: {len(weights)} arrays"
            )

    def keras_param_counts(self) -> tuple[int, int]:
        """`(trainable, non_trainable)` of every cell."""
        counts = [getattr(c, "keras_param_counts")()  # noqa: B009
                  if callable(getattr(c, "keras_param_counts", None))
                  else _keras_param_counts(c) for c in self.cells]
        return sum(t for t, _ in counts), sum(n for _, n in counts)

    def get_config(self) -> dict[str, Any]:
        """The name and each cell's `{"class_name", "config"}`."""
        from fitorch.saving.serialization import layer_config

        return {"name": self.name, "cells": [layer_config(c) for c in self.cells]}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> StackedRNNCells:
        """Create the cells from `get_config()`'s output."""
        from fitorch.saving.serialization import layer_class

        config = dict(config)
        cells = []
        for entry in config.pop("cells"):
            cell_cls: Any = layer_class(entry.get("class_name"))
            cells.append(cell_cls.from_config(dict(entry.get("config", {}))))
        return cls(cells, **config)

    def extra_repr(self) -> str:
        return f"name={self.name!r}"


def _keys_before_cells(state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
    """Files saved before the recurrent layers held a cell name the weights
    `<layer>.weight_ih`; they are the cell's (`<layer>.cell.weight_ih`) now."""
    for old in [k for k in state_dict if k.startswith(prefix) and "." not in k[len(prefix):]]:
        name = old[len(prefix):]
        if name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "bias"):
            state_dict.setdefault(f"{prefix}cell.{name}", state_dict.pop(old))


class RNN(LayerAPI, nn.Module):
    """Keras's base recurrent layer: `cell` run over `(batch, time, features)` inputs.

    Keras's arguments and defaults. Call with `initial_state=` (a list of states,
    one entry per state; per cell for stacked cells) and/or `mask=` `(batch, time)`
    (or a mask left by `Embedding(mask_zero=True)` / `Masking`). Returns the last
    output, every output with `return_sequences=True` (in processing order with
    `go_backwards`), and with `return_state=True` the tuple `(output, *final_states)`.

    Example:
        >>> from fitorch.layers import SimpleRNNCell
        >>> layer = RNN(SimpleRNNCell(4), return_sequences=True, stateful=True)
        >>> layer(torch.zeros(2, 5, 3)).shape
        torch.Size([2, 5, 4])
        >>> [s.shape for s in layer.states]
        [torch.Size([2, 4])]
        >>> layer.reset_state()
    """

    states: list[Any] | None
    _use_cudnn: bool | str = "auto"

    def __init__(
        self,
        cell: nn.Module | Sequence[nn.Module],
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        zero_output_for_mask: bool = False,
        activity_regularizer: Any = None,
        name: str | None = None,
    ) -> None:
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(list(cell))
        _check_cell(cell, "The `cell` of an RNN")
        super().__init__()
        self.name = _resolve_name(name, type(self))
        self.cell = cast(nn.Module, cell)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)  # see the module docstring: the loop is always unrolled
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.activity_regularizer = regularizers.get(
            activity_regularizer, arg_name="activity_regularizer"
        )
        self._activity_losses: list[Tensor] = []
        self.states = None
        self._expected_batch_size: int | None = None
        self._training_arg: bool | None = None
        self._register_load_state_dict_pre_hook(_keys_before_cells)

    # --- Keras's attributes ----------------------------------------------------------

    @property
    def state_size(self) -> list[Any]:
        """One entry per state (Keras: the cell's `state_size` as a list)."""
        size = self.cell.state_size
        return list(size) if isinstance(size, (list, tuple)) and not _is_shape(size) \
            else [size]

    @property
    def built(self) -> bool:
        """Whether the cell's parameters exist."""
        return bool(getattr(self.cell, "built", True))

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Build the cell for inputs `(batch, time, features)`.

        Example:
            >>> from fitorch.layers import GRUCell
            >>> layer = RNN(GRUCell(4))
            >>> layer.build((None, 10, 3))
            >>> layer.cell.weight_ih.shape
            torch.Size([12, 3])
        """
        shape = tuple(input_shape)
        if len(shape) < 3 or (self._native() and not isinstance(shape[-1], int)):
            raise ValueError(
                f'Layer "{self.name}" needs inputs of rank 3 (batch, time, features) with a '
                f"known number of features. Received: input_shape={shape} "
                f"(of type {type(input_shape).__name__})"
            )
        _build_cell(self.cell, (shape[0], *shape[2:]))

    @property
    def keras_vars_path(self) -> str:
        """Where Keras keeps the variables, relative to this layer: the cell's group."""
        return "cell"

    @property
    def keras_sublayers(self) -> bool:
        """Stacked cells keep their variables in one group per cell (`cell/cells/<name>`)."""
        return isinstance(self.cell, StackedRNNCells)

    def get_initial_state(self, batch_size: int) -> list[Any]:
        """The states a call starts from without `initial_state` (zeros, or the cell's)."""
        like = _first_parameter(self)
        state = _initial_state_of(self.cell, batch_size, like)
        return _as_list(state) if not isinstance(self.cell, StackedRNNCells) else list(state)

    def reset_state(self) -> None:
        """Set the states of a stateful layer back to zeros (Keras 3's name)."""
        if self.states is not None:
            self.states = nest.map_structure(torch.zeros_like, self.states)

    def reset_states(self) -> None:
        """Alias of `reset_state()` (Keras 2's name, kept by Keras 3)."""
        self.reset_state()

    # --- forward ---------------------------------------------------------------------

    def _native(self) -> bool:
        """Whether fitorch's whole-sequence path runs the cell (fitorch cells only)."""
        cell = self.cell
        if isinstance(cell, StackedRNNCells):
            return all(isinstance(c, _Cell) for c in cell.cells)
        return isinstance(cell, _Cell)

    def forward(
        self,
        inputs: Tensor,
        initial_state: Any = None,
        mask: Tensor | None = None,
    ) -> Any:
        """Run the layer; `mask` `(batch, time)` marks the steps to use (Keras's masking).

        Without `mask`, a mask left on `inputs` by `Embedding(mask_zero=True)` is used.
        NumPy arrays are taken as Keras's layers take them.
        """
        if isinstance(inputs, np.ndarray):
            inputs = torch.from_numpy(inputs)
        if initial_state is not None:
            initial_state = nest.map_structure(
                lambda s: torch.from_numpy(s) if isinstance(s, np.ndarray) else s, initial_state)
        native = self._native()
        if not isinstance(inputs, Tensor) or inputs.ndim < 3 or (native and inputs.ndim != 3):
            shape = tuple(inputs.shape) if isinstance(inputs, Tensor) else None
            raise ValueError(
                f'Input of layer "{self.name}" is incompatible with the layer: expected one '
                "tensor of rank 3 (batch, time, features). "
                f"Received: inputs.shape={shape} (of type {type(inputs).__name__})"
            )
        if native:
            first = cast(_Cell, self.cell.cells[0] if isinstance(self.cell, StackedRNNCells)
                         else self.cell)
            if not first.built:
                self.build(tuple(inputs.shape))
            expected = first.ensure_built(inputs.shape[-1])
            if expected != inputs.shape[-1]:
                raise ValueError(
                    f'Input of layer "{self.name}" is incompatible with the layer: expected '
                    f"rank 3 (batch, time, features) with {expected} features. "
                    f"Received: inputs.shape={tuple(inputs.shape)} "
                    f"(of type {type(inputs).__name__})"
                )
        else:
            self.build(tuple(inputs.shape))
        if mask is None:
            mask = getattr(inputs, "_keras_mask", None)
        if mask is not None:
            mask = self._check_mask(mask, inputs)
        example = in_example_run()
        states = self._starting_states(inputs, initial_state, example)

        x, step_mask = inputs, mask
        if self.go_backwards:
            x = x.flip(1)
            step_mask = None if mask is None else mask.flip(1)
        if native:
            outputs, last, final = self._run_native(x, states, step_mask)
        else:
            outputs, last, final = self._run_steps(x, states, step_mask)
        if self.zero_output_for_mask and step_mask is not None:
            keep = step_mask.unsqueeze(-1)
            outputs = outputs.masked_fill(~keep, 0.0) if self.return_sequences else outputs
            last = last.masked_fill(~keep[:, -1], 0.0)
            outputs = outputs if self.return_sequences else last
        if self.stateful and not example:
            self.states = nest.map_structure(lambda t: t.detach(), list(final))
            if self._expected_batch_size is None:
                self._expected_batch_size = inputs.shape[0]

        output = outputs if self.return_sequences else last
        if self.return_sequences and mask is not None:
            output._keras_mask = mask  # type: ignore[attr-defined]
        results = (output, *final) if self.return_state else (output,)
        if self.activity_regularizer is not None:
            # Keras regularizes every output, each divided by its batch size.
            batch = output.shape[0]
            self._activity_losses = [
                self.activity_regularizer(t) / batch if batch else self.activity_regularizer(t) * 0
                for t in nest.flatten(results)
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

    def _starting_states(self, inputs: Tensor, initial_state: Any, example: bool) -> list[Any]:
        batch = inputs.shape[0]
        if self.stateful and not example and self._expected_batch_size is not None \
                and batch != self._expected_batch_size:
            raise ValueError(
                f'Layer "{self.name}" is stateful: sample i of a batch continues sample i of '
                "the previous batch, so every batch must have the batch size of the first "
                f"one ({self._expected_batch_size}); call `reset_state()` after changing it "
                "is not enough, make the data's size a multiple of the batch size or drop "
                f"the last partial batch. Received: inputs.shape={tuple(inputs.shape)} "
                f"(of type {type(inputs).__name__})"
            )
        if initial_state is None:
            if self.stateful and not example and self.states is not None:
                # States kept under inference mode are inference tensors: copy them
                # before a training step saves them for backward.
                return nest.map_structure(
                    lambda t: t.to(device=inputs.device, dtype=inputs.dtype).clone()
                    if t.is_inference() and not torch.is_inference_mode_enabled()
                    else t.to(device=inputs.device, dtype=inputs.dtype), list(self.states))
            return self.get_initial_state(batch)
        given = _as_list(initial_state)
        expected = self.state_size
        if len(given) != len(expected) or not all(
                isinstance(t, Tensor) and t.shape[0] == batch for t in nest.flatten(given)):
            raise ValueError(
                f'Layer "{self.name}" expects `initial_state` as {len(expected)} state(s) '
                f"{expected} for a batch of {batch}. "
                f"Received: initial_state={nest.describe(initial_state)} "
                f"(of type {type(initial_state).__name__})"
            )
        if self._native():
            self._check_native_states(given, batch)
        return nest.map_structure(lambda t: t.to(inputs.dtype), given)

    def _check_native_states(self, given: list[Any], batch: int) -> None:
        cells = self.cell.cells if isinstance(self.cell, StackedRNNCells) else [self.cell]
        per_cell = given if isinstance(self.cell, StackedRNNCells) else [given]
        for cell, states in zip(cells, per_cell):
            states = _as_list(states)
            if len(states) != cell._n_states or not all(
                    tuple(s.shape) == (batch, cell.units) for s in states):
                shapes = [tuple(s.shape) for s in states]
                raise ValueError(
                    f'Layer "{self.name}" expects `initial_state` as {cell._n_states} tensor(s) '
                    f"of shape (batch, units) = {(batch, cell.units)}. "
                    f"Received: initial_state shapes={shapes} (of type list)"
                )

    def _run_native(self, x: Tensor, states: list[Any], mask: Tensor | None
                    ) -> tuple[Tensor, Tensor, list[Any]]:
        if isinstance(self.cell, StackedRNNCells):
            return self.cell.run_sequence(x, states, mask, self.return_sequences)
        cell = cast(_Cell, self.cell)
        needs_loop = not cell.fusable() or mask is not None or (
            self.training and 0.0 < cell.recurrent_dropout < 1.0)
        if self._use_cudnn is True and needs_loop:
            raise ValueError(
                f'Layer "{self.name}" was given use_cudnn=True, but its configuration needs '
                "the step-by-step loop (non-default activations, a mask, recurrent dropout "
                "or GRU reset_after=False). Use use_cudnn='auto'. "
                f"Received: use_cudnn={self._use_cudnn!r} (of type bool)"
            )
        return cell.run_sequence(x, states, mask, self.return_sequences, self._use_cudnn)

    def _run_steps(self, x: Tensor, states: list[Any], mask: Tensor | None
                   ) -> tuple[Tensor, Tensor, list[Any]]:
        """Keras's loop for any cell: `cell(x_t, states)` at every step."""
        cell, training = self.cell, self.training
        prev: Tensor | None = None
        outputs: list[Tensor] = []
        try:
            for t in range(x.shape[1]):
                out, new = _call_cell(cell, x[:, t], tuple(states), training)
                new = _as_list(new)
                if mask is not None:
                    keep = mask[:, t]
                    if prev is None:
                        prev = torch.zeros_like(out)
                    out = torch.where(_expand(keep, out), out, prev)
                    flat = [torch.where(_expand(keep, n), n, o)
                            for n, o in zip(nest.flatten(new), nest.flatten(states))]
                    new = nest.pack_as(new, flat)
                states, prev = new, out
                if self.return_sequences:
                    outputs.append(out)
        finally:
            _reset_dropout(cell)
        if prev is None:
            raise ValueError(
                f'Layer "{self.name}" needs at least one time step. '
                f"Received: inputs.shape={tuple(x.shape)} (of type Tensor)"
            )
        seq = torch.stack(outputs, dim=1) if self.return_sequences else prev
        return seq, prev, states

    # --- Keras weights, regularization, config ------------------------------------------

    def get_keras_weights(self) -> list[np.ndarray]:
        """The cell's weights in Keras's order and layout (`kernel`, `recurrent_kernel`, `bias`
        for fitorch's cells, per cell for stacked ones)."""
        getter = getattr(self.cell, "get_keras_weights", None)
        if callable(getter):
            return list(getter())
        return self._no_keras_layout("get_keras_weights()")

    def set_keras_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Load the cell's weights, given in Keras's order and layout."""
        setter = getattr(self.cell, "set_keras_weights", None)
        if callable(setter):
            setter(weights)
        else:
            self._no_keras_layout("set_keras_weights()")
            _check_keras_weights(self.name, weights, [])

    def keras_param_counts(self) -> tuple[int, int]:
        """`(trainable, non_trainable)` parameter counts, as Keras's `count_params` splits them."""
        counts = getattr(self.cell, "keras_param_counts", None)
        if callable(counts):
            return cast(tuple[int, int], tuple(counts()))
        if not any(True for _ in self.cell.parameters()):
            return 0, 0
        return self._no_keras_layout("keras_param_counts()")

    def _no_keras_layout(self, what: str) -> Any:
        if not any(True for _ in self.cell.parameters()):
            return []
        raise TypeError(
            f'Layer "{self.name}" runs a {type(self.cell).__name__} cell, which has weights '
            f"but no Keras layout (no `get_keras_weights()`), so `{what}` cannot give them in "
            f"Keras's order. Received: cell={type(self.cell).__name__}"
        )

    def regularization_losses(self) -> list[Tensor]:
        """The activity penalties of the last call (the cell reports its weights' own)."""
        return list(self._activity_losses)

    @property
    def losses(self) -> list[Tensor]:
        """Keras's `layer.losses`: activity penalties, then the cell's weight penalties."""
        own = getattr(self.cell, "regularization_losses", None)
        cell_losses = list(own()) if callable(own) else []
        return [*self._activity_losses, *cell_losses]

    def get_config(self) -> dict[str, Any]:
        """The layer's arguments and the cell's `{"class_name", "config"}`."""
        from fitorch.saving.serialization import layer_config

        return {**self._layer_config(), "cell": layer_config(self.cell),
                "zero_output_for_mask": self.zero_output_for_mask}

    def _layer_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Any:
        """Create the layer and its cell from `get_config()`'s output."""
        from fitorch.saving.serialization import layer_class

        config = dict(config)
        entry = config.pop("cell")
        cell_cls: Any = layer_class(entry.get("class_name"))
        return cls(cell_cls.from_config(dict(entry.get("config", {}))), **config)

    def extra_repr(self) -> str:
        return (f"name={self.name!r}, return_sequences={self.return_sequences}, "
                f"return_state={self.return_state}, stateful={self.stateful}")


def _expand(keep: Tensor, like: Tensor) -> Tensor:
    return keep.reshape(keep.shape[0], *([1] * (like.ndim - 1)))


def _reset_dropout(cell: nn.Module) -> None:
    """Keras's RNN clears the cells' cached dropout masks after each sequence."""
    for module in cell.modules():
        for name in ("reset_dropout_mask", "reset_recurrent_dropout_mask"):
            reset = getattr(module, name, None)
            if callable(reset):
                reset()

