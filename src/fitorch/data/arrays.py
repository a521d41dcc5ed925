"""Arrays (NumPy, torch, pandas, np.memmap, HDF5; nested in lists/tuples/dicts) as batches.

Every leaf is classified once, when the adapter is made (`is_out_of_core`):

- In memory (NumPy arrays, torch tensors, pandas objects, and any other array
  that exports DLPack, such as JAX or TensorFlow arrays): converted to a torch
  tensor once, up front. An epoch then costs one `randperm` and, per batch, one
  `index_select` per tensor (or a zero-copy slice when the order is sequential).
- Out of core (`np.memmap`, `h5py.Dataset`, and any other array-like with
  `shape`, `dtype`, `__array__` and row slicing that is none of the above, such
  as a zarr array): wrapped in a `DiskArray` and read batch by batch, cast per
  batch (float64 -> float32), so the process holds one batch of it at a time and
  never copies the whole array. `validation_split` slices it lazily too.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch

from fitorch import nest
from fitorch.data.shard import Shard, StandIn, check_batch_size

# Rows read at a time when a pass over a whole out-of-core array is needed (class_weight).
_CHUNK_BYTES = 16 * 2**20


def is_array_like(x: Any) -> bool:
    if isinstance(x, (np.ndarray, torch.Tensor)):
        return True
    # pandas objects, np.memmap, h5py datasets, ... expose `__array__` and `shape`
    return hasattr(x, "__array__") and hasattr(x, "shape") and not isinstance(x, (str, bytes))


def is_text_list(x: Any) -> bool:
    """Whether `x` is a Python list/tuple of `str` (or of such lists): one batch of text, as
    Keras takes it (`model.predict(["a review", "another"])`), not one input per item."""
    return isinstance(x, (list, tuple)) and bool(x) and all(
        isinstance(v, (str, bytes)) or is_text_list(v) for v in x)


def text_lists_as_arrays(x: Any) -> Any:
    """`x` with each Python list of `str` in it made a NumPy string array (see `is_text_list`).

    Example:
        >>> text_lists_as_arrays({"review": ["good", "bad"], "stars": np.ones(2)})["review"]
        array(['good', 'bad'], dtype='<U4')
    """
    if is_text_list(x):
        return np.asarray(x)
    if isinstance(x, dict):
        return {k: text_lists_as_arrays(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)) and not hasattr(x, "_fields"):
        return type(x)(text_lists_as_arrays(v) for v in x)
    return x


def is_array_structure(x: Any) -> bool:
    leaves = nest.flatten(text_lists_as_arrays(x))
    return bool(leaves) and all(leaf is None or is_array_like(leaf) for leaf in leaves)


def is_out_of_core(x: Any) -> bool:
    """Whether `x` is read batch by batch instead of converted whole (rule: module docstring).

    Example:
        >>> is_out_of_core(np.memmap("x.dat", dtype=np.float32, mode="r", shape=(10, 3)))
        True
    """
    if isinstance(x, (DiskArray, np.memmap)):
        return True
    if isinstance(x, (np.ndarray, np.generic, torch.Tensor)) or hasattr(x, "to_numpy"):
        return False
    # A DLPack exporter (JAX, TensorFlow, CuPy) already holds its buffer in memory.
    return (hasattr(x, "__array__") and hasattr(x, "__getitem__") and hasattr(x, "dtype")
            and len(getattr(x, "shape", ())) >= 1 and not hasattr(x, "__dlpack__"))


def _check_numeric(dtype: np.dtype, name: str, x: Any) -> None:
    if dtype.kind in "OUSV":
        raise TypeError(
            f"`{name}` must hold numbers, but its array has dtype {dtype}. "
            "Convert strings or mixed objects to numbers first. "
            f"Received: {name} of type {type(x).__name__} with dtype {dtype}"
        )


def _pandas_to_numpy(x: Any, name: str) -> np.ndarray:
    """A DataFrame / Series as NumPy: bool, int and float columns together become float32
    (Keras 3 casts them so); a category, string or other column is an error naming it."""
    from pandas.api import types

    columns = list(x.dtypes.items()) if hasattr(x, "dtypes") and hasattr(x, "columns") \
        else [(getattr(x, "name", None), x.dtype)]
    bad = [(column, str(dtype)) for column, dtype in columns
           if not (types.is_bool_dtype(dtype) or types.is_numeric_dtype(dtype))
           or isinstance(dtype, types.CategoricalDtype)]
    if bad:
        listing = ", ".join(f"{column!r} ({dtype})" for column, dtype in bad[:5])
        raise TypeError(
            f"`{name}` must hold numbers, but these columns do not: {listing}. Encode them "
            "as numbers first (e.g. `pandas.get_dummies` or `.cat.codes`). "
            f"Received: {name} of type {type(x).__name__}"
        )
    dtypes = [types.pandas_dtype(dtype) for _, dtype in columns]
    # Mixed kinds, bools and pandas' nullable (extension) dtypes: one float32 array.
    if any(not isinstance(d, np.dtype) or d.kind == "b" for d in dtypes) \
            or len({d.kind for d in dtypes}) > 1:
        return np.asarray(x.to_numpy(dtype=np.float32))
    return np.asarray(x.to_numpy())


def is_text_array(arr: np.ndarray) -> bool:
    """Whether `arr` holds strings (a str/bytes dtype, or objects that are strings)."""
    if arr.dtype.kind in "US":
        return True
    return arr.dtype.kind == "O" and arr.size > 0 and isinstance(
        arr.reshape(-1)[0], (str, bytes))


def check_text_inputs(x: Any, model: torch.nn.Module) -> None:
    """A TypeError when string input arrays reach a model without a layer that takes
    strings (one whose class sets `accepts_strings`, as `TextVectorization` does)."""
    text = [a for a in nest.flatten(x) if isinstance(a, np.ndarray) and is_text_array(a)]
    if text and not any(getattr(m, "accepts_strings", False) for m in model.modules()):
        raise TypeError(
            f"`x` must hold numbers, but its array has dtype {text[0].dtype}. Convert strings "
            "or mixed objects to numbers first, or start the model with a layer that takes "
            "strings (`TextVectorization`, `StringLookup`, `Hashing`). "
            f"Received: x of type {type(text[0]).__name__} with dtype {text[0].dtype}"
        )


def to_tensor(x: Any, name: str) -> Any:
    """Convert one array to a tensor without copying where possible.

    NumPy float64 becomes float32, as Keras casts inputs to floatx: NumPy
    defaults to float64, which is almost never what a model wants. Torch
    tensors keep their dtype: a torch user who made float64 tensors meant it.
    An input (`x`) array of strings stays a NumPy array, batched on the host, for
    a model whose first layer takes strings (`TextVectorization`, `StringLookup`).
    """
    if isinstance(x, torch.Tensor):
        return x
    if hasattr(x, "to_numpy"):  # pandas DataFrame / Series
        x = _pandas_to_numpy(x, name)
    arr = np.asarray(x)
    if name == "x" and is_text_array(arr) and arr.ndim > 0:
        return arr
    _check_numeric(arr.dtype, name, x)
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


def standardize_structure(x: Any, name: str) -> Any:
    """Tensors for in-memory leaves, `DiskArray`s for out-of-core ones; nothing read from disk.

    Example:
        >>> x, y = standardize_structure((np.memmap(...), np.zeros(10)), "x")
        >>> type(x).__name__, type(y).__name__
        ('DiskArray', 'Tensor')
    """
    def leaf(a: Any) -> Any:
        if a is None or isinstance(a, DiskArray):
            return a
        return DiskArray(a, name) if is_out_of_core(a) else to_tensor(a, name)

    return nest.map_structure(leaf, text_lists_as_arrays(x))


def _target_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype a batch is cast to: float64 -> float32 as `to_tensor`, native byte order."""
    target = np.dtype(np.float32) if dtype.kind == "f" and dtype.itemsize == 8 else dtype
    return target if target.isnative else target.newbyteorder("=")


def _batch_tensor(raw: Any, dtype: np.dtype) -> torch.Tensor:
    """A tensor of one freshly read batch, cast to `dtype` (a copy only when needed)."""
    arr = np.asarray(raw)
    if arr.dtype != dtype:
        arr = arr.astype(dtype)
    elif isinstance(raw, np.memmap) or not arr.flags.writeable:
        arr = arr.copy()  # a view of a mapped file, or read-only: never alias it
    return torch.from_numpy(arr)


class DiskArray:
    """Rows `[start, stop)` of an array kept on disk, read on demand as torch tensors.

    Slicing rows gives another `DiskArray` and reads nothing; `read` (contiguous
    rows) and `take` (any rows) read one batch and cast it as `to_tensor` does.

    Example:
        >>> mm = np.memmap("x.dat", dtype=np.float64, mode="r", shape=(1_000_000, 100))
        >>> DiskArray(mm, "x")[:10].read(0, 4).dtype
        torch.float32
    """

    def __init__(self, source: Any, name: str, *, start: int = 0, stop: int | None = None,
                 dtype: np.dtype | None = None) -> None:
        full = tuple(int(s) for s in source.shape)
        if not full:
            raise ValueError(
                f"`{name}` must be an array with a batch dimension, got a scalar. "
                f"Received: {name} of type {type(source).__name__} with shape ()"
            )
        src_dtype = np.dtype(source.dtype)
        _check_numeric(src_dtype, name, source)
        self.source = source
        self.name = name
        self.start = start
        self.stop = full[0] if stop is None else stop
        self.dtype = _target_dtype(src_dtype) if dtype is None else dtype
        self.shape = (self.stop - self.start, *full[1:])
        # np.memmap: index a plain ndarray view of the mapping, as np.memmap's own
        # __getitem__ costs as much as a batch gather. Nothing is read here.
        self._view = np.asarray(source) if isinstance(source, np.ndarray) else None

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return (f"DiskArray({type(self.source).__name__}, rows {self.start}:{self.stop}, "
                f"shape={self.shape}, dtype={self.dtype})")

    def __getitem__(self, key: slice) -> DiskArray:
        if not isinstance(key, slice) or key.step not in (None, 1):
            raise TypeError(
                "A DiskArray is sliced by contiguous rows only (`a[start:stop]`); read "
                f"batches with `read` or `take`. Received: key={key!r} (of type "
                f"{type(key).__name__})"
            )
        a, b, _ = key.indices(len(self))
        return self._rows(self.start + a, self.start + max(a, b), self.dtype)

    def _rows(self, start: int, stop: int, dtype: np.dtype) -> DiskArray:
        return DiskArray(self.source, self.name, start=start, stop=stop, dtype=dtype)

    def as_float(self) -> DiskArray:
        """The same rows, read as float32 unless already floating (for sample weights)."""
        if self.dtype.kind == "f":
            return self
        return self._rows(self.start, self.stop, np.dtype(np.float32))

    def read(self, start: int, stop: int) -> torch.Tensor:
        """Rows `[start, stop)` (relative to this view) as a tensor."""
        a, b = self.start + start, self.start + stop
        if self._view is not None:
            # A slice of the mapping is a view: copy it (cast on the way) so the tensor
            # never aliases the file, which an in-place op would write to or fault on.
            return torch.from_numpy(np.array(self._view[a:b], dtype=self.dtype))
        return _batch_tensor(self.source[a:b], self.dtype)

    def take(self, indices: np.ndarray) -> torch.Tensor:
        """The rows at `indices` (unique, relative to this view), in that order."""
        rows = indices + self.start if self.start else indices
        if self._view is not None:
            return _batch_tensor(np.take(self._view, rows, axis=0), self.dtype)
        # h5py (and most disk formats) want increasing indices, which also read the
        # file front to back: read sorted, then put the rows back in the asked order.
        order = np.argsort(rows)
        got = np.asarray(self.source[rows[order]])
        out = np.empty_like(got)
        out[order] = got  # back to the requested order
        return _batch_tensor(out, self.dtype)

    def chunks(self, max_bytes: int | None = None) -> Iterator[torch.Tensor]:
        """All rows, a few megabytes (`max_bytes`, default 16 MiB) at a time."""
        max_bytes = _CHUNK_BYTES if max_bytes is None else max_bytes
        row_bytes = self.dtype.itemsize * math.prod(self.shape[1:])
        step = max(1, max_bytes // max(1, row_bytes))
        for a in range(0, len(self), step):
            yield self.read(a, min(len(self), a + step))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """Everything in memory at once: only when a caller asks with `np.asarray`."""
        arr = self.read(0, len(self)).numpy()
        return arr if dtype is None else arr.astype(dtype, copy=False)


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


def class_weight_to_sample_weight(y: torch.Tensor | DiskArray,
                                  class_weight: Mapping[Any, Any]) -> torch.Tensor:
    """Per-sample weights from a {class: weight} dict; classes not listed weigh 1.0 (Keras).

    An out-of-core `y` is read in chunks of a few megabytes; only the weights
    (one float per sample) are held in memory.
    """
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
    # One slot past the largest listed class holds 1.0 for every unlisted larger class,
    # so a single pass needs no maximum label.
    top = max((int(k) for k in class_weight), default=-1) + 1
    table = torch.ones(top + 1, dtype=torch.float32)
    for k, v in class_weight.items():
        table[int(k)] = float(v)

    def weights(labels: torch.Tensor) -> torch.Tensor:
        if labels.ndim > 1:
            labels = labels.argmax(dim=-1) if labels.shape[-1] != 1 else labels.squeeze(-1)
        labels = labels.round().long() if labels.is_floating_point() else labels.long()
        if labels.numel() and int(labels.min()) < 0:
            raise ValueError(
                f"`class_weight` needs non-negative class labels, found {int(labels.min())}."
            )
        return table[labels.clamp(max=top)]

    if isinstance(y, DiskArray):
        return torch.cat([weights(chunk) for chunk in y.chunks()])
    return weights(y)


def split_validation(arrays: tuple[Any, Any, Any], validation_split: float) -> tuple[Any, Any]:
    """Keras's `validation_split`: the *last* fraction of the samples, taken before shuffling.

    Accepts raw arrays or tensors; out-of-core leaves become lazy `DiskArray` row
    ranges, so nothing is read or copied here.
    """
    arrays = tuple(standardize_structure(a, name)
                   for a, name in zip(arrays, ("x", "y", "sample_weight")))
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


def _rows(t: torch.Tensor, sl: slice) -> torch.Tensor:
    return t[sl]


def _gather(t: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    if isinstance(t, np.ndarray):  # strings, batched on the host
        return t[idx.numpy()]
    return t.index_select(0, idx)


def _pinned_rows(t: torch.Tensor, sl: slice) -> torch.Tensor:
    if isinstance(t, np.ndarray):
        return t[sl]
    return t[sl].pin_memory() if t.device.type == "cpu" else t[sl]


def _pinned_gather(t: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """`index_select` into pinned memory (torch's caching host allocator reuses the block
    only once the asynchronous copy that read it has finished)."""
    if isinstance(t, np.ndarray):
        return t[idx.numpy()]
    if t.device.type != "cpu":
        return t.index_select(0, idx)
    out = torch.empty((len(idx), *t.shape[1:]), dtype=t.dtype, pin_memory=True)
    return torch.index_select(t, 0, idx, out=out)


class ArrayDataAdapter:
    """Batches over arrays: `shuffle` True / False / "batch", partial last batch.

    In-memory leaves are tensors sliced per batch; out-of-core leaves (`np.memmap`,
    `h5py.Dataset`, ...) are read per batch: contiguous rows for `False` and
    `"batch"`, a gather of the batch's indices for `True`.

    Example:
        >>> ad = ArrayDataAdapter(np.zeros((10, 3)), np.zeros(10), batch_size=4)
        >>> ad.num_batches
        3
    """

    reiterable = True  # a new pass can start at any time (steps_per_epoch spans passes)
    shard_kind = "samples"  # data-parallel predictions: see `fitorch.data.shard`
    # Set by the epoch iterator for a CUDA model: batches of in-memory CPU arrays are
    # gathered straight into pinned memory, so their copy to the GPU is asynchronous.
    pin_memory = False

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
        shard: Shard | None = None,
    ) -> None:
        self.x = standardize_structure(x, "x")
        self.y = standardize_structure(y, "y")
        sw = standardize_structure(sample_weight, "sample_weight")
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
        self.shard = shard  # data-parallel: this rank's positions of each global batch
        check_batch_size(self.batch_size, shard)
        # Keep the flat leaves: slicing a flat list and re-packing is cheaper than
        # walking the structure for every batch.
        self._flat = [t for t in nest.flatten((self.x, self.y, self.sample_weight))]
        self._structure = (self.x, self.y, self.sample_weight)
        self._plain = not any(nest.is_nested(part) for part in self._structure)
        self._on_disk = any(isinstance(t, DiskArray) for t in self._flat)

    def on_epoch_begin(self) -> None:
        """Nothing to do: the order for the next pass is drawn in `batches()`."""

    def on_epoch_end(self) -> None:
        """Nothing to do for arrays."""

    def close(self) -> None:
        """Nothing to release for arrays."""

    def sample_x(self) -> Any:
        return nest.map_structure(
            lambda t: t.read(0, min(2, len(t))) if isinstance(t, DiskArray) else t[:2], self.x)

    def targets(self) -> Any:
        """`y` when held in memory; None when any of it is on disk.

        The up-front label range check then does not run (reading a large `y` once
        more just to check it is not worth it); out-of-range labels still fail in
        the loss on the batch that holds them.
        """
        if any(isinstance(t, DiskArray) for t in nest.flatten(self.y)):
            return None
        return self.y

    @property
    def has_targets(self) -> bool:
        return self.y is not None

    resumable = True  # a pass can restart at any batch (BackupAndRestore)

    def position_state(self) -> dict[str, Any]:
        """Nothing beyond the RNG state the epoch iterator keeps: the order is drawn from it."""
        return {}

    def load_position_state(self, state: dict[str, Any]) -> None:
        """Nothing to restore for arrays (see `position_state`)."""

    def batches(self, skip: int = 0) -> Iterator[Any]:
        """One pass over the data as Keras-packed batches: `x`, `(x,)`, `(x, y)`, `(x, y, sw)`.

        The pass's order is drawn now, not on the first `next()`, so that an exact resume
        can set the RNG, start the pass, and set the RNG again. `skip` batches of the pass
        are passed over without being read.
        """
        with self.shard.shared_order() if self.shard is not None else contextlib.nullcontext():
            order = self._order(skip)
        if self._on_disk:
            return self._disk_batches(order)
        return self._memory_batches(order)

    def _order(self, skip: int) -> tuple[str, Any]:
        """The pass's order, drawn from torch's RNG: ("perm", permutation) or ("chunks",
        batch numbers in order), `skip` batches passed over."""
        n, bs = self.num_samples, self.batch_size
        if self.shuffle == "batch":
            return "chunks", _chunk_order(n, bs)[skip:]
        if self.shuffle:
            return "perm", (torch.randperm(n), skip)
        return "chunks", range(skip, -(-n // bs))

    def _global_batches(self, order: tuple[str, Any]) -> Iterator[tuple[Any, bool]]:
        """Each batch's rows of this rank: a slice or an index tensor, and whether it is a
        stand-in for an empty share (`fitorch.data.shard`)."""
        n, bs, shard = self.num_samples, self.batch_size, self.shard
        kind, value = order
        if kind == "perm":
            perm, skip = value
            for start in range(skip * bs, n, bs):
                idx = perm[start : start + bs]
                if shard is None:
                    yield idx, False
                else:
                    mine = shard.take(idx)
                    yield (mine, False) if len(mine) else (idx[:1], True)
            return
        for b in value:
            a, e = b * bs, min(n, (b + 1) * bs)
            if shard is None:
                yield slice(a, e), False
            elif a + shard.rank < e:
                yield slice(a + shard.rank, e, shard.world), False
            else:
                yield slice(a, a + 1), True

    def _memory_batches(self, order: tuple[str, Any]) -> Iterator[Any]:
        flat = self._flat
        rows = _pinned_rows if self.pin_memory else _rows
        gather = _pinned_gather if self.pin_memory else _gather
        for rows_of, stand_in in self._global_batches(order):
            take = rows if isinstance(rows_of, slice) else gather
            batch = self._pack([None if t is None else take(t, rows_of) for t in flat])
            yield StandIn(batch) if stand_in else batch

    def _disk_batches(self, order: tuple[str, Any]) -> Iterator[Any]:
        """As `_memory_batches`, out-of-core leaves read per batch: contiguous rows for an
        unshuffled pass, a gather of the batch's indices for a shuffled one."""
        flat = self._flat
        for rows_of, stand_in in self._global_batches(order):
            if isinstance(rows_of, slice) and rows_of.step in (None, 1):
                a, e = rows_of.start, rows_of.stop
                leaves = [None if t is None else t.read(a, e) if isinstance(t, DiskArray)
                          else t[a:e] for t in flat]
            else:
                idx = (torch.arange(rows_of.start, rows_of.stop, rows_of.step)
                       if isinstance(rows_of, slice) else rows_of)
                idx_np = idx.numpy()
                leaves = [None if t is None else t.take(idx_np) if isinstance(t, DiskArray)
                          else t.index_select(0, idx) for t in flat]
            batch = self._pack(leaves)
            yield StandIn(batch) if stand_in else batch

    def _pack(self, leaves: list[Any]) -> Any:
        if self._plain:  # x, y, sw are single arrays (or None): no structure to walk
            x, y, sw = leaves
        else:
            x, y, sw = nest.pack_as(self._structure, leaves)
        return pack_x_y_sample_weight(x, y, sw)


def _chunk_order(n: int, bs: int) -> list[int]:
    """`shuffle="batch"`: batch-sized chunks in a new random order, the partial one last.

    Contiguous chunks keep reads from disk sequential; the partial last chunk
    stays last, as in Keras.
    """
    full = n // bs
    return torch.randperm(full).tolist() + ([full] if n % bs else [])


def _as_float(a: torch.Tensor | DiskArray) -> torch.Tensor | DiskArray:
    if isinstance(a, DiskArray):
        return a.as_float()
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
