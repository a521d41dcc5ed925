"""Keras 2 aliases (fit_generator & co.) and how fit's worker arguments meet a Sequence's own."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import fitorch as ft
import fitorch.data as data_module
from sequence_helpers import DataSequence, arrays_for, batch_for


def compiled() -> ft.Model:
    torch.manual_seed(0)
    model = ft.Model(torch.nn.Linear(8, 3))
    model.compile(optimizer="sgd", loss=ft.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def endless(num_batches: int):
    while True:
        for i in range(num_batches):
            yield batch_for(i)


def test_fit_generator_equals_fit_and_warns():
    a, b = compiled(), compiled()
    h_fit = a.fit(endless(5), steps_per_epoch=5, epochs=2, verbose=0,
                  validation_data=DataSequence(3), shuffle=False)
    with pytest.warns(DeprecationWarning, match="`Model.fit_generator` is deprecated"):
        h_gen = b.fit_generator(endless(5), steps_per_epoch=5, epochs=2, verbose=0,
                                validation_data=DataSequence(3), shuffle=False)
    assert h_fit.history == h_gen.history
    x, y = arrays_for(5)
    with pytest.warns(DeprecationWarning, match="evaluate_generator"):
        assert b.evaluate_generator(DataSequence(5)) == pytest.approx(b.evaluate(x, y, verbose=0))
    with pytest.warns(DeprecationWarning, match="predict_generator"):
        out = b.predict_generator(DataSequence(5))
    np.testing.assert_allclose(out, b.predict(x, verbose=0), rtol=1e-6)


def test_sequence_workers_apply_unless_fit_is_given_workers(monkeypatch):
    seen = []
    original = data_module.get_adapter

    def spy(*args, **kwargs):
        seen.append((kwargs.get("workers"), kwargs.get("max_queue_size")))
        return original(*args, **kwargs)

    monkeypatch.setattr("fitorch.model.get_adapter", spy)
    model = compiled()
    model.fit(DataSequence(4, workers=2), epochs=1, verbose=0)
    model.fit(DataSequence(4, workers=2), epochs=1, verbose=0, workers=1, max_queue_size=3)
    assert seen == [(None, None), (1, 3)]
