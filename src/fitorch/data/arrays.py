"""In-memory arrays (NumPy, torch, pandas; nested in lists/tuples/dicts) as batches.

Everything is converted to torch tensors once, up front. An epoch then costs
one `randperm` and, per batch, one indexing operation per tensor (or a
zero-copy slice when the order is sequential).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch

from fitorch import nest


def is_array_like(x: Any) -> bool:
    if isinstance(x, (np.ndarray, torch.Tensor)):
        return True
    # pandas objects, np.memmap, h5py datasets, ... expose `__array__` and `shape`
    return hasattr(x, "__array__") and hasattr(x, "shape") and not isinstance(x, (str, bytes))


def is_array_structure(x: Any) -> bool:
    leaves = nest.flatten(x)
    return bool(leaves) and all(leaf is None or is_array_like(leaf) for leaf in leaves)


def to_tensor(x: Any, name: str) -> torch.Tensor:
    """Convert one array to a tensor without copying where possible.

    NumPy float64 becomes float32, as Keras casts inputs to floatx: NumPy
    defaults to float64, which is almost never what a model wants. Torch
    tensors keep their dtype: a torch user who made float64 tensors meant it.
    """
    if isinstance(x, torch.Tensor):
        return x
    if hasattr(x, "to_numpy"):  # pandas DataFrame / Series
        x = x.to_numpy()
    arr = np.asarray(x)
    if arr.dtype == object or arr.dtype.kind in "USV":
        raise TypeError(
            f"`{name}` must hold numbers, but its array has dtype {arr.dtype}. "
            "Convert strings or mixed objects to numbers first. "
            f"Received: {name} of type {type(x).__name__} with dtype {arr.dtype}"
        )
    if arr.dtype == np.float64:
        arr = arr.astype(np.float32)
    elif not arr.flags.writeable or any(s < 0 for s in arr.strides):
        arr = arr.copy()
    if arr.ndim == 0:
        raise ValueError(
            f"`{name}` must be an array with a batch dimension, got a scalar. "
            f"Received: {name}={x!r}"
        )
    return torch.from_numpy(arr)


def to_tensor_structure(x: Any, name: str) -> Any:
    return nest.map_structure(lambda a: None if a is None else to_tensor(a, name), x)


def num_samples_of(x: Any, y: Any, sample_weight: Any) -> int:
    """The common first dimension of every array, or a ValueError naming every size."""
    sizes = {
        label: [int(a.shape[0]) for a in nest.flatten(part) if a is not None]
        for label, part in (("x", x), ("y", y), ("sample_weight", sample_weight))
    }
    distinct = {s for group in sizes.values() for s in group}
    if len(distinct) > 1:
        detail = "\n".join(
            f"'{label}' sizes: {', '.join(map(str, group))}"
            for label, group in sizes.items() if group
        )
        raise ValueError(
            "Data cardinality is ambiguous: all arrays must contain the same number of "
            f"samples (the same first dimension).\n{detail}"
        )
    n = distinct.pop()
    if n == 0:
        raise ValueError(
            "Expected at least one sample, but the data is empty. "
            f"Received: x={nest.describe(x)}"
        )
    return n


def class_weight_to_sample_weight(y: torch.Tensor, class_weight: Mapping[Any, Any]) -> torch.Tensor:
    """Per-sample weights from a {class: weight} dict; classes not listed weigh 1.0 (Keras)."""
    for k, v in class_weight.items():
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise ValueError(
                f"`class_weight` keys must be integer class indices. Received: key {k!r} "
                f"(of type {type(k).__name__})"
            )
        if not isinstance(v, (int, float, np.number)) or isinstance(v, bool):
            raise ValueError(
                f"`class_weight` values must be numbers. Received: class_weight[{k}]={v!r} "
                f"(of type {type(v).__name__})"
            )
    labels = y
    if labels.ndim > 1:
        labels = labels.argmax(dim=-1) if labels.shape[-1] != 1 else labels.squeeze(-1)
    labels = labels.round().long() if labels.is_floating_point() else labels.long()
    n_table = max(int(labels.max()) + 1, max(int(k) for k in class_weight) + 1)
    table = torch.ones(n_table, dtype=torch.float32)
    for k, v in class_weight.items():
        table[int(k)] = float(v)
    if int(labels.min()) < 0:
        raise ValueError(
            f"`class_weight` needs non-negative class labels, found {int(labels.min())}."
        )
    return table[labels]


def split_validation(arrays: tuple[Any, Any, Any], validation_split: float) -> tuple[Any, Any]:
    """Keras's `validation_split`: the *last* fraction of the samples, taken before shuffling."""
    x = arrays[0]
    n = int(nest.flatten(x)[0].shape[0])
    split_at = math.floor(n * (1.0 - validation_split))
    if split_at == 0 or split_at == n:
        raise ValueError(
            f"Training data contains {n} samples, which is not enough to split it into a "
            f"training and a validation set as `validation_split={validation_split}` asks. "
            "Provide more data or a different `validation_split`."
        )

    def part(sl: slice) -> tuple[Any, ...]:
        return tuple(
            nest.map_structure(lambda a: None if a is None else a[sl], item) for item in arrays
        )

    return part(slice(0, split_at)), part(slice(split_at, None))


class ArrayDataAdapter:
    """Batches over in-memory arrays: `shuffle` True / False / "batch", partial last batch.

    Example:
        >>> ad = ArrayDataAdapter(np.zeros((10, 3)), np.zeros(10), batch_size=4)
        >>> ad.num_batches
        3
    """

    reiterable = True  # a new pass can start at any time (steps_per_epoch spans passes)

    def __init__(
        self,
        x: Any,
        y: Any = None,
        sample_weight: Any = None,
        *,
        batch_size: int | None = None,
        steps: int | None = None,
        shuffle: bool | str = False,
        class_weight: Mapping[Any, Any] | None = None,
    ) -> None:
        self.x = to_tensor_structure(x, "x")
        self.y = to_tensor_structure(y, "y")
        sw = to_tensor_structure(sample_weight, "sample_weight")
        self.num_samples = num_samples_of(self.x, self.y, sw)
        if class_weight is not None:
            if sw is not None:
                raise ValueError(
                    "`class_weight` and `sample_weight` cannot be given together: pass one "
                    "of them (fold the class weights into the sample weights yourself). "
                    f"Received: class_weight={dict(class_weight)} and a sample_weight array."
                )
            if nest.is_nested(self.y):
                raise ValueError(
                    "`class_weight` is only supported for models with a single output. "
                    f"Received: y={nest.describe(y)}"
                )
            if self.y is None:
                raise ValueError("`class_weight` needs targets `y`. Received: y=None")
            sw = class_weight_to_sample_weight(self.y, class_weight)
        if sw is not None:
            sw = nest.map_structure(lambda a: None if a is None else _as_float(a), sw)
            if (nest.is_nested(self.y) and not nest.is_nested(sw)
                    and not (sw.ndim == 1 or (sw.ndim == 2 and sw.shape[1] == 1))):
                raise ValueError(
                    "For a model with several outputs, a single `sample_weight` array "
                    "must hold one weight per sample (shape (num_samples,)). Pass one "
                    "array per output for anything else. "
                    f"Received: sample_weight of shape {tuple(sw.shape)}"
                )
        self.sample_weight = sw
        if not batch_size:
            batch_size = math.ceil(self.num_samples / steps) if steps else 32
        self.batch_size = int(batch_size)
        self.num_batches = math.ceil(self.num_samples / self.batch_size)
        self.shuffle = shuffle
        # Keep the flat leaves: slicing a flat list and re-packing is cheaper than
        # walking the structure for every batch.
        self._flat = [t for t in nest.flatten((self.x, self.y, self.sample_weight))]
        self._structure = (self.x, self.y, self.sample_weight)

    def on_epoch_begin(self) -> None:
        """Nothing to do: the order for the next pass is drawn in `batches()`."""

    def on_epoch_end(self) -> None:
        """Nothing to do for arrays."""

    def close(self) -> None:
        """Nothing to release for arrays."""

    def sample_x(self) -> Any:
        return nest.map_structure(lambda t: t[:2], self.x)

    def targets(self) -> Any:
        return self.y

    @property
    def has_targets(self) -> bool:
        return self.y is not None

    def batches(self) -> Iterator[Any]:
        """One pass over the data as Keras-packed batches: `x`, `(x,)`, `(x, y)`, `(x, y, sw)`."""
        n, bs = self.num_samples, self.batch_size
        flat = self._flat
        if self.shuffle == "batch":
            # Contiguous batch-sized chunks in a new random order (data on disk reads
            # contiguously); the partial last chunk stays last, as Keras.
            full = n // bs
            order = torch.randperm(full).tolist() + ([full] if n % bs else [])
            for b in order:
                sl = slice(b * bs, min(n, (b + 1) * bs))
                yield self._pack([None if t is None else t[sl] for t in flat])
        elif self.shuffle:
            perm = torch.randperm(n)
            for start in range(0, n, bs):
                idx = perm[start : start + bs]
                yield self._pack([None if t is None else t.index_select(0, idx) for t in flat])
        else:
            for start in range(0, n, bs):
                sl = slice(start, start + bs)
                yield self._pack([None if t is None else t[sl] for t in flat])

    def _pack(self, leaves: list[Any]) -> Any:
        x, y, sw = nest.pack_as(self._structure, leaves)
        return pack_x_y_sample_weight(x, y, sw)


def _as_float(a: torch.Tensor) -> torch.Tensor:
    return a if a.is_floating_point() else a.float()


def pack_x_y_sample_weight(x: Any, y: Any = None, sample_weight: Any = None) -> Any:
    """Keras's packing of one batch: `x` (or `(x,)` for a list x), `(x, y)`, `(x, y, sw)`."""
    if y is None:
        return (x,) if isinstance(x, (list, tuple)) else x
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)


def unpack_x_y_sample_weight(data: Any) -> tuple[Any, Any, Any]:
    """Inverse of `pack_x_y_sample_weight`, for use in custom `train_step`s.

    Example:
        >>> x, y, sw = unpack_x_y_sample_weight((xb, yb))
    """
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) == 1:
        return data[0], None, None
    if len(data) == 2:
        return data[0], data[1], None
    if len(data) == 3:
        return data[0], data[1], data[2]
    raise ValueError(
        "A batch must be `x`, `(x,)`, `(x, y)` or `(x, y, sample_weight)`. "
        f"Received: a tuple of {len(data)} items: {nest.describe(data)}"
    )
