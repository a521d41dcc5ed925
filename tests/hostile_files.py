"""Crafted files that declare far more than they hold, and a peak-RSS probe to load them.

    python hostile_files.py KIND PATH    # load PATH as KIND; print the peak RSS growth

Each `make_*` writes a small file to `path` and returns it. The loader runs in a fresh
process so that `ru_maxrss` (the peak resident size) measures this load alone.
"""

from __future__ import annotations

import json
import os
import resource
import struct
import sys
import zipfile
import zlib

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))


def model():
    import fitorch as ft

    m = ft.Sequential([ft.Input(shape=(8,)), ft.layers.Dense(16), ft.layers.Dense(3)])
    m.compile(optimizer="adam", loss="mse")
    return m


def make_h5_unwritten_datasets(path: str) -> str:
    """A `.weights.h5` whose two kernels are replaced by 1 GiB datasets never written."""
    import h5py

    model().save_weights(path)
    with h5py.File(path, "r+") as f:
        kernels: list[str] = []
        f.visititems(lambda name, node: kernels.append(name)
                     if isinstance(node, h5py.Dataset) and name.endswith("vars/0") else None)
        for name in kernels[:2]:
            parent, key = name.rsplit("/", 1)
            del f[parent][key]
            f[parent].create_dataset(key, shape=(1 << 14, 1 << 14), dtype="float32")
    return path


def make_fitorch_huge_units(path: str) -> str:
    """A `.fitorch` file whose config declares Dense(units=2**25)."""
    model().save(path)
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    doc = json.loads(members["fitorch.json"])
    doc["config"]["config"]["layers"][-1]["config"]["units"] = 1 << 25
    members["fitorch.json"] = json.dumps(doc).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def make_zip_understated_member(path: str, inflated: int = 1 << 30) -> str:
    """A `.fitorch` zip whose fitorch.json inflates to `inflated` bytes of spaces while
    its headers declare 1000: the streaming cap must stop at the declared size."""
    name = b"fitorch.json"
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = b" " * (1 << 24)
    parts, crc = [], 0
    for _ in range(inflated // len(chunk)):
        parts.append(comp.compress(chunk))
        crc = zlib.crc32(chunk, crc)
    parts.append(comp.flush())
    data = b"".join(parts)
    declared = 1000
    local = struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(data), declared,
                        len(name), 0) + name
    weights = b"PK"  # a second member so the file looks like a fitorch file
    central = struct.pack("<4s6H3I5H2I", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, len(data),
                          declared, len(name), 0, 0, 0, 0, 0, 0) + name
    offset_weights = len(local) + len(data)
    wname = b"model.safetensors"
    wlocal = struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, 0, 0, 0, 0, zlib.crc32(weights),
                         len(weights), len(weights), len(wname), 0) + wname
    wcentral = struct.pack("<4s6H3I5H2I", b"PK\x01\x02", 20, 20, 0, 0, 0, 0,
                           zlib.crc32(weights), len(weights), len(weights), len(wname), 0, 0, 0,
                           0, 0, offset_weights) + wname
    cd_offset = offset_weights + len(wlocal) + len(weights)
    cd = central + wcentral
    end = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, 2, 2, len(cd), cd_offset, 0)
    with open(path, "wb") as f:
        f.write(local + data + wlocal + weights + cd + end)
    return path


def make_safetensors_huge_declared(path: str) -> str:
    """A safetensors file declaring a 4 GiB tensor and holding 16 bytes."""
    header = json.dumps({"w": {"dtype": "F32", "shape": [1 << 30],
                               "data_offsets": [0, 1 << 32]}}).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header + b"\0" * 16)
    return path


def make_safetensors_huge_header(path: str) -> str:
    """A file whose 8-byte prefix declares a 90 MB header but holds 100 bytes."""
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", 90_000_000) + b"{" + b" " * 99)
    return path


def make_keras_archive_huge_weights(path: str) -> str:
    """A `.keras` archive whose weights member is the unwritten-datasets HDF5 file."""
    h5 = make_h5_unwritten_datasets(path + ".weights.h5")
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("config.json", "{}")
        zf.writestr("metadata.json", "{}")
        zf.write(h5, "model.weights.h5")
    os.remove(h5)
    return path


CRAFTED = {
    "h5_unwritten_datasets": ("x.weights.h5", make_h5_unwritten_datasets, "load_weights"),
    "fitorch_huge_units": ("m.fitorch", make_fitorch_huge_units, "load_model"),
    "zip_understated_member": ("z.fitorch", make_zip_understated_member, "load_model"),
    "safetensors_huge_declared": ("w.safetensors", make_safetensors_huge_declared,
                                  "load_weights"),
    "safetensors_huge_header": ("h.safetensors", make_safetensors_huge_header,
                                "load_weights"),
    "keras_archive_huge_weights": ("a.keras", make_keras_archive_huge_weights,
                                   "load_weights"),
}


def probe(how: str, path: str) -> None:
    """Load `path`; print `error_type peak_rss_growth_bytes`."""
    import fitorch as ft

    m = model()
    np.zeros(1)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        if how == "load_model":
            ft.load_model(path)
        else:
            m.load_weights(path)
        error = "none"
    except Exception as e:  # the refusal is the expected outcome
        error = f"{type(e).__name__}:{isinstance(e, OSError)}:{str(e)[:200]!r}"
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(error)
    print((after - before) * 1024)  # ru_maxrss is in KiB on Linux


if __name__ == "__main__":
    probe(sys.argv[1], sys.argv[2])
