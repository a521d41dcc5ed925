"""Data-parallel sharding: which part of each global batch this rank takes.

Global batch k is positions [kB, (k+1)B) of the epoch's order (drawn once, the same
on every rank: `Shard.shared_order`); rank r of W takes positions r::W of it, so no
sample is padded or repeated. When a global batch has fewer samples than ranks (a
partial last batch), a rank with an empty share gets a `StandIn`: a real batch of the
same global batch that the step runs for its collectives only. It weighs nothing in
the gradient and no metric counts it.

A `Sequence` makes whole batches: rank r takes batches r::W of the epoch's batch
order, so an epoch has ceil(len / W) steps.

Example:
    >>> shard = Shard(rank=1, world=2)
    >>> list(shard.positions(0, 5))
    [1, 3]
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from fitorch import nest


@dataclass(frozen=True)
class Shard:
    """This process's part of the data: rank `rank` of `world`."""

    rank: int
    world: int
    #: a context in which drawing from torch's RNG gives rank 0's draw on every rank
    shared_order: Callable[[], AbstractContextManager[None]] = field(
        default=contextlib.nullcontext, compare=False)

    def positions(self, start: int, stop: int) -> range:
        """This rank's positions of the global batch [start, stop)."""
        return range(start + self.rank, stop, self.world)

    def take(self, items: torch.Tensor) -> torch.Tensor:
        """This rank's part of a global batch's index tensor."""
        return items[self.rank :: self.world]

    def steps(self, global_batches: int) -> int:
        """Steps per pass when each rank takes whole batches (a `Sequence`)."""
        return -(-global_batches // self.world)


class StandIn:
    """An empty share: `batch` lets the step run (and join every collective); it has no
    weight in the gradient and is not counted by any metric."""

    __slots__ = ("batch",)

    def __init__(self, batch: Any) -> None:
        self.batch = batch

    def __repr__(self) -> str:
        return f"StandIn({nest.describe(self.batch)})"


def map_batch(fn: Callable[[Any], Any], batch: Any) -> Any:
    """`fn(batch)`, keeping a `StandIn` a stand-in."""
    if isinstance(batch, StandIn):
        return StandIn(fn(batch.batch))
    return fn(batch)


def mark_stand_ins(batches: Iterator[Any], stand_in: list[bool]) -> Iterator[Any]:
    """Wrap the batches at the positions `stand_in` marks (keys fetched by workers)."""
    try:
        for batch, empty in zip(batches, stand_in):
            yield StandIn(batch) if empty else batch
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()




def check_batch_size(batch_size: int, shard: Shard | None, name: str = "batch_size") -> None:
    """A global batch must give every rank at least one sample."""
    if shard is not None and batch_size < shard.world:
        raise ValueError(
            f"`{name}` is the global batch, split across the {shard.world} processes of this "
            f"data-parallel run, so it must be at least the world size ({shard.world}). "
            f"Received: {name}={batch_size} with world_size={shard.world}"
        )


def merge_predictions(parts: list[tuple[list[Any], list[int]]], kind: str,
                      total: int | None = None) -> list[Any]:
    """Every rank's prediction leaves (concatenated, with their per-step lengths) put
    back in input order.

    `kind`: "samples" (rank r holds positions r::W of each step's global batch),
    "batches" (rank r holds batch kW + r at step k: a `Sequence`) or "strided" (rank r
    holds positions r::W of the whole input, a `DistributedSampler`; `total` trims its
    padding).
    """
    world = len(parts)
    leaves = len(parts[0][0])
    merged: list[Any] = []
    for leaf in range(leaves):
        arrays = [np.asarray(p[0][leaf]) for p in parts]
        if kind == "strided":
            n = sum(len(a) for a in arrays)
            out = np.empty((n, *arrays[0].shape[1:]), dtype=arrays[0].dtype)
            for r, a in enumerate(arrays):
                out[r::world] = a
            merged.append(out[:total] if total is not None else out)
            continue
        offsets = [0] * world
        pieces: list[Any] = []
        steps = len(parts[0][1])
        for k in range(steps):
            step_parts = []
            for r in range(world):
                n = parts[r][1][k]
                step_parts.append(arrays[r][offsets[r] : offsets[r] + n])
                offsets[r] += n
            if kind == "batches":
                pieces.extend(step_parts)
            else:
                n = sum(len(p) for p in step_parts)
                out = np.empty((n, *arrays[0].shape[1:]), dtype=arrays[0].dtype)
                for r, p in enumerate(step_parts):
                    out[r::world] = p
                pieces.append(out)
        merged.append(np.concatenate(pieces) if pieces else arrays[0][:0])
    return merged


__all__ = ["Shard", "StandIn", "check_batch_size", "map_batch", "mark_stand_ins",
           "merge_predictions"]
