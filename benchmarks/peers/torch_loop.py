"""The reference: a hand-written PyTorch loop, eager or with `torch.compile` on the model.

What a careful PyTorch user writes: pre-converted tensors, a random permutation per
epoch indexed once per batch, `zero_grad(set_to_none=True)`, loss and accuracy
accumulated as tensors and read once per epoch (no host-device sync per step).
The compiled variant is the same loop with `model = torch.compile(model)`, as the
torch.compile tutorial shows; its first epoch includes compilation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .workloads import LEARNING_RATE, Timer, Workload, torch_module


def run(w: Workload, x: np.ndarray, y: np.ndarray, epochs: int, compiled: bool = False
        ) -> dict[str, list[float]]:
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    module = torch_module(w)
    model: Any = torch.compile(module) if compiled else module
    timer = Timer()
    if w.task == "predict":
        module.eval()
        for _ in range(epochs):
            timer.begin()
            with torch.inference_mode():
                out = torch.cat([model(xt[i:i + w.batch_size])
                                 for i in range(0, len(xt), w.batch_size)])
            _ = out.numpy()  # the caller gets an array, as predict() returns
            timer.end()
        return timer.result()

    optimizer = torch.optim.Adam(module.parameters(), lr=LEARNING_RATE)
    n = len(xt)
    for _ in range(epochs):
        timer.begin()
        model.train()
        perm = torch.randperm(n)
        loss_sum = torch.zeros(())
        correct = torch.zeros((), dtype=torch.long)
        for i in range(0, n, w.batch_size):
            idx = perm[i:i + w.batch_size]
            xb, yb = xt[idx], yt[idx]
            out = model(xb)
            loss = F.cross_entropy(out, yb) if w.classifies else F.mse_loss(out, yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                loss_sum += loss.detach() * len(idx)
                if w.classifies:
                    correct += (out.argmax(-1) == yb).sum()
        # sync: once per epoch, the epoch's report.
        _ = float(loss_sum) / n, float(correct) / n
        timer.end()
    return timer.result()
