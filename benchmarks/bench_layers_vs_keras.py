"""MultiHeadAttention and Bidirectional(LSTM) forward+backward: fitorch vs Keras 3 (torch).

Both frameworks run the same layer with the same weights (moved with
`set_keras_weights`) on the same batch; one step is forward, `.sum()`, backward.
Steps are interleaved (Keras, fitorch, Keras, ...) so machine noise hits both
alike; the figure is the median step time over `--steps` steps after `--warmup`.

    .venv/bin/python benchmarks/bench_layers_vs_keras.py            # CPU, 1 thread
    .venv/bin/python benchmarks/bench_layers_vs_keras.py --device cuda
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np
import torch

from fitorch.layers import LSTM, Bidirectional, MultiHeadAttention


def _weights(layer: keras.layers.Layer) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(w) for w in layer.weights]


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()  # sync: the timing must include the queued kernels


def _timed(step: Callable[[], None], device: str) -> float:
    _sync(device)
    start = time.perf_counter()
    step()
    _sync(device)
    return time.perf_counter() - start


def _pair_mha(device: str) -> tuple[Callable[[], None], Callable[[], None], str]:
    batch, steps, dim, heads = 16, 64, 64, 4
    x = torch.randn(batch, steps, dim, device=device)
    ref = keras.layers.MultiHeadAttention(heads, dim // heads)
    ref(x, x)
    ours = MultiHeadAttention(heads, dim // heads).to(device)
    ours(x, x)
    ours.set_keras_weights(_weights(ref))

    def keras_step() -> None:
        ref(x, x).sum().backward()

    def ours_step() -> None:
        ours(x, x).sum().backward()

    return keras_step, ours_step, f"MultiHeadAttention(4 heads, key_dim 16), x {tuple(x.shape)}"


def _pair_bilstm(device: str) -> tuple[Callable[[], None], Callable[[], None], str]:
    batch, steps, features, units = 32, 50, 32, 32
    x = torch.randn(batch, steps, features, device=device)
    ref = keras.layers.Bidirectional(keras.layers.LSTM(units, return_sequences=True))
    ref(x)
    ours = Bidirectional(LSTM(units, return_sequences=True)).to(device)
    ours(x)
    ours.set_keras_weights(_weights(ref))

    def keras_step() -> None:
        ref(x).sum().backward()

    def ours_step() -> None:
        ours(x).sum().backward()

    return keras_step, ours_step, f"Bidirectional(LSTM({units})), x {tuple(x.shape)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    for make in (_pair_mha, _pair_bilstm):
        keras_step, ours_step, what = make(args.device)
        times: dict[str, list[float]] = {"keras": [], "fitorch": []}
        for i in range(args.warmup + args.steps):
            k, f = _timed(keras_step, args.device), _timed(ours_step, args.device)
            if i >= args.warmup:
                times["keras"].append(k)
                times["fitorch"].append(f)
        k_med, f_med = statistics.median(times["keras"]), statistics.median(times["fitorch"])
        print(f"{what} on {args.device}: Keras {k_med * 1e3:.2f} ms, fitorch "
              f"{f_med * 1e3:.2f} ms, fitorch / Keras = {f_med / k_med:.3f}")


if __name__ == "__main__":
    main()
