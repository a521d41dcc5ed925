"""`BackupAndRestore`: resume an interrupted `fit()` exactly where the last backup was taken.

A backup holds the weights, the optimizer state (with the loss scaler and the gradients
accumulated so far), the position in the data (the
epoch, the step, the RNG state that drew the current shuffle order and how many
batches of it were used), the random number generators, the running metric
state, and every callback's `state_dict()` (History, EarlyStopping, ...). Run
the same script again after a crash: training continues from that batch and
ends with the weights an uninterrupted run would have had, bit for bit.

The backup is one safetensors file (tensors) with a JSON document in its
metadata: loading it runs no code. Writes are atomic (temporary file, fsync,
rename), so a crash while writing leaves the previous backup intact.

In a data-parallel run (torchrun) every rank's own part (its random number
generators, running metric state, batch logs, accumulated gradients) is gathered to
rank 0, which writes the one file; weights and optimizer state are the same on every
rank and stored once. The directory must be on a filesystem every rank can read. A
backup resumes on the world size that made it exactly, and on another world size (2
processes -> 1, 1 -> 2) to the one-process tolerance: the metric state of all saved
ranks goes to rank 0, the data position is that of the global batches.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from typing import Any

import torch

from fitorch import distributed
from fitorch.callbacks.callback import Callback
from fitorch.saving import codec, gathered
from fitorch.saving.atomic import atomic_path, remove_stale_temporaries
from fitorch.saving.safetensors_io import read_safetensors, write_safetensors
from fitorch.saving.state import state_tensors
from fitorch.step import load_step_state, step_state

FORMAT = "fitorch-backup"
VERSION = "1"


class BackupAndRestore(Callback):
    """Back up training state regularly; on restart, continue from the last backup.

    Args:
        backup_dir: Directory of the backup files (created if missing; must be writable).
        save_freq: `"epoch"` (after every epoch) or an int: every that many batches.
        delete_checkpoint: Delete the backup when training finishes normally.
        double_checkpoint: Keep the previous backup too; if the latest cannot be read,
            resume from the previous one (with a warning) instead of failing.

    Example:
        >>> model.fit(x, y, epochs=10,
        ...           callbacks=[BackupAndRestore("/tmp/backup", save_freq=100)])
    """

    #: dispatched after every other callback (see CallbackList)
    runs_last = True

    def __init__(self, backup_dir: str | os.PathLike[str], save_freq: str | int = "epoch",
                 delete_checkpoint: bool = True, double_checkpoint: bool = False) -> None:
        super().__init__()
        if not backup_dir:
            raise ValueError(f"`backup_dir` is required. Received: backup_dir={backup_dir!r}")
        if save_freq != "epoch" and (
                not isinstance(save_freq, int) or isinstance(save_freq, bool) or save_freq < 1):
            raise ValueError(
                "`save_freq` must be 'epoch' or a positive int (a number of batches). "
                f"Received: save_freq={save_freq!r}"
            )
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq
        self.delete_checkpoint = bool(delete_checkpoint)
        self.double_checkpoint = bool(double_checkpoint)
        self.path = os.path.join(self.backup_dir, "latest.backup")
        self.previous_path = os.path.join(self.backup_dir, "previous.backup")
        self._batches_seen = 0

    # -- hooks ---------------------------------------------------------------
    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        state = self._fit_state()
        self._check_data(state)
        self._batches_seen = 0
        found = os.path.exists(self.path) or (self.double_checkpoint
                                              and os.path.exists(self.previous_path))
        parallel = self.model._parallel()
        if parallel is not None and not parallel.all_true(found) and parallel.any_true(found):
            raise ValueError(
                f"Data-parallel BackupAndRestore: the backup in {self.backup_dir!r} is visible "
                "on some ranks only. `backup_dir` must be on a filesystem every rank shares. "
                f"Received: backup_dir={self.backup_dir!r}"
            )
        if found:
            self._restore(state)
        elif distributed.is_writer():
            self._check_writable()

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        if isinstance(self.save_freq, int):
            self._batches_seen += 1
            if self._batches_seen % self.save_freq == 0:
                self._backup(at_epoch_end=False)

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        if self.save_freq == "epoch":
            self._backup(at_epoch_end=True)

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        state = self.model.__dict__.get("_fit_state")
        # Only a run that finished (not one ended by an exception) removes its backup.
        if (self.delete_checkpoint and state is not None and state.completed
                and distributed.is_writer()):
            for path in (self.path, self.previous_path):
                if os.path.exists(path):
                    os.remove(path)
                remove_stale_temporaries(path)  # left by a process killed mid-write

    # -- backup --------------------------------------------------------------
    def _fit_state(self) -> Any:
        state = self.model.__dict__.get("_fit_state") if self.model is not None else None
        if state is None:
            raise ValueError("BackupAndRestore only works inside `fit()`.")
        return state

    def _check_data(self, state: Any) -> None:
        adapter = state.train_iterator.adapter
        if not getattr(adapter, "resumable", False):
            raise ValueError(
                "BackupAndRestore cannot resume this training data at the same position: "
                f"{type(adapter).__name__} ({getattr(adapter, 'source_name', 'data')}) has no "
                "order that can be replayed (a generator, an iterable dataset, or a "
                "DataLoader with a custom sampler or persistent workers). Use arrays, a "
                "`fitorch.utils.Sequence`, a map-style torch Dataset, or a DataLoader with "
                "torch's own samplers (shuffle=True/False) to get exact resumption."
            )
        sequence = getattr(adapter, "sequence", None)
        if sequence is not None and _overrides_epoch_end(sequence) and not callable(
                getattr(sequence, "state_dict", None)):
            raise ValueError(
                f"BackupAndRestore cannot restore the state of {type(sequence).__name__}: it "
                "changes itself in `on_epoch_end`. Give it `state_dict()` and "
                "`load_state_dict(state)` methods (returning / taking what `on_epoch_end` "
                "changes) so a resumed run sees the same batches."
            )

    def _check_writable(self) -> None:
        try:
            os.makedirs(self.backup_dir, exist_ok=True)
            probe = os.path.join(self.backup_dir, ".write-test")
            with open(probe, "w") as f:
                f.write("ok")
            os.remove(probe)
        except OSError as e:
            raise ValueError(
                f"The backup directory {self.backup_dir!r} is not writable ({e.strerror}). "
                f"Received: backup_dir={self.backup_dir!r}"
            ) from None

    def _backup(self, at_epoch_end: bool) -> None:
        state = self._fit_state()
        fit = state.capture(at_epoch_end)
        sequence = getattr(state.train_iterator.adapter, "sequence", None)
        if sequence is not None and callable(getattr(sequence, "state_dict", None)):
            fit["sequence"] = sequence.state_dict()
        ranks: list[dict[str, Any]] = []
        parallel = self.model._parallel()
        if parallel is not None:
            # Every rank's own part goes to rank 0, which writes the one file.
            ranks = parallel.all_gather_object({"fit": fit, "step": step_state(self.model)})
        optimizer = self.model.optimizer
        with gathered(self.model):  # a sharded model's whole state on rank 0 (collectives)
            model_tensors = state_tensors(self.model)
            optimizer_state = (distributed.optimizer_state(self.model, optimizer)
                               if optimizer is not None else None)
        if not distributed.is_writer():
            return
        tensors: dict[str, torch.Tensor] = {}
        for key, value in model_tensors.items():
            tensors[f"model/{key}"] = value
        doc = {
            "fit": codec.encode(fit, tensors, "fit"),
            "optimizer": (codec.encode(optimizer_state, tensors, "optimizer")
                          if optimizer_state is not None else None),
            "fingerprint": _fingerprint(model_tensors),
            # The loss scaler and gradients accumulated between micro-batches.
            "step": codec.encode(step_state(self.model), tensors, "step"),
            "world_size": max(len(ranks), 1),
            "ranks": {str(r): {"fit": codec.encode(part["fit"], tensors, f"rank{r}/fit"),
                               "step": codec.encode(part["step"], tensors, f"rank{r}/step")}
                      for r, part in enumerate(ranks) if r > 0},
        }
        doc["checksum"] = _checksum(tensors, doc)  # a bit flip is detected on restore
        metadata = {"format": FORMAT, "version": VERSION, "doc": json.dumps(doc)}
        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint and os.path.exists(self.path):
            os.replace(self.path, self.previous_path)
        with atomic_path(self.path) as tmp:
            write_safetensors(tensors, tmp, metadata=metadata)

    # -- restore -------------------------------------------------------------
    def _restore(self, state: Any) -> None:
        """Validate the whole backup against this model, then apply it: all or nothing."""
        try:
            path = self.path
            tensors, doc = _read(path)
            checked = _validated(path, tensors, doc, self.model, state)
        except (ValueError, FileNotFoundError) as e:
            if not (self.double_checkpoint and os.path.exists(self.previous_path)):
                raise
            import warnings

            warnings.warn(f"The latest backup could not be used ({e}); resuming from the "
                          "previous one.", UserWarning, stacklevel=3)
            path = self.previous_path
            tensors, doc = _read(path)
            checked = _validated(path, tensors, doc, self.model, state)
        model_tensors, optimizer_state, fit = checked
        # The loss scaler and the gradients accumulated between micro-batches.
        step = codec.decode(doc["step"], tensors) if doc.get("step") else None
        fit, step = _this_rank(path, doc, tensors, fit, step, self.model, state)
        # Nothing was touched before this point; from here on nothing can fail on the file.
        distributed.load_state(self.model, model_tensors)
        if optimizer_state is not None:
            distributed.load_optimizer_state(self.model, self.model.optimizer, optimizer_state)
        if step is not None:
            load_step_state(self.model, step)
        sequence = getattr(state.train_iterator.adapter, "sequence", None)
        if "sequence" in fit and sequence is not None:
            sequence.load_state_dict(fit["sequence"])
        state.restore(fit)


def _this_rank(path: str, doc: dict[str, Any], tensors: dict[str, torch.Tensor],
               fit: dict[str, Any], step: Any, model: Any, state: Any) -> tuple[Any, Any]:
    """This rank's part of a backup: its own (same world size) or, on another world size,
    rank 0's position with the metric state of every saved rank on rank 0."""
    saved_world = int(doc.get("world_size", 1))
    world, rank = distributed.world_size(), distributed.rank()
    try:
        parts = [(fit, step)] + [
            (codec.decode(doc["ranks"][str(r)]["fit"], tensors),
             codec.decode(doc["ranks"][str(r)]["step"], tensors))
            for r in range(1, saved_world)]
    except (KeyError, ValueError, TypeError) as e:
        raise _damaged(path, f"the part of a rank is missing ({e})") from None
    if saved_world == world:
        return parts[rank]
    if getattr(state.train_iterator.adapter, "shard_kind", None) == "batches":
        raise ValueError(
            f"The backup was made by {saved_world} process(es) training on a Sequence, which "
            f"each take whole batches; it resumes only on {saved_world} process(es). "
            f"Received: a run of {world} process(es)"
        )
    if any((s or {}).get("accumulated") for _, s in parts):
        raise ValueError(
            f"The backup was made by {saved_world} process(es) in the middle of a group of "
            "accumulated gradients; it resumes only on the same number of processes. "
            f"Received: a run of {world} process(es)"
        )
    fit = dict(parts[0][0])
    if rank == 0:
        from fitorch.distributed import merge_metric_states

        fit["metrics"] = merge_metric_states([p[0]["metrics"] for p in parts], model)
    else:
        fit["metrics"] = {}
        fit["rng"] = None  # this rank keeps its own generators
    return fit, parts[0][1]


def _read(path: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    import safetensors

    tensors = read_safetensors(path)
    try:
        with safetensors.safe_open(path, framework="pt") as f:
            metadata = f.metadata() or {}
        if metadata.get("format") != FORMAT:
            raise ValueError("not a fitorch backup")
        doc = json.loads(metadata["doc"])
        if not isinstance(doc, dict) or not {"fit", "optimizer", "fingerprint"} <= set(doc):
            raise ValueError("its description lacks 'fit', 'optimizer' or 'fingerprint'")
    except (KeyError, json.JSONDecodeError, ValueError, OSError, RecursionError) as e:
        raise ValueError(
            f"The backup {path!r} is corrupted or not a fitorch backup ({e}). Delete it to "
            "start afresh."
        ) from None
    return tensors, doc


def _damaged(path: str, what: str) -> ValueError:
    return ValueError(
        f"The backup {path!r} does not fit this model: {what}. Nothing was restored; delete "
        f"the backup (or use another backup_dir) to start afresh. Received: backup {path!r}"
    )


def _validated(path: str, tensors: dict[str, torch.Tensor], doc: dict[str, Any], model: Any,
               state: Any) -> tuple[dict[str, torch.Tensor], Any, dict[str, Any]]:
    """Every check of a backup against `model`, before any state is touched.

    Returns the model tensors by state key, the decoded optimizer state (None when there
    is none to load) and the decoded fit state; raises ValueError naming the first
    problem: a checksum mismatch (a bit flip), another model, a missing tensor, a tensor
    of another shape or dtype, optimizer state that does not match the parameters.
    """
    expected_sum = doc.get("checksum")
    if expected_sum is not None and expected_sum != _checksum(tensors, doc):
        raise _damaged(path, "its checksum does not match its contents (the file was "
                       "altered or damaged on disk)")
    ours = state_tensors(model)
    if doc["fingerprint"] != _fingerprint(ours):
        saved = {k: tuple(v) for k, v in doc["fingerprint"]}
        mine = {k: tuple(v) for k, v in _fingerprint(ours)}
        diff = sorted(set(saved.items()) ^ set(mine.items()))[:6]
        raise ValueError(
            f"The backup in {os.path.dirname(path)!r} was made by a different model (weights "
            f"that differ: {diff}). Delete it or use another backup_dir to start afresh."
        )
    model_tensors: dict[str, torch.Tensor] = {}
    for key, value in ours.items():
        saved_tensor = tensors.get(f"model/{key}")
        if saved_tensor is None:
            raise _damaged(path, f"the tensor 'model/{key}' is missing")
        if saved_tensor.shape != value.shape or saved_tensor.dtype != value.dtype:
            raise _damaged(
                path, f"the tensor 'model/{key}' has shape {tuple(saved_tensor.shape)} and "
                f"dtype {saved_tensor.dtype}, the model's has shape {tuple(value.shape)} and "
                f"dtype {value.dtype}")
        model_tensors[key] = saved_tensor
    try:
        fit = codec.decode(doc["fit"], tensors)
        optimizer = model.optimizer
        optimizer_state = (codec.decode(doc["optimizer"], tensors)
                           if doc["optimizer"] is not None and optimizer is not None else None)
    except (ValueError, KeyError, TypeError) as e:
        raise _damaged(path, f"its training state is incomplete ({e})") from None
    if not isinstance(fit, dict) or not {"epoch", "step", "epochs", "data", "rng", "metrics",
                                         "callbacks"} <= set(fit):
        raise _damaged(path, "its training state lacks the position in the data")
    if fit["epochs"] > state.epochs:
        raise ValueError(
            f"The backup was made by a fit with epochs={fit['epochs']}, this one has "
            f"epochs={state.epochs}."
        )
    if optimizer_state is not None:
        _check_optimizer_state(path, optimizer_state, optimizer)
    return model_tensors, optimizer_state, fit


# Optimizers whose per-parameter state tensors all have their parameter's shape (or are
# scalars); others (factored ones) keep state of other shapes.
_ELEMENTWISE = (torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW, torch.optim.RMSprop,
                torch.optim.Adagrad, torch.optim.Adamax, torch.optim.NAdam, torch.optim.RAdam)


def _check_optimizer_state(path: str, saved: Any, optimizer: torch.optim.Optimizer) -> None:
    from fitorch.optimizers.base import KerasOptimizer

    groups = saved.get("param_groups") if isinstance(saved, dict) else None
    per_param = saved.get("state") if isinstance(saved, dict) else None
    if not isinstance(groups, list) or not isinstance(per_param, dict) \
            or len(groups) != len(optimizer.param_groups):
        raise _damaged(path, "its optimizer state has another structure than the optimizer's")
    params: dict[Any, torch.Tensor] = {}
    for saved_group, group in zip(groups, optimizer.param_groups):
        ids = saved_group.get("params") if isinstance(saved_group, dict) else None
        if not isinstance(ids, list) or len(ids) != len(group["params"]):
            raise _damaged(path, "its optimizer state is for another number of parameters")
        params.update(zip(ids, group["params"]))
    elementwise = isinstance(optimizer, (KerasOptimizer, *_ELEMENTWISE))
    for pid, entries in per_param.items():
        param = params.get(pid)
        if param is None or not isinstance(entries, dict):
            raise _damaged(path, f"its optimizer state names an unknown parameter {pid!r}")
        for name, value in entries.items():
            if elementwise and isinstance(value, torch.Tensor) and value.dim() > 0 \
                    and value.shape != param.shape:
                raise _damaged(
                    path, f"the optimizer state {name!r} of parameter {pid} has shape "
                    f"{tuple(value.shape)}, the parameter has shape {tuple(param.shape)}")


def _checksum(tensors: Mapping[str, torch.Tensor], doc: Mapping[str, Any]) -> str:
    """SHA-256 over every tensor (name, dtype, shape, bytes) and the description."""
    digest = hashlib.sha256()
    for key in sorted(tensors):
        t = tensors[key].detach()
        if t.device.type != "cpu":
            t = t.cpu()  # sync: per backup, the bytes must be read anyway
        digest.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.contiguous().reshape(-1).view(torch.uint8).numpy().data)
    rest = {k: v for k, v in doc.items() if k != "checksum"}
    digest.update(json.dumps(rest, sort_keys=True).encode())
    return digest.hexdigest()


def _fingerprint(tensors: Mapping[str, torch.Tensor]) -> list[list[Any]]:
    return [[k, list(v.shape)] for k, v in tensors.items()]


def _overrides_epoch_end(sequence: Any) -> bool:
    from fitorch.data.sequence import Sequence

    method = getattr(type(sequence), "on_epoch_end", None)
    return method is not None and method is not getattr(Sequence, "on_epoch_end", None)
