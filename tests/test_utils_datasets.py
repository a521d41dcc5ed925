"""`timeseries_dataset_from_array`, `image_dataset_from_directory` and
`text_dataset_from_directory` against Keras 3 (the same windows, files, labels and
batches for shuffle=False; the same file order for a seeded shuffle), and `fit` on them."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from PIL import Image

import fitorch as ft
from fitorch import layers as L
from fitorch.utils import (
    image_dataset_from_directory,
    text_dataset_from_directory,
    timeseries_dataset_from_array,
)


def keras_batches(dataset):
    out = []
    for batch in dataset:
        parts = batch if isinstance(batch, tuple) else (batch,)
        out.append(tuple(np.asarray(keras.ops.convert_to_numpy(p) if not hasattr(p, "numpy")
                                    else p.numpy()) for p in parts))
    return out


def ours_batches(dataset):
    return [tuple(np.asarray(p) for p in (b if isinstance(b, tuple) else (b,)))
            for b in dataset]


def assert_same_batches(ours, theirs, atol=0.0):
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert x.shape == y.shape, (x.shape, y.shape)
            if x.dtype.kind in "OU" or y.dtype.kind in "OS":
                assert [str(v) for v in np.atleast_1d(x).tolist()] == [
                    v.decode() if isinstance(v, bytes) else str(v)
                    for v in np.atleast_1d(y).tolist()]
            else:
                assert x.dtype == y.dtype, (x.dtype, y.dtype)
                np.testing.assert_allclose(x, y, atol=atol)


DATA = np.arange(200, dtype="float32").reshape(100, 2)


@pytest.mark.parametrize("kwargs", [
    dict(sequence_length=5), dict(sequence_length=4, sequence_stride=3, batch_size=7),
    dict(sequence_length=3, sampling_rate=2, batch_size=16, start_index=10, end_index=90),
    dict(sequence_length=10, batch_size=None, sequence_stride=10),
    dict(sequence_length=6, start_index=5, batch_size=9),
])
@pytest.mark.parametrize("with_targets", [True, False])
def test_timeseries_batches_equal_keras(kwargs, with_targets):
    targets = np.arange(100) * 10 if with_targets else None
    theirs = keras_batches(keras.utils.timeseries_dataset_from_array(DATA, targets, **kwargs))
    assert_same_batches(ours_batches(timeseries_dataset_from_array(DATA, targets, **kwargs)),
                        theirs)


def test_timeseries_shuffle_keeps_keras_windows_and_trains():
    kwargs = dict(sequence_length=5, batch_size=8, shuffle=True, seed=3)
    ours = timeseries_dataset_from_array(DATA, DATA[:, 0], **kwargs)
    theirs = keras.utils.timeseries_dataset_from_array(DATA, DATA[:, 0], **kwargs)
    windows = sorted(tuple(w.ravel()) for b in ours for w in b[0])
    expected = sorted(tuple(w.ravel()) for b in keras_batches(theirs) for w in b[0])
    assert windows == expected
    first = [b[0][0].ravel().tolist() for b in ours]
    again = timeseries_dataset_from_array(DATA, DATA[:, 0], **kwargs)
    assert first == [b[0][0].ravel().tolist() for b in again]  # the seed fixes the order
    model = ft.Sequential([ft.Input((5, 2)), L.Flatten(), L.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(ours, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2


@pytest.mark.parametrize("kwargs, match", [
    (dict(start_index=-1), "start_index"), (dict(start_index=200), "start_index"),
    (dict(start_index=5, end_index=3), "end_index"), (dict(end_index=100), "end_index"),
    (dict(sampling_rate=0), "sampling_rate"), (dict(sequence_stride=100), "sequence_stride"),
    (dict(batch_size=0), "batch_size"),
])
def test_timeseries_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        timeseries_dataset_from_array(DATA, None, sequence_length=3, **kwargs)


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for c, name in enumerate(["cats", "dogs"]):
        (root / name).mkdir()
        for i in range(5 + c):
            size = (12, 10) if i % 2 else (8, 8)
            pixels = rng.integers(0, 256, size=(*size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"img{i}.png")
        Image.fromarray(rng.integers(0, 256, size=(8, 8), dtype=np.uint8)).save(
            root / name / "gray.png")
    (root / "cats" / "notes.txt").write_text("not an image")
    return root


@pytest.mark.parametrize("kwargs", [
    dict(), dict(label_mode="categorical", batch_size=3), dict(label_mode="binary"),
    dict(label_mode=None, batch_size=None), dict(color_mode="rgba", image_size=(6, 5)),
    dict(crop_to_aspect_ratio=True, image_size=(5, 7)),
    dict(pad_to_aspect_ratio=True, image_size=(5, 7)), dict(pad_to_aspect_ratio=True),
    dict(interpolation="nearest", image_size=(5, 7)),
    dict(pad_to_aspect_ratio=True, image_size=(5, 7), interpolation="nearest"),
    dict(class_names=["dogs"]),
])
def test_image_dataset_equals_keras(image_dir, kwargs):
    kwargs = {"image_size": (8, 8), "batch_size": 4, "shuffle": False, "verbose": False,
              **kwargs}
    ours = image_dataset_from_directory(str(image_dir), **kwargs)
    theirs = keras.utils.image_dataset_from_directory(str(image_dir), **kwargs,
                                                      data_format="channels_first")
    assert ours.class_names == (theirs.class_names if kwargs.get("label_mode", 1) else None)
    # Keras's loader leaves nearest-resized padded images as uint8; fitorch's are float32.
    expected = [tuple(p.astype("float32") if p.dtype == np.uint8 else p for p in batch)
                for batch in keras_batches(theirs)]
    assert_same_batches(ours_batches(ours), expected, atol=1e-3)


def test_grayscale_images_equal_keras(image_dir):
    kwargs = dict(image_size=(6, 5), batch_size=4, shuffle=False, verbose=False,
                  color_mode="grayscale")
    ours = ours_batches(image_dataset_from_directory(str(image_dir), **kwargs))
    theirs = keras_batches(keras.utils.image_dataset_from_directory(
        str(image_dir), **kwargs, data_format="channels_first"))
    # Files stored as grayscale read alike; RGB files are converted with Pillow's
    # ITU-R 601 luma, within one level of TensorFlow's PNG decoder.
    assert_same_batches(ours, theirs, atol=1.0 + 1e-3)
    gray = [i for i, p in enumerate(image_dataset_from_directory(str(image_dir), **kwargs)
                                    .file_paths) if p.endswith("gray.png")]
    flat_ours = np.concatenate([b[0] for b in ours])
    flat_theirs = np.concatenate([b[0] for b in theirs])
    np.testing.assert_allclose(flat_ours[gray], flat_theirs[gray], atol=1e-3)


def test_image_dataset_split_and_shuffle_follow_keras(image_dir):
    kwargs = dict(image_size=(8, 8), batch_size=4, seed=7, validation_split=0.3,
                  subset="both", verbose=False)
    train, val = image_dataset_from_directory(str(image_dir), **kwargs)
    k_train, k_val = keras.utils.image_dataset_from_directory(str(image_dir), **kwargs)
    assert train.file_paths == k_train.file_paths
    assert val.file_paths == k_val.file_paths
    assert not set(train.file_paths) & set(val.file_paths)
    images, labels = train[0]
    assert images.shape == (4, 3, 8, 8) and images.dtype == np.float32
    assert labels.dtype == np.int32
    model = ft.Sequential([ft.Input((3, 8, 8)), L.Rescaling(1 / 255),
                           L.RandomFlip(seed=1), L.Conv2D(2, 3), L.GlobalAveragePooling2D(),
                           L.Dense(2)])
    model.compile(optimizer="adam",
                  loss=ft.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(train, validation_data=val, epochs=2, verbose=0)
    assert len(history.history["val_loss"]) == 2
    with pytest.raises(ValueError, match="seed"):
        image_dataset_from_directory(str(image_dir), validation_split=0.3, subset="training")


@pytest.fixture(scope="module")
def text_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("texts")
    texts = {"neg": ["bad film", "awful, dull plot", "boring"],
             "pos": ["great film!", "wonderful actors — superb", "fun", "loved it"]}
    for label, items in texts.items():
        (root / label).mkdir()
        for i, text in enumerate(items):
            (root / label / f"{i}.txt").write_text(text, encoding="utf-8")
    (root / "pos" / "skip.md").write_text("ignored")
    return root


@pytest.mark.parametrize("kwargs", [
    dict(), dict(label_mode="categorical", batch_size=2), dict(max_length=5),
    dict(label_mode="binary", batch_size=None), dict(labels=None),
    dict(seed=3, shuffle=True, validation_split=0.4, subset="validation"),
])
def test_text_dataset_equals_keras(text_dir, kwargs):
    kwargs = {"batch_size": 3, "shuffle": False, "verbose": False, **kwargs}
    ours = text_dataset_from_directory(str(text_dir), **kwargs)
    theirs = keras.utils.text_dataset_from_directory(str(text_dir), **kwargs)
    if kwargs.get("labels", "inferred") is not None:
        assert ours.class_names == theirs.class_names
    if kwargs["shuffle"]:
        # The same files in the split; Keras's tf.data buffer then shuffles them again.
        def pairs(batches):
            return sorted(zip(*(np.concatenate([np.atleast_1d(p) for p in part]).tolist()
                                for part in zip(*batches))))
        ours_pairs = [(t, int(y)) for t, y in pairs(ours_batches(ours))]
        assert ours_pairs == sorted((t.decode(), int(y)) for t, y in pairs(keras_batches(theirs)))
        return
    assert_same_batches(ours_batches(ours), keras_batches(theirs))


def test_text_dataset_feeds_a_text_model(text_dir):
    train = text_dataset_from_directory(str(text_dir), batch_size=4, seed=1, verbose=False)
    vectorize = L.TextVectorization(max_tokens=30, output_sequence_length=4)
    vectorize.adapt(np.concatenate([texts for texts, _ in train]))
    model = ft.Sequential([vectorize, L.Embedding(30, 4), L.GlobalAveragePooling1D(),
                           L.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(train, epochs=2, verbose=0)
    assert model.predict(np.array(["great fun"]), verbose=0).shape == (1, 1)


@pytest.mark.parametrize("call, match", [
    (lambda d: image_dataset_from_directory(d, label_mode="sparse"), "label_mode"),
    (lambda d: image_dataset_from_directory(d, color_mode="cmyk"), "color_mode"),
    (lambda d: image_dataset_from_directory(d, image_size=(0, 3)), "image_size"),
    (lambda d: image_dataset_from_directory(d, class_names=["birds"]), "class_names"),
    (lambda d: image_dataset_from_directory(d, subset="training"), "validation_split"),
    (lambda d: image_dataset_from_directory(d, validation_split=1.5, subset="both", seed=1),
     "between 0 and 1"),
    (lambda d: image_dataset_from_directory(d, labels=[0, 1]), "lengths of `labels`"),
    (lambda d: image_dataset_from_directory(d, data_format="channels_last"), "channels"),
    (lambda d: image_dataset_from_directory(d + "/missing"), "directory"),
])
def test_directory_errors(image_dir, call, match):
    with pytest.raises(ValueError, match=match):
        call(str(image_dir))


def test_binary_needs_two_classes(text_dir, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "c").mkdir()
    for d in "abc":
        (tmp_path / d / "x.txt").write_text(d)
    with pytest.raises(ValueError, match="exactly 2"):
        text_dataset_from_directory(str(tmp_path), label_mode="binary", verbose=False)
    texts, labels = text_dataset_from_directory(str(text_dir), label_mode="binary",
                                                verbose=False, seed=2)[0]
    assert texts.dtype == object and isinstance(texts[0], str)
    assert labels.dtype == np.float32 and labels.shape == (len(texts), 1)
