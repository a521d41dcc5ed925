"""`get_file` for local files (copy, hash check, safe extraction; no network fetch) and
`plot_model` / `model_to_dot`."""

from __future__ import annotations

import hashlib
import io
import shutil
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import fitorch as ft
from fitorch import layers as L
from fitorch.utils import get_file, model_to_dot, plot_model


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "src" / "data.csv"
    path.parent.mkdir()
    path.write_text("a,b\n1,2\n")
    return path


def test_local_path_and_file_url_are_copied_into_the_cache(source, tmp_path):
    cache = tmp_path / "cache"
    path = get_file("data.csv", origin=str(source), cache_dir=cache)
    assert path == str(cache / "datasets" / "data.csv")
    assert Path(path).read_text() == "a,b\n1,2\n"
    source.write_text("changed")
    assert Path(get_file(origin=source.as_uri(), cache_dir=cache)).read_text() == "a,b\n1,2\n"
    assert Path(get_file(origin=source.as_uri(), cache_dir=cache,
                         force_download=True)).read_text() == "changed"


def test_hashes_are_checked(source, tmp_path):
    sha = hashlib.sha256(source.read_bytes()).hexdigest()
    md5 = hashlib.md5(source.read_bytes()).hexdigest()
    assert get_file(origin=str(source), file_hash=sha, cache_dir=tmp_path / "a")
    assert get_file(origin=str(source), md5_hash=md5, cache_dir=tmp_path / "b")
    with pytest.raises(ValueError, match="hash does not match"):
        get_file(origin=str(source), file_hash="0" * 64, cache_dir=tmp_path / "c")
    assert not list((tmp_path / "c" / "datasets").iterdir())  # nothing half-written left


def _tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_archives_are_extracted(tmp_path):
    tar = _tar(tmp_path / "flowers.tgz", {"flowers/a.txt": b"A", "flowers/b/c.txt": b"C"})
    out = Path(get_file("flowers.tgz", origin=str(tar), extract=True, cache_dir=tmp_path / "k"))
    assert out == tmp_path / "k" / "datasets" / "flowers_extracted"
    assert (out / "flowers" / "b" / "c.txt").read_bytes() == b"C"
    zipped = tmp_path / "z.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("inner/x.txt", "X")
    out = Path(get_file(origin=str(zipped), extract=True, cache_dir=tmp_path / "k"))
    assert out == tmp_path / "k" / "datasets" / "z.zip"
    assert (out / "inner" / "x.txt").read_text() == "X"
    untarred = Path(get_file("t", origin=str(tar), untar=True, cache_dir=tmp_path / "k"))
    assert (untarred / "flowers" / "a.txt").read_bytes() == b"A"


@pytest.mark.parametrize("name", ["../escape.txt", "/abs/escape.txt", "a/../../escape.txt"])
def test_unsafe_archive_members_are_refused(tmp_path, name):
    tar = _tar(tmp_path / "evil.tar.gz", {name: b"x"})
    with pytest.raises(ValueError, match="Refusing to extract"):
        get_file("evil.tar.gz", origin=str(tar), extract=True, cache_dir=tmp_path / "k")
    assert not (tmp_path / "escape.txt").exists()
    assert not (tmp_path / "k" / "escape.txt").exists()


def test_links_in_archives_are_refused(tmp_path):
    path = tmp_path / "links.tar"
    with tarfile.open(path, "w") as archive:
        info = tarfile.TarInfo("link")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        archive.addfile(info)
    with pytest.raises(ValueError, match="link"):
        get_file("links.tar", origin=str(path), extract=True, cache_dir=tmp_path / "k")


@pytest.mark.parametrize("kwargs, match", [
    (dict(origin="https://example.com/data.csv"), "no network fetch"),
    (dict(origin="ftp://example.com/data.csv"), "no network fetch"),
    (dict(origin=None), "origin"),
    (dict(origin="/no/such/file.csv"), "existing file"),
    (dict(fname="a/b.csv", origin="/x"), "cache_dir"),
    (dict(origin="/x", file_hash="abc", hash_algorithm="sha1"), "hash_algorithm"),
])
def test_get_file_errors(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        get_file(cache_dir=tmp_path, **kwargs)


def test_an_archive_that_is_not_one_is_an_error(source, tmp_path):
    with pytest.raises(ValueError, match="Could not extract"):
        get_file("data.csv", origin=str(source), extract=True, cache_dir=tmp_path)


def sequential():
    return ft.Sequential([ft.Input((4,)), L.Dense(8, activation="relu", name="hidden"),
                          L.Dense(2, name="out")])


def functional():
    a, b = ft.Input((4,), name="a"), ft.Input((3,), name="b")
    x = L.Concatenate(name="join")([L.Dense(5, name="da")(a), L.Dense(5, name="db")(b)])
    return ft.Model([a, b], L.Dense(1, name="head")(x))


def test_model_to_dot_draws_the_layers_and_their_connections():
    dot = model_to_dot(sequential(), show_shapes=True, show_layer_activations=True,
                       show_trainable=True, show_dtype=True)
    text = dot.to_string()
    assert "hidden (Dense)" in text and "Output shape" in text and "(None, 8)" in text
    assert "Activation" in text and "relu" in text and "Trainable" in text
    assert len(dot.get_edges()) == 1
    graph = model_to_dot(functional(), rankdir="LR")
    edges = {(e.get_source().strip('"'), e.get_destination().strip('"'))
             for e in graph.get_edges()}
    assert {("a", "da"), ("b", "db"), ("da", "join"), ("db", "join"),
            ("join", "head")} <= edges
    nested = ft.Sequential([ft.Input((4,)), sequential(), L.Dense(1)])
    assert "cluster" in model_to_dot(nested, expand_nested=True).to_string()


def test_plot_model_writes_dot_and_images(tmp_path):
    plot_model(functional(), tmp_path / "model.dot", show_shapes=True)
    assert "digraph" in (tmp_path / "model.dot").read_text()
    if shutil.which("dot") is None:
        with pytest.raises(ImportError, match="Graphviz"):
            plot_model(sequential(), tmp_path / "model.png")
    else:
        plot_model(sequential(), tmp_path / "model.png")
        assert (tmp_path / "model.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="rankdir"):
        plot_model(sequential(), tmp_path / "m.dot", rankdir="BT")


def test_plot_model_without_pydot_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pydot", None)
    with pytest.raises(ImportError, match="pip install pydot"):
        plot_model(sequential(), tmp_path / "m.dot")
