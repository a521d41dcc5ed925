"""BackupAndRestore: a run killed with SIGKILL and run again ends bit-identical to one never
interrupted (weights, optimizer state, History), for arrays and for a Sequence on workers."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import safetensors
import torch

import fitorch as ft
from conftest import mlp
from fitorch.saving.safetensors_io import read_safetensors

SCRIPT = Path(__file__).with_name("resume_script.py")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=120, check=False, env={**os.environ, **(env or {})})


def outcome(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    with safetensors.safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    return read_safetensors(str(path)), meta


def kill_points(seeds: list[int], total: int) -> list[int]:
    """Random batches to die at (seeded, so a failure can be replayed)."""
    return [random.Random(seed).randint(1, total - 1) for seed in seeds]


# arrays: 6 batches/epoch x 3 epochs (+ validation); Sequence: 9 x 3 on 2 worker processes;
# DataLoader: 6 x 3, shuffled, random augmentation (in 2 workers, or in the main process);
# kills mid-epoch after the backups at batches 7 and 14, so the resumed passes skip batches
@pytest.mark.parametrize("data,kills", [("arrays", kill_points([0, 1, 2], 18)),
                                        ("sequence", kill_points([5, 7], 27)),
                                        ("dataloader", [16]),
                                        ("dataloader0", [10])])
def test_killed_run_resumes_to_the_same_result(tmp_path, data, kills):
    reference = run(data, "-", str(tmp_path / "reference.out"))
    assert reference.returncode == 0, reference.stderr[-3000:]
    ref_tensors, ref_meta = outcome(tmp_path / "reference.out")
    for kill_at in kills:
        backup = tmp_path / f"backup-{kill_at}"
        killed = run(data, str(backup), str(tmp_path / "never.out"), str(kill_at))
        assert killed.returncode == -9, killed.stderr[-3000:]
        # save_freq=7: a kill before batch 7 leaves no backup and the rerun starts afresh
        assert (backup / "latest.backup").exists() == (kill_at > 7)
        resumed = run(data, str(backup), str(tmp_path / f"resumed-{kill_at}.out"))
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        tensors, meta = outcome(tmp_path / f"resumed-{kill_at}.out")
        assert meta == ref_meta  # History and optimizer's non-tensor state
        assert tensors.keys() == ref_tensors.keys()
        for key in ref_tensors:
            assert torch.equal(tensors[key], ref_tensors[key]), key
        assert not (backup / "latest.backup").exists()  # deleted after a finished run


def test_sigkill_during_a_backup_write_leaves_the_previous_backup(tmp_path):
    reference = run("arrays", "-", str(tmp_path / "reference.out"))
    assert reference.returncode == 0, reference.stderr[-3000:]
    backup = tmp_path / "backup"
    killed = run("arrays", str(backup), str(tmp_path / "never.out"),
                 env={"KILL_IN_BACKUP_WRITE": "2"})
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert (backup / "latest.backup").exists()  # the first backup, intact
    resumed = run("arrays", str(backup), str(tmp_path / "resumed.out"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    ref_tensors, ref_meta = outcome(tmp_path / "reference.out")
    tensors, meta = outcome(tmp_path / "resumed.out")
    assert meta == ref_meta
    assert all(torch.equal(tensors[k], ref_tensors[k]) for k in ref_tensors)


def compiled() -> ft.Model:
    torch.manual_seed(0)
    model = ft.Model(mlp())
    model.compile(optimizer="adam", loss=ft.losses.SparseCategoricalCrossentropy(
        from_logits=True))
    return model


def test_a_backup_from_another_model_is_refused(tmp_path, classification_data):
    x, y = classification_data
    backup = ft.callbacks.BackupAndRestore(tmp_path, save_freq=2, delete_checkpoint=False)
    compiled().fit(x, y, epochs=1, callbacks=[backup], verbose=0)
    other = ft.Model(torch.nn.Linear(8, 3))
    other.compile(optimizer="adam", loss="mse")
    with pytest.raises(ValueError, match="was made by a different model"):
        other.fit(x, np.zeros((len(x), 3), np.float32), epochs=1, verbose=0,
                  callbacks=[ft.callbacks.BackupAndRestore(tmp_path)])


def test_a_corrupted_backup_is_an_error_not_a_fresh_start(tmp_path, classification_data):
    x, y = classification_data
    compiled().fit(x, y, epochs=1, verbose=0, callbacks=[
        ft.callbacks.BackupAndRestore(tmp_path, delete_checkpoint=False)])
    data = (tmp_path / "latest.backup").read_bytes()
    (tmp_path / "latest.backup").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or corrupted"):
        compiled().fit(x, y, epochs=2, verbose=0,
                       callbacks=[ft.callbacks.BackupAndRestore(tmp_path)])


def test_double_checkpoint_falls_back_to_the_previous_backup(tmp_path, classification_data):
    x, y = classification_data
    compiled().fit(x, y, epochs=2, verbose=0, callbacks=[
        ft.callbacks.BackupAndRestore(tmp_path, delete_checkpoint=False,
                                      double_checkpoint=True)])
    assert (tmp_path / "previous.backup").exists()
    (tmp_path / "latest.backup").write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="resuming from the previous one"):
        history = compiled().fit(x, y, epochs=3, verbose=0, callbacks=[
            ft.callbacks.BackupAndRestore(tmp_path, double_checkpoint=True)])
    assert history.epoch == [0, 1, 2]  # epoch 0 restored from the previous backup, then 1, 2


def test_unwritable_backup_dir_fails_before_training(tmp_path, classification_data):
    x, y = classification_data
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    model = compiled()
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ValueError, match="is not writable"):
        model.fit(x, y, epochs=1, verbose=0,
                  callbacks=[ft.callbacks.BackupAndRestore(blocker / "sub")])
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_generators_cannot_be_resumed_and_say_so(tmp_path):
    def batches():
        while True:
            yield np.zeros((4, 8), np.float32), np.zeros(4, np.int64)

    with pytest.raises(ValueError, match="cannot resume this training data"):
        compiled().fit(batches(), steps_per_epoch=2, epochs=1, verbose=0,
                       callbacks=[ft.callbacks.BackupAndRestore(tmp_path)])


def test_a_later_plain_fit_is_not_affected_by_a_restored_epoch(tmp_path, classification_data):
    x, y = classification_data
    model = compiled()
    model.fit(x, y, epochs=2, verbose=0, callbacks=[
        ft.callbacks.BackupAndRestore(tmp_path, delete_checkpoint=False)])
    resumed = model.fit(x, y, epochs=3, verbose=0,
                        callbacks=[ft.callbacks.BackupAndRestore(tmp_path)])
    # The resumed History is the whole run's, as if never interrupted: 2 restored + 1 new.
    assert resumed.epoch == [0, 1, 2] and len(resumed.history["loss"]) == 3
    plain = model.fit(x, y, epochs=2, verbose=0)
    assert plain.epoch == [0, 1] and len(plain.history["loss"]) == 2


@pytest.mark.parametrize("value", [0, -1, "batch", 2.5])
def test_bad_save_freq(tmp_path, value):
    with pytest.raises(ValueError, match="`save_freq` must be 'epoch' or a positive int"):
        ft.callbacks.BackupAndRestore(tmp_path, save_freq=value)


def test_backup_runs_after_every_other_callback(tmp_path):
    backup = ft.callbacks.BackupAndRestore(tmp_path)
    history = ft.callbacks.History()
    cbs = ft.callbacks.CallbackList([backup, history])
    assert cbs.callbacks[-1] is backup
    assert os.path.isdir(tmp_path)
