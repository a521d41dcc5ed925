"""Keras's `Attention` (Luong-style dot product) and `AdditiveAttention` (Bahdanau-style).

Both are called, as in Keras, on a list `[query, value]` or `[query, value, key]`
of batch-first sequences `(batch, time, dim)`, with an optional `mask=[query_mask,
value_mask]` (`(batch, Tq)` / `(batch, Tv)`, True = use). Masked value steps are
left out of the softmax; masked query steps give zeros.

Example:
    >>> import torch
    >>> from fitorch.layers import Attention
    >>> q, v = torch.randn(2, 3, 4), torch.randn(2, 5, 4)
    >>> Attention()([q, v]).shape
    torch.Size([2, 3, 4])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.modules.lazy import LazyModuleMixin
from torch.nn.parameter import UninitializedParameter

from fitorch import initializers
from fitorch.layers.core import (
    _assign,
    _check_keras_weights,
    _keras_param_counts,
    _resolve_name,
    _to_numpy,
)
from fitorch.layers.layer_api import LayerAPI

__all__ = ["AdditiveAttention", "Attention"]

_LARGE = 1.0e9  # Keras subtracts this from masked scores (65504 in float16)


class _BaseDenseAttention(LayerAPI, LazyModuleMixin, nn.Module):
    """Inputs, masks, the masked softmax, dropout and the query mask of both layers."""

    def __init__(self, dropout: float, seed: int | None, name: str | None) -> None:
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not (
                0 <= dropout < 1):
            raise ValueError(
                "Argument `dropout` must be a float in [0, 1). "
                f"Received: dropout={dropout!r} (of type {type(dropout).__name__})"
            )
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(
                f"Argument `seed` must be an int or None. "
                f"Received: seed={seed!r} (of type {type(seed).__name__})"
            )
        super().__init__()
        self.name = _resolve_name(name, type(self))
        self.dropout = float(dropout)
        self.seed = seed
        self._generators: dict[torch.device, torch.Generator] = {}

    def _unpack(self, inputs: Any, mask: Any) -> tuple[Tensor, Tensor, Tensor, Any, Any]:
        if not isinstance(inputs, (list, tuple)) or not 2 <= len(inputs) <= 3 or not all(
                isinstance(t, Tensor) and t.ndim == 3 for t in inputs):
            raise ValueError(
                f'Layer "{self.name}" ({type(self).__name__}) is called on a list '
                "[query, value] or [query, value, key] of (batch, time, dim) tensors. "
                f"Received: inputs={_describe(inputs)} (of type {type(inputs).__name__})"
            )
        if mask is not None and (not isinstance(mask, (list, tuple)) or len(mask) not in (2, 3)):
            raise ValueError(
                f'Layer "{self.name}" takes `mask` as a list [query_mask, value_mask]. '
                f"Received: mask={_describe(mask)} (of type {type(mask).__name__})"
            )
        q, v = inputs[0], inputs[1]
        k = inputs[2] if len(inputs) == 3 else v
        q_mask = mask[0] if mask is not None else None
        v_mask = mask[1] if mask is not None else None
        return q, v, k, q_mask, v_mask

    def _scores(self, query: Tensor, key: Tensor) -> Tensor:
        raise NotImplementedError

    def initialize_parameters(self, inputs: Any, *args: Any, **kwargs: Any) -> None:
        """Lazy-module hook: build from the query's size."""
        self._build(self._unpack(inputs, None)[0].shape[-1])

    def _build(self, dim: int) -> None:
        return None

    def forward(self, inputs: Sequence[Tensor], mask: Sequence[Tensor | None] | None = None,
                return_attention_scores: bool = False,
                use_causal_mask: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        q, v, k, q_mask, v_mask = self._unpack(inputs, mask)
        scores = self._scores(q, k)
        keep = None
        if v_mask is not None:
            keep = v_mask.to(device=scores.device, dtype=torch.bool).unsqueeze(-2)
        if use_causal_mask:
            causal = torch.ones(scores.shape[-2:], dtype=torch.bool,
                                device=scores.device).tril().unsqueeze(0)
            keep = causal if keep is None else keep & causal
        if keep is not None:
            large = 65504.0 if scores.dtype == torch.float16 else _LARGE
            scores = torch.where(keep, scores, scores - large)
        weights = torch.softmax(scores, dim=-1)
        probs = self._dropout(weights) if self.training and self.dropout else weights
        output = torch.matmul(probs, v)
        if q_mask is not None:
            output = output.masked_fill(
                ~q_mask.to(device=output.device, dtype=torch.bool).unsqueeze(-1), 0.0)
        return (output, weights) if return_attention_scores else output

    def _dropout(self, weights: Tensor) -> Tensor:
        generator = None
        if self.seed is not None:
            generator = self._generators.get(weights.device)
            if generator is None:
                generator = torch.Generator(device=weights.device).manual_seed(self.seed)
                self._generators[weights.device] = generator
        keep = 1.0 - self.dropout
        mask = torch.empty_like(weights).bernoulli_(keep, generator=generator)
        return weights * mask / keep

    def keras_param_counts(self) -> tuple[int, int]:
        """`(trainable, non_trainable)` parameter counts, as Keras's `count_params` splits them."""
        return _keras_param_counts(self)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Any:
        """Create a layer from `get_config()`'s output."""
        return cls(**config)


def _describe(value: Any) -> str:
    if isinstance(value, Tensor):
        return f"<tensor of shape {tuple(value.shape)}>"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_describe(v) for v in value) + "]"
    return repr(value)


class Attention(_BaseDenseAttention):
    """Dot-product attention: `softmax(query @ key.T [* scale]) @ value`.

    `use_scale=True` learns a scalar `scale`; `score_mode="concat"` scores with
    `concat_score_weight * sum(tanh(scale * (query + key)))` instead.

    Example:
        >>> q = torch.randn(2, 3, 4)
        >>> out, scores = Attention(use_scale=True)([q, q], return_attention_scores=True)
        >>> scores.shape
        torch.Size([2, 3, 3])
    """

    scale: nn.Parameter | None
    concat_score_weight: nn.Parameter | None

    def __init__(self, use_scale: bool = False, score_mode: str = "dot", dropout: float = 0.0,
                 seed: int | None = None, name: str | None = None) -> None:
        if score_mode not in ("dot", "concat"):
            raise ValueError(
                "Invalid value for argument score_mode. Expected one of {'dot', 'concat'}. "
                f"Received: score_mode={score_mode!r} (of type {type(score_mode).__name__})"
            )
        super().__init__(dropout, seed, name)
        self.use_scale = bool(use_scale)
        self.score_mode = score_mode
        # Keras's scalar weights, both initialised to 1 (known shapes: no lazy build).
        self.scale = nn.Parameter(torch.ones(())) if self.use_scale else None
        self.concat_score_weight = (nn.Parameter(torch.ones(()))
                                    if score_mode == "concat" else None)

    def _scores(self, query: Tensor, key: Tensor) -> Tensor:
        if self.score_mode == "dot":
            scores = torch.matmul(query, key.transpose(-2, -1))
            return scores * self.scale if self.scale is not None else scores
        summed = query.unsqueeze(-2) + key.unsqueeze(-3)
        if self.scale is not None:
            summed = self.scale * summed
        return cast(Tensor, self.concat_score_weight) * torch.tanh(summed).sum(-1)

    def _params(self) -> list[tuple[str, nn.Parameter]]:
        return [(n, p) for n, p in (("scale", self.scale),
                                    ("concat_score_weight", self.concat_score_weight))
                if p is not None]

    def get_keras_weights(self) -> list[np.ndarray]:
        """`[scale]` and/or `[concat_score_weight]` (scalars), as Keras holds them."""
        return [_to_numpy(p) for _, p in self._params()]

    def set_keras_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Load Keras's scalar weights."""
        params = self._params()
        arrays = _check_keras_weights(self.name, weights, [(n, ()) for n, _ in params])
        for (_, p), a in zip(params, arrays):
            _assign(p, a)

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {"name": self.name, "use_scale": self.use_scale, "score_mode": self.score_mode,
                "dropout": self.dropout, "seed": self.seed}


class AdditiveAttention(_BaseDenseAttention):
    """Additive attention: scores `sum(scale * tanh(query + key), axis=-1)`.

    With `use_scale=True` (Keras's default) `scale` is a learned `(dim,)` vector,
    created at the first call.

    Example:
        >>> q, v = torch.randn(2, 3, 4), torch.randn(2, 5, 4)
        >>> AdditiveAttention()([q, v]).shape
        torch.Size([2, 3, 4])
    """

    scale: nn.Parameter | None

    def __init__(self, use_scale: bool = True, dropout: float = 0.0, seed: int | None = None,
                 name: str | None = None) -> None:
        super().__init__(dropout, seed, name)
        self.use_scale = bool(use_scale)
        if self.use_scale:
            self.scale = cast(nn.Parameter, UninitializedParameter())
        else:
            self.register_parameter("scale", None)

    @property
    def built(self) -> bool:
        """Whether `scale` exists (after the first call)."""
        return not self.has_uninitialized_params()

    def _build(self, dim: int) -> None:
        if self.scale is None or not isinstance(self.scale, UninitializedParameter):
            return
        with torch.inference_mode(False), torch.no_grad():
            self.scale.materialize((dim,))
            initializers.apply_initializer(initializers.GlorotUniform(), self.scale,
                                           fan_in=dim, fan_out=dim)

    def _scores(self, query: Tensor, key: Tensor) -> Tensor:
        summed = torch.tanh(query.unsqueeze(-2) + key.unsqueeze(-3))
        return (summed * self.scale if self.scale is not None else summed).sum(-1)

    def get_keras_weights(self) -> list[np.ndarray]:
        """`[scale (dim,)]` with `use_scale=True`, else `[]`."""
        if self.scale is None:
            return []
        if isinstance(self.scale, UninitializedParameter):
            from fitorch.layers.core import _require_built

            _require_built(self, False, "get_keras_weights()")
        return [_to_numpy(self.scale)]

    def set_keras_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Load `[scale]` (builds an unbuilt layer from its size)."""
        if self.scale is None:
            _check_keras_weights(self.name, weights, [])
            return
        if isinstance(self.scale, UninitializedParameter) and len(weights) == 1:
            self._build(int(np.shape(weights[0])[0]))
        (scale,) = _check_keras_weights(self.name, weights, [("scale", tuple(self.scale.shape))])
        _assign(self.scale, scale)

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {"name": self.name, "use_scale": self.use_scale, "dropout": self.dropout,
                "seed": self.seed}
