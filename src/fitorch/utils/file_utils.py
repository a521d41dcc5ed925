"""Keras's `get_file` for files already on this machine: a local path or a `file://`
URL is copied into the cache (`~/.keras/datasets` by default), checked against a
hash, and optionally extracted (tar, tar.gz, tar.bz2, zip) with safe extraction.
fitorch has no network fetch: an `http(s)://` or `ftp://` origin is an error.

Example:
    >>> path = get_file(origin="file:///data/flowers.tgz", extract=True)
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

__all__ = ["get_file"]


def _hasher(algorithm: str, file_hash: str | None) -> Any:
    if algorithm == "sha256" or (algorithm == "auto" and file_hash is not None
                                 and len(file_hash) == 64):
        return hashlib.sha256()
    if algorithm in ("md5", "auto"):
        return hashlib.md5()
    raise ValueError(
        "`hash_algorithm` must be 'auto', 'sha256' or 'md5'. "
        f"Received: hash_algorithm={algorithm!r} (of type {type(algorithm).__name__})"
    )


def validate_file(fpath: str | os.PathLike[str], file_hash: str,
                  algorithm: str = "auto") -> bool:
    """Whether the file's sha256 or md5 digest (`"auto"`: by the hash's length) is `file_hash`."""
    hasher = _hasher(algorithm, file_hash)
    with open(fpath, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            hasher.update(chunk)
    return str(hasher.hexdigest()) == str(file_hash)


def _local_source(origin: str) -> Path:
    parsed = urllib.parse.urlsplit(origin)
    if parsed.scheme == "file":
        return Path(urllib.request.url2pathname(parsed.path))
    if parsed.scheme and len(parsed.scheme) > 1:  # "C:" paths on Windows are not schemes
        raise ValueError(
            "`get_file` copies files that are already on this machine (a path or a file:// "
            "URL); fitorch has no network fetch. Download the file first and pass its path. "
            f"Received: origin={origin!r} (of type {type(origin).__name__})"
        )
    return Path(origin).expanduser()


def _inside(root: Path, member: str) -> bool:
    target = (root / member).resolve()
    return target == root or root in target.parents


def _extract_tar(path: Path, to: Path) -> None:
    with tarfile.open(path) as archive:
        members = archive.getmembers()
        for m in members:
            if not _inside(to, m.name) or m.issym() or m.islnk() or m.isdev():
                raise ValueError(
                    f"Refusing to extract {path}: member {m.name!r} is a link, a device, or "
                    "would land outside the extraction folder."
                )
        if hasattr(tarfile, "data_filter"):
            archive.extractall(to, members=members, filter="data")
        else:  # Python without extraction filters: members were checked above
            archive.extractall(to, members=members)


def _extract_zip(path: Path, to: Path) -> None:
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if not _inside(to, name):
                raise ValueError(
                    f"Refusing to extract {path}: member {name!r} would land outside the "
                    "extraction folder."
                )
        archive.extractall(to)


def extract_archive(path: str | os.PathLike[str], to: str | os.PathLike[str],
                    archive_format: str | list[str] | None = "auto") -> bool:
    """Extract a tar or zip archive into `to` (made if missing), refusing members that
    would land outside it (absolute paths, `..`, links); False if `path` is neither."""
    formats = ["tar", "zip"] if archive_format in ("auto", None) else (
        [archive_format] if isinstance(archive_format, str) else list(archive_format))
    source, target = Path(path), Path(to)
    for kind in formats:
        is_kind = tarfile.is_tarfile if kind == "tar" else zipfile.is_zipfile
        if kind not in ("tar", "zip"):
            raise ValueError(
                "`archive_format` must be 'auto', 'tar', 'zip', None or a list of those. "
                f"Received: archive_format={archive_format!r}"
            )
        if is_kind(source):
            staging = Path(tempfile.mkdtemp(prefix=".extracting-", dir=target.parent))
            try:
                staging = staging.resolve()
                (_extract_tar if kind == "tar" else _extract_zip)(source, staging)
                if target.exists():
                    shutil.rmtree(target)
                staging.rename(target)
            finally:
                if staging.exists():
                    shutil.rmtree(staging, ignore_errors=True)
            return True
    return False


def get_file(
    fname: str | None = None,
    origin: str | None = None,
    untar: bool = False,
    md5_hash: str | None = None,
    file_hash: str | None = None,
    cache_subdir: str = "datasets",
    hash_algorithm: str = "auto",
    extract: bool = False,
    archive_format: str = "auto",
    cache_dir: str | os.PathLike[str] | None = None,
    force_download: bool = False,
) -> str:
    """Copy the local file `origin` into `cache_dir/cache_subdir` (Keras's arguments and
    paths), check its hash, and with `extract=True` (or `untar=True`) extract it; return
    the cached file's path, or the extraction folder's. A cached copy whose hash matches
    is reused unless `force_download=True`.

    Example:
        >>> get_file("data.csv", origin="/mnt/share/data.csv", cache_dir="/tmp/cache")
        '/tmp/cache/datasets/data.csv'
    """
    if origin is None:
        raise ValueError(
            'Please specify the "origin" argument (the path or file:// URL of the file). '
            "Received: origin=None"
        )
    source = _local_source(str(origin))
    _hasher(hash_algorithm, file_hash)  # checks the name before any work
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    base = Path(os.path.expanduser(str(cache_dir) if cache_dir is not None else
                                   os.path.join("~", ".keras")))
    if not os.access(base if base.exists() else base.parent, os.W_OK):
        base = Path(tempfile.gettempdir()) / ".keras"
    datadir = base / cache_subdir
    datadir.mkdir(parents=True, exist_ok=True)
    provided = fname is not None
    name = os.fspath(fname) if fname is not None else source.name
    if not name:
        raise ValueError(
            f"Can't parse the file name from the origin provided: {origin!r}. "
            "Please specify the `fname` argument."
        )
    if os.sep in name:
        raise ValueError(
            "Paths are no longer accepted as the `fname` argument. To specify the file's "
            f"parent directory, use the `cache_dir` argument. Received: fname={name!r}"
        )
    if extract or untar:
        if provided and "." in name:
            target = datadir / name
            stem = name[:name.find(".")]
            extraction_dir = datadir / f"{stem}_extracted"
        else:
            extraction_dir = datadir / name
            target = datadir / f"{name}_archive"
    else:
        target = datadir / name
    fetch = force_download or not target.exists() or (
        file_hash is not None and not validate_file(target, file_hash, hash_algorithm))
    if fetch:
        if not source.is_file():
            raise ValueError(
                f"`origin` must name an existing file. Received: origin={origin!r} "
                f"(of type {type(origin).__name__})"
            )
        partial = target.with_name(target.name + ".part")
        try:
            shutil.copyfile(source, partial)
            if file_hash is not None and not validate_file(partial, file_hash,
                                                           hash_algorithm):
                raise ValueError(
                    f"Incomplete or corrupted file detected. The {hash_algorithm} file hash "
                    f"does not match the provided value of {file_hash}."
                )
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
    if extract or untar:
        if not extract_archive(target, extraction_dir, "tar" if untar else archive_format):
            raise ValueError(
                f"Could not extract {target}: it is not a {'tar' if untar else 'tar or zip'} "
                f"archive. Received: archive_format={archive_format!r}"
            )
        return str(extraction_dir)
    return str(target)
