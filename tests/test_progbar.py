"""`Progbar` and `ProgbarLogger` against Keras 3's own, on a fake clock."""

from __future__ import annotations

import io
import os
import re
import sys
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras

from fitorch.callbacks.progbar_logger import ProgbarLogger
from fitorch.utils import Progbar
from fitorch.utils.progbar import is_interactive_stdout


class FakeStdout(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


class Clock:
    """A settable `time.time`: the text depends only on the times we set."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    # Both progbar modules call `time.time()` through the `time` module.
    monkeypatch.setattr(time, "time", fake)
    return fake


def use_stdout(monkeypatch: pytest.MonkeyPatch, tty: bool) -> FakeStdout:
    out = FakeStdout(tty)
    monkeypatch.setattr(sys, "stdout", out)
    return out


# Each step: (seconds since start, current, values as pairs, finalize).
Step = tuple[float, int, list[tuple[str, float]] | None, bool | None]


def drive(
    make_bar: Any, steps: list[Step], clock: Clock, out: FakeStdout, as_: str = "pairs",
    dynamic: bool | None = None,
) -> str:
    out.seek(0)
    out.truncate()
    start = clock.now
    bar = make_bar()
    if dynamic is not None:
        bar._dynamic_display = dynamic
    for t, current, values, finalize in steps:
        clock.now = start + t
        given: Any = values
        if values is not None and as_ == "mapping":
            given = dict(values)
        elif values is not None and as_ == "callable":
            given = lambda v=values: dict(v)  # noqa: E731
        bar.update(current, given, finalize=finalize)
    clock.now = start
    return out.getvalue()


def epoch_steps(target: int, per_step: float, first: float | None = None) -> list[Step]:
    """`target` steps with falling loss, small and negative values, `per_step` apart."""
    steps: list[Step] = []
    t = 0.0
    for i in range(1, target + 1):
        t += first if (i == 1 and first is not None) else per_step
        values = [
            ("loss", 2.0 / i),
            ("tiny", 3e-5 * (1 if i % 3 else 1e5)),  # alternates %.4e / %.4f: width changes
            ("neg", -0.5 / i),
        ]
        steps.append((t, i, values, None))
    return steps


CASES = {
    "ms_per_step": (32, epoch_steps(32, 0.013, first=0.4)),
    "s_per_step": (5, epoch_steps(5, 2.5)),
    "us_per_step": (200, epoch_steps(200, 0.0004)),
    "eta_minutes": (200, epoch_steps(20, 1.5)),  # unfinished: ETA over a minute
    "eta_hours": (20000, epoch_steps(12, 0.9)),  # unfinished: ETA over an hour
    "one_step": (1, epoch_steps(1, 0.2)),
}


def keras_bar(target: Any, **kw: Any) -> Any:
    return lambda: keras.utils.Progbar(target, stateless_metrics=set(), **kw)


def our_bar(target: Any, **kw: Any) -> Any:
    return lambda: Progbar(target, stateless_metrics=set(), **kw)


@pytest.mark.parametrize("as_", ["pairs", "mapping", "callable"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_live_bar_on_terminal_matches_keras(
    case: str, as_: str, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    target, steps = CASES[case]
    out = use_stdout(monkeypatch, tty=True)
    expected = drive(keras_bar(target), steps, clock, out)
    got = drive(our_bar(target), steps, clock, out, as_=as_)
    assert got == expected
    assert "\r" in got and "━" in got


def test_live_bar_shows_eta_and_redraws(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    out = use_stdout(monkeypatch, tty=True)
    steps: list[Step] = [(0.5, 1, [("loss", 1.5)], None), (1.5, 2, [("loss", 1.25)], None)]
    text = drive(our_bar(10), steps, clock, out)
    assert text.startswith("\r")
    first, second = text[1:].split("\r")
    # After step 2, one step took 1s: 8 steps to go -> an 8s ETA.
    assert second.startswith("\x1b[1m 2/10\x1b[0m \x1b[32m━━━━\x1b[0m\x1b[37m━━━━━━━━━━━━━━━━")
    assert second.endswith(" \x1b[1m8s\x1b[0m 1s/step - loss: 1.2500   ")
    # The redraw first backs over the whole visible width of the first line.
    line = first.rstrip("\b")
    visible = re.sub(r"\x1b\[\d+m", "", line)
    assert first == line + "\b" * len(visible)
    assert "4s" in visible and visible.endswith("500ms/step - loss: 1.5000")
    # The shorter second line is padded with spaces to cover the first.
    assert len(re.sub(r"\x1b\[\d+m", "", second)) == len(visible)
    assert not text.endswith("\n")


def unfinished(steps: list[Step]) -> list[Step]:
    return [(t, current, values, False) for t, current, values, _ in steps]


@pytest.mark.parametrize("as_", ["pairs", "mapping"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_verbose_2_matches_keras(
    case: str, as_: str, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    target, steps = CASES[case]
    # The last update brings new names and lacks some: all are shown, as Keras.
    final = (steps[-1][0] + 0.1, target, [("loss", 0.123), ("val_loss", -2.0)], True)
    steps = [*unfinished(steps), final]
    out = use_stdout(monkeypatch, tty=False)
    expected = drive(keras_bar(target, verbose=2), steps, clock, out)
    got = drive(our_bar(target, verbose=2), steps, clock, out, as_=as_)
    assert got == expected
    assert got.count("\n") == 1 and "val_loss: -2.0000e+00" in got


@pytest.mark.parametrize("case", sorted(CASES))
def test_non_terminal_prints_only_the_final_line(
    case: str, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    target, steps = CASES[case]
    steps = [*unfinished(steps), (steps[-1][0] + 0.1, target, [("loss", 0.5)], True)]
    out = use_stdout(monkeypatch, tty=False)
    # Keras (with redraws off) writes "\n" + line at every redraw, padded to
    # the previous line's width; we write its last line only, unpadded.
    keras_text = drive(keras_bar(target), steps, clock, out, dynamic=False)
    got = drive(our_bar(target), steps, clock, out, as_="mapping")
    assert got == keras_text.split("\n")[-2].rstrip(" ") + "\n"
    assert "\r" not in got and "\b" not in got


def test_unknown_target_matches_keras(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    steps: list[Step] = [(0.01 * i, i, [("loss", 1.0 / i)], None) for i in range(1, 9)]
    steps.append((0.2, 8, [("loss", 0.1)], True))
    out = use_stdout(monkeypatch, tty=True)
    expected = drive(keras_bar(None), steps, clock, out)
    got = drive(our_bar(None), steps, clock, out)
    assert got == expected
    assert "      8/Unknown" in got and got.endswith("\n")
    # verbose=2 says nothing without a target, as Keras.
    assert drive(our_bar(None, verbose=2), steps, clock, out) == ""


def test_averaging_matches_keras(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no `stateful_metrics`, values are averaged over the steps, as Keras."""
    steps: list[Step] = [(0.03 * i, 2 * i, [("loss", float(i)), ("acc", 0.1 * i)], None)
                         for i in range(1, 11)]
    steps.append((0.4, 20, [("loss", 7.0)], None))
    out = use_stdout(monkeypatch, tty=True)
    expected = drive(lambda: keras.utils.Progbar(20), steps, clock, out)
    got = drive(lambda: Progbar(20), steps, clock, out)
    assert got == expected
    mixed = drive(lambda: keras.utils.Progbar(20, stateful_metrics=["acc"]), steps, clock, out)
    assert drive(lambda: Progbar(20, stateful_metrics=["acc"]), steps, clock, out) == mixed


@pytest.mark.parametrize(
    ("per_step", "unit"), [(2.0, " 2s/step"), (0.02, " 20ms/step"), (2e-5, " 20us/step")]
)
def test_time_per_step_units(
    per_step: float, unit: str, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = use_stdout(monkeypatch, tty=False)
    steps: list[Step] = [(per_step * i, i, [("loss", 1e-4)], None) for i in range(1, 5)]
    text = drive(our_bar(4, unit_name="step"), steps, clock, out)
    assert unit in text
    assert text.endswith(" - loss: 1.0000e-04\n")


def test_lazy_values_read_only_when_rendered(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    use_stdout(monkeypatch, tty=True)
    calls = []

    def values() -> dict[str, float]:
        calls.append(1)
        return {"loss": 0.5}

    bar = Progbar(10, interval=1.0, stateless_metrics=set())
    bar.update(1, values)  # first update draws
    assert len(calls) == 1
    for step in range(2, 10):
        clock.now += 0.01  # well inside the interval: throttled
        bar.update(step, values)
    assert len(calls) == 1
    bar.update(10, values)  # finalize always draws
    assert len(calls) == 2
    assert sys.stdout.getvalue().endswith("loss: 0.5000\n")


class CountingLogs(Mapping[str, Any]):
    """A mapping that counts how often its values are read."""

    def __init__(self, **values: float) -> None:
        self._values = values
        self.reads = 0

    def __getitem__(self, key: str) -> float:
        self.reads += 1
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


@pytest.mark.parametrize("verbose", [0, 2])
def test_quiet_modes_never_read_batch_values(
    verbose: int, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = use_stdout(monkeypatch, tty=True)
    logs = CountingLogs(loss=0.25)
    bar = Progbar(5, verbose=verbose, stateless_metrics=set())
    for step in range(1, 5):
        clock.now += 1
        bar.update(step, logs)
    assert logs.reads == 0
    bar.update(5, logs)
    assert logs.reads == (1 if verbose == 2 else 0)
    assert ("loss: 0.2500" in out.getvalue()) == (verbose == 2)


def test_non_terminal_live_bar_reads_only_at_the_end(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_stdout(monkeypatch, tty=False)
    logs = CountingLogs(loss=0.25)
    bar = Progbar(3, stateless_metrics=set())
    for step in range(1, 4):
        clock.now += 1
        bar.update(step, logs, finalize=False)
    assert logs.reads == 0
    bar.update(3, logs, finalize=True)
    assert logs.reads == 1


def test_values_from_tensors_and_arrays(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np
    import torch

    out = use_stdout(monkeypatch, tty=False)
    bar = Progbar(1, stateless_metrics=set())
    bar.update(1, {"t": torch.tensor(0.5), "a": np.array([1.0, 3.0]), "i": 3})
    assert out.getvalue().endswith(" - t: 0.5000 - a: 2.0000 - i: 3.0000\n")


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"Received: verbose=3 \(of type int\)"):
        Progbar(10, verbose=3)
    with pytest.raises(TypeError, match=r"Received: target='10' \(of type str\)"):
        Progbar("10")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at most one"):
        Progbar(10, stateful_metrics=["a"], stateless_metrics=["b"])


def test_unencodable_stdout_falls_back_to_equals(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="ascii")
    monkeypatch.setattr(sys, "stdout", out)
    bar = Progbar(2, verbose=1, stateless_metrics=set())
    bar.update(2, [("loss", 1.0)])
    out.flush()
    text = raw.getvalue().decode("ascii")
    assert "====================" in text and "loss: 1.0000" in text


def test_is_interactive_stdout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYCHARM_HOSTED", raising=False)
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    use_stdout(monkeypatch, tty=True)
    assert is_interactive_stdout()
    use_stdout(monkeypatch, tty=False)
    assert not is_interactive_stdout()


# --- ProgbarLogger ------------------------------------------------------------


def run_fit(logger: Any, clock: Clock, steps: int | None, epochs: int, verbose: Any) -> None:
    logger.set_params({"verbose": verbose, "epochs": epochs, "steps": steps})
    logger.on_train_begin()
    for epoch in range(epochs):
        logger.on_epoch_begin(epoch)
        for batch in range(4):
            clock.now += 0.03
            logger.on_train_batch_begin(batch)
            logger.on_train_batch_end(batch, {"loss": 1.0 / (batch + 1 + epoch), "acc": 0.25})
        # Validation inside fit: silent.
        logger.on_test_begin()
        logger.on_test_batch_end(0, {"loss": 9.0})
        logger.on_test_end({"loss": 9.0})
        clock.now += 0.01
        logger.on_epoch_end(
            epoch, {"loss": 0.5 / (epoch + 1), "acc": 0.75, "val_loss": 0.6, "val_acc": 0.7}
        )
    logger.on_train_end()


@pytest.mark.parametrize("verbose", [0, 1, 2])
@pytest.mark.parametrize("steps", [4, None])
def test_logger_fit_matches_keras(
    verbose: int, steps: int | None, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = use_stdout(monkeypatch, tty=True)
    run_fit(keras.callbacks.ProgbarLogger(), clock, steps, 2, verbose)
    expected = out.getvalue()
    out.seek(0)
    out.truncate()
    run_fit(ProgbarLogger(), clock, steps, 2, verbose)
    got = out.getvalue()
    assert got == expected
    if verbose:
        assert got.startswith("Epoch 1/2\n") and "\nEpoch 2/2\n" in got
        assert got.count("val_loss: 0.6000 - val_acc: 0.7000\n") == 2
        assert "9.0000" not in got  # validation stays silent
    else:
        assert got == ""


def test_logger_single_epoch_has_no_header(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    out = use_stdout(monkeypatch, tty=False)
    run_fit(ProgbarLogger(), clock, 4, 1, "auto")
    lines = out.getvalue().splitlines()
    # Not a terminal: "auto" gives one line per epoch.
    assert len(lines) == 1
    assert lines[0].startswith("4/4 - 0s - ") and "Epoch" not in lines[0]


def test_logger_auto_is_live_bar_on_terminal(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    use_stdout(monkeypatch, tty=True)
    logger = ProgbarLogger()
    logger.set_params({"verbose": "auto", "epochs": 1, "steps": 4})
    assert logger.verbose == 1
    use_stdout(monkeypatch, tty=False)
    logger.set_params({"verbose": "auto", "epochs": 1, "steps": 4})
    assert logger.verbose == 2
    with pytest.raises(ValueError, match=r"Received: verbose='loud' \(of type str\)"):
        logger.set_params({"verbose": "loud", "epochs": 1, "steps": 4})


def run_evaluate(logger: Any, clock: Clock) -> None:
    logger.set_params({"verbose": 1, "epochs": 1, "steps": 3})
    logger.on_test_begin()
    for batch in range(3):
        clock.now += 0.2
        logger.on_test_batch_end(batch, {"loss": 0.1 * (batch + 1)})
    logger.on_test_end({"loss": 0.2, "mae": 0.0005})


def run_predict(logger: Any, clock: Clock) -> None:
    logger.set_params({"verbose": 1, "epochs": 1, "steps": 3})
    logger.on_predict_begin()
    for batch in range(3):
        clock.now += 0.2
        logger.on_predict_batch_end(batch, {"outputs": [1.0, 2.0]})
    logger.on_predict_end()


@pytest.mark.parametrize("run", [run_evaluate, run_predict])
def test_logger_evaluate_and_predict_match_keras(
    run: Any, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = use_stdout(monkeypatch, tty=True)
    run(keras.callbacks.ProgbarLogger(), clock)
    expected = out.getvalue()
    out.seek(0)
    out.truncate()
    run(ProgbarLogger(), clock)
    got = out.getvalue()
    assert got == expected
    assert "3/3" in got and got.endswith("\n") and "outputs" not in got


def test_logger_evaluate_after_fit_shows_its_bar(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = use_stdout(monkeypatch, tty=True)
    logger = ProgbarLogger()
    run_fit(logger, clock, 4, 1, 1)
    before = out.getvalue()
    run_evaluate(logger, clock)
    assert "mae: 5.0000e-04" in out.getvalue()[len(before):]


def test_logger_verbose_2_reads_only_epoch_logs(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_stdout(monkeypatch, tty=True)
    logger = ProgbarLogger()
    logger.set_params({"verbose": 2, "epochs": 1, "steps": 50})
    logger.on_train_begin()
    logger.on_epoch_begin(0)
    batch_logs = CountingLogs(loss=1.0)
    for batch in range(50):
        logger.on_train_batch_end(batch, batch_logs)
    assert batch_logs.reads == 0
    epoch_logs = CountingLogs(loss=0.5)
    logger.on_epoch_end(0, epoch_logs)
    assert epoch_logs.reads == 1
    assert sys.stdout.getvalue().endswith("loss: 0.5000\n")


def test_logger_live_bar_reads_batch_logs_only_on_redraw(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_stdout(monkeypatch, tty=True)
    logger = ProgbarLogger()
    logger.set_params({"verbose": 1, "epochs": 1, "steps": 100})
    logger.on_train_begin()
    logger.on_epoch_begin(0)
    batch_logs = CountingLogs(loss=1.0)
    for batch in range(100):
        clock.now += 0.001  # 100 batches in 0.1s: about 2 redraws of 0.05s
        logger.on_train_batch_end(batch, batch_logs)
    assert 1 <= batch_logs.reads <= 3
