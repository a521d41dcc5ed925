"""`SwapEMAWeights`: evaluate (and optionally checkpoint) with the optimizer's EMA weights."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from fitorch.callbacks.callback import Callback


class SwapEMAWeights(Callback):
    """Swap the model's weights with the optimizer's moving averages around evaluation.

    Before every evaluation (validation inside `fit`, `evaluate`, `predict`)
    the weights are exchanged in place with their exponential moving averages
    kept by an optimizer created with `use_ema=True` (fitorch's optimizers,
    e.g. `fitorch.optimizers.Adam(use_ema=True)`), and exchanged back after it.

    With `swap_on_epoch=True` the EMA weights are also in the model between
    `on_epoch_end` and the next `on_epoch_begin`, so callbacks placed after
    this one (e.g. `ModelCheckpoint`) see them. After the last epoch they stay
    in the model, as at the end of any `fit` with `use_ema=True`.

    Unlike Keras 3, `on_predict_end` swaps the trained weights back (Keras's
    check is inverted there and leaves the EMA weights in the model).

    Args:
        swap_on_epoch: Also swap at `on_epoch_end` / `on_epoch_begin`.

    Example:
        >>> model.compile(optimizer=fitorch.optimizers.Adam(use_ema=True), loss="mse")
        >>> model.fit(x, y, validation_split=0.2, callbacks=[SwapEMAWeights()])
        ... # doctest: +SKIP
    """

    def __init__(self, swap_on_epoch: bool = False) -> None:
        super().__init__()
        if not isinstance(swap_on_epoch, bool):
            raise ValueError(
                f"`swap_on_epoch` must be True or False. Received: swap_on_epoch={swap_on_epoch!r}"
                f" (of type {type(swap_on_epoch).__name__})"
            )
        self.swap_on_epoch = swap_on_epoch
        self._ema_weights_in_model = False

    def _optimizer(self) -> Any:
        optimizer = getattr(self.model, "optimizer", None)
        if not getattr(optimizer, "use_ema", False) or not callable(
                getattr(optimizer, "swap_ema_weights", None)):
            raise ValueError(
                "SwapEMAWeights must be used when `use_ema=True` is set on the optimizer "
                "(e.g. `fitorch.optimizers.Adam(use_ema=True)`). Received: "
                f"use_ema={getattr(optimizer, 'use_ema', None)} on "
                f"{type(optimizer).__name__}"
            )
        return optimizer

    def _swap_variables(self) -> None:
        self._optimizer().swap_ema_weights()

    @torch.no_grad()
    def _finalize_ema_values(self) -> None:
        # The model holds the EMA weights now; make the averages equal to them so that
        # the end-of-training overwrite of the weights with their averages (Keras's
        # `finalize_variable_values`) changes nothing. fitorch's optimizers keep each
        # average in the parameter's state under "ema".
        optimizer = self._optimizer()
        for group in optimizer.param_groups:
            for p in group["params"]:
                average = optimizer.state[p].get("ema")
                if average is not None:
                    average.copy_(p)

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        if self.swap_on_epoch and self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = False

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        if self.swap_on_epoch and not self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = True
            if epoch == self.params.get("epochs", 0) - 1:
                self._finalize_ema_values()

    def on_test_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        if not self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = True

    def on_test_end(self, logs: Mapping[str, Any] | None = None) -> None:
        if self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = False

    def on_predict_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self.on_test_begin(logs)

    def on_predict_end(self, logs: Mapping[str, Any] | None = None) -> None:
        self.on_test_end(logs)

    # --- state ----------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Whether the EMA weights are in the model (so a resume swaps them back in time).

        Example:
            >>> SwapEMAWeights().state_dict()
            {'ema_weights_in_model': False}
        """
        return {"ema_weights_in_model": self._ema_weights_in_model}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict()`'s flag.

        Example:
            >>> SwapEMAWeights().load_state_dict({"ema_weights_in_model": False})
        """
        if not isinstance(state, Mapping):
            raise TypeError(
                "`load_state_dict` expects the dict returned by `state_dict()`. "
                f"Received: state={state!r} (of type {type(state).__name__})"
            )
        self._ema_weights_in_model = bool(state.get("ema_weights_in_model", False))
