"""`MonitorCallback`: the base of callbacks that watch one logged quantity.

`EarlyStopping` and `ReduceLROnPlateau` (and `ModelCheckpoint`) share it: the
direction of improvement (`mode`, or inferred from the metric), `min_delta`,
the comparison, and the one warning when the quantity is missing from the logs.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Mapping
from typing import Any

from fitorch.callbacks.callback import Callback

MODES = ("auto", "min", "max")

# Metric classes whose value should go up (Keras 3's `_direction = "up"`); every
# other known metric class goes down. Matched by class name along the MRO, so
# fitorch's metrics and user subclasses of them are recognised without importing
# every metric module here.
_UP = frozenset({
    "Accuracy", "BinaryAccuracy", "CategoricalAccuracy", "SparseCategoricalAccuracy",
    "TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy", "InferredAccuracy",
    "Precision", "Recall", "AUC", "SensitivitySpecificityBase", "SensitivityAtSpecificity",
    "SpecificityAtSensitivity", "PrecisionAtRecall", "RecallAtPrecision", "FBetaScore",
    "F1Score", "IoU", "MeanIoU", "BinaryIoU", "OneHotIoU", "OneHotMeanIoU", "R2Score",
    "CosineSimilarity", "PearsonCorrelation", "ConcordanceCorrelation",
})
_DOWN = frozenset({
    "MeanSquaredError", "MeanAbsoluteError", "MeanAbsolutePercentageError",
    "MeanSquaredLogarithmicError", "RootMeanSquaredError", "LogCoshError", "Hinge",
    "SquaredHinge", "CategoricalHinge", "BinaryCrossentropy", "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy", "KLDivergence", "Poisson",
})


def check_mode(mode: Any) -> str:
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(
            "`mode` must be one of 'auto', 'min' or 'max'. "
            f"Received: mode={mode!r} (of type {type(mode).__name__})"
        )
    return mode


def check_number(name: str, value: Any, minimum: float | None = None) -> float:
    """`value` as a float after checking that it is a finite real number >= `minimum`."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not math.isfinite(float(value))
            or (minimum is not None and float(value) < minimum)):
        bound = "" if minimum is None else f" >= {minimum}"
        raise ValueError(
            f"`{name}` must be a finite number{bound}. "
            f"Received: {name}={value!r} (of type {type(value).__name__})"
        )
    return float(value)


def check_verbose(verbose: Any) -> int:
    """0 (silent) or a positive int (print messages); True and False are accepted too."""
    if not isinstance(verbose, numbers.Integral) or verbose < 0:
        raise ValueError(
            "`verbose` must be 0 (silent) or 1 (print messages). "
            f"Received: verbose={verbose!r} (of type {type(verbose).__name__})"
        )
    return int(verbose)


def check_monitor(monitor: Any) -> str:
    if not isinstance(monitor, str) or not monitor:
        raise ValueError(
            "`monitor` must be the name of a logged quantity, e.g. 'val_loss'. "
            f"Received: monitor={monitor!r} (of type {type(monitor).__name__})"
        )
    return monitor


def metric_direction(metric: Any) -> str | None:
    """'up', 'down' or None (unknown) for a metric object."""
    direction = getattr(metric, "_direction", None)
    if direction in ("up", "down"):
        return str(direction)
    # torchmetrics says it itself (also through fitorch's wrapper).
    for obj in (metric, getattr(metric, "metric", None)):
        higher = getattr(obj, "higher_is_better", None)
        if isinstance(higher, bool):
            return "up" if higher else "down"
    for cls in type(metric).__mro__:
        if cls.__name__ in _UP:
            return "up"
        if cls.__name__ in _DOWN:
            return "down"
    return None


class MonitorCallback(Callback):
    """Base class for callbacks that compare a monitored quantity with its best value.

    `mode="auto"` infers the direction as Keras 3 does: `loss` (with or without
    `val_`) goes down, a compiled metric goes the way its class says (accuracy,
    AUC, precision... up; errors and crossentropies down); beyond Keras, any
    other name ending in `loss` (per-output losses) goes down. Anything else
    needs `mode="min"` or `"max"`.

    Example:
        >>> class Watch(MonitorCallback):
        ...     def on_epoch_end(self, epoch, logs=None):
        ...         value = self.get_monitor_value(logs, "Watching")
        ...         if value is not None and self.is_improvement(value, self.best):
        ...             self.best = value
    """

    def __init__(self, monitor: str = "val_loss", mode: str = "auto",
                 baseline: float | None = None, min_delta: float = 0.0) -> None:
        super().__init__()
        self.monitor = check_monitor(monitor)
        self.mode = check_mode(mode)
        self.min_delta = abs(check_number("min_delta", min_delta))
        self.best: float | None = (None if baseline is None
                                   else check_number("baseline", baseline))
        # "min" or "max", settled at the first epoch end (the metrics exist by then).
        self._direction: str | None = None
        self._warned_missing = False
        self._resumed = False

    # --- direction ----------------------------------------------------------
    def _set_direction(self) -> str:
        if self._direction is not None:
            return self._direction
        if self.mode != "auto":
            self._direction = self.mode
            return self._direction
        name = self.monitor.removeprefix("val_")
        direction = "min" if name == "loss" else None
        if direction is None:
            direction = self._direction_from_model(name)
        if direction is None and name.endswith("loss"):
            direction = "min"
        if direction is None:
            raise ValueError(
                f"{type(self).__name__} callback received monitor={self.monitor}, but "
                "fitorch isn't able to automatically determine whether that metric should "
                "be maximized or minimized. Pass `mode='max'` in order to monitor based on "
                "the highest metric value, or pass `mode='min'` in order to use the lowest "
                "value."
            )
        self._direction = direction
        return direction

    def _direction_from_model(self, name: str) -> str | None:
        model = self.model
        candidates: list[tuple[str, Any]] = []
        compiled = getattr(model, "_compiled_metrics", None)
        if compiled is not None and getattr(compiled, "built", False):
            candidates += [(key, m) for key, m, _, _ in compiled.entries]
        for m in getattr(model, "metrics", None) or []:
            candidates.append((getattr(m, "name", ""), m))
        for key, metric in candidates:
            if name in (key, getattr(metric, "name", None)):
                direction = metric_direction(metric)
                if direction is not None:
                    return "max" if direction == "up" else "min"
        return None

    def is_improvement(self, value: float, reference: float | None) -> bool:
        """Whether `value` beats `reference` by more than `min_delta` (None is always beaten)."""
        if reference is None:
            return True
        if self._set_direction() == "min":
            return value + self.min_delta < reference
        return value - self.min_delta > reference

    # --- reading the logs ---------------------------------------------------
    def get_monitor_value(self, logs: Mapping[str, Any] | None, what: str,
                          end: str = "") -> float | None:
        """The monitored value as a float, or None with one warning per run naming the keys.

        `what` starts Keras's message (e.g. "Early stopping") and `end` ends it.
        """
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            if not self._warned_missing:
                self._warned_missing = True
                warnings.warn(
                    f"{what} conditioned on metric `{self.monitor}` which is not available. "
                    f"Available metrics are: {','.join(list(logs.keys()))}{end}",
                    UserWarning, stacklevel=3,
                )
            return None
        return float(value)  # epoch logs hold floats already: no device sync

    # --- state --------------------------------------------------------------
    def _begin_run(self) -> bool:
        """Called from `on_train_begin`: True when the state must be reset (no state loaded)."""
        self._warned_missing = False
        if self._resumed:
            self._resumed = False
            return False
        return True

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        self._resumed = False
