"""`ReduceLROnPlateau`: lower the learning rate when a monitored quantity stops improving."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from fitorch import checks
from fitorch.callbacks.learning_rate_scheduler import (
    group_learning_rates,
    log_learning_rate,
    model_optimizer,
    set_learning_rates,
)
from fitorch.callbacks.monitor_callback import MonitorCallback, check_number, check_verbose


class ReduceLROnPlateau(MonitorCallback):
    """Multiply the learning rate by `factor` after `patience` epochs without improvement.

    Works on any torch optimizer: every param group's rate is reduced (and
    kept at `min_lr` or above), as torch's own `ReduceLROnPlateau` does. After
    a reduction, `cooldown` epochs pass before the patience counter runs
    again. The epoch logs get the current rate as `learning_rate` (Keras 3).

    Args:
        monitor: Quantity to watch, e.g. `"val_loss"`.
        factor: `new_lr = lr * factor`, in [0, 1).
        patience: Epochs without improvement before reducing.
        verbose: 0 silent, 1 prints each reduction.
        mode: `"auto"`, `"min"` or `"max"` (see `MonitorCallback`).
        min_delta: Smallest change that counts as an improvement.
        cooldown: Epochs to wait after a reduction before counting again.
        min_lr: Lower bound on the learning rate.

    Example:
        >>> reduce_lr = ReduceLROnPlateau(monitor="val_loss", factor=0.2, patience=5,
        ...                               min_lr=0.001)
        >>> model.fit(x, y, validation_split=0.2, callbacks=[reduce_lr])  # doctest: +SKIP
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
    ) -> None:
        super().__init__(monitor, mode, min_delta=min_delta)
        factor = check_number("factor", factor, minimum=0.0)
        if factor >= 1.0:
            raise ValueError(
                "ReduceLROnPlateau does not support a factor >= 1.0. "
                f"Received: factor={factor!r} (of type float)"
            )
        self.factor = factor
        self.min_lr = check_number("min_lr", min_lr, minimum=0.0)
        self.patience = checks.non_negative_int("patience", patience)
        self.verbose = check_verbose(verbose)
        self.cooldown = checks.non_negative_int("cooldown", cooldown)
        self.cooldown_counter = 0
        self.wait = 0

    def _reset(self) -> None:
        self.best = None
        self.cooldown_counter = 0
        self.wait = 0

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        if self._begin_run():
            self._reset()

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._set_direction()
        optimizer = model_optimizer(self.model, "ReduceLROnPlateau")
        log_learning_rate(logs, optimizer)
        current = self.get_monitor_value(logs, "Learning rate reduction", end=".")
        if current is None:
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self.is_improvement(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience and self._reduce(optimizer, epoch):
                self.cooldown_counter = self.cooldown
                self.wait = 0

    def _reduce(self, optimizer: Any, epoch: int) -> bool:
        rates = group_learning_rates(optimizer)
        # Keras keeps the rate in float32: compare as float32 so that a rate already at
        # `min_lr` is never "reduced" again by a rounding difference.
        floor = np.float32(self.min_lr)
        if not any(np.float32(r) > floor for r in rates):
            return False
        new = [max(r * self.factor, self.min_lr) if np.float32(r) > floor else r for r in rates]
        set_learning_rates(optimizer, new)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new[0]}.")
        return True

    # --- state ----------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """`wait`, `cooldown_counter` and `best` (the rate itself is in the optimizer's state).

        Example:
            >>> ReduceLROnPlateau().state_dict()
            {'wait': 0, 'cooldown_counter': 0, 'best': None}
        """
        return {"wait": self.wait, "cooldown_counter": self.cooldown_counter, "best": self.best}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict()`'s values; the next `on_train_begin` keeps them.

        Example:
            >>> cb = ReduceLROnPlateau()
            >>> cb.load_state_dict({"wait": 2, "cooldown_counter": 0, "best": 0.5})
            >>> cb.wait
            2
        """
        if not isinstance(state, Mapping):
            raise TypeError(
                "`load_state_dict` expects the dict returned by `state_dict()`. "
                f"Received: state={state!r} (of type {type(state).__name__})"
            )
        self.wait = int(state.get("wait", 0))
        self.cooldown_counter = int(state.get("cooldown_counter", 0))
        best = state.get("best")
        self.best = None if best is None else float(best)
        self._resumed = True
