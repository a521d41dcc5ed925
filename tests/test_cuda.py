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


def test_array_batches_for_a_cuda_model_come_from_pinned_memory(classification_data):
    x, y = classification_data
    for shuffle in (True, False):
        adapter = ft.data.ArrayDataAdapter(x, y, batch_size=16, shuffle=shuffle)
        iterator = ft.data.EpochIterator(adapter, None, torch.device("cuda"))
        assert adapter.pin_memory
        host_batch = next(iter(adapter.batches()))
        assert all(t.is_pinned() for t in host_batch)
        _, device_batch = next(iter(iterator.epoch()))
        assert all(t.is_cuda for t in device_batch)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_shuffled_fit_on_cuda_matches_cpu(classification_data, jit_compile):
    x, y = classification_data
    torch.manual_seed(0)
    cpu_module = mlp()
    gpu_module = copy.deepcopy(cpu_module).cuda()
    results = []
    for module in (cpu_module, gpu_module):
        torch.manual_seed(1)  # the same shuffling order on both
        model = ft.Model(module)
        model.compile(optimizer="adam", loss=ft.losses.SparseCategoricalCrossentropy(
            from_logits=True), metrics=["accuracy"], jit_compile=jit_compile)
        history = model.fit(x, y, batch_size=16, epochs=3, shuffle=True, verbose=0)
        results.append((history.history, model.predict(x, batch_size=16, verbose=0)))
    (h_cpu, p_cpu), (h_gpu, p_gpu) = results
    for key in h_cpu:
        np.testing.assert_allclose(h_gpu[key], h_cpu[key], rtol=1e-4)
    np.testing.assert_allclose(p_gpu, p_cpu, rtol=1e-4, atol=1e-5)
