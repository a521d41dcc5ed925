"""fit() on a float32 np.memmap larger than 4 GB: peak anonymous memory, fitorch vs Keras 3.

Writes a memmap (default 1,100,000 x 1000 float32, 4.4 GB, written in chunks;
`--dtype float64` for data that must be cast)
and its int64 labels to a temporary directory, then, in a fresh process per
framework, trains a small model (Linear 1000 -> 10, SGD, sparse categorical
cross-entropy) for one epoch with `shuffle=True` and one with `shuffle="batch"`.
A thread samples `RssAnon` from /proc/self/status every 50 ms: anonymous memory
is what the process itself holds; the mapped file's pages (`RssFile`) are page
cache, which the kernel reclaims under pressure, so they are reported apart.

The check: fitorch's peak RssAnon during training may exceed its RssAnon just
before `fit` (imports, model, optimizer: "the model's own footprint") by less
than 5% of the data size. Keras 3 (torch backend) runs the same workload on the
same memmap (or its first `--keras-rows` rows) for comparison. The directory is
removed at the end, also on errors or Ctrl-C.

    .venv/bin/python benchmarks/bench_memmap.py                  # 4.4 GB, both frameworks
    .venv/bin/python benchmarks/bench_memmap.py --rows 100000    # quick smoke run (0.4 GB)
    .venv/bin/python benchmarks/bench_memmap.py --rows 550000 --dtype float64  # 4.4 GB, cast
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

FEATURES, CLASSES = 1000, 10
CHUNK_ROWS = 20_000  # rows written at a time: 80 MB, so writing never holds the data


def write_data(directory: str, rows: int, dtype: str) -> tuple[str, str]:
    """The features (standard normal) and labels (argmax of the first 10 features)."""
    x_path, y_path = os.path.join(directory, "x.bin"), os.path.join(directory, "y.i64")
    x = np.memmap(x_path, dtype=dtype, mode="w+", shape=(rows, FEATURES))
    y = np.memmap(y_path, dtype=np.int64, mode="w+", shape=(rows,))
    rng = np.random.default_rng(0)
    for a in range(0, rows, CHUNK_ROWS):
        b = min(rows, a + CHUNK_ROWS)
        chunk = rng.standard_normal((b - a, FEATURES), dtype=np.float32)
        x[a:b] = chunk
        y[a:b] = chunk[:, :CLASSES].argmax(axis=1)
    x.flush()
    y.flush()
    del x, y
    return x_path, y_path


def read_status(key: str) -> int:
    """A /proc/self/status field in bytes (Linux)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {key}")


class PeakSampler:
    """Samples RssAnon and RssFile every `interval` seconds on a thread; keeps the peaks."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak_anon = self.peak_file = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        self.peak_anon = max(self.peak_anon, read_status("RssAnon"))
        self.peak_file = max(self.peak_file, read_status("RssFile"))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


def child(framework: str, x_path: str, y_path: str, rows: int, batch_size: int,
          dtype: str) -> dict:
    """Train one epoch per shuffle mode in this (fresh) process; return the measurements."""
    import torch

    # One thread: steadier on a shared machine (OpenMP threads spin when cores are busy).
    torch.set_num_threads(1)
    x = np.memmap(x_path, dtype=dtype, mode="r", shape=(rows, FEATURES))
    y = np.memmap(y_path, dtype=np.int64, mode="r", shape=(rows,))
    if framework == "fitorch":
        import fitorch as ft

        torch.manual_seed(0)
        model = ft.Model(torch.nn.Linear(FEATURES, CLASSES))
        model.compile(optimizer="sgd", loss=ft.losses.SparseCategoricalCrossentropy(
            from_logits=True), metrics=["accuracy"])
        model.fit(x[:batch_size], y[:batch_size], batch_size=batch_size, verbose=0)  # warm-up
    else:
        os.environ["KERAS_BACKEND"] = "torch"
        import keras

        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((FEATURES,)), keras.layers.Dense(CLASSES)])
        model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(
            from_logits=True), metrics=["accuracy"])
        model.fit(np.asarray(x[:batch_size]), np.asarray(y[:batch_size]),
                  batch_size=batch_size, verbose=0)
    baseline = read_status("RssAnon")
    epochs = []
    with PeakSampler() as sampler:
        for shuffle in (True, "batch"):
            start = time.perf_counter()
            history = model.fit(x, y, batch_size=batch_size, epochs=1, shuffle=shuffle,
                                verbose=0)
            epochs.append({"shuffle": shuffle, "seconds": time.perf_counter() - start,
                           "loss": float(history.history["loss"][-1]),
                           "accuracy": float(history.history["accuracy"][-1])})
    return {"framework": framework, "rows": rows, "baseline_anon": baseline,
            "peak_anon": sampler.peak_anon, "peak_file": sampler.peak_file, "epochs": epochs}


def run_child(framework: str, x_path: str, y_path: str, rows: int, batch_size: int,
              dtype: str) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", framework, "--x", x_path,
           "--y", y_path, "--rows", str(rows), "--batch-size", str(batch_size),
           "--dtype", dtype]
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_100_000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                        help="float64 data is cast to float32 per batch by fitorch and "
                             "whole, up front, by Keras")
    parser.add_argument("--keras-rows", type=int, default=None,
                        help="train Keras on the first N rows only (default: all of them)")
    parser.add_argument("--skip-keras", action="store_true")
    parser.add_argument("--dir", default=None, help="where the temporary files go")
    parser.add_argument("--child", choices=["fitorch", "keras"], help=argparse.SUPPRESS)
    parser.add_argument("--x", help=argparse.SUPPRESS)
    parser.add_argument("--y", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.x, args.y, args.rows, args.batch_size,
                               args.dtype)))
        return

    itemsize = np.dtype(args.dtype).itemsize
    data_bytes = args.rows * FEATURES * itemsize
    directory = tempfile.mkdtemp(prefix="fitorch-memmap-", dir=args.dir)
    try:
        start = time.perf_counter()
        x_path, y_path = write_data(directory, args.rows, args.dtype)
        print(f"wrote {args.rows:,} x {FEATURES} {args.dtype} = {data_bytes / 1e9:.2f} GB "
              f"(+ int64 labels) to {directory} in {time.perf_counter() - start:.0f} s")
        results = [run_child("fitorch", x_path, y_path, args.rows, args.batch_size,
                             args.dtype)]
        if not args.skip_keras:
            results.append(run_child("keras", x_path, y_path, args.keras_rows or args.rows,
                                     args.batch_size, args.dtype))
    finally:
        shutil.rmtree(directory, ignore_errors=True)

    import torch

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}, torch {torch.__version__} (1 thread), "
          f"batch {args.batch_size}")
    mib = 2**20
    for r in results:
        growth = r["peak_anon"] - r["baseline_anon"]
        size = r["rows"] * FEATURES * itemsize
        print(f"\n{r['framework']} on {r['rows']:,} rows ({size / 1e9:.2f} GB)")
        print(f"  RssAnon before fit {r['baseline_anon'] / mib:8.0f} MiB")
        print(f"  RssAnon peak       {r['peak_anon'] / mib:8.0f} MiB  (+{growth / mib:.0f} MiB, "
              f"{100 * growth / size:.2f}% of the data)")
        print(f"  RssFile peak       {r['peak_file'] / mib:8.0f} MiB  (page cache, reclaimable)")
        for e in r["epochs"]:
            print(f"  epoch shuffle={e['shuffle']!s:5}  {e['seconds']:6.1f} s  "
                  f"loss {e['loss']:.4f}  accuracy {e['accuracy']:.4f}")
    ours = results[0]
    growth = ours["peak_anon"] - ours["baseline_anon"]
    ok = growth < 0.05 * data_bytes
    print(f"\nfitorch RssAnon growth {growth / mib:.0f} MiB vs limit "
          f"{0.05 * data_bytes / mib:.0f} MiB (5% of the data): {'PASS' if ok else 'FAIL'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
