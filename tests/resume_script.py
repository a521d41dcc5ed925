"""A training script for the resume tests: run it, kill it, run it again.

    python resume_script.py DATA BACKUP_DIR OUT [KILL_AT]

DATA is "arrays", "sequence" (a Sequence on 2 worker processes), "dataloader" (a
shuffled torch DataLoader with 2 worker processes and random augmentation) or
"dataloader0" (the same loader without workers). With KILL_AT
the process SIGKILLs itself at that global batch (no clean-up of any kind). OUT
receives the final weights, optimizer state and History.

Environment: SAVE_FREQ (default 7; an int or "epoch"); KILL_IN_TEST=N dies at the
N-th validation batch end, KILL_AT_EPOCH_BEGIN=E when epoch E begins;
PLATEAU=1 adds ReduceLROnPlateau callbacks monitoring val_loss and val_accuracy
(a resumed run that mixes up training and validation metrics ends elsewhere).
"""

from __future__ import annotations

import json
import os
import signal
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))

import fitorch as ft
from fitorch.saving import codec
from fitorch.saving.safetensors_io import write_safetensors
from sequence_helpers import DataSequence, arrays_for


class KillAt(ft.callbacks.Callback):
    def __init__(self, at: int) -> None:
        super().__init__()
        self.at, self.seen = at, 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.at:
            os.kill(os.getpid(), signal.SIGKILL)


class KillInValidation(ft.callbacks.Callback):
    def __init__(self, at: int) -> None:
        super().__init__()
        self.at, self.seen = at, 0

    def on_test_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.at:
            os.kill(os.getpid(), signal.SIGKILL)


class KillAtEpochBegin(ft.callbacks.Callback):
    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            os.kill(os.getpid(), signal.SIGKILL)


class NoisyDataset(torch.utils.data.Dataset):
    """Samples with random noise added on every read (an augmentation that uses torch's RNG)."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):
        return self.x[i] + 0.1 * torch.randn(self.x.shape[1:]), self.y[i]


def kill_during_backup_write(which: int) -> None:
    """SIGKILL the process in the middle of writing backup number `which` (test hook)."""
    import fitorch.callbacks.backup_and_restore as bar

    original, calls = bar.write_safetensors, [0]

    def half_then_die(tensors, path, metadata=None):
        calls[0] += 1
        if calls[0] == which:
            with open(path, "wb") as f:
                f.write(b"\0" * 4096)  # a partial temporary file
                f.flush()
                os.fsync(f.fileno())
            os.kill(os.getpid(), signal.SIGKILL)
        original(tensors, path, metadata=metadata)

    bar.write_safetensors = half_then_die


def main() -> None:
    data, backup_dir, out = sys.argv[1:4]
    kill_at = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    if os.environ.get("KILL_IN_BACKUP_WRITE"):
        kill_during_backup_write(int(os.environ["KILL_IN_BACKUP_WRITE"]))
    torch.manual_seed(0)
    np.random.seed(0)
    torch.set_num_threads(1)
    model = ft.Sequential([
        ft.Input(shape=(8,)),
        ft.layers.Dense(16, activation="relu"),
        ft.layers.Dropout(0.3),
        ft.layers.Dense(3),
    ])
    model.compile(optimizer=ft.optimizers.Adam(learning_rate=0.01),
                  loss=ft.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], **json.loads(os.environ.get("RESUME_COMPILE", "{}")))
    callbacks: list[ft.callbacks.Callback] = [
        ft.callbacks.EarlyStopping(monitor="loss", patience=5),
    ]
    if os.environ.get("PLATEAU"):
        callbacks += [
            ft.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=0,
                                           min_delta=1e-3),
            ft.callbacks.ReduceLROnPlateau(monitor="val_accuracy", factor=0.7, patience=0,
                                           min_delta=1e-3),
        ]
    if kill_at:
        callbacks.append(KillAt(kill_at))
    if os.environ.get("KILL_IN_TEST"):
        callbacks.append(KillInValidation(int(os.environ["KILL_IN_TEST"])))
    if os.environ.get("KILL_AT_EPOCH_BEGIN"):
        callbacks.append(KillAtEpochBegin(int(os.environ["KILL_AT_EPOCH_BEGIN"])))
    if backup_dir != "-":
        freq = os.environ.get("SAVE_FREQ", "7")
        callbacks.append(ft.callbacks.BackupAndRestore(
            backup_dir, save_freq=freq if freq == "epoch" else int(freq)))
    if data == "arrays":
        x, y = arrays_for(10)
        history = model.fit(x, y, batch_size=6, epochs=3, shuffle=True, verbose=0,
                            validation_split=0.2, callbacks=callbacks)
    elif data.startswith("dataloader"):
        # A torch user's loader: shuffled, augmented with random noise (drawn in the worker
        # processes, or in this process with DATA=dataloader0), seeded per pass by torch.
        x, y = arrays_for(8)
        workers = 0 if data == "dataloader0" else 2
        loader = torch.utils.data.DataLoader(NoisyDataset(x, y), batch_size=6, shuffle=True,
                                             num_workers=workers)
        history = model.fit(loader, epochs=3, verbose=0, callbacks=callbacks)
    else:
        seq = DataSequence(9, batch=4, workers=2, use_multiprocessing=True)
        history = model.fit(seq, epochs=3, shuffle=True, verbose=0, callbacks=callbacks)
    tensors: dict[str, torch.Tensor] = {f"model/{k}": v for k, v in model.state_dict().items()}
    doc = codec.encode(model.optimizer.state_dict(), tensors, "optimizer")
    write_safetensors(tensors, out, metadata={
        "optimizer": json.dumps(doc), "history": json.dumps(history.history),
        "epoch": json.dumps(history.epoch)})


if __name__ == "__main__":
    main()
