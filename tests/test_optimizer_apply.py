"""Keras 3's `optimizer.apply(grads, vars)` and `apply_gradients(zip(grads, vars))`."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras

import fitorch as ft


def _params(seed: int = 0) -> list[torch.nn.Parameter]:
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(3, 2, generator=g)),
            torch.nn.Parameter(torch.randn(2, generator=g))]


def _grads(step: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(100 + step)
    return [torch.randn(3, 2, generator=g), torch.randn(2, generator=g)]


@pytest.mark.parametrize("make", [
    lambda: ft.optimizers.SGD(learning_rate=0.1, momentum=0.9),
    lambda: ft.optimizers.Adam(learning_rate=0.01, clipnorm=0.5),
    lambda: ft.optimizers.AdamW(learning_rate=0.01, weight_decay=0.1),
])
@pytest.mark.parametrize("spelling", ["apply", "apply_gradients"])
def test_apply_equals_step_and_builds_on_first_use(make, spelling):
    by_step, by_apply = _params(), _params()
    stepped, applied = make(), make()
    stepped.build(by_step)
    assert not applied.built
    for i in range(3):
        for p, g in zip(by_step, _grads(i)):
            p.grad = g.clone()
        stepped.step()
        grads = [g.clone() for g in _grads(i)]
        if spelling == "apply":
            applied.apply(grads, by_apply)
        else:
            applied.apply_gradients(zip(grads, by_apply))
    assert applied.built and applied.iterations == stepped.iterations == 3
    for a, b in zip(by_apply, by_step):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert all(p.grad is None for p in by_apply)  # apply() reads the given grads only


def test_apply_matches_keras_adam():
    values = [np.asarray(p.detach()) for p in _params()]
    kvars = [keras.Variable(v) for v in values]
    kopt = keras.optimizers.Adam(learning_rate=0.01)
    params = [torch.nn.Parameter(torch.from_numpy(v.copy())) for v in values]
    opt = ft.optimizers.Adam(learning_rate=0.01)
    for i in range(3):
        kopt.apply([keras.ops.convert_to_tensor(g.numpy()) for g in _grads(i)], kvars)
        opt.apply(_grads(i), params)
    for p, v in zip(params, kvars):
        np.testing.assert_allclose(p.detach().numpy(), keras.ops.convert_to_numpy(v),
                                   rtol=1e-6, atol=1e-7)


def test_apply_without_variables_follows_the_built_order_and_skips_none():
    params = _params()
    before = [p.detach().clone() for p in params]
    opt = ft.optimizers.SGD(params, learning_rate=0.5)
    params[1].grad = torch.ones(2)  # a stale gradient: apply() must not use it
    opt.apply([torch.ones(3, 2), None])
    torch.testing.assert_close(params[0].detach(), before[0] - 0.5)
    torch.testing.assert_close(params[1].detach(), before[1])
    assert opt.iterations == 1


def test_apply_errors():
    params = _params()
    opt = ft.optimizers.SGD(learning_rate=0.1)
    with pytest.raises(ValueError, match="one gradient per variable"):
        opt.apply(_grads(0)[:1], params)
    assert not opt.built  # nothing changed by the failed call
    opt.build(params)
    other = torch.nn.Parameter(torch.zeros(4))
    with pytest.raises(ValueError, match="not built with"):
        opt.apply([torch.ones(4)], [other])
    assert torch.count_nonzero(other) == 0 and opt.iterations == 0
