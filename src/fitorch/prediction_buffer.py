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


def concatenate_outputs(outputs: list[Any]) -> Any:
    """Per-batch outputs (any structure of tensors) joined along the batch axis as NumPy."""
    if not outputs:
        raise ValueError(
            "`predict` produced no batches: the input is empty or `steps` is 0."
        )
    flat = [nest.flatten(o) for o in outputs]
    joined = [
        _to_numpy(torch.cat([f[i] for f in flat]) if isinstance(flat[0][i], torch.Tensor)
                  else np.concatenate([np.asarray(f[i]) for f in flat]))
        for i in range(len(flat[0]))
    ]
    return nest.pack_as(outputs[0], joined)


class PredictionBuffer:
    """Collects `predict()`'s per-batch outputs; `result()` gives NumPy arrays."""

    def __init__(self, num_batches: int | None) -> None:
        self.num_batches = num_batches
        self.template: Any = None  # the structure of one batch's outputs
        self.arrays: list[torch.Tensor] | None = None  # preallocated host outputs
        self.rows = 0
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
                not isinstance(t, torch.Tensor) or t.shape[0] != n for t in flat):
            self._give_up_preallocation()
            self.pending.append(outputs)
            return
        end = self.rows + n
        for array, t in zip(self.arrays, flat, strict=True):
            array[self.rows:end].copy_(t.detach(), non_blocking=self.on_cuda)
        self.rows = end

    def _give_up_preallocation(self) -> None:
        """A batch that does not fit (more rows than planned): keep batches as a list."""
        assert self.arrays is not None
        written = [a[:self.rows] for a in self.arrays]
        self.pending = [nest.pack_as(self.template, written)] if self.rows else []
        self.arrays = None

    def result(self) -> Any:
        """All outputs, joined along the batch axis, as NumPy arrays."""
        if self.arrays is None:
            return concatenate_outputs(self.pending)
        if self.on_cuda:
            torch.cuda.synchronize()  # the non_blocking copies have landed
        return nest.pack_as(self.template, [_to_numpy(a[:self.rows]) for a in self.arrays])


__all__ = ["PredictionBuffer", "concatenate_outputs"]
