"""Keras's `CategoryEncoding`: integer tokens as one-hot, multi-hot or count vectors.

Example:
    >>> import torch
    >>> from fitorch.layers import CategoryEncoding
    >>> CategoryEncoding(4, output_mode="multi_hot")(torch.tensor([[0, 1], [2, 2]]))
    tensor([[1., 1., 0., 0.],
            [0., 0., 1., 0.]])
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fitorch.layers.core import _NoWeights, _resolve_name
from fitorch.layers.layer_api import LayerAPI

__all__ = ["CategoryEncoding"]

_MODES = ("one_hot", "multi_hot", "count")


class CategoryEncoding(LayerAPI, _NoWeights, nn.Module):
    """Encode integer tokens in `[0, num_tokens)` (Keras's rules).

    `"one_hot"`: each token becomes a vector (a trailing axis of 1 is dropped
    first); `"multi_hot"`: a `(batch, k)` row of tokens becomes one vector with 1
    at each token present; `"count"`: how often each token occurs (weighted by
    `count_weights` when given). A rank-1 input is one sample's tokens for
    multi_hot/count, as in Keras. Tokens out of range are an error.

    Example:
        >>> CategoryEncoding(3, output_mode="count")(torch.tensor([[0, 0, 2]]))
        tensor([[2., 0., 1.]])
    """

    def __init__(self, num_tokens: int, output_mode: str = "multi_hot", sparse: bool = False,
                 name: str | None = None) -> None:
        if isinstance(num_tokens, bool) or not isinstance(num_tokens, int) or num_tokens < 1:
            raise ValueError(
                "`num_tokens` must be >= 1. "
                f"Received: num_tokens={num_tokens!r} (of type {type(num_tokens).__name__})"
            )
        if output_mode not in _MODES:
            raise ValueError(
                f"Unknown arg for output_mode: {output_mode!r}. Expected one of "
                f"{list(_MODES)}. Received: output_mode={output_mode!r} (of type "
                f"{type(output_mode).__name__})"
            )
        if sparse:
            raise ValueError(
                "`sparse=True` is not available with the torch backend (in Keras either). "
                f"Received: sparse={sparse!r} (of type {type(sparse).__name__})"
            )
        super().__init__()
        self.name = _resolve_name(name, type(self))
        self.num_tokens = num_tokens
        self.output_mode = output_mode
        self.sparse = False

    def forward(self, inputs: Tensor, count_weights: Tensor | None = None) -> Tensor:
        if count_weights is not None and self.output_mode != "count":
            raise ValueError(
                "`count_weights` is not used when `output_mode` is not `'count'`. "
                f"Received: count_weights of shape {tuple(count_weights.shape)} "
                f"(of type {type(count_weights).__name__})"
            )
        if inputs.is_floating_point() or inputs.is_complex() or inputs.dtype == torch.bool:
            raise ValueError(
                f'Layer "{self.name}" takes integer tokens. '
                f"Received: inputs of dtype {inputs.dtype} (of type {type(inputs).__name__})"
            )
        tokens = inputs.long()
        if tokens.ndim == 0:
            tokens = tokens.unsqueeze(0)
        if tokens.numel():
            low, high = (int(v) for v in torch.aminmax(tokens))  # sync: range check
            if low < 0 or high >= self.num_tokens:
                raise ValueError(
                    f'Layer "{self.name}" takes tokens in [0, {self.num_tokens}), but received '
                    f"values in [{low}, {high}]. Received: inputs of shape "
                    f"{tuple(inputs.shape)} (of type {type(inputs).__name__})"
                )
        dtype = torch.get_default_dtype()
        if self.output_mode == "one_hot":
            if tokens.ndim > 1 and tokens.shape[-1] == 1:
                tokens = tokens.squeeze(-1)
            return F.one_hot(tokens, self.num_tokens).to(dtype)
        axis = 1 if tokens.ndim > 1 else 0
        encoded = F.one_hot(tokens, self.num_tokens).to(dtype)
        if self.output_mode == "multi_hot":
            return encoded.amax(dim=axis)
        if count_weights is not None:
            encoded = encoded * count_weights.to(dtype).unsqueeze(-1)
        return encoded.sum(dim=axis)

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {"name": self.name, "num_tokens": self.num_tokens,
                "output_mode": self.output_mode, "sparse": self.sparse}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> CategoryEncoding:
        """Create a layer from `get_config()`'s output."""
        return cls(**config)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, num_tokens={self.num_tokens}, output_mode={self.output_mode!r}"
