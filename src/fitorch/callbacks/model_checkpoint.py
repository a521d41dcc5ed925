"""`ModelCheckpoint`: save the model or its weights every epoch, every N batches, or when best.

Keras 3's callback on fitorch's saving code: the file name is a pattern filled
from the epoch (1-based), the batch (1-based, batch-level saving) and the logs;
the suffix picks the format (SPEC.md "Files"); every write is atomic, so a
crash mid-save leaves the previous checkpoint whole.
"""

from __future__ import annotations

import numbers
import os
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from fitorch.callbacks.monitor_callback import MonitorCallback, check_number, check_verbose
from fitorch.saving import formats


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(
            f"`{name}` must be True or False. Received: {name}={value!r} "
            f"(of type {type(value).__name__})"
        )
    return value


def _check_save_freq(save_freq: Any) -> str | int:
    if save_freq == "epoch" and isinstance(save_freq, str):
        return "epoch"
    if (isinstance(save_freq, numbers.Integral) and not isinstance(save_freq, bool)
            and int(save_freq) > 0):
        return int(save_freq)
    raise ValueError(
        f"Unrecognized save_freq: {save_freq!r}. Expected save_freq are 'epoch' or a positive "
        f"integer (a number of batches). Received: save_freq={save_freq!r} "
        f"(of type {type(save_freq).__name__})"
    )


def _check_filepath(filepath: Any, save_weights_only: bool) -> str:
    if not isinstance(filepath, (str, os.PathLike)) or not os.fspath(filepath):
        raise TypeError(
            "`filepath` must be a path (a non-empty str or os.PathLike), optionally with "
            "format fields such as '{epoch:02d}'. "
            f"Received: filepath={filepath!r} (of type {type(filepath).__name__})"
        )
    path = os.fspath(filepath)
    if not isinstance(path, str):
        raise TypeError(
            f"`filepath` must be a text path, not bytes. Received: filepath={path!r}"
        )
    fmt = formats.format_for_suffix(path)
    if save_weights_only and path.lower().endswith(".keras"):
        # The name promises Keras's `.keras` model archive, which holds a whole model.
        raise ValueError(
            "When using `save_weights_only=True` in `ModelCheckpoint`, the filepath must name "
            "a weights format: `.weights.h5` (Keras's HDF5 layout), `.safetensors`, `.h5`, "
            f"`.pt` or `.fitorch`. Received: filepath={path}"
        )
    if not save_weights_only and fmt != formats.FITORCH:
        # Keras raises here too; in fitorch these suffixes hold weights only, so saving
        # "the model" to them would silently drop the architecture and optimizer state.
        raise ValueError(
            "The filepath of a whole-model checkpoint (`save_weights_only=False`) must end in "
            "`.fitorch` (or another suffix that is not a weights format); "
            f"{os.path.basename(path)!r} names a weights-only format ({fmt}). Pass "
            "`save_weights_only=True` to save the weights only. "
            f"Received: filepath={path}"
        )
    return path


class ModelCheckpoint(MonitorCallback):
    """Save the model or its weights during training (Keras 3's `ModelCheckpoint`).

    `filepath` may hold format fields filled from `epoch` (1-based), `batch`
    (1-based, with an int `save_freq`) and the logs, e.g.
    `"ckpt/{epoch:02d}-{val_loss:.2f}.fitorch"`; a field the logs lack is a
    `ValueError` naming the keys there are, raised before anything is written.
    The parent directory is created; every write is atomic.

    Suffixes (SPEC.md "Files"): for the whole model (`model.save`), `.fitorch`
    or any suffix that is not a weights format (`.keras` included: fitorch's own
    file under that name); for `save_weights_only=True` (`model.save_weights`),
    `.weights.h5` (readable by `keras.Model.load_weights`), `.safetensors`,
    `.h5`, `.pt` or `.fitorch`. A weights suffix without `save_weights_only`,
    and `.keras` with it, are `ValueError`s, as in Keras.

    With `save_best_only=True` a file is written only when `monitor` beats the
    best value so far (and `initial_value_threshold`, if given). The best value
    and the batch counters carry over to a later `fit` with the same callback,
    as in Keras 3, and are part of `state_dict()` for an exact resume.

    Differences from Keras 3, on purpose: when the monitored value is missing
    from the logs (e.g. `val_loss` on an epoch without validation), nothing is
    saved and one warning per `fit` names the keys there are (tf_keras skips
    too; Keras 3 saves, overwriting the best checkpoint with unvalidated
    weights). `save_freq` must be positive.

    Args:
        filepath: Path or pattern of the checkpoint file.
        monitor: Logged quantity that decides "best", e.g. `"val_loss"`.
        verbose: 0 silent, 1 prints a line when it saves (or does not).
        save_best_only: Save only when `monitor` improves.
        save_weights_only: Save the weights (`model.save_weights`), not the model.
        mode: `"auto"`, `"min"` or `"max"` (see `MonitorCallback`).
        save_freq: `"epoch"`, or save every this many training batches, counted
            across epochs (batch logs hold the running epoch averages).
        initial_value_threshold: Value the first saved `monitor` must beat.

    Example:
        >>> checkpoint = ModelCheckpoint("ckpt/best.weights.h5", monitor="val_accuracy",
        ...                              save_best_only=True, save_weights_only=True)
        >>> model.fit(x, y, validation_split=0.2, epochs=10,
        ...           callbacks=[checkpoint])  # doctest: +SKIP
        >>> model.load_weights("ckpt/best.weights.h5")  # doctest: +SKIP
    """

    def __init__(
        self,
        filepath: str | os.PathLike[str],
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        save_weights_only: bool = False,
        mode: str = "auto",
        save_freq: str | int = "epoch",
        initial_value_threshold: float | None = None,
    ) -> None:
        threshold = (None if initial_value_threshold is None
                     else check_number("initial_value_threshold", initial_value_threshold))
        super().__init__(monitor, mode, baseline=threshold)
        self.verbose = check_verbose(verbose)
        self.save_best_only = _check_bool("save_best_only", save_best_only)
        self.save_weights_only = _check_bool("save_weights_only", save_weights_only)
        self.save_freq = _check_save_freq(save_freq)
        self.filepath = _check_filepath(filepath, self.save_weights_only)
        self.initial_value_threshold = threshold
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen: int | None = None
        self._current_epoch = 0
        self.last_saved_epoch: int | None = None  # 0-based, as in the hooks
        self.last_saved_filepath: str | None = None
        if self.save_freq != "epoch":
            # Assigned on the instance, so the batch hook is dispatched only when saving
            # by batches: with save_freq="epoch" the training loop never calls it.
            self.on_train_batch_end = self._on_train_batch_end  # type: ignore[method-assign]

    # --- hooks ------------------------------------------------------------------
    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        # `best` and the counters are kept across `fit` calls (Keras 3); the
        # missing-monitor warning is given once per run.
        self._begin_run()

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._current_epoch = epoch

    def _on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        if self._should_save_on_batch(batch):
            self._save_model(self._current_epoch, batch, logs)

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        if self.save_freq == "epoch":
            self._save_model(epoch, None, logs)

    # --- when ------------------------------------------------------------------------
    def _should_save_on_batch(self, batch: int) -> bool:
        """Count batches across epochs; with steps_per_execution, `batch` jumps by N."""
        if self._last_batch_seen is None or batch <= self._last_batch_seen:
            added = batch + 1  # a new epoch: batches are 0-based
        else:
            added = batch - self._last_batch_seen
        self._batches_seen_since_last_saving += added
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= int(self.save_freq):
            self._batches_seen_since_last_saving = 0
            return True
        return False

    def _should_save_model(self, epoch: int, logs: Mapping[str, Any], filepath: str) -> bool:
        if not self.save_best_only:
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: saving model to {filepath}")
            return True
        current = logs.get(self.monitor)
        if current is None:
            if not self._warned_missing:
                self._warned_missing = True
                warnings.warn(
                    f"Can save best model only with {self.monitor} available, skipping. "
                    f"Available metrics are: {','.join(list(logs.keys()))}",
                    UserWarning, stacklevel=4,
                )
            return False
        if isinstance(current, (np.ndarray, torch.Tensor)) and current.ndim > 0:
            warnings.warn(
                "Can save best model only when `monitor` is a scalar value. Received: "
                f"{current}. Falling back to `save_best_only=False`.",
                UserWarning, stacklevel=4,
            )
            return True
        current = float(current)  # epoch logs hold floats already: no device sync
        self._set_direction()  # an unknown direction fails at the first check, as in Keras
        best_str = "None" if self.best is None else f"{self.best:.5f}"
        if self.is_improvement(current, self.best):
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best_str} to "
                      f"{current:.5f}, saving model to {filepath}")
            self.best = current
            return True
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best_str}")
        return False

    # --- where and how ---------------------------------------------------------------
    def _get_file_path(self, epoch: int, batch: int | None, logs: Mapping[str, Any]) -> str:
        """`filepath` filled from the epoch (1-based), the batch (1-based) and the logs."""
        fields = dict(logs)  # with lazy batch logs: the one sync, only when saving
        fields["epoch"] = epoch + 1
        if batch is not None and "batch" not in fields:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(**fields)
        except KeyError as e:
            raise ValueError(
                f'Failed to format this callback filepath: "{self.filepath}". The field '
                f"{e} is not in the logs of epoch {epoch + 1}; available fields are: "
                f"{', '.join(sorted(fields))}. Received: filepath={self.filepath!r}"
            ) from None
        except (IndexError, ValueError) as e:
            raise ValueError(
                f'Failed to format this callback filepath: "{self.filepath}". Reason: {e}. '
                "Use named fields such as '{epoch:02d}' or '{val_loss:.2f}'. "
                f"Received: filepath={self.filepath!r}"
            ) from None

    def _save_model(self, epoch: int, batch: int | None, logs: Mapping[str, Any] | None) -> None:
        logs = logs or {}
        filepath = self._get_file_path(epoch, batch, logs)
        if not self._should_save_model(epoch, logs, filepath):
            return
        if os.path.isdir(filepath):
            raise IsADirectoryError(
                "Please specify a non-directory filepath for ModelCheckpoint. Filepath used "
                f"is an existing directory: {filepath}"
            )
        directory = os.path.dirname(filepath)
        if directory:
            os.makedirs(directory, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(filepath, overwrite=True)
        else:
            self.model.save(filepath, overwrite=True)
        self.last_saved_epoch = epoch
        self.last_saved_filepath = filepath
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: finished saving model to {filepath}")

    # --- state ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """`best`, the batch counters, the current and the last saved epoch (JSON-able).

        Example:
            >>> ModelCheckpoint("ckpt.fitorch").state_dict()["best"] is None
            True
        """
        return {
            "best": self.best,
            "batches_seen_since_last_saving": self._batches_seen_since_last_saving,
            "last_batch_seen": self._last_batch_seen,
            "current_epoch": self._current_epoch,
            "last_saved_epoch": self.last_saved_epoch,
            "last_saved_filepath": self.last_saved_filepath,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict()` returned.

        Example:
            >>> checkpoint = ModelCheckpoint("best.fitorch", save_best_only=True)
            >>> checkpoint.load_state_dict({"best": 0.25, "last_saved_epoch": 3})
            >>> checkpoint.best, checkpoint.last_saved_epoch
            (0.25, 3)
        """
        if not isinstance(state, Mapping):
            raise TypeError(
                "`load_state_dict` expects the dict returned by `state_dict()`. "
                f"Received: state={state!r} (of type {type(state).__name__})"
            )
        best = state.get("best")
        self.best = None if best is None else float(best)
        self._batches_seen_since_last_saving = int(state.get("batches_seen_since_last_saving", 0))
        last_batch = state.get("last_batch_seen")
        self._last_batch_seen = None if last_batch is None else int(last_batch)
        self._current_epoch = int(state.get("current_epoch", 0))
        last_epoch = state.get("last_saved_epoch")
        self.last_saved_epoch = None if last_epoch is None else int(last_epoch)
        last_path = state.get("last_saved_filepath")
        self.last_saved_filepath = None if last_path is None else str(last_path)
