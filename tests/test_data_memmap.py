"""Data larger than memory: np.memmap and HDF5 arrays are read batch by batch, never whole."""

from __future__ import annotations

import tracemalloc

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

import fitorch as ft
from conftest import mlp
from fitorch.data import arrays, get_adapter
from fitorch.data.arrays import (
    ArrayDataAdapter,
    DiskArray,
    is_out_of_core,
    split_validation,
    standardize_structure,
)


def compiled(module: torch.nn.Module | None = None, **kwargs) -> ft.Model:
    model = ft.Model(module if module is not None else mlp())
    kwargs.setdefault("optimizer", "sgd")
    kwargs.setdefault("loss", ft.losses.SparseCategoricalCrossentropy(from_logits=True))
    kwargs.setdefault("metrics", ["accuracy"])
    model.compile(**kwargs)
    return model


def memmap_of(path, arr: np.ndarray, mode: str = "r") -> np.memmap:
    out = np.memmap(path, dtype=arr.dtype, mode="w+", shape=arr.shape)
    out[:] = arr
    out.flush()
    del out
    return np.memmap(path, dtype=arr.dtype, mode=mode, shape=arr.shape)


@pytest.fixture
def data64() -> tuple[np.ndarray, np.ndarray]:
    """103 samples: float64 features (cast per batch) and int64 labels."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(103, 8))
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1).astype(np.int64)
    return x, y


@pytest.fixture
def h5(tmp_path, data64):
    with h5py.File(tmp_path / "data.h5", "w") as f:
        f.create_dataset("x", data=data64[0])
        f.create_dataset("y", data=data64[1])
    f = h5py.File(tmp_path / "data.h5", "r")
    yield f
    f.close()


@pytest.fixture
def disk(request, tmp_path, data64, h5):
    """The same data on disk, as read-only np.memmaps or as h5py datasets."""
    if request.param == "memmap":
        return (memmap_of(tmp_path / "x.dat", data64[0]), memmap_of(tmp_path / "y.dat", data64[1]))
    return h5["x"], h5["y"]


class CountingArray:
    """An out-of-core array that records the rows of every read and refuses whole reads."""

    def __init__(self, base: np.ndarray) -> None:
        self.base = base
        self.shape = base.shape
        self.dtype = base.dtype
        self.reads: list[int] = []

    def __getitem__(self, key):
        out = self.base[key]
        self.reads.append(len(out))
        return out

    def __len__(self) -> int:
        return len(self.base)

    def __array__(self, dtype=None, copy=None):
        raise AssertionError("the whole array was converted")


def fit_history(x, y, seed: int = 1, **kwargs):
    torch.manual_seed(0)
    model = compiled()
    torch.manual_seed(seed)
    kwargs = {"batch_size": 10, "epochs": 3, "verbose": 0, **kwargs}
    history = model.fit(x, y, **kwargs)
    return history.history, [w.copy() for w in model.get_weights()]


def assert_same_fit(a, b) -> None:
    assert a[0] == b[0]
    for wa, wb in zip(a[1], b[1]):
        np.testing.assert_array_equal(wa, wb)


# ------------------------------------------------------------------ same results
@pytest.mark.parametrize("disk", ["memmap", "h5py"], indirect=True)
@pytest.mark.parametrize("shuffle", [False, True, "batch"])
def test_fit_on_disk_gives_the_same_history_as_in_memory(disk, data64, shuffle):
    in_memory = fit_history(*data64, shuffle=shuffle, validation_data=data64)
    on_disk = fit_history(*disk, shuffle=shuffle, validation_data=disk)
    assert_same_fit(on_disk, in_memory)
    assert len(in_memory[0]["val_loss"]) == 3


@pytest.mark.parametrize("disk", ["memmap", "h5py"], indirect=True)
def test_validation_split_on_disk_matches_in_memory(disk, data64):
    in_memory = fit_history(*data64, shuffle=True, validation_split=0.2)
    on_disk = fit_history(*disk, shuffle=True, validation_split=0.2)
    assert_same_fit(on_disk, in_memory)


@pytest.mark.parametrize("disk", ["memmap", "h5py"], indirect=True)
def test_evaluate_and_predict_on_disk_match_in_memory(disk, data64):
    model = compiled()
    model.fit(*data64, batch_size=16, epochs=1, verbose=0)
    assert model.evaluate(*disk, batch_size=16, verbose=0) == model.evaluate(
        *data64, batch_size=16, verbose=0)
    np.testing.assert_array_equal(model.predict(disk[0], batch_size=16, verbose=0),
                                  model.predict(data64[0], batch_size=16, verbose=0))


def test_class_weight_and_sample_weight_on_disk_match_in_memory(tmp_path, data64):
    x, y = data64
    mx, my = memmap_of(tmp_path / "x.dat", x), memmap_of(tmp_path / "y.dat", y)
    cw = {0: 1.0, 1: 2.0, 2: 0.5}
    assert_same_fit(fit_history(mx, my, class_weight=cw), fit_history(x, y, class_weight=cw))
    sw = (np.arange(103) % 3).astype(np.int32)  # integer weights: cast to float per batch
    msw = memmap_of(tmp_path / "sw.dat", sw)
    assert_same_fit(fit_history(mx, my, sample_weight=msw, shuffle=True),
                    fit_history(x, y, sample_weight=sw, shuffle=True))


def test_mixed_structures_of_disk_and_memory_leaves(tmp_path, data64):
    x, y = data64
    left = memmap_of(tmp_path / "left.dat", x[:, :4].copy())
    pd_right = pd.DataFrame(x[:, 4:])

    class TwoInputs(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = mlp()

        def forward(self, left, right):  # dict inputs arrive as keyword arguments
            return self.body(torch.cat([left, right], dim=1))

    def run(xs):
        torch.manual_seed(0)
        model = compiled(TwoInputs())
        torch.manual_seed(1)
        return model.fit(xs, y, batch_size=16, epochs=2, shuffle=True, verbose=0).history

    on_disk = run({"left": left, "right": pd_right})
    assert on_disk == run({"left": x[:, :4], "right": x[:, 4:]})


# ------------------------------------------------------------ bounded reads
@pytest.mark.parametrize("shuffle", [False, True, "batch"])
def test_fit_never_reads_more_than_a_batch(data64, shuffle):
    x, y = CountingArray(data64[0]), CountingArray(data64[1])
    model = compiled()
    model.fit(x, y, batch_size=10, epochs=2, shuffle=shuffle, validation_data=(x, y),
              verbose=0)
    model.evaluate(x, y, batch_size=10, verbose=0)
    model.predict(x, batch_size=10, verbose=0)
    assert x.reads and max(x.reads) <= 10 and max(y.reads) <= 10
    # every epoch (2 train + 2 validation + evaluate + predict) reads each row once,
    # plus the two-row sample that sizes the model (once per fit/evaluate/predict)
    assert sum(x.reads) == 6 * 103 + 3 * 2


def test_class_weight_reads_labels_in_chunks(monkeypatch, data64):
    monkeypatch.setattr(arrays, "_CHUNK_BYTES", 40 * 8)  # 40 int64 labels at a time
    y = CountingArray(data64[1])
    ad = ArrayDataAdapter(data64[0], y, batch_size=10, class_weight={1: 3.0})
    assert y.reads == [40, 40, 23]
    expected = np.where(data64[1] == 1, 3.0, 1.0).astype(np.float32)
    np.testing.assert_array_equal(ad.sample_weight.numpy(), expected)


def test_split_validation_reads_nothing(data64):
    x, y = CountingArray(data64[0]), CountingArray(data64[1])
    (tx, ty, _), (vx, vy, _) = split_validation((x, y, None), 0.2)
    assert x.reads == [] and y.reads == []
    assert (len(tx), len(vx)) == (82, 21)
    np.testing.assert_array_equal(vx.read(0, 3).numpy(), data64[0][82:85].astype(np.float32))
    np.testing.assert_array_equal(vy.take(np.array([20, 0])).numpy(), data64[1][[102, 82]])
    ad = get_adapter(tx, ty, batch_size=50, shuffle=True)
    assert ad.num_samples == 82 and ad.num_batches == 2


def test_fit_validation_split_reads_nothing_whole(data64):
    x, y = CountingArray(data64[0]), CountingArray(data64[1])
    compiled().fit(x, y, batch_size=10, epochs=1, validation_split=0.2, verbose=0)
    assert max(x.reads) <= 10


def test_memmap_epoch_allocates_about_one_batch(tmp_path):
    """numpy reports its buffers to tracemalloc: a 16 MB float64 memmap costs ~1 batch."""
    rng = np.random.default_rng(0)
    x = memmap_of(tmp_path / "big.dat", rng.normal(size=(2000, 1000)))  # 16 MB
    y = memmap_of(tmp_path / "y.dat", rng.normal(size=(2000, 1)).astype(np.float32))
    model = ft.Model(torch.nn.Linear(1000, 1))
    model.compile(optimizer="sgd", loss="mse")
    tracemalloc.start()
    try:
        for shuffle in (True, "batch"):
            model.fit(x, y, batch_size=250, epochs=1, shuffle=shuffle, verbose=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # one float64 batch gathered (2 MB) + its float32 cast (1 MB); the whole array is 16 MB
    assert peak < 4 * 2**20, f"peak {peak / 2**20:.1f} MiB"


# --------------------------------------------------------------- batch order
def test_shuffle_batch_reads_contiguous_chunks_in_a_new_order_each_epoch(tmp_path):
    x = memmap_of(tmp_path / "x.dat", np.arange(10, dtype=np.float32).reshape(10, 1))
    y = memmap_of(tmp_path / "y.dat", np.zeros(10, dtype=np.int64))
    ad = ArrayDataAdapter(x, y, batch_size=3, shuffle="batch")
    orders = []
    for _ in range(8):
        chunks = [tuple(xb[:, 0].tolist()) for xb, _ in ad.batches()]
        assert sorted(chunks[:3]) == [(0, 1, 2), (3, 4, 5), (6, 7, 8)]
        assert chunks[3] == (9,)  # the partial chunk stays last
        orders.append(tuple(chunks))
    assert len(set(orders)) > 1


@pytest.mark.parametrize("disk", ["memmap", "h5py"], indirect=True)
def test_shuffle_true_gathers_a_new_permutation_each_epoch(disk, data64):
    ad = ArrayDataAdapter(disk[0], disk[1], batch_size=16, shuffle=True)
    epochs = []
    for _ in range(2):
        xs = torch.cat([xb for xb, _ in ad.batches()]).numpy()
        # every row once, with its own values (h5py reads sorted, then un-permutes)
        rows = [int(np.flatnonzero((data64[0].astype(np.float32) == r).all(1))[0]) for r in xs]
        assert sorted(rows) == list(range(103))
        epochs.append(rows)
    assert epochs[0] != epochs[1] and epochs[0] != list(range(103))


# ------------------------------------------------------------ leaves and casts
def test_batches_are_cast_fresh_writable_tensors(tmp_path, data64):
    mx = memmap_of(tmp_path / "x.dat", data64[0])  # read-only float64
    mi = memmap_of(tmp_path / "i.dat", np.arange(103, dtype=np.float32).reshape(103, 1))
    ad = ArrayDataAdapter([mx, mi], data64[1], batch_size=8, shuffle=False)
    (xb, ib), yb = next(iter(ad.batches()))
    assert xb.dtype == torch.float32 and ib.dtype == torch.float32 and yb.dtype == torch.int64
    ib.mul_(0)  # a user's in-place op touches the batch only, never the mapped file
    assert mi[1, 0] == 1.0
    assert ad.targets() is not None  # y in memory: labels still checked up front


def test_sample_x_and_targets_do_not_read_everything(h5):
    x, y = CountingArray(h5["x"]), CountingArray(h5["y"])
    ad = ArrayDataAdapter(x, y, batch_size=10)
    assert tuple(ad.sample_x().shape) == (2, 8)
    assert ad.targets() is None  # on disk: the up-front label check is skipped
    assert x.reads == [2] and y.reads == []


def test_out_of_core_classification(tmp_path, h5):
    mm = memmap_of(tmp_path / "x.dat", np.zeros((4, 2), dtype=np.float32))
    assert is_out_of_core(mm) and is_out_of_core(mm[1:3]) and is_out_of_core(h5["x"])
    assert is_out_of_core(CountingArray(np.zeros((3, 1))))
    for in_memory in (np.zeros((4, 2)), torch.zeros(4, 2), pd.DataFrame(np.zeros((4, 2))),
                      pd.Series(np.zeros(4)), np.float64(1.0)):
        assert not is_out_of_core(in_memory)
    x, y = standardize_structure((mm, np.zeros(4)), "x")
    assert isinstance(x, DiskArray) and isinstance(y, torch.Tensor)


def test_out_of_core_errors(tmp_path):
    with h5py.File(tmp_path / "s.h5", "w") as f:
        f.create_dataset("s", data=np.array([b"a", b"b"]))
        with pytest.raises(TypeError, match="must hold numbers.*Received: x of type Dataset"):
            ArrayDataAdapter(f["s"], batch_size=1)
    d = DiskArray(memmap_of(tmp_path / "x.dat", np.zeros((4, 2))), "x")
    with pytest.raises(TypeError, match=r"contiguous rows only.*Received: key=slice\(None, "
                                        r"None, 2\) \(of type slice\)"):
        d[::2]
    with pytest.raises(ValueError, match="got a scalar"):
        DiskArray(np.memmap(tmp_path / "s.dat", dtype=np.float32, mode="w+", shape=()), "x")
    with pytest.raises(ValueError, match="Data cardinality is ambiguous"):
        ArrayDataAdapter(d, np.zeros(5))


def test_disk_array_views_and_conversion(tmp_path):
    base = np.arange(20, dtype=">f8").reshape(10, 2)  # big-endian on disk
    d = DiskArray(memmap_of(tmp_path / "x.dat", base), "x")[2:8][1:]
    assert d.shape == (5, 2) and len(d) == 5 and d.ndim == 2
    np.testing.assert_array_equal(np.asarray(d), base[3:8].astype(np.float32))
    np.testing.assert_array_equal(d.take(np.array([4, 0, 2])).numpy(), base[[7, 3, 5]])
    assert d.read(0, 1).dtype == torch.float32 and "rows 3:8" in repr(d)
