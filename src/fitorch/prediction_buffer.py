"""`predict()`'s output: batches written into preallocated host arrays as they come.

When the number of batches is known (arrays, Sequences, sized loaders), the first
batch fixes each output's trailing shape and dtype and one host tensor per output
is allocated for `num_batches * first_batch_size` rows (an upper bound: the last
batch may be smaller). Each batch is copied into its rows (from CUDA: into pinned
memory, `non_blocking`, one sync at the end) and the result is a view of the rows
written: no list of per-batch tensors, no final concatenation (one copy of the
predictions fewer, and no peak of twice their size). Outputs whose size is not known
in advance (generators) or that are not tensors are gathered and concatenated.

Example:
    >>> buffer = PredictionBuffer(num_batches=3)
    >>> for batch in (torch.ones(4, 2), torch.ones(4, 2), torch.ones(1, 2)):
    ...     buffer.add(batch)
    >>> buffer.result().shape
    (9, 2)
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from fitorch import nest


def _to_numpy(t: Any) -> np.ndarray:
    if isinstance(t, torch.Tensor):
        t = t.detach()
        if t.dtype == torch.bfloat16:
            t = t.float()
        return t.cpu().numpy()
    return np.asarray(t)


def _join(parts: list[Any]) -> Any:
    """One output's per-batch values joined along the batch axis; a list of per-batch
    arrays when their other axes differ (per-token outputs of ragged batches)."""
    shapes = {tuple(np.shape(p))[1:] for p in parts}
    if len(shapes) > 1:
        warnings.warn(
            "predict: an output's shape past the batch axis differs between batches "
            f"({sorted(shapes)[:3]}...), so it cannot be joined into one array; it is "
            "returned as a list with one array per batch.", stacklevel=4)
        return [_to_numpy(p) for p in parts]
    if isinstance(parts[0], torch.Tensor):
        return _to_numpy(torch.cat(parts))
    return np.concatenate([np.asarray(p) for p in parts])


def concatenate_outputs(outputs: list[Any]) -> Any:
    """Per-batch outputs (any structure of tensors) joined along the batch axis as NumPy.

    An output whose non-batch axes vary between batches comes back as a list of
    per-batch arrays (with a warning) instead of failing.
    """
    if not outputs:
        raise ValueError(
            "`predict` produced no batches: the input is empty or `steps` is 0."
        )
    flat = [nest.flatten(o) for o in outputs]
    joined = [_join([f[i] for f in flat]) for i in range(len(flat[0]))]
    return nest.pack_as(outputs[0], joined)


class PredictionBuffer:
    """Collects `predict()`'s per-batch outputs; `result()` gives NumPy arrays."""

    def __init__(self, num_batches: int | None) -> None:
        self.num_batches = num_batches
        self.template: Any = None  # the structure of one batch's outputs
        self.arrays: list[torch.Tensor] | None = None  # preallocated host outputs
        self.rows = 0
        self.batch_ends: list[int] = []  # where each written batch ends
        self.pending: list[Any] = []  # batches kept as they are (no preallocation)
        self.on_cuda = False

    def _allocate(self, flat: list[Any]) -> bool:
        if not self.num_batches or not all(isinstance(t, torch.Tensor) and t.ndim > 0
                                           for t in flat):
            return False
        rows = self.num_batches * flat[0].shape[0]
        if any(t.shape[0] != flat[0].shape[0] for t in flat):
            return False
        self.on_cuda = any(t.is_cuda for t in flat)
        self.arrays = [
            torch.empty((rows, *t.shape[1:]), dtype=t.dtype, pin_memory=self.on_cuda)
            for t in flat
        ]
        return True

    def add(self, outputs: Any) -> None:
        """Store one batch's outputs (copied into the preallocated rows when possible)."""
        flat = nest.flatten(outputs)
        if self.template is None:
            self.template = outputs
            if not self._allocate(flat):
                self.pending.append(outputs)
                return
        if self.arrays is None:
            self.pending.append(outputs)
            return
        n = flat[0].shape[0] if isinstance(flat[0], torch.Tensor) else -1
        if len(flat) != len(self.arrays) or n < 0 or self.rows + n > len(self.arrays[0]) or any(
                not isinstance(t, torch.Tensor) or t.shape[0] != n
                or t.shape[1:] != a.shape[1:] for t, a in zip(flat, self.arrays)):
            self._give_up_preallocation()
            self.pending.append(outputs)
            return
        end = self.rows + n
        for array, t in zip(self.arrays, flat, strict=True):
            array[self.rows:end].copy_(t.detach(), non_blocking=self.on_cuda)
        self.rows = end
        self.batch_ends.append(end)

    def _give_up_preallocation(self) -> None:
        """A batch that does not fit (more rows than planned, other trailing axes): keep the
        batches as a list, split back at their own boundaries."""
        assert self.arrays is not None
        starts = [0, *self.batch_ends[:-1]]
        self.pending = [nest.pack_as(self.template, [a[start:end] for a in self.arrays])
                        for start, end in zip(starts, self.batch_ends)]
        self.arrays = None

    def result(self) -> Any:
        """All outputs, joined along the batch axis, as NumPy arrays."""
        if self.arrays is None:
            return concatenate_outputs(self.pending)
        if self.on_cuda:
            torch.cuda.synchronize()  # the non_blocking copies have landed
        return nest.pack_as(self.template, [_to_numpy(a[:self.rows]) for a in self.arrays])


__all__ = ["PredictionBuffer", "concatenate_outputs"]
