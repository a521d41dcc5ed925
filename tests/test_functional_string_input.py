"""A string `Input` in the functional API (and first in a `Sequential`): raw text reaches
the string layers as NumPy arrays, everything after them is tensors. Shapes are compared
with Keras's symbolic ones; numbers with the same model fed tokens."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import torch

import fitorch as ft
from fitorch import layers

TEXTS = np.array(["great fun movie", "awful boring film", "loved it", "hated it, dull",
                  "a superb story", "a bad plot"] * 4)
LABELS = np.array([1, 0, 1, 0, 1, 0] * 4)


def vectorizer(**kwargs):
    layer = layers.TextVectorization(max_tokens=30, **kwargs)
    layer.adapt(TEXTS)
    return layer


def token_head(length: int) -> ft.Model:
    tokens = ft.Input(shape=(length,), dtype="int64")
    x = layers.GlobalAveragePooling1D()(layers.Permute((2, 1))(layers.Embedding(30, 4)(tokens)))
    return ft.Model(tokens, layers.Dense(1, activation="sigmoid")(x))


@pytest.mark.parametrize("name, kwargs, shape", [
    ("TextVectorization", dict(max_tokens=30, output_sequence_length=5), (1,)),
    ("TextVectorization", dict(max_tokens=30, output_sequence_length=5), ()),
    ("TextVectorization", dict(max_tokens=30), (1,)),
    ("TextVectorization", dict(max_tokens=30), ()),
    ("StringLookup", dict(vocabulary=["fun", "dull"]), (None,)),
    ("StringLookup", dict(vocabulary=["fun", "dull"], num_oov_indices=0), (3,)),
    ("StringLookup", dict(vocabulary=["fun", "dull"], output_mode="one_hot"), ()),
    ("Hashing", dict(num_bins=7), (None,)),
])
def test_string_layers_on_a_string_input_have_keras_shapes(name, kwargs, shape):
    layer, twin = getattr(layers, name)(**kwargs), getattr(keras.layers, name)(**kwargs)
    if name == "TextVectorization":
        layer.adapt(TEXTS)
        twin.adapt(TEXTS)
    text = ft.Input(shape=shape, dtype="string")
    assert text.dtype == keras.Input(shape=shape, dtype="string").dtype == "string"
    out = layer(text)
    assert out.shape == twin(keras.Input(shape=shape, dtype="string")).shape
    assert isinstance(out.dtype, torch.dtype)


def test_end_to_end_functional_model_on_strings_equals_the_token_model(tmp_path):
    ft.utils.set_random_seed(0)
    vectorize = vectorizer(output_sequence_length=5)
    head = token_head(5)
    text = ft.Input(shape=(1,), dtype="string", name="review")
    model = ft.Model(text, head(vectorize(text)))
    assert model.input_shape == (None, 1) and model.output_shape == (None, 1)
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    head.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.fit(TEXTS[:, None], LABELS, epochs=3, batch_size=8, verbose=0)

    tokens = vectorize(TEXTS[:, None]).numpy()
    expected = head.predict(tokens, verbose=0)
    np.testing.assert_array_equal(model.predict(TEXTS[:, None], verbose=0), expected)
    np.testing.assert_array_equal(model.predict(TEXTS, verbose=0), expected)
    np.testing.assert_array_equal(model.predict(list(map(str, TEXTS)), verbose=0), expected)
    np.testing.assert_array_equal(model.predict({"review": TEXTS}, verbose=0), expected)
    np.testing.assert_allclose(model.evaluate(list(map(str, TEXTS)), LABELS, verbose=0),
                               head.evaluate(tokens, LABELS, verbose=0), rtol=1e-6)
    # A direct call takes a list of str as one batch, not as one input per item.
    np.testing.assert_array_equal(model(["great fun movie"]).detach().numpy(), expected[:1])

    lines: list[str] = []
    model.summary(print_fn=lines.append)
    rows = lines[0].splitlines()
    assert any("review (InputLayer)" in r and "(None, 1)" in r for r in rows)
    assert any("text_vectorization" in r and "(None, 5)" in r for r in rows)

    model.save(tmp_path / "end_to_end.fitorch")
    loaded = ft.load_model(tmp_path / "end_to_end.fitorch")
    assert loaded.get_config() == model.get_config()
    assert loaded.inputs[0].dtype == "string"
    np.testing.assert_array_equal(loaded.predict(TEXTS, verbose=0), expected)
    clone = ft.functional.Functional.from_config(model.get_config())
    assert clone.layers[1].get_vocabulary() == vectorize.get_vocabulary()


def test_a_string_input_reaches_several_string_layers_and_a_ragged_sequence():
    text = ft.Input(shape=(), dtype="string")
    ragged = vectorizer()(text)  # no output_sequence_length: the longest text of the batch
    assert ragged.shape == (None, None)
    hashed = layers.Hashing(11, output_mode="one_hot")(text)
    model = ft.Model(text, [ragged, hashed])
    words, one_hot = model.predict(["loved it", "a superb story"], verbose=0)
    assert words.shape == (2, 3) and words[0, 2] == 0
    assert one_hot.shape == (2, 11) and np.all(one_hot.sum(axis=1) == 1)


def test_string_outputs_of_a_layer_feed_another_string_layer():
    ids = ft.Input(shape=(2,), dtype="int64")
    words = layers.StringLookup(vocabulary=["fun", "dull"], invert=True)(ids)
    assert words.dtype == "string" and words.shape == (None, 2)
    model = ft.Model(ids, layers.Hashing(5)(words))
    hashing = layers.Hashing(5)
    np.testing.assert_array_equal(model.predict(np.array([[1, 2], [2, 0]]), verbose=0),
                                  hashing(np.array([["fun", "dull"], ["dull", "[UNK]"]])))


def test_a_string_input_is_only_for_string_layers():
    text = ft.Input(shape=(1,), dtype="string")
    with pytest.raises(TypeError, match=r"layer \"dense.*\" \(Dense\) cannot take a string"):
        layers.Dense(2)(text)
    with pytest.raises(TypeError, match="`add` cannot take a string tensor"):
        text + "!"
    with pytest.raises(TypeError, match="`get_item` cannot take a string tensor"):
        text[:, 0]
    with pytest.raises(ValueError, match="input rank must be 1 or the last shape dimension"):
        vectorizer()(ft.Input(shape=(None,), dtype="string"))


def test_sequential_starting_with_a_string_input():
    vectorize = vectorizer(output_sequence_length=5)
    model = ft.Sequential([ft.Input(shape=(1,), dtype="string"), vectorize,
                           layers.Embedding(30, 4), layers.Flatten(), layers.Dense(1)])
    assert model.layers[-1].weight.shape == (1, 20)  # built from the string Input at once
    lines: list[str] = []
    model.summary(print_fn=lines.append)
    assert any("text_vectorization" in r and "(None, 5)" in r for r in lines[0].splitlines())
    model.compile(loss="mse", optimizer="sgd")
    model.fit(TEXTS, LABELS.astype("float32"), epochs=1, verbose=0)
    rebuilt = ft.Sequential.from_config(model.get_config())
    assert rebuilt.input_layer.dtype == "string"
