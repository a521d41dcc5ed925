"""The channels-first guard: channels-last batches get errors or warnings that show the shape."""

from __future__ import annotations

import warnings

import pytest
import torch

from fitorch.layers import (
    Conv1D,
    Conv2D,
    Conv2DTranspose,
    GlobalAveragePooling2D,
    MaxPooling1D,
    MaxPooling2D,
    SeparableConv2D,
)
from fitorch.layers.layout import channels_last_hint, looks_channels_last


def test_pool_larger_than_spatial_names_channels_first():
    with pytest.raises(ValueError, match=r"channels-first.*permute\(0, 3, 1, 2\).*"
                                         r"inputs.shape=\(2, 5, 5, 1\)"):
        MaxPooling2D()(torch.zeros(2, 5, 5, 1))
    with pytest.raises(ValueError, match=r"\(batch, channels, steps\).*permute\(0, 2, 1\)"):
        MaxPooling1D(4)(torch.zeros(2, 10, 3))


def test_kernel_larger_than_spatial_names_channels_first():
    with pytest.raises(ValueError, match=r"smaller than its kernel.*channels-first"):
        Conv2D(4, 3)(torch.zeros(2, 6, 6, 1))


def test_channel_mismatch_after_build_suggests_the_permute():
    layer = Conv1D(4, 3)
    layer(torch.zeros(2, 3, 10))
    with pytest.raises(ValueError, match=r"3 channels on axis 1\. fitorch layers are "
                                         r"channels-first.*inputs.shape=\(2, 10, 3\)"):
        layer(torch.zeros(2, 10, 3))
    # Not channels-last; a rank-3 batch is most often a (batch, steps, features) sequence.
    with pytest.raises(ValueError, match=r"3 channels on axis 1\. .*\(batch, steps, "
                                         r"features\).*Permute\(\(2, 1\)\)"):
        layer(torch.zeros(2, 5, 10))


@pytest.mark.parametrize(
    "layer",
    [Conv2D(8, 3, padding="same"), Conv2DTranspose(8, 3), SeparableConv2D(8, 3, padding="same"),
     MaxPooling2D(padding="same"), GlobalAveragePooling2D()],
)
def test_square_channels_last_images_warn_once(layer):
    images = torch.zeros(2, 28, 28, 1)
    with pytest.warns(UserWarning, match=r"shape \(2, 28, 28, 1\).*look like channels-last"):
        layer(images)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layer(images)  # once per layer


def test_channels_first_images_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Conv2D(8, 3)(torch.zeros(2, 3, 28, 28))
        MaxPooling2D()(torch.zeros(2, 1, 28, 28))


@pytest.mark.parametrize(
    "shape, expected",
    [((2, 32, 32, 3), True), ((2, 28, 28, 1), True), ((2, 3, 32, 32), False),
     ((2, 32, 30, 3), False), ((2, 4, 4, 3), False), ((2, 32, 32), False)],
)
def test_looks_channels_last(shape, expected):
    assert looks_channels_last(shape) is expected
    assert "channels-first" in channels_last_hint(shape)
