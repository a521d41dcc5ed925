"""Random image augmentation layers against Keras 3 (torch backend), channels first.

With a fixed draw (a factor range of one value, or the draw patched on both sides)
the outputs equal Keras's; otherwise: identity in inference, shapes and ranges in
training, and the same output for the same seed."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import torch

import fitorch as ft
from fitorch import layers as L
from fitorch.saving.serialization import layer_class, layer_config
from layer_checks import to_np

CF = "channels_first"
IMAGES = np.random.default_rng(0).uniform(0, 255, size=(2, 3, 9, 11)).astype("float32")


def assert_same(ours, expected, atol=1e-4):
    ours, expected = to_np(ours), to_np(expected)
    assert ours.shape == expected.shape
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=atol)


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("fill_mode", ["reflect", "wrap", "constant", "nearest"])
def test_geometric_layers_with_a_fixed_draw_match_keras(fill_mode, interpolation):
    common = dict(fill_mode=fill_mode, interpolation=interpolation, fill_value=7.0)
    pairs = [
        ("RandomRotation", ((0.1, 0.1),)), ("RandomRotation", ((-0.3, -0.3),)),
        ("RandomTranslation", ((0.2, 0.2), (-0.3, -0.3))),
        ("RandomZoom", ((-0.3, -0.3), (0.4, 0.4))), ("RandomZoom", ((0.5, 0.5),)),
    ]
    for name, args in pairs:
        ref = getattr(keras.layers, name)(*args, data_format=CF, **common)
        ours = getattr(L, name)(*args, **common).train()
        assert_same(ours(torch.from_numpy(IMAGES)), ref(IMAGES, training=True))
        assert_same(ours(torch.from_numpy(IMAGES[0])), ref(IMAGES[0], training=True))


def _fixed_keras_draw(monkeypatch, value):
    import keras.src.backend.torch.random as keras_random

    def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
        return torch.full(tuple(shape), float(value))

    monkeypatch.setattr(keras_random, "uniform", uniform)


def _fixed_draw(layer, value):
    layer._uniform = lambda n, low, high, device: torch.full((n,), float(value))
    return layer


@pytest.mark.parametrize("value", [0.6, 1.0, 1.4])
def test_random_contrast_with_a_fixed_factor_matches_keras(monkeypatch, value):
    _fixed_keras_draw(monkeypatch, value)
    ref = keras.layers.RandomContrast(0.5, data_format=CF)
    ours = _fixed_draw(L.RandomContrast(0.5), value).train()
    assert_same(ours(torch.from_numpy(IMAGES)), ref(IMAGES, training=True))


@pytest.mark.parametrize("factor, value_range", [((0.2, 0.2), (0, 255)), ((-0.5, -0.5), (0, 255)),
                                                 ((0.3, 0.3), (-1, 1))])
def test_random_brightness_with_a_fixed_factor_matches_keras(factor, value_range):
    x = IMAGES / 127.5 - 1 if value_range == (-1, 1) else IMAGES
    ref = keras.layers.RandomBrightness(factor, value_range=value_range, data_format=CF)
    ours = L.RandomBrightness(factor, value_range=value_range).train()
    assert_same(ours(torch.from_numpy(x)), ref(x, training=True))


@pytest.mark.parametrize("shape", [(2, 3, 6, 11), (2, 3, 4, 4), (3, 9, 5)])
def test_random_crop_resizes_small_images_as_keras(shape):
    x = np.random.default_rng(1).normal(size=shape).astype("float32")
    ref = keras.layers.RandomCrop(6, 8, data_format=CF)
    assert_same(L.RandomCrop(6, 8).train()(torch.from_numpy(x)), ref(x, training=True))


def test_random_crop_takes_one_window_per_batch_in_training():
    x = torch.from_numpy(IMAGES)
    out = L.RandomCrop(4, 5, seed=3).train()(x)
    assert out.shape == (2, 3, 4, 5)
    windows = [(t, left) for t in range(6) for left in range(7)
               if torch.equal(x[..., t:t + 4, left:left + 5], out)]
    assert len(windows) == 1
    starts = {tuple(L.RandomCrop(4, 5).train()(x)[0, 0, 0, :1].tolist()) for _ in range(20)}
    assert len(starts) > 1


ALL = [
    lambda seed=None: L.RandomRotation(0.2, seed=seed),
    lambda seed=None: L.RandomTranslation(0.2, 0.3, seed=seed),
    lambda seed=None: L.RandomZoom(0.3, seed=seed),
    lambda seed=None: L.RandomCrop(5, 6, seed=seed),
    lambda seed=None: L.RandomContrast(0.5, seed=seed),
    lambda seed=None: L.RandomBrightness(0.3, seed=seed),
]


@pytest.mark.parametrize("make", ALL)
def test_identity_in_inference_and_seeded_in_training(make):
    x = torch.from_numpy(IMAGES)
    assert torch.equal(make().eval()(x), x)
    ints = x.to(torch.uint8)
    out = make().eval()(ints)
    assert torch.equal(out.to(torch.uint8), ints)
    first, second = make(seed=5).train(), make(seed=5).train()
    a, b = first(x), second(x)
    assert torch.equal(a, b)
    assert not torch.equal(first(x), a)  # a new draw on every call
    assert float(a.min()) >= 0 and float(a.max()) <= 255
    expected = (2, 3, 5, 6) if a.shape[-1] == 6 else x.shape
    assert a.shape == expected


def test_random_draws_are_per_image_and_within_the_factor():
    x = torch.full((64, 1, 4, 4), 100.0)
    shifted = L.RandomBrightness((0.1, 0.2)).train()(x)[:, 0, 0, 0]
    assert float(shifted.min()) >= 100 + 0.1 * 255 - 1e-3
    assert float(shifted.max()) <= 100 + 0.2 * 255 + 1e-3
    assert len(set(shifted.tolist())) > 10
    ramp = torch.arange(16.0).reshape(1, 1, 4, 4).repeat(64, 1, 1, 1)
    contrast = L.RandomContrast((0.0, 0.5)).train()(ramp)
    spread = contrast.amax(dim=(1, 2, 3)) - contrast.amin(dim=(1, 2, 3))
    assert float(spread.min()) >= 15 - 1e-3 and float(spread.max()) <= 15 * 1.5 + 1e-3


def test_augmentation_runs_in_fit_only():
    model = ft.Sequential([
        ft.Input((3, 9, 11)), L.RandomRotation(0.1, seed=1), L.RandomZoom(0.1, seed=2),
        L.RandomTranslation(0.1, 0.1, seed=3), L.RandomContrast(0.2, seed=4),
        L.RandomBrightness(0.1, seed=5), L.RandomCrop(8, 8, seed=6), L.Rescaling(1 / 255),
        L.Conv2D(4, 3), L.GlobalAveragePooling2D(), L.Dense(1),
    ])
    model.compile(optimizer="adam", loss="mse")
    model.fit(IMAGES, np.ones((2, 1)), epochs=1, verbose=0)
    first = model.predict(IMAGES[:, :, :8, :8], verbose=0)
    assert np.array_equal(first, model.predict(IMAGES[:, :, :8, :8], verbose=0))


@pytest.mark.parametrize("call, match", [
    (lambda: L.RandomRotation(1.5), "factor"),
    (lambda: L.RandomRotation((0.1, 0.2, 0.3)), "factor"),
    (lambda: L.RandomRotation(0.1, fill_mode="mirror_edge"), "fill_mode"),
    (lambda: L.RandomRotation(0.1, interpolation="bicubic"), "interpolation"),
    (lambda: L.RandomZoom(-1.0), "height_factor"),
    (lambda: L.RandomTranslation(0.1, "x"), "width_factor"),
    (lambda: L.RandomContrast(-0.1), "factor"),
    (lambda: L.RandomBrightness(0.1, value_range=(0,)), "value_range"),
    (lambda: L.RandomCrop(0, 3), "height"),
    (lambda: L.RandomZoom(0.1, seed="a"), "seed"),
    (lambda: L.RandomRotation(0.1).train()(torch.zeros(3, 3)), "channels first"),
])
def test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("make", ALL)
def test_configs_round_trip(make):
    layer = make(seed=7)
    entry = json.loads(json.dumps(layer_config(layer)))
    clone = layer_class(entry["class_name"]).from_config(entry["config"])
    assert clone.get_config() == layer.get_config()
    x = torch.from_numpy(IMAGES)
    assert torch.equal(clone.train()(x), layer.train()(x))
