"""Programs a PyTorch user writes, each against the hand-written torch loop it replaces.

Same initial weights, same data order (`shuffle=False`), same torch optimizer: the
weights after `fit` and the per-epoch losses must equal the hand loop's.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import safetensors.torch
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import fitorch as ft

BATCH = 32


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(size=(100, 8)).astype("float32")) * 2 + 1
    y = torch.from_numpy(rng.integers(0, 3, size=100))
    return x, y


def _mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))


def _hand_loop(net: nn.Module, opt: torch.optim.Optimizer, epochs: int, *,
               class_weight: torch.Tensor | None = None,
               scheduler: Any = None) -> list[float]:
    """The loop a PyTorch user writes; returns the sample-weighted mean loss per epoch."""
    x, y = _data()
    losses = []
    for _ in range(epochs):
        total = 0.0
        for start in range(0, len(x), BATCH):
            xb, yb = x[start:start + BATCH], y[start:start + BATCH]
            opt.zero_grad()
            if class_weight is None:
                loss = F.cross_entropy(net(xb), yb)
            else:  # Keras's weighting: sum of weighted sample losses / batch size
                per_sample = F.cross_entropy(net(xb), yb, reduction="none")
                loss = (per_sample * class_weight[yb]).sum() / len(yb)
            loss.backward()
            opt.step()
            total += loss.item() * len(yb)
        if scheduler is not None:
            scheduler.step()
        losses.append(total / len(x))
    return losses


def _assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-6, msg=name)


def test_module_with_cross_entropy_loss_and_a_dataloader():
    hand = _mlp()
    expected = _hand_loop(hand, torch.optim.SGD(hand.parameters(), lr=0.1, momentum=0.9), 3)
    net = _mlp()
    model = ft.Model(net)
    model.compile(optimizer=torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9),
                  loss=nn.CrossEntropyLoss())
    history = model.fit(DataLoader(TensorDataset(*_data()), batch_size=BATCH, shuffle=False),
                        epochs=3, verbose=0)
    np.testing.assert_allclose(history.history["loss"], expected, rtol=1e-5)
    _assert_same_weights(net, hand)


def test_class_weight_with_a_torch_loss():
    class_weight = {0: 1.0, 1: 2.0, 2: 0.5}
    hand = _mlp()
    expected = _hand_loop(hand, torch.optim.Adam(hand.parameters(), lr=0.01), 2,
                          class_weight=torch.tensor([1.0, 2.0, 0.5]))
    net = _mlp()
    model = ft.Model(net)
    model.compile(optimizer=torch.optim.Adam(net.parameters(), lr=0.01),
                  loss=nn.CrossEntropyLoss())
    x, y = _data()
    history = model.fit(x.numpy(), y.numpy(), class_weight=class_weight, batch_size=BATCH,
                        epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["loss"], expected, rtol=1e-5)
    _assert_same_weights(net, hand)


@pytest.mark.parametrize("form", ["function", "torch_scheduler"])
def test_learning_rate_schedule(form: str):
    hand = _mlp()
    opt = torch.optim.SGD(hand.parameters(), lr=0.1)
    expected = _hand_loop(hand, opt, 3,
                          scheduler=torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5))
    net = _mlp()
    model = ft.Model(net)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    model.compile(optimizer=opt, loss=nn.CrossEntropyLoss())
    schedule: Any = (lambda epoch, lr: 0.1 * 0.5 ** epoch) if form == "function" else \
        torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    x, y = _data()
    history = model.fit(x.numpy(), y.numpy(), batch_size=BATCH, epochs=3, shuffle=False,
                        verbose=0, callbacks=[ft.callbacks.LearningRateScheduler(schedule)])
    np.testing.assert_allclose(history.history["loss"], expected, rtol=1e-5)
    np.testing.assert_allclose(history.history["learning_rate"], [0.1, 0.05, 0.025])
    _assert_same_weights(net, hand)


class _Classifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(),
                                      nn.Dropout(0.5))
        self.head = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


def _pretrained_frozen() -> _Classifier:
    torch.manual_seed(0)
    net = _Classifier()
    with torch.no_grad():  # statistics a pretrained backbone would carry
        net.backbone[1].running_mean.uniform_(-1, 1)
        net.backbone[1].running_var.uniform_(0.5, 2.0)
    net.backbone.requires_grad_(False)
    net.backbone.eval()
    return net


def test_frozen_pretrained_backbone_in_eval_mode_then_plain_torch_load(tmp_path: Path):
    hand = _pretrained_frozen()
    expected = _hand_loop(hand, torch.optim.Adam(hand.head.parameters(), lr=0.01), 2)
    net = _pretrained_frozen()
    statistics = copy.deepcopy(net.backbone.state_dict())
    model = ft.Model(net)
    model.compile(optimizer=torch.optim.Adam(net.head.parameters(), lr=0.01),
                  loss=nn.CrossEntropyLoss())
    x, y = _data()
    history = model.fit(x.numpy(), y.numpy(), batch_size=BATCH, epochs=2, shuffle=False,
                        verbose=0)
    model.evaluate(x.numpy(), y.numpy(), verbose=0)
    model.predict(x.numpy(), verbose=0)
    np.testing.assert_allclose(history.history["loss"], expected, rtol=1e-5)
    _assert_same_weights(net, hand)
    for key, value in net.backbone.state_dict().items():
        assert torch.equal(value, statistics[key]), key
    assert (net.training, net.backbone.training, net.head.training) == (True, False, True)

    # The weights file is the module's own state_dict: plain torch loads it.
    model.save_weights(tmp_path / "classifier.safetensors")
    plain = _Classifier()
    plain.load_state_dict(safetensors.torch.load_file(tmp_path / "classifier.safetensors"))
    plain.eval()
    net.eval()
    torch.testing.assert_close(plain(x), net(x), rtol=0, atol=0)


def _compiled_mlp() -> ft.Model:
    net = _mlp()
    model = ft.Model(net)
    model.compile(optimizer=torch.optim.AdamW(net.parameters(), lr=0.01),
                  loss=nn.CrossEntropyLoss(), metrics=["accuracy"])
    return model


def test_model_checkpoint_reload_and_continue(tmp_path: Path):
    x, y = _data()
    fit_args: dict[str, Any] = {"batch_size": BATCH, "shuffle": False, "verbose": 0}
    uninterrupted = _compiled_mlp()
    expected = uninterrupted.fit(x.numpy(), y.numpy(), epochs=4, **fit_args).history

    first = _compiled_mlp()
    first.fit(x.numpy(), y.numpy(), epochs=2, **fit_args,
              callbacks=[ft.callbacks.ModelCheckpoint(str(tmp_path / "ck-{epoch:02d}.fitorch"))])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck-01.fitorch", "ck-02.fitorch"]
    torch.manual_seed(1)  # different initial weights: everything must come from the file
    shell = ft.Model(nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3)))
    resumed = ft.load_model(tmp_path / "ck-02.fitorch", model=shell)
    assert resumed.compiled and isinstance(resumed.optimizer, torch.optim.AdamW)
    history = resumed.fit(x.numpy(), y.numpy(), epochs=4, initial_epoch=2, **fit_args).history
    for key in expected:
        np.testing.assert_allclose(history[key], expected[key][2:], rtol=1e-6, err_msg=key)
    _assert_same_weights(resumed, uninterrupted)
