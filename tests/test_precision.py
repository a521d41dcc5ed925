"""`compile(precision=...)`: autocast, loss scaling, true modes, input casts, the Keras
policy alias, saving the scaler, and a user's own autocast around fit."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import fitorch as ft
from conftest import mlp
from fitorch import precision as precision_module

SCCE = ft.losses.SparseCategoricalCrossentropy(from_logits=True)


def digits():
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (data.data / 16.0).astype(np.float32)
    return x, data.target.astype(np.int64)


def quickstart_model():
    return ft.Sequential([ft.Input(shape=(64,)), ft.layers.Dense(128, activation="relu"),
                          ft.layers.Dense(64, activation="relu"),
                          ft.layers.Dense(10, activation="softmax")])


def test_bf16_mixed_trains_the_quickstart_model_like_float32_with_bf16_matmuls():
    x, y = digits()
    accuracies = {}
    for precision in ("32", "bf16-mixed"):
        torch.manual_seed(0)
        model = quickstart_model()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"], precision=precision)
        dtypes = set()
        hook = model.layers[0].register_forward_hook(
            lambda module, args, out, seen=dtypes: seen.add(out.dtype))
        history = model.fit(x, y, batch_size=32, epochs=10, validation_split=0.2, verbose=0)
        hook.remove()
        accuracies[precision] = history.history["val_accuracy"][-1]
        assert dtypes == {torch.float32 if precision == "32" else torch.bfloat16}
        assert all(p.dtype == torch.float32 for p in model.parameters())  # master weights
        assert model.predict(x[:4], verbose=0).dtype == np.float32
    assert accuracies["32"] > 0.9
    assert abs(accuracies["bf16-mixed"] - accuracies["32"]) < 0.03, accuracies


def test_loss_and_metrics_are_computed_in_float32_under_autocast(classification_data):
    x, y = classification_data
    seen = []

    def recording(y_true, y_pred):
        seen.append(y_pred.dtype)
        return torch.nn.functional.cross_entropy(y_pred, y_true.long(), reduction="none")

    model = ft.Model(mlp())
    model.compile(optimizer="sgd", loss=recording, precision="bf16-mixed")
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    model.evaluate(x, y, verbose=0)
    assert set(seen) == {torch.float32}


def overflow_once(model, at_step):
    """Make the gradient of the first weight inf on step `at_step` (1-based)."""
    calls = [0]

    def hook(grad):
        calls[0] += 1
        return grad * float("inf") if calls[0] == at_step else grad

    next(model.parameters()).register_hook(hook)


def test_16_mixed_skips_the_step_on_overflow_without_advancing_iterations(
        classification_data):
    x, y = classification_data
    x, y = x[:64], y[:64]
    torch.manual_seed(0)
    reference = ft.Model(mlp())
    model = copy.deepcopy(reference)
    reference.compile(optimizer=ft.optimizers.Adam(0.01), loss=SCCE, precision="16-mixed")
    model.compile(optimizer=ft.optimizers.Adam(0.01), loss=SCCE, precision="16-mixed")
    overflow_once(model, at_step=3)
    # The reference skips batch 3 by not seeing it.
    reference.fit(x[:32], y[:32], batch_size=16, epochs=1, shuffle=False, verbose=0)
    reference.fit(x[48:], y[48:], batch_size=16, epochs=1, shuffle=False, verbose=0)
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    assert model.optimizer.iterations == 3 and reference.optimizer.iterations == 3
    train = model.make_train_function()
    assert train.scaler.get_scale() == 2.0 ** 16 / 2  # backed off once
    for a, b in zip(reference.parameters(), model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_16_mixed_clips_the_unscaled_gradients(classification_data):
    x, y = classification_data
    torch.manual_seed(0)
    module = mlp()
    norms = []

    class Probe(ft.Model):
        def on_after_backward(self):
            norms.append(float(torch.nn.utils.get_total_norm(
                [p.grad for p in self.parameters()])))

    clipped = Probe(module)
    clipped.compile(optimizer=torch.optim.SGD(module.parameters(), lr=0.1), loss=SCCE,
                    precision="16-mixed", global_clipnorm=0.1)
    before = [p.detach().clone() for p in module.parameters()]
    clipped.train_on_batch(x[:32], y[:32])
    moved = torch.linalg.vector_norm(torch.stack([
        torch.linalg.vector_norm(p.detach() - b) for p, b in zip(module.parameters(), before)]))
    assert 0.1 < norms[0] < 100  # unscaled (the loss scale is 65536)
    torch.testing.assert_close(moved, torch.tensor(0.1 * 0.1), rtol=1e-3, atol=0)


def test_a_fused_torch_optimizer_unscales_through_the_scaler(classification_data):
    x, y = classification_data
    torch.manual_seed(0)
    module = mlp()
    model = ft.Model(module)
    model.compile(optimizer=torch.optim.Adam(module.parameters(), lr=0.01, fused=True),
                  loss=SCCE, precision="16-mixed")
    history = model.fit(x, y, batch_size=16, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert all(torch.isfinite(p).all() for p in module.parameters())


@pytest.mark.parametrize("precision, dtype", [("bf16-true", torch.bfloat16),
                                              ("64-true", torch.float64)])
def test_true_modes_cast_the_model_and_its_float_inputs(classification_data, precision, dtype):
    x, y = classification_data
    model = ft.Model(mlp())
    model.compile(optimizer="adam", loss=SCCE, metrics=["accuracy"], precision=precision)
    history = model.fit(x, y, batch_size=16, epochs=3, verbose=0)
    assert all(p.dtype == dtype for p in model.parameters())
    assert history.history["loss"][-1] < history.history["loss"][0]
    out = model.predict(x[:4], verbose=0)
    assert out.dtype == (np.float64 if dtype == torch.float64 else np.float32)


def test_inputs_are_cast_to_the_models_dtype_in_every_mode(classification_data):
    x, y = classification_data
    model = ft.Model(mlp().double())  # float64 weights, float32 data: no dtype error
    model.compile(optimizer="sgd", loss=SCCE)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert model.evaluate(x, y, verbose=0) > 0
    assert model.predict(x, verbose=0).dtype == np.float64


@pytest.mark.parametrize("precision, atol", [("bf16-mixed", 2e-2), ("16-mixed", 2e-3),
                                             ("64-true", 1e-10)])
def test_precision_under_jit_compile_equals_eager(classification_data, precision, atol):
    x, y = classification_data
    results = []
    for jit in (False, True):
        torch.manual_seed(0)
        model = ft.Model(mlp())
        model.compile(optimizer="sgd", loss=SCCE, precision=precision, jit_compile=jit)
        history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        if jit:
            assert model._compiled_train_step().calls > 0
        results.append((history.history["loss"], model.get_weights()))
    np.testing.assert_allclose(results[1][0], results[0][0], atol=atol)
    for a, b in zip(results[0][1], results[1][1], strict=True):
        np.testing.assert_allclose(b, a, atol=atol)


def test_a_user_train_step_calling_self_gets_autocast(classification_data):
    x, y = classification_data
    dtypes = []

    class Custom(ft.Model):
        def train_step(self, data):
            xb, yb = data
            y_pred = self(xb)
            loss = SCCE(yb, y_pred)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            dtypes.append(y_pred.dtype)
            return {"loss": loss}

    model = Custom(mlp())
    model.compile(optimizer=torch.optim.SGD(model.parameters(), lr=0.1), precision="bf16-mixed")
    seen = []
    model.module[0].register_forward_hook(lambda m, a, out: seen.append(out.dtype))
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert set(seen) == {torch.bfloat16} and set(dtypes) == {torch.float32}


def test_a_users_own_autocast_around_fit_trains(classification_data):
    x, y = classification_data
    model = ft.Model(mlp())
    model.compile(optimizer=ft.optimizers.Adam(0.01), loss=SCCE)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        history = model.fit(x, y, batch_size=16, epochs=4, verbose=0)
    losses = history.history["loss"]  # autocast's weight cache no longer freezes training
    assert losses[-1] < losses[0] - 0.05, losses


def test_global_policy_is_the_default_precision():
    try:
        ft.mixed_precision.set_global_policy("mixed_bfloat16")
        assert ft.mixed_precision.global_policy() == "mixed_bfloat16"
        model = ft.Model(mlp())
        model.compile(optimizer="sgd", loss=SCCE)
        assert model._precision == "bf16-mixed"
        model.compile(optimizer="sgd", loss=SCCE, precision="32")
        assert model._precision == "32"
    finally:
        ft.mixed_precision.set_global_policy("float32")


def test_bad_precisions_are_errors():
    model = ft.Model(mlp())
    with pytest.raises(ValueError, match=r"expected one of \['32', 'bf16-mixed'.*"
                                         r"Received: precision='fp8' \(of type str\)"):
        model.compile(optimizer="sgd", loss=SCCE, precision="fp8")
    with pytest.raises(ValueError, match=r"Unknown dtype policy.*Received: policy='half'"):
        ft.mixed_precision.set_global_policy("half")


def test_16_mixed_on_a_device_without_float16_autocast_names_it(monkeypatch,
                                                               classification_data):
    x, y = classification_data
    monkeypatch.setattr(torch.amp.autocast_mode, "is_autocast_available", lambda d: False)
    model = ft.Model(mlp())
    model.compile(optimizer="sgd", loss=SCCE, precision="16-mixed")
    with pytest.raises(ValueError, match=r"'cpu' device does not have.*Modes that work "
                                         r"there: \['32', 'bf16-true', '64-true'\]"):
        model.fit(x, y, verbose=0)


def test_save_and_load_keep_the_loss_scale(tmp_path, classification_data):
    x, y = classification_data
    model = ft.Sequential([ft.Input((8,)), ft.layers.Dense(3)])
    model.compile(optimizer="adam", loss=SCCE, precision="16-mixed")
    overflow_once(model, at_step=2)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    scale = model.make_train_function().scaler.get_scale()
    assert scale == 2.0 ** 15
    model.save(tmp_path / "m.fitorch")
    loaded = ft.load_model(tmp_path / "m.fitorch")
    assert loaded._precision == "16-mixed"
    assert loaded.make_train_function().scaler.get_scale() == scale


def test_precision_module_is_the_only_autocast_and_grad_scaler_code():
    from pathlib import Path

    src = Path(ft.__file__).parent
    users = {p.relative_to(src).as_posix() for p in src.rglob("*.py")
             if any(word in p.read_text() for word in ("torch.autocast(", "GradScaler("))}
    assert users == {"precision.py"}
    assert precision_module.resolve("mixed_float16") == "16-mixed"
