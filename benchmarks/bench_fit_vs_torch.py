"""fit() against a hand-written PyTorch loop: CPU time per epoch, MLP 784-256-256-10.

Each variant runs in its own subprocess (same data, seed and thread count),
several times, interleaved so that drifts in machine load hit every variant
alike. The first epoch of every run is excluded (warm-up); the figure is the
median CPU time of the remaining epochs. Ratios are against the hand loop.

    .venv/bin/python benchmarks/bench_fit_vs_torch.py            # batch 32 and 128
    .venv/bin/python benchmarks/bench_fit_vs_torch.py --repeats 5 --batch-sizes 128
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time

SAMPLES, FEATURES, CLASSES = 60_000, 784, 10


def make_data():
    import torch

    g = torch.Generator().manual_seed(0)
    x = torch.randn(SAMPLES, FEATURES, generator=g)
    y = torch.randint(0, CLASSES, (SAMPLES,), generator=g)
    return x, y


def make_module():
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(FEATURES, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, CLASSES),
    )


def run_hand_loop(batch_size: int, epochs: int) -> list[float]:
    """The reference: what a PyTorch user writes, reporting loss and accuracy per epoch."""
    import torch
    import torch.nn.functional as F

    x, y = make_data()
    model = make_module()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    times = []
    for _ in range(epochs):
        start = time.process_time()
        model.train()
        perm = torch.randperm(SAMPLES)
        loss_sum = torch.zeros(())
        correct = torch.zeros((), dtype=torch.long)
        for i in range(0, SAMPLES, batch_size):
            idx = perm[i:i + batch_size]
            xb, yb = x[idx], y[idx]
            out = model(xb)
            loss = F.cross_entropy(out, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                loss_sum += loss.detach() * len(idx)
                correct += (out.argmax(-1) == yb).sum()
        _ = float(loss_sum) / SAMPLES, float(correct) / SAMPLES  # the epoch's report
        times.append(time.process_time() - start)
    return times


def run_fitorch(batch_size: int, epochs: int, keras_adam: bool) -> list[float]:
    import torch

    import fitorch as ft

    x, y = make_data()
    module = make_module()
    model = ft.Model(module)
    optimizer = (ft.optimizers.Adam(learning_rate=1e-3) if keras_adam
                 else torch.optim.Adam(module.parameters(), lr=1e-3))
    model.compile(optimizer=optimizer,
                  loss=ft.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    times: list[float] = []

    class EpochTimer(ft.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.process_time()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.process_time() - self.start)

    model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=0,
              callbacks=[EpochTimer()])
    return times


VARIANTS = {
    "torch loop": lambda bs, ep: run_hand_loop(bs, ep),
    "fitorch (torch.optim.Adam)": lambda bs, ep: run_fitorch(bs, ep, keras_adam=False),
    "fitorch (ft.optimizers.Adam)": lambda bs, ep: run_fitorch(bs, ep, keras_adam=True),
}


def child(variant: str, batch_size: int, epochs: int, threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    print(json.dumps(VARIANTS[variant](batch_size, epochs)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--child", nargs=2, metavar=("VARIANT", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.epochs, args.threads)
        return

    import torch

    print(f"machine: {platform.processor() or platform.machine()}, {platform.system()}, "
          f"python {platform.python_version()}, torch {torch.__version__}, "
          f"threads={args.threads}")
    print(f"MLP {FEATURES}-256-256-{CLASSES}, {SAMPLES} samples, Adam, sparse CE + accuracy, "
          f"{args.epochs} epochs (first excluded), {args.repeats} repeats\n")
    for batch_size in args.batch_sizes:
        per_epoch: dict[str, list[float]] = {v: [] for v in VARIANTS}
        for _ in range(args.repeats):
            for variant in VARIANTS:  # interleaved: load drift hits every variant alike
                out = subprocess.run(
                    [sys.executable, __file__, "--child", variant, str(batch_size),
                     "--epochs", str(args.epochs), "--threads", str(args.threads)],
                    check=True, capture_output=True, text=True).stdout
                per_epoch[variant].extend(json.loads(out.strip().splitlines()[-1])[1:])
        reference = statistics.median(per_epoch["torch loop"])
        print(f"batch {batch_size}: CPU seconds per epoch (median)")
        for variant, values in per_epoch.items():
            median = statistics.median(values)
            print(f"  {variant:30s} {median:7.3f} s   ratio {median / reference:5.3f}")
        print()


if __name__ == "__main__":
    main()
