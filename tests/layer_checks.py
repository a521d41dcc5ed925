"""Shared checks for the layer catalogue tests: Keras twins and save/load round trips."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np
import torch

import fitorch as ft

RTOL, ATOL = 1e-5, 1e-5


def to_np(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return keras.ops.convert_to_numpy(x)


def data(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def keras_weights(layer: Any) -> list[np.ndarray]:
    return [to_np(w) for w in layer.weights]


def channels_last(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(x, 1, -1))


def channels_first(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(x, -1, 1))


def assert_close(ours: Any, expected: Any, rtol: float = RTOL, atol: float = ATOL) -> None:
    ours, expected = to_np(ours), to_np(expected)
    assert ours.shape == expected.shape, (ours.shape, expected.shape)
    np.testing.assert_allclose(ours, expected, rtol=rtol, atol=atol)


def assert_same_params(ours: Any, ref: Any) -> None:
    """Keras's parameter counts, trainable / non-trainable split included."""
    trainable = sum(int(np.prod(w.shape)) for w in ref.trainable_weights)
    non_trainable = sum(int(np.prod(w.shape)) for w in ref.non_trainable_weights)
    assert ours.keras_param_counts() == (trainable, non_trainable)


def assert_round_trips(layers: list[torch.nn.Module], x: Any, tmp_path: Path) -> None:
    """A Sequential of `layers` saved as `.fitorch` (and `.weights.h5` when it has weights)
    loads back with the same config and the same outputs."""
    model = ft.Sequential(layers).eval()
    with torch.no_grad():
        expected = to_np(model(x))
    model.save(tmp_path / "m.fitorch")
    loaded = ft.load_model(tmp_path / "m.fitorch").eval()
    assert [type(m) for m in loaded.layers] == [type(m) for m in model.layers]
    assert loaded.get_config() == model.get_config()
    with torch.no_grad():
        assert_close(loaded(x), expected, rtol=0, atol=0)
    if any(True for _ in model.parameters()):
        model.save_weights(tmp_path / "m.weights.h5")
        fresh = ft.Sequential.from_config(model.get_config()).eval()
        with torch.no_grad():
            fresh(x)  # build
        fresh.load_weights(tmp_path / "m.weights.h5")
        with torch.no_grad():
            assert_close(fresh(x), expected, rtol=0, atol=0)
