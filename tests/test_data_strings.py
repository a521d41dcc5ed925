"""Raw text through fit / evaluate / predict: NumPy string arrays are batched on the host
and handed to a model whose first layer takes strings (TextVectorization, StringLookup,
Hashing); the rest of the model gets tensors on its own device."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import fitorch as ft
from fitorch import layers as L

TEXTS = np.array(["good movie", "bad film", "great great fun", "awful bad plot",
                  "good fun", "bad bad"] * 6)
LABELS = np.array([1, 0, 1, 0, 1, 0] * 6)


def head():
    return [L.Embedding(20, 4), L.GlobalAveragePooling1D(), L.Dense(1, activation="sigmoid")]


def text_model(vectorize):
    torch.manual_seed(0)
    return ft.Sequential([vectorize, *head()])


def vectorizer():
    layer = L.TextVectorization(max_tokens=20, output_sequence_length=5)
    layer.adapt(TEXTS)
    return layer


@pytest.mark.parametrize("shuffle", [True, False, "batch"])
def test_fit_on_string_arrays_equals_fit_on_their_tokens(shuffle):
    vectorize = vectorizer()
    tokens = vectorize(TEXTS).numpy()
    on_text = text_model(vectorize)
    on_text(TEXTS[:2])  # builds the lazy Dense
    on_tokens = ft.Sequential([ft.Input((5,), dtype="int64"), *head()])
    on_tokens.set_weights(on_text.get_weights())
    histories = []
    for model, x in ((on_text, TEXTS), (on_tokens, tokens)):
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        torch.manual_seed(1)
        histories.append(model.fit(x, LABELS, batch_size=8, epochs=2, shuffle=shuffle,
                                   validation_split=0.25, verbose=0).history)
    assert histories[0] == histories[1]
    np.testing.assert_array_equal(on_text.predict(TEXTS, verbose=0),
                                  on_tokens.predict(tokens, verbose=0))
    assert on_text.evaluate(TEXTS, LABELS, verbose=0) == on_tokens.evaluate(tokens, LABELS,
                                                                             verbose=0)


def test_string_validation_data_generators_and_batch_calls():
    model = text_model(vectorizer())
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(TEXTS, LABELS, validation_data=(TEXTS[:6], LABELS[:6]), epochs=1, verbose=0)

    def batches():
        while True:
            yield TEXTS[:8], LABELS[:8]

    model.fit(batches(), steps_per_epoch=2, epochs=1, verbose=0)
    assert model.predict_on_batch(TEXTS[:3]).shape == (3, 1)
    assert np.isfinite(model.train_on_batch(TEXTS[:4], LABELS[:4]))
    assert np.isfinite(model.test_on_batch(TEXTS[:4], LABELS[:4]))


def test_lookup_and_hashing_as_first_layers():
    lookup = L.StringLookup()
    lookup.adapt(TEXTS)
    for first, width in ((lookup, lookup.vocabulary_size()), (L.Hashing(8), 8)):
        model = ft.Sequential([first, L.Embedding(width, 3), L.Flatten(), L.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        model.fit(TEXTS[:, None], LABELS.astype("float32"), epochs=1, verbose=0)
        assert model.predict(TEXTS[:5, None], verbose=0).shape == (5, 1)


def test_host_layers_follow_the_model_to_its_device():
    vectorize = vectorizer().to("meta")
    assert vectorize(["good fun"]).device.type == "meta"
    lookup = L.StringLookup(vocabulary=["a"]).to("meta")
    assert lookup(["a"]).device.type == "meta"
    assert L.Hashing(3).to("meta")(["a"]).device.type == "meta"
    assert vectorize.get_weights() == []


def test_string_targets_and_string_inputs_are_clear_errors():
    model = text_model(vectorizer())
    model.compile(optimizer="adam", loss="binary_crossentropy")
    with pytest.raises(TypeError, match="`y` must hold numbers"):
        model.fit(TEXTS, TEXTS, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="only an `Input` can be of dtype string"):
        model.build((None, 1), dtype="string")
    with pytest.raises(TypeError, match="cannot take a string tensor"):
        ft.layers.Dense(2)(ft.Input(shape=(1,), dtype="string"))


def test_a_saved_text_model_keeps_its_vocabulary(tmp_path):
    model = text_model(vectorizer())
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(TEXTS, LABELS, epochs=1, verbose=0)
    model.save(tmp_path / "text.fitorch")
    loaded = ft.load_model(tmp_path / "text.fitorch")
    assert loaded.layers[0].get_vocabulary() == model.layers[0].get_vocabulary()
    np.testing.assert_array_equal(loaded.predict(TEXTS, verbose=0),
                                  model.predict(TEXTS, verbose=0))
