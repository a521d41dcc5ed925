"""Data-parallel training: the same script on 2 processes (gloo on CPU) gives the
one-process result, identically on every rank (SPEC.md "Scale").

Each test launches the ranks with torchrun's environment (`dp_launch.run_ranks`),
with a wall-clock limit and every process reaped; `dp_scenarios.py` holds the
scripts, run unchanged on one process for the reference.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dp_launch import HERE, check_ok, free_port, run_ranks
from fitorch import distributed
from fitorch.data.shard import Shard, merge_predictions

SCRIPT = str(HERE / "dp_scenarios.py")


def single(name: str, out: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = "1"
    done = subprocess.run([sys.executable, SCRIPT, name, str(out)], env=env, timeout=300,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-4000:]
    return load(out, "single")


def load(out: Path, tag: str) -> dict:
    with open(out / f"{tag}.pkl", "rb") as f:
        return pickle.load(f)


def ranks(name: str, out: Path, **kwargs) -> tuple[list, list[dict]]:
    results = run_ranks([SCRIPT, name, str(out)], **kwargs)
    check_ok(results)
    return results, [load(out, str(r)) for r in range(2)]


def close(a: np.ndarray, b: np.ndarray, rtol: float = 1e-4, atol: float = 1e-6) -> None:
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


@pytest.mark.parametrize("name", ["sgd", "adam", "jit", "accumulation", "sequence", "dataset",
                                  "fsdp"])
def test_two_processes_equal_one_process(name: str, tmp_path: Path) -> None:
    """Global batch 20 over 101 samples: a last batch of 1 sample leaves rank 1 an empty
    share. Weights and History are bit-identical across ranks and equal one process's;
    evaluation counts each sample once; predictions come back in input order."""
    ref = single(name, tmp_path)
    _, (r0, r1) = ranks(name, tmp_path)
    np.testing.assert_array_equal(r0["weights"], r1["weights"])
    assert r0["history"] == r1["history"]
    if "shuffled" in r0:  # a shuffled Sequence: the same batch order on every rank
        np.testing.assert_array_equal(r0["shuffled"], r1["shuffled"])
    close(r0["weights"], ref["weights"])
    assert r0["history"].keys() == ref["history"].keys()
    for key, values in ref["history"].items():
        close(np.array(r0["history"][key]), np.array(values), atol=1e-5)
    if name == "sgd":  # every sample counted once, in training, validation, evaluation
        assert r0["evaluate"]["count"] == 101
        assert r0["history"]["count"] == [101.0] * 3
        assert r0["history"]["val_count"] == [41.0] * 3
    if "evaluate" in ref:
        assert r0["evaluate"] == r1["evaluate"]
        assert r0["evaluate"]["count"] == ref["evaluate"]["count"]
        close(np.array(r0["evaluate"]["loss"]), np.array(ref["evaluate"]["loss"]))
    np.testing.assert_array_equal(r0["predict"], r1["predict"])
    assert r0["predict"].shape == ref["predict"].shape
    close(r0["predict"], ref["predict"], atol=1e-5)


def test_fsdp_shards_the_parameters_and_saves_whole_weights(tmp_path: Path) -> None:
    _, (r0, r1) = ranks("fsdp_save", tmp_path, env={"SAVE_DIR": str(tmp_path)})
    assert r0["sharded"] == r1["sharded"] == "DTensor"
    np.testing.assert_array_equal(r0["weights"], r1["weights"])
    saved = np.concatenate([v.ravel() for v in r0["saved"].values()])
    assert saved.shape == r0["weights"].shape  # the whole tensors, not rank 0's shards
    np.testing.assert_array_equal(np.sort(saved), np.sort(r0["weights"]))


def test_sync_batchnorm_normalizes_over_the_global_batch(tmp_path: Path) -> None:
    ref = single("sync_bn", tmp_path)
    _, (r0, r1) = ranks("sync_bn", tmp_path)
    np.testing.assert_array_equal(r0["weights"], r1["weights"])
    close(r0["weights"], ref["weights"])
    close(r0["buffers"], ref["buffers"])
    for key, values in ref["history"].items():
        close(np.array(r0["history"][key]), np.array(values), atol=1e-5)
    assert ref["error"] is None  # one process: nothing to synchronize
    assert "SyncBatchNorm" in r0["error"] and "CUDA" in r0["error"]


def test_user_train_step_through_self_gets_the_global_gradient(tmp_path: Path) -> None:
    """A Keras-style train_step (self(x), backward, optimizer.apply) trains exactly like
    the default step: the gradients of its optimizer steps are averaged."""
    ref = single("user_step", tmp_path)
    _, (r0, r1) = ranks("user_step", tmp_path)
    np.testing.assert_array_equal(r0["own"], r1["own"])
    close(r0["own"], r0["default"], atol=1e-6)
    close(r0["own"], ref["own"])


def test_stop_on_one_rank_stops_every_rank(tmp_path: Path) -> None:
    """Rank 1 alone sets stop_training at batch 1: every rank stops at the next batch end;
    EarlyStopping decides on identical logs on every rank."""
    _, (r0, r1) = ranks("stop", tmp_path)
    assert r0["steps"] == r1["steps"] == 3
    assert r0["epochs"] == r1["epochs"] == 1
    np.testing.assert_array_equal(r0["weights"], r1["weights"])
    assert r0["early_epochs"] == r1["early_epochs"] == 2


def test_rank_zero_alone_prints_and_writes_files(tmp_path: Path) -> None:
    dirs = [tmp_path / "rank0", tmp_path / "rank1"]
    for d in dirs:
        d.mkdir()
    results, (r0, r1) = ranks("files", tmp_path, per_rank_cwd=dirs)
    assert r0["files"] == ["ckpt.weights.safetensors", "log.csv", "model.fitorch"]
    assert r1["files"] == []
    assert "Epoch 1/2" in results[0].stdout
    assert "Epoch" not in results[1].stdout


def test_generators_of_different_lengths_end_together(tmp_path: Path) -> None:
    """Rank 1's generator has one batch fewer: every rank ends the epoch at the shorter
    length, with a warning on the rank whose batch goes unused, and nothing hangs."""
    results, (r0, r1) = ranks("uneven_generator", tmp_path)
    np.testing.assert_array_equal(r0["weights"], r1["weights"])
    assert r0["loss"] == r1["loss"]
    assert "another rank's data ran out" in results[0].stderr
    assert "another rank's data ran out" not in results[1].stderr


def test_distributed_sampler_is_respected(tmp_path: Path) -> None:
    _, (r0, r1) = ranks("distributed_sampler", tmp_path)
    assert r0["epoch"] == r1["epoch"] == 1  # set_epoch every epoch
    np.testing.assert_array_equal(r0["predict"], r1["predict"])
    assert r0["predict"].shape == (101, 2)  # the sampler's padding is cut off
    close(r0["predict"], r0["direct"], atol=1e-5)  # in input order


def test_a_process_group_made_by_the_launcher_is_used(tmp_path: Path) -> None:
    ref = single("sgd", tmp_path)
    _, (r0, r1) = ranks("preinitialised", tmp_path)
    assert r0["still_initialised"] and r1["still_initialised"]
    np.testing.assert_array_equal(r0["weights"], r1["weights"])
    close(r0["weights"], ref["weights"])


def test_batch_smaller_than_world_size_is_an_error(tmp_path: Path) -> None:
    _, (r0, r1) = ranks("small_batch", tmp_path)
    for r in (r0, r1):
        assert "batch_size=1" in r["error"] and "world_size=2" in r["error"]


def test_a_dead_peer_is_an_error_not_a_hang(tmp_path: Path) -> None:
    results = run_ranks([SCRIPT, "dead_peer", str(tmp_path)], timeout=120)
    assert results[1].returncode == 3
    assert results[0].returncode == 0, results[0].stderr[-3000:]
    error = load(tmp_path, "0")["error"]
    assert error is not None and "CollectiveError" in error and "rank 0 of 2" in error


def _backup_run(out: Path, backup: Path, **env: str) -> list:
    return run_ranks([SCRIPT, "backup", str(out)], env={"BACKUP_DIR": str(backup), **env})


@pytest.mark.parametrize("distribution", ["data_parallel", "fsdp"])
def test_a_killed_rank_resumes_bit_exact_on_two_processes(tmp_path: Path,
                                                          distribution: str) -> None:
    """Rank 1 dies in the middle of epoch 2 (dropout on, so every rank's own RNG state
    matters); the relaunched ranks end with the History and weights of an uninterrupted
    run, bit for bit. Sharded (FSDP2) models back up their whole state once."""
    ref_dir, run_dir = tmp_path / "ref", tmp_path / "run"
    ref_dir.mkdir()
    run_dir.mkdir()
    env = {"DROPOUT": "1", "DISTRIBUTION": distribution}
    check_ok(_backup_run(ref_dir, tmp_path / "ref-backup", **env))
    killed = _backup_run(run_dir, tmp_path / "backup", KILL_AT="1:2", **env)
    assert killed[1].returncode == 9 and killed[0].returncode != 0
    assert "CollectiveError" in killed[0].stderr
    check_ok(_backup_run(run_dir, tmp_path / "backup", **env))
    for rank in ("0", "1"):
        resumed, ref = load(run_dir, rank), load(ref_dir, rank)
        np.testing.assert_array_equal(resumed["weights"], ref["weights"])
        assert resumed["history"] == ref["history"]
    assert not (tmp_path / "backup" / "latest.backup").exists()  # deleted at the end


def _single_backup_run(out: Path, backup: Path, **extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE")}
    env.update(BACKUP_DIR=str(backup), OMP_NUM_THREADS="1", **extra,
               PYTHONPATH=os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, SCRIPT, "backup", str(out)], timeout=300,
                          capture_output=True, text=True, env=env)


def test_a_backup_resumes_on_another_world_size(tmp_path: Path) -> None:
    """2 processes -> 1 and 1 -> 2: the resumed run ends where one uninterrupted process
    does, to float summation tolerance (the data position is the global batches')."""
    ref, two_one, one_two = (tmp_path / d for d in ("ref", "two_one", "one_two"))
    for d in (ref, two_one, one_two):
        d.mkdir()
    done = _single_backup_run(ref, tmp_path / "ref-backup")
    assert done.returncode == 0, done.stderr[-3000:]
    one = load(ref, "single")
    # 2 -> 1
    assert _backup_run(two_one, tmp_path / "b21", KILL_AT="1:2")[1].returncode == 9
    done = _single_backup_run(two_one, tmp_path / "b21")
    assert done.returncode == 0, done.stderr[-3000:]
    # 1 -> 2
    killed = _single_backup_run(one_two, tmp_path / "b12", KILL_AT="1:2", KILL_RANK="single")
    assert killed.returncode == 9
    check_ok(_backup_run(one_two, tmp_path / "b12"))
    for resumed in (load(two_one, "single"), load(one_two, "0"), load(one_two, "1")):
        close(resumed["weights"], one["weights"])
        for key, values in one["history"].items():
            close(np.array(resumed["history"][key]), np.array(values), atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available() or torch.cuda.device_count() < 2,
                    reason="needs 2 CUDA devices (NCCL)")
def test_two_gpus_with_nccl_equal_one_process(tmp_path: Path) -> None:
    ref = single("adam", tmp_path)
    _, (r0, r1) = ranks("adam", tmp_path, env={"DEVICE": "cuda"})
    np.testing.assert_array_equal(r0["weights"], r1["weights"])
    close(r0["weights"], ref["weights"], rtol=1e-3, atol=1e-5)


def test_torchrun_launch(tmp_path: Path) -> None:
    """The real launcher: `torchrun --nproc_per_node=2 script.py` runs unchanged."""
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        env.pop(key, None)
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
         f"--master_port={free_port()}", SCRIPT, "sgd", str(tmp_path)],
        env=env, timeout=240, capture_output=True, text=True, start_new_session=True)
    assert done.returncode == 0, done.stderr[-4000:]
    r0, r1 = load(tmp_path, "0"), load(tmp_path, "1")
    np.testing.assert_array_equal(r0["weights"], r1["weights"])


# ------------------------------------------------------------ single-process units
def test_single_process_has_no_context() -> None:
    assert not distributed.launched()
    assert distributed.context() is None
    assert distributed.is_writer() and distributed.rank() == 0 and distributed.world_size() == 1


def test_shard_positions() -> None:
    shard = Shard(rank=1, world=3)
    assert list(shard.positions(0, 7)) == [1, 4]
    assert shard.steps(7) == 3


def test_merge_predictions_puts_shards_back_in_order() -> None:
    full = np.arange(11)
    # batch 5 over 2 ranks: steps [0..4], [5..9], [10]
    r0 = np.array([0, 2, 4, 5, 7, 9, 10]), [3, 3, 1]
    r1 = np.array([1, 3, 6, 8]), [2, 2, 0]
    np.testing.assert_array_equal(merge_predictions([([r0[0]], r0[1]), ([r1[0]], r1[1])],
                                                    "samples")[0], full)
    # Sequence batches: rank r holds batch kW + r
    b0, b1 = np.array([0, 1, 2, 6, 7, 8]), np.array([3, 4, 5, 9])
    np.testing.assert_array_equal(
        merge_predictions([([b0], [3, 3]), ([b1], [3, 1])], "batches")[0], np.arange(10))
    # DistributedSampler: rank r holds r::W of the padded input
    s0, s1 = np.array([0, 2, 4]), np.array([1, 3, 0])
    np.testing.assert_array_equal(
        merge_predictions([([s0], [3]), ([s1], [3])], "strided", total=5)[0], np.arange(5))


def test_launch_detection_from_torchrun_and_slurm(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        # set then deleted: monkeypatch restores the original (absent) value afterwards,
        # also for the variables `_launch_env` sets itself for SLURM
        monkeypatch.setenv(key, "x")
        monkeypatch.delenv(key)
    assert distributed._launch_env() is None
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("RANK", "0")
    assert distributed._launch_env() is None  # torchrun --nproc_per_node=1: one process
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert distributed._launch_env() == (3, 4, 1)
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(key)
    monkeypatch.setenv("SLURM_NTASKS", "8")
    monkeypatch.setenv("SLURM_PROCID", "5")
    monkeypatch.setenv("SLURM_LOCALID", "1")
    monkeypatch.setenv("SLURM_LAUNCH_NODE_IPADDR", "10.0.0.7")
    monkeypatch.setenv("SLURM_JOB_ID", "1234")
    assert distributed._launch_env() == (5, 8, 1)
    assert os.environ["MASTER_ADDR"] == "10.0.0.7"
    assert os.environ["MASTER_PORT"] == str(29500 + 234)
    assert os.environ["RANK"] == "5" and os.environ["WORLD_SIZE"] == "8"


def test_bad_distribution_and_fsdp_with_jit_are_errors() -> None:
    import fitorch as ft

    model = ft.Sequential([ft.Input(shape=(3,)), ft.layers.Dense(1)])
    with pytest.raises(ValueError, match="distribution="):
        model.compile(optimizer="sgd", loss="mse", distribution="zero3")
    with pytest.raises(ValueError, match="jit_compile=True"):
        model.compile(optimizer="sgd", loss="mse", distribution="fsdp", jit_compile=True)


@pytest.mark.parametrize("shuffle", [False, True, "batch"])
@pytest.mark.parametrize("on_disk", [False, True])
def test_shards_cover_each_global_batch_exactly_once(shuffle: object, on_disk: bool,
                                                     tmp_path: Path) -> None:
    """Rank r takes positions r::W of each global batch of the one-process order (in memory
    and memmap); an empty share is a stand-in from the same global batch."""
    import torch

    from fitorch.data.arrays import ArrayDataAdapter
    from fitorch.data.shard import StandIn

    n, batch, world = 23, 5, 3
    x = np.arange(n, dtype="float32")[:, None]
    if on_disk:
        path = tmp_path / "x.npy"
        np.save(path, x)
        x = np.load(path, mmap_mode="r")

    def rows(rank: int | None) -> list:
        shard = Shard(rank, world) if rank is not None else None
        adapter = ArrayDataAdapter(x, np.arange(n), batch_size=batch, shuffle=shuffle,
                                   shard=shard)
        torch.manual_seed(7)
        return [b for b in adapter.batches()]

    one = rows(None)
    parts = [rows(r) for r in range(world)]
    assert all(len(p) == len(one) for p in parts)  # the same steps on every rank
    for k, global_batch in enumerate(one):
        expected = global_batch[1].tolist()
        got: list = []
        for r in range(world):
            b = parts[r][k]
            if isinstance(b, StandIn):
                assert len(expected) <= r  # only when the global batch has no position r
                assert b.batch[1].tolist()[0] in expected
                continue
            assert b[1].tolist() == expected[r::world]
            got += b[1].tolist()
        assert sorted(got) == sorted(expected)
