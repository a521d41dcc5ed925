"""fitorch.utils array helpers against keras.utils (Keras 3, torch backend)."""

from __future__ import annotations

import os
import random

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np
import pytest
import torch

from fitorch import utils

# --- to_categorical ---------------------------------------------------------------


@pytest.mark.parametrize(
    "labels, num_classes",
    [
        ([0, 1, 2, 3], None),
        ([0, 2, 1], 5),
        (np.array([[1], [0], [2]]), None),  # a trailing axis of 1 is dropped
        (np.array([[1, 0], [2, 2]]), 4),  # rank 2 labels: class axis appended
        (np.array([1.0, 0.0]), 3),  # integral floats, as Keras casts them
    ],
)
def test_to_categorical_matches_keras(labels, num_classes):
    ours = utils.to_categorical(labels, num_classes)
    expected = keras.utils.to_categorical(labels, num_classes)
    assert isinstance(ours, np.ndarray)
    assert ours.dtype == expected.dtype
    np.testing.assert_array_equal(ours, expected)


def test_to_categorical_tensor_stays_a_tensor():
    labels = torch.tensor([[2], [0], [1]])
    ours = utils.to_categorical(labels, num_classes=4)
    expected = keras.utils.to_categorical(labels, num_classes=4)
    assert isinstance(ours, torch.Tensor) and ours.dtype == torch.float32
    np.testing.assert_array_equal(ours.numpy(), keras.ops.convert_to_numpy(expected))
    inferred = utils.to_categorical(torch.tensor([0, 2]))
    assert inferred.shape == (2, 3)


@pytest.mark.parametrize("labels", [[0, -1, 2], torch.tensor([0, 3])])
def test_to_categorical_out_of_range_raises(labels):
    with pytest.raises(ValueError, match=r"class indices in \[0, 3\).*Received"):
        utils.to_categorical(labels, num_classes=3)


@pytest.mark.parametrize(
    "labels, num_classes, match",
    [
        ([0, 1], 0, "num_classes"),
        ([0, 1], 2.5, "num_classes"),
        ([0.5, 1.0], None, "non-integral"),
        ([], None, "empty"),
        (torch.tensor([0.0, 1.0]), None, "integer class labels"),
        (torch.tensor([], dtype=torch.long), None, "empty"),
    ],
)
def test_to_categorical_bad_input(labels, num_classes, match):
    with pytest.raises(ValueError, match=match):
        utils.to_categorical(labels, num_classes)


# --- normalize --------------------------------------------------------------------


@pytest.mark.parametrize("axis, order", [(-1, 2), (1, 1), (-1, 3)])
def test_normalize_numpy_matches_keras(axis, order):
    x = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    x[1] = 0.0  # a zero row stays zero
    np.testing.assert_allclose(
        utils.normalize(x, axis, order), keras.utils.normalize(x, axis, order), rtol=1e-6
    )


def test_normalize_axis_zero():
    # Keras's NumPy path expands the norms along axis -1 whatever `axis` is (it fails
    # here); each column must come out with unit norm.
    x = np.random.default_rng(2).normal(size=(4, 3))
    np.testing.assert_allclose(np.linalg.norm(utils.normalize(x, axis=0), axis=0), 1.0)
    np.testing.assert_allclose(utils.normalize(x, axis=0), x / np.linalg.norm(x, axis=0))


@pytest.mark.parametrize("order", [1, 2])
def test_normalize_tensor_matches_keras(order):
    x = torch.from_numpy(np.random.default_rng(1).normal(size=(3, 5)).astype("float32"))
    x[0] = 0.0
    ours = utils.normalize(x, order=order)
    assert isinstance(ours, torch.Tensor)
    expected = keras.ops.convert_to_numpy(keras.utils.normalize(x, order=order))
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-6, atol=1e-7)


def test_normalize_bad_order():
    with pytest.raises(ValueError, match="order"):
        utils.normalize(np.ones(3), order=0)
    with pytest.raises(TypeError, match="axis"):
        utils.normalize(np.ones(3), axis=1.0)  # type: ignore[arg-type]


# --- pad_sequences ----------------------------------------------------------------

SEQS = [[1, 2, 3, 4], [5], [], [6, 7]]


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        dict(maxlen=2),
        dict(maxlen=3, padding="post"),
        dict(maxlen=3, truncating="post"),
        dict(maxlen=6, padding="post", truncating="post", value=-1),
        dict(dtype="float32", value=0.5),
    ],
)
def test_pad_sequences_matches_keras(kwargs):
    ours = utils.pad_sequences(SEQS, **kwargs)
    expected = keras.utils.pad_sequences(SEQS, **kwargs)
    assert ours.dtype == expected.dtype
    np.testing.assert_array_equal(ours, expected)


def test_pad_sequences_vector_steps_and_strings():
    seqs = [np.ones((3, 2)), np.zeros((1, 2))]
    np.testing.assert_array_equal(
        utils.pad_sequences(seqs, maxlen=2, dtype="float32"),
        keras.utils.pad_sequences(seqs, maxlen=2, dtype="float32"),
    )
    words = [["a", "b"], ["c"]]
    np.testing.assert_array_equal(
        utils.pad_sequences(words, dtype=object, value="<pad>"),
        keras.utils.pad_sequences(words, dtype=object, value="<pad>"),
    )


def test_pad_sequences_maxlen_zero_gives_empty_rows():
    assert utils.pad_sequences([[1, 2], [3]], maxlen=0).shape == (2, 0)


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        ((5,), {}, "list of sequences"),
        (([1, [2]],), {}, "item 0 has no length"),
        ((SEQS,), dict(padding="middle"), "padding"),
        ((SEQS,), dict(truncating="both"), "truncating"),
        ((SEQS,), dict(maxlen=-1), "maxlen"),
        ((SEQS,), dict(value="x"), "dtype=object"),
        (([np.ones((2, 2)), np.ones((2, 3))],), dict(dtype="float32"), "one shape"),
    ],
)
def test_pad_sequences_bad_input(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        utils.pad_sequences(*args, **kwargs)


# --- set_random_seed --------------------------------------------------------------


def _draws() -> tuple[float, float, torch.Tensor]:
    return random.random(), float(np.random.rand()), torch.rand(3)


def test_set_random_seed_seeds_python_numpy_and_torch():
    utils.set_random_seed(123)
    first = _draws()
    utils.set_random_seed(123)
    second = _draws()
    assert first[:2] == second[:2] and torch.equal(first[2], second[2])
    keras.utils.set_random_seed(123)  # Keras seeds the same three generators
    keras_draws = _draws()
    assert keras_draws[:2] == first[:2] and torch.equal(keras_draws[2], first[2])


@pytest.mark.parametrize("seed", [1.5, "1", True, -1, 2**32])
def test_set_random_seed_bad_seed(seed):
    state = torch.get_rng_state()
    with pytest.raises(ValueError, match="seed"):
        utils.set_random_seed(seed)
    assert torch.equal(torch.get_rng_state(), state)  # nothing seeded
