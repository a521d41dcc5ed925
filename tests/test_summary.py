"""`model.summary()` against Keras 3's text, parameter counts, and model building rules."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np
import pytest
import torch

import fitorch as ft
from fitorch.summary import count_params, readable_memory_size, summary_text


def _keras_text(model: keras.Model, **kwargs: object) -> str:
    captured: list[str] = []
    model.summary(print_fn=lambda text, **_: captured.append(text), **kwargs)
    return captured[0]


def _fitorch_text(model: ft.Model, **kwargs: object) -> str:
    captured: list[str] = []
    model.summary(print_fn=captured.append, **kwargs)
    return captured[0]


def _keras_mlp() -> keras.Model:
    return keras.Sequential([
        keras.Input(shape=(784,)),
        keras.layers.Dense(128, activation="relu", name="dense"),
        keras.layers.Dropout(0.2, name="dropout"),
        keras.layers.Dense(10, activation="softmax", name="dense_1"),
    ], name="sequential")


def _fitorch_mlp() -> ft.Sequential:
    return ft.Sequential([
        ft.Input(shape=(784,)),
        ft.layers.Dense(128, activation="relu", name="dense"),
        ft.layers.Dropout(0.2, name="dropout"),
        ft.layers.Dense(10, activation="softmax", name="dense_1"),
    ], name="sequential")


def _keras_cnn() -> keras.Model:
    cf = "channels_first"
    return keras.Sequential([
        keras.Input(shape=(3, 16, 16)),
        keras.layers.Conv2D(8, 3, activation="relu", data_format=cf, name="conv2d"),
        keras.layers.BatchNormalization(axis=1, name="batch_normalization"),
        keras.layers.MaxPooling2D(data_format=cf, name="max_pooling2d"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(10, name="dense"),
    ], name="sequential")


def _fitorch_cnn() -> ft.Sequential:
    return ft.Sequential([
        ft.Input(shape=(3, 16, 16)),
        ft.layers.Conv2D(8, 3, activation="relu", name="conv2d"),
        ft.layers.BatchNormalization(name="batch_normalization"),
        ft.layers.MaxPooling2D(name="max_pooling2d"),
        ft.layers.Flatten(name="flatten"),
        ft.layers.Dense(10, name="dense"),
    ], name="sequential")


# ----------------------------------------------------------- Keras's text
def test_mlp_summary_text_equals_keras() -> None:
    expected = _keras_text(_keras_mlp())
    text = _fitorch_text(_fitorch_mlp())
    assert text == expected
    assert " Total params: 101,770 (397.54 KB)" in text
    assert "│ dense_1 (Dense)" in text


def test_cnn_summary_text_and_counts_equal_keras() -> None:
    kmodel, fmodel = _keras_cnn(), _fitorch_cnn()
    expected = _keras_text(kmodel)
    text = _fitorch_text(fmodel)
    assert text == expected
    # Batch norm's moving statistics are weights, not trainable (Keras's split).
    assert " Non-trainable params: 16 (64.00 B)" in text
    assert count_params(fmodel) == kmodel.count_params()


@pytest.mark.parametrize("kwargs", [
    {"show_trainable": True},
    {"line_length": 60},
    {"line_length": 50, "show_trainable": True},
    {"positions": [0.3, 0.6, 1.0], "line_length": 70},
])
def test_layout_options_match_keras(kwargs: dict[str, object]) -> None:
    assert _fitorch_text(_fitorch_cnn(), **kwargs) == _keras_text(_keras_cnn(), **kwargs)


def test_long_layer_names_wrap_and_truncate_like_keras() -> None:
    name = "a_very_long_layer_name_that_overflows_the_column"
    kmodel = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(2, name=name)],
                              name="seq")
    fmodel = ft.Sequential([ft.Input(shape=(4,)), ft.layers.Dense(2, name=name)], name="seq")
    text = _fitorch_text(fmodel)
    assert text == _keras_text(kmodel)
    assert "…" in text


def test_optimizer_params_line_after_training() -> None:
    model = _fitorch_mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = np.zeros((4, 784), "float32")
    model.fit(x, np.zeros(4, "int64"), epochs=1, verbose=0)
    text = _fitorch_text(model)
    # Adam keeps two moments per weight: 2 * 101,770.
    assert " Optimizer params: 203,540 (795.08 KB)" in text
    assert " Total params: 305,310 (1.16 MB)" in text


# ------------------------------------------------------- unknown shapes
def test_unbuilt_sequential_shows_question_marks() -> None:
    model = ft.Sequential([ft.layers.Dense(3, name="a"), ft.layers.Dropout(0.1, name="b")],
                          name="s")
    text = _fitorch_text(model)
    assert "│ a (Dense)                       │ ?                      │   0 (unbuilt) │" in text
    assert "│ b (Dropout)                     │ ?                      │             0 │" in text
    assert " Total params: 0 (0.00 B)" in text


def test_wrapped_module_shapes_after_build() -> None:
    module = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    model = ft.Model(module)
    before = _fitorch_text(model)
    assert "│ 0 (Linear)" in before and "│ ?" in before
    assert " Total params: 58 (232.00 B)" in before
    model.build((None, 4))
    after = _fitorch_text(model)
    assert "(None, 8)" in after and "(None, 2)" in after and "?" not in after


class _Net(ft.Model):
    def __init__(self) -> None:
        super().__init__()
        self.body = torch.nn.Sequential(ft.layers.Dense(6, name="hidden"),
                                        torch.nn.BatchNorm1d(6))
        self.head = ft.layers.Dense(1, name="out")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def test_subclassed_model_nested_rows_and_frozen_weights() -> None:
    model = _Net()
    model.build((None, 3))
    model.head.requires_grad_(False)
    text = _fitorch_text(model, expand_nested=True, show_trainable=True, line_length=90)
    assert "│ body (Sequential)" in text
    assert "   └ hidden (Dense)" in text
    assert "   └ 1 (BatchNorm1d)" in text
    # 24 (hidden) + 12 (bn affine) + 12 (bn running stats) + 7 (out, frozen).
    assert " Total params: 55 (220.00 B)" in text
    assert " Trainable params: 36 (144.00 B)" in text
    assert " Non-trainable params: 19 (76.00 B)" in text
    out_row = next(line for line in text.splitlines() if "out (Dense)" in line)
    assert out_row.rstrip("│").strip().endswith("N")


class _TwoInputs(ft.Model):
    def __init__(self) -> None:
        super().__init__()
        self.left = ft.layers.Dense(3, name="left")
        self.right = ft.layers.Dense(3, name="right")

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.left(a) * self.right(b)


def test_build_with_several_inputs() -> None:
    model = _TwoInputs()
    model.build([(None, 4), (None, 2, 5)])
    text = _fitorch_text(model)
    assert "│ left (Dense)                    │ (None, 3)" in text
    assert "│ right (Dense)                   │ (None, 2, 3)" in text
    assert " Total params: 33 (132.00 B)" in text


def test_static_batch_size_is_shown() -> None:
    model = ft.Sequential([ft.Input(shape=(5,), batch_size=50), ft.layers.Dense(2, name="d")])
    assert "(50, 2)" in _fitorch_text(model)


def test_summary_prints_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    _fitorch_mlp().summary()
    out = capsys.readouterr().out
    assert out.startswith('Model: "sequential"\n┏')
    assert out.endswith(" Non-trainable params: 0 (0.00 B)\n")


# --------------------------------------------------------------- helpers
@pytest.mark.parametrize(("size", "text"), [
    (0, "0.00 B"), (1023, "1023.00 B"), (5160, "5.04 KB"), (407080, "397.54 KB"),
    (3 * 1024**3, "3.00 GB"),
])
def test_readable_memory_size(size: int, text: str) -> None:
    assert readable_memory_size(size) == text


def test_summary_argument_errors() -> None:
    model = _fitorch_mlp()
    with pytest.raises(ValueError, match="Insufficient console width"):
        summary_text(model, line_length=10)
    with pytest.raises(ValueError, match="line_length"):
        summary_text(model, line_length=-3)
    with pytest.raises(ValueError, match="one entry per column"):
        summary_text(model, positions=[0.5, 1.0])
    with pytest.raises(TypeError, match="print_fn"):
        model.summary(print_fn="print")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="input_shape"):
        ft.Model(torch.nn.Linear(2, 2)).build("x")


# -------------------------------------------------------- model building
class _CountBatches(ft.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def on_train_batch_end(self, batch: int, logs: object = None) -> None:
        self.sizes.append(batch)


def test_static_input_batch_size_rule() -> None:
    model = ft.Sequential([ft.Input(shape=(4,), batch_size=50), ft.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.zeros((1000, 4), "float32")
    y = np.zeros((1000, 1), "float32")
    counter = _CountBatches()
    model.fit(x, y, epochs=1, verbose=0, callbacks=[counter])
    assert len(counter.sizes) == 20
    with pytest.raises(ValueError, match="batch_size"):
        model.fit(x, y, batch_size=20, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="batch_size"):
        model.predict(x, batch_size=20, verbose=0)
