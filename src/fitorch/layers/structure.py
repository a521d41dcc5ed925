"""Keras's structural layers, channels-first: Identity, Lambda, Permute, RepeatVector,
Cropping1D/2D, ZeroPadding1D/2D and UpSampling1D/2D.

The 1D layers work on `(batch, channels, steps)`, the 2D ones on
`(batch, channels, height, width)`: the cropping, padding or repeating that Keras
applies to the spatial axes of channels-last data applies to axes 2 and up here.
Permute's `dims` and RepeatVector's output index the tensors as given
(RepeatVector gives `(batch, n, features)`, what the batch-first recurrent
layers take).

Example:
    >>> import torch
    >>> from fitorch.layers import UpSampling2D, ZeroPadding2D
    >>> ZeroPadding2D(1)(torch.zeros(2, 3, 4, 4)).shape
    torch.Size([2, 3, 6, 6])
    >>> UpSampling2D(2, interpolation="bilinear")(torch.zeros(2, 3, 4, 4)).shape
    torch.Size([2, 3, 8, 8])
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from fitorch.layers.conv import standardize_data_format
from fitorch.layers.core import _NoWeights, _resolve_name
from fitorch.layers.layer_api import LayerAPI

__all__ = [
    "Cropping1D",
    "Cropping2D",
    "Identity",
    "Lambda",
    "Permute",
    "RepeatVector",
    "UpSampling1D",
    "UpSampling2D",
    "ZeroPadding1D",
    "ZeroPadding2D",
]


def _is_int(value: Any, minimum: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _check_rank(layer: Any, inputs: Tensor, rank: int, layout: str) -> None:
    if inputs.ndim != rank:
        raise ValueError(
            f'Input of layer "{layer.name}" is incompatible with the layer: expected rank '
            f"{rank} {layout} (channels first). "
            f"Received: inputs.shape={tuple(inputs.shape)} (of type {type(inputs).__name__})"
        )


class _Weightless(LayerAPI, _NoWeights, nn.Module):
    """Name, config round trip and repr of a weightless layer."""

    def __init__(self, name: str | None) -> None:
        super().__init__()
        self.name = _resolve_name(name, type(self))

    def _config(self) -> dict[str, Any]:
        return {}

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {"name": self.name, **self._config()}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Any:
        """Create a layer from `get_config()`'s output."""
        return cls(**config)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())


class Identity(_Weightless):
    """Return the inputs unchanged (a placeholder layer).

    Example:
        >>> import torch
        >>> x = torch.ones(2)
        >>> Identity()(x) is x
        True
    """

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)

    def forward(self, inputs: Any) -> Any:
        return inputs


class Lambda(_Weightless):
    """Wrap a function as a layer: `function(inputs, **arguments)`.

    A function that takes `training` (or `mask`) gets it. Its config holds the
    function itself, so a model with a Lambda layer saves its weights but not its
    architecture (saving never writes code); pass the model when loading.

    Example:
        >>> import torch
        >>> Lambda(lambda x, p: x ** p, arguments={"p": 2})(torch.tensor([3.0]))
        tensor([9.])
    """

    def __init__(
        self,
        function: Callable[..., Any],
        output_shape: Any = None,
        mask: Any = None,
        arguments: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> None:
        if not callable(function):
            raise TypeError(
                "Argument `function` of Lambda must be callable. "
                f"Received: function={function!r} (of type {type(function).__name__})"
            )
        if arguments is not None and not isinstance(arguments, dict):
            raise TypeError(
                "Argument `arguments` of Lambda must be a dict of keyword arguments or None. "
                f"Received: arguments={arguments!r} (of type {type(arguments).__name__})"
            )
        super().__init__(name)
        self.function = function
        self.output_shape = output_shape
        self.mask = mask
        self.arguments = dict(arguments or {})
        try:
            params = inspect.signature(function).parameters
        except (TypeError, ValueError):  # some builtins have no signature
            params = {}  # type: ignore[assignment]
        self._takes_training = "training" in params
        self._takes_mask = "mask" in params

    def forward(self, inputs: Any, mask: Any = None) -> Any:
        kwargs = dict(self.arguments)
        if self._takes_training:
            kwargs["training"] = self.training
        if self._takes_mask:
            kwargs["mask"] = mask
        return self.function(inputs, **kwargs)

    def _config(self) -> dict[str, Any]:
        return {"function": self.function, "output_shape": self.output_shape,
                "mask": self.mask, "arguments": self.arguments}

    def extra_repr(self) -> str:
        return f"name={self.name!r}, function={getattr(self.function, '__name__', self.function)}"


class Permute(_Weightless):
    """Permute the sample axes: `dims` is a permutation of `1..rank-1` (the batch stays).

    Example:
        >>> import torch
        >>> Permute((2, 1))(torch.zeros(4, 3, 5)).shape
        torch.Size([4, 5, 3])
    """

    def __init__(self, dims: Sequence[int], name: str | None = None) -> None:
        perm = tuple(dims) if isinstance(dims, Sequence) and not isinstance(dims, str) else ()
        if not perm or sorted(perm) != list(range(1, len(perm) + 1)) or not all(
            _is_int(d, 1) for d in perm
        ):
            raise ValueError(
                "Invalid permutation argument `dims` for Permute Layer. The set of indices in "
                f"`dims` must be consecutive and start from 1. Received: dims={dims!r} "
                f"(of type {type(dims).__name__})"
            )
        super().__init__(name)
        self.dims = perm

    def forward(self, inputs: Tensor) -> Tensor:
        _check_rank(self, inputs, len(self.dims) + 1, f"(batch + {len(self.dims)} axes)")
        return inputs.permute(0, *self.dims)

    def _config(self) -> dict[str, Any]:
        return {"dims": list(self.dims)}


class RepeatVector(_Weightless):
    """Repeat `(batch, features)` inputs `n` times: `(batch, n, features)`.

    Example:
        >>> import torch
        >>> RepeatVector(3)(torch.zeros(2, 5)).shape
        torch.Size([2, 3, 5])
    """

    def __init__(self, n: int, name: str | None = None) -> None:
        if not _is_int(n, 1):
            raise TypeError(
                "Expected an integer value for `n` (>= 1). "
                f"Received: n={n!r} (of type {type(n).__name__})"
            )
        super().__init__(name)
        self.n = n

    def forward(self, inputs: Tensor) -> Tensor:
        _check_rank(self, inputs, 2, "(batch, features)")
        return inputs.unsqueeze(1).expand(-1, self.n, -1)

    def _config(self) -> dict[str, Any]:
        return {"n": self.n}


def _pairs(value: Any, rank: int, arg: str, minimum: int = 0) -> tuple[tuple[int, int], ...]:
    """Keras's cropping/padding argument as `((before, after),) * rank`."""
    if _is_int(value, minimum):
        return ((value, value),) * rank
    if isinstance(value, Sequence) and not isinstance(value, str):
        if rank == 1 and len(value) == 2 and all(_is_int(v, minimum) for v in value):
            return ((value[0], value[1]),)
        if rank > 1 and len(value) == rank:
            if all(_is_int(v, minimum) for v in value):
                return tuple((v, v) for v in value)
            if all(
                isinstance(v, Sequence) and len(v) == 2 and all(_is_int(i, minimum) for i in v)
                for v in value
            ):
                return tuple((v[0], v[1]) for v in value)
    shapes = ("an int or a pair of ints" if rank == 1 else
              f"an int, {rank} ints, or {rank} pairs of ints")
    raise ValueError(
        f"Argument `{arg}` must be {shapes} (non-negative). "
        f"Received: {arg}={value!r} (of type {type(value).__name__})"
    )


_LAYOUT = {1: "(batch, channels, steps)", 2: "(batch, channels, height, width)"}


class _Cropping(_Weightless):
    rank = 0

    def __init__(self, cropping: Any, data_format: str | None = None,
                 name: str | None = None) -> None:
        crops = _pairs(cropping, self.rank, "cropping")
        if self.rank > 1:
            standardize_data_format(data_format)
        super().__init__(name)
        self.cropping = crops

    def forward(self, inputs: Tensor) -> Tensor:
        _check_rank(self, inputs, self.rank + 2, _LAYOUT[self.rank])
        index: list[slice] = [slice(None), slice(None)]
        for size, (before, after) in zip(inputs.shape[2:], self.cropping):
            if before + after >= size:
                raise ValueError(
                    f'Layer "{self.name}" crops {before} + {after} positions from an axis of '
                    f"size {size}: nothing would be left. Received: inputs.shape="
                    f"{tuple(inputs.shape)} (of type {type(inputs).__name__})"
                )
            index.append(slice(before, size - after))
        return inputs[tuple(index)]

    def _config(self) -> dict[str, Any]:
        if self.rank == 1:
            return {"cropping": list(self.cropping[0])}
        return {"cropping": [list(p) for p in self.cropping], "data_format": "channels_first"}


class Cropping1D(_Cropping):
    """Crop `(start, end)` steps off `(batch, channels, steps)` inputs.

    Example:
        >>> import torch
        >>> Cropping1D((1, 2))(torch.zeros(2, 3, 10)).shape
        torch.Size([2, 3, 7])
    """

    rank = 1

    def __init__(self, cropping: int | Sequence[int] = (1, 1), name: str | None = None) -> None:
        super().__init__(cropping, name=name)


class Cropping2D(_Cropping):
    """Crop `((top, bottom), (left, right))` off `(batch, channels, height, width)` inputs.

    Example:
        >>> import torch
        >>> Cropping2D(((1, 0), (2, 2)))(torch.zeros(2, 3, 8, 8)).shape
        torch.Size([2, 3, 7, 4])
    """

    rank = 2

    def __init__(self, cropping: Any = ((0, 0), (0, 0)), data_format: str | None = None,
                 name: str | None = None) -> None:
        super().__init__(cropping, data_format, name)


class _ZeroPadding(_Weightless):
    rank = 0

    def __init__(self, padding: Any, data_format: str | None = None,
                 name: str | None = None) -> None:
        pads = _pairs(padding, self.rank, "padding")
        if self.rank > 1:
            standardize_data_format(data_format)
        super().__init__(name)
        self.padding = pads
        self._pad = tuple(p for pair in reversed(pads) for p in pair)  # F.pad: last axis first

    def forward(self, inputs: Tensor) -> Tensor:
        _check_rank(self, inputs, self.rank + 2, _LAYOUT[self.rank])
        return F.pad(inputs, self._pad)

    def _config(self) -> dict[str, Any]:
        if self.rank == 1:
            return {"padding": list(self.padding[0])}
        return {"padding": [list(p) for p in self.padding], "data_format": "channels_first"}


class ZeroPadding1D(_ZeroPadding):
    """Pad `(batch, channels, steps)` inputs with zeros: `padding` steps each side,
    or `(start, end)`.

    Example:
        >>> import torch
        >>> ZeroPadding1D((1, 2))(torch.ones(1, 1, 2))
        tensor([[[0., 1., 1., 0., 0.]]])
    """

    rank = 1

    def __init__(self, padding: int | Sequence[int] = 1, name: str | None = None) -> None:
        super().__init__(padding, name=name)


class ZeroPadding2D(_ZeroPadding):
    """Pad `(batch, channels, height, width)` inputs with zeros:
    `((top, bottom), (left, right))`, `(rows, cols)` or one int.

    Example:
        >>> import torch
        >>> ZeroPadding2D(((1, 0), (0, 2)))(torch.zeros(2, 3, 4, 4)).shape
        torch.Size([2, 3, 5, 6])
    """

    rank = 2

    def __init__(self, padding: Any = (1, 1), data_format: str | None = None,
                 name: str | None = None) -> None:
        super().__init__(padding, data_format, name)


class UpSampling1D(_Weightless):
    """Repeat each step `size` times: `(batch, channels, steps * size)`.

    Example:
        >>> import torch
        >>> UpSampling1D(2)(torch.tensor([[[1.0, 2.0]]]))
        tensor([[[1., 1., 2., 2.]]])
    """

    def __init__(self, size: int = 2, name: str | None = None) -> None:
        if not _is_int(size, 1):
            raise ValueError(
                f"Argument `size` must be a positive int. Received: size={size!r} "
                f"(of type {type(size).__name__})"
            )
        super().__init__(name)
        self.size = size

    def forward(self, inputs: Tensor) -> Tensor:
        _check_rank(self, inputs, 3, _LAYOUT[1])
        return inputs.repeat_interleave(self.size, dim=2)

    def _config(self) -> dict[str, Any]:
        return {"size": self.size}


_INTERPOLATIONS = ("nearest", "bilinear", "bicubic")


class UpSampling2D(_Weightless):
    """Scale `(batch, channels, height, width)` inputs up by `size`.

    `interpolation` is `"nearest"` (each pixel repeated), `"bilinear"` or
    `"bicubic"` (torch's `interpolate` with half-pixel centres, as Keras's torch
    backend resizes).

    Example:
        >>> import torch
        >>> UpSampling2D((2, 3))(torch.zeros(1, 2, 4, 4)).shape
        torch.Size([1, 2, 8, 12])
    """

    def __init__(
        self,
        size: int | Sequence[int] = (2, 2),
        data_format: str | None = None,
        interpolation: str = "nearest",
        name: str | None = None,
    ) -> None:
        from fitorch.layers.conv import standardize_tuple

        sizes = standardize_tuple(size, 2, "size")
        standardize_data_format(data_format)
        if interpolation not in _INTERPOLATIONS:
            raise ValueError(
                f"Argument `interpolation` must be one of {list(_INTERPOLATIONS)}. "
                f"Received: interpolation={interpolation!r} (of type "
                f"{type(interpolation).__name__})"
            )
        super().__init__(name)
        self.size = sizes
        self.interpolation = interpolation

    def forward(self, inputs: Tensor) -> Tensor:
        _check_rank(self, inputs, 4, _LAYOUT[2])
        if self.interpolation == "nearest":
            return inputs.repeat_interleave(self.size[0], dim=2).repeat_interleave(
                self.size[1], dim=3)
        out_size = (inputs.shape[2] * self.size[0], inputs.shape[3] * self.size[1])
        return F.interpolate(inputs, size=out_size, mode=self.interpolation, align_corners=False)

    def _config(self) -> dict[str, Any]:
        return {"size": list(self.size), "data_format": "channels_first",
                "interpolation": self.interpolation}
