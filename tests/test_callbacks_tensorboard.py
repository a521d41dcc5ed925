"""TensorBoard: event files read back with tensorboard's EventAccumulator.

The expected layout, tags and steps are Keras 3's (keras/src/callbacks/tensorboard.py):
`train/` and `validation/` runs, `epoch_<name>` at step = epoch, `batch_<name>` at the
global batch, `evaluation_<name>_vs_iterations` at the optimizer's step count.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import fitorch as ft
from keras_twins import make_data

# Per-batch hooks on tiny models can trip the engine's slow-callback warning on a busy
# machine; it is not what these tests are about.
pytestmark = pytest.mark.filterwarnings("ignore:Callback method .* is slow")

SCCE = "sparse_categorical_crossentropy"
X, Y = make_data(96)  # 64 train + 32 validation samples: 2 + 1 batches of 32


def read(run_dir: Path) -> EventAccumulator:
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "histograms": 0,
                                                           "images": 0, "tensors": 0})
    events.Reload()
    return events


def scalars(events: EventAccumulator) -> dict[str, list[tuple[int, float]]]:
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)]
            for tag in events.Tags()["scalars"]}


def model_and_fit(tb: ft.callbacks.TensorBoard, epochs: int = 3, **kwargs: Any) -> Any:
    model = ft.Sequential([ft.Input(shape=(8,)), ft.layers.Dense(16, activation="relu"),
                           ft.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=ft.optimizers.Adam(0.01), loss=SCCE, metrics=["accuracy"])
    history = model.fit(X, Y, batch_size=32, epochs=epochs, shuffle=False, verbose=0,
                        validation_split=1 / 3, callbacks=[tb], **kwargs)
    return model, history


def test_epoch_summaries_layout_tags_and_steps(tmp_path: Path) -> None:
    _, history = model_and_fit(ft.callbacks.TensorBoard(log_dir=tmp_path))
    assert sorted(os.listdir(tmp_path)) == ["train", "validation"]
    train, val = scalars(read(tmp_path / "train")), scalars(read(tmp_path / "validation"))
    h = history.history
    assert sorted(train) == ["epoch_accuracy", "epoch_learning_rate", "epoch_loss"]
    assert [s for s, _ in train["epoch_loss"]] == [0, 1, 2]
    np.testing.assert_allclose([v for _, v in train["epoch_loss"]], h["loss"], rtol=1e-6)
    np.testing.assert_allclose([v for _, v in train["epoch_learning_rate"]], [0.01] * 3)
    assert sorted(val) == ["epoch_accuracy", "epoch_loss", "evaluation_accuracy_vs_iterations",
                           "evaluation_loss_vs_iterations"]
    np.testing.assert_allclose([v for _, v in val["epoch_loss"]], h["val_loss"], rtol=1e-6)
    # Validation after each epoch, at the optimizer's step count: 2 steps per epoch.
    assert [s for s, _ in val["evaluation_loss_vs_iterations"]] == [2, 4, 6]
    np.testing.assert_allclose([v for _, v in val["evaluation_accuracy_vs_iterations"]],
                               h["val_accuracy"], rtol=1e-6)
    assert read(tmp_path / "train").Tags()["graph"] is True  # write_graph defaults to True


@pytest.mark.parametrize("update_freq, steps", [("batch", [1, 2, 3, 4, 5, 6]), (4, [4])])
def test_batch_summaries_every_n_batches(tmp_path: Path, update_freq: Any,
                                         steps: list[int]) -> None:
    tb = ft.callbacks.TensorBoard(log_dir=tmp_path, update_freq=update_freq,
                                  write_steps_per_second=True, write_graph=False)
    model_and_fit(tb)
    train = scalars(read(tmp_path / "train"))
    for tag in ("batch_loss", "batch_accuracy", "batch_steps_per_second"):
        assert [s for s, _ in train[tag]] == steps, tag
    assert [s for s, _ in train["epoch_steps_per_second"]] == [0, 1, 2]
    assert all(v > 0 for _, v in train["epoch_steps_per_second"])
    assert not read(tmp_path / "train").Tags()["graph"]


def test_histograms_and_images_every_n_epochs(tmp_path: Path) -> None:
    model, _ = model_and_fit(ft.callbacks.TensorBoard(log_dir=tmp_path, histogram_freq=2,
                                                      write_images=True))
    events = read(tmp_path / "train")
    names = [n.replace(".", "/") for n, _ in model.named_parameters()]
    assert sorted(events.Tags()["histograms"]) == sorted(f"{n}/histogram" for n in names)
    assert sorted(events.Tags()["images"]) == sorted(f"{n}/image" for n in names)
    first = names[0]
    assert [e.step for e in events.Histograms(f"{first}/histogram")] == [0, 2]
    last_weight = next(iter(model.parameters())).detach().numpy()
    histogram = events.Histograms(f"{first}/histogram")[-1].histogram_value
    assert histogram.num == last_weight.size
    assert histogram.min == pytest.approx(last_weight.min())
    assert histogram.max == pytest.approx(last_weight.max())


def test_graph_tracing_failure_warns_once_and_training_goes_on(tmp_path: Path) -> None:
    class Untraceable(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.dense = torch.nn.Linear(8, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if torch.jit.is_tracing():
                raise RuntimeError("this model cannot be traced")
            return self.dense(x)

    model = ft.Model(Untraceable())
    model.compile(optimizer="sgd", loss=ft.losses.SparseCategoricalCrossentropy(
        from_logits=True))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(X, Y, batch_size=32, epochs=2, verbose=0,
                            callbacks=[ft.callbacks.TensorBoard(log_dir=tmp_path)])
    messages = [str(w.message) for w in caught if "TensorBoard" in str(w.message)]
    assert len(messages) == 1 and "cannot be traced" in messages[0]
    assert len(history.history["loss"]) == 2
    assert [s for s, _ in scalars(read(tmp_path / "train"))["epoch_loss"]] == [0, 1]


def test_graph_tracing_changes_neither_training_nor_module_modes(tmp_path: Path) -> None:
    def run(callbacks: list[Any]) -> tuple[dict[str, torch.Tensor], list[float]]:
        torch.manual_seed(1)
        model = ft.Sequential([ft.Input(shape=(8,)), ft.layers.Dense(16, activation="relu"),
                               ft.layers.BatchNormalization(), ft.layers.Dropout(0.5),
                               ft.layers.Dense(3, activation="softmax")])
        model.compile(optimizer="adam", loss=SCCE)
        frozen = next(m for m in model.modules() if isinstance(m, ft.layers.BatchNormalization))
        modes: list[bool] = []
        # `fit` puts the model in training mode every epoch: freeze the batch norm per batch.
        freeze = ft.callbacks.LambdaCallback(on_train_batch_begin=lambda b, logs: frozen.eval())
        check = ft.callbacks.LambdaCallback(
            on_train_batch_end=lambda batch, logs: modes.append(frozen.training))
        history = model.fit(X, Y, batch_size=32, epochs=2, verbose=0, shuffle=False,
                            callbacks=[freeze, *callbacks, check])
        assert modes and not any(modes)  # the frozen batch norm stayed in inference mode
        return model.state_dict(), history.history["loss"]

    with_graph = run([ft.callbacks.TensorBoard(log_dir=tmp_path)])
    without = run([])
    assert read(tmp_path / "train").Tags()["graph"] is True
    assert with_graph[1] == without[1]
    for name, value in without[0].items():
        torch.testing.assert_close(with_graph[0][name], value, rtol=0, atol=0)


def test_evaluate_alone_writes_evaluation_summaries(tmp_path: Path) -> None:
    model, _ = model_and_fit(ft.callbacks.TensorBoard(log_dir=tmp_path / "fit"), epochs=1)
    tb = ft.callbacks.TensorBoard(log_dir=tmp_path / "eval")
    loss = model.evaluate(X, Y, verbose=0, callbacks=[tb])[0]
    val = scalars(read(tmp_path / "eval" / "validation"))
    assert val["evaluation_loss_vs_iterations"] == [(2, pytest.approx(loss))]


def test_any_torch_optimizer_counts_training_steps(tmp_path: Path) -> None:
    model = ft.Model(torch.nn.Linear(8, 3))
    model.compile(optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                  loss=ft.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(X, Y, batch_size=32, epochs=2, verbose=0, validation_split=1 / 3,
              callbacks=[ft.callbacks.TensorBoard(log_dir=tmp_path, write_graph=False)])
    val = scalars(read(tmp_path / "validation"))
    assert [s for s, _ in val["evaluation_loss_vs_iterations"]] == [2, 4]
    train = scalars(read(tmp_path / "train"))
    np.testing.assert_allclose([v for _, v in train["epoch_learning_rate"]], [0.1, 0.1])


def test_batch_steps_resume_with_the_state(tmp_path: Path) -> None:
    tb = ft.callbacks.TensorBoard(log_dir=tmp_path / "a", update_freq="batch",
                                  write_graph=False)
    model, _ = model_and_fit(tb, epochs=1)
    state = tb.state_dict()
    assert state == {"global_train_batch": 2, "global_test_batch": 1, "steps_seen": 2}
    resumed = ft.callbacks.TensorBoard(log_dir=tmp_path / "a", update_freq="batch",
                                       write_graph=False)
    resumed.load_state_dict(state)
    model.fit(X, Y, batch_size=32, epochs=2, initial_epoch=1, shuffle=False, verbose=0,
              validation_split=1 / 3, callbacks=[resumed])
    train = scalars(read(tmp_path / "a" / "train"))
    assert [s for s, _ in train["batch_loss"]] == [1, 2, 3, 4]
    assert [s for s, _ in train["epoch_loss"]] == [0, 1]
    # Without a state, a new fit restarts the batch steps at 1, as Keras does.
    fresh = ft.callbacks.TensorBoard(log_dir=tmp_path / "b", update_freq="batch",
                                     write_graph=False)
    model.fit(X, Y, batch_size=32, epochs=2, initial_epoch=1, verbose=0, callbacks=[fresh])
    assert [s for s, _ in scalars(read(tmp_path / "b" / "train"))["batch_loss"]] == [1, 2, 3]


def test_embeddings_for_the_projector(tmp_path: Path) -> None:
    class Bag(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = torch.nn.Embedding(5, 4)
            self.head = torch.nn.Linear(4, 2)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return self.head(self.embedding(ids).mean(1))

    labels = tmp_path / "labels.tsv"
    labels.write_text("a\nb\nc\nd\ne\n")
    model = ft.Model(Bag())
    model.compile(optimizer="sgd", loss=ft.losses.SparseCategoricalCrossentropy(
        from_logits=True))
    ids = np.random.default_rng(0).integers(0, 5, size=(16, 3))
    tb = ft.callbacks.TensorBoard(log_dir=tmp_path / "logs", embeddings_freq=1,
                                  embeddings_metadata={"module.embedding": str(labels)},
                                  write_graph=False)
    model.fit(ids, ids[:, 0] % 2, epochs=2, verbose=0, callbacks=[tb])
    train = tmp_path / "logs" / "train"
    config = (train / "projector_config.pbtxt").read_text()
    assert config.count("tensor_path") == 2 and "module.embedding" in config
    tensors = sorted(train.glob("*/module.embedding/tensors.tsv"))
    assert len(tensors) == 2
    rows = np.loadtxt(tensors[-1])
    np.testing.assert_allclose(rows, model.module.embedding.weight.detach().numpy(), rtol=1e-5)
    assert (tensors[-1].parent / "metadata.tsv").read_text().split() == list("abcde")
    bad = ft.callbacks.TensorBoard(log_dir=tmp_path / "bad", embeddings_freq=1,
                                   embeddings_metadata={"nope": str(labels)})
    with pytest.raises(ValueError, match=r"Unrecognized embedding layer names.*\['nope'\]"):
        model.fit(ids, ids[:, 0] % 2, epochs=1, verbose=0, callbacks=[bad])


def test_profile_batch_writes_a_torch_profiler_trace(tmp_path: Path) -> None:
    model_and_fit(ft.callbacks.TensorBoard(log_dir=tmp_path, profile_batch=(2, 3),
                                           write_graph=False), epochs=2)
    traces = list((tmp_path / "train").glob("*.pt.trace.json"))
    assert len(traces) == 1 and traces[0].stat().st_size > 0


@pytest.mark.parametrize("kwargs, match", [
    ({"histogram_freq": -1}, "histogram_freq=-1"),
    ({"embeddings_freq": 0.5}, "embeddings_freq=0.5"),
    ({"update_freq": "step"}, "update_freq='step'"),
    ({"update_freq": 0}, "update_freq=0"),
    ({"profile_batch": -1}, "profile_batch=-1"),
    ({"profile_batch": (5, 2)}, r"profile_batch=\(5, 2\)"),
    ({"profile_batch": "a,b"}, "profile_batch='a,b'"),
    ({"profile_batch": (1, 2, 3)}, r"profile_batch=\(1, 2, 3\)"),
])
def test_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ft.callbacks.TensorBoard(**kwargs)


def test_profile_batch_forms() -> None:
    tb = ft.callbacks.TensorBoard(profile_batch="3,5")
    assert (tb._start_batch, tb._stop_batch, tb._should_trace) == (3, 5, True)
    assert ft.callbacks.TensorBoard()._should_trace is False
