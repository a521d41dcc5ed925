"""Ctrl-C while a worker thread is stuck in user data code returns control at once, and the
process can exit: worker threads are daemons, not joined after a KeyboardInterrupt."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

SCRIPT = textwrap.dedent("""
    import os, signal, sys, threading, time
    import numpy as np
    import fitorch as ft

    class Stuck(ft.utils.Sequence):
        def __len__(self):
            return 8

        def __getitem__(self, index):
            if index >= 2:
                threading.Event().wait()  # a read that never returns
            return np.zeros((4, 3), np.float32), np.zeros((4, 1), np.float32)

    def stuck_batches():
        yield np.zeros((4, 3), np.float32), np.zeros((4, 1), np.float32)
        threading.Event().wait()

    model = ft.Sequential([ft.Input(shape=(3,)), ft.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    if sys.argv[1] == "sequence":
        data, kwargs = Stuck(), {"workers": 2}
    else:
        data, kwargs = stuck_batches(), {"workers": 1, "steps_per_epoch": 4}
    def ctrl_c():
        print("sent at", time.monotonic(), flush=True)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Timer(3.0, ctrl_c).start()
    try:
        model.fit(data, epochs=1, verbose=0, **kwargs)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SIGINT, system-wide clock")
@pytest.mark.parametrize("data", ["sequence", "generator"])
def test_ctrl_c_with_a_worker_stuck_in_user_code_exits_within_seconds(data):
    try:
        result = subprocess.run([sys.executable, "-c", SCRIPT, data], capture_output=True,
                                text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("the interrupted process did not exit")
    ended = time.monotonic()
    assert result.returncode == 0, result.stderr[-2000:]
    assert "interrupted" in result.stdout, result.stderr[-2000:]
    sent = float(result.stdout.split("sent at")[1].split()[0])
    # Control came back and the exit did not wait on the stuck thread, which never returns
    # (CLOCK_MONOTONIC is system-wide on Linux, so the two processes' readings compare).
    # About a second on a quiet machine; the bound leaves room for a loaded one.
    assert ended - sent < 20.0
