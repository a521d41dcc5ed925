"""fit() behaviours from SPEC.md on in-memory data."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch

import fitorch as ft
from conftest import mlp


def compiled(module: torch.nn.Module | None = None, **kwargs) -> ft.Model:
    model = ft.Model(module if module is not None else mlp())
    kwargs.setdefault("optimizer", "sgd")
    kwargs.setdefault("loss", ft.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.compile(**kwargs)
    return model


class Recorder(torch.nn.Module):
    """Identity-like module that records what it sees: batch first values and train mode."""

    def __init__(self, in_features: int = 1, classes: int = 2) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(in_features, classes)
        self.seen: list[list[float]] = []
        self.modes: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x[:, 0].tolist())
        self.modes.append(self.training)
        return self.linear(x)


class BatchCounter(ft.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.batches: list[tuple[int, int]] = []
        self.epoch = -1

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self.batches.append((self.epoch, batch))


def test_default_batch_size_is_32_with_partial_last_batch(classification_data):
    x, y = classification_data
    model = compiled()
    history = model.fit(x, y, epochs=1, verbose=0)
    assert history.params["steps"] == 4  # 103 samples: 32, 32, 32, 7
    assert model.history is history


def test_static_batch_size_from_input():
    x = np.random.rand(1000, 4).astype(np.float32)
    y = np.random.randint(0, 2, size=1000)
    model = ft.Sequential([ft.Input(shape=(4,), batch_size=50), ft.layers.Dense(2)])
    model.compile(optimizer="sgd", loss=ft.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, epochs=1, verbose=0)
    assert history.params["steps"] == 20
    with pytest.raises(ValueError, match="incompatible with the batch size of the model's Input"):
        model.fit(x, y, batch_size=20, epochs=1, verbose=0)


def test_numpy_torch_and_pandas_inputs_train_identically(classification_data):
    x, y = classification_data
    results = []
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(8)])
    for xs, ys in [(x, y), (torch.from_numpy(x), torch.from_numpy(y)), (frame, pd.Series(y))]:
        torch.manual_seed(0)
        model = compiled(mlp())
        history = model.fit(xs, ys, epochs=2, shuffle=False, verbose=0)
        results.append(history.history["loss"])
    assert results[0] == results[1] == results[2]


def test_float64_numpy_is_cast_to_float32(classification_data):
    x, y = classification_data
    model = compiled()
    model.fit(x.astype(np.float64), y, epochs=1, verbose=0)
    out = model.predict(x.astype(np.float64), verbose=0)
    assert out.dtype == np.float32


class TwoInputs(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = torch.nn.Linear(3, 2)
        self.b = torch.nn.Linear(5, 2)

    def forward(self, left, right):
        return self.a(left) + self.b(right)


def test_multi_input_positional_and_by_name():
    rng = np.random.default_rng(0)
    left, right = rng.normal(size=(40, 3)).astype(np.float32), rng.normal(size=(40, 5)).astype(
        np.float32)
    y = rng.integers(0, 2, size=40)
    torch.manual_seed(0)
    m1 = compiled(TwoInputs())
    h1 = m1.fit([left, right], y, epochs=2, shuffle=False, verbose=0)
    torch.manual_seed(0)
    m2 = compiled(TwoInputs())
    h2 = m2.fit({"left": left, "right": right}, y, epochs=2, shuffle=False, verbose=0)
    assert h1.history["loss"] == h2.history["loss"]
    assert m1.predict((left, right), verbose=0).shape == (40, 2)


class TwoOutputs(torch.nn.Module):
    def __init__(self, as_dict: bool = False) -> None:
        super().__init__()
        self.body = torch.nn.Linear(4, 8)
        self.cls = torch.nn.Linear(8, 3)
        self.reg = torch.nn.Linear(8, 1)
        self.as_dict = as_dict

    def forward(self, x):
        h = torch.relu(self.body(x))
        if self.as_dict:
            return {"cls": self.cls(h), "reg": self.reg(h)}
        return self.cls(h), self.reg(h)


def test_multi_output_tuple_losses_weights_and_metrics():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 4)).astype(np.float32)
    y_cls, y_reg = rng.integers(0, 3, size=50), rng.normal(size=(50, 1)).astype(np.float32)
    model = ft.Model(TwoOutputs())
    model.compile(optimizer="adam",
                  loss=[ft.losses.SparseCategoricalCrossentropy(from_logits=True), "mse"],
                  loss_weights=[1.0, 0.5], metrics=[["accuracy"], ["mae"]])
    history = model.fit(x, [y_cls, y_reg], epochs=2, verbose=0)
    assert set(history.history) == {"loss", "output_1_loss", "output_2_loss",
                                     "output_1_accuracy", "output_2_mae"}
    # The total loss is the weighted sum of the per-output losses (evaluated on one batch).
    logs = model.test_on_batch(x, [y_cls, y_reg], return_dict=True)
    np.testing.assert_allclose(logs["loss"], logs["output_1_loss"] + 0.5 * logs["output_2_loss"],
                               rtol=1e-5)
    probs, values = model.predict(x, verbose=0)
    assert probs.shape == (50, 3) and values.shape == (50, 1)


def test_multi_output_dict_losses_by_name():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 4)).astype(np.float32)
    y = {"cls": rng.integers(0, 3, size=30), "reg": rng.normal(size=(30, 1)).astype(np.float32)}
    model = ft.Model(TwoOutputs(as_dict=True))
    model.compile(optimizer="adam",
                  loss={"cls": ft.losses.SparseCategoricalCrossentropy(from_logits=True),
                        "reg": "mse"},
                  metrics={"cls": ["accuracy"]})
    history = model.fit(x, y, epochs=1, verbose=0)
    assert set(history.history) == {"loss", "cls_loss", "reg_loss", "cls_accuracy"}
    out = model.predict(x, verbose=0)
    assert set(out) == {"cls", "reg"} and out["cls"].shape == (30, 3)


def test_shuffle_false_keeps_order_and_true_permutes_every_epoch():
    x = np.arange(10, dtype=np.float32).reshape(10, 1)
    y = np.zeros(10, dtype=np.int64)
    rec = Recorder()
    model = compiled(rec)
    model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    assert rec.seen == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]] * 2
    rec.seen.clear()
    model.fit(x, y, batch_size=4, epochs=2, shuffle=True, verbose=0)
    epochs = [[v for b in rec.seen[:3] for v in b], [v for b in rec.seen[3:] for v in b]]
    for order in epochs:
        assert sorted(order) == list(range(10))
    assert epochs[0] != list(range(10)) or epochs[1] != list(range(10))
    assert epochs[0] != epochs[1]


def test_shuffle_batch_reads_contiguous_chunks_in_a_new_order():
    x = np.arange(10, dtype=np.float32).reshape(10, 1)
    y = np.zeros(10, dtype=np.int64)
    rec = Recorder()
    model = compiled(rec)
    orders = []
    for _ in range(6):
        rec.seen.clear()
        model.fit(x, y, batch_size=3, epochs=1, shuffle="batch", verbose=0)
        chunks = [tuple(b) for b in rec.seen]
        assert sorted(chunks[:3]) == [(0, 1, 2), (3, 4, 5), (6, 7, 8)]
        assert chunks[3] == (9,)  # the partial chunk stays last
        orders.append(tuple(chunks))
    assert len(set(orders)) > 1


def test_training_mode_in_fit_and_inference_mode_elsewhere():
    x = np.ones((8, 1), dtype=np.float32)
    y = np.zeros(8, dtype=np.int64)
    rec = Recorder()
    model = compiled(rec)
    model.fit(x, y, batch_size=4, epochs=1, validation_data=(x, y), verbose=0)
    assert rec.modes == [True, True, False, False]
    rec.modes.clear()
    model.evaluate(x, y, batch_size=4, verbose=0)
    model.predict(x, batch_size=8, verbose=0)
    assert rec.modes == [False, False, False]


def test_dropout_active_only_in_training(classification_data):
    x, _ = classification_data
    model = ft.Sequential([ft.Input(shape=(8,)), ft.layers.Dropout(0.5)])
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)


def test_validation_split_takes_the_last_fraction():
    x = np.arange(20, dtype=np.float32).reshape(20, 1)
    y = np.zeros(20, dtype=np.int64)
    rec = Recorder()
    model = compiled(rec)
    model.fit(x, y, batch_size=100, epochs=1, validation_split=0.25, shuffle=True, verbose=0)
    train_seen, val_seen = rec.seen
    assert sorted(train_seen) == list(range(15))
    assert val_seen == [15, 16, 17, 18, 19]


def test_validation_freq_int_and_collection(classification_data):
    x, y = classification_data
    model = compiled()
    history = model.fit(x, y, epochs=4, validation_data=(x, y), validation_freq=2, verbose=0)
    assert len(history.history["loss"]) == 4 and len(history.history["val_loss"]) == 2
    history = model.fit(x, y, epochs=4, validation_data=(x, y), validation_freq=[1, 4], verbose=0)
    assert len(history.history["val_loss"]) == 2
    np.testing.assert_allclose(history.history["val_loss"][-1],
                               model.evaluate(x, y, verbose=0), rtol=1e-6)


def test_validation_batch_size_is_used(classification_data):
    x, y = classification_data

    class Sizes(ft.callbacks.Callback):
        count = 0

        def on_test_batch_end(self, batch, logs=None):
            Sizes.count += 1

    model = compiled()
    model.fit(x, y, batch_size=50, epochs=1, validation_data=(x, y), validation_batch_size=10,
              callbacks=[Sizes()], verbose=0)
    assert Sizes.count == 11


def test_steps_per_epoch_continues_the_pass_across_epochs():
    # SPEC.md: exactly `steps_per_epoch` steps per epoch; arrays start a new pass when
    # one is used up, and an unfinished pass continues in the next epoch (Keras 3).
    x = np.arange(8, dtype=np.float32).reshape(8, 1)
    y = np.zeros(8, dtype=np.int64)
    rec = Recorder()
    counter = BatchCounter()
    model = compiled(rec)
    model.fit(x, y, batch_size=2, epochs=3, steps_per_epoch=3, shuffle=False,
              callbacks=[counter], verbose=0)
    firsts = [b[0] for b in rec.seen]
    assert firsts == [0, 2, 4, 6, 0, 2, 4, 6, 0]
    assert [b for _, b in counter.batches] == [0, 1, 2] * 3


def test_steps_per_epoch_larger_than_the_data_spans_passes():
    x = np.arange(8, dtype=np.float32).reshape(8, 1)
    y = np.zeros(8, dtype=np.int64)
    rec = Recorder()
    model = compiled(rec)
    history = model.fit(x, y, batch_size=4, epochs=2, steps_per_epoch=3, shuffle=False,
                        verbose=0)
    assert history.params["steps"] == 3
    assert [b[0] for b in rec.seen] == [0, 4, 0, 4, 0, 4]


def test_repeated_fit_calls_compose(classification_data):
    x, y = classification_data
    torch.manual_seed(5)
    base = mlp()
    a, b = ft.Model(copy.deepcopy(base)), ft.Model(copy.deepcopy(base))
    for m in (a, b):
        m.compile(optimizer="adam", loss=ft.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    torch.manual_seed(6)
    h_straight = a.fit(x, y, epochs=4, verbose=0)
    torch.manual_seed(6)
    h1 = b.fit(x, y, epochs=2, verbose=0)
    h2 = b.fit(x, y, epochs=4, initial_epoch=2, verbose=0)
    assert h2.epoch == [2, 3]
    assert h1.history["loss"] + h2.history["loss"] == h_straight.history["loss"]
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)


def test_stop_training_mid_epoch_finishes_validation_and_epoch_end(classification_data):
    x, y = classification_data
    events = []

    class Stopper(ft.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            events.append(("batch", batch))
            if batch == 1:
                self.model.stop_training = True

        def on_test_end(self, logs=None):
            events.append(("val", None))

        def on_epoch_end(self, epoch, logs=None):
            events.append(("epoch_end", epoch))

    model = compiled()
    history = model.fit(x, y, epochs=5, validation_data=(x, y), callbacks=[Stopper()], verbose=0)
    assert events == [("batch", 0), ("batch", 1), ("val", None), ("epoch_end", 0)]
    assert len(history.history["loss"]) == 1 and "val_loss" in history.history


def test_sample_weight_zero_removes_samples_from_the_loss(regression_data):
    x, y = regression_data
    model = ft.Model(torch.nn.Linear(5, 1))
    model.compile(optimizer="sgd", loss="mse")
    weights = np.ones(64, dtype=np.float32)
    weights[32:] = 0.0
    weighted = model.evaluate(x, y, sample_weight=weights, batch_size=64, verbose=0)
    pred = model.predict(x, verbose=0)
    # Keras's sum_over_batch_size: sum(w * loss) / batch_size
    expected = float((((pred - y) ** 2).mean(axis=1) * weights).sum() / 64)
    np.testing.assert_allclose(weighted, expected, rtol=1e-5)


def test_class_weight_equals_the_same_sample_weights(classification_data):
    x, y = classification_data
    cw = {0: 1.0, 1: 2.0, 2: 0.5}
    torch.manual_seed(0)
    a = compiled(mlp(), weighted_metrics=["accuracy"])
    ha = a.fit(x, y, epochs=2, shuffle=False, class_weight=cw, verbose=0)
    torch.manual_seed(0)
    b = compiled(mlp(), weighted_metrics=["accuracy"])
    sw = np.array([cw[int(c)] for c in y], dtype=np.float32)
    hb = b.fit(x, y, epochs=2, shuffle=False, sample_weight=sw, verbose=0)
    assert ha.history == hb.history


def test_predict_works_before_compile_and_keeps_batches_in_order(classification_data):
    x, _ = classification_data
    torch.manual_seed(0)
    module = mlp()
    model = ft.Model(module)
    out = model.predict(x, batch_size=10, verbose=0)
    with torch.no_grad():
        expected = module(torch.from_numpy(x)).numpy()
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_lazy_dense_sizes_come_from_the_first_batch(classification_data):
    x, y = classification_data
    model = ft.Sequential([ft.layers.Dense(16, activation="relu"), ft.layers.Dense(3)])
    model.compile(optimizer="adam", loss=ft.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=1, verbose=0)
    assert model.layers[0].weight.shape == (16, 8)
    assert len(model.get_weights()) == 4


def test_sequential_with_input_is_built_at_once():
    model = ft.Sequential([ft.Input(shape=(6,)), ft.layers.Dense(4), ft.layers.Dense(2)])
    shapes = [w.shape for w in model.get_weights()]
    assert shapes == [(4, 6), (4,), (2, 4), (2,)]


def test_get_set_weights_round_trip(classification_data):
    x, y = classification_data
    model = compiled()
    weights = model.get_weights()
    model.fit(x, y, epochs=1, verbose=0)
    model.set_weights(weights)
    for a, b in zip(model.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(a, b)


def test_evaluate_return_forms(classification_data):
    x, y = classification_data
    model = compiled(metrics=["accuracy"])
    as_list = model.evaluate(x, y, verbose=0)
    as_dict = model.evaluate(x, y, verbose=0, return_dict=True)
    assert model.metrics_names == ["loss", "accuracy"]
    assert as_list == [as_dict["loss"], as_dict["accuracy"]]
    assert all(isinstance(v, float) for v in as_list)
    plain = compiled()
    assert isinstance(plain.evaluate(x, y, verbose=0), float)


def test_train_on_batch_reset_metrics(classification_data):
    x, y = classification_data
    model = compiled(metrics=["accuracy"])
    xb1, yb1, xb2, yb2 = x[:10], y[:10], x[10:30], y[10:30]
    model.train_on_batch(xb1, yb1)
    first = model.test_on_batch(xb1, yb1, return_dict=True)
    second = model.test_on_batch(xb2, yb2, return_dict=True)
    accumulated = model.test_on_batch(xb1, yb1, reset_metrics=True, return_dict=True)
    accumulated = model.test_on_batch(xb2, yb2, reset_metrics=False, return_dict=True)
    expected = (first["loss"] * 10 + second["loss"] * 20) / 30
    np.testing.assert_allclose(accumulated["loss"], expected, rtol=1e-6)
    assert isinstance(model.train_on_batch(xb1, yb1), list)
    out = model.predict_on_batch(xb1)
    assert out.shape == (10, 3)


class GAN(ft.Model):
    """A Keras-style GAN: a custom train_step with two optimizers and its own metrics."""

    def __init__(self) -> None:
        super().__init__()
        self.generator = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(),
                                             torch.nn.Linear(8, 4))
        self.discriminator = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(),
                                                 torch.nn.Linear(8, 1))
        self.d_loss_tracker = ft.metrics.Mean(name="d_loss")
        self.g_loss_tracker = ft.metrics.Mean(name="g_loss")

    def compile(self, d_optimizer, g_optimizer):  # type: ignore[override]
        super().compile(optimizer=None)
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer
        self.bce = torch.nn.BCEWithLogitsLoss()

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker]

    def forward(self, z):
        return self.generator(z)

    def train_step(self, data):
        real = data
        z = torch.randn(real.shape[0], 2)
        fake = self(z).detach()
        scores = self.discriminator(torch.cat([real, fake]))
        labels = torch.cat([torch.ones(len(real), 1), torch.zeros(len(fake), 1)])
        d_loss = self.bce(scores, labels)
        self.d_optimizer.zero_grad()
        d_loss.backward()
        self.d_optimizer.step()

        scores = self.discriminator(self(torch.randn(real.shape[0], 2)))
        g_loss = self.bce(scores, torch.ones(len(real), 1))
        self.g_optimizer.zero_grad()
        g_loss.backward()
        self.g_optimizer.step()
        self.d_loss_tracker.update_state(d_loss.detach())
        self.g_loss_tracker.update_state(g_loss.detach())
        return {"d_loss": self.d_loss_tracker.result(), "g_loss": self.g_loss_tracker.result()}


def test_gan_custom_train_step_with_two_optimizers():
    real = (np.random.default_rng(0).normal(size=(64, 4)) + 3).astype(np.float32)
    gan = GAN()
    gan.compile(d_optimizer=torch.optim.Adam(gan.discriminator.parameters(), lr=1e-3),
                g_optimizer=torch.optim.Adam(gan.generator.parameters(), lr=1e-3))
    g_before = [p.detach().clone() for p in gan.generator.parameters()]
    d_before = [p.detach().clone() for p in gan.discriminator.parameters()]
    history = gan.fit(real, epochs=3, batch_size=16, verbose=0)
    assert set(history.history) == {"d_loss", "g_loss"}
    assert len(history.history["d_loss"]) == 3
    assert all(np.isfinite(v) for v in history.history["g_loss"])
    assert any(not torch.equal(a, b) for a, b in zip(g_before, gan.generator.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d_before, gan.discriminator.parameters()))
    # Epoch logs are the epoch's metric values (the trackers reset each epoch).
    assert gan.d_loss_tracker.result().item() == pytest.approx(history.history["d_loss"][-1])


def test_subclassed_model_with_training_argument_gets_it(classification_data):
    x, y = classification_data

    class Net(ft.Model):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(8, 3)
            self.flags: list[bool] = []

        def forward(self, x, training=False):
            self.flags.append(training)
            return self.linear(x)

    model = Net()
    model.compile(optimizer="sgd", loss=ft.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=103, epochs=1, validation_data=(x, y), verbose=0)
    assert model.flags == [True, False]


def test_model_without_trainable_parameters_still_reports_loss(regression_data):
    x, y = regression_data
    frozen = torch.nn.Linear(5, 1)
    for p in frozen.parameters():
        p.requires_grad_(False)
    model = ft.Model(frozen)
    model.compile(optimizer="sgd", loss="mse")
    before = frozen.weight.clone()
    history = model.fit(x, y, epochs=1, verbose=0)
    assert torch.equal(before, frozen.weight)
    assert history.history["loss"][0] > 0


def test_steps_per_execution_runs_all_steps_with_grouped_hooks(classification_data):
    x, y = classification_data
    torch.manual_seed(0)
    a = compiled(mlp(), steps_per_execution=3)
    torch.manual_seed(0)
    b = compiled(mlp())
    counter = BatchCounter()
    ha = a.fit(x, y, batch_size=10, epochs=1, shuffle=False, callbacks=[counter], verbose=0)
    hb = b.fit(x, y, batch_size=10, epochs=1, shuffle=False, verbose=0)
    assert ha.history == hb.history
    assert counter.batches == [(0, 2), (0, 5), (0, 8), (0, 10)]


def test_regularization_losses_join_the_training_loss(classification_data):
    x, y = classification_data
    torch.manual_seed(0)
    plain = ft.Sequential([ft.Input(shape=(8,)), ft.layers.Dense(3)])
    torch.manual_seed(0)
    regularized = ft.Sequential([ft.Input(shape=(8,)), ft.layers.Dense(3, kernel_regularizer="l2")])
    for m in (plain, regularized):
        m.compile(optimizer="sgd", loss=ft.losses.SparseCategoricalCrossentropy(from_logits=True))
    penalty = 0.01 * float((regularized.layers[0].weight.detach() ** 2).sum())
    np.testing.assert_allclose(regularized.evaluate(x, y, batch_size=103, verbose=0),
                               plain.evaluate(x, y, batch_size=103, verbose=0) + penalty,
                               rtol=1e-5)


def test_weight_constraints_are_applied_after_each_step(classification_data):
    x, y = classification_data
    model = ft.Sequential([ft.Input(shape=(8,)),
                           ft.layers.Dense(3, kernel_constraint="non_neg")])
    model.compile(optimizer="sgd", loss=ft.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=2, verbose=0)
    assert bool((model.layers[0].weight >= 0).all())


def test_jit_compile_trains_like_eager(classification_data):
    x, y = classification_data
    results = []
    for jit in (False, True):
        torch.manual_seed(0)
        model = compiled(mlp(), jit_compile=jit, metrics=["accuracy"])
        history = model.fit(x, y, batch_size=40, epochs=2, shuffle=False, verbose=0)
        results.append((history.history, model.get_weights()))
    (h_eager, w_eager), (h_jit, w_jit) = results
    for key in h_eager:
        np.testing.assert_allclose(h_jit[key], h_eager[key], rtol=1e-5)
    for a, b in zip(w_eager, w_jit, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_keras_optimizer_gets_parameter_names_for_weight_decay_exclusion(classification_data):
    x, y = classification_data
    optimizer = ft.optimizers.AdamW(learning_rate=0.01, weight_decay=0.5)
    optimizer.exclude_from_weight_decay(var_names=["bias"])
    model = compiled(mlp(), optimizer=optimizer)
    model.fit(x, y, epochs=1, verbose=0)
    assert model.optimizer is optimizer and optimizer.is_built


def test_metrics_assigned_as_attributes_after_compile_are_logged(classification_data):
    x, y = classification_data

    class Net(ft.Model):
        def __init__(self):
            super().__init__()
            self.body = mlp()

        def forward(self, x):
            return self.body(x)

        def compute_metrics(self, x, y, y_pred, sample_weight=None):
            if hasattr(self, "mean_logit"):
                self.mean_logit.update_state(y_pred.mean(dim=-1))
            return super().compute_metrics(x, y, y_pred, sample_weight)

    model = Net()
    model.compile(optimizer="sgd", loss=ft.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=1, verbose=0)
    model.mean_logit = ft.metrics.Mean(name="mean_logit")
    history = model.fit(x, y, epochs=1, verbose=0)
    assert set(history.history) == {"loss", "mean_logit"}


def test_validation_steps_on_arrays_validate_the_same_batches_every_epoch():
    x = np.arange(12, dtype=np.float32).reshape(12, 1)
    y = np.zeros(12, dtype=np.int64)
    rec = Recorder()
    model = compiled(rec)
    model.fit(x, y, batch_size=12, epochs=3, validation_data=(x, y), validation_batch_size=3,
              validation_steps=2, verbose=0)
    validation = [b for b, training in zip(rec.seen, rec.modes, strict=True) if not training]
    assert validation == [[0, 1, 2], [3, 4, 5]] * 3


def test_model_optimizer_is_the_compiled_object_before_fit(classification_data):
    x, y = classification_data
    model = ft.Sequential([ft.layers.Dense(3)])  # parameters sized by the first batch
    model.compile(optimizer="adam", loss=ft.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert isinstance(model.optimizer, ft.optimizers.Adam) and not model.optimizer.is_built
    model.optimizer.learning_rate = 0.05
    model.fit(x, y, epochs=1, verbose=0)
    assert model.optimizer.is_built
    assert model.optimizer.param_groups[0]["lr"] == 0.05


def test_one_metric_object_for_several_outputs_keeps_separate_state():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 4)).astype(np.float32)
    y1, y2 = rng.normal(size=(20, 3)).astype(np.float32), rng.normal(size=(20, 1)).astype(
        np.float32)
    model = ft.Model(TwoOutputs())
    model.compile(optimizer="sgd", loss="mse", metrics=[ft.metrics.MeanAbsoluteError()])
    logs = model.evaluate(x, [y1, y2], return_dict=True, verbose=0)
    p1, p2 = model.predict(x, verbose=0)
    np.testing.assert_allclose(logs["output_1_mean_absolute_error"], np.abs(p1 - y1).mean(),
                               rtol=1e-5)
    np.testing.assert_allclose(logs["output_2_mean_absolute_error"], np.abs(p2 - y2).mean(),
                               rtol=1e-5)


def test_every_layer_regularizer_and_constraint_reaches_the_model():
    model = ft.Sequential([
        ft.Input(shape=(5,), dtype="int64"),
        ft.layers.Embedding(10, 4, embeddings_regularizer="l2",
                            embeddings_constraint="non_neg"),
        ft.layers.LSTM(3, recurrent_regularizer="l1"),
        ft.layers.BatchNormalization(axis=-1, gamma_regularizer="l2"),
    ])
    assert len(model.losses) == 3
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(0).integers(0, 10, size=(8, 5))
    model.fit(x, np.ones((8, 3), np.float32), epochs=1, verbose=0)
    assert bool((model.layers[0].weight >= 0).all())
