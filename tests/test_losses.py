"""Differential tests: fitorch.losses against Keras 3 (torch backend) on the same data."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import warnings
import zlib
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from keras.src.losses.losses import LossFunctionWrapper as KerasLossFunctionWrapper
from keras.src.trainers.compile_utils import get_loss as keras_get_loss

from fitorch import losses

RTOL = 1e-5
# Some losses are ~0 for some samples (KL, cosine, hinge); there a relative tolerance
# alone is meaningless, so float32 round-off is also allowed in absolute terms.
ATOL = 1e-6
N, C, T = 6, 4, 3
REDUCTIONS = ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None]
# "mean" and "none" take the same code paths as "sum_over_batch_size" and None; the broad
# differential sweeps use these four (test_reduction_aliases_match_keras covers the rest).
CORE_REDUCTIONS = ["sum_over_batch_size", "sum", "mean_with_sample_weight", None]


def to_np(x: Any) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(x))


def assert_close(ours: torch.Tensor, theirs: Any, rtol: float = RTOL) -> None:
    theirs = to_np(theirs)
    assert isinstance(ours, torch.Tensor)
    assert tuple(ours.shape) == theirs.shape
    np.testing.assert_allclose(ours.detach().numpy(), theirs, rtol=rtol, atol=ATOL)


# ------------------------------------------------------------------------ data makers
Maker = Callable[[np.random.Generator, tuple[int, ...], tuple[int, ...]], tuple[Any, Any]]


def regression(rng, ts, ps):
    return rng.normal(size=ts).astype("float32"), rng.normal(size=ps).astype("float32")


def positive(rng, ts, ps):
    return (
        rng.uniform(0.0, 3.0, size=ts).astype("float32"),
        rng.uniform(0.05, 3.0, size=ps).astype("float32"),
    )


def probabilities(rng, ts, ps):
    return (
        rng.uniform(0.0, 1.0, size=ts).astype("float32"),
        rng.uniform(0.0, 1.0, size=ps).astype("float32"),
    )


def binary_labels(rng, ts, ps):
    return rng.integers(0, 2, size=ts).astype("float32"), rng.normal(size=ps).astype("float32")


def signed_labels(rng, ts, ps):
    return (
        rng.choice([-1.0, 1.0], size=ts).astype("float32"),
        rng.normal(size=ps).astype("float32"),
    )


def binary_probs(rng, ts, ps):
    # Include exact 0 and 1 predictions so the 1e-7 clipping is exercised.
    y_pred = rng.uniform(0.0, 1.0, size=ps).astype("float32")
    y_pred.reshape(-1)[:2] = [0.0, 1.0]
    return rng.integers(0, 2, size=ts).astype("float32"), y_pred


def one_hot_probs(rng, ts, ps):
    labels = rng.integers(0, ts[-1], size=ts[:-1])
    y_true = np.eye(ts[-1], dtype="float32")[labels]
    y_pred = rng.uniform(0.0, 2.0, size=ps).astype("float32")  # unnormalised on purpose
    y_pred.reshape(-1)[0] = 0.0
    return y_true, y_pred


def one_hot_logits(rng, ts, ps):
    y_true, _ = one_hot_probs(rng, ts, ps)
    return y_true, rng.normal(scale=3.0, size=ps).astype("float32")


# Regression losses: every (y_true, y_pred) shape pairing Keras reconciles.
REGRESSION_SHAPES = [
    ((N,), (N,)),
    ((N,), (N, 1)),
    ((N, 1), (N,)),
    ((N, C), (N, C)),
    ((N, T, C),) * 2,
]
SAME_SHAPES = [((N, 1), (N, 1)), ((N, C), (N, C)), ((N, T, C),) * 2]
CLASS_SHAPES = [((N, C), (N, C)), ((N, T, C),) * 2]

R, S, K = REGRESSION_SHAPES, SAME_SHAPES, CLASS_SHAPES
SEQ = [((N, T, C),) * 2]
# (id, class name in both keras.losses and fitorch.losses, kwargs, data maker, shape pairs)
CLASS_CASES: list[tuple[str, str, dict[str, Any], Maker, list]] = [
    ("mse", "MeanSquaredError", {}, regression, R),
    ("mae", "MeanAbsoluteError", {}, regression, R),
    ("mape", "MeanAbsolutePercentageError", {}, regression, R),
    ("msle", "MeanSquaredLogarithmicError", {}, regression, R),
    ("huber", "Huber", {}, regression, R),
    ("huber_d0.3", "Huber", {"delta": 0.3}, regression, R),
    ("log_cosh", "LogCosh", {}, regression, R),
    ("poisson", "Poisson", {}, positive, R),
    ("kld", "KLDivergence", {}, probabilities, R),
    ("cosine", "CosineSimilarity", {}, regression, R),
    ("cosine_axis1", "CosineSimilarity", {"axis": 1}, regression, S),
    ("hinge01", "Hinge", {}, binary_labels, R),
    ("hinge_pm1", "Hinge", {}, signed_labels, R),
    ("hinge_other", "Hinge", {}, regression, R),
    ("sq_hinge01", "SquaredHinge", {}, binary_labels, R),
    ("sq_hinge_pm1", "SquaredHinge", {}, signed_labels, R),
    ("bce_probs", "BinaryCrossentropy", {}, binary_probs, R),
    ("bce_logits", "BinaryCrossentropy", {"from_logits": True}, binary_labels, R),
    ("bce_probs_ls", "BinaryCrossentropy", {"label_smoothing": 0.2}, binary_probs, R),
    ("bce_logits_ls", "BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.1},
     binary_labels, R),
    ("bce_soft_logits", "BinaryCrossentropy", {"from_logits": True}, probabilities, S),
    ("cce_probs", "CategoricalCrossentropy", {}, one_hot_probs, K),
    ("cce_logits", "CategoricalCrossentropy", {"from_logits": True}, one_hot_logits, K),
    ("cce_probs_ls", "CategoricalCrossentropy", {"label_smoothing": 0.2}, one_hot_probs, K),
    ("cce_logits_ls", "CategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.1},
     one_hot_logits, K),
    ("cce_logits_soft", "CategoricalCrossentropy", {"from_logits": True}, probabilities, K),
    ("cce_logits_axis1_ls", "CategoricalCrossentropy",
     {"from_logits": True, "axis": 1, "label_smoothing": 0.1}, one_hot_logits, SEQ),
    ("cce_probs_axis1", "CategoricalCrossentropy", {"axis": 1}, one_hot_probs, SEQ),
]  # fmt: skip


def sample_weights(rng: np.random.Generator, values_shape: tuple[int, ...]) -> list[Any]:
    """Weights of shape (N,) and (N, 1) (and per-timestep ones for sequence values)."""
    out: list[Any] = [None, rng.uniform(0, 2, size=(N,)).astype("float32")]
    out.append(rng.uniform(0, 2, size=(N, 1)).astype("float32"))
    if len(values_shape) == 2:  # per-timestep values: Keras cannot broadcast (N,) there
        out = [None, out[2], rng.uniform(0, 2, size=values_shape).astype("float32")]
    return out


def check_against_keras(keras_loss, our_loss, y_true, y_pred, rng, weights=None) -> None:
    values, _ = our_loss._values_and_mask(torch.from_numpy(y_true), torch.from_numpy(y_pred))
    for sw in weights or sample_weights(rng, tuple(values.shape)):
        expected = keras_loss(y_true, y_pred, sample_weight=sw)
        sw_ours = None if sw is None else torch.from_numpy(sw)
        ours = our_loss(torch.from_numpy(y_true), torch.from_numpy(y_pred), sample_weight=sw_ours)
        assert_close(ours, expected)


@pytest.mark.parametrize(
    "case_id,cls_name,kwargs,maker,shape",
    [(*c[:4], s) for c in CLASS_CASES for s in c[4]],
    ids=[f"{c[0]}-{s[0]}-{s[1]}" for c in CLASS_CASES for s in c[4]],
)
def test_loss_classes_match_keras(case_id, cls_name, kwargs, maker, shape):
    rng = np.random.default_rng(zlib.crc32(repr((case_id, shape)).encode()))
    y_true, y_pred = maker(rng, *shape)
    for reduction in CORE_REDUCTIONS:
        check_against_keras(
            getattr(keras.losses, cls_name)(reduction=reduction, **kwargs),
            getattr(losses, cls_name)(reduction=reduction, **kwargs),
            y_true,
            y_pred,
            rng,
        )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "cls_name,kwargs,maker",
    [
        ("MeanSquaredError", {}, regression),
        ("BinaryCrossentropy", {"from_logits": True}, binary_labels),
        ("CategoricalCrossentropy", {"from_logits": True}, one_hot_logits),
    ],
)
def test_reduction_aliases_match_keras(reduction, cls_name, kwargs, maker):
    rng = np.random.default_rng(21)
    y_true, y_pred = maker(rng, (N, T, C), (N, T, C))
    check_against_keras(
        getattr(keras.losses, cls_name)(reduction=reduction, **kwargs),
        getattr(losses, cls_name)(reduction=reduction, **kwargs),
        y_true,
        y_pred,
        rng,
    )


# ------------------------------------------------------------------ sparse categorical

SPARSE_SHAPES = [((N,), (N, C)), ((N, 1), (N, C)), ((N, T), (N, T, C)), ((N, T, 1), (N, T, C))]


@pytest.mark.parametrize("from_logits", [True, False])
@pytest.mark.parametrize("shape", SPARSE_SHAPES, ids=str)
@pytest.mark.parametrize("label_dtype", ["int64", "float32"])
def test_sparse_categorical_crossentropy_matches_keras(from_logits, shape, label_dtype):
    rng = np.random.default_rng(7)
    ts, ps = shape
    y_true = rng.integers(0, C, size=ts).astype(label_dtype)
    y_pred = (
        rng.normal(scale=3.0, size=ps) if from_logits else rng.uniform(0.0, 2.0, size=ps)
    ).astype("float32")
    for reduction in CORE_REDUCTIONS:
        check_against_keras(
            keras.losses.SparseCategoricalCrossentropy(from_logits, reduction=reduction),
            losses.SparseCategoricalCrossentropy(from_logits, reduction=reduction),
            y_true,
            y_pred,
            rng,
        )


@pytest.mark.parametrize("from_logits", [True, False])
@pytest.mark.parametrize("ignore_class", [-1, 2, 255])
@pytest.mark.parametrize("shape", [((N,), (N, C)), ((N, T, 1), (N, T, C))], ids=str)
def test_sparse_ignore_class_matches_keras(from_logits, ignore_class, shape):
    rng = np.random.default_rng(3)
    ts, ps = shape
    y_true = rng.integers(0, C, size=ts)
    y_true.reshape(-1)[::3] = ignore_class
    y_pred = rng.normal(size=ps).astype("float32")
    if not from_logits:
        y_pred = np.abs(y_pred)
    # Keras multiplies the mask into the weights in place, so it rejects (N, 1) weights
    # for (N, T) values; fitorch broadcasts them, which must equal the explicit (N, T).
    weights = [None, rng.uniform(0, 2, size=ts[:2]).astype("float32")]
    for reduction in CORE_REDUCTIONS:
        kwargs = {"from_logits": from_logits, "ignore_class": ignore_class, "reduction": reduction}
        ours = losses.SparseCategoricalCrossentropy(**kwargs)
        check_against_keras(
            keras.losses.SparseCategoricalCrossentropy(**kwargs),
            ours,
            y_true,
            y_pred,
            rng,
            weights,
        )
        if len(ts) == 3:
            column = torch.from_numpy(weights[1][:, :1])
            torch.testing.assert_close(
                ours(y_true, y_pred, column), ours(y_true, y_pred, column.expand(N, T))
            )


def test_sparse_all_ignored_gives_zero_like_keras():
    y_true = np.full((N,), 5)
    y_pred = np.random.default_rng(0).normal(size=(N, C)).astype("float32")
    for reduction in ["sum_over_batch_size", "mean_with_sample_weight", "sum"]:
        expected = keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, ignore_class=5, reduction=reduction
        )(y_true, y_pred)
        ours = losses.SparseCategoricalCrossentropy(
            from_logits=True, ignore_class=5, reduction=reduction
        )(torch.from_numpy(y_true), torch.from_numpy(y_pred))
        assert_close(ours, expected)
        assert ours.item() == 0.0


def test_sparse_class_axis_1_matches_keras():
    rng = np.random.default_rng(11)
    y_true = rng.integers(0, C, size=(N, T))
    y_pred = rng.normal(size=(N, C, T)).astype("float32")
    for from_logits in (True, False):
        pred = y_pred if from_logits else np.abs(y_pred)
        expected = keras.losses.SparseCategoricalCrossentropy(from_logits, axis=1)(y_true, pred)
        ours = losses.SparseCategoricalCrossentropy(from_logits, axis=1)(
            torch.from_numpy(y_true), torch.from_numpy(pred)
        )
        assert_close(ours, expected)


# ------------------------------------------------------------------------- functions

FUNCTION_CASES = [
    ("mean_squared_error", {}, regression, REGRESSION_SHAPES),
    ("mean_absolute_error", {}, regression, REGRESSION_SHAPES),
    ("mean_absolute_percentage_error", {}, regression, REGRESSION_SHAPES),
    ("mean_squared_logarithmic_error", {}, regression, REGRESSION_SHAPES),
    ("huber", {"delta": 0.5}, regression, REGRESSION_SHAPES),
    ("log_cosh", {}, regression, REGRESSION_SHAPES),
    ("cosine_similarity", {}, regression, REGRESSION_SHAPES),
    ("cosine_similarity", {"axis": 1}, regression, SAME_SHAPES),
    ("kl_divergence", {}, probabilities, SAME_SHAPES),
    ("poisson", {}, positive, SAME_SHAPES),
    ("hinge", {}, binary_labels, SAME_SHAPES),
    ("hinge", {}, signed_labels, SAME_SHAPES),
    ("squared_hinge", {}, binary_labels, SAME_SHAPES),
    ("squared_hinge", {}, regression, SAME_SHAPES),
    ("binary_crossentropy", {}, binary_probs, SAME_SHAPES),
    (
        "binary_crossentropy",
        {"from_logits": True, "label_smoothing": 0.3},
        binary_labels,
        SAME_SHAPES,
    ),
    ("binary_crossentropy", {"axis": 1}, binary_probs, [((N, T, C),) * 2]),
    ("categorical_crossentropy", {}, one_hot_probs, CLASS_SHAPES),
    (
        "categorical_crossentropy",
        {"from_logits": True, "label_smoothing": 0.2},
        one_hot_logits,
        CLASS_SHAPES,
    ),
]


@pytest.mark.parametrize(
    "name,kwargs,maker,shape",
    [(c[0], c[1], c[2], s) for c in FUNCTION_CASES for s in c[3]],
    ids=[f"{c[0]}-{c[1]}-{s[0]}-{s[1]}" for c in FUNCTION_CASES for s in c[3]],
)
def test_functions_match_keras(name, kwargs, maker, shape):
    rng = np.random.default_rng(5)
    y_true, y_pred = maker(rng, *shape)
    expected = getattr(keras.losses, name)(y_true, y_pred, **kwargs)
    ours = getattr(losses, name)(torch.from_numpy(y_true), torch.from_numpy(y_pred), **kwargs)
    assert_close(ours, expected)


@pytest.mark.parametrize("from_logits", [True, False])
@pytest.mark.parametrize("ignore_class", [None, 1])
def test_sparse_function_matches_keras(from_logits, ignore_class):
    rng = np.random.default_rng(9)
    y_true = rng.integers(0, C, size=(N, T))
    y_pred = rng.uniform(0.01, 1.0, size=(N, T, C)).astype("float32")
    kwargs = {"from_logits": from_logits, "ignore_class": ignore_class}
    expected = keras.losses.sparse_categorical_crossentropy(
        torch.from_numpy(y_true), torch.from_numpy(y_pred), **kwargs
    )
    ours = losses.sparse_categorical_crossentropy(y_true, y_pred, **kwargs)
    assert_close(ours, expected)


def test_functions_accept_integer_and_numpy_inputs():
    y_true = np.array([[1, 0], [0, 1]])
    y_pred = np.array([[0.8, 0.2], [0.4, 0.6]], dtype="float32")
    ours = losses.mean_squared_error(y_true, y_pred)
    assert ours.dtype == torch.float32
    assert_close(ours, keras.losses.mean_squared_error(y_true.astype("float32"), y_pred))


# ---------------------------------------------------------------------- get and names

KERAS_STRINGS = [
    "mse", "MSE", "mae", "MAE", "mape", "MAPE", "msle", "MSLE", "bce", "BCE", "kld", "KLD",
    "mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error", "huber", "log_cosh", "binary_crossentropy",
    "categorical_crossentropy", "kl_divergence", "poisson", "cosine_similarity", "hinge",
    "squared_hinge", "MeanSquaredError", "MeanAbsoluteError", "MeanAbsolutePercentageError",
    "MeanSquaredLogarithmicError", "Huber", "LogCosh", "BinaryCrossentropy",
    "CategoricalCrossentropy", "KLDivergence", "Poisson", "CosineSimilarity", "Hinge",
    "SquaredHinge",
]  # fmt: skip


@pytest.mark.parametrize("identifier", KERAS_STRINGS)
def test_get_strings_match_keras_names_and_values(identifier):
    rng = np.random.default_rng(1)
    y_true, y_pred = probabilities(rng, (N, C), (N, C))
    y_true = (y_true > 0.5).astype("float32")
    theirs = keras_get_loss(identifier, y_true, y_pred)
    ours = losses.get(identifier)
    assert isinstance(ours, losses.Loss)
    assert ours.name == theirs.name
    assert type(ours).__name__ == type(theirs).__name__
    assert_close(ours(torch.from_numpy(y_true), torch.from_numpy(y_pred)), theirs(y_true, y_pred))


def test_get_sparse_string_matches_keras():
    y_true = np.array([0, 2, 1])
    y_pred = np.array([[0.2, 0.3, 0.5], [0.1, 0.1, 0.8], [0.6, 0.3, 0.1]], dtype="float32")
    for ident in ["sparse_categorical_crossentropy", "SparseCategoricalCrossentropy"]:
        theirs = keras_get_loss(ident, y_true, y_pred)
        ours = losses.get(ident)
        assert ours.name == theirs.name
        assert_close(ours(y_true, y_pred), theirs(y_true, y_pred))


@pytest.mark.parametrize(
    "legacy,fn",
    [("logcosh", losses.log_cosh), ("kullback_leibler_divergence", losses.kl_divergence)],
)
def test_get_legacy_aliases(legacy, fn):
    loss = losses.get(legacy)
    assert isinstance(loss, losses.LossFunctionWrapper)
    assert loss.fn is fn and loss.name == legacy


def test_get_passes_loss_instances_through_and_wraps_callables():
    mse = losses.MeanSquaredError()
    assert losses.get(mse) is mse
    assert isinstance(losses.get(losses.Huber), losses.Huber)

    def myCustomLoss(y_true, y_pred):
        return (y_true - y_pred).abs().amax(dim=-1)

    wrapped = losses.get(myCustomLoss)
    assert isinstance(wrapped, losses.LossFunctionWrapper)
    assert wrapped.name == "my_custom_loss"
    assert wrapped.name == keras_get_loss(myCustomLoss, None, None).name
    cfg = losses.get({"class_name": "Huber", "config": {"delta": 2.0, "name": "h"}})
    assert isinstance(cfg, losses.Huber) and cfg.delta == 2.0 and cfg.name == "h"


def test_get_wraps_torch_loss_modules_with_argument_order_fixed():
    logits = torch.randn(N, C)
    labels = torch.randint(0, C, (N,))
    loss = losses.get(torch.nn.CrossEntropyLoss())
    assert loss.name == "cross_entropy_loss"
    torch.testing.assert_close(loss(labels, logits), F.cross_entropy(logits, labels))
    rebuilt = type(loss).from_config(loss.get_config())
    assert rebuilt.name == loss.name
    torch.testing.assert_close(rebuilt(labels, logits), loss(labels, logits))
    bce = losses.get(torch.nn.BCEWithLogitsLoss)
    y = torch.randint(0, 2, (N,))
    torch.testing.assert_close(
        bce(y, logits[:, :1]), F.binary_cross_entropy_with_logits(logits[:, 0], y.float())
    )


def test_get_unknown_string_lists_valid_names():
    with pytest.raises(ValueError, match="Unknown loss identifier 'msee'") as info:
        losses.get("msee")
    message = str(info.value)
    for name in ("mse", "sparse_categorical_crossentropy", "kld", "Huber", "logcosh"):
        assert repr(name) in message
    assert message.endswith("(of type str)")


@pytest.mark.parametrize("bad", [42, None, 1.5, object(), int])
def test_get_rejects_non_loss_identifiers(bad):
    with pytest.raises(TypeError, match="Could not interpret loss identifier"):
        losses.get(bad)


def test_get_rejects_bad_config_dict():
    with pytest.raises(ValueError, match="class_name"):
        losses.get({"class_name": "Nope", "config": {}})


@pytest.mark.parametrize(
    "keras_loss,our_loss",
    [
        (
            keras.losses.BinaryCrossentropy(True, 0.1, reduction="sum"),
            losses.BinaryCrossentropy(True, 0.1, reduction="sum"),
        ),
        (
            keras.losses.CategoricalCrossentropy(label_smoothing=0.2, name="c"),
            losses.CategoricalCrossentropy(label_smoothing=0.2, name="c"),
        ),
        (
            keras.losses.SparseCategoricalCrossentropy(True, ignore_class=3),
            losses.SparseCategoricalCrossentropy(True, ignore_class=3),
        ),
        (keras.losses.Huber(0.5), losses.Huber(0.5)),
        (keras.losses.CosineSimilarity(axis=1), losses.CosineSimilarity(axis=1)),
        (keras.losses.MeanSquaredError(reduction=None), losses.MeanSquaredError(reduction=None)),
        (keras.losses.Poisson(), losses.Poisson()),
    ],
    ids=lambda x: type(x).__name__,
)
def test_get_config_superset_of_keras_and_round_trips(keras_loss, our_loss):
    ours = our_loss.get_config()
    theirs = keras_loss.get_config()
    theirs.pop("dtype", None)
    assert {k: ours[k] for k in theirs} == theirs
    rebuilt = type(our_loss).from_config(ours)
    assert rebuilt.get_config() == ours
    assert repr(rebuilt)


def test_default_names_match_keras():
    pairs = [(cls_name, getattr(losses, cls_name)) for cls_name in losses._CLASSES]
    for cls_name, cls in pairs:
        assert cls().name == getattr(keras.losses, cls_name)().name


# ------------------------------------------------------------------ LossFunctionWrapper


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("scalar", [False, True])
def test_loss_function_wrapper_matches_keras(reduction, scalar):
    # Plain torch ops: under the torch backend Keras hands the function torch tensors too.
    def user_loss(y_true, y_pred):
        values = torch.abs(y_true - y_pred) ** 1.5
        return values.mean() if scalar else values.mean(dim=-1)

    rng = np.random.default_rng(2)
    y_true, y_pred = regression(rng, (N,), (N, 1))
    ours = losses.LossFunctionWrapper(user_loss, reduction=reduction)
    check_against_keras(
        KerasLossFunctionWrapper(user_loss, reduction=reduction),
        ours,
        y_true,
        y_pred,
        rng,
        # SPEC.md decides against Keras for a loss with one value per batch: weights would
        # only scale the batch's loss by their mean, so fitorch refuses them.
        weights=[None] if scalar else None,
    )
    if scalar:
        with pytest.raises(ValueError, match="one value for the whole batch"):
            ours(torch.from_numpy(y_true), torch.from_numpy(y_pred),
                 sample_weight=torch.ones(N))
    assert losses.LossFunctionWrapper(user_loss).name == "user_loss"


def test_custom_loss_subclass_default_name_and_reduction():
    class MyFancyLoss(losses.Loss):
        def call(self, y_true, y_pred):
            return (y_true - y_pred).square().sum(dim=-1)

    loss = MyFancyLoss(reduction="sum")
    assert loss.name == "my_fancy_loss"
    out = loss(torch.ones(3, 2), torch.zeros(3, 2))
    assert out.item() == 6.0
    with pytest.raises(NotImplementedError):
        losses.Loss()(torch.ones(2), torch.ones(2))


# -------------------------------------------------------------------- reduction helpers


def test_squeeze_or_expand_never_broadcasts_to_n_by_n():
    a, b = losses.squeeze_or_expand_to_same_rank(torch.zeros(N), torch.zeros(N, 1))
    assert a.shape == b.shape == (N, 1)
    a, b = losses.squeeze_or_expand_to_same_rank(torch.zeros(N, T, 1), torch.zeros(N, T))
    assert a.shape == b.shape == (N, T)
    out = losses.MeanSquaredError(reduction=None)(torch.zeros(N), torch.ones(N, 1))
    assert out.shape == (N,)


def test_empty_batch_matches_keras():
    y = np.zeros((0, C), dtype="float32")
    for reduction in ["sum_over_batch_size", "sum", "mean_with_sample_weight"]:
        expected = keras.losses.MeanSquaredError(reduction=reduction)(y, y)
        assert_close(losses.MeanSquaredError(reduction=reduction)(y, y), expected)


def test_mean_with_sample_weight_zero_weights_is_zero_like_keras():
    y_true, y_pred = regression(np.random.default_rng(4), (N, C), (N, C))
    sw = np.zeros((N,), dtype="float32")
    expected = keras.losses.MeanSquaredError(reduction="mean_with_sample_weight")(
        y_true, y_pred, sample_weight=sw
    )
    ours = losses.MeanSquaredError(reduction="mean_with_sample_weight")(y_true, y_pred, sw)
    assert_close(ours, expected)
    assert ours.item() == 0.0


def test_half_precision_predictions_are_computed_in_float32():
    y_true, y_pred = regression(np.random.default_rng(8), (N, C), (N, C))
    ours = losses.MeanSquaredError()(torch.from_numpy(y_true), torch.from_numpy(y_pred).half())
    assert ours.dtype == torch.float32
    expected = keras.losses.MeanSquaredError()(y_true, y_pred.astype("float16").astype("float32"))
    assert_close(ours, expected)


# ------------------------------------------------------------------------- fast paths


def test_sparse_from_logits_is_a_single_fused_mean_call(monkeypatch):
    calls: list[dict[str, Any]] = []
    real = F.cross_entropy

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(F, "cross_entropy", spy)
    logits = torch.randn(N, C)
    labels = torch.randint(0, C, (N,))
    out = losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)
    assert len(calls) == 1 and calls[0]["reduction"] == "mean"
    torch.testing.assert_close(out, real(logits, labels))


@pytest.mark.parametrize(
    "loss,fused",
    [
        (losses.MeanSquaredError(), "mse_loss"),
        (losses.MeanAbsoluteError(), "l1_loss"),
        (losses.Huber(), "huber_loss"),
        (losses.Poisson(), "poisson_nll_loss"),
        (losses.BinaryCrossentropy(from_logits=True), "binary_cross_entropy_with_logits"),
        (losses.BinaryCrossentropy(), "binary_cross_entropy"),
        (losses.CategoricalCrossentropy(from_logits=True), "cross_entropy"),
        (losses.get("mse"), "mse_loss"),
    ],
    ids=lambda x: getattr(x, "name", x),
)
def test_default_reduction_uses_fused_op(monkeypatch, loss, fused):
    seen: list[str] = []
    real = getattr(F, fused)

    def spy(*args, **kwargs):
        seen.append(kwargs.get("reduction", "mean"))
        return real(*args, **kwargs)

    monkeypatch.setattr(F, fused, spy)
    y_true = torch.rand(N, C)
    y_pred = torch.rand(N, C)
    fast = loss(y_true, y_pred)
    slow = loss(y_true, y_pred, sample_weight=torch.ones(N))  # the general path
    assert seen[0] == "mean"
    torch.testing.assert_close(fast, slow)


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize("from_logits", [True, False])
@pytest.mark.parametrize("label_shape", [(N,), (N, 1), (N, T)])
def test_sparse_out_of_range_label_raises_value_error(from_logits, label_shape):
    pred_shape = (N, 10) if len(label_shape) < 2 or label_shape[1] == 1 else (N, T, 10)
    labels = torch.zeros(label_shape, dtype=torch.long)
    labels.view(-1)[1] = 10
    y_pred = torch.rand(pred_shape)
    for loss in (
        losses.SparseCategoricalCrossentropy(from_logits),
        losses.SparseCategoricalCrossentropy(from_logits, reduction="sum"),
    ):
        with pytest.raises(
            ValueError,
            match=r"Received a label value of 10 which is outside the valid range of \[0, 10\) "
            r"for 10 classes",
        ):
            loss(labels, y_pred)
    with pytest.raises(ValueError, match="label value of 10"):
        losses.sparse_categorical_crossentropy(labels, y_pred, from_logits=from_logits)


def test_sparse_reports_all_bad_labels_and_negative_ones():
    labels = torch.tensor([0, -1, 12, 3, 12, -100])
    with pytest.raises(ValueError, match=r"label values of \[-100, -1, 12\] which are outside"):
        losses.SparseCategoricalCrossentropy(from_logits=True)(labels, torch.randn(6, 4))
    # The ignored class is exempt from the range check, other labels are not.
    loss = losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=255)
    assert torch.isfinite(loss(torch.tensor([0, 255, 1]), torch.randn(3, 4)))
    with pytest.raises(ValueError, match="label value of 7 "):
        loss(torch.tensor([7, 255, 1]), torch.randn(3, 4))


def test_shape_and_argument_errors():
    with pytest.raises(ValueError, match="same shape up until the class axis"):
        losses.SparseCategoricalCrossentropy()(torch.zeros(N + 1), torch.rand(N, C))
    with pytest.raises(ValueError, match="must have the same shape"):
        losses.CategoricalCrossentropy()(torch.zeros(N, C + 1), torch.rand(N, C))
    with pytest.raises(ValueError, match="must have the same shape"):
        losses.BinaryCrossentropy()(torch.zeros(N, 2), torch.rand(N, 3))
    with pytest.raises(ValueError, match=r"Invalid value for argument `reduction`.*'avg'"):
        losses.MeanSquaredError(reduction="avg")
    with pytest.raises(TypeError, match="axis"):
        losses.categorical_crossentropy(torch.ones(2, 2), torch.ones(2, 2), axis=True)
    with pytest.raises(TypeError, match="ignore_class"):
        losses.SparseCategoricalCrossentropy(ignore_class=1.5)
    with pytest.raises(TypeError, match="callable"):
        losses.LossFunctionWrapper("mse")
    with pytest.raises(ValueError, match=r"sample_weight.shape=\(4,\)"):
        losses.MeanSquaredError()(torch.zeros(N, C), torch.ones(N, C), torch.ones(4))


def test_categorical_with_single_class_warns_like_keras():
    with pytest.warns(SyntaxWarning, match="binary_crossentropy"):
        losses.categorical_crossentropy(torch.ones(N, 1), torch.ones(N, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        losses.categorical_crossentropy(torch.ones(N, 2), torch.ones(N, 2))


# ------------------------------------------------------------------------- gradients

GRAD_CASES = [
    ("MeanSquaredError", {}, regression, ((N, C), (N, C))),
    ("Huber", {"delta": 0.5}, regression, ((N,), (N, 1))),
    ("LogCosh", {}, regression, ((N, C), (N, C))),
    ("CosineSimilarity", {}, regression, ((N, C), (N, C))),
    ("KLDivergence", {}, probabilities, ((N, C), (N, C))),
    ("Hinge", {}, binary_labels, ((N, 1), (N, 1))),
    (
        "BinaryCrossentropy",
        {"from_logits": True, "label_smoothing": 0.1},
        binary_labels,
        ((N,), (N, 1)),
    ),
    ("BinaryCrossentropy", {}, probabilities, ((N, C), (N, C))),
    ("CategoricalCrossentropy", {"from_logits": True}, one_hot_logits, ((N, C), (N, C))),
    ("CategoricalCrossentropy", {}, one_hot_probs, ((N, T, C), (N, T, C))),
]


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(
    "cls_name,kwargs,maker,shape", GRAD_CASES, ids=[f"{c[0]}-{c[1]}" for c in GRAD_CASES]
)
def test_gradients_flow_and_match_keras(cls_name, kwargs, maker, shape, weighted):
    rng = np.random.default_rng(6)
    y_true, y_pred = maker(rng, *shape)
    sw = torch.from_numpy(rng.uniform(0, 2, size=(N, 1)).astype("float32")) if weighted else None
    grads = []
    for module in (keras.losses, losses):
        pred = torch.from_numpy(y_pred.copy()).requires_grad_(True)
        getattr(module, cls_name)(**kwargs)(torch.from_numpy(y_true), pred, sw).backward()
        assert pred.grad is not None and torch.isfinite(pred.grad).all()
        grads.append(pred.grad)
    np.testing.assert_allclose(grads[1].numpy(), grads[0].numpy(), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("from_logits", [True, False])
@pytest.mark.parametrize("ignore_class", [None, 0])
def test_sparse_gradients_match_keras(from_logits, ignore_class):
    rng = np.random.default_rng(12)
    labels = torch.from_numpy(rng.integers(0, C, size=(N, 1)))
    y_pred = rng.uniform(0.05, 1.0, size=(N, C)).astype("float32")
    grads = []
    for module in (keras.losses, losses):
        pred = torch.from_numpy(y_pred.copy()).requires_grad_(True)
        loss = module.SparseCategoricalCrossentropy(from_logits, ignore_class=ignore_class)
        loss(labels, pred).backward()
        grads.append(pred.grad)
    np.testing.assert_allclose(grads[1].numpy(), grads[0].numpy(), rtol=1e-4, atol=1e-6)
