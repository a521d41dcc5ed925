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


def test_honest_torch_files_still_load_and_oversized_ones_are_refused(tmp_path):
    """The declared-size check passes torch's own files (zip and legacy format, and a
    training checkpoint holding an optimizer's state) and refuses a file whose tensors are
    far larger than the model could use, before torch allocates them."""
    import torch

    import fitorch as ft
    from fitorch.saving.errors import FileFormatError

    model = ft.Sequential([ft.Input(shape=(8,)), ft.layers.Dense(16), ft.layers.Dense(3)])
    state = {k: torch.randn_like(v) for k, v in model.state_dict().items()}
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.randn(4, 8)).sum().backward()
    optimizer.step()
    files = {"zip.pt": (state, {}), "legacy.pt": (state, {"_use_new_zipfile_serialization":
                                                          False}),
             "checkpoint.pt": ({"model_state_dict": state,
                                "optimizer_state_dict": optimizer.state_dict()}, {})}
    for name, (obj, kwargs) in files.items():
        torch.save(obj, tmp_path / name, **kwargs)
        model.load_weights(tmp_path / name)
        for key, value in model.state_dict().items():
            torch.testing.assert_close(value, state[key])
    torch.save({"w": torch.zeros(1 << 23)}, tmp_path / "big.pt")  # 32 MiB for a 0.6 KiB model
    with pytest.raises(FileFormatError, match="more than the"):
        model.load_weights(tmp_path / "big.pt")
