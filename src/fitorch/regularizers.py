"""Keras's weight regularizers for torch tensors: `L1`, `L2`, `L1L2`.

A regularizer maps a tensor (a parameter, or a layer's outputs for an
activity regularizer) to a scalar penalty that is added to the loss. The
penalties are sums over every element, so they do not depend on the
parameter's layout: PyTorch's `(out, in)` gives the same value as Keras's
`(in, out)`.

Names, arguments, defaults and configs are Keras 3's; `l1`, `l2` and `l1_l2`
are aliases of the classes, as in Keras 3. Any callable taking a tensor and
returning a scalar tensor works as a regularizer too.

Example:
    >>> import torch
    >>> from fitorch import regularizers
    >>> regularizers.L2(0.5)(torch.ones(2, 3))
    tensor(3.)
    >>> regularizers.get("l1")
    L1(l1=0.01)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "L1",
    "L1L2",
    "L2",
    "Regularizer",
    "deserialize",
    "get",
    "l1",
    "l1_l2",
    "l2",
    "serialize",
]


def _validate_factor(value: Any, name: str) -> float:
    """Keras's check on a penalty factor: a finite, non-negative number."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(
            f"Invalid value for argument `{name}`: expected a non-negative float. "
            f"Received: {name}={value!r} (of type {type(value).__name__})"
        )
    return float(value)


class Regularizer:
    """Base class: `regularizer(weight)` returns a scalar penalty tensor.

    Subclasses override `__call__` and `get_config` (the constructor
    arguments, JSON-able); `from_config` then rebuilds them.

    Example:
        >>> class Sum(Regularizer):
        ...     def __call__(self, weight):
        ...         return weight.sum()
        ...     def get_config(self):
        ...         return {}
        >>> Sum()(torch.ones(2, 2))
        tensor(4.)
    """

    def __call__(self, weight: Tensor) -> Tensor:
        """Return the penalty for `weight` (the base class: zero)."""
        return weight.new_zeros(())

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments (JSON-able)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement get_config()")

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Regularizer:
        """Create a regularizer from `get_config()`'s output."""
        return cls(**config)

    def __repr__(self) -> str:
        try:
            config = self.get_config()
        except NotImplementedError:
            return f"{type(self).__name__}()"
        args = ", ".join(f"{k}={v!r}" for k, v in config.items())
        return f"{type(self).__name__}({args})"


def _l1_penalty(factor: float, x: Tensor) -> Tensor:
    # vector_norm(ord=1) is one fused reduction: no |x| temporary.
    return factor * torch.linalg.vector_norm(x, ord=1)


def _l2_penalty(factor: float, x: Tensor) -> Tensor:
    flat = x.reshape(-1)
    return factor * torch.dot(flat, flat)  # fused sum of squares


class L1L2(Regularizer):
    """Both penalties: `l1 * sum(|x|) + l2 * sum(x ** 2)`.

    The defaults are 0 (no penalty), as in Keras; the string `"l1_l2"` gives
    `l1=l2=0.01`.

    Example:
        >>> L1L2(l1=0.1, l2=0.5)(torch.tensor([1.0, -2.0]))
        tensor(2.8000)
    """

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        self.l1 = _validate_factor(0.0 if l1 is None else l1, "l1")
        self.l2 = _validate_factor(0.0 if l2 is None else l2, "l2")

    def __call__(self, weight: Tensor) -> Tensor:
        penalty: Tensor | None = None
        if self.l1:
            penalty = _l1_penalty(self.l1, weight)
        if self.l2:
            l2 = _l2_penalty(self.l2, weight)
            penalty = l2 if penalty is None else penalty + l2
        return penalty if penalty is not None else weight.new_zeros(())

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1, "l2": self.l2}


class L1(Regularizer):
    """The L1 penalty `l1 * sum(|x|)`.

    Example:
        >>> L1(0.5)(torch.tensor([1.0, -2.0]))
        tensor(1.5000)
    """

    def __init__(self, l1: float = 0.01) -> None:
        self.l1 = _validate_factor(0.01 if l1 is None else l1, "l1")

    def __call__(self, weight: Tensor) -> Tensor:
        return _l1_penalty(self.l1, weight)

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1}


class L2(Regularizer):
    """The L2 penalty `l2 * sum(x ** 2)`.

    Example:
        >>> L2(0.5)(torch.tensor([1.0, -2.0]))
        tensor(2.5000)
    """

    def __init__(self, l2: float = 0.01) -> None:
        self.l2 = _validate_factor(0.01 if l2 is None else l2, "l2")

    def __call__(self, weight: Tensor) -> Tensor:
        return _l2_penalty(self.l2, weight)

    def get_config(self) -> dict[str, Any]:
        return {"l2": self.l2}


# Keras 3's lower-case aliases are the classes themselves.
l1 = L1
l2 = L2
l1_l2 = L1L2

_CLASSES: dict[str, type[Regularizer]] = {"L1": L1, "L2": L2, "L1L2": L1L2}
_CLASSES.update({"l1": L1, "l2": L2, "l1l2": L1L2, "l1_l2": L1L2})


def _from_string(name: str) -> Regularizer:
    cls = _CLASSES[name]
    # Keras documents l1=l2=0.01 for the string "l1_l2" (Keras 3.15 itself
    # rejects "l1_l2" and builds a zero penalty from "L1L2"/"l1l2"): every
    # spelling of L1L2 as a string gives that documented default.
    return L1L2(l1=0.01, l2=0.01) if cls is L1L2 else cls()


RegularizerLike = str | dict[str, Any] | Regularizer | Callable[[Tensor], Tensor] | None


def get(
    identifier: RegularizerLike | type[Regularizer], *, arg_name: str = "identifier"
) -> Regularizer | Callable[[Tensor], Tensor] | None:
    """Return a regularizer for a Keras name, a config dict, a class, an instance or a callable.

    Names are Keras's (`"l1"`, `"L2"`, `"l1_l2"`, ...), with Keras's defaults
    (0.01); a dict is `{"class_name": ..., "config": {...}}` as `serialize`
    (or Keras) writes it; a class is instantiated with its defaults; instances,
    other callables and `None` are returned as is. `arg_name` names the
    argument in error messages (layers pass e.g. `"kernel_regularizer"`).

    Example:
        >>> get("l1_l2")
        L1L2(l1=0.01, l2=0.01)
        >>> get({"class_name": "L2", "config": {"l2": 0.1}})
        L2(l2=0.1)
    """
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str):
        if identifier not in _CLASSES:
            raise ValueError(
                f"Unknown regularizer for `{arg_name}`. Expected one of {sorted(_CLASSES)}, "
                f"a config dict, a callable or None. "
                f"Received: {arg_name}={identifier!r} (of type str)"
            )
        return _from_string(identifier)
    if isinstance(identifier, dict):
        name = identifier.get("class_name")
        config = identifier.get("config") or {}
        if not isinstance(name, str) or name not in _CLASSES or not isinstance(config, dict):
            raise ValueError(
                f"Unknown regularizer config for `{arg_name}`: expected a 'class_name' among "
                f"{sorted(_CLASSES)} and a 'config' dict. "
                f"Received: {arg_name}={identifier!r} (of type dict)"
            )
        return _CLASSES[name].from_config(dict(config))
    if isinstance(identifier, type):
        return identifier()
    if callable(identifier):
        return identifier
    raise TypeError(
        f"Could not interpret `{arg_name}`: expected one of {sorted(_CLASSES)}, a config "
        f"dict, a Regularizer, a callable or None. Received: {arg_name}={identifier!r} "
        f"(of type {type(identifier).__name__})"
    )


def serialize(regularizer: Regularizer | Callable[[Tensor], Tensor] | None) -> Any:
    """Return `{"class_name": ..., "config": ...}` for a `Regularizer`; others as is.

    Example:
        >>> serialize(L1(0.1))
        {'class_name': 'L1', 'config': {'l1': 0.1}}
    """
    if isinstance(regularizer, Regularizer):
        return {"class_name": type(regularizer).__name__, "config": regularizer.get_config()}
    return regularizer


def deserialize(config: dict[str, Any]) -> Regularizer | Callable[[Tensor], Tensor] | None:
    """Rebuild a regularizer from `serialize`'s output (Keras's `deserialize`).

    Example:
        >>> deserialize(serialize(L2(0.3)))
        L2(l2=0.3)
    """
    return get(config)
