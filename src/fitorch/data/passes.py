"""What the adapters for user-made batches share: passes that can start early and always close.

`sample_x()` needs one batch before training starts (to size lazy layers). Instead
of fetching a batch twice (a `Sequence` index fetched twice would break "every
index exactly once per epoch"), it starts the first pass, keeps that batch, and
hands the same pass to the epoch iterator later. Every pass is a generator whose
`finally` stops its workers; `close()` closes those still open, so nothing
outlives fit/evaluate/predict, even after an error or Ctrl-C.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Mapping
from typing import Any

import torch

from fitorch.data.arrays import unpack_x_y_sample_weight
from fitorch.data.shard import StandIn, map_batch
from fitorch.data.standardize import ClassWeights


class PassAdapter:
    """Base for the generator, `Sequence` and torch data adapters (see `DataAdapter`)."""

    reiterable = True
    #: whether a pass can restart at any batch with the same order (BackupAndRestore)
    resumable = False
    num_batches: int | None = None
    source_name = "data"

    def __init__(self, class_weight: Mapping[Any, Any] | None = None) -> None:
        self._class_weights = ClassWeights(class_weight) if class_weight is not None else None
        self._pending: Iterator[Any] | None = None  # started by sample_x, not handed out yet
        self._sample: Any = None
        self._live: weakref.WeakSet[Any] = weakref.WeakSet()
        self._pending_rng: torch.Tensor | None = None
        #: torch's RNG state when the pass last handed out by `batches()` drew its order,
        #: when that was before `batches()` (a pass started by `sample_x`)
        self.last_pass_rng: torch.Tensor | None = None

    # -- what subclasses provide
    def _open_pass(self, skip: int = 0) -> Iterator[Any]:
        """A new pass of standardized batches (tensors, Keras's packing), `skip` passed over."""
        raise NotImplementedError

    def _begin_pass(self) -> None:
        """Called before a new pass starts (a `Sequence`'s `on_epoch_begin`)."""

    # -- the DataAdapter protocol
    def on_epoch_begin(self) -> None:
        if self._pending is None:
            self._begin_pass()

    def on_epoch_end(self) -> None:
        """Nothing by default; a `Sequence` runs its `on_epoch_end` here."""

    def batches(self, skip: int = 0) -> Iterator[Any]:
        if self._pending is not None and not skip:
            started, self._pending = self._pending, None
            # This pass drew its order in sample_x(): its RNG state is from then.
            self.last_pass_rng = self._pending_rng
            return started
        self._drop_pending()
        self.last_pass_rng = None
        return self._track(self._open_pass(skip))

    def position_state(self) -> dict[str, Any]:
        """What a resumed run needs besides the RNG state to repeat this data's passes."""
        return {"passes": getattr(self, "_passes", 0)}

    def load_position_state(self, state: dict[str, Any], reopen_current: bool = False) -> None:
        """Restore `position_state()`; a pass started early by `sample_x` is dropped.

        `reopen_current`: the pass under way at the capture is about to be opened again,
        so it must get the same pass number (its workers' seeds derive from it).
        """
        self._drop_pending()
        if hasattr(self, "_passes"):
            self._passes = int(state.get("passes", 0)) - (1 if reopen_current else 0)

    def _drop_pending(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            close = getattr(pending, "close", None)
            if close is not None:
                close()

    def sample_x(self) -> Any:
        if self._sample is None:
            self._pending_rng = torch.get_rng_state()  # the pass draws its order now
            self._begin_pass()
            it = self._track(self._open_pass())
            try:
                first = next(it)
            except StopIteration:
                raise ValueError(
                    f"The {self.source_name} produced no batches; it must yield at least one. "
                    f"Received: an empty {self.source_name}"
                ) from None
            self._sample = first
            self._pending = _prepend(first, it)
            self._live.add(self._pending)
        sample = self._sample.batch if isinstance(self._sample, StandIn) else self._sample
        x, _, _ = unpack_x_y_sample_weight(sample)
        return x

    def targets(self) -> Any:
        return None  # not in memory: read batch by batch

    @property
    def has_targets(self) -> bool | None:
        return None  # unknown before the batches are read

    def close(self) -> None:
        """Close every open pass, which stops and reaps its worker threads or processes."""
        self._pending = None
        for open_pass in list(self._live):
            open_pass.close()

    # -- helpers
    def _track(self, batches: Iterator[Any]) -> Iterator[Any]:
        weighted = self._weighted(batches)
        self._live.add(weighted)
        return weighted

    def _weighted(self, batches: Iterator[Any]) -> Iterator[Any]:
        weigh = self._class_weights
        try:
            if weigh is None:
                yield from batches
            else:
                for batch in batches:
                    yield map_batch(weigh, batch)
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()


def _prepend(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest
