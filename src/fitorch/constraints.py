"""Keras's weight constraints for torch parameters: `MaxNorm`, `MinMaxNorm`, `NonNeg`, `UnitNorm`.

A constraint maps a parameter to its projection (clipped, rescaled...);
layers apply it after each optimizer step (`layer.apply_constraints()`).
Names, arguments, defaults and configs are Keras 3's, and `max_norm`,
`min_max_norm`, `non_neg` and `unit_norm` are aliases of the classes.

**Axes.** `axis` keeps Keras's meaning, which refers to Keras's kernel layout
`(*kernel_size, in, out)` (a Dense kernel is `(in, out)`). A constraint here
receives the parameter in PyTorch's layout `(out, in, *kernel_size)` (a
Linear weight is `(out, in)`), and translates the axes:

- `axis=0`, the default, gives one norm per output unit, over all of that
  unit's incoming weights: every axis but the first of a PyTorch weight.
  For a Dense kernel this is exactly Keras's `axis=0`; for a convolution it is
  Keras's `axis=[0, 1, 2]` (one norm per filter), the value Keras's docs
  recommend for conv kernels (a literal `axis=0` there would take norms
  along the first spatial axis only).
- Any other value (an int or a list of ints, negative ones allowed) names
  Keras axes, which are mapped one by one: Keras's last axis (out) is
  PyTorch's axis 0, the one before it (in) is PyTorch's axis 1, and the
  spatial axes `0..k-1` are PyTorch's `2..k+1`. E.g. `axis=1` (or `-1`) on a
  Linear weight takes one norm per input feature, over PyTorch's axis 0.
- A 1-D parameter (a bias) has the same layout in both: its axis is used as is.

A layer whose PyTorch parameter is not in `(out, in, ...)` order (e.g.
`Embedding`, stored as `(input_dim, output_dim)` like Keras's) passes the
constraint the transposed view of it.

Example:
    >>> import torch
    >>> from fitorch import constraints
    >>> w = torch.tensor([[3.0, 4.0], [0.3, 0.4]])  # Linear weight: 2 units, 2 inputs
    >>> constraints.MaxNorm(1.0)(w)  # each unit's incoming weights to norm <= 1
    tensor([[0.6000, 0.8000],
            [0.3000, 0.4000]])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "Constraint",
    "MaxNorm",
    "MinMaxNorm",
    "NonNeg",
    "UnitNorm",
    "deserialize",
    "get",
    "max_norm",
    "min_max_norm",
    "non_neg",
    "serialize",
    "unit_norm",
]

_EPSILON = 1e-7  # keras.backend.epsilon()

Axis = int | list[int]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _validate_axis(axis: Any) -> Axis:
    if _is_int(axis):
        return int(axis)
    if isinstance(axis, (list, tuple)) and axis and all(_is_int(a) for a in axis):
        return [int(a) for a in axis]
    raise ValueError(
        "Argument `axis` must be an int or a non-empty list of ints. "
        f"Received: axis={axis!r} (of type {type(axis).__name__})"
    )


def _validate_number(value: Any, name: str) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(
            f"Argument `{name}` must be a number. "
            f"Received: {name}={value!r} (of type {type(value).__name__})"
        )
    return value


def _torch_dims(axis: Axis, ndim: int) -> tuple[int, ...]:
    """PyTorch dims of an `ndim`-D parameter that Keras's `axis` reduces over (see module doc)."""
    if ndim >= 2 and axis == 0:
        return tuple(range(1, ndim))
    axes = [axis] if isinstance(axis, int) else axis
    size = max(ndim, 1)
    dims = set()
    for a in axes:
        if not -size <= a < size:
            raise ValueError(
                f"`axis` is out of range for a parameter of rank {ndim}. "
                f"Received: axis={axis!r} (of type {type(axis).__name__})"
            )
        k = a % size
        if ndim < 2:
            dims.add(k)
        else:
            dims.add(0 if k == ndim - 1 else 1 if k == ndim - 2 else k + 2)
    return tuple(sorted(dims))


def _norms(w: Tensor, axis: Axis) -> Tensor:
    return torch.linalg.vector_norm(w, dim=_torch_dims(axis, w.ndim), keepdim=True)


class Constraint:
    """Base class: `constraint(weight)` returns the projected weight (the base: as is).

    Subclasses override `__call__` and, if they take arguments, `get_config`.

    Example:
        >>> class Clip(Constraint):
        ...     def __call__(self, weight):
        ...         return weight.clamp(-1, 1)
        >>> Clip()(torch.tensor([-3.0, 0.5]))
        tensor([-1.0000,  0.5000])
    """

    def __call__(self, weight: Tensor) -> Tensor:
        """Return the projection of `weight` (the base class: `weight` unchanged)."""
        return weight

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments (JSON-able)."""
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Constraint:
        """Create a constraint from `get_config()`'s output."""
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class MaxNorm(Constraint):
    """Rescale each unit's incoming weights to norm at most `max_value`.

    `w * clip(norm, 0, max_value) / (1e-7 + norm)`, norms along `axis` (Keras's
    axes; the module doc tells how they map to PyTorch's layout).

    Example:
        >>> MaxNorm(1.0)(torch.tensor([[3.0, 4.0]]))
        tensor([[0.6000, 0.8000]])
    """

    def __init__(self, max_value: float = 2, axis: int | Sequence[int] = 0) -> None:
        self.max_value = _validate_number(max_value, "max_value")
        self.axis = _validate_axis(axis)

    def __call__(self, weight: Tensor) -> Tensor:
        norms = _norms(weight, self.axis)
        desired = norms.clamp(0, self.max_value)
        return weight * (desired / (_EPSILON + norms))

    def get_config(self) -> dict[str, Any]:
        return {"max_value": self.max_value, "axis": self.axis}


class MinMaxNorm(Constraint):
    """Move each unit's weight norm into `[min_value, max_value]`, at speed `rate`.

    The norm becomes `rate * clip(norm, min_value, max_value) + (1 - rate) * norm`
    (`rate=1` enforces the bounds at once); norms along `axis` as in `MaxNorm`.

    Example:
        >>> MinMaxNorm(min_value=1.0, max_value=2.0)(torch.tensor([[0.3, 0.4]]))
        tensor([[0.6000, 0.8000]])
    """

    def __init__(
        self,
        min_value: float = 0.0,
        max_value: float = 1.0,
        rate: float = 1.0,
        axis: int | Sequence[int] = 0,
    ) -> None:
        self.min_value = _validate_number(min_value, "min_value")
        self.max_value = _validate_number(max_value, "max_value")
        self.rate = _validate_number(rate, "rate")
        self.axis = _validate_axis(axis)

    def __call__(self, weight: Tensor) -> Tensor:
        norms = _norms(weight, self.axis)
        clipped = norms.clamp(self.min_value, self.max_value)
        desired = self.rate * clipped + (1 - self.rate) * norms
        return weight * (desired / (_EPSILON + norms))

    def get_config(self) -> dict[str, Any]:
        return {
            "min_value": self.min_value,
            "max_value": self.max_value,
            "rate": self.rate,
            "axis": self.axis,
        }


class NonNeg(Constraint):
    """Clip the weights to be non-negative: `max(w, 0)`.

    Example:
        >>> NonNeg()(torch.tensor([-1.0, 2.0]))
        tensor([0., 2.])
    """

    def __call__(self, weight: Tensor) -> Tensor:
        return weight.clamp_min(0)


class UnitNorm(Constraint):
    """Rescale each unit's incoming weights to unit norm: `w / (1e-7 + norm)`.

    Norms along `axis` as in `MaxNorm`.

    Example:
        >>> UnitNorm()(torch.tensor([[3.0, 4.0]]))
        tensor([[0.6000, 0.8000]])
    """

    def __init__(self, axis: int | Sequence[int] = 0) -> None:
        self.axis = _validate_axis(axis)

    def __call__(self, weight: Tensor) -> Tensor:
        return weight / (_EPSILON + _norms(weight, self.axis))

    def get_config(self) -> dict[str, Any]:
        return {"axis": self.axis}


# Keras 3's lower-case aliases are the classes themselves.
max_norm = MaxNorm
min_max_norm = MinMaxNorm
non_neg = NonNeg
unit_norm = UnitNorm

_CLASSES: dict[str, type[Constraint]] = {}
for _name, _cls in {
    "max_norm": MaxNorm,
    "min_max_norm": MinMaxNorm,
    "non_neg": NonNeg,
    "unit_norm": UnitNorm,
}.items():
    _CLASSES[_name] = _cls
    _CLASSES[_cls.__name__] = _cls

ConstraintLike = str | dict[str, Any] | Constraint | Callable[[Tensor], Tensor] | None


def get(
    identifier: ConstraintLike | type[Constraint], *, arg_name: str = "identifier"
) -> Constraint | Callable[[Tensor], Tensor] | None:
    """Return a constraint for a Keras name, a config dict, a class, an instance or a callable.

    Names are Keras's (`"max_norm"` or `"MaxNorm"`, ...), with Keras's
    defaults; a dict is `{"class_name": ..., "config": {...}}` as `serialize`
    (or Keras) writes it; a class is instantiated with its defaults; instances,
    other callables and `None` are returned as is. `arg_name` names the
    argument in error messages (layers pass e.g. `"kernel_constraint"`).

    Example:
        >>> get("max_norm")
        MaxNorm(max_value=2, axis=0)
        >>> get({"class_name": "UnitNorm", "config": {"axis": [0, 1, 2]}})
        UnitNorm(axis=[0, 1, 2])
    """
    if identifier is None or isinstance(identifier, Constraint):
        return identifier
    if isinstance(identifier, str):
        if identifier not in _CLASSES:
            raise ValueError(
                f"Unknown constraint for `{arg_name}`. Expected one of {sorted(_CLASSES)}, "
                f"a config dict, a callable or None. "
                f"Received: {arg_name}={identifier!r} (of type str)"
            )
        return _CLASSES[identifier]()
    if isinstance(identifier, dict):
        name = identifier.get("class_name")
        config = identifier.get("config") or {}
        if not isinstance(name, str) or name not in _CLASSES or not isinstance(config, dict):
            raise ValueError(
                f"Unknown constraint config for `{arg_name}`: expected a 'class_name' among "
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
        f"dict, a Constraint, a callable or None. Received: {arg_name}={identifier!r} "
        f"(of type {type(identifier).__name__})"
    )


def serialize(constraint: Constraint | Callable[[Tensor], Tensor] | None) -> Any:
    """Return `{"class_name": ..., "config": ...}` for a `Constraint`; others as is.

    Example:
        >>> serialize(MaxNorm(3))
        {'class_name': 'MaxNorm', 'config': {'max_value': 3, 'axis': 0}}
    """
    if isinstance(constraint, Constraint):
        return {"class_name": type(constraint).__name__, "config": constraint.get_config()}
    return constraint


def deserialize(config: dict[str, Any]) -> Constraint | Callable[[Tensor], Tensor] | None:
    """Rebuild a constraint from `serialize`'s output (Keras's `deserialize`).

    Example:
        >>> deserialize(serialize(NonNeg()))
        NonNeg()
    """
    return get(config)
