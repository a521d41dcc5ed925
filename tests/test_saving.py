"""Saving and loading: formats, full-model round trips, atomic writes, safety, errors."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch

import fitorch as ft
from fitorch.saving import codec, formats

REPO = Path(__file__).resolve().parents[1]


def _mlp(name: str = "mlp") -> ft.Sequential:
    return ft.Sequential([ft.Input(shape=(6,)), ft.layers.Dense(8, activation="relu"),
                          ft.layers.Dropout(0.1), ft.layers.Dense(3, activation="softmax")],
                         name=name)


def _data(n: int = 48) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 6)).astype("float32")
    return x, (x[:, 0] > 0).astype("int64") + (x[:, 1] > 0.5).astype("int64")


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def _subprocess(code: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), KERAS_BACKEND="torch")
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


# ---------------------------------------------------------------- formats
@pytest.mark.parametrize("suffix", [".safetensors", ".pt", ".weights.h5", ".h5", ".fitorch",
                                    ".ckpt"])
def test_weights_round_trip(tmp_path: Path, suffix: str) -> None:
    source, target = _mlp(), _mlp()
    path = tmp_path / f"w{suffix}"
    source.save_weights(path)
    target.load_weights(str(path))
    _assert_same(_weights(source), _weights(target))
    x, _ = _data()
    np.testing.assert_array_equal(source.predict(x, verbose=0), target.predict(x, verbose=0))


def test_safetensors_file_is_plain_state_dict(tmp_path: Path) -> None:
    model = _mlp()
    model.save_weights(tmp_path / "w.safetensors")
    tensors = safetensors.torch.load_file(str(tmp_path / "w.safetensors"))
    _assert_same(tensors, _weights(model))
    assert formats.sniff_format(str(tmp_path / "w.safetensors")) == formats.SAFETENSORS


def test_weights_only_fitorch_file_needs_the_model(tmp_path: Path) -> None:
    model = _mlp()
    model.save_weights(tmp_path / "w.fitorch")
    with pytest.raises(ValueError, match="weights only"):
        ft.load_model(tmp_path / "w.fitorch")
    _assert_same(_weights(model), _weights(ft.load_model(tmp_path / "w.fitorch", model=_mlp())))


def test_unknown_suffix_is_a_fitorch_file(tmp_path: Path) -> None:
    model = _mlp()
    model.save(tmp_path / "model.ckpt")
    with zipfile.ZipFile(tmp_path / "model.ckpt") as zf:
        doc = json.loads(zf.read("fitorch.json"))
        assert {"fitorch.json", "model.safetensors"} <= set(zf.namelist())
    assert doc["format"] == "fitorch" and doc["config"]["class_name"] == "Sequential"
    loaded = ft.load_model(tmp_path / "model.ckpt")
    _assert_same(_weights(model), _weights(loaded))


def test_weights_only_suffix_for_save(tmp_path: Path) -> None:
    model = _mlp()
    model.save(tmp_path / "m.safetensors")
    assert formats.sniff_format(str(tmp_path / "m.safetensors")) == formats.SAFETENSORS
    with pytest.raises(ValueError, match="weights only"):
        ft.load_model(tmp_path / "m.safetensors")
    other = ft.load_model(tmp_path / "m.safetensors", model=_mlp())
    _assert_same(_weights(model), _weights(other))


def test_lazy_model_takes_shapes_from_file(tmp_path: Path) -> None:
    model = _mlp()
    model.save_weights(tmp_path / "w.safetensors")
    lazy = ft.Sequential([ft.layers.Dense(8, activation="relu"), ft.layers.Dropout(0.1),
                          ft.layers.Dense(3, activation="softmax")])
    lazy.load_weights(tmp_path / "w.safetensors")
    x, _ = _data()
    np.testing.assert_array_equal(model.predict(x, verbose=0), lazy.predict(x, verbose=0))


def test_bare_module_state_loads_into_wrapped_model(tmp_path: Path) -> None:
    module = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.Linear(4, 2))
    torch.save(module.state_dict(), tmp_path / "bare.pt")
    model = ft.Model(torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.Linear(4, 2)))
    model.load_weights(tmp_path / "bare.pt")
    assert torch.equal(model.module[0].weight, module[0].weight)


# ------------------------------------------------------------- full model
def test_full_model_round_trip_restores_compile_and_optimizer(tmp_path: Path) -> None:
    x, y = _data()
    model = _mlp()
    model.compile(optimizer=ft.optimizers.Adam(learning_rate=0.01),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, shuffle=False)
    model.save(tmp_path / "m.fitorch")
    loaded = ft.load_model(tmp_path / "m.fitorch")
    assert isinstance(loaded, ft.Sequential) and loaded.name == "mlp"
    assert loaded.compiled and isinstance(loaded.optimizer, ft.optimizers.Adam)
    assert loaded.optimizer.learning_rate == pytest.approx(0.01)
    assert loaded.optimizer.iterations == model.optimizer.iterations == 6
    for p_a, p_b in zip(model.optimizer.param_groups[0]["params"],
                        loaded.optimizer.param_groups[0]["params"]):
        for key in ("momentum", "velocity"):
            assert torch.equal(model.optimizer.state[p_a][key], loaded.optimizer.state[p_b][key])
    assert loaded.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)
    assert loaded.get_compile_config() == model.get_compile_config()


_CONTINUE = """
import sys
import numpy as np
import torch
torch.set_num_threads(1)
import fitorch as ft
src, dst, data = sys.argv[1:4]
x, y = np.load(data + "_x.npy"), np.load(data + "_y.npy")
model = ft.load_model(src)
model.fit(x, y, batch_size=16, epochs=4, initial_epoch=2, shuffle=False, verbose=0)
model.save(dst)
"""


def test_resume_in_fresh_process_equals_straight_training(tmp_path: Path) -> None:
    x, y = _data()
    np.save(tmp_path / "d_x.npy", x)
    np.save(tmp_path / "d_y.npy", y)
    resumed = _mlp_without_dropout()  # no dropout: the RNG stream is not part of a model file
    straight = ft.Sequential.from_config(resumed.get_config())
    straight.set_weights(resumed.get_weights())
    for model in (resumed, straight):
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
    resumed.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    resumed.save(tmp_path / "epoch2.fitorch")
    straight.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0)
    result = _subprocess(_CONTINUE, str(tmp_path / "epoch2.fitorch"),
                         str(tmp_path / "epoch4.fitorch"), str(tmp_path / "d"))
    assert result.returncode == 0, result.stderr
    final = ft.load_model(tmp_path / "epoch4.fitorch")
    for key, value in _weights(straight).items():
        torch.testing.assert_close(final.state_dict()[key], value, rtol=0, atol=1e-6)
    assert final.optimizer.iterations == straight.optimizer.iterations == 12
    final_state = final.optimizer.state_dict()["state"]
    for index, slots in straight.optimizer.state_dict()["state"].items():
        for key, value in slots.items():
            torch.testing.assert_close(final_state[index][key], value, rtol=0, atol=1e-6)


def _mlp_without_dropout() -> ft.Sequential:
    return ft.Sequential([ft.Input(shape=(6,)), ft.layers.Dense(8, activation="relu"),
                          ft.layers.Dense(3, activation="softmax")])


def test_subclassed_model_needs_the_model_object(tmp_path: Path) -> None:
    class Net(ft.Model):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(6, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(x)

    model = Net()
    model.compile(optimizer=torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9),
                  loss="sparse_categorical_crossentropy")
    x, y = _data()
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    model.save(tmp_path / "net.fitorch")
    with pytest.raises(ValueError, match=r"pass it: `ft.load_model\(.*model=MyModel"):
        ft.load_model(tmp_path / "net.fitorch")
    fresh = Net()
    loaded = ft.load_model(tmp_path / "net.fitorch", model=fresh)
    assert loaded is fresh and isinstance(fresh.optimizer, torch.optim.SGD)
    assert fresh.optimizer.param_groups[0]["lr"] == 0.05
    assert fresh.optimizer.param_groups[0]["momentum"] == 0.9
    buf_a = model.optimizer.state[model.fc.weight]["momentum_buffer"]
    buf_b = fresh.optimizer.state[fresh.fc.weight]["momentum_buffer"]
    assert torch.equal(buf_a, buf_b)


def test_uncompilable_arguments_warn_and_load_uncompiled(tmp_path: Path) -> None:
    model = _mlp_without_dropout()
    model.compile(optimizer="sgd", loss=lambda t, p: ((t - p) ** 2).mean())
    with pytest.warns(UserWarning, match="compile"):
        model.save(tmp_path / "m.fitorch")
    loaded = ft.load_model(tmp_path / "m.fitorch")
    assert not loaded.compiled
    _assert_same(_weights(model), _weights(loaded))


def test_compile_config_round_trip() -> None:
    model = _mlp_without_dropout()
    model.compile(optimizer=ft.optimizers.RMSprop(learning_rate=0.002),
                  loss=ft.losses.SparseCategoricalCrossentropy(), metrics=["accuracy", "mae"],
                  steps_per_execution=2)
    config = model.get_compile_config()
    json.dumps(config)  # plain JSON data
    other = _mlp_without_dropout()
    other.compile_from_config(config)
    assert other.get_compile_config() == config
    assert other.optimizer.learning_rate == pytest.approx(0.002)
    assert other._steps_per_execution == 2


def test_sequential_config_round_trip() -> None:
    model = _mlp()
    clone = ft.Sequential.from_config(json.loads(json.dumps(model.get_config())))
    assert [type(m) for m in clone.layers] == [type(m) for m in model.layers]
    assert [p.shape for p in clone.parameters()] == [p.shape for p in model.parameters()]
    with pytest.raises(ValueError, match="not a fitorch layer"):
        ft.Sequential.from_config({"layers": [{"class_name": "os.system", "config": {}}]})
    with pytest.raises(TypeError, match="not a fitorch layer"):
        ft.Sequential([torch.nn.Linear(2, 2)]).get_config()


def test_codec_round_trip() -> None:
    tensors: dict[str, torch.Tensor] = {}
    state = {"state": {0: {"m": torch.ones(2)}}, "betas": (0.9, 0.99),
             "groups": [{"lr": float("inf"), "names": ["a"]}]}
    doc = json.loads(json.dumps(codec.encode(state, tensors)))
    out = codec.decode(doc, tensors)
    assert out["betas"] == (0.9, 0.99) and out["groups"][0]["lr"] == float("inf")
    assert torch.equal(out["state"][0]["m"], torch.ones(2))
    with pytest.raises(codec.NotEncodable):
        codec.encode({"f": print}, {})


# ---------------------------------------------------------------- atomic
_SLOW_SAVE = """
import sys, time
import torch
import fitorch as ft
from fitorch.saving import fitorch_file

path = sys.argv[1]
model = ft.Sequential([ft.Input(shape=(512,)), ft.layers.Dense(2048), ft.layers.Dense(512)])
with torch.no_grad():
    for p in model.parameters():
        p.fill_(2.0)
real = fitorch_file._write_member

def stalled(zf, name, data):
    if name != "model.safetensors":
        return real(zf, name, data)
    with zf.open(name, "w") as member:     # half the weights reach the disk, then we hang
        member.write(data[: len(data) // 2])
        zf.fp.flush()
        print("PARTIAL", flush=True)
        time.sleep(120)

fitorch_file._write_member = stalled
model.save(path)
"""


def test_sigkill_mid_save_keeps_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "big.fitorch"
    previous = ft.Sequential([ft.Input(shape=(512,)), ft.layers.Dense(2048),
                              ft.layers.Dense(512)])
    with torch.no_grad():
        for p in previous.parameters():
            p.fill_(1.0)
    previous.save(path)
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(_SLOW_SAVE), str(path)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "PARTIAL", proc.stderr.read() if proc.stderr else ""
        temps = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        assert len(temps) == 1 and temps[0].stat().st_size > 1_000_000
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    loaded = ft.load_model(path)
    assert all(bool((p == 1.0).all()) for p in loaded.parameters())


def test_failed_save_leaves_old_file_and_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                 ) -> None:
    model = _mlp()
    path = tmp_path / "w.fitorch"
    model.save(path)
    before = path.read_bytes()
    from fitorch.saving import fitorch_file

    def boom(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(fitorch_file, "_write_member", boom)
    with pytest.raises(OSError, match="disk full"):
        _mlp().save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.fitorch"]


def test_overwrite_false(tmp_path: Path) -> None:
    model = _mlp()
    model.save_weights(tmp_path / "w.safetensors")
    with pytest.raises(ValueError, match="overwrite=False"):
        model.save_weights(tmp_path / "w.safetensors", overwrite=False)
    with pytest.raises(ValueError, match="overwrite=False"):
        model.save(tmp_path / "w.safetensors", overwrite=False)
    model.save(tmp_path / "new.fitorch", overwrite=False)  # no file yet: fine
    assert (tmp_path / "new.fitorch").exists()


# ---------------------------------------------------------------- safety
class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("writer", ["torch_zip", "pickle"])
def test_code_in_pickle_is_never_run(tmp_path: Path, writer: str) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    payload = {"stack.0.weight": _Evil(marker)}
    if writer == "torch_zip":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=2))
    model = _mlp()
    before = _weights(model)
    with pytest.raises(ValueError, match="evil.pt"):
        model.load_weights(path)
    with pytest.raises(ValueError, match="evil.pt"):
        ft.load_model(path, model=model)
    assert not marker.exists()
    _assert_same(before, _weights(model))
    # The payload is live: an ordinary unpickler does run it.
    live = tmp_path / "live"
    pickle.loads(pickle.dumps(_Evil(live)))
    assert live.exists()


def test_h5_links_are_refused(tmp_path: Path) -> None:
    import h5py

    model = _mlp()
    path = tmp_path / "w.weights.h5"
    model.save_weights(path)
    with h5py.File(path, "a") as f:
        del f["layers/dense/vars/0"]
        f["layers/dense/vars/0"] = h5py.SoftLink("/layers/dense_1/vars/0")
    with pytest.raises(ValueError, match="link"):
        _mlp().load_weights(path)


# ------------------------------------------------------------ bad files
@pytest.mark.parametrize("suffix", [".safetensors", ".pt", ".weights.h5", ".h5", ".fitorch"])
def test_truncated_file_is_a_clear_error_and_changes_nothing(tmp_path: Path, suffix: str
                                                             ) -> None:
    path = tmp_path / f"w{suffix}"
    _mlp().save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    model = _mlp()
    before = _weights(model)
    with pytest.raises(ValueError, match=f"w{suffix}"):
        model.load_weights(path)
    _assert_same(before, _weights(model))


def test_garbage_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "g.safetensors").write_bytes(b"not a weights file at all")
    with pytest.raises(ValueError, match=r"g\.safetensors"):
        _mlp().load_weights(tmp_path / "g.safetensors")
    with pytest.raises(ValueError, match="No file found"):
        _mlp().load_weights(tmp_path / "missing.fitorch")
    with pytest.raises(TypeError, match="filepath"):
        _mlp().save_weights(3)  # type: ignore[arg-type]


def test_shape_mismatch_names_both_sides_and_changes_nothing(tmp_path: Path) -> None:
    _mlp().save_weights(tmp_path / "w.safetensors")
    other = ft.Sequential([ft.Input(shape=(6,)), ft.layers.Dense(5, name="narrow"),
                           ft.layers.Dropout(0.1),
                           ft.layers.Dense(3)])
    before = _weights(other)
    with pytest.raises(ValueError, match=r'stack\.0\.weight \(layer "narrow", Dense\): model '
                                         r"\(5, 6\), file \(8, 6\)"):
        other.load_weights(tmp_path / "w.safetensors")
    _assert_same(before, _weights(other))


def test_missing_and_unexpected_keys(tmp_path: Path) -> None:
    _mlp().save_weights(tmp_path / "w.safetensors")
    with pytest.raises(ValueError, match=r"missing from the file: stack\.1\.bias"):
        _mlp_without_dropout().load_weights(tmp_path / "w.safetensors")


def test_unbuilt_model_cannot_be_saved(tmp_path: Path) -> None:
    model = ft.Sequential([ft.layers.Dense(2)])
    with pytest.raises(ValueError, match="not created yet"):
        model.save_weights(tmp_path / "w.safetensors")
    assert not list(tmp_path.iterdir())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_model_round_trip(tmp_path: Path) -> None:
    x, y = _data()
    model = _mlp_without_dropout().cuda()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    model.save(tmp_path / "m.fitorch")
    model.save_weights(tmp_path / "m.weights.h5")
    fresh = _mlp_without_dropout().cuda()
    loaded = ft.load_model(tmp_path / "m.fitorch", model=fresh)
    for p_a, p_b in zip(model.parameters(), loaded.parameters()):
        assert p_b.is_cuda and torch.equal(p_a, p_b)
        for key, value in model.optimizer.state[p_a].items():
            assert torch.equal(loaded.optimizer.state[p_b][key], value)
    other = _mlp_without_dropout().cuda()
    other.load_weights(tmp_path / "m.weights.h5")
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), other.parameters()))
