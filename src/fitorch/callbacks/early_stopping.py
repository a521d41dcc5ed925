"""`EarlyStopping`: stop training when a monitored quantity stops improving."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from fitorch import checks
from fitorch.callbacks.monitor_callback import MonitorCallback, check_number, check_verbose


def snapshot_weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Copies of every tensor of `model.state_dict()`, on their devices (no host round trip)."""
    with torch.no_grad():
        return {k: v.detach().clone() for k, v in model.state_dict().items()}


class EarlyStopping(MonitorCallback):
    """Stop training when a monitored quantity has stopped improving (Keras 3).

    At the end of every epoch from `start_from_epoch` on, the monitored value
    is compared with the best so far; after `patience` epochs without an
    improvement larger than `min_delta`, `model.stop_training` is set. With a
    `baseline`, the patience counter restarts only when the value beats both
    the best and the baseline.

    With `restore_best_weights=True`, the weights of the best epoch are kept
    as copies of `model.state_dict()` on the model's device and put back at
    the end of training (whether or not it stopped early), as Keras 3 does.

    Args:
        monitor: Quantity to watch, e.g. `"val_loss"`, `"val_accuracy"`.
        min_delta: Smallest change that counts as an improvement.
        patience: Epochs without improvement before stopping.
        verbose: 0 silent, 1 prints when it stops and restores.
        mode: `"auto"`, `"min"` or `"max"` (see `MonitorCallback`).
        baseline: Value the monitored quantity must beat.
        restore_best_weights: Restore the best epoch's weights at the end.
        start_from_epoch: Epochs to wait before monitoring (warm-up).

    Example:
        >>> stop = EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
        >>> model.fit(x, y, validation_split=0.2, epochs=100, callbacks=[stop])  # doctest: +SKIP
        >>> stop.stopped_epoch  # doctest: +SKIP
        12
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ) -> None:
        super().__init__(monitor, mode, min_delta=min_delta)
        self.patience = checks.non_negative_int("patience", patience)
        self.verbose = check_verbose(verbose)
        self.baseline = None if baseline is None else check_number("baseline", baseline)
        if not isinstance(restore_best_weights, bool):
            raise ValueError(
                "`restore_best_weights` must be True or False. Received: "
                f"restore_best_weights={restore_best_weights!r} "
                f"(of type {type(restore_best_weights).__name__})"
            )
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = checks.non_negative_int("start_from_epoch", start_from_epoch)
        self.wait = 0
        self.stopped_epoch = 0
        self.best_epoch = 0
        self.best_weights: dict[str, torch.Tensor] | None = None

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        # Allow instances to be re-used across `fit` calls (unless a state was loaded).
        if self._begin_run():
            self.wait = 0
            self.stopped_epoch = 0
            self.best = None
            self.best_weights = None
            self.best_epoch = 0

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._set_direction()
        current = self.get_monitor_value(logs, "Early stopping")
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            # Never set: the current weights are the best so far.
            self.best_weights = snapshot_weights(self.model)
            self.best_epoch = epoch

        self.wait += 1
        if self.is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = snapshot_weights(self.model)
            # The counter restarts only when the value beats the baseline too.
            if self.baseline is None or self.is_improvement(current, self.baseline):
                self.wait = 0
            return

        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        super().on_train_end(logs)
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print("Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.")
            self.model.load_state_dict(self.best_weights)

    # --- state ----------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """`wait`, `stopped_epoch`, `best`, `best_epoch` and `best_weights` (tensors or None).

        Example:
            >>> EarlyStopping().state_dict()["wait"]
            0
        """
        return {
            "wait": self.wait,
            "stopped_epoch": self.stopped_epoch,
            "best": self.best,
            "best_epoch": self.best_epoch,
            # The tensors themselves: they are replaced, never changed in place.
            "best_weights": None if self.best_weights is None else dict(self.best_weights),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict()`'s values; the next `on_train_begin` keeps them.

        Example:
            >>> stop = EarlyStopping(patience=2)
            >>> stop.load_state_dict({"wait": 1, "best": 0.25})
            >>> stop.wait, stop.best
            (1, 0.25)
        """
        if not isinstance(state, Mapping):
            raise TypeError(
                "`load_state_dict` expects the dict returned by `state_dict()`. "
                f"Received: state={state!r} (of type {type(state).__name__})"
            )
        self.wait = int(state.get("wait", 0))
        self.stopped_epoch = int(state.get("stopped_epoch", 0))
        best = state.get("best")
        self.best = None if best is None else float(best)
        self.best_epoch = int(state.get("best_epoch", 0))
        weights = state.get("best_weights")
        self.best_weights = None if weights is None else dict(weights)
        self._resumed = True

