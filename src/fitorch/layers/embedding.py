"""Keras's `Embedding`: integer indices to dense vectors.

The table is `weight` `(input_dim, output_dim)`, the same layout as Keras's
`embeddings` (and `torch.nn.Embedding`'s). With `mask_zero=True` the output
carries Keras's mask (`inputs != 0`) as its `_keras_mask` attribute, as Keras
does on torch tensors, and `LSTM` / `GRU` read it when called right after the
embedding; `compute_mask(inputs)` gives the same mask explicitly.

Example:
    >>> import torch
    >>> from fitorch.layers import Embedding
    >>> Embedding(100, 8)(torch.tensor([[1, 2, 3]])).shape
    torch.Size([1, 3, 8])
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fitorch import constraints, initializers, regularizers
from fitorch.layers.core import (
    _assign,
    _check_keras_weights,
    _keras_param_counts,
    _penalties,
    _project,
    _resolve_name,
    _to_numpy,
)
from fitorch.layers.layer_api import LayerAPI

__all__ = ["Embedding"]


def _positive(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(
            f"`{name}` must be a positive integer. "
            f"Received: {name}={value!r} (of type {type(value).__name__})"
        )
    return value


class Embedding(LayerAPI, nn.Module):
    """Turn indices in `[0, input_dim)` into vectors of `output_dim` (Keras's arguments).

    The table is initialised with Keras's `"uniform"` (`RandomUniform(-0.05,
    0.05)`). Float indices are truncated to integers, as Keras casts them.
    `input_length` is accepted and ignored (Keras 3 deprecated it); `weights`
    sets the table at once (a `(input_dim, output_dim)` array or a list of one).

    Example:
        >>> layer = Embedding(10, 4, mask_zero=True)
        >>> x = torch.tensor([[3, 5, 0, 0]])
        >>> layer.compute_mask(x)
        tensor([[ True,  True, False, False]])
        >>> layer(x)._keras_mask.tolist()
        [[True, True, False, False]]
    """

    weight: nn.Parameter

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        embeddings_initializer: Any = "uniform",
        embeddings_regularizer: Any = None,
        embeddings_constraint: Any = None,
        mask_zero: bool = False,
        weights: Any = None,
        input_length: int | None = None,
        name: str | None = None,
    ) -> None:
        self_input_dim = _positive(input_dim, "input_dim")
        self_output_dim = _positive(output_dim, "output_dim")
        if input_length is not None:
            warnings.warn("Argument `input_length` is deprecated. Just remove it.", stacklevel=2)
        super().__init__()
        self.name = _resolve_name(name, type(self))
        self.input_dim = self_input_dim
        self.output_dim = self_output_dim
        init = initializers.get(embeddings_initializer)
        self.embeddings_initializer = init if init is not None else initializers.RandomUniform()
        self.embeddings_regularizer = regularizers.get(
            embeddings_regularizer, arg_name="embeddings_regularizer"
        )
        self.embeddings_constraint = constraints.get(
            embeddings_constraint, arg_name="embeddings_constraint"
        )
        self.mask_zero = bool(mask_zero)
        self.weight = nn.Parameter(torch.empty(self.input_dim, self.output_dim))
        # Keras's fans for its (input_dim, output_dim) table.
        initializers.apply_initializer(
            self.embeddings_initializer, self.weight, fan_in=self.input_dim, fan_out=self.output_dim
        )
        if weights is not None:
            if not (isinstance(weights, list) and len(weights) == 1):
                weights = [weights]
            self.set_keras_weights(weights)

    @property
    def embeddings(self) -> Tensor:
        """Keras's name for the table (`weight`)."""
        return self.weight

    @property
    def built(self) -> bool:
        return True

    def forward(self, inputs: Tensor) -> Tensor:
        indices = inputs
        if indices.is_floating_point() or indices.dtype == torch.bool:
            indices = indices.to(torch.int64)  # Keras casts other dtypes to int (truncating)
        outputs = F.embedding(indices, self.weight)
        if self.mask_zero:
            # Keras's own convention for masks on torch tensors: downstream
            # recurrent layers read the attribute (torch.compile traces it).
            outputs._keras_mask = indices != 0  # type: ignore[attr-defined]
        return outputs

    def compute_mask(self, inputs: Tensor, mask: Tensor | None = None) -> Tensor | None:
        """`inputs != 0` with `mask_zero=True`, else None (Keras's `compute_mask`)."""
        if not self.mask_zero:
            return None
        return inputs != 0

    def get_keras_weights(self) -> list[np.ndarray]:
        """`[embeddings (input_dim, output_dim)]`."""
        return [_to_numpy(self.weight)]

    def set_keras_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Load `[embeddings]` in Keras's layout.

        Example:
            >>> layer = Embedding(3, 2)
            >>> layer.set_keras_weights([np.zeros((3, 2))])
            >>> layer.weight.abs().sum().item()
            0.0
        """
        (table,) = _check_keras_weights(
            self.name, weights, [("embeddings", (self.input_dim, self.output_dim))]
        )
        _assign(self.weight, table)

    def keras_param_counts(self) -> tuple[int, int]:
        """`(trainable, non_trainable)` parameter counts, as Keras's `count_params` splits them."""
        return _keras_param_counts(self)

    def regularization_losses(self) -> list[Tensor]:
        """The embeddings penalty, if any."""
        return _penalties([(self.embeddings_regularizer, self.weight)])

    def apply_constraints(self) -> None:
        """Project the table with its constraint (after each optimizer step)."""
        _project([(self.embeddings_constraint, self.weight)], keras_layout=True)

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {
            "name": self.name,
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
            "embeddings_regularizer": regularizers.serialize(self.embeddings_regularizer),
            "embeddings_constraint": constraints.serialize(self.embeddings_constraint),
            "mask_zero": self.mask_zero,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Embedding:
        """Create a layer from `get_config()`'s output."""
        return cls(**config)

    def extra_repr(self) -> str:
        return (
            f"name={self.name!r}, input_dim={self.input_dim}, output_dim={self.output_dim}, "
            f"mask_zero={self.mask_zero}"
        )
