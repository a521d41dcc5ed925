"""`LearningRateScheduler`, and reading / setting the learning rate of any torch optimizer.

The learning rate lives in `optimizer.param_groups[i]["lr"]` for every
`torch.optim.Optimizer` (fitorch's own add a `learning_rate` property over the
same values), so the learning-rate callbacks work with all of them.
"""

from __future__ import annotations

import inspect
import math
import numbers
import warnings
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

import numpy as np
import torch
from torch.optim import lr_scheduler

from fitorch.callbacks.callback import Callback
from fitorch.callbacks.monitor_callback import check_monitor, check_verbose
from fitorch.step import updated_weights

STEP_PER = ("epoch", "batch")


# --- the learning rate of any torch optimizer ---------------------------------------


def model_optimizer(model: Any, who: str) -> Any:
    """`model.optimizer`, checked to be a torch optimizer with param groups."""
    optimizer = getattr(model, "optimizer", None)
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise ValueError(
            f"{who} needs the model's optimizer to be a torch.optim.Optimizer: compile the "
            "model with one, e.g. `model.compile(optimizer='adam', ...)`. "
            f"Received: optimizer={optimizer!r} (of type {type(optimizer).__name__})"
        )
    return optimizer


def get_learning_rate(optimizer: torch.optim.Optimizer) -> float:
    """The learning rate of the first param group (Keras's single `learning_rate`).

    Example:
        >>> opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
        >>> get_learning_rate(opt)
        0.1
    """
    groups = optimizer.param_groups
    lr = groups[0]["lr"] if groups else optimizer.defaults["lr"]
    # A tensor learning rate (torch's `capturable` / compiled optimizers) is read once per
    # epoch at most: a sync that does not matter there.
    return float(lr)


def set_learning_rates(optimizer: torch.optim.Optimizer, values: list[float]) -> None:
    """Set each param group's learning rate (tensor rates are updated in place)."""
    for group, value in zip(optimizer.param_groups, values):
        if isinstance(group["lr"], torch.Tensor):
            group["lr"].fill_(value)
        else:
            group["lr"] = value
    if not optimizer.param_groups and values:
        optimizer.defaults["lr"] = values[0]


def group_learning_rates(optimizer: torch.optim.Optimizer) -> list[float]:
    return [float(g["lr"]) for g in optimizer.param_groups] or [float(optimizer.defaults["lr"])]


def log_learning_rate(logs: Mapping[str, Any] | None, optimizer: Any) -> None:
    """Add `learning_rate` to the epoch logs, as Keras 3's learning-rate callbacks do."""
    if isinstance(logs, MutableMapping) and isinstance(optimizer, torch.optim.Optimizer):
        logs["learning_rate"] = get_learning_rate(optimizer)


def _as_rate(value: Any) -> float:
    """A schedule's output as a float: a number, NumPy scalar or one-element tensor."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = float(value)  # sync: once per epoch
    elif isinstance(value, np.ndarray) and value.size == 1:
        value = float(value)
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not math.isfinite(float(value)) or float(value) < 0):
        raise ValueError(
            "The output of the `schedule` function should be a float >= 0 (the new learning "
            f"rate). Received: {value!r} (of type {type(value).__name__})"
        )
    return float(value)


def _takes_lr(schedule: Callable[..., Any]) -> bool | None:
    """Whether `schedule` takes `(epoch, lr)` rather than `(epoch)`; None when unknown."""
    try:
        params = inspect.signature(schedule).parameters.values()
    except (TypeError, ValueError):
        return None
    positional = [p for p in params
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return any(p.kind is p.VAR_POSITIONAL for p in params) or len(positional) >= 2


def _is_torch_scheduler(schedule: Any) -> bool:
    return isinstance(schedule, (lr_scheduler.LRScheduler, lr_scheduler.ReduceLROnPlateau))


class LearningRateScheduler(Callback):
    """Set the learning rate from a schedule (Keras 3), or step a torch LR scheduler.

    With a function `schedule(epoch, lr) -> new_lr` (or `schedule(epoch)`), the
    rate is set at the start of every epoch (0-based `epoch`, `lr` the current
    rate of the first param group), as in Keras. When param groups have
    different rates, each is scaled by `new_lr / lr`, keeping their ratios.

    With a `torch.optim.lr_scheduler.LRScheduler` instance (built on the
    model's optimizer), the scheduler is stepped after every epoch
    (`step_per="epoch"`, the default) or after every training batch
    (`step_per="batch"`; with `steps_per_execution=N`, once per N steps; with
    `gradient_accumulation_steps`, once per update). A
    `torch.optim.lr_scheduler.ReduceLROnPlateau` receives the value of
    `monitor` from the logs at each step.

    Either way the epoch logs (and so `History`) get the rate used as
    `learning_rate`, as Keras 3 does.

    Args:
        schedule: A function of `(epoch, lr)` or `(epoch)` returning the new
            learning rate, or a torch LR scheduler.
        verbose: 0 silent, 1 prints the rate set at each epoch.
        step_per: `"epoch"` or `"batch"`: when a torch scheduler is stepped.
        monitor: The logged value given to a `ReduceLROnPlateau` scheduler.

    Example:
        >>> halve = LearningRateScheduler(lambda epoch, lr: lr if epoch < 10 else lr * 0.5)
        >>> model.fit(x, y, epochs=20, callbacks=[halve])  # doctest: +SKIP
        >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
        >>> cosine = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=1000)
        >>> model.compile(optimizer=opt, loss="mse")  # doctest: +SKIP
        >>> model.fit(x, y, callbacks=[LearningRateScheduler(cosine, step_per="batch")])
        ... # doctest: +SKIP
    """

    def __init__(self, schedule: Any, verbose: int = 0, *, step_per: str = "epoch",
                 monitor: str = "val_loss") -> None:
        super().__init__()
        self._torch = _is_torch_scheduler(schedule)
        if not self._torch and not callable(schedule):
            raise TypeError(
                "`schedule` must be a function `schedule(epoch, lr) -> lr` or a torch "
                "`torch.optim.lr_scheduler.LRScheduler`. "
                f"Received: schedule={schedule!r} (of type {type(schedule).__name__})"
            )
        if step_per not in STEP_PER:
            raise ValueError(
                "`step_per` must be 'epoch' or 'batch'. "
                f"Received: step_per={step_per!r} (of type {type(step_per).__name__})"
            )
        if step_per == "batch" and not self._torch:
            raise ValueError(
                "`step_per='batch'` applies to torch LR schedulers; a schedule function is "
                f"called once per epoch. Received: schedule={schedule!r}, step_per='batch'"
            )
        self.schedule = schedule
        self.verbose = check_verbose(verbose)
        self.step_per = step_per
        self.monitor = check_monitor(monitor)
        self._plateau = isinstance(schedule, lr_scheduler.ReduceLROnPlateau)
        self._takes_lr = None if self._torch else _takes_lr(schedule)
        self._warned_missing = False

    # --- hooks ----------------------------------------------------------------
    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self._warned_missing = False
        if self._torch:
            optimizer = model_optimizer(self.model, "LearningRateScheduler")
            if self.schedule.optimizer is not optimizer:
                raise ValueError(
                    "The torch LR scheduler given to LearningRateScheduler must be built on "
                    "the model's optimizer (`model.optimizer`): create the optimizer, build "
                    "the scheduler on it, and pass the same optimizer to `compile`. "
                    f"Received: a scheduler on {type(self.schedule.optimizer).__name__} "
                    f"(id {id(self.schedule.optimizer)}), model.optimizer "
                    f"{type(optimizer).__name__} (id {id(optimizer)})"
                )

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        optimizer = model_optimizer(self.model, "LearningRateScheduler")
        if not self._torch:
            self._apply_schedule(optimizer, epoch)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to "
                  f"{get_learning_rate(optimizer)}.")

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        # Under gradient accumulation, only batches that applied an update step it.
        if self._torch and self.step_per == "batch" and updated_weights(self.model):
            self._step_scheduler(logs)

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        log_learning_rate(logs, self.model.optimizer)
        if self._torch and self.step_per == "epoch":
            self._step_scheduler(logs)

    # --- helpers --------------------------------------------------------------
    def _apply_schedule(self, optimizer: torch.optim.Optimizer, epoch: int) -> None:
        rates = group_learning_rates(optimizer)
        lr = rates[0]
        if self._takes_lr is None:  # signature unknown: Keras's way of telling
            try:
                new = self.schedule(epoch, lr)
            except TypeError:
                new = self.schedule(epoch)
        else:
            new = self.schedule(epoch, lr) if self._takes_lr else self.schedule(epoch)
        new = _as_rate(new)
        if all(r == lr for r in rates) or lr == 0:
            set_learning_rates(optimizer, [new] * len(rates))
        else:
            set_learning_rates(optimizer, [r * new / lr for r in rates])

    def _step_scheduler(self, logs: Mapping[str, Any] | None) -> None:
        if not self._plateau:
            self.schedule.step()
            return
        value = (logs or {}).get(self.monitor)
        if value is None:
            if not self._warned_missing:
                self._warned_missing = True
                warnings.warn(
                    "Learning rate reduction is conditioned on metric "
                    f"`{self.monitor}` which is not available. Available metrics are: "
                    f"{','.join(list((logs or {}).keys()))}.",
                    UserWarning, stacklevel=3,
                )
            return
        self.schedule.step(float(value))

    # --- state ----------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The torch scheduler's `state_dict()`; nothing for a schedule function (the rate
        itself is in the optimizer's state).

        Example:
            >>> LearningRateScheduler(lambda epoch, lr: lr).state_dict()
            {}
        """
        return {"scheduler": self.schedule.state_dict()} if self._torch else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict()`'s scheduler state.

        Example:
            >>> LearningRateScheduler(lambda epoch, lr: lr).load_state_dict({})
        """
        if not isinstance(state, Mapping):
            raise TypeError(
                "`load_state_dict` expects the dict returned by `state_dict()`. "
                f"Received: state={state!r} (of type {type(state).__name__})"
            )
        if self._torch and "scheduler" in state:
            self.schedule.load_state_dict(state["scheduler"])
