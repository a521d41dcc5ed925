"""torch `Dataset` (map-style, iterable) and `DataLoader` inputs: the same results as arrays."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from fitorch.data import DataLoaderAdapter, DatasetAdapter, get_adapter
from sequence_helpers import (
    SampleDataset,
    SampleStream,
    arrays_for,
    child_pids,
    data_threads,
    small_model,
)


def array_history(shuffle: Any = False, seed: int = 0, epochs: int = 2, **kwargs: Any
                  ) -> dict[str, list[float]]:
    x, y = arrays_for(5)
    model = small_model()
    torch.manual_seed(seed)
    return model.fit(x, y, batch_size=4, epochs=epochs, shuffle=shuffle, verbose=0,
                     **kwargs).history


# --- map-style Dataset: batched by fitorch ----------------------------------------------------


@pytest.mark.parametrize("shuffle", [False, True], ids=["ordered", "shuffled"])
@pytest.mark.parametrize("workers", [{}, {"workers": 2},
                                     {"workers": 2, "use_multiprocessing": True}],
                         ids=["main", "threads", "processes"])
def test_map_dataset_equals_arrays(shuffle, workers):
    before = child_pids()
    x, y = arrays_for(5)
    model = small_model()
    torch.manual_seed(0)
    history = model.fit(SampleDataset(x, y), batch_size=4, epochs=2, shuffle=shuffle, verbose=0,
                        **workers).history
    assert history == array_history(shuffle)
    assert child_pids() == before
    assert data_threads() == []


def test_tensor_dataset_default_batch_size_and_steps():
    x, y = arrays_for(20)  # 80 samples
    dataset = TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    assert DatasetAdapter(dataset).num_batches == 3  # 32, 32, 16 as Keras's default
    assert DatasetAdapter(dataset, steps=4).batch_size == 20
    assert DatasetAdapter(dataset, batch_size=8).num_batches == 10


def test_shuffle_batch_reads_contiguous_chunks():
    dataset = TensorDataset(torch.arange(10).float().unsqueeze(1))
    adapter = DatasetAdapter(dataset, batch_size=4, shuffle="batch")
    torch.manual_seed(0)
    chunks = [b[0][:, 0].long().tolist() for b in adapter.batches()]
    assert chunks[-1] == [8, 9]  # the partial chunk stays last
    assert sorted(chunks[:2]) == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_getitems_is_used_when_the_dataset_has_it():
    class Batched(SampleDataset):
        calls: list[list[int]] = []

        def __getitems__(self, indices: list[int]) -> list[Any]:
            self.calls.append(list(indices))
            return [self[i] for i in indices]

    x, y = arrays_for(2)
    list(get_adapter(Batched(x, y), batch_size=4).batches())
    assert Batched.calls == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_evaluate_and_predict_on_a_dataset_equal_arrays():
    x, y = arrays_for(5)
    model = small_model()
    assert model.evaluate(SampleDataset(x, y), batch_size=4, verbose=0) == \
        model.evaluate(x, y, batch_size=4, verbose=0)
    np.testing.assert_array_equal(
        model.predict(TensorDataset(torch.from_numpy(x)), batch_size=4, verbose=0),
        model.predict(x, batch_size=4, verbose=0))


def test_dataset_without_len_and_empty_dataset():
    class NoLen(torch.utils.data.Dataset):
        def __getitem__(self, i: int) -> Any:
            return i

    with pytest.raises(ValueError, match="must define `__len__`.*IterableDataset.*NoLen"):
        get_adapter(NoLen())
    with pytest.raises(ValueError, match="The Dataset is empty"):
        get_adapter(TensorDataset(torch.zeros(0, 2)))


# --- IterableDataset ---------------------------------------------------------------------------


@pytest.mark.parametrize("workers", [{}, {"workers": 2}], ids=["main", "thread"])
def test_iterable_dataset_equals_arrays(workers):
    x, y = arrays_for(5)
    history = small_model().fit(SampleStream(x, y), batch_size=4, epochs=2, verbose=0,
                                **workers).history
    assert history == array_history()
    assert data_threads() == []


def test_iterable_dataset_in_one_process():
    before = child_pids()
    x, y = arrays_for(5)
    history = small_model().fit(SampleStream(x, y), batch_size=4, epochs=2, verbose=0,
                                workers=1, use_multiprocessing=True).history
    assert history == array_history()
    assert child_pids() == before


# --- DataLoader: used as given -------------------------------------------------------------------


@pytest.mark.parametrize("num_workers", [0, 2])
def test_dataloader_equals_arrays(num_workers):
    before = child_pids()
    x, y = arrays_for(5)
    loader = DataLoader(SampleDataset(x, y), batch_size=4, num_workers=num_workers)
    history = small_model().fit(loader, epochs=2, verbose=0).history
    assert history == array_history()
    assert child_pids() == before  # its non-persistent workers are reaped


def test_dataloader_keeps_its_own_shuffling():
    x, y = arrays_for(5)
    loader = DataLoader(SampleDataset(x, y), batch_size=4, shuffle=True)
    torch.manual_seed(0)
    first = small_model().fit(loader, epochs=2, shuffle=False, verbose=0).history
    torch.manual_seed(0)
    second = small_model().fit(loader, epochs=2, shuffle=False, verbose=0).history
    assert first == second
    assert first != array_history()


def test_dataloader_batches_are_tuples_with_a_length():
    x, y = arrays_for(2)
    loader = DataLoader(SampleDataset(x, y), batch_size=4)
    adapter = DataLoaderAdapter(loader)
    assert adapter.num_batches == 2
    batch = next(iter(adapter.batches()))
    assert isinstance(batch, tuple) and len(batch) == 2  # default_collate's list -> (x, y)


def test_worker_args_with_a_dataloader_warn():
    x, y = arrays_for(2)
    with pytest.warns(UserWarning, match="do not apply to a torch DataLoader"):
        small_model().fit(DataLoader(SampleDataset(x, y), batch_size=4), workers=3, verbose=0)


def test_batch_size_with_a_dataloader_is_an_error():
    x, y = arrays_for(2)
    with pytest.raises(ValueError, match="`batch_size` cannot be given when `x` is a DataLoa"):
        small_model().fit(DataLoader(SampleDataset(x, y), batch_size=4), batch_size=4,
                          verbose=0)


# --- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["dataset", "dataloader"])
def test_validation_on_torch_data_equals_arrays(kind):
    x, y = arrays_for(5)
    vx, vy = arrays_for(3, batch=5)
    val: Any = (SampleDataset(vx, vy) if kind == "dataset"
                else DataLoader(SampleDataset(vx, vy), batch_size=4))
    history = small_model().fit(x, y, batch_size=4, epochs=2, shuffle=False,
                                validation_data=val, verbose=0).history
    expected = array_history(validation_data=(vx, vy))
    assert history == expected
