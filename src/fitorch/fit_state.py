"""Where a running `fit()` stands, captured and restored exactly (for `BackupAndRestore`).

`run_fit` keeps a `FitState` on the model while it trains. `capture()` returns
everything a new process needs to continue as if never interrupted: the epoch
and step, the data position (see `EpochIterator.state`), the random number
generators, the running metric state, the History so far, and every callback's
`state_dict()`. Weights and optimizer state are saved beside it by the caller.

A resumed run restores the metric state when its epoch begins (`run_fit`). Metrics
the new process has not built yet get their state when the resumed epoch's first
training step builds them; whatever is left at the end of that epoch's training
part is dropped, so restored training state never reaches validation metrics.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from fitorch.logs import materialize

if TYPE_CHECKING:
    from fitorch.callbacks.callback_list import CallbackList
    from fitorch.data import EpochIterator
    from fitorch.model import Model


def rng_state() -> dict[str, Any]:
    """Python's, NumPy's and torch's (CPU and every CUDA device) generator states."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": _to_lists(random.getstate()),
        "numpy": {"kind": kind, "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
                  "pos": int(pos), "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = list(torch.cuda.get_rng_state_all())
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(_to_tuples(state["python"]))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"],
                         n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _to_lists(value: Any) -> Any:
    return [_to_lists(v) for v in value] if isinstance(value, (tuple, list)) else value


def _to_tuples(value: Any) -> Any:
    return tuple(_to_tuples(v) for v in value) if isinstance(value, list) else value


class FitState:
    """The live position of one `fit()` call; `resume` is set by a restoring callback."""

    def __init__(self, model: Model, callbacks: CallbackList, train_iterator: EpochIterator,
                 epochs: int) -> None:
        self.model = model
        self.callbacks = callbacks
        self.train_iterator = train_iterator
        self.epochs = epochs
        self.epoch = 0
        self.step = -1  # last finished step of `epoch`; -1 at an epoch boundary
        self.completed = False  # set when the epochs ran to their end without an error
        self.logs: Any = None  # the logs of the last finished step (lazy)
        self.resume: dict[str, Any] | None = None

    def capture(self, at_epoch_end: bool) -> dict[str, Any]:
        """Everything but weights and optimizer state, at a batch end or an epoch end."""
        return {
            "epoch": self.epoch + 1 if at_epoch_end else self.epoch,
            "step": -1 if at_epoch_end else self.step,
            "epochs": self.epochs,
            "data": self.train_iterator.state(),
            "rng": rng_state(),
            "metrics": {} if at_epoch_end else self.model._metric_states(),
            # The step's logs are the epoch's training logs when it was the epoch's last
            # step: a run resumed there has no step left to rebuild them from.
            "logs": {} if at_epoch_end else materialize(self.logs),  # sync: per backup
            "callbacks": {key: cb.state_dict() for key, cb in self._keyed_callbacks().items()},
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Restore callbacks and History now; the position is applied by `run_fit`."""
        saved = state["callbacks"]
        for key, cb in self._keyed_callbacks().items():
            if key in saved:  # a callback added since the backup starts fresh
                cb.load_state_dict(saved[key])  # History included: the values so far
        self.resume = state

    def _keyed_callbacks(self) -> dict[str, Any]:
        """Callbacks keyed by class name and rank among their class ("EarlyStopping#0"),
        so a backup still matches when callbacks are added or removed around them."""
        keyed: dict[str, Any] = {}
        counts: dict[str, int] = {}
        for cb in self.callbacks.callbacks:
            name = type(cb).__name__
            keyed[f"{name}#{counts.get(name, 0)}"] = cb
            counts[name] = counts.get(name, 0) + 1
        return keyed
