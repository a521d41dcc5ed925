"""`TerminateOnNaN`: stop training when the batch loss becomes NaN or infinite."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from typing import Any, NamedTuple

import torch

from fitorch.callbacks.callback import Callback
from fitorch.logs import Logs


def raw_log_value(logs: Mapping[str, Any] | None, key: str) -> Any:
    """`logs[key]` without converting the other values (a fitorch `Logs` converts them all
    on the first read), or None when the key is missing."""
    if logs is None or key not in logs:
        return None
    if isinstance(logs, Logs):
        return logs.raw(key)
    return logs[key]


class _Pending(NamedTuple):
    batch: int
    values: torch.Tensor  # on the host, [is_bad, loss], filled by a non-blocking copy
    ready: Any  # torch.cuda.Event recorded after the copy


class TerminateOnNaN(Callback):
    """Stop training when a NaN or infinite loss is found in a batch's logs (Keras 3.15).

    The `loss` of every training batch's logs is checked. By default training
    stops gracefully (`model.stop_training = True`: the epoch's validation and
    `on_epoch_end` still run, as for Keras); with `raise_error=True` a
    `RuntimeError` is raised instead. fitorch still calls every callback's
    `on_train_end` then, as it always does; Keras 3 skips them.

    On a CUDA device the check never stalls the device: each batch's loss is
    copied to the host without blocking and read once it has arrived, so
    training stops a batch or two after the bad one, in the same epoch (the
    epoch end waits for any check still pending), and `History` has the same
    length as with Keras. On the CPU the check is immediate.

    Args:
        raise_error: Raise a `RuntimeError` instead of stopping gracefully.

    Example:
        >>> model.fit(x, y, epochs=10, callbacks=[TerminateOnNaN()])  # doctest: +SKIP
    """

    def __init__(self, raise_error: bool = False) -> None:
        super().__init__()
        if not isinstance(raise_error, bool):
            raise ValueError(
                f"`raise_error` must be True or False. Received: raise_error={raise_error!r} "
                f"(of type {type(raise_error).__name__})"
            )
        self.raise_error = raise_error
        self._pending: deque[_Pending] = deque()

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self._pending.clear()

    def on_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        loss = raw_log_value(logs, "loss")
        if loss is None:
            return
        if isinstance(loss, torch.Tensor) and loss.is_cuda:
            self._check_arrived(wait=False)
            loss = loss.detach().float().reshape(-1)[:1]
            flags = torch.cat([(~torch.isfinite(loss)).float(), loss])
            values = flags.to("cpu", non_blocking=True)
            ready = torch.cuda.Event()
            ready.record()
            self._pending.append(_Pending(batch, values, ready))
            return
        value = float(loss)  # CPU tensor or float: no device to wait for
        if math.isnan(value) or math.isinf(value):
            self._terminate(batch, value)

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        # The epoch logs have waited for the device already: the wait costs nothing.
        self._check_arrived(wait=True)

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        self._pending.clear()

    def _check_arrived(self, wait: bool) -> None:
        while self._pending:
            pending = self._pending[0]
            if wait:
                pending.ready.synchronize()
            elif not pending.ready.query():
                return
            self._pending.popleft()
            is_bad, value = pending.values.tolist()
            if is_bad:
                self._pending.clear()
                self._terminate(pending.batch, value)
                return

    def _terminate(self, batch: int, value: float) -> None:
        if self.raise_error:
            raise RuntimeError(
                f"NaN or Inf loss encountered at batch {batch}. "
                f"Loss value: {value}. Terminating training immediately."
            )
        print(f"Batch {batch}: Invalid loss, terminating training")
        self.model.stop_training = True
