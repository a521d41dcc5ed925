"""Worker threads and processes: exactly once, in order, bounded, seeded, and never hanging.

Every test that runs workers also checks that none outlives the call: the child
processes and fitorch's data threads are the same before and after.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
import time
import traceback
from typing import Any

import numpy as np
import pytest
import torch

import fitorch as ft
from fitorch.data import SequenceAdapter, get_adapter
from fitorch.data.workers import WorkerConfig
from sequence_helpers import (
    BadBatchError,
    CountingSequence,
    DataSequence,
    FailingSequence,
    MixedSizes,
    RandomSequence,
    Recorder,
    SlowSequence,
    batch_for,
    child_pids,
    data_threads,
    small_model,
)

# torch suggests no more workers than CPUs; the tests ask for 4 on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")

MODES = {
    "threads": {"workers": 4, "use_multiprocessing": False},
    "processes": {"workers": 4, "use_multiprocessing": True},
}


@pytest.fixture
def no_leaks():
    """Fails the test if a worker process or data thread survives it."""
    before = child_pids()
    yield before
    assert child_pids() == before, "a worker process outlived the call"
    assert data_threads() == [], "a data thread outlived the call"


def test_worker_config_follows_keras_rule():
    assert WorkerConfig(1, False).mode == "main"
    assert WorkerConfig(0, True).mode == "main"
    assert WorkerConfig(2, False).mode == "threads"
    assert WorkerConfig(1, True).mode == "processes"
    assert WorkerConfig(3, True).mode == "processes"


# --- exactly once, in order ----------------------------------------------------------


@pytest.mark.parametrize("shuffle", [False, True], ids=["ordered", "shuffled"])
@pytest.mark.parametrize("mode", ["threads", "processes"])
def test_every_index_exactly_once_per_epoch_in_order(mode, shuffle, no_leaks):
    n, epochs = 7, 3
    counts = mp.Array("i", n * epochs)
    seq = CountingSequence(n, epochs, counts, max_queue_size=6, **MODES[mode])
    model = Recorder()
    torch.manual_seed(7)
    model.fit(seq, epochs=epochs, shuffle=shuffle, verbose=0)

    assert list(counts) == [1] * (n * epochs), "an index was fetched twice or not at all"
    torch.manual_seed(7)
    expected_orders = [torch.randperm(n).tolist() if shuffle else list(range(n))
                       for _ in range(epochs)]
    assert len(model.seen) == n * epochs
    for epoch, order in enumerate(expected_orders):
        served = model.seen[epoch * n:(epoch + 1) * n]
        assert [index for index, _ in served] == order
        # The workers saw what on_epoch_end (main process) changed after the last epoch.
        assert {seen_epoch for _, seen_epoch in served} == {epoch}
    assert seq.epoch == epochs  # on_epoch_end ran once per epoch, in the main process


def test_processes_do_the_fetching(no_leaks):
    n = 6
    counts, pids = mp.Array("i", n), mp.Array("i", n)
    seq = CountingSequence(n, 1, counts, pids=pids, workers=2, use_multiprocessing=True)
    Recorder().fit(seq, epochs=1, shuffle=False, verbose=0)
    workers = set(pids)
    assert os.getpid() not in workers
    assert len(workers) == 2


@pytest.mark.parametrize("mode", ["threads", "processes"])
def test_workers_give_the_same_history_as_one_worker(mode, no_leaks):
    def run(**kwargs: Any) -> dict[str, list[float]]:
        model = small_model(dropout=0.3)
        torch.manual_seed(1)
        seq = DataSequence(6, **kwargs)
        return model.fit(seq, epochs=3, shuffle=True, verbose=0).history

    reference = run()
    parallel = run(workers=2, use_multiprocessing=mode == "processes")
    assert reference.keys() == parallel.keys()
    for key in reference:
        np.testing.assert_array_equal(parallel[key], reference[key], err_msg=key)


@pytest.mark.parametrize("mode", ["threads", "processes"])
def test_evaluate_and_predict_with_workers(mode, no_leaks):
    model = small_model()
    kwargs = {"workers": 2, "use_multiprocessing": mode == "processes"}
    x, y = (np.concatenate(parts) for parts in zip(*[batch_for(i) for i in range(5)]))
    expected_loss = model.evaluate(x, y, batch_size=4, verbose=0)
    expected_pred = model.predict(x, batch_size=4, verbose=0)
    np.testing.assert_allclose(model.evaluate(DataSequence(5), verbose=0, **kwargs),
                               expected_loss, rtol=1e-6)
    np.testing.assert_allclose(model.predict(DataSequence(5), verbose=0, **kwargs),
                               expected_pred, rtol=1e-6)


# --- bounded prefetch ------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["threads", "processes"])
def test_max_queue_size_bounds_prefetch(mode, no_leaks):
    n, queue_size = 8, 4
    counts = mp.Array("i", n)
    seq = CountingSequence(n, 1, counts)
    adapter = SequenceAdapter(seq, workers=2, use_multiprocessing=mode == "processes",
                              max_queue_size=queue_size)
    ahead = []
    try:
        batches = adapter.batches()
        for consumed in range(1, n + 1):
            next(batches)
            time.sleep(0.08)  # give the workers time to run as far ahead as they may
            ahead.append(sum(counts) - consumed)
    finally:
        adapter.close()
    assert max(ahead) == queue_size  # they do fetch ahead, and no further


# --- seeds -----------------------------------------------------------------------------


def test_worker_processes_get_reproducible_distinct_seeds(no_leaks):
    def draws() -> tuple[np.ndarray, np.ndarray]:
        torch.manual_seed(3)
        adapter = SequenceAdapter(RandomSequence(8), workers=2, use_multiprocessing=True)
        try:
            first = torch.cat([b[0] for b in adapter.batches()]).numpy()
            second = torch.cat([b[0] for b in adapter.batches()]).numpy()
        finally:
            adapter.close()
        return first, second

    (a1, a2), (b1, b2) = draws(), draws()
    # Columns: NumPy, Python `random`, torch; then the worker's pid.
    np.testing.assert_array_equal(a1[:, :3], b1[:, :3])  # manual_seed reproduces them
    np.testing.assert_array_equal(a2[:, :3], b2[:, :3])
    assert not np.isin(a1[:, :3], a2[:, :3]).any()  # a new epoch draws new numbers
    pids = a1[:, 3]
    worker0, worker1 = a1[pids == pids[0], :3], a1[pids != pids[0], :3]
    assert len(worker1) > 0
    assert not np.isin(worker0, worker1).any()  # the two workers do not share a stream


def test_drawing_worker_seeds_leaves_the_global_rng_alone(no_leaks):
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    adapter = SequenceAdapter(DataSequence(4), workers=2, use_multiprocessing=True)
    try:
        list(adapter.batches())
    finally:
        adapter.close()
    torch.testing.assert_close(torch.rand(3), expected)


# --- start methods ---------------------------------------------------------------------


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_start_methods(method):
    previous = mp.get_start_method(allow_none=True)
    mp.set_start_method(method, force=True)
    try:
        model = small_model()
        history = model.fit(DataSequence(4, workers=1, use_multiprocessing=True), epochs=1,
                            shuffle=False, verbose=0).history
    finally:
        mp.set_start_method(previous, force=True)
    reference = small_model().fit(DataSequence(4), epochs=1, shuffle=False, verbose=0).history
    np.testing.assert_array_equal(history["loss"], reference["loss"])
    assert data_threads() == []


# --- failures never hang -----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["main", "threads", "processes"])
def test_exception_in_getitem_keeps_type_and_traceback(mode, no_leaks):
    kwargs = {} if mode == "main" else {"workers": 2, "use_multiprocessing": mode == "processes"}
    seq = FailingSequence(6, fail_at=3, **kwargs)
    start = time.monotonic()
    with pytest.raises(BadBatchError, match="bad batch 3") as info:
        small_model().fit(seq, epochs=2, shuffle=False, verbose=0)
    assert time.monotonic() - start < 10
    text = "".join(traceback.format_exception(info.value))
    assert "in load_batch" in text
    assert 'raise BadBatchError(f"bad batch {index}")' in text


@pytest.mark.parametrize("kwargs", [{}, {"workers": 2},
                                    {"workers": 2, "use_multiprocessing": True}],
                         ids=["main", "thread", "processes-asked"])
def test_exception_in_generator_keeps_type_and_traceback(kwargs, no_leaks):
    def batches():
        for i in range(10):
            if i == 4:
                raise BadBatchError(f"generator broke at {i}")
            yield batch_for(i)

    start = time.monotonic()
    with pytest.raises(BadBatchError, match="generator broke at 4") as info:
        if kwargs.get("use_multiprocessing"):
            with pytest.warns(UserWarning, match="does not apply to a Python generator"):
                small_model().fit(batches(), epochs=1, verbose=0, **kwargs)
        else:
            small_model().fit(batches(), epochs=1, verbose=0, **kwargs)
    assert time.monotonic() - start < 10
    text = "".join(traceback.format_exception(info.value))
    assert "in batches" in text
    assert 'raise BadBatchError(f"generator broke at {i}")' in text


def test_killed_worker_raises_a_clear_error_quickly(no_leaks):
    before = no_leaks

    class KillAWorker(ft.callbacks.Callback):
        killed_at = 0.0

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            if batch == 2:
                workers = sorted(child_pids() - before)
                assert workers, "no worker process to kill"
                self.killed_at = time.monotonic()
                os.kill(workers[0], signal.SIGKILL)  # what the OOM killer does

    killer = KillAWorker()
    seq = SlowSequence(200, delay=0.02, workers=2, use_multiprocessing=True)
    with pytest.raises(RuntimeError, match=r"worker.*(killed by signal|exited unexpectedly)"):
        small_model().fit(seq, epochs=1, shuffle=False, verbose=0, callbacks=[killer])
    assert killer.killed_at > 0
    assert time.monotonic() - killer.killed_at < 10


@pytest.mark.parametrize("source", ["sequence-threads", "sequence-processes", "generator-thread"])
def test_ctrl_c_runs_on_train_end_and_reaps_workers(source, no_leaks):
    before = no_leaks

    class CtrlC(ft.callbacks.Callback):
        train_ended = False

        def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
            if batch == 3:
                # Ctrl-C reaches the whole foreground process group: the workers too.
                for pid in child_pids() - before:
                    os.kill(pid, signal.SIGINT)
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(1)  # the KeyboardInterrupt arrives here

        def on_train_end(self, logs: Any = None) -> None:
            self.train_ended = True

    if source == "generator-thread":
        data: Any = (batch_for(i) for i in range(100))
        kwargs: dict[str, Any] = {"workers": 2}
    else:
        data = SlowSequence(100, delay=0.01)
        kwargs = {"workers": 3, "use_multiprocessing": source == "sequence-processes"}
    callback = CtrlC()
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        small_model().fit(data, epochs=1, verbose=0, callbacks=[callback], **kwargs)
    assert callback.train_ended
    assert time.monotonic() - start < 10


@pytest.mark.parametrize("mode", ["threads", "processes"])
def test_no_worker_outlives_fit_evaluate_predict(mode):
    before_processes, before_threads = child_pids(), data_threads()
    kwargs = {"workers": 3, "use_multiprocessing": mode == "processes"}
    model = small_model()
    model.fit(DataSequence(6, **kwargs), validation_data=None, epochs=2, verbose=0)
    assert child_pids() == before_processes
    model.evaluate(DataSequence(6, **kwargs), verbose=0)
    model.predict(DataSequence(6, **kwargs), verbose=0)
    assert child_pids() == before_processes
    assert data_threads() == before_threads == []


def test_a_pass_dropped_midway_stops_its_workers(no_leaks):
    adapter = get_adapter(SlowSequence(30, delay=0.01), workers=2, use_multiprocessing=True)
    batches = adapter.batches()
    next(batches)
    assert child_pids() - no_leaks  # workers are running
    del batches  # what the epoch iterator does when it restarts
    assert not child_pids() - no_leaks
    adapter.close()


def test_worker_killed_while_the_loop_waits_gets_fitorch_words(no_leaks):
    adapter = get_adapter(SlowSequence(50, delay=0.5), workers=2, use_multiprocessing=True)
    try:
        batches = adapter.batches()
        next(batches)
        worker = sorted(child_pids() - no_leaks)[0]
        # Killed while the loop waits for its next batch.
        threading.Timer(0.2, os.kill, (worker, signal.SIGKILL)).start()
        start = time.monotonic()
        with pytest.raises(RuntimeError, match="A data worker process died while loading "
                                               "batches: .*out-of-memory killer"):
            for _ in batches:
                pass
        assert time.monotonic() - start < 10
    finally:
        adapter.close()


@pytest.mark.parametrize("mode", ["main", "threads", "processes"])
def test_batches_from_workers_are_tensors_whatever_their_size(mode, no_leaks):
    kwargs = {} if mode == "main" else {"workers": 2, "use_multiprocessing": mode == "processes"}
    adapter = get_adapter(MixedSizes(), **kwargs)
    try:
        batches = list(adapter.batches())
    finally:
        adapter.close()
    for index, (x, y) in enumerate(batches):
        assert x["small"].dtype == torch.float32 and x["large"].dtype == torch.float32
        assert float(x["small"][0, 0]) == float(x["large"][0, -1]) == index
        assert y.dtype == torch.int64
