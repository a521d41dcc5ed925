"""Errors that say what was passed and what was expected; file errors are OSError subclasses
naming the path (a full disk also names the free space)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import zipfile
from collections import namedtuple

import numpy as np
import pytest
import safetensors
import torch

import fitorch as ft
from fitorch.saving.errors import FileFormatError
from fitorch.saving.safetensors_io import read_safetensors


@pytest.fixture
def model() -> ft.Model:
    m = ft.Sequential([ft.Input(shape=(3,)), ft.layers.Dense(2)])
    m.compile(optimizer="sgd", loss="mse")
    return m


XY = (np.zeros((8, 3), np.float32), np.zeros((8, 2), np.float32))


def test_validation_batch_size_zero_names_validation_batch_size(model):
    with pytest.raises(ValueError, match=r"`validation_batch_size` must be a positive integer"
                                         r".*Received: validation_batch_size=0"):
        model.fit(*XY, validation_data=XY, validation_batch_size=0, verbose=0)


def test_save_weights_to_a_directory(model, tmp_path):
    with pytest.raises(IsADirectoryError, match="it is a directory. Pass a file path") as info:
        model.save_weights(tmp_path)
    assert info.value.filename == str(tmp_path)
    assert os.listdir(tmp_path) == []  # no temporary left either


class Lengths(ft.utils.Sequence):
    def __init__(self, n):
        super().__init__()
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, index):
        return XY


@pytest.mark.parametrize("length", [-1, 2.5, "3"])
def test_a_sequence_len_that_is_no_count(model, length):
    with pytest.raises(ValueError, match=r"`Lengths.__len__` must return the number of batches"
                                         rf".*returned {length!r} \(of type"):
        model.fit(Lengths(length), verbose=0)


@pytest.mark.parametrize("position", [0, 1])
def test_a_generator_yielding_none(model, position):
    def batches():
        for i in range(4):
            yield None if i == position else XY

    with pytest.raises(ValueError, match=rf"yielded None as its batch number {position}"):
        model.fit(batches(), steps_per_epoch=3, verbose=0)


def test_a_pickle_named_safetensors_is_a_file_error_naming_the_path(tmp_path):
    path = tmp_path / "w.safetensors"
    path.write_bytes(b"\x80\x04\x95" + b"\0" * 64)
    with pytest.raises(FileFormatError, match="holds a pickle. Rename it to .pt") as info:
        read_safetensors(str(path))
    assert isinstance(info.value, OSError) and info.value.filename == str(path)
    torch.save({"w": torch.ones(2)}, tmp_path / "z.safetensors")
    with pytest.raises(OSError, match="holds a zip archive"):
        read_safetensors(str(tmp_path / "z.safetensors"))


def test_a_torch_file_named_safetensors_still_loads_by_content(model, tmp_path):
    path = tmp_path / "w.safetensors"
    torch.save({k: v + 1 for k, v in model.state_dict().items()}, path)
    model.load_weights(path)
    assert float(model.layers[0].bias.sum()) == 2.0


def test_a_truncated_safetensors_header_is_a_file_error(tmp_path):
    path = tmp_path / "w.safetensors"
    path.write_bytes((10**6).to_bytes(8, "little") + b'{"a":')
    with pytest.raises(FileFormatError, match=r"declares a 1000000-byte header in a file of 13"):
        read_safetensors(str(path))


def test_deeply_nested_json_in_a_fitorch_file(model, tmp_path):
    path = tmp_path / "m.fitorch"
    model.save(path)
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    members["fitorch.json"] = b"[" * 100_000 + b"]" * 100_000
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with pytest.raises(FileFormatError, match="nests lists or objects deeper") as info:
        ft.load_model(path)
    assert info.value.filename == str(path)


def test_a_full_disk_while_saving_safetensors_names_the_path_and_free_space(
        model, tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise safetensors.SafetensorError(
            'Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: '
            '"No space left on device" })')

    monkeypatch.setattr(safetensors.torch, "save_file", full)
    target = tmp_path / "w.safetensors"
    with pytest.raises(OSError, match=r"the disk is full \(\d+ bytes .* free") as info:
        model.save_weights(target)
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(target)
    assert os.listdir(tmp_path) == []


def test_a_full_disk_while_saving_pt_names_the_path(model, tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 64 vs 0")

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(torch, "save", full)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9, 4096))
    target = tmp_path / "w.pt"
    with pytest.raises(OSError, match=r"the disk is full \(4096 bytes") as info:
        model.save_weights(target)
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(target)


def test_a_bug_in_a_writer_is_not_disguised_as_a_disk_error(model, tmp_path, monkeypatch):
    def bug(*args, **kwargs):
        raise TypeError("a bug")

    monkeypatch.setattr(safetensors.torch, "save_file", bug)
    with pytest.raises(TypeError, match="a bug"):
        model.save_weights(tmp_path / "w.safetensors")


@pytest.fixture
def small_tmpfs(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)],
                            capture_output=True, check=False)
    if result.returncode != 0:
        pytest.skip("mounting a small tmpfs is not permitted here")
    try:
        yield mount
    finally:
        # Lazy: a file the failed write left open must not keep the mount behind.
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["w.safetensors", "w.pt", "m.fitorch", "w.weights.h5", "backup"])
def test_a_real_full_disk_is_an_oserror_naming_the_path(small_tmpfs, name):
    big = ft.Sequential([ft.Input(shape=(512,)), ft.layers.Dense(512)])  # 1 MiB of weights
    big.compile(optimizer="adam", loss="mse")
    if name == "backup":
        x = np.zeros((4, 512), np.float32)
        with pytest.raises(OSError, match="the disk is full") as info:
            big.fit(x, x, verbose=0, callbacks=[
                ft.callbacks.BackupAndRestore(small_tmpfs, save_freq=1)])
        assert info.value.errno == errno.ENOSPC
    else:
        with pytest.raises(OSError, match="the disk is full") as info:
            big.save(small_tmpfs / name)
        assert info.value.errno == errno.ENOSPC
        assert info.value.filename == str(small_tmpfs / name)
    assert [p for p in os.listdir(small_tmpfs) if p.endswith(".tmp")] == []
    json.dumps(str(info.value))


@pytest.mark.parametrize("raw", [ConnectionResetError(104, "Connection reset by peer"),
                                 EOFError()])
def test_a_broken_pipe_to_a_data_worker_says_the_worker_died(raw):
    from fitorch.data.workers import iterate_loader

    class Loader:
        def __iter__(self):
            return self

        def __next__(self):
            raise raw

    with pytest.raises(RuntimeError, match="A data worker process died while handing over"):
        next(iterate_loader(Loader()))
