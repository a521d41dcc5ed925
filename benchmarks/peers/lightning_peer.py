"""PyTorch Lightning: a LightningModule, a DataLoader over a TensorDataset, `Trainer.fit`.

As Lightning's docs show: `training_step` returns the loss, metrics go through
`self.log(..., on_epoch=True)`, `configure_optimizers` returns `torch.optim.Adam`,
the `DataLoader` shuffles. Logger, checkpointing, progress bar and model summary are
off so that nothing but training is timed; `num_workers=0` (the data are in memory).
"""

from __future__ import annotations

from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from .workloads import LEARNING_RATE, Timer, Workload, torch_module


class LitModel(L.LightningModule):
    def __init__(self, w: Workload) -> None:
        super().__init__()
        self.net = torch_module(w)
        self.classifies = w.classifies

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        out = self.net(x)
        if self.classifies:
            loss = F.cross_entropy(out, y)
            acc = (out.argmax(-1) == y).float().mean()
            self.log("train_acc", acc, on_step=False, on_epoch=True)
        else:
            loss = F.mse_loss(out, y)
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        return loss

    def predict_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self.net(batch[0])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=LEARNING_RATE)


def run(w: Workload, x: np.ndarray, y: np.ndarray, epochs: int, seed: int = 0
        ) -> dict[str, list[float]]:
    L.seed_everything(seed, verbose=False)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    model = LitModel(w)
    timer = Timer()

    class EpochTimer(L.Callback):
        def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
            timer.begin()

        def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
            timer.end()

    trainer = L.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, callbacks=[EpochTimer()])
    if w.task == "predict":
        loader = DataLoader(TensorDataset(xt), batch_size=w.batch_size)
        for _ in range(epochs):
            timer.begin()
            trainer.predict(model, dataloaders=loader)
            timer.end()
        return timer.result()
    loader = DataLoader(TensorDataset(xt, yt), batch_size=w.batch_size, shuffle=True)
    trainer.fit(model, train_dataloaders=loader)
    return timer.result()
