"""`ProgbarLogger`: the progress bar that `fit`, `evaluate` and `predict` print."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fitorch.callbacks.callback import Callback
from fitorch.utils.progbar import Progbar, is_interactive_stdout, write_stdout


class ProgbarLogger(Callback):
    """Callback that prints metrics to stdout, as `keras.callbacks.ProgbarLogger`.

    `params["verbose"]` picks the display: 0 silent, 1 a live bar, 2 one line
    per epoch, `"auto"` a live bar on a terminal and one line per epoch when
    stdout is not one. Validation inside `fit` is silent; `evaluate` and
    `predict` show their own bar. Batch logs are handed to the bar unread, so
    their values are read (a device sync) only when the bar is redrawn.

    Example:
        >>> logger = ProgbarLogger()
        >>> logger.set_params({"verbose": 2, "epochs": 1, "steps": 2})
        >>> logger.on_train_begin()
        >>> logger.on_epoch_begin(0)
        >>> logger.on_train_batch_end(0, {"loss": 0.5})
        >>> logger.on_train_batch_end(1, {"loss": 0.25})
        >>> logger.on_epoch_end(0, {"loss": 0.25})  # doctest: +SKIP
        2/2 - 0s - 3ms/step - loss: 0.2500
    """

    rank_zero_only = True  # data-parallel runs: only rank 0 prints or writes

    def __init__(self) -> None:
        super().__init__()
        self.seen = 0
        self.progbar: Progbar | None = None
        self.target: int | None = None
        self.verbose = 1
        self.epochs = 1
        self._called_in_fit = False

    def set_params(self, params: dict[str, Any]) -> None:
        super().set_params(params)
        verbose = params.get("verbose", "auto")
        if isinstance(verbose, str) and verbose == "auto":
            verbose = 1 if is_interactive_stdout() else 2
        if isinstance(verbose, str) or verbose not in (0, 1, 2):
            raise ValueError(
                'Expected `verbose` to be "auto", 0, 1 or 2. '
                f"Received: verbose={verbose!r} (of type {type(verbose).__name__})"
            )
        self.verbose = int(verbose)
        self.epochs = params.get("epochs", 1)
        self.target = params.get("steps")

    # --- hooks ---------------------------------------------------------------
    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        # Validation runs inside `fit` go through the test hooks: keep them silent.
        self._called_in_fit = True

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        # Keras never clears this flag; clearing it lets a logger passed to
        # `fit` show the bar of a later `evaluate` it is passed to.
        self._called_in_fit = False

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._reset_progbar()
        self._maybe_init_progbar()
        if self.verbose and self.epochs > 1:
            write_stdout(f"Epoch {epoch + 1}/{self.epochs}\n")

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._update_progbar(batch, logs)

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._finalize_progbar(logs)

    def on_test_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        if not self._called_in_fit:
            self._reset_progbar()
            self._maybe_init_progbar()

    def on_test_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        if not self._called_in_fit:
            self._update_progbar(batch, logs)

    def on_test_end(self, logs: Mapping[str, Any] | None = None) -> None:
        if not self._called_in_fit:
            self._finalize_progbar(logs)

    def on_predict_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self._reset_progbar()
        self._maybe_init_progbar()

    def on_predict_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        # The batch's outputs are no metrics: show none.
        self._update_progbar(batch, None)

    def on_predict_end(self, logs: Mapping[str, Any] | None = None) -> None:
        self._finalize_progbar(logs)

    # --- helpers -------------------------------------------------------------
    def _reset_progbar(self) -> None:
        self.seen = 0
        self.progbar = None

    def _maybe_init_progbar(self) -> Progbar:
        if self.progbar is None:
            # Logs hold running values already: show them as given, not averaged.
            self.progbar = Progbar(
                target=self.target, verbose=self.verbose, stateless_metrics=set()
            )
        return self.progbar

    def _update_progbar(self, batch: int, logs: Mapping[str, Any] | None) -> None:
        self.seen = batch + 1  # 1-based count of steps done
        # Only the live bar draws during an epoch; verbose 0 and 2 cost nothing here.
        if self.verbose == 1:
            # The mapping itself, unread: the bar reads it only when it redraws.
            self._maybe_init_progbar().update(self.seen, logs, finalize=False)

    def _finalize_progbar(self, logs: Mapping[str, Any] | None) -> None:
        progbar = self._maybe_init_progbar()
        if self.target is None:
            # Unknown length: the steps seen become the target (and stay it for
            # the next epochs, as in Keras).
            self.target = self.seen
            progbar.target = self.target
        progbar.update(self.target, logs, finalize=True)
