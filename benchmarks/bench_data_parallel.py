"""Data-parallel scaling: W1 (MLP 784-256-256-10, global batch 128) on 1 and 2 processes.

Side by side in one run: fitorch (`fit()` unchanged under a torchrun-style launch) and a
hand-written PyTorch loop (DDP + DistributedSampler with a per-rank batch of 128 / W,
the same global batch). Every process gets one thread; the figures are medians over
the epochs after the first: wall seconds per epoch (the slowest rank) and CPU seconds
per epoch summed over the ranks, with the speed-up over 1 process.

    .venv/bin/python benchmarks/bench_data_parallel.py                 # CPU, gloo
    .venv/bin/python benchmarks/bench_data_parallel.py --device cuda   # GPUs, NCCL

On the 2-core CI machine, 2 processes share 2 cores with nothing else: the ideal
wall speed-up is 2x, and any other load on the machine shows directly.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
TAG = "DP_RESULT "


def child(variant: str, epochs: int, scale: float, device: str) -> None:
    sys.path.insert(0, str(ROOT))
    import numpy as np
    import torch
    from peers.workloads import LEARNING_RATE, WORKLOADS, make_data, torch_module

    torch.set_num_threads(1)
    w = WORKLOADS["W1"]
    x, y = make_data(w, scale, 0)
    torch.manual_seed(0)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = torch.device(f"cuda:{local}" if device == "cuda" else "cpu")
    module = torch_module(w).to(dev)
    walls: list[float] = []
    cpus: list[float] = []

    def begin() -> None:
        walls.append(-time.perf_counter())
        cpus.append(-time.process_time())

    def end() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        walls[-1] += time.perf_counter()
        cpus[-1] += time.process_time()

    if variant == "fitorch":
        import fitorch as ft

        model = ft.Model(module)
        model.compile(optimizer=torch.optim.Adam(module.parameters(), lr=LEARNING_RATE),
                      loss=ft.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"], jit_compile=False)

        class EpochTimer(ft.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):  # type: ignore[no-untyped-def]
                begin()

            def on_epoch_end(self, epoch, logs=None):  # type: ignore[no-untyped-def]
                end()

        model.fit(torch.from_numpy(x), torch.from_numpy(y), batch_size=w.batch_size,
                  epochs=epochs, shuffle=True, verbose=0, callbacks=[EpochTimer()])
    else:  # the hand-written loop
        import torch.distributed as dist
        from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

        data = TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
        net: torch.nn.Module = module
        sampler = None
        if world > 1:
            dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
            net = torch.nn.parallel.DistributedDataParallel(
                module, device_ids=[local] if dev.type == "cuda" else None)
            sampler = DistributedSampler(data, shuffle=True, seed=0)
        loader = DataLoader(data, batch_size=w.batch_size // world, sampler=sampler,
                            shuffle=sampler is None)
        opt = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE)
        loss_fn = torch.nn.CrossEntropyLoss()
        for epoch in range(epochs):
            if sampler is not None:
                sampler.set_epoch(epoch)
            begin()
            correct = torch.zeros((), device=dev)
            for xb, yb in loader:
                xb, yb = xb.to(dev, non_blocking=True), yb.to(dev, non_blocking=True)
                out = net(xb)
                loss = loss_fn(out, yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                correct += (out.argmax(1) == yb).sum()
            float(correct)
            end()
    del np
    print(TAG + json.dumps({"rank": rank, "wall": walls, "cpu": cpus}), flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launch(variant: str, world: int, args: argparse.Namespace) -> dict[str, float]:
    port = free_port()
    procs = []
    for rank in range(world):
        env = dict(os.environ, OMP_NUM_THREADS="1")
        if world > 1:
            env.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                       MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        procs.append(subprocess.Popen(
            [sys.executable, __file__, "--child", variant, "--epochs", str(args.epochs),
             "--scale", str(args.scale), "--device", args.device],
            env=env, stdout=subprocess.PIPE, text=True))
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=1800)
        line = next(ln for ln in out.splitlines() if ln.startswith(TAG))
        results.append(json.loads(line[len(TAG):]))
    walls = [max(r["wall"][e] for r in results) for e in range(1, args.epochs)]
    cpus = [sum(r["cpu"][e] for r in results) for e in range(1, args.epochs)]
    return {"wall": statistics.median(walls), "cpu": statistics.median(cpus)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--scale", type=float, default=0.5, help="fraction of W1's 60k samples")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--worlds", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    if args.child:
        child(args.child, args.epochs, args.scale, args.device)
        return
    print(f"W1 x{args.scale}, {args.epochs} epochs (first excluded), device {args.device}")
    print(f"{'variant':<10} {'procs':>5} {'wall s/epoch':>13} {'speed-up':>9} "
          f"{'CPU s/epoch':>12} {'vs hand loop':>13}")
    base: dict[str, float] = {}
    hand: dict[int, float] = {}
    for world in args.worlds:
        for variant in ("torch", "fitorch"):
            r = launch(variant, world, args)
            base.setdefault(variant, r["wall"])
            if variant == "torch":
                hand[world] = r["wall"]
            print(f"{variant:<10} {world:>5} {r['wall']:>13.3f} "
                  f"{base[variant] / r['wall']:>8.2f}x {r['cpu']:>12.3f} "
                  f"{r['wall'] / hand[world]:>13.2f}", flush=True)


if __name__ == "__main__":
    main()
