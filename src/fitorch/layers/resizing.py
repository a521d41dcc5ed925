"""Keras's `Resizing`, `CenterCrop` and `RandomFlip` on channels-first images
`(batch, channels, height, width)`.

Resizes with torch's `interpolate` as Keras's torch backend does (`"nearest"` is
torch's `"nearest-exact"`, bilinear and bicubic use half-pixel centres), after
an optional centre crop (`crop_to_aspect_ratio`) or padding
(`pad_to_aspect_ratio`) to the target's aspect ratio. Integer images come back
in their own dtype, rounded and clamped.

Example:
    >>> import torch
    >>> from fitorch.layers import Resizing
    >>> Resizing(8, 6)(torch.zeros(2, 3, 16, 16)).shape
    torch.Size([2, 3, 8, 6])
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fitorch.layers.conv import standardize_data_format
from fitorch.layers.core import _NoWeights, _resolve_name
from fitorch.layers.layer_api import LayerAPI

__all__ = ["CenterCrop", "RandomFlip", "Resizing"]

_MODES = {"bilinear": "bilinear", "nearest": "nearest-exact", "bicubic": "bicubic"}


class Resizing(LayerAPI, _NoWeights, nn.Module):
    """Resize images to `(height, width)`; inputs `(batch, C, H, W)` or one image `(C, H, W)`.

    Example:
        >>> Resizing(4, 4, crop_to_aspect_ratio=True)(torch.zeros(1, 3, 8, 16)).shape
        torch.Size([1, 3, 4, 4])
    """

    def __init__(
        self,
        height: int,
        width: int,
        interpolation: str = "bilinear",
        crop_to_aspect_ratio: bool = False,
        pad_to_aspect_ratio: bool = False,
        fill_mode: str = "constant",
        fill_value: float = 0.0,
        antialias: bool = False,
        data_format: str | None = None,
        name: str | None = None,
    ) -> None:
        for arg, value in (("height", height), ("width", width)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(
                    f"Argument `{arg}` must be a positive integer. "
                    f"Received: {arg}={value!r} (of type {type(value).__name__})"
                )
        if interpolation not in _MODES:
            raise ValueError(
                f"Argument `interpolation` must be one of {list(_MODES)}. "
                f"Received: interpolation={interpolation!r} (of type "
                f"{type(interpolation).__name__})"
            )
        if crop_to_aspect_ratio and pad_to_aspect_ratio:
            raise ValueError(
                "Only one of `crop_to_aspect_ratio` and `pad_to_aspect_ratio` can be True. "
                "Received: crop_to_aspect_ratio=True, pad_to_aspect_ratio=True (of type bool)"
            )
        if fill_mode != "constant":
            raise ValueError(
                "Padding to the aspect ratio fills with a constant (`fill_mode='constant'`), "
                f"as Keras does. Received: fill_mode={fill_mode!r} (of type "
                f"{type(fill_mode).__name__})"
            )
        standardize_data_format(data_format)
        super().__init__()
        self.name = _resolve_name(name, type(self))
        self.height, self.width = height, width
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = bool(crop_to_aspect_ratio)
        self.pad_to_aspect_ratio = bool(pad_to_aspect_ratio)
        self.fill_mode = fill_mode
        self.fill_value = float(fill_value)
        self.antialias = bool(antialias)

    def forward(self, inputs: Tensor) -> Tensor:
        if inputs.ndim not in (3, 4):
            raise ValueError(
                f'Layer "{self.name}" takes images (batch, channels, height, width) or one '
                "image (channels, height, width), channels first. "
                f"Received: inputs.shape={tuple(inputs.shape)} (of type {type(inputs).__name__})"
            )
        images = inputs if inputs.ndim == 4 else inputs.unsqueeze(0)
        out_dtype = images.dtype
        if not images.is_floating_point():
            images = images.float()
        height, width = images.shape[-2:]
        th, tw = self.height, self.width
        if self.crop_to_aspect_ratio:
            crop_h = max(min(height, int(width * th / tw)), 1)
            crop_w = max(min(width, int(height * tw / th)), 1)
            top, left = int((height - crop_h) / 2), int((width - crop_w) / 2)
            images = images[:, :, top:top + crop_h, left:left + crop_w]
        elif self.pad_to_aspect_ratio:
            # Keras pads the same amount on both sides (an odd difference loses one row).
            pad_h = int((max(height, int(width * th / tw)) - height) / 2)
            pad_w = int((max(width, int(height * tw / th)) - width) / 2)
            images = F.pad(images, (pad_w, pad_w, pad_h, pad_h), value=self.fill_value)
        mode = _MODES[self.interpolation]
        resized = F.interpolate(
            images, size=(th, tw), mode=mode,
            align_corners=False if mode in ("bilinear", "bicubic") else None,
            antialias=self.antialias and mode in ("bilinear", "bicubic"),
        )
        if not out_dtype.is_floating_point:
            info = torch.iinfo(out_dtype)
            resized = resized.round().clamp(info.min, info.max).to(out_dtype)
        return resized if inputs.ndim == 4 else resized.squeeze(0)

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {
            "name": self.name, "height": self.height, "width": self.width,
            "interpolation": self.interpolation,
            "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
            "pad_to_aspect_ratio": self.pad_to_aspect_ratio, "fill_mode": self.fill_mode,
            "fill_value": self.fill_value, "antialias": self.antialias,
            "data_format": "channels_first",
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Resizing:
        """Create a layer from `get_config()`'s output."""
        return cls(**config)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, size=({self.height}, {self.width})"


class CenterCrop(LayerAPI, _NoWeights, nn.Module):
    """Crop the centre `(height, width)` of channels-first images; an image smaller than
    that is cropped to the target's aspect ratio and resized (bilinear), as Keras does.
    The output is floating point (Keras casts to its compute dtype).

    Example:
        >>> CenterCrop(2, 2)(torch.arange(16.0).reshape(1, 1, 4, 4))
        tensor([[[[ 5.,  6.],
                  [ 9., 10.]]]])
    """

    def __init__(self, height: int, width: int, data_format: str | None = None,
                 name: str | None = None) -> None:
        resizer = Resizing(height, width, crop_to_aspect_ratio=True, data_format=data_format,
                           name="_")  # also checks height and width
        super().__init__()
        self.name = _resolve_name(name, type(self))
        self.height, self.width = height, width
        # Held in a tuple so that it is no submodule: CenterCrop stays one weightless layer.
        self._resizer = (resizer,)

    def forward(self, inputs: Tensor) -> Tensor:
        if inputs.ndim not in (3, 4):
            raise ValueError(
                f'Layer "{self.name}" takes images (batch, channels, height, width) or one '
                "image (channels, height, width), channels first. "
                f"Received: inputs.shape={tuple(inputs.shape)} (of type {type(inputs).__name__})"
            )
        images = inputs if inputs.is_floating_point() else inputs.to(torch.get_default_dtype())
        h_diff, w_diff = images.shape[-2] - self.height, images.shape[-1] - self.width
        if h_diff < 0 or w_diff < 0:
            return self._resizer[0](images)
        top, left = h_diff // 2, w_diff // 2
        return images[..., top:top + self.height, left:left + self.width]

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {"name": self.name, "height": self.height, "width": self.width,
                "data_format": "channels_first"}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> CenterCrop:
        """Create a layer from `get_config()`'s output."""
        return cls(**config)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, size=({self.height}, {self.width})"


_FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical")


class RandomFlip(LayerAPI, _NoWeights, nn.Module):
    """Flip each image left-right and/or up-down with probability 1/2, in training mode only.

    `mode` is `"horizontal"` (the width axis, -1), `"vertical"` (the height axis, -2)
    or `"horizontal_and_vertical"` (each decided independently). A `seed` gives the
    layer a generator of its own.

    Example:
        >>> x = torch.arange(4.0).reshape(1, 1, 2, 2)
        >>> torch.equal(RandomFlip().eval()(x), x)
        True
    """

    def __init__(self, mode: str = "horizontal_and_vertical", seed: int | None = None,
                 data_format: str | None = None, name: str | None = None) -> None:
        if mode not in _FLIP_MODES:
            raise ValueError(
                f"RandomFlip layer {name} received an unknown mode. Expected one of "
                f"{list(_FLIP_MODES)}. Received: mode={mode!r} (of type {type(mode).__name__})"
            )
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(
                f"Argument `seed` must be an int or None. "
                f"Received: seed={seed!r} (of type {type(seed).__name__})"
            )
        standardize_data_format(data_format)
        super().__init__()
        self.name = _resolve_name(name, type(self))
        self.mode = mode
        self.seed = seed
        self._generators: dict[torch.device, torch.Generator] = {}

    def _coins(self, n: int, device: torch.device) -> Tensor:
        generator = None
        if self.seed is not None:
            generator = self._generators.get(device)
            if generator is None:
                generator = torch.Generator(device=device).manual_seed(self.seed)
                self._generators[device] = generator
        return torch.rand(n, device=device, generator=generator) < 0.5

    def forward(self, inputs: Tensor) -> Tensor:
        if not self.training:
            return inputs
        if inputs.ndim not in (3, 4):
            raise ValueError(
                f'Layer "{self.name}" takes images (batch, channels, height, width) or one '
                "image (channels, height, width), channels first. "
                f"Received: inputs.shape={tuple(inputs.shape)} (of type {type(inputs).__name__})"
            )
        images = inputs if inputs.ndim == 4 else inputs.unsqueeze(0)
        shape = (-1, 1, 1, 1)
        if self.mode in ("horizontal", "horizontal_and_vertical"):
            flip = self._coins(images.shape[0], images.device).view(shape)
            images = torch.where(flip, images.flip(-1), images)
        if self.mode in ("vertical", "horizontal_and_vertical"):
            flip = self._coins(images.shape[0], images.device).view(shape)
            images = torch.where(flip, images.flip(-2), images)
        return images if inputs.ndim == 4 else images.squeeze(0)

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {"name": self.name, "mode": self.mode, "seed": self.seed,
                "data_format": "channels_first"}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> RandomFlip:
        """Create a layer from `get_config()`'s output."""
        return cls(**config)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, mode={self.mode!r}"
