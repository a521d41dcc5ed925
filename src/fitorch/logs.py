"""Logs: the `dict`s callbacks receive, with values that become Python floats only when read.

A training step returns tensors. Turning them into floats forces the host to
wait for the device (a sync), so batch logs are a `Logs`: a real `dict` (keys
present, `isinstance(logs, dict)` holds) whose values are converted all in one
go on the first read. The built-in callbacks read them lazily, so a fit with
only built-in callbacks never syncs per batch. `CallbackList` hands a hook
written by a user a plain dict of floats instead (`pythonify`, one sync), as
Keras's `pythonify_logs` does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import torch


def to_float(value: Any) -> Any:
    """A log value as a Python float where it is a number (tensors, NumPy scalars)."""
    if type(value) is float:
        return value
    if isinstance(value, torch.Tensor):
        if value.numel() == 1:
            return float(value.detach())  # sync: the one place logs wait for the device
        return value.detach().cpu().numpy()  # sync: a tensor of several values
    if isinstance(value, np.ndarray) and value.size == 1:
        return float(value)
    if isinstance(value, (int, float, np.floating, np.integer, np.bool_)):
        return float(value)  # Keras's logs hold floats only, also for ints and bools
    return value


class MetricResults(Mapping[str, Any]):
    """A read-through view of metric results: `results[name]` computes that result tensor.

    `getters` pairs each log key with a zero-argument function returning its
    current value. Nothing is computed until a key is read.

    Example:
        >>> results = MetricResults({"loss": lambda: torch.tensor(0.5)})
        >>> float(results["loss"])
        0.5
    """

    __slots__ = ("_getters", "_unread")

    def __init__(self, getters: dict[str, Callable[[], Any]]) -> None:
        self._getters = getters
        # The keys in Keras 3's order (sorted), each with a placeholder value: a `Logs`
        # copies this dict (one C-level copy per batch) instead of sorting every batch.
        self._unread: dict[str, Any] = dict.fromkeys(sorted(getters))

    def __getitem__(self, key: str) -> Any:
        return self._getters[key]()

    def __iter__(self) -> Iterator[str]:
        return iter(self._getters)

    def __len__(self) -> int:
        return len(self._getters)


class Logs(dict[str, Any]):
    """Batch logs: a `dict` whose values are converted to floats, all at once, on the first read.

    The keys are there from the start (sorted, as Keras 3 presents them), so
    `len`, `in` and iteration cost nothing; any read of a value (`[]`, `get`,
    `items`, `values`, `copy`, `dict(logs)`, `json.dumps(logs)`, `==`, ...)
    or any change converts every value first, so the dict is then exactly a
    dict of floats. `raw(key)` reads one value unconverted (no sync).

    Example:
        >>> logs = Logs({"loss": torch.tensor(0.25)})
        >>> isinstance(logs, dict), logs.is_read
        (True, False)
        >>> logs["loss"], logs.is_read
        (0.25, True)
    """

    __slots__ = ("_source",)

    def __init__(self, source: Mapping[str, Any]) -> None:
        unread = source._unread if type(source) is MetricResults else dict.fromkeys(sorted(source))
        super().__init__(unread)
        self._source: Mapping[str, Any] | None = source

    @property
    def is_read(self) -> bool:
        """Whether the values were converted (a sync happened)."""
        return self._source is None

    def _read(self) -> None:
        source = self._source
        if source is not None:
            self._source = None
            for key in dict.keys(self):
                dict.__setitem__(self, key, to_float(source[key]))

    def raw(self, key: str) -> Any:
        """The value of `key` as the step produced it (a tensor: no sync, nothing converted)."""
        if self._source is not None:
            if not dict.__contains__(self, key):
                raise KeyError(key)
            return self._source[key]
        return dict.__getitem__(self, key)

    # --- every read of a value converts first ---------------------------------
    def __getitem__(self, key: str) -> Any:
        self._read()
        return dict.__getitem__(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        self._read()
        return dict.get(self, key, default)

    def values(self) -> Any:
        self._read()
        return dict.values(self)

    def items(self) -> Any:
        self._read()
        return dict.items(self)

    def __iter__(self) -> Iterator[str]:
        # Defined in Python on purpose: CPython then copies a `Logs` (`dict(logs)`,
        # `{**logs}`, `d.update(logs)`) through `keys()` and `__getitem__`, not its storage.
        return dict.__iter__(self)

    def copy(self) -> dict[str, Any]:
        """A plain dict of the values as floats."""
        self._read()
        return dict(dict.items(self))

    def __eq__(self, other: object) -> bool:
        self._read()
        return dict.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None

    def __or__(self, other: Any) -> Any:
        return self.copy() | other

    def __ror__(self, other: Any) -> Any:
        return other | self.copy()

    def __repr__(self) -> str:
        self._read()
        return dict.__repr__(self)

    def __reduce__(self) -> Any:
        # Pickled and copied (copy.copy / deepcopy) as the plain dict of floats.
        return (dict, (self.copy(),))

    def __reduce_ex__(self, protocol: Any) -> Any:
        return self.__reduce__()

    # --- changes: convert first, so the dict never mixes read and unread values --
    def __setitem__(self, key: str, value: Any) -> None:
        self._read()
        dict.__setitem__(self, key, value)

    def __delitem__(self, key: str) -> None:
        self._read()
        dict.__delitem__(self, key)

    def update(self, *args: Any, **kwargs: Any) -> None:
        self._read()
        dict.update(self, *args, **kwargs)

    def __ior__(self, other: Any) -> Logs:  # type: ignore[override]
        self.update(other)
        return self

    def setdefault(self, key: str, default: Any = None) -> Any:
        self._read()
        return dict.setdefault(self, key, default)

    def pop(self, key: str, *default: Any) -> Any:
        self._read()
        return dict.pop(self, key, *default)

    def popitem(self) -> tuple[str, Any]:
        self._read()
        return dict.popitem(self)

    def clear(self) -> None:
        self._source = None
        dict.clear(self)


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


def pythonify(logs: Mapping[str, Any] | None) -> dict[str, Any]:
    """A new plain dict with keys sorted and numbers as Python floats (Keras's `pythonify_logs`).

    None gives `{}`; a nested mapping's items are merged in (as Keras flattens
    them); a tensor of several values becomes a NumPy array.

    Example:
        >>> pythonify({"loss": torch.tensor(0.5), "acc": np.float32(1.0)})
        {'acc': 1.0, 'loss': 0.5}
    """
    if not logs:
        return {}
    if isinstance(logs, Logs):
        logs._read()  # sync: every value at once
        values: Mapping[str, Any] = dict(dict.items(logs))
    else:
        values = logs
    result: dict[str, Any] = {}
    for key in sorted(values):
        value = values[key]
        if isinstance(value, Mapping):
            result.update(pythonify(value))
        else:
            result[key] = to_float(value)
    return result


def materialize(logs: Mapping[str, Any] | None) -> dict[str, Any]:
    """Plain dict of Python floats (one sync at most); `{}` for None."""
    return pythonify(logs)
