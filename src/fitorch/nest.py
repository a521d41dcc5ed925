"""Tiny helpers for the nested structures fitorch accepts as data.

A structure is a leaf (tensor, array, None, ...) or a list/tuple/dict of
structures. Dicts are walked in insertion order, like Python itself, so a
model's dict output and the user's dict labels line up by key, not position.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any


def is_nested(x: Any) -> bool:
    return isinstance(x, (list, tuple, dict))


def flatten(x: Any) -> list[Any]:
    """Leaves of `x` in order (`None` leaves included)."""
    out: list[Any] = []
    _flatten_into(x, out)
    return out


def _flatten_into(x: Any, out: list[Any]) -> None:
    if isinstance(x, dict):
        for v in x.values():
            _flatten_into(v, out)
    elif isinstance(x, (list, tuple)):
        for v in x:
            _flatten_into(v, out)
    else:
        out.append(x)


def map_structure(fn: Callable[[Any], Any], x: Any) -> Any:
    """Apply `fn` to every leaf, keeping the structure (lists stay lists, tuples tuples)."""
    if isinstance(x, dict):
        return {k: map_structure(fn, v) for k, v in x.items()}
    if isinstance(x, tuple):
        return tuple(map_structure(fn, v) for v in x)
    if isinstance(x, list):
        return [map_structure(fn, v) for v in x]
    return fn(x)


def pack_as(structure: Any, flat: list[Any]) -> Any:
    """Inverse of `flatten`: rebuild `structure`'s shape from `flat` leaves."""
    it = iter(flat)
    result = _pack(structure, it)
    return result


def _pack(structure: Any, it: Iterator[Any]) -> Any:
    if isinstance(structure, dict):
        return {k: _pack(v, it) for k, v in structure.items()}
    if isinstance(structure, tuple):
        return tuple(_pack(v, it) for v in structure)
    if isinstance(structure, list):
        return [_pack(v, it) for v in structure]
    return next(it)


def describe(x: Any) -> str:
    """Short description of a structure for error messages: types and shapes, not values."""
    if isinstance(x, dict):
        return "{" + ", ".join(f"{k!r}: {describe(v)}" for k, v in x.items()) + "}"
    if isinstance(x, (list, tuple)):
        inner = ", ".join(describe(v) for v in x)
        return f"[{inner}]" if isinstance(x, list) else f"({inner}{',' if len(x) == 1 else ''})"
    shape = getattr(x, "shape", None)
    if shape is not None:
        return f"{type(x).__name__}(shape={tuple(shape)}, dtype={getattr(x, 'dtype', '?')})"
    return type(x).__name__
