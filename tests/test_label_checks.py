"""Class-index labels are checked on all the data, training and validation, before the
first optimizer step, whatever the spelling of the loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import fitorch as ft

SPELLINGS = {
    "string": lambda: "sparse_categorical_crossentropy",
    "class": lambda: ft.losses.SparseCategoricalCrossentropy(from_logits=True),
    "function": lambda: ft.losses.sparse_categorical_crossentropy,
    "torch CrossEntropyLoss": lambda: torch.nn.CrossEntropyLoss(),
    "torch NLLLoss class": lambda: torch.nn.NLLLoss,
    "torch function": lambda: torch.nn.functional.cross_entropy,
}


def model_with(loss) -> ft.Model:
    torch.manual_seed(0)
    model = ft.Model(torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LogSoftmax(-1)))
    model.compile(optimizer="sgd", loss=loss)
    return model


def data(n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 4)).astype("float32"), rng.integers(0, 3, n).astype("int64")


def weights(model: ft.Model) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def assert_unchanged(model: ft.Model, before: list[torch.Tensor]) -> None:
    for a, b in zip(before, model.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("spelling", list(SPELLINGS))
def test_an_out_of_range_label_in_the_last_batch_fails_before_the_first_step(spelling):
    model = model_with(SPELLINGS[spelling]())
    x, y = data()
    y[-1] = 3
    before = weights(model)
    with pytest.raises(ValueError, match=r"label value of 3 which is outside the valid range "
                                         r"of \[0, 3\)"):
        model.fit(x, y, batch_size=8, verbose=0)
    assert_unchanged(model, before)


@pytest.mark.parametrize("spelling", ["string", "class", "torch CrossEntropyLoss"])
def test_out_of_range_validation_labels_fail_before_the_first_step(spelling):
    model = model_with(SPELLINGS[spelling]())
    x, y = data()
    val_y = y[:8].copy()
    val_y[3] = -2
    before = weights(model)
    with pytest.raises(ValueError, match=r"-2 .*validation_data's y"):
        model.fit(x, y, batch_size=8, validation_data=(x[:8], val_y), verbose=0)
    assert_unchanged(model, before)


def test_out_of_range_labels_from_validation_split_fail_before_the_first_step():
    model = model_with("sparse_categorical_crossentropy")
    x, y = data()
    y[-1] = 5  # lands in the validation split
    before = weights(model)
    with pytest.raises(ValueError, match="label value of 5.*validation_data's y"):
        model.fit(x, y, batch_size=8, validation_split=0.25, verbose=0)
    assert_unchanged(model, before)


def test_fractional_float_labels_are_refused_not_truncated():
    model = model_with("sparse_categorical_crossentropy")
    x, y = data()
    labels = y.astype("float32")
    labels[7] = 1.5
    before = weights(model)
    with pytest.raises(ValueError, match=r"whole-number class indices.*\[1.5\]"):
        model.fit(x, labels, batch_size=8, verbose=0)
    assert_unchanged(model, before)


def test_whole_float_labels_and_ignored_class_train():
    model = model_with(ft.losses.SparseCategoricalCrossentropy(ignore_class=-1))
    x, y = data()
    labels = y.astype("float32")
    labels[0] = -1  # the ignored class is no error
    model.fit(x, labels, batch_size=8, verbose=0)


def test_each_output_of_a_multi_output_model_is_checked():
    class TwoHeads(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = torch.nn.Linear(4, 3), torch.nn.Linear(4, 5)

        def forward(self, x):
            return {"a": self.a(x), "b": self.b(x)}

    torch.manual_seed(0)
    model = ft.Model(TwoHeads())
    model.compile(optimizer="sgd", loss={"a": "sparse_categorical_crossentropy",
                                         "b": "sparse_categorical_crossentropy"})
    x, y = data()
    yb = y.copy()
    yb[-1] = 5  # output b has 5 classes: [0, 5)
    before = weights(model)
    with pytest.raises(ValueError, match=r"label value of 5 .*\[0, 5\)"):
        model.fit(x, {"a": y, "b": yb}, batch_size=8, verbose=0)
    assert_unchanged(model, before)
    yb[-1] = 4
    model.fit(x, {"a": y, "b": yb}, batch_size=8, verbose=0)  # in range: trains
