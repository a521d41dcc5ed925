"""The README's demo: the quickstart trains to >= 0.95 validation accuracy and writes its plot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quickstart_reaches_the_target_and_writes_the_plot(tmp_path):
    plot = tmp_path / "history.png"
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py"), "--plot", str(plot)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Epoch 25/25" in result.stdout
    assert "test accuracy: 0.9" in result.stdout
    final = float(result.stdout.split("final validation accuracy: ")[1].split()[0])
    assert final >= 0.95
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
