"""Small files that declare huge contents are refused before the memory is allocated: the
peak RSS growth while refusing each is at most max(300 MiB, 4 x the file's size)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hostile_files import CRAFTED

PROBE = Path(__file__).with_name("hostile_files.py")
MiB = 1 << 20


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss in KiB (Linux)")
@pytest.mark.parametrize("kind", list(CRAFTED))
def test_a_crafted_file_is_refused_with_bounded_memory(tmp_path, kind):
    name, make, how = CRAFTED[kind]
    path = make(str(tmp_path / name))
    size = os.path.getsize(path)
    result = subprocess.run([sys.executable, str(PROBE), how, path], capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    error, growth = result.stdout.split("\n")[:2]
    assert error.startswith("FileFormatError:True"), error  # an OSError naming the path
    assert "holds a pickle" not in error
    assert path in error or os.path.basename(path) in error
    assert int(growth) <= max(300 * MiB, 4 * size), (
        f"{kind}: peak RSS grew by {int(growth) / MiB:.0f} MiB for a {size / MiB:.2f} MiB file")
