"""The epoch iterator: which batches make up one epoch, and on which device.

Separation of concerns: a data adapter knows how to produce one pass over the
data; the epoch iterator decides how many steps form an epoch
(`steps_per_epoch`), carries an unfinished pass over to the next epoch as
Keras does, and moves each batch to the model's device.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch

from fitorch import nest
from fitorch.data.shard import map_batch

OUT_OF_DATA_WARNING = (
    "Your input ran out of data; interrupting the epoch. Make sure that your data can "
    "produce at least `steps_per_epoch * epochs` batches."
)
EXHAUSTED_WARNING = (
    "Your generator is exhausted: it was used up by epoch {epoch} and cannot be restarted, "
    "so training stops here ({left} of the requested epochs not run). Pass a callable that "
    "returns a fresh generator (restarted every epoch), a `fitorch.utils.Sequence`, or an "
    "endless generator with `steps_per_epoch`."
)


UNEVEN_WARNING = (
    "Data-parallel: another rank's data ran out at step {step} of this pass while this "
    "rank had more batches; every rank ends the pass there, so this rank's remaining "
    "batches are not used. Give every rank the same number of batches (e.g. a "
    "DistributedSampler, or `steps_per_epoch`)."
)


class EpochIterator:
    """Yields `(step, batch)` pairs for one epoch at a time.

    With `steps_per_epoch` smaller than the data, the next epoch continues where
    the previous one stopped (Keras 3). When a pass is used up mid-epoch, data that
    can be read again (arrays) starts a new pass, so every epoch has exactly
    `steps_per_epoch` steps (SPEC.md); one-shot data ends the epoch with a warning.

    One-shot data (a generator) that ran out sets `exhausted`: no later epoch can
    have batches, and the trainer ends training (`data_exhausted`).
    """

    def __init__(self, adapter: Any, steps_per_epoch: int | None = None,
                 device: torch.device | None = None) -> None:
        self.adapter = adapter
        self.steps_per_epoch = steps_per_epoch
        self.device = device
        self._move = device is not None and device.type != "cpu"
        if device is not None and device.type == "cuda" and hasattr(adapter, "pin_memory"):
            adapter.pin_memory = True  # batches in pinned memory: asynchronous copies
        self._pass: Iterator[Any] | None = None
        self._steps_in_pass = 0
        self._pass_rng: torch.Tensor | None = None  # torch's RNG just before this pass began
        self._resumed = False  # a pass restored by `resume()` waits for the next epoch
        self.exhausted = False
        #: data-parallel runs over data each rank reads itself (generators, DataLoaders):
        #: agrees whether every rank has a next batch (`Parallel.all_true`)
        self.agree: Callable[[bool], bool] | None = None

    def data_exhausted(self, epoch: int, epochs: int) -> bool:
        """After epoch `epoch` (0-based) of `epochs`: True when one-shot data ran out and
        epochs remain, with a warning that says training stops (SPEC.md)."""
        left = epochs - epoch - 1
        if not self.exhausted or left <= 0:
            return False
        warnings.warn(EXHAUSTED_WARNING.format(epoch=epoch + 1, left=left), UserWarning,
                      stacklevel=2)
        return True

    @property
    def num_batches(self) -> int | None:
        """Steps in one epoch, or None when unknown until the data runs out."""
        if self.steps_per_epoch is not None:
            return self.steps_per_epoch
        return getattr(self.adapter, "num_batches", None)

    def on_epoch_end(self) -> None:
        """The epoch's batches are done (a `Sequence` runs its `on_epoch_end` now)."""
        self.adapter.on_epoch_end()

    def restart(self) -> None:
        """Begin the next epoch from the start of the data where the data allows it.

        Evaluation uses this so that every validation run sees the same batches;
        one-shot data (a generator) just continues.
        """
        if getattr(self.adapter, "reiterable", False):
            self._pass = None

    def _new_pass(self, skip: int = 0) -> Iterator[Any]:
        self.adapter.on_epoch_begin()
        self._steps_in_pass = skip
        # The pass draws its order from torch's RNG as it starts: this state and the number
        # of batches taken are all an exact resume needs to take the same batches again.
        rng = torch.get_rng_state()
        batches = iter(self.adapter.batches(skip=skip) if skip else self.adapter.batches())
        earlier = getattr(self.adapter, "last_pass_rng", None)  # order drawn before (sample_x)
        self._pass_rng = earlier if earlier is not None else rng
        return batches

    def state(self) -> dict[str, Any]:
        """Where the data stands: enough for `resume()` in a new process to continue exactly."""
        position = getattr(self.adapter, "position_state", None)
        return {
            "in_pass": self._pass is not None,
            "steps_in_pass": self._steps_in_pass,
            "pass_rng": self._pass_rng,
            "adapter": position() if callable(position) else {},
        }

    def resume(self, state: dict[str, Any]) -> None:
        """Continue from `state()`; the current RNG state is kept (the caller restores it)."""
        reopen = bool(state.get("in_pass")) and state.get("pass_rng") is not None
        load = getattr(self.adapter, "load_position_state", None)
        if callable(load):
            if reopen and "reopen_current" in inspect.signature(load).parameters:
                load(state.get("adapter", {}), reopen_current=True)
            else:
                load(state.get("adapter", {}))
        self._pass = None
        if reopen:
            rng_now = torch.get_rng_state()
            torch.set_rng_state(state["pass_rng"])
            self._pass = self._new_pass(skip=int(state["steps_in_pass"]))
            torch.set_rng_state(rng_now)
            self._resumed = True

    def epoch(self, first_step: int = 0) -> Iterator[tuple[int, Any]]:
        """One epoch of `(step, batch)`; batches already on the target device.

        `first_step > 0` continues an epoch resumed mid-way (see `resume`).
        """
        data_batches = getattr(self.adapter, "num_batches", None)
        reiterable = getattr(self.adapter, "reiterable", False)
        if self.exhausted and not reiterable:
            warnings.warn(OUT_OF_DATA_WARNING, UserWarning, stacklevel=3)
            return
        resumed, self._resumed = self._resumed, False
        if self._pass is None or (self.steps_per_epoch is None and not resumed):
            self._pass = self._new_pass()
        steps = self.steps_per_epoch
        step = first_step
        while steps is None or step < steps:
            try:
                batch = next(self._pass)
                got = True
            except StopIteration:
                got = False
            if self.agree is not None and not self.agree(got):
                if got:  # another rank's data ran out first: every rank ends the pass here
                    warnings.warn(UNEVEN_WARNING.format(step=step), UserWarning, stacklevel=3)
                got = False
            if not got:
                empty_pass = self._steps_in_pass == 0
                self._pass = None
                if not reiterable:
                    self.exhausted = True
                if steps is None:
                    return
                if not reiterable or empty_pass:
                    warnings.warn(OUT_OF_DATA_WARNING, UserWarning, stacklevel=4)
                    return
                self._pass = self._new_pass()
                continue
            self._steps_in_pass += 1
            yield step, (self._to_device(batch) if self._move else batch)
            step += 1
        # A pass that was used up exactly at the end of the epoch restarts next time.
        if data_batches is not None and self._steps_in_pass >= data_batches:
            self._pass = None

    def _to_device(self, batch: Any) -> Any:
        dev = self.device

        def move(t: Any) -> Any:
            if isinstance(t, torch.Tensor):
                return t.to(dev, non_blocking=True)
            return t

        return map_batch(lambda b: nest.map_structure(move, b), batch)
