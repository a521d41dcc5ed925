"""The train step on CUDA: bf16-mixed and 16-mixed, and the CUDA-graph path with gradient
accumulation. Skipped without a GPU."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import fitorch as ft
from conftest import mlp

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
SCCE = ft.losses.SparseCategoricalCrossentropy(from_logits=True)


@pytest.mark.parametrize("precision, dtype", [("bf16-mixed", torch.bfloat16),
                                              ("16-mixed", torch.float16)])
def test_mixed_precision_on_cuda_trains_like_float32(classification_data, precision, dtype):
    x, y = classification_data
    results = {}
    for mode in ("32", precision):
        torch.manual_seed(0)
        model = ft.Model(mlp().cuda())
        model.compile(optimizer="adam", loss=SCCE, metrics=["accuracy"], precision=mode)
        seen = set()
        model.module[0].register_forward_hook(lambda m, a, out, seen=seen: seen.add(out.dtype))
        history = model.fit(x, y, batch_size=16, epochs=5, shuffle=False, verbose=0)
        assert seen == {torch.float32 if mode == "32" else dtype}
        results[mode] = history.history
    np.testing.assert_allclose(results[precision]["loss"], results["32"]["loss"], atol=3e-2)
    if precision == "16-mixed":
        assert model.make_train_function().scaler.get_scale() > 0


def test_cuda_graph_path_with_accumulation_equals_one_big_batch(classification_data):
    x, y = classification_data
    x, y = x[:96], y[:96]
    torch.manual_seed(0)
    big = ft.Model(mlp().cuda())
    small = copy.deepcopy(big)
    big.compile(optimizer="sgd", loss=SCCE, jit_compile=True)
    small.compile(optimizer="sgd", loss=SCCE, jit_compile=True, gradient_accumulation_steps=4)
    big.fit(x, y, batch_size=32, epochs=3, shuffle=False, verbose=0)
    small.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    graph = small._compiled_train_step()
    assert graph.cuda_graphs and graph.calls > 0
    for p, q in zip(big.parameters(), small.parameters(), strict=True):
        torch.testing.assert_close(q, p, rtol=1e-5, atol=1e-5)
