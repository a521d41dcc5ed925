"""Resizing and CategoryEncoding against Keras 3 (torch backend)."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import torch

from fitorch.layers import CategoryEncoding, CenterCrop, RandomFlip, Resizing
from fitorch.saving.serialization import layer_class, layer_config
from layer_checks import assert_close, data

CF = "channels_first"


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest", "bicubic"])
@pytest.mark.parametrize(
    "kwargs", [{}, dict(crop_to_aspect_ratio=True), dict(pad_to_aspect_ratio=True, fill_value=0.5),
               dict(antialias=True)])
def test_resizing_matches_keras(interpolation, kwargs):
    x = data(2, 3, 9, 14)
    ref = keras.layers.Resizing(6, 5, interpolation=interpolation, data_format=CF, **kwargs)
    ours = Resizing(6, 5, interpolation=interpolation, **kwargs)
    assert_close(ours(torch.from_numpy(x)), ref(x), atol=1e-4)


def test_resizing_integer_images_and_single_image():
    x = np.random.default_rng(0).integers(0, 255, size=(2, 3, 8, 8)).astype("uint8")
    ref = keras.layers.Resizing(4, 5, data_format=CF)
    out = Resizing(4, 5)(torch.from_numpy(x))
    assert out.dtype == torch.uint8
    np.testing.assert_allclose(out.numpy(), keras.ops.convert_to_numpy(ref(x)), atol=1)
    assert Resizing(4, 5)(torch.zeros(3, 8, 8)).shape == (3, 4, 5)


@pytest.mark.parametrize("shape", [(2, 3, 9, 14), (3, 9, 14), (2, 3, 4, 14), (2, 3, 9, 3)])
def test_center_crop_matches_keras(shape):
    x = data(*shape)
    expected = keras.layers.CenterCrop(6, 5, data_format=CF)(x)
    assert_close(CenterCrop(6, 5)(torch.from_numpy(x)), expected, atol=1e-4)


def test_random_flip_flips_whole_images_in_training_only():
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5).repeat(50, 1, 1, 1)
    assert torch.equal(RandomFlip().eval()(x), x)
    out = RandomFlip("horizontal", seed=1).train()(x)
    same = (out == x).flatten(1).all(1)
    flipped = (out == x.flip(-1)).flatten(1).all(1)
    assert bool((same | flipped).all()) and 30 < int(flipped.sum()) < 70
    both = RandomFlip(seed=2).train()(x)
    kinds = [(both == t).flatten(1).all(1) for t in (x, x.flip(-1), x.flip(-2), x.flip(-1, -2))]
    assert bool(torch.stack(kinds).any(0).all()) and all(int(k.sum()) > 5 for k in kinds)
    assert torch.equal(RandomFlip(seed=3).train()(x), RandomFlip(seed=3).train()(x))


@pytest.mark.parametrize(
    "mode, tokens",
    [("one_hot", [[1], [0], [3]]), ("one_hot", [1, 0, 3]), ("multi_hot", [[0, 1], [3, 3]]),
     ("count", [[0, 1, 1], [3, 3, 2]])],
)
def test_category_encoding_matches_keras(mode, tokens):
    x = np.array(tokens)
    expected = keras.layers.CategoryEncoding(4, output_mode=mode)(x)
    assert_close(CategoryEncoding(4, output_mode=mode)(torch.from_numpy(x)), expected)


def test_category_encoding_count_weights_match_keras():
    x = np.array([[0, 1, 1], [3, 3, 2]])
    w = np.array([[0.5, 1.0, 2.0], [1.0, 1.0, 0.1]], dtype="float32")
    expected = keras.layers.CategoryEncoding(4, output_mode="count")(x, count_weights=w)
    ours = CategoryEncoding(4, output_mode="count")(torch.from_numpy(x),
                                                    count_weights=torch.from_numpy(w))
    assert_close(ours, expected)


@pytest.mark.parametrize(
    "call, match",
    [(lambda: CategoryEncoding(3)(torch.tensor([[0, 3]])), r"\[0, 3\)"),
     (lambda: CategoryEncoding(3)(torch.tensor([[0.0]])), "integer"),
     (lambda: CategoryEncoding(3)(torch.tensor([[0]]), count_weights=torch.ones(1, 1)),
      "count_weights"),
     (lambda: CategoryEncoding(0), "num_tokens"),
     (lambda: CategoryEncoding(3, output_mode="tf_idf"), "output_mode"),
     (lambda: Resizing(0, 3), "height"),
     (lambda: Resizing(3, 3, interpolation="lanczos3"), "interpolation"),
     (lambda: Resizing(3, 3, crop_to_aspect_ratio=True, pad_to_aspect_ratio=True), "Only one"),
     (lambda: Resizing(3, 3)(torch.zeros(3, 3)), "channels first"),
     (lambda: CenterCrop(3, 3)(torch.zeros(3, 3)), "channels first"),
     (lambda: RandomFlip("diagonal"), "mode")],
)
def test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("layer", [Resizing(3, 4, interpolation="nearest",
                                            pad_to_aspect_ratio=True),
                                   CategoryEncoding(5, output_mode="count"), CenterCrop(2, 3),
                                   RandomFlip("vertical", seed=4)])
def test_configs_round_trip(layer):
    entry = json.loads(json.dumps(layer_config(layer)))
    clone = layer_class(entry["class_name"]).from_config(entry["config"])
    assert clone.get_config() == layer.get_config()
