"""Worker threads and processes that fetch batches ahead of the training loop.

Three ways to run user data code, picked by `WorkerConfig.mode`:

- "main": in the training thread, one batch when the loop asks for it;
- "threads": a thread pool, at most `max_queue_size` batches fetched ahead;
- "processes": torch's `DataLoader` machinery. A `Sequence` is a map-style
  dataset of batches, so `DataLoader(batch_size=None, sampler=<the epoch's
  order>, num_workers=...)` owns the processes, delivers in sampler order,
  re-raises worker errors with their traceback and notices dead workers. Its
  workers are not persistent: each pass starts new ones, so what the main
  process changed in `on_epoch_end` is what the next pass's workers see.

Every generator here shuts its workers down in `finally`, so closing a pass
(or dropping it) reaps them.
"""

from __future__ import annotations

import queue
import random
import sys
import threading
import time
import warnings
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from itertools import islice
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from fitorch.data.standardize import batch_to_tensors

# A thread still inside user code after this long is left to finish on its own (it
# stops before its next batch): waiting on it forever would hang the caller. After
# Ctrl-C the wait is short; the threads are daemons, so they never block the exit.
JOIN_TIMEOUT_S = 10.0
INTERRUPT_JOIN_S = 1.0
_POLL_S = 0.1


@dataclass(frozen=True)
class WorkerConfig:
    """`workers`, `use_multiprocessing`, `max_queue_size` as Keras means them.

    Example:
        >>> WorkerConfig(workers=4, use_multiprocessing=True).mode
        'processes'
    """

    workers: int = 1
    use_multiprocessing: bool = False
    max_queue_size: int = 10

    @property
    def mode(self) -> str:
        # Keras's rule (tf_keras and Keras 3 alike): parallel when workers > 1, or with
        # processes asked for and at least one worker.
        if self.workers > 1 or (self.workers > 0 and self.use_multiprocessing):
            return "processes" if self.use_multiprocessing else "threads"
        return "main"


def merge_worker_args(own: WorkerConfig, workers: int | None, use_multiprocessing: bool | None,
                      max_queue_size: int | None) -> WorkerConfig:
    """The dataset's own settings, overridden by those given to fit/evaluate/predict.

    fit's defaults (1, False, 10) cannot be told apart from values left unset, so
    they leave the dataset's own settings in place; None also means unset.
    """
    defaults = WorkerConfig()
    return WorkerConfig(
        workers if workers is not None and workers != defaults.workers else own.workers,
        use_multiprocessing if use_multiprocessing else own.use_multiprocessing,
        max_queue_size if max_queue_size is not None
        and max_queue_size != defaults.max_queue_size else own.max_queue_size,
    )


def derive_seed(pass_index: int) -> int:
    """A seed for one pass's worker processes, from torch's global RNG without consuming it.

    `torch.manual_seed` therefore reproduces the workers' seeds, and the training
    run draws the same random numbers whether its data comes from processes or not.
    """
    g = torch.Generator()
    g.set_state(torch.get_rng_state())
    return int(torch.randint(0, 2**62, (pass_index + 1,), generator=g)[-1])


def seed_worker(worker_id: int) -> None:
    """`worker_init_fn`: NumPy's and Python's RNGs follow torch's per-worker seed.

    Forked workers would otherwise all inherit one NumPy state and draw the same
    "random" augmentations.
    """
    del worker_id
    seed = torch.initial_seed()  # base seed + worker id, set by the DataLoader
    random.seed(seed)
    np.random.seed(seed % 2**32)


def _keep(batch: Any) -> Any:
    """`collate_fn` for batches the dataset already made (module level: picklable)."""
    return batch


def ordered_map(source: Any, keys: Iterable[Any], config: WorkerConfig, *, seed: int = 0
                ) -> Iterator[Any]:
    """`source[key]` for every key, in the order of `keys`, run as `config` says.

    `source` must be picklable (and its class importable) for the "spawn" and
    "forkserver" start methods.
    """
    mode = config.mode
    if mode == "processes":
        return _process_map(source, keys, config, seed)
    if mode == "threads":
        return _thread_map(source, keys, config)
    return (source[k] for k in keys)


class DaemonThreadPool:
    """`workers` daemon threads running submitted calls, results as `Future`s.

    Not `ThreadPoolExecutor`: its threads are not daemons and the interpreter joins them
    at exit, so a `__getitem__` that never returns keeps a Ctrl-C'd process alive. These
    threads never hold the process: they are joined with a timeout, or abandoned.

    Example:
        >>> pool = DaemonThreadPool(2, "fitorch-data")
        >>> pool.submit(sum, [1, 2]).result()
        3
        >>> pool.shutdown()
    """

    def __init__(self, workers: int, name: str) -> None:
        self._tasks: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.threads = [threading.Thread(target=self._work, name=f"{name}_{i}", daemon=True)
                        for i in range(max(1, workers))]
        for thread in self.threads:
            thread.start()

    def submit(self, fn: Any, *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self._tasks.put((future, fn, args))
        return future

    def _work(self) -> None:
        while True:
            task = self._tasks.get()
            if task is None:
                return
            future, fn, args = task
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # handed to whoever waits on the future
                future.set_exception(exc)

    def shutdown(self) -> None:
        """Cancel the calls not started; each thread ends after its current call."""
        while True:
            try:
                task = self._tasks.get_nowait()
            except queue.Empty:
                break
            if task is not None:
                task[0].cancel()
        for _ in self.threads:
            self._tasks.put(None)


def _thread_map(source: Any, keys: Iterable[Any], config: WorkerConfig) -> Iterator[Any]:
    pool = DaemonThreadPool(config.workers, "fitorch-data")
    pending: deque[Future[Any]] = deque()
    todo = iter(keys)
    try:
        for key in islice(todo, config.max_queue_size):
            pending.append(pool.submit(source.__getitem__, key))
        while pending:
            # `result()` re-raises the worker's exception with its own traceback.
            batch = pending.popleft().result()
            for key in islice(todo, 1):
                pending.append(pool.submit(source.__getitem__, key))
            yield batch
    finally:
        pool.shutdown()
        # Threads cannot be killed: wait for the batches being fetched, but not forever.
        _join_all(pool.threads, "a `Sequence.__getitem__`")


def _interrupted() -> bool:
    """Whether a KeyboardInterrupt is propagating (also behind the GeneratorExit of a pass
    closed while the caller handles one)."""
    exc = sys.exc_info()[1]
    while exc is not None:
        if isinstance(exc, KeyboardInterrupt):
            return True
        exc = exc.__context__
    return False


def _join_all(threads: Iterable[threading.Thread], where: str) -> None:
    # Ctrl-C: a short wait reaps threads between two batches, then control goes back; the
    # threads are daemons, so one stuck in user code never holds the exit.
    interrupted = _interrupted()
    deadline = time.monotonic() + (INTERRUPT_JOIN_S if interrupted else JOIN_TIMEOUT_S)
    for thread in list(threads):
        thread.join(max(0.0, deadline - time.monotonic()))
    if not interrupted and any(thread.is_alive() for thread in threads):
        warnings.warn(
            f"A data thread is still inside {where} after {JOIN_TIMEOUT_S:.0f} s; it stops "
            "when that call returns.", RuntimeWarning, stacklevel=3,
        )


def process_loader(dataset: Any, *, sampler: Iterable[Any] | None = None,
                   batch_size: int | None = None, collate_fn: Any = None,
                   config: WorkerConfig, seed: int) -> DataLoader:
    """A DataLoader over `dataset` with `config.workers` processes and bounded prefetch."""
    workers = max(1, config.workers)
    kwargs: dict[str, Any] = {}
    if collate_fn is not None:
        kwargs["collate_fn"] = collate_fn
    return DataLoader(
        dataset, batch_size=batch_size, sampler=sampler, num_workers=workers,
        # max_queue_size bounds the batches in flight: DataLoader keeps
        # prefetch_factor batches outstanding per worker.
        prefetch_factor=max(1, config.max_queue_size // workers),
        persistent_workers=False, worker_init_fn=seed_worker,
        generator=torch.Generator().manual_seed(seed), **kwargs,
    )


def _process_map(source: Any, keys: Iterable[Any], config: WorkerConfig, seed: int
                 ) -> Iterator[Any]:
    loader = process_loader(source, sampler=keys, collate_fn=_keep, config=config, seed=seed)
    for batch in iterate_loader(loader):
        yield batch_to_tensors(batch)


def iterate_loader(loader: DataLoader, *, shut_down: bool = True) -> Iterator[Any]:
    """One pass over `loader`; its worker processes are reaped when the pass ends or closes."""
    it = iter(loader)
    try:
        while True:
            try:
                batch = next(it)
            except StopIteration:
                return
            except RuntimeError as exc:
                clearer = _clearer_worker_death(exc)
                if clearer is None:
                    raise
                raise clearer from exc
            except (ConnectionError, EOFError) as exc:
                # A worker killed while handing over a batch breaks the pipe between the
                # processes; torch then raises the pipe's error, not its own message.
                raise RuntimeError(
                    "A data worker process died while handing over a batch (the connection "
                    f"to it broke: {type(exc).__name__}). The operating system's "
                    "out-of-memory killer ends processes this way; lower `workers`, "
                    "`max_queue_size` or the batch size, or use threads "
                    "(use_multiprocessing=False)."
                ) from exc
            yield batch
    finally:
        shutdown = getattr(it, "_shutdown_workers", None)
        if shut_down and shutdown is not None:
            shutdown()


def _clearer_worker_death(exc: RuntimeError) -> RuntimeError | None:
    """fitorch's words for torch's "worker killed" error; None for any other error."""
    msg = str(exc)
    if "DataLoader worker" in msg and ("killed by signal" in msg or "exited unexpectedly" in msg):
        return RuntimeError(
            f"A data worker process died while loading batches: {msg.strip().rstrip('.')}. "
            "The operating "
            "system's out-of-memory killer ends processes this way; lower `workers`, "
            "`max_queue_size` or the batch size, or use threads (use_multiprocessing=False)."
        )
    return None


_END = object()


def prefetch_thread(items: Iterator[Any], max_queue_size: int) -> Iterator[Any]:
    """`items` produced by one background thread, at most `max_queue_size` batches ahead.

    One thread, because an iterator can only be advanced by one thread at a time;
    it still overlaps producing the next batch with training on this one. An
    exception in the producer is re-raised here with its original traceback.
    """
    slots = threading.Semaphore(max_queue_size)
    ready: queue.SimpleQueue[tuple[Any, Any]] = queue.SimpleQueue()
    stop = threading.Event()

    def produce() -> None:
        try:
            while not stop.is_set():
                if not slots.acquire(timeout=_POLL_S):
                    continue
                if stop.is_set():
                    return
                item = next(items, _END)
                if item is _END:
                    ready.put((_END, None))
                    return
                ready.put((item, None))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            ready.put((_END, exc))

    thread = threading.Thread(target=produce, name="fitorch-data-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, exc = ready.get()
            if exc is not None:
                raise exc
            if item is _END:
                return
            slots.release()
            yield item
    finally:
        stop.set()
        _join_all([thread], "your generator")
        close = getattr(items, "close", None)
        if close is not None and not thread.is_alive():
            close()
