"""Keras programs ported by changing imports and the image layout, against keras 3.

Each program is written once as a function of the framework module `K` (`keras` or
`fitorch`), so the two runs share every line but the imports. Both start from the
same weights (Keras saves them, fitorch loads the `.weights.h5`), train with
`shuffle=False`, and must agree on History, evaluate and predictions.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras
from sklearn.datasets import load_digits

import fitorch as ft

RTOL, ATOL = 1e-4, 1e-6


def _close(got: Any, expected: Any, what: str = "") -> None:
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64),
                               np.asarray(expected, dtype=np.float64),
                               rtol=RTOL, atol=ATOL, err_msg=what)


def _history_equal(got: dict[str, list[float]], expected: dict[str, list[float]]) -> None:
    assert sorted(got) == sorted(expected), (sorted(got), sorted(expected))
    for key in expected:
        _close(got[key], expected[key], key)


def _digits(n: int) -> tuple[np.ndarray, np.ndarray]:
    digits = load_digits()
    return (digits.images[:n] / 16.0).astype("float32"), digits.target[:n]


# --- 1. the MNIST convnet example, on 8x8 digits ----------------------------------------


def _convnet(K: Any, shape: tuple[int, ...]) -> Any:
    return K.Sequential([
        K.Input(shape=shape),
        K.layers.Conv2D(8, kernel_size=(3, 3), activation="relu"),
        K.layers.MaxPooling2D(pool_size=(2, 2)),
        K.layers.Conv2D(16, kernel_size=(2, 2), activation="relu"),
        K.layers.Flatten(),
        K.layers.Dropout(0.0),  # the example's 0.5 draws different masks in each framework
        K.layers.Dense(10, activation="softmax"),
    ])


def test_mnist_convnet_example(tmp_path: Path) -> None:
    images, labels = _digits(256)
    x_last = images[..., None]                        # Keras: (n, 8, 8, 1)
    x_first = np.ascontiguousarray(images[:, None])   # fitorch: (n, 1, 8, 8)
    y = keras.utils.to_categorical(labels, 10)
    keras.utils.set_random_seed(0)
    kmodel = _convnet(keras, (8, 8, 1))
    kmodel.save_weights(tmp_path / "convnet.weights.h5")
    fmodel = _convnet(ft, (1, 8, 8))
    fmodel.load_weights(tmp_path / "convnet.weights.h5")
    results = []
    for model, x in ((kmodel, x_last), (fmodel, x_first)):
        model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
        history = model.fit(x, y, batch_size=32, epochs=2, validation_split=0.1,
                            shuffle=False, verbose=0)
        results.append((history.history, model.evaluate(x, y, verbose=0),
                        model.predict(x, verbose=0)))
    (k_hist, k_eval, k_pred), (f_hist, f_eval, f_pred) = results
    _history_equal(f_hist, k_hist)
    _close(f_eval, k_eval, "evaluate")
    _close(f_pred, k_pred, "predict")
    assert f_hist["loss"][1] < f_hist["loss"][0]


# --- 2. the "Writing your own callbacks" guide -------------------------------------------


def _callbacks_guide(K: Any, weights: Path, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """The guide's callbacks, recording what they print instead of printing it."""
    seen: list[tuple[Any, ...]] = []

    def get_model(learning_rate: float = 0.01) -> Any:
        model = K.Sequential()
        model.add(K.layers.Dense(1))
        model.compile(optimizer=K.optimizers.SGD(learning_rate=learning_rate),
                      loss="mean_squared_error", metrics=["mean_absolute_error"])
        if K is keras:
            model.build((None, x.shape[1]))
        model.load_weights(weights)
        return model

    class CustomCallback(K.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen.append(("train_begin", sorted(logs.keys())))

        def on_train_end(self, logs=None):
            seen.append(("train_end", sorted(logs.keys())))

        def on_epoch_begin(self, epoch, logs=None):
            seen.append(("epoch_begin", epoch, sorted(logs.keys())))

        def on_epoch_end(self, epoch, logs=None):
            seen.append(("epoch_end", epoch, sorted(logs.keys())))

        def on_test_begin(self, logs=None):
            seen.append(("test_begin", sorted(logs.keys())))

        def on_test_end(self, logs=None):
            seen.append(("test_end", sorted(logs.keys())))

        def on_predict_begin(self, logs=None):
            seen.append(("predict_begin", sorted(logs.keys())))

        def on_predict_end(self, logs=None):
            seen.append(("predict_end", sorted(logs.keys())))

        def on_train_batch_begin(self, batch, logs=None):
            seen.append(("train_batch_begin", batch, sorted(logs.keys())))

        def on_train_batch_end(self, batch, logs=None):
            seen.append(("train_batch_end", batch, sorted(logs.keys())))

        def on_test_batch_begin(self, batch, logs=None):
            seen.append(("test_batch_begin", batch, sorted(logs.keys())))

        def on_test_batch_end(self, batch, logs=None):
            seen.append(("test_batch_end", batch, sorted(logs.keys())))

        def on_predict_batch_begin(self, batch, logs=None):
            seen.append(("predict_batch_begin", batch, sorted(logs.keys())))

        def on_predict_batch_end(self, batch, logs=None):
            seen.append(("predict_batch_end", batch, sorted(logs.keys())))

    class LossAndErrorPrintingCallback(K.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(("train_loss", batch, logs["loss"]))

        def on_test_batch_end(self, batch, logs=None):
            seen.append(("test_loss", batch, logs["loss"]))

        def on_epoch_end(self, epoch, logs=None):
            seen.append(("epoch", epoch, logs["loss"], logs["mean_absolute_error"]))

    class EarlyStoppingAtMinLoss(K.callbacks.Callback):
        def __init__(self, patience=0):
            super().__init__()
            self.patience = patience
            self.best_weights = None

        def on_train_begin(self, logs=None):
            self.wait = 0
            self.stopped_epoch = 0
            self.best = np.inf

        def on_epoch_end(self, epoch, logs=None):
            current = logs.get("loss")
            if np.less(current, self.best):
                self.best = current
                self.wait = 0
                self.best_weights = self.model.get_weights()
            else:
                self.wait += 1
                if self.wait >= self.patience:
                    self.stopped_epoch = epoch
                    self.model.stop_training = True
                    self.model.set_weights(self.best_weights)

        def on_train_end(self, logs=None):
            seen.append(("stopped", self.stopped_epoch))

    class CustomLearningRateScheduler(K.callbacks.Callback):
        def __init__(self, schedule):
            super().__init__()
            self.schedule = schedule

        def on_epoch_begin(self, epoch, logs=None):
            if not hasattr(self.model.optimizer, "learning_rate"):
                raise ValueError('Optimizer must have a "learning_rate" attribute.')
            lr = float(np.array(self.model.optimizer.learning_rate))
            scheduled_lr = self.schedule(epoch, lr)
            self.model.optimizer.learning_rate = scheduled_lr
            seen.append(("lr", epoch, scheduled_lr))

    lr_table = [(3, 0.05), (6, 0.01), (9, 0.005), (12, 0.001)]

    def lr_schedule(epoch, lr):
        return dict(lr_table).get(epoch, lr)

    out: dict[str, Any] = {}
    model = get_model()
    model.fit(x, y, batch_size=64, epochs=1, verbose=0, validation_split=0.5, shuffle=False,
              callbacks=[CustomCallback()])
    out["evaluate"] = model.evaluate(x, y, batch_size=64, verbose=0, callbacks=[CustomCallback()])
    out["predict"] = model.predict(x, batch_size=64, verbose=0, callbacks=[CustomCallback()])

    model = get_model(learning_rate=0.1)
    out["early"] = model.fit(x, y, batch_size=64, epochs=30, verbose=0, shuffle=False,
                             callbacks=[LossAndErrorPrintingCallback(),
                                        EarlyStoppingAtMinLoss()]).history
    out["early_weights"] = [w.reshape(-1) for w in model.get_weights()]

    model = get_model(learning_rate=0.1)
    out["scheduled"] = model.fit(x, y, batch_size=64, epochs=14, verbose=0, shuffle=False,
                                 callbacks=[LossAndErrorPrintingCallback(),
                                            CustomLearningRateScheduler(lr_schedule)]).history
    out["seen"] = seen
    return out


def test_writing_your_own_callbacks_guide(tmp_path: Path) -> None:
    images, labels = _digits(200)
    x = images.reshape(len(images), -1)
    y = labels.astype("float32")
    keras.utils.set_random_seed(0)
    # Weights saved from an uncompiled model: a compiled Keras model also writes its
    # optimizer's variables (learning rate included) into `.weights.h5`.
    keras.Sequential([keras.Input((64,)), keras.layers.Dense(1)]).save_weights(
        tmp_path / "dense.weights.h5")
    k = _callbacks_guide(keras, tmp_path / "dense.weights.h5", x, y)
    f = _callbacks_guide(ft, tmp_path / "dense.weights.h5", x, y)

    assert len(f["seen"]) == len(k["seen"])
    for got, expected in zip(f["seen"], k["seen"]):
        assert got[:2] == expected[:2], (got, expected)
        if isinstance(expected[-1], list):          # logs keys
            assert got == expected, (got, expected)
        else:                                         # numbers
            _close(got[2:], expected[2:], str(expected))
    stops = [s for s in k["seen"] if s[0] == "stopped"]
    assert stops[0][1] > 0, "the early-stopping run should stop before its last epoch"
    _close(f["evaluate"], k["evaluate"], "evaluate")
    _close(f["predict"], k["predict"], "predict")
    _history_equal(f["early"], k["early"])
    for got, expected in zip(f["early_weights"], k["early_weights"]):
        _close(got, expected, "weights restored by EarlyStoppingAtMinLoss")
    _history_equal(f["scheduled"], k["scheduled"])


def test_keras_optimizer_state_in_a_weights_file_is_named_not_dropped_silently(tmp_path):
    """A compiled Keras model writes its optimizer's variables into `.weights.h5`, and
    Keras restores them into a compiled model; fitorch loads weights only and says so."""
    kmodel = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    kmodel.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    kmodel.fit(np.ones((8, 4), "float32"), np.ones((8, 2), "float32"), verbose=0)
    kmodel.save_weights(tmp_path / "trained.weights.h5")
    fmodel = ft.Sequential([ft.Input(shape=(4,)), ft.layers.Dense(2)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # uncompiled: nothing to restore, nothing to say
        fmodel.load_weights(tmp_path / "trained.weights.h5")
    fmodel.compile(optimizer="adam", loss="mse")
    with pytest.warns(UserWarning, match="optimizer's state .*6 variables.* weights only"):
        fmodel.load_weights(tmp_path / "trained.weights.h5")
    _close(fmodel.predict(np.ones((2, 4), "float32"), verbose=0),
           kmodel.predict(np.ones((2, 4), "float32"), verbose=0), "predict")


# --- 3. the "Customizing what happens in fit" guide (torch backend) ---------------------


def _guide_train_step(model: Any, data: Any) -> dict[str, Any]:
    """The guide's torch-backend `train_step`, sample weights included."""
    if len(data) == 3:
        x, y, sample_weight = data
    else:
        sample_weight = None
        x, y = data
    model.zero_grad()
    y_pred = model(x, training=True)
    loss = model.compute_loss(y=y, y_pred=y_pred, sample_weight=sample_weight)
    loss.backward()
    trainable_weights = [v for v in model.trainable_weights]
    # Keras variables hold the torch tensor in `.value`; fitorch's weights are the tensors.
    gradients = [getattr(v, "value", v).grad for v in trainable_weights]
    with torch.no_grad():
        model.optimizer.apply(gradients, trainable_weights)
    for metric in model.metrics:
        if metric.name == "loss":
            metric.update_state(loss)
        else:
            metric.update_state(y, y_pred, sample_weight=sample_weight)
    return {m.name: m.result() for m in model.metrics}


def _guide_test_step(model: Any, data: Any) -> dict[str, Any]:
    x, y = data
    y_pred = model(x, training=False)
    loss = model.compute_loss(y=y, y_pred=y_pred)
    for metric in model.metrics:
        if metric.name != "loss":
            metric.update_state(y, y_pred)
        else:
            metric.update_state(loss)
    return {m.name: m.result() for m in model.metrics}


def _guide_model(K: Any, weights: Path, CustomModel: type) -> Any:
    """`CustomModel(inputs, outputs)`, as the guide builds it, with shared initial weights."""
    inputs = K.Input(shape=(32,))
    model = CustomModel(inputs, K.layers.Dense(1)(inputs))
    if K is keras:
        model.save_weights(weights)
    else:
        model.load_weights(weights)
    return model


def _regression_data(n: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return (rng.random((n, 32)).astype("float32"), rng.random((n, 1)).astype("float32"),
            rng.random((n, 1)).astype("float32"))


@pytest.mark.parametrize("weighted", [False, True])
def test_custom_train_step_with_compute_loss_and_optimizer_apply(tmp_path, weighted) -> None:
    x, y, sw = _regression_data()
    # The weighted run compiles no `mae`: Keras's `compile_metrics` weights only
    # `weighted_metrics`, a case of its own.
    metrics = [] if weighted else ["mae"]
    keras.utils.set_random_seed(0)
    results = []
    for K in (keras, ft):
        model = _guide_model(K, tmp_path / "linear.weights.h5",
                             type("CustomModel", (K.Model,), {"train_step": _guide_train_step}))
        model.compile(optimizer="adam", loss="mse", metrics=metrics)
        history = model.fit(x, y, sample_weight=sw if weighted else None, epochs=3,
                            shuffle=False, verbose=0)
        results.append((history.history, model.predict(x, verbose=0)))
    (k_hist, k_pred), (f_hist, f_pred) = results
    _history_equal(f_hist, k_hist)
    _close(f_pred, k_pred, "predict")
    assert f_hist["loss"][-1] < f_hist["loss"][0]


def _own_metrics_model(K: Any) -> type:
    """The guide's lower-level `CustomModel`: own loss function, trackers and `metrics`."""
    class CustomModel(K.Model):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.loss_tracker = K.metrics.Mean(name="loss")
            self.mae_metric = K.metrics.MeanAbsoluteError(name="mae")
            self.loss_fn = K.losses.MeanSquaredError()

        def train_step(self, data):
            x, y = data
            self.zero_grad()
            y_pred = self(x, training=True)
            loss = self.loss_fn(y, y_pred)
            loss.backward()
            trainable_weights = [v for v in self.trainable_weights]
            gradients = [getattr(v, "value", v).grad for v in trainable_weights]
            with torch.no_grad():
                self.optimizer.apply(gradients, trainable_weights)
            self.loss_tracker.update_state(loss)
            self.mae_metric.update_state(y, y_pred)
            return {"loss": self.loss_tracker.result(), "mae": self.mae_metric.result()}

        @property
        def metrics(self):
            return [self.loss_tracker, self.mae_metric]

    return CustomModel


def test_custom_train_step_with_own_metrics_property(tmp_path: Path) -> None:
    """The guide's lower-level version: own loss function, trackers and `metrics`."""
    x, y, _ = _regression_data()
    keras.utils.set_random_seed(0)
    results = []
    for K in (keras, ft):
        model = _guide_model(K, tmp_path / "linear.weights.h5", _own_metrics_model(K))
        model.compile(optimizer="adam")
        history = model.fit(x, y, epochs=3, shuffle=False, verbose=0)
        results.append((history.history, model.predict(x, verbose=0)))
    (k_hist, k_pred), (f_hist, f_pred) = results
    _history_equal(f_hist, k_hist)
    _close(f_pred, k_pred, "predict")


def test_custom_test_step(tmp_path: Path) -> None:
    x, y, _ = _regression_data()
    keras.utils.set_random_seed(0)
    results = []
    for K in (keras, ft):
        model = _guide_model(K, tmp_path / "linear.weights.h5",
                             type("CustomModel", (K.Model,), {"test_step": _guide_test_step}))
        model.compile(loss="mse", metrics=["mae"])
        results.append((model.evaluate(x, y, verbose=0),
                        model.evaluate(x, y, verbose=0, return_dict=True)))
    (k_list, k_dict), (f_list, f_dict) = results
    _close(f_list, k_list, "evaluate")
    assert sorted(f_dict) == sorted(k_dict) == ["loss", "mae"]
    for key in k_dict:
        _close(f_dict[key], k_dict[key], key)


# --- 4. the transfer-learning guide ------------------------------------------------------


def _transfer_learning(K: Any, x: np.ndarray, y: np.ndarray, shape: tuple[int, ...],
                       weights: Path) -> dict[str, Any]:
    base_model = K.Sequential([
        K.Input(shape=shape), K.layers.Conv2D(4, 3), K.layers.BatchNormalization(),
        K.layers.Activation("relu"), K.layers.Conv2D(6, 3, activation="relu"),
    ], name="base")
    base_model.trainable = False
    inputs = K.Input(shape=shape)
    # The guide calls `base_model(inputs, training=False)`; Keras 3's fit overrides that
    # recorded `training` (keras-team/keras#20285), a case left out here.
    h = base_model(inputs)
    h = K.layers.GlobalAveragePooling2D()(h)
    h = K.layers.Dropout(0.0)(h)
    outputs = K.layers.Dense(1)(h)
    model = K.Model(inputs, outputs)
    if K is keras:
        bn = base_model.layers[1]
        bn.set_weights([np.linspace(0.5, 1.5, 4), np.linspace(-0.2, 0.2, 4),
                        np.linspace(-0.1, 0.3, 4), np.linspace(0.5, 2.0, 4)])
        model.save_weights(weights)
    else:
        model.load_weights(weights)
    out: dict[str, Any] = {"frozen_summary": [w.shape for w in model.trainable_weights]}
    model.compile(optimizer=K.optimizers.Adam(), metrics=[K.metrics.BinaryAccuracy()],
                  loss=K.losses.BinaryCrossentropy(from_logits=True))
    out["head"] = model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0,
                            validation_split=0.25).history
    out["bn_after_head"] = [np.asarray(w) for w in base_model.layers[1].get_weights()]
    base_model.trainable = True
    model.compile(optimizer=K.optimizers.Adam(1e-3), metrics=[K.metrics.BinaryAccuracy()],
                  loss=K.losses.BinaryCrossentropy(from_logits=True))
    out["fine_tune"] = model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0,
                                 validation_split=0.25).history
    out["bn_after_fine_tune"] = [np.asarray(w) for w in base_model.layers[1].get_weights()]
    out["predict"] = model.predict(x, verbose=0)
    return out


def test_transfer_learning_guide(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 10, 10, 3)).astype("float32") + 0.5
    y = (x.mean(axis=(1, 2, 3)) > 0.5).astype("float32")[:, None]
    keras.utils.set_random_seed(0)
    k = _transfer_learning(keras, x, y, (10, 10, 3), tmp_path / "tl.weights.h5")
    f = _transfer_learning(ft, np.ascontiguousarray(x.transpose(0, 3, 1, 2)), y, (3, 10, 10),
                           tmp_path / "tl.weights.h5")
    assert len(f["frozen_summary"]) == len(k["frozen_summary"]) == 2  # the head's kernel, bias
    _history_equal(f["head"], k["head"])
    # Frozen: the batch norm's four arrays did not move, in either framework.
    for got, expected in zip(f["bn_after_head"], k["bn_after_head"]):
        np.testing.assert_array_equal(got, expected)
    _history_equal(f["fine_tune"], k["fine_tune"])
    for got, expected in zip(f["bn_after_fine_tune"], k["bn_after_fine_tune"]):
        _close(got, expected, "batch norm after fine-tuning")
    assert not np.allclose(f["bn_after_fine_tune"][2], f["bn_after_head"][2])
    _close(f["predict"], k["predict"], "predict")


# --- 5. a functional model with dict inputs, two outputs, two losses --------------------


def _ticket_model(K: Any) -> Any:
    title = K.Input(shape=(6,), name="title", dtype="int64")
    body = K.Input(shape=(10,), name="body", dtype="int64")
    tags = K.Input(shape=(4,), name="tags")
    title_features = K.layers.LSTM(8)(K.layers.Embedding(50, 8)(title))
    body_features = K.layers.LSTM(6)(K.layers.Embedding(50, 8)(body))
    merged = K.layers.Concatenate()([title_features, body_features, tags])
    priority = K.layers.Dense(1, name="priority")(merged)
    department = K.layers.Dense(3, name="department")(merged)
    return K.Model(inputs=[title, body, tags],
                   outputs={"priority": priority, "department": department})


def test_multi_input_multi_output_functional_model(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 96
    inputs = {"title": rng.integers(1, 50, size=(n, 6)), "body": rng.integers(1, 50, size=(n, 10)),
              "tags": rng.integers(0, 2, size=(n, 4)).astype("float32")}
    department = np.eye(3, dtype="float32")[rng.integers(0, 3, size=n)]
    targets = {"priority": rng.random((n, 1)).astype("float32"), "department": department}
    keras.utils.set_random_seed(0)
    results = []
    for K in (keras, ft):
        model = _ticket_model(K)
        if K is keras:
            model.save_weights(tmp_path / "tickets.weights.h5")
        else:
            model.load_weights(tmp_path / "tickets.weights.h5")
        model.compile(optimizer=K.optimizers.RMSprop(1e-3),
                      loss={"priority": K.losses.BinaryCrossentropy(from_logits=True),
                            "department": K.losses.CategoricalCrossentropy(from_logits=True)},
                      loss_weights={"priority": 1.0, "department": 0.2},
                      metrics={"department": ["accuracy"]})
        history = model.fit(inputs, targets, epochs=2, batch_size=32, shuffle=False, verbose=0,
                            validation_split=0.25)
        results.append((history.history, model.predict(inputs, verbose=0),
                        model.evaluate(inputs, targets, verbose=0, return_dict=True)))
    (k_hist, k_pred, k_eval), (f_hist, f_pred, f_eval) = results
    _history_equal(f_hist, k_hist)
    assert sorted(f_pred) == sorted(k_pred) == ["department", "priority"]
    for key in k_pred:
        _close(f_pred[key], k_pred[key], key)
    assert sorted(f_eval) == sorted(k_eval)
    for key in k_eval:
        _close(f_eval[key], k_eval[key], key)


def test_dict_outputs_take_keras_layer_order_so_same_shaped_heads_load_right(tmp_path) -> None:
    """Keras orders a functional model's layers from its outputs with dict keys sorted;
    two heads of the same shape would otherwise swap weights without an error."""
    def build(K: Any) -> Any:
        inputs = K.Input(shape=(4,))
        hidden = K.layers.Dense(5, activation="relu", name="hidden")(inputs)
        return K.Model(inputs, {"zeta": K.layers.Dense(2, name="zeta")(hidden),
                                "alpha": K.layers.Dense(2, name="alpha")(hidden)})

    keras.utils.set_random_seed(0)
    kmodel = build(keras)
    kmodel.save_weights(tmp_path / "heads.weights.h5")
    fmodel = build(ft)
    # (the input layers' auto-names count differently in the two frameworks)
    names = [layer.name for layer in fmodel.layers][1:]
    assert names == [layer.name for layer in kmodel.layers][1:] == ["hidden", "alpha", "zeta"]
    fmodel.load_weights(tmp_path / "heads.weights.h5")
    x = np.random.default_rng(0).normal(size=(6, 4)).astype("float32")
    k_pred, f_pred = kmodel.predict(x, verbose=0), fmodel.predict(x, verbose=0)
    for key in ("zeta", "alpha"):
        _close(f_pred[key], k_pred[key], key)


# --- 6. the IMDB text model ---------------------------------------------------------------


@pytest.mark.parametrize("mask_zero", [False, True])
def test_imdb_bidirectional_lstm(tmp_path: Path, mask_zero: bool) -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 100, size=(48, 10))
    x[:, :3] = np.where(rng.random((48, 3)) < 0.5, 0, x[:, :3])  # some leading padding
    y = (x[:, -1] > 50).astype("float32")
    keras.utils.set_random_seed(0)
    results = []
    for K in (keras, ft):
        inputs = K.Input(shape=(None,), dtype="int32")
        h = K.layers.Embedding(100, 16, mask_zero=mask_zero)(inputs)
        h = K.layers.Bidirectional(K.layers.LSTM(8, return_sequences=True))(h)
        h = K.layers.Bidirectional(K.layers.LSTM(8))(h)
        model = K.Model(inputs, K.layers.Dense(1, activation="sigmoid")(h))
        if K is keras:
            model.save_weights(tmp_path / "imdb.weights.h5")
        else:
            model.load_weights(tmp_path / "imdb.weights.h5")
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        history = model.fit(x, y, batch_size=16, epochs=2, validation_split=0.25, shuffle=False,
                            verbose=0)
        results.append((history.history, model.predict(x, verbose=0)))
    (k_hist, k_pred), (f_hist, f_pred) = results
    _history_equal(f_hist, k_hist)
    _close(f_pred, k_pred, "predict")


def test_text_convnet_with_the_sequence_to_channels_first_permute(tmp_path: Path) -> None:
    """Embedding gives (batch, steps, features) as in Keras, Conv1D takes channels first:
    the port adds `Permute((2, 1))` between them and then computes Keras's numbers."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 100, size=(64, 20))
    y = (x[:, 0] > 50).astype("float32")
    keras.utils.set_random_seed(0)
    results = []
    for K in (keras, ft):
        inputs = K.Input(shape=(20,), dtype="int64")
        h = K.layers.Embedding(100, 16)(inputs)
        if K is ft:
            h = ft.layers.Permute((2, 1))(h)
        h = K.layers.Conv1D(8, 3, strides=2, activation="relu")(h)
        h = K.layers.GlobalMaxPooling1D()(h)
        model = K.Model(inputs, K.layers.Dense(1, activation="sigmoid")(h))
        if K is keras:
            model.save_weights(tmp_path / "text.weights.h5")
        else:
            model.load_weights(tmp_path / "text.weights.h5")
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        results.append((history.history, model.predict(x, verbose=0), model.count_params()))
    (k_hist, k_pred, k_count), (f_hist, f_pred, f_count) = results
    assert f_count == k_count
    _history_equal(f_hist, k_hist)
    _close(f_pred, k_pred, "predict")
