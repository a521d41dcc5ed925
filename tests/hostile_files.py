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


class _FakeStorage:
    """Pickled as torch's persistent id of a storage that declares `numel` elements."""

    def __init__(self, numel: int) -> None:
        self.numel = numel


class _FakeTensor:
    """Pickled as torch pickles a tensor: `_rebuild_tensor_v2(storage, offset, size, ...)`."""

    def __init__(self, numel: int, size: tuple[int, ...]) -> None:
        self.storage, self.size = _FakeStorage(numel), size

    def __reduce_ex__(self, protocol: int):  # type: ignore[no-untyped-def]
        import collections

        import torch

        stride = tuple(int(np.prod(self.size[i + 1:])) for i in range(len(self.size)))
        return (torch._utils._rebuild_tensor_v2,
                (self.storage, 0, self.size, stride, False, collections.OrderedDict()))


def _torch_pickle(obj: object, pid: object) -> bytes:
    import io
    import pickle

    import torch

    class Pickler(pickle.Pickler):
        def persistent_id(self, o: object) -> object:
            return pid(o, torch.FloatStorage) if isinstance(o, _FakeStorage) else None

    buf = io.BytesIO()
    Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def make_pt_huge_storage(path: str, numel: int = 1 << 34, size: tuple[int, ...] = (16, 8)
                         ) -> str:
    """A torch zip file whose `w` tensor's storage declares `numel` float32 elements (64
    GiB) while its data record holds 512 bytes (the tensor itself is (16, 8))."""
    import torch

    data = _torch_pickle({"0.weight": _FakeTensor(numel, size)},
                         lambda o, kind: ("storage", kind, "0", "cpu", o.numel))
    writer = torch._C.PyTorchFileWriter(path)
    writer.write_record("data.pkl", data, len(data))
    writer.write_record("byteorder", b"little", 6)
    writer.write_record("data/0", b"\0" * 512, 512)
    writer.write_record("version", b"3\n", 2)
    writer.write_end_of_file()
    del writer
    return path


def make_pt_huge_tensor_view(path: str) -> str:
    """A torch zip file whose tensor *and* storage declare 2**34 elements over 512 bytes."""
    return make_pt_huge_storage(path, size=(1 << 34,))


def make_pt_deflated_record(path: str, inflated: int = 1 << 28) -> str:
    """A torch zip file whose one storage record is `inflated` bytes of zeros, deflated to
    about a thousandth (headers honest): torch.load would inflate it all."""
    make_pt_huge_storage(path + ".src", numel=inflated // 4, size=(16, 8))
    with zipfile.ZipFile(path + ".src") as src, \
            zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in src.namelist():
            with zf.open(name, "w", force_zip64=True) as out:
                if name.endswith("data/0"):
                    chunk = bytes(1 << 22)
                    for _ in range(inflated // len(chunk)):
                        out.write(chunk)
                else:
                    out.write(src.read(name))
    os.remove(path + ".src")
    return path


def make_pt_legacy_huge_storage(path: str, numel: int = 1 << 29) -> str:
    """Torch's legacy (non-zip) format declaring a 2 GiB storage, holding 512 bytes."""
    import pickle
    import struct
    import sys

    with open(path, "wb") as f:
        pickle.dump(0x1950A86A20F9469CFC6C, f, protocol=2)  # torch's legacy magic number
        pickle.dump(1001, f, protocol=2)
        pickle.dump({"protocol_version": 1001, "little_endian": sys.byteorder == "little",
                     "type_sizes": {"short": 2, "int": 4, "long": 4}}, f, protocol=2)
        f.write(_torch_pickle({"0.weight": _FakeTensor(numel, (16, 8))},
                              lambda o, kind: ("storage", kind, "0", "cpu", o.numel, None)))
        pickle.dump(["0"], f, protocol=2)
        f.write(struct.pack("<q", 128) + b"\0" * 512)
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
    "pt_huge_storage": ("s.pt", make_pt_huge_storage, "load_weights"),
    "pt_huge_tensor_view": ("v.pt", make_pt_huge_tensor_view, "load_weights"),
    "pt_deflated_record": ("d.pt", make_pt_deflated_record, "load_weights"),
    "pt_legacy_huge_storage": ("l.pt", make_pt_legacy_huge_storage, "load_weights"),
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
