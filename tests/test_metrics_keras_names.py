"""Every loss name Keras resolves as a metric resolves in fitorch with Keras's numbers, and
every built-in metric has a config that rebuilds it (so compiled models save and load)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import torch

import fitorch as ft
import fitorch.metrics as fm
from fitorch.metrics.registry import _BUILTIN_CLASSES


def _keras_loss_names_that_are_metrics() -> list[str]:
    import keras
    from keras.src.losses import ALL_OBJECTS_DICT

    names = []
    for name in sorted(ALL_OBJECTS_DICT):
        try:
            keras.metrics.get(name)
        except ValueError:
            continue
        names.append(name)
    return names


KERAS_LOSS_NAMES_AS_METRICS = _keras_loss_names_that_are_metrics()


def _targets(name: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels and predictions valid for the metric called `name`."""
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(4), size=12).astype("float32")
    key = name.lower()
    if "sparse" in key:
        return rng.integers(0, 4, size=(12,)), probs
    if "categorical" in key or key in ("kl_divergence", "kldivergence"):
        return np.eye(4, dtype="float32")[rng.integers(0, 4, size=12)], probs
    if key in ("bce", "binary_crossentropy", "binarycrossentropy"):
        return rng.integers(0, 2, size=(12, 4)).astype("float32"), probs
    if "hinge" in key:
        return rng.integers(0, 2, size=(12, 4)).astype("float32"), rng.normal(
            size=(12, 4)).astype("float32")
    if key == "poisson":
        return rng.poisson(2.0, size=(12, 4)).astype("float32"), rng.uniform(
            0.5, 3.0, size=(12, 4)).astype("float32")
    return rng.normal(size=(12, 4)).astype("float32"), rng.normal(size=(12, 4)).astype("float32")


def test_the_names_of_the_issue_are_among_them() -> None:
    for name in ("kl_divergence", "poisson", "cosine_similarity", "hinge", "squared_hinge"):
        assert name in KERAS_LOSS_NAMES_AS_METRICS


@pytest.mark.parametrize("name", KERAS_LOSS_NAMES_AS_METRICS)
def test_loss_names_resolve_as_metrics_with_keras_numbers(name: str) -> None:
    import keras

    ours, theirs = fm.get(name), keras.metrics.get(name)
    assert type(ours).__name__ == type(theirs).__name__
    assert ours.name == name  # the string is the log key (Keras's compile names it so)
    y_true, y_pred = _targets(name)
    weights = np.linspace(0.2, 2.0, num=len(y_true)).astype("float32")
    for start, stop in ((0, 5), (5, 12)):  # two updates, the second one weighted
        sw = None if start == 0 else weights[start:stop]
        ours.update_state(torch.tensor(y_true[start:stop]), torch.tensor(y_pred[start:stop]),
                          sample_weight=None if sw is None else torch.tensor(sw))
        theirs.update_state(y_true[start:stop], y_pred[start:stop], sample_weight=sw)
    np.testing.assert_allclose(float(ours.result()), float(theirs.result()),
                               rtol=1e-5, atol=1e-6)


def test_loss_names_as_compiled_metrics_log_keras_values() -> None:
    import keras

    names = ["kl_divergence", "poisson", "cosine_similarity", "hinge", "squared_hinge",
             "categorical_hinge"]
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20, 3)).astype("float32")
    y = np.eye(4, dtype="float32")[rng.integers(0, 4, size=20)]
    kmodel = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="softmax")])
    kmodel.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=names)
    model = ft.Sequential([ft.Input(shape=(3,)), ft.layers.Dense(4, activation="softmax")])
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=names)
    kernel, bias = kmodel.layers[0].get_weights()
    model.set_weights([kernel.T, bias])
    theirs = kmodel.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    ours = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    assert sorted(ours) == sorted(theirs)
    for key in theirs:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5, atol=1e-6, err_msg=key)


# --- configs --------------------------------------------------------------------------------


def _metric_classes() -> list[type]:
    return [cls for name in fm.__all__ if isinstance(cls := getattr(fm, name), type)
            and issubclass(cls, fm.Metric) and cls not in (fm.Metric, fm.MeanMetricWrapper,
                                                            fm.TorchMetricsWrapper)]


@pytest.mark.parametrize("cls", _metric_classes(), ids=lambda c: c.__name__)
def test_every_builtin_metric_rebuilds_from_its_config(cls: type) -> None:
    metric = cls(name="renamed")
    config = metric.get_config()
    assert config["name"] == "renamed"
    clone = cls.from_config(config)
    assert type(clone) is cls and clone.get_config() == config and clone is not metric


@pytest.mark.parametrize("cls", _BUILTIN_CLASSES, ids=lambda c: c.__name__)
def test_builtin_metric_configs_hold_keras_keys_and_values(cls: type) -> None:
    import keras

    theirs = getattr(keras.metrics, cls.__name__)().get_config()
    ours = cls().get_config()
    # fitorch's dtype None means Keras's floatx (float32), or float64 for float64 inputs.
    assert ours.pop("dtype") is None and theirs.pop("dtype") == "float32"
    # Keras numbers repeated default names (auc, auc_1, ...): names are checked elsewhere.
    ours.pop("name"), theirs.pop("name")
    assert {k: ours[k] for k in theirs} == theirs


def test_configs_keep_non_default_arguments_as_plain_data() -> None:
    auc = fm.AUC(num_thresholds=50, curve="PR", multi_label=True, num_labels=3,
                 label_weights=np.array([0.2, 0.3, 0.5]), dtype=torch.float64)
    config = auc.get_config()
    assert config["num_thresholds"] == 50 and config["curve"] == "PR"
    assert config["label_weights"] == [0.2, 0.3, 0.5] and config["dtype"] == "float64"
    assert fm.AUC.from_config(config).get_config() == config
    top = fm.SparseTopKCategoricalAccuracy(k=3, name="top3")
    assert fm.get(top).get_config()["k"] == 3


def test_model_compiled_with_metric_objects_saves_and_loads_compiled(tmp_path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 4)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    metrics = [ft.metrics.AUC(num_thresholds=50), ft.metrics.Precision(thresholds=0.3),
               "kl_divergence", ft.metrics.CosineSimilarity(axis=-1, name="cos")]
    model = ft.Sequential([ft.Input(shape=(4,)), ft.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=metrics)
    model.fit(x, y, epochs=1, verbose=0)
    path = str(tmp_path / "m.fitorch")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "cannot be stored" warning
        model.save(path)
    loaded = ft.load_model(path)
    assert loaded.compiled
    saved = loaded._compiled_metrics._user_metrics
    assert [type(m).__name__ if not isinstance(m, str) else m for m in saved] == \
        ["AUC", "Precision", "kl_divergence", "CosineSimilarity"]
    for ours, theirs in zip(saved, metrics, strict=True):
        if not isinstance(ours, str):
            assert ours.get_config() == theirs.get_config() and ours is not theirs
    assert loaded.evaluate(x, y, verbose=0, return_dict=True) == \
        pytest.approx(model.evaluate(x, y, verbose=0, return_dict=True), rel=1e-6)


@pytest.mark.parametrize("copy_fn", ["deepcopy", "pickle"])
def test_copied_metrics_keep_their_config(copy_fn: str) -> None:
    import copy
    import pickle

    metric = fm.AUC(num_thresholds=7, name="auc7")
    metric.update_state(torch.tensor([0.0, 1.0]), torch.tensor([0.2, 0.9]))
    clone: Any = (copy.deepcopy(metric) if copy_fn == "deepcopy"
                  else pickle.loads(pickle.dumps(metric)))
    assert clone.get_config() == metric.get_config()
    assert float(clone.result()) == float(metric.result())
