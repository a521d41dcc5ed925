"""Exact resume from every position class of the loop: a run killed on the first, a middle
or the last batch of an epoch, during validation or between epochs, and run again, ends
with the History, weights and optimizer state of a run never interrupted.

The model monitors val_loss and val_accuracy with ReduceLROnPlateau, so validation metrics
polluted by restored training state would change the learning rate and the weights.
The fast cases run in the default suite; `-m slow` kills at every batch.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import safetensors
import torch

from fitorch.saving.safetensors_io import read_safetensors

SCRIPT = Path(__file__).with_name("resume_script.py")
BATCHES = 6  # per epoch of the "arrays" run; 3 epochs, each followed by validation (2 batches)


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=120, check=False,
                          env={**os.environ, "PLATEAU": "1", **env})


def outcome(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    with safetensors.safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    return read_safetensors(str(path)), meta


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("reference") / "reference.out"
    result = run("arrays", "-", str(out), env={})
    assert result.returncode == 0, result.stderr[-3000:]
    return outcome(out)


def kill_and_resume(tmp_path: Path, reference, kill_args: list[str], env: dict[str, str]
                    ) -> None:
    backup = tmp_path / "backup"
    killed = run("arrays", str(backup), str(tmp_path / "never.out"), *kill_args, env=env)
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert (backup / "latest.backup").exists()
    resumed = run("arrays", str(backup), str(tmp_path / "resumed.out"),
                  env={"SAVE_FREQ": env["SAVE_FREQ"]})
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    tensors, meta = outcome(tmp_path / "resumed.out")
    ref_tensors, ref_meta = reference
    assert meta["history"] == ref_meta["history"]
    assert meta == ref_meta  # optimizer's non-tensor state (the reduced learning rate)
    for key in ref_tensors:
        assert torch.equal(tensors[key], ref_tensors[key]), key
    assert sorted(os.listdir(backup)) == []  # the finished run leaves nothing behind


# With save_freq=1 a kill at the end of global batch N resumes from the backup of batch N-1
# (the killing callback runs before BackupAndRestore).
POSITIONS = {
    "last batch of an epoch": (["7"], {"SAVE_FREQ": "1"}),  # backup at batch 6 of 6
    "during validation": ([], {"SAVE_FREQ": "1", "KILL_IN_TEST": "3"}),  # 2nd epoch's val
    "between epochs": ([], {"SAVE_FREQ": "epoch", "KILL_AT_EPOCH_BEGIN": "1"}),
    "first batch of an epoch": (["8"], {"SAVE_FREQ": "1"}),  # backup at batch 1 of epoch 1
    "middle of an epoch": (["10"], {"SAVE_FREQ": "1"}),
}


@pytest.mark.parametrize("position", list(POSITIONS))
def test_resume_is_exact_from_every_position_class(tmp_path, reference, position):
    kill_args, env = POSITIONS[position]
    kill_and_resume(tmp_path, reference, kill_args, env)


@pytest.mark.slow
@pytest.mark.parametrize("kill_at", range(2, 3 * BATCHES + 1))
def test_resume_is_exact_after_a_kill_at_any_batch(tmp_path, reference, kill_at):
    kill_and_resume(tmp_path, reference, [str(kill_at)], {"SAVE_FREQ": "1"})


@pytest.mark.slow
@pytest.mark.parametrize("kill_in_test", range(1, 7))
def test_resume_is_exact_after_a_kill_in_any_validation_batch(tmp_path, reference,
                                                              kill_in_test):
    kill_and_resume(tmp_path, reference, [], {"SAVE_FREQ": "1",
                                              "KILL_IN_TEST": str(kill_in_test)})
