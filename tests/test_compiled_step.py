"""`jit_compile=True`: the whole train step as one graph, equal to the eager step."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch._dynamo.utils import counters

import fitorch as ft
from conftest import mlp
from fitorch import compiled_step
from fitorch.compiled_step import OptimizerStep

SCCE = ft.losses.SparseCategoricalCrossentropy(from_logits=True)


def fit_twice(make_model, compile_kwargs, fit_kwargs, x, y):
    """History and weights of the same run eager and under jit_compile=True."""
    out = []
    for jit in (False, True):
        torch.manual_seed(0)
        model = make_model()
        model.compile(jit_compile=jit, **compile_kwargs())
        history = model.fit(x, y, shuffle=False, verbose=0, **fit_kwargs)
        out.append((model, history.history, model.get_weights()))
    return out


def assert_same_training(eager, jit):
    (_, h_eager, w_eager), (model, h_jit, w_jit) = eager, jit
    assert model._compiled_train_step().calls > 0  # the graph really ran
    assert h_jit.keys() == h_eager.keys()
    for key in h_eager:
        np.testing.assert_allclose(h_jit[key], h_eager[key], rtol=1e-5, atol=1e-6, err_msg=key)
    for a, b in zip(w_eager, w_jit, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


def classifier():
    return ft.Model(mlp())


@pytest.mark.parametrize("case", ["keras-adam", "torch-adam", "sgd-weighted", "regularized-bn"])
def test_compiled_step_trains_like_eager(case, classification_data):
    x, y = classification_data
    w = np.linspace(0.5, 1.5, len(x)).astype(np.float32)
    make_model = classifier
    fit_kwargs: dict = {"batch_size": 16, "epochs": 3, "validation_split": 0.2}
    if case == "keras-adam":
        def compile_kwargs():
            return {"optimizer": "adam", "loss": SCCE, "metrics": ["accuracy"]}
    elif case == "torch-adam":
        holder: dict = {}

        def make_model():
            holder["model"] = classifier()
            return holder["model"]

        def compile_kwargs():
            return {"optimizer": torch.optim.Adam(holder["model"].parameters(), lr=0.01),
                    "loss": SCCE, "metrics": ["accuracy"]}
    elif case == "sgd-weighted":
        fit_kwargs["sample_weight"] = w

        def compile_kwargs():
            return {"optimizer": ft.optimizers.SGD(0.05, momentum=0.9), "loss": SCCE,
                    "metrics": ["accuracy", ft.metrics.SparseTopKCategoricalAccuracy(2)],
                    "weighted_metrics": ["accuracy"]}
    else:
        def make_model():
            return ft.Sequential([ft.Input((8,)), ft.layers.Dense(16, kernel_regularizer="l2"),
                                  ft.layers.BatchNormalization(), ft.layers.Activation("relu"),
                                  ft.layers.Dense(3)])

        def compile_kwargs():
            return {"optimizer": "rmsprop", "loss": SCCE, "metrics": ["accuracy"]}
    eager, jit = fit_twice(make_model, compile_kwargs, fit_kwargs, x, y)
    assert_same_training(eager, jit)
    if case == "regularized-bn":  # the moving statistics are updated inside the graph too
        bn_eager, bn_jit = eager[0].layers[1], jit[0].layers[1]
        torch.testing.assert_close(bn_jit.running_var, bn_eager.running_var, rtol=1e-5, atol=1e-6)


def test_built_in_loss_metrics_and_optimizer_make_one_graph_without_breaks(regression_data):
    x, y = regression_data
    counters.clear()
    model = ft.Model(torch.nn.Linear(5, 1))
    model.compile(optimizer="adamw", loss="mse", metrics=["mae", "mse", "rmse", "mape"],
                  jit_compile=True)
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert not counters["graph_break"], list(counters["graph_break"])
    assert counters["stats"]["unique_graphs"] == 1
    assert model._compiled_train_step().calls == 2 * 4 - 1  # all but the first step


def test_partial_batches_run_eagerly_instead_of_recompiling(regression_data):
    x, y = regression_data  # 64 samples: batches of 24, 24 and 16
    counters.clear()
    model = ft.Model(torch.nn.Linear(5, 1))
    model.compile(optimizer="sgd", loss="mse", jit_compile=True)
    model.fit(x, y, batch_size=24, epochs=2, verbose=0)
    graphs = counters["stats"]["unique_graphs"]
    assert graphs == 1
    model.fit(x, y, batch_size=24, epochs=3, verbose=0)  # a second fit reuses the graph
    assert counters["stats"]["unique_graphs"] == graphs
    # Every full batch ran compiled but the first of each fit (its label check runs
    # eagerly); the batches of 16 ran eagerly.
    assert model._compiled_train_step().calls == 2 * 2 - 1 + 3 * 2 - 1


def test_changing_trainable_flags_rebuilds_the_graph(classification_data):
    x, y = classification_data
    model = classifier()
    model.compile(optimizer="sgd", loss=SCCE, jit_compile=True)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    first = model._compiled_train_step()
    frozen = model.module[0]
    for p in frozen.parameters():
        p.requires_grad_(False)
    before = frozen.weight.detach().clone()
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert model._compiled_train_step() is not first
    torch.testing.assert_close(frozen.weight, before, rtol=0, atol=0)


def test_torch_optimizer_step_goes_eager_once_its_rate_keeps_changing():
    p = torch.nn.Parameter(torch.ones(3))
    ref = torch.nn.Parameter(torch.ones(3))
    compiled = OptimizerStep(torch.optim.SGD([p], lr=0.1))
    eager = torch.optim.SGD([ref], lr=0.1)
    for i in range(5):
        for opt in (compiled.optimizer, eager):
            opt.param_groups[0]["lr"] = 0.1 / (i + 1)
        p.grad, ref.grad = torch.full((3,), 1.0), torch.full((3,), 1.0)
        compiled()
        eager.step()
        torch.testing.assert_close(p.detach(), ref.detach())
    assert compiled.compiled is None  # a per-step schedule: no recompile per new rate
    assert compiled.changes == 3


def test_mean_counts_on_the_device_inside_a_graph():
    mean = ft.metrics.Mean()
    mean.update_state(torch.tensor(2.0), sample_weight=4)  # eager: host count
    mean.prepare_for_tracing()

    @torch.compile(fullgraph=True, dynamic=False)
    def update(v):
        mean.update_state(v, sample_weight=4)

    counters.clear()
    for v in (4.0, 6.0, 8.0):
        update(torch.tensor(v))
    assert counters["stats"]["unique_graphs"] == 1
    assert mean.count == 4
    assert float(mean.result()) == pytest.approx((2 + 4 + 6 + 8) / 4)


def test_a_model_dynamo_cannot_compile_trains_eagerly_with_a_warning(regression_data):
    x, y = regression_data

    class Mutating(torch.nn.Module):  # mutates a captured tensor inside the grad transform
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(5, 1)
            self.seen = torch.zeros(1)

        def forward(self, x):
            out = self.linear(x)
            self.__dict__["seen"].add_(out.sum().detach())
            return out

    results = []
    for jit in (False, True):
        torch.manual_seed(0)
        model = ft.Model(Mutating())
        model.compile(optimizer="sgd", loss="mse", jit_compile=jit)
        if jit:
            with pytest.warns(UserWarning, match="could not be compiled"):
                history = model.fit(x, y, batch_size=16, epochs=2, verbose=0)
            assert model._compiled_train_step().calls == 0
        else:
            history = model.fit(x, y, batch_size=16, epochs=2, verbose=0)
        results.append(history.history["loss"])
    np.testing.assert_allclose(results[1], results[0], rtol=1e-6)


@pytest.mark.parametrize("threshold, expect_compiled", [(8, True), (9, False)])
def test_auto_compiles_only_fits_planning_enough_steps(monkeypatch, regression_data,
                                                       threshold, expect_compiled):
    monkeypatch.setattr(compiled_step, "AUTO_MIN_STEPS", threshold)
    x, y = regression_data
    model = ft.Model(torch.nn.Linear(5, 1))
    model.compile(optimizer="sgd", loss="mse")  # jit_compile="auto" is the default
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)  # 4 steps x 2 epochs planned
    graph = model._compiled_train_step()
    assert (graph is not None and graph.calls == 7) == expect_compiled
    eager = ft.Model(torch.nn.Linear(5, 1))
    eager.compile(optimizer="sgd", loss="mse", run_eagerly=True)
    eager.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert eager._compiled_train_step() is None


class TwoHeads(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.reg = torch.nn.Linear(5, 1)
        self.cls = torch.nn.Linear(5, 3)

    def forward(self, x):
        return {"reg": self.reg(x), "cls": self.cls(x)}


def test_multi_output_model_compiles_with_its_per_output_losses(regression_data):
    x, y_reg = regression_data
    y = {"reg": y_reg, "cls": (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 1)}

    def compile_kwargs():
        return {"optimizer": "adam", "loss": {"reg": "mse", "cls": SCCE},
                "loss_weights": {"reg": 0.5, "cls": 2.0}, "metrics": {"cls": ["accuracy"]}}

    counters.clear()
    eager, jit = fit_twice(lambda: ft.Model(TwoHeads()), compile_kwargs,
                           {"batch_size": 16, "epochs": 3}, x, y)
    assert {"reg_loss", "cls_loss", "cls_accuracy"} <= set(jit[1])
    assert_same_training(eager, jit)
    assert not counters["graph_break"]


def test_dropout_and_train_on_batch_run_through_the_graph(classification_data):
    x, y = classification_data
    counters.clear()
    model = ft.Model(mlp(dropout=0.3))
    model.compile(optimizer="adam", loss=SCCE, metrics=["accuracy"], jit_compile=True)
    history = model.fit(x[:96], y[:96], batch_size=32, epochs=6, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    graph = model._compiled_train_step()
    calls = graph.calls
    logs = model.train_on_batch(x[:32], y[:32], return_dict=True)
    assert graph.calls == calls + 1 and set(logs) == {"loss", "accuracy"}
    assert not counters["graph_break"]


def test_cuda_graph_bookkeeping_keeps_training_exact(regression_data):
    """The CUDA-graph path's Python (step marks, gradients released after the update),
    exercised on CPU: the results stay those of the eager step."""
    x, y = regression_data
    results = []
    for cuda_graphs in (None, True):
        torch.manual_seed(0)
        model = ft.Model(torch.nn.Linear(5, 1))
        model.compile(optimizer="adam", loss="mse", jit_compile=cuda_graphs is not None)
        model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
        if cuda_graphs:
            model._compiled_train_step().cuda_graphs = True
        model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        if cuda_graphs:
            assert all(p.grad is None for p in model.parameters())
        results.append(model.get_weights())
    for a, b in zip(*results, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


def _task_data(task: str):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(96, 6)).astype(np.float32)
    if task == "binary":
        return x, (x[:, 0] > 0).astype(np.float32)[:, None], 1
    if task in ("sparse", "categorical"):
        labels = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5)
        return x, (np.eye(3, dtype=np.float32)[labels] if task == "categorical" else labels), 3
    return x, np.abs(x[:, :1] * 2 + 1).astype(np.float32), 1


TASKS = {
    "binary": ("binary_crossentropy", ["accuracy", "binary_accuracy", "binary_crossentropy",
                                       "auc", "precision", "recall", "TruePositives",
                                       "TrueNegatives", "FalsePositives", "FalseNegatives"]),
    "sparse": (SCCE, ["accuracy", "sparse_categorical_accuracy",
                      "sparse_categorical_crossentropy", "sparse_top_k_categorical_accuracy"]),
    "categorical": (ft.losses.CategoricalCrossentropy(from_logits=True),
                    ["categorical_accuracy", "categorical_crossentropy",
                     "top_k_categorical_accuracy"]),
    "regression": ("mse", ["mse", "mae", "mape", "msle", "rmse"]),
}


@pytest.mark.parametrize("task", list(TASKS))
def test_every_built_in_metric_updates_inside_one_graph(task):
    x, y, outputs = _task_data(task)
    loss, metrics = TASKS[task]

    def make_model():
        layers = [torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, outputs)]
        return ft.Model(torch.nn.Sequential(*layers, *(
            [torch.nn.Sigmoid()] if task == "binary" else [])))

    counters.clear()
    eager, jit = fit_twice(make_model, lambda: {"optimizer": "adam", "loss": loss,
                                                "metrics": metrics},
                           {"batch_size": 16, "epochs": 2}, x, y)
    assert_same_training(eager, jit)
    assert counters["stats"]["unique_graphs"] == 1
    assert not counters["graph_break"], list(counters["graph_break"])


class BatchCount(ft.metrics.Metric):  # Python state: must stay out of the graph
    _state_attrs = ("n",)

    def __init__(self):
        super().__init__("batches")
        self.n = 0

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.n += 1

    def result(self):
        return torch.tensor(float(self.n))


def test_metrics_with_python_state_are_updated_outside_the_graph(classification_data):
    torchmetrics = pytest.importorskip("torchmetrics")
    x, y = classification_data

    def compile_kwargs():
        return {"optimizer": "sgd", "loss": SCCE, "metrics": [
            "accuracy", BatchCount(), torchmetrics.Accuracy(task="multiclass", num_classes=3)]}

    counters.clear()
    eager, jit = fit_twice(classifier, compile_kwargs, {"batch_size": 16, "epochs": 2}, x, y)
    assert not BatchCount.traceable and ft.metrics.Mean.traceable
    assert jit[1]["batches"] == [7.0, 7.0]
    assert_same_training(eager, jit)
    assert counters["stats"]["unique_graphs"] == 1
