"""Launch a script on several local processes the way torchrun does (its environment
variables, gloo on CPU), with a wall-clock limit and no process left behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent


@dataclass
class RankResult:
    rank: int
    returncode: int
    stdout: str
    stderr: str


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(rank: int, world: int, port: int, extra: dict[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank),
        "LOCAL_WORLD_SIZE": str(world), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
        "OMP_NUM_THREADS": "1", "FITORCH_DIST_TIMEOUT": "60",
        "PYTHONPATH": os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")]),
    })
    env.update(extra or {})
    return env


def run_ranks(args: list[str], *, world: int = 2, timeout: float = 180,
              env: dict[str, str] | None = None, cwd: Path | None = None,
              per_rank_cwd: list[Path] | None = None) -> list[RankResult]:
    """Run `python <args>` as ranks 0..world-1; every process is gone when this returns."""
    port = free_port()
    procs = []
    for rank in range(world):
        where = per_rank_cwd[rank] if per_rank_cwd else cwd
        procs.append(subprocess.Popen(
            [sys.executable, *args], env=_env(rank, world, port, env), cwd=where,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True))
    results: list[RankResult] = []
    try:
        for rank, proc in enumerate(procs):
            out, err = proc.communicate(timeout=timeout)
            results.append(RankResult(rank, proc.returncode, out, err))
    except subprocess.TimeoutExpired:
        raise AssertionError(f"ranks did not finish within {timeout} s") from None
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    return results


def check_ok(results: list[RankResult]) -> None:
    for r in results:
        assert r.returncode == 0, f"rank {r.rank} failed ({r.returncode}):\n{r.stderr[-4000:]}"
