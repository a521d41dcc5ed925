"""Vetting a torch file's declared sizes before `torch.load` allocates anything.

A torch file's pickle declares each storage by a persistent id, `("storage", <type>,
key, location, numel)`, and `torch.load` allocates what it declares: a tiny legacy
(non-zip) file can ask for gigabytes, a zip file's compressed record inflates to its
declared size. This module reads the ids without running anything from the file (an
unpickler whose every global is an inert stub) and refuses, with `FileFormatError`:

- a storage that declares more bytes than its record holds (zip) or than the file
  holds (legacy format);
- storages that add up to more than `budget` bytes (what the model's weights could use);
- a zip member that expands more than 1000-fold (a zip bomb).

Example:
    >>> check_torch_file("model.pt", budget=weight_budget(model))
"""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from typing import Any

from fitorch.saving.errors import FileFormatError
from fitorch.saving.formats import read_member

__all__ = ["check_torch_file"]

_MAX_RATIO = 1000
_PICKLE_LIMIT = 64 << 20  # a state_dict's pickle (names, shapes) is far smaller


class _Stub:
    """What every global of the file becomes: accepts any construction and any state."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        return object.__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def append(self, value: Any) -> None:
        pass

    def extend(self, values: Any) -> None:
        pass


class _Scanner(pickle.Unpickler):
    """Collects the persistent ids (storages) of a pickle; imports nothing."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self.storages: list[tuple[Any, ...]] = []

    def find_class(self, module: str, name: str) -> Any:
        return type(name, (_Stub,), {"global_module": module, "global_name": name})

    def persistent_load(self, pid: Any) -> Any:
        if isinstance(pid, tuple) and pid and pid[0] == "storage":
            self.storages.append(pid)
        return _Stub()


# Bytes per element of torch's storage classes, by the name a file gives (`FloatStorage`);
# an `UntypedStorage` counts bytes. Torch refuses other names under weights_only.
_ITEMSIZE = {"Double": 8, "Float": 4, "Half": 2, "BFloat16": 2, "Long": 8, "Int": 4,
             "Short": 2, "Char": 1, "Byte": 1, "Bool": 1, "ComplexFloat": 8,
             "ComplexDouble": 16, "QInt8": 1, "QUInt8": 1, "QInt32": 4, "QUInt4x2": 1,
             "QUInt2x4": 1, "Untyped": 1}


def _itemsize(storage_type: Any) -> int:
    """Bytes per element of a storage class named in the file (`torch.FloatStorage`)."""
    name = str(getattr(storage_type, "global_name", ""))
    return _ITEMSIZE.get(name.removesuffix("Storage"), 1)


def _declared(pid: tuple[Any, ...], source: str) -> tuple[str, int]:
    """`(key, bytes)` a storage id declares."""
    numel = pid[4] if len(pid) > 4 else None
    if not isinstance(numel, int) or isinstance(numel, bool) or numel < 0:
        raise FileFormatError(source, (
            f"Refusing to load {source!r}: a storage declares no valid size. The file is "
            f"damaged or crafted. Received: filepath={source!r}"))
    return str(pid[2]), numel * _itemsize(pid[1])


def _refuse_budget(source: str, total: int, budget: int) -> FileFormatError:
    return FileFormatError(source, (
        f"Refusing to load {source!r}: its tensors declare {total} bytes, more than the "
        f"{budget} bytes the model's weights could use. The file was saved from a "
        f"different model, or is damaged or crafted. Received: filepath={source!r}"))


def _scan(data: Any, source: str) -> _Scanner:
    scanner = _Scanner(data)
    try:
        scanner.load()
    except FileFormatError:
        raise
    except Exception as e:  # any malformed pickle: not a file to hand to torch.load
        raise FileFormatError(source, (
            f"Could not read {source!r} as a torch file: its pickle is damaged. "
            f"Received: filepath={source!r} ({type(e).__name__}: {e})")) from None
    return scanner


def check_torch_file(filepath: str, budget: int | None = None) -> None:
    """Refuse a torch file whose declared storages exceed what it holds or `budget`."""
    if zipfile.is_zipfile(filepath):
        _check_zip(filepath, budget)
    else:
        _check_legacy(filepath, budget)


def _check_zip(filepath: str, budget: int | None) -> None:
    with zipfile.ZipFile(filepath) as zf:
        infos = zf.infolist()
        for info in infos:
            if info.file_size > _MAX_RATIO * max(info.compress_size, 1) \
                    and info.file_size > (1 << 20):
                raise FileFormatError(filepath, (
                    f"Refusing to load {filepath!r}: member {info.filename!r} would expand to "
                    f"{info.file_size} bytes from {info.compress_size} (a zip bomb). "
                    f"Received: filepath={filepath!r}"))
        pickles = [i.filename for i in infos if i.filename.endswith("data.pkl")]
        if len(pickles) != 1:
            return  # not torch's zip layout: torch.load says what is wrong
        prefix = pickles[0][: -len("data.pkl")]
        sizes = {i.filename: i.file_size for i in infos}
        scanner = _scan(io.BytesIO(read_member(zf, pickles[0], filepath, _PICKLE_LIMIT)),
                        filepath)
    total = 0
    counted: set[str] = set()
    for pid in scanner.storages:
        key, nbytes = _declared(pid, filepath)
        record = f"{prefix}data/{key}"
        held = sizes.get(record, 0)
        if nbytes > held:
            raise FileFormatError(filepath, (
                f"Refusing to load {filepath!r}: storage {key!r} declares {nbytes} bytes but "
                f"its record holds {held}. The file is damaged or crafted. "
                f"Received: filepath={filepath!r}"))
        if key not in counted:
            counted.add(key)
            total += held
    if budget is not None and total > budget:
        raise _refuse_budget(filepath, total, budget)


def _check_legacy(filepath: str, budget: int | None) -> None:
    size = os.path.getsize(filepath)
    with open(filepath, "rb") as f:
        if f.read(1) != b"\x80":  # not a pickle: torch.load says what it is
            return
        f.seek(0)
        for _ in range(3):  # magic number, protocol version, system info
            _scan(f, filepath)
        storages = _scan(f, filepath).storages
    declared: dict[str, int] = {}
    for pid in storages:
        key, nbytes = _declared(pid, filepath)
        declared[key] = max(nbytes, declared.get(key, 0))
    total = sum(declared.values())
    if total > size:
        raise FileFormatError(filepath, (
            f"Refusing to load {filepath!r}: its storages declare {total} bytes but the file "
            f"holds {size}. The file is damaged or crafted. Received: filepath={filepath!r}"))
    if budget is not None and total > budget:
        raise _refuse_budget(filepath, total, budget)
