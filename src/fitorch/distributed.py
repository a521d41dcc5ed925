"""Data-parallel training under `torchrun`: the only module that imports `torch.distributed`.

The same script runs on one process or many. `context()` detects a launch (a process
group the caller already made, e.g. Ray Train's; torchrun's or Kubernetes'
`WORLD_SIZE`/`RANK`/`LOCAL_RANK`; SLURM's `srun` variables), makes the process group
at the first fit/evaluate/predict (gloo for CPU tensors, NCCL for CUDA ones) and
returns the `Parallel` context every other module talks to; in a single process it
returns None and nothing here runs.

The contract (Keras's global-batch semantics, SPEC.md):
- `batch_size` is the global batch B; an epoch has ceil(N / B) steps on every rank.
- Every rank draws the one-process order (rank 0 draws it, `shared_order`); global
  batch k is positions [kB, (k+1)B) of it and rank r of W takes positions r::W.
  No padding, no duplicated sample.
- The gradient applied is that of the mean loss over the global batch: every rank
  weighs its gradient by its number of samples and the weighted sum is divided by
  the global count (`all_reduce_gradients`), also for a partial last batch and for a
  rank whose share is empty (it adds zeros but joins the collective).
- Metric *state* is summed across ranks once per epoch and evaluation
  (`reduce_metric_states`); a stop asked on any rank is agreed at the next batch
  end (`StopVote`); rank 0 alone prints and writes files.

Why the gradients are reduced by the step and not by DDP's autograd hooks: DDP
averages only what flows through its wrapper's forward. The step reduces exactly the
gradients it is about to apply, so a user's `train_step` (through `self(x)`, a
sub-model or a second optimizer), `jit_compile=True` graphs, gradient accumulation
groups and uneven shares all get the global-batch gradient by one mechanism, and no
parameter left out of a loss can stall a collective. The price is no overlap of the
all-reduce with the backward pass (see benchmarks/RESULTS.md).
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

TIMEOUT_ENV = "FITORCH_DIST_TIMEOUT"
DEFAULT_TIMEOUT_S = 300.0
BUCKET_BYTES = 25 * 2**20  # DDP's default bucket size

_context: Parallel | None = None


class CollectiveError(RuntimeError):
    """A collective operation failed: a peer process died or did not reach it in time."""


def _launch_env() -> tuple[int, int, int] | None:
    """(rank, world size, local rank) from torchrun's or SLURM's variables, or None."""
    env = os.environ
    if "WORLD_SIZE" in env and "RANK" in env:
        world = int(env["WORLD_SIZE"])
        return (int(env["RANK"]), world, int(env.get("LOCAL_RANK", "0"))) if world > 1 else None
    if "SLURM_NTASKS" in env and "SLURM_PROCID" in env and int(env["SLURM_NTASKS"]) > 1:
        if "MASTER_ADDR" not in env:
            # srun without torchrun: the node that launched the job step hosts the store.
            env["MASTER_ADDR"] = env.get("SLURM_LAUNCH_NODE_IPADDR", "127.0.0.1")
        env.setdefault("MASTER_PORT", str(29500 + int(env.get("SLURM_JOB_ID", "0")) % 1000))
        rank, world = int(env["SLURM_PROCID"]), int(env["SLURM_NTASKS"])
        env.setdefault("RANK", str(rank))
        env.setdefault("WORLD_SIZE", str(world))
        return rank, world, int(env.get("SLURM_LOCALID", "0"))
    return None


def launched() -> bool:
    """Whether this process is one of several (a process group exists, or a launcher's
    variables say so). Cheap; never makes a process group."""
    if _context is not None:
        return True
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size() > 1
    return _launch_env() is not None


def context(device: torch.device | None = None) -> Parallel | None:
    """The data-parallel context, made at first use; None in a single process.

    `device`: where the model lives (its type picks NCCL or gloo when fitorch makes
    the process group).

    Example:
        >>> parallel = context()   # under torchrun --nproc_per_node=2: a Parallel
        >>> parallel.rank, parallel.world_size
        (0, 2)
    """
    global _context
    if _context is not None:
        if dist.is_initialized():
            return _context
        _context = None  # the group was destroyed by its owner
    if not dist.is_available():
        return None
    owner = False
    if dist.is_initialized():
        if dist.get_world_size() < 2:
            return None
        local = int(os.environ.get("LOCAL_RANK", "0"))
    else:
        launch = _launch_env()
        if launch is None:
            return None
        _, _, local = launch
        cuda = torch.cuda.is_available() and (device is None or device.type == "cuda")
        if cuda:
            torch.cuda.set_device(local)
        dist.init_process_group(backend="cpu:gloo,cuda:nccl" if cuda else "gloo",
                                timeout=_timeout())
        owner = True
    _context = Parallel(local_rank=local, owner=owner)
    if owner:
        atexit.register(_teardown)
    return _context


def _timeout() -> datetime.timedelta:
    raw = os.environ.get(TIMEOUT_ENV)
    try:
        seconds = float(raw) if raw else DEFAULT_TIMEOUT_S
    except ValueError:
        raise ValueError(
            f"{TIMEOUT_ENV} must be a number of seconds. Received: {TIMEOUT_ENV}={raw!r}"
        ) from None
    return datetime.timedelta(seconds=seconds)


def _teardown() -> None:
    global _context
    if _context is not None and _context.owner and dist.is_initialized():
        # Every rank reaches exit before any closes its connections: a rank that closed
        # them while a peer's transport thread still used them ends that peer with
        # std::terminate. A dead peer fails the barrier at once; a stuck one after 30 s.
        with contextlib.suppress(Exception):
            dist.monitored_barrier(group=_context.control,
                                   timeout=datetime.timedelta(seconds=30))
        with contextlib.suppress(Exception):
            dist.destroy_process_group()
    _context = None


def is_writer() -> bool:
    """True on the process that prints and writes files: rank 0, or a single process."""
    return _context is None or _context.rank == 0


def rank() -> int:
    return 0 if _context is None else _context.rank


def world_size() -> int:
    return 1 if _context is None else _context.world_size


class Parallel:
    """One process of a data-parallel run: its rank and the collectives fitorch uses.

    Every method is a collective: all ranks call it in the same order.
    """

    def __init__(self, local_rank: int, owner: bool) -> None:
        self.rank = dist.get_rank()
        self.world_size = dist.get_world_size()
        self.local_rank = local_rank
        self.owner = owner  # fitorch made the process group (and destroys it at exit)
        self.timeout = _timeout()
        # Control messages (votes, objects, RNG states) go over gloo, on the CPU: they
        # never wait for a CUDA stream, whatever the backend of the gradients.
        backend = dist.get_backend()
        self.control = None if backend == "gloo" else dist.new_group(backend="gloo",
                                                                      timeout=self.timeout)

    # ---------------------------------------------------------------- errors
    @contextlib.contextmanager
    def _collective(self, what: str) -> Iterator[None]:
        try:
            yield
        except (RuntimeError, dist.DistError) as error:
            if isinstance(error, CollectiveError):
                raise
            raise CollectiveError(
                f"Data-parallel training stopped: {what} failed on rank {self.rank} of "
                f"{self.world_size}. Another rank died, raised an error, or did not reach "
                f"this point within {self.timeout.total_seconds():g} s (set {TIMEOUT_ENV} "
                f"to change the limit). Cause: {error}"
            ) from error

    # ----------------------------------------------------------- broadcasts
    def broadcast_module(self, module: nn.Module) -> None:
        """Rank 0's parameters and buffers on every rank (the same starting point)."""
        tensors = [p.data for p in module.parameters()] + list(module.buffers())
        with self._collective("broadcasting the weights"), torch.no_grad():
            for bucket in _buckets([t for t in tensors if t.numel()]):
                flat = torch.cat([t.reshape(-1) for t in bucket])
                dist.broadcast(flat, src=0)
                _unflatten_into(flat, bucket)

    def shard_model(self, model: nn.Module, strategy: Any) -> None:
        """Apply `compile(distribution=...)` once the model is built: rank 0's weights
        everywhere, then FSDP2's `fully_shard` on every module owning parameters and on
        the model (gradients summed, the step divides by the global sample count), or
        BatchNorm statistics over the global batch."""
        from fitorch.distribution import FullyShardedDataParallel

        device = next((p.device for p in model.parameters()), None)
        if device is not None and device.type == "cuda" and device.index != self.local_rank:
            # `model.to("cuda")` means this process's GPU: cuda:LOCAL_RANK under torchrun.
            model.to(torch.device("cuda", self.local_rank))
        self.broadcast_module(model)
        if isinstance(strategy, FullyShardedDataParallel):
            from torch.distributed.fsdp import FSDPModule, fully_shard

            units = [m for m in model.modules()
                     if m is not model and any(True for _ in m.parameters(recurse=False))]
            for unit in units:
                fully_shard(unit, reshard_after_forward=strategy.reshard_after_forward)
            fully_shard(model, reshard_after_forward=strategy.reshard_after_forward)
            for m in model.modules():
                if isinstance(m, FSDPModule):
                    m.set_gradient_divide_factor(1.0)
                    m.set_force_sum_reduction_for_comms(True)  # gloo has no PREMUL_SUM
            model.__dict__["_fitorch_sharded"] = True
        elif getattr(strategy, "sync_batchnorm", False):
            sync_batchnorm(model, self)

    def full_state(self, model: nn.Module) -> dict[str, Any]:
        """A sharded model's whole state on rank 0 (on the CPU); {} on the other ranks."""
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        with self._collective("gathering the sharded weights"):
            return get_model_state_dict(
                model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))

    def load_full_state(self, model: nn.Module, state: dict[str, Any]) -> None:
        """Every rank's shards of `state` (the whole state, read by every rank)."""
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

        with self._collective("loading the sharded weights"):
            set_model_state_dict(model, state, options=StateDictOptions(full_state_dict=True))

    def all_gather_object(self, obj: Any) -> list[Any]:
        """Every rank's `obj`, in rank order, on every rank."""
        out: list[Any] = [None] * self.world_size
        with self._collective("gathering objects"):
            dist.all_gather_object(out, obj, group=self.control)
        return out

    @contextlib.contextmanager
    def shared_order(self) -> Iterator[None]:
        """Draw a data order from rank 0's torch RNG: rank 0 draws as one process would
        (its RNG advances as it would alone); every other rank draws from a copy of
        rank 0's state and keeps its own RNG for the rest (dropout differs by rank)."""
        state = torch.get_rng_state()
        with self._collective("sharing the data order's random state"):
            dist.broadcast(state, src=0, group=self.control)
        if self.rank == 0:
            yield
            return
        own = torch.get_rng_state()
        torch.set_rng_state(state)
        try:
            yield
        finally:
            torch.set_rng_state(own)

    # -------------------------------------------------------------- reductions
    def all_reduce_gradients(self, params: Sequence[torch.Tensor], count: float) -> None:
        """Replace each `p.grad` with the global-batch gradient.

        `p.grad` holds the gradient of this rank's mean loss over its `count` samples
        (None: no gradient, e.g. an empty share). The result on every rank is
        sum_r(count_r * grad_r) / sum_r(count_r): the gradient of the mean over all
        samples. A parameter without a gradient on every rank keeps None (as in one
        process, the optimizer skips it). The counts travel in the first bucket: one
        collective per bucket.
        """
        params = list(params)
        if not params:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        meta = torch.tensor([float(count)] + [0.0 if p.grad is None else 1.0 for p in params],
                            dtype=torch.float64)
        with self._collective("the gradient all-reduce"), torch.no_grad():
            buckets = _buckets(grads)
            first = buckets[0][0]
            # On the CPU the counts ride in the first bucket (one collective fewer); for
            # CUDA gradients they go over the CPU control group, so reading them back
            # never waits for the device.
            fused = first.device.type == "cpu" and first.dtype in (torch.float32, torch.float64)
            if not fused:
                dist.all_reduce(meta, group=self.control)
            total: float | None = None if fused else max(float(meta[0]), 1e-30)
            for i, bucket in enumerate(buckets):
                parts = [g.reshape(-1) for g in bucket]
                tail = meta.numel() if i == 0 and fused else 0
                if tail:
                    parts.append(meta.to(first.dtype))
                flat = torch.cat(parts)
                body = flat[: flat.numel() - tail]
                if count != 1:
                    body.mul_(count)
                dist.all_reduce(flat)
                if tail:
                    meta = flat[-tail:].to(torch.float64)
                    total = max(float(meta[0]), 1e-30)
                assert total is not None
                body.div_(total)
                _unflatten_into(body, bucket)
        for p, g, anywhere in zip(params, grads, meta[1:].tolist()):
            p.grad = g if anywhere else None

    def reduce_metric_states(self, model: Any) -> None:
        """Sum every metric's state across ranks (sums, counts, confusion counts), so
        each sample counts exactly once; torchmetrics states by their own reduction."""
        named = model._named_metrics()
        local = {key: m.state_dict() for key, m in named.items()
                 if callable(getattr(m, "state_dict", None))}
        if not local:
            return
        merged = merge_metric_states(self.all_gather_object(_to_cpu(local)), model)
        for key, m in named.items():
            if key in local:
                m.load_state_dict(_like(merged[key], local[key]))

    def average_buffers(self, module: nn.Module) -> None:
        """Floating buffers (BatchNorm's running statistics) averaged across ranks, so
        every rank evaluates and saves the same model; each rank's statistics follow
        its own shards during the epoch."""
        floats = [b for b in module.buffers() if b.is_floating_point() and b.numel()]
        with self._collective("averaging the buffers"), torch.no_grad():
            for bucket in _buckets(floats):
                flat = torch.cat([b.reshape(-1) for b in bucket])
                dist.all_reduce(flat)
                flat.div_(self.world_size)
                _unflatten_into(flat, bucket)

    def all_true(self, flag: bool) -> bool:
        """Whether `flag` holds on every rank."""
        t = torch.tensor([0 if flag else 1], dtype=torch.int32)
        with self._collective("agreeing on the data"):
            dist.all_reduce(t, group=self.control)
        return int(t) == 0

    def any_true(self, flag: bool) -> bool:
        """Whether `flag` holds on some rank."""
        return not self.all_true(not flag)

    def sum_int(self, value: int) -> int:
        t = torch.tensor([value], dtype=torch.int64)
        with self._collective("counting samples"):
            dist.all_reduce(t, group=self.control)
        return int(t)

    def barrier(self) -> None:
        with self._collective("waiting for every rank (barrier)"):
            dist.barrier(group=self.control)

    def mean_of(self, logs: dict[str, Any]) -> dict[str, Any]:
        """Log values averaged across ranks (numbers; anything else: rank 0's)."""
        gathered = self.all_gather_object(logs)
        out: dict[str, Any] = {}
        for key, value in gathered[0].items():
            values = [g.get(key) for g in gathered]
            if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                out[key] = float(sum(values)) / len(values)
            else:
                out[key] = value
        return out

    def ensure_same_weights(self, module: nn.Module) -> None:
        """Check that every rank holds the same weights (a float64 checksum per tensor);
        if not (a step changed them outside an optimizer step), warn once and continue
        from rank 0's weights."""
        with torch.no_grad():
            sums = [float(p.detach().double().sum()) for p in module.parameters()]  # sync
        if len({tuple(s) for s in self.all_gather_object(sums)}) == 1:
            return
        if not module.__dict__.get("_fitorch_diverged_warned") and self.rank == 0:
            warnings.warn(
                "Data-parallel: the weights differ across ranks at the end of an epoch, so "
                "some update did not go through an optimizer step (fitorch averages the "
                "gradients of every optimizer step). Continuing from rank 0's weights. "
                "Update weights with an optimizer (`optimizer.step()` or "
                "`optimizer.apply(grads, vars)`).", UserWarning, stacklevel=3)
        module.__dict__["_fitorch_diverged_warned"] = True
        self.broadcast_module(module)

    def stop_vote(self) -> StopVote:
        return StopVote(self)


class StopVote:
    """`stop_training` agreed across ranks without waiting on every batch: the vote cast
    at batch end k is read at batch end k + 1 (it has long arrived), so a stop asked on
    any rank stops every rank at the next batch end; `final()` agrees at once."""

    def __init__(self, parallel: Parallel) -> None:
        self.parallel = parallel
        self._pending: tuple[Any, torch.Tensor] | None = None

    def _cast(self, flag: bool) -> None:
        t = torch.tensor([1 if flag else 0], dtype=torch.int32)
        with self.parallel._collective("agreeing on stop_training"):
            work = dist.all_reduce(t, group=self.parallel.control, async_op=True)
        self._pending = (work, t)

    def _read(self) -> bool:
        if self._pending is None:
            return False
        work, t = self._pending
        self._pending = None
        with self.parallel._collective("agreeing on stop_training"):
            work.wait()
        return int(t) > 0

    def batch_end(self, flag: bool) -> bool:
        """Cast this batch's vote; True when some rank asked to stop at the last one."""
        agreed = self._read()
        if agreed:
            return True
        self._cast(flag)
        return False

    def final(self, flag: bool) -> bool:
        """Agree now (an epoch's end): True when some rank asks to stop."""
        earlier = self._read()
        return self.parallel.any_true(flag) or earlier


# ------------------------------------------------------------------ helpers
def is_sharded(model: nn.Module) -> bool:
    """Whether `model` is sharded with FSDP2 (`compile(distribution="fsdp")`)."""
    return bool(model.__dict__.get("_fitorch_sharded"))


def optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """`optimizer.state_dict()`; for a sharded model the whole state, on rank 0 (a
    collective: every rank calls it), keyed by parameter name."""
    if not is_sharded(model):
        return optimizer.state_dict()
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        get_optimizer_state_dict,
    )

    whole = get_optimizer_state_dict(
        model, optimizer, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    # Optimizer-wide entries besides torch's two (fitorch's step counter) are the same on
    # every rank and not sharded.
    own = optimizer.state_dict()
    whole.update({k: v for k, v in own.items() if k not in ("state", "param_groups")})
    return whole


def load_state(model: nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    """Copy whole tensors (by state key) into the model; a sharded model takes its shards."""
    if is_sharded(model):
        assert _context is not None
        _context.load_full_state(model, tensors)
        return
    with torch.no_grad():
        for key, value in model.state_dict(keep_vars=True).items():
            value.detach().copy_(tensors[key])


def load_optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer,
                         state: dict[str, Any]) -> None:
    """Restore `optimizer_state()`; a sharded model's optimizer takes its shards."""
    if not is_sharded(model):
        optimizer.load_state_dict(state)
        return
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        set_optimizer_state_dict,
    )

    assert _context is not None
    extra = {k: v for k, v in state.items() if k not in ("state", "param_groups")}
    torch_part = {k: v for k, v in state.items() if k in ("state", "param_groups")}
    with _context._collective("loading the sharded optimizer state"):
        set_optimizer_state_dict(model, optimizer, torch_part,
                                 options=StateDictOptions(full_state_dict=True))
    load_extra = getattr(optimizer, "_load_extra_state", None)
    for value in extra.values():
        if callable(load_extra) and isinstance(value, dict):
            load_extra(value)


def sync_batchnorm(model: nn.Module, parallel: Parallel) -> None:
    """BatchNorm over the global batch: torch's own BatchNorm layers become
    `SyncBatchNorm` (CUDA only, torch's kernel); fitorch's `BatchNormalization` layers
    all-reduce their batch statistics themselves."""
    from fitorch.layers.normalization import BatchNormalization

    torch_bn = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
                and not isinstance(m, nn.SyncBatchNorm)]
    if torch_bn:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        if device.type != "cuda":
            raise ValueError(
                "sync_batchnorm=True converts torch.nn.BatchNorm layers to torch's "
                "SyncBatchNorm, which runs on CUDA only. Move the model to a GPU, or use "
                "fitorch.layers.BatchNormalization (synchronized on any device). Received: "
                f"{type(torch_bn[0]).__name__} on {device}"
            )
        nn.SyncBatchNorm.convert_sync_batchnorm(model)  # children replaced in place
    for m in model.modules():
        if isinstance(m, BatchNormalization):
            m.__dict__["_sync_statistics"] = all_reduce_sum_differentiable


def all_reduce_sum_differentiable(t: torch.Tensor) -> torch.Tensor:
    """Sum of `t` over ranks, differentiable (each rank's gradient is the sum of the
    ranks' output gradients)."""
    from torch.distributed.nn.functional import all_reduce

    return all_reduce(t)


def merge_metric_states(states: list[dict[str, Any]], model: Any) -> dict[str, Any]:
    """Several ranks' metric states (`Model._metric_states()`) combined into one: summed
    unless a metric declares otherwise (see `_metric_reductions`)."""
    named = model._named_metrics()
    merged: dict[str, Any] = {}
    for key in states[0]:
        parts = [s[key] for s in states if key in s]
        reductions = _metric_reductions(named[key]) if key in named else {}
        merged[key] = _merge_states(parts, reductions)
    return merged


def _buckets(tensors: Iterable[torch.Tensor]) -> list[list[torch.Tensor]]:
    """Tensors grouped by device and dtype into buckets of about BUCKET_BYTES."""
    groups: dict[tuple[torch.device, torch.dtype], list[list[torch.Tensor]]] = {}
    for t in tensors:
        buckets = groups.setdefault((t.device, t.dtype), [[]])
        last = buckets[-1]
        if last and sum(x.numel() for x in last) * t.element_size() >= BUCKET_BYTES:
            last = []
            buckets.append(last)
        last.append(t)
    return [b for buckets in groups.values() for b in buckets]


def _unflatten_into(flat: torch.Tensor, bucket: list[torch.Tensor]) -> None:
    offset = 0
    for t in bucket:
        n = t.numel()
        t.copy_(flat[offset : offset + n].view_as(t))
        offset += n


def _to_cpu(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_cpu(v) for v in value]
    return value


def _like(value: Any, reference: Any) -> Any:
    """`value` (reduced on the CPU) on the devices of `reference`."""
    if isinstance(value, torch.Tensor) and isinstance(reference, torch.Tensor):
        return value.to(reference.device)
    if isinstance(value, dict) and isinstance(reference, dict):
        return {k: _like(v, reference.get(k)) for k, v in value.items()}
    if isinstance(value, list) and isinstance(reference, list) and len(value) == len(reference):
        return [_like(v, r) for v, r in zip(value, reference)]
    return value


def _metric_reductions(metric: Any) -> dict[str, str]:
    """How each state of `metric` combines across ranks: "sum" unless declared.

    A fitorch metric may declare `_state_reductions = {"attr": "max"}`; a wrapped
    torchmetrics metric brings its own (`dist_reduce_fx`)."""
    inner = getattr(metric, "metric", None)
    own = getattr(inner, "_reductions", None)
    if isinstance(own, dict):
        names = {}
        for key, fn in own.items():
            name = fn if isinstance(fn, str) else getattr(fn, "__name__", "sum")
            names[key] = {"dim_zero_sum": "sum", "dim_zero_mean": "mean", "dim_zero_max": "max",
                          "dim_zero_min": "min", "dim_zero_cat": "cat"}.get(name, name)
        return names
    return dict(getattr(metric, "_state_reductions", {}))


def _merge_states(states: list[Any], reductions: dict[str, str], key: str = "") -> Any:
    first = states[0]
    if isinstance(first, dict):
        return {k: _merge_states([s[k] for s in states], reductions, k) for k in first}
    how = reductions.get(key, "sum")
    if first is None or isinstance(first, (bool, str)):
        return first
    if how == "cat":
        if isinstance(first, list):
            return [v for s in states for v in s]
        return torch.cat([torch.as_tensor(s).reshape(-1, *torch.as_tensor(s).shape[1:])
                          for s in states])
    if isinstance(first, list):
        return [_merge_states([s[i] for s in states], reductions, key)
                for i in range(len(first))]
    if isinstance(first, torch.Tensor):
        stacked = torch.stack([torch.as_tensor(s) for s in states])
        if how == "max":
            return stacked.max(0).values
        if how == "min":
            return stacked.min(0).values
        if how == "mean":
            return stacked.float().mean(0).to(first.dtype)
        return stacked.sum(0)
    if isinstance(first, (int, float)):
        ops = {"max": max, "min": min}
        if how in ops:
            return ops[how](states)
        total = sum(states)
        return total / len(states) if how == "mean" else total
    return first


__all__ = ["CollectiveError", "Parallel", "StopVote", "context", "is_writer", "launched",
           "rank", "world_size"]
