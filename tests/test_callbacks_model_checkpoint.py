"""ModelCheckpoint: differential against Keras 3, loading what it saved, state, errors.

Fit-level differential tests run twin models (same weights, same data, no
shuffling) with Keras's callback and fitorch's writing into two directories,
then compare which files exist (names formatted from the epoch, the batch and
the logs), the verbose text, and the weights the files hold.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import fitorch as ft
from fitorch.callbacks.callback import overrides
from keras_twins import assert_close, keras, make_data, mlp_twins

SCCE = "sparse_categorical_crossentropy"
X, Y = make_data(103)


def twins(lr: float = 0.05) -> tuple[Any, Any]:
    kmodel, fmodel = mlp_twins(3, "softmax")
    kmodel.compile(optimizer=keras.optimizers.Adam(lr), loss=SCCE, metrics=["accuracy"])
    fmodel.compile(optimizer=ft.optimizers.Adam(lr), loss=SCCE, metrics=["accuracy"])
    return kmodel, fmodel


def fit(model: Any, callbacks: list[Any], epochs: int = 6, **kwargs: Any) -> Any:
    kwargs.setdefault("validation_split", 0.2)
    return model.fit(X, Y, epochs=epochs, shuffle=False, verbose=0, callbacks=callbacks,
                     **kwargs)


def listing(directory: Path, suffix: str = "") -> list[str]:
    """File names in `directory` without `suffix` (nothing else may be there: no temp files)."""
    names = sorted(os.listdir(directory)) if directory.exists() else []
    assert all(name.endswith(suffix) for name in names), names
    return [name[: len(name) - len(suffix)] if suffix else name for name in names]


def run_both(tmp_path: Path, capsys: pytest.CaptureFixture[str], pattern: str,
             keras_suffix: str, fitorch_suffix: str, fit_kwargs: dict[str, Any] | None = None,
             **config: Any) -> tuple[Any, Any, str, str]:
    """Fit the twins with each framework's ModelCheckpoint; return the callbacks and outputs."""
    kmodel, fmodel = twins()
    kcb = keras.callbacks.ModelCheckpoint(str(tmp_path / "k" / (pattern + keras_suffix)),
                                          **config)
    fcb = ft.callbacks.ModelCheckpoint(str(tmp_path / "f" / (pattern + fitorch_suffix)),
                                       **config)
    capsys.readouterr()
    fit(kmodel, [kcb], **(fit_kwargs or {}))
    keras_out = capsys.readouterr().out.replace(str(tmp_path / "k"), "DIR")
    fit(fmodel, [fcb], **(fit_kwargs or {}))
    fitorch_out = capsys.readouterr().out.replace(str(tmp_path / "f"), "DIR")
    return kcb, fcb, keras_out.replace(keras_suffix, "SUFFIX"), fitorch_out.replace(
        fitorch_suffix, "SUFFIX")


# --- which files, named how: differential --------------------------------------------


@pytest.mark.parametrize("config, saved", [
    ({"monitor": "val_loss", "save_best_only": True}, ["01", "02", "03", "04", "05"]),
    ({"monitor": "val_accuracy", "save_best_only": True}, None),  # "auto": accuracy goes up
    ({"monitor": "loss", "mode": "max", "save_best_only": True}, ["01"]),
    ({"monitor": "val_loss", "save_best_only": True, "initial_value_threshold": 0.5},
     ["04", "05"]),
    ({"save_best_only": False}, ["01", "02", "03", "04", "05", "06"]),
])
@pytest.mark.parametrize("weights_only", [True, False])
def test_epoch_files_and_messages_match_keras(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str],
                                               config: dict, saved: list[str] | None,
                                               weights_only: bool) -> None:
    suffixes = (".weights.h5", ".weights.h5") if weights_only else (".keras", ".fitorch")
    kcb, fcb, keras_out, fitorch_out = run_both(
        tmp_path, capsys, "{epoch:02d}-{val_loss:.3f}", *suffixes, verbose=1,
        save_weights_only=weights_only, **config)
    keras_files = listing(tmp_path / "k", suffixes[0])
    fitorch_files = listing(tmp_path / "f", suffixes[1])
    assert fitorch_files == keras_files
    if saved is not None:
        assert [name[:2] for name in fitorch_files] == saved
    assert fitorch_out == keras_out
    assert "finished saving model to DIR/" in fitorch_out
    if kcb.best is None:
        assert fcb.best is None
    else:
        assert fcb.best == pytest.approx(kcb.best, rel=1e-4)


def test_verbose_text_is_keras_s(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, fcb, keras_out, fitorch_out = run_both(
        tmp_path, capsys, "best", ".weights.h5", ".weights.h5", verbose=1,
        save_best_only=True, save_weights_only=True, fit_kwargs={"epochs": 7})
    assert fitorch_out == keras_out
    lines = [line for line in fitorch_out.split("\n") if line]
    assert lines[0].startswith("Epoch 1: val_loss improved from None to 0.8")
    assert lines[0].endswith(", saving model to DIR/bestSUFFIX")
    assert lines[1] == "Epoch 1: finished saving model to DIR/bestSUFFIX"
    assert lines[-1] == f"Epoch 7: val_loss did not improve from {fcb.best:.5f}"
    assert listing(tmp_path / "f") == ["best.weights.h5"]  # overwritten in place


@pytest.mark.filterwarnings("ignore:Callback method `on_train_batch_end` is slow")
@pytest.mark.parametrize("save_freq, batch_size", [
    (4, 16),   # 6 batches per epoch: saves cross epoch boundaries
    (6, 16),   # once per epoch, at its last batch
    (1, 32),   # every batch, a partial one included
])
def test_batch_level_saving_counts_batches_as_keras(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str],
                                                    save_freq: int, batch_size: int) -> None:
    kcb, fcb, keras_out, fitorch_out = run_both(
        tmp_path, capsys, "{epoch:02d}-{batch:02d}", ".weights.h5", ".weights.h5",
        fit_kwargs={"epochs": 3, "batch_size": batch_size}, save_freq=save_freq,
        save_weights_only=True, verbose=1)
    fitorch_files = listing(tmp_path / "f", ".weights.h5")
    assert fitorch_files == listing(tmp_path / "k", ".weights.h5")
    assert len(fitorch_files) >= 3
    assert fitorch_out == keras_out
    assert fcb._batches_seen_since_last_saving == kcb._batches_seen_since_last_saving
    assert fcb._last_batch_seen == kcb._last_batch_seen


class KerasCheckpointWithDirection(keras.callbacks.ModelCheckpoint):
    """Keras settles "min"/"max" at the first epoch end only, so a second batch-level
    best-only check crashes there ('NoneType' object is not callable); fitorch settles
    it at the first check. For the comparison, Keras gets it at the start."""

    def on_train_begin(self, logs: Any = None) -> None:
        self._set_monitor_op()


def test_batch_level_best_only_on_the_running_loss(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    config = {"save_freq": 2, "monitor": "loss", "save_best_only": True,
              "save_weights_only": True, "verbose": 1}
    pattern = "{epoch}-{batch}-{loss:.2f}.weights.h5"
    kmodel, fmodel = twins()
    kcb = KerasCheckpointWithDirection(str(tmp_path / "k" / pattern), **config)
    fcb = ft.callbacks.ModelCheckpoint(str(tmp_path / "f" / pattern), **config)
    capsys.readouterr()
    fit(kmodel, [kcb], epochs=3, batch_size=16)
    keras_out = capsys.readouterr().out.replace(str(tmp_path / "k"), "DIR")
    fit(fmodel, [fcb], epochs=3, batch_size=16)
    fitorch_out = capsys.readouterr().out.replace(str(tmp_path / "f"), "DIR")
    assert listing(tmp_path / "f") == listing(tmp_path / "k")
    assert fitorch_out == keras_out
    assert fitorch_out.count("did not improve") == 5
    assert fitorch_out.count("finished saving") == 4
    assert fcb.best == pytest.approx(kcb.best, rel=1e-4)


def test_best_carries_over_to_a_second_fit_as_in_keras(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    kmodel, fmodel = twins()
    config = {"save_best_only": True, "save_weights_only": True, "verbose": 1}
    kcb = keras.callbacks.ModelCheckpoint(str(tmp_path / "k" / "{epoch}.weights.h5"), **config)
    fcb = ft.callbacks.ModelCheckpoint(str(tmp_path / "f" / "{epoch}.weights.h5"), **config)
    outputs = []
    for model, cb, name in ((kmodel, kcb, "k"), (fmodel, fcb, "f")):
        capsys.readouterr()
        fit(model, [cb], epochs=5)
        # A harder validation set: its loss is higher than the best of the first fit.
        model.fit(X[::-1], (Y[::-1] + 1) % 3, epochs=2, shuffle=False, verbose=0,
                  validation_split=0.2, callbacks=[cb])
        outputs.append(capsys.readouterr().out.replace(str(tmp_path / name), "DIR"))
    assert outputs[1] == outputs[0]
    assert listing(tmp_path / "f") == listing(tmp_path / "k") == [
        f"{e}.weights.h5" for e in range(1, 6)]


class SaveRecorder(torch.nn.Module):
    """A model stand-in that records where each framework's callback saves."""

    def __init__(self) -> None:
        super().__init__()
        self.saved: list[str] = []
        self.metrics: list[Any] = []
        self.stop_training = False

    def save_weights(self, filepath: str, overwrite: bool = True) -> None:
        self.saved.append(os.path.basename(filepath))


@pytest.mark.parametrize("ends, save_freq", [
    ([1, 3, 5, 6], 5),      # steps_per_execution=2 over 7 batches: ends 1, 3, 5, 6
    ([2, 5, 8], 4),         # steps_per_execution=3
    ([0, 1, 2, 3, 4], 3),   # one batch per execution
    ([4, 9], 7),            # steps_per_execution=5
])
def test_batch_counting_with_steps_per_execution_matches_keras(ends: list[int],
                                                               save_freq: int) -> None:
    # Keras's torch backend refuses steps_per_execution > 1, so this compares at hook
    # level: the batch ends fitorch's loop reports, fed to both callbacks.
    config = {"save_freq": save_freq, "save_weights_only": True}
    kcb = keras.callbacks.ModelCheckpoint("{epoch}-{batch}.weights.h5", **config)
    fcb = ft.callbacks.ModelCheckpoint("{epoch}-{batch}.weights.h5", **config)
    kmodel, fmodel = SaveRecorder(), SaveRecorder()
    kcb.set_model(kmodel)
    fcb.set_model(fmodel)
    fcb.on_train_begin()
    for epoch in range(4):
        for cb in (kcb, fcb):
            cb.on_epoch_begin(epoch)
        for end in ends:
            kcb.on_train_batch_end(end, {"loss": 1.0})
            fcb.on_train_batch_end(end, {"loss": 1.0})
            assert (fcb._batches_seen_since_last_saving, fcb._last_batch_seen) == (
                kcb._batches_seen_since_last_saving, kcb._last_batch_seen)
    assert fmodel.saved == kmodel.saved
    assert len(fmodel.saved) >= 2


def test_steps_per_execution_saves_where_the_hook_level_count_says(tmp_path: Path) -> None:
    model = fresh_fitorch()
    model.compile(optimizer="adam", loss=SCCE, steps_per_execution=2)
    cb = ft.callbacks.ModelCheckpoint(str(tmp_path / "{epoch}-{batch}.safetensors"),
                                      save_freq=5, save_weights_only=True)
    # 82 training samples in batches of 16: 6 batches, executions end at 1, 3, 5.
    fit(model, [cb], epochs=3, batch_size=16)
    assert listing(tmp_path, ".safetensors") == ["1-6", "2-6", "3-6"]


# --- what the files hold ------------------------------------------------------------


class Snapshots(ft.callbacks.Callback):
    """The model's state_dict at every epoch end (runs after the checkpoint)."""

    def __init__(self) -> None:
        super().__init__()
        self.states: list[dict[str, torch.Tensor]] = []

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self.states.append({k: v.detach().clone() for k, v in self.model.state_dict().items()})


def fresh_fitorch() -> Any:
    return twins()[1]


@pytest.mark.parametrize("suffix", [".safetensors", ".weights.h5", ".h5", ".pt", ".fitorch"])
def test_weights_checkpoints_hold_that_epoch_s_weights(tmp_path: Path, suffix: str) -> None:
    model = fresh_fitorch()
    snapshots = Snapshots()
    cb = ft.callbacks.ModelCheckpoint(str(tmp_path / "ckpt" / ("e{epoch}" + suffix)),
                                      save_weights_only=True)
    fit(model, [cb, snapshots], epochs=3)
    assert listing(tmp_path / "ckpt") == [f"e{e}{suffix}" for e in (1, 2, 3)]
    assert (cb.last_saved_epoch, cb.last_saved_filepath) == (
        2, str(tmp_path / "ckpt" / f"e3{suffix}"))
    for epoch, expected in enumerate(snapshots.states):
        other = fresh_fitorch()
        other.load_weights(tmp_path / "ckpt" / f"e{epoch + 1}{suffix}")
        for name, value in expected.items():
            torch.testing.assert_close(other.state_dict()[name], value, rtol=0, atol=0)
    first = next(iter(snapshots.states[0]))
    assert not torch.equal(snapshots.states[0][first], snapshots.states[2][first])


def test_whole_model_checkpoints_load_with_load_model(tmp_path: Path) -> None:
    model = fresh_fitorch()
    snapshots = Snapshots()
    cb = ft.callbacks.ModelCheckpoint(str(tmp_path / "m-{epoch}.fitorch"))
    fit(model, [cb, snapshots], epochs=2)
    for epoch, expected in enumerate(snapshots.states):
        restored = ft.load_model(tmp_path / f"m-{epoch + 1}.fitorch")
        assert isinstance(restored, ft.Sequential)
        assert restored.optimizer is not None  # compiled again, optimizer state restored
        for name, value in expected.items():
            torch.testing.assert_close(restored.state_dict()[name], value, rtol=0, atol=0)


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_best_weights_file_loads_into_keras_as_keras_s_own(tmp_path: Path) -> None:
    config = {"save_best_only": True, "save_weights_only": True, "monitor": "val_loss"}
    kmodel, fmodel = twins()
    fit(kmodel, [keras.callbacks.ModelCheckpoint(str(tmp_path / "k.weights.h5"), **config)],
        epochs=8)
    fit(fmodel, [ft.callbacks.ModelCheckpoint(str(tmp_path / "f.weights.h5"), **config)],
        epochs=8)
    from_keras, from_fitorch = twins()[0], twins()[0]
    from_keras.load_weights(str(tmp_path / "k.weights.h5"))
    from_fitorch.load_weights(str(tmp_path / "f.weights.h5"))  # fitorch's file, read by Keras
    for a, b in zip(from_fitorch.get_weights(), from_keras.get_weights()):
        assert_close(a, b)
    # The best epoch (5 of 8) is not the last: the file holds earlier weights.
    assert not np.allclose(keras.ops.convert_to_numpy(kmodel.layers[0].kernel),
                           from_keras.get_weights()[0])


# --- state --------------------------------------------------------------------------


@pytest.mark.parametrize("config", [
    {"save_best_only": True, "save_weights_only": True},
    {"save_freq": 4, "save_weights_only": True, "monitor": "loss", "save_best_only": True},
])
def test_resume_from_state_gives_the_files_of_an_uninterrupted_run(tmp_path: Path,
                                                                   config: dict) -> None:
    pattern = "{epoch:02d}-{batch:02d}.weights.h5" if "save_freq" in config else (
        "{epoch:02d}.weights.h5")
    kwargs = {"batch_size": 16}
    whole = ft.callbacks.ModelCheckpoint(str(tmp_path / "whole" / pattern), **config)
    fit(fresh_fitorch(), [whole], epochs=8, **kwargs)

    model = fresh_fitorch()
    first = ft.callbacks.ModelCheckpoint(str(tmp_path / "split" / pattern), **config)
    fit(model, [first], epochs=4, **kwargs)
    state = json.loads(json.dumps(first.state_dict()))  # JSON-able
    second = ft.callbacks.ModelCheckpoint(str(tmp_path / "split" / pattern), **config)
    second.load_state_dict(state)
    fit(model, [second], epochs=8, initial_epoch=4, **kwargs)

    assert listing(tmp_path / "split") == listing(tmp_path / "whole")
    assert second.state_dict() | {"last_saved_filepath": None} == (
        whole.state_dict() | {"last_saved_filepath": None})
    assert second.best == whole.best and whole.best is not None
    assert whole.last_saved_epoch is not None


def test_state_dict_defaults_and_load_errors() -> None:
    cb = ft.callbacks.ModelCheckpoint("x.fitorch", initial_value_threshold=0.5)
    assert cb.state_dict() == {
        "best": 0.5, "batches_seen_since_last_saving": 0, "last_batch_seen": None,
        "current_epoch": 0, "last_saved_epoch": None, "last_saved_filepath": None}
    cb.load_state_dict({"best": 0.25, "last_batch_seen": 3, "current_epoch": 2})
    assert (cb.best, cb._last_batch_seen, cb._current_epoch) == (0.25, 3, 2)
    with pytest.raises(TypeError, match="Received: state=3"):
        cb.load_state_dict(3)  # type: ignore[arg-type]


# --- dispatch, directories ----------------------------------------------------------


def test_batch_hook_dispatched_only_when_saving_by_batches() -> None:
    assert not overrides(ft.callbacks.ModelCheckpoint("a.fitorch"), "on_train_batch_end")
    assert overrides(ft.callbacks.ModelCheckpoint("a.fitorch", save_freq=3),
                     "on_train_batch_end")


def test_creates_parent_directories_and_accepts_pathlike(tmp_path: Path) -> None:
    model = fresh_fitorch()
    target = tmp_path / "a" / "b" / "c" / "w.safetensors"
    fit(model, [ft.callbacks.ModelCheckpoint(target, save_weights_only=True)], epochs=1,
        validation_split=0.0)
    assert listing(target.parent) == ["w.safetensors"]


def test_existing_directory_as_filepath_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "ckpt.fitorch").mkdir()
    cb = ft.callbacks.ModelCheckpoint(str(tmp_path / "ckpt.fitorch"))
    with pytest.raises(IsADirectoryError, match="non-directory filepath"):
        fit(fresh_fitorch(), [cb], epochs=1)


# --- errors and warnings ----------------------------------------------------------------


@pytest.mark.parametrize("pattern, field", [
    ("{epoch}-{val_acc:.2f}.fitorch", "'val_acc'"),
    ("{epoch}-{batch}.fitorch", "'batch'"),  # no batch when saving per epoch
])
def test_missing_format_field_is_a_value_error_before_writing(tmp_path: Path, pattern: str,
                                                              field: str) -> None:
    cb = ft.callbacks.ModelCheckpoint(str(tmp_path / "ckpt" / pattern))
    with pytest.raises(ValueError, match=f"The field {field} is not in the logs") as info:
        fit(fresh_fitorch(), [cb], epochs=2)
    assert "accuracy, epoch, loss, val_accuracy, val_loss" in str(info.value)
    assert not (tmp_path / "ckpt").exists()
    with pytest.raises(KeyError):  # Keras fails here too (a KeyError there)
        fit(twins()[0], [keras.callbacks.ModelCheckpoint(str(tmp_path / "k" / pattern.replace(
            ".fitorch", ".keras")))], epochs=1)


@pytest.mark.parametrize("pattern", ["{}.fitorch", "{loss:d}.fitorch"])
def test_bad_format_field_is_a_value_error(tmp_path: Path, pattern: str) -> None:
    cb = ft.callbacks.ModelCheckpoint(str(tmp_path / pattern))
    with pytest.raises(ValueError, match="Failed to format this callback filepath"):
        fit(fresh_fitorch(), [cb], epochs=1)


def test_missing_monitor_warns_once_naming_the_keys_and_skips(tmp_path: Path) -> None:
    cb = ft.callbacks.ModelCheckpoint(str(tmp_path / "{epoch}.fitorch"), save_best_only=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit(fresh_fitorch(), [cb], epochs=3, validation_split=0.0)
    messages = [str(w.message) for w in caught if "save best model" in str(w.message)]
    assert messages == ["Can save best model only with val_loss available, skipping. "
                        "Available metrics are: accuracy,loss"]
    assert listing(tmp_path) == []


def test_validation_every_other_epoch_keeps_the_best_file(tmp_path: Path) -> None:
    # Keras 3 would save at epochs 1, 3, 5 (no val_loss: it saves anyway), overwriting a
    # fixed-name "best" file with unvalidated weights; fitorch skips them, as tf_keras.
    cb = ft.callbacks.ModelCheckpoint(str(tmp_path / "{epoch}.safetensors"),
                                      save_best_only=True, save_weights_only=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = fit(fresh_fitorch(), [cb], epochs=8, validation_freq=2)
    val_loss = history.history["val_loss"]
    improved = [2 * (i + 1) for i, v in enumerate(val_loss) if v < min(val_loss[:i], default=9)]
    assert listing(tmp_path, ".safetensors") == [str(e) for e in improved]
    assert len(improved) >= 2 and improved[0] == 2
    assert sum("save best model" in str(w.message) for w in caught) == 1


def test_auto_mode_unknown_metric_is_a_value_error(tmp_path: Path) -> None:
    cb = ft.callbacks.ModelCheckpoint(str(tmp_path / "x.fitorch"), monitor="val_thing",
                                      save_best_only=True)
    # A quantity that only a callback logs: neither a loss nor a compiled metric.
    logger = ft.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: logs.update({"val_thing": 1.0}))
    with pytest.raises(ValueError, match="isn't able to automatically determine"):
        fit(fresh_fitorch(), [logger, cb], epochs=1)
    assert listing(tmp_path) == []


@pytest.mark.parametrize("kwargs, match", [
    ({"mode": "maximum"}, "mode='maximum'"),
    ({"save_freq": 0}, "save_freq=0"),
    ({"save_freq": -2}, "save_freq=-2"),
    ({"save_freq": "batch"}, "save_freq='batch'"),
    ({"save_freq": 2.0}, "save_freq=2.0"),
    ({"save_freq": True}, "save_freq=True"),
    ({"verbose": -1}, "verbose=-1"),
    ({"save_best_only": "yes"}, "save_best_only='yes'"),
    ({"save_weights_only": 1}, "save_weights_only=1"),
    ({"initial_value_threshold": float("nan")}, "initial_value_threshold=nan"),
    ({"monitor": ""}, "monitor=''"),
])
def test_bad_arguments_are_value_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match.replace("(", r"\(")):
        ft.callbacks.ModelCheckpoint("ckpt.fitorch", **kwargs)


@pytest.mark.parametrize("filepath, weights_only", [
    ("ckpt.weights.h5", False),
    ("ckpt-{epoch}.safetensors", False),
    ("ckpt.pt", False),
    ("ckpt.keras", True),
])
def test_suffix_and_save_weights_only_mismatch_is_a_value_error(filepath: str,
                                                                weights_only: bool) -> None:
    with pytest.raises(ValueError, match=f"Received: filepath={filepath}"):
        ft.callbacks.ModelCheckpoint(filepath, save_weights_only=weights_only)
    if not filepath.endswith(".weights.h5"):  # Keras takes `.h5` names for whole models
        with pytest.raises(ValueError):
            keras.callbacks.ModelCheckpoint(filepath, save_weights_only=weights_only)


@pytest.mark.parametrize("filepath, weights_only", [
    ("ckpt.keras", False), ("ckpt", False), ("ckpt.fitorch", True), ("w.h5", True),
])
def test_accepted_suffixes(filepath: str, weights_only: bool) -> None:
    cb = ft.callbacks.ModelCheckpoint(filepath, save_weights_only=weights_only)
    assert cb.filepath == filepath


@pytest.mark.parametrize("filepath", [None, 3, b"ckpt.fitorch", ""])
def test_filepath_type_errors(filepath: Any) -> None:
    with pytest.raises(TypeError, match="Received: filepath="):
        ft.callbacks.ModelCheckpoint(filepath)
