"""`CallbackList`: dispatches every hook to the callbacks that implement it.

Hooks are dispatched through per-hook lists of bound methods built once, so a
hook no callback overrides costs one attribute check per batch. Every hook gets
a `dict` as `logs`, the same object for every callback of one call (so a key
one callback adds is seen by the next, as in Keras): a new plain dict of floats
for the begin/end hooks and for a batch hook that user code implements (one
sync per batch, only then), the lazy `Logs` dict when only fitorch's own
callbacks implement the batch hook (no sync). The first batches of each run are
timed to warn once when user callbacks are slower than the step itself
(tf_keras's check).
"""

from __future__ import annotations

import statistics
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from fitorch.callbacks.callback import HOOK_NAMES, Callback, overrides, reads_logs_lazily
from fitorch.callbacks.history import History
from fitorch.callbacks.progbar_logger import ProgbarLogger
from fitorch.distributed import is_writer
from fitorch.logs import pythonify

# Batches timed at the start of each run before the slow-callback check is made.
TIMED_BATCHES = 5


class CallbackList(Callback):
    """A list of callbacks called as one; `fit` adds `History` and `ProgbarLogger` (Keras 3 order).

    Example:
        >>> cbs = CallbackList([MyCallback()], add_history=True, model=model, epochs=2, steps=10)
        >>> cbs.on_epoch_begin(0)
    """

    def __init__(
        self,
        callbacks: Iterable[Callback] | None = None,
        *,
        add_history: bool = False,
        add_progbar: bool = False,
        model: Any = None,
        sync: Callable[[], None] | None = None,
        **params: Any,
    ) -> None:
        super().__init__()
        self.callbacks: list[Callback] = []
        for cb in callbacks or []:
            if not isinstance(cb, Callback):
                raise TypeError(
                    "Every callback must be an instance of fitorch.callbacks.Callback. "
                    f"Received: {cb!r} (of type {type(cb).__name__})"
                )
            self.callbacks.append(cb)
        self.history: History | None = next(
            (cb for cb in self.callbacks if isinstance(cb, History)), None)
        if self.history is None and add_history:
            self.history = History()
            self.callbacks.append(self.history)
        if add_progbar and not any(isinstance(cb, ProgbarLogger) for cb in self.callbacks):
            self.callbacks.append(ProgbarLogger())
        if not is_writer():
            # A data-parallel run: one progress bar and one set of logs, from rank 0.
            self.callbacks = [cb for cb in self.callbacks
                              if not getattr(cb, "rank_zero_only", False)]
        # Callbacks that snapshot the others' state (BackupAndRestore) run after all of them,
        # so a backup taken at an epoch end already holds that epoch's History entry etc.
        self.callbacks.sort(key=lambda cb: bool(getattr(cb, "runs_last", False)))
        self._sync = sync
        self._build_dispatch()
        if model is not None:
            self.set_model(model)
        if params:
            self.set_params(params)

    def _build_dispatch(self) -> None:
        self._hooks: dict[str, list[Callable[..., None]]] = {
            hook: [getattr(cb, hook) for cb in self.callbacks if overrides(cb, hook)]
            for hook in HOOK_NAMES
        }
        # Hooks with an implementation written by the user: their batch logs are converted
        # to a plain dict of floats before the call (Keras's logs; one sync per batch).
        self._user_code = {
            hook: any(overrides(cb, hook) and not reads_logs_lazily(cb, hook)
                      for cb in self.callbacks)
            for hook in HOOK_NAMES
        }
        # Per phase ("train", "test", "predict"): timings of the first batches of this list.
        self._timing: dict[str, list[float]] = {}
        self._timed: dict[str, int] = {"train": 0, "test": 0, "predict": 0}
        self._step_start = 0.0
        self._time_batches = any(_timed(cb, h) for cb in self.callbacks
                                 for h in HOOK_NAMES if "batch" in h)

    def append(self, callback: Callback) -> None:
        self.callbacks.append(callback)
        self._build_dispatch()

    def __iter__(self) -> Iterator[Callback]:
        return iter(self.callbacks)

    def __len__(self) -> int:
        return len(self.callbacks)

    def set_model(self, model: Any) -> None:
        super().set_model(model)
        if self.history is not None:
            model.history = self.history
        for cb in self.callbacks:
            cb.set_model(model)

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params
        for cb in self.callbacks:
            cb.set_params(params)

    # --- begin / end hooks ------------------------------------------------
    def _call(self, hook: str, *args: Any) -> None:
        fns = self._hooks[hook]
        if fns:
            # A new dict per call, as Keras: keys a callback adds reach the callbacks
            # after it, not the caller's own logs.
            *head, logs = args
            logs = pythonify(logs)  # sync: epoch-level logs hold floats already
            for fn in fns:
                fn(*head, logs)

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self._call("on_train_begin", logs)

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        self._call("on_train_end", logs)

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._call("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._call("on_epoch_end", epoch, logs)

    def on_test_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self._call("on_test_begin", logs)

    def on_test_end(self, logs: Mapping[str, Any] | None = None) -> None:
        self._call("on_test_end", logs)

    def on_predict_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self._call("on_predict_begin", logs)

    def on_predict_end(self, logs: Mapping[str, Any] | None = None) -> None:
        self._call("on_predict_end", logs)

    # --- batch hooks --------------------------------------------------------
    def _batch_begin(self, hook: str, batch: int, logs: Mapping[str, Any] | None) -> None:
        fns = self._hooks[hook]
        logs = pythonify(logs)  # `{}` from the loops: Keras passes an empty dict before a batch
        if self._time_batches and self._timed[_phase(hook)] < TIMED_BATCHES:
            t0 = time.perf_counter()
            for fn in fns:
                fn(batch, logs)
            t1 = time.perf_counter()
            self._timing.setdefault(hook, []).append(t1 - t0)
            self._step_start = t1
            return
        for fn in fns:
            fn(batch, logs)

    def _batch_end(self, hook: str, batch: int, logs: Any) -> None:
        fns = self._hooks[hook]
        if self._user_code[hook]:
            logs = pythonify(logs)  # sync: user code gets floats, as from Keras
        elif logs is None:
            logs = {}
        phase = _phase(hook)
        if self._time_batches and self._timed[phase] < TIMED_BATCHES:
            if self._sync is not None:
                self._sync()  # sync: only while timing the first batches, to time the step
            t0 = time.perf_counter()
            self._timing.setdefault(phase, []).append(t0 - self._step_start)
            for fn in fns:
                fn(batch, logs)
            self._timing.setdefault(hook, []).append(time.perf_counter() - t0)
            self._timed[phase] += 1
            if self._timed[phase] == TIMED_BATCHES:
                self._check_timing(phase, hook.replace("_end", "_begin"), hook)
        else:
            for fn in fns:
                fn(batch, logs)

    def _check_timing(self, phase: str, begin_hook: str, end_hook: str) -> None:
        step_times = self._timing.get(phase, [])
        if not step_times:
            return
        # Medians: the first step pays one-off costs (allocations, lazy init) that would
        # hide a slow callback behind an inflated mean.
        step = statistics.median(step_times)
        for hook in (begin_hook, end_hook):
            times = self._timing.get(hook, [])
            if not times or not any(_timed(cb, hook) for cb in self.callbacks):
                continue
            avg = statistics.median(times)
            if avg > step:
                warnings.warn(
                    f"Callback method `{hook}` is slow compared to the batch time (batch time: "
                    f"{step:.4f}s vs `{hook}` time: {avg:.4f}s). Check your callbacks.",
                    UserWarning, stacklevel=4,
                )

    def on_train_batch_begin(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._batch_begin("on_train_batch_begin", batch, logs)

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._batch_end("on_train_batch_end", batch, logs)

    def on_test_batch_begin(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._batch_begin("on_test_batch_begin", batch, logs)

    def on_test_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._batch_end("on_test_batch_end", batch, logs)

    def on_predict_batch_begin(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._batch_begin("on_predict_batch_begin", batch, logs)

    def on_predict_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._batch_end("on_predict_batch_end", batch, logs)


def _timed(callback: Callback, hook: str) -> bool:
    """Whether `hook` of `callback` counts in the slow-callback check (all but the defaults)."""
    return overrides(callback, hook) and not isinstance(callback, (History, ProgbarLogger))


def _phase(hook: str) -> str:
    return hook.split("_")[1]  # "on_train_batch_end" -> "train"
