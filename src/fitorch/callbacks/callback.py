"""The `Callback` base class: every hook of Keras's callback API.

Every hook receives a `dict` as `logs` (never None), as in Keras. Batch logs
are Python floats for a hook you write (one host-device sync per batch, only
for the hooks you implement); fitorch's own callbacks read lazy logs instead
(`fitorch.logs.Logs`), so a fit with only them never syncs per batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class Callback:
    """Base class for callbacks: override the hooks you need.

    Epochs and batches are 0-based in hooks. `self.model` is the model being
    trained and `self.params` holds `verbose`, `epochs` and `steps`.

    `logs` is always a `dict` (`{}` where there is nothing to report), shared
    by all callbacks of one hook call, so a key one callback adds is seen by
    the callbacks after it (and by `History` at an epoch end), as in Keras.
    Metric values are Python floats. Overriding a batch hook
    (`on_train_batch_end`, ...) costs one host-device sync per batch, to turn
    that batch's values into floats; a hook you do not override costs
    nothing, and fitorch's built-in callbacks read their batch logs lazily.

    Example:
        >>> class PrintLoss(Callback):
        ...     def on_epoch_end(self, epoch, logs=None):
        ...         print(epoch, logs["loss"])
    """

    def __init__(self) -> None:
        self.params: dict[str, Any] = {}
        self._model: Any = None

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def set_model(self, model: Any) -> None:
        self._model = model

    @property
    def model(self) -> Any:
        return self._model

    # --- state (for an exact resume, e.g. by BackupAndRestore) --------------
    def state_dict(self) -> dict[str, Any]:
        """The state a callback needs to resume exactly; JSON-able values or tensors.

        Callbacks that count or remember something across epochs (patience
        counters, best values, best weights) return it here; the default is an
        empty dict.

        Example:
            >>> Callback().state_dict()
            {}
        """
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict()` returned (the default does nothing).

        Callbacks that reset their state in `on_train_begin` keep a state
        loaded before `fit`, or from an earlier callback's `on_train_begin`.

        Example:
            >>> Callback().load_state_dict({})
        """

    # --- fit -------------------------------------------------------------
    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        """Called at the start of `fit`."""

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        """Called at the end of `fit` (also when it ends with an exception)."""

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        """Called at the start of every epoch (0-based `epoch`)."""

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        """Called at the end of every epoch with the epoch's logs (`val_` keys included)."""

    def on_train_batch_begin(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        """Called before every training batch."""
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        """Called after every training batch with the running metric values."""
        self.on_batch_end(batch, logs=logs)

    def on_batch_begin(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        """Keras 2 alias of `on_train_batch_begin`."""

    def on_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        """Keras 2 alias of `on_train_batch_end`."""

    # --- evaluate (and validation inside fit) -----------------------------
    def on_test_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        """Called at the start of `evaluate` and of every validation run."""

    def on_test_end(self, logs: Mapping[str, Any] | None = None) -> None:
        """Called at the end of `evaluate` and of every validation run."""

    def on_test_batch_begin(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        """Called before every evaluation batch."""

    def on_test_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        """Called after every evaluation batch."""

    # --- predict ---------------------------------------------------------
    def on_predict_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        """Called at the start of `predict`."""

    def on_predict_end(self, logs: Mapping[str, Any] | None = None) -> None:
        """Called at the end of `predict`."""

    def on_predict_batch_begin(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        """Called before every prediction batch."""

    def on_predict_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        """Called after every prediction batch; `logs["outputs"]` holds the batch's outputs."""


HOOK_NAMES = (
    "on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
    "on_train_batch_begin", "on_train_batch_end",
    "on_test_begin", "on_test_end", "on_test_batch_begin", "on_test_batch_end",
    "on_predict_begin", "on_predict_end", "on_predict_batch_begin", "on_predict_batch_end",
)


_KERAS2_ALIASES = {"on_train_batch_begin": "on_batch_begin", "on_train_batch_end": "on_batch_end"}


def _owner(callback: Callback, hook: str) -> type:
    return next(klass for klass in type(callback).__mro__ if hook in vars(klass))


def reads_logs_lazily(callback: Callback, hook: str) -> bool:
    """Whether fitorch's own code implements `hook` of `callback` (it takes lazy `Logs`).

    False for anything a user wrote: a hook assigned on the instance
    (`LambdaCallback`) or defined in a class outside fitorch, also a subclass
    of a built-in callback.
    """
    if hook in vars(callback):
        return False
    owner = _owner(callback, hook)
    alias = _KERAS2_ALIASES.get(hook)
    if owner is Callback and alias is not None:  # the base hook forwards to the alias
        if alias in vars(callback):
            return False
        owner = _owner(callback, alias)
    return owner.__module__.partition(".")[0] == "fitorch"


def overrides(callback: Callback, hook: str) -> bool:
    """Whether `callback` does real work in `hook` (so dispatch can skip no-op hooks)."""
    if hook in vars(callback):  # hooks assigned on the instance
        return True
    cls = type(callback)
    if getattr(cls, hook) is not getattr(Callback, hook):
        return True
    # The train batch hooks forward to the Keras 2 aliases.
    alias = _KERAS2_ALIASES.get(hook)
    return alias is not None and getattr(cls, alias) is not getattr(Callback, alias)
