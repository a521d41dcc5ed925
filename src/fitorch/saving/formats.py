"""Which file format a path means: by suffix when writing, by content when reading.

Suffixes (SPEC): `.safetensors` (weights), `.weights.h5` (Keras 3's HDF5 layout),
`.h5` / `.hdf5` (Keras's legacy HDF5 layout, what `keras.Model.load_weights`
expects for that suffix), `.pt` / `.pth` / `.bin` (a torch state_dict), and
anything else: fitorch's own file (`.fitorch`). Reading looks at the first
bytes, so a file renamed by hand (or named by a checkpoint pattern) still loads;
it also takes the weights out of Keras 3's `.keras` archives.

Example:
    >>> format_for_suffix("ckpt/epoch_03.weights.h5")
    'keras_h5'
"""

from __future__ import annotations

import os
import zipfile

__all__ = ["FITORCH_MEMBER", "KERAS_WEIGHTS_MEMBER", "format_for_suffix", "read_member",
           "sniff_format"]

SAFETENSORS = "safetensors"
KERAS_H5 = "keras_h5"  # Keras 3: layers/<name>/vars/<i>
LEGACY_H5 = "legacy_h5"  # Keras 2 / legacy: layer_names, weight_names
TORCH = "torch"
FITORCH = "fitorch"
KERAS_ARCHIVE = "keras_archive"  # Keras 3's `.keras` zip: config.json + model.weights.h5

# The member every fitorch file has (and a torch zip never has).
FITORCH_MEMBER = "fitorch.json"
KERAS_WEIGHTS_MEMBER = "model.weights.h5"
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def format_for_suffix(filepath: str | os.PathLike[str]) -> str:
    """The format `save` / `save_weights` write for this file name."""
    name = os.fspath(filepath).lower()
    if name.endswith(".safetensors"):
        return SAFETENSORS
    if name.endswith(".weights.h5"):
        return KERAS_H5
    if name.endswith((".h5", ".hdf5")):
        return LEGACY_H5
    if name.endswith((".pt", ".pth", ".bin")):
        return TORCH
    return FITORCH


def sniff_format(filepath: str) -> str:
    """The format of an existing file, from its first bytes (the suffix when they are unclear)."""
    if not os.path.isfile(filepath):
        raise ValueError(
            f"No file found at {filepath!r}. Received: filepath={filepath!r}"
        )
    with open(filepath, "rb") as f:
        head = f.read(16)
    if head.startswith(_HDF5_MAGIC):
        return KERAS_H5  # keras_h5 tells Keras 3 and legacy layouts apart from the content
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(filepath) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError):
            by_suffix = format_for_suffix(filepath)
            return by_suffix if by_suffix in (FITORCH, TORCH) else FITORCH
        if FITORCH_MEMBER in names:
            return FITORCH
        return KERAS_ARCHIVE if KERAS_WEIGHTS_MEMBER in names else TORCH
    if len(head) >= 9 and head[8:9] == b"{":
        return SAFETENSORS  # 8-byte little-endian header size, then the JSON header
    if head[:1] == b"\x80":
        return TORCH  # a pickle (torch's legacy, non-zip format)
    by_suffix = format_for_suffix(filepath)
    return KERAS_H5 if by_suffix == LEGACY_H5 else by_suffix


_MAX_RATIO = 1000  # a zip member may not expand more than this (zip bombs) ...
_RATIO_FLOOR = 1 << 30  # ... once it is bigger than 1 GiB


_CHUNK = 1 << 20


def read_member(zf: zipfile.ZipFile, name: str, source: str, limit: int | None = None) -> bytes:
    """One member of a zip file, read by its actual inflated bytes.

    Refuses members that would expand from almost nothing, members that inflate to more
    than their header declares (the read stops there, streaming, so a header that
    understates the size allocates nothing more) and members bigger than `limit` bytes
    (what the caller can use, e.g. a multiple of the model's own weights).
    """
    from fitorch.saving.errors import FileFormatError

    info = zf.getinfo(name)
    if info.file_size > _RATIO_FLOOR and info.file_size > _MAX_RATIO * max(info.compress_size, 1):
        raise FileFormatError(source, (
            f"Refusing to read {source!r}: member {name!r} would expand to {info.file_size} "
            "bytes from almost nothing (a zip bomb)."))
    if limit is not None and info.file_size > limit:
        raise FileFormatError(source, (
            f"Refusing to read {source!r}: member {name!r} declares {info.file_size} bytes, "
            f"more than the {limit} bytes it can hold for this model. "
            f"Received: filepath={source!r}"))
    allowed = info.file_size
    data = bytearray()
    with zf.open(info) as member:
        while True:
            chunk = member.read(min(_CHUNK, allowed + 1 - len(data)))
            if not chunk:
                break
            data += chunk
            if len(data) > allowed:
                raise FileFormatError(source, (
                    f"Refusing to read {source!r}: member {name!r} inflates to more than the "
                    f"{allowed} bytes its header declares (a damaged or crafted file). "
                    f"Received: filepath={source!r}"))
    return bytes(data)
