"""Training scenarios run unchanged on one process and under a 2-process launch
(`dp_launch.run_ranks`); each writes what it measured to `<out>/<rank>.pkl`."""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

import numpy as np
import torch

import fitorch as ft

N, FEATURES = 101, 6


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, FEATURES)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int64")
    return x, y


class Count(ft.metrics.Metric):
    """Counts the samples it sees: exact evaluation reads N."""

    _state_attrs = ("n",)

    def __init__(self, name: str = "count") -> None:
        super().__init__(name)
        self.n = torch.zeros(())

    def update_state(self, y_true, y_pred, sample_weight=None):  # type: ignore[no-untyped-def]
        self.n = self.n + y_pred.shape[0]

    def result(self) -> torch.Tensor:
        return self.n


def model(optimizer: str = "sgd", **compile_args: object) -> ft.Model:
    torch.manual_seed(0)
    m = ft.Sequential([ft.Input(shape=(FEATURES,)), ft.layers.Dense(8, activation="tanh"),
                       ft.layers.Dense(2)])
    opt = ft.optimizers.SGD(0.1) if optimizer == "sgd" else ft.optimizers.Adam(0.01)
    m.compile(optimizer=opt,
              loss=ft.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy", Count()], **compile_args)
    return m


def weights(m: torch.nn.Module) -> np.ndarray:
    full = [p.full_tensor() if hasattr(p, "full_tensor") else p for p in m.parameters()]
    return np.concatenate([p.detach().cpu().numpy().ravel() for p in full])


class Batches(ft.utils.Sequence):
    def __init__(self, x: np.ndarray, y: np.ndarray, size: int) -> None:
        super().__init__()
        self.x, self.y, self.size = x, y, size

    def __len__(self) -> int:
        return -(-len(self.x) // self.size)

    def __getitem__(self, i: int):  # type: ignore[no-untyped-def]
        s = slice(i * self.size, (i + 1) * self.size)
        return self.x[s], self.y[s]


def arrays(opt: str, **compile_args: object) -> dict:
    x, y = data()
    m = model(opt, **compile_args)
    if os.environ.get("DEVICE") == "cuda":
        m.to("cuda")  # under torchrun: this process's GPU (cuda:LOCAL_RANK), NCCL
    torch.manual_seed(1)
    h = m.fit(x, y, batch_size=20, epochs=3, shuffle=True, verbose=0,
              validation_data=(x[:41], y[:41]))
    ev = m.evaluate(x, y, batch_size=20, verbose=0, return_dict=True)
    return {"history": h.history, "weights": weights(m), "evaluate": ev,
            "predict": m.predict(x, batch_size=16, verbose=0)}


def scenario_sgd() -> dict:
    return arrays("sgd")


def scenario_adam() -> dict:
    return arrays("adam")


def scenario_jit() -> dict:
    return arrays("adam", jit_compile=True)


def scenario_accumulation() -> dict:
    return arrays("sgd", gradient_accumulation_steps=2)


def scenario_fsdp() -> dict:
    out = arrays("sgd", distribution="fsdp")
    return out


def scenario_fsdp_save(tmp: str = "") -> dict:
    x, y = data()
    m = model("adam", distribution="fsdp")
    m.fit(x, y, batch_size=20, epochs=1, verbose=0)
    path = os.path.join(os.environ["SAVE_DIR"], "w.safetensors")
    m.save_weights(path)
    import safetensors.torch

    saved = safetensors.torch.load_file(path) if os.environ.get("RANK", "0") == "0" else {}
    return {"weights": weights(m), "saved": {k: v.numpy() for k, v in saved.items()},
            "sharded": type(next(m.parameters())).__name__}


def scenario_sync_bn() -> dict:
    # Batch statistics over the global batch: 2 ranks normalize as one process does.
    x, y = data()
    x, y = x[:100], y[:100]
    torch.manual_seed(0)
    m = ft.Sequential([ft.Input(shape=(FEATURES,)), ft.layers.Dense(8),
                       ft.layers.BatchNormalization(), ft.layers.Activation("tanh"),
                       ft.layers.Dense(2)])
    m.compile(optimizer=ft.optimizers.SGD(0.1),
              loss=ft.losses.SparseCategoricalCrossentropy(from_logits=True),
              distribution=ft.distribution.DataParallel(sync_batchnorm=True))
    h = m.fit(x, y, batch_size=20, epochs=2, shuffle=False, verbose=0)
    torch_bn = ft.Model(torch.nn.Sequential(torch.nn.Linear(FEATURES, 4),
                                            torch.nn.BatchNorm1d(4)))
    torch_bn.compile(optimizer="sgd", loss="mse",
                     distribution=ft.distribution.DataParallel(sync_batchnorm=True))
    try:
        torch_bn.fit(x, np.zeros((100, 4), "float32"), batch_size=20, verbose=0)
        error = None
    except ValueError as e:
        error = str(e)
    return {"history": h.history, "weights": weights(m), "error": error,
            "buffers": np.concatenate([b.numpy().ravel() for b in m.buffers()])}


def scenario_sequence() -> dict:
    # Rank r takes batches r::W of a Sequence: a step of 2 ranks over batches of 16 is
    # one process's step over a batch of 32.
    x, y = data()
    size = 16 if os.environ.get("WORLD_SIZE") else 32
    m = model("adam")
    torch.manual_seed(1)
    h = m.fit(Batches(x, y, size), epochs=2, shuffle=False, verbose=0)
    ev = m.evaluate(Batches(x, y, size), verbose=0, return_dict=True)
    shuffled = model("adam")
    shuffled.fit(Batches(x, y, size), epochs=2, shuffle=True, verbose=0)
    return {"history": h.history, "weights": weights(m), "evaluate": ev,
            "predict": m.predict(Batches(x, y, size), verbose=0),
            "shuffled": weights(shuffled)}


def scenario_dataset() -> dict:
    x, y = data()
    ds = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    m = model("adam")
    torch.manual_seed(1)
    h = m.fit(ds, batch_size=24, epochs=2, shuffle=True, verbose=0)
    return {"history": h.history, "weights": weights(m),
            "predict": m.predict(ds, batch_size=24, verbose=0)}


class Net(ft.Model):
    """A Keras-style subclass whose own train_step calls self(x)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = torch.nn.Sequential(torch.nn.Linear(FEATURES, 8), torch.nn.Tanh(),
                                        torch.nn.Linear(8, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class OwnStep(Net):
    def train_step(self, data):  # type: ignore[no-untyped-def]
        x, y = data
        y_pred = self(x)
        loss = self.compute_loss(x, y, y_pred)
        self.zero_grad()
        loss.backward()
        params = [p for p in self.parameters() if p.requires_grad]
        self.optimizer.apply([p.grad for p in params], params)
        return self.compute_metrics(x, y, y_pred, None)


def scenario_user_step() -> dict:
    x, y = data()
    out = {}
    for name, cls in (("own", OwnStep), ("default", Net)):
        m = cls()
        m.compile(optimizer=ft.optimizers.SGD(0.1),
                  loss=ft.losses.SparseCategoricalCrossentropy(from_logits=True))
        m.fit(x, y, batch_size=20, epochs=2, shuffle=False, verbose=0)
        out[name] = weights(m)
    return out


class StopOnRank1(ft.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):  # type: ignore[no-untyped-def]
        if os.environ.get("RANK") == "1" and batch == 1:
            self.model.stop_training = True


def scenario_stop() -> dict:
    x, y = data()
    m = model("sgd")
    seen: list[tuple[int, int]] = []

    class Steps(ft.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):  # type: ignore[no-untyped-def]
            seen.append((len(seen), batch))

    h = m.fit(x, y, batch_size=20, epochs=3, verbose=0, callbacks=[StopOnRank1(), Steps()])
    m2 = model("sgd")
    early = ft.callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=10.0)
    h2 = m2.fit(x, y, batch_size=20, epochs=5, verbose=0, callbacks=[early])
    return {"steps": len(seen), "epochs": len(h.history["loss"]),
            "early_epochs": len(h2.history["loss"]), "weights": weights(m)}


def scenario_files() -> dict:
    x, y = data()
    m = model("sgd")
    m.fit(x, y, batch_size=20, epochs=2, verbose=1,
          callbacks=[ft.callbacks.CSVLogger("log.csv"),
                     ft.callbacks.ModelCheckpoint("ckpt.weights.safetensors",
                                                  save_weights_only=True)])
    m.save("model.fitorch")
    return {"files": sorted(os.listdir("."))}


def scenario_uneven_generator() -> dict:
    x, y = data()
    rank = int(os.environ.get("RANK", "0"))

    def batches():  # type: ignore[no-untyped-def]
        # rank 1 has one batch fewer than rank 0
        for i in range(5 - rank):
            yield x[i * 10 : (i + 1) * 10], y[i * 10 : (i + 1) * 10]

    m = model("sgd")
    h = m.fit(batches, epochs=2, verbose=0)
    return {"loss": h.history["loss"], "weights": weights(m)}


def scenario_distributed_sampler() -> dict:
    x, y = data()
    ds = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    sampler = None
    if os.environ.get("WORLD_SIZE"):
        sampler = torch.utils.data.DistributedSampler(
            ds, num_replicas=int(os.environ["WORLD_SIZE"]), rank=int(os.environ["RANK"]),
            shuffle=False)
    loader = torch.utils.data.DataLoader(ds, batch_size=10, sampler=sampler)
    m = model("sgd")
    m.fit(loader, epochs=2, verbose=0)
    epoch = getattr(sampler, "epoch", None)
    with torch.no_grad():
        direct = m(torch.from_numpy(x)).numpy()
    return {"predict": m.predict(loader, verbose=0), "epoch": epoch, "direct": direct}


def scenario_preinitialised() -> dict:
    # A launcher that makes the process group itself (Ray Train's TorchTrainer does).
    torch.distributed.init_process_group("gloo")
    out = scenario_sgd()
    out["still_initialised"] = torch.distributed.is_initialized()
    return out


def scenario_small_batch() -> dict:
    x, y = data()
    m = model("sgd")
    try:
        m.fit(x, y, batch_size=1, epochs=1, verbose=0)
    except ValueError as e:
        return {"error": str(e)}
    return {"error": None}


def scenario_dead_peer() -> dict:
    x, y = data()
    m = model("sgd")

    class Die(ft.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):  # type: ignore[no-untyped-def]
            if os.environ.get("RANK") == "1" and batch == 2:
                os._exit(3)

    try:
        m.fit(x, y, batch_size=20, epochs=50, verbose=0, callbacks=[Die()])
    except Exception as e:
        return {"error": f"{type(e).__name__}: {e}"}
    return {"error": None}


class KillAt(ft.callbacks.Callback):
    """SIGKILL-like exit of one process at (epoch, batch), as a crash would."""

    def __init__(self, at: str, who: str) -> None:
        super().__init__()
        self.epoch_now = 0
        self.at = tuple(int(v) for v in at.split(":")) if at else None
        self.me = os.environ.get("RANK", "single") == who

    def on_epoch_begin(self, epoch, logs=None):  # type: ignore[no-untyped-def]
        self.epoch_now = epoch

    def on_train_batch_end(self, batch, logs=None):  # type: ignore[no-untyped-def]
        if self.me and (self.epoch_now, batch) == self.at:
            os._exit(9)


def scenario_backup() -> dict:
    x, y = data()
    torch.manual_seed(0)
    layers = [ft.Input(shape=(FEATURES,)), ft.layers.Dense(8, activation="tanh")]
    if os.environ.get("DROPOUT"):
        layers.append(ft.layers.Dropout(0.3))
    m = ft.Sequential([*layers, ft.layers.Dense(2)])
    m.compile(optimizer=ft.optimizers.Adam(0.01),
              loss=ft.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy", Count()], distribution=os.environ.get("DISTRIBUTION"))
    torch.manual_seed(1)
    kill = KillAt(os.environ.get("KILL_AT", ""), os.environ.get("KILL_RANK", "1"))
    h = m.fit(x, y, batch_size=20, epochs=3, shuffle=True, verbose=0,
              callbacks=[kill, ft.callbacks.BackupAndRestore(os.environ["BACKUP_DIR"],
                                                             save_freq=1)])
    return {"history": h.history, "weights": weights(m)}


def main() -> None:
    name, out = sys.argv[1], Path(sys.argv[2])
    result = globals()[f"scenario_{name}"]()
    tag = os.environ.get("RANK", "single")
    with open(out / f"{tag}.pkl", "wb") as f:
        pickle.dump(result, f)


if __name__ == "__main__":
    main()
