"""Nested Python state (an optimizer's `state_dict`) as JSON plus a dict of tensors.

JSON keeps numbers, strings, lists and string-keyed dicts; tensors go to a
safetensors file and are referenced by key; tuples and dicts with other keys
(torch's per-parameter state is keyed by int) are tagged. Decoding builds only
these plain types, never objects named by the file.

Example:
    >>> tensors = {}
    >>> doc = encode({"state": {0: {"m": torch.zeros(2)}}, "betas": (0.9, 0.99)}, tensors)
    >>> decode(doc, tensors)["state"][0]["m"]
    tensor([0., 0.])
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

__all__ = ["NotEncodable", "decode", "encode"]

_TENSOR, _TUPLE, _PAIRS, _FLOAT = "__tensor__", "__tuple__", "__pairs__", "__float__"
_SCALARS = (str, int, float, bool, type(None))


class NotEncodable(TypeError):
    """A value that is neither plain data nor a tensor (a function, an object)."""


def encode(obj: Any, tensors: dict[str, torch.Tensor], path: str = "") -> Any:
    """A JSON-able form of `obj`; its tensors are added to `tensors` under their path."""
    if isinstance(obj, torch.Tensor):
        key = path or "value"
        tensors[key] = obj
        return {_TENSOR: key}
    if isinstance(obj, _SCALARS):
        if isinstance(obj, float) and not math.isfinite(obj):
            return {_FLOAT: repr(obj)}  # strict JSON has no inf/nan
        return obj
    if isinstance(obj, tuple):
        return {_TUPLE: [encode(v, tensors, f"{path}.{i}") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [encode(v, tensors, f"{path}.{i}") for i, v in enumerate(obj)]
    if isinstance(obj, Mapping):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: encode(v, tensors, f"{path}.{k}") for k, v in obj.items()}
        pairs = []
        for k, v in obj.items():
            if not isinstance(k, _SCALARS) or isinstance(k, float):
                raise NotEncodable(f"a dict key of type {type(k).__name__} at {path or 'top'}")
            pairs.append([k, encode(v, tensors, f"{path}.{k}")])
        return {_PAIRS: pairs}
    raise NotEncodable(f"a value of type {type(obj).__name__} at {path or 'top'}")


def decode(doc: Any, tensors: Mapping[str, torch.Tensor]) -> Any:
    """Invert `encode` (tensors taken from `tensors`)."""
    if isinstance(doc, list):
        return [decode(v, tensors) for v in doc]
    if not isinstance(doc, dict):
        return doc
    if set(doc) == {_TENSOR}:
        key = doc[_TENSOR]
        if key not in tensors:
            raise ValueError(f"The saved state refers to a tensor {key!r} that is missing. "
                             f"Received: keys {sorted(tensors)[:5]}...")
        return tensors[key]
    if set(doc) == {_FLOAT} and doc[_FLOAT] in ("inf", "-inf", "nan"):
        return float(doc[_FLOAT])
    if set(doc) == {_TUPLE}:
        return tuple(decode(v, tensors) for v in doc[_TUPLE])
    if set(doc) == {_PAIRS}:
        return {k: decode(v, tensors) for k, v in doc[_PAIRS]}
    return {k: decode(v, tensors) for k, v in doc.items()}
