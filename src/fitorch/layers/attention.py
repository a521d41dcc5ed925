"""Keras's `MultiHeadAttention` on torch's fused `scaled_dot_product_attention`.

Inputs are batch-first sequences `(batch, time, features)`. The four projections
(`query_dense`, `key_dense`, `value_dense`, `output_dense`) keep PyTorch's
`Linear` layout (`weight` `(out, in)`) and give Keras's EinsumDense layouts
(`kernel` `(in, heads, head_dim)` / `(heads, head_dim, out)`) through
`get_keras_weights()`; `.weights.h5` files keep Keras's per-projection groups.

Example:
    >>> import torch
    >>> from fitorch.layers import MultiHeadAttention
    >>> layer = MultiHeadAttention(num_heads=2, key_dim=8)
    >>> x = torch.randn(4, 10, 16)
    >>> layer(x, x).shape
    torch.Size([4, 10, 16])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules.lazy import LazyModuleMixin
from torch.nn.parameter import UninitializedParameter

from fitorch import constraints, initializers, regularizers
from fitorch.layers.activation_layers import keras_fans
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

__all__ = ["MultiHeadAttention"]


class _Projection(LazyModuleMixin, nn.Module):
    """One of the attention's EinsumDense projections, in `Linear` layout.

    An input projection maps `in -> (heads, head_dim)` (Keras kernel `(in, heads,
    head_dim)`, bias `(heads, head_dim)`); the output projection maps `(heads,
    head_dim) -> out` (Keras kernel `(heads, head_dim, out)`, bias `(out,)`).
    """

    weight: nn.Parameter
    bias: nn.Parameter | None

    def __init__(self, name: str, heads: int, head_dim: int, is_output: bool,
                 options: dict[str, Any], units: int | None = None) -> None:
        super().__init__()
        self.name = name
        self.heads, self.head_dim, self.is_output = heads, head_dim, is_output
        self.units = units  # the output projection's size (set at the first call)
        self.in_features = 0
        self.kernel_initializer = options["kernel_initializer"]
        self.bias_initializer = options["bias_initializer"]
        self.kernel_regularizer = options["kernel_regularizer"]
        self.bias_regularizer = options["bias_regularizer"]
        self.kernel_constraint = options["kernel_constraint"]
        self.bias_constraint = options["bias_constraint"]
        self.weight = cast(nn.Parameter, UninitializedParameter())
        if options["use_bias"]:
            self.bias = cast(nn.Parameter, UninitializedParameter())
        else:
            self.register_parameter("bias", None)

    @property
    def built(self) -> bool:
        return not self.has_uninitialized_params()

    def _keras_kernel_shape(self) -> tuple[int, ...]:
        if self.is_output:
            return (self.heads, self.head_dim, cast(int, self.units))
        return (self.in_features, self.heads, self.head_dim)

    def _keras_bias_shape(self) -> tuple[int, ...]:
        return (cast(int, self.units),) if self.is_output else (self.heads, self.head_dim)

    def build(self, in_features: int) -> None:
        if self.built:
            return
        self.in_features = in_features
        out = cast(int, self.units) if self.is_output else self.heads * self.head_dim
        fan_in, fan_out = keras_fans(self._keras_kernel_shape())
        bias_fans = keras_fans(self._keras_bias_shape())
        with torch.inference_mode(False), torch.no_grad():
            cast(UninitializedParameter, self.weight).materialize((out, in_features))
            initializers.apply_initializer(
                self.kernel_initializer, self.weight, fan_in=fan_in, fan_out=fan_out)
            if self.bias is not None:
                cast(UninitializedParameter, self.bias).materialize((out,))
                initializers.apply_initializer(
                    self.bias_initializer, self.bias, fan_in=bias_fans[0], fan_out=bias_fans[1])

    def initialize_parameters(self, inputs: Tensor, *args: Any, **kwargs: Any) -> None:
        if not self.built:
            self.build(inputs.shape[-1])
        else:
            self.in_features = self.weight.shape[1]
            if self.is_output:
                self.units = self.weight.shape[0]

    def forward(self, inputs: Tensor) -> Tensor:
        return F.linear(inputs, self.weight, self.bias)

    def get_keras_weights(self) -> list[np.ndarray]:
        _require_built(self, self.built, "get_keras_weights()")
        weights = [np.ascontiguousarray(_to_numpy(self.weight).T).reshape(
            self._keras_kernel_shape())]
        if self.bias is not None:
            weights.append(_to_numpy(self.bias).reshape(self._keras_bias_shape()))
        return weights

    def set_keras_weights(self, weights: Sequence[np.ndarray]) -> None:
        first = _first_shape(self.name, weights)
        if not self.built and first is not None and len(first) == 3:
            if self.is_output:
                self.units = first[2]
                self.build(first[0] * first[1])
            else:
                self.build(first[0])
        _require_built(self, self.built, "set_keras_weights()")
        expected = [("kernel", self._keras_kernel_shape())]
        if self.bias is not None:
            expected.append(("bias", self._keras_bias_shape()))
        arrays = _check_keras_weights(self.name, weights, expected)
        _assign(self.weight, arrays[0].reshape(self.in_features, -1).T)
        if self.bias is not None:
            _assign(self.bias, arrays[1].reshape(-1))

    def keras_param_counts(self) -> tuple[int, int]:
        return _keras_param_counts(self)

    def regularization_losses(self) -> list[Tensor]:
        if not self.built:
            return []
        return _penalties([(self.kernel_regularizer, self.weight),
                           (self.bias_regularizer, self.bias)])

    def apply_constraints(self) -> None:
        if self.built:
            _project([(self.kernel_constraint, self.weight), (self.bias_constraint, self.bias)])


def _positive_int(value: Any, arg: str, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(
            f"Argument `{arg}` must be a positive integer{' or None' if allow_none else ''}. "
            f"Received: {arg}={value!r} (of type {type(value).__name__})"
        )
    return value


class MultiHeadAttention(LayerAPI, nn.Module):
    """Keras's multi-head attention on `(batch, time, features)` sequences.

    Called as Keras's layer: `layer(query, value, key=None, query_mask=None,
    value_mask=None, key_mask=None, attention_mask=None,
    return_attention_scores=False, use_causal_mask=False)`. Masks are boolean
    (True = attend): `attention_mask` `(batch, T, S)`, the per-sequence masks
    `(batch, T)` / `(batch, S)` (taken from the inputs' `_keras_mask` when not
    given), combined with AND as Keras does. A query step that may attend to
    nothing gets zeros (Keras's masked softmax). Attention runs on torch's fused
    `scaled_dot_product_attention` (flash / memory-efficient kernels on GPU),
    dropout included; `return_attention_scores=True` (or dropout with a `seed`,
    drawn from the layer's own generator) computes the scores explicitly.
    `output_shape` is the size of the last output axis (default: the query's).

    Example:
        >>> mha = MultiHeadAttention(num_heads=4, key_dim=8, dropout=0.1)
        >>> q, v = torch.randn(2, 5, 32), torch.randn(2, 7, 16)
        >>> out, scores = mha(q, v, return_attention_scores=True)
        >>> out.shape, scores.shape
        (torch.Size([2, 5, 32]), torch.Size([2, 4, 5, 7]))
    """

    # `.weights.h5`: one group per projection (`query_dense/vars`, ...), as Keras writes.
    keras_sublayers = True
    query_dense: _Projection
    key_dense: _Projection
    value_dense: _Projection
    output_dense: _Projection

    def __init__(
        self,
        num_heads: int,
        key_dim: int,
        value_dim: int | None = None,
        dropout: float = 0.0,
        use_bias: bool = True,
        output_shape: int | Sequence[int] | None = None,
        attention_axes: int | Sequence[int] | None = None,
        flash_attention: bool | None = None,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        seed: int | None = None,
        name: str | None = None,
    ) -> None:
        heads = cast(int, _positive_int(num_heads, "num_heads"))
        kdim = cast(int, _positive_int(key_dim, "key_dim"))
        vdim = _positive_int(value_dim, "value_dim", allow_none=True) or kdim
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not (
                0 <= dropout < 1):
            raise ValueError(
                "Argument `dropout` must be a float in [0, 1). "
                f"Received: dropout={dropout!r} (of type {type(dropout).__name__})"
            )
        if isinstance(output_shape, Sequence) and not isinstance(output_shape, str):
            if len(output_shape) != 1:
                raise ValueError(
                    "`output_shape` sets the size of the last output axis: an int or a "
                    f"1-tuple. Received: output_shape={output_shape!r} (of type "
                    f"{type(output_shape).__name__})"
                )
            output_shape = output_shape[0]
        units = _positive_int(output_shape, "output_shape", allow_none=True)
        axes = (attention_axes,) if isinstance(attention_axes, int) else attention_axes
        if axes is not None and tuple(axes) not in ((1,), (-2,)):
            raise ValueError(
                "fitorch's MultiHeadAttention attends over the time axis of (batch, time, "
                "features) inputs: `attention_axes` must be None, 1 or -2 (the same axis). "
                "Flatten other axes into time first. "
                f"Received: attention_axes={attention_axes!r} (of type "
                f"{type(attention_axes).__name__})"
            )
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(
                f"Argument `seed` must be an int or None. "
                f"Received: seed={seed!r} (of type {type(seed).__name__})"
            )
        super().__init__()
        self.name = _resolve_name(name, type(self))
        self.num_heads, self.key_dim, self.value_dim = heads, kdim, vdim
        self.dropout = float(dropout)
        self.use_bias = bool(use_bias)
        self.output_units = units
        self.attention_axes = None if attention_axes is None else list(axes or ())
        self.flash_attention = flash_attention
        self.seed = seed
        self.kernel_initializer = _get_initializer(kernel_initializer)
        self.bias_initializer = _get_initializer(bias_initializer)
        self.kernel_regularizer = regularizers.get(
            kernel_regularizer, arg_name="kernel_regularizer")
        self.bias_regularizer = regularizers.get(bias_regularizer, arg_name="bias_regularizer")
        self.activity_regularizer = regularizers.get(
            activity_regularizer, arg_name="activity_regularizer")
        self.kernel_constraint = constraints.get(kernel_constraint, arg_name="kernel_constraint")
        self.bias_constraint = constraints.get(bias_constraint, arg_name="bias_constraint")
        options = dict(
            kernel_initializer=self.kernel_initializer, bias_initializer=self.bias_initializer,
            kernel_regularizer=self.kernel_regularizer, bias_regularizer=self.bias_regularizer,
            kernel_constraint=self.kernel_constraint, bias_constraint=self.bias_constraint,
            use_bias=self.use_bias,
        )
        self.query_dense = _Projection("query", heads, kdim, False, options)
        self.key_dense = _Projection("key", heads, kdim, False, options)
        self.value_dense = _Projection("value", heads, vdim, False, options)
        self.output_dense = _Projection("attention_output", heads, vdim, True, options, units)
        self._activity_loss: Tensor | None = None
        self._generators: dict[torch.device, torch.Generator] = {}

    def _split(self, x: Tensor, head_dim: int) -> Tensor:
        # (B, T, H * D) -> (B, H, T, D)
        return x.reshape(x.shape[0], x.shape[1], self.num_heads, head_dim).transpose(1, 2)

    def _check(self, name: str, x: Any) -> Tensor:
        if not isinstance(x, Tensor) or x.ndim != 3:
            shape = tuple(x.shape) if isinstance(x, Tensor) else None
            raise ValueError(
                f'Layer "{self.name}" takes `{name}` as a (batch, time, features) tensor. '
                f"Received: {name}.shape={shape} (of type {type(x).__name__})"
            )
        return x

    def _mask(self, query: Tensor, value: Tensor, key: Tensor | None,
              query_mask: Tensor | None, value_mask: Tensor | None, key_mask: Tensor | None,
              attention_mask: Tensor | None, use_causal_mask: bool) -> Tensor | None:
        """Keras's `_compute_attention_mask`: every given mask combined, `(B or 1, T, S)`."""
        query_mask = query_mask if query_mask is not None else getattr(query, "_keras_mask", None)
        value_mask = value_mask if value_mask is not None else getattr(value, "_keras_mask", None)
        if key is not None and key is not value:
            key_mask = key_mask if key_mask is not None else getattr(key, "_keras_mask", None)
        else:
            key_mask = None
        mask: Tensor | None = None
        for m, axis in ((query_mask, -1), (value_mask, -2), (key_mask, -2)):
            if m is not None:
                m = m.to(device=query.device, dtype=torch.bool).unsqueeze(axis)
                mask = m if mask is None else mask & m
        if use_causal_mask:
            t, s = query.shape[1], value.shape[1]
            causal = torch.ones(t, s, dtype=torch.bool, device=query.device).tril().unsqueeze(0)
            mask = causal if mask is None else mask & causal
        if attention_mask is not None:
            given = attention_mask.to(device=query.device, dtype=torch.bool)
            mask = given if mask is None else given & mask
        if mask is not None:
            expected = (query.shape[1], value.shape[1])
            if mask.ndim != 3 or tuple(mask.shape[1:]) != expected or mask.shape[0] not in (
                    1, query.shape[0]):
                raise ValueError(
                    f'The attention mask of layer "{self.name}" must broadcast to (batch, T, S) '
                    f"= {(query.shape[0], *expected)}. Received: combined mask of shape "
                    f"{tuple(mask.shape)} (of type Tensor)"
                )
        return mask

    def forward(
        self,
        query: Tensor,
        value: Tensor,
        key: Tensor | None = None,
        query_mask: Tensor | None = None,
        value_mask: Tensor | None = None,
        key_mask: Tensor | None = None,
        attention_mask: Tensor | None = None,
        return_attention_scores: bool = False,
        use_causal_mask: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        query, value = self._check("query", query), self._check("value", value)
        key_input = value if key is None else self._check("key", key)
        if self.output_dense.units is None:
            self.output_dense.units = self.output_units or query.shape[-1]
        mask = self._mask(query, value, key, query_mask, value_mask, key_mask,
                          attention_mask, use_causal_mask)
        q = self._split(self.query_dense(query), self.key_dim)
        k = self._split(self.key_dense(key_input), self.key_dim)
        v = self._split(self.value_dense(value), self.value_dim)
        dropout = self.dropout if self.training else 0.0
        scores = None
        # A seeded layer draws its dropout masks from its own generator (not the fused kernel's).
        if return_attention_scores or (dropout and self.seed is not None):
            logits = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.key_dim)
            if mask is not None:
                logits = logits.masked_fill(~mask.unsqueeze(1), -1e9)
            scores = torch.softmax(logits, dim=-1)
            if mask is not None:
                scores = scores.masked_fill(~mask.unsqueeze(1), 0.0)
            probs = self._dropout(scores, dropout) if dropout else scores
            attended = torch.matmul(probs, v)
        else:
            sdpa_mask = None
            anyone = None
            if mask is not None:
                anyone = mask.any(dim=-1, keepdim=True)  # a row with nothing to attend to
                sdpa_mask = (mask | ~anyone).unsqueeze(1)  # keeps the kernel free of NaNs
            attended = F.scaled_dot_product_attention(q, k, v, attn_mask=sdpa_mask,
                                                      dropout_p=dropout)
            if anyone is not None:
                attended = attended.masked_fill(~anyone.unsqueeze(1), 0.0)
        merged = attended.transpose(1, 2).reshape(query.shape[0], query.shape[1], -1)
        output = self.output_dense(merged)
        if self.activity_regularizer is not None:
            batch = output.shape[0]
            penalty = self.activity_regularizer(output)
            self._activity_loss = penalty / batch if batch else penalty * 0
        if return_attention_scores:
            return output, cast(Tensor, scores)
        return output

    def _dropout(self, probs: Tensor, rate: float) -> Tensor:
        if self.seed is None:
            return F.dropout(probs, rate, True)
        generator = self._generators.get(probs.device)
        if generator is None:
            generator = torch.Generator(device=probs.device).manual_seed(self.seed)
            self._generators[probs.device] = generator
        keep = torch.empty_like(probs).bernoulli_(1.0 - rate, generator=generator)
        return probs * keep / (1.0 - rate)

    # --- Keras weights ------------------------------------------------------------------

    def _projections(self) -> list[_Projection]:
        return [self.query_dense, self.key_dense, self.value_dense, self.output_dense]

    def get_keras_weights(self) -> list[np.ndarray]:
        """Keras's order: query kernel, bias, key kernel, bias, value ..., output ...."""
        return [w for p in self._projections() for w in p.get_keras_weights()]

    def set_keras_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Load the four projections' weights in Keras's order and layout."""
        per = 2 if self.use_bias else 1
        if isinstance(weights, (str, bytes)) or not isinstance(weights, Sequence) or len(
                weights) != 4 * per:
            raise ValueError(
                f'Layer "{self.name}" expects {4 * per} weights (query, key, value and output '
                f"projections{', kernel and bias each' if per == 2 else ''}). "
                f"Received: weights of length "
                f"{len(weights) if isinstance(weights, Sequence) else '?'} "
                f"(of type {type(weights).__name__})"
            )
        for i, projection in enumerate(self._projections()):
            projection.set_keras_weights(weights[i * per:(i + 1) * per])

    def keras_param_counts(self) -> tuple[int, int]:
        """`(trainable, non_trainable)`: the four projections together."""
        counts = [p.keras_param_counts() for p in self._projections()]
        return sum(c[0] for c in counts), sum(c[1] for c in counts)

    def regularization_losses(self) -> list[Tensor]:
        """The activity penalty of the last call (the projections report their own)."""
        return [] if self._activity_loss is None else [self._activity_loss]

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments (built-ins JSON-able)."""
        return {
            "name": self.name, "num_heads": self.num_heads, "key_dim": self.key_dim,
            "value_dim": self.value_dim, "dropout": self.dropout, "use_bias": self.use_bias,
            "output_shape": self.output_units, "attention_axes": self.attention_axes,
            "flash_attention": self.flash_attention,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> MultiHeadAttention:
        """Create a layer from `get_config()`'s output."""
        return cls(**config)

    def extra_repr(self) -> str:
        return (f"name={self.name!r}, num_heads={self.num_heads}, key_dim={self.key_dim}, "
                f"value_dim={self.value_dim}")
