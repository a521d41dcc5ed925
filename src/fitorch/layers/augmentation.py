"""Keras's random image augmentation layers on channels-first images: `RandomRotation`,
`RandomTranslation`, `RandomZoom`, `RandomCrop`, `RandomContrast`,
`RandomBrightness`.

They transform only in training mode (inside `fit`), with a new random draw per
image on every call (one crop position per batch for `RandomCrop`, as Keras); in
inference mode they return the images, as Keras does (the geometric ones as
floats). The transforms are Keras's: the same matrices, interpolation and fill
modes, so a fixed factor (`factor=(a, a)`) gives Keras's output. A `seed` gives
the layer a generator of its own, so two layers with one seed draw alike.

Example:
    >>> from fitorch.layers import RandomRotation
    >>> x = torch.rand(2, 3, 8, 8)
    >>> torch.equal(RandomRotation(0.1).eval()(x), x)
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from fitorch.layers.affine import FILL_MODES, INTERPOLATIONS, affine_transform, rotation_matrix
from fitorch.layers.conv import standardize_data_format
from fitorch.layers.core import _NoWeights, _resolve_name
from fitorch.layers.layer_api import LayerAPI
from fitorch.layers.resizing import Resizing

__all__ = ["RandomBrightness", "RandomContrast", "RandomCrop", "RandomRotation",
           "RandomTranslation", "RandomZoom"]


def _factor_range(factor: Any, arg: str, bounds: tuple[float, float],
                  low_open: bool = False) -> tuple[float, float]:
    """Keras's reading of a factor: a number f is `(max(-f, low), f)`, a pair is sorted;
    every number must lie within `bounds`."""
    message = (f"The `{arg}` argument should be a number (or a list of two numbers) in the "
               f"range [{bounds[0]}, {bounds[1]}]. Received: {arg}={factor!r} "
               f"(of type {type(factor).__name__})")

    def check(v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(message)
        if v > bounds[1] or v < bounds[0] or (low_open and v <= bounds[0]):
            raise ValueError(message)
        return float(v)

    if isinstance(factor, (tuple, list)):
        if len(factor) != 2:
            raise ValueError(message)
        low, high = sorted(check(v) for v in factor)
        return low, high
    value = abs(check(factor))
    return max(-value, bounds[0]), value


def _check_seed(seed: Any) -> int | None:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError(
            f"Argument `seed` must be an int or None. "
            f"Received: seed={seed!r} (of type {type(seed).__name__})"
        )
    return seed


def _check_choice(value: Any, choices: tuple[str, ...], arg: str) -> str:
    if value not in choices:
        raise ValueError(
            f"Unknown `{arg}` {value!r}. Expected one of {list(choices)}. "
            f"Received: {arg}={value!r} (of type {type(value).__name__})"
        )
    return str(value)


def _check_value_range(value_range: Any) -> list[float]:
    if not isinstance(value_range, (tuple, list)) or len(value_range) != 2:
        raise ValueError(
            "The `value_range` argument should be a list of two numbers. "
            f"Received: value_range={value_range!r} (of type {type(value_range).__name__})"
        )
    return sorted(float(v) for v in value_range)


class _RandomImageLayer(LayerAPI, _NoWeights, nn.Module):
    """Seeded uniform draws and the channels-first image checks shared by the layers."""

    def _setup(self, seed: Any, data_format: str | None, name: str | None) -> None:
        standardize_data_format(data_format)
        self.name = _resolve_name(name, type(self))
        self.seed = _check_seed(seed)
        self._generators: dict[torch.device, torch.Generator] = {}

    def _uniform(self, n: int, low: float, high: float, device: torch.device) -> Tensor:
        generator = None
        if self.seed is not None:
            generator = self._generators.get(device)
            if generator is None:
                generator = torch.Generator(device=device).manual_seed(self.seed)
                self._generators[device] = generator
        u = torch.rand(n, device=device, generator=generator, dtype=torch.float32)
        return low + (high - low) * u

    def _images(self, inputs: Tensor) -> Tensor:
        if not isinstance(inputs, Tensor) or inputs.ndim not in (3, 4):
            raise ValueError(
                f'Layer "{self.name}" takes images (batch, channels, height, width) or one '
                "image (channels, height, width), channels first. Received: inputs of shape "
                f"{tuple(getattr(inputs, 'shape', ()))} (of type {type(inputs).__name__})"
            )
        return inputs if inputs.ndim == 4 else inputs.unsqueeze(0)

    @staticmethod
    def _float(images: Tensor) -> Tensor:
        return images if images.is_floating_point() else images.to(torch.get_default_dtype())

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Any:
        """Create a layer from `get_config()`'s output."""
        return cls(**config)


class _AffineLayer(_RandomImageLayer):
    fill_mode: str
    interpolation: str
    fill_value: float

    def _setup_affine(self, fill_mode: str, interpolation: str, fill_value: float) -> None:
        self.fill_mode = _check_choice(fill_mode, FILL_MODES, "fill_mode")
        self.interpolation = _check_choice(interpolation, INTERPOLATIONS, "interpolation")
        self.fill_value = float(fill_value)

    def _matrices(self, images: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, inputs: Tensor) -> Tensor:
        images = self._float(self._images(inputs))
        if self.training:
            images = affine_transform(images, self._matrices(images), self.interpolation,
                                      self.fill_mode, self.fill_value)
        return images if inputs.ndim == 4 else images.squeeze(0)

    def _affine_config(self) -> dict[str, Any]:
        return {"name": self.name, "fill_mode": self.fill_mode,
                "interpolation": self.interpolation, "seed": self.seed,
                "fill_value": self.fill_value, "data_format": "channels_first"}


class RandomRotation(_AffineLayer):
    """Rotate each image by a random angle in `factor * 2π` (a number f: `[-f, f]`; a
    pair: `[low, high]`), about its centre, in training mode.

    Example:
        >>> RandomRotation((0.25, 0.25)).train()(torch.rand(1, 1, 4, 4)).shape
        torch.Size([1, 1, 4, 4])
    """

    def __init__(self, factor: float | Sequence[float], fill_mode: str = "reflect",
                 interpolation: str = "bilinear", seed: int | None = None,
                 fill_value: float = 0.0, data_format: str | None = None,
                 name: str | None = None) -> None:
        super().__init__()
        self._setup(seed, data_format, name)
        self.factor = _factor_range(factor, "factor", (-1.0, 1.0))
        self._setup_affine(fill_mode, interpolation, fill_value)

    def _matrices(self, images: Tensor) -> Tensor:
        n, _, h, w = images.shape
        angles = self._uniform(n, self.factor[0] * 360.0, self.factor[1] * 360.0,
                               images.device)
        return rotation_matrix(angles, h, w)

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {**self._affine_config(), "factor": list(self.factor)}


class RandomTranslation(_AffineLayer):
    """Shift each image by random fractions of its height and width (`height_factor`,
    `width_factor`: a number f for `[-f, f]` or a pair), in training mode.

    Example:
        >>> RandomTranslation(0.1, 0.1).train()(torch.rand(2, 3, 8, 8)).shape
        torch.Size([2, 3, 8, 8])
    """

    def __init__(self, height_factor: float | Sequence[float],
                 width_factor: float | Sequence[float], fill_mode: str = "reflect",
                 interpolation: str = "bilinear", seed: int | None = None,
                 fill_value: float = 0.0, data_format: str | None = None,
                 name: str | None = None) -> None:
        super().__init__()
        self._setup(seed, data_format, name)
        self.height_factor = _factor_range(height_factor, "height_factor", (-1.0, 1.0))
        self.width_factor = _factor_range(width_factor, "width_factor", (-1.0, 1.0))
        self._setup_affine(fill_mode, interpolation, fill_value)

    def _matrices(self, images: Tensor) -> Tensor:
        n, _, h, w = images.shape
        dy = self._uniform(n, *self.height_factor, images.device) * h
        dx = self._uniform(n, *self.width_factor, images.device) * w
        ones, zeros = torch.ones_like(dx), torch.zeros_like(dx)
        return torch.stack([ones, zeros, -dx, zeros, ones, -dy, zeros, zeros], dim=1)

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {**self._affine_config(), "height_factor": list(self.height_factor),
                "width_factor": list(self.width_factor)}


class RandomZoom(_AffineLayer):
    """Zoom each image by a random factor: `1 + height_factor` vertically (a number f
    for `[-f, f]` or a pair; negative zooms in, as Keras) and `1 + width_factor`
    horizontally (the same draw as the height when None), in training mode.

    Example:
        >>> RandomZoom(0.2).train()(torch.rand(2, 3, 8, 8)).shape
        torch.Size([2, 3, 8, 8])
    """

    def __init__(self, height_factor: float | Sequence[float],
                 width_factor: float | Sequence[float] | None = None,
                 fill_mode: str = "reflect", interpolation: str = "bilinear",
                 seed: int | None = None, fill_value: float = 0.0,
                 data_format: str | None = None, name: str | None = None) -> None:
        super().__init__()
        self._setup(seed, data_format, name)
        self.height_factor = _factor_range(height_factor, "height_factor", (-1.0, 1.0),
                                           low_open=True)
        self.width_factor = None if width_factor is None else _factor_range(
            width_factor, "width_factor", (-1.0, 1.0), low_open=True)
        self._setup_affine(fill_mode, interpolation, fill_value)

    def _matrices(self, images: Tensor) -> Tensor:
        n, _, h, w = images.shape
        zy = self._uniform(n, 1.0 + self.height_factor[0], 1.0 + self.height_factor[1],
                           images.device)
        zx = zy if self.width_factor is None else self._uniform(
            n, 1.0 + self.width_factor[0], 1.0 + self.width_factor[1], images.device)
        zeros = torch.zeros_like(zx)
        x_offset = (w - 1.0) / 2.0 * (1.0 - zx)
        y_offset = (h - 1.0) / 2.0 * (1.0 - zy)
        return torch.stack([zx, zeros, x_offset, zeros, zy, y_offset, zeros, zeros], dim=1)

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {**self._affine_config(), "height_factor": list(self.height_factor),
                "width_factor": None if self.width_factor is None else list(self.width_factor)}


class RandomCrop(_RandomImageLayer):
    """Crop a random `(height, width)` window in training mode, one position for the
    whole batch (as Keras); for images not larger than the target on both axes,
    Keras's fallback: a window from the centred crop of the target's aspect ratio,
    resized to the target. Inference returns the images.

    Example:
        >>> RandomCrop(4, 4).train()(torch.rand(2, 3, 8, 8)).shape
        torch.Size([2, 3, 4, 4])
    """

    def __init__(self, height: int, width: int, seed: int | None = None,
                 data_format: str | None = None, name: str | None = None) -> None:
        resizer = Resizing(height, width, name="_")
        super().__init__()
        self._setup(seed, data_format, name)
        self.height, self.width = height, width
        self._resizer = (resizer,)  # a tuple: no submodule, RandomCrop stays one layer

    def forward(self, inputs: Tensor) -> Tensor:
        images = self._images(inputs)
        if not self.training:
            return inputs
        images = self._float(images)
        h, w = images.shape[-2:]
        if h > self.height and w > self.width:
            top = int(self._uniform(1, 0.0, float(h - self.height + 1), images.device)
                      .floor().item())  # sync: one crop position per batch, as Keras
            left = int(self._uniform(1, 0.0, float(w - self.width + 1), images.device)
                       .floor().item())  # sync: as above
        else:
            # Keras's fallback: start where the centred window of the target's aspect
            # ratio would, take up to (height, width) from there, and resize.
            crop_h = max(min(h, int(float(w * self.height) / self.width)), 1)
            crop_w = max(min(w, int(float(h * self.width) / self.height)), 1)
            top, left = int(float(h - crop_h) / 2), int(float(w - crop_w) / 2)
        images = images[..., top:top + self.height, left:left + self.width]
        if tuple(images.shape[-2:]) != (self.height, self.width):
            images = self._resizer[0](images)
        return images if inputs.ndim == 4 else images.squeeze(0)

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {"name": self.name, "height": self.height, "width": self.width,
                "seed": self.seed, "data_format": "channels_first"}


class RandomContrast(_RandomImageLayer):
    """Scale each image's deviation from its per-channel mean by a random factor in
    `[1 - low, 1 + high]` and clip to `value_range`, in training mode. `factor` as in
    Keras 3: a number f gives `(low, high) = (0, f)`; a pair `(low, high)` in [0, 1].

    Example:
        >>> RandomContrast(0.5).train()(torch.rand(2, 3, 8, 8) * 255).shape
        torch.Size([2, 3, 8, 8])
    """

    def __init__(self, factor: float | Sequence[float], value_range: Sequence[float] = (0, 255),
                 seed: int | None = None, data_format: str | None = None,
                 name: str | None = None) -> None:
        super().__init__()
        self._setup(seed, data_format, name)
        self.factor = _factor_range(factor, "factor", (0.0, 1.0))
        self.value_range = _check_value_range(value_range)

    def forward(self, inputs: Tensor) -> Tensor:
        images = self._images(inputs)
        if not self.training:
            return inputs
        images = self._float(images)
        factor = self._uniform(images.shape[0], 1.0 - self.factor[0], 1.0 + self.factor[1],
                               images.device).view(-1, 1, 1, 1).to(images.dtype)
        mean = images.mean(dim=-2, keepdim=True).mean(dim=-1, keepdim=True)
        out = ((images - mean) * factor + mean).clamp(*self.value_range)
        return out if inputs.ndim == 4 else out.squeeze(0)

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {"name": self.name, "factor": list(self.factor),
                "value_range": list(self.value_range), "seed": self.seed,
                "data_format": "channels_first"}


class RandomBrightness(_RandomImageLayer):
    """Add a random `factor * (value_range[1] - value_range[0])` to each image (a number
    f for `[-f, f]`, or a pair in [-1, 1]) and clip to `value_range`, in training mode.
    Integer images keep their dtype (the shift is truncated to an integer, as Keras).

    Example:
        >>> RandomBrightness(0.2, value_range=(0, 1)).train()(torch.rand(2, 3, 4, 4)).max() <= 1
        tensor(True)
    """

    def __init__(self, factor: float | Sequence[float], value_range: Sequence[float] = (0, 255),
                 seed: int | None = None, data_format: str | None = None,
                 name: str | None = None) -> None:
        super().__init__()
        self._setup(seed, data_format, name)
        self.factor = _factor_range(factor, "factor", (-1.0, 1.0))
        self.value_range = _check_value_range(value_range)

    def forward(self, inputs: Tensor) -> Tensor:
        images = self._images(inputs)
        if not self.training:
            return inputs
        span = self.value_range[1] - self.value_range[0]
        delta = self._uniform(images.shape[0], *self.factor, images.device) * span
        delta = delta.view(-1, 1, 1, 1)
        if images.is_floating_point():
            out = (images + delta.to(images.dtype)).clamp(*self.value_range)
        else:
            shifted = images.to(torch.float32) + delta.trunc()
            out = shifted.clamp(*self.value_range).to(images.dtype)
        return out if inputs.ndim == 4 else out.squeeze(0)

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {"name": self.name, "factor": list(self.factor),
                "value_range": list(self.value_range), "seed": self.seed,
                "data_format": "channels_first"}
