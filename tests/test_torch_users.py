"""Programs written the way a PyTorch user writes them: torch losses, frozen parts, modes."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import fitorch as ft


def _data(n: int = 40, features: int = 6, classes: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    y = rng.integers(0, classes, size=(n,)).astype("int64")
    return x, y


def _net(seed: int = 0, features: int = 6, classes: int = 3) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(features, 8), nn.Tanh(), nn.Linear(8, classes))


def _hand_loop(net: nn.Module, x, y, w, *, batch_size: int, epochs: int, lr: float) -> None:
    """Plain torch: per-sample cross-entropy, weighted, summed over the batch / its size."""
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    xt, yt, wt = torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(w)
    for _ in range(epochs):
        for start in range(0, len(x), batch_size):
            xb, yb, wb = (t[start:start + batch_size] for t in (xt, yt, wt))
            opt.zero_grad()
            loss = (F.cross_entropy(net(xb), yb, reduction="none") * wb).sum() / len(xb)
            loss.backward()
            opt.step()


def _fit(loss, x, y, *, seed: int = 0, **fit_kwargs) -> nn.Module:
    net = _net(seed)
    model = ft.Model(net)
    model.compile(optimizer=ft.optimizers.SGD(learning_rate=0.1), loss=loss)
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, **fit_kwargs)
    return net


@pytest.mark.parametrize("loss", [nn.CrossEntropyLoss(), F.cross_entropy, nn.CrossEntropyLoss])
def test_class_weight_with_torch_loss_weights_each_sample(loss):
    x, y = _data()
    class_weight = {0: 1.0, 1: 3.0, 2: 0.5}
    ours = _fit(loss, x, y, class_weight=class_weight)
    keras_style = _fit(ft.losses.SparseCategoricalCrossentropy(from_logits=True), x, y,
                       class_weight=class_weight)
    hand = _net(0)
    w = np.array([class_weight[int(c)] for c in y], dtype="float32")
    _hand_loop(hand, x, y, w, batch_size=8, epochs=2, lr=0.1)
    for a, b, c in zip(ours.parameters(), keras_style.parameters(), hand.parameters()):
        torch.testing.assert_close(a, c, rtol=0, atol=1e-6)
        torch.testing.assert_close(b, c, rtol=0, atol=1e-6)


def test_sample_weight_with_bce_with_logits_weights_each_sample():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, size=(24, 1)).astype("float32")
    w = rng.uniform(0, 2, size=(24,)).astype("float32")
    logits = torch.randn(24, 1)
    loss = ft.losses.get(nn.BCEWithLogitsLoss())
    expected = (F.binary_cross_entropy_with_logits(logits, torch.from_numpy(y),
                                                   reduction="none")[:, 0]
                * torch.from_numpy(w)).sum() / 24
    torch.testing.assert_close(loss(torch.from_numpy(y), logits, torch.from_numpy(w)), expected)
    # Not the batch mean scaled by the mean weight (what happened before).
    wrong = F.binary_cross_entropy_with_logits(logits, torch.from_numpy(y)) * w.mean()
    assert not torch.isclose(loss(torch.from_numpy(y), logits, torch.from_numpy(w)), wrong)


def test_torch_losses_are_called_as_input_target():
    x, y = _data()
    by_function = _fit(F.cross_entropy, x, y)
    by_module = _fit(nn.CrossEntropyLoss(), x, y)
    for a, b in zip(by_function.parameters(), by_module.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_unweighted_torch_loss_keeps_torch_reduction_rules():
    logits, labels = torch.randn(5, 3), torch.tensor([0, 2, -100, 1, -100])
    loss = ft.losses.get(nn.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0, 0.5])))
    expected = F.cross_entropy(logits, labels, weight=torch.tensor([1.0, 2.0, 0.5]))
    torch.testing.assert_close(loss(labels, logits), expected)


class _BatchOnlyLoss(nn.Module):
    """A user's loss module with no `reduction` argument: one value per batch."""

    def forward(self, input, target):
        return F.cross_entropy(input, target)


def test_loss_without_per_sample_values_and_weights_raises_before_any_update():
    x, y = _data()
    net = _net(0)
    before = copy.deepcopy(net.state_dict())
    model = ft.Model(net)
    model.compile(optimizer="sgd", loss=_BatchOnlyLoss())
    with pytest.raises(ValueError, match="one value for the whole batch"):
        model.fit(x, y, class_weight={0: 1.0, 1: 2.0, 2: 1.0}, verbose=0)
    for key, value in net.state_dict().items():
        assert torch.equal(value, before[key])
    # Without weights the same module trains, called as (input, target).
    model.fit(x, y, epochs=1, verbose=0)


def test_probability_loss_on_logits_warns_once_naming_from_logits():
    x, y = _data()
    model = ft.Model(_net(0))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.warns(UserWarning, match="from_logits=True") as record:
        model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert sum("from_logits=True" in str(r.message) for r in record) == 1

    softmax = ft.Model(nn.Sequential(_net(0), nn.Softmax(dim=-1)))
    softmax.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        softmax.fit(x, y, epochs=1, batch_size=8, verbose=0)


# ------------------------------------------------------------------------ modes


class _Backbone(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Linear(6, 8)
        self.bn = nn.BatchNorm1d(8)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


class _Classifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.backbone = _Backbone()
        self.dropout = nn.Dropout(0.5)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        return self.head(self.dropout(self.backbone(x)))


def test_frozen_batchnorm_backbone_keeps_its_statistics_and_modes():
    x, y = _data(64)
    net = _Classifier()
    net.backbone.requires_grad_(False)
    net.backbone.eval()  # the PyTorch way to freeze BatchNorm's running statistics
    stats = {k: v.clone() for k, v in net.backbone.state_dict().items()}
    modes_before = {name: m.training for name, m in net.named_modules()}
    model = ft.Model(net)
    model.compile(optimizer="adam", loss=nn.CrossEntropyLoss(), metrics=["accuracy"])
    head_before = net.head.weight.detach().clone()
    seen_modes = []

    class Spy(ft.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen_modes.append((net.backbone.bn.training, net.dropout.training))

    model.fit(x, y, epochs=2, batch_size=16, validation_split=0.25, verbose=0,
              callbacks=[Spy()])
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)
    model.train_on_batch(x[:8], y[:8])
    model.test_on_batch(x[:8], y[:8])
    model.predict_on_batch(x[:8])
    for key, value in net.backbone.state_dict().items():
        assert torch.equal(value, stats[key]), key
    assert not torch.equal(net.head.weight, head_before)  # the head did train
    assert set(seen_modes) == {(False, True)}  # backbone in eval, dropout training
    assert {name: m.training for name, m in net.named_modules()} == modes_before


def test_modes_are_restored_after_fit_evaluate_predict():
    x, y = _data()
    net = _Classifier()
    model = ft.Model(net)
    model.compile(optimizer="adam", loss=nn.CrossEntropyLoss())
    model.fit(x, y, epochs=1, verbose=0)
    assert model.training and net.dropout.training
    model.eval()
    model.predict(x, verbose=0)
    model.evaluate(x, y, verbose=0)
    assert not any(m.training for m in model.modules())


def test_a_model_entirely_in_eval_mode_trains_as_a_whole():
    x, y = _data()
    net = _Classifier()
    model = ft.Model(net)
    model.compile(optimizer="adam", loss=nn.CrossEntropyLoss())
    model.eval()
    seen = []

    class Spy(ft.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(net.dropout.training and net.backbone.bn.training)

    model.fit(x, y, epochs=1, batch_size=20, verbose=0, callbacks=[Spy()])
    assert seen == [True, True]
    assert not model.training  # back to what it was


# --------------------------------------------------------- trainable changes


@pytest.mark.parametrize("optimizer", ["adam", torch.optim.AdamW, "torch-instance"])
def test_parameters_unfrozen_after_compile_train_at_the_next_fit(optimizer):
    x, y = _data()
    net = _Classifier()
    net.backbone.requires_grad_(False)
    if optimizer == "torch-instance":
        optimizer = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.1)
    model = ft.Model(net)
    model.compile(optimizer=optimizer, loss=nn.CrossEntropyLoss())
    frozen = net.backbone.conv.weight.detach().clone()
    model.fit(x, y, epochs=1, verbose=0)
    assert torch.equal(net.backbone.conv.weight, frozen)
    net.backbone.requires_grad_(True)
    model.fit(x, y, epochs=1, verbose=0)
    assert not torch.equal(net.backbone.conv.weight, frozen)
    # Freezing again: the head stops changing and keeps its optimizer state.
    net.head.requires_grad_(False)
    head = net.head.weight.detach().clone()
    model.fit(x, y, epochs=1, verbose=0)
    assert torch.equal(net.head.weight, head)


def test_unfreezing_with_several_param_groups_warns_and_trains():
    x, y = _data()
    net = _Classifier()
    net.backbone.conv.requires_grad_(False)
    optimizer = torch.optim.SGD([{"params": net.head.parameters()},
                                 {"params": net.backbone.bn.parameters(), "lr": 0.01}], lr=0.1)
    model = ft.Model(net)
    model.compile(optimizer=optimizer, loss=nn.CrossEntropyLoss())
    model.fit(x, y, epochs=1, verbose=0)
    net.backbone.conv.requires_grad_(True)
    before = net.backbone.conv.weight.detach().clone()
    with pytest.warns(UserWarning, match="new group"):
        model.fit(x, y, epochs=1, verbose=0)
    assert not torch.equal(net.backbone.conv.weight, before)
    assert len(optimizer.param_groups) == 3


# ------------------------------------------------------------------ checkpoints


def test_save_weights_of_a_wrapped_module_loads_into_plain_torch(tmp_path):
    import safetensors.torch

    net = _Classifier()
    ft.Model(net).save_weights(tmp_path / "w.safetensors")
    ft.Model(net).save_weights(tmp_path / "w.pt")
    fresh = _Classifier()
    fresh.load_state_dict(safetensors.torch.load_file(tmp_path / "w.safetensors"))
    fresh.load_state_dict(torch.load(tmp_path / "w.pt", weights_only=True))
    for key, value in net.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value)
    # Both spellings load back through fitorch.
    model = ft.Model(_Classifier())
    model.load_weights(tmp_path / "w.safetensors")
    torch.save({f"module.{k}": v for k, v in net.state_dict().items()}, tmp_path / "p.pt")
    model.load_weights(tmp_path / "p.pt")
    assert torch.equal(model.module.head.weight, net.head.weight)


@pytest.mark.parametrize("loss", [
    nn.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0, 0.5]), label_smoothing=0.1),
    F.cross_entropy,
])
def test_save_load_with_torch_loss_and_optimizer_continues_exactly(tmp_path, loss):
    x, y = _data(64)

    def make():
        torch.manual_seed(3)
        return ft.Model(nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)))

    straight = make()
    straight.compile(optimizer=torch.optim.AdamW(straight.parameters(), lr=0.01), loss=loss)
    straight.fit(x, y, epochs=4, batch_size=16, shuffle=False, verbose=0)

    first = make()
    first.compile(optimizer=torch.optim.AdamW(first.parameters(), lr=0.01), loss=loss)
    first.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing is lost, so nothing to warn about
        first.save(tmp_path / "m.fitorch")
    second = ft.load_model(tmp_path / "m.fitorch", model=make())
    assert second.compiled and isinstance(second.optimizer, torch.optim.AdamW)
    second.fit(x, y, epochs=4, initial_epoch=2, batch_size=16, shuffle=False, verbose=0)
    for a, b in zip(second.parameters(), straight.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_unstorable_loss_warns_once_and_compile_plus_load_weights_restores(tmp_path):
    x, y = _data(64)

    def my_loss(y_true, y_pred):
        return F.cross_entropy(y_pred, y_true.long(), reduction="none")

    def make():
        torch.manual_seed(3)
        model = ft.Model(nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)))
        model.compile(optimizer="adam", loss=my_loss)
        return model

    straight = make()
    straight.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    first = make()
    first.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    with pytest.warns(UserWarning, match="load_weights") as record:
        first.save(tmp_path / "m.fitorch")
    assert len(record) == 1
    second = make()  # compile again, as the warning says
    second.load_weights(tmp_path / "m.fitorch")
    assert second.optimizer.iterations == first.optimizer.iterations
    second.fit(x, y, epochs=2, initial_epoch=1, batch_size=16, shuffle=False, verbose=0)
    for a, b in zip(second.parameters(), straight.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


# ------------------------------------------------------------ outputs and losses


class _TwoHeads(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.a = nn.Linear(6, 3)
        self.b = nn.Linear(6, 1)

    def forward(self, x):
        return self.a(x), self.b(x)


def test_a_loss_on_one_output_only_with_a_single_target_array():
    x, y = _data()
    model = ft.Model(_TwoHeads())
    model.compile(optimizer="adam", loss=[nn.CrossEntropyLoss(), None])
    history = model.fit(x, y, epochs=2, verbose=0)
    # The loss is the first head's alone: equal to the torch loss of that head.
    with torch.no_grad():
        logits, _ = model.module(torch.from_numpy(x))
    expected = float(F.cross_entropy(logits, torch.from_numpy(y)))
    assert model.evaluate(x, y, verbose=0) == pytest.approx(expected, rel=1e-5)
    assert list(history.history) == ["loss"]


def test_metrics_on_an_output_without_loss():
    x, y = _data()
    aux = np.zeros((len(x), 1), dtype="float32")
    model = ft.Model(_TwoHeads())
    model.compile(optimizer="adam", loss=[nn.CrossEntropyLoss(), None],
                  metrics=[["accuracy"], ["mae"]])
    history = model.fit(x, [y, aux], epochs=1, verbose=0)
    assert sorted(history.history) == ["loss", "output_1_accuracy", "output_2_mae"]
    with torch.no_grad():
        _, b = model.module(torch.from_numpy(x))
    mae = float(b.abs().mean())
    assert model.evaluate(x, [y, aux], verbose=0, return_dict=True)["output_2_mae"] == \
        pytest.approx(mae, rel=1e-5)


class _DictHeads(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.heads = _TwoHeads()

    def forward(self, x):
        a, b = self.heads(x)
        return {"cls": a, "aux": b}


def test_dict_losses_for_a_subset_of_dict_outputs():
    x, y = _data()
    model = ft.Model(_DictHeads())
    model.compile(optimizer="adam", loss={"cls": nn.CrossEntropyLoss()})
    model.fit(x, {"cls": y}, epochs=1, verbose=0)
    with torch.no_grad():
        logits = model.module(torch.from_numpy(x))["cls"]
    assert model.evaluate(x, {"cls": y}, verbose=0) == pytest.approx(
        float(F.cross_entropy(logits, torch.from_numpy(y))), rel=1e-5)


class _PerToken(nn.Module):
    def forward(self, x):
        return x * 2


def test_predict_with_outputs_whose_length_varies_by_batch():
    batches = [torch.ones(4, 5), torch.ones(4, 7), torch.ones(2, 3)]
    model = ft.Model(_PerToken())
    with pytest.warns(UserWarning, match="one array per batch"):
        out = model.predict(torch.utils.data.DataLoader(batches, batch_size=None), verbose=0)
    assert [a.shape for a in out] == [(4, 5), (4, 7), (2, 3)]
    np.testing.assert_array_equal(out[1], np.full((4, 7), 2.0))


# ------------------------------------------------------------------------- data


def test_dataframe_with_bool_int_and_float_columns():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"f": rng.normal(size=32), "i": rng.integers(0, 5, 32),
                          "b": rng.integers(0, 2, 32).astype(bool)})
    y = rng.normal(size=(32, 1)).astype("float32")
    model = ft.Model(nn.Linear(3, 1))
    model.compile(optimizer="sgd", loss="mse")
    model.fit(frame, y, epochs=1, verbose=0)
    expected = model.module(torch.from_numpy(frame.to_numpy(dtype="float32")))
    np.testing.assert_allclose(model.predict(frame, verbose=0), expected.detach().numpy(),
                               rtol=1e-6)
    frame["s"] = ["a"] * 32
    with pytest.raises(TypeError, match="'s' \\(object\\)|'s' \\(str\\)"):
        model.fit(frame, y, epochs=1, verbose=0)


class _DictDataset(torch.utils.data.Dataset):
    def __init__(self, x, y, extra: bool = False) -> None:
        self.x, self.y, self.extra = x, y, extra

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        item = {"input_ids": torch.from_numpy(self.x[i]), "labels": int(self.y[i])}
        if self.extra:
            item["idx"] = i
        return item


class _ByName(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Linear(6, 3)

    def forward(self, input_ids):
        return self.body(input_ids)


def test_dataloader_of_dict_batches():
    x, y = _data()
    loader = torch.utils.data.DataLoader(_DictDataset(x, y), batch_size=8)
    model = ft.Model(_ByName())
    model.compile(optimizer="adam", loss=nn.CrossEntropyLoss(), metrics=["accuracy"])
    model.fit(loader, epochs=1, verbose=0)
    by_arrays = model.evaluate({"input_ids": x}, y, verbose=0, return_dict=True)
    by_loader = model.evaluate(loader, verbose=0, return_dict=True)
    assert by_loader["loss"] == pytest.approx(by_arrays["loss"], rel=1e-5)
    plain = torch.utils.data.DataLoader([{"x": torch.from_numpy(x[i]), "y": int(y[i])}
                                         for i in range(len(x))], batch_size=8)
    wrapped = ft.Model(nn.Linear(6, 3))
    wrapped.compile(optimizer="adam", loss=nn.CrossEntropyLoss())
    wrapped.fit(plain, epochs=1, verbose=0)


def test_dict_batch_with_a_key_forward_does_not_take_names_it():
    x, y = _data()
    loader = torch.utils.data.DataLoader(_DictDataset(x, y, extra=True), batch_size=8)
    model = ft.Model(_ByName())
    model.compile(optimizer="adam", loss=nn.CrossEntropyLoss())
    with pytest.raises(ValueError, match="'idx'.*takes \\(input_ids\\)"):
        model.fit(loader, epochs=1, verbose=0)


def test_integer_data_into_a_float_input_is_converted_as_keras_does():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 5, size=(16, 4))
    y = rng.normal(size=(16, 1)).astype("float32")
    model = ft.Sequential([ft.Input(shape=(4,)), ft.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, epochs=1, verbose=0)
    np.testing.assert_allclose(model.predict(x, verbose=0),
                               model.predict(x.astype("float32"), verbose=0))


def test_integer_data_into_a_float_torch_module_is_a_clear_error() -> None:
    import numpy as np
    import pytest
    import torch

    import fitorch as ft

    net = torch.nn.Sequential(torch.nn.Linear(4, 2))
    model = ft.Model(net)
    model.compile(optimizer="sgd", loss="mse")
    before = net[0].weight.detach().clone()
    with pytest.raises(TypeError, match=r"integer data \(torch.int64\).*float32.*astype"):
        model.fit(np.arange(40).reshape(10, 4), np.zeros((10, 2), "float32"), verbose=0)
    assert torch.equal(before, net[0].weight)  # raised before any update
