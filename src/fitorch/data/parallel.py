"""The data side of a data-parallel run: this rank's shard and an epoch iterator that
keeps every rank on the same step.

Arrays, Datasets and Sequences are sharded by position (`fitorch.data.shard`), so every
rank has the same number of steps by construction. Generators and DataLoaders are read
by each rank itself: before each step the ranks agree that all of them have a batch,
and a pass ends on every rank as soon as one runs out (with a warning on the ranks
whose batches go unused), so no rank waits in a collective the others never reach.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch

from fitorch.data.epoch_iterator import EpochIterator
from fitorch.data.shard import Shard

UNSHARDED_LOADER_WARNING = (
    "Data-parallel run over {world} processes: this DataLoader has no DistributedSampler, "
    "so every process reads all of it (each epoch sees the data {world} times). Pass "
    "`sampler=torch.utils.data.DistributedSampler(dataset)` to split it, or give fit() "
    "the Dataset itself (fitorch then shards it)."
)


def shard_of(parallel: Any) -> Shard | None:
    """This rank's `Shard`, or None in a single process."""
    if parallel is None:
        return None
    return Shard(parallel.rank, parallel.world_size, parallel.shared_order)


def epoch_iterator(adapter: Any, steps: int | None, device: torch.device,
                   parallel: Any) -> EpochIterator:
    """The epoch iterator of `adapter`; in a data-parallel run over data each rank reads
    itself, its passes end together on every rank."""
    iterator = EpochIterator(adapter, steps, device)
    if parallel is not None and getattr(adapter, "shard", None) is None:
        iterator.agree = parallel.all_true
        loader = getattr(adapter, "loader", None)
        if (loader is not None and getattr(adapter, "epoch_sampler", None) is None
                and not isinstance(loader.dataset, torch.utils.data.IterableDataset)
                and parallel.rank == 0):
            warnings.warn(UNSHARDED_LOADER_WARNING.format(world=parallel.world_size),
                          UserWarning, stacklevel=3)
    return iterator


__all__ = ["epoch_iterator", "shard_of"]
