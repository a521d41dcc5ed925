"""CUDA paths (batches moved with non_blocking copies, timing syncs): skipped without a GPU."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import fitorch as ft
from conftest import mlp

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_fit_on_cuda_matches_cpu(classification_data):
    x, y = classification_data
    torch.manual_seed(0)
    cpu_module = mlp()
    gpu_module = copy.deepcopy(cpu_module).cuda()
    results = []
    for module in (cpu_module, gpu_module):
        model = ft.Model(module)
        model.compile(optimizer="sgd", loss=ft.losses.SparseCategoricalCrossentropy(
            from_logits=True), metrics=["accuracy"])
        history = model.fit(x, y, epochs=2, shuffle=False, validation_split=0.2, verbose=0)
        results.append((history.history, model.predict(x, verbose=0)))
    (h_cpu, p_cpu), (h_gpu, p_gpu) = results
    for key in h_cpu:
        np.testing.assert_allclose(h_gpu[key], h_cpu[key], rtol=1e-4)
    np.testing.assert_allclose(p_gpu, p_cpu, rtol=1e-4, atol=1e-5)
