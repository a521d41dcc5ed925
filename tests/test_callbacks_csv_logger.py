"""CSVLogger: the file Keras 3 writes, byte for byte; fit against Keras; resuming; errors."""

from __future__ import annotations

import copy
import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import fitorch as ft
from keras_twins import assert_close, keras, make_data, mlp_twins

SCCE = "sparse_categorical_crossentropy"
X, Y = make_data(103)


def write_both(tmp_path: Path, runs: list[list[dict[str, Any]]], **kwargs: Any
               ) -> tuple[bytes, bytes]:
    """Feed the same epoch logs to Keras's CSVLogger and to fitorch's; return both files.

    `runs` is one list of epoch logs per `fit` (each run: train begin, epochs, train end).
    """
    files = []
    for name, module in (("keras.csv", keras.callbacks), ("fitorch.csv", ft.callbacks)):
        path = tmp_path / name
        if "existing" in kwargs:
            path.write_bytes(kwargs["existing"])
        logger = module.CSVLogger(str(path), **{k: v for k, v in kwargs.items()
                                               if k != "existing"})
        for logs_per_epoch in runs:
            logger.on_train_begin()
            for epoch, logs in enumerate(logs_per_epoch):
                logger.on_epoch_end(epoch, copy.deepcopy(logs))
            logger.on_train_end()
        files.append(path.read_bytes())
    return files[0], files[1]


LOGS = [
    {"loss": 0.6931471824645996, "accuracy": 0.5, "val_loss": 0.7, "val_accuracy": 1 / 3},
    {"loss": 0.1 + 0.2, "accuracy": 1.0, "val_loss": 1e-08, "val_accuracy": float("nan")},
]


@pytest.mark.parametrize("runs, kwargs", [
    ([LOGS], {}),
    ([[{"loss": 0.25, "mae": 3}, {"loss": 0.125, "mae": 2.5}]], {}),  # no val_: NA columns
    ([LOGS, LOGS[:1]], {}),  # a second fit overwrites
    ([LOGS, LOGS[:1]], {"append": True}),  # a second fit appends, one header
    ([LOGS], {"separator": ";"}),
    ([LOGS], {"append": True, "existing": b"epoch,loss\r\n0,1.0\r\n"}),  # no second header
    ([LOGS], {"append": True, "existing": b""}),  # empty file: a header
    ([[{"loss": np.float32(0.5), "vector": np.array([1.5, 2.0]), "zero_d": np.array(3.25),
        "text": "a,b", "items": [1, 2]}]], {}),
])
def test_file_is_byte_for_byte_keras(tmp_path: Path, runs: list, kwargs: dict) -> None:
    keras_bytes, fitorch_bytes = write_both(tmp_path, runs, **kwargs)
    assert fitorch_bytes == keras_bytes
    assert b"\r\n" in fitorch_bytes


def test_fit_writes_keras_file(tmp_path: Path) -> None:
    kmodel, fmodel = mlp_twins(3, "softmax")
    for model in (kmodel, fmodel):
        model.compile(optimizer="adam", loss=SCCE, metrics=["accuracy"])
    seen: list[dict[str, Any]] = []
    kmodel.fit(X, Y, epochs=3, shuffle=False, verbose=0, validation_split=0.2,
               callbacks=[keras.callbacks.CSVLogger(str(tmp_path / "k.csv"))])
    fmodel.fit(X, Y, epochs=3, shuffle=False, verbose=0, validation_split=0.2,
               callbacks=[ft.callbacks.CSVLogger(tmp_path / "f.csv"),
                          ft.callbacks.LambdaCallback(
                              on_epoch_end=lambda epoch, logs: seen.append(dict(logs)))])
    keras_rows = list(csv.reader((tmp_path / "k.csv").read_text().splitlines()))
    fitorch_rows = list(csv.reader((tmp_path / "f.csv").read_text().splitlines()))
    assert fitorch_rows[0] == keras_rows[0] == [
        "epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [r[0] for r in fitorch_rows[1:]] == ["0", "1", "2"]
    assert_close([[float(v) for v in r] for r in fitorch_rows[1:]],
                 [[float(v) for v in r] for r in keras_rows[1:]])
    # fitorch's own epoch logs through Keras's logger give fitorch's file exactly.
    keras_bytes, _ = write_both(tmp_path, [seen])
    assert (tmp_path / "f.csv").read_bytes() == keras_bytes


def test_resume_after_interruption_leaves_the_uninterrupted_file(tmp_path: Path) -> None:
    def model_and_data() -> ft.Model:
        model = mlp_twins(3, "softmax")[1]
        model.compile(optimizer=ft.optimizers.Adam(0.01), loss=SCCE, metrics=["accuracy"])
        return model

    def run(model: ft.Model, logger: ft.callbacks.CSVLogger, **kwargs: Any) -> None:
        model.fit(X, Y, shuffle=False, verbose=0, validation_split=0.2, callbacks=[logger],
                  **kwargs)

    run(model_and_data(), ft.callbacks.CSVLogger(tmp_path / "whole.csv"), epochs=5)

    model = model_and_data()
    logger = ft.callbacks.CSVLogger(tmp_path / "resumed.csv")
    backup: list[Any] = []

    def take_backup(epoch: int, logs: Any) -> None:  # what BackupAndRestore keeps
        if epoch == 2:
            backup.extend([copy.deepcopy(model.state_dict()),
                           copy.deepcopy(model.optimizer.state_dict()), logger.state_dict()])

    model.fit(X, Y, epochs=4, shuffle=False, verbose=0, validation_split=0.2,
              callbacks=[logger, ft.callbacks.LambdaCallback(on_epoch_end=take_backup)])
    # Epoch 3 was logged after the backup, then the process "crashed".
    assert len((tmp_path / "resumed.csv").read_text().splitlines()) == 5

    model.load_state_dict(backup[0])  # what BackupAndRestore restores
    model.optimizer.load_state_dict(backup[1])
    resumed_logger = ft.callbacks.CSVLogger(tmp_path / "resumed.csv")  # append=False
    resumed_logger.load_state_dict(backup[2])
    run(model, resumed_logger, epochs=5, initial_epoch=3)
    assert (tmp_path / "resumed.csv").read_bytes() == (tmp_path / "whole.csv").read_bytes()


def test_state_loaded_from_a_later_callback_on_train_begin_still_appends(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_bytes(b"epoch,loss,val_loss\r\n0,1.0,NA\r\n1,0.5,NA\r\n")
    logger = ft.callbacks.CSVLogger(path)
    loader = ft.callbacks.LambdaCallback(
        on_train_begin=lambda logs: logger.load_state_dict({"keys": ["loss", "val_loss"]}))
    logger.on_train_begin(None)
    loader.on_train_begin(None)
    logger.on_epoch_end(1, {"loss": 0.25})
    logger.on_train_end()
    assert path.read_bytes() == b"epoch,loss,val_loss\r\n0,1.0,NA\r\n1,0.25,NA\r\n"


@pytest.mark.parametrize("kwargs, error, match", [
    ({"filename": 3}, TypeError, "filename=3"),
    ({"filename": "x.csv", "separator": ""}, ValueError, "separator=''"),
    ({"filename": "x.csv", "separator": "::"}, ValueError, "separator='::'"),
    ({"filename": "x.csv", "append": "yes"}, ValueError, "append='yes'"),
])
def test_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        ft.callbacks.CSVLogger(**kwargs)
