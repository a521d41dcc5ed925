"""Keras's `LSTM`, `GRU` and `SimpleRNN` on batch-first `(batch, time, features)` inputs.

Each is `RNN` with its cell (`LSTMCell`, `GRUCell`, `SimpleRNNCell`), which holds
the math and the weights (`layer.cell`; `layer.weight_ih` etc. read through to
it), as Keras's layers are. The fused kernel (cuDNN on GPU) runs whenever it
computes Keras's function: default activations, no mask, no recurrent dropout
in training, and for GRU `reset_after=True`. Otherwise a per-step loop computes
Keras's cell (its `implementation=1` when `recurrent_dropout` is set). Input
`dropout` uses one mask per sequence, as Keras does, and keeps the fused kernel.
`use_cudnn=True` requires the fused kernel, False never uses it.

Example:
    >>> import torch
    >>> from fitorch.layers import LSTM
    >>> out, h, c = LSTM(8, return_sequences=True, return_state=True)(torch.zeros(2, 5, 3))
    >>> out.shape, h.shape, c.shape
    (torch.Size([2, 5, 8]), torch.Size([2, 8]), torch.Size([2, 8]))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fitorch.layers.recurrent_cells import GRUCell, LSTMCell, SimpleRNNCell, _Cell
from fitorch.layers.rnn import RNN

__all__ = ["GRU", "LSTM", "SimpleRNN"]

# The cell's arguments and attributes, read through the layer as Keras's layers do.
_CELL_ATTRIBUTES = (
    "units", "activation", "recurrent_activation", "use_bias", "kernel_initializer",
    "recurrent_initializer", "bias_initializer", "kernel_regularizer",
    "recurrent_regularizer", "bias_regularizer", "kernel_constraint", "recurrent_constraint",
    "bias_constraint", "dropout", "recurrent_dropout", "seed", "in_features",
    "weight_ih", "weight_hh", "bias", "_gates", "_n_states",
)


def _cell_attribute(name: str) -> Any:
    return property(lambda self: getattr(self.cell, name),
                    doc=f"The cell's `{name}`.")


class _CellLayer(RNN):
    """`RNN` over one fitorch cell, configured by the layer's own (Keras) arguments."""

    cell: _Cell

    def __init__(
        self,
        cell: _Cell,
        activity_regularizer: Any,
        return_sequences: bool,
        return_state: bool,
        go_backwards: bool,
        stateful: bool,
        unroll: bool,
        use_cudnn: bool | str,
        name: str | None,
    ) -> None:
        if use_cudnn not in ("auto", True, False):
            raise ValueError(
                "Invalid value for argument `use_cudnn`: expected 'auto', True or False. "
                f"Received: use_cudnn={use_cudnn!r} (of type {type(use_cudnn).__name__})"
            )
        super().__init__(cell, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, stateful=stateful, unroll=unroll,
                         activity_regularizer=activity_regularizer, name=name)
        self.use_cudnn = use_cudnn
        self._use_cudnn = use_cudnn
        cell.__dict__["_layer_name"] = self.name  # the cell is this layer's own

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Create and initialise the parameters for inputs `(batch, time, features)`.

        Example:
            >>> import torch
            >>> layer = LSTM(4)
            >>> layer.build((None, 10, 3))
            >>> layer.weight_ih.shape, layer.weight_hh.shape, layer.bias.shape
            (torch.Size([16, 3]), torch.Size([16, 4]), torch.Size([16]))
        """
        super().build(input_shape)

    def get_config(self) -> dict[str, Any]:
        """The cell's and the layer's arguments, flat (Keras's layer config)."""
        cell_config = self.cell.get_config()
        del cell_config["name"]
        return {**self._layer_config(), **cell_config, "use_cudnn": self.use_cudnn}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Any:
        """Create a layer from `get_config()`'s output."""
        return cls(**config)

    def extra_repr(self) -> str:
        return (
            f"name={self.name!r}, units={self.units}, in_features={self.in_features or None}, "
            f"return_sequences={self.return_sequences}, return_state={self.return_state}"
        )


for _name in _CELL_ATTRIBUTES:
    setattr(_CellLayer, _name, _cell_attribute(_name))


class LSTM(_CellLayer):
    """Keras's Long Short-Term Memory layer on `(batch, time, features)` inputs.

    Keras's arguments and defaults; `unit_forget_bias=True` starts the forget
    gate's bias at 1. Call with `initial_state=[h, c]` and/or `mask=` `(batch, time)`.

    Example:
        >>> import torch
        >>> layer = LSTM(4)
        >>> layer(torch.zeros(2, 7, 3)).shape
        torch.Size([2, 4])
        >>> [w.shape for w in layer.get_keras_weights()]  # kernel, recurrent_kernel, bias
        [(3, 16), (4, 16), (16,)]
    """

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
        cell = LSTMCell(
            units, activation=activation, recurrent_activation=recurrent_activation,
            use_bias=use_bias, kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
            unit_forget_bias=unit_forget_bias, kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint, dropout=dropout,
            recurrent_dropout=recurrent_dropout, seed=seed,
        )
        super().__init__(cell, activity_regularizer, return_sequences, return_state,
                         go_backwards, stateful, unroll, use_cudnn, name)

    @property
    def unit_forget_bias(self) -> bool:
        """The cell's `unit_forget_bias`."""
        return bool(getattr(self.cell, "unit_forget_bias"))  # noqa: B009


class GRU(_CellLayer):
    """Keras's Gated Recurrent Unit layer on `(batch, time, features)` inputs.

    Keras 3's defaults, including `reset_after=True` (the reset gate applies
    after the recurrent matmul, with a separate recurrent bias: PyTorch's GRU);
    `reset_after=False` (Keras 2's original GRU) runs the step loop. Call with
    `initial_state=h` and/or `mask=` `(batch, time)`.

    Example:
        >>> import torch
        >>> layer = GRU(4, return_state=True)
        >>> out, h = layer(torch.zeros(2, 7, 3))
        >>> torch.equal(out, h)
        True
    """

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
        cell = GRUCell(
            units, activation=activation, recurrent_activation=recurrent_activation,
            use_bias=use_bias, kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint,
            dropout=dropout, recurrent_dropout=recurrent_dropout, reset_after=reset_after,
            seed=seed,
        )
        super().__init__(cell, activity_regularizer, return_sequences, return_state,
                         go_backwards, stateful, unroll, use_cudnn, name)

    @property
    def reset_after(self) -> bool:
        """The cell's `reset_after`."""
        return bool(getattr(self.cell, "reset_after"))  # noqa: B009


class SimpleRNN(_CellLayer):
    """Keras's fully-connected RNN, `h = activation(x @ kernel + h @ recurrent_kernel + bias)`,
    on `(batch, time, features)` inputs.

    The fused kernel (torch's `RNN`, cuDNN on GPU) runs for `activation="tanh"` or
    `"relu"` without a mask or recurrent dropout; otherwise the step loop. Call with
    `initial_state=h` and/or `mask=` `(batch, time)`.

    Example:
        >>> import torch
        >>> layer = SimpleRNN(4, return_sequences=True)
        >>> layer(torch.zeros(2, 7, 3)).shape
        torch.Size([2, 7, 4])
        >>> [w.shape for w in layer.get_keras_weights()]
        [(3, 4), (4, 4), (4,)]
    """

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
        cell = SimpleRNNCell(
            units, activation=activation, use_bias=use_bias,
            kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint, dropout=dropout,
            recurrent_dropout=recurrent_dropout, seed=seed,
        )
        super().__init__(cell, activity_regularizer, return_sequences, return_state,
                         go_backwards, stateful, unroll, "auto", name)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["use_cudnn"]
        return config
