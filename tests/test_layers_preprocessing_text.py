"""Host-side preprocessing layers (TextVectorization, StringLookup, IntegerLookup,
Hashing, HashedCrossing, Discretization) against Keras 3 on the same inputs.

Keras's string layers need TensorFlow (a test dependency); fitorch's do not."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import keras
import numpy as np
import pytest
import torch

from fitorch import layers as L
from fitorch.layers.fingerprint import fingerprint64, siphash24
from fitorch.saving.serialization import layer_class, layer_config
from layer_checks import to_np

TEXTS = np.array(["The cat sat on the mat.", "the DOG, ran!! fast", "A cat; a dog?",
                  "Ünïcode ÄB tab\there\nnew-line", "", "it's 3:15 -- [ok] {x}"])
QUERY = np.array(["the cat ran to a dog", "mat mat mat Ünïcode", "zzz", ""])


def assert_same(ours, expected):
    ours, expected = to_np(ours), to_np(expected)
    assert ours.shape == expected.shape, (ours.shape, expected.shape)
    np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-6)


def test_fingerprints_equal_tensorflows_for_every_length_branch():
    rnd = random.Random(0)
    words = ["".join(chr(rnd.randrange(32, 0x3000)) for _ in range(n))
             for n in [*range(0, 70), 100, 128, 129, 300]]
    bins = 2**61 - 1  # a Mersenne prime: fp % bins keeps almost every bit
    hashed = to_np(keras.layers.Hashing(num_bins=bins)(np.array(words)))
    assert [fingerprint64(w.encode()) % bins for w in words] == hashed.tolist()
    salted = to_np(keras.layers.Hashing(num_bins=bins, salt=[7, 2**40 + 3])(np.array(words)))
    assert [siphash24((7, 2**40 + 3), w.encode()) % bins for w in words] == salted.tolist()


@pytest.mark.parametrize("kwargs", [
    {}, {"output_sequence_length": 4}, {"output_sequence_length": 12}, {"ngrams": 2},
    {"output_mode": "multi_hot"}, {"output_mode": "count", "ngrams": (1, 3)},
    {"output_mode": "tf_idf"}, {"split": "character", "max_tokens": 10},
    {"standardize": None, "max_tokens": 6, "output_mode": "count", "pad_to_max_tokens": True},
    {"output_mode": "tf_idf", "max_tokens": 8, "pad_to_max_tokens": True},
    {"standardize": "lower", "split": None}, {"standardize": "strip_punctuation"},
])
def test_text_vectorization_matches_keras(kwargs):
    ref, ours = keras.layers.TextVectorization(**kwargs), L.TextVectorization(**kwargs)
    ref.adapt(TEXTS)
    ours.adapt(list(TEXTS))  # a list of Python strings adapts as the array does
    assert ours.get_vocabulary() == ref.get_vocabulary()
    assert ours.get_vocabulary(False) == ref.get_vocabulary(False)
    assert ours.vocabulary_size() == ref.vocabulary_size()
    assert_same(ours(QUERY), ref(QUERY))
    assert_same(ours(QUERY.reshape(-1, 1)), ref(QUERY.reshape(-1, 1)))


def test_text_vectorization_callables_vocabulary_and_batches_match_keras():
    def standardize(x):
        return np.char.replace(np.char.lower(x), "a", "")

    kwargs = dict(standardize=standardize, output_sequence_length=5)
    ref, ours = keras.layers.TextVectorization(**kwargs), L.TextVectorization(**kwargs)
    ref.adapt(TEXTS)
    ours.adapt(iter([TEXTS[:3], TEXTS[3:]]))  # an iterable of batches
    assert ours.get_vocabulary() == ref.get_vocabulary()
    assert_same(ours(QUERY), ref(QUERY))
    vocab = ["cat", "dog", "the"]
    ref = keras.layers.TextVectorization(vocabulary=vocab, output_mode="count")
    assert_same(L.TextVectorization(vocabulary=vocab, output_mode="count")(QUERY), ref(QUERY))
    ours = L.TextVectorization(split=lambda texts: [t.split("a") for t in texts])
    ours.adapt(["banana bar"])
    assert ours.get_vocabulary() == ["", "[UNK]", "n", "r", "b", " b"]  # ties: high to low


LOOKUP_DATA = np.array([["a", "b", "c", "b"], ["d", "b", "a", "zz"]])


@pytest.mark.parametrize("kwargs", [
    {}, {"max_tokens": 4}, {"num_oov_indices": 3}, {"mask_token": "[M]"},
    {"output_mode": "one_hot"}, {"output_mode": "multi_hot", "num_oov_indices": 2},
    {"output_mode": "count", "mask_token": "a"}, {"output_mode": "tf_idf"},
    {"output_mode": "multi_hot", "pad_to_max_tokens": True, "max_tokens": 9},
    {"salt": 5, "num_oov_indices": 4},
])
def test_string_lookup_matches_keras(kwargs):
    ref, ours = keras.layers.StringLookup(**kwargs), L.StringLookup(**kwargs)
    ref.adapt(LOOKUP_DATA)
    ours.adapt(LOOKUP_DATA)
    assert ours.get_vocabulary() == ref.get_vocabulary()
    query = np.array([["a", "q", "b"], ["zz", "[M]", "rr"]])
    if kwargs.get("output_mode") == "one_hot":
        query = query[:, :1]
    assert_same(ours(query), ref(query))


@pytest.mark.parametrize("kwargs", [
    {}, {"max_tokens": 4}, {"num_oov_indices": 3}, {"mask_token": 0},
    {"output_mode": "count"}, {"num_oov_indices": 3, "oov_method": "farmhash"},
    {"output_mode": "tf_idf"}, {"output_mode": "multi_hot", "mask_token": 1},
])
def test_integer_lookup_matches_keras(kwargs):
    data = np.array([[1, 2, 3, 2], [40, 2, 1, 99]])
    ref, ours = keras.layers.IntegerLookup(**kwargs), L.IntegerLookup(**kwargs)
    ref.adapt(data)
    ours.adapt(torch.from_numpy(data))
    assert ours.get_vocabulary() == [int(v) for v in ref.get_vocabulary()]
    query = np.array([[1, 7, 0], [40, -8, 99]])
    assert_same(ours(torch.from_numpy(query)), ref(query))
    assert_same(ours(query), ref(query))


def test_lookup_vocabulary_invert_and_idf_weights_match_keras():
    ref = keras.layers.StringLookup(vocabulary=["x", "y"], invert=True)
    ours = L.StringLookup(vocabulary=["x", "y"], invert=True)
    assert ours(np.array([0, 1, 2, 5])).tolist() == list(ref(np.array([0, 1, 2, 5])))
    ref = keras.layers.IntegerLookup(vocabulary=[7, 9], invert=True, mask_token=0)
    ours = L.IntegerLookup(vocabulary=[7, 9], invert=True, mask_token=0)
    assert_same(ours(torch.tensor([0, 1, 2, 3, 5])), ref(np.array([0, 1, 2, 3, 5])))
    kwargs = dict(vocabulary=["x", "y"], output_mode="tf_idf", idf_weights=[0.5, 2.0])
    query = np.array([["x", "y", "y", "q"]])
    assert_same(L.StringLookup(**kwargs)(query), keras.layers.StringLookup(**kwargs)(query))
    specials = ["[UNK]", "x", "y"]
    ref = keras.layers.StringLookup(vocabulary=specials)
    assert L.StringLookup(vocabulary=specials).get_vocabulary() == ref.get_vocabulary()


def test_vocabulary_file(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("cat\ndog\n", encoding="utf-8")
    ours = L.StringLookup(vocabulary=str(path))
    assert ours.get_vocabulary() == ["[UNK]", "cat", "dog"]
    assert ours(["dog", "cow"]).tolist() == [2, 0]


@pytest.mark.parametrize("kwargs", [
    {"num_bins": 7}, {"num_bins": 7, "mask_value": ""}, {"num_bins": 7, "salt": [133, 137]},
    {"num_bins": 3, "salt": 133}, {"num_bins": 5, "output_mode": "count"},
    {"num_bins": 5, "output_mode": "one_hot"}, {"num_bins": 4, "output_mode": "multi_hot"},
])
def test_hashing_matches_keras(kwargs):
    strings = np.array([["a", "bb", ""], ["long string " * 10, "x", "a"]])
    if kwargs.get("output_mode") == "one_hot":
        strings = strings[:, :1]
    assert_same(L.Hashing(**kwargs)(strings), keras.layers.Hashing(**kwargs)(strings))
    ints = np.array([[1, -5, 0], [123456789012, 7, 0]])
    if kwargs.get("output_mode") == "one_hot":
        ints = ints[:, :1]
    if "mask_value" in kwargs:
        kwargs = {**kwargs, "mask_value": 0}
    assert_same(L.Hashing(**kwargs)(torch.from_numpy(ints)), keras.layers.Hashing(**kwargs)(ints))
    floats = np.array([[1.7, -2.2]])
    if kwargs.get("output_mode") != "one_hot":
        assert_same(L.Hashing(**kwargs)(floats), keras.layers.Hashing(**kwargs)(floats))


def test_hashing_docstring_values():
    inputs = [["A"], ["B"], ["C"], ["D"], ["E"]]
    assert L.Hashing(num_bins=3)(inputs).ravel().tolist() == [1, 0, 1, 1, 2]
    assert L.Hashing(num_bins=3, salt=[133, 137])(inputs).ravel().tolist() == [1, 2, 1, 0, 2]
    assert L.Hashing(num_bins=3, salt=133)(inputs).ravel().tolist() == [0, 0, 2, 1, 0]


@pytest.mark.parametrize("output_mode", ["int", "one_hot"])
@pytest.mark.parametrize("inputs", [
    [np.array([1, 2, -3]), np.array(["a", "b", "c"])],
    [np.array([[1], [2]]), np.array([[5], [9]]), np.array([["x"], ["y"]])],
    [np.array(4), np.array("q")],
])
def test_hashed_crossing_matches_keras(inputs, output_mode):
    ref = keras.layers.HashedCrossing(num_bins=11, output_mode=output_mode)(inputs)
    assert_same(L.HashedCrossing(num_bins=11, output_mode=output_mode)(inputs), ref)


@pytest.mark.parametrize("kwargs", [
    {"num_bins": 4}, {"num_bins": 5, "epsilon": 0.1}, {"num_bins": 3, "output_mode": "count"},
    {"bin_boundaries": [-1.0, 0.0, 1.5], "output_mode": "one_hot"},
    {"bin_boundaries": [0.0, 1.0], "output_mode": "multi_hot"}, {"bin_boundaries": [0.0]},
])
def test_discretization_matches_keras(kwargs):
    x = np.random.default_rng(0).normal(size=(200, 3)).astype("float32")
    ref, ours = keras.layers.Discretization(**kwargs), L.Discretization(**kwargs)
    if "num_bins" in kwargs:
        ref.adapt(x)
        ours.adapt(iter([x[:120], x[120:]]) if kwargs.get("epsilon") else x)
        if kwargs.get("epsilon"):
            ref.adapt(iter([x[:120], x[120:]]))
        np.testing.assert_allclose(ours.bin_boundaries, ref.bin_boundaries, rtol=1e-6)
    query = x[:5, :1] if kwargs.get("output_mode") == "one_hot" else x[:5]
    out, expected = ours(torch.from_numpy(query)), ref(query)
    assert out.dtype == expected.dtype
    assert_same(out, expected)


def test_fitorch_string_layers_do_not_import_tensorflow():
    code = ("import sys, numpy as np; from fitorch import layers as L\n"
            "t = L.TextVectorization(ngrams=2); t.adapt(['a b', 'b c']); t(['a c'])\n"
            "L.Hashing(4)(['x']); L.HashedCrossing(3)([np.array([1]), np.array(['a'])])\n"
            "s = L.StringLookup(); s.adapt(['q']); L.IntegerLookup(vocabulary=[1])([1])\n"
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize("call, error, match", [
    (lambda: L.TextVectorization(output_mode="bag"), ValueError, "output_mode"),
    (lambda: L.TextVectorization(standardize="upper"), ValueError, "standardize"),
    (lambda: L.TextVectorization(split="comma"), ValueError, "split"),
    (lambda: L.TextVectorization(output_mode="count", output_sequence_length=3), ValueError,
     "output_sequence_length"),
    (lambda: L.TextVectorization(ragged=True), ValueError, "ragged"),
    (lambda: L.TextVectorization(ngrams="2"), ValueError, "ngrams"),
    (lambda: L.TextVectorization()(np.array([["a", "b"]])), ValueError, "last shape dimension"),
    (lambda: L.TextVectorization()(torch.zeros(2)), TypeError, "string"),
    (lambda: L.TextVectorization(vocabulary=["a"]).adapt(["a"]), ValueError, "static"),
    (lambda: L.StringLookup(output_mode="count")(["a"]), RuntimeError, "vocabulary"),
    (lambda: L.StringLookup(vocabulary=["a", "a"]), ValueError, "repeated"),
    (lambda: L.StringLookup(max_tokens=2, vocabulary=["a", "b"]), ValueError, "max_tokens"),
    (lambda: L.StringLookup(vocabulary=["a"], num_oov_indices=0)(["b"]), ValueError,
     "num_oov_indices=0"),
    (lambda: L.StringLookup(invert=True, output_mode="count"), ValueError, "invert"),
    (lambda: L.StringLookup(output_mode="tf_idf", vocabulary=["a"]), ValueError, "idf_weights"),
    (lambda: L.StringLookup(mask_token="m", vocabulary=["a", "m"]), ValueError, "mask"),
    (lambda: L.StringLookup(vocabulary="/no/such/file"), ValueError, "does not exist"),
    (lambda: L.StringLookup(sparse=True), ValueError, "sparse"),
    (lambda: L.IntegerLookup(salt=3), ValueError, "farmhash"),
    (lambda: L.IntegerLookup(vocabulary=[1])(torch.tensor([1.5])), TypeError, "integer"),
    (lambda: L.IntegerLookup(max_tokens=1), ValueError, "max_tokens"),
    (lambda: L.Hashing(0), ValueError, "num_bins"),
    (lambda: L.Hashing(3, salt="x"), ValueError, "salt"),
    (lambda: L.Hashing(3, output_mode="tf_idf"), ValueError, "output_mode"),
    (lambda: L.HashedCrossing(3)([np.array([1])]), ValueError, "at least two"),
    (lambda: L.HashedCrossing(3)([np.array([1, 2]), np.array([1])]), ValueError, "equal"),
    (lambda: L.HashedCrossing(3)([np.array([1.5]), np.array([1])]), ValueError, "integer"),
    (lambda: L.Discretization(), ValueError, "either"),
    (lambda: L.Discretization(bin_boundaries=[0.0], num_bins=2), ValueError, "Both"),
    (lambda: L.Discretization(bin_boundaries=[0.0]).adapt(np.zeros(3)), ValueError,
     "num_bins"),
    (lambda: L.Discretization(num_bins=2)(torch.zeros(2)), ValueError, "adapt"),
])
def test_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_configs_round_trip_with_the_adapted_state():
    text = L.TextVectorization(output_mode="tf_idf", ngrams=2)
    text.adapt(TEXTS)
    lookup = L.IntegerLookup(mask_token=0)
    lookup.adapt(np.array([[5, 6, 6]]))
    bins = L.Discretization(num_bins=3)
    bins.adapt(np.arange(10.0))
    for layer, query in [(text, QUERY), (lookup, torch.tensor([[6, 5, 0, 9]])),
                         (bins, torch.tensor([[1.0, 5.0, 9.0]])),
                         (L.Hashing(5, salt=3), ["a"]), (L.HashedCrossing(4), None),
                         (L.StringLookup(vocabulary=["a"], invert=True), None)]:
        entry = json.loads(json.dumps(layer_config(layer)))
        clone = layer_class(entry["class_name"]).from_config(entry["config"])
        assert clone.get_config() == layer.get_config()
        if query is not None:
            assert_same(clone(query), layer(query))


def test_discretization_compares_in_float32_as_keras():
    x = np.array([[0.1, 0.3, 0.7]], dtype="float64")
    ref = keras.layers.Discretization(bin_boundaries=[0.1, 0.3, 0.7])(x)
    ours = L.Discretization(bin_boundaries=[0.1, 0.3, 0.7])(torch.from_numpy(x))
    assert ours.tolist() == to_np(ref).tolist() == [[1, 2, 3]]
