"""Bounds on what a model file can make fitorch allocate when it rebuilds the model.

A file's config names layer sizes; a tiny file declaring `Dense(units=2**25)` must be
refused before gigabytes are allocated. Two checks, both against the weights the file
really holds:

- `check_config_sizes`: every integer of the config is at most the largest dimension
  of any tensor in the file (or a small floor): a size that no tensor has is made up;
- `materialize_budget`: while the model is built, the parameters created from lazy
  shapes may not add up to more than twice the file's own tensors (plus 1 MiB).

Example:
    >>> check_config_sizes(doc["config"], weights, "m.fitorch")
    >>> with materialize_budget(weights, "m.fitorch"):
    ...     model = Sequential.from_config(doc["config"]["config"])
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch.nn.parameter import UninitializedBuffer, UninitializedParameter

from fitorch.saving.errors import FileFormatError

__all__ = ["check_config_sizes", "materialize_budget"]

# Sizes up to this need no tensor of the file to vouch for them (kernel sizes, strides,
# small layers whose weights are all zeros-sized or absent).
_FREE_INT = 1 << 16


def _ints(value: Any, where: str) -> Iterator[tuple[str, int]]:
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        yield where, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _ints(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _ints(item, f"{where}[{i}]")


def check_config_sizes(config: Any, weights: Mapping[str, torch.Tensor], source: str) -> None:
    """Refuse a config holding an integer larger than any dimension of the file's tensors
    (and than 65536): building it would allocate what the file cannot fill."""
    largest = max((max(t.shape, default=1) for t in weights.values()), default=1)
    bound = max(_FREE_INT, largest)
    for where, value in _ints(config, "config"):
        if value > bound:
            raise FileFormatError(source, (
                f"Refusing to rebuild the model in {source!r}: its config sets {where} = "
                f"{value}, larger than any dimension of the weights the file holds (at most "
                f"{largest}). The file is damaged or crafted. Received: filepath={source!r}"))


@contextlib.contextmanager
def materialize_budget(weights: Mapping[str, torch.Tensor], source: str) -> Iterator[None]:
    """Within the block, lazy parameters and buffers may be created only up to twice the
    bytes of `weights` plus 1 MiB; the one that would pass that raises FileFormatError
    before it is allocated. Not thread-safe: it wraps the classes' `materialize`."""
    limit = 2 * sum(t.numel() * t.element_size() for t in weights.values()) + (1 << 20)
    used = [0]
    originals = {cls: cls.materialize for cls in (UninitializedParameter, UninitializedBuffer)}

    def guarded(original: Any) -> Any:
        def materialize(self: Any, shape: Any, device: Any = None, dtype: Any = None) -> None:
            size = math.prod(int(d) for d in shape)
            itemsize = torch.empty((), dtype=dtype or self.dtype).element_size()
            used[0] += size * itemsize
            if used[0] > limit:
                raise FileFormatError(source, (
                    f"Refusing to rebuild the model in {source!r}: its config makes weights "
                    f"of {used[0]} bytes or more (a tensor of shape {tuple(shape)}), but the "
                    f"file holds {sum(t.numel() for t in weights.values())} values. The file "
                    f"is damaged or crafted. Received: filepath={source!r}"))
            original(self, shape, device=device, dtype=dtype)

        return materialize

    for cls, original in originals.items():
        cls.materialize = guarded(original)  # type: ignore[method-assign]
    try:
        yield
    finally:
        for cls, original in originals.items():
            cls.materialize = original  # type: ignore[method-assign]
