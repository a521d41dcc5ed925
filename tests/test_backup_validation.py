"""BackupAndRestore checks a whole backup against the model (names, shapes, dtypes, the
optimizer state, a checksum) before it touches any state: a damaged backup is a clear
error naming what is wrong, and the model is left as it was."""

from __future__ import annotations

import json

import numpy as np
import pytest
import safetensors
import torch

import fitorch as ft
from conftest import mlp
from fitorch.saving.safetensors_io import read_safetensors, write_safetensors


def compiled() -> ft.Model:
    torch.manual_seed(0)
    model = ft.Model(mlp())
    model.compile(optimizer="adam", loss=ft.losses.SparseCategoricalCrossentropy(
        from_logits=True))
    return model


@pytest.fixture
def backup(tmp_path, classification_data):
    x, y = classification_data
    compiled().fit(x, y, epochs=1, verbose=0, callbacks=[
        ft.callbacks.BackupAndRestore(tmp_path, save_freq=3, delete_checkpoint=False)])
    return tmp_path / "latest.backup"


def rewrite(path, change_tensors=None, keep_checksum=False):
    tensors = read_safetensors(str(path))
    with safetensors.safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    doc = json.loads(meta["doc"])
    if not keep_checksum:
        del doc["checksum"]  # as a backup written before checksums were kept
    if change_tensors is not None:
        change_tensors(tensors)
    write_safetensors(tensors, str(path), metadata={**meta, "doc": json.dumps(doc)})


def resume_fails(tmp_path, classification_data, match):
    x, y = classification_data
    model = compiled()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=match):
        model.fit(x, y, epochs=2, verbose=0, callbacks=[ft.callbacks.BackupAndRestore(tmp_path)])
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key  # nothing was restored
    assert not model.optimizer.state  # nor the optimizer state
    return model


def first_weight(tensors):
    return next(k for k in sorted(tensors) if k.startswith("model/") and k.endswith("weight"))


def test_a_tensor_of_another_shape_is_refused_not_broadcast(tmp_path, classification_data,
                                                            backup):
    key = first_weight(read_safetensors(str(backup)))

    def shrink(tensors):
        tensors[key] = torch.ones(1)

    rewrite(backup, shrink)
    resume_fails(tmp_path, classification_data, rf"'{key}' has shape \(1,\)")


def test_a_tensor_of_another_dtype_is_refused(tmp_path, classification_data, backup):
    key = first_weight(read_safetensors(str(backup)))

    def to_double(tensors):
        tensors[key] = tensors[key].double()

    rewrite(backup, to_double)
    resume_fails(tmp_path, classification_data, rf"'{key}' .*dtype torch.float64")


def test_a_missing_tensor_is_named(tmp_path, classification_data, backup):
    key = first_weight(read_safetensors(str(backup)))
    rewrite(backup, lambda tensors: tensors.pop(key))
    resume_fails(tmp_path, classification_data, rf"the tensor '{key}' is missing")


def test_a_missing_optimizer_tensor_is_a_clear_error(tmp_path, classification_data, backup):
    key = next(k for k in read_safetensors(str(backup)) if k.startswith("optimizer"))
    rewrite(backup, lambda tensors: tensors.pop(key))
    resume_fails(tmp_path, classification_data, rf"training state is incomplete.*{key}")


def test_optimizer_state_of_another_shape_is_refused(tmp_path, classification_data, backup):
    tensors = read_safetensors(str(backup))
    key = next(k for k in tensors if k.startswith("optimizer") and tensors[k].dim() == 2)

    def reshape(t):
        t[key] = t[key].reshape(-1)

    rewrite(backup, reshape)
    resume_fails(tmp_path, classification_data, "optimizer state .* has shape")


def test_a_bit_flip_fails_the_checksum(tmp_path, classification_data, backup):
    key = first_weight(read_safetensors(str(backup)))

    def flip(tensors):
        raw = tensors[key].contiguous().view(torch.int32)
        raw.view(-1)[0] ^= 1 << 3

    rewrite(backup, flip, keep_checksum=True)
    resume_fails(tmp_path, classification_data, "checksum does not match")


def test_an_intact_backup_still_resumes(tmp_path, classification_data, backup):
    x, y = classification_data
    saved = read_safetensors(str(backup))
    model = compiled()
    seen = {}

    class Probe(ft.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if not seen:
                seen.update({k: v.clone() for k, v in model.state_dict().items()})

    model.fit(x, y, epochs=2, verbose=0,
              callbacks=[Probe(), ft.callbacks.BackupAndRestore(tmp_path)])
    assert all(torch.equal(seen[k], saved[f"model/{k}"]) for k in seen)
    assert np.isfinite(model.evaluate(x, y, verbose=0))
