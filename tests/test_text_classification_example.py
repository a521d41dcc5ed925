"""keras.io/examples/nlp/text_classification_from_scratch, ported: TextVectorization with
the example's custom standardization, then Embedding + Conv1D. Synthetic reviews stand
in for the IMDB download; the model is smaller; the only other changes are the imports,
a Permute that puts the embedding's features on the channel axis fitorch's Conv1D
reads, and a standardization written with NumPy (fitorch has no `tf.strings`; on a
non-TensorFlow backend Keras hands the callable NumPy arrays too)."""

from __future__ import annotations

import os
import re
import string
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import torch

import fitorch as ft
from fitorch import layers
from layer_checks import assert_close

MAX_FEATURES, EMBEDDING_DIM, SEQUENCE_LENGTH = 300, 16, 40
POSITIVE = ["great", "wonderful", "loved", "brilliant", "moving", "superb", "fun"]
NEGATIVE = ["awful", "boring", "hated", "terrible", "dull", "waste", "bad"]
FILLER = ["the", "movie", "film", "plot", "actors", "was", "and", "it", "a", "story", "i",
          "this", "really", "quite", "ending", "script"]


def reviews(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=n)
    texts = []
    for label in labels:
        words = list(rng.choice(FILLER, size=rng.integers(12, 30)))
        cue = POSITIVE if label else NEGATIVE
        for _ in range(6):
            words.insert(int(rng.integers(0, len(words))), str(rng.choice(cue)).upper()
                         if rng.random() < 0.3 else str(rng.choice(cue)))
        text = " ".join(words) + rng.choice([".", "!", "?!"])
        texts.append(text.replace(" and ", " and<br />", 1))
    return np.array(texts), labels


def custom_standardization(input_data):
    lowercase = np.char.lower(input_data)
    stripped_html = np.char.replace(lowercase, "<br />", " ")
    pattern = re.compile(f"[{re.escape(string.punctuation)}]")
    return np.array([pattern.sub("", s) for s in stripped_html.reshape(-1)]).reshape(
        stripped_html.shape)


def keras_model():
    inputs = keras.Input(shape=(None,), dtype="int64")
    x = keras.layers.Embedding(MAX_FEATURES, EMBEDDING_DIM)(inputs)
    x = keras.layers.Dropout(0.5)(x)
    x = keras.layers.Conv1D(16, 7, padding="valid", activation="relu", strides=3)(x)
    x = keras.layers.Conv1D(16, 7, padding="valid", activation="relu", strides=3)(x)
    x = keras.layers.GlobalMaxPooling1D()(x)
    x = keras.layers.Dense(16, activation="relu")(x)
    x = keras.layers.Dropout(0.5)(x)
    predictions = keras.layers.Dense(1, activation="sigmoid", name="predictions")(x)
    return keras.Model(inputs, predictions)


def fitorch_model():
    inputs = ft.Input(shape=(SEQUENCE_LENGTH,), dtype="int64")
    x = layers.Embedding(MAX_FEATURES, EMBEDDING_DIM)(inputs)
    x = layers.Dropout(0.5)(x)
    x = layers.Permute((2, 1))(x)  # (batch, steps, features) -> (batch, channels, steps)
    x = layers.Conv1D(16, 7, padding="valid", activation="relu", strides=3)(x)
    x = layers.Conv1D(16, 7, padding="valid", activation="relu", strides=3)(x)
    x = layers.GlobalMaxPooling1D()(x)
    x = layers.Dense(16, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    predictions = layers.Dense(1, activation="sigmoid", name="predictions")(x)
    return ft.Model(inputs, predictions)


def test_text_classification_from_scratch(tmp_path):
    keras.utils.set_random_seed(0)
    ft.utils.set_random_seed(0)
    train_texts, train_labels = reviews(256, seed=1)
    test_texts, test_labels = reviews(128, seed=2)
    kwargs = dict(standardize=custom_standardization, max_tokens=MAX_FEATURES,
                  output_mode="int", output_sequence_length=SEQUENCE_LENGTH)
    keras_vectorize = keras.layers.TextVectorization(**kwargs)
    keras_vectorize.adapt(train_texts)
    vectorize_layer = layers.TextVectorization(**kwargs)
    vectorize_layer.adapt(train_texts)
    assert vectorize_layer.get_vocabulary() == keras_vectorize.get_vocabulary()
    # The example vectorizes in the data pipeline: `vectorize_layer(tf.expand_dims(text, -1))`.
    x_train = vectorize_layer(train_texts[:, None]).numpy()
    x_test = vectorize_layer(test_texts[:, None]).numpy()
    np.testing.assert_array_equal(
        x_train, keras.ops.convert_to_numpy(keras_vectorize(train_texts[:, None])))

    kmodel = keras_model()
    kmodel.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    kmodel.save_weights(str(tmp_path / "start.weights.h5"))
    model = fitorch_model()
    model.load_weights(tmp_path / "start.weights.h5")
    assert_close(model.predict(x_test, verbose=0), kmodel.predict(x_test, verbose=0))

    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    history = model.fit(x_train, train_labels, validation_data=(x_test, test_labels),
                        epochs=10, batch_size=32, verbose=0)
    kmodel.fit(x_train, train_labels, epochs=10, batch_size=32, verbose=0)
    _, accuracy = model.evaluate(x_test, test_labels, verbose=0)
    _, keras_accuracy = kmodel.evaluate(x_test, test_labels, verbose=0)
    assert history.history["val_accuracy"][-1] == accuracy
    assert accuracy >= 0.9 and keras_accuracy >= 0.9, (accuracy, keras_accuracy)

    # The example's end-to-end model, on raw strings: a string `Input`, the vectorizer, then
    # the trained model, built with the functional API exactly as the example writes it.
    inputs = ft.Input(shape=(1,), dtype="string")
    indices = vectorize_layer(inputs)
    outputs = model(indices)
    end_to_end_model = ft.Model(inputs, outputs)
    end_to_end_model.compile(loss="binary_crossentropy", optimizer="adam",
                             metrics=["accuracy"])
    end_to_end_loss, end_to_end_accuracy = end_to_end_model.evaluate(
        test_texts[:, None], test_labels, verbose=0)
    loss, _ = model.evaluate(x_test, test_labels, verbose=0)
    assert end_to_end_accuracy == accuracy
    np.testing.assert_allclose(end_to_end_loss, loss, rtol=1e-6)
    np.testing.assert_array_equal(end_to_end_model.predict(test_texts, verbose=0),
                                  model.predict(x_test, verbose=0))
    probabilities = end_to_end_model.predict([
        "the movie was superb, wonderful and fun! i loved the story, a brilliant ending",
        "the film was boring and dull... awful actors, a terrible plot, a waste and BAD"],
        verbose=0)
    assert probabilities[0, 0] > 0.5 > probabilities[1, 0]
    assert torch.is_tensor(vectorize_layer(["x"]))


@pytest.mark.slow
def test_end_to_end_model_equals_keras_on_tensorflow(tmp_path):
    """The example's end-to-end model against Keras's with the same vocabulary and weights:
    Keras runs string tensors only on TensorFlow (its torch backend cannot convert them),
    so the weights fitorch trained go through a `.weights.h5` file to a Keras process on
    the TensorFlow backend."""
    ft.utils.set_random_seed(0)
    train_texts, train_labels = reviews(256, seed=1)
    test_texts, _ = reviews(64, seed=2)
    vectorize_layer = layers.TextVectorization(
        standardize=custom_standardization, max_tokens=MAX_FEATURES, output_mode="int",
        output_sequence_length=SEQUENCE_LENGTH)
    vectorize_layer.adapt(train_texts)
    model = fitorch_model()
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.fit(vectorize_layer(train_texts[:, None]).numpy(), train_labels, epochs=3,
              batch_size=32, verbose=0)
    inputs = ft.Input(shape=(1,), dtype="string")
    end_to_end_model = ft.Model(inputs, model(vectorize_layer(inputs)))

    model.save_weights(tmp_path / "trained.weights.h5")
    np.save(tmp_path / "test_texts.npy", test_texts)
    keras_probabilities = keras_end_to_end_predict(tmp_path, train_texts)
    assert_close(end_to_end_model.predict(test_texts[:, None], verbose=0),
                 keras_probabilities)


def keras_end_to_end_predict(tmp_path, train_texts) -> np.ndarray:
    """The example's end-to-end Keras model on the TensorFlow backend, in a subprocess
    (the backend is fixed per process), with the weights fitorch trained."""
    np.save(tmp_path / "train_texts.npy", train_texts)
    script = f"""
import re, string, sys
import numpy as np, keras, tensorflow as tf
sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_text_classification_example import MAX_FEATURES, SEQUENCE_LENGTH, keras_model

def custom_standardization(input_data):  # the example's own, on TensorFlow strings
    lowercase = tf.strings.lower(input_data)
    stripped_html = tf.strings.regex_replace(lowercase, "<br />", " ")
    return tf.strings.regex_replace(stripped_html, f"[{{re.escape(string.punctuation)}}]", "")

vectorize_layer = keras.layers.TextVectorization(
    standardize=custom_standardization, max_tokens=MAX_FEATURES, output_mode="int",
    output_sequence_length=SEQUENCE_LENGTH)
vectorize_layer.adapt(np.load({str(tmp_path / "train_texts.npy")!r}))
model = keras_model()
model.load_weights({str(tmp_path / "trained.weights.h5")!r})
inputs = keras.Input(shape=(1,), dtype="string")
end_to_end_model = keras.Model(inputs, model(vectorize_layer(inputs)))
texts = np.load({str(tmp_path / "test_texts.npy")!r})
np.save({str(tmp_path / "keras_probabilities.npy")!r},
        end_to_end_model.predict(tf.constant(texts[:, None]), verbose=0))
"""
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "CUDA_VISIBLE_DEVICES": "",
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return np.load(tmp_path / "keras_probabilities.npy")
