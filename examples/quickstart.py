"""Quickstart: train a small classifier on scikit-learn's bundled digits (no download).

Run it with `./run demo`. It trains with validation and a progress bar, prints
the test accuracy and writes the training curves to `quickstart_history.png`.
Unchanged, it also trains data-parallel: `torchrun --nproc_per_node=2 examples/quickstart.py`
(rank 0 prints and writes the plot).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import fitorch as ft


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--plot", type=Path, default=Path(__file__).with_name(
        "quickstart_history.png"))
    args = parser.parse_args()

    torch.manual_seed(0)
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)  # 8x8 images, pixel values 0..16
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, random_state=0, stratify=y)

    model = ft.Sequential([
        ft.Input(shape=(64,)),
        ft.layers.Dense(128, activation="relu"),
        ft.layers.Dropout(0.2),
        ft.layers.Dense(64, activation="relu"),
        ft.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])

    start = time.perf_counter()
    history = model.fit(x_train, y_train, batch_size=32, epochs=args.epochs,
                        validation_split=0.2)
    seconds = time.perf_counter() - start

    test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
    final_val = history.history["val_accuracy"][-1]
    history.plot(path=args.plot)
    if ft.distributed.is_writer():  # one process prints (the only one, or torchrun's rank 0)
        print(f"\nfinal validation accuracy: {final_val:.4f} "
              f"(best {max(history.history['val_accuracy']):.4f})")
        print(f"test accuracy: {test_accuracy:.4f} (test loss {test_loss:.4f}), "
              f"trained in {seconds:.1f}s")
        print(f"training curves written to {args.plot}")
    if final_val < 0.95:
        raise SystemExit(f"validation accuracy {final_val:.4f} is below the 0.95 target")


if __name__ == "__main__":
    main()
