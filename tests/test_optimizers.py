"""Tests for fitorch.optimizers: Keras 3 update rules (differential), building, state, lookup."""

from __future__ import annotations

import copy
import os
import pickle

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np
import pytest
import torch

from fitorch import optimizers
from fitorch.optimizers import (
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    KerasOptimizer,
    Nadam,
    RMSprop,
    get,
    instantiate,
)

NAMES = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "Nadam"]
SHAPES = [(3, 4), (5,), (2, 3, 2), ()]
RTOL, ATOL = 1e-5, 1e-7


def _gradient(weights: np.ndarray, noise: np.ndarray) -> np.ndarray:
    # Depends on the weights, so a wrong update also changes the later gradients.
    return (noise + 0.5 * np.sin(weights)).astype(weights.dtype)


def _init_and_noise(seed: int, steps: int, scale: float) -> tuple[list, list]:
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    noise = [[(scale * rng.standard_normal(s)).astype(np.float32) for s in SHAPES]
             for _ in range(steps)]
    return init, noise


def _compare_with_keras(
    name: str,
    kwargs: dict,
    *,
    steps: int = 5,
    seed: int = 0,
    scale: float = 1.0,
    missing: int | None = None,
    dtype: str = "float32",
) -> tuple[object, KerasOptimizer, list, list]:
    """Applies the same gradient sequence in Keras and in fitorch, comparing every step.

    `missing`: index of a variable that never gets a gradient (None in Keras).
    """
    init, noise = _init_and_noise(seed, steps, scale)
    init = [w.astype(dtype) for w in init]
    noise = [[n.astype(dtype) for n in step_noise] for step_noise in noise]
    kvars = [keras.Variable(w, name=f"v{i}", dtype=dtype) for i, w in enumerate(init)]
    kopt = getattr(keras.optimizers, name)(**kwargs)
    params = [torch.nn.Parameter(torch.tensor(w)) for w in init]
    opt = getattr(optimizers, name)(**kwargs)
    opt.build(params)
    for t in range(steps):
        kgrads = [
            None if i == missing else keras.ops.convert_to_tensor(_gradient(v.numpy(), n))
            for i, (v, n) in enumerate(zip(kvars, noise[t], strict=True))
        ]
        if missing is None:
            kopt.apply_gradients(zip(kgrads, kvars, strict=True))
        else:
            with pytest.warns(UserWarning):
                kopt.apply_gradients(zip(kgrads, kvars, strict=True))
        for i, (p, n) in enumerate(zip(params, noise[t], strict=True)):
            p.grad = None if i == missing else torch.tensor(_gradient(p.detach().numpy(), n))
        opt.step()
        for v, p in zip(kvars, params, strict=True):
            np.testing.assert_allclose(
                p.detach().numpy(), v.numpy(), rtol=RTOL, atol=ATOL, err_msg=f"step {t}"
            )
    assert opt.iterations == steps == int(kopt.iterations.numpy())
    return kopt, opt, kvars, params


# --------------------------------------------------------------------------- Keras parity
@pytest.mark.parametrize("name", NAMES)
def test_matches_keras_with_default_arguments(name):
    _, _, _, params = _compare_with_keras(name, {})
    assert all(not torch.equal(p, torch.tensor(w)) for p, w in
               zip(params, _init_and_noise(0, 5, 1.0)[0], strict=True))


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("SGD", {"learning_rate": 0.05, "momentum": 0.9}),
        ("SGD", {"learning_rate": 0.05, "momentum": 0.8, "nesterov": True}),
        ("Adam", {"learning_rate": 0.02, "amsgrad": True}),
        ("Adam", {"learning_rate": 0.01, "beta_1": 0.8, "beta_2": 0.95, "epsilon": 1e-3}),
        ("AdamW", {"learning_rate": 0.01, "weight_decay": 0.1, "amsgrad": True}),
        ("RMSprop", {"learning_rate": 0.01, "centered": True}),
        ("RMSprop", {"learning_rate": 0.01, "momentum": 0.9}),
        ("RMSprop", {"learning_rate": 0.01, "rho": 0.8, "momentum": 0.5, "centered": True}),
        ("Adagrad", {"learning_rate": 0.1, "initial_accumulator_value": 0.5, "epsilon": 1e-4}),
        ("Adadelta", {"learning_rate": 1.0, "rho": 0.9, "epsilon": 1e-6}),
        ("Adamax", {"learning_rate": 0.02, "beta_1": 0.8, "beta_2": 0.9}),
        ("Nadam", {"learning_rate": 0.02, "beta_1": 0.8, "beta_2": 0.95}),
    ],
)
def test_matches_keras_with_non_default_arguments(name, kwargs):
    _compare_with_keras(name, kwargs, steps=6, seed=1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"learning_rate": 0.02},
        {"learning_rate": 0.02, "amsgrad": True, "weight_decay": 0.1},
        {"learning_rate": 0.02, "beta_2": 0.999995},  # too close to 1 for the fused kernel
    ],
)
def test_adam_unfused_path_matches_keras(monkeypatch, kwargs):
    calls = []
    fused = torch._fused_adam_
    monkeypatch.setattr(torch, "_fused_adam_", lambda *a, **k: calls.append(1) or fused(*a, **k))
    if "beta_2" not in kwargs:
        monkeypatch.setattr(optimizers.adam, "_fusable", lambda params, grads: False)
    _compare_with_keras("Adam", kwargs, seed=7)
    assert calls == []


def test_adam_uses_the_fused_kernel(monkeypatch):
    calls = []
    fused = torch._fused_adam_
    monkeypatch.setattr(torch, "_fused_adam_", lambda *a, **k: calls.append(1) or fused(*a, **k))
    _compare_with_keras("Adam", {"learning_rate": 0.02}, steps=3)
    assert calls == [1, 1, 1]


@pytest.mark.parametrize("name", ["Adam", "Adamax", "Nadam", "RMSprop"])
def test_float64_matches_keras(name):
    # Keras computes the step's scalars in the variables' dtype; so must fitorch.
    _, _, _, params = _compare_with_keras(name, {"learning_rate": 0.05}, dtype="float64")
    assert params[0].dtype == torch.float64


@pytest.mark.parametrize("name", NAMES)
def test_weight_decay_matches_keras(name):
    lr = 1.0 if name == "Adadelta" else 0.05
    _, opt, _, _ = _compare_with_keras(name, {"learning_rate": lr, "weight_decay": 0.2}, seed=2)
    assert opt.weight_decay == 0.2


@pytest.mark.parametrize(
    ("name", "clip"),
    [
        ("SGD", {"clipnorm": 0.5}),
        ("Adam", {"clipnorm": 1.5}),
        ("SGD", {"clipvalue": 0.3}),
        ("RMSprop", {"clipvalue": 0.7}),
        ("SGD", {"global_clipnorm": 1.0}),
        ("Nadam", {"global_clipnorm": 2.0}),
    ],
)
def test_gradient_clipping_matches_keras(name, clip):
    # Large gradients so that clipping is active on every step.
    _compare_with_keras(name, {"learning_rate": 0.05, **clip}, seed=3, scale=4.0)


def test_clipping_happens_in_place_on_grad():
    p = torch.nn.Parameter(torch.zeros(2))
    opt = SGD([p], learning_rate=1.0, clipnorm=1.0)
    p.grad = torch.tensor([3.0, 4.0])
    opt.step()
    torch.testing.assert_close(p.grad, torch.tensor([0.6, 0.8]))
    torch.testing.assert_close(p.detach(), torch.tensor([-0.6, -0.8]))


@pytest.mark.parametrize(
    ("name", "ema"),
    [
        ("SGD", {"use_ema": True}),
        ("Adam", {"use_ema": True, "ema_momentum": 0.9}),
        ("RMSprop", {"use_ema": True, "ema_momentum": 0.5, "ema_overwrite_frequency": 2}),
    ],
)
def test_ema_matches_keras(name, ema):
    kopt, opt, kvars, params = _compare_with_keras(name, {"learning_rate": 0.1, **ema}, seed=4)
    for average, p in zip(kopt._model_variables_moving_average, params, strict=True):
        np.testing.assert_allclose(opt.state[p]["ema"].numpy(), average.numpy(), rtol=RTOL,
                                   atol=ATOL)
    trained = [p.detach().clone() for p in params]
    opt.swap_ema_weights()
    for average, p in zip(kopt._model_variables_moving_average, params, strict=True):
        np.testing.assert_allclose(p.detach().numpy(), average.numpy(), rtol=RTOL, atol=ATOL)
    opt.swap_ema_weights()
    for before, p in zip(trained, params, strict=True):
        assert torch.equal(before, p.detach())
    kopt.finalize_variable_values(kvars)
    opt.finalize_variable_values()
    for v, p in zip(kvars, params, strict=True):
        np.testing.assert_allclose(p.detach().numpy(), v.numpy(), rtol=RTOL, atol=ATOL)


def test_ema_helpers_need_use_ema():
    opt = Adam([torch.nn.Parameter(torch.zeros(2))])
    with pytest.raises(ValueError, match="use_ema=True"):
        opt.swap_ema_weights()
    opt.finalize_variable_values()  # a no-op, as in Keras
    assert opt.iterations == 0


def test_missing_gradient_matches_keras():
    # Keras skips (and warns about) variables without gradients; torch skips them too.
    _, _, _, params = _compare_with_keras("Adam", {"learning_rate": 0.1}, missing=1)
    assert torch.equal(params[1].detach(), torch.tensor(_init_and_noise(0, 5, 1.0)[0][1]))


def test_exclude_from_weight_decay_matches_keras():
    init, noise = _init_and_noise(5, 4, 1.0)
    names = ["kernel", "bias", "gamma", "scale"]
    kvars = [keras.Variable(w, name=n) for w, n in zip(init, names, strict=True)]
    kopt = keras.optimizers.AdamW(learning_rate=0.1, weight_decay=0.3)
    kopt.exclude_from_weight_decay(var_names=["bias", "gam"])
    params = [torch.nn.Parameter(torch.tensor(w)) for w in init]
    opt = AdamW(learning_rate=0.1, weight_decay=0.3)
    opt.exclude_from_weight_decay(var_names=["bias", "gam"])
    opt.build(list(zip(names, params, strict=True)))
    for step_noise in noise:
        kopt.apply_gradients(
            [(keras.ops.convert_to_tensor(_gradient(v.numpy(), n)), v)
             for v, n in zip(kvars, step_noise, strict=True)]
        )
        for p, n in zip(params, step_noise, strict=True):
            p.grad = torch.tensor(_gradient(p.detach().numpy(), n))
        opt.step()
    for v, p in zip(kvars, params, strict=True):
        np.testing.assert_allclose(p.detach().numpy(), v.numpy(), rtol=RTOL, atol=ATOL)
    with pytest.raises(ValueError, match="before the optimizer is built"):
        opt.exclude_from_weight_decay(var_names=["bias"])


def test_exclude_from_weight_decay_by_tensor_and_names_required():
    a, b = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    opt = SGD(learning_rate=0.5, weight_decay=0.5)
    opt.exclude_from_weight_decay(var_list=[b])
    opt.build([a, b])
    a.grad, b.grad = torch.zeros(2), torch.zeros(2)
    opt.step()
    torch.testing.assert_close(a.detach(), torch.full((2,), 0.75))
    torch.testing.assert_close(b.detach(), torch.ones(2))
    opt = SGD(weight_decay=0.5)
    opt.exclude_from_weight_decay(var_names=["bias"])
    with pytest.raises(ValueError, match="named_parameters"):
        opt.build([a, b])


# ------------------------------------------------------------------ building and lr
def test_deferred_build_and_unbuilt_errors():
    opt = Adam(learning_rate=0.01)
    assert not opt.is_built and not opt.built
    assert opt.learning_rate == 0.01 and "unbuilt" in repr(opt)
    for call in (opt.step, opt.state_dict, lambda: opt.load_state_dict({})):
        with pytest.raises(ValueError, match=r"build\(model.parameters\(\)\)"):
            call()
    model = torch.nn.Linear(3, 2)
    opt.build(model.parameters())
    assert opt.is_built and opt.built
    assert [p for g in opt.param_groups for p in g["params"]] == list(model.parameters())
    opt.build([torch.nn.Parameter(torch.zeros(1))])  # already built: no-op, as in Keras
    assert len(opt.param_groups) == 1 and len(opt.param_groups[0]["params"]) == 2
    model(torch.randn(4, 3)).sum().backward()
    before = model.weight.detach().clone()
    opt.step()
    assert not torch.equal(before, model.weight.detach())
    opt.zero_grad()
    assert model.weight.grad is None


def test_build_rejects_empty_and_bad_params():
    with pytest.raises(ValueError, match="empty parameter list"):
        Adam().build([])
    with pytest.raises(TypeError, match="single tensor"):
        Adam().build(torch.zeros(2, requires_grad=True))
    with pytest.raises(TypeError, match="optimize Tensors"):
        Adam().build([1.0, 2.0])


def test_params_positional_like_torch_and_lr_positional_like_keras():
    model = torch.nn.Linear(2, 2)
    opt = RMSprop(model.parameters(), learning_rate=0.05)
    assert opt.is_built and opt.learning_rate == 0.05
    opt = Adam(0.02)
    assert not opt.is_built and opt.learning_rate == 0.02
    named = Nadam(model.named_parameters())
    assert named.param_groups[0]["param_names"] == ["weight", "bias"]


def test_lr_alias():
    assert Adam(lr=0.3).learning_rate == 0.3
    assert SGD(torch.nn.Linear(2, 2).parameters(), lr=0.2).param_groups[0]["lr"] == 0.2
    assert SGD(learning_rate=0.2, lr=0.2).learning_rate == 0.2
    with pytest.raises(ValueError, match="once"):
        Adam(learning_rate=0.1, lr=0.2)


def test_learning_rate_property_reads_and_writes_every_group():
    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    opt = Adam([{"params": a.parameters()}, {"params": b.parameters(), "learning_rate": 0.5}])
    assert [g["lr"] for g in opt.param_groups] == [0.001, 0.5]
    opt.learning_rate = 0.25
    assert opt.learning_rate == 0.25
    assert [g["lr"] for g in opt.param_groups] == [0.25, 0.25]
    assert opt.defaults["lr"] == 0.25
    unbuilt = SGD()
    unbuilt.learning_rate = 0.125
    unbuilt.build(a.parameters())
    assert unbuilt.param_groups[0]["lr"] == 0.125
    opt.beta_1 = 0.5
    assert [g["beta_1"] for g in opt.param_groups] == [0.5, 0.5]


def test_torch_lr_scheduler_changes_learning_rate():
    opt = SGD(torch.nn.Linear(2, 2).parameters(), learning_rate=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    opt.step()
    scheduler.step()
    assert opt.learning_rate == pytest.approx(0.05)


def test_param_groups_follow_their_own_learning_rate():
    init = torch.randn(3)
    grads = torch.randn(3)
    p1, p2 = torch.nn.Parameter(init.clone()), torch.nn.Parameter(init.clone())
    together = Adam([{"params": [p1], "lr": 0.1}, {"params": [p2], "lr": 0.01}])
    q1, q2 = torch.nn.Parameter(init.clone()), torch.nn.Parameter(init.clone())
    separate = [Adam([q1], learning_rate=0.1), Adam([q2], learning_rate=0.01)]
    for _ in range(3):
        for p in (p1, p2, q1, q2):
            p.grad = grads.clone()
        together.step()
        for o in separate:
            o.step()
    assert torch.equal(p1, q1) and torch.equal(p2, q2) and not torch.equal(p1, p2)


@pytest.mark.parametrize("bad", [-1e-3, float("nan")])
def test_negative_learning_rate_is_rejected(bad):
    with pytest.raises(ValueError, match=r"Received: learning_rate="):
        Adam(learning_rate=bad)
    opt = Adam()
    with pytest.raises(ValueError, match="learning_rate"):
        opt.learning_rate = bad


@pytest.mark.parametrize("bad", ["0.1", True, torch.tensor(0.1), lambda step: 0.1])
def test_non_number_learning_rate_is_rejected(bad):
    with pytest.raises(TypeError, match=r"\(of type "):
        SGD(learning_rate=bad)


@pytest.mark.parametrize(
    ("cls", "kwargs", "error", "match"),
    [
        (Adam, {"beta_1": 1.0}, ValueError, "beta_1"),
        (Adam, {"beta_2": -0.1}, ValueError, "beta_2"),
        (Adam, {"epsilon": -1.0}, ValueError, "epsilon"),
        (Adam, {"amsgrad": 1}, TypeError, "amsgrad"),
        (SGD, {"momentum": 1.5}, ValueError, "momentum"),
        (SGD, {"nesterov": "yes"}, TypeError, "nesterov"),
        (RMSprop, {"rho": 2.0}, ValueError, "rho"),
        (Adagrad, {"initial_accumulator_value": -1.0}, ValueError, "initial_accumulator"),
        (AdamW, {"weight_decay": None}, ValueError, "weight_decay=None"),
        (Adam, {"weight_decay": -0.1}, ValueError, "weight_decay"),
        (SGD, {"clipnorm": 1.0, "clipvalue": 1.0}, ValueError, "Only one of"),
        (SGD, {"clipnorm": 1.0, "global_clipnorm": 1.0}, ValueError, "Only one of"),
        (SGD, {"clipnorm": 0.0}, ValueError, "clipnorm"),
        (SGD, {"use_ema": True, "ema_momentum": 1.5}, ValueError, "ema_momentum"),
        (SGD, {"use_ema": True, "ema_overwrite_frequency": 0}, ValueError, "ema_overwrite"),
        (Adadelta, {"rho": "high"}, TypeError, "rho"),
    ],
)
def test_bad_hyperparameters_are_rejected(cls, kwargs, error, match):
    with pytest.raises(error, match=match):
        cls(**kwargs)


def test_global_options_cannot_be_set_per_group():
    with pytest.raises(ValueError, match="whole optimizer"):
        SGD([{"params": [torch.nn.Parameter(torch.zeros(1))], "clipnorm": 1.0}])
    with pytest.raises(ValueError, match="not both"):
        SGD([{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.1, "learning_rate": 0.1}])
    with pytest.raises(ValueError, match="Received: lr="):
        SGD([{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": -0.1}])


def test_sparse_gradients_are_rejected():
    p = torch.nn.Parameter(torch.zeros(3))
    opt = Adam([p])
    p.grad = torch.zeros(3).to_sparse()
    with pytest.raises(TypeError, match="sparse"):
        opt.step()


def test_step_without_gradients_only_counts():
    p = torch.nn.Parameter(torch.ones(2))
    opt = Adam([p], learning_rate=0.1)
    opt.step()
    assert opt.iterations == 1 and torch.equal(p.detach(), torch.ones(2)) and not opt.state


def test_step_with_closure_returns_loss():
    p = torch.nn.Parameter(torch.tensor([2.0]))
    opt = SGD([p], learning_rate=0.25)

    def closure():
        opt.zero_grad()
        loss = (p**2).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == 4.0
    assert p.item() == 1.0  # 2 - 0.25 * 4


# --------------------------------------------------------------------------- state
def _train(opt: KerasOptimizer, params: list, noise: list) -> None:
    for step_noise in noise:
        for p, n in zip(params, step_noise, strict=True):
            p.grad = torch.tensor(_gradient(p.detach().numpy(), n))
        opt.step()


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip_continues_identically(name):
    init, noise = _init_and_noise(6, 6, 1.0)
    kwargs = {"use_ema": True, "ema_overwrite_frequency": 5}
    if name in ("SGD", "RMSprop"):
        kwargs["momentum"] = 0.9
    params = [torch.nn.Parameter(torch.tensor(w)) for w in init]
    opt = getattr(optimizers, name)(params, **kwargs)
    _train(opt, params, noise[:3])
    saved = copy.deepcopy(opt.state_dict())
    clones = [torch.nn.Parameter(p.detach().clone()) for p in params]
    restored = getattr(optimizers, name)(learning_rate=0.5, **kwargs)
    restored.build(clones)
    restored.load_state_dict(saved)
    assert restored.iterations == 3 and restored.learning_rate == opt.learning_rate
    _train(opt, params, noise[3:])
    _train(restored, clones, noise[3:])
    for p, q in zip(params, clones, strict=True):
        assert torch.equal(p, q)
        assert torch.equal(opt.state[p]["ema"], restored.state[q]["ema"])


def test_deepcopy_and_pickle_keep_keras_state():
    params = [torch.nn.Parameter(torch.randn(3))]
    opt = Nadam(params, learning_rate=0.01, clipvalue=0.5)
    _train(opt, params, [[np.ones(3, np.float32)]] * 2)
    for clone in (copy.deepcopy(opt), pickle.loads(pickle.dumps(opt))):
        assert clone.iterations == 2 and clone.clipvalue == 0.5
        assert clone._decay_product == opt._decay_product


def test_get_config_round_trip():
    opt = RMSprop(learning_rate=0.01, momentum=0.5, centered=True, clipnorm=2.0)
    config = opt.get_config()
    assert config["learning_rate"] == 0.01 and config["centered"] is True
    clone = RMSprop.from_config(config)
    assert clone.get_config() == config


# --------------------------------------------------------------------------- lookup
@pytest.mark.parametrize("name", NAMES)
def test_get_from_names_gives_keras_defaults(name):
    keras_opt = getattr(keras.optimizers, name)()
    for identifier in (name, name.lower(), name.upper()):
        opt = get(identifier)
        assert type(opt) is getattr(optimizers, name) and not opt.is_built
        assert opt.learning_rate == pytest.approx(float(keras_opt.learning_rate.numpy()))
        for key, value in opt.defaults.items():
            if key not in ("lr", "differentiable"):
                assert getattr(keras_opt, key) == value, key


def test_get_with_kwargs_instances_classes_and_configs():
    assert get("adam", learning_rate=0.5, amsgrad=True).amsgrad is True
    opt = SGD()
    assert get(opt) is opt
    torch_opt = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1)
    assert get(torch_opt) is torch_opt
    assert get(torch.optim.SGD) is torch.optim.SGD
    from_dict = get({"class_name": "Adamax", "config": {"learning_rate": 0.2}})
    assert isinstance(from_dict, Adamax) and from_dict.learning_rate == 0.2
    from_keras = get(keras.optimizers.RMSprop(learning_rate=0.02, momentum=0.5, clipnorm=1.0))
    assert isinstance(from_keras, RMSprop)
    assert (from_keras.learning_rate, from_keras.momentum, from_keras.clipnorm) == pytest.approx(
        (0.02, 0.5, 1.0)
    )


def test_get_errors():
    with pytest.raises(ValueError, match=r"Valid names: \['adadelta', 'adagrad', 'adam'"):
        get("adamm")
    with pytest.raises(TypeError, match=r"Received: identifier=42 \(of type int\)"):
        get(42)
    with pytest.raises(TypeError, match="Could not interpret"):
        get(torch.nn.Linear)
    with pytest.raises(ValueError, match="only used with a string"):
        get(SGD(), learning_rate=0.1)
    with pytest.raises(ValueError, match="No fitorch equivalent"):
        get(keras.optimizers.Lion())


def test_instantiate():
    model = torch.nn.Linear(2, 2)
    opt = instantiate("adamw", model.parameters())
    assert isinstance(opt, AdamW) and opt.is_built
    unbuilt = Adagrad()
    assert instantiate(unbuilt, model.parameters()) is unbuilt and unbuilt.is_built
    torch_sgd = instantiate(torch.optim.SGD, model.parameters())
    assert isinstance(torch_sgd, torch.optim.SGD)
    keras_cls = instantiate(SGD, model.parameters(), momentum=0.5)
    assert isinstance(keras_cls, SGD) and keras_cls.is_built and keras_cls.momentum == 0.5

    class NeedsLr(torch.optim.SGD):
        def __init__(self, params, lr):
            super().__init__(params, lr=lr)

    assert instantiate(NeedsLr, model.parameters()).param_groups[0]["lr"] == 0.01
    with pytest.raises(TypeError, match="Could not interpret"):
        instantiate(3.5j, model.parameters())
