"""`LambdaCallback`: a callback made of plain functions, one per hook."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fitorch.callbacks.callback import HOOK_NAMES, Callback

_ALIASES = {"on_batch_begin": "on_train_batch_begin", "on_batch_end": "on_train_batch_end"}


class LambdaCallback(Callback):
    """Build a callback from functions, called with the hook's positional arguments.

    `on_epoch_begin` / `on_epoch_end` get `(epoch, logs)`; `on_train_begin`,
    `on_train_end`, `on_test_begin`, `on_test_end`, `on_predict_begin` and
    `on_predict_end` get `(logs)`; the batch hooks (`on_train_batch_*`,
    `on_test_batch_*`, `on_predict_batch_*`, and Keras 2's `on_batch_begin` /
    `on_batch_end` for training batches) get `(batch, logs)`. A hook that is
    not given costs nothing. Unknown hook names are an error (Keras ignores
    them silently, which hides typos).

    Example:
        >>> print_batch = LambdaCallback(on_train_batch_begin=lambda batch, logs: print(batch))
        >>> log_loss = LambdaCallback(
        ...     on_epoch_end=lambda epoch, logs: print(epoch, logs["loss"]))
    """

    def __init__(
        self,
        on_epoch_begin: Callable[..., Any] | None = None,
        on_epoch_end: Callable[..., Any] | None = None,
        on_train_begin: Callable[..., Any] | None = None,
        on_train_end: Callable[..., Any] | None = None,
        on_train_batch_begin: Callable[..., Any] | None = None,
        on_train_batch_end: Callable[..., Any] | None = None,
        on_test_begin: Callable[..., Any] | None = None,
        on_test_end: Callable[..., Any] | None = None,
        on_test_batch_begin: Callable[..., Any] | None = None,
        on_test_batch_end: Callable[..., Any] | None = None,
        on_predict_begin: Callable[..., Any] | None = None,
        on_predict_end: Callable[..., Any] | None = None,
        on_predict_batch_begin: Callable[..., Any] | None = None,
        on_predict_batch_end: Callable[..., Any] | None = None,
        **kwargs: Callable[..., Any],
    ) -> None:
        super().__init__()
        hooks = {
            "on_epoch_begin": on_epoch_begin, "on_epoch_end": on_epoch_end,
            "on_train_begin": on_train_begin, "on_train_end": on_train_end,
            "on_train_batch_begin": on_train_batch_begin,
            "on_train_batch_end": on_train_batch_end,
            "on_test_begin": on_test_begin, "on_test_end": on_test_end,
            "on_test_batch_begin": on_test_batch_begin, "on_test_batch_end": on_test_batch_end,
            "on_predict_begin": on_predict_begin, "on_predict_end": on_predict_end,
            "on_predict_batch_begin": on_predict_batch_begin,
            "on_predict_batch_end": on_predict_batch_end,
        }
        for name, alias_fn in kwargs.items():
            if name not in _ALIASES:
                raise ValueError(
                    f"LambdaCallback has no hook named {name!r}. Hooks: "
                    f"{', '.join([*HOOK_NAMES, *_ALIASES])}. Received: {name}={alias_fn!r}"
                )
            target = _ALIASES[name]
            if hooks[target] is not None:
                raise ValueError(
                    f"Pass `{target}` or its Keras 2 alias `{name}`, not both. "
                    f"Received: {target}={hooks[target]!r}, {name}={alias_fn!r}"
                )
            hooks[target] = alias_fn
        for name, fn in hooks.items():
            if fn is None:
                continue
            if not callable(fn):
                raise TypeError(
                    f"`{name}` must be a function. Received: {name}={fn!r} "
                    f"(of type {type(fn).__name__})"
                )
            # Assigned on the instance: the callback list dispatches only to hooks given.
            setattr(self, name, fn)
