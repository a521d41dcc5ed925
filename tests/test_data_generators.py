"""Python generators, iterators and generator factories as data, against Keras 3 and SPEC.md."""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

os.environ.setdefault("KERAS_BACKEND", "torch")

import fitorch as ft
from fitorch.data import EpochIterator, GeneratorAdapter, get_adapter
from keras_twins import assert_history_equal, assert_weights_equal, mlp_twins
from sequence_helpers import (
    DataSequence,
    SampleDataset,
    SampleStream,
    arrays_for,
    batch_for,
    small_model,
)

SCCE = "sparse_categorical_crossentropy"

# Keras 3's own notices when it reads a generator (fitorch's are checked where they apply).
pytestmark = [
    pytest.mark.filterwarnings("ignore:`shuffle=True` was passed:UserWarning:keras"),
    pytest.mark.filterwarnings("ignore:Your input ran out of data; interrupting training"),
]


def endless(start: int = 0) -> Iterator[Any]:
    i = start
    while True:
        yield batch_for(i)
        i += 1


def finite(n: int) -> Iterator[Any]:
    for i in range(n):
        yield batch_for(i)


class Counted:
    """An iterator over `batch_for(0), batch_for(1), ...` that counts what it handed out."""

    def __init__(self, n: int | None = None) -> None:
        self.n, self.served = n, 0

    def __iter__(self) -> Counted:
        return self

    def __next__(self) -> Any:
        if self.n is not None and self.served >= self.n:
            raise StopIteration
        self.served += 1
        return batch_for(self.served - 1)


def compiled_twins() -> tuple[Any, Any]:
    models = mlp_twins(3, "softmax")
    for model in models:
        model.compile(optimizer="sgd", loss=SCCE, metrics=["accuracy"])
    return models


# --- against Keras 3 -------------------------------------------------------------------


def test_endless_generator_with_steps_per_epoch_matches_keras():
    kmodel, fmodel = compiled_twins()
    keras_history = kmodel.fit(endless(), steps_per_epoch=3, epochs=3, verbose=0)
    fitorch_history = fmodel.fit(endless(), steps_per_epoch=3, epochs=3, verbose=0)
    assert_history_equal(fitorch_history.history, keras_history.history)
    assert_weights_equal(fmodel, kmodel)


def test_endless_validation_generator_with_validation_steps():
    """Training matches Keras 3; validation continues the generator (SPEC.md), where Keras 3
    re-reads the two batches it peeked at every time (its `peek_and_restore`)."""

    class ValidationContinues(ft.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.checked = 0

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            # Validation in epoch `epoch` read batches 100 + 2 * epoch and the one after.
            expected = self.model.evaluate(finite_from(100 + 2 * epoch, 2), verbose=0,
                                           return_dict=True)
            assert logs["val_loss"] == pytest.approx(expected["loss"], rel=1e-6)
            assert logs["val_accuracy"] == pytest.approx(expected["accuracy"])
            self.checked += 1

    kmodel, fmodel = compiled_twins()
    kwargs: dict[str, Any] = {"steps_per_epoch": 3, "validation_steps": 2, "epochs": 3,
                              "verbose": 0}
    keras_history = kmodel.fit(endless(), validation_data=endless(100), **kwargs).history
    check = ValidationContinues()
    history = fmodel.fit(endless(), validation_data=endless(100), callbacks=[check],
                         **kwargs).history
    assert check.checked == 3
    assert sorted(history) == sorted(keras_history)
    for key in ("loss", "accuracy"):
        np.testing.assert_allclose(history[key], keras_history[key], rtol=1e-5)
    for key in ("val_loss", "val_accuracy"):  # the first validation reads the same batches
        np.testing.assert_allclose(history[key][0], keras_history[key][0], rtol=1e-5)
    assert_weights_equal(fmodel, kmodel)


def finite_from(start: int, n: int) -> Iterator[Any]:
    for i in range(start, start + n):
        yield batch_for(i)


def test_finite_generator_defines_the_epoch_like_keras():
    kmodel, fmodel = compiled_twins()
    keras_history = kmodel.fit(finite(5), epochs=1, verbose=0)
    fitorch_history = fmodel.fit(finite(5), epochs=1, verbose=0)
    assert_history_equal(fitorch_history.history, keras_history.history)
    assert_weights_equal(fmodel, kmodel)


def test_evaluate_and_predict_on_generators_match_keras():
    kmodel, fmodel = compiled_twins()
    np.testing.assert_allclose(fmodel.evaluate(finite(4), verbose=0),
                               kmodel.evaluate(finite(4), verbose=0), rtol=1e-5)
    xs = [batch_for(i)[0] for i in range(3)]
    np.testing.assert_allclose(fmodel.predict(((x,) for x in xs), verbose=0),
                               kmodel.predict(((x,) for x in xs), verbose=0), rtol=1e-5,
                               atol=1e-6)


# --- SPEC.md: endless, finite, restarted -------------------------------------------------


def test_endless_generator_continues_across_epochs():
    data = Counted()
    history = small_model().fit(data, steps_per_epoch=2, epochs=3, verbose=0).history
    assert data.served == 6  # never restarted, never read ahead
    x, y = arrays_for(6)
    expected = small_model().fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    model = small_model()
    model.fit(x, y, batch_size=4, steps_per_epoch=2, epochs=3, shuffle=False, verbose=0)
    assert history["loss"] == model.history.history["loss"]
    assert expected.history["loss"] != history["loss"][:1]


def test_fit_then_evaluate_share_one_endless_generator():
    data = Counted()
    model = small_model()
    model.fit(data, steps_per_epoch=2, epochs=2, verbose=0)
    model.evaluate(data, steps=3, verbose=0)  # fit did not close the user's generator
    assert data.served == 7


def test_finite_generator_stops_training_with_a_warning():
    model = small_model()
    with pytest.warns(UserWarning, match=r"generator is exhausted: it was used up by epoch 1.*"
                                         r"training stops here \(2 of the requested epochs"):
        history = model.fit(finite(5), epochs=3, verbose=0).history
    assert len(history["loss"]) == 1
    x, y = arrays_for(5)
    expected = small_model().fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    assert history == expected.history


def test_exhausted_generator_is_flagged_for_the_trainer():
    iterator = EpochIterator(get_adapter(finite(3)))
    assert [step for step, _ in iterator.epoch()] == [0, 1, 2]
    assert iterator.exhausted
    assert not iterator.data_exhausted(epoch=0, epochs=1)  # nothing left to run: no warning
    with pytest.warns(UserWarning, match=r"used up by epoch 1.*\(4 of the requested epochs"):
        assert iterator.data_exhausted(epoch=0, epochs=5)
    with pytest.warns(UserWarning, match="ran out of data"):
        assert list(iterator.epoch()) == []


def test_callable_is_restarted_every_epoch():
    calls = []

    def fresh() -> Iterator[Any]:
        calls.append(1)
        return finite(5)

    history = small_model().fit(fresh, epochs=3, verbose=0).history
    assert len(calls) == 3
    x, y = arrays_for(5)
    expected = small_model().fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0).history
    assert history == expected


def test_callable_with_steps_continues_then_restarts():
    history = small_model().fit(lambda: finite(3), steps_per_epoch=2, epochs=3,
                                verbose=0).history
    x, y = arrays_for(3)
    expected = small_model().fit(x, y, batch_size=4, steps_per_epoch=2, epochs=3,
                                 shuffle=False, verbose=0).history
    assert history == expected


def test_x_only_batches_and_sample_weight_batches():
    x, y = arrays_for(4)
    model = small_model()
    np.testing.assert_array_equal(
        model.predict((batch_for(i)[0] for i in range(4)), verbose=0),
        model.predict(x, batch_size=4, verbose=0))
    sw = np.linspace(0.5, 2.0, 16).astype(np.float32)
    weighted = ((x[i:i + 4], y[i:i + 4], sw[i:i + 4]) for i in range(0, 16, 4))
    history = small_model().fit(weighted, verbose=0).history
    expected = small_model().fit(x, y, sample_weight=sw, batch_size=4, shuffle=False,
                                 verbose=0).history
    assert history == expected


def test_list_batches_and_float64_are_standardized():
    x, y = arrays_for(2)
    batches = [[x[:4].astype(np.float64), y[:4]], [x[4:].astype(np.float64), y[4:]]]
    history = small_model().fit(iter(batches), verbose=0).history
    expected = small_model().fit(x, y, batch_size=4, shuffle=False, verbose=0).history
    assert history == expected


@pytest.mark.parametrize("workers", [2, 4])
def test_worker_threads_give_the_same_history(workers):
    reference = small_model().fit(endless(), steps_per_epoch=3, epochs=2, verbose=0).history
    history = small_model().fit(endless(), steps_per_epoch=3, epochs=2, verbose=0,
                                workers=workers).history
    assert history == reference


def test_processes_asked_for_a_generator_get_a_thread_and_a_warning():
    reference = small_model().fit(finite(4), verbose=0).history
    with pytest.warns(UserWarning, match="does not apply to a Python generator.*background "
                                         "thread serves it"):
        history = small_model().fit(finite(4), verbose=0, workers=2,
                                    use_multiprocessing=True).history
    assert history == reference


def test_prefetch_thread_is_bounded_by_max_queue_size():
    data = Counted()
    adapter = get_adapter(data, workers=2, max_queue_size=3)
    ahead = []
    try:
        batches = adapter.batches()
        for consumed in range(1, 6):
            next(batches)
            time.sleep(0.05)
            ahead.append(data.served - consumed)
    finally:
        adapter.close()
    assert max(ahead) == 3


# --- class_weight for every kind of data ------------------------------------------------------


def _kinds() -> dict[str, Any]:
    x, y = arrays_for(5)
    return {
        "generator": lambda: finite(5),  # called per test: one fresh generator
        "callable": lambda: (lambda: finite(5)),
        "iterator": lambda: Counted(5),
        "sequence": lambda: DataSequence(5),
        "sequence-threads": lambda: DataSequence(5, workers=2),
        "sequence-processes": lambda: DataSequence(5, workers=2, use_multiprocessing=True),
        "dataset": lambda: SampleDataset(x, y),
        "iterable-dataset": lambda: SampleStream(x, y),
        "dataloader": lambda: DataLoader(SampleDataset(x, y), batch_size=4),
    }


@pytest.mark.parametrize("kind", list(_kinds()))
def test_class_weight_works_for_every_kind(kind):
    class_weight = {0: 0.5, 1: 2.0, 2: 3.0}
    x, y = arrays_for(5)
    sample_weight = np.array([class_weight[int(c)] for c in y], np.float32)
    as_weights = small_model().fit(x, y, sample_weight=sample_weight, batch_size=4, epochs=2,
                                   shuffle=False, verbose=0).history
    as_class_weight = small_model().fit(x, y, class_weight=class_weight, batch_size=4, epochs=2,
                                        shuffle=False, verbose=0).history
    assert as_class_weight == as_weights
    extra = {"batch_size": 4} if "dataset" in kind else {}
    epochs = 1 if kind in ("generator", "iterator") else 2  # one-shot: one pass of data
    history = small_model().fit(_kinds()[kind](), class_weight=class_weight, epochs=epochs,
                                shuffle=False, verbose=0, **extra).history
    np.testing.assert_allclose(history["loss"], as_weights["loss"][:epochs], rtol=1e-6)
    assert history["accuracy"] == as_weights["accuracy"][:epochs]


def test_class_weight_errors():
    x, y = batch_for(0)
    x_only = get_adapter(iter([x]), class_weight={0: 1.0})
    with pytest.raises(ValueError, match="`class_weight` needs targets"):
        list(x_only.batches())
    weighted = get_adapter(iter([(x, y, np.ones(4))]), class_weight={0: 1.0})
    with pytest.raises(ValueError, match="`class_weight` and `sample_weight` cannot be given"):
        list(weighted.batches())
    with pytest.raises(ValueError, match="`class_weight` keys must be integer class indices"):
        get_adapter(finite(1), class_weight={"a": 1.0})


def test_class_weight_labels_beyond_the_dict_weigh_one():
    adapter = get_adapter(iter([(torch.zeros(4, 2), torch.tensor([0, 1, 5, 2]))]),
                          class_weight={0: 2.0, 1: 3.0})
    (_, _, sw), = list(adapter.batches())
    torch.testing.assert_close(sw, torch.tensor([2.0, 3.0, 1.0, 1.0]))


# --- errors --------------------------------------------------------------------------------


def test_batch_size_y_and_sample_weight_with_a_generator_are_errors():
    with pytest.raises(ValueError, match=r"`batch_size` cannot be given when `x` is a generator"
                                         r", which makes its own batches.*batch_size=16"):
        small_model().fit(endless(), batch_size=16, steps_per_epoch=2, verbose=0)
    with pytest.raises(ValueError, match="`y` cannot be given when `x` is a generator"):
        small_model().fit(endless(), np.zeros(4), steps_per_epoch=2, verbose=0)
    with pytest.raises(ValueError, match=r"`batch_size` cannot be given when `x` is a DataLoa"):
        small_model().evaluate(DataLoader(SampleDataset(*arrays_for(1))), batch_size=4,
                               verbose=0)


def test_empty_generator_and_bad_callable():
    with pytest.raises(ValueError, match="The generator produced no batches"):
        small_model().fit(iter([]), verbose=0)
    with pytest.raises(TypeError, match="must return a generator or iterator of batches"):
        small_model().fit(lambda: 3, verbose=0)
    with pytest.raises(ValueError, match=r"must be `x`, `\(x,\)`, `\(x, y\)` or.*5 items"):
        small_model().fit(iter([(1, 2, 3, 4, 5)]), verbose=0)


def test_unknown_data_type_is_an_error():
    with pytest.raises(ValueError, match=r"Unrecognized data type for `x`.*a Python generator.*"
                                         r"Received: x=object \(of type object\)"):
        small_model().fit(object(), verbose=0)


def test_generator_adapter_is_one_shot_and_factory_is_not():
    one_shot = GeneratorAdapter(finite(2))
    assert not one_shot.reiterable and one_shot.num_batches is None
    assert len(list(one_shot.batches())) == 2
    assert list(one_shot.batches()) == []
    factory = GeneratorAdapter(lambda: finite(2))
    assert factory.reiterable
    assert len(list(factory.batches())) == len(list(factory.batches())) == 2


def test_no_warning_for_a_plain_fit_on_a_generator():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        small_model().fit(endless(), steps_per_epoch=2, epochs=2, verbose=0)
