"""Keras activation functions as torch callables, looked up by their Keras names.

Every function takes and returns a `torch.Tensor` and matches Keras 3's
definition (and defaults) exactly, e.g. `gelu` is the exact erf form and
`leaky_relu` has `negative_slope=0.2`, as in `keras.activations`.

Example:
    >>> import torch
    >>> from fitorch import activations
    >>> activations.get("relu")(torch.tensor([-1.0, 2.0]))
    tensor([0., 2.])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "celu",
    "elu",
    "exponential",
    "gelu",
    "get",
    "hard_sigmoid",
    "hard_silu",
    "hard_swish",
    "leaky_relu",
    "linear",
    "log_sigmoid",
    "log_softmax",
    "mish",
    "relu",
    "relu6",
    "selu",
    "serialize",
    "sigmoid",
    "silu",
    "softmax",
    "softplus",
    "softsign",
    "swish",
    "tanh",
]


def relu(x: Tensor) -> Tensor:
    """`max(x, 0)`."""
    return F.relu(x)


def relu6(x: Tensor) -> Tensor:
    """`min(max(x, 0), 6)`."""
    return F.relu6(x)


def leaky_relu(x: Tensor, negative_slope: float = 0.2) -> Tensor:
    """`x` if `x >= 0` else `negative_slope * x` (Keras's default slope is 0.2)."""
    return F.leaky_relu(x, negative_slope)


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """Softmax along `axis` (the last one by default)."""
    return torch.softmax(x, dim=axis)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """Log of the softmax along `axis` (the last one by default)."""
    return torch.log_softmax(x, dim=axis)


def sigmoid(x: Tensor) -> Tensor:
    """`1 / (1 + exp(-x))`."""
    return torch.sigmoid(x)


def log_sigmoid(x: Tensor) -> Tensor:
    """`log(sigmoid(x))`, computed stably."""
    return F.logsigmoid(x)


def tanh(x: Tensor) -> Tensor:
    """Hyperbolic tangent."""
    return torch.tanh(x)


def gelu(x: Tensor, approximate: bool = False) -> Tensor:
    """Gaussian error linear unit; Keras's default is the exact erf form."""
    return F.gelu(x, approximate="tanh" if approximate else "none")


def silu(x: Tensor) -> Tensor:
    """`x * sigmoid(x)` (also known as swish)."""
    return F.silu(x)


swish = silu


def hard_silu(x: Tensor) -> Tensor:
    """`x * hard_sigmoid(x)` (also known as hard swish)."""
    return F.hardswish(x)


hard_swish = hard_silu


def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """`x` if `x > 0` else `alpha * (exp(x) - 1)`."""
    return F.elu(x, alpha)


def celu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """`x` if `x >= 0` else `alpha * (exp(x / alpha) - 1)`."""
    return F.celu(x, alpha)


def selu(x: Tensor) -> Tensor:
    """Scaled ELU with the fixed constants of Klambauer et al. (2017)."""
    return F.selu(x)


def softplus(x: Tensor) -> Tensor:
    """`log(exp(x) + 1)`."""
    return F.softplus(x)


def softsign(x: Tensor) -> Tensor:
    """`x / (abs(x) + 1)`."""
    return F.softsign(x)


def exponential(x: Tensor) -> Tensor:
    """`exp(x)`."""
    return torch.exp(x)


def hard_sigmoid(x: Tensor) -> Tensor:
    """Keras 3's hard sigmoid: `clip(x / 6 + 0.5, 0, 1)`."""
    return F.hardsigmoid(x)


def mish(x: Tensor) -> Tensor:
    """`x * tanh(softplus(x))`."""
    return F.mish(x)


def linear(x: Tensor) -> Tensor:
    """Identity: returns `x` unchanged."""
    return x


_ACTIVATIONS: dict[str, Callable[..., Tensor]] = {
    "celu": celu,
    "elu": elu,
    "exponential": exponential,
    "gelu": gelu,
    "hard_sigmoid": hard_sigmoid,
    "hard_silu": hard_silu,
    "hard_swish": hard_swish,
    "leaky_relu": leaky_relu,
    "linear": linear,
    "log_sigmoid": log_sigmoid,
    "log_softmax": log_softmax,
    "mish": mish,
    "relu": relu,
    "relu6": relu6,
    "selu": selu,
    "sigmoid": sigmoid,
    "silu": silu,
    "softmax": softmax,
    "softplus": softplus,
    "softsign": softsign,
    "swish": swish,
    "tanh": tanh,
}

# Reverse map for `serialize`: aliases resolve to their Keras canonical name
# (Keras serializes `swish` as "silu", `hard_swish` as "hard_silu").
_NAMES: dict[Callable[..., Tensor], str] = {}
for _name, _fn in _ACTIVATIONS.items():
    _NAMES.setdefault(_fn, _name)


def get(identifier: str | Callable[..., Any] | None) -> Callable[..., Any]:
    """Return the activation callable for a Keras name, `None` or a callable.

    `None` means `linear`; a callable (a function or a `torch.nn.Module`) is
    returned as is.

    Example:
        >>> get("softmax") is softmax
        True
        >>> get(None) is linear
        True
    """
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        fn = _ACTIVATIONS.get(identifier)
        if fn is None:
            raise ValueError(
                "Unknown activation function identifier. Expected one of "
                f"{sorted(_ACTIVATIONS)} or a callable. "
                f"Received: identifier={identifier!r} (of type str)"
            )
        return fn
    if callable(identifier):
        return identifier
    raise TypeError(
        "Could not interpret activation function identifier: expected a string name, "
        f"None or a callable. Received: identifier={identifier!r} "
        f"(of type {type(identifier).__name__})"
    )


def serialize(activation: Callable[..., Any]) -> str | Callable[..., Any]:
    """Return the Keras name of a built-in activation; other callables are returned as is.

    Example:
        >>> serialize(get("swish"))
        'silu'
    """
    try:
        return _NAMES.get(activation, activation)
    except TypeError:  # an unhashable callable object cannot be a built-in
        return activation
