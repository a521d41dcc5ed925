"""How a model is spread over the processes of a torchrun launch: `compile(distribution=...)`.

- `DataParallel()` (the default; `"data_parallel"`): every process holds the whole
  model, the gradients of each update are averaged (see `fitorch.distributed`).
- `FullyShardedDataParallel()` (`"fsdp"`): parameters, gradients and optimizer state
  are sharded across the processes with torch's FSDP2 (`fully_shard`), for models that
  do not fit one device. Every module that owns parameters is one shard unit.

In a single process both train exactly as without them.

Example:
    >>> model.compile(optimizer="adam", loss="mse", distribution="fsdp")
    >>> model.compile(optimizer="adam", loss="mse",
    ...               distribution=ft.distribution.DataParallel(sync_batchnorm=True))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DataParallel:
    """Replicated model, averaged gradients.

    `sync_batchnorm=True`: BatchNorm layers normalize with the statistics of the whole
    global batch (all ranks) instead of each rank's share.
    """

    sync_batchnorm: bool = False


@dataclass(frozen=True)
class FullyShardedDataParallel:
    """FSDP2: parameters, gradients and optimizer state sharded across the ranks.

    `reshard_after_forward`: free the gathered parameters after the forward pass (less
    memory, one more all-gather in the backward pass), as FSDP2's own default.
    """

    reshard_after_forward: bool = True


FSDP = FullyShardedDataParallel
Distribution = DataParallel | FullyShardedDataParallel

_NAMES: dict[str, type[DataParallel] | type[FullyShardedDataParallel]] = {
    "data_parallel": DataParallel, "ddp": DataParallel, "fsdp": FullyShardedDataParallel}


def get(value: Any) -> Distribution:
    """`compile(distribution=...)` resolved: None, a name, or an instance."""
    if value is None:
        return DataParallel()
    if isinstance(value, (DataParallel, FullyShardedDataParallel)):
        return value
    if isinstance(value, str) and value.lower() in _NAMES:
        strategy: Distribution = _NAMES[value.lower()]()
        return strategy
    raise ValueError(
        "`distribution` must be None, 'data_parallel', 'fsdp', or a "
        "fitorch.distribution.DataParallel / FullyShardedDataParallel instance. "
        f"Received: distribution={value!r} (of type {type(value).__name__})"
    )


__all__ = ["FSDP", "DataParallel", "Distribution", "FullyShardedDataParallel", "get"]
