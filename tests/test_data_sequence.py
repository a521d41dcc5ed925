"""`ft.utils.Sequence` (alias `PyDataset`): the class, its epochs and shuffling, against Keras 3."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras

import fitorch as ft
from fitorch.data import SequenceAdapter, get_adapter
from keras_twins import assert_history_equal, assert_weights_equal, mlp_twins
from sequence_helpers import (
    DataSequence,
    Recorder,
    arrays_for,
    batch_for,
    small_model,
)

SCCE = "sparse_categorical_crossentropy"


class KerasSequence(keras.utils.PyDataset):
    """The Keras 3 twin of `DataSequence`."""

    def __init__(self, num_batches: int) -> None:
        super().__init__()
        self.n = num_batches
        self.epoch_ends = 0

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> Any:
        return batch_for(index)

    def on_epoch_end(self) -> None:
        self.epoch_ends += 1


# --- the class ------------------------------------------------------------------------


def test_pydataset_is_an_alias():
    assert ft.utils.PyDataset is ft.utils.Sequence


def test_constructor_arguments():
    seq = DataSequence(3, workers=4, use_multiprocessing=True, max_queue_size=7)
    assert (seq.workers, seq.use_multiprocessing, seq.max_queue_size) == (4, True, 7)


@pytest.mark.parametrize("kwargs, message", [
    ({"workers": -1}, r"`workers` must be an integer >= 0. Received: workers=-1 \(of type int\)"),
    ({"workers": "2"}, r"`workers` must be an integer >= 0. Received: workers='2' \(of type str"),
    ({"use_multiprocessing": "yes"}, r"`use_multiprocessing` must be True or False"),
    ({"max_queue_size": 0}, r"`max_queue_size` must be an integer >= 1. Received: max_"),
])
def test_bad_constructor_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DataSequence(3, **kwargs)


def test_subclass_without_super_init_gets_the_defaults():
    class Bare(ft.utils.Sequence):
        def __len__(self) -> int:
            return 2

        def __getitem__(self, index: int) -> Any:
            return batch_for(index)

    seq = Bare()
    assert (seq.workers, seq.use_multiprocessing, seq.max_queue_size) == (1, False, 10)
    assert seq.num_batches == 2
    assert len(list(seq)) == 2
    history = small_model().fit(seq, epochs=1, verbose=0).history
    assert len(history["loss"]) == 1


def test_getitem_not_implemented():
    class NoItems(ft.utils.Sequence):
        def __len__(self) -> int:
            return 1

    with pytest.raises(NotImplementedError, match="must implement `__getitem__"):
        small_model().fit(NoItems(), verbose=0)


def test_fit_values_override_the_sequence_own_and_defaults_do_not():
    seq = DataSequence(3, workers=4, use_multiprocessing=True, max_queue_size=7)
    kept = get_adapter(seq, workers=1, use_multiprocessing=False, max_queue_size=10)
    assert (kept.config.workers, kept.config.use_multiprocessing,
            kept.config.max_queue_size) == (4, True, 7)
    overridden = get_adapter(DataSequence(3, workers=4), workers=2, use_multiprocessing=True,
                             max_queue_size=3)
    assert (overridden.config.workers, overridden.config.use_multiprocessing,
            overridden.config.max_queue_size) == (2, True, 3)


# --- against Keras 3 -------------------------------------------------------------------


def test_history_and_weights_match_keras():
    kmodel, fmodel = mlp_twins(3, "softmax")
    for model in (kmodel, fmodel):
        model.compile(optimizer="sgd", loss=SCCE, metrics=["accuracy"])
    kseq, fseq = KerasSequence(5), DataSequence(5)
    keras_history = kmodel.fit(kseq, epochs=3, shuffle=False, verbose=0)
    fitorch_history = fmodel.fit(fseq, epochs=3, shuffle=False, verbose=0)
    assert_history_equal(fitorch_history.history, keras_history.history)
    assert_weights_equal(fmodel, kmodel)
    # SPEC: once per epoch. (Keras 3 also calls it after the batch it fetches to build.)
    assert fseq.epoch_ends == 3
    assert fseq.epoch_begins == 3


def test_validation_sequence_matches_keras_and_ends_once_per_run():
    kmodel, fmodel = mlp_twins(3, "softmax")
    for model in (kmodel, fmodel):
        model.compile(optimizer="sgd", loss=SCCE, metrics=["accuracy"])
    keras_history = kmodel.fit(KerasSequence(5), validation_data=KerasSequence(3), epochs=3,
                               shuffle=False, verbose=0)
    train, val = DataSequence(5), DataSequence(3)
    fitorch_history = fmodel.fit(train, validation_data=val, epochs=3, shuffle=False, verbose=0)
    assert_history_equal(fitorch_history.history, keras_history.history)
    assert (train.epoch_ends, val.epoch_ends) == (3, 3)  # SPEC (Keras 3 gives 4 and 6)


def test_keras_pydataset_works_in_fitorch():
    kmodel, fmodel = mlp_twins(3, "softmax")
    for model in (kmodel, fmodel):
        model.compile(optimizer="sgd", loss=SCCE)
    keras_history = kmodel.fit(KerasSequence(4), epochs=2, shuffle=False, verbose=0)
    kseq = KerasSequence(4)
    fitorch_history = fmodel.fit(kseq, epochs=2, shuffle=False, verbose=0)
    assert_history_equal(fitorch_history.history, keras_history.history)
    assert kseq.epoch_ends == 2


# --- the same as arrays ------------------------------------------------------------------


def test_fit_evaluate_predict_equal_arrays():
    x, y = arrays_for(5)
    reference = small_model()
    expected = reference.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    model = small_model()
    history = model.fit(DataSequence(5), epochs=2, shuffle=False, verbose=0).history
    assert history == expected
    assert model.evaluate(DataSequence(5), verbose=0) == reference.evaluate(x, y, batch_size=4,
                                                                           verbose=0)
    np.testing.assert_array_equal(model.predict(DataSequence(5), verbose=0),
                                  reference.predict(x, batch_size=4, verbose=0))


def test_sample_weights_in_batches_equal_array_sample_weights():
    class Weighted(DataSequence):
        def __getitem__(self, index: int) -> Any:
            x, y = batch_for(index)
            return x, y, np.full(len(y), 1.0 + index, np.float32)

    x, y = arrays_for(4)
    sw = np.repeat(1.0 + np.arange(4), 4).astype(np.float32)
    expected = small_model().fit(x, y, sample_weight=sw, batch_size=4, shuffle=False,
                                 epochs=2, verbose=0).history
    history = small_model().fit(Weighted(4), shuffle=False, epochs=2, verbose=0).history
    np.testing.assert_allclose(history["loss"], expected["loss"], rtol=1e-6)


# --- shuffling -----------------------------------------------------------------------------


def test_shuffle_permutes_batches_every_epoch_reproducibly():
    def order(shuffle: Any, seed: int = 0) -> list[int]:
        model = Recorder()
        torch.manual_seed(seed)
        model.fit(IndexInX(6), epochs=3, shuffle=shuffle, verbose=0)
        return [i for i, _ in model.seen]

    torch.manual_seed(0)
    expected = [i for _ in range(3) for i in torch.randperm(6).tolist()]
    assert order(True) == expected
    assert order(True) == order(True)
    assert order("batch") == expected  # "batch" is True for a Sequence
    assert order(False) == list(range(6)) * 3
    assert order(True, seed=1) != expected


class IndexInX(DataSequence):
    """Batches whose x[:, 0] is their index (what `Recorder` reads)."""

    def __getitem__(self, index: int) -> Any:
        x, y = batch_for(index)
        x[:, 0], x[:, 1] = index, 0
        return x, y


# --- endless Sequences, errors -------------------------------------------------------------


def test_endless_sequence_with_steps_per_epoch():
    class Endless(ft.utils.Sequence):
        num_batches = None

        def __getitem__(self, index: int) -> Any:
            return batch_for(index)

    adapter = get_adapter(Endless())
    assert adapter.num_batches is None
    history = small_model().fit(Endless(), steps_per_epoch=3, epochs=2, verbose=0).history
    x, y = arrays_for(6)
    expected = small_model().fit(x, y, batch_size=4, steps_per_epoch=3, epochs=2, shuffle=False,
                                 verbose=0).history
    assert history == expected


def test_batch_size_y_and_sample_weight_are_errors():
    _, y = arrays_for(2)
    with pytest.raises(ValueError, match=r"`batch_size` cannot be given when `x` is a Sequence"
                                         r".*Received: batch_size=8"):
        small_model().fit(DataSequence(2), batch_size=8, verbose=0)
    with pytest.raises(ValueError, match="`y` cannot be given when `x` is a Sequence"):
        small_model().fit(DataSequence(2), y, verbose=0)
    with pytest.raises(ValueError, match="`sample_weight` cannot be given when `x` is a Seq"):
        small_model().fit(DataSequence(2), sample_weight=np.ones(8), verbose=0)


def test_empty_sequence_and_bad_batches():
    with pytest.raises(ValueError, match=r"no batches: `len\(\)` must be positive"):
        SequenceAdapter(DataSequence(0))

    class FourItems(DataSequence):
        def __getitem__(self, index: int) -> Any:
            x, y = batch_for(index)
            return x, y, None, y

    with pytest.raises(ValueError, match="must be `x`, `\\(x,\\)`, `\\(x, y\\)` or .*4 items"):
        small_model().fit(FourItems(2), verbose=0)


def test_validation_split_is_an_error():
    with pytest.raises(ValueError, match="`validation_split` is only supported for arrays"):
        small_model().fit(DataSequence(4), validation_split=0.25, verbose=0)
