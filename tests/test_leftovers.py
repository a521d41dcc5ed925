"""No leftovers: a killed save's temporary is removed by the next successful save to the
same target, a finished resumed run leaves its backup folder empty, and tensors read from a
safetensors file own their memory (no map of a file that a later save replaces)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

import fitorch as ft
from fitorch.saving.atomic import atomic_path
from fitorch.saving.safetensors_io import read_safetensors, write_safetensors


def test_a_successful_save_removes_the_temporaries_of_killed_saves(tmp_path):
    model = ft.Sequential([ft.Input(shape=(8,)), ft.layers.Dense(3)])
    target = tmp_path / "m.weights.safetensors"
    stale = [tmp_path / f".m.weights.safetensors.{token}.tmp"
             for token in ("0123456789ab", "ffffffffffff")]
    for path in stale:
        path.write_bytes(b"\0" * 1000)  # what a SIGKILL mid-save leaves behind
    unrelated = [tmp_path / ".other.safetensors.0123456789ab.tmp", tmp_path / "notes.tmp",
                 tmp_path / ".m.weights.safetensors.backup.tmp"]
    for path in unrelated:
        path.write_bytes(b"keep")
    model.save_weights(target)
    assert target.exists()
    assert not any(path.exists() for path in stale)
    assert all(path.exists() for path in unrelated)  # only this target's own pattern


def test_a_failed_save_keeps_the_old_file_and_removes_only_its_own_temporary(tmp_path):
    target = tmp_path / "t.safetensors"
    target.write_bytes(b"old")
    stale = tmp_path / ".t.safetensors.0123456789ab.tmp"
    stale.write_bytes(b"x")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        Path(tmp).write_bytes(b"partial")
        raise RuntimeError("disk gone")
    assert target.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == [stale.name, "t.safetensors"]


def test_a_finished_resumed_run_leaves_an_empty_backup_folder(tmp_path, classification_data):
    x, y = classification_data
    torch.manual_seed(0)
    model = ft.Sequential([ft.Input(shape=(8,)), ft.layers.Dense(3)])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0, callbacks=[
        ft.callbacks.BackupAndRestore(tmp_path, delete_checkpoint=False)])
    # a process killed while writing its next backup
    (tmp_path / ".latest.backup.a1b2c3d4e5f6.tmp").write_bytes(b"\0" * 4096)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[ft.callbacks.BackupAndRestore(tmp_path)])
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
def test_tensors_read_from_safetensors_do_not_map_the_file(tmp_path):
    path = tmp_path / "state.safetensors"
    write_safetensors({"m": torch.ones(300_000), "v": torch.zeros(10)}, path)
    tensors = read_safetensors(str(path))
    os.remove(path)  # as a later backup replaces it
    with open("/proc/self/maps") as maps:
        mapped = [line for line in maps if str(path) in line]
    assert mapped == []  # the deleted file's disk space is not held
    assert float(tensors["m"].sum()) == 300_000
