"""Step time of `compile(precision=...)` and `gradient_accumulation_steps` on CPU.

Two questions, both answered in one process with the variants interleaved (the
machine is shared: alternating hits every variant with the same load drift) and
medians over repeats of CPU seconds per epoch (`time.process_time`):

- W1 (MLP 784-256-256-10, batch 128) and W2 (batch 32): "32" against "bf16-mixed".
- Accumulation overhead on W1's model: 4 accumulated micro-batches of 32 against one
  step of 128 (the same samples and the same updates), and batches of 32 with and
  without accumulation (the cost of the accumulation itself).

    .venv/bin/python benchmarks/bench_precision_accumulation.py --repeats 7

Figures: benchmarks/RESULTS.md, "Precision and gradient accumulation".
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers.workloads import LEARNING_RATE, WORKLOADS, make_data, torch_module

import fitorch as ft


def epoch_seconds(workload: str, batch_size: int, scale: float, **compile_kwargs: Any) -> float:
    """CPU seconds of the second epoch of a fresh model (the first warms up)."""
    w = WORKLOADS[workload]
    x, y = make_data(w, scale, seed=0)
    torch.manual_seed(0)
    module = torch_module(w)
    model = ft.Model(module)
    model.compile(optimizer=torch.optim.Adam(module.parameters(), lr=LEARNING_RATE),
                  loss=ft.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], jit_compile=False, **compile_kwargs)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    model.fit(xt, yt, batch_size=batch_size, epochs=1, verbose=0)
    start = time.process_time()
    model.fit(xt, yt, batch_size=batch_size, epochs=1, verbose=0)
    return time.process_time() - start


def hand_loop_seconds(bf16: bool, steps: int = 47) -> float:
    """CPU seconds of `steps` W1 steps of a hand-written loop, in float32 or under
    bfloat16 autocast: what the hardware makes of bf16, without fitorch."""
    torch.manual_seed(0)
    module = torch_module(WORKLOADS["W1"])
    optimizer = torch.optim.Adam(module.parameters(), lr=LEARNING_RATE)
    x, y = torch.randn(128, 784), torch.randint(0, 10, (128,))
    start = time.process_time()
    for _ in range(steps):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = module(x)
        torch.nn.functional.cross_entropy(out.float(), y).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return time.process_time() - start


def compare(name: str, a: tuple[str, dict[str, Any]], b: tuple[str, dict[str, Any]],
            repeats: int) -> None:
    times: dict[str, list[float]] = {a[0]: [], b[0]: []}
    for r in range(repeats):
        for label, kwargs in (a, b) if r % 2 == 0 else (b, a):
            times[label].append(epoch_seconds(**kwargs))
    ma, mb = statistics.median(times[a[0]]), statistics.median(times[b[0]])
    print(f"{name}: {a[0]} {ma:.3f} s, {b[0]} {mb:.3f} s per epoch; ratio {mb / ma:.2f}",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--scale", type=float, default=0.1, help="fraction of 60,000 samples")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    np.random.seed(0)
    hand: dict[bool, list[float]] = {False: [], True: []}
    for r in range(args.repeats):
        for bf16 in (False, True) if r % 2 == 0 else (True, False):
            hand[bf16].append(hand_loop_seconds(bf16))
    print(f"W1 hand-written loop: float32 {statistics.median(hand[False]):.3f} s, bf16 "
          f"autocast {statistics.median(hand[True]):.3f} s per 47 steps; ratio "
          f"{statistics.median(hand[True]) / statistics.median(hand[False]):.2f}", flush=True)
    for workload, batch in (("W1", 128), ("W2", 32)):
        common = {"workload": workload, "batch_size": batch, "scale": args.scale}
        compare(f"{workload} precision", ("32", common),
                ("bf16-mixed", {**common, "precision": "bf16-mixed"}), args.repeats)
    compare("W1 accumulation", ("1 x 128", {"workload": "W1", "batch_size": 128,
                                            "scale": args.scale}),
            ("4 x 32", {"workload": "W1", "batch_size": 32, "scale": args.scale,
                        "gradient_accumulation_steps": 4}), args.repeats)
    # The machinery alone: the same batches of 32, updating every batch or every 4th.
    compare("W1 accumulation machinery", ("32, no accumulation", {
        "workload": "W1", "batch_size": 32, "scale": args.scale}),
            ("32, accumulate 4", {"workload": "W1", "batch_size": 32, "scale": args.scale,
                                  "gradient_accumulation_steps": 4}), args.repeats)


if __name__ == "__main__":
    main()
