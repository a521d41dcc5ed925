"""`History`: recording as Keras 3, `plot()` and `to_dataframe()`."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras

from fitorch.callbacks.history import History

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class FakeModel:
    history: Any = None


def run_fit(history: Any, epochs: int, start: float = 1.0, val_every: int = 1) -> None:
    history.set_params({"verbose": 0, "epochs": epochs, "steps": 3})
    history.on_train_begin()
    for epoch in range(epochs):
        logs: dict[str, Any] = {"loss": start / (epoch + 1), "accuracy": 0.5 + 0.1 * epoch}
        if (epoch + 1) % val_every == 0:
            logs.update(val_loss=start / (epoch + 1) + 0.1, val_accuracy=0.4 + 0.1 * epoch)
        history.on_epoch_end(epoch, logs)
    history.on_train_end()


def test_records_like_keras() -> None:
    ours, theirs = History(), keras.callbacks.History()
    for h in (ours, theirs):
        h.set_model(FakeModel())
        run_fit(h, 3)
        run_fit(h, 2, start=2.0)  # the same History given to a second fit
    assert ours.history == theirs.history
    assert ours.history["loss"] == [1.0, 0.5, 1.0 / 3, 2.0, 1.0]  # kept across fits
    assert ours.epoch == theirs.epoch == [0, 1]  # reset by on_train_begin
    assert ours.params == {"verbose": 0, "epochs": 2, "steps": 3}
    assert ours.model.history is ours


def test_values_become_python_floats() -> None:
    history = History()
    history.on_train_begin()
    history.on_epoch_end(
        0, {"loss": torch.tensor(0.25), "acc": np.float32(0.5), "n": 3, "tag": "x"}
    )
    assert history.history == {"loss": [0.25], "acc": [0.5], "n": [3.0], "tag": ["x"]}
    assert all(type(v[0]) is float for k, v in history.history.items() if k != "tag")


def test_epoch_before_training_and_without_model() -> None:
    history = History()
    assert history.epoch == [] and history.history == {}
    history.on_epoch_end(0, None)  # no model, no logs: nothing breaks
    assert history.epoch == [0] and history.history == {}


def test_plot_writes_png(tmp_path: Path) -> None:
    history = History()
    run_fit(history, 4)
    path = tmp_path / "history.png"
    fig = history.plot(path=path)
    assert path.read_bytes()[:8] == PNG_MAGIC
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["loss", "accuracy"]
    loss_ax = axes[0]
    assert [line.get_label() for line in loss_ax.get_lines()] == ["train", "val"]
    assert list(loss_ax.get_lines()[0].get_xdata()) == [1, 2, 3, 4]  # 1-based epochs
    assert loss_ax.get_xlabel() == "epoch" and loss_ax.get_ylabel() == "loss"
    assert loss_ax.get_legend() is not None


def test_plot_selected_keys_and_sparse_validation(tmp_path: Path) -> None:
    history = History()
    run_fit(history, 6, val_every=2)
    fig = history.plot("loss")
    (ax,) = [ax for ax in fig.axes if ax.get_visible()]
    train, val = ax.get_lines()
    assert list(train.get_xdata()) == [1, 2, 3, 4, 5, 6]
    assert list(val.get_xdata()) == [2, 4, 6]  # validation every 2 epochs
    with pytest.raises(ValueError, match=r"No recorded values for 'f1'.*Received: keys="):
        history.plot(["loss", "f1"])
    with pytest.raises(TypeError, match=r"Received: keys=3 \(of type int\)"):
        history.plot(3)  # type: ignore[arg-type]


def test_plot_empty_history_raises() -> None:
    with pytest.raises(ValueError, match="no epoch has been recorded"):
        History().plot()


def test_plot_without_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    history = History()
    run_fit(history, 2)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import` fail
    with pytest.raises(ImportError, match="requires matplotlib"):
        history.plot()


def test_to_dataframe() -> None:
    history = History()
    run_fit(history, 4, val_every=2)
    frame = history.to_dataframe()
    assert list(frame.columns) == ["loss", "accuracy", "val_loss", "val_accuracy"]
    assert frame.index.name == "epoch" and list(frame.index) == [0, 1, 2, 3]
    assert frame["loss"].tolist() == [1.0, 0.5, 1.0 / 3, 0.25]
    assert math.isnan(frame.loc[0, "val_loss"]) and frame.loc[1, "val_loss"] == 0.6


def test_to_dataframe_after_two_fits_uses_positions() -> None:
    history = History()
    run_fit(history, 2)
    run_fit(history, 2)
    frame = history.to_dataframe()
    assert list(frame.index) == [0, 1, 2, 3]
    assert frame["loss"].tolist() == [1.0, 0.5, 1.0, 0.5]
