"""Keras initializers that fill torch tensors in place, in PyTorch's weight layout.

Keras computes fan-in/fan-out from its own kernel layouts: `(in, out)` for a
Dense kernel and `(*kernel_size, in / groups, out)` for a convolution. PyTorch
stores the same weights as `(out, in)` and `(out, in / groups, *kernel_size)`.
`compute_fans` reads the PyTorch layout and returns the numbers Keras would
compute for the equivalent Keras kernel, so the distributions match Keras's.
Layers that know their fans pass them explicitly (`init(w, fan_in=.., fan_out=..)`).

Randomness comes from torch's global RNG (so `torch.manual_seed` makes it
reproducible) unless a `seed` is given; like Keras, an initializer seeded
with an int produces the same values on every call.

Example:
    >>> import torch
    >>> from fitorch import initializers
    >>> w = torch.empty(64, 32)  # a Linear weight: 32 inputs, 64 outputs
    >>> initializers.get("glorot_uniform")(w).abs().max() <= (6 / (32 + 64)) ** 0.5
    tensor(True)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "Constant",
    "GlorotNormal",
    "GlorotUniform",
    "HeNormal",
    "HeUniform",
    "Identity",
    "Initializer",
    "LecunNormal",
    "LecunUniform",
    "Ones",
    "Orthogonal",
    "RandomNormal",
    "RandomUniform",
    "TruncatedNormal",
    "VarianceScaling",
    "Zeros",
    "apply_initializer",
    "compute_fans",
    "get",
    "serialize",
]

# Standard deviation of a unit normal truncated to [-2, 2]; Keras divides by it
# so that the *truncated* distribution has the requested variance.
_TRUNCATED_NORMAL_STD = 0.87962566103423978


def compute_fans(shape: Sequence[int]) -> tuple[int, int]:
    """Return `(fan_in, fan_out)` of a weight in PyTorch layout, as Keras computes them.

    Rank 2 is a Linear weight `(out, in)`; rank > 2 a convolution weight
    `(out, in / groups, *kernel_size)` (a transposed convolution's
    `(in, out / groups, *kernel_size)` gives Keras's numbers for its kernel too).
    Rank 1 gives `(n, n)` and rank 0 `(1, 1)`, as in Keras.

    Example:
        >>> compute_fans((64, 3, 5, 5))  # Conv2d(3, 64, kernel_size=5)
        (75, 1600)
    """
    shape = tuple(int(d) for d in shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[2:])
    return shape[1] * receptive_field, shape[0] * receptive_field


class Initializer:
    """Base class: `init(tensor, fan_in=None, fan_out=None)` fills `tensor` in place.

    Subclasses implement `_fill`. The call runs under `torch.no_grad()` so it
    works on parameters, and returns the tensor.
    """

    def __call__(
        self, tensor: Tensor, fan_in: int | None = None, fan_out: int | None = None
    ) -> Tensor:
        if not isinstance(tensor, Tensor):
            raise TypeError(
                "Initializers fill a torch.Tensor in place. "
                f"Received: tensor={tensor!r} (of type {type(tensor).__name__})"
            )
        if (fan_in is None) != (fan_out is None):
            raise ValueError(
                "Pass both `fan_in` and `fan_out`, or neither (then they are computed "
                f"from the tensor's shape). Received: fan_in={fan_in}, fan_out={fan_out}"
            )
        with torch.no_grad():
            self._fill(tensor, fan_in, fan_out)
        return tensor

    def _fill(self, tensor: Tensor, fan_in: int | None, fan_out: int | None) -> None:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments (JSON-able)."""
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Initializer:
        """Create an initializer from `get_config()`'s output."""
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class _RandomInitializer(Initializer):
    def __init__(self, seed: int | None = None) -> None:
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(
                "`seed` argument should be an int or None. "
                f"Received: seed={seed!r} (of type {type(seed).__name__})"
            )
        self.seed = seed

    def _generator(self, tensor: Tensor) -> torch.Generator | None:
        # A fresh generator per call: an int seed gives the same values on every
        # call, as in Keras. `None` falls back to torch's global RNG.
        if self.seed is None:
            return None
        return torch.Generator(device=tensor.device).manual_seed(self.seed)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}


class Zeros(Initializer):
    """Fill with 0.

    Example:
        >>> Zeros()(torch.empty(2)).tolist()
        [0.0, 0.0]
    """

    def _fill(self, tensor: Tensor, fan_in: int | None, fan_out: int | None) -> None:
        tensor.zero_()


class Ones(Initializer):
    """Fill with 1.

    Example:
        >>> Ones()(torch.empty(2)).tolist()
        [1.0, 1.0]
    """

    def _fill(self, tensor: Tensor, fan_in: int | None, fan_out: int | None) -> None:
        tensor.fill_(1)


class Constant(Initializer):
    """Fill with `value` (a scalar, or a tensor/array broadcastable to the tensor).

    Example:
        >>> Constant(0.5)(torch.empty(2)).tolist()
        [0.5, 0.5]
    """

    def __init__(self, value: Any = 0.0) -> None:
        self.value = value

    def _fill(self, tensor: Tensor, fan_in: int | None, fan_out: int | None) -> None:
        if isinstance(self.value, (int, float)):
            tensor.fill_(self.value)
        else:
            tensor.copy_(torch.as_tensor(self.value).expand_as(tensor))

    def get_config(self) -> dict[str, Any]:
        value = self.value
        if hasattr(value, "tolist"):  # tensors and numpy arrays: JSON-able lists
            value = value.tolist()
        return {"value": value}


class Identity(Initializer):
    """`gain` times the identity matrix (2D tensors only).

    Example:
        >>> Identity()(torch.empty(2, 2)).tolist()
        [[1.0, 0.0], [0.0, 1.0]]
    """

    def __init__(self, gain: float = 1.0) -> None:
        self.gain = gain

    def _fill(self, tensor: Tensor, fan_in: int | None, fan_out: int | None) -> None:
        if tensor.ndim != 2:
            raise ValueError(
                "Identity matrix initializer can only be used for 2D matrices. "
                f"Received: shape={tuple(tensor.shape)} of rank {tensor.ndim}"
            )
        # eye(out, in) is the transpose of Keras's eye(in, out): the same matrix.
        torch.nn.init.eye_(tensor).mul_(self.gain)

    def get_config(self) -> dict[str, Any]:
        return {"gain": self.gain}


class RandomUniform(_RandomInitializer):
    """Uniform samples in `[minval, maxval)`.

    Example:
        >>> bool((RandomUniform(-1.0, 1.0)(torch.empty(100)).abs() <= 1).all())
        True
    """

    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None):
        super().__init__(seed)
        self.minval = minval
        self.maxval = maxval

    def _fill(self, tensor: Tensor, fan_in: int | None, fan_out: int | None) -> None:
        tensor.uniform_(self.minval, self.maxval, generator=self._generator(tensor))

    def get_config(self) -> dict[str, Any]:
        return {"minval": self.minval, "maxval": self.maxval, **super().get_config()}


class RandomNormal(_RandomInitializer):
    """Normal samples with `mean` and `stddev`.

    Example:
        >>> RandomNormal(stddev=1.0, seed=0)(torch.empty(3)).shape
        torch.Size([3])
    """

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None):
        super().__init__(seed)
        self.mean = mean
        self.stddev = stddev

    def _fill(self, tensor: Tensor, fan_in: int | None, fan_out: int | None) -> None:
        tensor.normal_(self.mean, self.stddev, generator=self._generator(tensor))

    def get_config(self) -> dict[str, Any]:
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


def _truncated_normal_(
    tensor: Tensor, mean: float, stddev: float, generator: torch.Generator | None
) -> None:
    # Keras keeps samples within two standard deviations of the mean.
    torch.nn.init.trunc_normal_(
        tensor, mean, stddev, mean - 2 * stddev, mean + 2 * stddev, generator=generator
    )


class TruncatedNormal(_RandomInitializer):
    """Normal samples with `mean` and `stddev`, redrawn beyond two `stddev` of the mean.

    Example:
        >>> w = TruncatedNormal(stddev=1.0)(torch.empty(1000))
        >>> bool((w.abs() <= 2).all())
        True
    """

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None):
        super().__init__(seed)
        self.mean = mean
        self.stddev = stddev

    def _fill(self, tensor: Tensor, fan_in: int | None, fan_out: int | None) -> None:
        _truncated_normal_(tensor, self.mean, self.stddev, self._generator(tensor))

    def get_config(self) -> dict[str, Any]:
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")


class VarianceScaling(_RandomInitializer):
    """Samples whose variance is `scale / n`, `n` being the fan given by `mode`.

    `distribution="uniform"` samples in `[-limit, limit]` with
    `limit = sqrt(3 * scale / n)`; the normal variants have
    `stddev = sqrt(scale / n)` (after truncation for `"truncated_normal"`).

    Example:
        >>> init = VarianceScaling(scale=2.0, mode="fan_in", distribution="uniform")
        >>> w = init(torch.empty(10, 8))  # limit = sqrt(3 * 2 / 8)
        >>> bool((w.abs() <= (6 / 8) ** 0.5).all())
        True
    """

    def __init__(
        self,
        scale: float = 1.0,
        mode: str = "fan_in",
        distribution: str = "truncated_normal",
        seed: int | None = None,
    ) -> None:
        super().__init__(seed)
        if not isinstance(scale, (int, float)) or isinstance(scale, bool) or scale <= 0:
            raise ValueError(
                "Argument `scale` must be a positive float. "
                f"Received: scale={scale!r} (of type {type(scale).__name__})"
            )
        if mode not in _MODES:
            raise ValueError(
                f"Invalid `mode` argument: expected one of {list(_MODES)}. "
                f"Received: mode={mode!r} (of type {type(mode).__name__})"
            )
        dist = distribution.lower() if isinstance(distribution, str) else distribution
        if dist == "normal":  # Keras's alias
            dist = "truncated_normal"
        if dist not in _DISTRIBUTIONS:
            raise ValueError(
                f"Invalid `distribution` argument: expected one of {list(_DISTRIBUTIONS)}. "
                f"Received: distribution={distribution!r} (of type {type(distribution).__name__})"
            )
        self.scale = float(scale)
        self.mode = mode
        self.distribution = dist

    def _fill(self, tensor: Tensor, fan_in: int | None, fan_out: int | None) -> None:
        if fan_in is None or fan_out is None:
            fan_in, fan_out = compute_fans(tensor.shape)
        if self.mode == "fan_in":
            n = float(fan_in)
        elif self.mode == "fan_out":
            n = float(fan_out)
        else:
            n = (fan_in + fan_out) / 2.0
        variance = self.scale / max(1.0, n)
        generator = self._generator(tensor)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            tensor.uniform_(-limit, limit, generator=generator)
        elif self.distribution == "untruncated_normal":
            tensor.normal_(0.0, math.sqrt(variance), generator=generator)
        else:
            _truncated_normal_(tensor, 0.0, math.sqrt(variance) / _TRUNCATED_NORMAL_STD, generator)

    def get_config(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "mode": self.mode,
            "distribution": self.distribution,
            **super().get_config(),
        }


class _PresetVarianceScaling(VarianceScaling):
    # Keras's named variants: fixed scale/mode/distribution, only `seed` is an argument.
    _preset: tuple[float, str, str] = (1.0, "fan_in", "truncated_normal")

    def __init__(self, seed: int | None = None) -> None:
        scale, mode, distribution = self._preset
        super().__init__(scale=scale, mode=mode, distribution=distribution, seed=seed)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}


class GlorotUniform(_PresetVarianceScaling):
    """Uniform in `[-limit, limit]`, `limit = sqrt(6 / (fan_in + fan_out))` (Keras's default).

    Example:
        >>> w = GlorotUniform(seed=0)(torch.empty(4, 2))
        >>> bool((w.abs() <= 1.0).all())
        True
    """

    _preset = (1.0, "fan_avg", "uniform")


class GlorotNormal(_PresetVarianceScaling):
    """Truncated normal with `stddev = sqrt(2 / (fan_in + fan_out))`.

    Example:
        >>> GlorotNormal(seed=0)(torch.empty(4, 2)).shape
        torch.Size([4, 2])
    """

    _preset = (1.0, "fan_avg", "truncated_normal")


class HeUniform(_PresetVarianceScaling):
    """Uniform in `[-limit, limit]`, `limit = sqrt(6 / fan_in)`.

    Example:
        >>> HeUniform(seed=0)(torch.empty(4, 2)).shape
        torch.Size([4, 2])
    """

    _preset = (2.0, "fan_in", "uniform")


class HeNormal(_PresetVarianceScaling):
    """Truncated normal with `stddev = sqrt(2 / fan_in)`.

    Example:
        >>> HeNormal(seed=0)(torch.empty(4, 2)).shape
        torch.Size([4, 2])
    """

    _preset = (2.0, "fan_in", "truncated_normal")


class LecunUniform(_PresetVarianceScaling):
    """Uniform in `[-limit, limit]`, `limit = sqrt(3 / fan_in)`.

    Example:
        >>> LecunUniform(seed=0)(torch.empty(4, 2)).shape
        torch.Size([4, 2])
    """

    _preset = (1.0, "fan_in", "uniform")


class LecunNormal(_PresetVarianceScaling):
    """Truncated normal with `stddev = sqrt(1 / fan_in)`.

    Example:
        >>> LecunNormal(seed=0)(torch.empty(4, 2)).shape
        torch.Size([4, 2])
    """

    _preset = (1.0, "fan_in", "truncated_normal")


class Orthogonal(_RandomInitializer):
    """A (semi-)orthogonal matrix times `gain`, from the QR decomposition of normal samples.

    Tensors of rank > 2 are treated as a matrix `(shape[0], prod(shape[1:]))`:
    rows are output units in PyTorch's layout, so the rows (or columns) that
    come out orthonormal are the same ones as for Keras's transposed kernel.

    Example:
        >>> w = Orthogonal(seed=0)(torch.empty(3, 5))
        >>> torch.allclose(w @ w.T, torch.eye(3), atol=1e-5)
        True
    """

    def __init__(self, gain: float = 1.0, seed: int | None = None) -> None:
        super().__init__(seed)
        self.gain = gain

    def _fill(self, tensor: Tensor, fan_in: int | None, fan_out: int | None) -> None:
        if tensor.ndim < 2:
            raise ValueError(
                "The tensor to initialize must be at least two-dimensional. "
                f"Received: shape={tuple(tensor.shape)} of rank {tensor.ndim}"
            )
        torch.nn.init.orthogonal_(tensor, gain=self.gain, generator=self._generator(tensor))

    def get_config(self) -> dict[str, Any]:
        return {"gain": self.gain, **super().get_config()}


_CLASSES: tuple[type[Initializer], ...] = (
    Constant,
    GlorotNormal,
    GlorotUniform,
    HeNormal,
    HeUniform,
    Identity,
    LecunNormal,
    LecunUniform,
    Ones,
    Orthogonal,
    RandomNormal,
    RandomUniform,
    TruncatedNormal,
    VarianceScaling,
    Zeros,
)


def _snake_case(name: str) -> str:
    out = [("_" + c.lower() if c.isupper() and i else c.lower()) for i, c in enumerate(name)]
    return "".join(out)


_REGISTRY: dict[str, type[Initializer]] = {}
for _cls in _CLASSES:
    _REGISTRY[_cls.__name__] = _cls
    _REGISTRY[_snake_case(_cls.__name__)] = _cls
# Keras's aliases.
_REGISTRY.update(
    {
        "normal": RandomNormal,
        "uniform": RandomUniform,
        "one": Ones,
        "zero": Zeros,
        "OrthogonalInitializer": Orthogonal,
        "IdentityInitializer": Identity,
    }
)

InitializerLike = str | dict[str, Any] | Initializer | Callable[..., Any] | None


def get(identifier: InitializerLike) -> Initializer | Callable[..., Any] | None:
    """Return an initializer for a Keras name, a config dict, a class or a callable.

    Names are Keras's (`"glorot_uniform"` or `"GlorotUniform"`); a dict is
    `{"class_name": ..., "config": {...}}` as `serialize` returns it; a class
    is instantiated with no arguments; other callables and `None` are
    returned as is.

    Example:
        >>> get("he_normal")
        HeNormal(seed=None)
        >>> get({"class_name": "RandomUniform", "config": {"maxval": 1.0}}).maxval
        1.0
    """
    if identifier is None or isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, str):
        cls = _REGISTRY.get(identifier)
        if cls is None:
            raise ValueError(
                f"Unknown initializer identifier. Expected one of {sorted(_REGISTRY)}. "
                f"Received: identifier={identifier!r} (of type str)"
            )
        return cls()
    if isinstance(identifier, dict):
        name = identifier.get("class_name")
        cls = _REGISTRY.get(name) if isinstance(name, str) else None
        if cls is None:
            raise ValueError(
                "An initializer config dict needs a 'class_name' among "
                f"{sorted(_REGISTRY)} and a 'config' dict. Received: identifier={identifier!r} "
                "(of type dict)"
            )
        return cls.from_config(dict(identifier.get("config") or {}))
    if isinstance(identifier, type):
        return identifier()
    if callable(identifier):
        return identifier
    raise TypeError(
        "Could not interpret initializer identifier: expected a string name, a config "
        f"dict, an Initializer, a callable or None. Received: identifier={identifier!r} "
        f"(of type {type(identifier).__name__})"
    )


def serialize(initializer: Initializer | Callable[..., Any] | None) -> Any:
    """Return `{"class_name": ..., "config": ...}` for an `Initializer`; others as is.

    Example:
        >>> serialize(GlorotUniform(seed=3))
        {'class_name': 'GlorotUniform', 'config': {'seed': 3}}
    """
    if isinstance(initializer, Initializer):
        return {"class_name": type(initializer).__name__, "config": initializer.get_config()}
    return initializer


def apply_initializer(
    initializer: Initializer | Callable[..., Any],
    tensor: Tensor,
    *,
    fan_in: int,
    fan_out: int,
) -> Tensor:
    """Fill `tensor` in place with `initializer`, passing Keras's fans explicitly.

    Layers call this with the fans of the Keras kernel they mirror. Any other
    callable follows `torch.nn.init`'s convention: it takes the tensor and
    fills it in place (if it returns a different tensor, that is copied in).

    Example:
        >>> w = torch.empty(4, 3)
        >>> _ = apply_initializer(GlorotUniform(), w, fan_in=3, fan_out=4)
        >>> _ = apply_initializer(torch.nn.init.zeros_, w, fan_in=3, fan_out=4)
        >>> w.abs().sum().item()
        0.0
    """
    if isinstance(initializer, Initializer):
        return initializer(tensor, fan_in=fan_in, fan_out=fan_out)
    with torch.no_grad():
        result = initializer(tensor)
        if isinstance(result, Tensor) and result is not tensor:
            tensor.copy_(result)
    return tensor
