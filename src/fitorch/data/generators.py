"""Python generators, iterators, and callables that return a fresh generator.

A generator or iterator is one-shot: an endless one continues across epochs (with
`steps_per_epoch`), a finite one ends when exhausted. A callable is called again
for every pass, so each epoch gets a fresh generator. With workers, one
background thread produces batches ahead of training (an iterator can only be
advanced by one thread at a time); processes cannot share a Python generator, so
asking for them gets that thread, with a warning.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from fitorch.data.passes import PassAdapter
from fitorch.data.standardize import standardize_batch
from fitorch.data.workers import WorkerConfig, prefetch_thread

PROCESSES_FOR_GENERATOR_WARNING = (
    "`use_multiprocessing=True` does not apply to a Python generator: its state lives in "
    "this process and cannot be split across processes. A background thread serves it "
    "instead. Use a `fitorch.utils.Sequence` (or a torch Dataset) to load batches in "
    "worker processes."
)


def is_iterator(x: Any) -> bool:
    return hasattr(x, "__next__") and hasattr(x, "__iter__")


class GeneratorAdapter(PassAdapter):
    """Batches from a generator/iterator (one-shot) or a generator factory (one per pass).

    Example:
        >>> def batches():
        ...     while True:
        ...         yield x_batch, y_batch
        >>> adapter = GeneratorAdapter(batches())          # endless: needs steps_per_epoch
        >>> adapter = GeneratorAdapter(lambda: batches())  # a fresh generator every pass
    """

    source_name = "generator"

    def __init__(self, source: Iterator[Any] | Callable[[], Any], *,
                 class_weight: Mapping[Any, Any] | None = None,
                 workers: int = 1, use_multiprocessing: bool = False,
                 max_queue_size: int = 10) -> None:
        super().__init__(class_weight)
        if use_multiprocessing:
            warnings.warn(PROCESSES_FOR_GENERATOR_WARNING, UserWarning, stacklevel=4)
        self.config = WorkerConfig(max(workers, 1), False, max_queue_size)
        self._one_shot = is_iterator(source)
        self.reiterable = not self._one_shot
        self._source = source
        self._started = False

    def _open_pass(self, skip: int = 0) -> Iterator[Any]:
        if self._one_shot:
            if self._started:
                return iter(())  # a generator runs once: nothing is left for a new pass
            self._started = True
            items: Any = self._source
        else:
            items = self._source()  # type: ignore[operator]
            if not is_iterator(items):
                if not hasattr(items, "__iter__"):
                    raise TypeError(
                        "A callable passed as data must return a generator or iterator of "
                        f"batches. Received: {self._source!r} returned an object of type "
                        f"{type(items).__name__}"
                    )
                items = iter(items)
        # The user's own generator is left open (fit then evaluate may share one endless
        # generator, as in tf_keras); generators this adapter made are closed with the pass.
        stream = _standardized(items, close=not self._one_shot)
        if self.config.mode == "threads":
            return prefetch_thread(stream, self.config.max_queue_size)
        return stream


def _standardized(items: Iterator[Any], close: bool) -> Iterator[Any]:
    try:
        for index, batch in enumerate(items):
            if batch is None:
                raise ValueError(
                    f"The generator yielded None as its batch number {index}. Each item must "
                    "be a batch: `x`, `(x, y)` or `(x, y, sample_weight)`; end the generator "
                    "(return) to end the data. Received: None (of type NoneType)"
                )
            yield standardize_batch(batch, "generator")
    finally:
        close_items = getattr(items, "close", None) if close else None
        if close_items is not None:
            close_items()
