"""torch `Dataset` (map-style and iterable) and `DataLoader` inputs.

A map-style Dataset holds samples: fitorch batches it with `batch_size` (shuffled
per epoch as arrays are) and collates with torch's `default_collate`, on worker
threads or processes. An `IterableDataset` is batched by a `DataLoader` (with
processes, torch's rule applies: each worker runs its own copy of the iterator,
so shard with `torch.utils.data.get_worker_info()`). A `DataLoader` is used as
given: its own batch size, sampler and workers.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, default_collate

from fitorch.data.passes import PassAdapter
from fitorch.data.shard import Shard, check_batch_size, mark_stand_ins
from fitorch.data.standardize import standardize_batch
from fitorch.data.workers import (
    WorkerConfig,
    derive_seed,
    iterate_loader,
    ordered_map,
    prefetch_thread,
    process_loader,
)

DATALOADER_WORKERS_WARNING = (
    "`workers`, `use_multiprocessing` and `max_queue_size` do not apply to a torch "
    "DataLoader, which is used as given: set `num_workers` and `prefetch_factor` on it."
)


def is_dataloader(x: Any) -> bool:
    return isinstance(x, DataLoader)


def is_torch_dataset(x: Any) -> bool:
    return isinstance(x, Dataset)


class DatasetBatches(Dataset):
    """A map-style dataset of samples seen as a map of batches: key = the samples' indices."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset
        self._getitems = getattr(dataset, "__getitems__", None)

    def __getitem__(self, indices: list[int]) -> Any:
        # `__getitems__` is torch's batched fetch, when the dataset has one.
        samples = (self._getitems(indices) if self._getitems is not None
                   else [self.dataset[i] for i in indices])
        return standardize_batch(default_collate(samples), "Dataset")


class DatasetAdapter(PassAdapter):
    """Batches of a map-style torch `Dataset`, shuffled like arrays, on threads or processes.

    Example:
        >>> adapter = DatasetAdapter(TensorDataset(x, y), batch_size=32, shuffle=True)
    """

    resumable = True
    shard_kind = "samples"  # data-parallel predictions: see `fitorch.data.shard`
    source_name = "Dataset"

    def __init__(self, dataset: Any, *, batch_size: int | None = None, steps: int | None = None,
                 shuffle: bool | str = False, class_weight: Mapping[Any, Any] | None = None,
                 config: WorkerConfig | None = None, shard: Shard | None = None) -> None:
        super().__init__(class_weight)
        try:
            n = len(dataset)
        except TypeError:
            raise ValueError(
                "A map-style torch Dataset must define `__len__`; for a stream of samples "
                f"use an `IterableDataset`. Received: {type(dataset).__name__}"
            ) from None
        if n <= 0:
            raise ValueError(
                f"The Dataset is empty. Received: a {type(dataset).__name__} with len() = {n}"
            )
        if not batch_size:
            batch_size = math.ceil(n / steps) if steps else 32
        self.num_samples = n
        self.batch_size = int(batch_size)
        self.num_batches = math.ceil(n / self.batch_size)
        self.shuffle = shuffle
        self.config = config or WorkerConfig()
        self._source = DatasetBatches(dataset)
        self._passes = 0
        self.shard = shard  # data-parallel: this rank's positions of each global batch
        check_batch_size(self.batch_size, shard)

    def _batch_indices(self) -> list[list[int]]:
        n, bs = self.num_samples, self.batch_size
        with self.shard.shared_order() if self.shard is not None else contextlib.nullcontext():
            if self.shuffle == "batch":
                # Contiguous chunks in a new random order; the partial last chunk stays last.
                full = n // bs
                order = torch.randperm(full).tolist() + ([full] if n % bs else [])
                return [list(range(b * bs, min(n, (b + 1) * bs))) for b in order]
            perm = torch.randperm(n) if self.shuffle else torch.arange(n)
        return [chunk.tolist() for chunk in perm.split(bs)]

    def _open_pass(self, skip: int = 0) -> Iterator[Any]:
        keys = self._batch_indices()[skip:]
        stand_ins: list[bool] = []
        if self.shard is not None:
            shard = self.shard
            stand_ins = [len(k) <= shard.rank for k in keys]
            keys = [k[:1] if empty else k[shard.rank :: shard.world]
                    for k, empty in zip(keys, stand_ins)]
        seed = derive_seed(self._passes) if self.config.mode == "processes" else 0
        self._passes += 1
        batches = ordered_map(self._source, keys, self.config, seed=seed)
        return mark_stand_ins(batches, stand_ins) if any(stand_ins) else batches


class DataLoaderAdapter(PassAdapter):
    """Batches of a torch `DataLoader` (each pass is `iter(loader)`).

    `owned=True` marks a loader fitorch made itself: its workers are always shut
    down at the end of a pass. A user's loader with `persistent_workers=True` keeps
    its workers, as the user asked.

    Example:
        >>> adapter = DataLoaderAdapter(DataLoader(ds, batch_size=64, num_workers=2))
    """

    source_name = "DataLoader"

    def __init__(self, loader: DataLoader, *, class_weight: Mapping[Any, Any] | None = None,
                 prefetch: int | None = None, owned: bool = False) -> None:
        super().__init__(class_weight)
        self.loader = loader
        self.num_batches = _len_or_none(loader)
        self._prefetch = prefetch  # a thread fetching this many batches ahead, if set
        self._shut_down = owned or not loader.persistent_workers
        # Exact resume (BackupAndRestore) for a user's loader whose order is replayable.
        self.resumable = not owned and replayable(loader)
        self._generators = _generators_of(loader) if self.resumable else []
        self._pass_generator_states: list[torch.Tensor] = []
        # A DistributedSampler (anything with `set_epoch`): a new order every pass, as its
        # documentation asks, and data-parallel predictions put back in input order.
        self.epoch_sampler = _epoch_sampler(loader)
        self.shard_kind = "strided" if self.epoch_sampler is not None else None
        self._sampler_epoch = 0

    def _begin_pass(self) -> None:
        if self.epoch_sampler is not None:
            self.epoch_sampler.set_epoch(self._sampler_epoch)
            self._sampler_epoch += 1

    def _open_pass(self, skip: int = 0) -> Iterator[Any]:
        self._pass_generator_states = [g.get_state() for g in self._generators]
        stream = iterate_loader(self.loader, shut_down=self._shut_down)
        if self.resumable:
            # The loader draws its order (sampler seed) and its workers' base seed from the
            # RNG state of now (the caller's: the pass's own on resume): start it at once.
            stream = _started(stream, skip)
        stream = _standardized(stream)
        if self._prefetch:
            return prefetch_thread(stream, self._prefetch)
        return stream

    def position_state(self) -> dict[str, Any]:
        """The state of the loader's own generators when the current pass began."""
        return {"generators": [state.clone() for state in self._pass_generator_states]}

    def load_position_state(self, state: dict[str, Any], reopen_current: bool = False) -> None:
        del reopen_current
        self._drop_pending()
        saved = state.get("generators") or []
        if len(saved) != len(self._generators):
            raise ValueError(
                "The backup was made with a DataLoader of another kind: it holds "
                f"{len(saved)} generator state(s), this loader has {len(self._generators)}. "
                f"Received: {type(self.loader.sampler).__name__} sampler"
            )
        for generator, value in zip(self._generators, saved):
            generator.set_state(torch.as_tensor(value, dtype=torch.uint8))


def _epoch_sampler(loader: DataLoader) -> Any:
    for sampler in (getattr(loader, "sampler", None),
                    getattr(getattr(loader, "batch_sampler", None), "sampler", None)):
        if callable(getattr(sampler, "set_epoch", None)):
            return sampler
    return None


def iterable_dataset_adapter(dataset: IterableDataset, *, batch_size: int | None,
                             class_weight: Mapping[Any, Any] | None,
                             config: WorkerConfig) -> DataLoaderAdapter:
    """An `IterableDataset` batched by a DataLoader fitorch owns (processes or one thread)."""
    bs = batch_size or 32
    if config.mode == "processes":
        loader = process_loader(dataset, batch_size=bs, config=config, seed=derive_seed(0))
        return DataLoaderAdapter(loader, class_weight=class_weight, owned=True)
    loader = DataLoader(dataset, batch_size=bs)
    prefetch = config.max_queue_size if config.mode == "threads" else None
    return DataLoaderAdapter(loader, class_weight=class_weight, prefetch=prefetch, owned=True)


def dataloader_adapter(loader: DataLoader, *, class_weight: Mapping[Any, Any] | None,
                       worker_args_given: bool) -> DataLoaderAdapter:
    if worker_args_given:
        warnings.warn(DATALOADER_WORKERS_WARNING, UserWarning, stacklevel=3)
    return DataLoaderAdapter(loader, class_weight=class_weight)


def replayable(loader: DataLoader) -> bool:
    """Whether a pass of `loader` can be repeated exactly from the RNG state it began with:
    torch's own samplers (random, sequential, batched; default or seeded generators), a
    map-style dataset, and no persistent workers (whose RNG state outlives a pass).

    Example:
        >>> replayable(DataLoader(ds, batch_size=32, shuffle=True, num_workers=2))
        True
    """
    from torch.utils.data import BatchSampler, RandomSampler, SequentialSampler

    if isinstance(loader.dataset, IterableDataset) or loader.persistent_workers:
        return False
    batch_sampler = loader.batch_sampler
    sampler = batch_sampler.sampler if isinstance(batch_sampler, BatchSampler) else \
        loader.sampler if batch_sampler is None else None
    return type(batch_sampler) in (BatchSampler, type(None)) and type(sampler) in (
        RandomSampler, SequentialSampler)


def _generators_of(loader: DataLoader) -> list[torch.Generator]:
    """The loader's and its sampler's own generators (their state moves from pass to pass)."""
    found: list[torch.Generator] = []
    sampler = getattr(loader.batch_sampler, "sampler", loader.sampler)
    for owner in (loader, sampler):
        generator = getattr(owner, "generator", None)
        if isinstance(generator, torch.Generator) and all(generator is not g for g in found):
            found.append(generator)
    return found


def _started(stream: Iterator[Any], skip: int) -> Iterator[Any]:
    """`stream` started now: its order (sampler seed, workers' base seed) is drawn from the
    RNG state of this moment. A fresh pass fetches its first batch at once (as the loop
    would); a resumed one loads and passes over `skip` batches, so the workers' random
    draws advance as in the interrupted run, and fetches the next one only when asked,
    after the caller has restored the RNG state of the interruption."""
    if skip == 0:
        try:
            first = next(stream)
        except StopIteration:
            return iter(())
        return _prepend_one(first, stream)
    for _ in range(skip):
        try:
            next(stream)
        except StopIteration:
            return iter(())
    return stream


def _prepend_one(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    try:
        yield first
        yield from rest
    finally:
        close = getattr(rest, "close", None)
        if close is not None:
            close()


def _len_or_none(loader: DataLoader) -> int | None:
    try:
        return len(loader)
    except TypeError:  # an IterableDataset without __len__
        return None


def _standardized(batches: Iterator[Any]) -> Iterator[Any]:
    try:
        for batch in batches:
            yield standardize_batch(batch, "DataLoader")
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()
