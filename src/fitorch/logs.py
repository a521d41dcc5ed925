"""Lazy logs: metric values become Python floats only when something reads them.

A training step returns tensors. Turning them into floats forces the host to
wait for the device (a sync), so batch logs hold the tensors (or a way to get
them) and convert everything in one go on the first read. A callback that
never reads its logs never causes a sync.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import torch


def to_float(value: Any) -> Any:
    """A log value as a Python float where it is a number (tensors, NumPy scalars)."""
    if isinstance(value, torch.Tensor):
        if value.numel() == 1:
            return float(value.detach())  # sync: the one place logs wait for the device
        return value.detach().cpu().numpy()
    if isinstance(value, np.ndarray) and value.size == 1:
        return float(value)
    if isinstance(value, (np.floating, np.integer)):
        return float(value)
    return value


class MetricResults(Mapping[str, Any]):
    """A read-through view of metric results: `results[name]` computes that result tensor.

    `names_and_getters` pairs each log key with a zero-argument function returning
    its current value. Nothing is computed until a key is read.
    """

    __slots__ = ("_getters",)

    def __init__(self, getters: dict[str, Callable[[], Any]]) -> None:
        self._getters = getters

    def __getitem__(self, key: str) -> Any:
        return self._getters[key]()

    def __iter__(self) -> Iterator[str]:
        return iter(self._getters)

    def __len__(self) -> int:
        return len(self._getters)


class Logs(Mapping[str, Any]):
    """Batch logs handed to callbacks: keys are free, the first value read converts all.

    `freeze()` captures the current result tensors (no sync) so that a callback
    which keeps the logs object reads this batch's values, not a later one's.
    """

    __slots__ = ("_floats", "_source")

    def __init__(self, source: Mapping[str, Any]) -> None:
        self._source = source
        self._floats: dict[str, Any] | None = None

    def _materialize(self) -> dict[str, Any]:
        if self._floats is None:
            # Keys sorted, as Keras 3 presents its logs (and so its progress line).
            self._floats = {k: to_float(self._source[k]) for k in sorted(self._source)}
        return self._floats

    def freeze(self) -> None:
        if self._floats is None and isinstance(self._source, MetricResults):
            self._source = {k: self._source[k] for k in self._source}

    def __getitem__(self, key: str) -> Any:
        return self._materialize()[key]

    def raw(self, key: str) -> Any:
        """The value of `key` as the step produced it (a tensor: no sync, nothing converted)."""
        if self._floats is not None:
            return self._floats[key]
        return self._source[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._floats if self._floats is not None else sorted(self._source))

    def __len__(self) -> int:
        return len(self._source)

    def __contains__(self, key: object) -> bool:
        return key in self._source

    def __repr__(self) -> str:
        return f"Logs({self._materialize()!r})"

    def copy(self) -> dict[str, Any]:
        return dict(self._materialize())


def as_logs(values: Any) -> Logs | None:
    """Wrap what a step returned (a mapping of tensors/floats, or None) as lazy `Logs`."""
    if values is None or isinstance(values, Logs):
        return values
    if type(values) is not MetricResults and not isinstance(values, Mapping):
        raise TypeError(
            "A train/test step must return a dict of metric values (name -> tensor or float), "
            f"or None. Received: {type(values).__name__}"
        )
    return Logs(values)


def materialize(logs: Mapping[str, Any] | None) -> dict[str, Any]:
    """Plain dict of Python floats (one sync at most)."""
    if logs is None:
        return {}
    if isinstance(logs, Logs):
        return logs.copy()
    return {k: to_float(logs[k]) for k in sorted(logs)}
