"""predict() writes batches into preallocated arrays; odd cases fall back to concatenation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import fitorch as ft
from fitorch.prediction_buffer import PredictionBuffer


def test_rows_are_written_into_one_array_and_trimmed():
    buffer = PredictionBuffer(num_batches=3)
    batches = [torch.arange(8.0).reshape(4, 2) + 10 * i for i in range(2)] + [torch.ones(1, 2)]
    for b in batches:
        buffer.add(b)
    assert buffer.arrays is not None and buffer.arrays[0].shape == (12, 2)  # preallocated
    out = buffer.result()
    np.testing.assert_array_equal(out, torch.cat(batches).numpy())


def test_structures_keep_their_shape_and_dtypes():
    buffer = PredictionBuffer(num_batches=2)
    for i in range(2):
        buffer.add({"a": torch.full((3, 2), float(i)), "b": torch.full((3,), i, dtype=torch.long)})
    out = buffer.result()
    assert out["a"].shape == (6, 2) and out["b"].dtype == np.int64
    np.testing.assert_array_equal(out["b"], [0, 0, 0, 1, 1, 1])


@pytest.mark.parametrize("num_batches", [None, 2])
def test_unknown_sizes_and_overflows_fall_back_to_concatenation(num_batches):
    buffer = PredictionBuffer(num_batches=num_batches)
    batches = [torch.ones(2, 3), torch.zeros(5, 3), torch.full((1, 3), 2.0)]  # 2nd: too big
    for b in batches:
        buffer.add(b)
    assert buffer.arrays is None
    np.testing.assert_array_equal(buffer.result(), torch.cat(batches).numpy())


def test_predict_equals_the_module_on_the_whole_input():
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.Tanh())
    model = ft.Model(module)
    x = np.random.default_rng(0).normal(size=(103, 6)).astype(np.float32)
    out = model.predict(x, batch_size=10, verbose=0)
    assert out.shape == (103, 4) and out.flags["C_CONTIGUOUS"]
    with torch.no_grad():
        np.testing.assert_allclose(out, module(torch.from_numpy(x)).numpy(), rtol=1e-6)
