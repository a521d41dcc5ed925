"""Keras's merging layers: Concatenate, Add, Subtract, Multiply, Average, Maximum,
Minimum and Dot.

Each is called, as in Keras, on a list of tensors: `Add()([a, b])`. Axis
arguments index the tensors as given, batch axis included, so on channels-first
data `Concatenate(axis=1)` stacks channels and Keras's default `axis=-1`
concatenates the last (width) axis, as it would on any tensor.

Example:
    >>> import torch
    >>> from fitorch.layers import Add, Concatenate
    >>> a, b = torch.ones(2, 3, 4), torch.ones(2, 5, 4)
    >>> Concatenate(axis=1)([a, b]).shape
    torch.Size([2, 8, 4])
    >>> Add()([a, a])[0, 0, 0]
    tensor(2.)
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fitorch.layers.core import _NoWeights, _resolve_name
from fitorch.layers.layer_api import LayerAPI

__all__ = ["Add", "Average", "Concatenate", "Dot", "Maximum", "Minimum", "Multiply", "Subtract"]

_EPSILON = 1e-7  # Keras's backend.epsilon(): the floor of the norm in Dot(normalize=True)


def _shapes(inputs: Sequence[Tensor]) -> list[tuple[int, ...]]:
    return [tuple(t.shape) for t in inputs]


class _Merge(LayerAPI, _NoWeights, nn.Module):
    """A layer of a list of tensors: checks the list, then `_merge`."""

    supports_masking = True  # the inputs' Keras masks, combined, are handed on (Keras)

    min_inputs = 1
    max_inputs: int | None = None

    def __init__(self, name: str | None = None) -> None:
        super().__init__()
        self.name = _resolve_name(name, type(self))

    def _check_list(self, inputs: Any) -> list[Tensor]:
        if isinstance(inputs, Tensor) or not isinstance(inputs, (list, tuple)) or not all(
            isinstance(t, Tensor) for t in inputs
        ):
            raise ValueError(
                f'A merge layer ("{self.name}") is called on a list of tensors, e.g. '
                f"`{type(self).__name__}()([a, b])`. "
                f"Received: inputs={_describe(inputs)} (of type {type(inputs).__name__})"
            )
        count = len(inputs)
        if count < self.min_inputs or (self.max_inputs is not None and count > self.max_inputs):
            wanted = (f"exactly {self.min_inputs}" if self.max_inputs == self.min_inputs
                      else f"at least {self.min_inputs}")
            raise ValueError(
                f'Layer "{self.name}" ({type(self).__name__}) takes {wanted} inputs. '
                f"Received: inputs=<list of {count} tensors with shapes {_shapes(inputs)}> "
                f"(of type {type(inputs).__name__})"
            )
        batches = {t.shape[0] for t in inputs if t.ndim}
        if len(batches) > 1:
            raise ValueError(
                f'Layer "{self.name}" cannot merge tensors with different batch sizes. '
                f"Received: inputs with shapes {_shapes(inputs)} (of type list)"
            )
        return list(inputs)

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        return self._merge(self._check_list(inputs))

    def _merge(self, inputs: list[Tensor]) -> Tensor:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Any:
        """Create a layer from `get_config()`'s output."""
        return cls(**config)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())


def _describe(inputs: Any) -> str:
    if isinstance(inputs, Tensor):
        return f"<tensor of shape {tuple(inputs.shape)}>"
    return repr(inputs) if len(repr(inputs)) < 80 else f"<{type(inputs).__name__}>"


class _ElementwiseMerge(_Merge):
    """Add / Subtract / ...: inputs broadcast as Keras's merge layers allow.

    Sample shapes (without the batch axis) must be equal or broadcastable (a
    size of 1 broadcasts); a lower-rank input gets size-1 axes inserted after the
    batch axis until the ranks agree, as Keras does.
    """

    def _merge(self, inputs: list[Tensor]) -> Tensor:
        rank = max(t.ndim for t in inputs)
        aligned = []
        for t in inputs:
            while t.ndim < rank:
                t = t.unsqueeze(1)
            aligned.append(t)
        try:
            torch.broadcast_shapes(*(t.shape[1:] for t in aligned))
        except RuntimeError:
            raise ValueError(
                f'Layer "{self.name}" ({type(self).__name__}) needs inputs of the same shape '
                "(or broadcastable: sizes equal or 1). "
                f"Received: inputs with shapes {_shapes(inputs)} (of type list)"
            ) from None
        return self._combine(aligned)

    def _combine(self, inputs: list[Tensor]) -> Tensor:
        raise NotImplementedError


class Add(_ElementwiseMerge):
    """The element-wise sum of a list of tensors.

    Example:
        >>> Add()([torch.ones(2, 3), torch.ones(2, 3)]).sum()
        tensor(12.)
    """

    def _combine(self, inputs: list[Tensor]) -> Tensor:
        return functools.reduce(torch.add, inputs)


class Subtract(_ElementwiseMerge):
    """`inputs[0] - inputs[1]` (exactly two inputs).

    Example:
        >>> Subtract()([torch.ones(1, 2), torch.ones(1, 2)])
        tensor([[0., 0.]])
    """

    min_inputs = max_inputs = 2

    def _combine(self, inputs: list[Tensor]) -> Tensor:
        return inputs[0] - inputs[1]


class Multiply(_ElementwiseMerge):
    """The element-wise product of a list of tensors.

    Example:
        >>> Multiply()([torch.full((1, 2), 2.0), torch.full((1, 2), 3.0)])
        tensor([[6., 6.]])
    """

    def _combine(self, inputs: list[Tensor]) -> Tensor:
        return functools.reduce(torch.mul, inputs)


class Average(_ElementwiseMerge):
    """The element-wise mean of a list of tensors.

    Example:
        >>> Average()([torch.zeros(1, 2), torch.ones(1, 2)])
        tensor([[0.5000, 0.5000]])
    """

    def _combine(self, inputs: list[Tensor]) -> Tensor:
        return functools.reduce(torch.add, inputs) / len(inputs)


class Maximum(_ElementwiseMerge):
    """The element-wise maximum of a list of tensors.

    Example:
        >>> Maximum()([torch.tensor([[1.0, 5.0]]), torch.tensor([[3.0, 2.0]])])
        tensor([[3., 5.]])
    """

    def _combine(self, inputs: list[Tensor]) -> Tensor:
        return functools.reduce(torch.maximum, inputs)


class Minimum(_ElementwiseMerge):
    """The element-wise minimum of a list of tensors.

    Example:
        >>> Minimum()([torch.tensor([[1.0, 5.0]]), torch.tensor([[3.0, 2.0]])])
        tensor([[1., 2.]])
    """

    def _combine(self, inputs: list[Tensor]) -> Tensor:
        return functools.reduce(torch.minimum, inputs)


def _check_axis(value: Any, arg: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"Argument `{arg}` must be an int. Received: {arg}={value!r} "
            f"(of type {type(value).__name__})"
        )
    return value


class Concatenate(_Merge):
    """Concatenate a list of tensors along `axis` (of the tensors as given).

    Keras's default `axis=-1` concatenates the last axis; on channels-first
    feature maps (N, C, H, W) pass `axis=1` to stack channels, which Keras code
    written for channels-last images spells `axis=-1`. All other axes must agree.

    Example:
        >>> Concatenate()([torch.zeros(2, 3), torch.zeros(2, 4)]).shape
        torch.Size([2, 7])
    """

    def __init__(self, axis: int = -1, name: str | None = None) -> None:
        self.axis = _check_axis(axis, "axis")
        super().__init__(name)

    def _merge(self, inputs: list[Tensor]) -> Tensor:
        ranks = {t.ndim for t in inputs}
        rank = inputs[0].ndim
        axis = self.axis + rank if self.axis < 0 else self.axis
        if len(ranks) > 1 or not 0 < axis < max(rank, 1) or any(
            t.shape[:axis] != inputs[0].shape[:axis]
            or t.shape[axis + 1:] != inputs[0].shape[axis + 1:]
            for t in inputs
        ):
            raise ValueError(
                f'Layer "{self.name}" (Concatenate, axis={self.axis}) needs inputs of one rank '
                "whose shapes agree on every axis but the concatenation axis (not the batch "
                f"axis). Received: inputs with shapes {_shapes(inputs)} (of type list)"
            )
        return torch.cat(inputs, dim=axis)

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {"name": self.name, "axis": self.axis}


class Dot(_Merge):
    """Dot product of two tensors, per sample, over `axes` (Keras's `batch_dot`).

    `axes` is an int (the same axis of both) or a pair, indexing the tensors as
    given (axis 0, the batch, cannot be one). The output holds the remaining axes
    of the first input, then of the second; two `(N, D)` inputs give `(N, 1)`.
    `normalize=True` L2-normalizes both along their axes first (cosine similarity).

    Example:
        >>> x, y = torch.ones(4, 3, 5), torch.ones(4, 5, 2)
        >>> Dot(axes=(2, 1))([x, y]).shape
        torch.Size([4, 3, 2])
    """

    min_inputs = max_inputs = 2

    def __init__(
        self, axes: int | Sequence[int], normalize: bool = False, name: str | None = None
    ) -> None:
        if isinstance(axes, int) and not isinstance(axes, bool):
            pair: tuple[int, int] | int = axes
        elif isinstance(axes, (list, tuple)) and len(axes) == 2 and all(
            isinstance(a, int) and not isinstance(a, bool) for a in axes
        ):
            pair = (axes[0], axes[1])
        else:
            raise ValueError(
                "Argument `axes` of Dot must be an int or a pair of ints. "
                f"Received: axes={axes!r} (of type {type(axes).__name__})"
            )
        super().__init__(name)
        self.axes = pair
        self.normalize = bool(normalize)

    def _merge(self, inputs: list[Tensor]) -> Tensor:
        x, y = inputs
        raw = (self.axes, self.axes) if isinstance(self.axes, int) else self.axes
        a0 = raw[0] % x.ndim if x.ndim else raw[0]
        a1 = raw[1] % y.ndim if y.ndim else raw[1]
        if x.ndim < 2 or y.ndim < 2 or 0 in (a0, a1) or x.shape[a0] != y.shape[a1]:
            raise ValueError(
                f'Layer "{self.name}" (Dot, axes={self.axes}) needs two inputs of rank >= 2 '
                "with equal sizes on the dot axes (never the batch axis 0). "
                f"Received: inputs with shapes {_shapes(inputs)} (of type list)"
            )
        if self.normalize:
            x = F.normalize(x, dim=a0, eps=_EPSILON)
            y = F.normalize(y, dim=a1, eps=_EPSILON)
        batch, depth = x.shape[0], x.shape[a0]
        x_rest = [s for i, s in enumerate(x.shape) if i not in (0, a0)]
        y_rest = [s for i, s in enumerate(y.shape) if i not in (0, a1)]
        left = x.movedim(a0, -1).reshape(batch, -1, depth)
        right = y.movedim(a1, 1).reshape(batch, depth, -1)
        out = torch.bmm(left, right)
        if not x_rest and not y_rest:
            return out.reshape(batch, 1)  # Keras keeps one axis for two vectors
        return out.reshape(batch, *x_rest, *y_rest)

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        axes = self.axes if isinstance(self.axes, int) else list(self.axes)
        return {"name": self.name, "axes": axes, "normalize": self.normalize}
