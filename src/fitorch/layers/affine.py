"""Keras's `affine_transform` for channels-first image batches: each output pixel
`(y, x)` reads the input at `x' = a0*x + a1*y + a2`, `y' = b0*x + b1*y + b2`, with
nearest or bilinear interpolation and Keras's fill modes outside the image
(`reflect`, `wrap`, `constant`, `nearest`, `mirror`), as `keras.ops.image` does.

Example:
    >>> identity = torch.tensor([[1.0, 0, 0, 0, 1, 0, 0, 0]])
    >>> x = torch.arange(4.0).reshape(1, 1, 2, 2)
    >>> torch.equal(affine_transform(x, identity), x)
    True
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

FILL_MODES = ("reflect", "wrap", "constant", "nearest")
INTERPOLATIONS = ("nearest", "bilinear")


def _mirror(index: Tensor, size: int) -> Tensor:
    s = size - 1
    return torch.abs((index + s) % (2 * s) - s) if s > 0 else torch.zeros_like(index)


def _fix_index(index: Tensor, size: int, fill_mode: str) -> Tensor:
    if fill_mode == "wrap":
        return index % size
    if fill_mode == "mirror":
        return _mirror(index, size)
    if fill_mode == "reflect":
        return torch.div(_mirror(2 * index + 1, 2 * size + 1) - 1, 2, rounding_mode="floor")
    return index.clamp(0, size - 1)  # constant (masked below) and nearest


def affine_transform(images: Tensor, transform: Tensor, interpolation: str = "bilinear",
                     fill_mode: str = "constant", fill_value: float = 0.0) -> Tensor:
    """Apply one 8-parameter projective transform per image to `(N, C, H, W)` images
    (only the affine part is used, as in Keras's image layers)."""
    n, c, h, w = images.shape
    t = transform.to(torch.float32)
    ys = torch.arange(h, dtype=torch.float32, device=images.device).view(1, h, 1)
    xs = torch.arange(w, dtype=torch.float32, device=images.device).view(1, 1, w)
    col = [t[:, i].view(n, 1, 1) for i in range(6)]
    y_in = ys * col[4] + xs * col[3] + col[5]
    x_in = ys * col[1] + xs * col[0] + col[2]
    nodes_y: list[tuple[Tensor, Tensor | None]]
    nodes_x: list[tuple[Tensor, Tensor | None]]
    if interpolation == "nearest":
        nodes_y = [(torch.round(y_in).long(), None)]
        nodes_x = [(torch.round(x_in).long(), None)]
    else:
        y0, x0 = torch.floor(y_in), torch.floor(x_in)
        wy, wx = y_in - y0, x_in - x0
        nodes_y = [(y0.long(), 1 - wy), (y0.long() + 1, wy)]
        nodes_x = [(x0.long(), 1 - wx), (x0.long() + 1, wx)]
    flat = images.reshape(n, c, h * w)
    out = torch.zeros_like(images)
    for iy, wy_ in nodes_y:
        for ix, wx_ in nodes_x:
            index = (_fix_index(iy, h, fill_mode) * w + _fix_index(ix, w, fill_mode))
            values = torch.gather(flat, 2, index.view(n, 1, h * w).expand(n, c, h * w))
            values = values.view(n, c, h, w)
            if fill_mode == "constant":
                valid = ((iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)).unsqueeze(1)
                values = torch.where(valid, values, torch.as_tensor(fill_value).to(values))
            if wy_ is not None and wx_ is not None:
                values = values * (wy_ * wx_).unsqueeze(1).to(values.dtype)
            out = out + values
    return out


def rotation_matrix(angles_deg: Tensor, height: int, width: int) -> Tensor:
    """Keras's `_compute_affine_matrix` for rotations about the image centre."""
    angle = angles_deg * (math.pi / 180.0)
    cx, cy = 0.5 * (width - 1), 0.5 * (height - 1)
    cos, sin = torch.cos(angle), torch.sin(angle)
    a0, a1 = cos, -sin
    b0, b1 = sin, cos
    a2 = cx - cx * a0 - cy * a1
    b2 = cy - cx * b0 - cy * b1
    zeros = torch.zeros_like(angle)
    return torch.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], dim=1)
