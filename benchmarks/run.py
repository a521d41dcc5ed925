"""Issue 6's benchmark: fitorch against a hand-written PyTorch loop and its peers.

One command runs every workload (W1-W4 training, P1 predict; see
`peers/workloads.py`) for every variant (see `peers/__init__.py`): fitorch eager,
`jit_compile=True`, `steps_per_execution=8` and with its Keras-style Adam; the
hand-written loop (the 1.00 reference) eager and under `torch.compile`; Keras 3 on
the torch and JAX backends; PyTorch Lightning; poutyne. Each (variant, workload)
runs in its own subprocess with the same data, seed and thread count (the process
is pinned to that many cores), several times, interleaved so that drifts in
machine load hit every variant alike. The first epoch of every run is excluded;
the figures are medians over the remaining epochs of all runs, in CPU seconds
(`time.process_time`, all threads) and wall seconds, with ratios to the reference.
For compiled variants, compile time = median first epoch - median later epoch (wall).

    .venv/bin/python benchmarks/run.py                       # everything, 3 repeats
    .venv/bin/python benchmarks/run.py --quick               # 1 repeat, 1/4 of the samples
    .venv/bin/python benchmarks/run.py --workloads W1 W3 --variants torch fitorch keras-jax

A variant whose framework is missing is reported as "not installed" (peers come
from `benchmarks/setup.sh`); a variant that fails prints its error line and the
run goes on.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from peers import REFERENCE, VARIANTS, Variant
from peers.workloads import WORKLOADS, make_data

RESULT_TAG = "BENCH_RESULT "
ROOT = Path(__file__).resolve().parent


# ----------------------------------------------------------------------------- child
def pin_threads(threads: int) -> None:
    """Restrict this process to `threads` cores, so no framework gets more CPU than another."""
    if hasattr(os, "sched_setaffinity"):
        cores = sorted(os.sched_getaffinity(0))
        if threads < len(cores):
            os.sched_setaffinity(0, cores[:threads])


def child(variant_name: str, workload_name: str, epochs: int, threads: int, scale: float,
          seed: int) -> None:
    variant, w = VARIANTS[variant_name], WORKLOADS[workload_name]
    pin_threads(threads)
    import numpy as np

    np.random.seed(seed)
    if variant.env.get("KERAS_BACKEND") != "jax":
        import torch

        torch.set_num_threads(threads)
        torch.manual_seed(seed)
    x, y = make_data(w, scale, seed)
    module = importlib.import_module(f"peers.{variant.module}")
    kwargs = dict(variant.kwargs)
    if variant.seeded:
        kwargs["seed"] = seed
    result = module.run(w, x, y, epochs, **kwargs)
    print(RESULT_TAG + json.dumps(result), flush=True)


def child_env(variant: Variant, threads: int) -> dict[str, str]:
    env = dict(os.environ, **variant.env)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[name] = str(threads)
    if variant.env.get("KERAS_BACKEND") == "jax":
        # XLA's CPU client sizes its pools from the machine, not from the affinity mask.
        flags = f"--xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'}"
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {flags}".strip()
    env.setdefault("PYTHONWARNINGS", "ignore")
    return env


# ---------------------------------------------------------------------------- parent
@dataclass
class Cell:
    """Everything measured for one (workload, variant)."""

    cpu: list[float] = field(default_factory=list)  # epochs after the first, all runs
    wall: list[float] = field(default_factory=list)
    first_wall: list[float] = field(default_factory=list)
    status: str = ""  # "", "not installed: ...", "failed: ...", "timed out"


def missing_packages(variant: Variant) -> list[str]:
    return [name for name in variant.requires if importlib.util.find_spec(name) is None]


def error_line(stderr: str) -> str:
    """The line that says what went wrong: the exception line of a traceback, else the last."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in reversed(lines):
        head = line.split(":", 1)[0]
        if head.endswith(("Error", "Exception", "Interrupt")) or head.startswith("torch._"):
            return line[:300]
    return lines[-1][:300] if lines else "no output"


def run_one(variant: Variant, workload: str, args: argparse.Namespace, cell: Cell) -> None:
    cmd = [sys.executable, str(ROOT / "run.py"), "--child", variant.name, workload,
           "--epochs", str(args.epochs), "--threads", str(args.threads),
           "--scale", str(args.scale), "--seed", str(args.seed)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout,
                              env=child_env(variant, args.threads), cwd=ROOT)
    except subprocess.TimeoutExpired:
        cell.status = f"timed out after {args.timeout} s"
        return
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_TAG)]
    if proc.returncode != 0 or not lines:
        cell.status = f"failed: {error_line(proc.stderr)}"
        return
    result = json.loads(lines[-1][len(RESULT_TAG):])
    cell.cpu.extend(result["cpu"][1:])
    cell.wall.extend(result["wall"][1:])
    cell.first_wall.append(result["wall"][0])


def versions() -> str:
    parts = []
    for dist in ("torch", "keras", "jax", "lightning", "poutyne"):
        try:
            parts.append(f"{dist} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            parts.append(f"{dist} not installed")
    return ", ".join(parts)


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f
                         if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{model}, {os.cpu_count()} logical CPUs, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}")


def fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def report(cells: dict[str, dict[str, Cell]], args: argparse.Namespace) -> str:
    out = []
    for workload, row in cells.items():
        w = WORKLOADS[workload]
        unit = "pass" if w.task == "predict" else "epoch"
        ref = row.get(REFERENCE)
        ref_cpu = statistics.median(ref.cpu) if ref and ref.cpu else None
        ref_wall = statistics.median(ref.wall) if ref and ref.wall else None
        out.append(f"\n### {workload}: {w.description}, "
                   f"{max(w.batch_size, int(w.samples * args.scale))} samples\n")
        out.append(f"| variant | CPU s/{unit} | CPU ratio | wall s/{unit} | wall ratio "
                   "| compile s |")
        out.append("|---|---|---|---|---|---|")
        for name, cell in row.items():
            if not cell.cpu:
                status = (cell.status or "no result").replace("|", "/")  # keep the table whole
                out.append(f"| {name} | {status} | | | | |")
                continue
            cpu, wall = statistics.median(cell.cpu), statistics.median(cell.wall)
            compile_s = (statistics.median(cell.first_wall) - wall
                         if VARIANTS[name].compiled else None)
            cpu_ratio = cpu / ref_cpu if ref_cpu else None
            wall_ratio = wall / ref_wall if ref_wall else None
            bold = "**" if name == REFERENCE else ""
            out.append(f"| {bold}{name}{bold} | {cpu:.3f} | {fmt(cpu_ratio, 2)} | {wall:.3f} "
                       f"| {fmt(wall_ratio, 2)} | {fmt(compile_s, 1)} |")
    return "\n".join(out)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS),
                        choices=list(WORKLOADS), metavar="W", help="W1 W2 W3 W4 P1 (default all)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS),
                        metavar="V", help=f"default all: {' '.join(VARIANTS)}")
    parser.add_argument("--repeats", type=int, default=None, help="runs per variant (default 3)")
    parser.add_argument("--epochs", type=int, default=3,
                        help="epochs (predict passes for P1) per run; the first is excluded")
    parser.add_argument("--threads", type=int, default=1, help="threads and cores per run")
    parser.add_argument("--scale", type=float, default=None,
                        help="fraction of each workload's samples (default 1)")
    parser.add_argument("--quick", action="store_true",
                        help="1 repeat and 1/4 of the samples (a smoke run; figures indicative)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per subprocess")
    parser.add_argument("--json", type=Path, help="also write the raw per-epoch figures here")
    parser.add_argument("--child", nargs=2, metavar=("VARIANT", "WORKLOAD"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    if args.scale is None:
        args.scale = 0.25 if args.quick else 1.0
    if args.epochs < 2:
        parser.error(f"--epochs must be at least 2 (the first epoch is excluded). "
                     f"Received: epochs={args.epochs}")
    for name in ("repeats", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1. Received: {name}={getattr(args, name)}")
    if not 0 < args.scale <= 1:
        parser.error(f"--scale must be in (0, 1]. Received: scale={args.scale}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        child(args.child[0], args.child[1], args.epochs, args.threads, args.scale, args.seed)
        return
    variants = [VARIANTS[v] for v in args.variants]
    cells = {w: {v.name: Cell() for v in variants} for w in args.workloads}
    for v in variants:
        missing = missing_packages(v)
        if missing:
            for w in args.workloads:
                cells[w][v.name].status = f"not installed ({', '.join(missing)})"
    header = (f"machine: {machine()}\nversions: {versions()}\n"
              f"settings: threads={args.threads}, {args.epochs} epochs (first excluded), "
              f"repeats={args.repeats}, scale={args.scale}, seed={args.seed}")
    print(header, flush=True)
    started = time.perf_counter()
    for repeat in range(args.repeats):
        for w in args.workloads:
            for v in variants:  # interleaved: load drift hits every variant alike
                cell = cells[w][v.name]
                if cell.status:
                    continue  # not installed, or failed in an earlier repeat
                t0 = time.perf_counter()
                run_one(v, w, args, cell)
                note = cell.status or f"{time.perf_counter() - t0:.1f} s"
                print(f"  [{repeat + 1}/{args.repeats}] {w} {v.name}: {note}", file=sys.stderr,
                      flush=True)
    print(report(cells, args))
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    if args.json:
        raw = {w: {v: vars(c) for v, c in row.items()} for w, row in cells.items()}
        args.json.write_text(json.dumps({"header": header, "cells": raw}, indent=1))


if __name__ == "__main__":
    main()
