"""One batch from user code (a generator, a `Sequence`, a torch Dataset) made ready for a step.

Batches that user code produces come in Keras's forms `x`, `(x,)`, `(x, y)` or
`(x, y, sample_weight)`, or as a mapping split by key (`split_mapping_batch`); a
top-level list counts as a tuple (as Keras does), and
NumPy/pandas leaves become torch tensors (float64 to float32, as for arrays).
`ClassWeights` turns `class_weight` into per-sample weights batch by batch,
with the same rule as for in-memory arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from fitorch import nest
from fitorch.data.arrays import class_weight_to_sample_weight, to_tensor

# Worker processes hand small arrays back pickled (cheap) and large ones as tensors in
# shared memory (no copy through the pipe); measured crossover: between 64 KB and 1 MB.
SHARED_MEMORY_MIN_BYTES = 256 * 1024


def _leaf_to_tensor(leaf: Any, keep_small_numpy: bool = False) -> Any:
    if leaf is None or isinstance(leaf, torch.Tensor):
        return leaf
    if isinstance(leaf, np.ndarray) or hasattr(leaf, "to_numpy"):
        arr = leaf.to_numpy() if hasattr(leaf, "to_numpy") else leaf
        # Strings, objects and scalars go through untouched: a custom `train_step` may want them.
        if arr.ndim == 0 or arr.dtype == object or arr.dtype.kind in "USV":
            return leaf
        if keep_small_numpy and arr.nbytes < SHARED_MEMORY_MIN_BYTES:
            return arr
        return to_tensor(arr, "batch")
    return leaf


# A mapping batch (a DataLoader over dicts, Hugging Face-style batches) is split by
# these keys; everything else is the model's input, passed to `forward` by name.
X_KEYS = ("x", "inputs")
Y_KEYS = ("y", "labels", "label", "targets", "target")
SAMPLE_WEIGHT_KEYS = ("sample_weight", "sample_weights")


def split_mapping_batch(batch: Mapping[str, Any]) -> Any:
    """A dict batch as Keras's `(x, y, sample_weight)` (SPEC.md, data):

    - the target is the value of the first key among `"y"`, `"labels"`, `"label"`,
      `"targets"`, `"target"`; the weights that of `"sample_weight"`;
    - the input is the value of `"x"` (or `"inputs"`) when present, otherwise a dict of
      all the other keys, which `forward` receives by name;
    - a batch with none of these keys is all input (Keras 3's rule).

    A collate_fn of one's own turns any other layout into `(x, y)` tuples.

    Example:
        >>> split_mapping_batch({"input_ids": ids, "attention_mask": mask, "labels": y})
        ({'input_ids': ids, 'attention_mask': mask}, y)
    """
    y_key = next((k for k in Y_KEYS if k in batch), None)
    sw_key = next((k for k in SAMPLE_WEIGHT_KEYS if k in batch), None)
    x_key = next((k for k in X_KEYS if k in batch), None)
    if y_key is None and sw_key is None and x_key is None:
        return batch
    if x_key is not None:
        x = batch[x_key]
    else:
        x = {k: v for k, v in batch.items() if k not in (y_key, sw_key)}
    if sw_key is not None:
        return (x, batch[y_key] if y_key is not None else None, batch[sw_key])
    return (x, batch[y_key]) if y_key is not None else (x,)


def standardize_batch(batch: Any, source: str, *, keep_small_numpy: bool = False) -> Any:
    """Keras's batch forms with tensor leaves; a clear error for anything else.

    `keep_small_numpy=True` (in worker processes) leaves small NumPy arrays as they
    are; `batch_to_tensors` finishes the job in the main process.

    Example:
        >>> x, y = standardize_batch([np.zeros((4, 3)), np.zeros(4)], "generator")
    """
    if isinstance(batch, list):
        batch = tuple(batch)
    elif isinstance(batch, Mapping):
        batch = split_mapping_batch(batch)
    if isinstance(batch, tuple) and not 1 <= len(batch) <= 3:
        raise ValueError(
            f"A batch from a {source} must be `x`, `(x,)`, `(x, y)` or `(x, y, sample_weight)`. "
            f"Received: a tuple of {len(batch)} items: {nest.describe(batch)}"
        )
    if keep_small_numpy:
        return nest.map_structure(lambda leaf: _leaf_to_tensor(leaf, True), batch)
    return nest.map_structure(_leaf_to_tensor, batch)


def batch_to_tensors(batch: Any) -> Any:
    """The NumPy leaves a worker process left as they were, as tensors."""
    return nest.map_structure(_leaf_to_tensor, batch)


class ClassWeights:
    """`class_weight` applied per batch: `(x, y)` becomes `(x, y, weights)`.

    The weights are those `class_weight` gives for arrays (classes not listed weigh
    1.0); they are looked up in a small table on the labels' device, so batches
    already on an accelerator cause no host-device sync.

    Example:
        >>> ClassWeights({0: 1.0, 1: 5.0})((x, y))  # -> (x, y, sample_weight)
    """

    def __init__(self, class_weight: Mapping[Any, Any]) -> None:
        # Validates keys and values with the arrays' rule, once, so every kind of data
        # reports a bad `class_weight` the same way.
        class_weight_to_sample_weight(torch.zeros(1, dtype=torch.long), class_weight)
        self.class_weight = dict(class_weight)
        size = max(int(k) for k in self.class_weight) + 1
        table = torch.ones(size + 1, dtype=torch.float32)  # the last slot: classes not listed
        for k, v in self.class_weight.items():
            table[int(k)] = float(v)
        self._size = size
        self._tables: dict[torch.device, torch.Tensor] = {table.device: table}

    def __call__(self, batch: Any) -> Any:
        if not isinstance(batch, tuple) or len(batch) == 1:
            raise ValueError(
                "`class_weight` needs targets: the batches must be `(x, y)`. "
                f"Received: a batch {nest.describe(batch)}"
            )
        if len(batch) == 3:
            raise ValueError(
                "`class_weight` and `sample_weight` cannot be given together: the batches "
                "already carry sample weights `(x, y, sample_weight)`. Fold the class weights "
                f"into them, or drop `class_weight`. Received: class_weight={self.class_weight}"
            )
        x, y = batch
        if nest.is_nested(y) or not isinstance(y, torch.Tensor):
            raise ValueError(
                "`class_weight` is only supported for models with a single output (one "
                f"target array). Received: y={nest.describe(y)}"
            )
        return (x, y, self.weights(y))

    def weights(self, y: torch.Tensor) -> torch.Tensor:
        labels = y
        if labels.ndim > 1:
            labels = labels.argmax(dim=-1) if labels.shape[-1] != 1 else labels.squeeze(-1)
        labels = labels.round().long() if labels.is_floating_point() else labels.long()
        table = self._tables.get(labels.device)
        if table is None:
            table = self._tables[labels.device] = next(iter(self._tables.values())).to(
                labels.device)
        # Labels past the table (and negative ones) land on the last slot: weight 1.0.
        return table[labels.clamp(-1, self._size)]
