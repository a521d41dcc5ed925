"""Oracle: fit() for N steps gives bit-identical weights to a hand-written PyTorch loop."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import fitorch as ft
from conftest import mlp


def hand_loop(module: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: int,
              batch_size: int, shuffle: bool, make_opt) -> torch.nn.Module:
    opt = make_opt(module.parameters())
    n = x.shape[0]
    module.train()
    for _ in range(epochs):
        order = torch.randperm(n) if shuffle else torch.arange(n)
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            opt.zero_grad()
            loss = F.cross_entropy(module(x[idx]), y[idx])
            loss.backward()
            opt.step()
    return module


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("make_opt", [
    lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
    lambda p: torch.optim.Adam(p, lr=1e-3),
], ids=["sgd-momentum", "adam"])
def test_fit_matches_hand_written_loop_bit_for_bit(classification_data, shuffle, make_opt):
    x_np, y_np = classification_data
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
    torch.manual_seed(1)
    reference = mlp(dropout=0.25)
    ours = copy.deepcopy(reference)

    torch.manual_seed(2)
    hand_loop(reference, x, y, epochs=3, batch_size=16, shuffle=shuffle, make_opt=make_opt)

    model = ft.Model(ours)
    model.compile(optimizer=make_opt(ours.parameters()),
                  loss=ft.losses.SparseCategoricalCrossentropy(from_logits=True))
    torch.manual_seed(2)
    model.fit(x_np, y_np, batch_size=16, epochs=3, shuffle=shuffle, verbose=0)

    for a, b in zip(reference.state_dict().values(), ours.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_fit_loss_history_is_the_sample_weighted_mean_of_batch_losses(classification_data):
    x_np, y_np = classification_data
    torch.manual_seed(3)
    reference = mlp()
    ours = copy.deepcopy(reference)
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
    opt = torch.optim.SGD(reference.parameters(), lr=0.05)
    total, count = 0.0, 0
    for start in range(0, len(x), 32):
        xb, yb = x[start:start + 32], y[start:start + 32]
        opt.zero_grad()
        loss = F.cross_entropy(reference(xb), yb)
        loss.backward()
        opt.step()
        total += loss.item() * len(xb)
        count += len(xb)
    model = ft.Model(ours)
    model.compile(optimizer=torch.optim.SGD(ours.parameters(), lr=0.05),
                  loss=ft.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x_np, y_np, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["loss"][0], total / count, rtol=1e-6)
