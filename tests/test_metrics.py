"""`fitorch.metrics` against Keras 3's own metrics (torch backend), on the same random data."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras
from keras.src.trainers import compile_utils
from keras.src.utils.naming import to_snake_case

from fitorch import metrics as fm
from fitorch.metrics._utils import _to_snake_case

RTOL = 1e-5
ATOL = 1e-6  # for results near 0, where a relative tolerance means nothing

Pair = tuple[np.ndarray, np.ndarray]
Gen = Callable[[np.random.Generator, int], Pair]


# ------------------------------------------------------------------------ data


def _binary(shape: tuple[int, ...]) -> Gen:
    def gen(rng: np.random.Generator, n: int) -> Pair:
        y_true = rng.integers(0, 2, (n, *shape)).astype("float32")
        y_pred = rng.random((n, *shape)).astype("float32")
        # Exact 0, 1 and threshold values exercise the strict `>` and the end buckets.
        y_pred.reshape(-1)[:3] = [0.0, 1.0, 0.5]
        return y_true, y_pred

    return gen


def _binary_logits(shape: tuple[int, ...]) -> Gen:
    def gen(rng: np.random.Generator, n: int) -> Pair:
        y_true = rng.integers(0, 2, (n, *shape)).astype("float32")
        return y_true, (2 * rng.standard_normal((n, *shape))).astype("float32")

    return gen


def _onehot(classes: int, logits: bool = False) -> Gen:
    def gen(rng: np.random.Generator, n: int) -> Pair:
        y_true = np.eye(classes, dtype="float32")[rng.integers(0, classes, n)]
        if logits:
            return y_true, rng.standard_normal((n, classes)).astype("float32")
        return y_true, rng.random((n, classes)).astype("float32") + 0.01

    return gen


def _sparse(classes: int, column: bool, logits: bool = False) -> Gen:
    def gen(rng: np.random.Generator, n: int) -> Pair:
        y_true = rng.integers(0, classes, (n, 1) if column else (n,)).astype("float32")
        if logits:
            return y_true, rng.standard_normal((n, classes)).astype("float32")
        return y_true, rng.random((n, classes)).astype("float32") + 0.01

    return gen


def _sorted_ids(classes: int) -> Gen:
    def gen(rng: np.random.Generator, n: int) -> Pair:
        y_true = rng.integers(0, classes, (n,)).astype("int32")
        scores = rng.random((n, classes))
        return y_true, np.argsort(-scores, axis=-1).astype("int32")

    return gen


def _regression(shape: tuple[int, ...], positive: bool = False) -> Gen:
    def gen(rng: np.random.Generator, n: int) -> Pair:
        if positive:
            return (
                (rng.random((n, *shape)) * 3 + 0.1).astype("float32"),
                (rng.random((n, *shape)) * 3).astype("float32"),
            )
        return (
            rng.standard_normal((n, *shape)).astype("float32"),
            rng.standard_normal((n, *shape)).astype("float32"),
        )

    return gen


def _equal_ints(shape: tuple[int, ...]) -> Gen:
    def gen(rng: np.random.Generator, n: int) -> Pair:
        return (
            rng.integers(0, 3, (n, *shape)).astype("float32"),
            rng.integers(0, 3, (n, *shape)).astype("float32"),
        )

    return gen


def _weights(mode: str, rng: np.random.Generator, n: int) -> Any:
    if mode == "none":
        return None
    if mode == "scalar":
        return 0.5 + float(rng.random())
    w = rng.random(n).astype("float32")
    w[0] = 0.0  # a masked sample
    return w if mode == "vector" else w[:, None]


def _torch(x: Any) -> Any:
    return torch.from_numpy(x) if isinstance(x, np.ndarray) else x


def _np(x: Any) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(x))


def _compare(keras_metric: Any, ours: fm.Metric, gen: Gen, weights: str, seed: int = 0) -> None:
    """Two rounds of several batches, each ending with result() and reset_state()."""
    rng = np.random.default_rng(seed)
    for sizes in ((5, 8, 3), (7, 4)):
        for n in sizes:
            y_true, y_pred = gen(rng, n)
            w = _weights(weights, rng, n)
            keras_metric.update_state(y_true, y_pred, sample_weight=w)
            ours.update_state(_torch(y_true), _torch(y_pred), sample_weight=_torch(w))
        expected = _np(keras_metric.result())
        got = ours.result()
        assert isinstance(got, torch.Tensor)
        np.testing.assert_allclose(got.numpy(), expected, rtol=RTOL, atol=ATOL)
        keras_metric.reset_state()
        ours.reset_state()
        np.testing.assert_allclose(ours.result().numpy(), 0.0)


# ------------------------------------------------------- mean-based metric classes

K = keras.metrics
WEIGHTS = ("none", "vector", "column", "scalar")

MEAN_CASES: list[tuple[str, Callable[[], Any], Callable[[], fm.Metric], Gen]] = [
    ("accuracy-N1", K.Accuracy, fm.Accuracy, _equal_ints((1,))),
    ("accuracy-N", K.Accuracy, fm.Accuracy, _equal_ints(())),
    ("binary_acc-N", K.BinaryAccuracy, fm.BinaryAccuracy, _binary(())),
    ("binary_acc-N1", K.BinaryAccuracy, fm.BinaryAccuracy, _binary((1,))),
    ("binary_acc-NC", K.BinaryAccuracy, fm.BinaryAccuracy, _binary((3,))),
    (
        "binary_acc-threshold",
        lambda: K.BinaryAccuracy(threshold=0.7),
        lambda: fm.BinaryAccuracy(threshold=0.7),
        _binary((1,)),
    ),
    ("categorical_acc", K.CategoricalAccuracy, fm.CategoricalAccuracy, _onehot(4)),
    ("sparse_acc-N", K.SparseCategoricalAccuracy, fm.SparseCategoricalAccuracy, _sparse(4, False)),
    ("sparse_acc-N1", K.SparseCategoricalAccuracy, fm.SparseCategoricalAccuracy, _sparse(4, True)),
    (
        "top_k-2",
        lambda: K.TopKCategoricalAccuracy(k=2),
        lambda: fm.TopKCategoricalAccuracy(k=2),
        _onehot(4),
    ),
    ("top_k-default", K.TopKCategoricalAccuracy, fm.TopKCategoricalAccuracy, _onehot(7)),
    (
        "sparse_top_k-N",
        lambda: K.SparseTopKCategoricalAccuracy(k=2),
        lambda: fm.SparseTopKCategoricalAccuracy(k=2),
        _sparse(4, False),
    ),
    (
        "sparse_top_k-N1",
        lambda: K.SparseTopKCategoricalAccuracy(k=3),
        lambda: fm.SparseTopKCategoricalAccuracy(k=3),
        _sparse(5, True),
    ),
    (
        "sparse_top_k-sorted_ids",
        lambda: K.SparseTopKCategoricalAccuracy(k=2, from_sorted_ids=True),
        lambda: fm.SparseTopKCategoricalAccuracy(k=2, from_sorted_ids=True),
        _sorted_ids(5),
    ),
    ("mse-N1", K.MeanSquaredError, fm.MeanSquaredError, _regression((1,))),
    ("mse-NC", K.MeanSquaredError, fm.MeanSquaredError, _regression((3,))),
    ("mae-N1", K.MeanAbsoluteError, fm.MeanAbsoluteError, _regression((1,))),
    ("mae-NC", K.MeanAbsoluteError, fm.MeanAbsoluteError, _regression((3,))),
    ("rmse-N1", K.RootMeanSquaredError, fm.RootMeanSquaredError, _regression((1,))),
    ("rmse-NC", K.RootMeanSquaredError, fm.RootMeanSquaredError, _regression((3,))),
    ("rmse-N", K.RootMeanSquaredError, fm.RootMeanSquaredError, _regression(())),
    (
        "mape-NC",
        K.MeanAbsolutePercentageError,
        fm.MeanAbsolutePercentageError,
        _regression((3,), positive=True),
    ),
    (
        "msle-NC",
        K.MeanSquaredLogarithmicError,
        fm.MeanSquaredLogarithmicError,
        _regression((3,), positive=True),
    ),
    ("bce-N1", K.BinaryCrossentropy, fm.BinaryCrossentropy, _binary((1,))),
    ("bce-NC", K.BinaryCrossentropy, fm.BinaryCrossentropy, _binary((3,))),
    (
        "bce-logits-smoothing",
        lambda: K.BinaryCrossentropy(from_logits=True, label_smoothing=0.1),
        lambda: fm.BinaryCrossentropy(from_logits=True, label_smoothing=0.1),
        _binary_logits((2,)),
    ),
    ("cce", K.CategoricalCrossentropy, fm.CategoricalCrossentropy, _onehot(4)),
    (
        "cce-logits-smoothing",
        lambda: K.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2),
        lambda: fm.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2),
        _onehot(4, logits=True),
    ),
    (
        "scce-N",
        K.SparseCategoricalCrossentropy,
        fm.SparseCategoricalCrossentropy,
        _sparse(4, False),
    ),
    (
        "scce-N1-logits",
        lambda: K.SparseCategoricalCrossentropy(from_logits=True),
        lambda: fm.SparseCategoricalCrossentropy(from_logits=True),
        _sparse(4, True, logits=True),
    ),
]


@pytest.mark.parametrize("weights", WEIGHTS)
@pytest.mark.parametrize(
    ("make_keras", "make_ours", "gen"),
    [case[1:] for case in MEAN_CASES],
    ids=[case[0] for case in MEAN_CASES],
)
def test_mean_metrics_match_keras(
    make_keras: Callable[[], Any], make_ours: Callable[[], fm.Metric], gen: Gen, weights: str
) -> None:
    _compare(make_keras(), make_ours(), gen, weights)


class _OnesWeighted:
    """A Keras metric fed all-ones weights when given none."""

    def __init__(self, metric: Any) -> None:
        self.metric = metric

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        if sample_weight is None:
            sample_weight = np.ones(len(y_true), dtype="float32")
        self.metric.update_state(y_true, y_pred, sample_weight=sample_weight)

    def result(self) -> Any:
        return self.metric.result()

    def reset_state(self) -> None:
        self.metric.reset_state()


@pytest.mark.parametrize("weights", ["none", "vector", "column"])
def test_sparse_crossentropy_ignore_class_excludes_the_class(weights: str) -> None:
    # Keras drops ignored entries from the mean only when sample weights are given
    # (unweighted, they count as zeros, unlike its loss); they never count here.
    # (Keras fails on a scalar weight with ignore_class.)
    keras_metric = _OnesWeighted(K.SparseCategoricalCrossentropy(from_logits=True, ignore_class=1))
    ours = fm.SparseCategoricalCrossentropy(from_logits=True, ignore_class=1)
    _compare(keras_metric, ours, _sparse(3, False, logits=True), weights)


def test_regression_on_rank_1_targets_treats_the_batch_as_one_sample_like_keras() -> None:
    # Keras averages over the last axis: (N,) targets give one value per batch.
    _compare(K.MeanSquaredError(), fm.MeanSquaredError(), _regression(()), "none")
    _compare(K.MeanAbsoluteError(), fm.MeanAbsoluteError(), _regression(()), "none")
    with pytest.raises(ValueError, match=r"sample_weight\.shape=\(4,\)"):
        fm.MeanSquaredError().update_state(torch.zeros(4), torch.ones(4), torch.ones(4))


# ------------------------------------------------------------------- Mean and Sum


@pytest.mark.parametrize(
    ("values_shape", "weight"),
    [
        ((), None),
        ((6,), None),
        ((6, 3), None),
        ((6,), "vector"),
        ((6, 1), "vector"),
        ((6, 3), "vector"),
        ((6, 3), "column"),
        ((6, 3), "full"),
        ((6,), "column"),
        ((6, 3), "scalar"),
        ((), "scalar"),
        ((6,), "tensor-scalar"),
    ],
)
@pytest.mark.parametrize("kind", ["Mean", "Sum"])
def test_mean_and_sum_match_keras(values_shape: tuple[int, ...], weight: Any, kind: str) -> None:
    rng = np.random.default_rng(1)
    keras_metric, ours = getattr(K, kind)(), getattr(fm, kind)()
    for _ in range(2):
        for _ in range(3):
            values = rng.standard_normal(values_shape).astype("float32")
            w: Any = None
            if weight == "vector":
                w = rng.random(6).astype("float32")
            elif weight == "column":
                w = rng.random((6, 1)).astype("float32")
            elif weight == "full":
                w = rng.random((6, 3)).astype("float32")
            elif weight == "scalar":
                w = int(rng.integers(1, 5))
            elif weight == "tensor-scalar":
                w = np.float32(rng.random())
            keras_metric.update_state(values, sample_weight=w)
            tw = torch.tensor(w) if isinstance(w, np.float32) else _torch(w)
            ours.update_state(torch.from_numpy(values), sample_weight=tw)
        np.testing.assert_allclose(
            ours.result().numpy(), _np(keras_metric.result()), rtol=RTOL, atol=ATOL
        )
        keras_metric.reset_state()
        ours.reset_state()


def test_mean_keeps_a_python_count_for_python_weights() -> None:
    m = fm.Mean()
    for loss, batch in [(2.0, 32), (4.0, 16), (1.0, 7)]:
        m.update_state(torch.tensor(loss), sample_weight=batch)
        assert type(m.count) in (int, float)
        assert isinstance(m.total, torch.Tensor)
        assert m.weight_count is None
    assert m.count == 55
    result = m.result()
    assert isinstance(result, torch.Tensor) and result.ndim == 0
    torch.testing.assert_close(result, torch.tensor((2.0 * 32 + 4.0 * 16 + 1.0 * 7) / 55))


def test_mean_mixes_python_and_tensor_weights() -> None:
    m, k = fm.Mean(), K.Mean()
    m.update_state(torch.tensor([1.0, 2.0]), sample_weight=torch.tensor([1.0, 3.0]))
    m.update_state(torch.tensor(5.0), sample_weight=2)
    k.update_state(np.array([1.0, 2.0]), sample_weight=np.array([1.0, 3.0]))
    k.update_state(np.array(5.0), sample_weight=2)
    assert isinstance(m.weight_count, torch.Tensor) and m.count == 2
    np.testing.assert_allclose(m.result().numpy(), _np(k.result()), rtol=RTOL)


def test_metrics_do_not_build_an_autograd_graph() -> None:
    w = torch.ones(3, requires_grad=True)
    loss = (w * 2).sum()
    m = fm.Mean()
    m.update_state(loss, sample_weight=3)
    mae = fm.MeanAbsoluteError()
    mae.update_state(torch.zeros(3, 1), (w * 3).unsqueeze(-1))
    for metric in (m, mae):
        assert metric.total is not None and not metric.total.requires_grad
        assert not metric.result().requires_grad


# ----------------------------------------------------------------- no host syncs


class _SyncError(AssertionError):
    pass


@pytest.fixture
def forbid_syncs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every Python-level tensor -> host conversion raise."""

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise _SyncError("host sync in a per-step path")

    for name in ("item", "tolist", "numpy", "__bool__", "__float__", "__int__", "__index__"):
        monkeypatch.setattr(torch.Tensor, name, boom)


def _no_sync_cases() -> list[tuple[str, Callable[[], fm.Metric], Gen, str]]:
    return [
        ("Mean", fm.Mean, _regression(()), "values"),
        ("SparseCategoricalAccuracy", fm.SparseCategoricalAccuracy, _sparse(4, True), "pair"),
        (
            "MeanMetricWrapper",
            lambda: fm.MeanMetricWrapper(lambda t, p: (t - p).abs()),
            _regression((1,)),
            "pair",
        ),
        ("BinaryAccuracy", fm.BinaryAccuracy, _binary((1,)), "pair"),
        ("CategoricalAccuracy", fm.CategoricalAccuracy, _onehot(4), "pair"),
        ("TopK", fm.TopKCategoricalAccuracy, _onehot(6), "pair"),
        ("RMSE", fm.RootMeanSquaredError, _regression((1,)), "pair"),
        ("BCE", fm.BinaryCrossentropy, _binary((1,)), "pair"),
        (
            "SCCE",
            lambda: fm.SparseCategoricalCrossentropy(ignore_class=0),
            _sparse(4, False),
            "pair",
        ),
        ("AUC", fm.AUC, _binary((1,)), "pair"),
        ("AUC-multi", lambda: fm.AUC(multi_label=True, curve="PR"), _binary((3,)), "pair"),
        ("Precision", fm.Precision, _binary((1,)), "pair"),
        ("Recall-top_k", lambda: fm.Recall(top_k=2), _onehot(4), "pair"),
        ("Accuracy-inferred", lambda: fm.get("accuracy"), _sparse(3, False), "pair"),
    ]


@pytest.mark.parametrize(
    ("make", "gen", "call"),
    [case[1:] for case in _no_sync_cases()],
    ids=[case[0] for case in _no_sync_cases()],
)
@pytest.mark.parametrize("weights", ["none", "python", "tensor"])
def test_update_and_result_never_sync(
    forbid_syncs: None, make: Callable[[], fm.Metric], gen: Gen, call: str, weights: str
) -> None:
    rng = np.random.default_rng(2)
    metric = make()
    for n in (4, 6):
        y_true, y_pred = (torch.from_numpy(a) for a in gen(rng, n))
        w: Any = {"none": None, "python": 3, "tensor": torch.rand(n)}[weights]
        if call == "values":
            metric.update_state(y_pred, sample_weight=w)  # type: ignore[call-arg]
        else:
            metric.update_state(y_true, y_pred, sample_weight=w)
        result = metric.result()
        assert isinstance(result, torch.Tensor)
    if isinstance(metric, fm.Mean) and weights != "tensor" and not hasattr(metric, "ignore_class"):
        # Host-side counts: no tensor op, no sync for the count.
        assert type(metric.count) in (int, float) and metric.weight_count is None


def test_the_sync_detector_detects_syncs(forbid_syncs: None) -> None:
    with pytest.raises(_SyncError):
        float(torch.tensor(1.0))
    with pytest.raises(_SyncError):
        torch.tensor(1.0).item()


# ---------------------------------------------------------------- confusion metrics

CONFUSION_CASES: list[tuple[str, Callable[[], Any], Callable[[], fm.Metric], Gen]] = []


def _add(name: str, cls: str, gen: Gen, **kwargs: Any) -> None:
    CONFUSION_CASES.append(
        (name, lambda: getattr(K, cls)(**kwargs), lambda: getattr(fm, cls)(**kwargs), gen)
    )


for _curve in ("ROC", "PR", "PRGAIN"):
    for _method in ("interpolation", "majoring", "minoring"):
        _add(
            f"auc-{_curve}-{_method}", "AUC", _binary((1,)), curve=_curve, summation_method=_method
        )
_add("auc-N", "AUC", _binary(()))
_add("auc-7-thresholds", "AUC", _binary((1,)), num_thresholds=7)
_add("auc-uneven-thresholds", "AUC", _binary((1,)), thresholds=[0.3, 0.1, 0.55, 0.9])
_add("auc-even-thresholds", "AUC", _binary((1,)), thresholds=[0.25, 0.5, 0.75])
_add("auc-logits", "AUC", _binary_logits((1,)), from_logits=True)
_add("auc-pooled-NC", "AUC", _binary((3,)))
_add("auc-label_weights", "AUC", _binary((3,)), label_weights=[0.2, 1.0, 0.5])
_add("auc-multi", "AUC", _binary((3,)), multi_label=True)
_add("auc-multi-pr", "AUC", _binary((3,)), multi_label=True, curve="PR")
_add(
    "auc-multi-label_weights",
    "AUC",
    _binary((3,)),
    multi_label=True,
    num_labels=3,
    label_weights=[0.2, 1.0, 0.5],
)
_add(
    "auc-multi-uneven",
    "AUC",
    _binary((3,)),
    multi_label=True,
    curve="PR",
    summation_method="minoring",
    thresholds=[0.2, 0.45, 0.8],
)
for _cls in ("Precision", "Recall"):
    _add(f"{_cls}-default", _cls, _binary((1,)))
    _add(f"{_cls}-N", _cls, _binary(()))
    _add(f"{_cls}-threshold", _cls, _binary((3,)), thresholds=0.3)
    _add(f"{_cls}-thresholds", _cls, _binary((1,)), thresholds=[0.2, 0.5, 0.8, 0.9])
    _add(f"{_cls}-even-thresholds", _cls, _binary((1,)), thresholds=[0.0, 0.5, 1.0])
    _add(f"{_cls}-top_k", _cls, _onehot(5), top_k=2)
    _add(f"{_cls}-class_id", _cls, _onehot(5), class_id=2)
    _add(f"{_cls}-top_k-class_id", _cls, _onehot(5), top_k=2, class_id=1)
for _cls in ("TruePositives", "FalsePositives", "TrueNegatives", "FalseNegatives"):
    _add(f"{_cls}-default", _cls, _binary((1,)))
    _add(f"{_cls}-thresholds", _cls, _binary((3,)), thresholds=[0.0, 0.25, 0.5, 0.75, 1.0])


@pytest.mark.parametrize("weights", WEIGHTS)
@pytest.mark.parametrize(
    ("make_keras", "make_ours", "gen"),
    [case[1:] for case in CONFUSION_CASES],
    ids=[case[0] for case in CONFUSION_CASES],
)
def test_confusion_metrics_match_keras(
    make_keras: Callable[[], Any], make_ours: Callable[[], fm.Metric], gen: Gen, weights: str
) -> None:
    rank_1 = gen(np.random.default_rng(0), 5)[1].ndim == 1
    if rank_1 and weights == "column":
        # (N, 1) weights do not fit (N,) predictions: Keras fails, and so do we, clearly.
        y_true, y_pred = (torch.from_numpy(a) for a in gen(np.random.default_rng(0), 5))
        with pytest.raises(RuntimeError):
            make_keras().update_state(y_true.numpy(), y_pred.numpy(), np.ones((5, 1)))
        with pytest.raises(ValueError, match=r"sample_weight\.shape=\(5, 1, 1\)"):
            make_ours().update_state(y_true, y_pred, sample_weight=torch.ones(5, 1))
        return
    _compare(make_keras(), make_ours(), gen, weights)


def test_auc_thresholds_and_validation() -> None:
    assert fm.AUC(num_thresholds=4).thresholds == pytest.approx(K.AUC(num_thresholds=4).thresholds)
    assert fm.AUC(thresholds=[0.7, 0.2]).thresholds == pytest.approx(
        K.AUC(thresholds=[0.7, 0.2]).thresholds
    )
    with pytest.raises(ValueError, match=r"\['ROC', 'PR', 'PRGAIN'\].*curve='bad'"):
        fm.AUC(curve="bad")
    with pytest.raises(ValueError, match=r"summation_method='sum'"):
        fm.AUC(summation_method="sum")
    with pytest.raises(ValueError, match=r"num_thresholds=1"):
        fm.AUC(num_thresholds=1)
    with pytest.raises(ValueError, match="multi_label"):
        fm.AUC(num_labels=3)
    with pytest.raises(ValueError, match="rank 2"):
        fm.AUC(multi_label=True).update_state(torch.ones(4), torch.rand(4))
    with pytest.raises(ValueError, match=r"\(num_samples, 3\).*y_pred\.shape=\(4, 2\)"):
        fm.AUC(multi_label=True, num_labels=3).update_state(torch.ones(4, 2), torch.rand(4, 2))
    with pytest.raises(ValueError, match=r"invalid: \[1\.5\]"):
        fm.Precision(thresholds=[0.5, 1.5])
    with pytest.raises(ValueError, match="class_id"):
        fm.Recall(class_id=0).update_state(torch.ones(4), torch.rand(4))


# ------------------------------------------------------------------------- naming

# (identifier, y_true, model output units + activation, loss)
_BINARY_SETUP = ("binary", 1)
NAME_CASES = [
    ("binary_accuracy", "binary"),
    ("BinaryAccuracy", "binary"),
    ("categorical_accuracy", "onehot"),
    ("sparse_categorical_accuracy", "sparse"),
    ("top_k_categorical_accuracy", "onehot"),
    ("sparse_top_k_categorical_accuracy", "sparse"),
    ("mae", "binary"),
    ("MAE", "binary"),
    ("mean_absolute_error", "binary"),
    ("MeanAbsoluteError", "binary"),
    ("mse", "binary"),
    ("mean_squared_error", "binary"),
    ("mape", "binary"),
    ("msle", "binary"),
    ("root_mean_squared_error", "binary"),
    ("RootMeanSquaredError", "binary"),
    ("auc", "binary"),
    ("AUC", "binary"),
    ("precision", "binary"),
    ("recall", "binary"),
    ("true_positives", "binary"),
    ("binary_crossentropy", "binary"),
    ("bce", "binary"),
    ("categorical_crossentropy", "onehot"),
    ("CategoricalCrossentropy", "onehot"),
    ("sparse_categorical_crossentropy", "sparse"),
    ("accuracy", "binary"),
    ("acc", "sparse"),
    ("Accuracy", "onehot"),
]


def _keras_log_keys(identifier: str, setup: str) -> list[str]:
    rng = np.random.default_rng(3)
    x = rng.random((16, 3)).astype("float32")
    if setup == "binary":
        units, activation, loss = 1, "sigmoid", "mse"
        y = rng.integers(0, 2, (16, 1)).astype("float32")
    elif setup == "onehot":
        units, activation, loss = 6, "softmax", "categorical_crossentropy"
        y = np.eye(6, dtype="float32")[rng.integers(0, 6, 16)]
    else:
        units, activation, loss = 6, "softmax", "sparse_categorical_crossentropy"
        y = rng.integers(0, 6, (16,)).astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(units, activation=activation)])
    model.compile(optimizer="sgd", loss=loss, metrics=[identifier])
    logs = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    return sorted(logs)


@pytest.mark.parametrize(("identifier", "setup"), NAME_CASES)
def test_get_names_metrics_by_keras_log_key(identifier: str, setup: str) -> None:
    metric = fm.get(identifier)
    assert sorted(["loss", metric.name]) == _keras_log_keys(identifier, setup)


@pytest.mark.parametrize(
    "identifier",
    [
        "binary_accuracy",
        "categorical_accuracy",
        "sparse_categorical_accuracy",
        "top_k_categorical_accuracy",
        "sparse_top_k_categorical_accuracy",
        "mae",
        "MAE",
        "mse",
        "MSE",
        "mape",
        "MAPE",
        "msle",
        "MSLE",
        "root_mean_squared_error",
        "auc",
        "precision",
        "recall",
        "bce",
        "BCE",
        "binary_crossentropy",
        "categorical_crossentropy",
        "sparse_categorical_crossentropy",
        "MeanAbsoluteError",
        "SparseCategoricalCrossentropy",
        "TopKCategoricalAccuracy",
        "FalseNegatives",
    ],
)
def test_get_resolves_the_keras_class(identifier: str) -> None:
    keras_metric = compile_utils.get_metric(identifier, None, None)
    ours = fm.get(identifier)
    assert type(ours).__name__ == type(keras_metric).__name__
    assert ours.name == keras_metric.name == identifier


def test_get_accepts_rmse_as_an_extension() -> None:
    m = fm.get("rmse")
    assert isinstance(m, fm.RootMeanSquaredError) and m.name == "rmse"


def test_get_returns_instances_and_wraps_functions() -> None:
    auc = fm.AUC(name="my_auc")
    assert fm.get(auc) is auc
    by_class = fm.get(fm.Precision)
    assert isinstance(by_class, fm.Precision) and by_class.name == "precision"

    def MyError(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        return (y_true - y_pred).abs()

    wrapped = fm.get(MyError)
    assert isinstance(wrapped, fm.MeanMetricWrapper)
    # Keras names a function metric by its snake-cased __name__.
    assert wrapped.name == compile_utils.get_metric(MyError, None, None).name == "my_error"
    wrapped.update_state(torch.tensor([[1.0], [2.0]]), torch.tensor([[1.5], [2.0]]))
    torch.testing.assert_close(wrapped.result(), torch.tensor(0.25))
    assert fm.get(lambda t, p: t).name == "lambda"


def test_default_names_are_keras_defaults() -> None:
    checked = 0
    for name in fm.__all__:
        obj = getattr(fm, name)
        if not isinstance(obj, type) or not issubclass(obj, fm.Metric):
            continue
        if name in ("Metric", "MeanMetricWrapper", "InferredAccuracy", "TorchMetricsWrapper"):
            continue
        default = inspect.signature(getattr(K, name).__init__).parameters["name"].default
        # name=None makes Keras snake-case the class name (and number repeats: auc_1, ...).
        assert obj().name == (default or to_snake_case(name)), name
        checked += 1
    assert checked == 29


def test_snake_case_matches_keras() -> None:
    for name in [
        "TopKCategoricalAccuracy",
        "MulticlassAccuracy",
        "AUC",
        "BinaryIoU",
        "MyF1Score",
        "<lambda>",
        "already_snake",
        "HTTPError",
    ]:
        assert _to_snake_case(name) == to_snake_case(name)
    rng = np.random.default_rng(7)
    alphabet = list("AaBbKkXYZxyz_09<> ")
    for _ in range(2000):
        name = "".join(rng.choice(alphabet, size=int(rng.integers(0, 12))))
        assert _to_snake_case(name) == to_snake_case(name), name


# ----------------------------------------------------------------------- errors


def test_get_errors() -> None:
    with pytest.raises(
        ValueError, match=r"Expected one of \[.*'mae'.*\]\. Received: identifier='maee'"
    ):
        fm.get("maee")
    with pytest.raises(ValueError, match="identifier=None"):
        fm.get(None)
    with pytest.raises(TypeError, match=r"Received: identifier=3 \(of type int\)"):
        fm.get(3)
    with pytest.raises(TypeError, match=r"of type type"):
        fm.get(dict)


def test_argument_errors() -> None:
    with pytest.raises(TypeError, match=r"name=3 \(of type int\)"):
        fm.Mean(name=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"dtype='int32'"):
        fm.Mean(dtype="int32")
    with pytest.raises(TypeError, match=r"fn=3"):
        fm.MeanMetricWrapper(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"sample_weight\.shape=\(3,\)"):
        fm.MeanAbsoluteError().update_state(torch.ones(4, 2), torch.ones(4, 2), torch.ones(3))
    with pytest.raises(ValueError, match=r"y_true\.shape=\(4, 3\), y_pred\.shape=\(4, 2\)"):
        fm.BinaryCrossentropy().update_state(torch.ones(4, 3), torch.rand(4, 2))
    with pytest.raises(ValueError, match="SparseCategoricalCrossentropy"):
        fm.CategoricalCrossentropy().update_state(torch.ones(4), torch.rand(4, 3))
    with pytest.raises(ValueError, match=r"y_true\.shape=\(4, 3\)"):
        fm.SparseCategoricalCrossentropy().update_state(torch.ones(4, 3), torch.rand(4, 3))
    with pytest.raises(ValueError, match="keys"):
        fm.Mean().load_state_dict({"total": torch.zeros(())})


def test_bce_accepts_rank_1_labels_against_a_unit_axis() -> None:
    # Keras raises here; reconciling the ranks gives the value of matching shapes.
    y_true = torch.tensor([1.0, 0.0, 1.0])
    y_pred = torch.tensor([[0.8], [0.3], [0.4]])
    ours, ref = fm.BinaryCrossentropy(), K.BinaryCrossentropy()
    ours.update_state(y_true, y_pred)
    ref.update_state(y_true.numpy()[:, None], y_pred.numpy())
    np.testing.assert_allclose(ours.result().numpy(), _np(ref.result()), rtol=RTOL)


def test_top_k_larger_than_classes_counts_every_label() -> None:
    # Keras's torch backend raises for k > num_classes; every target is in the top k.
    m = fm.SparseTopKCategoricalAccuracy(k=5)
    m.update_state(torch.tensor([0, 2]), torch.rand(2, 3))
    torch.testing.assert_close(m.result(), torch.tensor(1.0))


# ------------------------------------------------------------- state and devices


def _all_metrics() -> list[fm.Metric]:
    return [
        fm.Mean(),
        fm.Sum(),
        fm.Accuracy(),
        fm.BinaryAccuracy(),
        fm.CategoricalAccuracy(),
        fm.SparseCategoricalAccuracy(),
        fm.TopKCategoricalAccuracy(),
        fm.SparseTopKCategoricalAccuracy(),
        fm.MeanAbsoluteError(),
        fm.MeanSquaredError(),
        fm.RootMeanSquaredError(),
        fm.MeanAbsolutePercentageError(),
        fm.MeanSquaredLogarithmicError(),
        fm.BinaryCrossentropy(),
        fm.CategoricalCrossentropy(),
        fm.SparseCategoricalCrossentropy(),
        fm.AUC(),
        fm.AUC(multi_label=True),
        fm.Precision(),
        fm.Recall(thresholds=[0.2, 0.6]),
        fm.TruePositives(),
        fm.InferredAccuracy(),
    ]


def test_result_before_any_update_is_zero() -> None:
    for metric in _all_metrics():
        result = metric.result()
        assert isinstance(result, torch.Tensor)
        np.testing.assert_array_equal(result.numpy(), 0.0)


def _feed(metric: fm.Metric, rng: np.random.Generator, n: int) -> None:
    if type(metric) in (fm.Mean, fm.Sum):
        values, w = (torch.from_numpy(rng.random(n).astype("float32")) for _ in range(2))
        metric.update_state(values, sample_weight=w)  # type: ignore[call-arg]
        return
    if isinstance(
        metric, (fm.CategoricalAccuracy, fm.TopKCategoricalAccuracy, fm.CategoricalCrossentropy)
    ):
        y_true, y_pred = _onehot(6)(rng, n)
    elif isinstance(
        metric,
        (
            fm.SparseCategoricalAccuracy,
            fm.SparseTopKCategoricalAccuracy,
            fm.SparseCategoricalCrossentropy,
        ),
    ):
        y_true, y_pred = _sparse(6, False)(rng, n)
    else:
        y_true, y_pred = _binary((3,))(rng, n)
    w = torch.from_numpy(rng.random(n).astype("float32"))
    metric.update_state(torch.from_numpy(y_true), torch.from_numpy(y_pred), sample_weight=w)


@pytest.mark.parametrize("index", range(len(_all_metrics())))
def test_state_dict_resumes_exactly_and_reset_is_in_place(index: int) -> None:
    rng = np.random.default_rng(4)
    first, second = _all_metrics()[index], _all_metrics()[index]
    _feed(first, rng, 6)
    second.load_state_dict(first.state_dict())
    torch.testing.assert_close(second.result(), first.result(), rtol=0, atol=0)
    # Both continue identically from the restored state.
    state = rng.bit_generator.state
    _feed(first, rng, 5)
    rng.bit_generator.state = state
    _feed(second, rng, 5)
    torch.testing.assert_close(second.result(), first.result(), rtol=0, atol=0)
    # state_dict is a copy: updating the metric does not change it.
    saved = first.state_dict()
    before = {k: v.clone() for k, v in saved.items() if isinstance(v, torch.Tensor)}
    _feed(first, rng, 3)
    for key, value in before.items():
        torch.testing.assert_close(saved[key], value, rtol=0, atol=0)
    # reset_state zeroes the same tensors instead of making new ones.
    target = first.metric if isinstance(first, fm.InferredAccuracy) else first
    assert target is not None
    tensors = {a: getattr(target, a) for a in target._state_attrs}
    pointers = {a: t.data_ptr() for a, t in tensors.items() if isinstance(t, torch.Tensor)}
    assert pointers
    first.reset_state()
    for attr, ptr in pointers.items():
        tensor = getattr(target, attr)
        assert tensor.data_ptr() == ptr
        assert not tensor.any()
    np.testing.assert_array_equal(first.result().numpy(), 0.0)


def test_state_follows_the_dtype_and_device_of_predictions() -> None:
    m = fm.MeanSquaredError()
    m.update_state(torch.zeros(2, 1, dtype=torch.float64), torch.ones(2, 1, dtype=torch.float64))
    assert m.total is not None and m.total.dtype == torch.float64
    assert m.result().dtype == torch.float64
    half = fm.BinaryAccuracy()
    half.update_state(torch.ones(4, 1), torch.full((4, 1), 0.7, dtype=torch.bfloat16))
    assert half.total is not None and half.total.dtype == torch.float32
    torch.testing.assert_close(half.result(), torch.tensor(1.0))
    forced = fm.Mean(dtype="float64")
    forced.update_state(torch.ones(3))
    assert forced.total is not None and forced.total.dtype == torch.float64
    auc = fm.AUC()
    auc.update_state(torch.tensor([0, 1]), torch.tensor([0.2, 0.9]))
    assert auc.true_positives.device == torch.device("cpu")  # type: ignore[attr-defined]
    assert auc.true_positives.dtype == torch.float32  # type: ignore[attr-defined]


def test_numpy_and_list_inputs_are_accepted() -> None:
    m = fm.SparseCategoricalAccuracy()
    m.update_state(
        [1, 0], np.array([[0.2, 0.8], [0.1, 0.9]], dtype="float32"), sample_weight=[1, 3]
    )
    torch.testing.assert_close(m.result(), torch.tensor(0.25))


def test_results_do_not_alias_the_state() -> None:
    # Logs keep result tensors unconverted: later updates must not change them.
    for metric in (fm.Sum(), fm.Mean(), fm.TruePositives(), fm.Precision(), fm.AUC()):
        if isinstance(metric, (fm.Sum, fm.Mean)):
            first = metric(torch.tensor([1.0, 2.0]))
            metric.update_state(torch.tensor([5.0, 7.0]))
        else:
            first = metric(torch.tensor([1.0, 0.0]), torch.tensor([0.9, 0.2]))
            metric.update_state(torch.tensor([1.0, 0.0]), torch.tensor([0.7, 0.8]))
        snapshot = first.clone()
        assert not torch.equal(metric.result(), snapshot), metric
        torch.testing.assert_close(first, snapshot, rtol=0, atol=0)


def test_renaming_a_metric() -> None:
    m = fm.get("mae")
    m.name = "val_mae"
    assert m.name == "val_mae" and repr(m) == "<MeanAbsoluteError name=val_mae>"


# -------------------------------------------------------------- inferred accuracy


class _Named:
    def __init__(self, name: str, from_logits: bool = False) -> None:
        self.name = name
        self.from_logits = from_logits


class SparseCategoricalCrossentropy:  # a loss class known only by its name
    pass


@pytest.mark.parametrize(
    ("loss", "kind", "threshold"),
    [
        (keras.losses.BinaryCrossentropy(), "binary", 0.5),
        (keras.losses.BinaryCrossentropy(from_logits=True), "binary", 0.0),
        (torch.nn.BCELoss(), "binary", 0.5),
        (torch.nn.BCEWithLogitsLoss(), "binary", 0.0),
        ("binary_crossentropy", "binary", 0.5),
        (_Named("binary_crossentropy"), "binary", 0.5),
        (keras.losses.SparseCategoricalCrossentropy(), "sparse_categorical", None),
        (SparseCategoricalCrossentropy(), "sparse_categorical", None),
        (_Named("sparse_categorical_crossentropy", from_logits=True), "sparse_categorical", None),
        (torch.nn.NLLLoss(), "sparse_categorical", None),
        (keras.losses.CategoricalCrossentropy(), "categorical", None),
        (_Named("categorical_crossentropy"), "categorical", None),
    ],
)
def test_inferred_accuracy_follows_the_loss(loss: Any, kind: str, threshold: Any) -> None:
    m = fm.get("acc", loss=loss)
    assert isinstance(m, fm.InferredAccuracy) and m.name == "acc" and m.kind is None
    y_pred = torch.tensor([[0.2, 0.7, 0.1], [0.6, 0.3, 0.1]])
    if kind == "sparse_categorical":
        y_true = torch.tensor([1, 2])
    else:
        # One-hot targets: by shapes alone Keras picks categorical accuracy.
        y_true = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    m.update_state(y_true, y_pred)
    assert m.kind == kind
    assert getattr(m.metric, "threshold", None) == threshold
    expected = {"binary": 4 / 6 if threshold else 2 / 6, "sparse_categorical": 0.5}
    torch.testing.assert_close(m.result(), torch.tensor(expected.get(kind, 0.5)))


@pytest.mark.parametrize(
    ("true_shape", "pred_shape"),
    [((8, 1), (8, 1)), ((8,), (8, 1)), ((8,), (8, 4)), ((8, 1), (8, 4)), ((8, 4), (8, 4))],
)
@pytest.mark.parametrize("loss", [None, "mse", torch.nn.MSELoss()])
def test_inferred_accuracy_follows_keras_shape_rule(
    true_shape: tuple[int, ...], pred_shape: tuple[int, ...], loss: Any
) -> None:
    rng = np.random.default_rng(5)
    classes = pred_shape[-1]
    if true_shape == pred_shape and classes > 1:
        y_true = np.eye(classes, dtype="float32")[rng.integers(0, classes, 8)]
    else:
        y_true = rng.integers(0, max(classes, 2), true_shape).astype("float32")
    y_pred = rng.random(pred_shape).astype("float32")
    keras_metric = compile_utils.get_metric("accuracy", y_true, y_pred)
    ours = fm.get("accuracy", loss=loss)
    w = rng.random(8).astype("float32")
    keras_metric.update_state(y_true, y_pred, sample_weight=w)
    ours.update_state(torch.from_numpy(y_true), torch.from_numpy(y_pred), torch.from_numpy(w))
    assert isinstance(ours, fm.InferredAccuracy)
    assert type(ours.metric).__name__ == type(keras_metric).__name__
    assert ours.name == keras_metric.name == "accuracy"
    np.testing.assert_allclose(ours.result().numpy(), _np(keras_metric.result()), rtol=RTOL)


def test_inferred_accuracy_state_dict_keeps_its_choice() -> None:
    m = fm.get("accuracy", loss=torch.nn.BCEWithLogitsLoss())
    m.update_state(torch.tensor([[1.0], [0.0]]), torch.tensor([[0.3], [-0.2]]))
    restored = fm.get("accuracy")
    restored.load_state_dict(m.state_dict())
    assert isinstance(restored, fm.InferredAccuracy)
    assert restored.kind == "binary" and getattr(restored.metric, "threshold", None) == 0.0
    torch.testing.assert_close(restored.result(), torch.tensor(1.0))


# ----------------------------------------------------------------- torchmetrics


def test_torchmetrics_wrapper_matches_keras_accuracy() -> None:
    from torchmetrics.classification import MulticlassAccuracy

    m = fm.get(MulticlassAccuracy(num_classes=4, average="micro"))
    assert isinstance(m, fm.TorchMetricsWrapper) and m.name == "multiclass_accuracy"
    assert fm.TorchMetricsWrapper(MulticlassAccuracy(num_classes=4), name="acc4").name == "acc4"
    np.testing.assert_array_equal(m.result().numpy(), 0.0)
    ref = K.SparseCategoricalAccuracy()
    rng = np.random.default_rng(6)
    for _ in range(2):
        for n in (5, 9):
            y_true, y_pred = _sparse(4, False)(rng, n)
            ref.update_state(y_true, y_pred)
            m.update_state(torch.from_numpy(y_true).long(), torch.from_numpy(y_pred))
        np.testing.assert_allclose(m.result().numpy(), _np(ref.result()), rtol=RTOL)
        saved = m.state_dict()
        restored = fm.TorchMetricsWrapper(MulticlassAccuracy(num_classes=4, average="micro"))
        restored.load_state_dict(saved)
        np.testing.assert_allclose(restored.result().numpy(), _np(ref.result()), rtol=RTOL)
        m.reset_state()
        ref.reset_state()
        np.testing.assert_array_equal(m.result().numpy(), 0.0)
    assert m.metric.device == torch.device("cpu")
    with pytest.raises(ValueError, match="sample weights"):
        m.update_state(torch.tensor([1]), torch.rand(1, 4), sample_weight=torch.ones(1))
    with pytest.raises(TypeError, match=r"torchmetrics\.Metric"):
        fm.TorchMetricsWrapper(fm.Mean())
